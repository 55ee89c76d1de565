//! Getting feeds: HTTP fetching (`fetch`, with the `address` guard for URLs that are not
//! configured feeds), bytes to items (`parse`, run on the `parse_pool` threads), the item
//! model with its identity keys (`item`), and `redact` for showing a feed URL without the
//! credentials it may carry.

pub mod address;
mod encoding;
pub mod fetch;
mod html_images;
pub mod item;
pub mod parse;
pub mod parse_pool;
mod parse_scan;
pub mod redact;
