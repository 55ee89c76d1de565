//! Posts waiting for review as an operator sees them (issue 13 part 8): `status` counts
//! them (text and JSON), `/metrics` has them as `state="review"`, a dry run says each
//! would wait for review and counts them in the feed's summary line; and `queue list
//! --json` lists them beside the posts a posting window holds, with why those wait.

use crate::support::feed_server::Route;
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use feed2threads::cli::StatusArgs;
use feed2threads::commands::status::status;
use feed2threads::run_mode::RunMode;
use std::time::Duration;

async fn status_of(app: &TestApp, json: bool) -> String {
    let mut out = Vec::new();
    let args = StatusArgs { json, check: false };
    status(&app.settings(), &args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// An account whose feed `reviewed` (3 stories) waits for an editor.
fn reviewed(app: TestApp, account: &str) -> TestApp {
    app.feeds
        .set("/reviewed.xml", Route::feed(rss("reviewed", 3)));
    app.with_feed_toml("reviewed", account, "review = true\nbacklog = \"all\"")
}

#[tokio::test]
async fn status_counts_the_posts_waiting_for_review() {
    let app = TestApp::new().await.with_account("newsroom");
    let app = reviewed(app, "newsroom");
    let report = app.run_once().await;
    assert_eq!(report.exit_code(), 0, "{report:?}");
    assert!(app.fake.posts().is_empty(), "nothing goes out unreviewed");

    let json: serde_json::Value = serde_json::from_str(&status_of(&app, true).await).unwrap();
    let account = &json["accounts"][0];
    assert_eq!(account["review"], 3, "{json}");
    assert_eq!(account["queued"], 0, "{json}");

    let text = status_of(&app, false).await;
    assert!(text.contains("3 waiting for review"), "{text}");
}

#[tokio::test]
async fn metrics_count_the_posts_waiting_for_review() {
    let app = TestApp::new()
        .await
        .with_account("review-metrics")
        .with_http();
    let app = reviewed(app, "review-metrics");
    let running = app.start(RunMode::DAEMON).await;
    let addr = running.http.unwrap();
    let wanted = "feed2threads_outbox_posts{account=\"review-metrics\",state=\"review\"} 3";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains(wanted) {
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
async fn a_dry_run_says_each_post_would_wait_for_review() {
    let app = TestApp::new().await.with_account("newsroom");
    let app = reviewed(app, "newsroom");
    let (report, printed) = app.dry_run_once().await;
    assert_eq!(report.exit_code(), 0, "{report:?}");
    assert_eq!(
        printed.matches("would wait for review").count(),
        3,
        "{printed}"
    );
    assert!(
        printed.contains("reviewed: 3 items, 0 to post: 3 waiting for review"),
        "{printed}"
    );
}

/// `HH:MM-HH:MM` (UTC), opening four hours from now for an hour: closed now.
fn closed_window() -> String {
    use chrono::Timelike;
    let start = chrono::Utc::now() + chrono::Duration::hours(4);
    let end = start + chrono::Duration::hours(1);
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

/// `queue list --json` speaks as `status --json` does: unix seconds, and for a queued post
/// that a posting window holds, why it waits and until when; a post waiting for review is
/// listed with its state and no wait.
#[tokio::test]
async fn queue_list_json_says_why_a_post_waits() {
    let window = closed_window();
    let app = TestApp::new().await.with_account("newsroom");
    let app = reviewed(app, "newsroom");
    app.feeds.set("/late.xml", Route::feed(rss("late", 1)));
    let app = app.with_feed_toml(
        "late",
        "newsroom",
        &format!("hours = \"{window}\"\nbacklog = \"all\""),
    );
    assert_eq!(app.run_once().await.exit_code(), 0);

    let mut out = Vec::new();
    let args = feed2threads::cli::QueueListArgs {
        account: None,
        state: Vec::new(),
        feed: None,
        json: true,
        limit: 50,
    };
    feed2threads::commands::queue::queue(
        &app.settings(),
        feed2threads::cli::QueueCommand::List(args),
        &mut out,
    )
    .await
    .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let posts = doc["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 4, "{doc}");
    let late = posts.iter().find(|p| p["feed"] == "late").unwrap();
    assert_eq!(late["state"], "queued");
    assert_eq!(late["wait"]["kind"], "window", "{late}");
    let reason = late["wait"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("posting window {window}")),
        "{reason}"
    );
    assert!(late["wait"]["until"].as_i64().unwrap() > late["created_at"].as_i64().unwrap());
    for post in posts.iter().filter(|p| p["feed"] == "reviewed") {
        assert_eq!(post["state"], "review");
        assert!(post["wait"].is_null(), "{post}");
    }
}
