//! One live daemon per node name on a PostgreSQL store (issue 14): a second `run` given the
//! `store.node` of a running daemon waits one lease time for it to go quiet, then exits 1
//! naming the node and its holder (host, pid, since when); a daemon restarted after a
//! kill -9 (systemd's restart) is accepted once its predecessor's registration lapses.
//! Both cases run at once, each on a database of its own: each waits out one lease time
//! (`store.lease`, 2 s here).

use crate::support::daemon::Daemon;
use crate::support::pg::PgDatabase;
use crate::support::test_app::TestApp;
use std::time::Duration;

/// Waits (up to 60 s) until the story went out.
async fn published(app: &TestApp) {
    for _ in 0..600 {
        if !app.fake.posts().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon published nothing");
}

async fn newsroom(db: &PgDatabase, node: &str) -> TestApp {
    TestApp::newsroom_on(db.url(), 1)
        .await
        .with_store_line(&format!("node = \"{node}\""))
        .with_store_line("lease = \"2s\"")
}

/// A second daemon with a running daemon's name is refused after one lease time.
async fn a_live_name_is_refused(db: PgDatabase) {
    let app = newsroom(&db, "news-1").await;
    let first = Daemon::start(&app);
    published(&app).await;
    let second = Daemon::start(&app);
    second.logged("store.node is held by another daemon").await;
    let (code, log) = second.exit_code().await;
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("store.node \"news-1\" is in use by another running daemon"),
        "{log}"
    );
    assert!(
        log.contains(&format!("pid {} on host ", first.pid())),
        "{log}"
    );
    assert!(log.contains(" since 20"), "{log}");
    // The first one went on undisturbed, and stops cleanly.
    let (code, log) = first.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(app.fake.posts().len(), 1);
    assert!(app.fake.duplicates().is_empty());
}

/// A daemon killed with kill -9 and started again with its name is accepted once its
/// registration lapses, and takes the account's publishing back (nothing goes out twice).
async fn a_restart_after_kill_9_is_accepted(db: PgDatabase) {
    let app = newsroom(&db, "news-2").await;
    let mut first = Daemon::start(&app);
    published(&app).await;
    first.child.start_kill().unwrap();
    let _ = first.child.wait().await;
    let again = Daemon::start(&app);
    again.logged("store.node is held by another daemon").await;
    again.logged("feed2threads starting").await;
    again
        .logged("this node owns the account's publishing")
        .await;
    let (code, log) = again.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !log.contains("is in use by another running daemon"),
        "{log}"
    );
    assert_eq!(app.fake.posts().len(), 1, "{log}");
    assert!(app.fake.duplicates().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_live_daemon_per_node_name_and_a_restart_after_kill_9_is_accepted() {
    let (Some(one), Some(two)) = (PgDatabase::migrated().await, PgDatabase::migrated().await)
    else {
        return;
    };
    tokio::join!(
        a_live_name_is_refused(one),
        a_restart_after_kill_9_is_accepted(two)
    );
}
