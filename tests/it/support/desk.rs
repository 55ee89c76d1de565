//! A newsroom with a desk, for the desk's tests: a real SQLite file, the real feed pipeline
//! filling the outbox from a local feed server, a publisher talking to the fake Threads API,
//! and the desk served by the real HTTP listener on 127.0.0.1.
//!
//! Two feeds: `desk` (review = true, backlog "all", its stories wait for review) and `wire`
//! (flood_limit 2, release_order "newest": a second poll with 4 new stories is held).

use super::fake_threads::FakeThreads;
use super::feed_server::{FeedServer, Route};
use super::sqlite_template::place_migrated_store;
use feed2threads::app::sync_config;
use feed2threads::config::{FeedSettings, Settings};
use feed2threads::desk::Desk;
use feed2threads::feed::fetch::Fetcher;
use feed2threads::http::{HttpState, Liveness};
use feed2threads::poll::{FetchLimiter, Poller};
use feed2threads::publish::{AccountPublisher, PublishConfig, feed_infos};
use feed2threads::schedule::Limits;
use feed2threads::store::{OutboxRow, OutboxState, Store};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "a long desk password for tests";

/// An argon2id hash of `password` in PHC form, as `feed2threads desk-password` writes, but
/// at argon2's smallest cost: the desk verifies with the parameters the hash names, the
/// tests log in dozens of times, and the cost is not what they test (the default cost is,
/// in `desk::password`'s unit tests).
pub fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

pub struct DeskNewsroom {
    _dir: tempfile::TempDir,
    pub settings: Settings,
    pub store: Store,
    pub feeds: Vec<(Arc<FeedSettings>, i64)>,
    pub poller: Poller,
    /// The desk's address.
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub desk: Desk,
}

/// RSS of `n` stories `prefix-0..n`, story i dated `n - i` minutes ago (0 is the oldest).
pub fn rss(prefix: &str, n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Desk News</title><link>https://news.example/</link>\n",
    );
    for i in 0..n {
        let date = (chrono::Utc::now() - chrono::Duration::minutes(i64::try_from(n - i).unwrap()))
            .to_rfc2822();
        s.push_str(&format!(
            "<item><guid>{prefix}-{i}</guid><link>https://www.news.example/{prefix}/{i}</link><title>{prefix} story {i}</title><description>What happened in {prefix} story {i}.</description><category>Politics</category><pubDate>{date}</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

impl DeskNewsroom {
    /// The newsroom, polled once: `desk` has `review_stories` posts waiting for review,
    /// `wire` has its baseline (nothing queued). The desk is served; no publisher runs yet.
    pub async fn start(fake: &FakeThreads, server: &FeedServer, review_stories: usize) -> Self {
        server.set("/desk.xml", Route::feed(rss("desk", review_stories)));
        server.set("/wire.xml", Route::feed(rss("wire", 1)));
        let dir = tempfile::tempdir().unwrap();
        place_migrated_store(&dir.path().join("state.db"));
        let hash = cheap_hash(PASSWORD);
        let text = format!(
            "[store]\nurl = \"sqlite://{db}\"\n\
             [threads]\napi_base = \"{api}\"\npublish_timeout = \"3s\"\nrequest_timeout = \"3s\"\n\
             [http]\nlisten = \"127.0.0.1:9464\"\ndesk = true\ndesk_password_hash = \"{hash}\"\n\
             [defaults]\ntopic_from_categories = true\n\
             [[accounts]]\nname = \"newsroom\"\naccess_token = \"{token}\"\nmin_interval = \"0s\"\n\
             [[feeds]]\nname = \"desk\"\nurl = \"{desk}\"\nbacklog = \"all\"\nreview = true\n\
             [[feeds]]\nname = \"wire\"\nurl = \"{wire}\"\nflood_limit = 2\nrelease_order = \"newest\"\n",
            db = dir.path().join("state.db").display(),
            api = fake.base_url(),
            token = fake.token(),
            desk = server.url("/desk.xml"),
            wire = server.url("/wire.xml"),
        );
        let settings = Settings::parse(&text, Path::new("desk.toml")).unwrap();
        let store = Store::open(&settings.store_url).await.unwrap();
        let feeds = sync_config(&store, &settings, true).await.unwrap();
        let poller = Poller {
            store: store.clone(),
            fetcher: Fetcher::new(feed2threads::app::fetch_config(&settings)).unwrap(),
            limiter: FetchLimiter::new(8, 4),
            limits: Limits {
                max_hint_interval: Duration::from_secs(3600),
                max_backoff: Duration::from_secs(6 * 3600),
            },
            dry_run: false,
            explain: false,
        };
        let listener = feed2threads::http::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let desk = Desk::new(store.clone(), &settings).expect("http.desk is on");
        // A recorder of its own, not the process-wide one: the metrics tests count what
        // they record, and this newsroom's publishes must not reach them.
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let state =
            HttpState::new(store.clone(), Liveness::new(), metrics).with_desk(Some(desk.clone()));
        tokio::spawn(feed2threads::http::serve_on(listener, state, stop.clone()));
        let newsroom = DeskNewsroom {
            _dir: dir,
            settings,
            store,
            feeds,
            poller,
            addr,
            stop,
            desk,
        };
        newsroom.poll_all().await;
        newsroom
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn poll_all(&self) {
        for (feed, _) in &self.feeds {
            let row = self.store.feed_by_name(&feed.name).await.unwrap().unwrap();
            self.poller.poll(feed, &row).await.unwrap();
        }
    }

    /// `wire` brings 4 new stories at once: the flood guard holds them.
    pub async fn flood(&self, server: &FeedServer) {
        server.set("/wire.xml", Route::feed(rss("wire", 5)));
        self.poll_all().await;
        assert_eq!(self.in_state(OutboxState::Held).await.len(), 4);
    }

    pub async fn posts(&self) -> Vec<OutboxRow> {
        let mut rows = self.store.list_outbox(None, 10_000).await.unwrap();
        rows.sort_by_key(|r| r.id);
        rows
    }

    pub async fn in_state(&self, state: OutboxState) -> Vec<OutboxRow> {
        self.posts()
            .await
            .into_iter()
            .filter(|r| r.state == state)
            .collect()
    }

    /// Starts the account's publisher (short waits) and returns what wakes it.
    pub async fn start_publisher(&self, config: PublishConfig) -> Arc<Notify> {
        let poke = Arc::new(Notify::new());
        let publisher = AccountPublisher::new(
            self.store.clone(),
            feed2threads::publish::client(&self.settings).unwrap(),
            self.settings.account("newsroom").unwrap().clone(),
            feed_infos(&self.feeds),
            config,
        )
        .await
        .unwrap()
        .with_wakeups(poke.clone(), CancellationToken::new());
        tokio::spawn(publisher.run(self.stop.clone()));
        let wake = poke.clone();
        self.desk.set_wake(Arc::new(move || wake.notify_one()));
        poke
    }
}

impl Drop for DeskNewsroom {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
