//! The SQLite store: every SQL statement of the program lives under this module.
//!
//! One file per table group: `feeds` (poll state), `items` (recognised items, the
//! account-wide seen set, and the ingest transaction), `outbox` (the publishing queue, its
//! typed states, the workers' claims and every conditional transition), `accounts`
//! (tokens, quota, pause state), `admin` (operator and editor actions on the queue:
//! approve, edit, release, retry, drop), `attention` (what `status` reads to say whether a
//! human is needed).
//! The SQL sticks to what SQLite and PostgreSQL share where it can (integer unix times,
//! `ON CONFLICT`, `RETURNING`), so a Postgres backend can follow.
//!
//! Also here: `lock` (one daemon per store), `snapshot` (the in-memory copy a dry run
//! works on, so that it cannot write the store file) and `files` (the store's files are
//! readable by their owner only).

pub mod accounts;
pub mod admin;
pub mod attention;
pub mod corrections;
pub mod feeds;
mod files;
mod group_commit;
pub mod items;
pub mod lock;
mod originals;
pub mod outbox;
mod padded;
mod snapshot;

use crate::feed::redact::redact_url;
use group_commit::{GroupCommit, WriteSlot};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use accounts::AccountRow;
pub use admin::{AdminOutcome, PostFilter, PostOrder, ReleaseRequest, Released};
pub use feeds::{FeedConfig, FeedRow};
pub use group_commit::PendingCommit;
pub use items::{IngestItem, IngestTx, ItemDisposition, Recognised};
pub use lock::{DaemonLock, LockError, LockHolder};
pub use outbox::{
    Claim, Claimed, Entry, Held, Holder, MediaType, OutboxRow, OutboxState, PostOptions, PostWait,
    Transition, WaitCounts, WaitKind,
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

/// How long a statement waits for another connection's write lock before it fails with
/// "database is locked". Several writers (pollers, publishers, the CLI while the daemon
/// runs) wait for each other instead of failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How the store is opened. `StoreOptions::default()` is production's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// See [`DEFAULT_BUSY_TIMEOUT`]; tests of a locked store shorten it.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// The database file a sqlx SQLite URL names; `None` for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Current time as the store keeps it: unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Open (creating if missing) and migrate. `url` is a sqlx SQLite URL such as
    /// `sqlite://feed2threads.db` or `sqlite::memory:`.
    pub async fn open(url: &str) -> StoreResult<Store> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// `open` with these options.
    pub async fn open_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        Self::open_inner(url, options, COMMIT_WINDOW, COMMIT_MAX_WRITES).await
    }

    /// A private in-memory copy of the store at `url` (an empty, migrated one when the
    /// file does not exist): a dry run works on it. The file is only ever read, through a
    /// read-only attachment that is gone before this returns, so nothing done with the
    /// copy can reach it.
    pub async fn open_snapshot(url: &str) -> StoreResult<Store> {
        let pool = Self::pool_for("sqlite::memory:", StoreOptions::default()).await?;
        if let Some(file) = sqlite_file(url).filter(|f| f.exists()) {
            snapshot::copy_into(&pool, &file)
                .await
                .map_err(|source| StoreError::Open {
                    url: redact_url(url).into_owned(),
                    source,
                })?;
        }
        MIGRATOR.run(&pool).await?;
        let group = GroupCommit::new(pool.clone(), None, Duration::ZERO, COMMIT_MAX_WRITES);
        Ok(Store { pool, group })
    }

    /// `open`, with the group commit's window and batch size chosen (tests).
    #[cfg(test)]
    pub(crate) async fn open_with_commit(
        url: &str,
        window: Duration,
        max_writes: usize,
    ) -> StoreResult<Store> {
        Self::open_inner(url, StoreOptions::default(), window, max_writes).await
    }

    async fn open_inner(
        url: &str,
        store_options: StoreOptions,
        window: Duration,
        max_writes: usize,
    ) -> StoreResult<Store> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let (pool, writer) = Self::pools(url, store_options).await?;
        MIGRATOR.run(&pool).await?;
        // The single connection of an in-memory store cannot be held open for a window:
        // every read would wait for it.
        let window = if memory { Duration::ZERO } else { window };
        let group = GroupCommit::new(pool.clone(), writer, window, max_writes);
        Ok(Store { pool, group })
    }

    /// The pool of `url`, not migrated.
    async fn pool_for(url: &str, store_options: StoreOptions) -> StoreResult<SqlitePool> {
        Ok(Self::pools(url, store_options).await?.0)
    }

    /// The pool and the options of the pollers' writer connection (`None` in memory).
    async fn pools(
        url: &str,
        store_options: StoreOptions,
    ) -> StoreResult<(SqlitePool, Option<SqliteConnectOptions>)> {
        // A URL with a password (postgres://user:pass@…) is shown redacted.
        let open_err = |source| StoreError::Open {
            url: redact_url(url).into_owned(),
            source,
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url).map_err(open_err)?;
        // Before SQLite creates the file (0644 less the umask): it holds tokens.
        if !memory {
            files::private(options.get_filename());
        }
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(store_options.busy_timeout)
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
        Ok((pool, writer))
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that reads and then writes, taking the write lock at its start. A
    /// deferred one would fail at once with "database is locked" when another writer
    /// (the publisher, a poll) commits between its read and its write: SQLite cannot
    /// upgrade a stale read snapshot, and the busy timeout does not wait for that case.
    pub(crate) async fn begin_immediate(
        &self,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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
