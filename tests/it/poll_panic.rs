//! A poll that panics is caught: the feed is reported failed with the panic message, kept
//! for `status`, and scheduled again; the run goes on and ends (before: the feed stayed
//! "in flight" for ever and a `--once` run hung).

use crate::support::test_app::TestApp;
use feed2threads::daemon::End;
use feed2threads::run_mode::RunMode;
use feed2threads::store::now_unix;

#[tokio::test]
async fn a_panicking_poll_is_its_feed_s_failure_and_the_once_run_ends() {
    let mut app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("cursed", "desk", 2)
        .with_feed("fine", "desk", 2);
    app.options.test_panic_in_poll_of = Some("cursed".into());

    let report = app.run_once().await;
    assert_eq!(report.end, End::CycleDone);
    assert_eq!(report.polls, 2);
    assert_eq!(report.failed_polls, 1);
    assert_eq!(report.poll_panics.len(), 1);
    assert_eq!(report.poll_panics[0].feed, "cursed");
    assert!(
        report.poll_panics[0].message.contains("injected panic"),
        "{:?}",
        report.poll_panics
    );
    // The other feed's stories went out, and a failing feed does not fail the run.
    assert_eq!(app.fake.posts().len(), 2);
    assert_eq!(report.exit_code(), 0);

    // Kept for `status`, with the message, and due again after the failure backoff.
    let store = app.open_store().await;
    let cursed = store.feed_by_name("cursed").await.unwrap().unwrap();
    assert_eq!(cursed.last_result.as_deref(), Some("panic"));
    assert!(
        cursed
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("the poll panicked: injected panic"),
        "{:?}",
        cursed.last_error
    );
    assert_eq!(cursed.consecutive_failures, 1);
    assert!(cursed.next_check_at > now_unix());
}

#[tokio::test]
async fn a_daemon_whose_poll_panicked_keeps_running_and_stops_cleanly() {
    let mut app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("cursed", "desk", 1)
        .with_feed("fine", "desk", 1);
    app.options.test_panic_in_poll_of = Some("cursed".into());
    let running = app.start(RunMode::DAEMON).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.fake.posts().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!running.is_finished());
    let report = running.stop().await;
    assert_eq!(report.end, End::Signal);
    assert_eq!(report.poll_panics.len(), 1);
    assert_eq!(report.exit_code(), 0);
}
