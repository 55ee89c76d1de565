//! Supervision of the publishing workers: one task per account, and a task that panics is
//! caught (its `JoinError`), reported with its panic message as a failure of that account,
//! and restarted after a capped backoff, so one account's bug never silently stops it nor
//! takes the others down.
//!
//! In a `--once` run that is draining, an account whose worker keeps panicking is given up
//! after a few restarts and reported, so the run ends and says so.
//!
//! Must not: know what a worker does; it runs the futures `start` gives it.

use super::backoff::Backoff;
use super::report::{Ending, WorkerReport};
use crate::config::AccountSettings;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// Builds and runs one account's worker to its end.
pub type StartWorker =
    Arc<dyn Fn(AccountSettings) -> BoxFuture<'static, WorkerReport> + Send + Sync>;

/// When a panicked worker is started again.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// While draining (`--once`), panics of one account after which it is given up.
    pub max_panics_when_draining: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            max_panics_when_draining: 3,
        }
    }
}

struct Supervised {
    account: AccountSettings,
    panics: Vec<String>,
    backoff: Backoff,
}

/// Runs one worker per account until each has ended; returns their reports (with the
/// panics each account went through).
pub async fn supervise(
    accounts: Vec<AccountSettings>,
    start: StartWorker,
    policy: RestartPolicy,
    shutdown: CancellationToken,
    drain: CancellationToken,
) -> Vec<WorkerReport> {
    let mut tasks = JoinSet::new();
    let mut running: HashMap<Id, Supervised> = HashMap::new();
    for account in accounts {
        let id = tasks.spawn(start(account.clone())).id();
        running.insert(
            id,
            Supervised {
                account,
                panics: Vec::new(),
                backoff: Backoff::new(policy.base, policy.cap),
            },
        );
    }
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, outcome) = match joined {
            Ok((id, report)) => (id, Ok(report)),
            Err(e) => (e.id(), Err(panic_message(e))),
        };
        let Some(mut worker) = running.remove(&id) else {
            continue;
        };
        match outcome {
            Ok(mut report) => {
                report.panics = std::mem::take(&mut worker.panics);
                reports.push(report);
            }
            Err(message) => {
                let name = worker.account.name.clone();
                worker.panics.push(message.clone());
                let give_up = shutdown.is_cancelled()
                    || (drain.is_cancelled()
                        && worker.panics.len() > policy.max_panics_when_draining as usize);
                if give_up {
                    tracing::error!(account = %name, "the publisher panicked: {message}; not restarted");
                    let mut report = WorkerReport::new(&name);
                    report.ending = Ending::Panicked { message };
                    report.panics = worker.panics;
                    reports.push(report);
                    continue;
                }
                let delay = worker.backoff.next_delay();
                tracing::error!(
                    account = %name,
                    "the publisher panicked: {message}; restarting it in {}",
                    humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
                );
                let restart = restart_after(
                    delay,
                    worker.account.clone(),
                    start.clone(),
                    message,
                    shutdown.clone(),
                );
                running.insert(tasks.spawn(restart).id(), worker);
            }
        }
    }
    reports
}

/// The worker started again after `delay`, unless shutdown comes first.
async fn restart_after(
    delay: Duration,
    account: AccountSettings,
    start: StartWorker,
    message: String,
    shutdown: CancellationToken,
) -> WorkerReport {
    tokio::select! {
        () = tokio::time::sleep(delay) => start(account).await,
        () = shutdown.cancelled() => {
            let mut report = WorkerReport::new(&account.name);
            report.ending = Ending::Panicked { message };
            report
        }
    }
}

/// The text a task panicked with ("cancelled" for an aborted task).
pub fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string()),
        Err(_) => "the task was cancelled".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use std::path::Path;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn accounts(names: &[&str]) -> Vec<AccountSettings> {
        let text: String = names
            .iter()
            .map(|n| format!("[[accounts]]\nname = \"{n}\"\n"))
            .collect();
        Settings::parse(&text, Path::new("t.toml"))
            .unwrap()
            .accounts
    }

    /// Panics with `message`, as a bug in a worker would, without the panic hook: under
    /// RUST_BACKTRACE=1 the hook's backtrace costs each test a second, and the supervisor
    /// sees the same unwinding panic and its message either way.
    fn bug(message: String) -> ! {
        std::panic::resume_unwind(Box::new(message))
    }

    fn policy() -> RestartPolicy {
        RestartPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
            max_panics_when_draining: 2,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicked_worker_is_restarted_and_the_others_run_on() {
        let starts = Arc::new(AtomicU32::new(0));
        let counter = starts.clone();
        let start: StartWorker = Arc::new(move |account: AccountSettings| {
            let n = if account.name == "flaky" {
                counter.fetch_add(1, Ordering::SeqCst)
            } else {
                99
            };
            Box::pin(async move {
                if n < 2 {
                    bug(format!("overflow in the pacing of {}", account.name));
                }
                let mut report = WorkerReport::new(&account.name);
                report.ending = Ending::Idle;
                report
            })
        });
        let mut reports = supervise(
            accounts(&["flaky", "steady"]),
            start,
            policy(),
            CancellationToken::new(),
            CancellationToken::new(),
        )
        .await;
        reports.sort_by(|a, b| a.account.cmp(&b.account));
        assert_eq!(starts.load(Ordering::SeqCst), 3, "started, restarted twice");
        assert_eq!(reports[0].account, "flaky");
        assert_eq!(reports[0].ending, Ending::Idle);
        assert_eq!(
            reports[0].panics,
            [
                "overflow in the pacing of flaky",
                "overflow in the pacing of flaky"
            ]
        );
        assert!(reports[0].trouble().unwrap().contains("panicked"));
        assert_eq!(reports[1].ending, Ending::Idle);
        assert!(reports[1].panics.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_keeps_panicking_while_draining_is_given_up() {
        let start: StartWorker = Arc::new(|account: AccountSettings| {
            Box::pin(async move { bug(format!("always, for {}", account.name)) })
        });
        let drain = CancellationToken::new();
        drain.cancel();
        let reports = supervise(
            accounts(&["doomed"]),
            start,
            policy(),
            CancellationToken::new(),
            drain,
        )
        .await;
        assert_eq!(reports.len(), 1);
        assert_eq!(
            reports[0].ending,
            Ending::Panicked {
                message: "always, for doomed".into()
            }
        );
        assert_eq!(reports[0].panics.len(), 3);
    }
}
