//! `release FEED [--latest N] [--drop-rest]`: queue what the flood guard held, all of it
//! or the newest N, keeping or dropping the rest. Works beside a running daemon: it acts
//! through the store, and the daemon's publisher finds the posts on its next look.

use super::queue::release_order;
use crate::cli::ReleaseArgs;
use crate::config::Settings;
use crate::feed::redact::redact_url;
use crate::review::{Actor, Editor};
use crate::store::Store;
use anyhow::{Result, bail};
use std::io::Write;

/// `release FEED [--latest N] [--drop-rest]`.
pub async fn release(settings: &Settings, args: &ReleaseArgs, out: &mut dyn Write) -> Result<()> {
    let store = super::open_store(settings).await?;
    let result = release_in(&store, settings, args, out).await;
    store.close().await;
    result
}

async fn release_in(
    store: &Store,
    settings: &Settings,
    args: &ReleaseArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let name = settings
        .feed(&args.feed)
        .map_or(args.feed.as_str(), |f| f.name.as_str());
    let Some(row) = store.feed_by_name(name).await? else {
        bail!(
            "feed {:?} is not in the store; has it been polled yet?",
            redact_url(&args.feed)
        );
    };
    let order = release_order(settings, Some(&row.name));
    // `--drop-rest` alone releases none: it drops what an earlier `--latest` left held.
    let latest = match (args.latest, args.drop_rest) {
        (Some(n), _) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        (None, true) => Some(0),
        (None, false) => None,
    };
    let done = Editor::new(store.clone(), Actor::Cli)
        .release_feed(row.id, &row.name, latest, args.drop_rest, order)
        .await?;
    write!(
        out,
        "released {} held post(s) of {}",
        done.released.len(),
        redact_url(&row.name)
    )?;
    if done.released.len() > 1 {
        write!(out, " ({} first)", order.as_str())?;
    }
    if !done.dropped.is_empty() {
        write!(out, "; dropped {}", done.dropped.len())?;
    }
    if done.kept > 0 {
        write!(out, "; {} still held", done.kept)?;
    }
    writeln!(out)?;
    Ok(())
}
