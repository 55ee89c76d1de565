//! Previews and dry runs that explain (issue 12, part 5): every item a poll meets for the
//! first time shows its fate, post or skip with the reason (older than `max_age` with its
//! date, the backlog policy, filtered by which pattern and key, duplicate of which feed's
//! item, held by the flood guard), and every feed of a dry run ends with a one-line
//! summary, also when nothing would be posted.

use crate::support::feed_server::Route;
use crate::support::rss::{Feed, Story};
use crate::support::test_app::TestApp;
use chrono::Duration as Age;
use std::process::Command;

/// One item: guid and link from `slug`, dated `age` ago.
fn item(slug: &str, title: &str, age: Age) -> Story {
    Story::new(slug, format!("https://news.example/{slug}"), title)
        .description(format!("About {title}."))
        .aged(age)
}

fn document(items: &[Story]) -> String {
    Feed::new("Fates").stories(items.iter().cloned()).rss()
}

#[tokio::test]
async fn a_dry_run_gives_each_item_its_fate_and_each_feed_a_summary() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed_toml("front", "desk", "")
        .with_feed_toml("world", "desk", "exclude = [\"title:(?i)^sponsored\"]");
    app.feeds.set(
        "/front.xml",
        Route::feed(document(&[item(
            "story-a",
            "Storm hits the coast",
            Age::minutes(30),
        )])),
    );
    app.feeds.set("/world.xml", Route::status(500));
    // A live cycle: front's story is published; world fails and stays new.
    assert_eq!(app.run_once().await.exit_code(), 0);
    assert_eq!(app.fake.posts().len(), 1);

    app.feeds.set(
        "/world.xml",
        Route::feed(document(&[
            item("w-1", "Election results are in", Age::minutes(5)),
            item("w-2", "Markets rally", Age::minutes(10)),
            item("w-old", "Last week's summit", Age::days(5)),
            item("w-ad", "Sponsored: a great offer", Age::minutes(15)),
            // The same story as front's (same link), under another guid.
            Story::new(
                "w-a",
                "https://news.example/story-a",
                "Storm hits the coast (world)",
            ),
        ])),
    );
    let (report, printed) = app.dry_run_once().await;
    assert_eq!(report.exit_code(), 0, "{printed}");

    assert_eq!(
        printed.matches("--- world · would publish").count(),
        2,
        "{printed}"
    );
    assert!(
        printed.contains("--- world · skip: older than 2d (published "),
        "{printed}"
    );
    assert!(printed.contains("Z)\nLast week's summit\n"), "{printed}");
    assert!(
        printed.contains(
            "--- world · skip: filtered: title matched exclude pattern \"title:(?i)^sponsored\" (feeds[1].exclude[0])\nSponsored: a great offer\n"
        ),
        "{printed}"
    );
    assert!(
        printed.contains(
            "--- world · skip: duplicate of \"Storm hits the coast\" in feed front (guid:story-a)\nStorm hits the coast (world)\n"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("world: 5 items, 2 to post: 1 older than 2d, 1 filtered, 1 duplicate\n"),
        "{printed}"
    );
    // Nothing new on front: still a line saying so.
    assert!(
        printed.contains("front: unchanged since the last poll, nothing to post")
            || printed.contains("front: not modified since the last poll (304), nothing to post")
            || printed.contains("front: 1 item, 0 to post: 1 seen before"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_first_poll_with_nothing_to_post_still_says_why() {
    let app = TestApp::new().await.with_account("desk").with_feed_toml(
        "bbc",
        "desk",
        "backlog = \"latest:2\"",
    );
    // The two newest are too old themselves; the backlog policy skips the rest.
    app.feeds.set(
        "/bbc.xml",
        Route::feed(document(&[
            item("b-1", "One", Age::days(3)),
            item("b-2", "Two", Age::days(4)),
            item("b-3", "Three", Age::days(5)),
            item("b-4", "Four", Age::days(6)),
            item("b-5", "Five", Age::days(7)),
        ])),
    );
    let (_, printed) = app.dry_run_once().await;
    assert!(
        printed.contains("bbc: 5 items, 0 to post: 3 backlog, 2 older than 2d\n"),
        "{printed}"
    );
    assert_eq!(
        printed
            .matches("--- bbc · skip: backlog at the feed's first poll (backlog = \"latest:2\" keeps the 2 newest)")
            .count(),
        3,
        "{printed}"
    );
    assert!(!printed.contains("would publish"), "{printed}");
}

#[tokio::test]
async fn a_flood_is_shown_held_with_the_limit() {
    let app =
        TestApp::new()
            .await
            .with_account("desk")
            .with_feed_toml("wire", "desk", "flood_limit = 2");
    app.feeds.set(
        "/wire.xml",
        Route::feed(document(&[item("x-0", "First", Age::minutes(60))])),
    );
    assert_eq!(app.run_once().await.exit_code(), 0);
    let mut items: Vec<Story> = (1..=4)
        .map(|i| item(&format!("x-{i}"), &format!("Burst {i}"), Age::minutes(i)))
        .collect();
    items.push(item("x-0", "First", Age::minutes(60)));
    app.feeds.set("/wire.xml", Route::feed(document(&items)));
    let (_, printed) = app.dry_run_once().await;
    assert_eq!(
        printed
            .matches("--- wire · would hold (flood guard)")
            .count(),
        4,
        "{printed}"
    );
    assert!(
        printed.contains("wire: 5 items, 0 to post: 4 held by the flood guard, 1 seen before\n"),
        "{printed}"
    );
}

#[tokio::test]
async fn preview_shows_each_items_fate_and_a_summary() {
    let app = TestApp::new().await.with_account("desk").with_feed_toml(
        "world",
        "desk",
        "include = [\"category:^World$\", \"title:election\"]",
    );
    app.feeds.set(
        "/world.xml",
        Route::feed(document(&[
            item("w-1", "Election results are in", Age::minutes(5)),
            item("w-2", "Markets rally", Age::minutes(10)),
            item("w-old", "Election of last week", Age::days(5)),
        ])),
    );
    app.settings(); // writes the config file
    let config = app.config_path();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_feed2threads"))
            .arg("--config")
            .arg(&config)
            .args(["preview", "world"])
            .env_remove("FEED2THREADS_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("--- world · post").count(), 1, "{stdout}");
    assert!(
        stdout.contains(
            "--- world · skip: filtered: matched no include pattern ([\"category:^World$\", \"title:election\"], feeds[0].include)\nMarkets rally\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("--- world · skip: older than 2d (published "),
        "{stdout}"
    );
    assert!(
        stdout.contains("world: 3 items, 1 to post: 1 older than 2d, 1 filtered"),
        "{stdout}"
    );
}
