//! A dry run publishes nothing and changes no state, whatever signal it receives. Before:
//! SIGHUP rebuilt the daemon with dry run off, started the publishers, stored the tokens,
//! and the next poll's posts reached the API; on a store that did not exist, the reload
//! ended in "pool timed out" and exit 1.

use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use feed2threads::run_mode::{Effect, RunMode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn config(dir: &Path, fake: &FakeThreads, server: &FeedServer, feeds: &[&str]) -> String {
    let mut text = format!(
        "[store]\nurl = \"sqlite://{}\"\n[threads]\napi_base = \"{}\"\n[http]\nlisten = \"off\"\n\
         [defaults]\nbacklog = \"all\"\n[[accounts]]\nname = \"desk\"\naccess_token = \"{}\"\n\
         min_interval = \"0s\"\n",
        dir.join("store.db").display(),
        fake.base_url(),
        fake.token()
    );
    for name in feeds {
        text.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{}\"\n",
            server.url(&format!("/{name}.xml"))
        ));
    }
    text
}

fn command(config: &Path, args: &[&str], log: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(["--log-format", "json"])
        .args(args)
        .env("FEED2THREADS_TEXT_WAIT", "20ms")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    c
}

/// Every file of the store (database, WAL), with a digest of its bytes.
fn store_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("store.db") && !n.ends_with("-shm"))
        })
        .map(|p| {
            let digest = Sha256::digest(std::fs::read(&p).unwrap()).to_vec();
            (p, digest)
        })
        .collect();
    files.sort();
    files
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kill(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A dry-run daemon gets SIGHUP after a new feed was added to its config; the new feed is
/// polled and its posts printed, and nothing reaches the API or the store.
async fn dry_run_daemon_survives_sighup(existing_store: bool) {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/first.xml", Route::feed(rss("first", 2)));
    server.set("/second.xml", Route::feed(rss("second", 2)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feed2threads.toml");
    std::fs::write(&cfg, config(dir.path(), &fake, &server, &["first"])).unwrap();
    let log = dir.path().join("dry.log");
    if existing_store {
        // A store with history: the first feed's stories are published already.
        let status = command(&cfg, &["run", "--once"], &dir.path().join("live.log"))
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        assert_eq!(fake.posts().len(), 2);
        server.set("/first.xml", Route::feed(rss("first", 3)));
        fake.reset_calls();
    }
    let before = store_files(dir.path());
    assert_eq!(before.is_empty(), !existing_store);
    if existing_store {
        // A dry cycle recognises items against the store's seen set: only the new
        // story of `first` is news.
        let once = command(&cfg, &["run", "--once", "--dry-run"], &log)
            .output()
            .await
            .unwrap();
        assert!(once.status.success());
        let printed = String::from_utf8_lossy(&once.stdout);
        assert_eq!(
            printed.matches("--- first · would publish").count(),
            1,
            "{printed}"
        );
        assert!(printed.contains("first story number 2"), "{printed}");
    }
    server.reset_counts();

    let mut child = command(&cfg, &["run", "--dry-run"], &log).spawn().unwrap();
    let pid = child.id().unwrap();
    // The daemon follows the store's schedule: a feed just polled is not due again yet.
    let log_file = log.clone();
    wait_for("the dry run started", || {
        std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains("feed2threads starting")
    })
    .await;
    if !existing_store {
        wait_for("the first feed polled", || server.hits("/first.xml") == 1).await;
    }
    std::fs::write(
        &cfg,
        config(dir.path(), &fake, &server, &["first", "second"]),
    )
    .unwrap();
    kill(pid, "-HUP");
    wait_for("the reloaded config's new feed polled", || {
        server.hits("/second.xml") == 1
    })
    .await;
    // Time enough for a publisher, had one been started, to publish what was queued.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(pid, "-TERM");
    let mut stdout = child.stdout.take().unwrap();
    let printed = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .unwrap();
        text
    });
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let printed = printed.await.unwrap();
    let log = std::fs::read_to_string(&log).unwrap();

    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("config reloaded"), "{log}");
    assert_eq!(
        fake.all_calls().values().sum::<u64>(),
        0,
        "the dry run called the API: {:?}",
        fake.all_calls()
    );
    assert_eq!(store_files(dir.path()), before, "the store changed");
    assert!(!dir.path().join("store.db.lock").exists() || existing_store);
    assert_eq!(
        printed.matches("--- second · would publish").count(),
        2,
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reloaded_by_sighup_stays_dry_on_an_existing_store() {
    dry_run_daemon_survives_sighup(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reloaded_by_sighup_stays_dry_on_a_store_that_does_not_exist() {
    dry_run_daemon_survives_sighup(false).await;
}

#[tokio::test]
async fn an_in_process_dry_run_reload_starts_no_publisher_and_writes_nothing() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 2);
    let mode = RunMode {
        effect: Effect::Dry,
        ..RunMode::DAEMON
    };
    let running = app.start(mode).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !running.printed.text().contains("would publish") {
        assert!(tokio::time::Instant::now() < deadline, "nothing printed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.reload();
    running.reload();
    let report = running.stop().await;
    assert!(report.publishers.is_empty(), "no publisher ran");
    assert_eq!(app.fake.all_calls().values().sum::<u64>(), 0);
    assert!(!app.db_path().exists(), "the dry run created the store");
    assert_eq!(report.exit_code(), 0);
}
