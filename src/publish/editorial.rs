//! The editorial gate of one post, before it starts: its posting windows (the feed's and
//! the account's), then its feed's caps. The answer is to go, to wait until a given time
//! (with the reason people read in `status` and the desk), or to drop the post
//! (`overflow = "drop"`).
//!
//! Windows come first: a post outside its window waits for the window's start, where the
//! caps are looked at again, so a cap never drops a post that could not have gone anyway.
//!
//! This module decides from what it is given (`now`, the feed's publish ledger); the
//! worker reads the ledger and makes the decision durable (`worker::editorial`).

use super::caps::{CapCheck, Caps, Overflow};
use super::window::{PostingWindow, next_open_all};
use crate::store::WaitKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// What a post may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Go,
    /// Come back at `until` (unix seconds).
    Wait {
        until: i64,
        kind: WaitKind,
        /// Why, for people: "outside the posting window 06:30-23:00 (Europe/Berlin);
        /// opens 2026-03-29 06:30 CEST".
        note: String,
    },
    /// Beyond a cap with `overflow = "drop"`.
    Drop {
        reason: String,
    },
}

/// The windows and caps that apply to one feed's posts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostGate {
    /// The feed's window, if it has one.
    pub feed_window: Option<PostingWindow>,
    /// Its account's window, if it has one.
    pub account_window: Option<PostingWindow>,
    pub caps: Caps,
}

/// How long to wait before looking again when the feed's and the account's windows never
/// overlap (a configuration mistake that must not lose the post).
const NO_OVERLAP_RETRY: i64 = 86_400;

impl PostGate {
    /// Whether anything here can hold a post back.
    pub fn is_set(&self) -> bool {
        self.feed_window.is_some() || self.account_window.is_some() || self.caps.is_set()
    }

    /// The decision at `now`, given the feed's publish times (unix seconds, ascending,
    /// the last 24 h at least).
    pub fn decide(&self, now: i64, feed_ledger: &[i64]) -> Decision {
        if let Some(wait) = self.window_wait(now) {
            return wait;
        }
        match self.caps.check(now, feed_ledger) {
            CapCheck::Open => Decision::Go,
            CapCheck::Full { until, key, limit } => match self.caps.overflow {
                Overflow::Wait => Decision::Wait {
                    until,
                    kind: WaitKind::Cap,
                    note: format!(
                        "{key} = {limit} reached; goes at {}",
                        self.local_time(until)
                    ),
                },
                Overflow::Drop => Decision::Drop {
                    reason: format!(
                        "{key} = {limit} reached and the feed says overflow = \"drop\"; not published"
                    ),
                },
            },
        }
    }

    fn window_wait(&self, now: i64) -> Option<Decision> {
        let windows: Vec<PostingWindow> = self
            .feed_window
            .iter()
            .chain(self.account_window.iter())
            .copied()
            .collect();
        if windows.is_empty() {
            return None;
        }
        let at = DateTime::<Utc>::from_timestamp(now, 0)?;
        if windows.iter().all(|w| w.is_open(at)) {
            return None;
        }
        let describe = || {
            let mut parts = Vec::new();
            if let Some(w) = &self.feed_window {
                parts.push(format!("the feed's posting window {w}"));
            }
            if let Some(w) = &self.account_window {
                parts.push(format!("the account's posting window {w}"));
            }
            parts.join(" and ")
        };
        Some(match next_open_all(&windows, at) {
            Some(open) => {
                let until = open.timestamp().max(now.saturating_add(1));
                Decision::Wait {
                    until,
                    kind: WaitKind::Window,
                    note: format!("outside {}; goes at {}", describe(), self.local_time(until)),
                }
            }
            None => Decision::Wait {
                until: now.saturating_add(NO_OVERLAP_RETRY),
                kind: WaitKind::Window,
                note: format!(
                    "{} never overlap in the next two weeks; fix the config (looking again in a day)",
                    describe()
                ),
            },
        })
    }

    /// `unix` as RFC 3339 in the feed's window zone (else the account's, else UTC), as
    /// `human::timestamp` writes times for people, but in the zone the window is read in:
    /// `2026-03-30T06:30:00+02:00`.
    fn local_time(&self, unix: i64) -> String {
        let tz = self
            .feed_window
            .or(self.account_window)
            .map_or(Tz::UTC, |w| w.tz);
        DateTime::<Utc>::from_timestamp(unix, 0).map_or_else(
            || unix.to_string(),
            |t| {
                t.with_timezone(&tz)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::window::{Days, Hours};

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    fn window(hours: &str, tz: &str) -> PostingWindow {
        PostingWindow::new(
            Some(Hours::parse(hours).unwrap()),
            None,
            tz.parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn outside_the_window_waits_for_its_start() {
        let gate = PostGate {
            feed_window: Some(window("06:30-23:00", "Europe/Berlin")),
            ..PostGate::default()
        };
        let now = at("2026-03-28T23:30:00Z");
        match gate.decide(now, &[]) {
            Decision::Wait { until, kind, note } => {
                assert_eq!(until, at("2026-03-29T04:30:00Z"));
                assert_eq!(kind, WaitKind::Window);
                assert!(note.contains("06:30-23:00 (Europe/Berlin)"), "{note}");
                assert!(note.ends_with("2026-03-29T06:30:00+02:00"), "{note}");
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(gate.decide(at("2026-03-29T10:00:00Z"), &[]), Decision::Go);
    }

    #[test]
    fn feed_and_account_windows_both_apply() {
        let gate = PostGate {
            feed_window: Some(window("06:00-12:00", "UTC")),
            account_window: Some(PostingWindow {
                hours: Some(Hours::parse("10:00-20:00").unwrap()),
                days: Days::parse(&["mon"]).unwrap(),
                tz: Tz::UTC,
            }),
            caps: Caps::default(),
        };
        // Tuesday 2026-05-05 07:00: the feed's is open, the account's (mondays) not.
        match gate.decide(at("2026-05-05T07:00:00Z"), &[]) {
            Decision::Wait { until, note, .. } => {
                assert_eq!(until, at("2026-05-11T10:00:00Z"));
                assert!(note.contains("the account's posting window"), "{note}");
            }
            d => panic!("{d:?}"),
        }
        let never = PostGate {
            feed_window: Some(window("06:00-08:00", "UTC")),
            account_window: Some(window("20:00-22:00", "UTC")),
            caps: Caps::default(),
        };
        match never.decide(at("2026-05-05T07:00:00Z"), &[]) {
            Decision::Wait { until, note, .. } => {
                assert_eq!(until, at("2026-05-06T07:00:00Z"));
                assert!(note.contains("never overlap"), "{note}");
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn caps_wait_or_drop() {
        let now = at("2026-05-05T12:00:00Z");
        let ledger = [now - 1200, now - 600];
        let mut gate = PostGate {
            caps: Caps {
                per_hour: Some(2),
                per_day: None,
                overflow: Overflow::Wait,
            },
            ..PostGate::default()
        };
        match gate.decide(now, &ledger) {
            Decision::Wait { until, kind, note } => {
                assert_eq!(until, now - 1200 + 3600);
                assert_eq!(kind, WaitKind::Cap);
                assert!(note.starts_with("max_per_hour = 2 reached"), "{note}");
            }
            d => panic!("{d:?}"),
        }
        gate.caps.overflow = Overflow::Drop;
        match gate.decide(now, &ledger) {
            Decision::Drop { reason } => {
                assert!(reason.contains("overflow = \"drop\""), "{reason}")
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(gate.decide(now, &ledger[..1]), Decision::Go);
    }

    #[test]
    fn a_closed_window_comes_before_a_cap() {
        let gate = PostGate {
            feed_window: Some(window("06:00-07:00", "UTC")),
            account_window: None,
            caps: Caps {
                per_hour: Some(1),
                per_day: None,
                overflow: Overflow::Drop,
            },
        };
        let now = at("2026-05-05T12:00:00Z");
        assert!(matches!(
            gate.decide(now, &[now - 10]),
            Decision::Wait {
                kind: WaitKind::Window,
                ..
            }
        ));
    }
}
