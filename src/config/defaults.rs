//! Every default value of the config and every upper bound of its durations, in one place.
//!
//! `check` prints the resolved values, so a default changed here shows there too. Must not
//! parse or validate anything: the other modules read these constants.

use crate::config::{Backlog, ReleaseOrder};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

// [store]
pub const STORE_URL: &str = "sqlite://feed2threads.db";
/// How long store errors may last before the daemon gives up (through its drain).
pub const STORE_MAX_OUTAGE: Duration = Duration::from_secs(10 * MINUTE);
/// How long an account's lease lasts without renewal (`store.lease`).
pub const STORE_LEASE: Duration = Duration::from_secs(30);
/// How long opening a PostgreSQL store waits for the server (`store.connect_timeout`).
pub const STORE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// [threads]
pub const API_BASE: &str = "https://graph.threads.net";
pub const AUTHORIZE_URL: &str = "https://threads.net/oauth/authorize";
pub const SCOPES: [&str; 2] = ["threads_basic", "threads_content_publish"];
/// Generous because a publish can take long.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(90);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

// [http]
pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

// [fetch]
pub const USER_AGENT: &str = concat!(
    "feed2threads/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feed2threads/feed2threads)"
);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
pub const CONCURRENCY: usize = 32;
pub const PER_HOST_CONCURRENCY: usize = 4;
pub const MAX_HINT_INTERVAL: Duration = Duration::from_secs(HOUR);
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * HOUR);

// [status]
pub const FEED_FAILING_AFTER: Duration = Duration::from_secs(6 * HOUR);
pub const HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(5 * MINUTE);
/// Posts the flood guard holds for longer than this wait for a human (`release`).
pub const HELD_AFTER: Duration = Duration::from_secs(30 * MINUTE);

// [[accounts]]
pub const MIN_INTERVAL: Duration = Duration::from_secs(MINUTE);
pub const TOKEN_REFRESH_WINDOW: Duration = Duration::from_secs(15 * DAY);
/// The API's own daily limit; `max_posts_per_day` may only lower it.
pub const MAX_POSTS_PER_DAY: i64 = 250;

// [[feeds]] and [defaults]
pub const EVERY: Duration = Duration::from_secs(5 * MINUTE);
/// Polling more often than this is impolite to the publisher.
pub const MIN_EVERY: Duration = Duration::from_secs(30);
pub const BACKLOG: Backlog = Backlog::Skip;
pub const MAX_AGE: Option<Duration> = Some(Duration::from_secs(2 * DAY));
pub const FLOOD_LIMIT: usize = 25;
pub const MAX_ITEMS: usize = 500;
pub const REVIEW: bool = false;
pub const RELEASE_ORDER: ReleaseOrder = ReleaseOrder::Oldest;

/// Upper bounds of durations, in seconds (const generics of `durations::up_to`). Each is
/// far above any sensible value and far below what would overflow the time arithmetic
/// (`Instant + d`, `now - max_age`), so a typo is a config error, not a panic at run time.
pub mod max {
    use super::{DAY, HOUR, MINUTE, WEEK};

    pub const STORE_MAX_OUTAGE: u64 = DAY;
    /// A longer lease only delays a failover.
    pub const STORE_LEASE: u64 = 10 * MINUTE;
    pub const STORE_CONNECT_TIMEOUT: u64 = 5 * MINUTE;
    pub const TIMEOUT: u64 = HOUR;
    pub const HINT_INTERVAL: u64 = WEEK;
    pub const BACKOFF: u64 = WEEK;
    pub const FEED_FAILING_AFTER: u64 = 30 * DAY;
    pub const HEARTBEAT_STALE_AFTER: u64 = DAY;
    pub const HELD_AFTER: u64 = 30 * DAY;
    pub const MIN_INTERVAL: u64 = WEEK;
    /// A long-lived token lives 60 days.
    pub const TOKEN_REFRESH_WINDOW: u64 = 60 * DAY;
    pub const EVERY: u64 = 30 * DAY;
    /// Ten years; `max_age = "off"` disables the check.
    pub const MAX_AGE: u64 = 520 * WEEK;
}

/// Lower bounds of durations, in seconds (const generics of `durations::between`).
pub mod min {
    /// A node renews a lease several times per lease and keeps a safety margin: below a
    /// second, a renewal's round trip to a busy database would take a good part of it.
    pub const STORE_LEASE: u64 = 1;
    pub const STORE_CONNECT_TIMEOUT: u64 = 1;
}
