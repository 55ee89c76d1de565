//! [`KillRun`]: the real binary, publishing one feed to the fake Threads API (random publish
//! faults, a slow publish answer), killed with SIGKILL at random moments and restarted after
//! each kill, then drained by `run --once`. The kill -9 tests (`kill9`, `kill9_replies`)
//! share it and check what ended up on the fake and in the store.
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
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

/// How long a daemon runs before it is killed, in milliseconds.
const LIFETIME_MS: RangeInclusive<u64> = 25..=350;

pub struct KillRun {
    pub fake: FakeThreads,
    _server: FeedServer,
    pub rng: StdRng,
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub log: PathBuf,
    config: PathBuf,
}

impl KillRun {
    /// A feed `name` of `stories` stories (titles `Story i of the kill test`, links
    /// `https://news.example/<name>/<i>`), backlog "all", with `feed_extra` TOML lines, one
    /// account `newsroom`. The seed comes from `KILL9_SEED` when set (to replay a run).
    pub async fn new(name: &str, stories: usize, feed_extra: &str) -> KillRun {
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
        let db = dir.path().join(format!("{name}.db"));
        let log = dir.path().join("daemon.log");
        let config = dir.path().join("feed2threads.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"sqlite://{}\"\n[threads]\napi_base = \"{}\"\n[http]\nlisten = \"off\"\n\
                 [[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
                 [[feeds]]\nname = \"{name}\"\nurl = \"{}\"\nbacklog = \"all\"\n{feed_extra}",
                db.display(),
                fake.base_url(),
                fake.token(),
                server.url(&format!("/{name}.xml"))
            ),
        )
        .unwrap();
        KillRun {
            fake,
            _server: server,
            rng: StdRng::seed_from_u64(seed),
            _dir: dir,
            db,
            log,
            config,
        }
    }

    /// `feed2threads --config … ARGS`, its log appended to [`Self::log`].
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut c = tokio::process::Command::new(BIN);
        c.arg("--config")
            .arg(&self.config)
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
        let mut n = 0;
        for a in store.list_accounts().await.unwrap() {
            n += store.outbox_in_flight(a.id).await.unwrap().len();
        }
        store.close().await;
        n
    }

    pub async fn store(&self) -> Store {
        Store::open(&format!("sqlite://{}", self.db.display()))
            .await
            .unwrap()
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
