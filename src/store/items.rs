//! Items, the account-wide seen set, and the ingest transaction.
//!
//! One poll's results are written as one unit (a savepoint of the pollers' shared batch,
//! see `group_commit`): items and their keys first, then the outbox rows, then the feed's
//! validators, so validators are never stored without the items behind them. Dedupe reads
//! happen under the same write turn, so two feeds of one account ingesting the same story
//! at once cannot both queue it.

use super::feeds::FeedRow;
use super::group_commit::{PendingCommit, WriteSlot};
use super::{Store, StoreResult};
use crate::compose::Post;
use std::collections::{HashMap, HashSet};

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

/// The writes of one poll of one feed; dropped unfinished, they are undone.
pub struct IngestTx {
    slot: WriteSlot,
    /// When the write turn was taken, to report how long a poll held it.
    acquired: std::time::Instant,
    feed_id: i64,
    account_id: i64,
}

impl Store {
    pub async fn begin_ingest(&self, feed: &FeedRow) -> StoreResult<IngestTx> {
        let slot = self.begin_write().await?;
        Ok(IngestTx {
            slot,
            acquired: std::time::Instant::now(),
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
        // Whole lists travel as one JSON parameter: the SQL text stays the same whatever
        // the number of items, so SQLite prepares each statement once per connection
        // (statements built with one placeholder per row were re-prepared for nearly
        // every feed, and that dominated a cold cycle).
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT item_key FROM items WHERE feed_id = ? \
             AND item_key IN (SELECT value FROM json_each(?))",
        )
        .bind(self.feed_id)
        .bind(json_list(&keys))
        .fetch_all(self.slot.conn())
        .await?;
        let known: HashSet<String> = rows.into_iter().map(|(k,)| k).collect();

        let candidates: Vec<&str> = items
            .iter()
            .filter(|i| !known.contains(&i.key))
            .flat_map(|i| i.aliases.iter().map(String::as_str))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        if !candidates.is_empty() {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT key FROM seen_keys WHERE account_id = ? \
                 AND key IN (SELECT value FROM json_each(?))",
            )
            .bind(self.account_id)
            .bind(json_list(&candidates))
            .fetch_all(self.slot.conn())
            .await?;
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
        if !items.is_empty() {
            let rows: Vec<_> = items
                .iter()
                .map(|(item, disposition)| {
                    (
                        &item.key,
                        &item.title,
                        &item.link,
                        item.published_at,
                        disposition.as_str(),
                    )
                })
                .collect();
            let rows_json = to_json(&rows);
            // `WHERE true` lets SQLite tell the upsert clause from a join constraint.
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "INSERT INTO items (feed_id, item_key, title, link, published_at, first_seen_at, disposition) \
                 SELECT ?, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, ?, j.value ->> 4 \
                 FROM json_each(?) AS j WHERE true \
                 ON CONFLICT (feed_id, item_key) DO NOTHING RETURNING id, item_key",
            )
            .bind(self.feed_id)
            .bind(now)
            .bind(rows_json)
            .fetch_all(self.slot.conn())
            .await?;
            ids.extend(rows.into_iter().map(|(id, key)| (key, id)));
        }

        let keys: Vec<(&String, i64)> = items
            .iter()
            .filter_map(|(item, _)| ids.get(&item.key).map(|id| (item, *id)))
            .flat_map(|(item, id)| item.aliases.iter().map(move |a| (a, id)))
            .collect();
        if !keys.is_empty() {
            sqlx::query(
                "INSERT INTO seen_keys (account_id, key, item_id) \
                 SELECT ?, j.value ->> 0, j.value ->> 1 FROM json_each(?) AS j WHERE true \
                 ON CONFLICT (account_id, key) DO NOTHING",
            )
            .bind(self.account_id)
            .bind(to_json(&keys))
            .execute(self.slot.conn())
            .await?;
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
            self.slot.conn(),
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

    /// Keep the poll's writes: the feed's validators go in last, in the same unit. Returns
    /// how long the write turn was held and the commit to wait for; nothing that depends
    /// on these writes may happen before it resolves.
    pub async fn finish(
        mut self,
        success: FeedSuccess<'_>,
        now: i64,
    ) -> StoreResult<(std::time::Duration, PendingCommit)> {
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
        .execute(self.slot.conn())
        .await?;
        let held = self.acquired.elapsed();
        Ok((held, self.slot.commit().await?))
    }

    /// Throw the poll's writes away (dry run).
    pub async fn abandon(self) -> StoreResult<()> {
        self.slot.rollback().await
    }
}

/// A list of strings as one JSON array parameter.
fn json_list(values: &[&str]) -> String {
    to_json(values)
}

/// Rows (tuples serialise as arrays) as one JSON parameter, written straight from the
/// borrowed values.
fn to_json<T: serde::Serialize + ?Sized>(rows: &T) -> String {
    // Serialising strings, numbers and tuples of them cannot fail.
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned())
}
