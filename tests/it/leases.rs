//! Account leases seen from outside (issue 14): a daemon publishes under its account's
//! lease, gives it up at a clean stop, and `status` says which node owns which account, on
//! SQLite and on PostgreSQL (when `FEED2THREADS_TEST_PG` is set; a notice otherwise).

use crate::support::pg::PgDatabase;
use crate::support::test_app::TestApp;
use feed2threads::publish::lease::{LeaseKeeper, LeaseSettings};
use feed2threads::store::{Lease, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;

async fn owner_after_two_runs(app: &TestApp) {
    for round in 1..=2 {
        let out = app.run(&["run", "--once"]).await;
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert!(log.contains("owns the account's publishing"), "{log}");
        assert_eq!(app.fake.posts().len(), 2, "round {round}: {log}");
    }
    assert!(app.fake.duplicates().is_empty());

    let status = app.run(&["status", "--json"]).await;
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let owner = &doc["accounts"][0]["owner"];
    // host:pid of the last run; a new owner each run, so the fence grew; given up at its
    // clean stop, so another node may take it at once.
    let node = owner["node"].as_str().unwrap_or_default();
    assert!(node.contains(':'), "{doc}");
    assert_eq!(owner["fence"], 2, "{doc}");
    assert!(owner["lease_seconds_left"].as_i64().unwrap() <= 0, "{doc}");

    let text = app.run(&["status"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("published by:   {node} (fence 2, lease lapsed")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_names_the_node_that_owns_each_account_on_sqlite() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 2);
    owner_after_two_runs(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_names_the_node_that_owns_each_account_on_postgres() {
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let app = TestApp::newsroom_on(db.url(), 2).await;
    owner_after_two_runs(&app).await;
}

/// Two daemons on one PostgreSQL database, started together: every due feed is fetched
/// once across both (counted at the feed server), every story published once.
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_on_postgres_fetch_each_due_feed_once_and_publish_each_story_once() {
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let names = ["front", "politics", "sport", "culture"];
    let mut app = TestApp::new()
        .await
        .with_store_url(db.url())
        .with_account("desk");
    for name in names {
        app = app.with_feed(name, "desk", 1);
    }
    // Each daemon is due to poll every feed at once; the next polls are 10 minutes away.
    let app = app.with_defaults("every = \"10m\"");
    app.write_config();
    // Its log is not this test's subject (and would reach the test run's own output).
    let mut second = app
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let first = app.start(feed2threads::run_mode::RunMode::DAEMON).await;
    for _ in 0..200 {
        if app.fake.posts().len() >= names.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both have had time to look at every feed (ticks of 500 ms).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second daemon runs beside the first"
    );
    // One node owns the account's publishing, whichever took it first.
    let store = feed2threads::store::Store::open(db.url()).await.unwrap();
    let claimed = store.leases().await.unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "one owner for the one account: {claimed:?}"
    );
    store.close().await;
    let _ = second.kill().await;
    first.stop().await;

    for name in names {
        assert_eq!(app.feeds.hits(&format!("/{name}.xml")), 1, "{name}");
    }
    assert_eq!(app.fake.posts().len(), names.len());
    assert!(app.fake.duplicates().is_empty());
}

/// Waits (real time: the lease's clock is the database's) until `want` holds.
async fn until(keeper: &LeaseKeeper, want: impl Fn(Option<Lease>) -> bool) {
    for _ in 0..100 {
        if want(keeper.current()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the lease never got there: {:?}", keeper.current());
}

/// Renewals fail (a trigger, through a connection of the test's own) or work again.
async fn set_renewals_failing(file: &std::path::Path, failing: bool) {
    let sql = if failing {
        "CREATE TRIGGER no_renewal BEFORE UPDATE ON account_leases \
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    } else {
        "DROP TRIGGER no_renewal"
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// The database stops answering the renewals: the worker is told it holds no lease (so
/// it publishes nothing), and the same lease comes back when the renewals work again in
/// time. A clean stop gives the lease up.
#[tokio::test]
async fn a_lease_that_cannot_be_renewed_stops_publishing_until_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::open(&url).await.unwrap();
    let account = store.ensure_account("news", 0).await.unwrap().id;
    let settings = LeaseSettings {
        node: "node-a".into(),
        // Renewed every 1.3 s: an outage of one round ends within the lease.
        duration: Duration::from_secs(4),
        exclusive: false,
    };
    let keeper = LeaseKeeper::start(store.clone(), account, "news".into(), settings);
    until(&keeper, |l| l.is_some()).await;
    let first = keeper.current().unwrap();

    set_renewals_failing(&file, true).await;
    until(&keeper, |l| l.is_none()).await;
    set_renewals_failing(&file, false).await;
    until(&keeper, |l| l.is_some()).await;
    assert_eq!(
        keeper.current(),
        Some(first.clone()),
        "the same lease, renewed"
    );

    keeper.release().await;
    let b = store
        .lease_take(account, "node-b", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a released lease is free at once");
    assert!(b.fence() > first.fence());
    store.close().await;
}

/// The local safety margin, seen from outside: the daemon is in the middle of a post
/// (publishing a container the API keeps calling "not visible yet", retried every 400 ms)
/// when its store stops answering (another connection holds the write lock), so its lease
/// renewal hangs. Once the lease lapsed by the local clock the worker makes no more API
/// calls, although nothing told it the lease was lost; when the store answers again, the
/// lease is renewed and the post published once.
#[tokio::test]
async fn a_worker_whose_lease_lapsed_by_its_clock_makes_no_more_calls() {
    use crate::support::fake_threads::Endpoint;
    use crate::support::logs::Logs;
    let (logs, _capture) = Logs::capture();
    let mut app = TestApp::new()
        .await
        // Usable for 800 ms after each renewal is sent, renewed every 333 ms.
        .with_store_line("lease = \"1s\"")
        .with_account("desk")
        .with_feed("news", "desk", 1);
    app.options.publish.not_ready_wait = Duration::from_millis(400);
    app.options.publish.not_ready_retries = 50;
    app.fake.update(|s| s.not_visible_attempts = 1000);
    let daemon = app.start(feed2threads::run_mode::RunMode::DAEMON).await;
    while app.fake.calls(Endpoint::Publish) < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut lock = sqlx::SqliteConnection::connect(&app.db_url())
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    // The last renewal that answered was sent before the lock: lapsed here within 800 ms.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let calls = app.fake.all_calls();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        app.fake.all_calls(),
        calls,
        "calls while the lease was lapsed here"
    );

    app.fake.update(|s| s.not_visible_attempts = 0);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    for _ in 0..200 {
        if !app.fake.posts().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.stop().await;
    assert_eq!(app.fake.posts().len(), 1);
    assert!(app.fake.duplicates().is_empty());
    assert!(
        logs.text().contains("the account's lease may have lapsed"),
        "{}",
        logs.text()
    );
}

/// A store at the release before millisecond leases (schema 51), holding a lease of
/// another node for 30 more seconds, as that release stored it (unix seconds).
async fn store_with_a_lease_in_seconds(url: &str, migrations: &str) {
    use sqlx::migrate::Migrator;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(migrations);
    let migrator = Migrator::new(dir.as_path()).await.unwrap();
    let (account, lease) = (
        "INSERT INTO accounts (id, name, created_at, updated_at) VALUES (1, 'news', 0, 0)",
        "INSERT INTO account_leases (account_id, owner, fence, lease_until) VALUES (1, 'old', 4, $1)",
    );
    let until = feed2threads::store::now_unix() + 30;
    if migrations == "migrations_pg" {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        migrator.run_to(51, &mut conn).await.unwrap();
        sqlx::query(account).execute(&mut conn).await.unwrap();
        sqlx::query(lease)
            .bind(until)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = url
            .parse::<SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        migrator.run_to(51, &mut conn).await.unwrap();
        sqlx::query(account).execute(&mut conn).await.unwrap();
        sqlx::query(lease)
            .bind(until)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// The upgrade counts the lease in milliseconds (migration 0070): still held by its node
/// for the 30 s it had, neither lapsed nor held a thousand times longer.
async fn a_lease_in_seconds_is_held_as_long_after_the_upgrade(url: &str, migrations: &str) {
    let stored = std::time::Instant::now();
    store_with_a_lease_in_seconds(url, migrations).await;
    let store = Store::open(url).await.unwrap();
    let leases = store.leases().await.unwrap();
    let elapsed = i64::try_from(stored.elapsed().as_millis()).unwrap();
    assert_eq!(leases.len(), 1, "{leases:?}");
    let (owner, fence) = (leases[0].owner.as_str(), leases[0].fence);
    assert_eq!((owner, fence), ("old", 4));
    // The node's clock made the old value, the database's reads it: a second either way,
    // less the time the upgrade took (it can take seconds on a loaded machine). Lapsed
    // would be 0 or less; a thousand times longer, 30,000 s.
    assert!(
        (28_000 - elapsed..=31_000).contains(&leases[0].millis_left),
        "{leases:?} read {elapsed} ms after it was stored"
    );
    let taken = store
        .lease_take(1, "new", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(taken.is_none(), "a held lease was taken: {taken:?}");
    store.close().await;
}

#[tokio::test]
async fn a_lease_stored_in_seconds_is_held_as_long_after_the_upgrade_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    a_lease_in_seconds_is_held_as_long_after_the_upgrade(&url, "migrations").await;
}

#[tokio::test]
async fn a_lease_stored_in_seconds_is_held_as_long_after_the_upgrade_on_postgres() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    a_lease_in_seconds_is_held_as_long_after_the_upgrade(db.url(), "migrations_pg").await;
}
