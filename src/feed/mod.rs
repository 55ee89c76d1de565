//! Getting feeds: HTTP fetching (`fetch`), bytes to items (`parse`, run on the
//! `parse_pool` threads) and the item model with its identity keys (`item`).

mod encoding;
pub mod fetch;
pub mod item;
pub mod parse;
pub mod parse_pool;
mod parse_scan;
