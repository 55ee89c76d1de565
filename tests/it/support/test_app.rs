//! [`TestApp`]: a daemon built through the production wiring (`feed2threads::app::App`, as
//! `run` builds it), on a store in a temporary directory, polling a local feed server and
//! publishing to the fake Threads API, with short waits.
//!
//! ```text
//! let app = TestApp::new().await.with_account("desk").with_feed("news", "desk", 3);
//! let report = app.run_once().await;                 // run --once
//! let running = app.start(RunMode::DAEMON).await;   // run, until running.stop()
//! let (report, printed) = app.dry_run_once().await;  // run --once --dry-run
//! ```
#![allow(dead_code, reason = "each test module uses a part of it")]

use super::fake_threads::FakeThreads;
use super::feed_server::{FeedServer, Route};
use super::rss::rss;
use super::sqlite_template::place_migrated_store;
use feed2threads::app::{App, AppOptions};
use feed2threads::config::Settings;
use feed2threads::daemon::{Cadence, RunReport};
use feed2threads::http::Endpoint;
use feed2threads::publish::PublishConfig;
use feed2threads::run_mode::{Effect, RunMode};
use feed2threads::store::{Store, StoreOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

/// Publisher waits short enough for tests, in the production proportions.
pub fn fast_publish() -> PublishConfig {
    PublishConfig {
        text_first_wait: Duration::from_millis(10),
        text_poll: Duration::from_millis(10),
        text_poll_cap: Duration::from_millis(50),
        text_ready_timeout: Duration::from_secs(2),
        media_first_wait: Duration::from_millis(20),
        media_poll: Duration::from_millis(20),
        media_ready_timeout: Duration::from_secs(2),
        not_ready_wait: Duration::from_millis(20),
        not_ready_retries: 3,
        retry_base: Duration::from_millis(30),
        retry_cap: Duration::from_millis(300),
        quota_refresh: Duration::from_secs(600),
        quota_recheck: Duration::from_millis(500),
        idle_recheck: Duration::from_millis(200),
        search_slack: Duration::from_secs(300),
        token_check: Duration::from_secs(6 * 3600),
        max_unknown_rounds: 3,
        once_max_failures: 5,
        lease: None,
    }
}

/// The run loop's rhythm, quickened: a heartbeat (the store probe) every 100 ms.
pub fn fast_cadence() -> Cadence {
    Cadence {
        tick: Duration::from_millis(500),
        heartbeat: Duration::from_millis(100),
        poll_drain: Duration::from_secs(2),
    }
}

/// Bytes a dry run printed.
#[derive(Debug, Clone, Default)]
pub struct Printed(Arc<Mutex<Vec<u8>>>);

impl Printed {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A config, its store, a feed server and a fake Threads API.
pub struct TestApp {
    dir: tempfile::TempDir,
    pub feeds: FeedServer,
    pub fake: FakeThreads,
    accounts: Vec<String>,
    feed_blocks: Vec<String>,
    defaults: Vec<String>,
    sections: Vec<String>,
    http: bool,
    db: PathBuf,
    /// A store URL other than the file in `dir` (a PostgreSQL database).
    store_url: Option<String>,
    /// More `[store]` lines (`node = "…"`).
    store_lines: Vec<String>,
    /// What the daemon is started with (waits, cadence, store options, test hooks).
    pub options: AppOptions,
    /// `Settings::store_max_outage`, when set.
    pub max_outage: Option<Duration>,
    /// `http.desk = true` with this password hash.
    desk_hash: Option<String>,
}

impl TestApp {
    /// No accounts, no feeds; backlog "all" (every item of a first poll is new).
    pub async fn new() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        TestApp {
            dir,
            feeds: FeedServer::start().await,
            fake: FakeThreads::start(),
            accounts: Vec::new(),
            feed_blocks: Vec::new(),
            defaults: vec!["backlog = \"all\"".into()],
            sections: Vec::new(),
            http: false,
            db,
            store_url: None,
            store_lines: Vec::new(),
            options: AppOptions {
                publish: fast_publish(),
                store: StoreOptions::default(),
                cadence: fast_cadence(),
                test_panic_in_poll_of: None,
            },
            max_outage: None,
            desk_hash: None,
        }
    }

    /// An account with the fake's token, publishing without pacing.
    pub fn with_account(self, name: &str) -> Self {
        let token = self.fake.token();
        self.with_account_toml(
            name,
            &format!("access_token = \"{token}\"\nmin_interval = \"0s\""),
        )
    }

    /// An account with these extra keys (no token unless they give one).
    pub fn with_account_toml(mut self, name: &str, extra: &str) -> Self {
        self.accounts
            .push(format!("[[accounts]]\nname = \"{name}\"\n{extra}\n"));
        self
    }

    /// A feed `name` of `account`, served at `/{name}.xml` with `stories` stories.
    pub fn with_feed(self, name: &str, account: &str, stories: usize) -> Self {
        self.feeds
            .set(&format!("/{name}.xml"), Route::feed(rss(name, stories)));
        self.with_feed_toml(name, account, "")
    }

    /// A feed served at `/{name}.xml` (whatever the route says), with extra keys.
    pub fn with_feed_toml(mut self, name: &str, account: &str, extra: &str) -> Self {
        let url = self.feeds.url(&format!("/{name}.xml"));
        self.feed_blocks.push(format!(
            "[[feeds]]\nname = \"{name}\"\naccount = \"{account}\"\nurl = \"{url}\"\n{extra}\n"
        ));
        self
    }

    /// A `[[feeds]]` block as written (a feed without a name, a URL of the test's choosing).
    pub fn with_feed_block(mut self, block: &str) -> Self {
        self.feed_blocks.push(format!("[[feeds]]\n{block}\n"));
        self
    }

    /// Extra top-level sections (`[status]` …), before `[defaults]`.
    pub fn with_section(mut self, section: &str) -> Self {
        self.sections.push(section.to_string());
        self
    }

    /// A line of `[defaults]`.
    pub fn with_defaults(mut self, line: &str) -> Self {
        self.defaults.push(line.to_string());
        self
    }

    /// Serve `/healthz` and `/metrics` on a free port.
    pub fn with_http(mut self) -> Self {
        self.http = true;
        self
    }

    /// Serve the desk too (`http.desk = true`), with this argon2 password hash.
    pub fn with_desk(mut self, password_hash: &str) -> Self {
        self.http = true;
        self.desk_hash = Some(password_hash.to_owned());
        self
    }

    /// Keep the store at `path` (a tmpfs, say) instead of the temporary directory.
    pub fn with_store_at(mut self, path: &Path) -> Self {
        self.db = path.to_path_buf();
        self
    }

    /// The store at `url` (a PostgreSQL database) instead of the file in the test's dir.
    pub fn with_store_url(mut self, url: &str) -> Self {
        self.store_url = Some(url.to_string());
        self
    }

    /// A line in `[store]` (`node = "news-1"`).
    pub fn with_store_line(mut self, line: &str) -> Self {
        self.store_lines.push(line.to_string());
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn db_url(&self) -> String {
        if let Some(url) = &self.store_url {
            return url.clone();
        }
        format!("sqlite://{}", self.db.display())
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("feed2threads.toml")
    }

    /// The whole config.
    pub fn config_text(&self) -> String {
        let listen = if self.http { "127.0.0.1:0" } else { "off" };
        let desk = self.desk_hash.as_ref().map_or(String::new(), |hash| {
            format!("desk = true\ndesk_password_hash = \"{hash}\"\n")
        });
        format!(
            "[store]\nurl = \"{}\"\n{}[threads]\napi_base = \"{}\"\npublish_timeout = \"3s\"\n\
             request_timeout = \"3s\"\n[http]\nlisten = \"{listen}\"\n{desk}{}\n[defaults]\n{}\n{}{}",
            self.db_url(),
            self.store_lines
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
            self.fake.base_url(),
            self.sections.join("\n"),
            self.defaults.join("\n"),
            self.accounts.concat(),
            self.feed_blocks.concat(),
        )
    }

    /// Writes the config file (a reload, or the binary, reads it there); its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.config_path();
        std::fs::write(&path, self.config_text()).unwrap();
        path
    }

    /// Runs `command(args)` to its end (a 60 s hang guard) and returns its output.
    pub async fn run(&self, args: &[&str]) -> std::process::Output {
        let child = self.command(args).output();
        tokio::time::timeout(std::time::Duration::from_secs(60), child)
            .await
            .expect("the command ends (a hang guard)")
            .unwrap()
    }

    /// A newsroom on the store at `url`: account "desk" and feed "news" of `stories` stories.
    pub async fn newsroom_on(url: &str, stories: usize) -> TestApp {
        TestApp::new()
            .await
            .with_store_url(url)
            .with_account("desk")
            .with_feed("news", "desk", stories)
    }

    /// `feed2threads --config <the config> ARGS`: the real binary, as cron or systemd
    /// starts it, on this app's config (written first), logging at `info`, with the text
    /// container's wait short (20 ms); stdin closed, killed when dropped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.arg("--config")
            .arg(self.write_config())
            .args(args)
            .env("RUST_LOG", "info")
            .env("FEED2THREADS_TEXT_WAIT", "20ms")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Writes the config file (a reload re-reads it) and parses it.
    pub fn settings(&self) -> Settings {
        let path = self.write_config();
        let mut settings = Settings::load(&path).unwrap();
        if let Some(limit) = self.max_outage {
            settings.store_max_outage = limit;
        }
        settings
    }

    /// Starts the daemon in `mode`, as `run` does; an error is what `run` would print.
    pub async fn try_start(&self, mode: RunMode) -> anyhow::Result<Running> {
        // A live run starts from a migrated store; a dry run must find none (or the one a
        // live run left).
        if self.store_url.is_none() && mode.effect == Effect::Live {
            place_migrated_store(&self.db);
        }
        let shutdown = CancellationToken::new();
        let app = App::start(
            self.settings(),
            mode,
            self.options.clone(),
            shutdown.clone(),
        )
        .await?;
        let http = app.http_addr();
        let endpoint = app.endpoint();
        let (reload, reloads) = tokio::sync::mpsc::unbounded_channel();
        let printed = Printed::default();
        let out = Box::new(printed.clone());
        let task = tokio::spawn(app.run(Some(reloads), out));
        Ok(Running {
            shutdown,
            reload,
            http,
            endpoint,
            printed,
            task,
        })
    }

    pub async fn start(&self, mode: RunMode) -> Running {
        self.try_start(mode).await.unwrap()
    }

    /// `run --once`.
    pub async fn run_once(&self) -> RunReport {
        self.start(RunMode::ONCE).await.finished().await
    }

    /// `run --once --dry-run`: the report and what it printed.
    pub async fn dry_run_once(&self) -> (RunReport, String) {
        let mode = RunMode {
            effect: feed2threads::run_mode::Effect::Dry,
            ..RunMode::ONCE
        };
        let running = self.start(mode).await;
        let printed = running.printed.clone();
        let report = running.finished().await;
        (report, printed.text())
    }

    /// The store file, opened as a command would.
    pub async fn open_store(&self) -> Store {
        Store::open(&self.db_url()).await.unwrap()
    }
}

/// A daemon running in the test's runtime.
pub struct Running {
    pub shutdown: CancellationToken,
    reload: UnboundedSender<()>,
    pub http: Option<SocketAddr>,
    /// `/healthz` and `/metrics` as the daemon serves them, following reloads.
    pub endpoint: Option<Endpoint>,
    pub printed: Printed,
    task: JoinHandle<RunReport>,
}

impl Running {
    /// As SIGHUP does.
    pub fn reload(&self) {
        self.reload.send(()).unwrap();
    }

    /// As SIGTERM does; waits for the orderly stop.
    pub async fn stop(self) -> RunReport {
        self.shutdown.cancel();
        self.finished().await
    }

    /// Waits for the run to end by itself (`--once`, an outage).
    pub async fn finished(self) -> RunReport {
        tokio::time::timeout(Duration::from_secs(120), self.task)
            .await
            .expect("the run ends (guard against a hang, not a speed limit)")
            .unwrap()
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// `GET /healthz`: status and body.
    pub async fn healthz(&self) -> (u16, String) {
        let addr = self.http.expect("started with_http()");
        let response = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Polls `/healthz` until `pred` holds (or fails after `secs`, a hang guard).
    pub async fn healthz_until(
        &self,
        secs: u64,
        pred: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (status, body) = self.healthz().await;
            if pred(status, &body) {
                return (status, body);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/healthz never matched; last: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
