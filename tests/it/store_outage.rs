//! A store error never ends the daemon by surprise: a store locked by another connection
//! for longer than the busy timeout, or a full disk, is an outage the daemon lives through
//! (logged, retried with backoff, `/healthz` 503 with the reason) and recovers from; only an
//! outage longer than `[store] max_outage` ends it, through the orderly stop, with exit 1
//! and a last log line saying why. (Before: the run loop's `?` ended the daemon within a
//! minute, without its drain or its "stopped" line.)

use crate::support::logs::Logs;
use crate::support::test_app::TestApp;
use feed2threads::daemon::End;
use feed2threads::run_mode::RunMode;
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Another process's connection holding the store's write lock.
async fn hold_write_lock(db_url: &str) -> SqliteConnection {
    let mut other = SqliteConnection::connect(db_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

async fn release_write_lock(mut other: SqliteConnection) {
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
}

fn app_with_short_busy_timeout(app: TestApp) -> TestApp {
    let mut app = app.with_http();
    app.options.store.busy_timeout = Duration::from_millis(200);
    app
}

#[tokio::test]
async fn a_store_locked_longer_than_the_busy_timeout_is_survived_and_shown_by_healthz() {
    let app = app_with_short_busy_timeout(
        TestApp::new()
            .await
            .with_account("desk")
            .with_feed("news", "desk", 1),
    );
    let running = app.start(RunMode::DAEMON).await;
    running.healthz_until(30, |s, _| s == 200).await;

    let other = hold_write_lock(&app.db_url()).await;
    let (_, body) = running.healthz_until(30, |s, _| s == 503).await;
    assert!(body.contains("the store has been failing"), "{body}");
    assert!(body.contains("last while "), "what was being done: {body}");
    assert!(body.contains("database is locked"), "{body}");

    release_write_lock(other).await;
    running.healthz_until(30, |s, _| s == 200).await;
    assert!(!running.is_finished(), "the daemon survived the outage");
    let report = running.stop().await;
    assert_eq!(report.end, End::Signal);
    assert!(report.store_errors == 0 || report.exit_code() == 0);
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn an_outage_longer_than_the_limit_stops_the_daemon_in_order_with_exit_1() {
    let mut app = app_with_short_busy_timeout(
        TestApp::new()
            .await
            .with_account("desk")
            .with_feed("news", "desk", 1),
    );
    app.max_outage = Some(Duration::from_secs(1));
    let (logs, _capture) = Logs::capture();
    let running = app.start(RunMode::DAEMON).await;
    running.healthz_until(30, |s, _| s == 200).await;
    // The publisher's start reads the store (it adopts what a crash left in flight): wait
    // for it, so that the outage meets a running publisher that must stop in order.
    for _ in 0..300 {
        if logs.text().contains("publisher started") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let other = hold_write_lock(&app.db_url()).await;
    let report = running.finished().await;
    release_write_lock(other).await;

    let End::StoreOutage(outage) = &report.end else {
        panic!("{:?}", report.end)
    };
    assert!(outage.lasted > Duration::from_secs(1), "{outage:?}");
    assert!(outage.error.contains("locked"), "{outage:?}");
    assert_eq!(report.exit_code(), 1);
    let text = logs.text();
    assert!(
        text.contains("publisher stopped"),
        "the publishers stopped in order: {text}"
    );
    let last = logs.last_line();
    assert!(
        last.contains("feed2threads stopped: the store has been failing for"),
        "{last}"
    );
    assert!(last.contains("max_outage"), "{last}");
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a notice) when this process may not mount one.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            println!(
                "NOTICE: cannot mount a tmpfs (not root, or no permission); \
                 the full-disk test is skipped"
            );
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem of `dir` until a write fails; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 16 * 1024];
    while file
        .write_all(&block)
        .and_then(|()| file.sync_data())
        .is_ok()
    {}
    // And the last few bytes.
    while file.write_all(&[0u8; 512]).is_ok() {}
    path
}

#[tokio::test]
async fn a_full_disk_is_survived_and_shown_by_healthz() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 1);
    let app = app_with_short_busy_timeout(app.with_store_at(&tmpfs.path().join("store.db")));
    let running = app.start(RunMode::DAEMON).await;
    running.healthz_until(30, |s, _| s == 200).await;

    let filler = fill(tmpfs.path());
    let (_, body) = running.healthz_until(30, |s, _| s == 503).await;
    assert!(body.contains("last while "), "what was being done: {body}");
    assert!(body.contains("database or disk is full"), "{body}");

    std::fs::remove_file(filler).unwrap();
    running.healthz_until(30, |s, _| s == 200).await;
    assert!(!running.is_finished());
    let report = running.stop().await;
    assert_eq!(report.end, End::Signal);
    assert_eq!(report.exit_code(), 0);
}
