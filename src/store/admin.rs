//! Operator actions on the outbox (`queue retry`, `queue drop`). Kept apart from the
//! publisher's transitions: these only ever touch posts that are not in flight.

use super::{OutboxState, Store, StoreResult};

/// What an operator action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Done,
    NotFound,
    /// The post is in a state the action does not apply to (named).
    WrongState(OutboxState),
}

impl Store {
    /// A failed (or expired, or dropped) post goes back to the queue, keeping nothing of
    /// its failed attempt but the count; no worker holds it any more.
    pub async fn retry_post(&self, id: i64, now: i64) -> StoreResult<AdminOutcome> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'queued', container_id = NULL, container_created_at = NULL, \
             publish_started_at = NULL, last_error = NULL, not_before = 0, claimed_by = NULL, \
             updated_at = ? \
             WHERE id = ? AND state IN ('failed', 'expired', 'dropped')",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.outcome(id, done.rows_affected()).await
    }

    /// Remove a post that has not started publishing; it will not be published.
    pub async fn drop_post(&self, id: i64, now: i64) -> StoreResult<AdminOutcome> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'dropped', updated_at = ? \
             WHERE id = ? AND state IN ('held', 'queued', 'failed')",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.outcome(id, done.rows_affected()).await
    }

    async fn outcome(&self, id: i64, changed: u64) -> StoreResult<AdminOutcome> {
        if changed == 1 {
            return Ok(AdminOutcome::Done);
        }
        let state: Option<OutboxState> =
            sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(state.map_or(AdminOutcome::NotFound, AdminOutcome::WrongState))
    }
}
