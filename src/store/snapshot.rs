//! The in-memory snapshot a dry run works on.
//!
//! A dry run must leave the store file exactly as it found it, whatever happens during the
//! run (a reload, a signal, a bug). Rather than check a flag before every write, it never
//! holds a handle that can write the file: its store is an in-memory database, filled here
//! from the file through a read-only attachment (`mode=ro`, so SQLite itself refuses any
//! write) inside one read transaction (a consistent copy even while a daemon writes), and
//! detached before the dry run starts. The dry run then runs the daemon's own code on the
//! copy: it recognises items against the real seen set, and what it "stores" vanishes with
//! the process.
//!
//! The copy holds the whole store in memory; a newsroom's store of 100 000 items is tens of
//! megabytes, acceptable for a dry run. Must not: be used for anything that should persist.

use sqlx::{Row, SqlitePool};
use std::path::Path;

/// Copies every table, index and trigger of the database file at `file` into the (empty)
/// in-memory database of `pool`, which has exactly one connection.
pub(super) async fn copy_into(pool: &SqlitePool, file: &Path) -> Result<(), sqlx::Error> {
    let uri = read_only_uri(file)?;
    let mut conn = pool.acquire().await?;
    sqlx::query("ATTACH DATABASE ? AS disk")
        .bind(&uri)
        .execute(&mut *conn)
        .await?;
    let copied = copy_attached(&mut conn).await;
    // Detach whatever happened, so the connection keeps no handle on the file.
    if copied.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    let detached = sqlx::query("DETACH DATABASE disk")
        .execute(&mut *conn)
        .await;
    copied?;
    detached?;
    Ok(())
}

/// The copy itself, in one transaction (one consistent read of the file).
async fn copy_attached(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    // Tables first (in creation order), then what refers to them.
    let schema = sqlx::query(
        "SELECT type, name, sql FROM disk.sqlite_schema \
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' \
         ORDER BY type <> 'table', rowid",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &schema {
        let kind: String = row.try_get("type")?;
        let name: String = row.try_get("name")?;
        let sql: String = row.try_get("sql")?;
        // The file's own schema statements, replayed: unqualified, each creates its object
        // in `main`, the memory database.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
        if kind == "table" {
            // A name from the file's schema, quoted.
            let name = quote(&name);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO main.{name} SELECT * FROM disk.{name}"
            )))
            .execute(&mut *conn)
            .await?;
        }
    }
    // AUTOINCREMENT counters, so ids handed out in the copy do not reuse deleted ones.
    let has_sequence: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM disk.sqlite_schema WHERE name = 'sqlite_sequence') \
         AND EXISTS (SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_sequence {
        sqlx::query("INSERT INTO main.sqlite_sequence SELECT * FROM disk.sqlite_sequence")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(())
}

/// `file:///abs/path?mode=ro`: SQLite opens it read-only whatever the file's permissions.
///
/// A read-only connection to a WAL database whose `-wal` file does not exist (no daemon
/// has it open) would create an empty `-wal` and a `-shm` beside it and, being read-only,
/// leave them there. Without a `-wal` every committed page is in the database file itself,
/// so it is read as `immutable` instead: no lock, no side file, no trace.
fn read_only_uri(file: &Path) -> Result<String, sqlx::Error> {
    let absolute = std::fs::canonicalize(file).map_err(sqlx::Error::Io)?;
    let url = url::Url::from_file_path(&absolute).map_err(|()| {
        sqlx::Error::Configuration(format!("{} is not a file path", absolute.display()).into())
    })?;
    let mut wal = absolute.into_os_string();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        Ok(format!("{url}?mode=ro"))
    } else {
        Ok(format!("{url}?mode=ro&immutable=1"))
    }
}

/// An identifier in double quotes, inner quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use sha2::{Digest, Sha256};

    fn digest(path: &std::path::Path) -> Vec<u8> {
        Sha256::digest(std::fs::read(path).unwrap()).to_vec()
    }

    #[tokio::test]
    async fn the_snapshot_holds_the_file_s_rows_and_writes_to_it_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let url = format!("sqlite://{}", db.display());
        let store = Store::open(&url).await.unwrap();
        store.ensure_account("desk", 1).await.unwrap();
        store.heartbeat(5).await.unwrap();
        store.close().await;
        let before = digest(&db);

        let snap = Store::open_snapshot(&url).await.unwrap();
        assert_eq!(snap.list_accounts().await.unwrap()[0].name, "desk");
        assert_eq!(snap.last_heartbeat().await.unwrap(), Some(5));
        snap.ensure_account("other", 2).await.unwrap();
        snap.heartbeat(9).await.unwrap();
        assert_eq!(snap.list_accounts().await.unwrap().len(), 2);
        snap.close().await;

        assert_eq!(digest(&db), before, "the file changed");
        let again = Store::open(&url).await.unwrap();
        assert_eq!(again.list_accounts().await.unwrap().len(), 1);
        assert_eq!(again.last_heartbeat().await.unwrap(), Some(5));
        again.close().await;
    }

    #[tokio::test]
    async fn a_missing_file_gives_an_empty_store_and_stays_missing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("none.db");
        let snap = Store::open_snapshot(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        snap.ensure_account("desk", 1).await.unwrap();
        snap.close().await;
        assert!(!db.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_snapshot_of_a_closed_store_leaves_no_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        store.ensure_account("desk", 1).await.unwrap();
        store.close().await;
        let names = || {
            let mut n: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        let before = names();
        let snap = Store::open_snapshot(&url).await.unwrap();
        assert_eq!(snap.list_accounts().await.unwrap().len(), 1);
        snap.close().await;
        assert_eq!(names(), before);
    }

    #[tokio::test]
    async fn a_snapshot_can_be_taken_while_a_daemon_holds_the_store_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let daemon = Store::open(&url).await.unwrap();
        daemon.ensure_account("desk", 1).await.unwrap();
        let snap = Store::open_snapshot(&url).await.unwrap();
        assert_eq!(snap.list_accounts().await.unwrap().len(), 1);
        daemon.ensure_account("later", 2).await.unwrap();
        assert_eq!(snap.list_accounts().await.unwrap().len(), 1);
        snap.close().await;
        daemon.close().await;
    }
}
