//! Test support: a fresh store on each backend, so the store's behavioural tests run one
//! body on SQLite and on PostgreSQL.
//!
//! PostgreSQL runs when `FEED2THREADS_TEST_PG` names a database URL whose user may create
//! databases (`.ci/run` starts a throwaway cluster and sets it); each test gets a database
//! of its own, dropped after. Without the variable the PostgreSQL half is skipped with a
//! notice. Must not: be compiled outside tests.

use super::Store;

#[path = "pg_template.rs"]
mod pg_template;
use sqlx::{ConnectOptions, Connection};

/// The variable naming the test cluster.
pub(crate) const TEST_PG: &str = "FEED2THREADS_TEST_PG";

/// A store for one test on one backend.
pub(crate) struct TestStore {
    pub store: Store,
    pub backend: &'static str,
    /// The URL the store was opened with (another store on the same database).
    pub url: String,
    /// PostgreSQL: the admin URL and the test's database, dropped by `finish`.
    pg: Option<(String, String)>,
    /// SQLite on disk: the store file's directory.
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// Closes the store and drops its PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.pg {
            drop_database(&admin, &name).await;
        }
    }
}

/// A fresh SQLite store (in memory, or in a file when `on_disk`), and a fresh PostgreSQL
/// one when the test cluster is configured.
pub(crate) async fn fresh_stores(on_disk: bool) -> Vec<TestStore> {
    let sqlite = if on_disk {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        TestStore {
            store: Store::open(&url).await.unwrap(),
            backend: "sqlite (file)",
            url,
            pg: None,
            _dir: Some(dir),
        }
    } else {
        TestStore {
            store: Store::open("sqlite::memory:").await.unwrap(),
            backend: "sqlite",
            url: "sqlite::memory:".to_owned(),
            pg: None,
            _dir: None,
        }
    };
    let mut out = vec![sqlite];
    match std::env::var(TEST_PG) {
        Ok(admin) => {
            let (url, name) = create_database(&admin).await;
            out.push(TestStore {
                store: Store::open(&url).await.unwrap(),
                backend: "postgres",
                url,
                pg: Some((admin, name)),
                _dir: None,
            });
        }
        Err(_) => eprintln!("{TEST_PG} is not set: the PostgreSQL half of this test is skipped"),
    }
    out
}

/// Creates a database in the cluster of `admin`, migrated (a copy of the migrated
/// template); its URL and name.
pub(crate) async fn create_database(admin: &str) -> (String, String) {
    let name = format!(
        "f2t_test_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let url = pg_template::create_migrated(admin, &name, |url| async move {
        Store::open(&url).await.unwrap().close().await;
    })
    .await;
    (url, name)
}

async fn drop_database(admin: &str, name: &str) {
    let Ok(options) = admin.parse::<sqlx::postgres::PgConnectOptions>() else {
        return;
    };
    if let Ok(mut conn) = options.connect().await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
}

/// Runs the block once per backend, with `$store` a fresh store of it (`on_disk`: SQLite's
/// in a file, with its group commit's window, rather than in memory).
macro_rules! each_backend {
    (|$store:ident| $body:block) => {
        $crate::store::testing::each_backend!(false, |$store| $body)
    };
    (on_disk |$store:ident| $body:block) => {
        $crate::store::testing::each_backend!(true, |$store| $body)
    };
    ($on_disk:expr, |$store:ident| $body:block) => {
        for test_store in $crate::store::testing::fresh_stores($on_disk).await {
            let $store = test_store.store.clone();
            eprintln!("on {}", test_store.backend);
            $body
            test_store.finish().await;
        }
    };
}
pub(crate) use each_backend;
