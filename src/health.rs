//! [`StoreHealth`]: whether the store is failing (busy, locked, full, I/O), since when and
//! while doing what, how long to wait before trying again, and whether the failure has
//! lasted longer than the daemon may carry on for (`[store] max_outage`).
//!
//! Every part of the daemon that meets a store error reports it here (the run loop, the
//! heartbeat, the polls, the publishers), and a successful write clears it (a read proves
//! little: reads go on while the disk is full or another connection holds the write lock),
//! so `/healthz` can say 503 with the reason while it lasts. The heartbeat writes every few
//! seconds during an outage, so its end is noticed soon. The daemon ends, through its normal
//! drain, only when [`StoreHealth::gave_up`] resolves.
//!
//! Must not: retry anything itself, or decide what a failure means for a feed or a post.

use crate::publish::backoff::jitter_up;
use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The first wait after a store error, and the most any retry waits: in between, half the
/// time the outage has lasted, so retries thin out as it goes on.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(30);

/// An outage in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// How long the store has been failing.
    pub lasted: Duration,
    /// What was being done at the last failure ("writing the heartbeat").
    pub what: String,
    pub error: String,
}

impl Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the store has been failing for {} (last while {}: {})",
            humantime::format_duration(Duration::from_secs(self.lasted.as_secs())),
            self.what,
            self.error
        )
    }
}

#[derive(Debug)]
struct Failing {
    since: Instant,
    what: String,
    error: String,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<Option<Failing>>,
    limit: Duration,
    gave_up: CancellationToken,
    /// The outage that went past the limit (it stays, even if the store answers later).
    fatal: Mutex<Option<Outage>>,
}

/// Shared by everything that uses the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreHealth {
    inner: Arc<Inner>,
}

impl StoreHealth {
    /// A healthy store; an outage longer than `limit` gives up.
    pub fn new(limit: Duration) -> Self {
        StoreHealth {
            inner: Arc::new(Inner {
                state: Mutex::new(None),
                limit,
                gave_up: CancellationToken::new(),
                fatal: Mutex::new(None),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Option<Failing>> {
        // Held only for a few assignments, never across an await: a poisoned lock means a
        // panic elsewhere, and the state is still consistent.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write to the store succeeded.
    pub fn ok(&self) {
        if let Some(failing) = self.state().take() {
            tracing::info!(
                after = %humantime::format_duration(Duration::from_secs(failing.since.elapsed().as_secs())),
                "the store answers again"
            );
        }
    }

    /// The store failed while doing `what`; returns how long to wait before trying again
    /// (half the outage so far, between 1 s and 30 s, plus up to a quarter for jitter).
    pub fn failed(&self, what: &str, error: &dyn Display) -> Duration {
        let now = Instant::now();
        let mut state = self.state();
        let failing = state.get_or_insert_with(|| Failing {
            since: now,
            what: String::new(),
            error: String::new(),
        });
        failing.what = what.to_string();
        failing.error = error.to_string();
        let lasted = now.saturating_duration_since(failing.since);
        let delay = jitter_up((lasted / 2).clamp(RETRY_BASE, RETRY_CAP));
        tracing::error!(
            failing_for = %humantime::format_duration(Duration::from_secs(lasted.as_secs())),
            limit = %humantime::format_duration(self.inner.limit),
            "store error while {what}: {error}; trying again in {}",
            humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
        );
        if lasted > self.inner.limit && !self.inner.gave_up.is_cancelled() {
            let outage = Outage {
                lasted,
                what: failing.what.clone(),
                error: failing.error.clone(),
            };
            *self.inner.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(outage);
            self.inner.gave_up.cancel();
        }
        delay
    }

    /// The outage in progress, if any.
    pub fn outage(&self) -> Option<Outage> {
        let state = self.state();
        let failing = state.as_ref()?;
        Some(Outage {
            lasted: failing.since.elapsed(),
            what: failing.what.clone(),
            error: failing.error.clone(),
        })
    }

    /// Resolves, with that outage, once an outage has lasted longer than the limit.
    pub async fn gave_up(&self) -> Outage {
        self.inner.gave_up.cancelled().await;
        self.inner
            .fatal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| Outage {
                lasted: self.inner.limit,
                what: "an unknown operation".into(),
                error: "unknown".into(),
            })
    }

    pub fn has_given_up(&self) -> bool {
        self.inner.gave_up.is_cancelled()
    }

    /// The limit an outage may last.
    pub fn limit(&self) -> Duration {
        self.inner.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_reported_until_the_store_answers_and_gives_up_past_the_limit() {
        let health = StoreHealth::new(Duration::from_secs(600));
        assert_eq!(health.outage(), None);

        health.failed("writing the heartbeat", &"database is locked");
        tokio::time::advance(Duration::from_secs(120)).await;
        health.failed("reading the due feeds", &"disk I/O error");
        let outage = health.outage().unwrap();
        assert_eq!(outage.lasted, Duration::from_secs(120));
        assert_eq!(outage.what, "reading the due feeds");
        assert_eq!(outage.error, "disk I/O error");
        assert!(outage.to_string().contains("2m"), "{outage}");
        assert!(!health.has_given_up());

        // It answers: the outage is over, and a new one starts from scratch.
        health.ok();
        assert_eq!(health.outage(), None);
        tokio::time::advance(Duration::from_secs(590)).await;
        health.failed("writing the heartbeat", &"database or disk is full");
        tokio::time::advance(Duration::from_secs(590)).await;
        health.failed("writing the heartbeat", &"database or disk is full");
        assert!(
            !health.has_given_up(),
            "590 s of failure is within the limit"
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        health.failed("writing the heartbeat", &"database or disk is full");
        assert!(health.has_given_up());
        // Given up for good, with the outage that did it, whatever comes next.
        health.ok();
        let fatal = tokio::time::timeout(Duration::from_secs(1), health.gave_up())
            .await
            .unwrap();
        assert_eq!(fatal.lasted, Duration::from_secs(601));
        assert_eq!(fatal.error, "database or disk is full");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_thin_out_to_a_cap() {
        let health = StoreHealth::new(Duration::from_secs(3600));
        let first = health.failed("x", &"busy");
        assert!(
            first >= RETRY_BASE && first <= RETRY_BASE * 5 / 4,
            "{first:?}"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        let later = health.failed("x", &"busy");
        assert!(later >= Duration::from_secs(10), "{later:?}");
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(health.failed("x", &"busy") <= RETRY_CAP * 5 / 4);
        health.ok();
        assert!(health.failed("x", &"busy") <= RETRY_BASE * 5 / 4);
    }
}
