//! The SQLite store: every SQL statement of the program lives under this module.
//!
//! One file per table group: `feeds` (poll state), `items` (recognised items, the
//! account-wide seen set, and the ingest transaction), `outbox` (the publishing queue, its
//! typed states, the workers' claims and every conditional transition), `accounts`
//! (tokens, quota, pause state), `admin` (operator and editor actions on the queue:
//! approve, edit, release, retry, drop).
//! The SQL sticks to what SQLite and PostgreSQL share where it can (integer unix times,
//! `ON CONFLICT`, `RETURNING`), so a Postgres backend can follow.

pub mod accounts;
pub mod admin;
pub mod feeds;
mod group_commit;
pub mod items;
pub mod outbox;
mod padded;

use group_commit::{GroupCommit, WriteSlot};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

pub use accounts::AccountRow;
pub use admin::{AdminOutcome, PostFilter, PostOrder, ReleaseRequest, Released};
pub use feeds::{FeedConfig, FeedRow};
pub use group_commit::PendingCommit;
pub use items::{IngestItem, IngestTx, ItemDisposition, Recognised};
pub use outbox::{
    Claim, Claimed, Entry, Held, Holder, MediaType, OutboxRow, OutboxState, Transition,
};

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
    #[error("store commit failed: {0}")]
    Commit(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The migrations, embedded in the binary and applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The pollers' writes: they queue here rather than in SQLite's busy handler (which
    /// sleeps between retries and leaves the write lock idle while every writer naps),
    /// and the writes of a short window share one commit.
    group: std::sync::Arc<GroupCommit>,
}

/// How long the pollers' writes may wait to share a commit. A cold cycle ingests a feed
/// every millisecond or so; 20 ms gathers tens of them per commit, and a poll's result
/// reaching the disk 20 ms later changes nothing for anyone.
const COMMIT_WINDOW: Duration = Duration::from_millis(20);
/// Commit at once when this many writes are waiting.
const COMMIT_MAX_WRITES: usize = 256;

/// Current time as the store keeps it: unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Open (creating if missing) and migrate. `url` is a sqlx SQLite URL such as
    /// `sqlite://feed2threads.db` or `sqlite::memory:`.
    pub async fn open(url: &str) -> StoreResult<Store> {
        Self::open_with_commit(url, COMMIT_WINDOW, COMMIT_MAX_WRITES).await
    }

    /// `open`, with the group commit's window and batch size chosen (tests).
    pub(crate) async fn open_with_commit(
        url: &str,
        window: Duration,
        max_writes: usize,
    ) -> StoreResult<Store> {
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
            // Checkpoint every ~40 MB of WAL instead of every 4 MB: each checkpoint syncs
            // the disk, and a cold cycle's many small commits otherwise pay that hundreds
            // of times.
            .pragma("wal_autocheckpoint", "10000")
            // Each poll's writes run in a savepoint of the shared batch, and SQLite copies
            // every page a savepoint changes to a sub-journal, which past 64 KiB goes to a
            // temporary file. A cold cycle of 2000 feeds wrote 820 MB that way, 445 MB of
            // it sub-journals, all from the single writer thread. In memory the same cycle
            // writes 375 MB and takes ~10 % less CPU; the cost is the journal of the
            // poll being written at the memory peak (5 MB there, heaptrack).
            .pragma("temp_store", "memory");
        let options = if memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        // An in-memory database exists per connection: keep exactly one.
        let max = if memory { 1 } else { 8 };
        // Readers keep SQLite's default 2 MB page cache each; the pollers' writer, one
        // connection, keeps 4 MB for the hot index pages of the seen set. More bought
        // nothing measurable: a cold cycle of 2000 feeds (~100k rows) took the same CPU
        // time with 16 MB, and peak memory was 14 MB higher.
        let writer = (!memory).then(|| options.clone().pragma("cache_size", "-4096"));
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        // The single connection of an in-memory store cannot be held open for a window:
        // every read would wait for it.
        let window = if memory { Duration::ZERO } else { window };
        let group = GroupCommit::new(pool.clone(), writer, window, max_writes);
        Ok(Store { pool, group })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A poller's write: runs in the shared batch, under the write turn.
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteSlot> {
        self.group.begin().await
    }

    /// Run one statement as a poller's write and wait until it is committed.
    pub(crate) async fn write_one<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> StoreResult<()> {
        // Boxed: this future is over 3 KB inline, and every poll waiting for a fetch slot
        // would carry it (a poll persists its next check before it waits).
        Box::pin(async move {
            let mut slot = self.group.begin_single().await?;
            query.execute(slot.conn()).await?;
            slot.commit().await?.wait().await
        })
        .await
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
        self.group.close().await;
        self.pool.close().await;
    }
}
