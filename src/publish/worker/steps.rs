//! The step machine: how one post goes from queued (or wherever a crash left it) to
//! published, one [`Step`] at a time.
//!
//! ```text
//!   Create ──► Check(Ready) ──► MarkPublishing ──► Publish ──► published
//!     ▲            │  ▲                               │
//!     └─ expired,  │  └──────── Check(LostAnswer) ◄───┤ outcome unknown
//!        never     │           Check(NeverVisible) ◄──┤ 24/4279009, retries spent
//!        visible ──┘           Check(Refused) ◄───────┘ refused for good
//! ```
//!
//! Each step is one method; each ends in the next step or an [`Outcome`]. Whatever a
//! container's status says is acted on in one place, [`AccountPublisher::settle`], and what
//! FINISHED or IN_PROGRESS mean there depends on why the status was read ([`Asking`]).
//!
//! A reply (an outbox row with `reply_to`: the first reply of a `link_in = "reply"` post,
//! queued when that post was recorded published) goes through the same steps, so a reply
//! whose publish answer was lost is looked up before it is ever published again. What
//! differs is decided at [`Step::Create`]: a reply is part of a post already out, so no
//! `max_age`, window or cap holds it and pacing does not delay it (the quota and the reply
//! quota do); its container names the post's media id (`reply_to_id`); and a lost answer
//! is looked up among the account's replies rather than its posts.
//!
//! The guarantees: a transition is committed before the network call that depends on it
//! (the container id before anything uses it, `publishing` before `threads_publish`); a
//! publish whose outcome is unknown is reconciled (container status, then the account's
//! recent posts) before anything else; a container that may be published is never
//! published again. A store failure ends the step (whatever was committed stands, and the
//! next step starts again from the store) as a [`WaitReason::Store`] wait, logged with the
//! post, the account and the step.
//!
//! Must not hold SQL or sleep outside the waits the publish algorithm asks for.

use super::calls::{CallError, Ready};
use super::records::instant_at;
use super::{AccountPublisher, Outcome, WaitReason};
use crate::publish::backoff::jitter_up;
use crate::publish::reconcile::{self, Verdict};
use crate::publish::token::TokenState;
use crate::publish::{FeedInfo, PublishError};
use crate::store::{Claimed, Held, MediaType, OutboxRow, OutboxState, now_unix};
use crate::threads::{ContainerId, ErrorAction, ThreadsError};
use secrecy::SecretString;
use std::fmt;
use std::time::Instant;
use tracing::Instrument;

/// Where a post is in its publish, as this worker carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// The post has no container we may use: max_age, posting windows and caps (a post
    /// that never had one), pacing and quota, then a new container, stored before anything
    /// uses it.
    Create,
    /// Read the container's status (polling while it processes) and act on it.
    Check(Asking),
    /// The container is FINISHED and certainly unpublished: pacing and quota, then
    /// `publishing` stored.
    MarkPublishing,
    /// `publishing` is stored: call `threads_publish`, and act on its answer.
    Publish,
}

/// Why a container's status is read; decides what FINISHED and IN_PROGRESS mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Asking {
    /// Is it ready? Just created (`fresh`: give it time before the first look), or found
    /// `container_created`.
    Ready { fresh: bool },
    /// `publishing` with no recorded answer (a crash, a lost answer, code 10): the
    /// publish may have happened.
    LostAnswer,
    /// Publishing it kept answering "not visible yet" (`error`).
    NeverVisible { error: String },
    /// Threads refused to publish it (`error`); an EXPIRED or ERROR container answers so.
    Refused { error: String },
}

impl Step {
    /// Where a held post starts, from what the store says of it. `None`: nothing to do.
    fn first(row: &OutboxRow) -> Option<Step> {
        let has_container = row.container_id.is_some();
        match row.state {
            OutboxState::Queued => Some(Step::Create),
            OutboxState::ContainerCreated | OutboxState::Publishing if !has_container => {
                Some(Step::Create)
            }
            OutboxState::ContainerCreated => Some(Step::Check(Asking::Ready { fresh: false })),
            OutboxState::Publishing => Some(Step::Check(Asking::LostAnswer)),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    /// What the step is doing, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Step::Create => "creating the container",
            Step::Check(Asking::Ready { .. }) => "waiting for the container",
            Step::Check(Asking::LostAnswer) => "reconciling a publish of unknown outcome",
            Step::Check(Asking::NeverVisible { .. }) => "checking a container never visible",
            Step::Check(Asking::Refused { .. }) => "checking a refused container",
            Step::MarkPublishing => "marking the post publishing",
            Step::Publish => "publishing",
        })
    }
}

/// What a step leads to.
#[derive(Debug)]
pub(super) enum Next {
    Go(Step),
    Done(Outcome),
}

/// One post being carried: the store's hold on it and what this step learnt so far.
pub(super) struct Trip {
    pub(super) held: Held,
    pub(super) feed: Option<FeedInfo>,
    pub(super) token: SecretString,
    /// 24/4279009 answers in a row on this container.
    not_ready: u32,
    /// Publishes of unknown outcome in a row.
    unknown_rounds: u32,
    /// A never-visible container was already replaced once in this step.
    recreated: bool,
}

impl Trip {
    pub(super) fn row(&self) -> &OutboxRow {
        &self.held.row
    }

    pub(super) fn post(&self) -> i64 {
        self.held.row.id
    }

    /// A reply to a published post (see the module docs).
    pub(super) fn is_reply(&self) -> bool {
        self.held.row.options.reply_to.is_some()
    }
}

/// A store failure, and what was being done when it came.
struct Stuck {
    doing: String,
    post: Option<i64>,
    error: PublishError,
}

impl Stuck {
    fn before_a_post<E: Into<PublishError>>(doing: &str) -> impl FnOnce(E) -> Stuck {
        move |error| Stuck {
            doing: doing.to_string(),
            post: None,
            error: error.into(),
        }
    }
}

/// What the step found to work on.
enum Pick {
    Post(Box<Held>),
    /// Another worker claimed the chosen post first.
    Taken(i64),
    Nothing,
}

impl AccountPublisher {
    /// One step: the post this worker holds (reconciled if in flight), else the oldest
    /// queued post nobody holds, claimed and carried as far as it goes. API failures and
    /// store failures are outcomes; the error is for what no retry mends (an account
    /// missing from the store).
    pub async fn try_publish_next(&mut self) -> Result<Outcome, PublishError> {
        let outcome = match self.step().await {
            Ok(o) => {
                // Not when it is the store's own hold coming back: the store has not
                // answered since.
                if !matches!(
                    o,
                    Outcome::Wait {
                        reason: WaitReason::Store { .. },
                        ..
                    }
                ) {
                    self.store_trouble.reset();
                }
                o
            }
            Err(Stuck {
                doing,
                post,
                error: PublishError::Store(e),
            }) => self.store_trouble(&doing, post, &e),
            Err(stuck) => return Err(stuck.error),
        };
        if matches!(outcome, Outcome::Published { .. } | Outcome::Failed { .. }) {
            // The API answered: whatever failed before is over.
            self.retry.reset();
            self.hold = None;
        }
        Ok(outcome)
    }

    async fn step(&mut self) -> Result<Outcome, Stuck> {
        let now = now_unix();
        let account = self
            .store
            .account_by_id(self.account_id)
            .await
            .map_err(Stuck::before_a_post("reading the account"))?
            .ok_or_else(|| PublishError::UnknownAccount(self.settings.name.clone()))
            .map_err(Stuck::before_a_post("reading the account"))?;
        if let Some(reason) = account.paused_reason.clone() {
            return Ok(Outcome::Paused { reason });
        }
        if let Some((until, reason)) = self.hold.clone().filter(|(u, _)| *u > Instant::now()) {
            return Ok(Outcome::Wait { until, reason });
        }
        let token = match self
            .tokens
            .upkeep(&self.store, &self.client, &account, now)
            .await
            .map_err(Stuck::before_a_post("looking after the token"))?
        {
            TokenState::Ready(t) => t,
            TokenState::Paused(reason) => return Ok(Outcome::Paused { reason }),
        };
        let held = match self
            .pick(now)
            .await
            .map_err(Stuck::before_a_post("choosing the next post"))?
        {
            Pick::Post(held) => *held,
            Pick::Taken(post) => return Ok(Outcome::Skipped { post }),
            Pick::Nothing => {
                return self
                    .nothing_due(now)
                    .await
                    .map_err(Stuck::before_a_post("looking for the next due post"));
            }
        };
        let feed = self.feeds.get(&held.row.feed_id).cloned();
        let span = tracing::info_span!(
            "post",
            account = %self.settings.name,
            post = held.row.id,
            feed = %feed.as_ref().map_or("?", |f| f.name.as_str()),
        );
        let trip = Trip {
            held,
            feed,
            token,
            not_ready: 0,
            unknown_rounds: 0,
            recreated: false,
        };
        self.carry(trip).instrument(span).await
    }

    /// The post this worker holds, else the oldest queued post nobody holds, claimed.
    async fn pick(&mut self, now: i64) -> Result<Pick, PublishError> {
        if let Some(held) = self
            .store
            .outbox_held(self.account_id, &self.holder)
            .await?
        {
            return Ok(Pick::Post(Box::new(held)));
        }
        let Some(row) = self.store.outbox_next_queued(self.account_id, now).await? else {
            return Ok(Pick::Nothing);
        };
        Ok(
            match self.store.outbox_claim(row.id, &self.holder, now).await? {
                Claimed::Won(held) => Pick::Post(held),
                Claimed::Stale => Pick::Taken(row.id),
            },
        )
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

    /// The publish algorithm for one post (see the module docs): step after step until
    /// one ends in an outcome.
    async fn carry(&mut self, mut trip: Trip) -> Result<Outcome, Stuck> {
        let Some(mut step) = Step::first(trip.row()) else {
            return Ok(Outcome::Skipped { post: trip.post() });
        };
        if trip.row().state.in_flight() {
            tracing::info!(
                state = %trip.row().state,
                container = trip.row().container_id.as_deref().unwrap_or("-"),
                "reconciling a post left in flight"
            );
        }
        loop {
            let next = match &step {
                Step::Create => self.create(&mut trip).await,
                Step::Check(asking) => self.check(&mut trip, asking.clone()).await,
                Step::MarkPublishing => self.mark_publishing(&mut trip).await,
                Step::Publish => self.publish(&mut trip).await,
            };
            match next {
                Ok(Next::Go(s)) => step = s,
                Ok(Next::Done(outcome)) => return Ok(outcome),
                Err(error) => {
                    return Err(Stuck {
                        doing: step.to_string(),
                        post: Some(trip.post()),
                        error,
                    });
                }
            }
        }
    }

    /// [`Step::Create`].
    async fn create(&mut self, trip: &mut Trip) -> Result<Next, PublishError> {
        // A post replacing a container is in flight, not waiting: max_age, windows and
        // caps no longer apply to it. Nor to a reply: its post is out already.
        if trip.row().container_id.is_none() && !trip.is_reply() {
            if let Some(done) = self.expire_if_old(trip).await? {
                return Ok(Next::Done(done));
            }
            if let Some(done) = self.editorial_gate(trip).await? {
                return Ok(Next::Done(done));
            }
        }
        // A correction a newer headline superseded while it waited does not start.
        if trip.row().container_id.is_none()
            && trip.is_reply()
            && let Some(done) = self.drop_if_superseded(trip).await?
        {
            return Ok(Next::Done(done));
        }
        if let Some(wait) = self.gate_for(trip).await? {
            return Ok(Next::Done(wait));
        }
        let reply_to = match self.reply_target(trip).await? {
            Ok(media) => media,
            Err(why) => return Ok(Next::Done(self.fail(trip, &why).await?)),
        };
        let container = match reconcile::container_for(trip.row(), reply_to.as_deref()) {
            Ok(c) => c,
            Err(why) => return Ok(Next::Done(self.fail(trip, &why).await?)),
        };
        let created = self
            .call(&mut trip.token, move |c, t| {
                let container = container.clone();
                async move { c.create_container(&t, &container).await }
            })
            .await?;
        let cid = match created {
            Ok(cid) => cid,
            Err(CallError::Paused(reason)) => return Ok(Next::Done(Outcome::Paused { reason })),
            Err(CallError::LeaseLapsed) => return Ok(Next::Done(Outcome::LeaseLapsed)),
            Err(CallError::Api(e)) if e.action() == ErrorAction::Permanent => {
                let why = format!("Threads refused the container: {e}");
                return self.fall_back_or_fail(trip, &why).await;
            }
            Err(CallError::Api(e)) => {
                let why = format!("cannot create the container: {e}");
                return Ok(Next::Done(self.defer(trip, &why).await?));
            }
        };
        let now = now_unix();
        let stored = self
            .store
            .outbox_container_created(&trip.held.claim, cid.as_str(), now)
            .await?;
        if stored.is_stale() {
            return Ok(Next::Done(Outcome::Skipped { post: trip.post() }));
        }
        tracing::info!(container = %cid, media_type = %trip.row().media_type, "container created");
        let row = &mut trip.held.row;
        row.state = OutboxState::ContainerCreated;
        row.container_id = Some(cid.into_string());
        row.container_created_at = Some(now);
        row.publish_started_at = None;
        Ok(Next::Go(Step::Check(Asking::Ready { fresh: true })))
    }

    /// [`Step::Check`].
    async fn check(&mut self, trip: &mut Trip, asking: Asking) -> Result<Next, PublishError> {
        let fresh = asking == Asking::Ready { fresh: true };
        match self.await_container(trip, fresh).await? {
            Ready::Stop(outcome) => Ok(Next::Done(outcome)),
            Ready::Verdict(verdict) => self.settle(trip, verdict, asking).await,
        }
    }

    /// Act on what a container's status says: the one place that does, wherever the
    /// status was read. `asking` decides what FINISHED and IN_PROGRESS mean.
    async fn settle(
        &mut self,
        trip: &mut Trip,
        verdict: Verdict,
        asking: Asking,
    ) -> Result<Next, PublishError> {
        match verdict {
            Verdict::Published => Ok(Next::Done(self.record_found(trip).await?)),
            Verdict::Recreate => {
                tracing::info!("container expired unpublished; creating a new one");
                Ok(Next::Go(Step::Create))
            }
            Verdict::Failed(msg) => {
                let why = format!("container processing failed: {msg}");
                self.fall_back_or_fail(trip, &why).await
            }
            Verdict::Publish | Verdict::Wait => {
                let finished = verdict == Verdict::Publish;
                match asking {
                    Asking::Ready { .. } | Asking::LostAnswer if finished => {
                        Ok(Next::Go(Step::MarkPublishing))
                    }
                    Asking::Ready { .. } if trip.row().media_type != MediaType::Text => {
                        let why = format!(
                            "container still IN_PROGRESS after {}",
                            humantime::format_duration(self.config.media_ready_timeout)
                        );
                        self.fall_back_or_fail(trip, &why).await
                    }
                    Asking::Ready { .. } => {
                        let why = "text container not ready in time";
                        Ok(Next::Done(self.defer(trip, why).await?))
                    }
                    Asking::LostAnswer => {
                        let why = "container still not ready while reconciling";
                        Ok(Next::Done(self.defer(trip, why).await?))
                    }
                    // Not PUBLISHED: a new container is safe, once.
                    Asking::NeverVisible { .. } if !trip.recreated => {
                        trip.recreated = true;
                        tracing::warn!(
                            "container still not visible after {} publishes; creating a new one",
                            self.config.not_ready_retries + 1
                        );
                        Ok(Next::Go(Step::Create))
                    }
                    Asking::NeverVisible { error } => {
                        let why = format!("container never became visible: {error}");
                        Ok(Next::Done(self.defer(trip, &why).await?))
                    }
                    Asking::Refused { error } => {
                        let why = format!("Threads refused to publish: {error}");
                        Ok(Next::Done(self.fail(trip, &why).await?))
                    }
                }
            }
        }
    }

    /// A media container that cannot become a post: on as the text post of the same story
    /// where the feed allows it, else fail the post.
    async fn fall_back_or_fail(
        &mut self,
        trip: &mut Trip,
        why: &str,
    ) -> Result<Next, PublishError> {
        match self.media_failed(trip, why).await? {
            Some(text_row) => {
                trip.held.row = text_row;
                Ok(Next::Go(Step::Create))
            }
            None => Ok(Next::Done(self.fail(trip, why).await?)),
        }
    }

    /// [`Step::MarkPublishing`]: committed before the publish call, so that from now on the
    /// post is reconciled, never published blindly.
    async fn mark_publishing(&mut self, trip: &mut Trip) -> Result<Next, PublishError> {
        if let Some(wait) = self.gate_for(trip).await? {
            return Ok(Next::Done(wait));
        }
        let now = now_unix();
        let stored = self.store.outbox_publishing(&trip.held.claim, now).await?;
        if stored.is_stale() {
            return Ok(Next::Done(Outcome::Skipped { post: trip.post() }));
        }
        let row = &mut trip.held.row;
        row.state = OutboxState::Publishing;
        row.publish_started_at.get_or_insert(now);
        Ok(Next::Go(Step::Publish))
    }

    /// [`Step::Publish`]: the one call that is not idempotent.
    async fn publish(&mut self, trip: &mut Trip) -> Result<Next, PublishError> {
        let Some(cid) = trip.row().container_id.clone().map(ContainerId::new) else {
            return Ok(Next::Go(Step::Create));
        };
        let published = self
            .call(&mut trip.token, move |c, t| {
                let cid = cid.clone();
                async move { c.publish(&t, &cid).await }
            })
            .await?;
        let err = match published {
            Ok(media) => {
                return Ok(Next::Done(
                    self.record_published(trip, Some(media), None).await?,
                ));
            }
            Err(CallError::Paused(reason)) => return Ok(Next::Done(Outcome::Paused { reason })),
            // Stays `publishing`: reconciled before anything else by the next owner.
            Err(CallError::LeaseLapsed) => return Ok(Next::Done(Outcome::LeaseLapsed)),
            Err(CallError::Api(e)) => e,
        };
        self.publish_refused(trip, &err).await
    }

    /// What a publish that did not answer with a media id leads to, by what its error
    /// means: publish the same container again, reconcile, wait, or ask the container.
    async fn publish_refused(
        &mut self,
        trip: &mut Trip,
        err: &ThreadsError,
    ) -> Result<Next, PublishError> {
        let error = err.to_string();
        match err.action() {
            ErrorAction::NotReadyYet => {
                trip.not_ready += 1;
                if trip.not_ready > self.config.not_ready_retries {
                    // Still not visible: its status decides whether a new one is safe.
                    trip.not_ready = 0;
                    return Ok(Next::Go(Step::Check(Asking::NeverVisible { error })));
                }
                let d = jitter_up(self.config.not_ready_wait);
                tracing::info!(
                    attempt = trip.not_ready,
                    "container not visible to publish yet (24/4279009); publishing it again in {}",
                    crate::human::span(d)
                );
                if !self.nap(d).await {
                    return Ok(Next::Done(Outcome::Interrupted));
                }
                Ok(Next::Go(Step::Publish))
            }
            ErrorAction::OutcomeUnknown => {
                trip.unknown_rounds += 1;
                tracing::warn!(
                    "publish outcome unknown ({error}); checking the container before anything else"
                );
                if trip.unknown_rounds > self.config.max_unknown_rounds {
                    // Stays `publishing`: the next step reconciles it again.
                    let why = format!("publish outcome unknown: {error}");
                    return Ok(Next::Done(self.defer(trip, &why).await?));
                }
                Ok(Next::Go(Step::Check(Asking::LostAnswer)))
            }
            ErrorAction::QuotaSpent => {
                let now = now_unix();
                if self.not_published(trip, &error, now).await?.is_stale() {
                    return Ok(Next::Done(Outcome::Skipped { post: trip.post() }));
                }
                self.quota.spent_by_api(now);
                tracing::warn!("Threads says the publishing quota is spent ({error})");
                Ok(Next::Done(match self.gate_for(trip).await? {
                    Some(wait) => wait,
                    // Our count disagrees; give the API's window a moment.
                    None => self.defer(trip, &error).await?,
                }))
            }
            ErrorAction::RetryLater | ErrorAction::TokenProblem => {
                if self
                    .not_published(trip, &error, now_unix())
                    .await?
                    .is_stale()
                {
                    return Ok(Next::Done(Outcome::Skipped { post: trip.post() }));
                }
                let why = format!("publish refused for now: {error}");
                Ok(Next::Done(self.defer(trip, &why).await?))
            }
            ErrorAction::Permanent => Ok(Next::Go(Step::Check(Asking::Refused { error }))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MediaType;

    fn row(state: OutboxState, container: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 7,
            account_id: 1,
            item_id: 1,
            feed_id: 1,
            state,
            text: "Hello".into(),
            link_attachment: None,
            topic_tag: None,
            media_type: MediaType::Text,
            image_url: None,
            alt_text: None,
            reply_control: None,
            container_id: container.map(str::to_string),
            container_created_at: None,
            publish_started_at: None,
            media_id: None,
            permalink: None,
            attempts: 0,
            last_error: None,
            not_before: 0,
            item_date: None,
            created_at: 0,
            updated_at: 0,
            published_at: None,
            claimed_by: Some("w".into()),
            queue_order: 0,
            options: Default::default(),
        }
    }

    /// Where a held post resumes: a post that may be on Threads is always asked about
    /// first, never published or recreated blindly.
    #[test]
    fn a_held_post_resumes_where_the_store_says() {
        use OutboxState::*;
        let cases = [
            (Queued, None, Some(Step::Create)),
            (
                ContainerCreated,
                Some("c"),
                Some(Step::Check(Asking::Ready { fresh: false })),
            ),
            (Publishing, Some("c"), Some(Step::Check(Asking::LostAnswer))),
            // A hand-edited row without its container: nothing to ask, a new one is needed.
            (ContainerCreated, None, Some(Step::Create)),
            (Publishing, None, Some(Step::Create)),
            (Held, None, None),
            (Published, Some("c"), None),
            (Failed, Some("c"), None),
            (Expired, None, None),
            (Dropped, None, None),
        ];
        for (state, container, step) in cases {
            assert_eq!(
                Step::first(&row(state, container)),
                step,
                "{state} {container:?}"
            );
        }
    }

    #[test]
    fn steps_say_what_they_do() {
        assert_eq!(Step::Publish.to_string(), "publishing");
        assert_eq!(
            Step::Check(Asking::LostAnswer).to_string(),
            "reconciling a publish of unknown outcome"
        );
    }
}
