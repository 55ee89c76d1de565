//! A reload that does what it says (issue 12, part 7): SIGHUP with a changed `http.listen`
//! moves `/healthz` and `/metrics` there (an address in use leaves them where they are,
//! and says so; "off" stops them); a configured token that differs from the one `auth`
//! stored is reported once, with which one is used and how to switch.

use crate::support::fake_threads::TokenKind;
use crate::support::free_addr;
use crate::support::logs::Logs;
use crate::support::test_app::{Running, TestApp};
use feed2threads::run_mode::RunMode;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Rewrites the config with `listen` and reloads, as SIGHUP does.
fn reload_with_listen(app: &TestApp, running: &Running, listen: &str) {
    let text = app.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{listen}\""),
    );
    assert!(text.contains(listen));
    std::fs::write(app.config_path(), text).unwrap();
    running.reload();
}

async fn healthz(addr: SocketAddr) -> Result<u16, reqwest::Error> {
    reqwest::get(format!("http://{addr}/healthz"))
        .await
        .map(|r| r.status().as_u16())
}

async fn wait_for_addr(running: &Running, want: Option<SocketAddr>) {
    let endpoint = running.endpoint.as_ref().expect("the live daemon serves");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while endpoint.addr().await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the endpoint never reached {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_log(logs: &Logs, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !logs.text().contains(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged {text:?}:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reload_moves_the_endpoint_to_a_changed_listen() {
    let (logs, _capture) = Logs::capture();
    let app = TestApp::new().await.with_http();
    app.settings(); // writes the config file the reload reads
    let running = app.start(RunMode::DAEMON).await;
    let first = running.http.unwrap();
    assert_eq!(healthz(first).await.unwrap(), 200);

    let moved = free_addr();
    reload_with_listen(&app, &running, &moved.to_string());
    wait_for_addr(&running, Some(moved)).await;
    assert_eq!(healthz(moved).await.unwrap(), 200);
    assert!(healthz(first).await.is_err(), "the old address is given up");
    wait_for_log(
        &logs,
        &format!("http.listen changed from \"127.0.0.1:0\" to \"{moved}\""),
    )
    .await;

    // An address in use: the endpoint stays where it is, and the log says why.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    reload_with_listen(&app, &running, &taken_addr.to_string());
    wait_for_log(
        &logs,
        &format!("http.listen: cannot listen on {taken_addr}"),
    )
    .await;
    wait_for_log(&logs, &format!("/healthz and /metrics stay on {moved}")).await;
    assert_eq!(healthz(moved).await.unwrap(), 200);

    // "off" stops it.
    reload_with_listen(&app, &running, "off");
    wait_for_addr(&running, None).await;
    assert!(healthz(moved).await.is_err());
    drop(taken);
    let report = running.stop().await;
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn a_configured_token_that_differs_from_the_stored_one_is_reported_once() {
    let (logs, _capture) = Logs::capture();
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 1);
    // `auth` stored another (valid) token since the config was written.
    let stored = app
        .fake
        .issue_token(TokenKind::LongLived, Duration::from_secs(3600));
    {
        let store = app.open_store().await;
        let row = store.ensure_account("desk", 1).await.unwrap();
        store
            .store_token(row.id, &stored.clone().into(), "auth", None, None, 1)
            .await
            .unwrap();
        store.close().await;
    }
    let running = app.start(RunMode::DAEMON).await;
    running.reload();
    running.reload();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while logs.text().matches("config reloaded").count() < 2 || app.fake.posts().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "{}", logs.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = running.stop().await;
    assert_eq!(report.exit_code(), 0);
    let log = logs.text();
    let notes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("differs from the one in the store"))
        .collect();
    assert_eq!(notes.len(), 1, "{log}");
    assert!(
        notes[0].contains(
            "the configured access token (access_token) differs from the one in the store; the \
             stored one is used"
        ),
        "{}",
        notes[0]
    );
    assert!(notes[0].contains("stored_by=\"auth\""), "{}", notes[0]);
    assert!(
        notes[0].contains("`feed2threads auth desk --token-file FILE`"),
        "{}",
        notes[0]
    );
    assert!(!log.contains(&stored), "a token leaked");
    // It published with the stored one.
    assert_eq!(app.fake.posts().len(), 1);
}
