//! A PostgreSQL database per test, in the cluster `FEED2THREADS_TEST_PG` names (`.ci/run`
//! starts a throwaway one and sets it). Without the variable, [`PgDatabase::create`] (and `migrated`) say
//! so and answers `None`: the test prints a notice and passes.
#![allow(dead_code, reason = "each test module uses a part of it")]

use sqlx::Connection;

pub const TEST_PG: &str = "FEED2THREADS_TEST_PG";

/// A fresh database; dropped (connections and all) with this value.
pub struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

#[path = "../../../src/store/pg_template.rs"]
mod pg_template;

impl PgDatabase {
    /// A new, empty database, or `None` (with a notice) when no test cluster is configured:
    /// for the tests of what happens to a database the daemon has never seen.
    pub async fn create() -> Option<PgDatabase> {
        let admin = admin_or_notice()?;
        let name = new_name();
        let mut conn = pg_template::connect(&admin).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        Some(PgDatabase {
            url: pg_template::database_url(&admin, &name),
            admin,
            name,
        })
    }

    /// A new database with the schema already migrated (a copy of a migrated template, a
    /// fifth of the server's work of migrating), or `None` as for [`PgDatabase::create`].
    pub async fn migrated() -> Option<PgDatabase> {
        let admin = admin_or_notice()?;
        let name = new_name();
        let url = pg_template::create_migrated(&admin, &name, |url| async move {
            feed2threads::store::Store::open(&url)
                .await
                .unwrap()
                .close()
                .await;
        })
        .await;
        Some(PgDatabase { admin, name, url })
    }

    /// The database's URL (`postgres://…/f2t_it_…`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn admin_or_notice() -> Option<String> {
    let admin = std::env::var(TEST_PG).ok();
    if admin.is_none() {
        eprintln!("{TEST_PG} is not set: this PostgreSQL test is skipped");
    }
    admin
}

fn new_name() -> String {
    format!(
        "f2t_it_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: a thread of
        // its own with a small runtime does the DROP.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let mut conn = pg_template::connect(&admin).await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
                let _ = conn.close().await;
            });
        })
        .join();
    }
}

thread_local! {
    /// The store URL the publish harness uses instead of its SQLite file, while a test
    /// runs on PostgreSQL through [`on_postgres`].
    static STORE_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The store URL [`on_postgres`] set for this thread's test, if any.
pub fn store_url_override() -> Option<String> {
    STORE_URL.with(|u| u.borrow().clone())
}

/// Runs `test` (a `#[tokio::test]` of the publish harness, which runs on this thread) on a
/// fresh PostgreSQL database: the same body as its SQLite run.
pub fn on_postgres(test: fn()) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(PgDatabase::migrated()) else {
        return;
    };
    STORE_URL.with(|u| *u.borrow_mut() = Some(db.url().to_string()));
    let result = std::panic::catch_unwind(test);
    STORE_URL.with(|u| *u.borrow_mut() = None);
    drop(db);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
