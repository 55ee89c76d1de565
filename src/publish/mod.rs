//! Per-account publishing workers: outbox claim, quota, pacing, retries, reconciliation.
//!
//! Owns the way a queued outbox post becomes a Threads post exactly once: one worker
//! ([`AccountPublisher`]) per account, accounts in parallel, one post in flight per
//! account, the oldest story first. Every step is committed to the store before the
//! network call that depends on it (`queued` → `container_created` → `publishing` →
//! `published` | `failed` | `expired`), and a post found in flight (after a crash or a lost
//! answer) is reconciled from its container's status before anything new is published, so
//! no crash, restart, lost answer or API hiccup publishes a story twice or drops it.
//!
//! - [`worker`]: [`AccountPublisher`], the publish algorithm and the worker loop.
//! - [`reconcile`]: what a container status means; finding a post whose answer was lost.
//! - [`quota`]: the publishing quota (API + local ledger + `max_posts_per_day`) and pacing.
//! - [`token`]: learning the token's expiry, refreshing it, pausing on a dead token.
//! - [`backoff`]: capped exponential backoff with jitter for every retry path.
//! - [`editorial`]: the gate of a post before it starts: [`window`] (posting windows) and
//!   [`caps`] (a feed's posts per hour and per day).
//! - [`supervise`]: one task per account; a panicked worker is reported and restarted.
//! - [`report`]: what each worker did in a run and why it stopped (`run --once`'s exit code).
//! - here: [`PublishConfig`] (every wait, injectable for tests) and [`Publishers`], the
//!   handle the daemon uses to start, wake, drain and stop the workers.
//!
//! Must not: poll feeds, compose text, or hold SQL (that is `store`'s). It never runs in a
//! dry run (the run mode does not start it), so a dry run calls no write endpoint.

pub mod backoff;
pub mod caps;
pub mod editorial;
pub mod lease;
pub mod quota;
pub mod reconcile;
pub mod report;
pub mod supervise;
pub mod token;
pub mod window;
pub mod worker;

pub use report::{Ending, FailedPost, WorkerReport};
pub use worker::{AccountPublisher, Outcome, WaitReason};

use crate::config::{AccountSettings, FeedSettings, Settings};
use crate::health::StoreHealth;
use crate::store::{Store, StoreError};
use crate::threads::{ClientConfig, InvalidConfig, ThreadsClient};
use backoff::Backoff;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use supervise::{RestartPolicy, StartWorker};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The publisher's failures that are not about one post: the store, or a client that
/// cannot be built. API errors never surface here; they are handled per post.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] InvalidConfig),
    #[error("account {0:?} is not configured")]
    UnknownAccount(String),
}

/// Every wait of the publisher. [`PublishConfig::default`] is the production cadence
/// (threads-api.md §2.3, §8); tests inject short ones.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Before the first status check of a new TEXT container. Short: text is usually
    /// ready at once, but publishing a container right away sometimes gives 4279009.
    pub text_first_wait: Duration,
    /// First interval between status checks of a text container (doubles up to `text_poll_cap`).
    pub text_poll: Duration,
    pub text_poll_cap: Duration,
    /// Give up waiting for a text container after this long (try again later).
    pub text_ready_timeout: Duration,
    /// Before the first status check of a new IMAGE container: Meta says ~30 s.
    pub media_first_wait: Duration,
    /// Between status checks of a media container: Meta says once a minute.
    pub media_poll: Duration,
    /// A media container still IN_PROGRESS after this long counts as failed (Meta: 5 min).
    pub media_ready_timeout: Duration,
    /// After 24/4279009 ("not visible yet"), wait this long and publish the same container
    /// again, at most `not_ready_retries` times; then check its status and recreate it.
    pub not_ready_wait: Duration,
    pub not_ready_retries: u32,
    /// Backoff of every transient failure: first delay and cap.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How old the API's quota answer may get before it is read again (and stored for
    /// `status`): at most 5 minutes while the worker publishes.
    pub quota_refresh: Duration,
    /// When the API counts posts our ledger does not know, look again after this long.
    pub quota_recheck: Duration,
    /// How often an idle or paused worker looks at the store without being woken.
    pub idle_recheck: Duration,
    /// Look for a lost post this long before its first publish call.
    pub search_slack: Duration,
    /// How often the token's expiry is looked at (and a failed refresh retried).
    pub token_check: Duration,
    /// Publishes of unknown outcome in a row on one post before it backs off.
    pub max_unknown_rounds: u32,
    /// `run --once`: transient failures in a row after which a draining worker gives up
    /// and leaves the post queued for the next run.
    pub once_max_failures: u32,
    /// The accounts' leases (issue 14): the daemon's workers publish only while they hold
    /// their account's; `None` (tests driving a worker alone) publishes without.
    pub lease: Option<lease::LeaseSettings>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            text_first_wait: Duration::from_secs(1),
            text_poll: Duration::from_secs(1),
            text_poll_cap: Duration::from_secs(15),
            text_ready_timeout: Duration::from_secs(120),
            media_first_wait: Duration::from_secs(30),
            media_poll: Duration::from_secs(60),
            media_ready_timeout: Duration::from_secs(300),
            not_ready_wait: Duration::from_secs(5),
            not_ready_retries: 3,
            retry_base: Duration::from_secs(5),
            retry_cap: Duration::from_secs(15 * 60),
            quota_refresh: Duration::from_secs(5 * 60),
            quota_recheck: Duration::from_secs(30 * 60),
            idle_recheck: Duration::from_secs(60),
            search_slack: Duration::from_secs(5 * 60),
            token_check: Duration::from_secs(6 * 3600),
            max_unknown_rounds: 3,
            once_max_failures: 5,
            lease: None,
        }
    }
}

/// Environment overrides of the two waits that dominate a text post's latency, for
/// operators who know their API and for tests of the real binary. Durations as in the
/// config ("500ms", "2s").
pub const ENV_TEXT_WAIT: &str = "FEED2THREADS_TEXT_WAIT";
pub const ENV_RETRY_WAIT: &str = "FEED2THREADS_RETRY_WAIT";

impl PublishConfig {
    /// The defaults with [`ENV_TEXT_WAIT`] (first wait and first poll interval of a text
    /// container) and [`ENV_RETRY_WAIT`] (the 4279009 wait and the backoff's first delay)
    /// applied when set. A value that is not a duration is ignored with a warning.
    pub fn from_env() -> Self {
        let mut c = PublishConfig::default();
        if let Some(d) = env_duration(ENV_TEXT_WAIT) {
            c.text_first_wait = d;
            c.text_poll = d.max(Duration::from_millis(10));
        }
        if let Some(d) = env_duration(ENV_RETRY_WAIT) {
            c.not_ready_wait = d;
            c.retry_base = d.max(Duration::from_millis(10));
        }
        c
    }
}

fn env_duration(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    match humantime::parse_duration(value.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!("{name}={value:?} is not a duration ({e}); using the default");
            None
        }
    }
}

/// What a worker needs to know about a feed: its name for logs (redacted: a name that
/// defaults to the URL may carry credentials), its `max_age`, whether a failed image post
/// may fall back to text, and its posting window and caps.
#[derive(Debug, Clone)]
pub struct FeedInfo {
    pub name: String,
    pub max_age: Option<Duration>,
    pub image_fallback: bool,
    pub window: Option<window::PostingWindow>,
    pub caps: caps::Caps,
}

impl FeedInfo {
    pub fn from_settings(feed: &FeedSettings) -> Self {
        FeedInfo {
            name: crate::feed::redact::redact_url(&feed.name).into_owned(),
            max_age: feed.max_age,
            image_fallback: feed.compose.image_fallback == crate::compose::ImageFallback::Text,
            window: feed.window,
            caps: feed.caps,
        }
    }
}

/// Feed row id → what the workers need of it.
pub fn feed_infos(feeds: &[(Arc<FeedSettings>, i64)]) -> Arc<HashMap<i64, FeedInfo>> {
    Arc::new(
        feeds
            .iter()
            .map(|(f, id)| (*id, FeedInfo::from_settings(f)))
            .collect(),
    )
}

/// The Threads client the config describes.
pub fn client(settings: &Settings) -> Result<ThreadsClient, InvalidConfig> {
    ThreadsClient::new(
        ClientConfig::new(settings.threads.api_base.clone())
            .with_publish_timeout(settings.threads.publish_timeout)
            .with_request_timeout(settings.threads.request_timeout),
    )
}

/// The running workers, one per configured account, under supervision.
#[derive(Debug)]
pub struct Publishers {
    supervisor: JoinHandle<Vec<WorkerReport>>,
    pokes: HashMap<String, Arc<Notify>>,
    drain: CancellationToken,
}

/// What every worker of a generation shares.
struct Shared {
    store: Store,
    client: ThreadsClient,
    feeds: Arc<HashMap<i64, FeedInfo>>,
    config: PublishConfig,
    health: Option<StoreHealth>,
    pokes: HashMap<String, Arc<Notify>>,
    drain: CancellationToken,
    shutdown: CancellationToken,
}

impl Publishers {
    /// Starts one worker per configured account. Each first reconciles the posts its
    /// account left in flight, then publishes the queue. `shutdown` stops them at their
    /// next safe point (a publish in flight finishes first). Store failures are reported
    /// to `health` when given.
    pub fn start(
        store: &Store,
        settings: &Settings,
        feeds: &[(Arc<FeedSettings>, i64)],
        config: PublishConfig,
        health: Option<StoreHealth>,
        shutdown: CancellationToken,
    ) -> Result<Publishers, PublishError> {
        let drain = CancellationToken::new();
        let pokes: HashMap<String, Arc<Notify>> = settings
            .accounts
            .iter()
            .map(|a| (a.name.clone(), Arc::new(Notify::new())))
            .collect();
        let shared = Arc::new(Shared {
            store: store.clone(),
            client: client(settings)?,
            feeds: feed_infos(feeds),
            config,
            health,
            pokes: pokes.clone(),
            drain: drain.clone(),
            shutdown: shutdown.clone(),
        });
        let start: StartWorker = Arc::new(move |account| {
            let shared = shared.clone();
            Box::pin(async move { shared.run_worker(account).await })
        });
        let supervisor = tokio::spawn(supervise::supervise(
            settings.accounts.clone(),
            start,
            RestartPolicy::default(),
            shutdown,
            drain.clone(),
        ));
        Ok(Publishers {
            supervisor,
            pokes,
            drain,
        })
    }

    /// New posts were queued for `account`: wake its worker if idle (a busy one finds
    /// them next).
    pub fn poke(&self, account: &str) {
        if let Some(p) = self.pokes.get(account) {
            p.notify_one();
        }
    }

    /// Wake every idle worker.
    pub fn poke_all(&self) {
        for p in self.pokes.values() {
            p.notify_one();
        }
    }

    /// `run --once`, once every post the polls queued is committed: publish what can be
    /// published now (pacing included; a spent quota, a paused account or a persistent
    /// failure end it), then return what each account did.
    pub async fn drain(self) -> Vec<WorkerReport> {
        self.drain.cancel();
        self.poke_all();
        self.reports().await
    }

    /// Wait for the workers to stop (after the shutdown token fired).
    pub async fn finish(self) -> Vec<WorkerReport> {
        self.reports().await
    }

    async fn reports(self) -> Vec<WorkerReport> {
        match self.supervisor.await {
            Ok(reports) => reports,
            Err(e) => {
                tracing::error!(
                    "the publishers' supervisor ended abnormally: {}",
                    supervise::panic_message(e)
                );
                Vec::new()
            }
        }
    }
}

impl Shared {
    /// Builds the account's worker (retrying while the store fails) and runs it to its end.
    async fn run_worker(self: Arc<Self>, account: AccountSettings) -> WorkerReport {
        let name = account.name.clone();
        let mut trouble = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let poke = self.pokes.get(&name).cloned().unwrap_or_default();
        let worker = loop {
            let built = AccountPublisher::new(
                self.store.clone(),
                self.client.clone(),
                account.clone(),
                self.feeds.clone(),
                self.config.clone(),
            )
            .await;
            let e = match built {
                Ok(worker) => break worker,
                Err(e) => e,
            };
            let delay = trouble.next_delay();
            match &self.health {
                Some(h) => {
                    h.failed(&format!("starting the publisher of account {name}"), &e);
                }
                None => tracing::error!(account = %name, "cannot start the publisher: {e}"),
            }
            let mut report = WorkerReport::new(&name);
            if self.drain.is_cancelled() && trouble.failures() > self.config.once_max_failures {
                report.ending = Ending::StoreTrouble {
                    error: e.to_string(),
                };
                return report;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.cancelled() => return report,
            }
        };
        let worker = worker.with_wakeups(poke, self.drain.clone());
        let worker = match &self.health {
            Some(h) => worker.with_health(h.clone()),
            None => worker,
        };
        worker.run(self.shutdown.clone()).await
    }
}
