//! The other daemons' word that posts were queued (PostgreSQL, issue 14): a task listens to
//! the store's announcements and hands each account's name to the run loop, which wakes
//! that account's worker. A listener that fails is logged and made again with a backoff;
//! meanwhile the workers' idle recheck finds the posts.
//!
//! Must not: read or move posts (the worker does).

use crate::store::Store;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts listening on `store` (nothing on SQLite) until `stop`; the names arrive on the
/// receiver.
pub fn listen(store: Store, stop: CancellationToken) -> Option<UnboundedReceiver<String>> {
    if !store.is_postgres() {
        return None;
    }
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = forward(store, tx) => {}
        }
    });
    Some(rx)
}

/// Forwards announcements until the run loop is gone.
async fn forward(store: Store, tx: UnboundedSender<String>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match store.queued_announcements().await {
            Ok(Some(mut announcements)) => loop {
                match announcements.next().await {
                    Ok(account) => {
                        backoff = FIRST_BACKOFF;
                        if tx.send(account).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            "cannot hear the other daemons' queued posts: {e}; they are found at the workers' idle recheck until the database answers"
                        );
                        break;
                    }
                }
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(
                    "cannot listen for the other daemons' queued posts: {e}; trying again in {} s",
                    backoff.as_secs()
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
