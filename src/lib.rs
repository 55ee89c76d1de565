//! feed2threads: polls news feeds and publishes each new story once to Threads.
//!
//! # Layout
//! Data flows one way:
//! `schedule` → `feed::fetch` → `feed::parse` → `poll` (dedupe and policy through `store`)
//! → `compose` → `store` outbox → `publish` (one worker per account) → `threads`.
//!
//! - `cli`: the command line (clap).
//! - `logging`: tracing setup (JSON off a terminal, text on one).
//! - `config`: TOML → raw structs → validated `Settings`; secrets.
//! - `app`: wires the components, the run loop and shutdown; the commands' bodies.
//! - `feed`: HTTP fetch, parsing, the item model and identity keys.
//! - `schedule`: when each feed is next due.
//! - `poll`: one poll of one feed, from fetch to outbox.
//! - `procstat`: the process's own CPU time and peak memory, for logs and the benchmark.
//! - `compose`: item → post within the API's limits.
//! - `store`: every SQL statement.
//! - `threads`: the Threads API client.
//! - `publish`: per-account publishing workers.
//! - `auth`: the `auth` command: Meta's OAuth flow or a token import, stored in `store`.
//! - `opml`: the `import-opml` command: OPML export → `[[feeds]]` blocks.
//! - `http`: the `/healthz` and `/metrics` endpoint, and the run loop's `Liveness` pulse.
//! - `desk`: the editors' web page under `/desk` (sessions, CSRF, templates).
//! - `review`: editorial actions on posts (approve, edit, release, retry, drop), shared by
//!   the CLI and the desk, each checked and logged with who acted.
//! - `metrics`: every Prometheus metric name and the helpers that record them.
//! - `notify`: systemd `sd_notify` readiness, watchdog and stopping messages.

pub mod app;
pub mod auth;
pub mod cli;
pub mod compose;
pub mod config;
pub mod desk;
pub mod feed;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod poll;
pub mod procstat;
pub mod publish;
pub mod review;
pub mod schedule;
pub mod store;
pub mod threads;
