//! When each feed is next due: `every` or cron, ±10 % jitter, exponential backoff after
//! failures (capped, never giving up), `Retry-After`, and the publisher's cache hints
//! (RSS ttl, Cache-Control max-age) which may stretch the interval up to a cap.
//!
//! Pure functions of their inputs; the random jitter is drawn by the caller-facing
//! wrappers so the arithmetic can be tested exactly.

use crate::config::FeedSchedule;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A hard ceiling on any wait a server can impose on us through `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What the publisher told us about caching on the last successful poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheHint {
    pub ttl: Option<Duration>,
    pub max_age: Option<Duration>,
}

/// The limits that bound a feed's schedule.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_hint_interval: Duration,
    pub max_backoff: Duration,
}

/// The feed's own interval from `now`: `every`, or the time to the next cron fire.
pub fn base_interval(schedule: &FeedSchedule, now: DateTime<Utc>) -> Duration {
    match schedule {
        FeedSchedule::Every(d) => *d,
        FeedSchedule::Cron { schedule, .. } => schedule
            .after(&now)
            .next()
            .and_then(|next| (next - now).to_std().ok())
            // A cron expression with no future fire time: fall back to hourly.
            .unwrap_or(Duration::from_secs(3600)),
    }
}

/// Interval after a successful poll. `jitter` in [-1, 1] scales ±10 % (every only: a cron
/// schedule names wall-clock times the operator chose).
pub fn success_interval(
    schedule: &FeedSchedule,
    now: DateTime<Utc>,
    hint: CacheHint,
    limits: Limits,
    jitter: f64,
) -> Duration {
    let base = base_interval(schedule, now);
    let hinted = hint
        .ttl
        .into_iter()
        .chain(hint.max_age)
        .max()
        .map(|h| h.min(limits.max_hint_interval));
    let interval = match hinted {
        Some(h) if h > base => h,
        _ => base,
    };
    match schedule {
        FeedSchedule::Every(_) => apply_jitter(interval, jitter),
        FeedSchedule::Cron { .. } => interval,
    }
}

/// Interval after the `failures`-th consecutive failure (1 = the first): the base interval
/// doubled per failure up to `max_backoff` (or the base interval if that is longer), never
/// shorter than what the server asked for with `Retry-After`.
pub fn failure_interval(
    schedule: &FeedSchedule,
    now: DateTime<Utc>,
    failures: u32,
    retry_after: Option<Duration>,
    limits: Limits,
    jitter: f64,
) -> Duration {
    let base = base_interval(schedule, now);
    let cap = limits.max_backoff.max(base);
    let factor = 2u32.saturating_pow(failures.min(30));
    let backoff = base.saturating_mul(factor).min(cap);
    let backoff = apply_jitter(backoff, jitter).min(cap);
    match retry_after {
        Some(wait) => backoff.max(wait.min(MAX_RETRY_AFTER)),
        None => backoff,
    }
}

/// `d` scaled by up to ±10 %; never panics (`Duration::mul_f64` would on overflow or NaN).
fn apply_jitter(d: Duration, jitter: f64) -> Duration {
    let j = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(-1.0, 1.0) * 0.1
    };
    Duration::try_from_secs_f64(d.as_secs_f64() * (1.0 + j)).unwrap_or(d)
}

/// A uniformly random jitter in [-1, 1].
pub fn random_jitter() -> f64 {
    rand::random_range(-1.0..=1.0)
}

/// `now + d` as unix seconds (rounded up, so "due" never comes early), saturating: a wait
/// too long to represent is "never", not a panic.
pub fn at(now: DateTime<Utc>, d: Duration) -> i64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    now.timestamp()
        .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const LIMITS: Limits = Limits {
        max_hint_interval: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(6 * 3600),
    };

    fn every(secs: u64) -> FeedSchedule {
        FeedSchedule::Every(Duration::from_secs(secs))
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:02:30Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn jitter_is_within_ten_percent() {
        let s = every(300);
        let lo = success_interval(&s, now(), CacheHint::default(), LIMITS, -1.0);
        let hi = success_interval(&s, now(), CacheHint::default(), LIMITS, 1.0);
        assert_eq!(lo, Duration::from_secs(270));
        assert_eq!(hi, Duration::from_secs(330));
        for _ in 0..100 {
            let d = success_interval(&s, now(), CacheHint::default(), LIMITS, random_jitter());
            assert!(d >= lo && d <= hi, "{d:?}");
        }
    }

    #[test]
    fn cache_hints_stretch_up_to_the_cap() {
        let s = every(300);
        let ttl = CacheHint {
            ttl: Some(Duration::from_secs(1800)),
            max_age: None,
        };
        assert_eq!(
            success_interval(&s, now(), ttl, LIMITS, 0.0),
            Duration::from_secs(1800)
        );
        let huge = CacheHint {
            ttl: None,
            max_age: Some(Duration::from_secs(86_400)),
        };
        assert_eq!(
            success_interval(&s, now(), huge, LIMITS, 0.0),
            Duration::from_secs(3600)
        );
        let short = CacheHint {
            ttl: Some(Duration::from_secs(60)),
            max_age: None,
        };
        assert_eq!(
            success_interval(&s, now(), short, LIMITS, 0.0),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn backoff_doubles_caps_and_never_gives_up() {
        let s = every(300);
        let d = |n| failure_interval(&s, now(), n, None, LIMITS, 0.0).as_secs();
        assert_eq!(d(1), 600);
        assert_eq!(d(2), 1200);
        assert_eq!(d(3), 2400);
        assert_eq!(d(7), 6 * 3600);
        assert_eq!(d(1000), 6 * 3600);
        // jitter never pushes past the cap
        assert!(failure_interval(&s, now(), 50, None, LIMITS, 1.0) <= LIMITS.max_backoff);
    }

    #[test]
    fn retry_after_only_lengthens() {
        let s = every(300);
        let long = failure_interval(&s, now(), 1, Some(Duration::from_secs(7200)), LIMITS, 0.0);
        assert_eq!(long, Duration::from_secs(7200));
        let short = failure_interval(&s, now(), 1, Some(Duration::from_secs(5)), LIMITS, 0.0);
        assert_eq!(short, Duration::from_secs(600));
        let absurd = failure_interval(
            &s,
            now(),
            1,
            Some(Duration::from_secs(10 * 86_400)),
            LIMITS,
            0.0,
        );
        assert_eq!(absurd, MAX_RETRY_AFTER);
    }

    #[test]
    fn cron_runs_at_its_next_fire_time() {
        let s = FeedSchedule::Cron {
            expression: "0 */5 * * * *".into(),
            schedule: Box::new(cron::Schedule::from_str("0 */5 * * * *").unwrap()),
        };
        // 10:02:30 → next fire 10:05:00
        assert_eq!(base_interval(&s, now()), Duration::from_secs(150));
        assert_eq!(
            success_interval(&s, now(), CacheHint::default(), LIMITS, 1.0),
            Duration::from_secs(150)
        );
    }

    #[test]
    fn absurd_inputs_never_panic() {
        // Hints and Retry-After come from the publisher's server; a schedule built in code
        // (not from the bounded config) may be anything.
        let huge = CacheHint {
            ttl: Some(Duration::MAX),
            max_age: Some(Duration::MAX),
        };
        let s = every(300);
        assert_eq!(
            success_interval(&s, now(), huge, LIMITS, 1.0),
            LIMITS.max_hint_interval.mul_f64(1.1)
        );
        let retry = failure_interval(&s, now(), u32::MAX, Some(Duration::MAX), LIMITS, 1.0);
        assert_eq!(retry, MAX_RETRY_AFTER);
        let forever = FeedSchedule::Every(Duration::MAX);
        assert_eq!(
            success_interval(&forever, now(), CacheHint::default(), LIMITS, 1.0),
            Duration::MAX
        );
        assert_eq!(
            failure_interval(&forever, now(), 3, None, LIMITS, f64::NAN),
            Duration::MAX
        );
        assert_eq!(
            apply_jitter(Duration::from_secs(100), f64::NAN),
            Duration::from_secs(100)
        );
        assert_eq!(at(now(), Duration::MAX), i64::MAX);
        assert_eq!(
            at(now(), Duration::from_millis(1500)),
            now().timestamp() + 2
        );
    }

    #[test]
    fn long_base_interval_is_not_shortened_by_the_cap() {
        let s = every(12 * 3600);
        assert_eq!(
            failure_interval(&s, now(), 3, None, LIMITS, 0.0),
            Duration::from_secs(12 * 3600)
        );
    }
}
