//! Prometheus metrics: every metric name, its help text and its labels live here.
//!
//! Other modules record through the small `record_*` / `set_*` helpers below, never through
//! the `metrics` macros directly, so names and label sets cannot drift apart between call
//! sites and the exposition stays what dashboards expect. [`install`] puts the Prometheus
//! recorder in place once per process and returns the handle `http` renders on `/metrics`.
//! Before `install` (and in commands that never call it) every helper is a cheap no-op.
//!
//! Labels stay bounded: feeds are labelled by their configured name (a name that is a URL
//! loses its query string and fragment, see [`feed_label`]), accounts by name, result classes
//! and failure reasons by the callers' fixed vocabularies, API errors by numeric code.
//! This module must not see tokens, item titles or URLs with query strings.

use crate::feed::redact::redact_url;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Feed polls by feed and result (`new_items`, `not_modified`, `timeout`, `http_status`, ...).
/// The label is `result`, as the README has always documented it.
pub const FETCHES: &str = "feed2threads_fetches_total";
/// Wall time of one feed fetch, by feed.
pub const FETCH_DURATION: &str = "feed2threads_fetch_duration_seconds";
/// Items seen for the first time (and queued or held), by feed.
pub const NEW_ITEMS: &str = "feed2threads_new_items_total";
/// Items the flood guard held back, by feed.
pub const HELD_ITEMS: &str = "feed2threads_held_items_total";
/// Posts published, by account.
pub const POSTS_PUBLISHED: &str = "feed2threads_posts_published_total";
/// Posts that failed permanently or for now, by account and reason.
pub const POSTS_FAILED: &str = "feed2threads_posts_failed_total";
/// Replies published (a `link_in = "reply"` post's link, a correction), by account.
pub const REPLIES_PUBLISHED: &str = "feed2threads_replies_published_total";
/// Posts dropped without publishing, by account and reason (`overflow`: beyond a cap;
/// `superseded`: a correction a newer headline replaced before it went out).
pub const POSTS_DROPPED: &str = "feed2threads_posts_dropped_total";
/// Posts in the outbox by account and state; queued posts a posting window or a cap
/// holds are counted as `waiting_window` / `waiting_cap`, not `queued`.
pub const OUTBOX_POSTS: &str = "feed2threads_outbox_posts";
/// Posts waiting in the outbox, by account.
pub const QUEUE_DEPTH: &str = "feed2threads_queue_depth";
/// Posts the account may still publish in the API's moving 24 h window.
pub const QUOTA_REMAINING: &str = "feed2threads_quota_remaining";
/// When the account's token expires, as a unix timestamp (alert on `- time() < 7d`).
pub const TOKEN_EXPIRY: &str = "feed2threads_token_expiry_timestamp_seconds";
/// Wall time from container creation to a published post, by account.
pub const PUBLISH_DURATION: &str = "feed2threads_publish_duration_seconds";
/// Threads API errors by code (`190`, `4`, ...) or transport class (`timeout`, `http_5xx`).
pub const API_ERRORS: &str = "feed2threads_api_errors_total";
/// The run loop's last tick, as a unix timestamp.
pub const LAST_TICK: &str = "feed2threads_last_tick_timestamp_seconds";
/// Always 1; the `version` label says which build runs.
pub const BUILD_INFO: &str = "feed2threads_build_info";

/// Every metric name, for tests and documentation.
pub const ALL: &[&str] = &[
    FETCHES,
    FETCH_DURATION,
    NEW_ITEMS,
    HELD_ITEMS,
    POSTS_PUBLISHED,
    POSTS_FAILED,
    REPLIES_PUBLISHED,
    POSTS_DROPPED,
    OUTBOX_POSTS,
    QUEUE_DEPTH,
    QUOTA_REMAINING,
    TOKEN_EXPIRY,
    PUBLISH_DURATION,
    API_ERRORS,
    LAST_TICK,
    BUILD_INFO,
];

/// Fetches take from milliseconds to the fetch timeout (30 s by default).
const FETCH_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// A publish waits for the container (Meta recommends ~30 s) and may take minutes.
const PUBLISH_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// The Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot set up the Prometheus recorder: {0}")]
    Build(metrics_exporter_prometheus::BuildError),
}

// By hand rather than `#[from]`, which would also make the error a `source` and print it
// twice in a `{:#}` chain.
impl From<metrics_exporter_prometheus::BuildError> for MetricsError {
    fn from(e: metrics_exporter_prometheus::BuildError) -> Self {
        MetricsError::Build(e)
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global recorder and describes every
/// metric. Idempotent: later calls return the same handle (tests start several servers in one
/// process, and the global recorder can be set only once).
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    // Two first calls at once (parallel tests) must not both try to set the global
    // recorder: the loser would fail. Serialise the first installation.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Durations as real histograms (buckets) rather than summaries: quantiles from
    // summaries cannot be aggregated across instances or time ranges.
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(FETCH_DURATION.to_string()), FETCH_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(PUBLISH_DURATION.to_string()), PUBLISH_BUCKETS)?
        .install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe();
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// The handle, if [`install`] ran.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE.get().cloned()
}

fn describe() {
    describe_counter!(FETCHES, Unit::Count, "Feed polls by feed and result.");
    describe_histogram!(FETCH_DURATION, Unit::Seconds, "Wall time of a feed fetch.");
    describe_counter!(
        NEW_ITEMS,
        Unit::Count,
        "Items seen for the first time, by feed."
    );
    describe_counter!(
        HELD_ITEMS,
        Unit::Count,
        "Items held back by the flood guard, by feed."
    );
    describe_counter!(POSTS_PUBLISHED, Unit::Count, "Posts published, by account.");
    describe_counter!(
        POSTS_FAILED,
        Unit::Count,
        "Failed publish attempts, by account and reason."
    );
    describe_counter!(
        REPLIES_PUBLISHED,
        Unit::Count,
        "Replies published (the link of a link_in = \"reply\" post, a correction), by account."
    );
    describe_counter!(
        POSTS_DROPPED,
        Unit::Count,
        "Posts dropped without publishing, by account and reason."
    );
    describe_gauge!(
        OUTBOX_POSTS,
        Unit::Count,
        "Outbox posts by account and state (waiting_window and waiting_cap apart from queued)."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Posts waiting in the outbox, by account."
    );
    describe_gauge!(
        QUOTA_REMAINING,
        Unit::Count,
        "Posts the account may still publish in the API's 24 h window."
    );
    describe_gauge!(
        TOKEN_EXPIRY,
        Unit::Seconds,
        "Unix time at which the account's access token expires."
    );
    describe_histogram!(
        PUBLISH_DURATION,
        Unit::Seconds,
        "Wall time from container creation to a published post."
    );
    describe_counter!(
        API_ERRORS,
        Unit::Count,
        "Threads API errors by code or transport class."
    );
    describe_gauge!(
        LAST_TICK,
        Unit::Seconds,
        "Unix time of the run loop's last tick."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the build.");
}

/// A bounded label for a feed: its configured name, except that a name which is a URL (the
/// default when `name` is not set) keeps only its host, port and path: its user info, query
/// string and fragment may carry credentials, session ids or cache busters. Whatever does
/// not parse as a URL goes through the same redaction as every shown feed URL
/// ([`redact_url`]), so a credential never reaches a label.
pub fn feed_label(feed: &str) -> String {
    let shown = redact_url(feed);
    match url::Url::parse(&shown) {
        Ok(url) if url.has_host() => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{host}:{port}{}", url.path()),
                None => format!("{host}{}", url.path()),
            }
        }
        _ => shown.into_owned(),
    }
}

/// One poll of `feed` ended with `result` after `duration`.
/// `result` must come from a fixed vocabulary (`PollResult::label`, `FetchError::class`).
pub fn record_fetch(feed: &str, result: &str, duration: Duration) {
    let feed = feed_label(feed);
    counter!(FETCHES, "feed" => feed.clone(), "result" => result.to_string()).increment(1);
    metrics::histogram!(FETCH_DURATION, "feed" => feed).record(duration.as_secs_f64());
}

/// `n` new items were found in `feed`.
pub fn record_new_items(feed: &str, n: u64) {
    counter!(NEW_ITEMS, "feed" => feed_label(feed)).increment(n);
}

/// The flood guard held `n` items of `feed`.
pub fn record_held(feed: &str, n: u64) {
    counter!(HELD_ITEMS, "feed" => feed_label(feed)).increment(n);
}

/// `account` published a post.
pub fn record_published(account: &str) {
    counter!(POSTS_PUBLISHED, "account" => account.to_string()).increment(1);
}

/// A publish attempt of `account` failed. `reason` must come from a fixed vocabulary, e.g.
/// `ErrorAction`'s display (`retry later`, `token problem`, `quota spent`, `permanent`, ...).
pub fn record_publish_failed(account: &str, reason: &str) {
    counter!(POSTS_FAILED, "account" => account.to_string(), "reason" => reason.to_string())
        .increment(1);
}

/// `account` published a reply.
pub fn record_reply_published(account: &str) {
    counter!(REPLIES_PUBLISHED, "account" => account.to_string()).increment(1);
}

/// A post of `account` was dropped unpublished. `reason` from a fixed vocabulary
/// (`overflow`).
pub fn record_dropped(account: &str, reason: &str) {
    counter!(POSTS_DROPPED, "account" => account.to_string(), "reason" => reason.to_string())
        .increment(1);
}

/// `account` has `n` posts in `state` (a fixed vocabulary: the outbox states, and
/// `waiting_window`, `waiting_cap`).
pub fn set_outbox_posts(account: &str, state: &str, n: u64) {
    gauge!(OUTBOX_POSTS, "account" => account.to_string(), "state" => state.to_string())
        .set(n as f64);
}

/// The outbox of `account` by state: [`OUTBOX_POSTS`] for each, the queued posts that a
/// posting window or a cap holds counted apart from the ones due.
pub fn set_outbox_counts(
    account: &str,
    counts: &crate::store::outbox::OutboxCounts,
    waits: &crate::store::WaitCounts,
) {
    let due = counts.queued - waits.window - waits.cap;
    for (state, n) in [
        ("review", counts.review),
        ("held", counts.held),
        ("queued", due),
        ("waiting_window", waits.window),
        ("waiting_cap", waits.cap),
        ("in_flight", counts.in_flight),
        ("failed", counts.failed),
    ] {
        set_outbox_posts(account, state, u64::try_from(n).unwrap_or(0));
    }
}

/// `n` posts of `account` wait in the outbox.
pub fn set_queue_depth(account: &str, n: u64) {
    gauge!(QUEUE_DEPTH, "account" => account.to_string()).set(n as f64);
}

/// `account` may publish `n` more posts in the current window.
pub fn set_quota_remaining(account: &str, n: u64) {
    gauge!(QUOTA_REMAINING, "account" => account.to_string()).set(n as f64);
}

/// `account`'s token expires at `unix` (seconds).
pub fn set_token_expiry(account: &str, unix: i64) {
    gauge!(TOKEN_EXPIRY, "account" => account.to_string()).set(unix as f64);
}

/// A post of `account` took `d` from container creation to published.
pub fn record_publish_duration(account: &str, d: Duration) {
    metrics::histogram!(PUBLISH_DURATION, "account" => account.to_string()).record(d.as_secs_f64());
}

/// The API answered with error `code` (Graph `code`, or the flat shape's `error_code`).
pub fn record_api_error(code: i64) {
    counter!(API_ERRORS, "code" => code.to_string()).increment(1);
}

/// Any Threads client error, labelled by its API code when the server sent one and by a
/// transport class otherwise (`timeout`, `connect`, `network`, `http_4xx`, `http_5xx`, ...).
pub fn record_threads_error(err: &crate::threads::ThreadsError) {
    use crate::threads::ErrorKind;
    let label = match (err.code(), err.kind()) {
        (Some(code), _) => code.to_string(),
        (None, ErrorKind::Timeout { .. }) => "timeout".into(),
        (None, ErrorKind::Connect { .. }) => "connect".into(),
        (None, ErrorKind::ConnectionLost { .. }) => "connection_lost".into(),
        (None, ErrorKind::Network { .. }) => "network".into(),
        (None, ErrorKind::InvalidRequest(_)) => "invalid_request".into(),
        (None, ErrorKind::Malformed { .. }) => "malformed".into(),
        (None, ErrorKind::Api(_) | ErrorKind::Http { .. }) => match err.http_status() {
            Some(s) if s >= 500 => "http_5xx".into(),
            Some(_) => "http_4xx".into(),
            None => "unknown".into(),
        },
    };
    counter!(API_ERRORS, "code" => label).increment(1);
}

/// The run loop ticked at `unix`.
pub fn set_last_tick(unix: i64) {
    gauge!(LAST_TICK).set(unix as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_labels_drop_queries_and_keep_names() {
        assert_eq!(feed_label("world"), "world");
        assert_eq!(
            feed_label("https://example.org/rss.xml?key=SECRET&utm=x#top"),
            "example.org/rss.xml"
        );
        assert_eq!(
            feed_label("http://example.org:8080/feed"),
            "example.org:8080/feed"
        );
        assert_eq!(
            feed_label("https://user:pass@example.org/rss?api_key=SECRET"),
            "example.org/rss"
        );
        // Not a URL the parser takes (a space in the host): redacted all the same.
        assert_eq!(
            feed_label("https://user:pass@exa mple.org/rss?api_key=SECRET"),
            "https://[redacted]@exa mple.org/rss?api_key=[redacted]"
        );
    }

    #[test]
    fn names_are_prometheus_names() {
        for name in ALL {
            assert!(name.starts_with("feed2threads_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
                "{name}"
            );
        }
    }
}
