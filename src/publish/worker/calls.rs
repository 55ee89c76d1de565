//! The worker's API calls: the token rule every call follows, polling a container until its
//! status says something, and the pacing and quota gate before a container or a publish.
//!
//! Must not move a post between states (the steps and `records` do); the only store
//! writes here are the account's (token, quota) and the deferral of a post whose status
//! cannot be read.

use super::records::instant_at;
use super::steps::Trip;
use super::{AccountPublisher, Outcome, WaitReason};
use crate::publish::PublishError;
use crate::publish::backoff::jitter_up;
use crate::publish::quota::Gate;
use crate::publish::reconcile::{self, Verdict};
use crate::publish::token::{TokenState, reauth_advice};
use crate::store::{MediaType, now_unix};
use crate::threads::{ContainerId, ErrorAction, ThreadsClient, ThreadsError};
use secrecy::SecretString;
use std::time::Instant;

/// An API call that did not give its answer.
pub(super) enum CallError {
    /// The API said no; the action says what it means.
    Api(ThreadsError),
    /// The token is dead and the account is now paused.
    Paused(String),
    /// The account's lease lapsed here: the call was not made.
    LeaseLapsed,
}

/// How a container wait ended.
pub(super) enum Ready {
    Verdict(Verdict),
    /// The step ends here (interrupted, paused, backing off).
    Stop(Outcome),
}

impl AccountPublisher {
    /// An API call with the token-problem rule: one refresh (or the newly stored token),
    /// then once more; a second rejection pauses the account. Each attempt is made only
    /// while the account's lease is valid here (checked last, right before it): a daemon
    /// that was paused past its lease makes no call, writes above all. The outer `Result`
    /// is the store's.
    pub(super) async fn call<T, F, Fut>(
        &mut self,
        token: &mut SecretString,
        f: F,
    ) -> Result<Result<T, CallError>, PublishError>
    where
        F: Fn(ThreadsClient, SecretString) -> Fut,
        Fut: Future<Output = Result<T, ThreadsError>>,
    {
        if !self.lease_valid_here() {
            return Ok(Err(CallError::LeaseLapsed));
        }
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
        if !self.lease_valid_here() {
            return Ok(Err(CallError::LeaseLapsed));
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

    /// Polls the container until its status says something other than "not ready", or
    /// the wait for this media type runs out (`Verdict::Wait`).
    pub(super) async fn await_container(
        &mut self,
        trip: &mut Trip,
        fresh: bool,
    ) -> Result<Ready, PublishError> {
        let Some(cid) = trip.row().container_id.clone().map(ContainerId::new) else {
            return Ok(Ready::Verdict(Verdict::Recreate));
        };
        let c = &self.config;
        let (first, mut interval, cap, timeout) = match trip.row().media_type {
            MediaType::Image => (
                c.media_first_wait,
                c.media_poll,
                c.media_poll,
                c.media_ready_timeout,
            ),
            MediaType::Text => (
                c.text_first_wait,
                c.text_poll,
                c.text_poll_cap,
                c.text_ready_timeout,
            ),
        };
        if fresh && !self.nap(jitter_up(first)).await {
            return Ok(Ready::Stop(Outcome::Interrupted));
        }
        let started = Instant::now();
        loop {
            let status_cid = cid.clone();
            let answer = self
                .call(&mut trip.token, move |c, t| {
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
                Err(CallError::LeaseLapsed) => return Ok(Ready::Stop(Outcome::LeaseLapsed)),
                Err(CallError::Api(e)) => {
                    let why = format!("cannot read the container's status: {e}");
                    return Ok(Ready::Stop(self.defer(trip, &why).await?));
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

    /// The gate of the row a trip carries: pacing and quota for a post; the quota and the
    /// reply quota for a reply, which pacing does not delay (it completes a post already
    /// out), except a correction's (`on_update = "reply"`): news of its own, paced like a
    /// post, so a feed that rewrites its headlines cannot flood the account. `Some` is the
    /// outcome to return instead of going on now.
    pub(super) async fn gate_for(
        &mut self,
        trip: &mut Trip,
    ) -> Result<Option<Outcome>, PublishError> {
        if !trip.is_reply() {
            return self.gate(&mut trip.token).await;
        }
        let wait = if self.is_correction(trip).await? {
            self.gate(&mut trip.token).await?
        } else {
            self.quota_gate(&mut trip.token).await?
        };
        if wait.is_some() {
            return Ok(wait);
        }
        self.reply_quota_gate().await
    }

    /// Pacing and quota. `Some` is the outcome to return instead of publishing now.
    pub(super) async fn gate(
        &mut self,
        token: &mut SecretString,
    ) -> Result<Option<Outcome>, PublishError> {
        if let Some(until) = self.pacer.wait_until() {
            return Ok(Some(Outcome::Wait {
                until,
                reason: WaitReason::Pacing,
            }));
        }
        self.quota_gate(token).await
    }

    /// The publishing quota (the API's, our ledger's, `max_posts_per_day`).
    async fn quota_gate(
        &mut self,
        token: &mut SecretString,
    ) -> Result<Option<Outcome>, PublishError> {
        let now = now_unix();
        if self.quota.needs_refresh()
            && let Some(paused) = self.refresh_quota(token, now).await?
        {
            return Ok(Some(paused));
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
                        resumes_at = %crate::human::when(until, now),
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

    /// Read the API's publishing limit into the quota (and the store, for `status`). A
    /// failed read falls back to our own ledger; `Some` is the account paused on a dead
    /// token.
    async fn refresh_quota(
        &mut self,
        token: &mut SecretString,
        now: i64,
    ) -> Result<Option<Outcome>, PublishError> {
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
            Err(CallError::LeaseLapsed) => return Ok(Some(Outcome::LeaseLapsed)),
            Err(CallError::Api(e)) => {
                tracing::warn!(
                    account = %self.settings.name,
                    "cannot read the publishing limit ({e}); counting on our own ledger"
                );
                self.quota.refresh_failed();
            }
        }
        Ok(None)
    }
}
