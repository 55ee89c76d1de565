//! Wiring: the only place components are put together, for `run` in each of its modes and
//! for the tests (which start the daemon through [`App::start`], as `run` does).
//!
//! [`App::start`] takes the run mode's store (the store file under its daemon lock, or an
//! in-memory snapshot for a dry run), brings the store's feeds and accounts in line with the
//! config, starts the operations endpoint, the heartbeat and the publishers as the mode
//! allows, and [`App::run`] hands it all to the run loop (`daemon`). A config reload goes
//! through the same [`Wiring`] with the same mode.
//!
//! Must not: hold the run loop, a command's body, or SQL.

use crate::config::{FeedSettings, Settings};
use crate::daemon::node::NodeName;
use crate::daemon::pulse::Pulse;
use crate::daemon::{Cadence, Daemon, End, RunReport, Signals};
use crate::desk::Desk;
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::redact::redact_url;
use crate::health::StoreHealth;
use crate::http::{Endpoint, Liveness};
use crate::poll::{FetchLimiter, Poller};
use crate::publish::lease::LeaseSettings;
use crate::publish::{PublishConfig, Publishers, WorkerReport};
use crate::run_mode::RunMode;
use crate::schedule::Limits;
use crate::scheduler::ScheduledFeed;
use crate::store::{DaemonLock, FeedConfig, Store, StoreOptions, now_unix};
use crate::tokens::{TokenNotices, TokenUse};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a run may be tuned with beyond the config: production uses the defaults, tests
/// shorten the waits.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub publish: PublishConfig,
    pub store: StoreOptions,
    pub cadence: Cadence,
    /// Test hook, never set in production: the polls of the feed of this name panic, to
    /// test that a panicked poll is caught.
    #[doc(hidden)]
    pub test_panic_in_poll_of: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            publish: PublishConfig::from_env(),
            store: StoreOptions::default(),
            cadence: Cadence::default(),
            test_panic_in_poll_of: None,
        }
    }
}

pub fn fetch_config(settings: &Settings) -> FetchConfig {
    FetchConfig {
        user_agent: settings.fetch.user_agent.clone(),
        connect_timeout: settings.fetch.connect_timeout,
        timeout: settings.fetch.timeout,
        max_body_bytes: settings.fetch.max_body_bytes,
        max_redirects: 5,
    }
}

/// The poller the config describes, on `store`.
pub fn build_poller(store: &Store, settings: &Settings) -> Result<Poller> {
    let fetcher = Fetcher::new(fetch_config(settings)).context("cannot build the HTTP client")?;
    Ok(Poller {
        store: store.clone(),
        fetcher,
        limiter: FetchLimiter::new(
            settings.fetch.concurrency,
            settings.fetch.per_host_concurrency,
        ),
        limits: fetch_limits(settings),
        // Never set: a dry run's store is a snapshot in memory, so its poller writes
        // there exactly as a live one writes the file.
        dry_run: false,
        explain: false,
    })
}

/// The bounds on a feed's intervals.
pub fn fetch_limits(settings: &Settings) -> Limits {
    Limits {
        max_hint_interval: settings.fetch.max_hint_interval,
        max_backoff: settings.fetch.max_backoff,
    }
}

/// Make the store's accounts and feeds match the config; returns each configured feed
/// with its row id. `seed_tokens`: store the configured access tokens (a live run only).
pub async fn sync_config(
    store: &Store,
    settings: &Settings,
    seed_tokens: bool,
) -> Result<Vec<(Arc<FeedSettings>, i64)>> {
    let usage = if seed_tokens {
        TokenUse::Live
    } else {
        TokenUse::Dry
    };
    sync_config_noting(store, settings, usage, &TokenNotices::default()).await
}

/// [`sync_config`], reporting each token difference once per `notices` (the run's).
pub async fn sync_config_noting(
    store: &Store,
    settings: &Settings,
    usage: TokenUse,
    notices: &TokenNotices,
) -> Result<Vec<(Arc<FeedSettings>, i64)>> {
    let now = now_unix();
    let mut account_ids = HashMap::new();
    for account in &settings.accounts {
        let row = store.ensure_account(&account.name, now).await?;
        crate::tokens::apply(store, account, &row, usage, notices, now).await?;
        account_ids.insert(account.name.clone(), row.id);
    }
    let mut rows = Vec::with_capacity(settings.feeds.len());
    for feed in &settings.feeds {
        let account_id = match account_ids.get(&feed.account) {
            Some(id) => *id,
            None => store.ensure_account(&feed.account, now).await?.id,
        };
        rows.push(FeedConfig {
            name: &feed.name,
            url: feed.url.as_str(),
            account_id,
        });
    }
    // One commit for all: a newsroom's thousands of feeds start in milliseconds.
    let ids = store.sync_feeds(&rows, now).await?;
    Ok(settings
        .feeds
        .iter()
        .zip(ids)
        .map(|(feed, id)| (Arc::new(feed.clone()), id))
        .collect())
}

/// The store a run mode works on: the file, under the daemon lock, for a live run; an
/// in-memory snapshot of it (no lock, nothing written) for a dry run.
pub async fn open_store(
    settings: &Settings,
    mode: RunMode,
    options: StoreOptions,
) -> Result<(Store, Option<DaemonLock>)> {
    let url = &settings.store_url;
    if !mode.writes_store() {
        let store = Store::open_snapshot_with(url, options)
            .await
            .with_context(|| format!("store.url = {:?}", redact_url(url)))?;
        return Ok((store, None));
    }
    // On PostgreSQL several daemons share the database: the account leases and the feed
    // claims divide the work, so no one-daemon lock is taken (SQLite keeps its lock file).
    let lock = if crate::store::is_postgres(url) {
        None
    } else {
        Some(DaemonLock::acquire(url, now_unix()).await?)
    };
    let store = Store::open_with(url, options)
        .await
        .with_context(|| format!("store.url = {:?}", redact_url(url)))?;
    Ok((store, lock))
}

/// The config applied to the store: what the run loop polls, and with what.
pub struct Configured {
    pub feeds: Vec<(Arc<FeedSettings>, i64)>,
    pub scheduled: Vec<ScheduledFeed>,
    pub poller: Poller,
}

/// One generation of publishers with its own stop signal (a child of the shutdown), so a
/// config reload can replace them without stopping the daemon.
pub struct PublisherGeneration {
    pub publishers: Publishers,
    stop: CancellationToken,
}

impl PublisherGeneration {
    /// Stop at the next safe point (a publish in flight finishes) and wait.
    pub async fn stop(self) -> Vec<WorkerReport> {
        self.stop.cancel();
        self.publishers.finish().await
    }
}

/// What start-up and every reload use to apply a config, in the run's one mode.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub mode: RunMode,
    pub store: Store,
    pub health: StoreHealth,
    pub options: AppOptions,
    /// The editors' desk, when the endpoint serves one (`http.desk = true`).
    pub desk: Option<Desk>,
    /// Notified when an editor queued posts on the desk: the run loop wakes the workers.
    pub desk_poke: Arc<Notify>,
    /// What was said about the configured tokens, so a reload does not repeat it.
    pub token_notices: TokenNotices,
    /// The accounts other daemons on the database queued posts for (PostgreSQL, live).
    pub queued_elsewhere: Option<Arc<tokio::sync::Mutex<UnboundedReceiver<String>>>>,
    /// `/healthz` and `/metrics`, when the mode serves them: a reload moves them to a
    /// changed `http.listen`.
    pub endpoint: Option<Endpoint>,
}

impl Wiring {
    /// Brings the store's accounts and feeds in line with `settings` (tokens only when
    /// live) and builds the poller.
    pub async fn configure(&self, settings: &Settings) -> Result<Configured> {
        let usage = if self.mode.stores_tokens() {
            TokenUse::Live
        } else {
            TokenUse::Dry
        };
        let feeds = sync_config_noting(&self.store, settings, usage, &self.token_notices).await?;
        let ids: Vec<i64> = feeds.iter().map(|(_, id)| *id).collect();
        let stored = if self.mode.follows_schedule() {
            self.store.feed_rows(&ids).await?
        } else {
            HashMap::new()
        };
        let scheduled = feeds
            .iter()
            .map(|(feed, id)| ScheduledFeed {
                feed: feed.clone(),
                id: *id,
                next_check_at: stored.get(id).map_or(0, |r| r.next_check_at),
            })
            .collect();
        let mut poller = build_poller(&self.store, settings)?;
        // A dry run prints what became of each item and why.
        poller.explain = self.mode.prints_posts();
        Ok(Configured {
            feeds,
            scheduled,
            poller,
        })
    }

    /// Checks that the publishers of `settings` can be built (before the running ones are
    /// stopped for a reload).
    pub fn check_publishers(&self, settings: &Settings) -> Result<()> {
        if self.mode.publishes() {
            crate::publish::client(settings).context("cannot build the Threads client")?;
        }
        Ok(())
    }

    /// One publisher per account, when the mode publishes; `None` in a dry run.
    pub fn start_publishers(
        &self,
        settings: &Settings,
        feeds: &[(Arc<FeedSettings>, i64)],
        shutdown: &CancellationToken,
    ) -> Result<Option<PublisherGeneration>> {
        if !self.mode.publishes() {
            return Ok(None);
        }
        let stop = shutdown.child_token();
        let publishers = Publishers::start(
            &self.store,
            settings,
            feeds,
            self.options.publish.clone(),
            Some(self.health.clone()),
            stop.clone(),
        )
        .context("cannot start the publishers")?;
        Ok(Some(PublisherGeneration { publishers, stop }))
    }
}

/// What runs beside the loop, for the live daemon: `/healthz` and `/metrics`, the systemd
/// watchdog, the heartbeat. They stop after the publishers, so `/healthz` answers during
/// the drain.
struct Operations {
    tasks: TaskTracker,
    stop: CancellationToken,
    http_addr: Option<SocketAddr>,
    endpoint: Option<Endpoint>,
}

impl Operations {
    /// Starts what `wiring.mode` allows.
    async fn start(
        settings: &Settings,
        wiring: &Wiring,
        liveness: &Liveness,
    ) -> Result<Operations> {
        let ops = Operations {
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            http_addr: None,
            endpoint: None,
        };
        let ops = if wiring.mode.serves_operations() {
            ops.serve(settings, wiring, liveness).await?
        } else {
            ops
        };
        if wiring.mode.beats() {
            let pulse = Pulse {
                store: wiring.store.clone(),
                health: wiring.health.clone(),
                liveness: liveness.clone(),
                every: wiring.options.cadence.heartbeat,
                stale_after: crate::http::DEFAULT_STALE_AFTER,
            };
            ops.tasks.spawn(pulse.run(ops.stop.clone()));
        }
        Ok(ops)
    }

    /// The endpoint (when `http.listen` is on) and the watchdog.
    async fn serve(
        mut self,
        settings: &Settings,
        wiring: &Wiring,
        liveness: &Liveness,
    ) -> Result<Operations> {
        if let Some(endpoint) = &wiring.endpoint {
            endpoint
                .apply(settings.http.listen)
                .await
                .with_context(|| {
                    let listen = settings.http.listen.map_or("off".into(), |a| a.to_string());
                    format!("http.listen = \"{listen}\"")
                })?;
            self.http_addr = endpoint.addr().await;
            self.endpoint = Some(endpoint.clone());
        }
        self.tasks.spawn(crate::notify::run_watchdog(
            liveness.clone(),
            crate::http::DEFAULT_STALE_AFTER,
            self.stop.clone(),
        ));
        Ok(self)
    }

    async fn stop(self) {
        if let Some(endpoint) = &self.endpoint {
            endpoint.stop().await;
        }
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// A daemon, started and ready to run.
pub struct App {
    settings: Settings,
    wiring: Wiring,
    configured: Configured,
    lock: Option<DaemonLock>,
    /// PostgreSQL: this daemon's registered node name.
    node: Option<NodeName>,
    liveness: Liveness,
    publishers: Option<PublisherGeneration>,
    operations: Operations,
    shutdown: CancellationToken,
}

impl App {
    /// Takes the store (and its lock, when live), applies the config, starts what the mode
    /// allows (publishers before the first poll, so that posts a crash left in flight are
    /// reconciled first). `shutdown` stops the run.
    pub async fn start(
        settings: Settings,
        mode: RunMode,
        options: AppOptions,
        shutdown: CancellationToken,
    ) -> Result<App> {
        let mut options = options;
        options.store.connect_timeout = settings.store_connect_timeout;
        let (store, lock) = open_store(&settings, mode, options.store).await?;
        if mode.writes_store() {
            // Under the one-daemon lock (SQLite) the leases are taken over from any earlier
            // run at once; without it (PostgreSQL) a lease is taken when free or lapsed.
            options.publish.lease = Some(LeaseSettings::new(
                settings.store_node.as_deref(),
                settings.store_lease,
                lock.is_some(),
            ));
        }
        // Before any lease is taken in the node's name: one live daemon per name.
        let node = match &options.publish.lease {
            Some(lease) if store.is_postgres() => {
                Some(NodeName::register(&store, lease, &shutdown).await?)
            }
            _ => None,
        };
        let desk_poke = Arc::new(Notify::new());
        let desk = if mode.serves_operations() {
            Desk::new(store.clone(), &settings)
        } else {
            None
        };
        if let Some(desk) = &desk {
            let poke = desk_poke.clone();
            desk.set_wake(Arc::new(move || poke.notify_one()));
        }
        let health = StoreHealth::new(settings.store_max_outage);
        let liveness = Liveness::new();
        let endpoint = mode.serves_operations().then(|| {
            Endpoint::new(store.clone(), liveness.clone(), health.clone()).with_desk(desk.clone())
        });
        // Another daemon on the database may queue this node's accounts' posts.
        let queued_elsewhere = if mode.writes_store() {
            crate::daemon::announced::listen(store.clone(), shutdown.clone())
                .map(|rx| Arc::new(tokio::sync::Mutex::new(rx)))
        } else {
            None
        };
        let wiring = Wiring {
            mode,
            store,
            health,
            options,
            desk,
            desk_poke,
            token_notices: TokenNotices::default(),
            queued_elsewhere,
            endpoint,
        };
        let configured = wiring.configure(&settings).await?;
        tracing::info!(
            feeds = configured.feeds.len(),
            accounts = settings.accounts.len(),
            mode = %mode,
            "feed2threads starting"
        );
        let operations = Operations::start(&settings, &wiring, &liveness).await?;
        let publishers = wiring.start_publishers(&settings, &configured.feeds, &shutdown)?;
        if mode.serves_operations() {
            crate::notify::ready();
        }
        Ok(App {
            settings,
            wiring,
            configured,
            lock,
            node,
            liveness,
            publishers,
            operations,
            shutdown,
        })
    }

    /// Where `/healthz` and `/metrics` are served, when they are.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.operations.http_addr
    }

    /// The endpoint, when the mode serves one: [`Endpoint::addr`] follows a reload that
    /// moves it.
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.wiring.endpoint.clone()
    }

    /// The store this run works on.
    pub fn store(&self) -> &Store {
        &self.wiring.store
    }

    /// Runs the loop until the cycle is over (`--once`), `shutdown` fires, or the store
    /// fails for too long; then stops everything in order. Each message on `reload`
    /// re-reads the config file. A dry run prints its posts to `out`.
    pub async fn run(
        self,
        reload: Option<tokio::sync::mpsc::UnboundedReceiver<()>>,
        out: Box<dyn Write + Send>,
    ) -> RunReport {
        let App {
            settings,
            wiring,
            configured,
            lock,
            node,
            liveness,
            publishers,
            operations,
            shutdown,
        } = self;
        let store = wiring.store.clone();
        let signals = Signals { shutdown, reload };
        let daemon = Daemon::new(
            settings, wiring, configured, publishers, liveness, signals, out,
        );
        let report = daemon.run().await;
        operations.stop().await;
        if let Some(node) = node {
            node.release().await;
        }
        log_closing_line(&report);
        store.close().await;
        if let Some(lock) = lock {
            lock.release();
        }
        report
    }
}

/// The run's last log line: "feed2threads stopped", with what it did, and why when the exit
/// code is 1. (Its target, `feed2threads::app`, and message are read by the benchmark.)
fn log_closing_line(report: &RunReport) {
    let usage = crate::procstat::ProcessUsage::read();
    let troubles = report.troubles();
    let published = report.published();
    match &report.end {
        End::StoreOutage(outage) => tracing::error!(
            polls = report.polls,
            published,
            "feed2threads stopped: {outage}, longer than [store] max_outage allows"
        ),
        End::OutputClosed(why) => tracing::error!(
            polls = report.polls,
            "feed2threads stopped: the output is closed ({why}); the dry run is incomplete"
        ),
        End::CycleDone | End::Signal if !troubles.is_empty() => tracing::error!(
            polls = report.polls,
            failed = report.failed_polls,
            queued = report.queued,
            held = report.held,
            published,
            cpu_seconds = usage.cpu_seconds,
            peak_rss_mb = usage.peak_rss_mb,
            "feed2threads stopped; needs a human: {}",
            troubles.join(" | ")
        ),
        End::CycleDone | End::Signal => {
            let panics: Vec<String> = report
                .poll_panics
                .iter()
                .map(|p| format!("feed {}: {}", p.feed, p.message))
                .collect();
            tracing::info!(
                polls = report.polls,
                failed = report.failed_polls,
                queued = report.queued,
                held = report.held,
                published,
                store_errors = report.store_errors,
                poll_panics = %panics.join(" | "),
                cpu_seconds = usage.cpu_seconds,
                peak_rss_mb = usage.peak_rss_mb,
                "feed2threads stopped"
            );
        }
    }
}
