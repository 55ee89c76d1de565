//! Test support: fresh PostgreSQL databases that start migrated, copied from a template.
//!
//! Creating a database and running the migrations into it costs the server some 150 ms of
//! CPU; a copy of a migrated template costs a fifth of that. With some fifty databases per
//! `cargo test` that was a quarter of the suite's CPU. The template is made once per
//! cluster and set of migrations (its name carries a hash of `migrations_pg/`), by whoever
//! needs it first, under an advisory lock so that concurrent tests and test binaries make
//! it once. Templates of other migration sets are dropped then.
//!
//! Shared by the library's unit tests (`store::testing`) and the integration tests
//! (`tests/it/support/pg.rs`, by path), which each pass their way of migrating. Must not:
//! be compiled outside tests.

use sqlx::{ConnectOptions, Connection};
use std::future::Future;

/// The advisory lock the template's builder holds (any constant; only tests take it).
const BUILD_LOCK: i64 = 0x6632_7454_6d70_6c00;

/// Creates database `name` in the cluster `admin` names, with the schema `migrate` makes
/// (given a database URL, it migrates that database and closes every connection to it);
/// returns the new database's URL.
pub async fn create_migrated<F, Fut>(admin: &str, name: &str, migrate: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let template = template_name();
    let mut conn = connect(admin).await;
    if !exists(&mut conn, &template).await {
        build(&mut conn, admin, &template, migrate).await;
    }
    // PostgreSQL 15's default copies a template page by page through the WAL; copying its
    // files (and checkpointing) costs the server half as much for a template this small.
    let strategy = if server_version(&mut conn).await >= 150_000 {
        " STRATEGY FILE_COPY"
    } else {
        ""
    };
    execute(
        &mut conn,
        &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"{strategy}"),
    )
    .await;
    let _ = conn.close().await;
    database_url(admin, name)
}

/// `admin`'s URL with the database `name`.
pub fn database_url(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Makes the template under the lock unless another builder made it meanwhile. Built
/// under a name of its own and renamed when complete, so that a builder killed halfway
/// leaves no template that looks finished.
async fn build<F, Fut>(conn: &mut sqlx::PgConnection, admin: &str, template: &str, migrate: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(BUILD_LOCK)
        .execute(&mut *conn)
        .await
        .unwrap();
    if !exists(conn, template).await {
        let building = format!("{template}_building");
        execute(
            conn,
            &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        )
        .await;
        execute(conn, &format!("CREATE DATABASE \"{building}\"")).await;
        migrate(database_url(admin, &building)).await;
        execute(
            conn,
            &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await;
        drop_other_templates(conn, template).await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(BUILD_LOCK)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// Templates of other migration sets (an older checkout's) are of no more use.
async fn drop_other_templates(conn: &mut sqlx::PgConnection, template: &str) {
    let others: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'f2t_template_%' AND datname <> $1",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for other in others {
        execute(
            conn,
            &format!("DROP DATABASE IF EXISTS \"{other}\" WITH (FORCE)"),
        )
        .await;
    }
}

/// `server_version_num`: 150004 for 15.4.
async fn server_version(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar::<_, String>("SHOW server_version_num")
        .fetch_one(conn)
        .await
        .unwrap()
        .parse()
        .unwrap_or(0)
}

async fn exists(conn: &mut sqlx::PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn execute(conn: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A connection to `url` (the admin URL or a test database).
pub async fn connect(url: &str) -> sqlx::PgConnection {
    url.parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// `f2t_template_<hash>`: a 64-bit FNV-1a of the migrations' names and contents, read from
/// the source tree (the same files both test crates embed through the store).
fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations_pg");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let content = std::fs::read(&file).unwrap();
        for byte in name.bytes().chain([0]).chain(content).chain([0]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("f2t_template_{hash:016x}")
}
