//! What needs a human, one [`Problem`] per reason, each with the command that fixes it:
//! a paused account, a failed post, posts the flood guard has held for longer than
//! `status.held_after`, a feed failing for longer than `status.feed_failing_after` or one
//! that never once succeeded in [`NEVER_SUCCEEDED_AFTER`] polls, a stale heartbeat, and what
//! the daemon's `/healthz` reports (a store outage).
//!
//! Pure: it reads a [`Snapshot`] and the `[status]` settings, so each reason and its
//! message are unit-tested without a store. Must not read anything or print.

use super::gather::{AccountView, FeedView, Snapshot};
use crate::config::StatusSettings;
use crate::human::{relative, shell_word, span};
use std::fmt;
use std::time::Duration;

/// A feed that failed this many polls in a row without ever succeeding needs a look at
/// once: a new feed answering 404 is a typo, not an outage to wait out.
pub const NEVER_SUCCEEDED_AFTER: i64 = 3;

/// What kind of thing needs a human (the JSON's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccountPaused,
    PostFailed,
    PostsHeld,
    FeedFailing,
    FeedNeverSucceeded,
    DaemonNeverRan,
    HeartbeatStale,
    DaemonUnhealthy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AccountPaused => "account_paused",
            Kind::PostFailed => "post_failed",
            Kind::PostsHeld => "posts_held",
            Kind::FeedFailing => "feed_failing",
            Kind::FeedNeverSucceeded => "feed_never_succeeded",
            Kind::DaemonNeverRan => "daemon_never_ran",
            Kind::HeartbeatStale => "heartbeat_stale",
            Kind::DaemonUnhealthy => "daemon_unhealthy",
        }
    }
}

/// One reason a human is needed: what is wrong, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    pub what: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fix: {}", self.what, self.fix)
    }
}

/// Every reason a human is needed, accounts first (posts wait on them), then feeds, then
/// the daemon.
pub(super) fn assess(snapshot: &Snapshot, limits: &StatusSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    for account in &snapshot.accounts {
        account_problems(account, &mut problems);
    }
    for feed in &snapshot.feeds {
        problems.extend(held_problem(feed, snapshot.now, limits.held_after));
        problems.extend(feed_problem(feed, snapshot.now, limits.feed_failing_after));
    }
    problems.extend(daemon_problems(snapshot, limits.heartbeat_stale_after));
    problems
}

fn account_problems(account: &AccountView, problems: &mut Vec<Problem>) {
    let name = &account.name;
    if let Some(reason) = &account.paused {
        problems.push(Problem {
            kind: Kind::AccountPaused,
            what: format!("account {name} paused: {reason}"),
            fix: format!("feed2threads auth {}", shell_word(name)),
        });
    }
    for post in &account.failed {
        problems.push(Problem {
            kind: Kind::PostFailed,
            what: format!(
                "post {} of account {name} failed (feed {}, \"{}\"): {}",
                post.id, post.feed, post.excerpt, post.error
            ),
            fix: format!(
                "feed2threads queue retry {id} to try it again, or feed2threads queue drop {id}",
                id = post.id
            ),
        });
    }
    let unlisted = account.failed_total - i64::try_from(account.failed.len()).unwrap_or(0);
    if unlisted > 0 {
        problems.push(Problem {
            kind: Kind::PostFailed,
            what: format!("account {name} has {unlisted} more failed post(s)"),
            fix: format!(
                "feed2threads queue list {} shows them; retry or drop each",
                shell_word(name)
            ),
        });
    }
}

/// Posts the flood guard has held for longer than `held_after`.
fn held_problem(feed: &FeedView, now: i64, held_after: Duration) -> Option<Problem> {
    let held = feed.held?;
    let lasted = age(held.since, now);
    if lasted <= held_after {
        return None;
    }
    Some(Problem {
        kind: Kind::PostsHeld,
        what: format!(
            "feed {}: {} post(s) held by the flood guard for {} (status.held_after is {})",
            feed.name,
            held.posts,
            span(lasted),
            humantime::format_duration(held_after)
        ),
        fix: format!(
            "feed2threads release {} to publish them, or feed2threads queue drop ID for each one not to",
            shell_word(&feed.name)
        ),
    })
}

/// A feed that never succeeded in [`NEVER_SUCCEEDED_AFTER`] polls, or has failed for
/// longer than `failing_after`.
fn feed_problem(feed: &FeedView, now: i64, failing_after: Duration) -> Option<Problem> {
    let row = &feed.row;
    let failures = row.consecutive_failures;
    let why = match (&row.last_result, &feed.last_error) {
        (Some(class), Some(error)) => format!("{class}: {error}"),
        (Some(class), None) => class.clone(),
        (None, Some(error)) => error.clone(),
        (None, None) => "no reason recorded".into(),
    };
    let fix = format!(
        "feed2threads preview {} shows the error; correct the feed's url in the config (or remove the feed)",
        shell_word(&feed.name)
    );
    if row.last_success_at.is_none() && failures >= NEVER_SUCCEEDED_AFTER {
        return Some(Problem {
            kind: Kind::FeedNeverSucceeded,
            what: format!(
                "feed {} has never once been fetched: {failures} polls failed, the last {} ({why})",
                feed.name,
                row.last_polled_at
                    .map_or_else(|| "at an unknown time".into(), |t| relative(t, now)),
            ),
            fix,
        });
    }
    let since = row.failing_since?;
    let lasted = age(since, now);
    if lasted <= failing_after {
        return None;
    }
    Some(Problem {
        kind: Kind::FeedFailing,
        what: format!(
            "feed {} failing for {} ({failures} failed poll{} in a row; {why})",
            feed.name,
            span(lasted),
            if failures == 1 { "" } else { "s" }
        ),
        fix,
    })
}

fn daemon_problems(snapshot: &Snapshot, stale_after: Duration) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(d) = &snapshot.daemon
        && d.http_status != 200
    {
        let fix = if d.message.contains("store") {
            "the daemon retries by itself: free disk space, or stop what holds the store's \
             lock (its log says which error); restart it if the outage outlasted store.max_outage"
        } else {
            "see the daemon's log; restart it: systemctl restart feed2threads"
        };
        problems.push(Problem {
            kind: Kind::DaemonUnhealthy,
            what: format!("the daemon says: {}", d.message),
            fix: fix.to_string(),
        });
    }
    match snapshot.heartbeat {
        None => problems.push(Problem {
            kind: Kind::DaemonNeverRan,
            what: "the daemon has not run on this store yet".into(),
            fix: "start it: systemctl start feed2threads, or feed2threads run".into(),
        }),
        Some(beat) if age(beat, snapshot.now) > stale_after => problems.push(Problem {
            kind: Kind::HeartbeatStale,
            what: format!(
                "the daemon's heartbeat is {} old (status.heartbeat_stale_after is {}): it is not running, or stuck",
                span(age(beat, snapshot.now)),
                humantime::format_duration(stale_after)
            ),
            fix: "start it: systemctl start feed2threads (or feed2threads run); if it runs, \
                  see its log and restart it"
                .into(),
        }),
        Some(_) => {}
    }
    problems
}

/// How long ago `since` was, as of `now`; zero if the clock went back.
fn age(since: i64, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(now.saturating_sub(since)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::status::gather::{DaemonHealth, FailedPost, LiveQuota, QuotaView};
    use crate::store::FeedRow;
    use crate::store::attention::HeldPosts;
    use crate::store::outbox::OutboxCounts;

    const NOW: i64 = 1_800_000_000;
    const MIN: i64 = 60;
    const HOUR: i64 = 3600;

    fn limits() -> StatusSettings {
        StatusSettings {
            feed_failing_after: Duration::from_secs(6 * 3600),
            heartbeat_stale_after: Duration::from_secs(300),
            held_after: Duration::from_secs(1800),
        }
    }

    fn feed(name: &str) -> FeedView {
        FeedView {
            name: name.into(),
            url: format!("https://example.org/{name}.xml"),
            last_error: None,
            row: FeedRow {
                id: 1,
                name: name.into(),
                url: String::new(),
                fetch_url: String::new(),
                account_id: 1,
                etag: None,
                last_modified: None,
                body_hash: None,
                baseline_done: true,
                last_polled_at: Some(NOW - 60),
                last_success_at: Some(NOW - 60),
                last_result: Some("not_modified".into()),
                last_error: None,
                failing_since: None,
                consecutive_failures: 0,
                next_check_at: NOW + 240,
                items_seen: 12,
                identity_rules: 2,
            },
            held_items: 0,
            held: None,
        }
    }

    fn account(name: &str) -> AccountView {
        AccountView {
            owner: None,
            name: name.into(),
            username: None,
            paused: None,
            token_expires_at: None,
            has_token: true,
            counts: OutboxCounts::default(),
            waits: Default::default(),
            failed: Vec::new(),
            failed_total: 0,
            next_publish: None,
            quota: QuotaView {
                ledger_24h: 0,
                live: LiveQuota::NotAsked("test".into()),
                daemon: None,
                max_per_day: None,
            },
        }
    }

    fn snapshot(feeds: Vec<FeedView>, accounts: Vec<AccountView>) -> Snapshot {
        Snapshot {
            now: NOW,
            feeds,
            accounts,
            waiting: Vec::new(),
            heartbeat: Some(NOW - 10),
            daemon: None,
        }
    }

    fn lines(s: &Snapshot) -> Vec<String> {
        assess(s, &limits())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn all_well_is_no_problem() {
        let s = snapshot(vec![feed("world")], vec![account("desk")]);
        assert_eq!(lines(&s), Vec::<String>::new());
    }

    #[test]
    fn a_paused_account_names_auth() {
        let mut a = account("desk");
        a.paused = Some("Threads rejects the access token (190)".into());
        let problems = assess(&snapshot(vec![], vec![a]), &limits());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, Kind::AccountPaused);
        assert_eq!(
            problems[0].to_string(),
            "account desk paused: Threads rejects the access token (190); fix: feed2threads auth desk"
        );
    }

    #[test]
    fn each_failed_post_names_retry_and_drop_until_it_is_retried_or_dropped() {
        let mut a = account("desk");
        a.failed = vec![FailedPost {
            id: 41,
            feed: "world".into(),
            excerpt: "Storm closes the harbour".into(),
            error: "Threads refused to publish: (#100) invalid link".into(),
            failed_at: NOW - 5 * MIN,
        }];
        a.failed_total = 1;
        assert_eq!(
            lines(&snapshot(vec![], vec![a])),
            [
                "post 41 of account desk failed (feed world, \"Storm closes the harbour\"): \
                 Threads refused to publish: (#100) invalid link; fix: feed2threads queue retry 41 \
                 to try it again, or feed2threads queue drop 41"
            ]
        );
        // Many failed posts: the newest are listed, the rest counted with where to see them.
        let mut a = account("sports desk");
        a.failed = (1..=5)
            .map(|id| FailedPost {
                id,
                feed: "f".into(),
                excerpt: "x".into(),
                error: "e".into(),
                failed_at: NOW,
            })
            .collect();
        a.failed_total = 12;
        let l = lines(&snapshot(vec![], vec![a]));
        assert_eq!(l.len(), 6);
        assert_eq!(
            l[5],
            "account sports desk has 7 more failed post(s); fix: feed2threads queue list \
             'sports desk' shows them; retry or drop each"
        );
    }

    #[test]
    fn posts_held_longer_than_held_after_name_release() {
        let mut f = feed("world");
        f.held = Some(HeldPosts {
            posts: 30,
            since: NOW - 29 * MIN,
        });
        assert!(lines(&snapshot(vec![f], vec![])).is_empty(), "29 min < 30m");
        let mut f = feed("world");
        f.held = Some(HeldPosts {
            posts: 30,
            since: NOW - 2 * HOUR,
        });
        assert_eq!(
            lines(&snapshot(vec![f], vec![])),
            [
                "feed world: 30 post(s) held by the flood guard for 2 h (status.held_after \
                 is 30m); fix: feed2threads release world to publish them, or feed2threads queue \
                 drop ID for each one not to"
            ]
        );
    }

    #[test]
    fn a_feed_failing_longer_than_feed_failing_after() {
        let mut f = feed("down");
        f.row.last_result = Some("server_error".into());
        f.last_error = Some("HTTP 500 Internal Server Error".into());
        f.row.failing_since = Some(NOW - 5 * HOUR);
        f.row.consecutive_failures = 20;
        assert!(lines(&snapshot(vec![f], vec![])).is_empty(), "5 h < 6h");
        let mut f = feed("down");
        f.row.last_result = Some("server_error".into());
        f.last_error = Some("HTTP 500 Internal Server Error".into());
        f.row.failing_since = Some(NOW - 7 * HOUR);
        f.row.consecutive_failures = 25;
        let problems = assess(&snapshot(vec![f], vec![]), &limits());
        assert_eq!(problems[0].kind, Kind::FeedFailing);
        assert_eq!(
            problems[0].to_string(),
            "feed down failing for 7 h (25 failed polls in a row; server_error: HTTP 500 Internal \
             Server Error); fix: feed2threads preview down shows the error; correct the feed's \
             url in the config (or remove the feed)"
        );
    }

    #[test]
    fn a_new_feed_that_never_succeeded_is_red_after_three_polls_not_six_hours() {
        let new = |failures| {
            let mut f = feed("new desk");
            f.row.last_success_at = None;
            f.row.baseline_done = false;
            f.row.last_result = Some("http_status".into());
            f.last_error = Some("HTTP 404 Not Found".into());
            f.row.failing_since = Some(NOW - 15 * MIN);
            f.row.last_polled_at = Some(NOW - 2 * MIN);
            f.row.consecutive_failures = failures;
            f
        };
        assert!(lines(&snapshot(vec![new(2)], vec![])).is_empty());
        let problems = assess(&snapshot(vec![new(3)], vec![]), &limits());
        assert_eq!(problems.len(), 1, "one line, not also `failing`");
        assert_eq!(problems[0].kind, Kind::FeedNeverSucceeded);
        assert_eq!(
            problems[0].to_string(),
            "feed new desk has never once been fetched: 3 polls failed, the last 2 min ago \
             (http_status: HTTP 404 Not Found); fix: feed2threads preview 'new desk' shows the \
             error; correct the feed's url in the config (or remove the feed)"
        );
    }

    #[test]
    fn the_daemon_never_ran_stale_or_unhealthy() {
        let mut s = snapshot(vec![], vec![]);
        s.heartbeat = None;
        assert_eq!(
            lines(&s),
            [
                "the daemon has not run on this store yet; fix: start it: systemctl start \
              feed2threads, or feed2threads run"
            ]
        );
        s.heartbeat = Some(NOW - 12 * MIN);
        let problems = assess(&s, &limits());
        assert_eq!(problems[0].kind, Kind::HeartbeatStale);
        assert_eq!(
            problems[0].what,
            "the daemon's heartbeat is 12 min old (status.heartbeat_stale_after is 5m): it is \
             not running, or stuck"
        );
        s.heartbeat = Some(NOW - 4 * MIN);
        assert!(lines(&s).is_empty());
        s.daemon = Some(DaemonHealth {
            http_status: 503,
            message: "unhealthy: the store has been failing for 2m (last while writing the \
                      heartbeat: database or disk is full)"
                .into(),
        });
        let problems = assess(&s, &limits());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, Kind::DaemonUnhealthy);
        assert!(
            problems[0]
                .to_string()
                .starts_with("the daemon says: unhealthy: the store has been failing for 2m"),
            "{}",
            problems[0]
        );
        assert!(problems[0].fix.contains("free disk space"));
    }
}
