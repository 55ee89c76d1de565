//! `run`, `run --once`, `run --dry-run`: the signals (SIGTERM/SIGINT stop, SIGHUP reloads),
//! the run mode decided once from the command line, then `app` does the rest.
//!
//! Exit codes: those of `daemon::RunReport` (0, or 1 with the reason in the last log line);
//! a failure to start (the store lock held by another daemon, a store that cannot be
//! opened, an address in use) is 1 with the reason on stderr.

use crate::app::{App, AppOptions};
use crate::cli::RunArgs;
use crate::config::Settings;
use crate::run_mode::RunMode;
use anyhow::Result;
use std::process::ExitCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub async fn run(settings: &Settings, args: RunArgs) -> Result<ExitCode> {
    let mode = RunMode::from_args(&args);
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let reload = spawn_reload_handler();
    let app = App::start(settings.clone(), mode, AppOptions::default(), shutdown).await?;
    let report = app.run(reload, Box::new(std::io::stdout())).await;
    Ok(ExitCode::from(report.exit_code()))
}

/// SIGHUP asks for a config reload; each signal is one message on the channel.
fn spawn_reload_handler() -> Option<mpsc::UnboundedReceiver<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP; config reload is off: {e}");
                return None;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received; reloading the config");
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        Some(rx)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// SIGTERM and SIGINT (ctrl-c) both ask for a clean stop; a second signal is left to
/// the default handler's successor: we only listen once.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received; stopping"),
                        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; stopping"),
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        shutdown.cancel();
    });
}
