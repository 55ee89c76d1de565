//! feed2threads: polls news feeds and publishes each new story once to Threads.
//!
//! # Layout
//! Data flows one way:
//! `schedule` → `feed::fetch` → `feed::parse` → `poll` (dedupe and policy through `store`)
//! → `compose` → `store` outbox → `publish` (one worker per account) → `threads`.
//!
//! - `cli`: the command line (clap).
//! - `logging`: tracing setup (JSON off a terminal, text on one, colour only on a terminal).
//! - `human`: how times, durations and post excerpts read to a person.
//! - `config`: TOML → raw structs → validated `Settings`; secrets.
//! - `run_mode`: `RunMode` (once or daemon, live or dry), decided once from the command line.
//! - `app`: wires the components for a run in its mode (start-up and reloads).
//! - `daemon`: the run loop, the polls in flight, the heartbeat, the run's report and exit code.
//! - `scheduler`: which feed is due, which is being polled, when to wake up.
//! - `health`: the store's outages as the daemon meets them (for `/healthz` and the limit).
//! - `commands`: the bodies of the commands, one file each.
//! - `printout`: how a post reads to an operator (`preview`, dry run).
//! - `fate`: what became of each item and why, and a feed's one-line summary, in words.
//! - `feed`: HTTP fetch, parsing, the item model and identity keys.
//! - `schedule`: when each feed is next due.
//! - `poll`: one poll of one feed, from fetch to outbox.
//! - `corrections`: `on_update = "reply"`: a published story's changed headline → a reply.
//! - `procstat`: the process's own CPU time and peak memory, for logs and the benchmark.
//! - `compose`: item → post within the API's limits.
//! - `store`: every SQL statement; the daemon lock; the dry run's in-memory snapshot.
//! - `threads`: the Threads API client.
//! - `publish`: per-account publishing workers, supervised.
//! - `auth`: the `auth` command: Meta's OAuth flow or a token import, stored in `store`.
//! - `opml`: the `import-opml` command: OPML export → `[[feeds]]` blocks.
//! - `http`: the `/healthz` and `/metrics` endpoint, and the run loop's `Liveness` pulse.
//! - `desk`: the editors' web page under `/desk` (sessions, CSRF, templates).
//! - `review`: editorial actions on posts (approve, edit, release, retry, drop), shared by
//!   the CLI and the desk, each checked and logged with who acted.
//! - `metrics`: every Prometheus metric name and the helpers that record them.
//! - `notify`: systemd `sd_notify` readiness, watchdog and stopping messages.
//! - `tokens`: the configured access tokens against the stored ones (seed, warn once).

pub mod app;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config;
pub mod corrections;
pub mod daemon;
pub mod desk;
pub mod fate;
pub mod feed;
pub mod health;
pub mod http;
pub mod human;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod poll;
pub mod printout;
pub mod procstat;
pub mod publish;
pub mod review;
pub mod run_mode;
pub mod schedule;
pub mod scheduler;
pub mod store;
pub mod threads;
pub mod tls;
pub mod tokens;
