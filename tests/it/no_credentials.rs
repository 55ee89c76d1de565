//! Trying it before having credentials (issue 12, part 4): `check`, `preview` and
//! `run --dry-run` work when an account's token variable or file is missing (a warning
//! naming it, not exit 2); `preview URL` and `import-opml` work without a config file. A
//! live run pauses such an account with the key and the fix named, unless `auth` stored a
//! token, which it then uses; a token file that appears later, and a reload, lift the pause.

use crate::support::feed_server::{FeedServer, Route};
use crate::support::logs::Logs;
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use feed2threads::run_mode::RunMode;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");
/// Surely unset in any environment the tests run in.
const MISSING_VAR: &str = "F2T_TEST_NO_SUCH_TOKEN_VAR";

fn run_in(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c.args(args)
        .current_dir(dir)
        .env_remove("FEED2THREADS_CONFIG")
        .env_remove(MISSING_VAR)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn run_blocking(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let (dir, config) = (dir.to_path_buf(), config.map(Path::to_path_buf));
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_in(&dir, config.as_deref(), &args)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn check_preview_and_a_dry_run_warn_about_a_missing_token_variable() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss("news", 2)));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feed2threads.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[defaults]\nbacklog = \"all\"\n\
             [[accounts]]\nname = \"newsroom\"\naccess_token_env = \"{MISSING_VAR}\"\n\
             [[feeds]]\nname = \"news\"\nurl = \"{}\"\n",
            dir.path().join("store.db").display(),
            server.url("/news.xml")
        ),
    )
    .unwrap();
    let warning = format!(
        "accounts[0].access_token_env: environment variable {MISSING_VAR} is not set or empty"
    );

    let out = run_blocking(dir.path(), Some(&config), &["check"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(&format!("warning: {warning};")),
        "{stderr}"
    );
    assert!(stderr.contains("feed2threads auth newsroom"), "{stderr}");
    assert!(
        stdout.contains(&format!("# warning: {warning}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("access_token_env = \"{MISSING_VAR}\"")),
        "{stdout}"
    );

    let out = run_blocking(dir.path(), Some(&config), &["preview", "news"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&warning), "{stderr}");
    assert!(stdout.contains("news story number 1"), "{stdout}");

    let out = run_blocking(dir.path(), Some(&config), &["run", "--once", "--dry-run"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.matches("would publish").count(), 2, "{stdout}");
    assert!(stderr.contains(&warning), "{stderr}");
    assert!(
        stderr.contains("a live run would pause the account"),
        "{stderr}"
    );
    assert!(!dir.path().join("store.db").exists());
}

#[test]
fn a_missing_token_file_is_a_warning_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("f.toml");
    std::fs::write(
        &config,
        "[[accounts]]\nname = \"desk\"\naccess_token_file = \"/nonexistent/f2t/token\"\n",
    )
    .unwrap();
    let out = run_in(dir.path(), Some(&config), &["check"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(
            "warning: accounts[0].access_token_file: cannot read /nonexistent/f2t/token"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn preview_of_a_url_and_import_opml_work_without_a_config_file() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss("news", 3)));
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/news.xml");

    // No --config, no $FEED2THREADS_CONFIG, no ./feed2threads.toml.
    let out = run_blocking(dir.path(), None, &["preview", &url, "--allow-private"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: no config file (feed2threads.toml); using the built-in defaults"),
        "{stderr}"
    );
    assert!(stdout.contains("news story number 1"), "{stdout}");

    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        format!(
            "<opml version=\"2.0\"><body><outline text=\"News\" xmlUrl=\"{url}\"/></body></opml>"
        ),
    )
    .unwrap();
    let out = run_blocking(
        dir.path(),
        None,
        &["import-opml", "subs.opml", "--account", "newsroom"],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains(&format!("url = \"{url}\"")), "{stdout}");
    assert!(stdout.contains("account = \"newsroom\""), "{stdout}");
    assert!(
        stdout.contains("# [[accounts]]\n# name = \"newsroom\""),
        "{stdout}"
    );

    // A name needs a config; so does every other command; a named file must exist.
    let out = run_blocking(dir.path(), None, &["preview", "news"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("without a config file there are no feed names"));
    let out = run_blocking(dir.path(), None, &["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    let missing = dir.path().join("missing.toml");
    let out = run_blocking(
        dir.path(),
        Some(&missing),
        &["preview", &url, "--allow-private"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[tokio::test]
async fn a_live_run_pauses_an_account_whose_token_cannot_be_read() {
    let app = TestApp::new()
        .await
        .with_account_toml(
            "desk",
            &format!("access_token_env = \"{MISSING_VAR}\"\nmin_interval = \"0s\""),
        )
        .with_feed("news", "desk", 2);
    let report = app.run_once().await;
    assert_eq!(report.exit_code(), 1);
    assert!(app.fake.posts().is_empty());
    let store = app.open_store().await;
    let account = store.account_by_name("desk").await.unwrap().unwrap();
    let reason = account.paused_reason.unwrap();
    assert_eq!(
        reason,
        format!(
            "no access token: accounts[0].access_token_env: environment variable {MISSING_VAR} \
             is not set or empty; set {MISSING_VAR} and restart the daemon, or run \
             `feed2threads auth desk` to store one"
        )
    );
}

#[tokio::test]
async fn a_live_run_uses_the_token_auth_stored_when_the_configured_one_cannot_be_read() {
    let (logs, _capture) = Logs::capture();
    let app = TestApp::new()
        .await
        .with_account_toml(
            "desk",
            &format!("access_token_env = \"{MISSING_VAR}\"\nmin_interval = \"0s\""),
        )
        .with_feed("news", "desk", 2);
    {
        let store = app.open_store().await;
        let row = store.ensure_account("desk", 1).await.unwrap();
        store
            .store_token(row.id, &app.fake.secret_token(), "auth", None, None, 1)
            .await
            .unwrap();
        store.close().await;
    }
    let report = app.run_once().await;
    assert_eq!(report.exit_code(), 0);
    assert_eq!(app.fake.posts().len(), 2);
    let log = logs.text();
    assert!(
        log.contains(&format!(
            "environment variable {MISSING_VAR} is not set or empty; publishing with the token \
             stored by `feed2threads auth desk`"
        )),
        "{log}"
    );
}

#[tokio::test]
async fn a_token_file_that_appears_and_a_reload_lift_the_pause() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("desk.token");
    let app = TestApp::new()
        .await
        .with_account_toml(
            "desk",
            &format!(
                "access_token_file = \"{}\"\nmin_interval = \"0s\"",
                token_file.display()
            ),
        )
        .with_feed("news", "desk", 2);
    let running = app.start(RunMode::DAEMON).await;
    let store = app.open_store().await;
    let paused = wait_until(|| async {
        store
            .account_by_name("desk")
            .await
            .unwrap()
            .and_then(|a| a.paused_reason)
    })
    .await;
    assert!(
        paused.contains("accounts[0].access_token_file: cannot read"),
        "{paused}"
    );
    assert!(
        paused.contains("fix the file and reload (SIGHUP)"),
        "{paused}"
    );

    std::fs::write(&token_file, format!("{}\n", app.fake.token())).unwrap();
    running.reload();
    wait_until(|| {
        let n = app.fake.posts().len();
        async move { (n == 2).then_some(()) }
    })
    .await;
    let report = running.stop().await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.troubles());
    let account = store.account_by_name("desk").await.unwrap().unwrap();
    assert_eq!(account.paused_reason, None);
}

/// Polls `probe` until it gives a value (a hang guard, not a speed limit).
async fn wait_until<T, F: std::future::Future<Output = Option<T>>>(
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
