//! `status [--json] [--check]`: per feed and per account, health, queue, quota and token
//! expiry, read from the store (it works beside the daemon, and writes nothing), the quota
//! as the API reports it now (when a token is usable; a failed read is shown, not fatal),
//! and what the daemon's `/healthz` says when it serves one (a store outage shows there
//! first). `--check` exits 1 when a human is needed, and every reason is a line naming the
//! command that fixes it.
//!
//! - `gather`: what is read (store, `/healthz`, the API's quota), redacted once; queued posts
//!   a posting window or a cap holds are counted apart, with why and until when.
//! - `problems`: what needs a human, and the fix for each.
//! - `render`: the text and the JSON.

mod gather;
mod problems;
mod render;

pub use problems::{Kind, NEVER_SUCCEEDED_AFTER, Problem};

use crate::cli::StatusArgs;
use crate::config::Settings;
use anyhow::Result;
use std::io::Write;

/// `status`: a table, or JSON; `--check` returns false when a human is needed.
pub async fn status(settings: &Settings, args: &StatusArgs, out: &mut dyn Write) -> Result<bool> {
    let store = super::open_store(settings).await?;
    let snapshot = gather::snapshot(settings, &store).await;
    store.close().await;
    let snapshot = snapshot?;
    let problems = problems::assess(&snapshot, &settings.status);
    if args.json {
        let doc = render::json(&snapshot, &problems);
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        render::text(&snapshot, &problems, out)?;
    }
    Ok(problems.is_empty() || !args.check)
}
