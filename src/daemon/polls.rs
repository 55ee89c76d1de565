//! [`PollTasks`]: the polls in flight, each its own task, and how each ended, a panic
//! included.
//!
//! A poll that panics is not lost: its task's `JoinError` is caught here and turned into a
//! [`PollEnd::Panicked`] for the feed it was polling, with the panic message, so the run loop
//! reports it as that feed's failure and schedules the feed again. At shutdown the polls get
//! a moment to finish, then are abandoned (a poll abandoned half way loses nothing: its
//! writes roll back).
//!
//! Must not: decide when a feed is due (the `Scheduler` does) or what a result means.

use crate::config::FeedSettings;
use crate::poll::{PollError, PollReport, Poller};
use crate::publish::supervise::panic_message;
use crate::store::FeedRow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinSet};

/// How one poll ended.
#[derive(Debug)]
pub enum PollEnd {
    /// The poll ran (the feed's own failures are in the report).
    Report(PollReport),
    /// The store failed under the poll.
    Store(PollError),
    /// The poll's task panicked, with this message.
    Panicked(String),
}

/// A finished poll.
#[derive(Debug)]
pub struct Finished {
    pub feed_id: i64,
    /// The feed's failures in a row before this poll.
    pub failures_before: i64,
    pub elapsed: Duration,
    pub end: PollEnd,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    feed_id: i64,
    failures_before: i64,
    started: tokio::time::Instant,
}

/// The polls in flight.
#[derive(Debug, Default)]
pub struct PollTasks {
    set: JoinSet<Result<PollReport, PollError>>,
    running: HashMap<Id, Running>,
    /// Test hook: the polls of the feed of this name panic (see `AppOptions`).
    panic_in_poll_of: Option<String>,
}

impl PollTasks {
    /// No polls yet; polls of the feed named `panic_in_poll_of` panic (a test hook; `None`
    /// in production).
    pub fn new(panic_in_poll_of: Option<String>) -> Self {
        PollTasks {
            panic_in_poll_of,
            ..PollTasks::default()
        }
    }

    /// Starts a poll of `feed`, whose row (read just now) is `row`.
    pub fn spawn(&mut self, feed: Arc<FeedSettings>, row: FeedRow, poller: Poller) {
        let running = Running {
            feed_id: row.id,
            failures_before: row.consecutive_failures,
            started: tokio::time::Instant::now(),
        };
        let inject = self.panic_in_poll_of.as_deref() == Some(feed.name.as_str());
        let task = self.set.spawn(async move {
            if inject {
                panic!(
                    "injected panic (test hook) in the poll of feed {}",
                    feed.name
                );
            }
            poller.poll(&feed, &row).await
        });
        self.running.insert(task.id(), running);
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// The next poll to finish; `None` when none is in flight.
    pub async fn next(&mut self) -> Option<Finished> {
        loop {
            let joined = self.set.join_next_with_id().await?;
            let (id, end) = match joined {
                Ok((id, Ok(report))) => (id, PollEnd::Report(report)),
                Ok((id, Err(e))) => (id, PollEnd::Store(e)),
                Err(e) => (e.id(), PollEnd::Panicked(panic_message(e))),
            };
            // Every task is registered when spawned; an unknown id cannot happen, and
            // would only mean a result with no feed to give it to.
            let Some(running) = self.running.remove(&id) else {
                continue;
            };
            return Some(Finished {
                feed_id: running.feed_id,
                failures_before: running.failures_before,
                elapsed: running.started.elapsed(),
                end,
            });
        }
    }

    /// Shutdown: waits up to `grace` for the polls in flight, then abandons the rest.
    /// Returns the polls that finished.
    pub async fn drain(&mut self, grace: Duration) -> Vec<Finished> {
        let mut finished = Vec::new();
        let deadline = tokio::time::Instant::now() + grace;
        while !self.is_empty() {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Some(done)) => finished.push(done),
                Ok(None) => break,
                Err(_) => {
                    tracing::info!(
                        polls = self.len(),
                        "abandoning the polls still in flight (their writes roll back)"
                    );
                    self.set.shutdown().await;
                    self.running.clear();
                    break;
                }
            }
        }
        finished
    }
}
