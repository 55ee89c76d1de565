//! Configuration: TOML → one raw type (unknown keys rejected) → validated `Settings`, and
//! back to TOML for `check`.
//!
//! Owns every config key, its default, its bounds and its validation. Errors name the key
//! and the value (`feeds[3].every: "5 minutes" is not a duration; try "5m"`). Secrets are
//! read from the environment or a file into `SecretString` and never printed.
//! Must not do any I/O beyond reading the config file and secret files.
//!
//! # Layout
//! - here: the validated types ([`Settings`] and its parts), [`ConfigError`], loading.
//! - `raw`: the file's keys as one serde type, read through serde_path_to_error.
//! - `defaults`: every default value and every duration bound.
//! - `durations`, `values`: each value's syntax, as serde functions of the raw type.
//! - `secrets`: literal / `_env` / `_file` secrets, redaction.
//! - `syntax`: TOML syntax errors by position, never by the line's text.
//! - `validate`: raw → `Settings` (inheritance, rules across keys, composers).
//! - `editorial`: the posting window, caps and Threads-option keys and their rules.
//! - `print`: `Settings` → redacted raw → TOML.

mod defaults;
mod durations;
mod editorial;
mod print;
mod raw;
mod secrets;
mod syntax;
mod validate;
mod values;

pub use durations::{format as format_duration, parse_duration};
pub use secrets::{REDACTED, SecretSource};

use crate::compose::{ComposeOptions, Composer};
use crate::publish::caps::Caps;
use crate::publish::window::PostingWindow;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// A config error: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML. Shows where, never the line itself (it may hold a secret).
    #[error(
        "{}: line {line}, column {column}{}: {message}",
        path.display(),
        key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The key written on that line, when it looks like one.
        key: Option<String>,
        message: String,
    },
    #[error("{key}: {message}")]
    Key { key: String, message: String },
    /// Keys that exclude each other were given together.
    #[error("{key}: give only one of {}", join_alternatives(alternatives))]
    Conflict {
        key: String,
        alternatives: Vec<String>,
    },
    /// The resolved settings could not be written as TOML (a bug, not a config problem).
    #[error("cannot print the config: {0}")]
    Print(String),
}

fn join_alternatives(keys: &[String]) -> String {
    match keys {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: PathBuf,
    /// No config file was read: the built-in defaults, for the commands that work without
    /// one (`preview URL`, `import-opml`).
    pub defaults_only: bool,
    pub store_url: String,
    /// How long store errors may last before the daemon ends (through its drain).
    pub store_max_outage: Duration,
    /// This daemon's name in the account leases (`store.node`); `None`: `host:pid`.
    pub store_node: Option<String>,
    /// How long an account's lease lasts without renewal (`store.lease`), to the millisecond.
    pub store_lease: Duration,
    /// How long opening a PostgreSQL store waits for the server (`store.connect_timeout`).
    pub store_connect_timeout: Duration,
    pub threads: ThreadsSettings,
    pub http: HttpSettings,
    pub fetch: FetchSettings,
    pub status: StatusSettings,
    pub accounts: Vec<AccountSettings>,
    pub feeds: Vec<FeedSettings>,
    /// Composition settings of `[defaults]`, for `preview` of a URL that is not configured.
    pub default_compose: ComposeOptions,
    /// `max_age` of `[defaults]` (or the built-in one), for the same `preview`.
    pub default_max_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ThreadsSettings {
    pub api_base: Url,
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
    /// Where the app secret is configured (for `check`, which never prints it).
    pub app_secret_source: Option<SecretSource>,
    /// Why a configured app secret could not be read. Only `auth` needs the secret, so
    /// the daemon starts without it and `auth` reports this.
    pub app_secret_problem: Option<String>,
    pub redirect_uri: Option<Url>,
    pub authorize_url: Url,
    pub scopes: Vec<String>,
    pub publish_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `None` when `listen = "off"`.
    pub listen: Option<SocketAddr>,
    /// The editors' web page under `/desk`: `None` unless `desk = true`.
    pub desk: Option<DeskSettings>,
}

/// `[http] desk = true`: who may log in to the desk.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// The editors' password as an argon2 PHC string (`$argon2id$v=19$…`), checked by
    /// `check`. Not the password, but kept as a secret all the same: it allows guessing
    /// offline.
    pub password_hash: SecretString,
    /// Where the hash is configured (for `check`, which never prints it).
    pub password_hash_source: SecretSource,
}

/// When `status --check` says a human is needed.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    /// A feed failing for longer than this needs a look.
    pub feed_failing_after: Duration,
    /// The daemon's heartbeat older than this means it is not running (or stuck).
    pub heartbeat_stale_after: Duration,
    /// Posts held by the flood guard for longer than this wait for a human.
    pub held_after: Duration,
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    /// How far a publisher's ttl / max-age may stretch a feed's interval.
    pub max_hint_interval: Duration,
    /// Cap of the exponential backoff after consecutive failures.
    pub max_backoff: Duration,
}

#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub name: String,
    /// The configured token, if any; it only seeds the store.
    pub token: Option<SecretString>,
    /// Where the token is configured (for `check`, which never prints it).
    pub token_source: Option<SecretSource>,
    /// Why the configured token could not be read (`accounts[0].access_token_env:
    /// environment variable X is not set or empty`). Not a config error: `check`,
    /// `preview` and a dry run need no token and warn; a live run uses the token stored
    /// by `auth`, if any, or pauses the account with this reason.
    pub token_problem: Option<String>,
    pub min_interval: Duration,
    pub max_posts_per_day: Option<u32>,
    pub token_refresh_window: Duration,
    /// When the account's posts may go out (`hours`, `days`, `timezone`); `None`: always.
    pub window: Option<PostingWindow>,
}

#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub name: String,
    pub url: Url,
    pub account: String,
    pub schedule: FeedSchedule,
    pub backlog: Backlog,
    pub max_age: Option<Duration>,
    pub flood_limit: usize,
    /// At most this many items of one document are considered (newest by date, then
    /// document order).
    pub max_items: usize,
    /// Composed posts wait for an editor (`review` state) instead of entering the queue.
    pub review: bool,
    /// The order in which a released flood is published.
    pub release_order: ReleaseOrder,
    pub compose: ComposeOptions,
    pub composer: Arc<Composer>,
    /// When the feed's posts may go out (`hours`, `days`, in its `timezone`); `None`:
    /// always (within its account's window).
    pub window: Option<PostingWindow>,
    /// `max_per_hour`, `max_per_day`, `overflow`.
    pub caps: Caps,
    /// What a published story's changed headline does (`on_update`).
    pub on_update: crate::corrections::OnUpdate,
}

/// When a feed is polled.
#[derive(Debug, Clone)]
pub enum FeedSchedule {
    Every(Duration),
    Cron {
        expression: String,
        schedule: Box<cron::Schedule>,
    },
}

/// What happens to the items present when a feed is first polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// Record them as seen, publish none (the default).
    Skip,
    /// Publish all of them.
    All,
    /// Publish the newest N.
    Latest(usize),
}

/// The order in which the posts of a released flood are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseOrder {
    /// The oldest story first, like the rest of the queue (the default).
    #[default]
    Oldest,
    /// The newest story first: after a long hold, the freshest news leads.
    Newest,
}

impl ReleaseOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseOrder::Oldest => "oldest",
            ReleaseOrder::Newest => "newest",
        }
    }

    pub fn newest_first(self) -> bool {
        self == ReleaseOrder::Newest
    }
}

impl std::fmt::Display for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backlog::Skip => f.write_str("skip"),
            Backlog::All => f.write_str("all"),
            Backlog::Latest(n) => write!(f, "latest:{n}"),
        }
    }
}

pub const DEFAULT_USER_AGENT: &str = defaults::USER_AGENT;

/// The file the settings of `--config` or `$FEED2THREADS_CONFIG` come from, when one of
/// them names one (`None`: `./feed2threads.toml` by default).
pub fn chosen_path(cli: Option<&Path>) -> Option<PathBuf> {
    let path = resolve_path(cli);
    (cli.is_some() || std::env::var_os("FEED2THREADS_CONFIG").is_some_and(|p| !p.is_empty()))
        .then_some(path)
}

/// Where the config comes from: `--config`, then `$FEED2THREADS_CONFIG`, then
/// `./feed2threads.toml`.
pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
    if let Some(path) = cli {
        return path.to_path_buf();
    }
    match std::env::var_os("FEED2THREADS_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("feed2threads.toml"),
    }
}

impl Settings {
    /// How the commands open the store: production's options with the configured
    /// connect timeout.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            connect_timeout: self.store_connect_timeout,
            ..crate::store::StoreOptions::default()
        }
    }

    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse in two steps: text → TOML table (a syntax error is reported by position
    /// only), then table → raw config (a value error names its key path).
    pub fn parse(text: &str, source: &Path) -> Result<Settings, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| syntax::syntax_error(source, text, &e))?;
        let raw: raw::RawConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().message().to_string();
                // "." is the file as a whole (never a table today, but name something).
                let key = if path == "." {
                    source.display().to_string()
                } else {
                    path
                };
                key_error(key, message)
            })?;
        validate::settings(raw, source)
    }

    /// The built-in defaults, as if read from an empty file: no account, no feed.
    pub fn builtin() -> Result<Settings, ConfigError> {
        let mut settings = Self::parse("", Path::new("(built-in defaults)"))?;
        settings.defaults_only = true;
        Ok(settings)
    }

    /// What is wrong but does not stop the commands that do not need it, one line each
    /// naming the key: today the configured tokens that cannot be read.
    pub fn warnings(&self) -> Vec<String> {
        self.accounts
            .iter()
            .filter_map(|a| {
                let problem = a.token_problem.as_ref()?;
                Some(format!(
                    "{problem}; account {name} cannot publish with it: a live `run` uses the \
                     token stored by `feed2threads auth {name}` if there is one, and pauses \
                     the account otherwise",
                    name = a.name
                ))
            })
            .collect()
    }

    pub fn account(&self, name: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn feed(&self, name_or_url: &str) -> Option<&FeedSettings> {
        self.feeds
            .iter()
            .find(|f| f.name == name_or_url)
            .or_else(|| self.feeds.iter().find(|f| f.url.as_str() == name_or_url))
    }

    /// The resolved configuration as TOML that `parse` reads back into the same
    /// settings, with a comment header; secrets are [`REDACTED`].
    pub fn to_redacted_toml(&self) -> Result<String, ConfigError> {
        print::redacted_toml(self)
    }

    /// [`Settings::to_redacted_toml`], or a comment saying why it cannot be printed.
    pub fn render_redacted(&self) -> String {
        self.to_redacted_toml()
            .unwrap_or_else(|e| format!("# {}\n", e.to_string().replace('\n', " ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("test.toml"))
    }

    const BASE: &str = r#"
[[accounts]]
name = "newsroom"
access_token = "secret-token-value"

[[feeds]]
url = "https://example.org/rss.xml"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let s = parse(BASE).unwrap();
        assert_eq!(s.feeds.len(), 1);
        let f = &s.feeds[0];
        assert_eq!(f.account, "newsroom");
        assert_eq!(f.name, "https://example.org/rss.xml");
        assert_eq!(f.backlog, Backlog::Skip);
        assert_eq!(f.max_age, Some(Duration::from_secs(2 * 86400)));
        assert_eq!(f.flood_limit, 25);
        assert!(matches!(f.schedule, FeedSchedule::Every(d) if d == Duration::from_secs(300)));
        assert_eq!(s.fetch.concurrency, 32);
        assert_eq!(s.fetch.per_host_concurrency, 4);
        assert_eq!(s.fetch.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(s.http.listen, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn bad_duration_names_key_and_suggests() {
        let text = format!("{BASE}every = \"5 minutes\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert_eq!(
            err,
            "feeds[0].every: \"5 minutes\" is not a duration; try \"5m\""
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let text = format!("{BASE}evry = \"5m\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("feeds[0]"), "{err}");
        assert!(err.contains("evry"), "{err}");
        let err = parse("[store]\nuri = \"x\"\n").unwrap_err().to_string();
        assert!(err.starts_with("store"), "{err}");
        assert!(err.contains("uri"), "{err}");
        let err = parse("[stor]\n").unwrap_err().to_string();
        assert!(err.starts_with("stor:"), "{err}");
    }

    #[test]
    fn defaults_are_inherited_and_overridden() {
        let text = r#"
[defaults]
every = "10m"
backlog = "latest:3"
max_age = "off"
[[accounts]]
name = "a"
[[feeds]]
url = "https://example.org/a.xml"
[[feeds]]
url = "https://example.org/b.xml"
schedule = "*/5 * * * *"
backlog = "all"
"#;
        let s = parse(text).unwrap();
        assert!(
            matches!(s.feeds[0].schedule, FeedSchedule::Every(d) if d == Duration::from_secs(600))
        );
        assert_eq!(s.feeds[0].backlog, Backlog::Latest(3));
        assert_eq!(s.feeds[0].max_age, None);
        assert!(matches!(s.feeds[1].schedule, FeedSchedule::Cron { .. }));
        assert_eq!(s.feeds[1].backlog, Backlog::All);
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("backlog = \"some\"", "feeds[0].backlog"),
            ("schedule = \"every minute\"", "feeds[0].schedule"),
            ("every = \"10s\"", "feeds[0].every"),
            ("flood_limit = 0", "feeds[0].flood_limit"),
            ("account = \"other\"", "feeds[0].account"),
            ("max_age = \"two days\"", "feeds[0].max_age"),
        ];
        for (line, key) in cases {
            let text = format!("{BASE}{line}\n");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}:")), "{line} → {err}");
        }
        let err = parse(&BASE.replace("https://example.org/rss.xml", "ftp://x"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("feeds[0].url:"), "{err}");
    }

    #[test]
    fn secrets_from_env_and_file_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token-value\n").unwrap();
        let text = format!(
            "[[accounts]]\nname = \"a\"\naccess_token_file = {:?}\n[[feeds]]\nurl = \"https://e.org/f\"\n",
            file.display().to_string()
        );
        let s = parse(&text).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(
            s.accounts[0].token.as_ref().unwrap().expose_secret(),
            "file-token-value"
        );
        let shown = s.render_redacted();
        assert!(!shown.contains("file-token-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
        // A token from a file is shown by its path, which reads back as the same config.
        assert!(shown.contains("access_token_file = "), "{shown}");
        assert!(!format!("{s:?}").contains("file-token-value"));

        // An unreadable token is a warning naming the key and the variable, not an error.
        let text = "[[accounts]]\nname = \"a\"\naccess_token_env = \"F2T_TEST_SURELY_UNSET_VAR\"\n";
        let s = parse(text).unwrap();
        assert!(s.accounts[0].token.is_none());
        let warnings = s.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "accounts[0].access_token_env: environment variable F2T_TEST_SURELY_UNSET_VAR is not set or empty;"
            ),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("feed2threads auth a"), "{warnings:?}");
    }

    #[test]
    fn an_unreadable_app_secret_does_not_stop_the_daemon() {
        let text = "[threads]\napp_secret_env = \"F2T_TEST_UNSET_APP_SECRET\"\n";
        let s = parse(text).unwrap();
        assert!(s.threads.app_secret.is_none());
        let problem = s.threads.app_secret_problem.unwrap();
        assert!(problem.contains("F2T_TEST_UNSET_APP_SECRET"), "{problem}");
        let both = "[threads]\napp_secret = \"x\"\napp_secret_env = \"Y\"\n";
        assert!(parse(both).is_err());
    }

    #[test]
    fn duplicate_names_and_syntax_errors() {
        let text = format!(
            "{BASE}name = \"x\"\n[[feeds]]\nurl = \"https://example.org/2\"\nname = \"x\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("feeds[1].name:"), "{err}");
        let err = parse("[[feeds]\n").unwrap_err().to_string();
        assert!(err.starts_with("test.toml:"), "{err}");
    }
}
