//! Tracing setup: JSON lines when stderr is not a terminal (systemd, Docker), readable
//! text on a terminal; `RUST_LOG` filters (default `info`). Text carries colour codes only
//! when stderr is a terminal and `NO_COLOR` is not set (<https://no-color.org>): a file or
//! a pipe (`--log-format text 2> run.log`, `journalctl`) gets plain text.
//!
//! A log line that cannot be written (stderr closed: `feed2threads run 2>&1 | head -1`) is
//! dropped silently. The subscriber's default is to report the failure with `eprint!`,
//! which panics on the same closed stderr: the panic took down the task that logged, so a
//! poll never finished (a `--once` run hung, deaf to SIGTERM, whose handler panicked on its
//! own log line) and the daemon exited 101.
//!
//! Must not: decide what is logged, or how values are worded (see `human`).

use std::ffi::OsStr;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `force_json` / `force_text` override the terminal check.
pub fn init(force_json: bool, force_text: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let terminal = std::io::stderr().is_terminal();
    let json = force_json || (!force_text && !terminal);
    let colour = colour(terminal, std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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

/// Whether text logs may carry colour codes: only on a terminal, and not when `NO_COLOR`
/// is set to anything but the empty string.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsStr::new(""))));
    }
}
