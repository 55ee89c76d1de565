//! Copying a whole store into another, empty one: `migrate-store` (a SQLite store into a
//! new PostgreSQL database), and a dry run's in-memory SQLite copy of a PostgreSQL store.
//!
//! Every table that matters is copied with its ids (accounts and their tokens, feeds and
//! their validators, items and the seen set, the outbox with its claims and replies, the
//! corrections, the store's meta values), so the copy recognises every story the original
//! did and its outbox goes on where the original's stopped. The source is read in one
//! read transaction (one consistent state); the target is written in one transaction,
//! which first checks that it holds nothing: a half-copied or non-empty target is never
//! left behind. Not copied: the heartbeat (liveness of a daemon on the source).
//!
//! Must not: copy between stores of different schema versions (both are migrated to this
//! release's before the copy), or into a store that has accounts, feeds, items or posts.

use super::{Db, Store, StoreError, StoreResult, on};

/// How a column is read from one backend and bound on the other.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bool,
}
use Kind::{Bool, Int, Text};

/// A table, its columns in the order copied, and its order (parents before children; the
/// outbox by id, so a reply comes after the post it answers).
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
    /// Whether its id is an identity on PostgreSQL (to be moved past the copied ids).
    identity: bool,
}

const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("access_token", Text),
            ("token_source", Text),
            ("token_issued_at", Int),
            ("token_expires_at", Int),
            ("threads_user_id", Text),
            ("username", Text),
            ("paused_reason", Text),
            ("quota_total", Int),
            ("quota_duration", Int),
            ("quota_usage", Int),
            ("quota_checked_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "feeds",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("url", Text),
            ("fetch_url", Text),
            ("account_id", Int),
            ("etag", Text),
            ("last_modified", Text),
            ("body_hash", Text),
            ("baseline_done", Bool),
            ("last_polled_at", Int),
            ("last_success_at", Int),
            ("last_result", Text),
            ("last_error", Text),
            ("failing_since", Int),
            ("consecutive_failures", Int),
            ("next_check_at", Int),
            ("items_seen", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("identity_rules", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "items",
        columns: &[
            ("id", Int),
            ("feed_id", Int),
            ("item_key", Text),
            ("title", Text),
            ("link", Text),
            ("published_at", Int),
            ("first_seen_at", Int),
            ("disposition", Text),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "seen_keys",
        columns: &[("account_id", Int), ("key", Text), ("item_id", Int)],
        order: "account_id, key",
        identity: false,
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("item_id", Int),
            ("feed_id", Int),
            ("state", Text),
            ("text", Text),
            ("link_attachment", Text),
            ("topic_tag", Text),
            ("media_type", Text),
            ("image_url", Text),
            ("alt_text", Text),
            ("reply_control", Text),
            ("container_id", Text),
            ("container_created_at", Int),
            ("publish_started_at", Int),
            ("media_id", Text),
            ("permalink", Text),
            ("attempts", Int),
            ("last_error", Text),
            ("not_before", Int),
            ("item_date", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("published_at", Int),
            ("claimed_by", Text),
            ("queue_order", Int),
            ("wait_kind", Text),
            ("wait_note", Text),
            ("text_attachment", Text),
            ("attachment_link", Text),
            ("reply_approvals", Bool),
            ("ghost", Bool),
            ("first_reply", Text),
            ("reply_to", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "corrections",
        columns: &[
            ("post_id", Int),
            ("title", Text),
            ("revision", Int),
            ("updated_at", Int),
        ],
        order: "post_id",
        identity: false,
    },
    Table {
        name: "correction_replies",
        columns: &[
            ("reply_id", Int),
            ("post_id", Int),
            ("revision", Int),
            ("old_title", Text),
            ("new_title", Text),
        ],
        order: "reply_id",
        identity: false,
    },
];

/// One value on its way from one backend to the other.
#[derive(Debug, Clone)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

/// What a copy moved: rows per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64)>,
}

impl Copied {
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, n)| *n)
    }
}

impl Store {
    /// Copies every table of this store into `target`, which must be empty (see the
    /// module docs); one transaction on each side.
    pub async fn copy_into(&self, target: &Store) -> StoreResult<Copied> {
        let mut source = self.begin_read().await?;
        let mut tx = target.begin_immediate().await?;
        for table in ["accounts", "feeds", "items", "outbox"] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let rows: i64 = on!(tx.conn(), |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *c)
                .await?);
            if rows > 0 {
                return Err(StoreError::Unsupported(format!(
                    "the target store is not empty ({rows} rows in {table}); copy into a new, \
                     empty database"
                )));
            }
        }
        let mut copied = Copied::default();
        for table in TABLES {
            let rows = read_table(&mut source, table).await?;
            let insert = insert_sql(table);
            for row in &rows {
                on!(tx.conn(), |c| {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.as_str()));
                    for value in row {
                        query = match value {
                            Value::Int(v) => query.bind(*v),
                            Value::Text(v) => query.bind(v.as_deref()),
                            Value::Bool(v) => query.bind(*v),
                        };
                    }
                    query.execute(&mut *c).await?.rows_affected()
                });
            }
            copied.tables.push((table.name, rows.len() as u64));
        }
        copy_meta(&mut source, &mut tx).await?;
        if let Db::Postgres(_) = tx {
            for table in TABLES.iter().filter(|t| t.identity) {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM {0}), false)",
                    table.name
                );
                on!(tx.conn(), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
            }
        }
        tx.commit().await?;
        source.commit().await?;
        Ok(copied)
    }

    /// A read transaction: one consistent state of the store for several statements.
    async fn begin_read(&self) -> StoreResult<super::Tx> {
        Ok(match self.pool() {
            Db::Sqlite(pool) => Db::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Db::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        })
    }
}

fn insert_sql(table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        names.join(", "),
        params.join(", ")
    )
}

async fn read_table(source: &mut super::Tx, table: &Table) -> StoreResult<Vec<Vec<Value>>> {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        names.join(", "),
        table.name,
        table.order
    );
    Ok(on!(source.conn(), |c| {
        use sqlx::Row;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *c)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                values.push(match kind {
                    Int => Value::Int(row.try_get(i)?),
                    Text => Value::Text(row.try_get(i)?),
                    Bool => Value::Bool(row.try_get(i)?),
                });
            }
            out.push(values);
        }
        out
    }))
}

/// The store's meta values (`legacy_keys_max_item_id`: which item ids were stored under
/// the identity rules of earlier releases), over the target's own.
async fn copy_meta(source: &mut super::Tx, target: &mut super::Tx) -> StoreResult<()> {
    let meta: Vec<(String, i64)> = on!(source.conn(), |c| sqlx::query_as(
        "SELECT name, value FROM store_meta ORDER BY name"
    )
    .fetch_all(&mut *c)
    .await?);
    for (name, value) in &meta {
        on!(target.conn(), |c| sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        .bind(name.as_str())
        .bind(*value)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}
