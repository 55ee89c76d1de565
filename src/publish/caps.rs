//! A feed's caps: at most `max_per_hour` posts in any hour and `max_per_day` in any 24 h
//! (moving windows, like the API's quota), and what happens to a post beyond them
//! (`overflow`: wait for the window to slide, or drop it).
//!
//! The caps count the feed's own published posts (not the replies that carry a link or
//! a correction: those belong to a post already counted). This module decides from a
//! ledger of publish times; it reads no store and no clock (`now` is an argument).

use std::fmt;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// What happens to a post beyond a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// It waits until the window slides enough for it (the default).
    #[default]
    Wait,
    /// It is dropped, with the reason logged and stored.
    Drop,
}

impl Overflow {
    pub fn parse(text: &str) -> Option<Overflow> {
        match text.trim() {
            "wait" => Some(Overflow::Wait),
            "drop" => Some(Overflow::Drop),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::Wait => "wait",
            Overflow::Drop => "drop",
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feed's caps. Both `None`: no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    pub overflow: Overflow,
}

/// Whether one more post of the feed may go out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapCheck {
    Open,
    Full {
        /// Unix seconds at which the spent cap has room again (the later of the two when
        /// both are spent).
        until: i64,
        /// The key of the spent cap (`max_per_hour`, `max_per_day`).
        key: &'static str,
        limit: u32,
    },
}

impl Caps {
    pub fn is_set(&self) -> bool {
        self.per_hour.is_some() || self.per_day.is_some()
    }

    /// The decision at `now`, given the feed's publish times (unix seconds, ascending,
    /// covering at least the last 24 h).
    pub fn check(&self, now: i64, ledger: &[i64]) -> CapCheck {
        let spent = [
            ("max_per_hour", self.per_hour, HOUR),
            ("max_per_day", self.per_day, DAY),
        ]
        .into_iter()
        .filter_map(|(key, limit, window)| {
            let limit = limit?;
            free_at(now, ledger, limit, window).map(|until| (until, key, limit))
        })
        .max_by_key(|(until, _, _)| *until);
        match spent {
            Some((until, key, limit)) => CapCheck::Full { until, key, limit },
            None => CapCheck::Open,
        }
    }
}

/// When `limit` posts in a moving `window` leave room for one more, if they don't now.
fn free_at(now: i64, ledger: &[i64], limit: u32, window: i64) -> Option<i64> {
    let inside: Vec<i64> = ledger
        .iter()
        .copied()
        .filter(|t| *t > now.saturating_sub(window))
        .collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if inside.len() < limit {
        return None;
    }
    // `k` posts must leave before one more fits; the k-th oldest leaves last.
    let k = inside.len() - limit + 1;
    let leaves = inside
        .get(k - 1)
        .map_or(now.saturating_add(window), |t| t.saturating_add(window));
    Some(leaves.max(now.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn caps(hour: Option<u32>, day: Option<u32>) -> Caps {
        Caps {
            per_hour: hour,
            per_day: day,
            overflow: Overflow::Wait,
        }
    }

    #[test]
    fn under_the_caps_is_open() {
        assert_eq!(caps(None, None).check(NOW, &[NOW - 1; 10]), CapCheck::Open);
        assert_eq!(
            caps(Some(3), Some(10)).check(NOW, &[NOW - 10, NOW - 5]),
            CapCheck::Open
        );
        // Posts older than an hour don't count against the hourly cap.
        assert_eq!(
            caps(Some(2), None).check(NOW, &[NOW - 7200, NOW - 3601, NOW - 60]),
            CapCheck::Open
        );
    }

    #[test]
    fn the_hourly_cap_waits_for_the_oldest_to_slide_out() {
        let ledger = [NOW - 3000, NOW - 2000, NOW - 10];
        assert_eq!(
            caps(Some(3), None).check(NOW, &ledger),
            CapCheck::Full {
                until: NOW - 3000 + 3600,
                key: "max_per_hour",
                limit: 3
            }
        );
        // Two over a cap of one: the second oldest must leave too.
        assert_eq!(
            caps(Some(1), None).check(NOW, &ledger),
            CapCheck::Full {
                until: NOW - 10 + 3600,
                key: "max_per_hour",
                limit: 1
            }
        );
    }

    #[test]
    fn both_caps_spent_wait_for_the_later() {
        let ledger = [NOW - 80_000, NOW - 60, NOW - 30];
        match caps(Some(2), Some(3)).check(NOW, &ledger) {
            CapCheck::Full { until, key, .. } => {
                assert_eq!(key, "max_per_day");
                assert_eq!(until, NOW - 80_000 + 86_400);
            }
            CapCheck::Open => panic!("should be full"),
        }
    }

    #[test]
    fn overflow_names_round_trip() {
        for o in [Overflow::Wait, Overflow::Drop] {
            assert_eq!(Overflow::parse(o.as_str()), Some(o));
        }
        assert_eq!(Overflow::parse("queue"), None);
    }
}
