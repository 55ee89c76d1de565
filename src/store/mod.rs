//! The store, on SQLite (the default) or PostgreSQL: every SQL statement of the program
//! lives under this module.
//!
//! One file per table group: `feeds` (poll state), `items` (recognised items, the
//! account-wide seen set, and the ingest transaction), `outbox` (the publishing queue, its
//! typed states, the workers' claims and every conditional transition), `accounts`
//! (tokens, quota, pause state), `admin` (operator and editor actions on the queue:
//! approve, edit, release, retry, drop), `attention` (what `status` reads to say whether a
//! human is needed).
//! The SQL sticks to what SQLite and PostgreSQL share (integer unix times, `$N`
//! placeholders, `ON CONFLICT`, `RETURNING`, `COALESCE`); each statement is written once
//! and `on!` runs it on whichever backend's pool, transaction or connection (`Db`) is
//! live, compiled for that driver. Per-backend text only where the dialects differ (a JSON
//! list parameter). Each backend has its migrations (`migrations/`, `migrations_pg/`),
//! embedded and versioned alike.
//!
//! Also here: `lock` (one daemon per store), `snapshot` (the in-memory copy a dry run
//! works on, so that it cannot write the store file), `copy` (a whole store into another:
//! `migrate-store`, and a dry run's copy of a PostgreSQL store) and `files` (the store's
//! files are readable by their owner only). SQLite only: `group_commit` and `padded`'s
//! reason to exist (the pollers' serialised writes).

pub mod accounts;
pub mod admin;
pub mod announce;
pub mod attention;
mod copy;
pub mod corrections;
pub mod feeds;
mod files;
mod group_commit;
pub mod items;
pub mod leases;
pub mod lock;
pub mod nodes;
mod originals;
pub mod outbox;
mod padded;
mod snapshot;
#[cfg(test)]
pub(crate) mod testing;

use crate::feed::redact::redact_url;
use group_commit::GroupCommit;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use accounts::AccountRow;
pub use admin::{AdminOutcome, PostFilter, PostOrder, ReleaseRequest, Released};
pub use copy::Copied;
pub use feeds::{FeedConfig, FeedRow};
pub use group_commit::PendingCommit;
pub use items::{IngestItem, IngestTx, ItemDisposition, Recognised};
pub use leases::{Lease, LeaseRow, Renewal};
pub use lock::{DaemonLock, LockError, LockHolder};
pub use nodes::{NodeClaim, NodeHolder};
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
    #[error(
        "the store at {url} was migrated by a newer feed2threads (schema version {found}); \
         this one knows schema versions up to {known}: run the newer release, or restore a \
         backup made for this one"
    )]
    Newer { url: String, found: i64, known: i64 },
    #[error("{0}")]
    Unsupported(String),
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
/// PostgreSQL's: the same schema in its types (`BIGINT` for every integer the code binds
/// as `i64`, `BOOLEAN` where it binds `bool`), versioned alike.
static MIGRATOR_PG: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_pg");

/// Whether `url` names a PostgreSQL database (`postgres://…`, `postgresql://…`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// One of the two backends' values: a pool, a transaction, a connection. The store's
/// statements are written once and run on either through [`on!`].
#[derive(Debug, Clone)]
pub(crate) enum Db<S, P> {
    Sqlite(S),
    Postgres(P),
}

impl<S, P> Db<S, P> {
    /// A subquery of the integers in the JSON array parameter `param`: SQLite's
    /// `json_each`, PostgreSQL's `json_array_elements_text` (the dialects differ here).
    pub(crate) fn json_ints(&self, param: &str) -> String {
        match self {
            Db::Sqlite(_) => format!("SELECT value FROM json_each({param})"),
            Db::Postgres(_) => format!(
                "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST({param} AS JSON))"
            ),
        }
    }

    /// The database's clock in unix seconds, as an SQL expression: feed claims are timed
    /// with it, never with a node's clock (two nodes' clocks may disagree).
    pub(crate) fn now_secs(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "unixepoch()",
            Db::Postgres(_) => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        }
    }

    /// The database's clock in unix milliseconds, as an SQL expression: account leases are
    /// timed with it. On PostgreSQL `clock_timestamp()`, not `now()`: `now()` is the
    /// transaction's start, and a statement that waited on a lock (or ran late in a
    /// transaction) would judge a lease by a time already past, holding it valid after it
    /// lapsed. SQLite's `'now'` is the statement's own.
    pub(crate) fn now_ms(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Db::Postgres(_) => {
                "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)"
            }
        }
    }

    /// `json_ints`, of strings.
    pub(crate) fn json_texts(&self, param: &str) -> String {
        match self {
            Db::Sqlite(_) => format!("SELECT value FROM json_each({param})"),
            Db::Postgres(_) => {
                format!("SELECT value FROM json_array_elements_text(CAST({param} AS JSON))")
            }
        }
    }
}

/// Runs `body` with `c` bound to whichever backend's value `db` holds. The body is written
/// once; each arm of the match compiles it for its own driver (no `Any` driver: SQLite's
/// hot paths keep their native, monomorphised code).
macro_rules! on {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($c) => $body,
            $crate::store::Db::Postgres($c) => $body,
        }
    };
}
pub(crate) use on;

/// Binds [`Arg`]s to a query of either backend, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::Arg::Int(v) => query.bind(*v),
                $crate::store::Arg::Text(v) => query.bind(*v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// A statement's parameter, for statements whose text is put together from parts (the
/// outbox transitions): the binds travel as values instead of as a closure over one
/// driver's query type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

/// `?` placeholders numbered `$1, $2…` in order, for statement texts put together at run
/// time from parts that each use `?` (both drivers read `$N`; PostgreSQL reads nothing
/// else). The store's statements contain no `?` other than placeholders.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A pool of either backend.
pub(crate) type Pool = Db<SqlitePool, PgPool>;
/// A transaction of either backend.
pub(crate) type Tx =
    Db<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Transaction<'static, sqlx::Postgres>>;
/// A connection of either backend, borrowed for some statements.
pub(crate) type Conn<'a> = Db<&'a mut sqlx::SqliteConnection, &'a mut sqlx::PgConnection>;

impl Tx {
    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(tx) => Db::Sqlite(&mut **tx),
            Db::Postgres(tx) => Db::Postgres(&mut **tx),
        }
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        on!(self, |tx| tx.commit().await?);
        Ok(())
    }
}

impl Conn<'_> {
    /// The same connection, borrowed again (for one more statement).
    pub(crate) fn re(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(c) => Db::Sqlite(&mut **c),
            Db::Postgres(c) => Db::Postgres(&mut **c),
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// SQLite: the pollers' writes queue here rather than in SQLite's busy handler (which
    /// sleeps between retries and leaves the write lock idle while every writer naps),
    /// and the writes of a short window share one commit. PostgreSQL has concurrent
    /// writers and no such need: `None`.
    group: Option<std::sync::Arc<GroupCommit>>,
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
    /// PostgreSQL: how long opening waits for the server (`store.connect_timeout`), and
    /// any later wait for a connection of the pool. (SQLite opens a file: no such wait.)
    pub connect_timeout: Duration,
}

/// See [`StoreOptions::connect_timeout`]: long enough for a server that restarts.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
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
    /// `sqlite://feed2threads.db` or `sqlite::memory:`, or a PostgreSQL one
    /// (`postgres://user:password@host/db`).
    pub async fn open(url: &str) -> StoreResult<Store> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// `open` with these options.
    pub async fn open_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        if is_postgres(url) {
            return Self::open_postgres(url, true, options.connect_timeout).await;
        }
        Self::open_inner(url, options, COMMIT_WINDOW, COMMIT_MAX_WRITES).await
    }

    /// A private in-memory copy of the store at `url` (an empty, migrated one when the
    /// file does not exist): a dry run works on it. The file is only ever read, through a
    /// read-only attachment that is gone before this returns, so nothing done with the
    /// copy can reach it.
    pub async fn open_snapshot(url: &str) -> StoreResult<Store> {
        Self::open_snapshot_with(url, StoreOptions::default()).await
    }

    /// `open_snapshot` with these options (a PostgreSQL source's connect timeout).
    pub async fn open_snapshot_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        if is_postgres(url) {
            // The dry run's copy is a SQLite one in memory, filled from the database in one
            // read-only transaction; the database is neither migrated nor written.
            // A database no daemon has migrated yet holds nothing: the copy starts empty,
            // as a dry run's on a SQLite file that does not exist yet.
            let source = Self::open_postgres(url, false, options.connect_timeout).await?;
            let copy = Box::pin(Self::open_snapshot("sqlite::memory:")).await?;
            let copied = match schema_version(&source).await {
                Some(_) => source.copy_into(&copy).await.map(drop),
                None => Ok(()),
            };
            source.close().await;
            copied?;
            return Ok(copy);
        }
        let pool = Self::pool_for("sqlite::memory:", StoreOptions::default()).await?;
        if let Some(file) = sqlite_file(url).filter(|f| f.exists()) {
            snapshot::copy_into(&pool, &file)
                .await
                .map_err(|source| StoreError::Open {
                    url: redact_url(url).into_owned(),
                    source,
                })?;
        }
        migrate_sqlite(&pool, url).await?;
        let group = GroupCommit::new(pool.clone(), None, Duration::ZERO, COMMIT_MAX_WRITES);
        Ok(Store {
            pool: Db::Sqlite(pool),
            group: Some(group),
        })
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
        migrate_sqlite(&pool, url).await?;
        // The single connection of an in-memory store cannot be held open for a window:
        // every read would wait for it.
        let window = if memory { Duration::ZERO } else { window };
        let group = GroupCommit::new(pool.clone(), writer, window, max_writes);
        Ok(Store {
            pool: Db::Sqlite(pool),
            group: Some(group),
        })
    }

    /// A PostgreSQL store: connected (failing at once, naming the URL without its
    /// password, when the server does not answer) and migrated; or, without `migrate`
    /// (a dry run's source), refused unless its schema is this release's.
    async fn open_postgres(
        url: &str,
        migrate: bool,
        connect_timeout: Duration,
    ) -> StoreResult<Store> {
        let open_err = |source| StoreError::Open {
            url: redact_url(url).into_owned(),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            // A daemon that cannot reach its database at start says so within this.
            .acquire_timeout(connect_timeout)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                // No such table: a new store.
                .unwrap_or(None);
        refuse_newer(url, found, &MIGRATOR_PG)?;
        if migrate {
            MIGRATOR_PG.run(&pool).await?;
        } else if found.is_some_and(|v| v != latest(&MIGRATOR_PG)) {
            pool.close().await;
            return Err(StoreError::Unsupported(format!(
                "the PostgreSQL store {} has schema version {}, this release's is {}: a dry \
                 run does not migrate it; run `feed2threads run --once` (or the daemon) first",
                redact_url(url),
                found.map_or_else(|| "none".to_string(), |v| v.to_string()),
                latest(&MIGRATOR_PG)
            )));
        }
        Ok(Store {
            pool: Db::Postgres(pool),
            group: None,
        })
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

    /// The pool of whichever backend is live, for [`on!`].
    pub(crate) fn pool(&self) -> Db<&SqlitePool, &PgPool> {
        match &self.pool {
            Db::Sqlite(p) => Db::Sqlite(p),
            Db::Postgres(p) => Db::Postgres(p),
        }
    }

    /// The SQLite pool (tests of SQLite-only machinery).
    #[cfg(test)]
    pub(crate) fn sqlite_pool(&self) -> &SqlitePool {
        match &self.pool {
            Db::Sqlite(p) => p,
            Db::Postgres(_) => panic!("a SQLite store was expected"),
        }
    }

    /// Whether this store is a PostgreSQL one.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Db::Postgres(_))
    }

    /// A transaction that reads and then writes, taking the write lock at its start. A
    /// deferred one would fail at once with "database is locked" when another writer
    /// (the publisher, a poll) commits between its read and its write: SQLite cannot
    /// upgrade a stale read snapshot, and the busy timeout does not wait for that case.
    /// On PostgreSQL the same one-writer-at-a-time discipline is a transaction-scoped
    /// advisory lock, so a read-then-write sequence never races another.
    pub(crate) async fn begin_immediate(&self) -> StoreResult<Tx> {
        Ok(match &self.pool {
            Db::Sqlite(pool) => Db::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Db::Postgres(pg_write_tx(pool).await?),
        })
    }

    /// A transaction without the write lock up front (its first statement writes).
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        Ok(match &self.pool {
            Db::Sqlite(pool) => Db::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Db::Postgres(pool.begin().await?),
        })
    }

    /// A poller's write: on SQLite it runs in the shared batch, under the write turn; on
    /// PostgreSQL in a transaction of its own under the write lock.
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteSlot> {
        match (&self.pool, &self.group) {
            (Db::Postgres(pool), _) => Ok(Db::Postgres(pg_write_tx(pool).await?)),
            (Db::Sqlite(_), Some(group)) => Ok(Db::Sqlite(group.begin().await?)),
            (Db::Sqlite(_), None) => Err(StoreError::Commit("the store has no writer".into())),
        }
    }

    /// A poller's write of one statement (no savepoint on SQLite).
    async fn begin_write_single(&self) -> StoreResult<WriteSlot> {
        match (&self.pool, &self.group) {
            (Db::Postgres(pool), _) => Ok(Db::Postgres(pool.begin().await?)),
            (Db::Sqlite(_), Some(group)) => Ok(Db::Sqlite(group.begin_single().await?)),
            (Db::Sqlite(_), None) => Err(StoreError::Commit("the store has no writer".into())),
        }
    }

    /// Run one statement (`sql`, `$N` placeholders, bound to `args`) as a poller's write
    /// and wait until it is committed.
    pub(crate) async fn write_one(&self, sql: &'static str, args: &[Arg<'_>]) -> StoreResult<()> {
        // Boxed: this future is over 3 KB inline, and every poll waiting for a fetch slot
        // would carry it (a poll persists its next check before it waits).
        Box::pin(async move {
            let mut slot = self.begin_write_single().await?;
            on!(slot.conn(), |c| bind_args!(sqlx::query(sql), args)
                .execute(c)
                .await?
                .rows_affected());
            slot.commit().await?.wait().await
        })
        .await
    }

    /// Does the store answer?
    pub async fn ping(&self) -> StoreResult<()> {
        on!(self.pool(), |p| sqlx::query("SELECT 1")
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Record that the daemon is alive (for `status --check`).
    pub async fn heartbeat(&self, now: i64) -> StoreResult<()> {
        on!(self.pool(), |p| sqlx::query(
            "INSERT INTO heartbeat (id, pid, beat_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, beat_at = excluded.beat_at",
        )
        .bind(i64::from(std::process::id()))
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    pub async fn last_heartbeat(&self) -> StoreResult<Option<i64>> {
        Ok(on!(self.pool(), |p| sqlx::query_scalar(
            "SELECT beat_at FROM heartbeat WHERE id = 1"
        )
        .fetch_optional(p)
        .await?))
    }

    pub async fn close(&self) {
        if let Some(group) = &self.group {
            group.close().await;
        }
        on!(self.pool(), |p| p.close().await);
    }
}

/// A PostgreSQL write transaction under the store's write lock (see `begin_immediate`).
async fn pg_write_tx(pool: &PgPool) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PG_WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The advisory lock key of the store's write transactions on PostgreSQL ("f2tw").
const PG_WRITE_LOCK: i64 = 0x6632_7477;

/// A poller's write on either backend.
pub(crate) type WriteSlot = Db<group_commit::WriteSlot, sqlx::Transaction<'static, sqlx::Postgres>>;

impl WriteSlot {
    /// The write's connection.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Db::Sqlite(slot) => Db::Sqlite(slot.conn()),
            Db::Postgres(tx) => Db::Postgres(&mut **tx),
        }
    }

    /// Keep the write. On SQLite it joins the batch's commit (wait for it); on
    /// PostgreSQL it is committed when this returns.
    pub(crate) async fn commit(self) -> StoreResult<PendingCommit> {
        match self {
            Db::Sqlite(slot) => slot.commit().await,
            Db::Postgres(tx) => {
                tx.commit().await?;
                Ok(PendingCommit::done())
            }
        }
    }

    /// Undo the write (a dry run).
    pub(crate) async fn rollback(self) -> StoreResult<()> {
        match self {
            Db::Sqlite(slot) => slot.rollback().await,
            Db::Postgres(tx) => Ok(tx.rollback().await?),
        }
    }
}

/// Migrates a SQLite store, refusing one a newer release migrated.
async fn migrate_sqlite(pool: &SqlitePool, url: &str) -> StoreResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            // No such table: a new store.
            .unwrap_or(None);
    refuse_newer(url, found, &MIGRATOR)?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The newest schema version applied to the store; `None` for a new (empty) one.
async fn schema_version(store: &Store) -> Option<i64> {
    on!(store.pool(), |p| sqlx::query_scalar(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success"
    )
    .fetch_one(p)
    .await
    .unwrap_or(None))
}

/// The newest schema version `migrator` knows.
fn latest(migrator: &sqlx::migrate::Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A store whose newest applied migration is beyond what `migrator` knows was migrated
/// by a newer release: this one must not touch it.
fn refuse_newer(
    url: &str,
    found: Option<i64>,
    migrator: &sqlx::migrate::Migrator,
) -> StoreResult<()> {
    let known = latest(migrator);
    match found {
        Some(found) if found > known => Err(StoreError::Newer {
            url: redact_url(url).into_owned(),
            found,
            known,
        }),
        _ => Ok(()),
    }
}
