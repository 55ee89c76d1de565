//! `release FEED`: queue what the flood guard held. Works beside a running daemon: it acts
//! through the store, and the daemon's publisher finds the posts on its next look.

use crate::config::Settings;
use crate::store::now_unix;
use anyhow::{Result, bail};
use std::io::Write;

pub async fn release(settings: &Settings, feed: &str, out: &mut dyn Write) -> Result<()> {
    let store = super::open_store(settings).await?;
    let name = settings.feed(feed).map_or(feed, |f| f.name.as_str());
    let Some(row) = store.feed_by_name(name).await? else {
        bail!("feed {feed:?} is not in the store; has it been polled yet?");
    };
    let n = store.release_held(row.id, now_unix()).await?;
    writeln!(out, "released {n} held post(s) of {}", row.name)?;
    tracing::info!(feed = %row.name, released = n, "released held posts");
    store.close().await;
    Ok(())
}
