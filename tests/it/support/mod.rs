//! Helpers shared by the integration tests (one test crate: `tests/it/main.rs`).

pub mod daemon;
pub mod desk;
pub mod fake_threads;
pub mod feed_server;
pub mod kill9;
pub mod logs;
pub mod newsroom;
pub mod pg;
pub mod proxy;
pub mod rss;
pub mod sqlite_template;
pub mod test_app;

/// An address on 127.0.0.1 that nothing listens on right now (bound, noted, closed): a
/// refused connection, or a port for a daemon's `listen`.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}
