//! The raw config → validated [`Settings`]: defaults applied, `[defaults]` inherited, the
//! rules that involve more than one key (one secret form, `every` or `schedule`, known
//! accounts, unique names), and each feed's composer built once.
//!
//! Must not parse values (the raw type's serde functions did) nor do I/O beyond reading
//! secret files.

use super::defaults;
use super::editorial;
use super::raw::{RawAccount, RawConfig, RawFeed, RawFetch, RawHttp, RawStatus, RawThreads};
use super::secrets::SecretKeys;
use super::{
    AccountSettings, ConfigError, DeskSettings, FeedSchedule, FeedSettings, FetchSettings,
    HttpSettings, Settings, StatusSettings, ThreadsSettings, key_error,
};
use crate::compose::{ComposeError, ComposeOptions, Composer};
use std::path::Path;
use std::sync::Arc;
use url::Url;

pub(super) fn settings(raw: RawConfig, source: &Path) -> Result<Settings, ConfigError> {
    let store_url = raw
        .store
        .url
        .unwrap_or_else(|| defaults::STORE_URL.to_string());
    if !store_url.starts_with("sqlite:") && !crate::store::is_postgres(&store_url) {
        return Err(key_error(
            "store.url",
            format!(
                "{:?} is not supported; use a sqlite:// or a postgres:// URL",
                crate::feed::redact::redact_url(&store_url)
            ),
        ));
    }
    let accounts = accounts(raw.accounts)?;
    let default_max_age = raw.defaults.max_age.unwrap_or(defaults::MAX_AGE);
    let feeds = Feeds::new(raw.defaults)?.validate(raw.feeds, &accounts)?;
    Ok(Settings {
        source: source.to_path_buf(),
        defaults_only: false,
        store_url,
        store_max_outage: raw.store.max_outage.unwrap_or(defaults::STORE_MAX_OUTAGE),
        store_node: raw
            .store
            .node
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        store_lease: raw.store.lease.unwrap_or(defaults::STORE_LEASE),
        store_connect_timeout: raw
            .store
            .connect_timeout
            .unwrap_or(defaults::STORE_CONNECT_TIMEOUT),
        threads: threads(raw.threads)?,
        http: http(raw.http)?,
        fetch: fetch(raw.fetch),
        status: status(raw.status),
        accounts,
        default_compose: feeds.default_compose,
        default_max_age,
        feeds: feeds.feeds,
    })
}

fn threads(raw: RawThreads) -> Result<ThreadsSettings, ConfigError> {
    let secret = SecretKeys {
        literal: raw.app_secret,
        env: raw.app_secret_env,
        file: raw.app_secret_file,
    };
    const KEY: &str = "threads.app_secret";
    secret.check_one(KEY)?;
    let app_secret_source = secret.source();
    // Only `auth` needs the secret: the daemon starts without it and `auth` says why.
    let (app_secret, app_secret_problem) = match secret.read(KEY) {
        Ok(secret) => (secret, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let api_base = or_default_url(raw.api_base, defaults::API_BASE);
    if api_base.scheme() != "https" && !is_loopback(&api_base) {
        return Err(key_error(
            "threads.api_base",
            format!(
                "{:?} must be https: every call carries an access token; only a loopback \
                 address (127.0.0.1, [::1], localhost) may use http",
                api_base.as_str()
            ),
        ));
    }
    Ok(ThreadsSettings {
        api_base,
        app_id: raw.app_id,
        app_secret,
        app_secret_source,
        app_secret_problem,
        redirect_uri: raw.redirect_uri,
        authorize_url: or_default_url(raw.authorize_url, defaults::AUTHORIZE_URL),
        scopes: raw
            .scopes
            .unwrap_or_else(|| defaults::SCOPES.map(String::from).to_vec()),
        publish_timeout: raw.publish_timeout.unwrap_or(defaults::PUBLISH_TIMEOUT),
        request_timeout: raw.request_timeout.unwrap_or(defaults::REQUEST_TIMEOUT),
    })
}

/// A URL whose host is this machine, so nothing it carries crosses a network.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

fn or_default_url(value: Option<Url>, default: &str) -> Url {
    value.unwrap_or_else(|| {
        Url::parse(default).expect("the built-in defaults are valid URLs (a unit test loads them)")
    })
}

fn http(raw: RawHttp) -> Result<HttpSettings, ConfigError> {
    let listen = raw.listen.unwrap_or(Some(defaults::LISTEN));
    let hash = SecretKeys {
        literal: raw.desk_password_hash,
        env: None,
        file: raw.desk_password_hash_file,
    };
    if hash.literal.is_some() && hash.file.is_some() {
        return Err(ConfigError::Conflict {
            key: "http.desk_password_hash".into(),
            alternatives: vec![
                "http.desk_password_hash".into(),
                "http.desk_password_hash_file".into(),
            ],
        });
    }
    let source = hash.source();
    let password_hash = hash.read("http.desk_password_hash")?;
    if let Some(hash) = &password_hash {
        let key = match source {
            Some(super::SecretSource::File(_)) => "http.desk_password_hash_file",
            _ => "http.desk_password_hash",
        };
        crate::desk::password::check_hash_format(hash).map_err(|e| key_error(key, e))?;
    }
    if raw.desk != Some(true) {
        return Ok(HttpSettings { listen, desk: None });
    }
    if listen.is_none() {
        return Err(key_error(
            "http.desk",
            "the desk is served by the HTTP listener, and http.listen is \"off\"; give http.listen an address (\"127.0.0.1:9464\")",
        ));
    }
    let (Some(password_hash), Some(password_hash_source)) = (password_hash, source) else {
        return Err(key_error(
            "http.desk",
            "needs http.desk_password_hash (or http.desk_password_hash_file): the argon2 hash \
             of the editors' password; make one with `feed2threads desk-password`",
        ));
    };
    Ok(HttpSettings {
        listen,
        desk: Some(DeskSettings {
            password_hash,
            password_hash_source,
        }),
    })
}

fn fetch(raw: RawFetch) -> FetchSettings {
    FetchSettings {
        user_agent: raw
            .user_agent
            .unwrap_or_else(|| defaults::USER_AGENT.to_string()),
        connect_timeout: raw.connect_timeout.unwrap_or(defaults::CONNECT_TIMEOUT),
        timeout: raw.timeout.unwrap_or(defaults::FETCH_TIMEOUT),
        max_body_bytes: raw.max_body_size.unwrap_or(defaults::MAX_BODY_BYTES),
        concurrency: raw.concurrency.unwrap_or(defaults::CONCURRENCY),
        per_host_concurrency: raw
            .per_host_concurrency
            .unwrap_or(defaults::PER_HOST_CONCURRENCY),
        max_hint_interval: raw.max_hint_interval.unwrap_or(defaults::MAX_HINT_INTERVAL),
        max_backoff: raw.max_backoff.unwrap_or(defaults::MAX_BACKOFF),
    }
}

fn status(raw: RawStatus) -> StatusSettings {
    StatusSettings {
        feed_failing_after: raw
            .feed_failing_after
            .unwrap_or(defaults::FEED_FAILING_AFTER),
        heartbeat_stale_after: raw
            .heartbeat_stale_after
            .unwrap_or(defaults::HEARTBEAT_STALE_AFTER),
        held_after: raw.held_after.unwrap_or(defaults::HELD_AFTER),
    }
}

fn accounts(raw: Vec<RawAccount>) -> Result<Vec<AccountSettings>, ConfigError> {
    let mut accounts: Vec<AccountSettings> = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        let key = format!("accounts[{i}]");
        let account = account(raw, &key)?;
        if accounts.iter().any(|a| a.name == account.name) {
            return Err(key_error(
                format!("{key}.name"),
                format!("{:?} is used by another account", account.name),
            ));
        }
        accounts.push(account);
    }
    Ok(accounts)
}

fn account(raw: RawAccount, key: &str) -> Result<AccountSettings, ConfigError> {
    let window = editorial::account_window(&raw);
    let name = match raw.name {
        None => return Err(key_error(format!("{key}.name"), "is required")),
        Some(n) if n.trim().is_empty() => {
            return Err(key_error(format!("{key}.name"), "must not be empty"));
        }
        Some(n) => n,
    };
    let token = SecretKeys {
        literal: raw.access_token,
        env: raw.access_token_env,
        file: raw.access_token_file,
    };
    let token_key = format!("{key}.access_token");
    token.check_one(&token_key)?;
    let token_source = token.source();
    // Only a live run needs the token, and the one `auth` stored may serve: a variable
    // or file that is missing is reported, not refused (see `AccountSettings`).
    let (token, token_problem) = match token.read(&token_key) {
        Ok(token) => (token, None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(AccountSettings {
        name,
        token,
        token_source,
        token_problem,
        min_interval: raw.min_interval.unwrap_or(defaults::MIN_INTERVAL),
        max_posts_per_day: raw.max_posts_per_day,
        token_refresh_window: raw
            .token_refresh_window
            .unwrap_or(defaults::TOKEN_REFRESH_WINDOW),
        window,
    })
}

/// Feeds and what they inherit.
struct Feeds {
    defaults: RawFeed,
    default_compose: ComposeOptions,
    /// Feeds that compose as `[defaults]` says share its composer: a compiled template
    /// costs ~15 KB, which a newsroom's thousands of feeds would otherwise each pay.
    default_composer: Arc<Composer>,
}

/// The validated feeds and the composition settings of `[defaults]`.
struct ValidFeeds {
    feeds: Vec<FeedSettings>,
    default_compose: ComposeOptions,
}

impl Feeds {
    fn new(defaults: RawFeed) -> Result<Self, ConfigError> {
        let per_feed = [
            ("url", defaults.url.is_some()),
            ("name", defaults.name.is_some()),
            ("account", defaults.account.is_some()),
        ];
        if let Some((name, _)) = per_feed.iter().find(|(_, set)| *set) {
            return Err(key_error(
                format!("defaults.{name}"),
                "belongs to each [[feeds]] table, not to [defaults]",
            ));
        }
        if defaults.every.is_some() && defaults.schedule.is_some() {
            return Err(ConfigError::Conflict {
                key: "defaults.schedule".into(),
                alternatives: vec!["defaults.every".into(), "defaults.schedule".into()],
            });
        }
        let default_compose = compose_options(&defaults);
        let default_composer = Composer::new(&default_compose, "defaults")
            .map_err(|e| compose_error(e, "defaults"))?;
        Ok(Feeds {
            defaults,
            default_compose,
            default_composer: Arc::new(default_composer),
        })
    }

    fn validate(
        self,
        raw: Vec<RawFeed>,
        accounts: &[AccountSettings],
    ) -> Result<ValidFeeds, ConfigError> {
        let mut feeds: Vec<FeedSettings> = Vec::with_capacity(raw.len());
        for (i, raw) in raw.into_iter().enumerate() {
            let key = format!("feeds[{i}]");
            let feed = self.feed(raw, &key, accounts)?;
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
        Ok(ValidFeeds {
            feeds,
            default_compose: self.default_compose,
        })
    }

    fn feed(
        &self,
        raw: RawFeed,
        key: &str,
        accounts: &[AccountSettings],
    ) -> Result<FeedSettings, ConfigError> {
        let options = raw.inherit(&self.defaults);
        let Some(url) = options.url.clone() else {
            return Err(key_error(format!("{key}.url"), "is required"));
        };
        let account = feed_account(options.account.clone(), key, accounts)?;
        editorial::check_options(&options, key)?;
        let (window, caps) = match accounts.iter().find(|a| a.name == account) {
            Some(a) => editorial::feed_gate(&options, key, a)?,
            None => (None, Default::default()),
        };
        let name = options
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| url.to_string(), str::to_string);
        let schedule = match (options.every, options.schedule.clone()) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    key: format!("{key}.schedule"),
                    alternatives: vec![format!("{key}.every"), format!("{key}.schedule")],
                });
            }
            (_, Some(cron)) => cron,
            (Some(every), None) => FeedSchedule::Every(every),
            (None, None) => FeedSchedule::Every(defaults::EVERY),
        };
        let compose = compose_options(&options);
        let composer = if compose == self.default_compose {
            Arc::clone(&self.default_composer)
        } else {
            Arc::new(Composer::new(&compose, key).map_err(|e| compose_error(e, key))?)
        };
        Ok(FeedSettings {
            name,
            url,
            account,
            schedule,
            backlog: options.backlog.unwrap_or(defaults::BACKLOG),
            max_age: options.max_age.unwrap_or(defaults::MAX_AGE),
            flood_limit: options.flood_limit.unwrap_or(defaults::FLOOD_LIMIT),
            max_items: options.max_items.unwrap_or(defaults::MAX_ITEMS),
            review: options.review.unwrap_or(defaults::REVIEW),
            release_order: options.release_order.unwrap_or(defaults::RELEASE_ORDER),
            compose,
            composer,
            window,
            caps,
            on_update: options.on_update.unwrap_or_default(),
        })
    }
}

/// A composer's error names its own key (`feeds[2].template`); anything else is the
/// table's.
fn compose_error(error: ComposeError, table: &str) -> ConfigError {
    match error {
        ComposeError::Config { key, message } => key_error(key, message),
        other => key_error(table, other.to_string()),
    }
}

/// The feed's account: the named one, or the only one there is.
fn feed_account(
    account: Option<String>,
    key: &str,
    accounts: &[AccountSettings],
) -> Result<String, ConfigError> {
    let account = match (account, accounts) {
        (Some(a), _) => a,
        (None, [only]) => only.name.clone(),
        (None, _) => {
            return Err(key_error(
                format!("{key}.account"),
                "is required when more than one account is configured",
            ));
        }
    };
    if accounts.iter().any(|a| a.name == account) {
        return Ok(account);
    }
    let known: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    Err(key_error(
        format!("{key}.account"),
        format!(
            "{account:?} is not a configured account (known: {})",
            if known.is_empty() {
                "none; add an [[accounts]] table".to_string()
            } else {
                known.join(", ")
            }
        ),
    ))
}

fn compose_options(options: &RawFeed) -> ComposeOptions {
    let o = options.clone();
    ComposeOptions {
        template: o.template,
        timezone: o.timezone,
        link_params: o.link_params.unwrap_or_default(),
        topic_tag: o.topic_tag,
        topic_map: o.topic_map.unwrap_or_default(),
        topic_from_categories: o.topic_from_categories.unwrap_or(false),
        media: o.media.unwrap_or_default(),
        image_fallback: o.image_fallback.unwrap_or_default(),
        reply_control: o.reply_control,
        include: o.include.unwrap_or_default(),
        exclude: o.exclude.unwrap_or_default(),
        long_text: o.long_text.unwrap_or_default(),
        link_in: o.link_in.unwrap_or_default(),
        reply_approvals: o.reply_approvals.unwrap_or(false),
        ghost_posts: o.ghost_posts.unwrap_or(false),
    }
}
