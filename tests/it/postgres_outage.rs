//! PostgreSQL unreachable while the daemon runs (issue 14, bad input): a proxy between the
//! daemon and its database is cut (every connection reset, new ones refused) and restored.
//! While cut, the daemon says it cannot renew the account's lease, makes no API write call
//! (the next post's time comes and goes) and stays up; once restored it renews or takes the
//! lease again and publishes what was queued, each story once. On a 2 s lease (`store.lease`)
//! the keeper renews every ~0.5 s, so the cut is noticed at once; the test waits out the
//! second story's time (2 s after the first) and little else.

use crate::support::daemon::Daemon;
use crate::support::fake_threads::Endpoint;
use crate::support::pg::PgDatabase;
use crate::support::proxy::Proxy;
use crate::support::test_app::TestApp;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Waits (up to 60 s) until `n` posts went out.
async fn posts(app: &TestApp, n: usize) {
    for _ in 0..600 {
        if app.fake.posts().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} posts, not {n}", app.fake.posts().len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_to_postgres_stops_publishing_and_the_daemon_resumes_when_it_is_back() {
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let mut url = url::Url::parse(db.url()).unwrap();
    let upstream = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap(),
    );
    let proxy = Proxy::start(upstream).await;
    url.set_port(Some(proxy.addr().port())).unwrap();
    let app = TestApp::new()
        .await
        .with_store_url(url.as_str())
        .with_store_line("lease = \"2s\"");
    let token = app.fake.token();
    // Two stories, 2 s apart: the second is due while the database is cut off.
    let app = app
        .with_account_toml(
            "desk",
            &format!("access_token = \"{token}\"\nmin_interval = \"2s\""),
        )
        .with_feed("news", "desk", 2);
    let daemon = Daemon::start(&app);
    posts(&app, 1).await;
    let first = Instant::now();
    proxy.cut();
    let writes = || app.fake.calls(Endpoint::CreateContainer) + app.fake.calls(Endpoint::Publish);
    let before = writes();

    daemon.logged("cannot renew the account's lease").await;
    // Past the second story's time: it would have gone out by now.
    let due = Duration::from_secs(3);
    tokio::time::sleep(due.saturating_sub(first.elapsed())).await;
    assert_eq!(
        writes(),
        before,
        "an API write call while the database was cut off"
    );
    assert_eq!(app.fake.posts().len(), 1);
    let mut daemon = daemon;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon stays up:\n{}",
        daemon.log()
    );

    proxy.restore();
    posts(&app, 2).await;
    let log = daemon.log();
    let cut_at = log.find("cannot renew the account's lease").unwrap();
    assert!(
        log[cut_at..].contains("publishing resumes")
            || log[cut_at..].contains("this node owns the account's publishing"),
        "{log}"
    );
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(app.fake.posts().len(), 2);
    assert!(app.fake.duplicates().is_empty());
}
