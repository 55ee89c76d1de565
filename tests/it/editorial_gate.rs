//! Posting windows and caps with the real pipeline and the fake Threads API: a post
//! outside its window waits for the window's start while other feeds' posts go; a feed's
//! cap holds its posts until the hour slides, or drops them with `overflow = "drop"`; the
//! store says why each post waits (what `status` and the desk show).

use crate::publish::{Harness, assert_exactly_once, fast, harness_with, rss};
use crate::support::fake_threads::{Endpoint, FakeThreads};
use crate::support::feed_server::{FeedServer, Route};
use chrono::{DateTime, Duration as Delta, Timelike, Utc};
use feed2threads::publish::{AccountPublisher, Outcome, PublishConfig, WaitReason, feed_infos};
use feed2threads::store::{OutboxState, WaitKind, now_unix};
use std::time::{Duration, Instant};

/// Steps the publisher until it has nothing to do now: idle, paused, the quota spent, or
/// the next post not due within a few seconds (a window or a cap holds it).
async fn drive_until_waiting(p: &mut AccountPublisher, limit: Duration) -> Vec<Outcome> {
    let deadline = Instant::now() + limit;
    let mut outcomes = Vec::new();
    while Instant::now() < deadline {
        let o = p.try_publish_next().await.unwrap();
        match &o {
            Outcome::Idle | Outcome::Paused { .. } => {
                outcomes.push(o);
                break;
            }
            Outcome::Wait {
                reason: WaitReason::Quota { .. },
                ..
            } => {
                outcomes.push(o);
                break;
            }
            Outcome::Wait {
                until,
                reason: WaitReason::NotDue,
            } if *until > Instant::now() + Duration::from_secs(5) => {
                outcomes.push(o);
                break;
            }
            Outcome::Wait { until, .. } => {
                tokio::time::sleep_until((*until).min(deadline).into()).await;
            }
            _ => {}
        }
        outcomes.push(o);
    }
    outcomes
}

fn count(outcomes: &[Outcome], what: fn(&Outcome) -> bool) -> usize {
    outcomes.iter().filter(|o| what(o)).count()
}

/// `HH:MM-HH:MM` (UTC) for a window opening `from` after now and lasting `len`, and the
/// instant it opens.
fn window_ahead(from: Delta, len: Delta) -> (String, DateTime<Utc>) {
    let now = Utc::now();
    let start = (now + from)
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let end = start + len;
    (
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            start.hour(),
            start.minute(),
            end.hour(),
            end.minute()
        ),
        start,
    )
}

async fn two_feeds(fake: &FakeThreads, server: &FeedServer, late: &str) -> Harness {
    server.set("/late.xml", Route::feed(rss("late", 3, false)));
    server.set("/now.xml", Route::feed(rss("now", 2, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"late\"\nurl = \"{}\"\nbacklog = \"all\"\n{late}\n\
         [[feeds]]\nname = \"now\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        fake.token(),
        server.url("/late.xml"),
        server.url("/now.xml"),
    );
    harness_with(fake, &config).await
}

async fn worker(h: &Harness, config: PublishConfig) -> AccountPublisher {
    h.publisher("newsroom", config).await
}

#[tokio::test]
async fn a_post_outside_its_window_waits_for_its_start_while_other_feeds_go() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let (hours, opens) = window_ahead(Delta::hours(2), Delta::hours(1));
    let h = two_feeds(&fake, &server, &format!("hours = \"{hours}\"")).await;
    let mut p = worker(&h, fast()).await;
    let outcomes = drive_until_waiting(&mut p, Duration::from_secs(20)).await;

    // The open feed's two stories went; the other feed's three wait.
    assert_eq!(
        count(&outcomes, |o| matches!(o, Outcome::Published { .. })),
        2,
        "{outcomes:?}"
    );
    let postponed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Postponed { .. }))
        .collect();
    assert_eq!(postponed.len(), 3, "{outcomes:?}");
    for o in &postponed {
        let Outcome::Postponed {
            until_unix, reason, ..
        } = o
        else {
            unreachable!()
        };
        assert_eq!(*until_unix, opens.timestamp(), "{reason}");
        assert!(
            reason.contains(&format!("posting window {hours}")),
            "{reason}"
        );
    }
    assert!(fake.posts().iter().all(|p| {
        p.link_attachment
            .as_deref()
            .is_some_and(|l| l.contains("/now/"))
    }));

    // The store says why they wait, and until when: what `status` and the desk show.
    let account = h.store.list_accounts().await.unwrap()[0].id;
    let counts = h
        .store
        .outbox_wait_counts(account, now_unix())
        .await
        .unwrap();
    assert_eq!((counts.window, counts.cap), (3, 0));
    let waits = h
        .store
        .outbox_waits(Some(account), now_unix())
        .await
        .unwrap();
    assert_eq!(waits.len(), 3);
    for w in &waits {
        assert_eq!(w.kind, WaitKind::Window);
        assert_eq!(w.until, opens.timestamp());
        let note = w.note.as_deref().unwrap_or_default();
        assert!(note.contains("goes at"), "{note}");
    }
    for r in h.rows().await.iter().filter(|r| r.text.contains("late")) {
        assert_eq!(r.state, OutboxState::Queued);
        assert!(r.claimed_by.is_none(), "a waiting post is held by nobody");
    }
    // Nothing was sent to Threads for them, and waiting costs no calls.
    assert_eq!(fake.calls(Endpoint::CreateContainer), 2);
}

#[tokio::test]
async fn when_the_window_opens_the_waiting_posts_go_oldest_first() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let (hours, _) = window_ahead(Delta::hours(3), Delta::hours(2));
    let h = two_feeds(&fake, &server, &format!("hours = \"{hours}\"")).await;
    let mut p = worker(&h, fast()).await;
    drive_until_waiting(&mut p, Duration::from_secs(20)).await;
    assert_eq!(fake.posts().len(), 2);

    // The window is open now (the config changed, or time passed): a worker starting
    // with it judges the waiting posts again, and they go, oldest first.
    let mut infos = (*feed_infos(&h.feeds)).clone();
    for info in infos.values_mut() {
        info.window = None;
    }
    let account = h.settings.account("newsroom").unwrap().clone();
    let mut p = AccountPublisher::new(
        h.store.clone(),
        h.client.clone(),
        account,
        std::sync::Arc::new(infos),
        fast(),
    )
    .await
    .unwrap();
    let outcomes = drive_until_waiting(&mut p, Duration::from_secs(20)).await;
    assert_eq!(
        count(&outcomes, |o| matches!(o, Outcome::Published { .. })),
        3,
        "{outcomes:?}"
    );
    assert_exactly_once(&h, &fake).await;
    let late: Vec<String> = fake
        .posts()
        .into_iter()
        .filter_map(|p| p.text)
        .filter(|t| t.contains("late story"))
        .collect();
    for (i, t) in late.iter().enumerate() {
        assert!(t.contains(&format!("late story number {i}")), "{late:?}");
    }
    let account = h.store.list_accounts().await.unwrap()[0].id;
    assert!(
        h.store
            .outbox_waits(Some(account), now_unix())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_accounts_window_holds_every_feed() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let (hours, opens) = window_ahead(Delta::hours(5), Delta::hours(1));
    server.set("/a.xml", Route::feed(rss("a", 2, false)));
    server.set("/b.xml", Route::feed(rss("b", 2, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         hours = \"{hours}\"\n\
         [[feeds]]\nname = \"a\"\nurl = \"{}\"\nbacklog = \"all\"\n\
         [[feeds]]\nname = \"b\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        fake.token(),
        server.url("/a.xml"),
        server.url("/b.xml"),
    );
    let h = harness_with(&fake, &config).await;
    let mut p = worker(&h, fast()).await;
    let outcomes = drive_until_waiting(&mut p, Duration::from_secs(20)).await;
    assert!(fake.posts().is_empty(), "{:?}", fake.posts());
    assert_eq!(
        count(&outcomes, |o| matches!(o, Outcome::Postponed { .. })),
        4
    );
    let waits = h.store.outbox_waits(None, now_unix()).await.unwrap();
    assert_eq!(waits.len(), 4);
    assert!(waits.iter().all(|w| w.until == opens.timestamp()));
    assert!(
        waits[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("the account's posting window"),
        "{waits:?}"
    );
}

#[tokio::test]
async fn a_cap_holds_the_feeds_posts_until_the_hour_slides() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = two_feeds(&fake, &server, "max_per_hour = 2").await;
    let started = now_unix();
    let mut p = worker(&h, fast()).await;
    let outcomes = drive_until_waiting(&mut p, Duration::from_secs(20)).await;

    // Two of the capped feed's three, and both of the other's.
    let on_threads: Vec<String> = fake.posts().into_iter().filter_map(|p| p.text).collect();
    assert_eq!(on_threads.len(), 4, "{on_threads:?}");
    assert_eq!(
        on_threads
            .iter()
            .filter(|t| t.contains("late story"))
            .count(),
        2
    );
    let Some(Outcome::Postponed {
        until_unix, reason, ..
    }) = outcomes
        .iter()
        .find(|o| matches!(o, Outcome::Postponed { .. }))
    else {
        panic!("nothing postponed: {outcomes:?}");
    };
    assert!(reason.starts_with("max_per_hour = 2 reached"), "{reason}");
    // It goes an hour after the first of the two.
    let first = h
        .rows()
        .await
        .iter()
        .filter(|r| r.text.contains("late story") && r.state == OutboxState::Published)
        .filter_map(|r| r.published_at)
        .min()
        .unwrap();
    assert_eq!(*until_unix, first + 3600);
    assert!(*until_unix >= started + 3600);
    let account = h.store.list_accounts().await.unwrap()[0].id;
    let counts = h
        .store
        .outbox_wait_counts(account, now_unix())
        .await
        .unwrap();
    assert_eq!((counts.window, counts.cap), (0, 1));
}

#[tokio::test]
async fn overflow_drop_drops_what_is_beyond_the_cap_with_the_reason() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = two_feeds(&fake, &server, "max_per_hour = 1\noverflow = \"drop\"").await;
    let mut p = worker(&h, fast()).await;
    let outcomes = drive_until_waiting(&mut p, Duration::from_secs(20)).await;
    assert_eq!(
        count(&outcomes, |o| matches!(o, Outcome::Dropped { .. })),
        2,
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes.last(), Some(Outcome::Idle)),
        "{outcomes:?}"
    );
    assert_eq!(fake.posts().len(), 3);
    let dropped: Vec<_> = h
        .rows()
        .await
        .into_iter()
        .filter(|r| r.state == OutboxState::Dropped)
        .collect();
    assert_eq!(dropped.len(), 2);
    for r in dropped {
        assert!(r.text.contains("late story"), "{r:?}");
        let why = r.last_error.unwrap_or_default();
        assert!(why.contains("max_per_hour = 1 reached"), "{why}");
        assert!(why.contains("overflow = \"drop\""), "{why}");
    }
}

/// A worker whose queue waits for a window hours away still wakes for a new post of an
/// open feed: the poll loop's poke must not sleep until the window opens.
#[tokio::test]
async fn a_new_post_is_not_held_behind_posts_waiting_for_their_window() {
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let (hours, _) = window_ahead(Delta::hours(4), Delta::hours(1));
    server.set("/late.xml", Route::feed(rss("late", 2, false)));
    server.set("/now.xml", Route::feed(rss("now", 0, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"late\"\nurl = \"{}\"\nbacklog = \"all\"\nhours = \"{hours}\"\n\
         [[feeds]]\nname = \"now\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        fake.token(),
        server.url("/late.xml"),
        server.url("/now.xml"),
    );
    let h = harness_with(&fake, &config).await;
    // Without a poke the worker would only look again after a minute.
    let config = PublishConfig {
        idle_recheck: Duration::from_secs(60),
        ..fast()
    };
    let poke = Arc::new(tokio::sync::Notify::new());
    let shutdown = CancellationToken::new();
    let worker = worker(&h, config)
        .await
        .with_wakeups(poke.clone(), CancellationToken::new());
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let account = h.store.list_accounts().await.unwrap()[0].id;
    let deadline = Instant::now() + Duration::from_secs(10);
    while h
        .store
        .outbox_wait_counts(account, now_unix())
        .await
        .unwrap()
        .window
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the late posts were not postponed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the worker settle into its wait for the window.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A story appears in the open feed; the poll queues it and pokes the worker.
    server.set("/now.xml", Route::feed(rss("now", 1, false)));
    let poller = feed2threads::app::build_poller(&h.store, &h.settings).unwrap();
    let (feed, _) = h.feeds.iter().find(|(f, _)| f.name == "now").unwrap();
    let row = h.store.feed_by_name("now").await.unwrap().unwrap();
    poller.poll(feed, &row).await.unwrap();
    poke.notify_one();

    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.posts().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the new post waited behind the window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        fake.posts()[0]
            .text
            .as_deref()
            .unwrap()
            .contains("now story")
    );
    shutdown.cancel();
    running.await.unwrap();
}
