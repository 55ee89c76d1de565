//! The reads `status` needs to say whether a human is needed, beyond the rows and counts
//! the other files give: the failed posts of an account (each needs a retry or a drop) and
//! how long each feed's posts have been held by the flood guard.
//!
//! Read-only: nothing here writes, so `status` can run beside the daemon.

use super::outbox::{OUTBOX_COLUMNS, OutboxRow};
use super::{Store, StoreResult};
use crate::store::on;
use std::collections::HashMap;

/// A feed's posts held by the flood guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldPosts {
    pub posts: i64,
    /// When the oldest of them was held (unix seconds).
    pub since: i64,
}

impl Store {
    /// The failed posts of an account, the most recent failure first, at most `limit`;
    /// and how many there are in all.
    pub async fn failed_posts(
        &self,
        account_id: i64,
        limit: i64,
    ) -> StoreResult<(Vec<OutboxRow>, i64)> {
        let rows = on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? AND state = 'failed' \
             ORDER BY updated_at DESC, id DESC LIMIT ?"
            ))
        ))
        .bind(account_id)
        .bind(limit)
        .fetch_all(c)
        .await?);
        let total = on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE account_id = $1 AND state = 'failed'",
        )
        .bind(account_id)
        .fetch_one(c)
        .await?);
        Ok((rows, total))
    }

    /// Per feed row id: its posts the flood guard holds, and since when.
    pub async fn held_posts(&self) -> StoreResult<HashMap<i64, HeldPosts>> {
        let rows: Vec<(i64, i64, i64)> = on!(self.pool(), |c| sqlx::query_as(
            "SELECT feed_id, COUNT(*), MIN(created_at) FROM outbox WHERE state = 'held' \
             GROUP BY feed_id",
        )
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(feed, posts, since)| (feed, HeldPosts { posts, since }))
            .collect())
    }
}
