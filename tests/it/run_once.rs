//! `run --once` publishes everything its polls queued, and its exit code tells cron the
//! truth: 0 when everything due went out or waits for the operator's reason (pacing, a
//! quota window), 1 when a post failed or an account is paused, with a closing line that
//! names them.

use crate::support::fake_threads::MediaOutcome;
use crate::support::feed_server::Route;
use crate::support::logs::Logs;
use crate::support::rss::{rss, rss_with_images};
use crate::support::test_app::TestApp;
use feed2threads::daemon::End;
use feed2threads::publish::Ending;

/// The cron case the race hid in: many accounts with one feed each. Each feed's posts
/// were queued some milliseconds after its account's publisher had looked for work, found
/// none, been told polling was over and stopped; 457 of 1,482 due posts stayed queued.
#[tokio::test(flavor = "multi_thread")]
async fn run_once_over_100_accounts_of_one_feed_each_publishes_every_due_post() {
    const ACCOUNTS: usize = 100;
    const STORIES: usize = 3;
    let mut app = TestApp::new().await;
    app.fake.update(|s| s.quota_total = 10_000);
    for a in 0..ACCOUNTS {
        app = app.with_account(&format!("acc{a}")).with_feed(
            &format!("feed{a}"),
            &format!("acc{a}"),
            STORIES,
        );
    }
    let out = app
        .command(&["--log-format", "json", "run", "--once"])
        .output()
        .await
        .unwrap();
    let fake = &app.fake;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", tail(&log));
    assert_eq!(fake.posts().len(), ACCOUNTS * STORIES, "{}", tail(&log));
    assert!(fake.duplicates().is_empty());
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("feed2threads stopped"), "{last}");
    assert!(
        last.contains(&format!("\"published\":{}", ACCOUNTS * STORIES)),
        "{last}"
    );
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[tokio::test]
async fn a_failed_post_makes_the_run_exit_1_and_the_closing_line_names_it() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed_toml(
            "photos",
            "desk",
            "media = \"image\"\nimage_fallback = \"none\"",
        )
        .with_feed("words", "desk", 2);
    app.feeds
        .set("/photos.xml", Route::feed(rss_with_images("photos", 1)));
    app.fake
        .update(|s| s.media_outcome = MediaOutcome::Error("FAILED_DOWNLOADING_VIDEO".into()));
    let (logs, _capture) = Logs::capture();

    let report = app.run_once().await;
    assert_eq!(report.end, End::CycleDone);
    assert_eq!(report.published(), 2, "the text posts still went out");
    assert_eq!(report.exit_code(), 1);
    let troubles = report.troubles();
    assert_eq!(troubles.len(), 1, "{troubles:?}");
    assert!(
        troubles[0].starts_with("account desk: post "),
        "{troubles:?}"
    );
    assert!(
        troubles[0].contains("FAILED_DOWNLOADING_VIDEO"),
        "{troubles:?}"
    );
    let last = logs.last_line();
    assert!(
        last.contains("needs a human: account desk: post "),
        "{last}"
    );
}

#[tokio::test]
async fn a_paused_account_makes_the_run_exit_1_and_the_others_publish() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_account_toml("sports", "")
        .with_feed("news", "desk", 2)
        .with_feed("scores", "sports", 2);
    let report = app.run_once().await;
    assert_eq!(app.fake.posts().len(), 2);
    assert_eq!(report.exit_code(), 1);
    let sports = report
        .publishers
        .iter()
        .find(|p| p.account == "sports")
        .unwrap();
    assert!(
        matches!(&sports.ending, Ending::Paused { reason } if reason.contains("feed2threads auth sports")),
        "{:?}",
        sports.ending
    );
    assert_eq!(report.troubles().len(), 1, "{:?}", report.troubles());
}

#[tokio::test]
async fn posts_waiting_for_the_quota_window_are_the_operator_s_choice_exit_0() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 4);
    app.fake.update(|s| s.quota_total = 2);
    let report = app.run_once().await;
    assert_eq!(app.fake.posts().len(), 2);
    let desk = &report.publishers[0];
    assert!(
        matches!(desk.ending, Ending::QuotaWindow { .. }),
        "{:?}",
        desk.ending
    );
    assert_eq!(report.exit_code(), 0, "{:?}", report.troubles());
    let store = app.open_store().await;
    let queued = store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.state == "queued")
        .count();
    assert_eq!(queued, 2, "the rest waits for the window");
}

#[tokio::test]
async fn a_quota_wait_that_began_while_polling_ends_when_polling_is_over() {
    // The quick feed's posts spend the quota while the slow feed is still being polled:
    // the publisher starts a day-long quota wait before it knows the run is draining. The
    // drain must end that wait (it is not worth waiting for in a --once run).
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("quick", "desk", 2)
        .with_feed("slow", "desk", 1);
    app.feeds.set(
        "/slow.xml",
        Route::feed(rss("slow", 1)).delay(std::time::Duration::from_millis(1500)),
    );
    app.fake.update(|s| s.quota_total = 1);
    let report = app.run_once().await;
    assert_eq!(app.fake.posts().len(), 1);
    assert!(
        matches!(report.publishers[0].ending, Ending::QuotaWindow { .. }),
        "{:?}",
        report.publishers[0].ending
    );
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn every_post_of_every_poll_is_published_in_process_too() {
    // The same race in process, through the production wiring: ten accounts whose
    // publishers are busy looking for work while their feeds' posts are committed.
    let mut app = TestApp::new().await;
    for a in 0..10 {
        app = app.with_account(&format!("acc{a}")).with_feed(
            &format!("feed{a}"),
            &format!("acc{a}"),
            3,
        );
    }
    let report = app.run_once().await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.troubles());
    assert_eq!(app.fake.posts().len(), 30);
    assert_eq!(report.published(), 30);
}
