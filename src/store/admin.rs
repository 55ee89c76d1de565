//! Operator actions on the outbox, from the CLI (`queue …`, `release`) or the desk: approve,
//! edit, release, retry, drop. Kept apart from the publisher's transitions: these only ever
//! touch posts that are not in flight, and each is one conditional statement (or one
//! transaction), so an action racing the publisher either wins whole or changes nothing.
//!
//! Must not check a post's text against the API's limits (`review` does, before
//! [`Store::edit_post_text`]), nor log: the caller logs who acted.

use super::outbox::OUTBOX_COLUMNS;
use super::{OutboxRow, OutboxState, Store, StoreResult};
use crate::store::on;

/// What an operator action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Done,
    NotFound,
    /// The post is in a state the action does not apply to (named).
    WrongState(OutboxState),
    /// The post is queued but a publishing worker has taken it: its text is on its way.
    Claimed,
}

/// What releasing a feed's held posts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Released {
    /// Queued, in the order they will be published.
    pub released: Vec<i64>,
    /// Dropped (`drop_rest`).
    pub dropped: Vec<i64>,
    /// Still held.
    pub kept: usize,
}

/// Which held posts of a feed a release takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The newest N; `None`: all of them.
    pub latest: Option<usize>,
    /// Drop the held posts not released.
    pub drop_rest: bool,
    /// Give the released batch queue keys that put its newest story first.
    pub newest_first: bool,
}

impl Store {
    /// A post waiting for review goes to the queue (pacing, windows and quota apply).
    pub async fn approve_post(&self, id: i64, now: i64) -> StoreResult<AdminOutcome> {
        let done = on!(self.pool(), |c| {
            sqlx::query(
            "UPDATE outbox SET state = 'queued', updated_at = $1 WHERE id = $2 AND state = 'review'",
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await?.rows_affected()
        });
        self.outcome(id, done).await
    }

    /// Replace the text of a post nobody is publishing: waiting for review, held, queued and
    /// not taken by a worker, or failed. The caller has checked the text against the limits.
    pub async fn edit_post_text(&self, id: i64, text: &str, now: i64) -> StoreResult<AdminOutcome> {
        let done = on!(self.pool(), |c| sqlx::query(
            "UPDATE outbox SET text = $1, updated_at = $2 WHERE id = $3 \
             AND state IN ('review', 'held', 'queued', 'failed') \
             AND (state <> 'queued' OR claimed_by IS NULL)",
        )
        .bind(text)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(match self.outcome(id, done).await? {
            AdminOutcome::WrongState(OutboxState::Queued) => AdminOutcome::Claimed,
            other => other,
        })
    }

    /// A failed (or expired, or dropped) post goes back to the queue, keeping nothing of
    /// its failed attempt but the count; no worker holds it any more.
    pub async fn retry_post(&self, id: i64, now: i64) -> StoreResult<AdminOutcome> {
        let done = on!(self.pool(), |c| {
            sqlx::query(
            "UPDATE outbox SET state = 'queued', container_id = NULL, container_created_at = NULL, \
             publish_started_at = NULL, last_error = NULL, not_before = 0, claimed_by = NULL, \
             updated_at = $1 \
             WHERE id = $2 AND state IN ('failed', 'expired', 'dropped')",
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await?.rows_affected()
        });
        self.outcome(id, done).await
    }

    /// Remove a post that has not started publishing; it will not be published.
    pub async fn drop_post(&self, id: i64, now: i64) -> StoreResult<AdminOutcome> {
        let mut tx = self.begin_immediate().await?;
        let was_held: Option<i64> = on!(tx.conn(), |c| sqlx::query_scalar(
            "SELECT item_id FROM outbox WHERE id = $1 AND state = 'held'"
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        let done = on!(tx.conn(), |c| sqlx::query(
            "UPDATE outbox SET state = 'dropped', updated_at = $1 \
             WHERE id = $2 AND state IN ('review', 'held', 'queued', 'failed')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        if let Some(item) = was_held {
            set_disposition(&mut tx, item, "dropped").await?;
        }
        tx.commit().await?;
        self.outcome(id, done).await
    }

    /// Release held posts by id (`queue release ID…`): each goes to the queue, keeping its
    /// place; with `newest_first`, the posts released together are reordered so the newest
    /// story goes first. One transaction.
    pub async fn release_posts(
        &self,
        ids: &[i64],
        newest_first: bool,
        now: i64,
    ) -> StoreResult<Vec<(i64, AdminOutcome)>> {
        let mut tx = self.begin_immediate().await?;
        let mut released = Vec::new();
        let mut outcomes = Vec::with_capacity(ids.len());
        for &id in ids {
            let row: Option<(OutboxState, i64)> = on!(tx.conn(), |c| sqlx::query_as(
                "SELECT state, item_id FROM outbox WHERE id = $1"
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
            let outcome = match row {
                None => AdminOutcome::NotFound,
                Some((OutboxState::Held, item)) => {
                    release_one(&mut tx, id, item, now).await?;
                    released.push(id);
                    AdminOutcome::Done
                }
                Some((state, _)) => AdminOutcome::WrongState(state),
            };
            outcomes.push((id, outcome));
        }
        if newest_first {
            reorder_newest_first(&mut tx, &released).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Release a feed's held posts (`release FEED [--latest N] [--drop-rest]`) in one
    /// transaction: the newest N (or all) go to the queue, the rest stay held or are dropped.
    pub async fn release_feed(
        &self,
        feed_id: i64,
        request: ReleaseRequest,
        now: i64,
    ) -> StoreResult<Released> {
        let mut tx = self.begin_immediate().await?;
        // Newest story first.
        let held: Vec<(i64, i64)> = on!(tx.conn(), |c| sqlx::query_as(
            "SELECT id, item_id FROM outbox WHERE feed_id = $1 AND state = 'held' \
             ORDER BY COALESCE(item_date, created_at) DESC, id DESC",
        )
        .bind(feed_id)
        .fetch_all(&mut *c)
        .await?);
        let take = request.latest.unwrap_or(held.len()).min(held.len());
        let (release, rest) = held.split_at(take);
        let mut out = Released::default();
        for &(id, item) in release {
            release_one(&mut tx, id, item, now).await?;
        }
        // Publication order: oldest first unless asked otherwise.
        out.released = release.iter().rev().map(|(id, _)| *id).collect();
        if request.newest_first {
            reorder_newest_first(&mut tx, &out.released).await?;
            out.released.reverse();
        }
        if request.drop_rest {
            for &(id, item) in rest {
                on!(tx.conn(), |c| sqlx::query(
                    "UPDATE outbox SET state = 'dropped', updated_at = $1 \
                     WHERE id = $2 AND state = 'held'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected());
                set_disposition(&mut tx, item, "dropped").await?;
                out.dropped.push(id);
            }
            // Items that came while the feed was held, recorded without a post: dropped
            // with the rest, not composed at the feed's next poll.
            on!(tx.conn(), |c| sqlx::query(
                "UPDATE items SET disposition = 'dropped' \
                 WHERE feed_id = $1 AND disposition = 'held_uncomposed'",
            )
            .bind(feed_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        } else {
            out.kept = rest.len();
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The posts of the given states (all when empty), optionally of one account and one
    /// feed, in the filter's order, at most `limit`.
    pub async fn list_posts(&self, filter: &PostFilter<'_>) -> StoreResult<Vec<OutboxRow>> {
        let states =
            serde_json::to_string(&filter.states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into());
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE (? IS NULL OR account_id = ?) \
             AND (? IS NULL OR feed_id = ?) \
             AND (? = '[]' OR state IN ({})) \
             ORDER BY {} LIMIT ?",
                self.pool().json_texts("?"),
                match filter.order {
                    PostOrder::Newest => "id DESC",
                    PostOrder::Queue => super::outbox::QUEUE_ORDER,
                }
            ))
        ))
        .bind(filter.account_id)
        .bind(filter.account_id)
        .bind(filter.feed_id)
        .bind(filter.feed_id)
        .bind(&states)
        .bind(&states)
        .bind(filter.limit)
        .fetch_all(c)
        .await?))
    }

    /// How many posts each feed has in each state: `(feed id, state, count)`. Published
    /// posts count only from `published_since` on.
    pub async fn post_counts_by_feed(
        &self,
        published_since: i64,
    ) -> StoreResult<Vec<(i64, OutboxState, i64)>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(
            "SELECT feed_id, state, COUNT(*) FROM outbox \
             WHERE state <> 'published' OR published_at >= $1 GROUP BY feed_id, state",
        )
        .bind(published_since)
        .fetch_all(c)
        .await?))
    }

    /// Posts of the account waiting for review: `(id, feed id, story date or queued at)`.
    pub async fn review_ages(&self, account_id: i64) -> StoreResult<Vec<(i64, i64, i64)>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(
            "SELECT id, feed_id, COALESCE(item_date, created_at) FROM outbox \
             WHERE account_id = $1 AND state = 'review'",
        )
        .bind(account_id)
        .fetch_all(c)
        .await?))
    }

    /// A post waited for review until its story grew older than its feed's `max_age`.
    pub async fn expire_review(
        &self,
        id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<AdminOutcome> {
        let done = on!(self.pool(), |c| sqlx::query(
            "UPDATE outbox SET state = 'expired', last_error = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'review'",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        self.outcome(id, done).await
    }

    async fn outcome(&self, id: i64, changed: u64) -> StoreResult<AdminOutcome> {
        if changed == 1 {
            return Ok(AdminOutcome::Done);
        }
        let state: Option<OutboxState> = on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT state FROM outbox WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await?);
        Ok(state.map_or(AdminOutcome::NotFound, AdminOutcome::WrongState))
    }
}

/// Which posts [`Store::list_posts`] reads.
#[derive(Debug, Clone, Default)]
pub struct PostFilter<'a> {
    pub account_id: Option<i64>,
    pub feed_id: Option<i64>,
    pub states: &'a [OutboxState],
    pub limit: i64,
    pub order: PostOrder,
}

/// How [`Store::list_posts`] orders posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PostOrder {
    /// The newest post first (by id).
    #[default]
    Newest,
    /// The order the publisher takes them in.
    Queue,
}

use super::Tx;

async fn release_one(tx: &mut Tx, id: i64, item: i64, now: i64) -> StoreResult<()> {
    on!(tx.conn(), |c| sqlx::query(
        "UPDATE outbox SET state = 'queued', updated_at = $1 WHERE id = $2 AND state = 'held'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    set_disposition(tx, item, "queued").await
}

/// Keep the item's disposition in step with its post (`status` counts held items).
async fn set_disposition(tx: &mut Tx, item: i64, disposition: &str) -> StoreResult<()> {
    on!(tx.conn(), |c| sqlx::query(
        "UPDATE items SET disposition = $1 WHERE id = $2"
    )
    .bind(disposition)
    .bind(item)
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}

/// Give the posts new queue keys, newest story first, starting where the earliest of them
/// stood: the batch keeps its place in the queue and reverses its own order.
async fn reorder_newest_first(tx: &mut Tx, ids: &[i64]) -> StoreResult<()> {
    if ids.len() < 2 {
        return Ok(());
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "SELECT id, queue_order FROM outbox WHERE id IN ({}) \
         ORDER BY COALESCE(item_date, created_at) DESC, id DESC",
        tx.json_ints("$1")
    );
    let rows: Vec<(i64, i64)> = on!(tx.conn(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&list)
        .fetch_all(&mut *c)
        .await?);
    let Some(base) = rows.iter().map(|(_, key)| *key).min() else {
        return Ok(());
    };
    for (rank, (id, _)) in rows.iter().enumerate() {
        let key = base.saturating_add(i64::try_from(rank).unwrap_or(i64::MAX));
        on!(tx.conn(), |c| sqlx::query(
            "UPDATE outbox SET queue_order = $1 WHERE id = $2"
        )
        .bind(key)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;
    use crate::store::{Claimed, FeedConfig, Holder};

    /// One account, one feed, and posts in `states`, story i dated `1000 + i`; ids in order.
    async fn store_with(store: Store, states: &[&str]) -> (Store, i64, Vec<i64>) {
        let account = store.ensure_account("news", 0).await.unwrap();
        let feed = store
            .sync_feeds(
                &[FeedConfig {
                    name: "front",
                    url: "https://example.org/feed",
                    account_id: account.id,
                }],
                0,
            )
            .await
            .unwrap()[0];
        let mut ids = Vec::new();
        for (i, state) in states.iter().enumerate() {
            let date = 1000 + i64::try_from(i).unwrap();
            let disposition = if *state == "held" { "held" } else { "queued" };
            let item: i64 = on!(store.pool(), |c| sqlx::query_scalar(
                "INSERT INTO items (feed_id, item_key, first_seen_at, disposition) \
                 VALUES ($1, $2, 0, $3) RETURNING id",
            )
            .bind(feed)
            .bind(format!("guid:{i}"))
            .bind(disposition)
            .fetch_one(c)
            .await)
            .unwrap();
            let id: i64 = on!(store.pool(), |c| sqlx::query_scalar(
                "INSERT INTO outbox (account_id, item_id, feed_id, state, text, item_date, \
                 queue_order, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0) RETURNING id",
            )
            .bind(account.id)
            .bind(item)
            .bind(feed)
            .bind(state)
            .bind(format!("story {i}"))
            .bind(date)
            .bind(date)
            .fetch_one(c)
            .await)
            .unwrap();
            ids.push(id);
        }
        (store, account.id, ids)
    }

    async fn queue_order(store: &Store, account: i64) -> Vec<i64> {
        on!(store.pool(), |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT id FROM outbox WHERE account_id = ? AND state = 'queued' ORDER BY {}",
                crate::store::outbox::QUEUE_ORDER
            ))
        ))
        .bind(account)
        .fetch_all(c)
        .await)
        .unwrap()
    }

    #[tokio::test]
    async fn a_flood_released_newest_first_keeps_its_place_and_reverses_its_order() {
        each_backend!(|fresh| {
            // A queued story older than the flood, the flood, and a queued story newer than it.
            let (store, account, ids) = store_with(
                fresh.clone(),
                &["queued", "held", "held", "held", "held", "queued"],
            )
            .await;
            let request = ReleaseRequest {
                latest: Some(3),
                drop_rest: false,
                newest_first: true,
            };
            let done = store.release_feed(1, request, 5).await.unwrap();
            assert_eq!(done.released, vec![ids[4], ids[3], ids[2]]);
            assert_eq!(done.kept, 1);
            assert_eq!(
                queue_order(&store, account).await,
                vec![ids[0], ids[4], ids[3], ids[2], ids[5]]
            );
            // Oldest first (the default) leaves the keys alone.
            let rest = store
                .release_feed(
                    1,
                    ReleaseRequest {
                        latest: None,
                        drop_rest: false,
                        newest_first: false,
                    },
                    6,
                )
                .await
                .unwrap();
            assert_eq!(rest.released, vec![ids[1]]);
            assert_eq!(queue_order(&store, account).await[..2], [ids[0], ids[1]]);
            let held: i64 = on!(store.pool(), |c| sqlx::query_scalar(
                "SELECT COUNT(*) FROM items WHERE disposition = 'held'"
            )
            .fetch_one(c)
            .await)
            .unwrap();
            assert_eq!(held, 0, "released items are no longer counted as held");
        });
    }

    #[tokio::test]
    async fn a_post_the_publisher_has_taken_cannot_be_edited() {
        each_backend!(|fresh| {
            let (store, _, ids) =
                store_with(fresh.clone(), &["queued", "review", "published"]).await;
            let holder = Holder::new();
            assert!(matches!(
                store.outbox_claim(ids[0], &holder, 10).await.unwrap(),
                Claimed::Won(_)
            ));
            assert_eq!(
                store.edit_post_text(ids[0], "new", 11).await.unwrap(),
                AdminOutcome::Claimed
            );
            assert_eq!(
                store.edit_post_text(ids[2], "new", 11).await.unwrap(),
                AdminOutcome::WrongState(OutboxState::Published)
            );
            assert_eq!(
                store.edit_post_text(ids[1], "new", 11).await.unwrap(),
                AdminOutcome::Done
            );
            assert_eq!(
                store.approve_post(ids[0], 12).await.unwrap(),
                AdminOutcome::WrongState(OutboxState::Queued)
            );
            assert_eq!(
                store.approve_post(ids[1], 12).await.unwrap(),
                AdminOutcome::Done
            );
            assert_eq!(
                store.approve_post(99, 12).await.unwrap(),
                AdminOutcome::NotFound
            );
            let rows = store.outbox_by_id(ids[1]).await.unwrap().unwrap();
            assert_eq!(
                (rows.state, rows.text.as_str()),
                (OutboxState::Queued, "new")
            );
        });
    }
}
