//! The SQLite store: every SQL statement of the program lives under this module.
//!
//! One file per table group: `feeds` (poll state), `items` (recognised items, the
//! account-wide seen set, and the ingest transaction), `outbox` (the publishing queue and
//! its state machine), `accounts` (tokens, quota, pause state), `admin` (operator actions
//! on the queue).
//! The SQL sticks to what SQLite and PostgreSQL share where it can (integer unix times,
//! `ON CONFLICT`, `RETURNING`), so a Postgres backend can follow.

pub mod accounts;
pub mod admin;
pub mod feeds;
pub mod items;
pub mod outbox;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

pub use accounts::AccountRow;
pub use feeds::FeedRow;
pub use items::{IngestItem, IngestTx, ItemDisposition, Recognised};
pub use outbox::{OutboxRow, OutboxState};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot migrate the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{0}")]
    NotFound(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The migrations, embedded in the binary and applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Writers of this process queue here rather than in SQLite's busy handler, which
    /// sleeps between retries and leaves the write lock idle while every writer naps.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// The process-wide write turn; hold it for the length of a write transaction.
pub(crate) type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// Current time as the store keeps it: unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Open (creating if missing) and migrate. `url` is a sqlx SQLite URL such as
    /// `sqlite://feed2threads.db` or `sqlite::memory:`.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let open_err = |source| StoreError::Open {
            url: url.to_string(),
            source,
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .foreign_keys(true)
            // Several writers (pollers, publishers, the CLI while the daemon runs) wait
            // for each other instead of failing.
            .busy_timeout(Duration::from_secs(30))
            .synchronous(SqliteSynchronous::Normal)
            // A cold cycle inserts ~100k rows into indexes keyed by long URLs: a bigger page
            // cache keeps the index pages in memory instead of re-reading them.
            .pragma("cache_size", "-16384")
            // Checkpoint every ~40 MB of WAL instead of every 4 MB: each checkpoint syncs
            // the disk, and a cold cycle's many small commits otherwise pay that hundreds
            // of times.
            .pragma("wal_autocheckpoint", "10000");
        let options = if memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        // An in-memory database exists per connection: keep exactly one.
        let max = if memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            writer: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction that takes the write lock at once, so that a read-then-write
    /// sequence never fails on lock upgrade and concurrent ingests see each other's keys.
    pub(crate) async fn begin_write(
        &self,
    ) -> StoreResult<(WriteTurn, sqlx::Transaction<'static, sqlx::Sqlite>)> {
        let turn = self.write_turn().await;
        Ok((turn, self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }

    /// Wait for this process's turn to write.
    pub(crate) async fn write_turn(&self) -> WriteTurn {
        self.writer.clone().lock_owned().await
    }

    /// Does the store answer?
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Record that the daemon is alive (for `status --check`).
    pub async fn heartbeat(&self, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO heartbeat (id, pid, beat_at) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, beat_at = excluded.beat_at",
        )
        .bind(i64::from(std::process::id()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn last_heartbeat(&self) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT beat_at FROM heartbeat WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
