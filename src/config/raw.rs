//! The config file as one raw type: every key, read from TOML through serde_path_to_error
//! (unknown keys rejected, each value deserialised by its function into its own type) and
//! serialised back for `check` (secrets redacted).
//!
//! Owns the key names and their spelling. Must not apply defaults or rules that involve
//! more than one key: that is `validate`'s job, so that printing a resolved config writes
//! exactly the keys a user may write.

use super::defaults::{max, min};
use super::{Backlog, FeedSchedule, ReleaseOrder, durations, secrets, values};
use crate::compose::{ImageFallback, LinkIn, LongText, MediaMode, ReplyControl};
use crate::corrections::OnUpdate;
use crate::publish::caps::Overflow;
use crate::publish::window::{Days, Hours};
use chrono_tz::Tz;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// The whole file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawConfig {
    pub store: RawStore,
    pub threads: RawThreads,
    pub http: RawHttp,
    pub fetch: RawFetch,
    pub status: RawStatus,
    pub defaults: RawFeed,
    pub accounts: Vec<RawAccount>,
    pub feeds: Vec<RawFeed>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStore {
    pub url: Option<String>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::STORE_MAX_OUTAGE }, _>",
        serialize_with = "durations::serialize"
    )]
    pub max_outage: Option<Duration>,
    /// This daemon's name in the account leases (default `host:pid`).
    pub node: Option<String>,
    #[serde(
        deserialize_with = "durations::between::<{ min::STORE_LEASE }, { max::STORE_LEASE }, _>",
        serialize_with = "durations::serialize"
    )]
    pub lease: Option<Duration>,
    #[serde(
        deserialize_with = "durations::between::<{ min::STORE_CONNECT_TIMEOUT }, { max::STORE_CONNECT_TIMEOUT }, _>",
        serialize_with = "durations::serialize"
    )]
    pub connect_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawThreads {
    #[serde(
        deserialize_with = "values::http_url",
        serialize_with = "values::serialize_url"
    )]
    pub api_base: Option<Url>,
    #[serde(deserialize_with = "values::app_id")]
    pub app_id: Option<String>,
    #[serde(serialize_with = "secrets::serialize_redacted")]
    pub app_secret: Option<SecretString>,
    pub app_secret_env: Option<String>,
    pub app_secret_file: Option<String>,
    #[serde(
        deserialize_with = "values::http_url",
        serialize_with = "values::serialize_url"
    )]
    pub redirect_uri: Option<Url>,
    #[serde(
        deserialize_with = "values::http_url",
        serialize_with = "values::serialize_url"
    )]
    pub authorize_url: Option<Url>,
    pub scopes: Option<Vec<String>>,
    /// Timeout on `threads_publish`.
    #[serde(
        deserialize_with = "durations::up_to::<{ max::TIMEOUT }, _>",
        serialize_with = "durations::serialize"
    )]
    pub publish_timeout: Option<Duration>,
    /// Timeout on every other API call.
    #[serde(
        deserialize_with = "durations::up_to::<{ max::TIMEOUT }, _>",
        serialize_with = "durations::serialize"
    )]
    pub request_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawHttp {
    /// `Some(None)`: "off".
    #[serde(
        deserialize_with = "values::listen",
        serialize_with = "values::serialize_listen"
    )]
    pub listen: Option<Option<SocketAddr>>,
    /// Serve the editors' desk under `/desk`.
    pub desk: Option<bool>,
    /// argon2 PHC string of the desk's password; or `desk_password_hash_file`.
    #[serde(serialize_with = "secrets::serialize_redacted")]
    pub desk_password_hash: Option<SecretString>,
    pub desk_password_hash_file: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStatus {
    #[serde(
        deserialize_with = "durations::up_to::<{ max::FEED_FAILING_AFTER }, _>",
        serialize_with = "durations::serialize"
    )]
    pub feed_failing_after: Option<Duration>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::HEARTBEAT_STALE_AFTER }, _>",
        serialize_with = "durations::serialize"
    )]
    pub heartbeat_stale_after: Option<Duration>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::HELD_AFTER }, _>",
        serialize_with = "durations::serialize"
    )]
    pub held_after: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawFetch {
    pub user_agent: Option<String>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::TIMEOUT }, _>",
        serialize_with = "durations::serialize"
    )]
    pub connect_timeout: Option<Duration>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::TIMEOUT }, _>",
        serialize_with = "durations::serialize"
    )]
    pub timeout: Option<Duration>,
    #[serde(
        deserialize_with = "values::size",
        serialize_with = "values::serialize_size"
    )]
    pub max_body_size: Option<usize>,
    #[serde(deserialize_with = "values::at_least_one")]
    pub concurrency: Option<usize>,
    #[serde(deserialize_with = "values::at_least_one")]
    pub per_host_concurrency: Option<usize>,
    /// How far a publisher's ttl / max-age may stretch a feed's interval.
    #[serde(
        deserialize_with = "durations::up_to::<{ max::HINT_INTERVAL }, _>",
        serialize_with = "durations::serialize"
    )]
    pub max_hint_interval: Option<Duration>,
    /// Cap of the exponential backoff after consecutive failures.
    #[serde(
        deserialize_with = "durations::up_to::<{ max::BACKOFF }, _>",
        serialize_with = "durations::serialize"
    )]
    pub max_backoff: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAccount {
    /// Required; `None` is reported by `validate` as "is required".
    pub name: Option<String>,
    #[serde(serialize_with = "secrets::serialize_redacted")]
    pub access_token: Option<SecretString>,
    pub access_token_env: Option<String>,
    pub access_token_file: Option<String>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::MIN_INTERVAL }, _>",
        serialize_with = "durations::serialize"
    )]
    pub min_interval: Option<Duration>,
    #[serde(deserialize_with = "values::posts_per_day")]
    pub max_posts_per_day: Option<u32>,
    #[serde(
        deserialize_with = "durations::up_to::<{ max::TOKEN_REFRESH_WINDOW }, _>",
        serialize_with = "durations::serialize"
    )]
    pub token_refresh_window: Option<Duration>,
    // the account's posting window, over all its feeds
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub hours: Option<Hours>,
    #[serde(
        deserialize_with = "values::days",
        serialize_with = "values::serialize_days"
    )]
    pub days: Option<Days>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub timezone: Option<Tz>,
}

/// A `[[feeds]]` table, or `[defaults]` (every key but `url`, `name` and `account`, which
/// `validate` refuses there).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawFeed {
    pub name: Option<String>,
    #[serde(
        deserialize_with = "values::http_url",
        serialize_with = "values::serialize_url"
    )]
    pub url: Option<Url>,
    pub account: Option<String>,
    // scheduling
    #[serde(
        deserialize_with = "durations::poll_interval",
        serialize_with = "durations::serialize"
    )]
    pub every: Option<Duration>,
    /// Always the `Cron` variant.
    #[serde(
        deserialize_with = "values::cron",
        serialize_with = "values::serialize_cron"
    )]
    pub schedule: Option<FeedSchedule>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub backlog: Option<Backlog>,
    /// `Some(None)`: "off".
    #[serde(
        deserialize_with = "durations::max_age",
        serialize_with = "durations::serialize_max_age"
    )]
    pub max_age: Option<Option<Duration>>,
    #[serde(deserialize_with = "values::at_least_one")]
    pub flood_limit: Option<usize>,
    #[serde(deserialize_with = "values::at_least_one")]
    pub max_items: Option<usize>,
    // editorial control
    pub review: Option<bool>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub release_order: Option<ReleaseOrder>,
    // composition
    pub template: Option<String>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub timezone: Option<Tz>,
    pub link_params: Option<BTreeMap<String, String>>,
    pub topic_tag: Option<String>,
    pub topic_map: Option<BTreeMap<String, String>>,
    pub topic_from_categories: Option<bool>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub media: Option<MediaMode>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub image_fallback: Option<ImageFallback>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub reply_control: Option<ReplyControl>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    // editorial control: posting window (in `timezone`), caps
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub hours: Option<Hours>,
    #[serde(
        deserialize_with = "values::days",
        serialize_with = "values::serialize_days"
    )]
    pub days: Option<Days>,
    #[serde(deserialize_with = "values::cap")]
    pub max_per_hour: Option<u32>,
    #[serde(deserialize_with = "values::cap")]
    pub max_per_day: Option<u32>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub overflow: Option<Overflow>,
    // Threads' newer publishing options
    pub reply_approvals: Option<bool>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub long_text: Option<LongText>,
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub link_in: Option<LinkIn>,
    pub ghost_posts: Option<bool>,
    // corrections: a published story's changed headline
    #[serde(
        deserialize_with = "values::choice",
        serialize_with = "values::serialize_choice"
    )]
    pub on_update: Option<OnUpdate>,
}

impl RawFeed {
    /// Feed values win over defaults, key by key.
    pub fn inherit(self, defaults: &RawFeed) -> RawFeed {
        let d = defaults.clone();
        // `every` and `schedule` are alternatives: a feed that sets one replaces both.
        let (every, schedule) = if self.every.is_some() || self.schedule.is_some() {
            (self.every, self.schedule)
        } else {
            (d.every, d.schedule)
        };
        RawFeed {
            name: self.name,
            url: self.url,
            account: self.account,
            every,
            schedule,
            backlog: self.backlog.or(d.backlog),
            max_age: self.max_age.or(d.max_age),
            flood_limit: self.flood_limit.or(d.flood_limit),
            max_items: self.max_items.or(d.max_items),
            review: self.review.or(d.review),
            release_order: self.release_order.or(d.release_order),
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
            hours: self.hours.or(d.hours),
            days: self.days.or(d.days),
            max_per_hour: self.max_per_hour.or(d.max_per_hour),
            max_per_day: self.max_per_day.or(d.max_per_day),
            overflow: self.overflow.or(d.overflow),
            reply_approvals: self.reply_approvals.or(d.reply_approvals),
            long_text: self.long_text.or(d.long_text),
            link_in: self.link_in.or(d.link_in),
            ghost_posts: self.ghost_posts.or(d.ghost_posts),
            on_update: self.on_update.or(d.on_update),
        }
    }
}
