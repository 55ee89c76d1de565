//! `preview FEED`: fetch one feed (configured, or any URL) once and print the posts its
//! items would become. Touches no store.

use crate::app::fetch_config;
use crate::cli::PreviewArgs;
use crate::compose::{Composer, FeedContext, FilterDecision};
use crate::config::Settings;
use crate::feed::address::AddressGuard;
use crate::feed::fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher};
use crate::feed::parse::parse_feed;
use crate::feed::redact::redact_url;
use crate::printout::write_post;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::Arc;

pub async fn preview(settings: &Settings, args: &PreviewArgs, out: &mut dyn Write) -> Result<()> {
    let (name, url, composer) = match settings.feed(&args.feed) {
        Some(feed) => (feed.name.clone(), feed.url.clone(), feed.composer.clone()),
        None => {
            let url = url::Url::parse(&args.feed).with_context(|| {
                format!(
                    "{:?} is neither a configured feed name nor a URL",
                    args.feed
                )
            })?;
            let composer = Composer::new(&settings.default_compose, "defaults")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (
                redact_url(url.as_str()).into_owned(),
                url,
                Arc::new(composer),
            )
        }
    };
    // A URL that is not a configured feed's only reaches public addresses: `preview` must
    // not become a way to probe the host's own network.
    let guarded = !args.allow_private && settings.feed(&args.feed).is_none();
    let fetcher = if guarded {
        Fetcher::guarded(fetch_config(settings), AddressGuard::public_only())?
    } else {
        Fetcher::new(fetch_config(settings))?
    };
    let shown = redact_url(url.as_str()).into_owned();
    let outcome = match fetcher
        .fetch(&FetchRequest {
            url: url.clone(),
            etag: None,
            last_modified: None,
        })
        .await
    {
        Err(e @ FetchError::PrivateAddress { .. }) => {
            bail!("{e}; pass --allow-private to preview it anyway")
        }
        other => other.with_context(|| format!("cannot fetch {shown}"))?,
    };
    let FetchOutcome::Fetched(body) = outcome else {
        bail!("{shown} answered 304 Not Modified to an unconditional request");
    };
    let parsed = tokio::task::spawn_blocking(move || {
        parse_feed(&body.body, body.content_type.as_deref(), &body.final_url)
    })
    .await?
    .with_context(|| format!("cannot parse {shown}"))?;
    let ctx = FeedContext {
        feed_name: &name,
        feed_title: parsed.title.as_deref(),
    };
    writeln!(
        out,
        "# {} · {} item(s) · showing at most {}\n",
        parsed.title.as_deref().unwrap_or(&name),
        parsed.items.len(),
        args.limit
    )?;
    for item in parsed.items.iter().take(args.limit) {
        match composer.filter(item) {
            FilterDecision::Reject { reason } => {
                writeln!(
                    out,
                    "--- {name} · filtered out: {reason}\n{}\n",
                    item.title.as_deref().unwrap_or("(untitled)")
                )?;
                continue;
            }
            FilterDecision::Accept => {}
        }
        match composer.compose(item, &ctx) {
            Ok(post) => write_post(out, &name, &post, "post")?,
            Err(e) => writeln!(out, "--- {name} · cannot compose: {e}\n")?,
        }
    }
    Ok(())
}
