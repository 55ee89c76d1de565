//! One daemon per store: a second `run`, or a `run --once` from cron beside the service,
//! exits 1 at once naming the holder (pid, host, since when). Read-only commands and those
//! that act through the store keep working beside the daemon, and so does a dry run.
//! (Before: both daemons picked the same queued posts; 10 queued became 13 published.)

use crate::support::test_app::TestApp;
use feed2threads::run_mode::RunMode;
use feed2threads::store::LockError;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_store_is_refused_naming_the_holder() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 3);
    let fake = &app.fake;
    let mut daemon = app
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake.posts().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon published nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for args in [&["run"][..], &["run", "--once"][..]] {
        let second = app.run(args).await;
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("another feed2threads daemon is running on this store"),
            "{err}"
        );
        assert!(err.contains(&format!("pid {pid} on host ")), "{err}");
        assert!(err.contains(" since 20"), "{err}");
        assert!(err.contains("store.db.lock"), "{err}");
    }

    // Beside it: what reads, and what acts through the store.
    let status = app.run(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["accounts"][0]["published_24h"], 3);
    let list = app.run(&["queue", "list"]).await;
    assert!(list.status.success());
    assert_eq!(
        String::from_utf8_lossy(&list.stdout)
            .matches("published")
            .count(),
        3
    );
    let release = app.run(&["release", "news"]).await;
    assert!(
        release.status.success(),
        "{}",
        String::from_utf8_lossy(&release.stderr)
    );
    let dry = app.run(&["run", "--once", "--dry-run"]).await;
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(fake.posts().len(), 3, "nothing was published twice");

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(60), daemon.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // Released with the daemon: cron's next run goes ahead.
    let after = app.run(&["run", "--once"]).await;
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(fake.duplicates().is_empty());
}

#[tokio::test]
async fn the_lock_is_refused_in_process_too_and_a_dry_run_needs_none() {
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 1);
    let running = app.start(RunMode::DAEMON).await;
    let err = match app.try_start(RunMode::ONCE).await {
        Ok(_) => panic!("a second daemon started"),
        Err(e) => e,
    };
    let lock = err.downcast_ref::<LockError>().expect("a lock error");
    let LockError::Held { holder, .. } = lock else {
        panic!("{lock}")
    };
    assert_eq!(holder.as_ref().unwrap().pid, std::process::id());
    let (report, _) = app.dry_run_once().await;
    assert_eq!(report.exit_code(), 0);
    running.stop().await;
}
