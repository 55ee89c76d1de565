//! Corrections (`on_update = "reply"`), through the real daemon (`run --once`), a real
//! store, the local feed server and the fake Threads API: a published story whose
//! headline changes gets exactly one reply with the new headline under its post, once per
//! change; cosmetic changes, the default `ignore`, and a story not yet published get
//! none; a reply to a post deleted on Threads fails with the API's reason and nothing else
//! is affected; the dry run says what would happen; corrections are paced, and a headline
//! rewritten on every poll leaves one reply waiting, not one per poll.

use crate::publish::{fast, harness_with};
use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::{Feed, Story};
use crate::support::test_app::TestApp;
use feed2threads::publish::{Outcome, WaitReason};
use feed2threads::store::{OutboxRow, OutboxState, Store};

const REPLY: &str = "on_update = \"reply\"";

/// An RSS document of stories `(guid, title)`, the first the oldest, all recent.
fn doc(stories: &[(&str, &str)]) -> String {
    let n = stories.len();
    Feed::new("Test News")
        .stories(stories.iter().enumerate().map(|(i, (guid, title))| {
            let minutes = i64::try_from(n - i).unwrap();
            Story::new(*guid, format!("https://news.example/{guid}"), *title)
                .description("What happened.")
                .aged(chrono::Duration::minutes(minutes))
        }))
        .rss()
}

/// A daemon with account `desk` (no pacing unless `account` says otherwise) and feed
/// `news` with `extra` keys, serving `stories`.
async fn app(extra: &str, account: &str, stories: &[(&str, &str)]) -> TestApp {
    let app = TestApp::new().await;
    let token = app.fake.token();
    let app = app
        .with_account_toml(
            "desk",
            &format!(
                "access_token = \"{token}\"\n{}",
                account_or_default(account)
            ),
        )
        .with_feed_toml("news", "desk", extra);
    serve(&app, stories);
    app
}

fn account_or_default(account: &str) -> &str {
    if account.is_empty() {
        "min_interval = \"0s\""
    } else {
        account
    }
}

fn serve(app: &TestApp, stories: &[(&str, &str)]) {
    app.feeds.set("/news.xml", Route::feed(doc(stories)));
}

/// Every outbox row, oldest first.
async fn rows(store: &Store) -> Vec<OutboxRow> {
    let mut rows = store.list_outbox(None, 10_000).await.unwrap();
    rows.sort_by_key(|r| r.id);
    rows
}

fn replies(rows: &[OutboxRow]) -> Vec<&OutboxRow> {
    rows.iter()
        .filter(|r| r.options.reply_to.is_some())
        .collect()
}

/// The fake's text of each reply, in publish order.
fn reply_texts(app: &TestApp) -> Vec<String> {
    app.fake
        .replies()
        .into_iter()
        .map(|r| r.text.unwrap_or_default())
        .collect()
}

/// The Threads id of the published story whose text starts with `title`.
fn post_id_of(app: &TestApp, title: &str) -> String {
    app.fake
        .top_level_posts()
        .into_iter()
        .find(|p| p.text.as_deref().is_some_and(|t| t.starts_with(title)))
        .unwrap_or_else(|| panic!("no post {title:?}: {:?}", app.fake.posts()))
        .id
}

#[tokio::test]
async fn a_changed_headline_gets_one_reply_under_the_original_post_once_per_change() {
    let app = app(
        REPLY,
        "",
        &[("a", "Storm hits coast"), ("b", "Markets calm")],
    )
    .await;
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 2);
    let original = post_id_of(&app, "Storm hits coast");

    serve(&app, &[("a", "Storm misses coast"), ("b", "Markets calm")]);
    app.run_once().await;
    let on_threads = app.fake.replies();
    assert_eq!(reply_texts(&app), ["Update: Storm misses coast"]);
    assert_eq!(on_threads[0].reply_to.as_deref(), Some(original.as_str()));
    assert_eq!(
        app.fake.top_level_posts().len(),
        2,
        "no new post for a change"
    );
    // Replies use the reply quota.
    assert_eq!(app.fake.reply_quota_usage(), 1);

    // The same headline on the next poll (the document changed otherwise): no reply.
    serve(
        &app,
        &[
            ("a", "Storm misses coast"),
            ("b", "Markets calm"),
            ("c", "Train strike ends"),
        ],
    );
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 3);
    assert_eq!(reply_texts(&app), ["Update: Storm misses coast"]);

    // A second real change: a second reply, under the same post.
    serve(
        &app,
        &[
            ("a", "Storm misses coast, heads north"),
            ("b", "Markets calm"),
            ("c", "Train strike ends"),
        ],
    );
    app.run_once().await;
    assert_eq!(
        reply_texts(&app),
        [
            "Update: Storm misses coast",
            "Update: Storm misses coast, heads north"
        ]
    );
    assert!(
        app.fake
            .replies()
            .iter()
            .all(|r| r.reply_to.as_deref() == Some(original.as_str()))
    );
    assert!(app.fake.duplicates().is_empty());

    let store = app.open_store().await;
    let rows = rows(&store).await;
    let replies = replies(&rows);
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|r| r.state == OutboxState::Published));
    store.close().await;
}

#[tokio::test]
async fn whitespace_case_punctuation_and_typography_make_no_reply() {
    let app = app(
        REPLY,
        "",
        &[
            ("a", "Minister's plan - day two"),
            ("b", "Storm hits coast"),
        ],
    )
    .await;
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 2);
    serve(
        &app,
        &[
            ("a", "  Minister’s  plan — day two. "),
            ("b", "STORM HITS COAST!"),
        ],
    );
    app.run_once().await;
    assert!(app.fake.replies().is_empty(), "{:?}", app.fake.replies());
    let store = app.open_store().await;
    assert!(replies(&rows(&store).await).is_empty());
    store.close().await;
}

#[tokio::test]
async fn ignore_is_the_default_and_makes_no_reply() {
    let app = app("", "", &[("a", "Storm hits coast")]).await;
    app.run_once().await;
    serve(&app, &[("a", "Storm misses coast")]);
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 1);
    assert!(app.fake.replies().is_empty());
    let store = app.open_store().await;
    assert!(replies(&rows(&store).await).is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_reply_to_a_post_deleted_on_threads_fails_with_the_api_reason_and_nothing_else() {
    let app = app(REPLY, "", &[("a", "Storm hits coast")]).await;
    app.run_once().await;
    let original = post_id_of(&app, "Storm hits coast");
    assert!(app.fake.delete_post(&original));

    serve(
        &app,
        &[("a", "Storm misses coast"), ("b", "Train strike ends")],
    );
    let report = app.run_once().await;
    // The other story went out.
    assert!(
        app.fake.top_level_posts().iter().any(|p| p
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("Train strike ends"))),
        "{:?}",
        app.fake.posts()
    );
    assert!(app.fake.replies().is_empty());
    let store = app.open_store().await;
    let rows = rows(&store).await;
    let replies = replies(&rows);
    assert_eq!(replies.len(), 1);
    let reply = replies[0];
    assert_eq!(reply.state, OutboxState::Failed, "{reply:?}");
    let error = reply.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("does not exist or was deleted"),
        "the API's reason: {error}"
    );
    // The run names it for the human who must look.
    let failed: Vec<i64> = report
        .publishers
        .iter()
        .flat_map(|w| w.failed.iter().map(|f| f.post))
        .collect();
    assert_eq!(failed, [reply.id]);
    // Every other row is published.
    assert!(
        rows.iter()
            .filter(|r| r.id != reply.id)
            .all(|r| r.state == OutboxState::Published),
        "{rows:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn a_story_not_yet_published_gets_no_reply_and_keeps_its_headline() {
    // A cap of one post a day: story b waits while a goes out.
    let app = app(
        &format!("{REPLY}\nmax_per_day = 1"),
        "",
        &[("a", "Storm hits coast"), ("b", "Markets calm")],
    )
    .await;
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 1);
    serve(&app, &[("a", "Storm hits coast"), ("b", "Markets crash")]);
    app.run_once().await;
    assert!(app.fake.replies().is_empty());
    let store = app.open_store().await;
    let rows = rows(&store).await;
    assert!(replies(&rows).is_empty(), "{rows:?}");
    let waiting = rows
        .iter()
        .find(|r| r.text.starts_with("Markets calm"))
        .expect("b's post");
    assert_eq!(waiting.state, OutboxState::Queued);
    // Nothing recorded: the headline b's post goes out with is still the one a later
    // change is measured against (the dry run says so).
    store.close().await;
    // (A new story makes the document new: an unchanged one is not read again.)
    serve(
        &app,
        &[
            ("a", "Storm hits coast"),
            ("b", "Markets crash"),
            ("c", "Train strike ends"),
        ],
    );
    let (_, printed) = app.dry_run_once().await;
    assert!(
        printed.contains(
            "no reply: title changed from \"Markets calm\" to \"Markets crash\", but its post"
        ),
        "{printed}"
    );
}

#[tokio::test]
async fn the_dry_run_says_it_would_reply_and_queues_nothing() {
    let app = app(REPLY, "", &[("a", "Storm hits coast")]).await;
    app.run_once().await;
    serve(&app, &[("a", "Storm misses coast")]);
    let (_, printed) = app.dry_run_once().await;
    assert!(
        printed.contains(
            "--- news · would reply: title changed from \"Storm hits coast\" to \"Storm misses coast\""
        ),
        "{printed}"
    );
    assert!(app.fake.replies().is_empty());
    let store = app.open_store().await;
    assert!(replies(&rows(&store).await).is_empty());
    store.close().await;
    // The real run then replies.
    app.run_once().await;
    assert_eq!(reply_texts(&app), ["Update: Storm misses coast"]);
}

/// Corrections are news of their own: paced like posts by `min_interval` (a first reply,
/// which completes a post just out, is not). Polled and published step by step, as the
/// daemon would, with an hour between publishes.
#[tokio::test]
async fn corrections_are_paced_and_a_headline_rewritten_every_poll_leaves_one_reply_waiting() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(doc(&[("a", "Storm hits coast")])));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"1h\"\n\
         [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n{REPLY}\n",
        fake.token(),
        server.url("/news.xml")
    );
    let h = harness_with(&fake, &config).await;
    let mut publisher = h.publisher("newsroom", fast()).await;
    assert!(matches!(
        publisher.try_publish_next().await.unwrap(),
        Outcome::Published { .. }
    ));
    let poller = feed2threads::app::build_poller(&h.store, &h.settings).unwrap();
    let (feed, _) = &h.feeds[0];
    for title in ["Storm misses coast", "Storm turns north", "Storm weakens"] {
        server.set("/news.xml", Route::feed(doc(&[("a", title)])));
        let row = h.store.feed_by_name("news").await.unwrap().unwrap();
        poller.poll(feed, &row).await.unwrap();
        // The worker drops what a newer headline superseded, and waits for pacing.
        loop {
            match publisher.try_publish_next().await.unwrap() {
                Outcome::Dropped { reason, .. } => {
                    assert!(reason.contains("superseded"), "{reason}");
                }
                Outcome::Wait {
                    reason: WaitReason::Pacing,
                    ..
                } => break,
                other => panic!("after {title:?}: {other:?}"),
            }
        }
    }
    assert!(fake.replies().is_empty());
    let rows = h.rows().await;
    let replies = replies(&rows);
    let states: Vec<(OutboxState, &str)> =
        replies.iter().map(|r| (r.state, r.text.as_str())).collect();
    assert_eq!(
        states,
        [
            (OutboxState::Dropped, "Update: Storm misses coast"),
            (OutboxState::Dropped, "Update: Storm turns north"),
            (OutboxState::Queued, "Update: Storm weakens"),
        ]
    );
    assert!(
        replies[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("superseded by a newer headline")),
        "{:?}",
        replies[0]
    );
}

/// `on_update` as a user writes it: per feed or in `[defaults]`, `ignore` by default,
/// printed back by `check`, and a bad value is an error naming the key.
#[test]
fn on_update_is_a_feed_key_settable_in_defaults_and_checked() {
    use feed2threads::config::Settings;
    use feed2threads::corrections::OnUpdate;
    use std::path::Path;
    let parse = |text: &str| Settings::parse(text, Path::new("test.toml"));
    let text = "[defaults]\non_update = \"reply\"\n[[accounts]]\nname = \"desk\"\n\
                [[feeds]]\nname = \"a\"\nurl = \"https://example.org/a.xml\"\n\
                [[feeds]]\nname = \"b\"\nurl = \"https://example.org/b.xml\"\non_update = \"ignore\"\n\
                [[feeds]]\nname = \"c\"\nurl = \"https://example.org/c.xml\"\n";
    let s = parse(text).unwrap();
    let of = |name: &str| s.feed(name).unwrap().on_update;
    assert_eq!(
        (of("a"), of("b"), of("c")),
        (OnUpdate::Reply, OnUpdate::Ignore, OnUpdate::Reply)
    );
    let plain =
        parse("[[accounts]]\nname = \"desk\"\n[[feeds]]\nurl = \"https://example.org/a.xml\"\n")
            .unwrap();
    assert_eq!(plain.feeds[0].on_update, OnUpdate::Ignore, "the default");

    let printed = s.to_redacted_toml().unwrap();
    assert!(printed.contains("on_update = \"reply\""), "{printed}");
    let again = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    let ours: Vec<_> = s.feeds.iter().map(|f| f.on_update).collect();
    let theirs: Vec<_> = again.feeds.iter().map(|f| f.on_update).collect();
    assert_eq!(ours, theirs, "{printed}");

    for (text, key) in [
        (
            "[[accounts]]\nname = \"desk\"\n[[feeds]]\nurl = \"https://example.org/a.xml\"\non_update = \"correct\"\n",
            "feeds[0].on_update",
        ),
        (
            "[defaults]\non_update = true\n[[accounts]]\nname = \"desk\"\n",
            "defaults.on_update",
        ),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(key), "{error}");
    }
    let error = parse(
        "[[accounts]]\nname = \"desk\"\n[[feeds]]\nurl = \"https://example.org/a.xml\"\non_update = \"correct\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("\"correct\" is not \"ignore\" or \"reply\""),
        "{error}"
    );
}

/// A correction queues with the stories by when the change was seen, not ahead of them
/// as a first reply does: a feed rewriting its headlines cannot starve new stories.
#[tokio::test]
async fn a_correction_does_not_jump_ahead_of_a_story_queued_before_it() {
    let app = app(REPLY, "", &[("a", "Storm hits coast")]).await;
    app.run_once().await;
    // One poll brings a story dated a minute ago and a's new headline.
    serve(
        &app,
        &[("b", "Train strike ends"), ("a", "Storm misses coast")],
    );
    app.run_once().await;
    let order: Vec<String> = app
        .fake
        .posts()
        .into_iter()
        .map(|p| p.text.unwrap_or_default())
        .map(|t| t.lines().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "Storm hits coast",
            "Train strike ends",
            "Update: Storm misses coast"
        ]
    );
}

/// A site that changes the format of every headline at once (a suffix with its name) is
/// not news: no flood of "Update" replies; the new headlines become the ones a later
/// real change is measured against.
#[tokio::test]
async fn every_headline_changing_at_once_is_a_format_change_and_makes_no_reply() {
    let stories = [
        ("a", "Storm hits coast"),
        ("b", "Markets calm"),
        ("c", "Train strike ends"),
        ("d", "Mayor opens bridge"),
    ];
    let app = app(REPLY, "", &stories).await;
    app.run_once().await;
    assert_eq!(app.fake.top_level_posts().len(), 4);
    let mut now: Vec<(&str, String)> = stories
        .iter()
        .map(|(guid, title)| (*guid, format!("{title} - Daily News")))
        .collect();
    let serve_owned = |v: &[(&str, String)]| {
        let refs: Vec<(&str, &str)> = v.iter().map(|(g, t)| (*g, t.as_str())).collect();
        serve(&app, &refs);
    };
    serve_owned(&now);
    let (_, printed) = app.dry_run_once().await;
    assert!(
        printed.contains("no reply: title changed from \"Storm hits coast\" to \"Storm hits coast - Daily News\", but 4 of the 4 published stories changed headline in one poll"),
        "{printed}"
    );
    app.run_once().await;
    assert!(app.fake.replies().is_empty(), "{:?}", app.fake.replies());

    // One real change later: one reply, measured against the new format.
    now[0].1 = "Storm misses coast - Daily News".to_string();
    serve_owned(&now);
    app.run_once().await;
    assert_eq!(
        reply_texts(&app),
        ["Update: Storm misses coast - Daily News"]
    );
}
