//! The daemon on a PostgreSQL store (`store.url = "postgres://…"`), end to end: a feed from
//! the local feed server, the fake Threads API, `run --once` publishing every story once,
//! `status` and `queue list` reading the same database; a second daemon beside the first. And the store's bad input on both backends: a
//! PostgreSQL server that does not answer (exit 1, the URL named without its password),
//! a store migrated by a newer release (refused, both versions named).
//!
//! The PostgreSQL tests need `FEED2THREADS_TEST_PG` (see `support::pg`); without it they
//! print a notice and pass.

use crate::support::free_addr;
use crate::support::pg::PgDatabase;
use crate::support::test_app::TestApp;
use feed2threads::run_mode::RunMode;
use feed2threads::store::{Store, StoreError};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn run_once_on_postgres_publishes_every_story_once_and_the_commands_read_it() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let app = TestApp::newsroom_on(db.url(), 3).await;
    let out = app.run(&["run", "--once"]).await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(app.fake.posts().len(), 3, "{log}");

    // Again: the stories are known, nothing goes out twice.
    let again = app.run(&["run", "--once"]).await;
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(app.fake.posts().len(), 3);
    assert!(app.fake.duplicates().is_empty());

    let status = app.run(&["status", "--json"]).await;
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["accounts"][0]["published_24h"], 3, "{doc}");
    let list = app.run(&["queue", "list"]).await;
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&list.stdout)
            .matches("published")
            .count(),
        3
    );
}

/// Several daemons share one PostgreSQL database (issue 14): a second one beside a running
/// daemon is not refused; the running daemon owns the account (its lease), so the second
/// leaves the account's publishing to it, and nothing goes out twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_one_postgres_database_runs_beside_the_first() {
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let app = TestApp::newsroom_on(db.url(), 2).await;
    let running = app.start(RunMode::DAEMON).await;
    for _ in 0..100 {
        if app.fake.posts().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.fake.posts().len(), 2);
    let second = app.run(&["run", "--once"]).await;
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{err}");
    assert!(
        err.contains("another node owns the account's publishing"),
        "{err}"
    );
    let status = app.run(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let node = format!(":{}", std::process::id());
    assert!(
        doc["accounts"][0]["owner"]["node"]
            .as_str()
            .is_some_and(|n| n.ends_with(&node)),
        "{doc}"
    );
    running.stop().await;
    assert_eq!(app.fake.posts().len(), 2);
    assert!(app.fake.duplicates().is_empty());
}

#[tokio::test]
async fn an_unreachable_postgres_exits_1_naming_the_url_without_its_password() {
    let addr = free_addr();
    let app = TestApp::new()
        .await
        .with_store_url(&format!(
            "postgres://news:hunter2secret@{addr}/feed2threads"
        ))
        .with_store_line("connect_timeout = \"1s\"")
        .with_account("desk")
        .with_feed("news", "desk", 1);
    // Both at once: each waits out the configured 1 s connect deadline before it gives up.
    let once: &[&str] = &["run", "--once"];
    let status: &[&str] = &["status"];
    let (once_out, status_out) = tokio::join!(app.run(once), app.run(status));
    for (args, out) in [(once, once_out), (status, status_out)] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&format!("{addr}/feed2threads")), "{err}");
        assert!(!err.contains("hunter2secret"), "{err}");
    }
    assert!(app.fake.posts().is_empty());
}

/// Marks the store at `url` as migrated by a release with schema version 9999.
async fn migrated_by_a_newer_release(url: &str) {
    let store = Store::open(url).await.unwrap();
    store.close().await;
    let sql = "INSERT INTO _sqlx_migrations \
               (version, description, success, checksum, execution_time) \
               VALUES (9999, 'from the future', TRUE, $1, 0)";
    if url.starts_with("postgres") {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(vec![0u8; 48])
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(vec![0u8; 48])
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// The newest schema version among the migrations in `dir` (`NNNN_what.sql`): named here
/// rather than written down, so that a new migration does not break the test.
fn newest_migration(dir: &str) -> i64 {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::read_dir(path)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            name.split('_').next()?.parse().ok()
        })
        .max()
        .expect("migrations")
}

/// `migrations`: the backend's migrations directory, whose newest version is named.
fn assert_refused_naming_both_versions(result: Result<Store, StoreError>, migrations: &str) {
    let err = match result {
        Ok(_) => panic!("a store migrated by a newer release was opened"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(matches!(err, StoreError::Newer { .. }), "{message}");
    assert!(message.contains("9999"), "{message}");
    let known = newest_migration(migrations);
    assert!(message.contains(&format!("up to {known}")), "{message}");
}

#[tokio::test]
async fn a_store_migrated_by_a_newer_release_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    migrated_by_a_newer_release(&url).await;
    assert_refused_naming_both_versions(Store::open(&url).await, "migrations");

    let Some(db) = PgDatabase::create().await else {
        return;
    };
    migrated_by_a_newer_release(db.url()).await;
    assert_refused_naming_both_versions(Store::open(db.url()).await, "migrations_pg");
}
