//! Quota and pacing: may this account publish now, and if not, until when must it wait.
//!
//! The quota is the API's `threads_publishing_limit` (`quota_total` posts per moving
//! `quota_duration`) combined with our own ledger of publishes (the `published_at` of the
//! account's outbox rows), so a post we made since the last look at the API counts at
//! once, and `max_posts_per_day` may lower the limit further. When the quota is spent the
//! answer is a wake-up time (when the oldest publish leaves the window), never "ask
//! again soon": a spent quota costs one API call per wake-up, not a polling storm.
//! Pacing (`min_interval`) is a plain in-memory clock seeded from the ledger.
//!
//! This module decides; it makes no API calls and no store queries (the worker feeds it
//! what they return), so the arithmetic is unit-tested without I/O.

use crate::threads::PublishingLimit;
use std::time::{Duration, Instant};

/// What the API said about the quota, and when (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteQuota {
    pub usage: i64,
    pub total: i64,
    /// Window length in seconds.
    pub duration: i64,
    pub fetched_at: i64,
}

/// The API's documented limit, used until it has told us its own.
pub const DEFAULT_TOTAL: i64 = 250;
/// The API's documented window.
pub const DEFAULT_WINDOW: i64 = 86_400;
/// Replies per moving 24 h (threads-api.md §3.5), a quota of its own.
pub const REPLY_QUOTA: i64 = 1000;
/// The longest window we believe from the API: a larger `quota_duration` would push wake-up
/// times past what an `Instant` holds.
pub const MAX_WINDOW: i64 = 7 * DEFAULT_WINDOW;

/// Whether publishing may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open {
        remaining: i64,
    },
    Closed {
        /// Unix seconds at which a publish is expected to be allowed again.
        until: i64,
        used: i64,
        limit: i64,
        /// Which limit is spent, for the log line.
        why: &'static str,
    },
}

/// The account's quota as this worker knows it.
#[derive(Debug, Clone)]
pub struct Quota {
    remote: Option<RemoteQuota>,
    fetched: Option<Instant>,
    /// Look at the API again at the next check (after the quota was found spent).
    force_refresh: bool,
    refresh_every: Duration,
    recheck_unknown: i64,
    max_per_day: Option<u32>,
}

impl Quota {
    /// `refresh_every`: how old the API's answer may get; `recheck_unknown`: how long to
    /// sleep when the API counts posts our ledger does not know (made by another app), so
    /// we cannot tell when they leave the window.
    pub fn new(
        refresh_every: Duration,
        recheck_unknown: Duration,
        max_per_day: Option<u32>,
    ) -> Self {
        Quota {
            remote: None,
            fetched: None,
            force_refresh: false,
            refresh_every,
            recheck_unknown: secs(recheck_unknown).max(1),
            max_per_day,
        }
    }

    /// Whether the API should be asked before the next decision.
    pub fn needs_refresh(&self) -> bool {
        self.force_refresh
            || self
                .fetched
                .is_none_or(|at| at.elapsed() >= self.refresh_every)
    }

    /// The API's answer.
    pub fn set_remote(&mut self, limit: &PublishingLimit, now: i64) {
        self.remote = Some(RemoteQuota {
            usage: i64::from(limit.quota_usage),
            total: i64::from(limit.quota_total),
            duration: i64::try_from(limit.quota_duration)
                .unwrap_or(MAX_WINDOW)
                .clamp(1, MAX_WINDOW),
            fetched_at: now,
        });
        self.fetched = Some(Instant::now());
        self.force_refresh = false;
    }

    /// The API could not be asked: carry on with what we know and ask again after the
    /// usual interval rather than at every post.
    pub fn refresh_failed(&mut self) {
        self.fetched = Some(Instant::now());
        self.force_refresh = false;
    }

    /// `threads_publish` answered "quota spent": believe it over our own count.
    pub fn spent_by_api(&mut self, now: i64) {
        let (total, duration) = self
            .remote
            .map_or((DEFAULT_TOTAL, DEFAULT_WINDOW), |r| (r.total, r.duration));
        self.remote = Some(RemoteQuota {
            usage: total,
            total,
            duration,
            fetched_at: now,
        });
        self.fetched = Some(Instant::now());
    }

    pub fn remote(&self) -> Option<RemoteQuota> {
        self.remote
    }

    /// How far back the ledger must reach for [`Quota::check`].
    pub fn ledger_window(&self) -> i64 {
        let api = self.remote.map_or(DEFAULT_WINDOW, |r| r.duration);
        if self.max_per_day.is_some() {
            api.max(DEFAULT_WINDOW)
        } else {
            api
        }
    }

    /// The decision, given the ledger (publish times, ascending, covering at least
    /// [`Quota::ledger_window`]). A closed gate asks for a fresh look at the API on the
    /// next check, which comes at the wake-up time.
    pub fn check(&mut self, now: i64, ledger: &[i64]) -> Gate {
        let gate = evaluate(
            now,
            self.remote.as_ref(),
            ledger,
            self.max_per_day,
            self.recheck_unknown,
        );
        if matches!(gate, Gate::Closed { .. }) {
            self.force_refresh = true;
        }
        gate
    }
}

/// The pure decision. `ledger` holds our publish times (unix seconds, ascending).
pub fn evaluate(
    now: i64,
    remote: Option<&RemoteQuota>,
    ledger: &[i64],
    max_per_day: Option<u32>,
    recheck_unknown: i64,
) -> Gate {
    let duration = remote.map_or(DEFAULT_WINDOW, |r| r.duration.clamp(1, MAX_WINDOW));
    let total = remote.map_or(DEFAULT_TOTAL, |r| r.total);
    let in_window: Vec<i64> = ledger
        .iter()
        .copied()
        .filter(|t| *t > now.saturating_sub(duration))
        .collect();
    let ours = len(&in_window);
    // The API's count plus what we published since it counted (same-second publishes
    // may be counted twice: erring on the safe side).
    let theirs = remote.map_or(0, |r| {
        let since = ledger.iter().filter(|t| **t >= r.fetched_at).count();
        r.usage
            .saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
    });
    let used = ours.max(theirs);
    let mut remaining = total.saturating_sub(used);
    if remaining <= 0 {
        // `k` publishes must leave the window before one more is allowed.
        let k = used.saturating_sub(total).saturating_add(1);
        let from_ledger = usize::try_from(k - 1)
            .ok()
            .and_then(|i| in_window.get(i))
            .map(|t| t.saturating_add(duration));
        let until = if theirs > ours {
            // The API knows posts we don't (another app, a lost answer): we cannot tell
            // when they leave, so look again after a while, or when ours leave if sooner.
            let recheck = now.saturating_add(recheck_unknown);
            from_ledger.map_or(recheck, |t| t.min(recheck))
        } else {
            from_ledger.unwrap_or(now.saturating_add(recheck_unknown))
        };
        return Gate::Closed {
            until: until.max(now + 1),
            used,
            limit: total,
            why: "publishing quota",
        };
    }
    if let Some(max) = max_per_day {
        let max = i64::from(max);
        let day: Vec<i64> = ledger
            .iter()
            .copied()
            .filter(|t| *t > now - DEFAULT_WINDOW)
            .collect();
        let n = len(&day);
        if n >= max {
            let k = n - max + 1;
            let until = usize::try_from(k - 1)
                .ok()
                .and_then(|i| day.get(i))
                .map_or(now + DEFAULT_WINDOW, |t| t + DEFAULT_WINDOW);
            return Gate::Closed {
                until: until.max(now + 1),
                used: n,
                limit: max,
                why: "max_posts_per_day",
            };
        }
        remaining = remaining.min(max - n);
    }
    Gate::Open { remaining }
}

/// The reply quota, from our ledger of published replies (unix seconds, ascending): the
/// API's own count of replies needs a scope the daemon does not ask for, and our replies
/// are also counted against the publishing quota, which is checked first.
pub fn reply_gate(now: i64, ledger: &[i64]) -> Gate {
    let in_window: Vec<i64> = ledger
        .iter()
        .copied()
        .filter(|t| *t > now.saturating_sub(DEFAULT_WINDOW))
        .collect();
    let used = len(&in_window);
    if used < REPLY_QUOTA {
        return Gate::Open {
            remaining: REPLY_QUOTA - used,
        };
    }
    let k = used - REPLY_QUOTA + 1;
    let until = usize::try_from(k - 1)
        .ok()
        .and_then(|i| in_window.get(i))
        .map_or(now + DEFAULT_WINDOW, |t| t + DEFAULT_WINDOW);
    Gate::Closed {
        until: until.max(now + 1),
        used,
        limit: REPLY_QUOTA,
        why: "reply quota",
    }
}

fn len<T>(v: &[T]) -> i64 {
    i64::try_from(v.len()).unwrap_or(i64::MAX)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `min_interval` between two publishes of one account.
#[derive(Debug, Clone)]
pub struct Pacer {
    min_interval: Duration,
    last: Option<Instant>,
}

impl Pacer {
    pub fn new(min_interval: Duration) -> Self {
        Pacer {
            min_interval,
            last: None,
        }
    }

    /// Seeds the clock from the ledger's latest publish (unix seconds) after a start.
    pub fn seed(&mut self, last_published: Option<i64>, now: i64) {
        if let Some(at) = last_published {
            let ago = Duration::from_secs(u64::try_from(now - at).unwrap_or(0));
            self.last = Some(Instant::now().checked_sub(ago).unwrap_or_else(Instant::now));
        }
    }

    /// A post was published just now.
    pub fn published(&mut self) {
        self.last = Some(Instant::now());
    }

    /// When the next publish may happen, if that is in the future. An interval too long
    /// for an `Instant` waits a year (the config bounds it far below that).
    pub fn wait_until(&self) -> Option<Instant> {
        let last = self.last?;
        let at = last
            .checked_add(self.min_interval)
            .or_else(|| last.checked_add(Duration::from_secs(365 * 86_400)))
            .unwrap_or(last);
        (at > Instant::now()).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn remote(usage: i64, total: i64, fetched_at: i64) -> RemoteQuota {
        RemoteQuota {
            usage,
            total,
            duration: 86_400,
            fetched_at,
        }
    }

    #[test]
    fn open_with_room() {
        let r = remote(1, 5, NOW - 60);
        assert_eq!(
            evaluate(NOW, Some(&r), &[NOW - 30], None, 1800),
            Gate::Open { remaining: 3 }
        );
    }

    #[test]
    fn spent_by_our_own_posts_waits_for_the_oldest_to_leave() {
        let r = remote(0, 3, NOW - 1000);
        let ledger = [NOW - 900, NOW - 500, NOW - 100];
        match evaluate(NOW, Some(&r), &ledger, None, 1800) {
            Gate::Closed { until, used, .. } => {
                assert_eq!(used, 3);
                assert_eq!(until, NOW - 900 + 86_400);
            }
            g => panic!("{g:?}"),
        }
    }

    #[test]
    fn posts_we_do_not_know_mean_recheck_later() {
        let r = remote(3, 3, NOW - 10);
        match evaluate(NOW, Some(&r), &[], None, 1800) {
            Gate::Closed { until, .. } => assert_eq!(until, NOW + 1800),
            g => panic!("{g:?}"),
        }
        // One of ours is in there and leaves sooner than the recheck.
        let r = remote(3, 3, NOW);
        let ledger = [NOW - 86_400 + 60];
        match evaluate(NOW, Some(&r), &ledger, None, 1800) {
            Gate::Closed { until, .. } => assert_eq!(until, NOW + 60),
            g => panic!("{g:?}"),
        }
    }

    #[test]
    fn ledger_beats_a_stale_remote_count() {
        // The API said 0 an hour ago; we published twice since.
        let r = remote(0, 2, NOW - 3600);
        let ledger = [NOW - 1800, NOW - 60];
        assert!(matches!(
            evaluate(NOW, Some(&r), &ledger, None, 1800),
            Gate::Closed { used: 2, .. }
        ));
        // Old publishes outside the window do not count.
        let ledger = [NOW - 90_000, NOW - 60];
        let r = remote(1, 2, NOW - 30);
        assert_eq!(
            evaluate(NOW, Some(&r), &ledger, None, 1800),
            Gate::Open { remaining: 1 }
        );
    }

    #[test]
    fn max_posts_per_day_lowers_the_limit() {
        let ledger = [NOW - 5000, NOW - 100];
        match evaluate(NOW, None, &ledger, Some(2), 1800) {
            Gate::Closed {
                until, limit, why, ..
            } => {
                assert_eq!(limit, 2);
                assert_eq!(why, "max_posts_per_day");
                assert_eq!(until, NOW - 5000 + 86_400);
            }
            g => panic!("{g:?}"),
        }
        assert_eq!(
            evaluate(NOW, None, &ledger, Some(5), 1800),
            Gate::Open { remaining: 3 }
        );
    }

    #[test]
    fn closed_gate_forces_one_refresh() {
        let mut q = Quota::new(Duration::from_secs(600), Duration::from_secs(1800), None);
        assert!(q.needs_refresh());
        q.set_remote(
            &PublishingLimit {
                quota_usage: 0,
                quota_total: 1,
                quota_duration: 86_400,
            },
            NOW,
        );
        assert!(!q.needs_refresh());
        assert!(matches!(q.check(NOW, &[NOW]), Gate::Closed { .. }));
        assert!(q.needs_refresh());
        q.spent_by_api(NOW);
        assert_eq!(q.remote().map(|r| r.usage), Some(1));
    }

    #[test]
    fn absurd_api_answers_never_panic() {
        // A quota window of i64::MAX seconds, counts at their extremes.
        let r = RemoteQuota {
            usage: i64::MAX,
            total: i64::MIN,
            duration: i64::MAX,
            fetched_at: NOW - 10,
        };
        match evaluate(NOW, Some(&r), &[NOW - 5, NOW - 1], Some(1), i64::MAX) {
            Gate::Closed { until, .. } => assert!(until > NOW),
            other => panic!("{other:?}"),
        }
        // set_remote keeps the window within what wake-up times can hold.
        let mut q = Quota::new(Duration::from_secs(600), Duration::from_secs(1800), None);
        q.set_remote(
            &PublishingLimit {
                quota_usage: 250,
                quota_total: 250,
                quota_duration: u64::MAX,
            },
            NOW,
        );
        assert_eq!(q.remote().map(|r| r.duration), Some(MAX_WINDOW));
        match q.check(NOW, &[NOW - 60]) {
            Gate::Closed { until, .. } => assert!(until <= NOW + MAX_WINDOW),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_reply_quota_counts_our_replies_of_the_last_day() {
        let mut ledger: Vec<i64> = (0..1000).map(|i| NOW - 80_000 + i).collect();
        match reply_gate(NOW, &ledger) {
            Gate::Closed { until, why, .. } => {
                assert_eq!(why, "reply quota");
                assert_eq!(until, NOW - 80_000 + 86_400);
            }
            g => panic!("{g:?}"),
        }
        ledger.remove(0);
        assert_eq!(reply_gate(NOW, &ledger), Gate::Open { remaining: 1 });
    }

    #[test]
    fn pacer_never_overflows() {
        let mut p = Pacer::new(Duration::MAX);
        p.published();
        assert!(p.wait_until().is_some());
    }

    #[test]
    fn pacer_spaces_publishes() {
        let mut p = Pacer::new(Duration::from_secs(60));
        assert!(p.wait_until().is_none());
        p.published();
        assert!(p.wait_until().is_some());
        let mut p = Pacer::new(Duration::from_secs(60));
        p.seed(Some(NOW - 3600), NOW);
        assert!(p.wait_until().is_none());
        p.seed(Some(NOW - 10), NOW);
        assert!(p.wait_until().is_some());
    }
}
