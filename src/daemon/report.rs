//! [`RunReport`]: what a run did, why it ended, the exit code that tells cron the truth,
//! and the closing line that says the same to a human.
//!
//! Exit codes of `run`: 0 when the run went as the operator chose; 1 when the store failed
//! for longer than `[store] max_outage`, when a dry run's output was closed, or (for
//! `run --once`) when a post failed or an account needs a human (paused, its publisher gave
//! up or panicked). A feed that fails is logged and kept for `status`; it does not change the
//! exit code.
//!
//! Must not: print or log anything (`app` logs the closing line, under its stable target).

use crate::health::Outage;
use crate::publish::WorkerReport;
use crate::run_mode::RunMode;

/// Why the run loop ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum End {
    /// `--once`: every feed polled.
    #[default]
    CycleDone,
    /// SIGTERM, SIGINT (or the caller's stop).
    Signal,
    /// The store failed for longer than `[store] max_outage`.
    StoreOutage(Outage),
    /// A dry run's standard output was closed (its reader went away).
    OutputClosed(String),
}

/// A feed whose poll panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPanic {
    pub feed: String,
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub mode: Option<RunMode>,
    pub polls: usize,
    /// Polls that failed (the feed's fault, or a panic).
    pub failed_polls: usize,
    /// Posts queued (in a dry run: that would have been).
    pub queued: usize,
    pub held: usize,
    pub poll_panics: Vec<PollPanic>,
    /// Store errors met (and got over) along the way.
    pub store_errors: usize,
    /// The publishers of the last generation (`--once`: how the queue was left).
    pub publishers: Vec<WorkerReport>,
    pub end: End,
}

impl RunReport {
    pub fn new(mode: RunMode) -> Self {
        RunReport {
            mode: Some(mode),
            ..RunReport::default()
        }
    }

    fn is_once(&self) -> bool {
        self.mode.is_some_and(RunMode::is_once)
    }

    /// Posts published by this run.
    pub fn published(&self) -> usize {
        self.publishers.iter().map(|p| p.published).sum()
    }

    /// What needs a human, one phrase each: failed posts and accounts that could not
    /// finish (`--once` only: a daemon's publishers were stopped, not drained).
    pub fn troubles(&self) -> Vec<String> {
        if !self.is_once() {
            return Vec::new();
        }
        self.publishers
            .iter()
            .filter_map(WorkerReport::trouble)
            .collect()
    }

    /// The process's exit code for this run.
    pub fn exit_code(&self) -> u8 {
        match &self.end {
            End::StoreOutage(_) | End::OutputClosed(_) => 1,
            End::CycleDone | End::Signal if !self.troubles().is_empty() => 1,
            End::CycleDone | End::Signal => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Ending;
    use std::time::Duration;

    fn worker(account: &str, ending: Ending) -> WorkerReport {
        let mut w = WorkerReport::new(account);
        w.ending = ending;
        w
    }

    #[test]
    fn once_exits_0_when_waiting_for_the_operator_s_reasons_and_1_when_a_human_is_needed() {
        let mut r = RunReport::new(RunMode::ONCE);
        r.publishers = vec![
            worker("a", Ending::Idle),
            worker("b", Ending::QuotaWindow { until_unix: 1 }),
            worker("c", Ending::NotDue),
        ];
        r.failed_polls = 3;
        assert_eq!(r.exit_code(), 0, "{:?}", r.troubles());

        r.publishers.push(worker(
            "d",
            Ending::Paused {
                reason: "no access token".into(),
            },
        ));
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.troubles(), ["account d: paused: no access token"]);
    }

    #[test]
    fn a_daemon_stopped_by_a_signal_exits_0_and_an_outage_exits_1() {
        let mut r = RunReport::new(RunMode::DAEMON);
        r.end = End::Signal;
        r.publishers = vec![worker("d", Ending::Paused { reason: "x".into() })];
        assert_eq!(r.exit_code(), 0);
        r.end = End::StoreOutage(Outage {
            lasted: Duration::from_secs(700),
            what: "writing the heartbeat".into(),
            error: "database is locked".into(),
        });
        assert_eq!(r.exit_code(), 1);
    }
}
