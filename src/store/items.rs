//! Items, the account-wide seen set, and the ingest transaction.
//!
//! One poll's results are written in one transaction: items and their keys first, then
//! the outbox rows, then the feed's validators, so validators are never stored without
//! the items behind them. Dedupe reads happen inside the same (immediate) transaction,
//! so two feeds of one account ingesting the same story at once cannot both queue it.

use super::feeds::FeedRow;
use super::{Store, StoreResult};
use crate::compose::Post;
use sqlx::{QueryBuilder, Sqlite, Transaction};
use std::collections::{HashMap, HashSet};

/// Bound on the host parameters of one statement (SQLite allows 32766; stay far below).
const CHUNK: usize = 200;

/// Why an item that was recognised for the first time will or will not be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDisposition {
    Queued,
    /// Held by the flood guard until `release`.
    Held,
    /// Present at the first poll and skipped by the backlog policy.
    Backlog,
    TooOld,
    Filtered,
    /// Another feed (or another item of this document) of the account had it already.
    Duplicate,
    /// Could not be composed into a valid post.
    Invalid,
}

impl ItemDisposition {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemDisposition::Queued => "queued",
            ItemDisposition::Held => "held",
            ItemDisposition::Backlog => "backlog",
            ItemDisposition::TooOld => "too_old",
            ItemDisposition::Filtered => "filtered",
            ItemDisposition::Duplicate => "duplicate",
            ItemDisposition::Invalid => "invalid",
        }
    }
}

/// An item as the store sees it.
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// Per-feed identity key.
    pub key: String,
    /// Account-wide alias keys.
    pub aliases: Vec<String>,
    pub title: Option<String>,
    pub link: Option<String>,
    pub published_at: Option<i64>,
}

/// How the store recognised an item of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// Never seen by this account under any of its keys.
    New,
    /// This feed had it already.
    Known,
    /// The account saw one of its alias keys, in another feed or earlier in this document.
    Duplicate,
}

/// What a successful poll leaves on the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedSuccess<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub body_hash: Option<&'a str>,
    pub result: &'a str,
    pub next_check_at: i64,
    pub new_items: i64,
}

/// The transaction of one poll of one feed.
pub struct IngestTx {
    tx: Transaction<'static, Sqlite>,
    // Dropped after `tx` (fields drop in order), so the turn outlives the transaction.
    _turn: super::WriteTurn,
    feed_id: i64,
    account_id: i64,
}

impl Store {
    pub async fn begin_ingest(&self, feed: &FeedRow) -> StoreResult<IngestTx> {
        let (turn, tx) = self.begin_write().await?;
        Ok(IngestTx {
            tx,
            _turn: turn,
            feed_id: feed.id,
            account_id: feed.account_id,
        })
    }

    /// How many items of the feed have each disposition.
    pub async fn item_counts(&self, feed_id: i64) -> StoreResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT disposition, COUNT(*) FROM items WHERE feed_id = ? GROUP BY disposition",
        )
        .bind(feed_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }
}

impl IngestTx {
    /// Recognise the items of one document, in document order.
    pub async fn recognise(&mut self, items: &[IngestItem]) -> StoreResult<Vec<Recognised>> {
        let mut known: HashSet<String> = HashSet::new();
        for chunk in items.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT item_key FROM items WHERE feed_id = ");
            q.push_bind(self.feed_id).push(" AND item_key IN (");
            let mut sep = q.separated(", ");
            for item in chunk {
                sep.push_bind(item.key.as_str());
            }
            q.push(")");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *self.tx).await?;
            known.extend(rows.into_iter().map(|(k,)| k));
        }

        let candidates: Vec<&str> = items
            .iter()
            .filter(|i| !known.contains(&i.key))
            .flat_map(|i| i.aliases.iter().map(String::as_str))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for chunk in candidates.chunks(CHUNK) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT key FROM seen_keys WHERE account_id = ");
            q.push_bind(self.account_id).push(" AND key IN (");
            let mut sep = q.separated(", ");
            for key in chunk {
                sep.push_bind(*key);
            }
            q.push(")");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *self.tx).await?;
            seen.extend(rows.into_iter().map(|(k,)| k));
        }

        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if known.contains(&item.key) {
                out.push(Recognised::Known);
                continue;
            }
            let duplicate = item.aliases.iter().any(|a| seen.contains(a));
            // Claim the keys for the rest of the document: a story listed twice is one story.
            seen.extend(item.aliases.iter().cloned());
            out.push(if duplicate {
                Recognised::Duplicate
            } else {
                Recognised::New
            });
        }
        Ok(out)
    }

    /// Record first-seen items and their keys; returns each item's row id, in input order.
    pub async fn record(
        &mut self,
        items: &[(&IngestItem, ItemDisposition)],
        now: i64,
    ) -> StoreResult<Vec<i64>> {
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(items.len());
        for chunk in items.chunks(CHUNK / 8) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO items (feed_id, item_key, title, link, published_at, first_seen_at, disposition) ",
            );
            q.push_values(chunk, |mut row, (item, disposition)| {
                row.push_bind(self.feed_id)
                    .push_bind(item.key.as_str())
                    .push_bind(item.title.as_deref())
                    .push_bind(item.link.as_deref())
                    .push_bind(item.published_at)
                    .push_bind(now)
                    .push_bind(disposition.as_str());
            });
            q.push(" ON CONFLICT (feed_id, item_key) DO NOTHING RETURNING id, item_key");
            let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *self.tx).await?;
            ids.extend(rows.into_iter().map(|(id, key)| (key, id)));
        }

        let keys: Vec<(&str, i64)> = items
            .iter()
            .filter_map(|(item, _)| ids.get(&item.key).map(|id| (item, *id)))
            .flat_map(|(item, id)| item.aliases.iter().map(move |a| (a.as_str(), id)))
            .collect();
        for chunk in keys.chunks(CHUNK / 3) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO seen_keys (account_id, key, item_id) ");
            q.push_values(chunk, |mut row, (key, id)| {
                row.push_bind(self.account_id)
                    .push_bind(*key)
                    .push_bind(*id);
            });
            q.push(" ON CONFLICT (account_id, key) DO NOTHING");
            q.build().execute(&mut *self.tx).await?;
        }

        items
            .iter()
            .map(|(item, _)| {
                ids.get(&item.key).copied().ok_or_else(|| {
                    super::StoreError::NotFound(format!(
                        "item {} was recorded twice in one document",
                        item.key
                    ))
                })
            })
            .collect()
    }

    /// Put a composed post in the outbox.
    pub async fn enqueue(
        &mut self,
        item_id: i64,
        post: &Post,
        held: bool,
        item_date: Option<i64>,
        now: i64,
    ) -> StoreResult<i64> {
        super::outbox::insert(
            &mut self.tx,
            super::outbox::NewPost {
                account_id: self.account_id,
                feed_id: self.feed_id,
                item_id,
                post,
                held,
                item_date,
            },
            now,
        )
        .await
    }

    /// Commit the poll: the feed's validators go in last, in the same transaction.
    pub async fn finish(mut self, success: FeedSuccess<'_>, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash), \
             baseline_done = 1, last_result = ?, last_polled_at = ?, last_success_at = ?, \
             consecutive_failures = 0, failing_since = NULL, last_error = NULL, \
             next_check_at = ?, items_seen = items_seen + ?, updated_at = ? WHERE id = ?",
        )
        .bind(success.etag)
        .bind(success.last_modified)
        .bind(success.body_hash)
        .bind(success.result)
        .bind(now)
        .bind(now)
        .bind(success.next_check_at)
        .bind(success.new_items)
        .bind(now)
        .bind(self.feed_id)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Throw the poll's writes away (dry run).
    pub async fn abandon(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
