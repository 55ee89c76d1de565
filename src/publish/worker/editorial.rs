//! The worker's side of the editorial gate: before a post starts (it has never had a
//! container), read its feed's publish ledger, ask `publish::editorial` whether its
//! posting windows and caps let it go, and make a wait or a drop durable.
//!
//! A post that must wait goes back to the queue unheld with `not_before` at the time it
//! may go and the reason stored ([`Outcome::Postponed`]): the worker carries on with the
//! other feeds' posts, and picks it up again when it is due, paced like any other. Must
//! not decide anything about windows or caps itself.

use super::steps::Trip;
use super::{AccountPublisher, Outcome};
use crate::publish::PublishError;
use crate::publish::editorial::{Decision, PostGate};
use crate::store::now_unix;

/// How far back a feed's caps look.
const CAP_LEDGER: i64 = 86_400;

impl AccountPublisher {
    /// `Some`: the post does not start now (postponed, or dropped as overflow).
    pub(super) async fn editorial_gate(
        &mut self,
        trip: &Trip,
    ) -> Result<Option<Outcome>, PublishError> {
        let feed = trip.feed.as_ref();
        let gate = PostGate {
            feed_window: feed.and_then(|f| f.window),
            account_window: self.settings.window,
            caps: feed.map(|f| f.caps).unwrap_or_default(),
        };
        if !gate.is_set() {
            return Ok(None);
        }
        let now = now_unix();
        let ledger = if gate.caps.is_set() {
            self.store
                .feed_published_times(trip.row().feed_id, now.saturating_sub(CAP_LEDGER))
                .await?
        } else {
            Vec::new()
        };
        let post = trip.post();
        match gate.decide(now, &ledger) {
            Decision::Go => Ok(None),
            Decision::Wait { until, kind, note } => {
                let stored = self
                    .store
                    .outbox_postpone(&trip.held.claim, until, kind, &note, now)
                    .await?;
                if stored.is_stale() {
                    return Ok(Some(Outcome::Skipped { post }));
                }
                tracing::info!(
                    wait = %kind,
                    until = %crate::human::when(until, now),
                    "waits: {note}"
                );
                Ok(Some(Outcome::Postponed {
                    post,
                    until_unix: until,
                    reason: note,
                }))
            }
            Decision::Drop { reason } => {
                let stored = self
                    .store
                    .outbox_dropped(&trip.held.claim, &reason, now)
                    .await?;
                if stored.is_stale() {
                    return Ok(Some(Outcome::Skipped { post }));
                }
                tracing::warn!("dropped: {reason}");
                crate::metrics::record_dropped(&self.settings.name, "overflow");
                Ok(Some(Outcome::Dropped { post, reason }))
            }
        }
    }
}
