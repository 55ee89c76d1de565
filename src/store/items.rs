//! Items, the account-wide seen set, and the ingest transaction.
//!
//! One poll's results are written as one unit (a savepoint of the pollers' shared batch,
//! see `group_commit`): items and their keys first, then the outbox rows, then the feed's
//! validators, so validators are never stored without the items behind them. Dedupe reads
//! happen under the same write turn, so two feeds of one account ingesting the same story
//! at once cannot both queue it.

use super::feeds::FeedRow;
use super::group_commit::{PendingCommit, WriteSlot};
use super::padded::{MAX_ROWS, PaddedSql};
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
    /// Whether the feed can have items yet. A feed's first items are written in the same
    /// unit as its first `finish` (which sets `baseline_done`), so before its first
    /// successful poll it has none, and a cold start need not look for them.
    feed_has_items: bool,
}

impl Store {
    pub async fn begin_ingest(&self, feed: &FeedRow) -> StoreResult<IngestTx> {
        let slot = self.begin_write().await?;
        Ok(IngestTx {
            slot,
            acquired: std::time::Instant::now(),
            feed_id: feed.id,
            account_id: feed.account_id,
            feed_has_items: feed.baseline_done,
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
        static KNOWN: PaddedSql = PaddedSql::new(
            "SELECT item_key FROM items WHERE feed_id = ? AND item_key IN (",
            "?",
            ")",
        );
        static SEEN: PaddedSql = PaddedSql::new(
            "SELECT key FROM seen_keys WHERE account_id = ? AND key IN (",
            "?",
            ")",
        );
        let mut known: HashSet<String> = HashSet::new();
        let to_look_up = if self.feed_has_items { items } else { &[] };
        for chunk in to_look_up.chunks(MAX_ROWS) {
            let (sql, rows) = KNOWN.sql(chunk.len());
            let mut query = sqlx::query_scalar(sql).bind(self.feed_id);
            for i in 0..rows {
                query = query.bind(chunk.get(i).map(|item| item.key.as_str()));
            }
            known.extend(query.fetch_all(self.slot.conn()).await?);
        }

        let candidates: Vec<&str> = items
            .iter()
            .filter(|i| !known.contains(&i.key))
            .flat_map(|i| i.aliases.iter().map(String::as_str))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for chunk in candidates.chunks(MAX_ROWS) {
            let (sql, rows) = SEEN.sql(chunk.len());
            let mut query = sqlx::query_scalar(sql).bind(self.account_id);
            for i in 0..rows {
                query = query.bind(chunk.get(i).copied());
            }
            seen.extend(query.fetch_all(self.slot.conn()).await?);
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
        // Padding rows are all NULL; the WHERE clause skips them (and lets SQLite tell
        // the upsert clause from a join constraint).
        static ITEMS: PaddedSql = PaddedSql::new(
            "INSERT INTO items (feed_id, item_key, title, link, published_at, first_seen_at, disposition) \
             SELECT ?, column1, column2, column3, column4, ?, column5 FROM (VALUES ",
            "(?, ?, ?, ?, ?)",
            ") WHERE column1 IS NOT NULL \
             ON CONFLICT (feed_id, item_key) DO NOTHING RETURNING id, item_key",
        );
        static KEYS: PaddedSql = PaddedSql::new(
            "INSERT INTO seen_keys (account_id, key, item_id) \
             SELECT ?, column1, column2 FROM (VALUES ",
            "(?, ?)",
            ") WHERE column1 IS NOT NULL ON CONFLICT (account_id, key) DO NOTHING",
        );
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(items.len());
        for chunk in items.chunks(MAX_ROWS) {
            let (sql, rows) = ITEMS.sql(chunk.len());
            let mut query = sqlx::query_as(sql).bind(self.feed_id).bind(now);
            for i in 0..rows {
                let row = chunk.get(i);
                query = query
                    .bind(row.map(|(item, _)| item.key.as_str()))
                    .bind(row.and_then(|(item, _)| item.title.as_deref()))
                    .bind(row.and_then(|(item, _)| item.link.as_deref()))
                    .bind(row.and_then(|(item, _)| item.published_at))
                    .bind(row.map(|(_, disposition)| disposition.as_str()));
            }
            let inserted: Vec<(i64, String)> = query.fetch_all(self.slot.conn()).await?;
            ids.extend(inserted.into_iter().map(|(id, key)| (key, id)));
        }

        let keys: Vec<(&str, i64)> = items
            .iter()
            .filter_map(|(item, _)| ids.get(item.key.as_str()).map(|id| (item, *id)))
            .flat_map(|(item, id)| item.aliases.iter().map(move |a| (a.as_str(), id)))
            .collect();
        for chunk in keys.chunks(MAX_ROWS) {
            let (sql, rows) = KEYS.sql(chunk.len());
            let mut query = sqlx::query(sql).bind(self.account_id);
            for i in 0..rows {
                let row = chunk.get(i);
                query = query
                    .bind(row.map(|(key, _)| *key))
                    .bind(row.map(|(_, id)| *id));
            }
            query.execute(self.slot.conn()).await?;
        }

        items
            .iter()
            .map(|(item, _)| {
                ids.get(item.key.as_str()).copied().ok_or_else(|| {
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
        entry: super::outbox::Entry,
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
                entry,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: usize, alias: &str) -> IngestItem {
        IngestItem {
            key: format!("guid:{n}"),
            aliases: vec![format!("url:example.org/{alias}")],
            title: Some(format!("Story {n}")),
            link: Some(format!("https://example.org/{alias}")),
            published_at: Some(1_700_000_000 + n as i64),
        }
    }

    /// Documents longer than one statement's chunk: every row must land, in order, and
    /// a story repeated across chunks must still be caught.
    #[tokio::test]
    async fn a_document_of_several_chunks_is_recognised_and_recorded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        let account = store.ensure_account("news", 0).await.unwrap();
        let feed = super::super::FeedConfig {
            name: "front",
            url: "https://example.org/feed",
            account_id: account.id,
        };
        let id = store.sync_feeds(&[feed], 0).await.unwrap()[0];
        let row = store.feed_by_id(id).await.unwrap().unwrap();

        let n = 2 * MAX_ROWS + 77;
        let mut items: Vec<IngestItem> = (0..n).map(|i| item(i, &format!("s{i}"))).collect();
        // The last item is the first story again, under another guid.
        items.push(item(n, "s0"));

        let mut tx = store.begin_ingest(&row).await.unwrap();
        let recognised = tx.recognise(&items).await.unwrap();
        assert!(recognised[..n].iter().all(|r| *r == Recognised::New));
        assert_eq!(recognised[n], Recognised::Duplicate);
        let rows: Vec<_> = items
            .iter()
            .zip(&recognised)
            .map(|(item, r)| {
                let d = if *r == Recognised::New {
                    ItemDisposition::Backlog
                } else {
                    ItemDisposition::Duplicate
                };
                (item, d)
            })
            .collect();
        let ids = tx.record(&rows, 0).await.unwrap();
        assert_eq!(ids.len(), n + 1);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids follow input order"
        );
        let (_, pending) = tx.finish(FeedSuccess::default(), 0).await.unwrap();
        pending.wait().await.unwrap();

        // The next poll reads the feed's row again: its first poll is done now.
        let row = store.feed_by_id(id).await.unwrap().unwrap();
        assert!(row.baseline_done);
        let mut tx = store.begin_ingest(&row).await.unwrap();
        let again = tx.recognise(&items).await.unwrap();
        assert!(again.iter().all(|r| *r == Recognised::Known));
        tx.abandon().await.unwrap();
        let counts = store.item_counts(id).await.unwrap();
        assert_eq!(counts.get("backlog"), Some(&(n as i64)));
        assert_eq!(counts.get("duplicate"), Some(&1));
        store.close().await;
    }
}
