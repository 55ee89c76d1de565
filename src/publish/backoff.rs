//! Exponential backoff with jitter and a cap, for every retry path of the publisher.
//!
//! Owns only the arithmetic: how long to wait before the next attempt. It never sleeps
//! (the worker does, so it can stop waiting at shutdown) and knows nothing of errors.

use rand::RngExt;
use std::time::Duration;

/// Delays `base, 2·base, 4·base, …` up to `cap`, each drawn from the upper half of its
/// step (`[d/2, d]`) so that workers that failed together do not retry together.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call counts one failure.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.ceiling(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        jitter_down(step)
    }

    /// The undrawn ceiling of attempt `n` (0-based): `base · 2^n`, capped.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(30));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Failures counted since the last reset.
    pub fn failures(&self) -> u32 {
        self.attempt
    }

    /// Success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A delay drawn uniformly from `[d/2, d]`.
pub fn jitter_down(d: Duration) -> Duration {
    if d.is_zero() {
        return d;
    }
    let half = d / 2;
    let spread = d.saturating_sub(half).as_secs_f64();
    half + Duration::from_secs_f64(rand::rng().random_range(0.0..=spread))
}

/// A delay drawn uniformly from `[d, 1.25·d]`: for waits whose floor matters (Meta's
/// advice to wait at least so long) but which should not line up across workers.
pub fn jitter_up(d: Duration) -> Duration {
    if d.is_zero() {
        return d;
    }
    let extra = d.as_secs_f64() / 4.0;
    d + Duration::from_secs_f64(rand::rng().random_range(0.0..=extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        let mut last_ceiling = Duration::ZERO;
        for n in 0..10 {
            let ceiling = b.ceiling(n);
            let d = b.next_delay();
            assert!(
                d <= ceiling && d >= ceiling / 2,
                "{n}: {d:?} vs {ceiling:?}"
            );
            assert!(ceiling >= last_ceiling);
            assert!(ceiling <= Duration::from_secs(60));
            last_ceiling = ceiling;
        }
        assert_eq!(last_ceiling, Duration::from_secs(60));
        assert_eq!(b.failures(), 10);
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(2));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(900));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(900));
    }

    #[test]
    fn jitter_bounds() {
        for _ in 0..100 {
            let d = jitter_up(Duration::from_secs(4));
            assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(5));
        }
        assert_eq!(jitter_down(Duration::ZERO), Duration::ZERO);
    }
}
