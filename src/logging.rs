//! Tracing setup: JSON lines when stderr is not a terminal (systemd, Docker), readable
//! text on a terminal; `RUST_LOG` filters (default `info`).
//!
//! A log line that cannot be written (stderr closed: `feed2threads run 2>&1 | head -1`) is
//! dropped silently. The subscriber's default is to report the failure with `eprint!`,
//! which panics on the same closed stderr: the panic took down the task that logged, so a
//! poll never finished (a `--once` run hung, deaf to SIGTERM, whose handler panicked on its
//! own log line) and the daemon exited 101.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `force_json` / `force_text` override the terminal check.
pub fn init(force_json: bool, force_text: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let json = force_json || (!force_text && !std::io::stderr().is_terminal());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
