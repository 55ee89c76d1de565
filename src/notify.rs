//! systemd service notifications (`Type=notify`): readiness, watchdog pings, stopping.
//!
//! Every helper is a no-op when `NOTIFY_SOCKET` is unset (a terminal, Docker, tests), and a
//! failure to notify is logged, never fatal: the daemon's work matters more than telling
//! systemd about it. [`run_watchdog`] pings only while the run loop's [`Liveness`] is fresh,
//! so a loop that hangs stops the pings and systemd restarts the service; a timer that pinged
//! unconditionally would keep a wedged daemon "alive" forever.

use crate::http::Liveness;
use sd_notify::NotifyState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState<'_>], what: &str) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd ({what}): {e}");
    }
}

/// The daemon is up (store open, config applied): systemd may consider the start done.
pub fn ready() {
    send(
        &[NotifyState::Ready, NotifyState::Status("running")],
        "READY",
    );
}

/// The run loop is alive: resets systemd's watchdog timer.
pub fn watchdog() {
    send(&[NotifyState::Watchdog], "WATCHDOG");
}

/// Shutdown has begun; the post in flight is being finished.
pub fn stopping() {
    send(
        &[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing the post in flight"),
        ],
        "STOPPING",
    );
}

/// A one-line status shown by `systemctl status`. Must never contain a secret.
pub fn status(line: &str) {
    send(&[NotifyState::Status(line)], "STATUS");
}

/// How often to ping: half the unit's `WatchdogSec=` (systemd's own advice), or `None` when
/// no watchdog is configured for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Pings the watchdog every half `WatchdogSec=` while `liveness` beat within `max_age`, until
/// `shutdown` fires. Returns at once when no watchdog is configured. Spawn it next to the run
/// loop; `max_age` is the same limit `/healthz` uses (`http::DEFAULT_STALE_AFTER`).
pub async fn run_watchdog(liveness: Liveness, max_age: Duration, shutdown: CancellationToken) {
    let Some(every) = watchdog_interval() else {
        return;
    };
    let every = every.max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval(every);
    let mut warned = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if liveness.is_fresh(max_age) {
            watchdog();
            warned = false;
        } else if !warned {
            tracing::error!(
                last_tick = %crate::human::timestamp(liveness.last_tick()),
                "the run loop is stuck; withholding the watchdog ping so systemd restarts us"
            );
            warned = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::process::Command;

    /// Runs in a child process started by `notifications_reach_the_socket` with
    /// `NOTIFY_SOCKET` set (the environment cannot be changed safely in this process).
    #[test]
    #[ignore = "helper: run as a child process by notifications_reach_the_socket"]
    fn child_sends_notifications() {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return;
        }
        ready();
        watchdog();
        status("polling 3 feeds");
        stopping();
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let exe = std::env::current_exe().unwrap();
        let output = Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "notify::tests::child_sends_notifications",
            ])
            .env("NOTIFY_SOCKET", &path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let mut messages = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..4 {
            let n = socket.recv(&mut buf).unwrap();
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(messages[0], "READY=1\nSTATUS=running\n");
        assert_eq!(messages[1], "WATCHDOG=1\n");
        assert_eq!(messages[2], "STATUS=polling 3 feeds\n");
        assert!(messages[3].starts_with("STOPPING=1\n"), "{}", messages[3]);
    }

    #[test]
    fn without_a_socket_everything_is_a_no_op() {
        // The test runner is not started by systemd; if it were, skip rather than ping it.
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            return;
        }
        ready();
        watchdog();
        stopping();
        assert_eq!(watchdog_interval(), None);
    }

    #[tokio::test]
    async fn watchdog_task_returns_without_a_watchdog() {
        if std::env::var_os("WATCHDOG_USEC").is_some() {
            return;
        }
        let done = tokio::time::timeout(
            Duration::from_secs(5),
            run_watchdog(
                Liveness::new(),
                Duration::from_secs(90),
                CancellationToken::new(),
            ),
        )
        .await;
        assert!(done.is_ok());
    }
}
