//! [`KillRun`]: the real binary, publishing one feed to the fake Threads API (random publish
//! faults, a slow publish answer), killed with SIGKILL at random moments and restarted after
//! each kill, then drained by `run --once`. The kill -9 tests (`kill9`, `kill9_replies`)
//! share it and check what ended up on the fake and in the store. On PostgreSQL
//! ([`KillRun::on_store`]) several daemons run at once and the one holding the account's
//! lease is the one killed ([`KillRun::kill_lease_holders`], the `failover` tests).
//!
//! Every wait is short (a text container's wait, the retry wait, the fake's publish delay and
//! the time before each kill are all in proportion) so that kills land in every phase of a
//! publish without the test taking long.

use super::fake_threads::{FakeThreads, RandomFaults};
use super::feed_server::{FeedServer, Route};
use super::rss::{Feed, Story};
use feed2threads::store::Store;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Child;
use url::Url;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

/// How long a daemon runs before it is killed, in milliseconds.
const LIFETIME_MS: RangeInclusive<u64> = 25..=350;

pub struct KillRun {
    pub fake: FakeThreads,
    _server: FeedServer,
    pub rng: StdRng,
    dir: tempfile::TempDir,
    pub log: PathBuf,
    config: PathBuf,
    store_url: String,
    /// The config without its `[threads]` table, which each config file adds.
    config_body: String,
}

impl KillRun {
    /// A feed `name` of `stories` stories (titles `Story i of the kill test`, links
    /// `https://news.example/<name>/<i>`), backlog "all", with `feed_extra` TOML lines, one
    /// account `newsroom`, on a SQLite file. The seed comes from `KILL9_SEED` when set (to
    /// replay a run).
    pub async fn new(name: &str, stories: usize, feed_extra: &str) -> KillRun {
        Self::on_store(name, stories, feed_extra, None, "").await
    }

    /// [`Self::new`] on the store at `url` (`None`: a SQLite file of its own), with
    /// `store_extra` TOML lines in `[store]`.
    pub async fn on_store(
        name: &str,
        stories: usize,
        feed_extra: &str,
        url: Option<&str>,
        store_extra: &str,
    ) -> KillRun {
        let seed: u64 = std::env::var("KILL9_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| rand::rng().random());
        println!("kill9 {name} seed: {seed} (set KILL9_SEED to replay the kill timing)");

        let fake = FakeThreads::start();
        fake.update(|s| {
            s.random_publish_faults = Some(RandomFaults::new(0.2, seed));
            // The post exists before its answer leaves: kills in this window lose the answer.
            s.publish_delay = Duration::from_millis(60);
        });
        let server = FeedServer::start().await;
        server.set(&format!("/{name}.xml"), Route::feed(feed(name, stories)));

        let dir = tempfile::tempdir().unwrap();
        let store_url = url.map_or_else(
            || {
                format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                )
            },
            str::to_owned,
        );
        let log = dir.path().join("daemon.log");
        let config_body = format!(
            "[store]\nurl = \"{store_url}\"\n{store_extra}\n[http]\nlisten = \"off\"\n\
             [[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
             [[feeds]]\nname = \"{name}\"\nurl = \"{}\"\nbacklog = \"all\"\n{feed_extra}",
            fake.token(),
            server.url(&format!("/{name}.xml"))
        );
        let mut run = KillRun {
            fake,
            _server: server,
            rng: StdRng::seed_from_u64(seed),
            dir,
            log,
            config: PathBuf::new(),
            store_url,
            config_body,
        };
        run.config = run.config_for("feed2threads", &run.fake.base_url());
        run
    }

    /// A config file `<name>.toml`: this run's, with the Threads API at `api_base` (a
    /// daemon of its own behind a [`super::fake_threads::FakeFront`]).
    pub fn config_for(&self, name: &str, api_base: &Url) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        // `[threads]` last: the body's tables end with the feed's extra lines.
        let text = format!(
            "{}\n[threads]\napi_base = \"{api_base}\"\n",
            self.config_body
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `feed2threads --config … ARGS`, its log appended to [`Self::log`].
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        self.command_with(&self.config, args)
    }

    /// [`Self::command`] with the config file `config` (see [`Self::config_for`]).
    pub fn command_with(&self, config: &Path, args: &[&str]) -> tokio::process::Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut c = tokio::process::Command::new(BIN);
        c.arg("--config")
            .arg(config)
            .args(args)
            // Short waits so that kills land in every phase of a publish.
            .env("FEED2THREADS_TEXT_WAIT", "75ms")
            .env("FEED2THREADS_RETRY_WAIT", "25ms")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        c
    }

    /// Posts left in `container_created` / `publishing`: what the next start must reconcile.
    pub async fn in_flight(&self) -> usize {
        let store = self.store().await;
        let n = in_flight_on(&store).await;
        store.close().await;
        n
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.store_url).await.unwrap()
    }

    /// Starts `run` and kills it with SIGKILL after a random while, `kills` times; returns
    /// how many kills left a post in flight.
    pub async fn kill_at_random_moments(&mut self, kills: usize) -> usize {
        let mut left_in_flight = 0;
        for k in 0..kills {
            let mut child = self.command(&["run"]).spawn().unwrap();
            let delay = Duration::from_millis(self.rng.random_range(LIFETIME_MS));
            tokio::time::sleep(delay).await;
            // tokio's kill is SIGKILL: no handler runs, nothing is flushed.
            child.kill().await.unwrap();
            let flying = self.in_flight().await;
            left_in_flight += usize::from(flying > 0);
            println!(
                "kill {:>2} after {:>3} ms: {:>2} posts on Threads, {} in flight",
                k + 1,
                delay.as_millis(),
                self.fake.posts().len(),
                flying
            );
        }
        left_in_flight
    }

    /// `daemons` daemons run at once on the store; once the feed was read (the outbox has
    /// its posts: a kill before that tests nothing), the one that holds the account's lease
    /// is killed with SIGKILL a random while (`holding`, in milliseconds) after it was seen
    /// to take the lease, `kills` times, and a new daemon starts in its place each time.
    /// Returns how many kills left a post in flight. The last daemons are killed too, and
    /// this returns once their lease lapsed, so that `run --once` may take it.
    pub async fn kill_lease_holders(
        &mut self,
        daemons: usize,
        kills: usize,
        holding: RangeInclusive<u64>,
    ) -> usize {
        let store = self.store().await;
        let mut running: Vec<Child> = (0..daemons)
            .map(|_| self.command(&["run"]).spawn().unwrap())
            .collect();
        until_posts_queued(&store).await;
        let (mut fence, mut left_in_flight) = (0, 0);
        let mut since = Instant::now();
        for k in 0..kills {
            let (holder, taken) = lease_holder(&store, &running, fence).await;
            let waited = since.elapsed();
            let delay = Duration::from_millis(self.rng.random_range(holding.clone()));
            tokio::time::sleep(delay).await;
            running[holder].kill().await.unwrap();
            since = Instant::now();
            running[holder] = self.command(&["run"]).spawn().unwrap();
            fence = taken;
            let flying = in_flight_on(&store).await;
            left_in_flight += usize::from(flying > 0);
            println!(
                "kill {:>2}: the holder (fence {taken}, taken over after {:>4} ms) killed after {:>4} ms: {:>2} posts on Threads, {} in flight",
                k + 1,
                waited.as_millis(),
                delay.as_millis(),
                self.fake.posts().len(),
                flying
            );
        }
        for mut daemon in running {
            daemon.kill().await.unwrap();
        }
        until_leases_lapsed(&store).await;
        store.close().await;
        left_in_flight
    }

    /// Drains what is left with `run --once` (it returns when the queue is empty), up to
    /// three times, until the fake holds `posts` posts. Each run must exit 0.
    pub async fn drain(&self, posts: usize) {
        for _ in 0..3 {
            let status = tokio::time::timeout(
                Duration::from_secs(30),
                self.command(&["run", "--once"]).status(),
            )
            .await
            .expect("run --once finished")
            .unwrap();
            assert!(status.success());
            if self.fake.posts().len() >= posts {
                break;
            }
        }
    }

    /// The daemons' log; prints how many reconciliations it shows.
    pub fn log_text(&self, name: &str) -> String {
        let log_text = std::fs::read_to_string(&self.log).unwrap_or_default();
        println!(
            "{name}: reconciliations={} (of which the lost publish had succeeded: {})",
            log_text
                .matches("reconciling a post left in flight")
                .count(),
            log_text.matches("the lost publish did succeed").count()
        );
        log_text
    }
}

/// The feed the daemon publishes: `Story i of the kill test`, story 0 the oldest.
fn feed(name: &str, n: usize) -> String {
    Feed::new("Kill Nine News")
        .stories((0..n).map(|i| {
            let minutes = i64::try_from(n - i).unwrap_or(0);
            Story::new(
                format!("{name}-{i}"),
                format!("https://news.example/{name}/{i}"),
                format!("Story {i} of the kill test"),
            )
            .description(format!("Details of story {i}."))
            .aged(chrono::Duration::minutes(minutes))
        }))
        .rss()
}

/// Posts left in `container_created` / `publishing`, over every account.
async fn in_flight_on(store: &Store) -> usize {
    let mut n = 0;
    for a in store.list_accounts().await.unwrap() {
        n += store.outbox_in_flight(a.id).await.unwrap().len();
    }
    n
}

/// The running daemon (its index) that holds the account's lease with a fence above
/// `after`, and that fence: waits for one to take it over (a lease lapses within its time).
pub async fn lease_holder(store: &Store, daemons: &[Child], after: i64) -> (usize, i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leases = store.leases().await.unwrap();
        for row in &leases {
            let ours = daemons.iter().position(|d| {
                d.id()
                    .is_some_and(|pid| row.owner.ends_with(&format!(":{pid}")))
            });
            if let Some(i) = ours
                && row.fence > after
                && row.millis_left > 0
            {
                return (i, row.fence);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no daemon took the account's lease over in 60 s: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the outbox has posts (a daemon read the feed).
async fn until_posts_queued(store: &Store) {
    for _ in 0..1200 {
        if !store.list_outbox(None, 1).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no daemon read the feed in 60 s");
}

/// Waits until no lease is held any more (every daemon was killed).
pub async fn until_leases_lapsed(store: &Store) {
    for _ in 0..600 {
        let leases = store.leases().await.unwrap();
        if leases.iter().all(|l| l.millis_left <= 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the leases never lapsed");
}
