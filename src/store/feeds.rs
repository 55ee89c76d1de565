//! Feed poll state: validators, body hash, schedule, failures.

use super::{Arg, Store, StoreResult};
use crate::store::on;
use std::collections::HashMap;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub fetch_url: String,
    pub account_id: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body_hash: Option<String>,
    pub baseline_done: bool,
    pub last_polled_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub failing_since: Option<i64>,
    pub consecutive_failures: i64,
    pub next_check_at: i64,
    pub items_seen: i64,
    /// The identity rules its items were last recognised under (see migration 0003):
    /// below `items::IDENTITY_RULES`, its next ingest also looks up keys in the old form.
    pub identity_rules: i64,
}

const FEED_COLUMNS: &str = "id, name, url, fetch_url, account_id, etag, last_modified, \
    body_hash, baseline_done, last_polled_at, last_success_at, last_result, last_error, \
    failing_since, consecutive_failures, next_check_at, items_seen, identity_rules";

/// What a failed poll leaves behind.
#[derive(Debug, Clone)]
pub struct FeedFailure<'a> {
    pub class: &'a str,
    pub message: &'a str,
    pub next_check_at: i64,
}

/// A feed as the config names it.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub account_id: i64,
}

impl Store {
    /// Make the store's feeds match the config, all in one commit. A feed is identified
    /// by its name; when its configured URL changes, the fetch state starts afresh but its
    /// items stay (they are the tombstones that keep old stories from coming back).
    /// Returns each feed's row id, in input order.
    pub async fn sync_feeds(&self, feeds: &[FeedConfig<'_>], now: i64) -> StoreResult<Vec<i64>> {
        let mut slot = self.begin_write().await?;
        let mut ids = Vec::with_capacity(feeds.len());
        for feed in feeds {
            let id: i64 = on!(slot.conn(), |c| {
                sqlx::query_scalar(
                "INSERT INTO feeds (name, url, fetch_url, account_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET \
                   fetch_url = CASE WHEN feeds.url = excluded.url THEN feeds.fetch_url ELSE excluded.url END, \
                   etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END, \
                   last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END, \
                   body_hash = CASE WHEN feeds.url = excluded.url THEN feeds.body_hash END, \
                   url = excluded.url, account_id = excluded.account_id, \
                   updated_at = CASE WHEN feeds.url = excluded.url AND feeds.account_id = excluded.account_id \
                                THEN feeds.updated_at ELSE excluded.updated_at END \
                 RETURNING id",
            )
            .bind(feed.name)
            .bind(feed.url)
            .bind(feed.url)
            .bind(feed.account_id)
            .bind(now)
            .bind(now)
            .fetch_one(c)
            .await?
            });
            ids.push(id);
        }
        slot.commit().await?.wait().await?;
        Ok(ids)
    }

    pub async fn feed_by_name(&self, name: &str) -> StoreResult<Option<FeedRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE name = ?"))
        ))
        .bind(name)
        .fetch_optional(c)
        .await?))
    }

    pub async fn feed_by_id(&self, id: i64) -> StoreResult<Option<FeedRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?"))
        ))
        .bind(id)
        .fetch_optional(c)
        .await?))
    }

    /// The rows of the given feeds, in one query: the run loop starts hundreds of polls
    /// at once, and a query each (on up to eight reader connections) cost a connection
    /// and its caches per reader for nothing. Ids without a row are left out.
    pub async fn feed_rows(&self, ids: &[i64]) -> StoreResult<HashMap<i64, FeedRow>> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let list = self.pool().json_ints("$1");
        let rows: Vec<FeedRow> = on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id IN ({list})")
        ))
        .bind(ids)
        .fetch_all(c)
        .await?);
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }

    pub async fn list_feeds(&self) -> StoreResult<Vec<FeedRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY name"))
        ))
        .fetch_all(c)
        .await?))
    }

    /// Persist the next check before the fetch starts, so that however the poll ends
    /// (crash included) the feed is not hammered on restart.
    pub async fn set_next_check(&self, feed_id: i64, at: i64) -> StoreResult<()> {
        self.write_one(
            "UPDATE feeds SET next_check_at = $1 WHERE id = $2",
            &[Arg::from(at), Arg::from(feed_id)],
        )
        .await
    }

    /// A failed poll: count it, keep the reason for `status`, schedule the retry.
    pub async fn record_feed_failure(
        &self,
        feed_id: i64,
        failure: &FeedFailure<'_>,
        now: i64,
    ) -> StoreResult<()> {
        self.write_one(
            "UPDATE feeds SET consecutive_failures = consecutive_failures + 1, \
             failing_since = COALESCE(failing_since, $1), last_polled_at = $2, \
             last_result = $3, last_error = $4, next_check_at = $5, updated_at = $6 WHERE id = $7",
            &[
                Arg::from(now),
                Arg::from(now),
                Arg::from(failure.class),
                Arg::from(failure.message),
                Arg::from(failure.next_check_at),
                Arg::from(now),
                Arg::from(feed_id),
            ],
        )
        .await
    }

    /// A poll that changed nothing (304, or the same body as last time).
    pub async fn record_feed_unchanged(
        &self,
        feed_id: i64,
        result: &str,
        last_modified: Option<&str>,
        next_check_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.write_one(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL, \
             last_result = $1, last_polled_at = $2, last_success_at = $3, next_check_at = $4, \
             last_modified = COALESCE($5, last_modified), updated_at = $6 WHERE id = $7",
            &[
                Arg::from(result),
                Arg::from(now),
                Arg::from(now),
                Arg::from(next_check_at),
                Arg::from(last_modified),
                Arg::from(now),
                Arg::from(feed_id),
            ],
        )
        .await
    }

    /// The feed moved for good (every redirect was permanent): poll the new URL from now on.
    pub async fn set_fetch_url(&self, feed_id: i64, url: &str) -> StoreResult<()> {
        self.write_one(
            "UPDATE feeds SET fetch_url = $1 WHERE id = $2",
            &[Arg::from(url), Arg::from(feed_id)],
        )
        .await
    }

    /// Feeds due at `now`, soonest first.
    pub async fn due_feeds(&self, now: i64) -> StoreResult<Vec<FeedRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {FEED_COLUMNS} FROM feeds WHERE next_check_at <= ? ORDER BY next_check_at"
            ))
        ))
        .bind(now)
        .fetch_all(c)
        .await?))
    }

    /// Claim the due feeds among `ids` for `node`'s polls, across every daemon on the
    /// database: a feed is claimed when it is due at `now` and nobody else's claim holds
    /// (none, lapsed by the database's clock, or `node`'s own), for `lease` from the
    /// database's now. PostgreSQL skips the rows another daemon is claiming this instant
    /// (`FOR UPDATE SKIP LOCKED`) instead of waiting for it; SQLite's one writer makes the
    /// single UPDATE atomic. Returns the ids claimed: each due poll happens once across the
    /// cluster, because the poll that ends moves `next_check_at` past `now`.
    pub async fn feeds_claim(
        &self,
        ids: &[i64],
        node: &str,
        lease: std::time::Duration,
        now: i64,
    ) -> StoreResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.pool();
        let db_now = pool.now_secs();
        let skip_locked = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE feeds SET claimed_by = $1, lease_until = {db_now} + $2 WHERE id IN (\
             SELECT id FROM feeds WHERE id IN ({}) AND next_check_at <= $4 \
             AND (claimed_by IS NULL OR lease_until <= {db_now} OR claimed_by = $1){skip_locked}) \
             RETURNING id",
            pool.json_ints("$3")
        );
        let ids_json = serde_json::to_string(ids).unwrap_or_default();
        // Whole seconds, rounded up: a claim never shorter than the account lease it follows.
        let secs = i64::try_from(lease.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
        let mut claimed: Vec<i64> = on!(pool, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(node.to_owned())
            .bind(secs)
            .bind(ids_json)
            .bind(now)
            .fetch_all(c)
            .await?);
        claimed.sort_unstable();
        Ok(claimed)
    }

    /// When the next feed is due, if any.
    pub async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT MIN(next_check_at) FROM feeds"
        )
        .fetch_one(c)
        .await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    /// Each due feed is claimed by one node: a second node gets none of them while the
    /// claim holds, takes a lapsed one, and a feed polled (next_check_at moved on) is not
    /// claimed again before it is due.
    #[tokio::test]
    async fn a_due_feed_is_claimed_by_one_node_at_a_time() {
        use std::time::Duration;
        let lease = Duration::from_secs(30);
        each_backend!(|store| {
            let account = store.ensure_account("news", 0).await.unwrap();
            let feeds: Vec<FeedConfig> = ["front", "politics", "sport"]
                .iter()
                .map(|name| FeedConfig {
                    name,
                    url: "https://example.org/feed",
                    account_id: account.id,
                })
                .collect();
            let ids = store.sync_feeds(&feeds, 0).await.unwrap();
            store.set_next_check(ids[2], 500).await.unwrap();

            // sport is not due at 100; the other two go to a, none to b.
            let a = store.feeds_claim(&ids, "a", lease, 100).await.unwrap();
            assert_eq!(a, vec![ids[0], ids[1]]);
            assert!(
                store
                    .feeds_claim(&ids, "b", lease, 100)
                    .await
                    .unwrap()
                    .is_empty()
            );

            // a polled front (next due at 400); its claim on politics lapses (no time
            // left): b takes politics, and nobody takes front before 400.
            store.set_next_check(ids[0], 400).await.unwrap();
            let _ = store
                .feeds_claim(&[ids[1]], "a", Duration::ZERO, 100)
                .await
                .unwrap();
            let b = store.feeds_claim(&ids, "b", lease, 100).await.unwrap();
            assert_eq!(b, vec![ids[1]]);
            assert!(
                store
                    .feeds_claim(&ids, "a", lease, 100)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(
                store
                    .feeds_claim(&[], "a", lease, 100)
                    .await
                    .unwrap()
                    .is_empty()
            );
        });
    }

    #[tokio::test]
    async fn feed_rows_reads_the_asked_feeds_and_leaves_out_unknown_ids() {
        each_backend!(|fresh| {
            let store = fresh.clone();
            let account = store.ensure_account("news", 0).await.unwrap();
            let feeds: Vec<FeedConfig> = ["front", "politics", "sport"]
                .iter()
                .map(|name| FeedConfig {
                    name,
                    url: "https://example.org/feed",
                    account_id: account.id,
                })
                .collect();
            let ids = store.sync_feeds(&feeds, 0).await.unwrap();
            store.set_next_check(ids[1], 1234).await.unwrap();

            let rows = store.feed_rows(&[ids[1], ids[2], 999]).await.unwrap();
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[&ids[1]].name, "politics");
            assert_eq!(rows[&ids[1]].next_check_at, 1234);
            assert_eq!(rows[&ids[2]].name, "sport");
            assert!(store.feed_rows(&[]).await.unwrap().is_empty());
        });
    }
}
