//! [`Scheduler`]: which configured feed is due for a poll, which is being polled, and when
//! the run loop must wake up next.
//!
//! It keeps one entry per configured feed: waiting until a deadline, being polled, or (in a
//! `--once` cycle) done. The run loop asks it for the feeds [`due`](Scheduler::due) now
//! (they become "being polled": a feed is never polled twice at once), tells it when a poll
//! [`finished`](Scheduler::finished) and when the feed is next due, and hands it the new
//! feed list on a config reload ([`replace`](Scheduler::replace)).
//!
//! Deadlines are `tokio::time::Instant`s, so tests run it on tokio's virtual clock; the
//! store and the poller speak unix seconds, converted once at the boundary
//! ([`instant_of_unix`]). Must not: touch the store, spawn tasks, or compute intervals (that
//! is `schedule`'s job); it only keeps the book.

use crate::config::FeedSettings;
use crate::run_mode::Cycle;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Where one feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Due at this instant.
    Waiting(Instant),
    /// A poll is running.
    Polling,
    /// `--once`: polled in this cycle; not due again.
    Done,
}

#[derive(Debug, Clone)]
struct Entry {
    feed: Arc<FeedSettings>,
    stage: Stage,
}

/// The due-feed bookkeeping of the run loop.
#[derive(Debug)]
pub struct Scheduler {
    cycle: Cycle,
    entries: HashMap<i64, Entry>,
}

/// A configured feed as the scheduler receives it: settings, store row id, and the unix
/// time it is next due (0 or anything past: now).
#[derive(Debug, Clone)]
pub struct ScheduledFeed {
    pub feed: Arc<FeedSettings>,
    pub id: i64,
    pub next_check_at: i64,
}

impl Scheduler {
    /// An empty book; fill it with [`Scheduler::replace`].
    pub fn new(cycle: Cycle) -> Self {
        Scheduler {
            cycle,
            entries: HashMap::new(),
        }
    }

    /// The configured feeds are now `feeds` (start, or a reload). A feed that stays keeps
    /// its place (a poll in flight stays in flight, a `--once` feed already polled stays
    /// done) with its new settings; a new feed is due at its `next_check_at`; a feed no
    /// longer configured is forgotten (a poll of it in flight finishes unheard).
    pub fn replace(&mut self, feeds: Vec<ScheduledFeed>, now_unix: i64) {
        let now = Instant::now();
        let mut entries = HashMap::with_capacity(feeds.len());
        for f in feeds {
            let stage = match self.entries.remove(&f.id) {
                Some(old) => old.stage,
                None => Stage::Waiting(instant_of_unix(f.next_check_at, now_unix, now)),
            };
            entries.insert(
                f.id,
                Entry {
                    feed: f.feed,
                    stage,
                },
            );
        }
        self.entries = entries;
    }

    /// The feeds due at `now`, most overdue first; each is now being polled.
    pub fn due(&mut self, now: Instant) -> Vec<(i64, Arc<FeedSettings>)> {
        let mut due: Vec<(Instant, i64)> = self
            .entries
            .iter()
            .filter_map(|(id, e)| match e.stage {
                Stage::Waiting(at) if at <= now => Some((at, *id)),
                _ => None,
            })
            .collect();
        due.sort();
        due.into_iter()
            .filter_map(|(_, id)| {
                let entry = self.entries.get_mut(&id)?;
                entry.stage = Stage::Polling;
                Some((id, entry.feed.clone()))
            })
            .collect()
    }

    /// The poll of `id` ended; the feed is next due at `next` (in a `--once` cycle it is
    /// done instead). False when the feed is no longer configured.
    pub fn finished(&mut self, id: i64, next: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        entry.stage = match self.cycle {
            Cycle::Once => Stage::Done,
            Cycle::Daemon => Stage::Waiting(next),
        };
        true
    }

    /// The poll of `id` could not run or could not be stored (the store failed): try it
    /// again at `at`, in a `--once` cycle too. False when the feed is no longer configured.
    pub fn postpone(&mut self, id: i64, at: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        entry.stage = Stage::Waiting(at);
        true
    }

    /// When the next waiting feed is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.stage {
                Stage::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// How long the run loop may sleep from `now`: until the next due feed, at most
    /// `tick` (the loop has other things to look at now and then).
    pub fn sleep_from(&self, now: Instant, tick: Duration) -> Duration {
        self.next_due()
            .map_or(tick, |at| at.saturating_duration_since(now).min(tick))
    }

    /// `--once`: every feed polled and no poll running. Never true for the daemon.
    pub fn cycle_done(&self) -> bool {
        self.cycle == Cycle::Once && self.entries.values().all(|e| e.stage == Stage::Done)
    }

    /// Polls running.
    pub fn in_flight(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.stage == Stage::Polling)
            .count()
    }

    /// The settings of a configured feed.
    pub fn feed(&self, id: i64) -> Option<&Arc<FeedSettings>> {
        self.entries.get(&id).map(|e| &e.feed)
    }

    /// Configured feeds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The tokio instant of unix time `at`, seen from unix time `now_unix` at instant `now`.
/// A time in the past is `now`.
pub fn instant_of_unix(at: i64, now_unix: i64, now: Instant) -> Instant {
    let ahead = u64::try_from(at.saturating_sub(now_unix)).unwrap_or(0);
    // Far-future deadlines (a hostile Retry-After, a cron schedule years away) are
    // clamped to a year rather than overflowing the instant.
    now + Duration::from_secs(ahead.min(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use std::path::Path;

    const T0: i64 = 1_800_000_000;

    fn feeds(names: &[&str]) -> Vec<Arc<FeedSettings>> {
        let mut text = String::from("[[accounts]]\nname = \"a\"\n");
        for n in names {
            text.push_str(&format!(
                "[[feeds]]\nname = \"{n}\"\nurl = \"https://e.org/{n}\"\n"
            ));
        }
        let settings = Settings::parse(&text, Path::new("t.toml")).unwrap();
        settings.feeds.into_iter().map(Arc::new).collect()
    }

    fn scheduled(feeds: &[Arc<FeedSettings>], next: &[i64]) -> Vec<ScheduledFeed> {
        feeds
            .iter()
            .zip(next)
            .enumerate()
            .map(|(i, (f, at))| ScheduledFeed {
                feed: f.clone(),
                id: i as i64 + 1,
                next_check_at: *at,
            })
            .collect()
    }

    fn ids(due: &[(i64, Arc<FeedSettings>)]) -> Vec<i64> {
        due.iter().map(|(id, _)| *id).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn feeds_come_due_in_order_and_are_never_polled_twice_at_once() {
        let f = feeds(&["a", "b", "c"]);
        let mut s = Scheduler::new(Cycle::Daemon);
        // a is overdue, b due in 60 s, c in 10 s.
        s.replace(scheduled(&f, &[T0 - 5, T0 + 60, T0 + 10]), T0);
        assert_eq!(ids(&s.due(Instant::now())), [1]);
        assert_eq!(s.in_flight(), 1);
        // Still polling: not due again, however late it gets.
        assert_eq!(
            s.sleep_from(Instant::now(), Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(ids(&s.due(Instant::now())), [3]);
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(ids(&s.due(Instant::now())), [2]);
        assert!(s.due(Instant::now()).is_empty());
        assert_eq!(s.in_flight(), 3);

        // a finishes and is due again in 5 minutes.
        assert!(s.finished(1, Instant::now() + Duration::from_secs(300)));
        assert_eq!(s.in_flight(), 2);
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(s.due(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ids(&s.due(Instant::now())), [1]);
        assert!(!s.cycle_done(), "a daemon's cycle never ends");
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_sleeps_until_the_next_due_feed_at_most_a_tick() {
        let f = feeds(&["a"]);
        let mut s = Scheduler::new(Cycle::Daemon);
        let tick = Duration::from_secs(30);
        assert_eq!(s.sleep_from(Instant::now(), tick), tick, "no feeds: a tick");
        s.replace(scheduled(&f, &[T0 + 3600]), T0);
        assert_eq!(s.sleep_from(Instant::now(), tick), tick);
        s.replace(scheduled(&f, &[T0 + 3600]), T0);
        tokio::time::advance(Duration::from_secs(3590)).await;
        assert_eq!(s.sleep_from(Instant::now(), tick), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(s.sleep_from(Instant::now(), tick), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_once_cycle_polls_each_feed_once_and_then_is_done() {
        let f = feeds(&["a", "b"]);
        let mut s = Scheduler::new(Cycle::Once);
        s.replace(scheduled(&f, &[0, 0]), T0);
        assert_eq!(ids(&s.due(Instant::now())), [1, 2]);
        assert!(!s.cycle_done());
        s.finished(1, Instant::now());
        assert!(!s.cycle_done(), "b is still being polled");
        // Whatever `next` says, a once feed is done.
        assert!(s.due(Instant::now()).is_empty());
        s.finished(2, Instant::now());
        assert!(s.cycle_done());
        assert_eq!(s.next_due(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_the_store_could_not_take_is_tried_again_in_a_once_cycle_too() {
        let f = feeds(&["a"]);
        let mut s = Scheduler::new(Cycle::Once);
        s.replace(scheduled(&f, &[0]), T0);
        assert_eq!(ids(&s.due(Instant::now())), [1]);
        assert!(s.postpone(1, Instant::now() + Duration::from_secs(2)));
        assert!(!s.cycle_done());
        assert!(s.due(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(ids(&s.due(Instant::now())), [1]);
        s.finished(1, Instant::now());
        assert!(s.cycle_done());
        assert!(!s.postpone(9, Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_keeps_polls_in_flight_adds_new_feeds_and_forgets_removed_ones() {
        let f = feeds(&["a", "b", "c"]);
        let mut s = Scheduler::new(Cycle::Daemon);
        s.replace(scheduled(&f[..2], &[T0, T0 + 600]), T0);
        assert_eq!(ids(&s.due(Instant::now())), [1]);

        // Reload: a stays (its poll is in flight), b is removed, c is new and due now.
        let new = vec![
            ScheduledFeed {
                feed: f[0].clone(),
                id: 1,
                next_check_at: T0,
            },
            ScheduledFeed {
                feed: f[2].clone(),
                id: 3,
                next_check_at: T0 - 1,
            },
        ];
        s.replace(new, T0);
        assert_eq!(s.len(), 2);
        assert_eq!(s.in_flight(), 1);
        assert_eq!(ids(&s.due(Instant::now())), [3], "a is still in flight");
        assert!(s.feed(2).is_none());
        // The removed feed's poll ends unheard.
        assert!(!s.finished(2, Instant::now()));
        assert!(s.finished(1, Instant::now() + Duration::from_secs(60)));
    }

    #[test]
    fn unix_times_become_instants_without_overflow() {
        let now = Instant::now();
        assert_eq!(instant_of_unix(T0 - 100, T0, now), now);
        assert_eq!(
            instant_of_unix(T0 + 90, T0, now),
            now + Duration::from_secs(90)
        );
        let far = instant_of_unix(i64::MAX, i64::MIN, now);
        assert_eq!(far, now + Duration::from_secs(365 * 24 * 3600));
    }
}
