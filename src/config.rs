//! Configuration: TOML → raw structs (unknown keys rejected) → validated `Settings`.
//!
//! Owns every config key, its default and its validation. Errors name the key and the
//! value (`feeds[3].every: "5 minutes" is not a duration; try "5m"`). Secrets are read
//! from the environment or a file into `SecretString` and never printed.
//! Must not do any I/O beyond reading the config file and secret files.

use crate::compose::{ComposeOptions, Composer};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
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
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Key { key: String, message: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Raw structs: what the file says, before validation.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreads {
    api_base: Option<String>,
    app_id: Option<String>,
    app_secret: Option<String>,
    app_secret_env: Option<String>,
    app_secret_file: Option<String>,
    redirect_uri: Option<String>,
    authorize_url: Option<String>,
    scopes: Option<Vec<String>>,
    /// Timeout on `threads_publish`; generous because a publish can take long.
    publish_timeout: Option<String>,
    /// Timeout on every other API call.
    request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    feed_failing_after: Option<String>,
    heartbeat_stale_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    user_agent: Option<String>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    max_body_size: Option<toml::Value>,
    concurrency: Option<i64>,
    per_host_concurrency: Option<i64>,
    max_hint_interval: Option<String>,
    max_backoff: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    access_token: Option<String>,
    access_token_env: Option<String>,
    access_token_file: Option<String>,
    min_interval: Option<String>,
    max_posts_per_day: Option<i64>,
    token_refresh_window: Option<String>,
}

/// Every key a feed may set, also settable in `[defaults]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeedOptions {
    every: Option<String>,
    schedule: Option<String>,
    backlog: Option<String>,
    max_age: Option<String>,
    flood_limit: Option<i64>,
    // composition
    template: Option<String>,
    timezone: Option<String>,
    link_params: Option<BTreeMap<String, String>>,
    topic_tag: Option<String>,
    topic_map: Option<BTreeMap<String, String>>,
    topic_from_categories: Option<bool>,
    media: Option<String>,
    image_fallback: Option<String>,
    reply_control: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
}

impl RawFeedOptions {
    /// Feed values win over defaults, key by key.
    fn inherit(self, defaults: &RawFeedOptions) -> RawFeedOptions {
        let d = defaults.clone();
        // `every` and `schedule` are alternatives: a feed that sets one replaces both.
        let (every, schedule) = if self.every.is_some() || self.schedule.is_some() {
            (self.every, self.schedule)
        } else {
            (d.every, d.schedule)
        };
        RawFeedOptions {
            every,
            schedule,
            backlog: self.backlog.or(d.backlog),
            max_age: self.max_age.or(d.max_age),
            flood_limit: self.flood_limit.or(d.flood_limit),
            template: self.template.or(d.template),
            timezone: self.timezone.or(d.timezone),
            link_params: self.link_params.or(d.link_params),
            topic_tag: self.topic_tag.or(d.topic_tag),
            topic_map: self.topic_map.or(d.topic_map),
            topic_from_categories: self.topic_from_categories.or(d.topic_from_categories),
            media: self.media.or(d.media),
            image_fallback: self.image_fallback.or(d.image_fallback),
            reply_control: self.reply_control.or(d.reply_control),
            include: self.include.or(d.include),
            exclude: self.exclude.or(d.exclude),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validated settings.
// ---------------------------------------------------------------------------------------

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: PathBuf,
    pub store_url: String,
    pub threads: ThreadsSettings,
    pub http: HttpSettings,
    pub fetch: FetchSettings,
    pub status: StatusSettings,
    pub accounts: Vec<AccountSettings>,
    pub feeds: Vec<FeedSettings>,
    /// Composition settings of `[defaults]`, for `preview` of a URL that is not configured.
    pub default_compose: ComposeOptions,
    /// How long the store may keep failing (busy, locked, full, I/O) before the daemon
    /// stops, through its drain, with exit 1. (`[store] max_outage`; parsed by the config
    /// rework, the default until then.)
    pub store_max_outage: Duration,
}

/// The default of `[store] max_outage`.
pub const DEFAULT_STORE_MAX_OUTAGE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct ThreadsSettings {
    pub api_base: Url,
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
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
}

/// When `status --check` says a human is needed.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    /// A feed failing for longer than this needs a look.
    pub feed_failing_after: Duration,
    /// The daemon's heartbeat older than this means it is not running (or stuck).
    pub heartbeat_stale_after: Duration,
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
    pub min_interval: Duration,
    pub max_posts_per_day: Option<u32>,
    pub token_refresh_window: Duration,
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
    pub compose: ComposeOptions,
    pub composer: Arc<Composer>,
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

impl std::fmt::Display for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backlog::Skip => f.write_str("skip"),
            Backlog::All => f.write_str("all"),
            Backlog::Latest(n) => write!(f, "latest:{n}"),
        }
    }
}

pub const DEFAULT_USER_AGENT: &str = concat!(
    "feed2threads/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feed2threads/feed2threads)"
);

// ---------------------------------------------------------------------------------------
// Loading.
// ---------------------------------------------------------------------------------------

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
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, source: &Path) -> Result<Settings, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: source.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                })?;

        const TOP: &[&str] = &[
            "store", "threads", "http", "fetch", "status", "defaults", "accounts", "feeds",
        ];
        if let Some(unknown) = table.keys().find(|k| !TOP.contains(&k.as_str())) {
            return Err(key_error(
                unknown.clone(),
                format!("unknown section; expected one of {}", TOP.join(", ")),
            ));
        }

        let store: RawStore = section(&mut table, "store")?;
        let threads: RawThreads = section(&mut table, "threads")?;
        let http: RawHttp = section(&mut table, "http")?;
        let fetch: RawFetch = section(&mut table, "fetch")?;
        let status: RawStatus = section(&mut table, "status")?;
        let defaults: RawFeedOptions = section(&mut table, "defaults")?;

        let accounts_raw: Vec<RawAccount> = match table.remove("accounts") {
            None => Vec::new(),
            Some(v) => typed(v, "accounts")?,
        };
        let feeds_raw = match table.remove("feeds") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => return Err(key_error("feeds", "must be an array of [[feeds]] tables")),
        };

        let store_url = store
            .url
            .unwrap_or_else(|| "sqlite://feed2threads.db".to_string());
        if !(store_url.starts_with("sqlite:")) {
            return Err(key_error(
                "store.url",
                format!("{store_url:?} is not supported; use a sqlite:// URL"),
            ));
        }

        let threads = validate_threads(threads)?;
        let http = validate_http(http)?;
        let fetch = validate_fetch(fetch)?;
        let status = StatusSettings {
            feed_failing_after: optional_duration(
                "status.feed_failing_after",
                status.feed_failing_after.as_deref(),
                Duration::from_secs(6 * 3600),
            )?,
            heartbeat_stale_after: optional_duration(
                "status.heartbeat_stale_after",
                status.heartbeat_stale_after.as_deref(),
                Duration::from_secs(300),
            )?,
        };

        let mut accounts = Vec::new();
        for (i, raw) in accounts_raw.into_iter().enumerate() {
            let account = validate_account(raw, &format!("accounts[{i}]"))?;
            if accounts
                .iter()
                .any(|a: &AccountSettings| a.name == account.name)
            {
                return Err(key_error(
                    format!("accounts[{i}].name"),
                    format!("{:?} is used by another account", account.name),
                ));
            }
            accounts.push(account);
        }

        let default_compose = compose_options(&defaults);
        let default_composer =
            Composer::new(&default_compose, "defaults").map_err(|e| ConfigError::Key {
                key: "defaults".to_string(),
                message: e.to_string(),
            })?;
        // Feeds that compose as `[defaults]` says share its composer: a compiled template
        // costs ~15 KB, which a newsroom's thousands of feeds would otherwise each pay.
        let shared = (default_compose.clone(), Arc::new(default_composer));
        let mut feeds: Vec<FeedSettings> = Vec::new();
        for (i, value) in feeds_raw.into_iter().enumerate() {
            let key = format!("feeds[{i}]");
            let feed = validate_feed(value, &key, &defaults, &shared, &accounts)?;
            if let Some(other) = feeds.iter().position(|f| f.name == feed.name) {
                return Err(key_error(
                    format!("{key}.name"),
                    format!(
                        "{:?} is already the name of feeds[{other}]; give each feed its own name",
                        feed.name
                    ),
                ));
            }
            if let Some(other) = feeds
                .iter()
                .position(|f| f.url == feed.url && f.account == feed.account)
            {
                return Err(key_error(
                    format!("{key}.url"),
                    format!(
                        "{} is already configured as feeds[{other}] for account {:?}",
                        feed.url, feed.account
                    ),
                ));
            }
            feeds.push(feed);
        }

        Ok(Settings {
            source: source.to_path_buf(),
            store_url,
            threads,
            http,
            fetch,
            status,
            accounts,
            feeds,
            default_compose,
            store_max_outage: DEFAULT_STORE_MAX_OUTAGE,
        })
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

    /// The resolved configuration as TOML-like text, secrets redacted.
    pub fn render_redacted(&self) -> String {
        let mut out = String::new();
        let secret = |s: &Option<SecretString>| {
            if s.is_some() {
                "\"[redacted]\""
            } else {
                "(none)"
            }
        };
        let _ = writeln!(out, "# resolved from {}", self.source.display());
        let _ = writeln!(out, "[store]\nurl = {:?}\n", self.store_url);
        let t = &self.threads;
        let _ = writeln!(out, "[threads]");
        let _ = writeln!(out, "api_base = {:?}", t.api_base.as_str());
        let _ = writeln!(
            out,
            "app_id = {}",
            t.app_id
                .as_deref()
                .map_or("(none)".into(), |s| format!("{s:?}"))
        );
        match &t.app_secret_problem {
            Some(problem) => {
                let _ = writeln!(
                    out,
                    "app_secret = (unreadable: {problem}; only `auth` needs it)"
                );
            }
            None => {
                let _ = writeln!(out, "app_secret = {}", secret(&t.app_secret));
            }
        }
        let _ = writeln!(
            out,
            "redirect_uri = {}",
            t.redirect_uri
                .as_ref()
                .map_or("(none)".into(), |u| format!("{:?}", u.as_str()))
        );
        let _ = writeln!(out, "authorize_url = {:?}", t.authorize_url.as_str());
        let _ = writeln!(out, "scopes = {:?}", t.scopes);
        let _ = writeln!(
            out,
            "publish_timeout = \"{}\"",
            humantime::format_duration(t.publish_timeout)
        );
        let _ = writeln!(
            out,
            "request_timeout = \"{}\"\n",
            humantime::format_duration(t.request_timeout)
        );
        let _ = writeln!(
            out,
            "[http]\nlisten = {}\n",
            self.http
                .listen
                .map_or("\"off\"".to_string(), |a| format!("\"{a}\""))
        );
        let f = &self.fetch;
        let _ = writeln!(out, "[fetch]");
        let _ = writeln!(out, "user_agent = {:?}", f.user_agent);
        let _ = writeln!(
            out,
            "connect_timeout = \"{}\"",
            humantime::format_duration(f.connect_timeout)
        );
        let _ = writeln!(
            out,
            "timeout = \"{}\"",
            humantime::format_duration(f.timeout)
        );
        let _ = writeln!(out, "max_body_size = {}", f.max_body_bytes);
        let _ = writeln!(out, "concurrency = {}", f.concurrency);
        let _ = writeln!(out, "per_host_concurrency = {}", f.per_host_concurrency);
        let _ = writeln!(
            out,
            "max_hint_interval = \"{}\"",
            humantime::format_duration(f.max_hint_interval)
        );
        let _ = writeln!(
            out,
            "max_backoff = \"{}\"\n",
            humantime::format_duration(f.max_backoff)
        );
        let _ = writeln!(
            out,
            "[status]\nfeed_failing_after = \"{}\"\nheartbeat_stale_after = \"{}\"\n",
            humantime::format_duration(self.status.feed_failing_after),
            humantime::format_duration(self.status.heartbeat_stale_after)
        );
        for a in &self.accounts {
            let _ = writeln!(out, "[[accounts]]");
            let _ = writeln!(out, "name = {:?}", a.name);
            let _ = writeln!(out, "access_token = {}", secret(&a.token));
            let _ = writeln!(
                out,
                "min_interval = \"{}\"",
                humantime::format_duration(a.min_interval)
            );
            if let Some(n) = a.max_posts_per_day {
                let _ = writeln!(out, "max_posts_per_day = {n}");
            }
            let _ = writeln!(
                out,
                "token_refresh_window = \"{}\"\n",
                humantime::format_duration(a.token_refresh_window)
            );
        }
        for feed in &self.feeds {
            let _ = writeln!(out, "[[feeds]]");
            let _ = writeln!(out, "name = {:?}", feed.name);
            let _ = writeln!(out, "url = {:?}", feed.url.as_str());
            let _ = writeln!(out, "account = {:?}", feed.account);
            match &feed.schedule {
                FeedSchedule::Every(d) => {
                    let _ = writeln!(out, "every = \"{}\"", humantime::format_duration(*d));
                }
                FeedSchedule::Cron { expression, .. } => {
                    let _ = writeln!(out, "schedule = {expression:?}");
                }
            }
            let _ = writeln!(out, "backlog = \"{}\"", feed.backlog);
            let _ = writeln!(
                out,
                "max_age = \"{}\"",
                feed.max_age
                    .map_or("off".to_string(), |d| humantime::format_duration(d)
                        .to_string())
            );
            let _ = writeln!(out, "flood_limit = {}", feed.flood_limit);
            let c = &feed.compose;
            if let Some(t) = &c.template {
                let _ = writeln!(out, "template = {t:?}");
            }
            if let Some(t) = &c.timezone {
                let _ = writeln!(out, "timezone = {t:?}");
            }
            if !c.link_params.is_empty() {
                let _ = writeln!(out, "link_params = {:?}", c.link_params);
            }
            if let Some(t) = &c.topic_tag {
                let _ = writeln!(out, "topic_tag = {t:?}");
            }
            if !c.topic_map.is_empty() {
                let _ = writeln!(out, "topic_map = {:?}", c.topic_map);
            }
            if c.topic_from_categories {
                let _ = writeln!(out, "topic_from_categories = true");
            }
            if let Some(m) = &c.media {
                let _ = writeln!(out, "media = {m:?}");
            }
            if let Some(m) = &c.image_fallback {
                let _ = writeln!(out, "image_fallback = {m:?}");
            }
            if let Some(r) = &c.reply_control {
                let _ = writeln!(out, "reply_control = {r:?}");
            }
            if !c.include.is_empty() {
                let _ = writeln!(out, "include = {:?}", c.include);
            }
            if !c.exclude.is_empty() {
                let _ = writeln!(out, "exclude = {:?}", c.exclude);
            }
            out.push('\n');
        }
        out
    }
}

/// Deserialize a value, naming the full key path on error.
fn typed<T: for<'de> Deserialize<'de>>(value: toml::Value, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            prefix.to_string()
        } else if path.starts_with('[') {
            format!("{prefix}{path}")
        } else {
            format!("{prefix}.{path}")
        };
        key_error(key, e.into_inner().to_string())
    })
}

fn section<T: for<'de> Deserialize<'de> + Default>(
    table: &mut toml::Table,
    name: &str,
) -> Result<T, ConfigError> {
    match table.remove(name) {
        None => Ok(T::default()),
        Some(v @ toml::Value::Table(_)) => typed(v, name),
        Some(_) => Err(key_error(name, "must be a table")),
    }
}

/// Durations are compact humantime strings: `90s`, `5m`, `1h30m`, `2d`. Long forms such as
/// "5 minutes" are refused so that every config reads the same way.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    static COMPACT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(\d+(ms|s|m|h|d|w))+$").expect("a fixed, valid pattern")
    });
    let trimmed = value.trim();
    let parsed = if COMPACT.is_match(trimmed) {
        humantime::parse_duration(trimmed).ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        key_error(
            key,
            format!(
                "{value:?} is not a duration; try \"{}\"",
                duration_hint(value)
            ),
        )
    })
}

/// Guess what the user meant, for the error message.
fn duration_hint(value: &str) -> String {
    let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
    let n = if digits.is_empty() {
        "5".into()
    } else {
        digits
    };
    let lower = value.to_ascii_lowercase();
    let unit = if lower.contains("sec") {
        "s"
    } else if lower.contains("hour") || lower.contains('h') {
        "h"
    } else if lower.contains("day") || lower.contains('d') {
        "d"
    } else {
        "m"
    };
    format!("{n}{unit}")
}

fn optional_duration(
    key: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    value.map_or(Ok(default), |v| parse_duration(key, v))
}

fn validate_threads(raw: RawThreads) -> Result<ThreadsSettings, ConfigError> {
    let api_base = parse_http_url(
        "threads.api_base",
        raw.api_base
            .as_deref()
            .unwrap_or("https://graph.threads.net"),
    )?;
    let authorize_url = parse_http_url(
        "threads.authorize_url",
        raw.authorize_url
            .as_deref()
            .unwrap_or("https://threads.net/oauth/authorize"),
    )?;
    let redirect_uri = raw
        .redirect_uri
        .as_deref()
        .map(|u| parse_http_url("threads.redirect_uri", u))
        .transpose()?;
    let (app_secret, app_secret_problem) = match read_secret(
        "threads.app_secret",
        raw.app_secret,
        raw.app_secret_env,
        raw.app_secret_file,
    ) {
        Ok(secret) => (secret, None),
        // Giving more than one form is a mistake in the file itself: refuse it now.
        Err(e) if e.to_string().contains("give only one of") => return Err(e),
        Err(e) => (None, Some(e.to_string())),
    };
    if let Some(id) = &raw.app_id
        && (id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(key_error(
            "threads.app_id",
            format!(
                "{id:?} is not an app id; use the numeric Threads App ID from App Dashboard > App settings > Basic"
            ),
        ));
    }
    let scopes = raw.scopes.unwrap_or_else(|| {
        vec![
            "threads_basic".to_string(),
            "threads_content_publish".to_string(),
        ]
    });
    Ok(ThreadsSettings {
        api_base,
        app_id: raw.app_id,
        app_secret,
        app_secret_problem,
        redirect_uri,
        authorize_url,
        scopes,
        publish_timeout: optional_duration(
            "threads.publish_timeout",
            raw.publish_timeout.as_deref(),
            Duration::from_secs(90),
        )?,
        request_timeout: optional_duration(
            "threads.request_timeout",
            raw.request_timeout.as_deref(),
            Duration::from_secs(30),
        )?,
    })
}

fn validate_http(raw: RawHttp) -> Result<HttpSettings, ConfigError> {
    let listen = match raw.listen.as_deref() {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        Some("off") => None,
        Some(addr) => Some(addr.parse().map_err(|_| {
            key_error(
                "http.listen",
                format!("{addr:?} is not an address; try \"127.0.0.1:9464\" or \"off\""),
            )
        })?),
    };
    Ok(HttpSettings { listen })
}

fn validate_fetch(raw: RawFetch) -> Result<FetchSettings, ConfigError> {
    let max_body_bytes = match raw.max_body_size {
        None => 10 * 1024 * 1024,
        Some(v) => parse_size("fetch.max_body_size", &v)?,
    };
    let positive = |key: &str, v: Option<i64>, default: usize| -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(n) if n >= 1 => usize::try_from(n).map_err(|_| key_error(key, "too large")),
            Some(n) => Err(key_error(key, format!("{n} must be at least 1"))),
        }
    };
    Ok(FetchSettings {
        user_agent: raw
            .user_agent
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
        connect_timeout: optional_duration(
            "fetch.connect_timeout",
            raw.connect_timeout.as_deref(),
            Duration::from_secs(10),
        )?,
        timeout: optional_duration(
            "fetch.timeout",
            raw.timeout.as_deref(),
            Duration::from_secs(30),
        )?,
        max_body_bytes,
        concurrency: positive("fetch.concurrency", raw.concurrency, 32)?,
        per_host_concurrency: positive("fetch.per_host_concurrency", raw.per_host_concurrency, 4)?,
        max_hint_interval: optional_duration(
            "fetch.max_hint_interval",
            raw.max_hint_interval.as_deref(),
            Duration::from_secs(3600),
        )?,
        max_backoff: optional_duration(
            "fetch.max_backoff",
            raw.max_backoff.as_deref(),
            Duration::from_secs(6 * 3600),
        )?,
    })
}

/// `10485760`, `"10MiB"`, `"512 KB"`.
fn parse_size(key: &str, value: &toml::Value) -> Result<usize, ConfigError> {
    let bad = || {
        key_error(
            key,
            format!("{value} is not a size; try \"10MiB\" or a number of bytes"),
        )
    };
    match value {
        toml::Value::Integer(n) if *n > 0 => usize::try_from(*n).map_err(|_| bad()),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: usize = num.parse().map_err(|_| bad())?;
            let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "kb" => 1000,
                "kib" | "k" => 1024,
                "mb" => 1000 * 1000,
                "mib" | "m" => 1024 * 1024,
                "gb" => 1000 * 1000 * 1000,
                "gib" | "g" => 1024 * 1024 * 1024,
                _ => return Err(bad()),
            };
            n.checked_mul(mult).filter(|&b| b > 0).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

fn parse_http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|e| key_error(key, format!("{value:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(key_error(key, format!("{value:?} is not an http(s) URL")));
    }
    Ok(url)
}

/// Exactly one of the literal, `_env` and `_file` forms may be given.
fn read_secret(
    key: &str,
    literal: Option<String>,
    env: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretString>, ConfigError> {
    let given = [literal.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(key_error(
            key,
            format!("give only one of {key}, {key}_env and {key}_file"),
        ));
    }
    if let Some(value) = literal {
        return Ok(Some(SecretString::from(value.trim().to_string())));
    }
    if let Some(var) = env {
        return match std::env::var(&var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
            _ => Err(key_error(
                format!("{key}_env"),
                format!("environment variable {var} is not set or empty"),
            )),
        };
    }
    if let Some(path) = file {
        let path = expand_credentials_dir(&path);
        return match std::fs::read_to_string(&path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
            Ok(_) => Err(key_error(
                format!("{key}_file"),
                format!("{} is empty", path.display()),
            )),
            Err(e) => Err(key_error(
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )),
        };
    }
    Ok(None)
}

/// `$CREDENTIALS_DIRECTORY/name` (systemd `LoadCredential=`) may be written literally.
fn expand_credentials_dir(path: &str) -> PathBuf {
    for prefix in ["$CREDENTIALS_DIRECTORY/", "${CREDENTIALS_DIRECTORY}/"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY")
        {
            return PathBuf::from(dir).join(rest);
        }
    }
    PathBuf::from(path)
}

fn validate_account(raw: RawAccount, key: &str) -> Result<AccountSettings, ConfigError> {
    if raw.name.trim().is_empty() {
        return Err(key_error(format!("{key}.name"), "must not be empty"));
    }
    let token = read_secret(
        &format!("{key}.access_token"),
        raw.access_token,
        raw.access_token_env,
        raw.access_token_file,
    )?;
    let max_posts_per_day = match raw.max_posts_per_day {
        None => None,
        Some(n) if (1..=250).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(key_error(
                format!("{key}.max_posts_per_day"),
                format!("{n} must be between 1 and 250 (the API's own limit)"),
            ));
        }
    };
    Ok(AccountSettings {
        name: raw.name,
        token,
        min_interval: optional_duration(
            &format!("{key}.min_interval"),
            raw.min_interval.as_deref(),
            Duration::from_secs(60),
        )?,
        max_posts_per_day,
        token_refresh_window: optional_duration(
            &format!("{key}.token_refresh_window"),
            raw.token_refresh_window.as_deref(),
            Duration::from_secs(15 * 86_400),
        )?,
    })
}

fn validate_feed(
    value: toml::Value,
    key: &str,
    defaults: &RawFeedOptions,
    (default_compose, default_composer): &(ComposeOptions, Arc<Composer>),
    accounts: &[AccountSettings],
) -> Result<FeedSettings, ConfigError> {
    let toml::Value::Table(mut table) = value else {
        return Err(key_error(key, "must be a table"));
    };
    let mut take_string = |name: &str, required: bool| -> Result<Option<String>, ConfigError> {
        match table.remove(name) {
            None if required => Err(key_error(format!("{key}.{name}"), "is required")),
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(key_error(
                format!("{key}.{name}"),
                format!("{other} must be a string"),
            )),
        }
    };
    let url_text = take_string("url", true)?.unwrap_or_default();
    let account = take_string("account", false)?;
    let name = take_string("name", false)?;
    let options: RawFeedOptions = typed(toml::Value::Table(table), key)?;
    let options = options.inherit(defaults);

    let url = parse_http_url(&format!("{key}.url"), &url_text)?;
    let account = match account {
        Some(a) => a,
        None if accounts.len() == 1 => accounts[0].name.clone(),
        None => {
            return Err(key_error(
                format!("{key}.account"),
                "is required when more than one account is configured",
            ));
        }
    };
    if !accounts.iter().any(|a| a.name == account) {
        let known: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        return Err(key_error(
            format!("{key}.account"),
            format!(
                "{account:?} is not a configured account (known: {})",
                if known.is_empty() {
                    "none; add an [[accounts]] table".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let name = name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| url.to_string());

    let schedule = match (&options.every, &options.schedule) {
        (Some(_), Some(_)) => {
            return Err(key_error(
                format!("{key}.schedule"),
                "set either `every` or `schedule`, not both",
            ));
        }
        (_, Some(expr)) => FeedSchedule::Cron {
            expression: expr.clone(),
            schedule: Box::new(parse_cron(&format!("{key}.schedule"), expr)?),
        },
        (Some(every), None) => FeedSchedule::Every(parse_interval(&format!("{key}.every"), every)?),
        (None, None) => FeedSchedule::Every(Duration::from_secs(300)),
    };
    let backlog = parse_backlog(
        &format!("{key}.backlog"),
        options.backlog.as_deref().unwrap_or("skip"),
    )?;
    let max_age = match options.max_age.as_deref().unwrap_or("2d") {
        "off" => None,
        v => Some(parse_duration(&format!("{key}.max_age"), v)?),
    };
    let flood_limit = match options.flood_limit {
        None => 25,
        Some(n) if n >= 1 => n as usize,
        Some(n) => {
            return Err(key_error(
                format!("{key}.flood_limit"),
                format!("{n} must be at least 1"),
            ));
        }
    };
    let compose = compose_options(&options);
    let composer = if compose == *default_compose {
        Arc::clone(default_composer)
    } else {
        Arc::new(Composer::new(&compose, key).map_err(|e| ConfigError::Key {
            key: key.to_string(),
            message: e.to_string(),
        })?)
    };
    Ok(FeedSettings {
        name,
        url,
        account,
        schedule,
        backlog,
        max_age,
        flood_limit,
        compose,
        composer,
    })
}

fn compose_options(options: &RawFeedOptions) -> ComposeOptions {
    let o = options.clone();
    ComposeOptions {
        template: o.template,
        timezone: o.timezone,
        link_params: o.link_params.unwrap_or_default(),
        topic_tag: o.topic_tag,
        topic_map: o.topic_map.unwrap_or_default(),
        topic_from_categories: o.topic_from_categories.unwrap_or(false),
        media: o.media,
        image_fallback: o.image_fallback,
        reply_control: o.reply_control,
        include: o.include.unwrap_or_default(),
        exclude: o.exclude.unwrap_or_default(),
    }
}

fn parse_interval(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration(key, value)?;
    if d < Duration::from_secs(30) {
        return Err(key_error(
            key,
            format!("{value:?} is too short; poll at most every 30s to stay polite"),
        ));
    }
    Ok(d)
}

/// Cron with seconds (6-7 fields) as the `cron` crate wants, or the classic 5 fields.
fn parse_cron(key: &str, expr: &str) -> Result<cron::Schedule, ConfigError> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        key_error(
            key,
            format!("{expr:?} is not a cron expression ({e}); try \"0 */5 * * * *\""),
        )
    })
}

fn parse_backlog(key: &str, value: &str) -> Result<Backlog, ConfigError> {
    let v = value.trim();
    match v {
        "skip" => Ok(Backlog::Skip),
        "all" => Ok(Backlog::All),
        _ => v
            .strip_prefix("latest:")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .map(Backlog::Latest)
            .ok_or_else(|| {
                key_error(
                    key,
                    format!(
                        "{value:?} is not a backlog policy; use \"skip\", \"all\" or \"latest:N\""
                    ),
                )
            }),
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
        assert!(!format!("{s:?}").contains("file-token-value"));

        let text = "[[accounts]]\nname = \"a\"\naccess_token_env = \"F2T_TEST_SURELY_UNSET_VAR\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with("accounts[0].access_token_env:"), "{err}");
        assert!(err.contains("F2T_TEST_SURELY_UNSET_VAR"), "{err}");
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
    fn sizes_parse() {
        let v = |s: &str| toml::Value::String(s.into());
        assert_eq!(parse_size("k", &v("10MiB")).unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("k", &v("512 KB")).unwrap(), 512_000);
        assert_eq!(parse_size("k", &toml::Value::Integer(42)).unwrap(), 42);
        assert!(parse_size("k", &v("lots")).is_err());
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
