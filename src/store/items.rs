//! Items, the account-wide seen set, and the ingest transaction.
//!
//! One poll's results are written as one unit (a savepoint of the pollers' shared batch,
//! see `group_commit`): items and their keys first, then the outbox rows, then the feed's
//! validators, so validators are never stored without the items behind them. Dedupe reads
//! happen under the same write turn, so two feeds of one account ingesting the same story
//! at once cannot both queue it.

use super::WriteSlot;
use super::feeds::FeedRow;
use super::group_commit::PendingCommit;
use super::padded::{MAX_ROWS, PaddedSql};
use super::{Store, StoreResult};
use crate::compose::Post;
use crate::store::on;
use std::collections::{HashMap, HashSet};

/// One padded `… IN ($2, …)` lookup on `conn`: `first` binds the statement's leading
/// parameter, `keys` the list (padding binds NULL, which matches nothing). A macro, so
/// that each backend's arm builds its own driver's query.
macro_rules! lookup {
    ($conn:expr, $sql:expr, $first:expr, $keys:expr) => {{
        let keys: &[&str] = $keys;
        let (statement, rows) = $sql.sql(keys.len());
        on!($conn, |c| {
            let mut query = sqlx::query_as(statement).bind($first);
            for i in 0..rows {
                query = query.bind(keys.get(i).copied());
            }
            query.fetch_all(c).await?
        })
    }};
}

/// The identity rules of this release: 2 since story fragments and shared links counted
/// (issue 11). A feed whose `identity_rules` is lower has not been ingested under them.
pub const IDENTITY_RULES: i64 = 2;

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
    /// New while its feed was flood-held: recorded, not composed. After `release`, the
    /// feed's next poll composes it if it is still in the feed.
    HeldUncomposed,
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
            ItemDisposition::HeldUncomposed => "held_uncomposed",
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
    /// The per-feed key under the identity rules of earlier releases, when it differs:
    /// it matches only rows stored before the upgrade (see migration 0003).
    pub legacy_key: Option<String>,
    /// Alias keys under those rules that differ from `aliases`; same restriction.
    pub legacy_aliases: Vec<String>,
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
    /// This feed recorded it while flood-held, without composing it.
    HeldUncomposed { item_id: i64 },
    /// The account has it under its keys in the form of earlier releases: record it
    /// under today's (as a duplicate), so later polls know it without the old form.
    KnownUnderOldKeys,
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
    /// This is the feed's first ingest under today's identity rules: keys in the old
    /// form are looked up too.
    old_keys_pending: bool,
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
            old_keys_pending: feed.identity_rules < IDENTITY_RULES,
        })
    }

    /// How many items of the feed have each disposition. Items held without a post
    /// count as `held`: they wait for the same `release`.
    pub async fn item_counts(&self, feed_id: i64) -> StoreResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on!(self.pool(), |c| sqlx::query_as(
            "SELECT CASE disposition WHEN 'held_uncomposed' THEN 'held' ELSE disposition END, \
             COUNT(*) FROM items WHERE feed_id = $1 GROUP BY 1",
        )
        .bind(feed_id)
        .fetch_all(c)
        .await?);
        Ok(rows.into_iter().collect())
    }
}

impl IngestTx {
    /// Recognise the items of one document, in document order: an item is new only if
    /// none of its keys was seen by the account, earlier in this document or before.
    pub async fn recognise(&mut self, items: &[IngestItem]) -> StoreResult<Vec<Recognised>> {
        static KNOWN: PaddedSql = PaddedSql::new(
            "SELECT item_key, id, disposition FROM items WHERE feed_id = ? AND item_key IN (",
            "?",
            ")",
        );
        static SEEN: PaddedSql = PaddedSql::new(
            "SELECT key FROM seen_keys WHERE account_id = ? AND key IN (",
            "?",
            ")",
        );
        // Keys in the form of earlier releases match only what those releases stored.
        static KNOWN_LEGACY: PaddedSql = PaddedSql::new(
            "SELECT item_key FROM items WHERE feed_id = ? AND id <= \
             (SELECT value FROM store_meta WHERE name = 'legacy_keys_max_item_id') \
             AND item_key IN (",
            "?",
            ")",
        );
        static SEEN_LEGACY: PaddedSql = PaddedSql::new(
            "SELECT key FROM seen_keys WHERE account_id = ? AND item_id <= \
             (SELECT value FROM store_meta WHERE name = 'legacy_keys_max_item_id') \
             AND key IN (",
            "?",
            ")",
        );
        let mut known: HashMap<String, (i64, String)> = HashMap::new();
        let mut known_legacy: HashSet<String> = HashSet::new();
        if self.feed_has_items {
            let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
            for chunk in keys.chunks(MAX_ROWS) {
                let rows: Vec<(String, i64, String)> =
                    lookup!(self.slot.conn(), &KNOWN, self.feed_id, chunk);
                known.extend(rows.into_iter().map(|(key, id, d)| (key, (id, d))));
            }
            let legacy: Vec<&str> = items
                .iter()
                .filter(|_| self.old_keys_pending)
                .filter(|i| !known.contains_key(&i.key))
                .filter_map(|i| i.legacy_key.as_deref())
                .collect();
            for chunk in legacy.chunks(MAX_ROWS) {
                let rows: Vec<(String,)> =
                    lookup!(self.slot.conn(), &KNOWN_LEGACY, self.feed_id, chunk);
                known_legacy.extend(rows.into_iter().map(|(k,)| k));
            }
        }
        let known_by_old_key = |item: &IngestItem| {
            item.legacy_key
                .as_ref()
                .is_some_and(|k| known_legacy.contains(k))
        };

        let unknown: Vec<&IngestItem> = items
            .iter()
            .filter(|i| !known.contains_key(&i.key) && !known_by_old_key(i))
            .collect();
        let aliases: Vec<&str> = unknown
            .iter()
            .flat_map(|i| i.aliases.iter().map(String::as_str))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for chunk in aliases.chunks(MAX_ROWS) {
            let rows: Vec<(String,)> = lookup!(self.slot.conn(), &SEEN, self.account_id, chunk);
            seen.extend(rows.into_iter().map(|(k,)| k));
        }
        let legacy_aliases: Vec<&str> = unknown
            .iter()
            .filter(|_| self.old_keys_pending)
            .flat_map(|i| i.legacy_aliases.iter().map(String::as_str))
            .collect();
        let mut seen_legacy: HashSet<String> = HashSet::new();
        for chunk in legacy_aliases.chunks(MAX_ROWS) {
            let rows: Vec<(String,)> =
                lookup!(self.slot.conn(), &SEEN_LEGACY, self.account_id, chunk);
            seen_legacy.extend(rows.into_iter().map(|(k,)| k));
        }

        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some((id, disposition)) = known.get(&item.key) {
                out.push(if disposition == ItemDisposition::HeldUncomposed.as_str() {
                    Recognised::HeldUncomposed { item_id: *id }
                } else {
                    Recognised::Known
                });
                continue;
            }
            if known_by_old_key(item) {
                out.push(Recognised::KnownUnderOldKeys);
                seen.extend(item.aliases.iter().cloned());
                continue;
            }
            let duplicate = item.aliases.iter().any(|a| seen.contains(a));
            let old_duplicate = item.legacy_aliases.iter().any(|a| seen_legacy.contains(a));
            // Claim the keys for the rest of the document: a story listed twice is one story.
            seen.extend(item.aliases.iter().cloned());
            out.push(if duplicate {
                Recognised::Duplicate
            } else if old_duplicate {
                Recognised::KnownUnderOldKeys
            } else {
                Recognised::New
            });
        }
        Ok(out)
    }

    /// Whether the feed is flood-held: some of its posts wait for `release`.
    pub async fn feed_is_held(&mut self) -> StoreResult<bool> {
        let held: bool = on!(self.slot.conn(), |c| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE account_id = $1 AND state = 'held' \
             AND feed_id = $2)",
        )
        .bind(self.account_id)
        .bind(self.feed_id)
        .fetch_one(c)
        .await?);
        Ok(held)
    }

    /// Change the disposition of items this feed recorded earlier (held without a post,
    /// decided now).
    pub async fn set_dispositions(
        &mut self,
        changes: &[(i64, ItemDisposition)],
    ) -> StoreResult<()> {
        for (item_id, disposition) in changes {
            on!(self.slot.conn(), |c| sqlx::query(
                "UPDATE items SET disposition = $1 WHERE id = $2 AND feed_id = $3"
            )
            .bind(disposition.as_str())
            .bind(item_id)
            .bind(self.feed_id)
            .execute(c)
            .await?
            .rows_affected());
        }
        Ok(())
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
            ") AS v WHERE column1 IS NOT NULL \
             ON CONFLICT (feed_id, item_key) DO NOTHING RETURNING id, item_key",
        );
        static KEYS: PaddedSql = PaddedSql::new(
            "INSERT INTO seen_keys (account_id, key, item_id) \
             SELECT ?, column1, column2 FROM (VALUES ",
            "(?, ?)",
            ") AS v WHERE column1 IS NOT NULL ON CONFLICT (account_id, key) DO NOTHING",
        );
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(items.len());
        for chunk in items.chunks(MAX_ROWS) {
            let (sql, rows) = ITEMS.sql(chunk.len());
            let inserted: Vec<(i64, String)> = on!(self.slot.conn(), |c| {
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
                query.fetch_all(c).await?
            });
            ids.extend(inserted.into_iter().map(|(id, key)| (key, id)));
        }

        let keys: Vec<(&str, i64)> = items
            .iter()
            .filter_map(|(item, _)| ids.get(item.key.as_str()).map(|id| (item, *id)))
            .flat_map(|(item, id)| item.aliases.iter().map(move |a| (a.as_str(), id)))
            .collect();
        for chunk in keys.chunks(MAX_ROWS) {
            let (sql, rows) = KEYS.sql(chunk.len());
            on!(self.slot.conn(), |c| {
                let mut query = sqlx::query(sql).bind(self.account_id);
                for i in 0..rows {
                    let row = chunk.get(i);
                    query = query
                        .bind(row.map(|(key, _)| *key))
                        .bind(row.map(|(_, id)| *id));
                }
                query.execute(c).await?.rows_affected()
            });
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
        on!(self.slot.conn(), |c| {
            sqlx::query(
            "UPDATE feeds SET etag = $1, last_modified = $2, body_hash = COALESCE($3, body_hash), \
             baseline_done = TRUE, last_result = $4, last_polled_at = $5, last_success_at = $6, \
             consecutive_failures = 0, failing_since = NULL, last_error = NULL, \
             next_check_at = $7, items_seen = items_seen + $8, identity_rules = $9, updated_at = $10 \
             WHERE id = $11",
        )
        .bind(success.etag)
        .bind(success.last_modified)
        .bind(success.body_hash)
        .bind(success.result)
        .bind(now)
        .bind(now)
        .bind(success.next_check_at)
        .bind(success.new_items)
        .bind(IDENTITY_RULES)
        .bind(now)
        .bind(self.feed_id)
        .execute(c)
        .await?.rows_affected()
        });
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
    use crate::store::testing::each_backend;

    fn item(n: usize, alias: &str) -> IngestItem {
        IngestItem {
            key: format!("guid:{n}"),
            aliases: vec![format!("url:example.org/{alias}")],
            legacy_key: None,
            legacy_aliases: Vec::new(),
            title: Some(format!("Story {n}")),
            link: Some(format!("https://example.org/{alias}")),
            published_at: Some(1_700_000_000 + n as i64),
        }
    }

    /// Documents longer than one statement's chunk: every row must land, in order, and
    /// a story repeated across chunks must still be caught.
    #[tokio::test]
    async fn a_document_of_several_chunks_is_recognised_and_recorded_whole() {
        each_backend!(
            on_disk | store | {
                let account = store.ensure_account("news", 0).await.unwrap();
                let feed = super::super::FeedConfig {
                    name: "front",
                    url: "https://example.org/feed",
                    account_id: account.id,
                };
                let id = store.sync_feeds(&[feed], 0).await.unwrap()[0];
                let row = store.feed_by_id(id).await.unwrap().unwrap();

                let n = 2 * MAX_ROWS + 77;
                let mut items: Vec<IngestItem> =
                    (0..n).map(|i| item(i, &format!("s{i}"))).collect();
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
            }
        );
    }
}
