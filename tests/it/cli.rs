//! The binary as a user runs it: exit codes, `check`, `run --once --dry-run`, SIGTERM,
//! `queue` and `status`.

use crate::support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::feed_server::{FeedServer, Route};
use support::rss::{Feed, Story};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap()
}

fn rss(n: usize) -> String {
    Feed::new("CLI News")
        .stories((0..n).map(|i| {
            Story::new(
                format!("g{i}"),
                format!("https://cli.example/{i}"),
                format!("Headline number {i} &amp; more"),
            )
            .description(format!("&lt;p&gt;Standfirst {i}.&lt;/p&gt;"))
            .aged(chrono::Duration::minutes(i as i64))
        }))
        .rss()
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("feed2threads.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[[accounts]]\nname = \"n\"\n[[feeds]]\nurl = \"https://e.org/a\"\n[[feeds]]\nurl = \"https://e.org/b\"\nevery = \"5 minutes\"\n",
    );
    let out = run(&cfg, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("feeds[1].every: \"5 minutes\" is not a duration; try \"5m\""),
        "{err}"
    );

    let missing = run(&dir.path().join("nope.toml"), &["check"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.toml"));
}

#[test]
fn check_prints_the_resolved_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[[accounts]]\nname = \"n\"\naccess_token = \"THQVJsupersecret\"\n[[feeds]]\nurl = \"https://e.org/a\"\n",
    );
    let out = run(&cfg, &["check"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[redacted]"), "{text}");
    assert!(text.contains("backlog = \"skip\""), "{text}");
    assert!(!text.contains("THQVJsupersecret"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("THQVJsupersecret"));
}

#[tokio::test]
async fn dry_run_once_prints_posts_and_creates_nothing() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss(3)));
    server.set("/down.xml", Route::status(500));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[store]\nurl = \"sqlite://{}\"\n[defaults]\nbacklog = \"latest:2\"\n[[accounts]]\nname = \"n\"\n[[feeds]]\nname = \"news\"\nurl = \"{}\"\n[[feeds]]\nname = \"down\"\nurl = \"{}\"\n",
            db.display(),
            server.url("/news.xml"),
            server.url("/down.xml")
        ),
    );
    let out = tokio::task::spawn_blocking(move || run(&cfg, &["run", "--once", "--dry-run"]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches("would publish").count(), 2, "{stdout}");
    assert!(stdout.contains("Headline number 0 & more"), "{stdout}");
    assert!(stdout.contains("link: https://cli.example/0"), "{stdout}");
    assert!(!stdout.contains("&amp;"), "{stdout}");
    // the failing feed is reported with its reason, and the run still succeeds
    assert!(
        stdout.contains("down") && stdout.contains("500"),
        "{stdout}"
    );
    assert!(!db.exists(), "a dry run must not create the store");
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss(2)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[[accounts]]\nname = \"n\"\n[[feeds]]\nname = \"news\"\nurl = \"{}\"\n",
            dir.path().join("s.db").display(),
            server.url("/news.xml")
        ),
    );
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["--log-format", "json", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first poll happened.
    let started = Instant::now();
    while server.hits("/news.xml") == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "never polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // A guard against a hang, not a measure of speed: the daemon stops at once.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the daemon was still running a minute after SIGTERM")
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("feed2threads stopped"), "{log}");
}

#[tokio::test]
async fn queue_commands_and_status() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss(2)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[defaults]\nbacklog = \"all\"\n[[accounts]]\nname = \"n\"\n[[feeds]]\nname = \"news\"\nurl = \"{}\"\n",
            dir.path().join("s.db").display(),
            server.url("/news.xml")
        ),
    );
    let c = cfg.clone();
    tokio::task::spawn_blocking(move || {
        // One poll cycle; the account has no token, so nothing can be published: the
        // account is paused, which needs a human, and the run says so (exit 1).
        let out = run(&c, &["run", "--once"]);
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{log}");
        assert!(log.contains("needs a human: account n: paused"), "{log}");

        let list = run(&c, &["queue", "list"]);
        let text = String::from_utf8_lossy(&list.stdout);
        assert_eq!(text.matches("queued").count(), 2, "{text}");
        let first_id: String = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();

        let dropped = run(&c, &["queue", "drop", &first_id]);
        assert!(dropped.status.success());
        assert!(String::from_utf8_lossy(&dropped.stdout).contains("dropped"));
        let again = run(&c, &["queue", "drop", &first_id]);
        assert_eq!(again.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&again.stderr).contains("is dropped"));
        let retried = run(&c, &["queue", "retry", &first_id]);
        assert!(retried.status.success());
        let missing = run(&c, &["queue", "retry", "99999"]);
        assert_eq!(missing.status.code(), Some(1));

        let status = run(&c, &["status", "--json"]);
        assert!(status.status.success());
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(doc["feeds"][0]["name"], "news");
        assert_eq!(doc["feeds"][0]["last_result"], "new_items");
        assert_eq!(doc["feeds"][0]["items_seen"], 2);
        assert_eq!(doc["accounts"][0]["name"], "n");
        assert!(doc["accounts"][0]["queued"].as_i64().unwrap() >= 1);
        let table = run(&c, &["status"]);
        assert!(String::from_utf8_lossy(&table.stdout).contains("FEEDS"));
    })
    .await
    .unwrap();
}

/// Wait until `cond` holds, or fail after `secs`.
async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_adds_and_removes_feeds_and_rejects_a_bad_config() {
    let server = FeedServer::start().await;
    server.set("/a.xml", Route::feed(rss(1)));
    server.set("/b.xml", Route::feed(rss(1)));
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_addr().port();
    let head = format!(
        "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[[accounts]]\nname = \"n\"\n",
        dir.path().join("s.db").display()
    );
    let feed = |name: &str, path: &str| {
        format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{}\"\n",
            server.url(path)
        )
    };
    let cfg = write_config(dir.path(), &format!("{head}{}", feed("a", "/a.xml")));
    let log_path = dir.path().join("daemon.log");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["--log-format", "json", "run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    wait_for("first poll of a", 20, || server.hits("/a.xml") == 1).await;

    // /healthz answers while the loop runs, /metrics has the poll.
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            healthy = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "/healthz did not answer 200");
    // The fetch is counted when the poll ends, a little after the server saw it.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("feed=\"a\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.contains("feed2threads_fetches_total"), "{metrics}");
    assert!(metrics.contains("feed=\"a\""), "{metrics}");

    // Add b, remove a.
    std::fs::write(&cfg, format!("{head}{}", feed("b", "/b.xml"))).unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("b polled after reload", 20, || server.hits("/b.xml") == 1).await;

    // A broken config is rejected with the key named; the daemon keeps running.
    std::fs::write(
        &cfg,
        format!("{head}{}every = \"soon\"\n", feed("b", "/b.xml")),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let log_file = log_path.clone();
    wait_for("reload rejected", 20, move || {
        std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains("reload rejected")
    })
    .await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("feeds[0].every"), "{log}");
    let reloaded: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config reloaded"))
        .collect();
    assert_eq!(reloaded.len(), 1, "{log}");
    assert!(reloaded[0].contains("\"feeds\":1"), "{}", reloaded[0]);
    assert_eq!(server.hits("/a.xml"), 1, "a is no longer polled");
}

#[tokio::test]
async fn status_check_says_when_a_human_is_needed() {
    let server = FeedServer::start().await;
    server.set("/down.xml", Route::status(500));
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[status]\nfeed_failing_after = \"1s\"\n",
        dir.path().join("s.db").display()
    );
    let healthy = write_config(dir.path(), &store);
    let broken_dir = tempfile::tempdir().unwrap();
    let broken = write_config(
        broken_dir.path(),
        &format!(
            "{store}[[accounts]]\nname = \"desk\"\n[[feeds]]\nname = \"down\"\nurl = \"{}\"\n",
            server.url("/down.xml")
        ),
    );
    tokio::task::spawn_blocking(move || {
        // A store the daemon never ran on needs a look.
        let fresh = run(&healthy, &["status", "--check"]);
        assert_eq!(fresh.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&fresh.stdout).contains("has not run"));

        assert!(run(&healthy, &["run", "--once"]).status.success());
        let ok = run(&healthy, &["status", "--check"]);
        assert_eq!(
            ok.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&ok.stdout)
        );

        // A failing feed (for longer than status.feed_failing_after) and an account
        // without a token (paused) both need a human; the paused account already makes
        // the run exit 1.
        assert_eq!(run(&broken, &["run", "--once"]).status.code(), Some(1));
        std::thread::sleep(Duration::from_millis(2100));
        let bad = run(&broken, &["status", "--check"]);
        assert_eq!(bad.status.code(), Some(1));
        let text = String::from_utf8_lossy(&bad.stdout);
        assert!(text.contains("feed down failing"), "{text}");
        assert!(text.contains("account desk paused"), "{text}");
        assert!(text.contains("feed2threads auth desk"), "{text}");
        let json = run(&broken, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(doc["healthy"], false);
        assert_eq!(doc["feeds"][0]["last_result"], "server_error");
        assert_eq!(doc["feeds"][0]["consecutive_failures"], 1);
    })
    .await
    .unwrap();
}
