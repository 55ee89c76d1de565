//! Why queued posts wait: a posting window or a feed's cap holds them until `not_before`
//! (`wait_kind`, `wait_note`), and the reads `status`, `/metrics` and the desk show.
//!
//! The worker records a wait with `Store::outbox_postpone` (in `claim`: it is a transition
//! of a held post); any other change of the post (a container, a retry's backoff) clears
//! it. Must not decide about windows or caps (`publish::editorial` does).

use crate::store::on;
use crate::store::{Store, StoreResult};
use std::fmt;

/// What holds a queued post back. Stored as `window` / `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum WaitKind {
    /// Its feed's (or account's) posting window is closed.
    Window,
    /// Its feed's `max_per_hour` or `max_per_day` is reached.
    Cap,
}

impl WaitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Window => "window",
            WaitKind::Cap => "cap",
        }
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Queued posts of one account that wait, by what holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitCounts {
    pub window: i64,
    pub cap: i64,
}

/// One waiting post.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PostWait {
    pub post: i64,
    pub account_id: i64,
    pub feed_id: i64,
    pub kind: WaitKind,
    /// Unix seconds at which it is due again.
    pub until: i64,
    /// Why, for people.
    pub note: Option<String>,
}

impl Store {
    /// How many queued posts of the account a window or a cap holds at `now`.
    pub async fn outbox_wait_counts(&self, account_id: i64, now: i64) -> StoreResult<WaitCounts> {
        let rows: Vec<(WaitKind, i64)> = on!(self.pool(), |c| sqlx::query_as(
            "SELECT wait_kind, COUNT(*) FROM outbox WHERE account_id = $1 AND state = 'queued' \
             AND wait_kind IS NOT NULL AND not_before > $2 GROUP BY wait_kind",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(c)
        .await?);
        let mut counts = WaitCounts::default();
        for (kind, n) in rows {
            match kind {
                WaitKind::Window => counts.window = n,
                WaitKind::Cap => counts.cap = n,
            }
        }
        Ok(counts)
    }

    /// The queued posts a window or a cap holds at `now` (of one account, or all), the
    /// soonest due first.
    pub async fn outbox_waits(
        &self,
        account_id: Option<i64>,
        now: i64,
    ) -> StoreResult<Vec<PostWait>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(
            "SELECT id AS post, account_id, feed_id, wait_kind AS kind, not_before AS until, \
             wait_note AS note FROM outbox WHERE ($1 IS NULL OR account_id = $2) \
             AND state = 'queued' AND wait_kind IS NOT NULL AND not_before > $3 \
             ORDER BY not_before, id",
        )
        .bind(account_id)
        .bind(account_id)
        .bind(now)
        .fetch_all(c)
        .await?))
    }

    /// Forget the windows' and caps' verdicts on the account's queued posts, so they are
    /// judged again under the current settings (a worker starts after a config change).
    pub async fn outbox_clear_waits(&self, account_id: i64, now: i64) -> StoreResult<u64> {
        let done = on!(self.pool(), |c| {
            sqlx::query(
            "UPDATE outbox SET not_before = 0, wait_kind = NULL, wait_note = NULL, updated_at = $1 \
             WHERE account_id = $2 AND state = 'queued' AND wait_kind IS NOT NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?.rows_affected()
        });
        Ok(done)
    }

    /// When the feed's posts were published, oldest first, from `since` on: what its caps
    /// count (replies excluded: they belong to a post already counted).
    pub async fn feed_published_times(&self, feed_id: i64, since: i64) -> StoreResult<Vec<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT published_at FROM outbox WHERE feed_id = $1 AND state = 'published' \
             AND reply_to IS NULL AND published_at >= $2 ORDER BY published_at",
        )
        .bind(feed_id)
        .bind(since)
        .fetch_all(c)
        .await?))
    }

    /// When the account's replies were published, oldest first, from `since` on: what the
    /// reply quota (1,000 in 24 h) counts.
    pub async fn reply_published_times(
        &self,
        account_id: i64,
        since: i64,
    ) -> StoreResult<Vec<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT published_at FROM outbox WHERE account_id = $1 AND state = 'published' \
             AND reply_to IS NOT NULL AND published_at >= $2 ORDER BY published_at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(c)
        .await?))
    }
}
