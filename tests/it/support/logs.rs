//! Captures the log lines of a test that runs on one thread (`#[tokio::test]`'s default
//! runtime): every task the test spawns is polled on that thread, so a thread-local
//! subscriber sees the daemon's lines.
#![allow(dead_code, reason = "each test module uses a part of it")]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Keeps the capture on.
pub struct Capture {
    _guard: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

/// The lines logged while the guard lives.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Starts capturing on this thread, as plain text lines, until the guard drops.
    pub fn capture() -> (Logs, Capture) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // With a single registered dispatcher, tracing-core computes a callsite's interest
        // from the current thread's subscriber when the callsite is first hit; a parallel
        // test thread (no subscriber) would cache "never" for the daemon's callsites. A
        // second registered dispatcher makes it ask every live dispatcher instead.
        let second = tracing::Dispatch::new(tracing_subscriber::registry());
        (
            logs,
            Capture {
                _guard: guard,
                _second: second,
            },
        )
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The last line logged.
    pub fn last_line(&self) -> String {
        self.text().lines().last().unwrap_or_default().to_string()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
