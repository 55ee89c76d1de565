//! `check`'s output: the resolved [`Settings`] written back as the raw config type (every
//! value explicit, defaults applied, `[defaults]` already inherited by each feed) and
//! serialised to TOML, so it is itself a valid config that resolves to the same settings.
//!
//! Must not print a secret: a literal one is printed as `"[redacted]"`, one from the
//! environment or a file by the variable's name or the path, as configured; credentials in
//! the store URL or a feed URL (and a feed name that is its URL) as `[redacted]` in place.

use super::raw::{
    RawAccount, RawConfig, RawFeed, RawFetch, RawHttp, RawStatus, RawStore, RawThreads,
};
use super::secrets::{REDACTED, SecretKeys};
use super::{ConfigError, FeedSchedule, FeedSettings, Settings};
use crate::compose::ComposeOptions;
use crate::feed::redact::redact_url;
use crate::publish::window::Days;

pub(super) fn redacted_toml(settings: &Settings) -> Result<String, ConfigError> {
    let raw = RawConfig {
        store: RawStore {
            // A password in the URL (postgres://user:pass@…) is a secret too.
            url: Some(redact_url(&settings.store_url).into_owned()),
            max_outage: Some(settings.store_max_outage),
            node: settings.store_node.clone(),
            lease: Some(settings.store_lease),
            connect_timeout: Some(settings.store_connect_timeout),
        },
        threads: threads(settings),
        http: http(settings),
        fetch: fetch(settings),
        status: RawStatus {
            feed_failing_after: Some(settings.status.feed_failing_after),
            heartbeat_stale_after: Some(settings.status.heartbeat_stale_after),
            held_after: Some(settings.status.held_after),
        },
        defaults: RawFeed {
            // Each feed has its own; printed for `preview` of a URL that is not configured.
            max_age: (settings.default_max_age != super::defaults::MAX_AGE)
                .then_some(settings.default_max_age),
            ..defaults(&settings.default_compose)
        },
        accounts: settings.accounts.iter().map(account).collect(),
        feeds: settings
            .feeds
            .iter()
            .map(|f| feed(f, &settings.default_compose))
            .collect(),
    };
    let body = toml::to_string(&raw).map_err(|e| ConfigError::Print(e.to_string()))?;
    let mut header = format!(
        "# resolved from {:?}; secrets are shown as \"{REDACTED}\"\n",
        settings.source.display().to_string()
    );
    if let Some(problem) = &settings.threads.app_secret_problem {
        header.push_str(&format!(
            "# threads.app_secret is unreadable ({}); only `auth` needs it\n",
            problem.replace(['\n', '\r'], " ")
        ));
    }
    for warning in settings.warnings() {
        header.push_str(&format!(
            "# warning: {}\n",
            warning.replace(['\n', '\r'], " ")
        ));
    }
    Ok(format!("{header}\n{body}\n"))
}

fn threads(settings: &Settings) -> RawThreads {
    let t = &settings.threads;
    let secret = SecretKeys::from_source(t.app_secret_source.as_ref());
    RawThreads {
        api_base: Some(t.api_base.clone()),
        app_id: t.app_id.clone(),
        app_secret: secret.literal,
        app_secret_env: secret.env,
        app_secret_file: secret.file,
        redirect_uri: t.redirect_uri.clone(),
        authorize_url: Some(t.authorize_url.clone()),
        scopes: Some(t.scopes.clone()),
        publish_timeout: Some(t.publish_timeout),
        request_timeout: Some(t.request_timeout),
    }
}

fn http(settings: &Settings) -> RawHttp {
    let desk = settings.http.desk.as_ref();
    let hash = SecretKeys::from_source(desk.map(|d| &d.password_hash_source));
    RawHttp {
        listen: Some(settings.http.listen),
        desk: Some(desk.is_some()),
        desk_password_hash: hash.literal,
        desk_password_hash_file: hash.file,
    }
}

fn fetch(settings: &Settings) -> RawFetch {
    let f = &settings.fetch;
    RawFetch {
        user_agent: Some(f.user_agent.clone()),
        connect_timeout: Some(f.connect_timeout),
        timeout: Some(f.timeout),
        max_body_size: Some(f.max_body_bytes),
        concurrency: Some(f.concurrency),
        per_host_concurrency: Some(f.per_host_concurrency),
        max_hint_interval: Some(f.max_hint_interval),
        max_backoff: Some(f.max_backoff),
    }
}

fn account(a: &super::AccountSettings) -> RawAccount {
    let token = SecretKeys::from_source(a.token_source.as_ref());
    RawAccount {
        name: Some(a.name.clone()),
        access_token: token.literal,
        access_token_env: token.env,
        access_token_file: token.file,
        min_interval: Some(a.min_interval),
        max_posts_per_day: a.max_posts_per_day,
        token_refresh_window: Some(a.token_refresh_window),
        hours: a.window.and_then(|w| w.hours),
        days: a.window.map(|w| w.days).filter(|d| *d != Days::ALL),
        timezone: a
            .window
            .map(|w| w.tz)
            .filter(|tz| *tz != chrono_tz::Tz::UTC),
    }
}

/// `[defaults]`: only its composition settings reach `Settings` (for `preview` of an
/// unconfigured URL); the rest is already in each feed.
fn defaults(compose: &ComposeOptions) -> RawFeed {
    compose_keys(compose, &ComposeOptions::default())
}

/// A feed with every value explicit.
fn feed(f: &FeedSettings, inherited: &ComposeOptions) -> RawFeed {
    let (every, schedule) = match &f.schedule {
        FeedSchedule::Every(d) => (Some(*d), None),
        cron @ FeedSchedule::Cron { .. } => (None, Some(cron.clone())),
    };
    // Credentials in a feed URL (`user:pass@`, `?api_key=`) are secrets too; a name that
    // defaults to the URL carries them as well.
    let url = match redact_url(f.url.as_str()) {
        std::borrow::Cow::Borrowed(_) => f.url.clone(),
        std::borrow::Cow::Owned(shown) => url::Url::parse(&shown).unwrap_or_else(|_| f.url.clone()),
    };
    RawFeed {
        name: Some(redact_url(&f.name).into_owned()),
        url: Some(url),
        account: Some(f.account.clone()),
        every,
        schedule,
        backlog: Some(f.backlog),
        max_age: Some(f.max_age),
        flood_limit: Some(f.flood_limit),
        max_items: Some(f.max_items),
        review: Some(f.review),
        release_order: Some(f.release_order),
        hours: f.window.and_then(|w| w.hours),
        days: f.window.map(|w| w.days).filter(|d| *d != Days::ALL),
        max_per_hour: f.caps.per_hour,
        max_per_day: f.caps.per_day,
        overflow: Some(f.caps.overflow).filter(|_| f.caps.is_set()),
        // Only when set: the default reads back the same, and older outputs stay as they were.
        on_update: Some(f.on_update).filter(|u| *u != crate::corrections::OnUpdate::Ignore),
        ..compose_keys(&f.compose, inherited)
    }
}

/// The composition keys of `c` worth printing: those that are not the built-in default,
/// and those that `inherited` (`[defaults]`) sets, which the output, read back, would
/// otherwise give the feed.
fn compose_keys(c: &ComposeOptions, inherited: &ComposeOptions) -> RawFeed {
    fn shown<T: PartialEq + Clone>(value: &T, inherited: &T, builtin: &T) -> Option<T> {
        (value != builtin || inherited != builtin).then(|| value.clone())
    }
    let (i, b) = (inherited, &ComposeOptions::default());
    RawFeed {
        template: shown(&c.template, &i.template, &b.template).flatten(),
        timezone: shown(&c.timezone, &i.timezone, &b.timezone).flatten(),
        link_params: shown(&c.link_params, &i.link_params, &b.link_params),
        topic_tag: shown(&c.topic_tag, &i.topic_tag, &b.topic_tag).flatten(),
        topic_map: shown(&c.topic_map, &i.topic_map, &b.topic_map),
        topic_from_categories: shown(
            &c.topic_from_categories,
            &i.topic_from_categories,
            &b.topic_from_categories,
        ),
        media: shown(&c.media, &i.media, &b.media),
        image_fallback: shown(&c.image_fallback, &i.image_fallback, &b.image_fallback),
        reply_control: shown(&c.reply_control, &i.reply_control, &b.reply_control).flatten(),
        include: shown(&c.include, &i.include, &b.include),
        exclude: shown(&c.exclude, &i.exclude, &b.exclude),
        long_text: shown(&c.long_text, &i.long_text, &b.long_text),
        link_in: shown(&c.link_in, &i.link_in, &b.link_in),
        reply_approvals: shown(&c.reply_approvals, &i.reply_approvals, &b.reply_approvals),
        ghost_posts: shown(&c.ghost_posts, &i.ghost_posts, &b.ghost_posts),
        ..RawFeed::default()
    }
}
