//! Getting feeds: HTTP fetching (`fetch`, with the `address` guard for URLs that are not
//! configured feeds), bytes to items (`parse`, run on the `parse_pool` threads), the item
//! model with its identity keys (`item`), and `redact` for showing a feed URL without the
//! credentials it may carry.
//!
//! Inside `parse`: `encoding` (bytes to UTF-8), `dialect` (what the root says the
//! document is, and rewrites of what feed-rs does not read), `parse_scan` (quick-xml
//! scans for what feed-rs drops), `repair` (the pass that makes broken XML readable),
//! `links` (the link rules), `html_images` (images in HTML content).

pub mod address;
mod bounded;
mod canonical;
mod dialect;
mod encoding;
pub mod fetch;
mod html_images;
mod identity;
pub mod item;
mod links;
pub mod parse;
pub mod parse_pool;
mod parse_scan;
pub mod redact;
mod repair;
