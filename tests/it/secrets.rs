//! Secrets (issue 12, part 8): the store, its `-wal`/`-shm` files and the daemon lock file
//! are readable by their owner only whatever the umask, and wider modes left from before are
//! tightened with a log line; `auth NAME --token-file FILE` (or `-`, standard input)
//! imports a token without putting it on the command line, and `--token` warns.

use crate::support::fake_threads::{FakeThreads, TokenKind};
use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::rss;
use secrecy::ExposeSecret;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// `feed2threads ARGS` under `umask 000`, through the shell.
fn with_open_umask(config: &Path, args: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "umask 000; exec \"{BIN}\" --config \"{}\" --log-format json {args}",
            config.display()
        ))
        .env_remove("FEED2THREADS_CONFIG")
        .env("RUST_LOG", "info");
    c
}

#[tokio::test]
async fn the_store_its_companions_and_the_lock_are_private_whatever_the_umask() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss("news", 2)));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let config = dir.path().join("f.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[[accounts]]\nname = \"n\"\n\
             [[feeds]]\nname = \"news\"\nurl = \"{}\"\n",
            db.display(),
            server.url("/news.xml")
        ),
    )
    .unwrap();
    let mut child = with_open_umask(&config, "run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (wal, shm, lock) = (
        sibling(&db, "-wal"),
        sibling(&db, "-shm"),
        sibling(&db, ".lock"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(wal.exists() && shm.exists() && lock.exists() && server.hits("/news.xml") > 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never opened its store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let modes: Vec<(String, u32)> = [&db, &wal, &shm, &lock]
        .iter()
        .map(|p| (p.display().to_string(), mode(p)))
        .collect();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    for (file, mode) in modes {
        assert_eq!(mode, 0o600, "{file} is {mode:04o}");
    }
}

#[test]
fn a_store_others_can_read_is_tightened_with_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let config = dir.path().join("f.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n",
            db.display()
        ),
    )
    .unwrap();
    // Created private by a command too (status creates and migrates a missing store).
    let out = with_open_umask(&config, "status").output().unwrap();
    assert_eq!(mode(&db), 0o600, "{}", String::from_utf8_lossy(&out.stderr));
    // As an older version left it.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = with_open_umask(&config, "status").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(mode(&db), 0o600);
    assert!(
        stderr.contains("was readable by others (mode 0644); it holds access tokens, so it is now readable by its owner only (0600)"),
        "{stderr}"
    );
}

fn auth_config(dir: &Path, fake: &FakeThreads) -> PathBuf {
    let config = dir.join("f.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[threads]\napi_base = \"{}\"\n[http]\nlisten = \"off\"\n\
             [[accounts]]\nname = \"newsroom\"\n",
            dir.join("store.db").display(),
            fake.base_url()
        ),
    )
    .unwrap();
    config
}

fn auth(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("auth")
        .arg("newsroom")
        .args(args)
        .env_remove("FEED2THREADS_IMPORT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

async fn stored_token(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("store.db").display());
    let store = feed2threads::store::Store::open(&url).await.unwrap();
    let row = store.account_by_name("newsroom").await.unwrap().unwrap();
    let token = row.token().unwrap().expose_secret().to_string();
    store.close().await;
    token
}

#[tokio::test]
async fn auth_imports_a_token_from_a_file_or_standard_input_and_warns_about_argv() {
    let fake = FakeThreads::start();
    let dir = tempfile::tempdir().unwrap();
    let config = auth_config(dir.path(), &fake);
    let long = Duration::from_secs(86_400);

    let token = fake.issue_token(TokenKind::LongLived, long);
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (c, f) = (config.clone(), file.clone());
    let out =
        tokio::task::spawn_blocking(move || auth(&c, &["--token-file", f.to_str().unwrap()], None))
            .await
            .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Connected account newsroom"), "{stdout}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(stored_token(dir.path()).await, token);

    let token = fake.issue_token(TokenKind::LongLived, long);
    let (c, t) = (config.clone(), token.clone());
    let out = tokio::task::spawn_blocking(move || {
        auth(&c, &["--token-file", "-"], Some(&format!("{t}\n")))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_token(dir.path()).await, token);

    // The argv form still works, and says why not to use it.
    let token = fake.issue_token(TokenKind::LongLived, long);
    let (c, t) = (config.clone(), token.clone());
    let out = tokio::task::spawn_blocking(move || auth(&c, &["--token", &t], None))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: --token puts the token on the command line, where every user of this host can read it"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
    assert_eq!(stored_token(dir.path()).await, token);

    // An empty file or empty input is a usage error naming the source, nothing stored.
    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || auth(&c, &["--token-file", "-"], Some("\n")))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard input is empty"));
    assert_eq!(stored_token(dir.path()).await, token);

    // The help shows the file form, not the argv one.
    let help = Command::new(BIN).args(["auth", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--token-file <FILE>"), "{help}");
    assert!(!help.contains("--token <"), "{help}");
}
