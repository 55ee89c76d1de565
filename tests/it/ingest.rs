//! Ingestion end to end: a real SQLite file, real HTTP on 127.0.0.1 (the local feed
//! server), the real fetcher, parser, policies and outbox.

use crate::support;

use feed2threads::app::sync_config;
use feed2threads::config::Settings;
use feed2threads::poll::{PollReport, PollResult, Poller};
use feed2threads::store::{Store, now_unix};
use std::path::{Path, PathBuf};
use support::feed_server::{FeedServer, Route};
use support::rss::{Feed, Story};

/// One RSS item: guid, link, title, hours ago.
struct It<'a>(&'a str, &'a str, &'a str, i64);

fn feed(items: &[It<'_>]) -> Feed {
    Feed::new("Test News").stories(items.iter().map(|It(guid, link, title, hours)| {
        Story::new(*guid, *link, *title)
            .description(format!("About {title}."))
            .aged(chrono::Duration::hours(*hours))
    }))
}

fn rss(items: &[It<'_>]) -> String {
    feed(items).rss()
}

fn atom(items: &[It<'_>]) -> String {
    feed(items).atom()
}

struct Harness {
    _dir: tempfile::TempDir,
    db: PathBuf,
    settings: Settings,
    store: Store,
    poller: Poller,
}

impl Harness {
    /// `feeds` is the TOML of the [[feeds]] tables (and anything else), appended to a
    /// config with one account and a store in a temp dir.
    async fn new(extra: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        Self::open(dir, db, extra).await
    }

    async fn open(dir: tempfile::TempDir, db: PathBuf, extra: &str) -> Harness {
        let text = format!(
            "[store]\nurl = \"sqlite://{}\"\n[fetch]\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n[[accounts]]\nname = \"newsroom\"\nmin_interval = \"0s\"\n{extra}",
            db.display()
        );
        let settings = Settings::parse(&text, Path::new("test.toml")).unwrap();
        let store = Store::open(&settings.store_url).await.unwrap();
        sync_config(&store, &settings, true).await.unwrap();
        // The production wiring's poller (limits from the config's defaults).
        let poller = feed2threads::app::build_poller(&store, &settings).unwrap();
        Harness {
            _dir: dir,
            db,
            settings,
            store,
            poller,
        }
    }

    /// Close the store and open everything again from the same file (a restart).
    async fn restart(self, extra: &str) -> Harness {
        self.store.close().await;
        Self::open(self._dir, self.db, extra).await
    }

    async fn poll(&self, name: &str) -> PollReport {
        let feed = self.settings.feed(name).unwrap();
        let row = self.store.feed_by_name(&feed.name).await.unwrap().unwrap();
        self.poller.poll(feed, &row).await.unwrap()
    }

    async fn queued_texts(&self) -> Vec<String> {
        let mut rows = self.store.list_outbox(None, 1000).await.unwrap();
        rows.sort_by_key(|r| r.id);
        rows.into_iter()
            .filter(|r| r.state == "queued")
            .map(|r| r.text)
            .collect()
    }

    async fn outbox_len(&self) -> usize {
        self.store.list_outbox(None, 10_000).await.unwrap().len()
    }
}

fn feed_block(name: &str, url: &str, extra: &str) -> String {
    format!("[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n")
}

fn counts(report: &PollReport) -> feed2threads::poll::IngestCounts {
    match &report.result {
        PollResult::Ingested(c) => c.clone(),
        other => panic!("expected items, got {other:?}"),
    }
}

#[tokio::test]
async fn backlog_skip_then_only_new_items_are_queued() {
    let server = FeedServer::start().await;
    server.set(
        "/a.xml",
        Route::feed(rss(&[
            It("1", "https://news.example/1", "One", 3),
            It("2", "https://news.example/2", "Two", 2),
        ])),
    );
    let h = Harness::new(&feed_block("a", &server.url("/a.xml"), "")).await;

    let first = counts(&h.poll("a").await);
    assert_eq!((first.new, first.backlog, first.queued), (2, 2, 0));
    assert_eq!(h.outbox_len().await, 0);

    server.set(
        "/a.xml",
        Route::feed(rss(&[
            It("3", "https://news.example/3", "Three", 0),
            It("1", "https://news.example/1", "One", 3),
            It("2", "https://news.example/2", "Two", 2),
        ])),
    );
    let second = counts(&h.poll("a").await);
    assert_eq!((second.new, second.queued), (1, 1));
    assert_eq!(h.queued_texts().await.len(), 1);
    assert!(h.queued_texts().await[0].contains("Three"));

    // Same body again: not parsed again, nothing new.
    let third = h.poll("a").await;
    assert_eq!(third.result, PollResult::Unchanged);
    assert_eq!(h.outbox_len().await, 1);
}

#[tokio::test]
async fn backlog_all_and_latest_n() {
    let server = FeedServer::start().await;
    let items = [
        It("1", "https://news.example/1", "Oldest", 5),
        It("2", "https://news.example/2", "Middle", 3),
        It("3", "https://news.example/3", "Newest", 1),
    ];
    server.set("/all.xml", Route::feed(rss(&items)));
    let h = Harness::new(&feed_block(
        "all",
        &server.url("/all.xml"),
        "backlog = \"all\"",
    ))
    .await;
    let c = counts(&h.poll("all").await);
    assert_eq!(c.queued, 3);
    let texts = h.queued_texts().await;
    assert!(
        texts[0].contains("Oldest") && texts[2].contains("Newest"),
        "oldest first: {texts:?}"
    );

    let server2 = FeedServer::start().await;
    server2.set("/l.xml", Route::feed(rss(&items)));
    let h2 = Harness::new(&feed_block(
        "l",
        &server2.url("/l.xml"),
        "backlog = \"latest:2\"",
    ))
    .await;
    let c = counts(&h2.poll("l").await);
    assert_eq!((c.queued, c.backlog), (2, 1));
    let texts = h2.queued_texts().await;
    assert!(texts.iter().all(|t| !t.contains("Oldest")), "{texts:?}");
}

#[tokio::test]
async fn conditional_get_sends_validators_and_304_changes_nothing() {
    let server = FeedServer::start().await;
    server.set(
        "/c.xml",
        Route::feed(rss(&[It("1", "https://news.example/1", "One", 1)]))
            .etag("\"v1\"")
            .last_modified("Wed, 25 Nov 2026 10:00:00 GMT"),
    );
    let h = Harness::new(&feed_block("c", &server.url("/c.xml"), "")).await;
    counts(&h.poll("c").await);
    let row = h.store.feed_by_name("c").await.unwrap().unwrap();
    assert_eq!(row.etag.as_deref(), Some("\"v1\""));

    let second = h.poll("c").await;
    assert_eq!(second.result, PollResult::NotModified);
    assert_eq!(
        server.last_header("/c.xml", "if-none-match").as_deref(),
        Some("\"v1\"")
    );
    assert_eq!(
        server.last_header("/c.xml", "if-modified-since").as_deref(),
        Some("Wed, 25 Nov 2026 10:00:00 GMT")
    );
    let row = h.store.feed_by_name("c").await.unwrap().unwrap();
    assert_eq!(row.last_result.as_deref(), Some("not_modified"));
    assert_eq!(row.consecutive_failures, 0);
    assert!(
        server
            .last_header("/c.xml", "user-agent")
            .is_some_and(|ua| ua.starts_with("feed2threads/"))
    );
}

#[tokio::test]
async fn same_story_in_two_section_feeds_and_in_rss_and_atom_is_one_story() {
    let server = FeedServer::start().await;
    let old = [It("x", "https://news.example/x", "Old", 5)];
    server.set("/front.xml", Route::feed(rss(&old)));
    server.set("/world.xml", Route::feed(rss(&old)));
    server.set("/world.atom", Route::feed(atom(&old)));
    let cfg = format!(
        "{}{}{}",
        feed_block("front", &server.url("/front.xml"), ""),
        feed_block("world", &server.url("/world.xml"), ""),
        feed_block("world-atom", &server.url("/world.atom"), "")
    );
    let h = Harness::new(&cfg).await;
    for f in ["front", "world", "world-atom"] {
        counts(&h.poll(f).await);
    }
    assert_eq!(h.outbox_len().await, 0);

    // The same story appears everywhere, with different guids, http vs https, www and
    // tracking parameters.
    server.set(
        "/front.xml",
        Route::feed(rss(&[
            It(
                "front-991",
                "https://www.news.example/story/42?utm_source=rss",
                "Big story",
                0,
            ),
            old[0].clone_it(),
        ])),
    );
    server.set(
        "/world.xml",
        Route::feed(rss(&[
            It("world-17", "http://news.example/story/42/", "Big story", 0),
            old[0].clone_it(),
        ])),
    );
    server.set(
        "/world.atom",
        Route::feed(atom(&[
            It(
                "tag:news.example,2026:42",
                "https://news.example/story/42#top",
                "Big story",
                0,
            ),
            old[0].clone_it(),
        ])),
    );
    let mut queued = 0;
    let mut duplicates = 0;
    for f in ["front", "world", "world-atom"] {
        let c = counts(&h.poll(f).await);
        queued += c.queued;
        duplicates += c.duplicates;
    }
    assert_eq!(queued, 1, "one story, one post");
    assert_eq!(duplicates, 2);
    assert_eq!(h.outbox_len().await, 1);
}

impl It<'_> {
    fn clone_it(&self) -> It<'_> {
        It(self.0, self.1, self.2, self.3)
    }
}

#[tokio::test]
async fn an_item_that_leaves_and_comes_back_is_not_new() {
    let server = FeedServer::start().await;
    let a = It("a", "https://news.example/a", "Story A", 2);
    let b = It("b", "https://news.example/b", "Story B", 1);
    server.set("/f.xml", Route::feed(rss(&[a.clone_it()])));
    let h = Harness::new(&feed_block("f", &server.url("/f.xml"), "backlog = \"all\"")).await;
    assert_eq!(counts(&h.poll("f").await).queued, 1);
    server.set("/f.xml", Route::feed(rss(&[b.clone_it()])));
    assert_eq!(counts(&h.poll("f").await).queued, 1);
    server.set("/f.xml", Route::feed(rss(&[a.clone_it(), b.clone_it()])));
    let c = counts(&h.poll("f").await);
    assert_eq!((c.new, c.queued), (0, 0));
    assert_eq!(h.outbox_len().await, 2);
}

#[tokio::test]
async fn flood_guard_holds_a_burst_until_released() {
    let server = FeedServer::start().await;
    server.set(
        "/f.xml",
        Route::feed(rss(&[It("0", "https://news.example/0", "Zero", 1)])),
    );
    let h = Harness::new(&feed_block("f", &server.url("/f.xml"), "flood_limit = 5")).await;
    counts(&h.poll("f").await);

    let links: Vec<String> = (1..=8)
        .map(|i| format!("https://news.example/migrated/{i}"))
        .collect();
    let titles: Vec<String> = (1..=8).map(|i| format!("Story {i}")).collect();
    let items: Vec<It<'_>> = (0..8)
        .map(|i| It(&links[i], &links[i], &titles[i], 0))
        .collect();
    server.set("/f.xml", Route::feed(rss(&items)));
    let c = counts(&h.poll("f").await);
    assert_eq!((c.held, c.queued), (8, 0));
    assert!(h.queued_texts().await.is_empty());

    let out = {
        let mut buf = Vec::new();
        let args = feed2threads::cli::ReleaseArgs {
            feed: "f".into(),
            latest: None,
            drop_rest: false,
        };
        feed2threads::commands::release::release(&h.settings, &args, &mut buf)
            .await
            .unwrap();
        String::from_utf8(buf).unwrap()
    };
    assert!(out.contains("released 8"), "{out}");
    assert_eq!(h.queued_texts().await.len(), 8);

    // A burst at the limit is not a flood.
    let links2: Vec<String> = (1..=5)
        .map(|i| format!("https://news.example/ok/{i}"))
        .collect();
    let items2: Vec<It<'_>> = (0..5)
        .map(|i| It(&links2[i], &links2[i], "Fine", 0))
        .collect();
    server.set("/f.xml", Route::feed(rss(&items2)));
    assert_eq!(counts(&h.poll("f").await).queued, 5);
}

#[tokio::test]
async fn too_old_items_are_recorded_not_queued() {
    let server = FeedServer::start().await;
    server.set("/f.xml", Route::feed(rss(&[])));
    let h = Harness::new(&feed_block("f", &server.url("/f.xml"), "max_age = \"1d\"")).await;
    counts(&h.poll("f").await);
    server.set(
        "/f.xml",
        Route::feed(rss(&[
            It("old", "https://news.example/old", "Old", 48),
            It("new", "https://news.example/new", "New", 1),
        ])),
    );
    let c = counts(&h.poll("f").await);
    assert_eq!((c.too_old, c.queued), (1, 1));
}

#[tokio::test]
async fn state_survives_a_restart() {
    let server = FeedServer::start().await;
    server.set(
        "/f.xml",
        Route::feed(rss(&[It("1", "https://news.example/1", "One", 1)])),
    );
    let cfg = feed_block("f", &server.url("/f.xml"), "backlog = \"all\"");
    let h = Harness::new(&cfg).await;
    assert_eq!(counts(&h.poll("f").await).queued, 1);
    let h = h.restart(&cfg).await;
    // Body changed cosmetically (new channel title), so it is parsed again: still nothing new.
    server.set(
        "/f.xml",
        Route::feed(
            rss(&[It("1", "https://news.example/1", "One", 1)]).replace("Test News", "Test News!"),
        ),
    );
    let c = counts(&h.poll("f").await);
    assert_eq!((c.new, c.queued), (0, 0));
    assert_eq!(h.outbox_len().await, 1);
}

#[tokio::test]
async fn bad_feeds_fail_cleanly_and_back_off_while_others_go_on() {
    let server = FeedServer::start().await;
    server.set("/gone.xml", Route::status(410));
    server.set(
        "/html",
        Route::feed("<!doctype html><html><body><h1>Hello</h1></body></html>")
            .content_type("text/html"),
    );
    server.set(
        "/broken.xml",
        Route::feed("<rss><channel><item><title>Half"),
    );
    server.set("/empty.xml", Route::feed(""));
    server.set(
        "/busy.xml",
        Route::status(429).header("Retry-After", "7200"),
    );
    server.set(
        "/ok.xml",
        Route::feed(rss(&[It("1", "https://news.example/1", "One", 1)])),
    );
    let names = ["gone", "html", "broken", "empty", "busy", "ok"];
    let paths = [
        "/gone.xml",
        "/html",
        "/broken.xml",
        "/empty.xml",
        "/busy.xml",
        "/ok.xml",
    ];
    let cfg: String = names
        .iter()
        .zip(paths)
        .map(|(n, p)| feed_block(n, &server.url(p), ""))
        .collect();
    let h = Harness::new(&cfg).await;
    for name in names {
        let before = now_unix();
        let report = h.poll(name).await;
        let row = h.store.feed_by_name(name).await.unwrap().unwrap();
        if name == "ok" {
            assert!(matches!(report.result, PollResult::Ingested(_)));
            assert_eq!(row.consecutive_failures, 0);
            continue;
        }
        let PollResult::Failed { class, message } = &report.result else {
            // A truncated document may still yield its complete items.
            assert_eq!(name, "broken", "{name}: {:?}", report.result);
            continue;
        };
        assert!(!message.is_empty());
        assert_eq!(row.consecutive_failures, 1, "{name}");
        assert_eq!(row.last_result.as_deref(), Some(class.as_str()), "{name}");
        assert!(row.last_error.is_some(), "{name}");
        // Backoff: the first retry is at least twice the 5 min interval away (minus jitter).
        assert!(row.next_check_at >= before + 540, "{name}: retry too soon");
        if name == "busy" {
            assert!(row.next_check_at >= before + 7200, "Retry-After honoured");
        }
    }
    let gone = h.store.feed_by_name("gone").await.unwrap().unwrap();
    assert!(gone.last_error.unwrap().contains("410"));
}

#[tokio::test]
async fn a_permanent_redirect_is_remembered() {
    let server = FeedServer::start().await;
    server.set("/old.xml", Route::redirect(301, "/new.xml"));
    server.set(
        "/new.xml",
        Route::feed(rss(&[It("1", "https://news.example/1", "One", 1)])),
    );
    let h = Harness::new(&feed_block("f", &server.url("/old.xml"), "")).await;
    counts(&h.poll("f").await);
    let row = h.store.feed_by_name("f").await.unwrap().unwrap();
    assert_eq!(row.fetch_url, server.url("/new.xml"));
    h.poll("f").await;
    assert_eq!(server.hits("/old.xml"), 1, "the old URL is not asked again");
}

#[tokio::test]
async fn dry_run_changes_no_state() {
    let server = FeedServer::start().await;
    server.set(
        "/f.xml",
        Route::feed(rss(&[It("1", "https://news.example/1", "One", 1)])),
    );
    let mut h = Harness::new(&feed_block("f", &server.url("/f.xml"), "backlog = \"all\"")).await;
    h.poller.dry_run = true;
    let before = h.store.feed_by_name("f").await.unwrap().unwrap();
    let report = h.poll("f").await;
    assert_eq!(report.queued.len(), 1, "the dry run shows the post");
    assert!(report.queued[0].text.as_str().contains("One"));
    assert_eq!(h.outbox_len().await, 0);
    let after = h.store.feed_by_name("f").await.unwrap().unwrap();
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
}
