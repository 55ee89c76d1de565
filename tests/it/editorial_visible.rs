//! Editorial control as an operator sees it, through the production wiring: `run --once`
//! ends well (exit 0) when posts wait for a posting window or a cap; `status` (text and
//! JSON) counts them apart and says why and until when; `/metrics` counts the outbox by
//! state with the waits apart; a dry run shows a post's Threads options.

use crate::support::feed_server::Route;
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use chrono::{Duration as Delta, Timelike, Utc};
use feed2threads::cli::StatusArgs;
use feed2threads::commands::status::status;
use feed2threads::run_mode::RunMode;
use std::time::Duration;

/// `HH:MM-HH:MM` (UTC), opening four hours from now for an hour: closed now.
fn closed_window() -> String {
    let start = Utc::now() + Delta::hours(4);
    let end = start + Delta::hours(1);
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

async fn status_of(app: &TestApp, json: bool) -> String {
    let mut out = Vec::new();
    let args = StatusArgs { json, check: false };
    status(&app.settings(), &args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn run_once_exits_0_and_status_says_why_posts_wait() {
    let window = closed_window();
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("open", "desk", 2);
    app.feeds.set("/late.xml", Route::feed(rss("late", 3)));
    app.feeds.set("/capped.xml", Route::feed(rss("capped", 3)));
    let app = app
        .with_feed_toml("late", "desk", &format!("hours = \"{window}\""))
        .with_feed_toml("capped", "desk", "max_per_hour = 1");

    let report = app.run_once().await;
    assert_eq!(report.exit_code(), 0, "{report:?}");
    // Two of the open feed, one of the capped one.
    assert_eq!(app.fake.posts().len(), 3);

    let json: serde_json::Value = serde_json::from_str(&status_of(&app, true).await).unwrap();
    let account = &json["accounts"][0];
    assert_eq!(account["queued"], 5);
    assert_eq!(account["waiting_window"], 3);
    assert_eq!(account["waiting_cap"], 2);
    let waiting = json["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 5);
    for w in waiting {
        let reason = w["reason"].as_str().unwrap();
        match w["feed"].as_str().unwrap() {
            "late" => {
                assert_eq!(w["kind"], "window");
                assert!(
                    reason.contains(&format!("posting window {window}")),
                    "{reason}"
                );
            }
            "capped" => {
                assert_eq!(w["kind"], "cap");
                assert!(reason.starts_with("max_per_hour = 1 reached"), "{reason}");
            }
            other => panic!("{other} waits: {w}"),
        }
        assert!(w["until"].as_i64().unwrap() > json["now"].as_i64().unwrap());
    }
    // The next publish is when the first of them may go, not now.
    assert!(account["next_publish"].as_i64().unwrap() > json["now"].as_i64().unwrap());

    let text = status_of(&app, false).await;
    assert!(text.contains("window") && text.contains("cap"), "{text}");
    let (_, waiting) = text
        .split_once("\nWAITING\n")
        .unwrap_or_else(|| panic!("{text}"));
    let late = waiting
        .lines()
        .find(|l| l.starts_with("late "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(late.contains("3 post(s) until"), "{late}");
    assert!(late.contains(&window), "{late}");
    let capped = waiting.lines().find(|l| l.starts_with("capped ")).unwrap();
    assert!(
        capped.contains("2 post(s)") && capped.contains("max_per_hour"),
        "{capped}"
    );
}

#[tokio::test]
async fn metrics_count_the_outbox_by_state_with_the_waits_apart() {
    let app = TestApp::new()
        .await
        .with_account("windowed-desk")
        .with_http();
    app.feeds.set("/late.xml", Route::feed(rss("late", 2)));
    let app = app.with_feed_toml(
        "late",
        "windowed-desk",
        &format!("hours = \"{}\"", closed_window()),
    );
    let running = app.start(RunMode::DAEMON).await;
    let addr = running.http.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let wanted = "feed2threads_outbox_posts{account=\"windowed-desk\",state=\"waiting_window\"} 2";
    loop {
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains(wanted) {
            assert!(
                body.contains(
                    "feed2threads_outbox_posts{account=\"windowed-desk\",state=\"queued\"} 0"
                ),
                "{body}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {wanted} in:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
    assert!(app.fake.posts().is_empty());
}

#[tokio::test]
async fn a_dry_run_shows_the_posts_threads_options() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 1);
    let app = app
        .with_defaults("link_in = \"reply\"")
        .with_defaults("reply_approvals = true");
    let (report, printed) = app.dry_run_once().await;
    assert_eq!(report.exit_code(), 0);
    assert!(
        printed.contains("first reply: https://news.example/news/0"),
        "{printed}"
    );
    assert!(printed.contains("reply approvals"), "{printed}");
    assert!(!printed.contains("link: https://"), "no card: {printed}");
    assert!(app.fake.posts().is_empty());
}
