//! Group commit for the pollers' writes.
//!
//! A cold cycle of a large newsroom ingests thousands of feeds within seconds. Committed one
//! by one, every poll rewrites the same index pages into the WAL and pays a commit of its
//! own; that, not parsing, was the critical path. Here the pollers' writes of a short window
//! share one transaction: each write runs inside its own savepoint (so a failed or abandoned
//! write is undone alone), and every writer waits until the shared transaction has
//! committed before it goes on. Durability is unchanged: no caller proceeds on a write that
//! is not on disk.
//!
//! A batch is committed when it holds `max_writes` writes, or when its window has passed
//! (a timer task owns that, so a batch never stays open because its writers went away),
//! or when the store closes.

use super::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection, SqlitePool};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

/// The outcome of a batch's commit, shared by all its writers.
type Outcome = Option<Result<(), Arc<str>>>;

#[derive(Debug)]
pub(crate) struct GroupCommit {
    pool: SqlitePool,
    /// Options of the writer's own connection; `None`: borrow one from the pool per batch
    /// (an in-memory store, whose one connection is the database).
    own: Option<SqliteConnectOptions>,
    turn: Arc<Mutex<Turn>>,
    /// How long a batch may stay open for more writes; zero commits every write at once.
    window: Duration,
    max_writes: usize,
}

#[derive(Debug, Default)]
struct Turn {
    batch: Option<Batch>,
    next_id: u64,
    /// The writer's own connection between batches. One connection does all the pollers'
    /// writes, so one page cache holds the hot index pages (a pool would grow a cache on
    /// every connection that ever wrote).
    idle: Option<SqliteConnection>,
}

#[derive(Debug)]
enum WriterConn {
    Own(SqliteConnection),
    Pooled(PoolConnection<Sqlite>),
}

impl Deref for WriterConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            WriterConn::Own(c) => c,
            WriterConn::Pooled(c) => c,
        }
    }
}

impl DerefMut for WriterConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            WriterConn::Own(c) => c,
            WriterConn::Pooled(c) => c,
        }
    }
}

#[derive(Debug)]
struct Batch {
    id: u64,
    conn: WriterConn,
    writes: usize,
    /// A write was dropped half-way (an error or a cancelled poll): its savepoint must be
    /// rolled back before anything else runs in this transaction.
    dangling: bool,
    outcome: watch::Sender<Outcome>,
}

/// The savepoint every write runs in.
const SAVEPOINT: &str = "SAVEPOINT write";
const RELEASE: &str = "RELEASE write";
const ROLLBACK_TO: &str = "ROLLBACK TO write";

impl GroupCommit {
    pub(crate) fn new(
        pool: SqlitePool,
        own: Option<SqliteConnectOptions>,
        window: Duration,
        max_writes: usize,
    ) -> Arc<Self> {
        Arc::new(GroupCommit {
            pool,
            own,
            turn: Arc::new(Mutex::new(Turn::default())),
            window,
            max_writes: max_writes.max(1),
        })
    }

    /// Take the write turn and open a savepoint in the current batch (opening a batch
    /// if none is open).
    pub(crate) async fn begin(self: &Arc<Self>) -> StoreResult<WriteSlot> {
        self.begin_slot(true).await
    }

    /// Take the write turn for one statement. A single statement is atomic on its own
    /// (SQLite undoes a failed one), so it needs no savepoint: two round trips to the
    /// database thread fewer for each of a cold cycle's thousands of small writes.
    pub(crate) async fn begin_single(self: &Arc<Self>) -> StoreResult<WriteSlot> {
        self.begin_slot(false).await
    }

    async fn begin_slot(self: &Arc<Self>, savepoint: bool) -> StoreResult<WriteSlot> {
        let mut turn = self.turn.clone().lock_owned().await;
        settle_dangling(&mut turn).await;
        if turn.batch.is_none() {
            let mut conn = match (turn.idle.take(), &self.own) {
                (Some(conn), _) => WriterConn::Own(conn),
                (None, Some(options)) => WriterConn::Own(options.connect().await?),
                (None, None) => WriterConn::Pooled(self.pool.acquire().await?),
            };
            // IMMEDIATE: take SQLite's write lock now, so a read-then-write sequence never
            // fails on lock upgrade and ingests see each other's keys.
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            turn.next_id += 1;
            let id = turn.next_id;
            turn.batch = Some(Batch {
                id,
                conn,
                writes: 0,
                dangling: false,
                outcome: watch::Sender::new(None),
            });
            if !self.window.is_zero() {
                let me = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(me.window).await;
                    me.commit_batch(Some(id)).await;
                });
            }
        }
        let conn = &mut turn.batch.as_mut().expect("a batch is open").conn;
        if savepoint && let Err(e) = sqlx::query(SAVEPOINT).execute(&mut **conn).await {
            abandon(&mut turn, &e.to_string()).await;
            return Err(e.into());
        }
        Ok(WriteSlot {
            turn: Some(turn),
            owner: Arc::clone(self),
            savepoint,
        })
    }

    /// Commit the open batch and close the writer's connection (the store is closing).
    pub(crate) async fn close(&self) {
        self.commit_batch(None).await;
        if let Some(conn) = self.turn.lock().await.idle.take() {
            let _ = conn.close().await;
        }
    }

    /// Commit the open batch, if it is `id` (or any batch when `None`).
    async fn commit_batch(&self, id: Option<u64>) {
        let mut turn = self.turn.clone().lock_owned().await;
        if turn
            .batch
            .as_ref()
            .is_some_and(|b| id.is_none_or(|id| b.id == id))
        {
            settle_dangling(&mut turn).await;
            commit_locked(&mut turn).await;
        }
    }
}

/// Roll back a write that was dropped half-way. If even that fails, SQLite has already
/// rolled the whole transaction back (disk full, I/O error): the batch is lost and every
/// writer in it is told so.
async fn settle_dangling(turn: &mut Turn) {
    let Some(batch) = turn.batch.as_mut().filter(|b| b.dangling) else {
        return;
    };
    batch.dangling = false;
    let undo = async {
        sqlx::query(ROLLBACK_TO).execute(&mut *batch.conn).await?;
        sqlx::query(RELEASE).execute(&mut *batch.conn).await
    };
    if let Err(e) = undo.await {
        abandon(turn, &format!("cannot undo an abandoned write: {e}")).await;
    }
}

async fn commit_locked(turn: &mut Turn) {
    let Some(mut batch) = turn.batch.take() else {
        return;
    };
    let result = match sqlx::query("COMMIT").execute(&mut *batch.conn).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *batch.conn).await;
            tracing::error!(
                writes = batch.writes,
                "store: committing {} pollers' writes failed ({e}); those feeds are \
                 polled again at the run loop's next tick. Check the disk space and \
                 permissions of the store file",
                batch.writes
            );
            Err(Arc::from(e.to_string()))
        }
    };
    batch.outcome.send_replace(Some(result));
    if let WriterConn::Own(conn) = batch.conn {
        turn.idle = Some(conn);
    }
}

/// Throw the batch away and tell its writers why.
async fn abandon(turn: &mut Turn, reason: &str) {
    let Some(mut batch) = turn.batch.take() else {
        return;
    };
    let _ = sqlx::query("ROLLBACK").execute(&mut *batch.conn).await;
    tracing::error!(
        writes = batch.writes,
        "store: {} pollers' writes were rolled back ({reason}); those feeds are polled again \
         at the run loop's next tick",
        batch.writes
    );
    batch
        .outcome
        .send_replace(Some(Err(Arc::from(format!("rolled back: {reason}")))));
    if let WriterConn::Own(conn) = batch.conn {
        turn.idle = Some(conn);
    }
}

/// One write in progress: holds the write turn and a savepoint of the open batch.
/// Dropped without `commit` or `rollback`, its changes are rolled back.
pub(crate) struct WriteSlot {
    turn: Option<OwnedMutexGuard<Turn>>,
    owner: Arc<GroupCommit>,
    /// Whether the write runs in a savepoint (several statements) or is one statement.
    savepoint: bool,
}

impl WriteSlot {
    /// The connection of the batch, for this write's statements.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        let turn = self.turn.as_mut().expect("the slot holds the turn");
        &mut turn.batch.as_mut().expect("a batch is open").conn
    }

    /// Keep this write's changes and give up the turn. The returned commit resolves once
    /// the batch is on disk; until then nothing that depends on the write may happen.
    pub(crate) async fn commit(mut self) -> StoreResult<PendingCommit> {
        let mut turn = self.turn.take().expect("the slot holds the turn");
        let batch = turn.batch.as_mut().expect("a batch is open");
        if self.savepoint
            && let Err(e) = sqlx::query(RELEASE).execute(&mut *batch.conn).await
        {
            batch.dangling = true;
            return Err(e.into());
        }
        batch.writes += 1;
        let outcome = batch.outcome.subscribe();
        if batch.writes >= self.owner.max_writes || self.owner.window.is_zero() {
            commit_locked(&mut turn).await;
        }
        Ok(PendingCommit { outcome })
    }

    /// Undo this write's changes and give up the turn (a dry run).
    pub(crate) async fn rollback(mut self) -> StoreResult<()> {
        if !self.savepoint {
            // Not reachable from the store's API: only ingests roll back, in savepoints.
            return Err(StoreError::Commit(
                "a single-statement write cannot be rolled back alone".into(),
            ));
        }
        let mut turn = self.turn.take().expect("the slot holds the turn");
        let batch = turn.batch.as_mut().expect("a batch is open");
        batch.dangling = true;
        settle_dangling(&mut turn).await;
        Ok(())
    }
}

impl Drop for WriteSlot {
    fn drop(&mut self) {
        if !self.savepoint {
            return;
        }
        if let Some(batch) = self.turn.as_mut().and_then(|t| t.batch.as_mut()) {
            batch.dangling = true;
        }
    }
}

/// A write that has joined a batch; `wait` until the batch is committed.
#[derive(Debug)]
#[must_use = "a write is durable only once its batch has committed"]
pub struct PendingCommit {
    outcome: watch::Receiver<Outcome>,
}

impl PendingCommit {
    /// A write that is committed already (PostgreSQL commits each write itself).
    pub(crate) fn done() -> PendingCommit {
        let (_, outcome) = watch::channel(Some(Ok(())));
        PendingCommit { outcome }
    }

    pub async fn wait(mut self) -> StoreResult<()> {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => match outcome.as_ref().expect("waited for Some") {
                Ok(()) => Ok(()),
                Err(reason) => Err(StoreError::Commit(reason.to_string())),
            },
            Err(_) => Err(StoreError::Commit(
                "the store closed before the write was committed".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Store, on};
    use std::time::{Duration, Instant};

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        Store::open(&url).await.unwrap()
    }

    /// Accounts named in a fresh connection: what another process would see on disk.
    async fn names_on_disk(dir: &tempfile::TempDir) -> Vec<String> {
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let other = Store::open(&url).await.unwrap();
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM accounts ORDER BY name")
            .fetch_all(other.sqlite_pool())
            .await
            .unwrap();
        other.close().await;
        names.into_iter().map(|(n,)| n).collect()
    }

    const INSERT_ACCOUNT: &str =
        "INSERT INTO accounts (name, created_at, updated_at) VALUES ($1, 0, 0)";

    async fn insert_account(slot: &mut super::super::WriteSlot, name: &str) {
        on!(slot.conn(), |c| sqlx::query(INSERT_ACCOUNT)
            .bind(name)
            .execute(c)
            .await
            .unwrap()
            .rows_affected());
    }

    async fn add_account(store: &Store, name: &str) -> super::PendingCommit {
        let mut slot = store.begin_write().await.unwrap();
        insert_account(&mut slot, name).await;
        slot.commit().await.unwrap()
    }

    #[tokio::test]
    async fn writes_share_a_commit_and_are_on_disk_when_it_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        // A window longer than the test: only the batch size ends this batch.
        let store = Store::open_with_commit(&url, Duration::from_secs(60), 20)
            .await
            .unwrap();
        let mut pending = Vec::new();
        for i in 0..19 {
            pending.push(add_account(&store, &format!("a{i:02}")).await);
        }
        // Written, but not committed: another connection sees none of them.
        assert!(names_on_disk(&dir).await.is_empty());
        let waiting = tokio::spawn(pending.pop().unwrap().wait());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "resolved before its batch committed"
        );
        // The 20th write fills the batch: one commit for all.
        pending.push(add_account(&store, "a19").await);
        waiting.await.unwrap().unwrap();
        for p in pending {
            p.wait().await.unwrap();
        }
        assert_eq!(names_on_disk(&dir).await.len(), 20);
        store.close().await;
    }

    #[tokio::test]
    async fn a_write_dropped_half_way_is_undone_and_the_rest_of_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let before = add_account(&store, "before").await;
        {
            // An ingest that fails (or is cancelled) after its first statement.
            let mut slot = store.begin_write().await.unwrap();
            insert_account(&mut slot, "half").await;
        }
        let after = add_account(&store, "after").await;
        // A dry run's write, rolled back on purpose.
        let mut slot = store.begin_write().await.unwrap();
        insert_account(&mut slot, "dry").await;
        slot.rollback().await.unwrap();

        before.wait().await.unwrap();
        after.wait().await.unwrap();
        assert_eq!(names_on_disk(&dir).await, ["after", "before"]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_failed_single_statement_leaves_its_batch_intact() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let first = add_account(&store, "first").await;
        // The name is taken: the statement fails and SQLite undoes it alone.
        assert!(
            store
                .write_one(INSERT_ACCOUNT, &["first".into()])
                .await
                .is_err()
        );
        store
            .write_one(INSERT_ACCOUNT, &["second".into()])
            .await
            .unwrap();
        first.wait().await.unwrap();
        assert_eq!(names_on_disk(&dir).await, ["first", "second"]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_batch_commits_on_its_timer_even_when_no_writer_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let started = Instant::now();
        drop(add_account(&store, "orphan").await);
        let mut names = Vec::new();
        // Nothing but the batch's timer commits it: no writer waits, the store stays open.
        while names.is_empty() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            names = names_on_disk(&dir).await;
        }
        assert_eq!(names, ["orphan"]);
        store.close().await;
    }

    #[tokio::test]
    async fn closing_the_store_commits_the_open_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let pending = add_account(&store, "last").await;
        store.close().await;
        pending.wait().await.unwrap();
        assert_eq!(names_on_disk(&dir).await, ["last"]);
    }

    #[tokio::test]
    async fn an_in_memory_store_commits_every_write_at_once() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let pending = add_account(&store, "now").await;
        // Resolved already: nothing holds the store's only connection.
        tokio::time::timeout(Duration::from_millis(1), pending.wait())
            .await
            .expect("committed at once")
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(store.sqlite_pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
