//! [`AccountPublisher`]: the worker that publishes one account's outbox, one post at a
//! time, oldest story first.
//!
//! One step ([`AccountPublisher::try_publish_next`]) takes the account's post in flight if
//! there is one (a crash or a lost answer left it there: it is reconciled first), else the
//! oldest queued post, and carries it as far as it can:
//!
//! 1. drop it as `expired` if the story grew older than its feed's `max_age` while waiting;
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
//! Must not hold SQL (the store's transitions are used) or decide anything about the post's
//! content (composed and validated before it was queued).

use super::backoff::{Backoff, jitter_up};
use super::quota::{Gate, Pacer, Quota};
use super::reconcile::{self, Verdict};
use super::report::{Ending, WorkerReport};
use super::token::{TokenKeeper, TokenState, reauth_advice};
use super::{FeedInfo, PublishConfig, PublishError};
use crate::config::AccountSettings;
use crate::health::StoreHealth;
use crate::store::{OutboxRow, OutboxState, Store, now_unix};
use crate::threads::{ContainerId, ErrorAction, MediaId, ThreadsClient, ThreadsError};
use secrecy::SecretString;
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
    /// The post changed state under us (an operator acted on it); nothing was done.
    Skipped { post: i64 },
    /// Nothing to publish.
    Idle,
    /// Come back at `until`.
    Wait { until: Instant, reason: WaitReason },
    /// The account is paused until a human acts (the reason says how).
    Paused { reason: String },
    /// Shutdown came while waiting inside a step; what was done so far is stored.
    Interrupted,
}

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
}

/// An API call that did not give its answer.
enum CallError {
    /// The API said no; the action says what it means.
    Api(ThreadsError),
    /// The token is dead and the account is now paused.
    Paused(String),
}

/// How a container wait ended.
enum Ready {
    Verdict(Verdict),
    /// The step ends here (interrupted, paused, backing off).
    Stop(Outcome),
}

/// What the step loop does after a container's status was read.
#[derive(Debug)]
enum Next {
    /// Go on to the publish call.
    Proceed,
    /// Go round the loop again with this row (queued for a new container, or turned into
    /// a text post).
    Again(Box<OutboxRow>),
    /// The step ends with this outcome.
    Done(Outcome),
    /// The container is still processing.
    StillProcessing,
}

impl Next {
    /// The outcome of a step that ends here. `fall_back_or_fail` only ever answers
    /// `Again` or `Done`; anything else ends the step without a change, as skipped.
    fn into_outcome(self, post: i64) -> Outcome {
        match self {
            Next::Done(o) => o,
            Next::Proceed | Next::Again(_) | Next::StillProcessing => Outcome::Skipped { post },
        }
    }
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
    quota: Quota,
    pacer: Pacer,
    tokens: TokenKeeper,
    /// Transient failures in a row (any post), and the account-wide hold they impose:
    /// when the API is down, trying the next post instead would only multiply the calls.
    retry: Backoff,
    hold: Option<(Instant, WaitReason)>,
    /// A publish happened since the last permalink backfill.
    permalinks_due: bool,
    /// The quota wake-up already logged, so a long wait is logged once.
    quota_logged: Option<i64>,
    /// Where store failures are reported (the daemon's); `None` when driven by a test.
    health: Option<StoreHealth>,
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
            ),
            retry: Backoff::new(config.retry_base, config.retry_cap),
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
            health: None,
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
                    tracing::error!(account = %self.settings.name, "publisher step failed: {e}; retrying in {d:?}");
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
        tracing::info!(account = %self.settings.name, ending = %report.ending, "publisher stopped");
        report
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
            Outcome::Failed { .. } | Outcome::Expired { .. } | Outcome::Skipped { .. } => None,
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
                if draining && !self.worth_waiting_when_draining(until, &reason).await {
                    return Some(Ending::of_wait(&reason));
                }
                self.sleep_until(until, draining).await;
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

    /// `run --once` waits for pacing and short retries, not for a quota reset, an API
    /// that keeps failing, or a post a previous run put off for long.
    async fn worth_waiting_when_draining(&self, until: Instant, reason: &WaitReason) -> bool {
        match reason {
            WaitReason::Pacing => true,
            WaitReason::NotDue => {
                let soon = until.saturating_duration_since(Instant::now()) <= ONCE_MAX_NOT_DUE;
                if !soon {
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
                    resumes_at = until_unix,
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

    /// One step: the post in flight (reconciled), else the oldest queued post, carried as
    /// far as it goes. Errors are the store's; API failures are outcomes.
    pub async fn try_publish_next(&mut self) -> Result<Outcome, PublishError> {
        let now = now_unix();
        let account = self
            .store
            .account_by_id(self.account_id)
            .await?
            .ok_or_else(|| PublishError::UnknownAccount(self.settings.name.clone()))?;
        if let Some(reason) = account.paused_reason.clone() {
            return Ok(Outcome::Paused { reason });
        }
        if let Some((until, reason)) = self.hold.clone().filter(|(u, _)| *u > Instant::now()) {
            return Ok(Outcome::Wait { until, reason });
        }
        let mut token = match self
            .tokens
            .upkeep(&self.store, &self.client, &account, now)
            .await?
        {
            TokenState::Ready(t) => t,
            TokenState::Paused(reason) => return Ok(Outcome::Paused { reason }),
        };
        let in_flight = self.store.outbox_in_flight(self.account_id).await?;
        let row = match in_flight.into_iter().next() {
            Some(row) => row,
            None => match self.store.outbox_next_queued(self.account_id, now).await? {
                Some(row) => row,
                None => return self.nothing_due(now).await,
            },
        };
        let feed = self.feeds.get(&row.feed_id).cloned();
        let span = tracing::info_span!(
            "post",
            account = %self.settings.name,
            post = row.id,
            feed = %feed.as_ref().map_or("?", |f| f.name.as_str()),
        );
        let outcome = self.carry(row, feed, &mut token).instrument(span).await?;
        if matches!(outcome, Outcome::Published { .. } | Outcome::Failed { .. }) {
            // The API answered: whatever failed before is over.
            self.retry.reset();
            self.hold = None;
        }
        Ok(outcome)
    }

    async fn nothing_due(&mut self, now: i64) -> Result<Outcome, PublishError> {
        match self.store.outbox_next_due_at(self.account_id, now).await? {
            Some(at) => Ok(Outcome::Wait {
                until: instant_at(at, now),
                reason: WaitReason::NotDue,
            }),
            None => Ok(Outcome::Idle),
        }
    }

    /// The publish algorithm for one post (see the module docs).
    async fn carry(
        &mut self,
        mut row: OutboxRow,
        feed: Option<FeedInfo>,
        token: &mut SecretString,
    ) -> Result<Outcome, PublishError> {
        // The container was created in this step: give it time before the first look.
        let mut fresh = false;
        // We know the container is FINISHED and not published: publish without looking again.
        let mut ready = false;
        let mut recreated = false;
        let mut not_ready = 0u32;
        let mut unknown_rounds = 0u32;
        if row.state().is_some_and(OutboxState::in_flight) {
            tracing::info!(
                state = %row.state,
                container = ?row.container_id,
                "reconciling a post left in flight"
            );
        }
        loop {
            match row.state() {
                Some(OutboxState::Queued) => {
                    // A container we are replacing is in flight in the store: that post is
                    // not "waiting", so max_age does not apply to it any more.
                    if row.container_id.is_none()
                        && let Some(done) = self.expire_if_old(&row, feed.as_ref()).await?
                    {
                        return Ok(done);
                    }
                    if let Some(wait) = self.gate(token).await? {
                        return Ok(wait);
                    }
                    let container = match reconcile::container_for(&row) {
                        Ok(c) => c,
                        Err(why) => return self.fail(&row, &why).await,
                    };
                    let created = self
                        .call(token, move |c, t| {
                            let container = container.clone();
                            async move { c.create_container(&t, &container).await }
                        })
                        .await?;
                    let cid = match created {
                        Ok(cid) => cid,
                        Err(CallError::Paused(reason)) => return Ok(Outcome::Paused { reason }),
                        Err(CallError::Api(e)) if e.action() == ErrorAction::Permanent => {
                            let why = format!("Threads refused the container: {e}");
                            match self.fall_back_or_fail(&row, feed.as_ref(), &why).await? {
                                Next::Again(text_row) => {
                                    row = *text_row;
                                    continue;
                                }
                                next => return Ok(next.into_outcome(row.id)),
                            }
                        }
                        Err(CallError::Api(e)) => {
                            return self
                                .defer(&row, &format!("cannot create the container: {e}"))
                                .await;
                        }
                    };
                    let now = now_unix();
                    if !self
                        .store
                        .outbox_container_created(row.id, cid.as_str(), now)
                        .await?
                    {
                        return Ok(Outcome::Skipped { post: row.id });
                    }
                    tracing::info!(container = %cid, media_type = %row.media_type, "container created");
                    row.state = OutboxState::ContainerCreated.as_str().to_string();
                    row.container_id = Some(cid.into_string());
                    row.container_created_at = Some(now);
                    row.publish_started_at = None;
                    fresh = true;
                    ready = false;
                }
                Some(OutboxState::ContainerCreated) => {
                    if row.container_id.is_none() {
                        row.state = OutboxState::Queued.as_str().to_string();
                        continue;
                    }
                    if !ready {
                        let ready_now = self.await_container(&row, fresh, token).await?;
                        let next = match self.settle(&row, feed.as_ref(), ready_now, token).await? {
                            Next::StillProcessing if row.media_type != "TEXT" => {
                                let why = format!(
                                    "container still IN_PROGRESS after {:?}",
                                    self.config.media_ready_timeout
                                );
                                self.fall_back_or_fail(&row, feed.as_ref(), &why).await?
                            }
                            Next::StillProcessing => Next::Done(
                                self.defer(&row, "text container not ready in time").await?,
                            ),
                            next => next,
                        };
                        match next {
                            Next::Proceed => {}
                            Next::Again(r) => {
                                row = *r;
                                continue;
                            }
                            Next::Done(o) => return Ok(o),
                            Next::StillProcessing => unreachable!("handled above"),
                        }
                    }
                    if let Some(wait) = self.gate(token).await? {
                        return Ok(wait);
                    }
                    let now = now_unix();
                    if !self.store.outbox_publishing(row.id, now).await? {
                        return Ok(Outcome::Skipped { post: row.id });
                    }
                    row.state = OutboxState::Publishing.as_str().to_string();
                    row.publish_started_at.get_or_insert(now);
                    fresh = false;
                    ready = true;
                }
                Some(OutboxState::Publishing) => {
                    if !ready {
                        // A publish may have happened: only the container's status can say.
                        let ready_now = self.await_container(&row, false, token).await?;
                        match self.settle(&row, feed.as_ref(), ready_now, token).await? {
                            Next::Proceed => {}
                            Next::Again(r) => {
                                row = *r;
                                continue;
                            }
                            Next::Done(o) => return Ok(o),
                            Next::StillProcessing => {
                                return self
                                    .defer(&row, "container still not ready while reconciling")
                                    .await;
                            }
                        }
                        if let Some(wait) = self.gate(token).await? {
                            return Ok(wait);
                        }
                    }
                    ready = false;
                    let Some(cid) = row.container_id.clone().map(ContainerId::new) else {
                        row.state = OutboxState::Queued.as_str().to_string();
                        continue;
                    };
                    let publish_cid = cid.clone();
                    let published = self
                        .call(token, move |c, t| {
                            let cid = publish_cid.clone();
                            async move { c.publish(&t, &cid).await }
                        })
                        .await?;
                    let err = match published {
                        Ok(media) => return self.record_published(&row, Some(media), None).await,
                        Err(CallError::Paused(reason)) => return Ok(Outcome::Paused { reason }),
                        Err(CallError::Api(e)) => e,
                    };
                    match err.action() {
                        ErrorAction::NotReadyYet => {
                            not_ready += 1;
                            if not_ready <= self.config.not_ready_retries {
                                let d = jitter_up(self.config.not_ready_wait);
                                tracing::info!(
                                    attempt = not_ready,
                                    "container not visible to publish yet (24/4279009); publishing it again in {d:?}"
                                );
                                if !self.nap(d).await {
                                    return Ok(Outcome::Interrupted);
                                }
                                ready = true;
                                continue;
                            }
                            not_ready = 0;
                            // Still not visible: recreate it, but only if it is not PUBLISHED.
                            match self.await_container(&row, false, token).await? {
                                Ready::Stop(o) => return Ok(o),
                                Ready::Verdict(Verdict::Published) => {
                                    return self.record_found(&row, token).await;
                                }
                                Ready::Verdict(Verdict::Failed(msg)) => {
                                    let why = format!("container processing failed: {msg}");
                                    match self.media_failed(&row, feed.as_ref(), &why).await? {
                                        Some(text_row) => {
                                            row = text_row;
                                            continue;
                                        }
                                        None => return self.fail(&row, &why).await,
                                    }
                                }
                                Ready::Verdict(Verdict::Recreate) => {
                                    row.state = OutboxState::Queued.as_str().to_string();
                                    continue;
                                }
                                Ready::Verdict(Verdict::Publish | Verdict::Wait) if !recreated => {
                                    recreated = true;
                                    tracing::warn!(
                                        "container still not visible after {} publishes; creating a new one",
                                        self.config.not_ready_retries + 1
                                    );
                                    row.state = OutboxState::Queued.as_str().to_string();
                                    continue;
                                }
                                Ready::Verdict(_) => {
                                    return self
                                        .defer(
                                            &row,
                                            &format!("container never became visible: {err}"),
                                        )
                                        .await;
                                }
                            }
                        }
                        ErrorAction::OutcomeUnknown => {
                            unknown_rounds += 1;
                            tracing::warn!(
                                "publish outcome unknown ({err}); checking the container before anything else"
                            );
                            if unknown_rounds > self.config.max_unknown_rounds {
                                // Stays `publishing`: the next step reconciles it again.
                                return self
                                    .defer(&row, &format!("publish outcome unknown: {err}"))
                                    .await;
                            }
                            continue;
                        }
                        ErrorAction::QuotaSpent => {
                            let now = now_unix();
                            self.store
                                .outbox_not_published(row.id, &err.to_string(), now)
                                .await?;
                            self.quota.spent_by_api(now);
                            tracing::warn!("Threads says the publishing quota is spent ({err})");
                            return match self.gate(token).await? {
                                Some(wait) => Ok(wait),
                                // Our count disagrees; give the API's window a moment.
                                None => self.defer(&row, &err.to_string()).await,
                            };
                        }
                        ErrorAction::RetryLater | ErrorAction::TokenProblem => {
                            self.store
                                .outbox_not_published(row.id, &err.to_string(), now_unix())
                                .await?;
                            return self
                                .defer(&row, &format!("publish refused for now: {err}"))
                                .await;
                        }
                        ErrorAction::Permanent => {
                            // An EXPIRED or ERROR container also answers like this: ask it.
                            match self.await_container(&row, false, token).await? {
                                Ready::Stop(o) => return Ok(o),
                                Ready::Verdict(Verdict::Published) => {
                                    return self.record_found(&row, token).await;
                                }
                                Ready::Verdict(Verdict::Recreate) => {
                                    row.state = OutboxState::Queued.as_str().to_string();
                                    continue;
                                }
                                Ready::Verdict(Verdict::Failed(msg)) => {
                                    let why = format!("container processing failed: {msg}");
                                    match self.media_failed(&row, feed.as_ref(), &why).await? {
                                        Some(text_row) => {
                                            row = text_row;
                                            continue;
                                        }
                                        None => return self.fail(&row, &why).await,
                                    }
                                }
                                Ready::Verdict(Verdict::Publish | Verdict::Wait) => {
                                    return self
                                        .fail(&row, &format!("Threads refused to publish: {err}"))
                                        .await;
                                }
                            }
                        }
                    }
                }
                _ => return Ok(Outcome::Skipped { post: row.id }),
            }
        }
    }

    /// Polls the container until its status says something other than "not ready", or
    /// the wait for this media type runs out (`Verdict::Wait`).
    async fn await_container(
        &mut self,
        row: &OutboxRow,
        fresh: bool,
        token: &mut SecretString,
    ) -> Result<Ready, PublishError> {
        let Some(cid) = row.container_id.clone().map(ContainerId::new) else {
            return Ok(Ready::Verdict(Verdict::Recreate));
        };
        let media = row.media_type != "TEXT";
        let c = &self.config;
        let (first, mut interval, cap, timeout) = if media {
            (
                c.media_first_wait,
                c.media_poll,
                c.media_poll,
                c.media_ready_timeout,
            )
        } else {
            (
                c.text_first_wait,
                c.text_poll,
                c.text_poll_cap,
                c.text_ready_timeout,
            )
        };
        if fresh && !self.nap(jitter_up(first)).await {
            return Ok(Ready::Stop(Outcome::Interrupted));
        }
        let started = Instant::now();
        loop {
            let status_cid = cid.clone();
            let answer = self
                .call(token, move |c, t| {
                    let cid = status_cid.clone();
                    async move { c.container_status(&t, &cid).await }
                })
                .await?;
            match answer {
                Ok(s) => {
                    let v = reconcile::verdict(&s.status, s.error_message.as_deref());
                    if v != Verdict::Wait {
                        return Ok(Ready::Verdict(v));
                    }
                    tracing::debug!(status = %s.status.as_str(), "container not ready yet");
                }
                Err(CallError::Paused(reason)) => {
                    return Ok(Ready::Stop(Outcome::Paused { reason }));
                }
                Err(CallError::Api(e)) => {
                    let why = format!("cannot read the container's status: {e}");
                    return Ok(Ready::Stop(self.defer(row, &why).await?));
                }
            }
            if started.elapsed() >= timeout {
                return Ok(Ready::Verdict(Verdict::Wait));
            }
            if !self.nap(jitter_up(interval)).await {
                return Ok(Ready::Stop(Outcome::Interrupted));
            }
            interval = interval.saturating_mul(2).min(cap);
        }
    }

    /// Pacing and quota. `Some` is the outcome to return instead of publishing now.
    async fn gate(&mut self, token: &mut SecretString) -> Result<Option<Outcome>, PublishError> {
        if let Some(until) = self.pacer.wait_until() {
            return Ok(Some(Outcome::Wait {
                until,
                reason: WaitReason::Pacing,
            }));
        }
        let now = now_unix();
        if self.quota.needs_refresh() {
            match self
                .call(token, |c, t| async move { c.publishing_limit(&t).await })
                .await?
            {
                Ok(limit) => {
                    self.quota.set_remote(&limit, now);
                    self.store
                        .set_quota(
                            self.account_id,
                            i64::from(limit.quota_usage),
                            i64::from(limit.quota_total),
                            i64::try_from(limit.quota_duration).unwrap_or(i64::MAX),
                            now,
                        )
                        .await?;
                    tracing::debug!(
                        account = %self.settings.name,
                        usage = limit.quota_usage,
                        total = limit.quota_total,
                        "publishing limit read"
                    );
                }
                Err(CallError::Paused(reason)) => return Ok(Some(Outcome::Paused { reason })),
                Err(CallError::Api(e)) => {
                    tracing::warn!(
                        account = %self.settings.name,
                        "cannot read the publishing limit ({e}); counting on our own ledger"
                    );
                    self.quota.refresh_failed();
                }
            }
        }
        let ledger = self
            .store
            .published_times(self.account_id, now - self.quota.ledger_window())
            .await?;
        match self.quota.check(now, &ledger) {
            Gate::Open { remaining } => {
                crate::metrics::set_quota_remaining(
                    &self.settings.name,
                    u64::try_from(remaining).unwrap_or(0),
                );
                self.quota_logged = None;
                Ok(None)
            }
            Gate::Closed {
                until,
                used,
                limit,
                why,
            } => {
                if self.quota_logged != Some(until) {
                    tracing::info!(
                        account = %self.settings.name,
                        used,
                        limit,
                        resumes_at = until,
                        "{why} spent; waiting until the oldest publish leaves the window"
                    );
                    self.quota_logged = Some(until);
                }
                Ok(Some(Outcome::Wait {
                    until: instant_at(until, now),
                    reason: WaitReason::Quota { until_unix: until },
                }))
            }
        }
    }

    /// An API call with the token-problem rule: one refresh (or the newly stored token),
    /// then once more; a second rejection pauses the account. The outer `Result` is the
    /// store's.
    async fn call<T, F, Fut>(
        &mut self,
        token: &mut SecretString,
        f: F,
    ) -> Result<Result<T, CallError>, PublishError>
    where
        F: Fn(ThreadsClient, SecretString) -> Fut,
        Fut: Future<Output = Result<T, ThreadsError>>,
    {
        let err = match f(self.client.clone(), token.clone()).await {
            Ok(v) => return Ok(Ok(v)),
            Err(e) => {
                crate::metrics::record_threads_error(&e);
                if e.action() != ErrorAction::TokenProblem {
                    return Ok(Err(CallError::Api(e)));
                }
                e
            }
        };
        match self
            .tokens
            .recover(
                &self.store,
                &self.client,
                token,
                &err.to_string(),
                now_unix(),
            )
            .await?
        {
            TokenState::Ready(new) => *token = new,
            TokenState::Paused(reason) => return Ok(Err(CallError::Paused(reason))),
        }
        match f(self.client.clone(), token.clone()).await {
            Ok(v) => Ok(Ok(v)),
            Err(e) if e.action() == ErrorAction::TokenProblem => {
                let reason = format!(
                    "Threads rejects the access token even after a refresh ({e}); {}",
                    reauth_advice(&self.settings.name)
                );
                match self.tokens.pause(&self.store, reason, now_unix()).await? {
                    TokenState::Paused(reason) => Ok(Err(CallError::Paused(reason))),
                    TokenState::Ready(_) => Ok(Err(CallError::Api(e))),
                }
            }
            Err(e) => Ok(Err(CallError::Api(e))),
        }
    }

    /// Act on what a container's status says, the same way wherever the step loop asks.
    /// A container still processing is left to the caller: what that means differs
    /// between a fresh container and a publish being reconciled.
    async fn settle(
        &mut self,
        row: &OutboxRow,
        feed: Option<&FeedInfo>,
        ready: Ready,
        token: &mut SecretString,
    ) -> Result<Next, PublishError> {
        match ready {
            Ready::Stop(o) => Ok(Next::Done(o)),
            Ready::Verdict(Verdict::Publish) => Ok(Next::Proceed),
            Ready::Verdict(Verdict::Published) => {
                Ok(Next::Done(self.record_found(row, token).await?))
            }
            Ready::Verdict(Verdict::Recreate) => {
                tracing::info!("container expired unpublished; creating a new one");
                let mut again = row.clone();
                again.state = OutboxState::Queued.as_str().to_string();
                Ok(Next::Again(Box::new(again)))
            }
            Ready::Verdict(Verdict::Failed(msg)) => {
                let why = format!("container processing failed: {msg}");
                self.fall_back_or_fail(row, feed, &why).await
            }
            Ready::Verdict(Verdict::Wait) => Ok(Next::StillProcessing),
        }
    }

    /// A media container that cannot become a post: retry as a text post where the feed
    /// allows it, else fail the post.
    async fn fall_back_or_fail(
        &mut self,
        row: &OutboxRow,
        feed: Option<&FeedInfo>,
        why: &str,
    ) -> Result<Next, PublishError> {
        Ok(match self.media_failed(row, feed, why).await? {
            Some(text_row) => Next::Again(Box::new(text_row)),
            None => Next::Done(self.fail(row, why).await?),
        })
    }

    /// The container is PUBLISHED: find the post among the account's recent ones and record
    /// it. Not finding it does not make it unpublished: it is recorded without a media id.
    async fn record_found(
        &mut self,
        row: &OutboxRow,
        token: &mut SecretString,
    ) -> Result<Outcome, PublishError> {
        let since = reconcile::search_since(row, self.config.search_slack);
        let listed = self
            .call(token, move |c, t| async move {
                c.recent_posts(&t, since, 100).await
            })
            .await?;
        match listed {
            Ok(list) => match reconcile::find_post(&list.posts, row, since) {
                Some(post) => {
                    tracing::info!(media_id = %post.id, "the lost publish did succeed; found the post");
                    let media = post.id.clone();
                    let permalink = post.permalink.clone();
                    self.record_published(row, Some(media), permalink).await
                }
                None => {
                    tracing::warn!(
                        complete = list.complete,
                        "the container is PUBLISHED but the post is not among the recent ones; recorded as published without a media id"
                    );
                    self.record_published(row, None, None).await
                }
            },
            Err(CallError::Api(e)) => {
                tracing::warn!(
                    "the container is PUBLISHED; cannot list recent posts to find it ({e}); recorded as published without a media id"
                );
                self.record_published(row, None, None).await
            }
            Err(CallError::Paused(_)) => self.record_published(row, None, None).await,
        }
    }

    async fn record_published(
        &mut self,
        row: &OutboxRow,
        media: Option<MediaId>,
        permalink: Option<String>,
    ) -> Result<Outcome, PublishError> {
        let now = now_unix();
        let media_id = media.map(MediaId::into_string);
        let stored = self
            .store
            .outbox_published(row.id, media_id.as_deref(), permalink.as_deref(), now)
            .await?;
        self.pacer.published();
        if !stored {
            // Published, but an operator changed the row meanwhile: say so, loudly.
            tracing::error!(media_id = ?media_id, "post published but its outbox row changed state meanwhile");
            return Ok(Outcome::Skipped { post: row.id });
        }
        if permalink.is_none() && media_id.is_some() {
            self.permalinks_due = true;
        }
        tracing::info!(media_id = ?media_id, "published");
        crate::metrics::record_published(&self.settings.name);
        if let Some(created) = row.container_created_at {
            let secs = u64::try_from(now - created).unwrap_or(0);
            crate::metrics::record_publish_duration(&self.settings.name, Duration::from_secs(secs));
        }
        Ok(Outcome::Published {
            post: row.id,
            media_id,
        })
    }

    async fn fail(&mut self, row: &OutboxRow, reason: &str) -> Result<Outcome, PublishError> {
        if self.store.outbox_failed(row.id, reason, now_unix()).await? {
            tracing::error!("post failed: {reason}");
            // The reason text is free-form; the label stays bounded.
            crate::metrics::record_publish_failed(&self.settings.name, "permanent");
            Ok(Outcome::Failed {
                post: row.id,
                reason: reason.to_string(),
            })
        } else {
            Ok(Outcome::Skipped { post: row.id })
        }
    }

    /// A transient failure: note it on the post and hold the account back (capped
    /// exponential backoff with jitter).
    async fn defer(&mut self, row: &OutboxRow, error: &str) -> Result<Outcome, PublishError> {
        let d = self.retry.next_delay();
        let now = now_unix();
        // Rounded down, so the post is due again no later than the hold ends.
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        self.store
            .outbox_defer(row.id, error, now.saturating_add(secs), now)
            .await?;
        let until = Instant::now() + d;
        let reason = WaitReason::Retry {
            post: row.id,
            error: error.to_string(),
        };
        self.hold = Some((until, reason.clone()));
        tracing::warn!(
            retry_in_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            failures = self.retry.failures(),
            "{error}"
        );
        Ok(Outcome::Wait { until, reason })
    }

    /// Drop a queued post whose story is older than its feed's `max_age`.
    async fn expire_if_old(
        &mut self,
        row: &OutboxRow,
        feed: Option<&FeedInfo>,
    ) -> Result<Option<Outcome>, PublishError> {
        let Some(max_age) = feed.and_then(|f| f.max_age) else {
            return Ok(None);
        };
        let now = now_unix();
        // Undated items age from when we queued them.
        let born = row.item_date.unwrap_or(row.created_at);
        let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(born) <= max {
            return Ok(None);
        }
        let reason = format!(
            "the story is older than max_age ({}) and was not published",
            humantime::format_duration(max_age)
        );
        if self.store.outbox_expired(row.id, &reason, now).await? {
            tracing::warn!("dropped: {reason}");
            return Ok(Some(Outcome::Expired { post: row.id }));
        }
        Ok(Some(Outcome::Skipped { post: row.id }))
    }

    /// An IMAGE post whose container failed: turn it into the text post of the same story
    /// (unless the feed says `image_fallback = "none"`). Returns the changed row.
    async fn media_failed(
        &mut self,
        row: &OutboxRow,
        feed: Option<&FeedInfo>,
        why: &str,
    ) -> Result<Option<OutboxRow>, PublishError> {
        if row.media_type != "IMAGE" || !feed.is_none_or(|f| f.image_fallback) {
            return Ok(None);
        }
        let link = match reconcile::fallback_link(&row.text) {
            Some(l) => Some(l),
            None => self
                .store
                .outbox_item_link(row.id)
                .await?
                .filter(|l| l.starts_with("http://") || l.starts_with("https://")),
        };
        let note = format!("{why}; fell back to a text post");
        if !self
            .store
            .outbox_fallback_to_text(row.id, link.as_deref(), &note, now_unix())
            .await?
        {
            return Ok(None);
        }
        tracing::warn!(
            image_url = ?row.image_url,
            "{why}; publishing the text-only version of the story instead"
        );
        Ok(self.store.outbox_by_id(row.id).await?)
    }

    /// Fill in the permalinks of recent publishes with one listing of the account's posts,
    /// instead of one lookup per post: the publish answer carries only the media id.
    pub async fn backfill_permalinks(&mut self) -> Result<usize, PublishError> {
        self.permalinks_due = false;
        let now = now_unix();
        let missing = self
            .store
            .outbox_missing_permalinks(self.account_id, now - 86_400)
            .await?;
        let Some(oldest) = missing.iter().map(|(_, _, at)| *at).min() else {
            return Ok(0);
        };
        let Some(account) = self.store.account_by_id(self.account_id).await? else {
            return Ok(0);
        };
        let Some(token) = account.token().filter(|_| account.paused_reason.is_none()) else {
            return Ok(0);
        };
        let slack = i64::try_from(self.config.search_slack.as_secs()).unwrap_or(0);
        let since = chrono::DateTime::from_timestamp(oldest - slack, 0).unwrap_or_default();
        let list = match self.client.recent_posts(&token, since, 100).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(account = %self.settings.name, "cannot list recent posts for permalinks: {e}");
                return Ok(0);
            }
        };
        let links: HashMap<&str, &str> = list
            .posts
            .iter()
            .filter_map(|p| Some((p.id.as_str(), p.permalink.as_deref()?)))
            .collect();
        let mut filled = 0;
        for (id, media, _) in &missing {
            if let Some(link) = links.get(media.as_str()) {
                self.store.outbox_set_permalink(*id, link).await?;
                filled += 1;
            }
        }
        tracing::debug!(account = %self.settings.name, filled, "permalinks backfilled");
        Ok(filled)
    }
}

/// The `Instant` of unix time `at`, as seen from unix time `now`.
fn instant_at(at: i64, now: i64) -> Instant {
    let ahead = Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0));
    Instant::now() + ahead
}
