//! [`WorkerReport`]: what one account's publisher did in a run and why it stopped, for the
//! closing summary of `run --once` and its exit code.
//!
//! Must not: decide anything about a post; it only records outcomes the worker reached.

use super::Outcome;
use super::worker::WaitReason;

/// Why a worker's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Nothing left that is due.
    Idle,
    /// Shutdown (a signal, a reload, the end of a run).
    Stopped,
    /// The quota is spent until `until_unix`: the rest waits for the window to move.
    QuotaWindow { until_unix: i64 },
    /// The next queued post is not due for a while (an earlier run put it off).
    NotDue,
    /// A human must act (a token to renew).
    Paused { reason: String },
    /// Transient failures in a row; the post stays queued for a later run.
    GaveUp { post: i64, error: String },
    /// The store kept failing.
    StoreTrouble { error: String },
    /// The worker panicked (and, in a `--once` run, kept panicking when restarted).
    Panicked { message: String },
}

impl Ending {
    /// Whether the operator chose this (pacing, quota window, nothing due): a `--once` run
    /// that ends so tells cron all is well.
    pub fn is_expected(&self) -> bool {
        matches!(
            self,
            Ending::Idle | Ending::Stopped | Ending::QuotaWindow { .. } | Ending::NotDue
        )
    }

    /// The ending a draining worker reaches when it will not wait for `reason` (it always
    /// waits for pacing).
    pub fn of_wait(reason: &WaitReason) -> Ending {
        match reason {
            WaitReason::Pacing | WaitReason::NotDue => Ending::NotDue,
            WaitReason::Quota { until_unix } => Ending::QuotaWindow {
                until_unix: *until_unix,
            },
            WaitReason::Retry { post, error } => Ending::GaveUp {
                post: *post,
                error: error.clone(),
            },
            WaitReason::Store { error, .. } => Ending::StoreTrouble {
                error: error.clone(),
            },
        }
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Idle => write!(f, "nothing left to publish"),
            Ending::Stopped => write!(f, "stopped"),
            Ending::QuotaWindow { until_unix } => write!(
                f,
                "quota spent until {}",
                crate::human::when(*until_unix, crate::store::now_unix())
            ),
            Ending::NotDue => write!(f, "the next post is not due yet"),
            Ending::Paused { reason } => write!(f, "paused: {reason}"),
            Ending::GaveUp { post, error } => {
                write!(f, "gave up on post {post} for this run: {error}")
            }
            Ending::StoreTrouble { error } => write!(f, "the store kept failing: {error}"),
            Ending::Panicked { message } => write!(f, "the publisher panicked: {message}"),
        }
    }
}

/// A post given up for good in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPost {
    pub post: i64,
    pub reason: String,
}

/// One account's publisher over a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    pub account: String,
    pub published: usize,
    pub failed: Vec<FailedPost>,
    pub ending: Ending,
    /// Panics of the account's worker during the run (each one restarted it).
    pub panics: Vec<String>,
}

impl WorkerReport {
    pub fn new(account: &str) -> Self {
        WorkerReport {
            account: account.to_string(),
            published: 0,
            failed: Vec::new(),
            ending: Ending::Stopped,
            panics: Vec::new(),
        }
    }

    /// Counts what a step did.
    pub fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Published { .. } => self.published += 1,
            Outcome::Failed { post, reason } => self.failed.push(FailedPost {
                post: *post,
                reason: reason.clone(),
            }),
            _ => {}
        }
    }

    /// What needs a human, in one phrase; `None` when the run went as the operator chose.
    pub fn trouble(&self) -> Option<String> {
        let mut parts = Vec::new();
        for f in &self.failed {
            parts.push(format!("post {} failed: {}", f.post, f.reason));
        }
        if !self.ending.is_expected() {
            parts.push(self.ending.to_string());
        }
        if !self.panics.is_empty() && !matches!(self.ending, Ending::Panicked { .. }) {
            parts.push(format!(
                "the publisher panicked {} time(s) (last: {})",
                self.panics.len(),
                self.panics.last().map_or("", String::as_str)
            ));
        }
        (!parts.is_empty()).then(|| format!("account {}: {}", self.account, parts.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_names_failed_posts_and_unexpected_endings() {
        let mut r = WorkerReport::new("desk");
        r.ending = Ending::QuotaWindow { until_unix: 0 };
        r.record(&Outcome::Published {
            post: 1,
            media_id: None,
        });
        assert_eq!(r.published, 1);
        assert_eq!(r.trouble(), None, "a quota window is the operator's choice");

        r.record(&Outcome::Failed {
            post: 7,
            reason: "Threads refused it".into(),
        });
        r.ending = Ending::Paused {
            reason: "no access token".into(),
        };
        let t = r.trouble().unwrap();
        assert!(
            t.starts_with("account desk: post 7 failed: Threads refused it"),
            "{t}"
        );
        assert!(t.contains("paused: no access token"), "{t}");
    }
}
