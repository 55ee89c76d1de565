//! What the worker does differently for a reply (an outbox row with `reply_to`): name the
//! post it answers in its container, count it against the reply quota, and look for it
//! among the account's replies when its publish answer was lost.
//!
//! The steps themselves are the post's (see `steps`): a reply is claimed, stored before
//! each call and reconciled exactly like a post. Must not queue replies (the store does,
//! when their post is recorded published).

use super::records::instant_at;
use super::steps::Trip;
use super::{AccountPublisher, Outcome, WaitReason};
use crate::publish::PublishError;
use crate::publish::quota::{self, Gate};
use crate::store::{OutboxState, now_unix};

impl AccountPublisher {
    /// For a reply, the media id of the post it answers (`Ok(None)` for a post); `Err`
    /// is why the reply cannot be made, which fails it.
    pub(super) async fn reply_target(
        &mut self,
        trip: &Trip,
    ) -> Result<Result<Option<String>, String>, PublishError> {
        if !trip.is_reply() {
            return Ok(Ok(None));
        }
        let Some(target) = self.store.reply_target(trip.post()).await? else {
            return Ok(Err(
                "the post this reply answers is gone from the store".into()
            ));
        };
        Ok(match (target.state, target.media_id) {
            (OutboxState::Published, Some(media)) => Ok(Some(media)),
            (OutboxState::Published, None) => Err(format!(
                "post {} was published but its id on Threads is unknown (its answer was lost and it was not found among the recent posts), so there is nothing to reply to",
                target.post
            )),
            (state, _) => Err(format!(
                "post {}, which this reply answers, is {state}, not published",
                target.post
            )),
        })
    }

    /// The reply quota, from our own ledger of replies.
    pub(super) async fn reply_quota_gate(&mut self) -> Result<Option<Outcome>, PublishError> {
        let now = now_unix();
        let ledger = self
            .store
            .reply_published_times(self.account_id, now.saturating_sub(quota::DEFAULT_WINDOW))
            .await?;
        match quota::reply_gate(now, &ledger) {
            Gate::Open { .. } => Ok(None),
            Gate::Closed {
                until, used, limit, ..
            } => {
                tracing::info!(
                    account = %self.settings.name,
                    used,
                    limit,
                    resumes_at = until,
                    "reply quota spent; waiting until the oldest reply leaves the window"
                );
                Ok(Some(Outcome::Wait {
                    until: instant_at(until, now),
                    reason: WaitReason::Quota { until_unix: until },
                }))
            }
        }
    }
}
