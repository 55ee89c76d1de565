//! The daemon's pulse: the heartbeat `status --check` reads, written every few seconds
//! while the run loop is alive, and the queue metrics
//! (posts per state, the waits for posting windows and caps apart).
//!
//! It is also the store's probe: its write succeeding ends an outage in [`StoreHealth`],
//! its failure starts or extends one, and during an outage it tries again on the outage's
//! backoff rather than its usual cadence. It runs beside the run loop, so a store that
//! answers slowly (a lock held elsewhere, a busy timeout of 30 s) never stalls the loop.
//!
//! Must not: write anything but the heartbeat, or run in a dry run.

use crate::health::StoreHealth;
use crate::http::Liveness;
use crate::store::{Store, StoreError, now_unix};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the pulse needs.
#[derive(Debug, Clone)]
pub struct Pulse {
    pub store: Store,
    pub health: StoreHealth,
    pub liveness: Liveness,
    /// Between two heartbeats while all is well.
    pub every: Duration,
    /// The loop's pulse older than this: it is stuck, stop the heartbeat (as the watchdog
    /// does) so that `status --check` says so.
    pub stale_after: Duration,
}

impl Pulse {
    /// Beats until `stop` fires.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let wait = if self.liveness.is_fresh(self.stale_after) {
                match self.beat().await {
                    Ok(()) => {
                        self.health.ok();
                        self.every
                    }
                    Err(e) => self.health.failed("writing the heartbeat", &e),
                }
            } else {
                self.every
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn beat(&self) -> Result<(), StoreError> {
        let now = now_unix();
        self.store.heartbeat(now).await?;
        crate::metrics::set_last_tick(now);
        for account in self.store.list_accounts().await? {
            let counts = self.store.outbox_counts(account.id, now).await?;
            crate::metrics::set_queue_depth(
                &account.name,
                u64::try_from(counts.queued + counts.in_flight).unwrap_or(0),
            );
            let waits = self.store.outbox_wait_counts(account.id, now).await?;
            crate::metrics::set_outbox_counts(&account.name, &counts, &waits);
            if let Some(expires) = account.token_expires_at {
                crate::metrics::set_token_expiry(&account.name, expires);
            }
        }
        Ok(())
    }
}
