//! A newsroom for ingestion tests: one account, a real SQLite file in a temp dir, the real
//! fetcher, parser, policies and outbox, polling feeds served by `feed_server`.

use super::sqlite_template::place_migrated_store;
use feed2threads::app::sync_config;
use feed2threads::config::Settings;
use feed2threads::poll::{IngestCounts, PollReport, PollResult, Poller};
use feed2threads::store::Store;
use std::path::{Path, PathBuf};

pub struct Newsroom {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub settings: Settings,
    pub store: Store,
    pub poller: Poller,
}

impl Newsroom {
    /// `extra` is the TOML of the [[feeds]] tables (and anything else), appended to a
    /// config with one account (`newsroom`) and a store in a temp dir.
    pub async fn new(extra: &str) -> Newsroom {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        place_migrated_store(&db);
        Self::open(dir, db, extra).await
    }

    /// A newsroom on an existing store file.
    pub async fn open(dir: tempfile::TempDir, db: PathBuf, extra: &str) -> Newsroom {
        let text = format!(
            "[store]\nurl = \"sqlite://{}\"\n[fetch]\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n[[accounts]]\nname = \"newsroom\"\nmin_interval = \"0s\"\n{extra}",
            db.display()
        );
        let settings = Settings::parse(&text, Path::new("test.toml")).unwrap();
        let store = Store::open(&settings.store_url).await.unwrap();
        sync_config(&store, &settings, true).await.unwrap();
        // The production wiring's poller (limits from the config's defaults).
        let poller = feed2threads::app::build_poller(&store, &settings).unwrap();
        Newsroom {
            dir,
            db,
            settings,
            store,
            poller,
        }
    }

    /// Close the store and open everything again from the same file (a restart).
    pub async fn restart(self, extra: &str) -> Newsroom {
        self.store.close().await;
        Self::open(self.dir, self.db, extra).await
    }

    pub async fn poll(&self, name: &str) -> PollReport {
        let feed = self.settings.feed(name).unwrap();
        let row = self.store.feed_by_name(&feed.name).await.unwrap().unwrap();
        self.poller.poll(feed, &row).await.unwrap()
    }

    /// Poll and return what the document held; panics when the poll did not ingest.
    pub async fn ingest(&self, name: &str) -> IngestCounts {
        counts(&self.poll(name).await)
    }

    /// The outbox's posts (any state), oldest first: (state, text, link card).
    pub async fn posts(&self) -> Vec<(String, String, Option<String>)> {
        let mut rows = self.store.list_outbox(None, 100_000).await.unwrap();
        rows.sort_by_key(|r| r.id);
        rows.into_iter()
            .map(|r| (r.state.as_str().to_owned(), r.text, r.link_attachment))
            .collect()
    }

    pub async fn queued_texts(&self) -> Vec<String> {
        self.posts()
            .await
            .into_iter()
            .filter(|(state, _, _)| state == "queued")
            .map(|(_, text, _)| text)
            .collect()
    }

    pub async fn outbox_len(&self) -> usize {
        self.store.list_outbox(None, 100_000).await.unwrap().len()
    }
}

pub fn feed_block(name: &str, url: &str, extra: &str) -> String {
    format!("[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n")
}

pub fn counts(report: &PollReport) -> IngestCounts {
    match &report.result {
        PollResult::Ingested(c) => c.clone(),
        other => panic!("expected items, got {other:?}"),
    }
}
