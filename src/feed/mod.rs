//! Getting feeds: HTTP fetching (`fetch`), bytes to items (`parse`, run on the
//! `parse_pool` threads) and the item model with its identity keys (`item`).
//!
//! Inside `parse`: `encoding` (bytes to UTF-8), `dialect` (what the root says the
//! document is, and rewrites of what feed-rs does not read), `parse_scan` (quick-xml
//! scans for what feed-rs drops), `repair` (the pass that makes broken XML readable),
//! `links` (the link rules).

mod canonical;
mod dialect;
mod encoding;
pub mod fetch;
mod identity;
pub mod item;
mod links;
pub mod parse;
pub mod parse_pool;
mod parse_scan;
mod repair;
