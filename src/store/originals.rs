//! Where a duplicate came from: for identity keys the account has seen, the item that
//! claimed each first and its feed. Only a dry run asks (to say "duplicate of … in feed
//! …"); the daemon's dedupe needs no more than `items::IngestTx::recognise`.
//!
//! Must not: write anything.

use super::padded::{MAX_ROWS, PaddedSql};
use super::{Store, StoreResult};
use crate::fate::Original;
use crate::store::on;
use std::collections::HashMap;

impl Store {
    /// The original of each of `keys` the account has seen, by key.
    pub async fn originals(
        &self,
        account_id: i64,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Original>> {
        static ORIGINALS: PaddedSql = PaddedSql::new(
            "SELECT s.key, f.name, i.title, i.item_key FROM seen_keys s \
             JOIN items i ON i.id = s.item_id JOIN feeds f ON f.id = i.feed_id \
             WHERE s.account_id = ? AND s.key IN (",
            "?",
            ")",
        );
        let mut found = HashMap::new();
        for chunk in keys.chunks(MAX_ROWS) {
            let (sql, rows) = ORIGINALS.sql(chunk.len());
            let rows: Vec<(String, String, Option<String>, String)> = on!(self.pool(), |c| {
                let mut query = sqlx::query_as(sql).bind(account_id);
                for i in 0..rows {
                    query = query.bind(chunk.get(i).copied());
                }
                query.fetch_all(c).await?
            });
            found.extend(rows.into_iter().map(|(key, feed, title, item_key)| {
                (
                    key,
                    Original {
                        feed,
                        title,
                        key: item_key,
                    },
                )
            }));
        }
        Ok(found)
    }
}
