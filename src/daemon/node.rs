//! This daemon's node name on a PostgreSQL store: registered at start, renewed while it
//! runs, given up at a clean stop (`store::nodes` holds the rules). A name another live
//! daemon holds is waited for up to one lease time — a daemon restarted by systemd after a
//! crash finds its previous incarnation's registration still there, and it lapses within
//! that time — and then refused, naming the holder: two daemons with one name would both
//! believe they own the same account leases.
//!
//! Must not: run on SQLite (the store's lock file admits one daemon), or in a dry run.

use crate::publish::lease::LeaseSettings;
use crate::store::{NodeClaim, NodeHolder, Store};
use anyhow::{Result, bail};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The registration, kept alive by a task until [`NodeName::release`].
#[derive(Debug)]
pub struct NodeName {
    store: Store,
    name: String,
    incarnation: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl NodeName {
    /// Registers `lease.node`, waiting up to `lease.duration` for a live holder to go
    /// quiet; an error names the holder when it did not, or says `shutdown` fired first.
    pub async fn register(
        store: &Store,
        lease: &LeaseSettings,
        shutdown: &CancellationToken,
    ) -> Result<NodeName> {
        let incarnation = format!("{:016x}", rand::random::<u64>());
        let host = crate::store::lock::host_name();
        let pid = std::process::id();
        let name = lease.node.as_str();
        let deadline = Instant::now() + lease.duration;
        let every = (lease.duration / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut waiting: Option<NodeHolder> = None;
        loop {
            let claim = store
                .node_register(name, &incarnation, &host, pid, lease.duration)
                .await?;
            match claim {
                NodeClaim::Registered => break,
                NodeClaim::Held(holder) => {
                    if let Some(h) = &holder
                        && waiting.is_none()
                    {
                        tracing::warn!(node = name, holder = %h, "store.node is held by another daemon; waiting up to {} s for it to go quiet", lease.duration.as_secs());
                    }
                    waiting = holder.or(waiting);
                }
            }
            if Instant::now() >= deadline {
                let holder = waiting.map_or_else(|| "holder unknown".to_owned(), |h| h.to_string());
                bail!(
                    "store.node {name:?} is in use by another running daemon on this database: \
                     {holder}, still alive after {} s; give each daemon its own store.node, or \
                     stop the other one",
                    lease.duration.as_secs()
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => bail!("stopped while waiting for store.node {name:?}"),
                () = tokio::time::sleep(every) => {}
            }
        }
        tracing::debug!(node = name, incarnation, "registered this node's name");
        let stop = CancellationToken::new();
        let keeping = Keeping {
            store: store.clone(),
            name: name.to_owned(),
            incarnation: incarnation.clone(),
            lease: lease.duration,
        };
        let task = tokio::spawn(keeping.run(stop.clone()));
        Ok(NodeName {
            store: store.clone(),
            name: name.to_owned(),
            incarnation,
            stop,
            task,
        })
    }

    /// Stops renewing and gives the name up, so a restart with it starts at once.
    pub async fn release(self) {
        self.stop.cancel();
        let _ = self.task.await;
        if let Err(e) = self.store.node_release(&self.name, &self.incarnation).await {
            tracing::warn!(node = %self.name, "cannot give this node's name up: {e}");
        }
    }
}

struct Keeping {
    store: Store,
    name: String,
    incarnation: String,
    lease: Duration,
}

impl Keeping {
    /// Renews a few times per lease time (as the account leases are), saying when it
    /// cannot and when it can again.
    async fn run(self, stop: CancellationToken) {
        let every = (self.lease / 3).max(Duration::from_millis(100));
        let mut well = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let renewed = self
                .store
                .node_renew(&self.name, &self.incarnation, self.lease)
                .await;
            match renewed {
                Ok(true) if !well => {
                    tracing::info!(node = %self.name, "this node's registration is renewed again");
                    well = true;
                }
                Ok(true) => {}
                Ok(false) if well => {
                    tracing::error!(node = %self.name, "this node's registration lapsed and another daemon took the name store.node; two daemons now use it");
                    well = false;
                }
                Err(e) if well => {
                    tracing::warn!(node = %self.name, "cannot renew this node's registration: {e}");
                    well = false;
                }
                Ok(false) | Err(_) => {}
            }
        }
    }
}
