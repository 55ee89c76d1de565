//! Keeping an account's lease while its publisher runs (issue 14): take it, renew it a few
//! times per lease time, say when it is lost or cannot be renewed, take it again when it
//! is free. The worker reads the current lease and publishes only under it; the fencing
//! token in the store makes sure a lease lost meanwhile moves no post.
//!
//! The fence stops a node that lost its lease at its next *store* transition, but not a
//! call it is about to make: a node paused (SIGSTOP, a stall, a frozen VM) between moving a
//! post to `publishing` and calling `threads_publish` would make that call after another
//! node took over. So the keeper also says until when the lease is valid *here*, by the
//! local monotonic clock: from the moment the renewal that granted it was sent (the
//! database's clock, which the lease counts from, reads it later than that), its duration
//! less a safety margin ([`locally_valid_for`]). The store counts leases in milliseconds, so
//! no rounding is taken off besides. The worker asks
//! [`LeaseKeeper::valid`] as the last thing before every API call and makes none once it
//! says no.
//!
//! Must not: publish, or move posts (the worker does, under the lease it reads here).

use crate::store::{Lease, Renewal, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The least safety margin: a call's way to the API from a loaded machine.
const MIN_MARGIN: Duration = Duration::from_millis(200);

/// The safety margin kept before a lease ends: for the clocks' small disagreements and a
/// call's way to the API. A fifth of the lease, at least [`MIN_MARGIN`].
pub fn margin(lease: Duration) -> Duration {
    (lease / 5).max(MIN_MARGIN)
}

/// How long after its renewal was sent a lease of `lease` may be used here (zero for a
/// lease too short to use at all; the config's lower bound keeps it above).
pub fn locally_valid_for(lease: Duration) -> Duration {
    lease.saturating_sub(margin(lease))
}

/// Until when a lease of `lease`, granted by a renewal sent at `sent`, may be used here.
pub fn valid_until(sent: Instant, lease: Duration) -> Instant {
    sent + locally_valid_for(lease)
}

/// A lease the store granted, and until when this node may use it.
#[derive(Debug, Clone)]
struct Grant {
    lease: Lease,
    valid_until: Instant,
}

/// How a daemon's publishers lease their accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// This daemon's name in the leases (`store.node`, by default `host:pid`).
    pub node: String,
    /// How long a lease lasts without renewal (`store.lease`; renewed every third of it,
    /// or more often when the lease is short, see [`LeaseSettings::every`]).
    pub duration: Duration,
    /// This daemon holds the store's one-daemon lock: any other holder of a lease is a
    /// daemon that is gone, so its lease is taken at once instead of after it lapses.
    pub exclusive: bool,
}

impl LeaseSettings {
    /// `node`, or `host:pid` when not named; leases of `duration`.
    pub fn new(node: Option<&str>, duration: Duration, exclusive: bool) -> LeaseSettings {
        let node = match node {
            Some(node) => node.to_owned(),
            None => format!("{}:{}", crate::store::lock::host_name(), std::process::id()),
        };
        LeaseSettings {
            node,
            duration,
            exclusive,
        }
    }

    /// How often the lease is renewed: thrice per lease, and at least twice per locally
    /// valid window, so that a renewal that is a little late does not interrupt publishing.
    pub fn every(&self) -> Duration {
        (self.duration / 3)
            .min(locally_valid_for(self.duration) / 2)
            .max(Duration::from_millis(100))
    }
}

/// The task that keeps one account's lease; the worker reads [`LeaseKeeper::current`].
#[derive(Debug)]
pub struct LeaseKeeper {
    current: watch::Receiver<Option<Grant>>,
    /// Set once the first take or renewal was tried.
    tried: Arc<AtomicBool>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    /// Starts keeping `account`'s lease (`name` for the logs).
    pub fn start(store: Store, account_id: i64, name: String, settings: LeaseSettings) -> Self {
        let (tx, current) = watch::channel(None);
        let stop = CancellationToken::new();
        let tried = Arc::new(AtomicBool::new(false));
        let keeping = Keeping {
            tried: tried.clone(),
            store,
            account_id,
            name,
            settings,
            tx,
        };
        let task = tokio::spawn(keeping.run(stop.clone()));
        LeaseKeeper {
            current,
            tried,
            stop,
            task,
        }
    }

    /// The lease held now, if any, as the last renewal found it (it may have lapsed here
    /// since, see [`LeaseKeeper::valid`]).
    pub fn current(&self) -> Option<Lease> {
        self.current.borrow().as_ref().map(|g| g.lease.clone())
    }

    /// Whether `lease` is the lease held and may still be used here, by the local clock:
    /// what the worker asks right before each API call.
    pub fn valid(&self, lease: &Lease) -> bool {
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|g| g.lease == *lease && Instant::now() < g.valid_until)
    }

    /// Whether the lease was asked for at least once (so `current() == None` means another
    /// node holds it, or the database did not answer).
    pub fn tried(&self) -> bool {
        self.tried.load(Ordering::Acquire)
    }

    /// Waits until the lease held changes.
    pub async fn changed(&mut self) {
        if self.current.changed().await.is_err() {
            // The task ended: nothing will change any more.
            std::future::pending::<()>().await;
        }
    }

    /// Stops renewing and gives the lease up, so another node takes the account at once.
    pub async fn release(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

struct Keeping {
    tried: Arc<AtomicBool>,
    store: Store,
    account_id: i64,
    name: String,
    settings: LeaseSettings,
    tx: watch::Sender<Option<Grant>>,
}

impl Keeping {
    async fn run(self, stop: CancellationToken) {
        // The lease this node last held: renewed while it can be.
        let mut held: Option<Lease> = None;
        loop {
            held = self.round(held).await;
            self.tried.store(true, Ordering::Release);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.every()) => {}
            }
        }
        self.tx.send_replace(None);
        if let Some(lease) = held
            && let Err(e) = self.store.lease_release(&lease).await
        {
            tracing::warn!(account = %self.name, "cannot give the account's lease up: {e}");
        }
    }

    /// One renewal (or take): the lease held after it.
    async fn round(&self, held: Option<Lease>) -> Option<Lease> {
        if let Some(lease) = held {
            // Before the call: the database's `now()` that the lease counts from is later.
            let sent = Instant::now();
            match self.store.lease_renew(&lease, self.settings.duration).await {
                Ok(Renewal::Renewed) => {
                    if self.tx.borrow().is_none() {
                        tracing::info!(account = %self.name, fence = lease.fence(), "the account's lease is renewed again: publishing resumes");
                    }
                    self.grant(&lease, sent);
                    return Some(lease);
                }
                Ok(Renewal::Lost) => {
                    tracing::warn!(account = %self.name, node = %self.settings.node, fence = lease.fence(), "the account's lease was lost: publishing stops until it is taken again");
                    self.tx.send_replace(None);
                }
                Err(e) => {
                    if self.tx.borrow().is_some() {
                        tracing::error!(account = %self.name, "cannot renew the account's lease: {e}; publishing stops until the database answers");
                    }
                    self.tx.send_replace(None);
                    return Some(lease);
                }
            }
        }
        self.take().await
    }

    /// Tells the worker the lease is held, granted by a call sent at `sent`.
    fn grant(&self, lease: &Lease, sent: Instant) {
        self.tx.send_replace(Some(Grant {
            lease: lease.clone(),
            valid_until: valid_until(sent, self.settings.duration),
        }));
    }

    async fn take(&self) -> Option<Lease> {
        let settings = &self.settings;
        let sent = Instant::now();
        let taken = if settings.exclusive {
            self.store
                .lease_take_over(self.account_id, &settings.node, settings.duration)
                .await
                .map(Some)
        } else {
            self.store
                .lease_take(self.account_id, &settings.node, settings.duration)
                .await
        };
        match taken {
            Ok(Some(lease)) => {
                tracing::info!(account = %self.name, node = %settings.node, fence = lease.fence(), "this node owns the account's publishing");
                self.grant(&lease, sent);
                Some(lease)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(account = %self.name, "cannot take the account's lease: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On virtual time: a lease granted by a renewal sent at `sent` is usable here until
    /// its duration less the margin, and not an instant later, however late the answer
    /// came.
    #[tokio::test(start_paused = true)]
    async fn a_lease_is_valid_here_until_its_time_less_the_margin() {
        let lease = Duration::from_secs(1);
        let sent = Instant::now();
        // The answer took 400 ms: the window still counts from the sending.
        tokio::time::advance(Duration::from_millis(400)).await;
        let until = valid_until(sent, lease);
        assert_eq!(until - sent, Duration::from_millis(800), "1 s - 200 ms");
        tokio::time::advance(Duration::from_millis(399)).await;
        assert!(Instant::now() < until);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(Instant::now() >= until, "lapsed here");

        assert_eq!(margin(Duration::from_secs(30)), Duration::from_secs(6));
        assert_eq!(
            locally_valid_for(Duration::from_secs(30)),
            Duration::from_secs(24)
        );
        assert_eq!(
            locally_valid_for(Duration::from_millis(1500)),
            Duration::from_millis(1200)
        );
    }

    /// Renewals come at least twice per locally valid window, from the shortest lease the
    /// config allows to the longest, and every 10 s for the default 30 s.
    #[test]
    fn a_lease_is_renewed_twice_within_its_local_window() {
        for ms in [
            1000, 1001, 1500, 3000, 4000, 5000, 10_000, 30_000, 60_000, 600_000,
        ] {
            let settings = LeaseSettings::new(Some("n"), Duration::from_millis(ms), false);
            let window = locally_valid_for(settings.duration);
            assert!(!window.is_zero(), "{ms} ms");
            assert!(
                settings.every() * 2 <= window,
                "{ms} ms: {:?}",
                settings.every()
            );
        }
        let default = LeaseSettings::new(Some("n"), Duration::from_secs(30), false);
        assert_eq!(default.every(), Duration::from_secs(10));
        let shortest = LeaseSettings::new(Some("n"), Duration::from_secs(1), false);
        assert_eq!(shortest.every(), Duration::from_secs(1) / 3);
    }
}
