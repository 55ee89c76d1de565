//! A closed output (a pipe whose reader left) never hangs or kills the process: a `--once`
//! or dry run ends promptly (exit 0 or 1), the daemon keeps running. Before:
//! `feed2threads run --once --dry-run 2>&1 >/dev/null | head -1` never ended and ignored
//! SIGTERM (a log line on the closed stderr panicked the task that wrote it), and the
//! daemon in the same situation exited 101.
//!
//! The timeouts below only guard against a hang; they are not speed limits.

use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::rss;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");
const GUARD: Duration = Duration::from_secs(60);

/// A config with `feeds` feeds of a few stories each, answering one after another.
async fn setup(feeds: usize) -> (tempfile::TempDir, FeedServer, PathBuf) {
    let server = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[defaults]\nbacklog = \"all\"\n\
         [[accounts]]\nname = \"desk\"\n",
        dir.path().join("store.db").display()
    );
    for i in 0..feeds {
        let path = format!("/f{i}.xml");
        let delay = Duration::from_millis(20 * u64::try_from(i).unwrap());
        server.set(&path, Route::feed(rss(&format!("f{i}"), 3)).delay(delay));
        text.push_str(&format!(
            "[[feeds]]\nname = \"f{i}\"\nurl = \"{}\"\n",
            server.url(&path)
        ));
    }
    let cfg = dir.path().join("feed2threads.toml");
    std::fs::write(&cfg, text).unwrap();
    (dir, server, cfg)
}

fn command(cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(cfg)
        .args(["--log-format", "json"])
        .args(args)
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    c
}

/// Reads the child's first stderr line, then closes the pipe: the reader left.
async fn read_one_line_and_leave(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let first = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .expect("a first log line")
        .unwrap()
        .unwrap_or_default();
    drop(lines);
    first
}

#[tokio::test(flavor = "multi_thread")]
async fn a_once_dry_run_whose_stderr_reader_left_ends() {
    let (_dir, server, cfg) = setup(20).await;
    let mut child = command(&cfg, &["run", "--once", "--dry-run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = read_one_line_and_leave(&mut child).await;
    assert!(first.contains("starting"), "{first}");
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .expect("the run ended")
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    assert_eq!(server.total_requests(), 20, "every feed was still polled");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_keeps_running_with_its_stderr_closed_and_stops_cleanly() {
    let (_dir, server, cfg) = setup(5).await;
    let mut child = command(&cfg, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    read_one_line_and_leave(&mut child).await;
    let deadline = tokio::time::Instant::now() + GUARD;
    while server.total_requests() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every feed was polled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its polls' log lines have gone nowhere by now; it is still there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "the daemon died");
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_whose_stdout_reader_left_ends_with_exit_1() {
    let (_dir, _server, cfg) = setup(3).await;
    let mut child = command(&cfg, &["run", "--dry-run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .expect("the dry run ended")
        .unwrap();
    assert_eq!(status.code(), Some(1));
}
