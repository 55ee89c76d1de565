//! Bounded work under a hostile or broken feed: at most `max_items` items of a document
//! are considered, and a flood-held feed's later items are recorded as held without a
//! post being composed for each; `status` counts them, and after `release` those still in
//! the feed are composed at its next poll.

use crate::support;

use feed2threads::cli::StatusArgs;
use support::feed_server::{FeedServer, Route};
use support::newsroom::{Newsroom, feed_block};

/// An RSS document of items `guid-{n}` for each `n` in `numbers`, item n dated n minutes
/// ago (so lower numbers are newer), with `channel_title` as the channel's title.
fn rss(numbers: impl IntoIterator<Item = usize>, channel_title: &str) -> String {
    let now = chrono::Utc::now();
    let mut s = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{channel_title}</title><link>https://flood.example/</link>\n"
    );
    for n in numbers {
        let date = (now - chrono::Duration::minutes(n as i64)).to_rfc2822();
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">guid-{n}</guid><link>https://flood.example/story/{n}</link><title>Story {n}</title><pubDate>{date}</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// The `held` figure `status --json` shows for the feed.
async fn status_held(h: &Newsroom, feed: &str) -> i64 {
    let mut out = Vec::new();
    feed2threads::commands::status::status(
        &h.settings,
        &StatusArgs {
            json: true,
            check: false,
        },
        &mut out,
    )
    .await
    .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out).unwrap();
    status["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == feed)
        .unwrap()["held"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn at_most_max_items_of_a_document_are_considered_the_newest_first() {
    let server = FeedServer::start().await;
    // 520 items; the default max_items is 500.
    server.set("/f.xml", Route::feed(rss(0..520, "Big")));
    let h = Newsroom::new(&feed_block(
        "f",
        &server.url("/f.xml"),
        "backlog = \"all\"\nmax_age = \"off\"",
    ))
    .await;
    let c = h.ingest("f").await;
    assert_eq!((c.items, c.new, c.queued), (500, 500, 500));
    // The 20 oldest were never considered: not recorded, not posted.
    let texts = h.queued_texts().await;
    assert!(texts.iter().any(|t| t.contains("Story 499")));
    assert!(
        !texts.iter().any(|t| t.contains("Story 500")),
        "an old one was posted"
    );
}

#[tokio::test]
async fn a_flood_held_feed_records_new_items_without_composing_them() {
    let server = FeedServer::start().await;
    server.set("/f.xml", Route::feed(rss([1000], "Steady")));
    let h = Newsroom::new(&feed_block(
        "f",
        &server.url("/f.xml"),
        "flood_limit = 4\nmax_age = \"off\"",
    ))
    .await;
    h.ingest("f").await;

    // Six at once: the flood guard composes them and holds them.
    server.set("/f.xml", Route::feed(rss(100..106, "Steady")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.held, c.queued), (6, 6, 0));
    assert_eq!(h.outbox_len().await, 6);

    // While the feed is held, what comes is recorded and held, and nothing is composed.
    server.set("/f.xml", Route::feed(rss(10..13, "Steady")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.held, c.queued), (3, 3, 0));
    assert_eq!(h.outbox_len().await, 6, "no post was composed for them");
    assert_eq!(status_held(&h, "f").await, 9);
    // Seen again while held: not new, nothing more recorded.
    server.set("/f.xml", Route::feed(rss(10..13, "Steady!")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.held), (0, 0));
    assert_eq!(status_held(&h, "f").await, 9);

    // Released: the six posts are queued at once; the three still in the feed are
    // composed at its next poll.
    let mut out = Vec::new();
    let args = feed2threads::cli::ReleaseArgs {
        feed: "f".into(),
        latest: None,
        drop_rest: false,
    };
    feed2threads::commands::release::release(&h.settings, &args, &mut out)
        .await
        .unwrap();
    assert_eq!(h.queued_texts().await.len(), 6);
    server.set("/f.xml", Route::feed(rss(10..13, "Steady")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued, c.held), (0, 3, 0));
    let texts = h.queued_texts().await;
    assert_eq!(texts.len(), 9);
    assert!(texts.iter().any(|t| t.contains("Story 12")));
    assert_eq!(status_held(&h, "f").await, 0);
    // And never again.
    server.set("/f.xml", Route::feed(rss(10..13, "Steady!")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued), (0, 0));
    assert_eq!(h.outbox_len().await, 9);
}

#[tokio::test]
async fn release_with_drop_rest_drops_the_items_held_without_a_post_too() {
    let server = FeedServer::start().await;
    server.set("/f.xml", Route::feed(rss([1000], "Steady")));
    let h = Newsroom::new(&feed_block(
        "f",
        &server.url("/f.xml"),
        "flood_limit = 4\nmax_age = \"off\"",
    ))
    .await;
    h.ingest("f").await;
    server.set("/f.xml", Route::feed(rss(100..106, "Steady")));
    assert_eq!(h.ingest("f").await.held, 6);
    // Three more while held: recorded without a post.
    server.set("/f.xml", Route::feed(rss(10..13, "Steady")));
    assert_eq!(h.ingest("f").await.held, 3);

    // The newest held post goes out, the rest is dropped: the three without a post too.
    let args = feed2threads::cli::ReleaseArgs {
        feed: "f".into(),
        latest: Some(1),
        drop_rest: true,
    };
    let mut out = Vec::new();
    feed2threads::commands::release::release(&h.settings, &args, &mut out)
        .await
        .unwrap();
    assert_eq!(h.queued_texts().await.len(), 1);
    assert_eq!(status_held(&h, "f").await, 0);
    server.set("/f.xml", Route::feed(rss(10..13, "Steady!")));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued, c.held), (0, 0, 0));
    assert_eq!(
        h.queued_texts().await.len(),
        1,
        "a dropped item was composed"
    );
}
