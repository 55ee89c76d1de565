//! The config as a user writes it: `check`'s output is itself a config that resolves to the
//! same settings; durations have upper bounds; bad values and conflicts name their key; a
//! TOML syntax error never shows the offending line (it may hold a secret), neither from
//! `check` nor in the reload log.

use crate::support::feed_server::{FeedServer, Route};
use feed2threads::compose::{ImageFallback, MediaMode, ReplyControl};
use feed2threads::config::{Backlog, ConfigError, FeedSchedule, REDACTED, Settings};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(text, Path::new("test.toml"))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn check(config: &Path) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("check")
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

const BASE: &str =
    "[[accounts]]\nname = \"newsroom\"\n[[feeds]]\nurl = \"https://example.org/rss.xml\"\n";

/// A config that sets nearly every key, several differently from `[defaults]`.
fn rich_config(token_file: &Path) -> String {
    format!(
        r#"
[store]
url = "sqlite://state.db"
max_outage = "30m"

[threads]
api_base = "http://127.0.0.1:9/api"
app_id = "1234567890"
app_secret = "app-secret-value"
redirect_uri = "https://example.org/cb"
scopes = ["threads_basic"]
publish_timeout = "2m"
request_timeout = "15s"

[http]
listen = "off"

[fetch]
user_agent = "newsroom-bot/1"
connect_timeout = "5s"
timeout = "1500ms"
max_body_size = "2MiB"
concurrency = 8
per_host_concurrency = 2
max_hint_interval = "2h"
max_backoff = "1d"

[status]
feed_failing_after = "3h"
heartbeat_stale_after = "90s"

[defaults]
every = "10m"
backlog = "latest:3"
max_age = "3d"
flood_limit = 10
max_items = 200
template = "{{{{ title }}}}\n\n\"{{{{ link }}}}\""
timezone = "Europe/Berlin"
link_params = {{ utm_source = "threads" }}
topic_map = {{ Sport = "Sport" }}
media = "image"
reply_control = "accounts_you_follow"
include = ["title:news"]

[[accounts]]
name = "newsroom"
access_token = "THQVJliteral-token"
min_interval = "90s"
max_posts_per_day = 100
token_refresh_window = "10d"

[[accounts]]
name = "sports"
access_token_file = {token_file:?}

[[feeds]]
name = "world"
url = "https://example.org/world.xml"
account = "newsroom"

[[feeds]]
url = "https://example.org/sport.xml"
account = "sports"
schedule = "*/15 * * * *"
backlog = "all"
max_age = "off"
max_items = 50
template = "{{{{ title }}}}"
timezone = "UTC"
link_params = {{}}
topic_tag = "Sport"
topic_from_categories = true
media = "text"
image_fallback = "none"
exclude = ["category:ads"]
"#
    )
}

/// What two settings must agree on. A composer is built from `compose`, so comparing
/// the options compares it; secrets are compared by presence (the output redacts them).
fn resolved(s: &Settings) -> String {
    let feeds: Vec<String> = s
        .feeds
        .iter()
        .map(|f| {
            let schedule = match &f.schedule {
                FeedSchedule::Every(d) => format!("every {d:?}"),
                FeedSchedule::Cron { expression, .. } => format!("cron {expression}"),
            };
            format!(
                "{} {} {} {schedule} {:?} {:?} {} {} {:?}",
                f.name,
                f.url,
                f.account,
                f.backlog,
                f.max_age,
                f.flood_limit,
                f.max_items,
                f.compose
            )
        })
        .collect();
    let accounts: Vec<String> = s
        .accounts
        .iter()
        .map(|a| {
            format!(
                "{} {} {:?} {:?} {:?} {:?}",
                a.name,
                a.token.is_some(),
                a.token_source,
                a.min_interval,
                a.max_posts_per_day,
                a.token_refresh_window
            )
        })
        .collect();
    let t = &s.threads;
    format!(
        "{} {:?}\n{} {:?} {} {:?} {:?} {} {:?} {:?} {:?} {:?}\n{:?}\n{:?}\n{:?}\n{accounts:#?}\n{feeds:#?}\n{:?}",
        s.store_url,
        s.store_max_outage,
        t.api_base,
        t.app_id,
        t.app_secret.is_some(),
        t.app_secret_source,
        t.redirect_uri,
        t.authorize_url,
        t.scopes,
        t.publish_timeout,
        t.request_timeout,
        t.app_secret_problem,
        s.http,
        s.fetch,
        s.status,
        s.default_compose
    )
}

#[test]
fn check_output_reads_back_as_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", "file-token-value\n");
    let first = parse(&rich_config(&token)).unwrap();
    let printed = first.to_redacted_toml().unwrap();
    assert!(!printed.contains("THQVJliteral-token"), "{printed}");
    assert!(!printed.contains("file-token-value"), "{printed}");
    assert!(!printed.contains("app-secret-value"), "{printed}");
    // The header and the two literal secrets; the file's token is shown by its path.
    assert_eq!(printed.matches(REDACTED).count(), 3, "{printed}");
    assert!(
        printed.contains(&format!(
            "access_token_file = {:?}",
            token.display().to_string()
        )),
        "{printed}"
    );
    let second = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(resolved(&first), resolved(&second), "{printed}");
    // And printing is stable.
    assert_eq!(second.to_redacted_toml().unwrap(), printed);
}

#[test]
fn check_output_of_the_shipped_configs_reads_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["config/example.toml", "deploy/feed2threads.toml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let first = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let printed = first.to_redacted_toml().unwrap();
        let second = parse(&printed).unwrap_or_else(|e| panic!("{name}: {e}\n{printed}"));
        assert_eq!(resolved(&first), resolved(&second), "{name}:\n{printed}");
    }
}

#[test]
fn the_binary_check_output_is_a_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", "file-token-value\n");
    let cfg = write(dir.path(), "a.toml", &rich_config(&token));
    let out = check(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let again = write(dir.path(), "b.toml", &printed);
    let out = check(&again);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reprinted = String::from_utf8(out.stdout).unwrap();
    // Only the header's file name differs.
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&printed), body(&reprinted));
}

#[test]
fn defaults_and_bounds_of_the_new_keys() {
    let s = parse(BASE).unwrap();
    assert_eq!(s.store_max_outage, Duration::from_secs(600));
    assert_eq!(s.feeds[0].max_items, 500);

    let s = parse(&format!(
        "[store]\nmax_outage = \"1h\"\n[defaults]\nmax_items = 20\n{BASE}"
    ))
    .unwrap();
    assert_eq!(s.store_max_outage, Duration::from_secs(3600));
    assert_eq!(s.feeds[0].max_items, 20);
    let s = parse(&format!(
        "[defaults]\nmax_items = 20\n{BASE}max_items = 7\n"
    ))
    .unwrap();
    assert_eq!(s.feeds[0].max_items, 7);

    let err = error(&format!("{BASE}max_items = 0\n"));
    assert_eq!(err, "feeds[0].max_items: 0 must be at least 1");
    let err = error(&format!("[store]\nmax_outage = \"2d\"\n{BASE}"));
    assert_eq!(
        err,
        "store.max_outage: \"2d\" is too long; the limit is \"1d\""
    );
}

#[test]
fn the_lease_and_the_connect_timeout_have_defaults_and_bounds() {
    let s = parse(BASE).unwrap();
    assert_eq!(s.store_lease, Duration::from_secs(30));
    assert_eq!(s.store_connect_timeout, Duration::from_secs(10));

    let s = parse(&format!(
        "[store]\nlease = \"1500ms\"\nconnect_timeout = \"1s\"\n{BASE}"
    ))
    .unwrap();
    assert_eq!(s.store_lease, Duration::from_millis(1500));
    assert_eq!(s.store_connect_timeout, Duration::from_secs(1));

    for (line, want) in [
        (
            "lease = \"999ms\"",
            "store.lease: \"999ms\" is too short; the minimum is \"1s\"",
        ),
        (
            "lease = \"11m\"",
            "store.lease: \"11m\" is too long; the limit is \"10m\"",
        ),
        (
            "connect_timeout = \"500ms\"",
            "store.connect_timeout: \"500ms\" is too short; the minimum is \"1s\"",
        ),
        (
            "connect_timeout = \"6m\"",
            "store.connect_timeout: \"6m\" is too long; the limit is \"5m\"",
        ),
    ] {
        assert_eq!(error(&format!("[store]\n{line}\n{BASE}")), want, "{line}");
    }
}

#[test]
fn durations_that_would_overflow_are_config_errors_naming_key_and_bound() {
    let err = error(&format!("{BASE}max_age = \"14000000w\"\n"));
    assert_eq!(
        err,
        "feeds[0].max_age: \"14000000w\" is too long; the limit is \"520w\""
    );
    let err = error(&BASE.replace(
        "name = \"newsroom\"\n",
        "name = \"newsroom\"\nmin_interval = \"30000000000000w\"\n",
    ));
    assert_eq!(
        err,
        "accounts[0].min_interval: \"30000000000000w\" is too long; the limit is \"1w\""
    );
    // Past what a Duration holds at all: the same error, not "not a duration".
    let err = error(&format!(
        "[fetch]\nmax_backoff = \"99999999999999999999w\"\n{BASE}"
    ));
    assert_eq!(
        err,
        "fetch.max_backoff: \"99999999999999999999w\" is too long; the limit is \"1w\""
    );
    for (line, key) in [
        ("[defaults]\nevery = \"31d\"\n", "defaults.every"),
        (
            "[threads]\npublish_timeout = \"2h\"\n",
            "threads.publish_timeout",
        ),
        (
            "[status]\nfeed_failing_after = \"60d\"\n",
            "status.feed_failing_after",
        ),
    ] {
        let err = error(&format!("{line}{BASE}"));
        assert!(err.starts_with(&format!("{key}: ")), "{err}");
        assert!(err.contains("the limit is"), "{err}");
    }

    // `check` refuses them too, with exit code 2.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!("{BASE}max_age = \"14000000w\"\n"),
    );
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("feeds[0].max_age"));
}

#[test]
fn choices_arrive_typed_and_bad_ones_name_their_key() {
    let s = parse(&format!(
        "{BASE}media = \"image\"\nimage_fallback = \"none\"\nreply_control = \"mentioned_only\"\ntimezone = \"Europe/Paris\"\nbacklog = \"latest:4\"\n"
    ))
    .unwrap();
    let c = &s.feeds[0].compose;
    assert_eq!(c.media, MediaMode::Image);
    assert_eq!(c.image_fallback, ImageFallback::None);
    assert_eq!(c.reply_control, Some(ReplyControl::MentionedOnly));
    assert_eq!(c.timezone, Some(chrono_tz::Europe::Paris));
    assert_eq!(s.feeds[0].backlog, Backlog::Latest(4));

    let cases = [
        ("media = \"video\"", "feeds[0].media", "video"),
        (
            "image_fallback = \"skip\"",
            "feeds[0].image_fallback",
            "skip",
        ),
        (
            "reply_control = \"friends\"",
            "feeds[0].reply_control",
            "followers_only",
        ),
        (
            "timezone = \"Mars/Olympus\"",
            "feeds[0].timezone",
            "Mars/Olympus",
        ),
        ("backlog = \"newest\"", "feeds[0].backlog", "latest:N"),
    ];
    for (line, key, said) in cases {
        let err = error(&format!("{BASE}{line}\n"));
        assert!(err.starts_with(&format!("{key}: ")), "{line} → {err}");
        assert!(err.contains(said), "{line} → {err}");
    }
    let err = error(&format!("[defaults]\nmedia = \"video\"\n{BASE}"));
    assert!(err.starts_with("defaults.media: "), "{err}");
}

#[test]
fn conflicts_are_their_own_error() {
    let both = format!("{BASE}every = \"5m\"\nschedule = \"*/5 * * * *\"\n");
    match parse(&both) {
        Err(ConfigError::Conflict { key, alternatives }) => {
            assert_eq!(key, "feeds[0].schedule");
            assert_eq!(alternatives, ["feeds[0].every", "feeds[0].schedule"]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let token = BASE.replace(
        "name = \"newsroom\"\n",
        "name = \"newsroom\"\naccess_token = \"x\"\naccess_token_env = \"Y\"\n",
    );
    let err = parse(&token).unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "accounts[0].access_token: give only one of accounts[0].access_token, \
         accounts[0].access_token_env and accounts[0].access_token_file"
    );
    // The app secret is only needed by `auth`, but two forms of it are a mistake now.
    let err = parse("[threads]\napp_secret = \"x\"\napp_secret_file = \"/nope\"\n").unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
}

#[test]
fn per_feed_keys_are_refused_in_defaults() {
    for key in [
        "url = \"https://example.org/x\"",
        "name = \"x\"",
        "account = \"newsroom\"",
    ] {
        let err = error(&format!("[defaults]\n{key}\n{BASE}"));
        assert!(err.starts_with("defaults."), "{err}");
        assert!(err.contains("[[feeds]]"), "{err}");
    }
    let err = error("[[accounts]]\nname = \"a\"\n[[feeds]]\nname = \"x\"\n");
    assert_eq!(err, "feeds[0].url: is required");
}

#[test]
fn a_syntax_error_shows_line_and_key_never_the_line() {
    let text = "[[accounts]]\nname = \"newsroom\"\naccess_token = \"THQVJsupersecret\n";
    let err = error(text);
    assert!(!err.contains("THQVJsupersecret"), "{err}");
    assert!(err.starts_with("test.toml: line 3, column "), "{err}");
    assert!(err.contains("access_token"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", text);
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("THQVJsupersecret"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[tokio::test]
async fn a_syntax_error_on_reload_is_logged_without_the_line() {
    let server = FeedServer::start().await;
    server.set(
        "/a.xml",
        Route::feed("<rss version=\"2.0\"><channel><title>A</title></channel></rss>"),
    );
    let dir = tempfile::tempdir().unwrap();
    let good = format!(
        "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[[accounts]]\nname = \"n\"\n[[feeds]]\nurl = \"{}\"\n",
        dir.path().join("s.db").display(),
        server.url("/a.xml")
    );
    let cfg = write(dir.path(), "c.toml", &good);
    let log_path = dir.path().join("daemon.log");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["--log-format", "json", "run"])
        .env_remove("FEED2THREADS_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    wait_for("first poll", || server.hits("/a.xml") >= 1).await;

    let broken = good.replace(
        "name = \"n\"\n",
        "name = \"n\"\naccess_token = \"THQVJreloadsecret\n",
    );
    std::fs::write(&cfg, broken).unwrap();
    kill("-HUP", &pid);
    let log_file = log_path.clone();
    wait_for("reload rejected", move || {
        std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains("reload rejected")
    })
    .await;
    kill("-TERM", &pid);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("THQVJreloadsecret"), "{log}");
    let rejected = log.lines().find(|l| l.contains("reload rejected")).unwrap();
    assert!(rejected.contains("line 7"), "{rejected}");
    assert!(rejected.contains("access_token"), "{rejected}");
}

fn kill(signal: &str, pid: &str) {
    let status = Command::new("kill").args([signal, pid]).status().unwrap();
    assert!(status.success());
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
