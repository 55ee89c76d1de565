//! Helpers shared by the integration tests (one test crate: `tests/it/main.rs`).

pub mod desk;
pub mod fake_threads;
pub mod feed_server;
pub mod logs;
pub mod rss;
pub mod test_app;
