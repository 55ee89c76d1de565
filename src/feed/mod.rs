//! Getting feeds: HTTP fetching (`fetch`), bytes to items (`parse`) and the item model
//! with its identity keys (`item`).

mod encoding;
pub mod fetch;
pub mod item;
pub mod parse;
mod parse_scan;
