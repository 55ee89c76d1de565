//! `status --check` goes red when a human is needed, with one line per reason and the
//! command that fixes it, and `status` shows the quota as the API reports it now and as our
//! ledger counts it, with no network too. Each scenario runs the real daemon (`run --once`
//! through the production wiring) and then the `status` command, in process.

use crate::support::fake_threads::MediaOutcome;
use crate::support::feed_server::Route;
use crate::support::rss::{rss, rss_with_images};
use crate::support::test_app::TestApp;
use feed2threads::cli::StatusArgs;
use feed2threads::config::Settings;
use std::time::Duration;

/// `status` (`json`: `--json`), `--check`: its output and whether it says all is well.
async fn status(settings: &Settings, json: bool) -> (bool, String) {
    let mut out = Vec::new();
    let healthy = feed2threads::commands::status::status(
        settings,
        &StatusArgs { json, check: true },
        &mut out,
    )
    .await
    .unwrap();
    (healthy, String::from_utf8(out).unwrap())
}

async fn status_json(settings: &Settings) -> serde_json::Value {
    serde_json::from_str(&status(settings, true).await.1).unwrap()
}

/// The `! …` lines of the text output.
fn problem_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("! ")).collect()
}

#[tokio::test]
async fn held_and_failed_posts_turn_check_red_until_released_retried_or_dropped() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_section("[status]\nheld_after = \"1s\"")
        .with_feed_toml(
            "photos",
            "desk",
            "media = \"image\"\nimage_fallback = \"none\"",
        )
        .with_feed_toml("news", "desk", "flood_limit = 2");
    app.feeds
        .set("/photos.xml", Route::feed(rss_with_images("photos", 1)));
    app.feeds.set("/news.xml", Route::feed(rss("news", 1)));
    app.fake
        .update(|s| s.media_outcome = MediaOutcome::Error("FAILED_DOWNLOADING_VIDEO".into()));
    app.run_once().await;
    // The next poll of news brings 5 new stories: more than flood_limit, all held.
    app.feeds.set("/news.xml", Route::feed(rss("news", 6)));
    app.run_once().await;
    let settings = app.settings();

    // Today's complaint: held and failed posts, and status --check said 0.
    let doc = status_json(&settings).await;
    let failed_id = doc["accounts"][0]["failed_posts"][0]["id"]
        .as_i64()
        .unwrap();
    let (healthy, text) = status(&settings, false).await;
    assert!(!healthy, "{text}");
    assert_eq!(
        problem_lines(&text),
        [format!(
            "! post {failed_id} of account desk failed (feed photos, \"photos story number 0\"): \
             container processing failed: FAILED_DOWNLOADING_VIDEO; fix: feed2threads queue \
             retry {failed_id} to try it again, or feed2threads queue drop {failed_id}"
        )],
        "held for less than held_after is not yet a problem:\n{text}"
    );

    // Held for longer than status.held_after (1s): the release command is named.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (healthy, text) = status(&settings, false).await;
    assert!(!healthy);
    let lines = problem_lines(&text);
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("! feed news: 5 post(s) held by the flood guard for "),
        "{text}"
    );
    assert!(
        lines[1].ends_with(
            "(status.held_after is 1s); fix: feed2threads release news to publish them, or \
             feed2threads queue drop ID for each one not to"
        ),
        "{text}"
    );
    let doc = status_json(&settings).await;
    assert_eq!(doc["healthy"], false);
    let kinds: Vec<&str> = doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["post_failed", "posts_held"]);
    assert_eq!(doc["feeds"][0]["name"], "news");
    assert_eq!(doc["feeds"][0]["held_posts"], 5);

    // The operator acts: the failed post dropped, the held ones released. Green again.
    let store = app.open_store().await;
    store
        .drop_post(failed_id, feed2threads::store::now_unix())
        .await
        .unwrap();
    let news = store.feed_by_name("news").await.unwrap().unwrap();
    store
        .release_feed(
            news.id,
            feed2threads::store::admin::ReleaseRequest {
                latest: None,
                drop_rest: false,
                newest_first: false,
            },
            feed2threads::store::now_unix(),
        )
        .await
        .unwrap();
    store.close().await;
    let (healthy, text) = status(&settings, false).await;
    assert!(healthy, "{text}");
    assert!(text.contains("ok: nothing needs a human"), "{text}");
}

#[tokio::test]
async fn a_new_feed_that_never_succeeds_is_red_after_three_polls() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 1)
        .with_feed_toml("typo", "desk", "");
    app.feeds.set("/typo.xml", Route::status(404));
    let settings = app.settings();
    for _ in 0..2 {
        app.run_once().await;
    }
    let (healthy, text) = status(&settings, false).await;
    assert!(
        healthy,
        "two failed polls of a new feed are not yet a problem:\n{text}"
    );

    app.run_once().await;
    let (healthy, text) = status(&settings, false).await;
    assert!(!healthy, "{text}");
    let lines = problem_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with("! feed typo has never once been fetched: 3 polls failed, the last "),
        "{text}"
    );
    assert!(lines[0].contains("404"), "{text}");
    assert!(
        lines[0].ends_with(
            "fix: feed2threads preview typo shows the error; correct the feed's url in the \
             config (or remove the feed)"
        ),
        "{text}"
    );
    let doc = status_json(&settings).await;
    assert_eq!(doc["reasons"][0]["kind"], "feed_never_succeeded");
}

#[tokio::test]
async fn status_shows_the_quota_as_the_api_and_the_ledger_count_it_and_works_without_network() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 3);
    app.run_once().await;
    assert_eq!(app.fake.posts().len(), 3);
    let settings = app.settings();

    // Asked now: 3 of 250 by the API, 3 by our ledger (the daemon read 0 at its start).
    let doc = status_json(&settings).await;
    let quota = &doc["accounts"][0]["quota"];
    assert_eq!(quota["used_24h_api"], 3, "{quota}");
    assert_eq!(quota["used_24h_ledger"], 3);
    assert_eq!(quota["api_read_by"], "status");
    assert_eq!(quota["limit"], 250);
    assert_eq!(quota["remaining"], 247);
    assert_eq!(quota["api_error"], serde_json::Value::Null);
    assert_eq!(doc["accounts"][0]["quota_usage"], 3);
    let (_, text) = status(&settings, false).await;
    assert!(
        text.contains(
            "quota:          3 of 250 used in the last 24 h per the API (asked just now), 3 per \
             our ledger; 247 of 250 left"
        ),
        "{text}"
    );

    // Someone else publishes 2 posts through the API: the API's count shows them.
    app.fake.update(|s| s.quota_total = 10);
    for i in 0..2 {
        let client = feed2threads::threads::ThreadsClient::new(
            feed2threads::threads::ClientConfig::new(app.fake.base_url()),
        )
        .unwrap();
        let token = app.fake.secret_token();
        let c = client
            .create_container(
                &token,
                &feed2threads::threads::NewContainer::Text(
                    feed2threads::threads::TextContainer::new(format!("by hand {i}")),
                ),
            )
            .await
            .unwrap();
        client.publish(&token, &c).await.unwrap();
    }
    let doc = status_json(&settings).await;
    let quota = &doc["accounts"][0]["quota"];
    assert_eq!(quota["used_24h_api"], 5, "{quota}");
    assert_eq!(quota["used_24h_ledger"], 3);
    assert_eq!(quota["remaining"], 5);

    // No network (nothing listens at api_base): shown, not fatal; the daemon's reading
    // and the ledger stay.
    let mut offline = settings.clone();
    let closed = crate::support::free_addr();
    offline.threads.api_base = format!("http://{closed}/").parse().unwrap();
    let (healthy, text) = status(&offline, false).await;
    assert!(healthy, "a failed API read needs no human:\n{text}");
    assert!(
        text.contains("per the API as the daemon read it at "),
        "{text}"
    );
    assert!(text.contains("not asked now: "), "{text}");
    assert!(text.contains("3 per our ledger"), "{text}");
    let doc = status_json(&offline).await;
    let quota = &doc["accounts"][0]["quota"];
    assert_eq!(quota["api_read_by"], "daemon", "{quota}");
    assert!(quota["api_error"].as_str().unwrap().len() > 5, "{quota}");
    assert_eq!(quota["used_24h_ledger"], 3);
}

#[tokio::test]
async fn the_daemon_reads_the_quota_again_while_it_publishes() {
    // Production: at most every 5 minutes while publishing.
    assert!(
        feed2threads::publish::PublishConfig::default().quota_refresh <= Duration::from_secs(300)
    );
    let mut app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 3);
    app.options.publish.quota_refresh = Duration::ZERO;
    app.run_once().await;
    let store = app.open_store().await;
    let account = store.account_by_name("desk").await.unwrap().unwrap();
    store.close().await;
    // Read (and stored for `status`) before each publish: the last before the third.
    assert_eq!(account.quota_usage, Some(2), "{account:?}");
    assert!(account.quota_checked_at.is_some());
}
