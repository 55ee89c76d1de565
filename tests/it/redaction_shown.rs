//! Credentials in a feed URL (`user:pass@`, `?api_key=…`) are shown as `[redacted]`
//! wherever a feed is shown: `status` (text and JSON: name, url, the problem lines),
//! `/metrics`, the daemon's log, `check`, and the errors naming a store URL. The feed's name
//! defaults to its URL and stays the store's key: only what is shown changes.

use crate::support::feed_server::Route;
use crate::support::logs::Logs;
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use feed2threads::cli::StatusArgs;
use feed2threads::run_mode::RunMode;
use std::time::{Duration, Instant};

const SECRETS: &[&str] = &["SECRET", "user:pass", "pass@", "TOKENVALUE"];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret:?}:\n{text}");
    }
}

/// A daemon polling two feeds without names whose URLs carry credentials, one that works
/// and one that fails, and publishing the working one's stories.
async fn app() -> TestApp {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_http()
        .with_section("[status]\nfeed_failing_after = \"1s\"");
    app.feeds.set("/wire.xml", Route::feed(rss("wire", 2)));
    app.feeds.set("/gone.xml", Route::status(500));
    let base = app.feeds.base_url();
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    app.with_feed_block(&format!(
        "url = \"http://user:pass@{authority}/wire.xml?api_key=SECRET&page=1\"\naccount = \"desk\""
    ))
    .with_feed_block(&format!(
        "url = \"http://{authority}/gone.xml?token=TOKENVALUE\"\naccount = \"desk\""
    ))
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn status_metrics_and_the_daemon_s_own_lines_never_show_feed_credentials() {
    let app = app().await;
    let (logs, _capture) = Logs::capture();
    let running = app.start(RunMode::DAEMON).await;
    wait_for("both feeds polled and the stories published", async || {
        let store = app.open_store().await;
        let polled = store
            .list_feeds()
            .await
            .unwrap()
            .iter()
            .all(|f| f.last_polled_at.is_some());
        store.close().await;
        polled && app.fake.posts().len() == 2
    })
    .await;
    let addr = running.http.unwrap();
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Past feed_failing_after: the store counts in whole seconds, so "longer than 1 s" needs 2.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let settings = app.settings();
    let mut text = Vec::new();
    let args = StatusArgs {
        json: false,
        check: true,
    };
    let healthy = feed2threads::commands::status::status(&settings, &args, &mut text)
        .await
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    let mut json = Vec::new();
    let args = StatusArgs {
        json: true,
        check: true,
    };
    feed2threads::commands::status::status(&settings, &args, &mut json)
        .await
        .unwrap();
    let json = String::from_utf8(json).unwrap();
    running.stop().await;

    // What is shown is recognisable, and hides the credentials.
    assert!(!healthy, "the failing feed needs a human:\n{text}");
    assert!(text.contains("http://[redacted]@"), "{text}");
    assert!(
        text.contains("/gone.xml?token=[redacted] failing for"),
        "the problem line names the feed, redacted:\n{text}"
    );
    assert_clean("status", &text);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = doc["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("/wire.xml?api_key=[redacted]&page=1")),
        "{names:?}"
    );
    assert!(
        doc["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["url"].as_str().unwrap().contains("[redacted]")),
        "{json}"
    );
    assert_clean("status --json", &json);
    assert!(metrics.contains("/wire.xml\""), "{metrics}");
    assert_clean("/metrics", &metrics);

    // The daemon's own lines (run loop, publishers, endpoint); the poll's lines are
    // src/poll.rs's, checked by the test below.
    let log = logs.text();
    let own: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("poll{") && !l.contains("feed2threads::poll:"))
        .collect();
    assert!(
        own.iter().any(|l| l.contains("published")),
        "the publisher's lines are there:\n{log}"
    );
    assert_clean("the daemon's log", &own.join("\n"));

    // The stored name is the configured URL, unchanged: it is the feed's key.
    let store = app.open_store().await;
    let stored: Vec<String> = store
        .list_feeds()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    store.close().await;
    assert!(
        stored.iter().any(|n| n.contains("user:pass@")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn the_poll_s_log_lines_never_show_feed_credentials() {
    let app = app().await;
    let (logs, _capture) = Logs::capture();
    let running = app.start(RunMode::DAEMON).await;
    wait_for("both feeds polled", async || {
        let store = app.open_store().await;
        let polled = store
            .list_feeds()
            .await
            .unwrap()
            .iter()
            .all(|f| f.last_polled_at.is_some());
        store.close().await;
        polled
    })
    .await;
    running.stop().await;
    assert_clean("the daemon's log", &logs.text());
}

#[test]
fn check_and_store_errors_never_show_credentials() {
    use std::process::Command;
    const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("f.toml");
    let run = |body: &str, args: &[&str]| {
        std::fs::write(&config, body).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("FEED2THREADS_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let feeds = "[[accounts]]\nname = \"desk\"\n[[feeds]]\nurl = \
                 \"https://user:pass@wire.example/feed?api_key=SECRET\"\naccount = \"desk\"\n";

    // `check` prints the feed's URL (and its default name) redacted.
    let (code, out) = run(
        &format!(
            "[store]\nurl = \"sqlite://{}/s.db\"\n{feeds}",
            dir.path().display()
        ),
        &["check"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[redacted]"), "{out}");
    assert_clean("check", &out);

    // A store URL with a password, in a config error and in the store-open error. (A
    // postgres:// URL is a store since issue 14: `check` shows it, redacted.)
    let (code, out) = run(
        &format!("[store]\nurl = \"mysql://feeder:SECRET@db.example/feeds\"\n{feeds}"),
        &["check"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("store.url"), "{out}");
    assert_clean("a store.url config error", &out);
    let (code, out) = run(
        &format!("[store]\nurl = \"postgres://feeder:SECRET@db.example/feeds\"\n{feeds}"),
        &["check"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("db.example/feeds"), "{out}");
    assert_clean("a postgres store.url in check", &out);
    let (code, out) = run(
        &format!(
            "[store]\nurl = \"sqlite://user:pass@/nonexistent-dir/SECRET/s.db?mode=rw\"\n{feeds}"
        ),
        &["status"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("[redacted]"), "{out}");
    assert!(!out.contains("user:pass"), "{out}");
}
