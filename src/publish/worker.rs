//! [`AccountPublisher`]: the worker that publishes one account's outbox, one post at a
//! time, oldest story first.
//!
//! One step ([`AccountPublisher::try_publish_next`], in `steps`) takes the post the worker
//! holds if there is one (a crash or a lost answer left it in flight: it is reconciled
//! first), else claims the oldest queued post nobody holds, and carries it as far as it can:
//!
//! 1. drop it as `expired` if the story grew older than its feed's `max_age` while waiting;
//!    put it back until its posting window opens or its feed's cap has room (or drop it,
//!    `overflow = "drop"`), and go on with the next post (see `publish::editorial`);
//! 2. wait for pacing (`min_interval`) and quota (see `quota`), returning a wake-up time;
//! 3. create the container and **store its id** (`container_created`);
//! 4. poll the container until FINISHED (short first wait for text, Meta's cadence for media);
//! 5. mark `publishing` (**committed before** the publish call), call `threads_publish`;
//! 6. on success store the media id (`published`). On 24/4279009 wait and publish the same
//!    container again a few times, then look at its status and recreate it only if it is not
//!    PUBLISHED. On an unknown outcome (timeout, lost connection, 5xx, code 10) read the
//!    container status: PUBLISHED means done (the media id is found among recent posts),
//!    FINISHED means publish again, EXPIRED means a new container, IN_PROGRESS means poll on.
//!    If the status cannot be read, back off: a container that may be PUBLISHED is never
//!    published again.
//!
//! An IMAGE post whose container ends in ERROR becomes the text post of the same story (its
//! stored text, which carries the article link, with that link as the card), unless the feed
//! says `image_fallback = "none"`.
//!
//! [`AccountPublisher::run`] loops over steps, sleeping between them on a wake-up time, a
//! poke from the poll loop (new posts queued), or a periodic re-check of the store. The
//! shutdown token is consulted only while waiting (between steps, or at the waits inside a
//! step, where the store already holds a consistent state): a publish call in flight always
//! runs to its end and its result is stored.
//!
//! A worker holds the posts it carries (the store's claim: `claimed_by`); every transition
//! names its holder, so two workers of one account (two daemons on one store, which the
//! daemon lock forbids, or a bug) never carry the same post. A new worker adopts the posts
//! its account's previous worker left unfinished ([`AccountPublisher::new`]).
//!
//! A post composed with a first reply (`link_in = "reply"`) has it queued when it is
//! recorded published; the reply is the next post the worker carries, through the same
//! steps (see `steps`).
//!
//! Here: the worker's state, its construction and its run loop. `steps`: the step machine
//! (one method per step, and `settle`, which acts on a container's status). `calls`: API
//! calls with the token rule, container polling, the quota and pacing gate. `records`:
//! making each outcome durable (published, failed, deferred, expired, fallen back to text,
//! store trouble) and the permalink backfill. `editorial`: posting windows and caps before
//! a post starts. `replies`: what differs for a reply. `corrections`: what differs for a
//! correction's reply (paced; dropped when a newer headline superseded it).
//!
//! Must not hold SQL (the store's transitions are used) or decide anything about the post's
//! content (composed and validated before it was queued).

mod calls;
mod corrections;
mod editorial;
mod records;
mod replies;
mod steps;

use super::backoff::Backoff;
use super::lease::LeaseKeeper;
use super::quota::{Pacer, Quota};
use super::report::{Ending, WorkerReport};
use super::token::TokenKeeper;
use super::{FeedInfo, PublishConfig, PublishError};
use crate::config::AccountSettings;
use crate::health::StoreHealth;
use crate::store::{Holder, Store, now_unix};
use crate::threads::ThreadsClient;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The post is on Threads and recorded. `media_id` is `None` only when the container
    /// said PUBLISHED but the post could not be found among the recent ones.
    Published { post: i64, media_id: Option<String> },
    /// Given up for good (the API refuses it, or its media failed without fallback).
    Failed { post: i64, reason: String },
    /// The story grew older than its feed's `max_age` while it waited.
    Expired { post: i64 },
    /// A posting window or its feed's cap holds the post until `until_unix`: it is back
    /// in the queue (unheld, not due before then) and other posts go meanwhile.
    Postponed {
        post: i64,
        until_unix: i64,
        reason: String,
    },
    /// Beyond its feed's cap with `overflow = "drop"`: not published, for good.
    Dropped { post: i64, reason: String },
    /// The post changed state under us (an operator acted on it, or another worker holds
    /// it); nothing more was done.
    Skipped { post: i64 },
    /// Nothing to publish.
    Idle,
    /// Come back at `until`.
    Wait { until: Instant, reason: WaitReason },
    /// The account is paused until a human acts (the reason says how).
    Paused { reason: String },
    /// Shutdown came while waiting inside a step; what was done so far is stored.
    Interrupted,
    /// The account's lease lapsed by the local clock before an API call (this daemon was
    /// paused, or could not renew in time): no call was made, the post stays where it is
    /// for whoever owns the account next (this worker again if the lease is renewed).
    LeaseLapsed,
}

/// Backoff of a store failure inside a step: a busy or locked database usually clears
/// within seconds; a full disk takes an operator.
const STORE_RETRY_BASE: Duration = Duration::from_secs(1);
const STORE_RETRY_CAP: Duration = Duration::from_secs(60);

/// `run --once` waits at most this long for a post put off by an earlier run.
const ONCE_MAX_NOT_DUE: Duration = Duration::from_secs(30);

/// Why a step asks to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// `min_interval` since the last publish.
    Pacing,
    /// The quota is spent until `until_unix`.
    Quota { until_unix: i64 },
    /// A transient failure; backing off.
    Retry { post: i64, error: String },
    /// The next queued post is not due yet (`not_before`).
    NotDue,
    /// The store failed (busy, locked, full, I/O) while carrying `post` (or before one was
    /// chosen); backing off, capped, and trying again.
    Store { post: Option<i64>, error: String },
}

/// What the account's lease allows now.
enum LeaseGate {
    Go,
    /// Look again (the lease changed, or taking over failed).
    Wait,
    Stop,
}

/// `holder` takes over the posts the account's previous worker (or owner) left unfinished.
async fn adopt(
    store: &Store,
    account_id: i64,
    name: &str,
    holder: &Holder,
) -> Result<(), PublishError> {
    let adopted = store.outbox_adopt(account_id, holder).await?;
    if adopted > 0 {
        tracing::info!(
            account = %name,
            posts = adopted,
            "taking over the posts a previous worker left unfinished"
        );
    }
    Ok(())
}

/// Publishes one account's outbox. Build with [`AccountPublisher::new`]; tests drive it
/// step by step with [`AccountPublisher::try_publish_next`], the daemon runs
/// [`AccountPublisher::run`].
pub struct AccountPublisher {
    store: Store,
    client: ThreadsClient,
    settings: AccountSettings,
    account_id: i64,
    feeds: Arc<HashMap<i64, FeedInfo>>,
    config: PublishConfig,
    shutdown: CancellationToken,
    drain: CancellationToken,
    poke: Arc<Notify>,
    /// Who this worker is to the posts it holds.
    holder: Holder,
    /// The account's lease, when the worker publishes under one (the daemon's workers):
    /// it publishes only while it holds it, and its holder carries its fence.
    lease: Option<LeaseKeeper>,
    quota: Quota,
    pacer: Pacer,
    tokens: TokenKeeper,
    /// Transient failures in a row (any post), and the account-wide hold they impose:
    /// when the API is down, trying the next post instead would only multiply the calls.
    retry: Backoff,
    hold: Option<(Instant, WaitReason)>,
    /// Store failures in a row inside a step: their own, shorter backoff.
    store_trouble: Backoff,
    /// A publish happened since the last permalink backfill.
    permalinks_due: bool,
    /// The quota wake-up already logged, so a long wait is logged once.
    quota_logged: Option<i64>,
    /// When posts waiting for review were last looked at for `max_age`.
    reviews_swept: Option<Instant>,
    /// Where store failures are reported (the daemon's); `None` when driven by a test.
    health: Option<StoreHealth>,
    /// A call was refused for a lease lapsed here, and said so: logged once per lapse.
    lapse_logged: bool,
}

impl std::fmt::Debug for AccountPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPublisher")
            .field("account", &self.settings.name)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl AccountPublisher {
    /// A worker for `settings`' account (created in the store if missing). `feeds` maps
    /// feed row ids to what the worker needs of them (`max_age`, image fallback, name).
    ///
    /// It adopts the posts the account's previous worker left unfinished (in flight, or
    /// claimed): start one only when no other worker of the account runs on this store (the
    /// daemon lock across processes; within one, after the previous worker ended).
    pub async fn new(
        store: Store,
        client: ThreadsClient,
        settings: AccountSettings,
        feeds: Arc<HashMap<i64, FeedInfo>>,
        config: PublishConfig,
    ) -> Result<Self, PublishError> {
        let now = now_unix();
        let row = store.ensure_account(&settings.name, now).await?;
        let mut pacer = Pacer::new(settings.min_interval);
        let reach = i64::try_from(settings.min_interval.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let recent = store
            .published_times(row.id, now.saturating_sub(reach))
            .await?;
        pacer.seed(recent.last().copied(), now);
        // Windows and caps are judged again under the settings this worker starts with.
        let rejudged = store.outbox_clear_waits(row.id, now).await?;
        if rejudged > 0 {
            tracing::info!(
                account = %settings.name,
                posts = rejudged,
                "posts waiting for a posting window or a cap are looked at again"
            );
        }
        let holder = Holder::new();
        // Under a lease, the posts are adopted when the lease is taken (and each time it is
        // taken again), with the lease's fence.
        let lease = config
            .lease
            .clone()
            .map(|lease| LeaseKeeper::start(store.clone(), row.id, settings.name.clone(), lease));
        if lease.is_none() {
            adopt(&store, row.id, &settings.name, &holder).await?;
        }
        Ok(AccountPublisher {
            quota: Quota::new(
                config.quota_refresh,
                config.quota_recheck,
                settings.max_posts_per_day,
            ),
            tokens: TokenKeeper::new(
                row.id,
                &settings.name,
                settings.token_refresh_window,
                config.token_check,
            )
            .with_configured_problem(crate::tokens::missing_reason(&settings)),
            retry: Backoff::new(config.retry_base, config.retry_cap),
            store_trouble: Backoff::new(STORE_RETRY_BASE, STORE_RETRY_CAP),
            holder,
            lease,
            store,
            client,
            account_id: row.id,
            feeds,
            config,
            shutdown: CancellationToken::new(),
            drain: CancellationToken::new(),
            poke: Arc::new(Notify::new()),
            pacer,
            settings,
            hold: None,
            permalinks_due: false,
            quota_logged: None,
            reviews_swept: None,
            health: None,
            lapse_logged: false,
        })
    }

    /// Wake-ups: `poke` when new posts are queued; `drain` (for `run --once`) makes
    /// [`AccountPublisher::run`] return once nothing can be published now.
    pub fn with_wakeups(mut self, poke: Arc<Notify>, drain: CancellationToken) -> Self {
        self.poke = poke;
        self.drain = drain;
        self
    }

    /// The account's row id.
    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    pub fn account_name(&self) -> &str {
        &self.settings.name
    }

    /// Reports the store's failures (and its successful writes) to the daemon's
    /// [`StoreHealth`], so `/healthz` shows an outage the publishers meet.
    pub fn with_health(mut self, health: StoreHealth) -> Self {
        self.health = Some(health);
        self
    }

    /// Runs until `shutdown` fires (or, when draining, until nothing can be published now),
    /// and says what it did and why it stopped. A publish in flight is never abandoned:
    /// shutdown is looked at only while waiting.
    pub async fn run(mut self, shutdown: CancellationToken) -> WorkerReport {
        self.shutdown = shutdown;
        let span = tracing::info_span!("publisher", account = %self.settings.name);
        self.run_loop().instrument(span).await
    }

    async fn run_loop(&mut self) -> WorkerReport {
        tracing::info!(account = %self.settings.name, "publisher started");
        let mut report = WorkerReport::new(&self.settings.name);
        let mut store_trouble = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        report.ending = loop {
            if self.shutdown.is_cancelled() {
                break Ending::Stopped;
            }
            // Read before the step, not after: polling is declared over only once every
            // post the polls queued is committed, so a step that starts after it sees them
            // all, and its `Idle` means the queue really is empty. (Read after the step, a
            // step that looked just before the last commit and found nothing would end the
            // run with that account's posts still queued.)
            let draining = self.drain.is_cancelled();
            match self.under_lease().await {
                LeaseGate::Go => {}
                LeaseGate::Wait => continue,
                LeaseGate::Stop => break Ending::Stopped,
            }
            self.sweep_reviews().await;
            let outcome = match self.try_publish_next().await {
                Ok(outcome) => {
                    store_trouble.reset();
                    outcome
                }
                Err(e) => {
                    let d = store_trouble.next_delay();
                    if let Some(health) = &self.health {
                        health.failed(
                            &format!("publishing for account {}", self.settings.name),
                            &e,
                        );
                    }
                    tracing::error!(
                        account = %self.settings.name,
                        "publisher step failed: {e}; retrying in {}",
                        crate::human::span(d)
                    );
                    if draining && store_trouble.failures() > self.config.once_max_failures {
                        break Ending::StoreTrouble {
                            error: e.to_string(),
                        };
                    }
                    if !self.nap(d).await {
                        break Ending::Stopped;
                    }
                    continue;
                }
            };
            report.record(&outcome);
            if let Some(ending) = self.after_step(outcome, draining).await {
                break ending;
            }
        };
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
        tracing::info!(account = %self.settings.name, ending = %report.ending, "publisher stopped");
        report
    }

    /// Whether the worker may publish now: always without a lease; under one, only while
    /// the lease is held. A lease taken (again) makes a new holder with its fence, which
    /// adopts the posts the account's previous owner left (in flight ones are reconciled
    /// first, as after a restart, because held posts come first). Waits for the lease
    /// otherwise.
    async fn under_lease(&mut self) -> LeaseGate {
        let Some(keeper) = self.lease.as_mut() else {
            return LeaseGate::Go;
        };
        let current = keeper.current();
        if let Some(lease) = &current
            && Some(lease) != self.holder.lease()
        {
            let holder = Holder::leased(lease.clone());
            match adopt(&self.store, self.account_id, &self.settings.name, &holder).await {
                Ok(()) => self.holder = holder,
                Err(e) => {
                    tracing::warn!(account = %self.settings.name, "cannot take over the account's posts: {e}");
                    return if self.nap(Duration::from_secs(1)).await {
                        LeaseGate::Wait
                    } else {
                        LeaseGate::Stop
                    };
                }
            }
        }
        if let Some(lease) = &current
            && keeper.valid(lease)
        {
            return LeaseGate::Go;
        }
        if current.is_none() && self.drain.is_cancelled() && keeper.tried() {
            // `run --once` beside a daemon that owns the account: its publishing is left
            // to that daemon.
            tracing::info!(account = %self.settings.name, "another node owns the account's publishing; this run leaves it to that node");
            return LeaseGate::Stop;
        }
        let shutdown = self.shutdown.clone();
        let drain = self.drain.clone();
        tokio::select! {
            () = shutdown.cancelled() => LeaseGate::Stop,
            () = keeper.changed() => LeaseGate::Wait,
            () = drain.cancelled(), if !drain.is_cancelled() => LeaseGate::Wait,
            () = tokio::time::sleep(Duration::from_millis(200)), if drain.is_cancelled() => LeaseGate::Wait,
        }
    }

    /// Whether the worker may call the API now: without a lease always; under one, only
    /// while the lease its holder carries is still valid by the local clock (see
    /// `publish::lease`). Asked right before every call; says it once per lapse.
    fn lease_valid_here(&mut self) -> bool {
        let Some(keeper) = &self.lease else {
            return true;
        };
        let valid = self.holder.lease().is_some_and(|lease| keeper.valid(lease));
        if valid {
            self.lapse_logged = false;
        } else if !self.lapse_logged {
            self.lapse_logged = true;
            tracing::warn!(
                account = %self.settings.name,
                "the account's lease may have lapsed while this daemon was paused or could not renew it (by the local clock): no call to Threads; the post stays where it is until the lease is held again, here or on another node"
            );
        }
        valid
    }

    /// Waits as the step's outcome asks; `Some` ends the run.
    async fn after_step(&mut self, outcome: Outcome, draining: bool) -> Option<Ending> {
        match outcome {
            Outcome::Published { .. } => {
                if let Some(health) = &self.health {
                    health.ok();
                }
                None
            }
            Outcome::Failed { .. }
            | Outcome::Expired { .. }
            | Outcome::Postponed { .. }
            | Outcome::Dropped { .. }
            | Outcome::Skipped { .. }
            // The lease gate, next, waits for the lease.
            | Outcome::LeaseLapsed => None,
            Outcome::Idle => {
                if self.permalinks_due
                    && let Err(e) = self.backfill_permalinks().await
                {
                    tracing::warn!(account = %self.settings.name, "permalink backfill failed: {e}");
                }
                if draining {
                    return Some(Ending::Idle);
                }
                self.wait_for_work(self.config.idle_recheck, draining).await;
                None
            }
            Outcome::Wait { until, reason } => {
                // A step that met a store failure backs off itself; the daemon's health
                // still hears of it, so /healthz and the outage limit see the publishers'
                // trouble too.
                if let (WaitReason::Store { error, .. }, Some(health)) = (&reason, &self.health) {
                    health.failed(
                        &format!("publishing for account {}", self.settings.name),
                        error,
                    );
                }
                if draining && !self.worth_waiting_when_draining(until, &reason).await {
                    return Some(Ending::of_wait(&reason));
                }
                if reason == WaitReason::NotDue {
                    // The next post may wait for hours (a posting window, a cap): a new
                    // post (a poke) and the store (now and then) must not wait with it.
                    let ahead = until.saturating_duration_since(Instant::now());
                    self.wait_for_work(ahead.min(self.config.idle_recheck), draining)
                        .await;
                } else {
                    self.sleep_until(until, draining).await;
                }
                None
            }
            Outcome::Paused { reason } => {
                if draining {
                    return Some(Ending::Paused { reason });
                }
                // A new token (`auth`) clears the pause; look again from time to time.
                self.wait_for_work(self.config.idle_recheck, draining).await;
                None
            }
            Outcome::Interrupted => Some(Ending::Stopped),
        }
    }

    /// Expire posts that waited for review past their feed's `max_age`, at most once per
    /// `idle_recheck`. A store failure is logged and tried again next time.
    async fn sweep_reviews(&mut self) {
        let due = self
            .reviews_swept
            .is_none_or(|at| at.elapsed() >= self.config.idle_recheck);
        if !due {
            return;
        }
        self.reviews_swept = Some(Instant::now());
        if let Err(e) = self.expire_stale_reviews().await {
            tracing::warn!(account = %self.settings.name, "cannot look at the posts waiting for review: {e}");
        }
    }

    /// `run --once` waits for pacing and short retries, not for a quota reset, an API
    /// that keeps failing, or a post a previous run put off for long.
    async fn worth_waiting_when_draining(&self, until: Instant, reason: &WaitReason) -> bool {
        let wait = until.saturating_duration_since(Instant::now());
        match reason {
            WaitReason::Pacing => {
                // A run that seems to hang is one that waits: say for what.
                tracing::info!(
                    account = %self.settings.name,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "next post for {} in {} (min_interval)",
                    self.settings.name,
                    crate::human::span(wait)
                );
                true
            }
            WaitReason::NotDue => {
                let soon = wait <= ONCE_MAX_NOT_DUE;
                if soon {
                    tracing::info!(
                        account = %self.settings.name,
                        "next post for {} in {} (put off by an earlier attempt)",
                        self.settings.name,
                        crate::human::span(wait)
                    );
                } else {
                    tracing::info!(
                        account = %self.settings.name,
                        "the next post is not due for a while; it stays queued for a later run"
                    );
                }
                soon
            }
            WaitReason::Quota { until_unix } => {
                let left = self
                    .store
                    .outbox_pending(self.account_id)
                    .await
                    .unwrap_or(0);
                tracing::warn!(
                    account = %self.settings.name,
                    resumes_at = %crate::human::when(*until_unix, now_unix()),
                    queued = left,
                    "quota spent; the rest stays queued for a later run"
                );
                false
            }
            WaitReason::Retry { post, error } => {
                if self.retry.failures() > self.config.once_max_failures {
                    tracing::warn!(
                        account = %self.settings.name,
                        post,
                        "giving up for this run after {} failures in a row (last: {error}); the post stays queued",
                        self.retry.failures()
                    );
                    return false;
                }
                true
            }
            WaitReason::Store { .. } => {
                self.store_trouble.failures() <= self.config.once_max_failures
            }
        }
    }

    /// Waits for a poke, at most `at_most`. `draining` is what the step that led here
    /// saw: if it was not draining yet, the start of the drain ends the wait too, so the
    /// worker looks again, now knowing that polling is over.
    async fn wait_for_work(&self, at_most: Duration, draining: bool) {
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = self.poke.notified() => {}
            () = self.drain.cancelled(), if !draining => {}
            () = tokio::time::sleep(at_most) => {}
        }
    }

    /// Sleeps until `until`; like [`Self::wait_for_work`], the start of the drain ends a
    /// wait a non-draining step asked for (a quota window is not worth waiting for then).
    async fn sleep_until(&self, until: Instant, draining: bool) {
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = self.drain.cancelled(), if !draining => {}
            () = tokio::time::sleep_until(until.into()) => {}
        }
    }

    /// Sleeps `d` unless shutdown comes first; false when it did.
    async fn nap(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }
}
