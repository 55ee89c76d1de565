//! What the benchmarks share: the corpus selection, the local feeds built from it, the
//! median.
#![allow(dead_code, reason = "each benchmark uses a part of it")]

pub mod feeds;

use std::path::{Path, PathBuf};

/// The corpus directory: FEED_CORPUS, else ../shared/feeds.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(std::env::var("FEED_CORPUS").unwrap_or_else(|_| "../shared/feeds".into()))
}

/// The corpus news feeds the benchmarks use, as raw bytes, in file-name order: UTF-8 (the
/// poll benchmark rewrites identities in the text), at least 2 KiB, and parsing into at
/// least 5 items.
pub fn corpus_feeds(dir: &Path) -> Vec<Vec<u8>> {
    let base = url::Url::parse("https://example.org/").unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() >= 2048 && std::str::from_utf8(b).is_ok())
        .filter(|b| {
            feed2threads::feed::parse::parse_feed(b, None, &base).is_ok_and(|f| f.items.len() >= 5)
        })
        .collect()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The daemon binary to measure: `BENCH_BINARY` (another build, an earlier release say), else
/// this checkout's release build, which must exist.
pub fn daemon_binary() -> PathBuf {
    let binary = std::env::var_os("BENCH_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/feed2threads"),
        PathBuf::from,
    );
    assert!(
        binary.exists(),
        "build the daemon first: cargo build --release"
    );
    binary
}

/// Serves `app` on `rt` at 127.0.0.1 to 127.0.0.`hosts`, a free port each: their addresses.
pub fn serve_on_loopback(
    rt: &tokio::runtime::Runtime,
    hosts: usize,
    app: axum::Router,
) -> Vec<std::net::SocketAddr> {
    (1..=hosts)
        .map(|h| {
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(format!("127.0.0.{h}:0")))
                .expect("bind a loopback address");
            let addr = listener.local_addr().unwrap();
            let app = app.clone();
            rt.spawn(async move { axum::serve(listener, app).await });
            addr
        })
        .collect()
}

/// `command` (the daemon, or a wrapper around it) given `config`, JSON logs at
/// `BENCH_RUST_LOG` (default: warnings, and the daemon's start and stop lines whose figures
/// the benchmarks read), then `args` (`run`, `--once`).
pub fn daemon_args<'c>(
    command: &'c mut std::process::Command,
    config: &Path,
    args: &[&str],
) -> &'c mut std::process::Command {
    command
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json"])
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG")
                .unwrap_or_else(|_| "warn,feed2threads::app=info".into()),
        )
}
