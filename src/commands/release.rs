//! `release FEED`: queue what the flood guard held. Works beside a running daemon: it acts
//! through the store, and the daemon's publisher finds the posts on its next look.

use crate::config::Settings;
use crate::feed::redact::redact_url;
use crate::store::now_unix;
use anyhow::{Result, bail};
use std::io::Write;

pub async fn release(settings: &Settings, feed: &str, out: &mut dyn Write) -> Result<()> {
    let store = super::open_store(settings).await?;
    let name = settings.feed(feed).map_or(feed, |f| f.name.as_str());
    let Some(row) = store.feed_by_name(name).await? else {
        bail!(
            "feed {:?} is not in the store; has it been polled yet?",
            redact_url(feed)
        );
    };
    let n = store.release_held(row.id, now_unix()).await?;
    let shown = redact_url(&row.name);
    writeln!(out, "released {n} held post(s) of {shown}")?;
    tracing::info!(feed = %shown, released = n, "released held posts");
    store.close().await;
    Ok(())
}
