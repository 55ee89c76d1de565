//! One story, one post: the identity rule inside a document and across documents, the
//! fragments that tell stories on one page apart, and a store written by an earlier
//! release (keys with every fragment dropped) upgraded without re-posting.

use crate::support;

use sha2::{Digest, Sha256};
use support::feed_server::{FeedServer, Route};
use support::newsroom::{Newsroom, feed_block};

/// One RSS item: guid, link, title, hours ago.
struct Story<'a> {
    guid: Option<&'a str>,
    link: Option<&'a str>,
    title: &'a str,
    hours: i64,
}

fn story<'a>(guid: Option<&'a str>, link: Option<&'a str>, title: &'a str) -> Story<'a> {
    Story {
        guid,
        link,
        title,
        hours: 1,
    }
}

fn rss(items: &[Story<'_>]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Live</title><link>https://live.example/</link>\n",
    );
    for item in items {
        let date = (chrono::Utc::now() - chrono::Duration::hours(item.hours)).to_rfc2822();
        s.push_str("<item>");
        if let Some(g) = item.guid {
            s.push_str(&format!("<guid isPermaLink=\"false\">{g}</guid>"));
        }
        if let Some(l) = item.link {
            s.push_str(&format!("<link>{l}</link>"));
        }
        s.push_str(&format!(
            "<title>{}</title><description>About {}.</description><pubDate>{date}</pubDate></item>\n",
            item.title, item.title
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// The links of the posts in the outbox, oldest first.
async fn posted_links(h: &Newsroom) -> Vec<String> {
    h.posts()
        .await
        .into_iter()
        .filter_map(|(_, _, link)| link)
        .collect()
}

#[tokio::test]
async fn one_story_listed_twice_in_a_document_is_posted_once() {
    let server = FeedServer::start().await;
    server.set("/f.xml", Route::feed(rss(&[])));
    let h = Newsroom::new(&feed_block("f", &server.url("/f.xml"), "")).await;
    h.ingest("f").await;

    // A sponsor post and a linked-list post about one article: two guids, one link.
    let sponsor = story(
        Some("sponsor-991"),
        Some("https://news.example/story?utm_source=sponsor"),
        "Sponsored: the story",
    );
    let linked = story(
        Some("linked-17"),
        Some("https://www.news.example/story"),
        "Linked: the story",
    );
    server.set("/f.xml", Route::feed(rss(&[sponsor, linked])));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued, c.duplicates), (1, 1, 1));
    assert_eq!(h.outbox_len().await, 1);

    // Both guids are remembered: the second alone, retitled, is still not news.
    let retitled = story(
        Some("linked-17"),
        Some("https://www.news.example/story"),
        "Linked: the story, updated",
    );
    server.set("/f.xml", Route::feed(rss(&[retitled])));
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued), (0, 0));
    assert_eq!(h.outbox_len().await, 1);
}

#[tokio::test]
async fn stories_on_one_page_are_told_apart_by_their_fragments() {
    let server = FeedServer::start().await;
    server.set("/live.xml", Route::feed(rss(&[])));
    server.set("/front.xml", Route::feed(rss(&[])));
    let cfg = format!(
        "{}{}",
        feed_block("live", &server.url("/live.xml"), ""),
        feed_block("front", &server.url("/front.xml"), "")
    );
    let h = Newsroom::new(&cfg).await;
    h.ingest("live").await;
    h.ingest("front").await;

    let page = "https://live.example/2026/11/29/election.html";
    let e1 = format!("{page}#a0601");
    let e2 = format!("{page}#a0602");
    server.set(
        "/live.xml",
        Route::feed(rss(&[
            story(None, Some(&e2), "Polls close"),
            story(None, Some(&e1), "Turnout high"),
        ])),
    );
    assert_eq!(h.ingest("live").await.queued, 2);

    // A later entry on the same page is a story of its own.
    let e3 = format!("{page}#a0603");
    server.set(
        "/live.xml",
        Route::feed(rss(&[
            story(None, Some(&e3), "First results"),
            story(None, Some(&e2), "Polls close"),
            story(None, Some(&e1), "Turnout high"),
        ])),
    );
    let c = h.ingest("live").await;
    assert_eq!((c.new, c.queued), (1, 1));
    assert_eq!(
        posted_links(&h).await,
        [e1.as_str(), e2.as_str(), e3.as_str()]
    );

    // A fragment that points at the comments names no other story: the front page's
    // copy of an entry with #comments, or with a tracking fragment, is a duplicate.
    server.set(
        "/front.xml",
        Route::feed(rss(&[
            story(Some("front-1"), Some(&e3), "First results"),
            story(
                Some("front-2"),
                Some("https://live.example/analysis#comments"),
                "Analysis",
            ),
        ])),
    );
    let c = h.ingest("front").await;
    assert_eq!((c.queued, c.duplicates), (1, 1));
    server.set(
        "/live.xml",
        Route::feed(rss(&[story(
            None,
            Some("https://live.example/analysis#xtor=RSS-3"),
            "Analysis",
        )])),
    );
    let c = h.ingest("live").await;
    assert_eq!((c.new, c.queued, c.duplicates), (0, 0, 1));
    assert_eq!(h.outbox_len().await, 4);
}

#[tokio::test]
async fn a_late_title_does_not_make_a_second_post() {
    let server = FeedServer::start().await;
    server.set("/f.xml", Route::feed(rss(&[])));
    let h = Newsroom::new(&feed_block("f", &server.url("/f.xml"), "")).await;
    h.ingest("f").await;

    // Two entries without guid on one page (a CMS repeating one): one story.
    let link = "https://news.example/fire-at-the-docks";
    server.set(
        "/f.xml",
        Route::feed(rss(&[
            story(None, Some(link), "Fire at the docks"),
            story(None, Some(link), ""),
        ])),
    );
    let c = h.ingest("f").await;
    assert_eq!((c.queued, c.duplicates), (1, 1));
    // The second one's title arrives: its content hash changes, its key does not.
    server.set(
        "/f.xml",
        Route::feed(rss(&[
            story(None, Some(link), "Fire at the docks"),
            story(None, Some(link), "Fire at the docks: two hurt"),
        ])),
    );
    let c = h.ingest("f").await;
    assert_eq!((c.new, c.queued), (0, 0));
    assert_eq!(h.outbox_len().await, 1);
}

/// A store as the previous release left it: every migration before 0030 (the one that
/// brought today's identity rules), and rows with keys in that release's form (every
/// fragment dropped; items sharing a link keyed by content hash).
async fn previous_release_store(db: &std::path::Path, live_url: &str, world_url: &str) {
    let migrations = tempfile::tempdir().unwrap();
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&ours).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let version: u32 = name.split('_').next().unwrap().parse().unwrap();
        if version < 30 {
            std::fs::copy(ours.join(&name), migrations.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let hash = |title: &str| {
        let text = format!("{title}\u{1f}\u{1f}About {title}.");
        format!("hash:{}", hex::encode(Sha256::digest(text.as_bytes())))
    };
    let statements = [
        "INSERT INTO accounts (id, name, created_at, updated_at) VALUES (1, 'newsroom', 0, 0)"
            .to_owned(),
        format!(
            "INSERT INTO feeds (id, name, url, fetch_url, account_id, baseline_done, created_at, updated_at) \
             VALUES (1, 'live', '{live_url}', '{live_url}', 1, 1, 0, 0), \
                    (2, 'world', '{world_url}', '{world_url}', 1, 1, 0, 0)"
        ),
        // The live blog had one entry alone on its page (keyed and aliased by the page
        // without its fragment) and two on another page (keyed by content hash).
        format!(
            "INSERT INTO items (id, feed_id, item_key, title, link, first_seen_at, disposition) VALUES \
             (1, 1, 'link:live.example/blog', 'Update 1', 'https://live.example/blog#e1', 0, 'queued'), \
             (2, 1, '{}', 'Page two, first', 'https://live.example/two#p1', 0, 'queued'), \
             (3, 1, '{}', 'Page two, second', 'https://live.example/two#p2', 0, 'queued'), \
             (4, 1, 'guid:story-s', 'The story', 'https://live.example/story#s', 0, 'queued')",
            hash("Page two, first"),
            hash("Page two, second")
        ),
        "INSERT INTO seen_keys (account_id, key, item_id) VALUES \
         (1, 'url:live.example/blog', 1), (1, 'guid:story-s', 4), (1, 'url:live.example/story', 4)"
            .to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn an_upgraded_store_does_not_post_its_old_stories_again() {
    let server = FeedServer::start().await;
    let (live_url, world_url) = (server.url("/live.xml"), server.url("/world.xml"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    previous_release_store(&db, &live_url, &world_url).await;

    // The same entries as before the upgrade: their keys are new, the stories are not.
    let old_entries = [
        story(None, Some("https://live.example/blog#e1"), "Update 1"),
        story(None, Some("https://live.example/two#p1"), "Page two, first"),
        story(
            None,
            Some("https://live.example/two#p2"),
            "Page two, second",
        ),
    ];
    server.set("/live.xml", Route::feed(rss(&old_entries)));
    // Another feed of the account lists an old story under another guid.
    server.set(
        "/world.xml",
        Route::feed(rss(&[story(
            Some("world-77"),
            Some("https://www.live.example/story#s"),
            "The story",
        )])),
    );
    let cfg = format!(
        "{}{}",
        feed_block("live", &live_url, ""),
        feed_block("world", &world_url, "")
    );
    let h = Newsroom::open(dir, db, &cfg).await;
    let c = h.ingest("live").await;
    assert_eq!((c.new, c.queued), (0, 0), "{c:?}");
    let c = h.ingest("world").await;
    assert_eq!((c.new, c.queued), (0, 0), "{c:?}");
    assert_eq!(h.outbox_len().await, 0);

    // After that first ingest the old entries are known by their new keys, and a new
    // entry on a page the old release had seen is a story of its own.
    let mut entries = vec![story(
        None,
        Some("https://live.example/blog#e2"),
        "Update 2",
    )];
    entries.extend(old_entries);
    server.set("/live.xml", Route::feed(rss(&entries)));
    let c = h.ingest("live").await;
    assert_eq!((c.new, c.queued), (1, 1), "{c:?}");
    assert_eq!(posted_links(&h).await, ["https://live.example/blog#e2"]);
    // And once more, after a restart: nothing new.
    let h = h.restart(&cfg).await;
    server.set(
        "/live.xml",
        Route::feed(rss(&entries).replace("<title>Live</title>", "<title>Live!</title>")),
    );
    let c = h.ingest("live").await;
    assert_eq!((c.new, c.queued), (0, 0), "{c:?}");
}
