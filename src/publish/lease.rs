//! Keeping an account's lease while its publisher runs (issue 14): take it, renew it a few
//! times per lease time, say when it is lost or cannot be renewed, take it again when it
//! is free. The worker reads the current lease and publishes only under it; the fencing
//! token in the store makes sure a lease lost meanwhile moves no post.
//!
//! Must not: publish, or move posts (the worker does, under the lease it reads here).

use crate::store::{Lease, Renewal, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How a daemon's publishers lease their accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// This daemon's name in the leases (`store.node`, by default `host:pid`).
    pub node: String,
    /// How long a lease lasts without renewal (renewed every third of it).
    pub duration: Duration,
    /// This daemon holds the store's one-daemon lock: any other holder of a lease is a
    /// daemon that is gone, so its lease is taken at once instead of after it lapses.
    pub exclusive: bool,
}

impl LeaseSettings {
    /// `node`, or `host:pid` when not named.
    pub fn new(node: Option<&str>, exclusive: bool) -> LeaseSettings {
        let node = match node {
            Some(node) => node.to_owned(),
            None => format!("{}:{}", crate::store::lock::host_name(), std::process::id()),
        };
        LeaseSettings {
            node,
            duration: crate::store::leases::DEFAULT_LEASE,
            exclusive,
        }
    }

    fn every(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(100))
    }
}

/// The task that keeps one account's lease; the worker reads [`LeaseKeeper::current`].
#[derive(Debug)]
pub struct LeaseKeeper {
    current: watch::Receiver<Option<Lease>>,
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

    /// The lease held now, if any.
    pub fn current(&self) -> Option<Lease> {
        self.current.borrow().clone()
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
    tx: watch::Sender<Option<Lease>>,
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
            match self.store.lease_renew(&lease, self.settings.duration).await {
                Ok(Renewal::Renewed) => {
                    if self.tx.borrow().is_none() {
                        tracing::info!(account = %self.name, fence = lease.fence(), "the account's lease is renewed again: publishing resumes");
                    }
                    self.tx.send_replace(Some(lease.clone()));
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

    async fn take(&self) -> Option<Lease> {
        let settings = &self.settings;
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
                self.tx.send_replace(Some(lease.clone()));
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
