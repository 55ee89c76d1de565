//! `preview FEED`: fetch one feed (configured, or any URL) once and print the posts its
//! items would become, each other item with why it would be skipped (older than
//! `max_age`, filtered, not composable), and a one-line summary. Touches no store, so it
//! cannot know what was seen before: the dry run shows that.

use super::UsageError;
use crate::app::fetch_config;
use crate::cli::PreviewArgs;
use crate::compose::{Composer, FeedContext, FilterDecision, html_to_line};
use crate::config::Settings;
use crate::fate::{Fate, ItemFate, Tally};
use crate::feed::address::AddressGuard;
use crate::feed::fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher};
use crate::feed::parse::parse_feed;
use crate::feed::redact::redact_url;
use crate::printout::{write_fate, write_post};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::Arc;

pub async fn preview(settings: &Settings, args: &PreviewArgs, out: &mut dyn Write) -> Result<()> {
    // A URL that is no configured feed's has no `review` key: its posts would go out.
    let (name, url, composer, max_age, review) = match settings.feed(&args.feed) {
        // Shown redacted: a name that defaults to the URL may carry credentials.
        Some(feed) => (
            redact_url(&feed.name).into_owned(),
            feed.url.clone(),
            feed.composer.clone(),
            feed.max_age,
            feed.review,
        ),
        None => {
            let url = url::Url::parse(&args.feed).map_err(|_| {
                UsageError(if settings.defaults_only {
                    format!(
                        "{:?} is not a URL, and without a config file there are no feed names",
                        redact_url(&args.feed)
                    )
                } else {
                    format!(
                        "{:?} is neither a configured feed name nor a URL",
                        redact_url(&args.feed)
                    )
                })
            })?;
            let composer = Composer::new(&settings.default_compose, "defaults")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (
                redact_url(url.as_str()).into_owned(),
                url,
                Arc::new(composer),
                settings.default_max_age,
                false,
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
        "# {} · {} item(s) · showing at most {}",
        parsed.title.as_deref().unwrap_or(&name),
        parsed.items.len(),
        args.limit
    )?;
    writeln!(
        out,
        "# preview reads no store: items seen before (and their changed headlines), the backlog policy and duplicates are \
         for `feed2threads run --once --dry-run` to show\n"
    )?;
    let cutoff = max_age
        .and_then(|m| chrono::Duration::from_std(m).ok())
        .and_then(|m| chrono::Utc::now().checked_sub_signed(m));
    let mut fates = Vec::new();
    for item in parsed.items.iter().take(args.limit) {
        let fate = match (cutoff, item.date(), max_age) {
            (Some(cutoff), Some(date), Some(max_age)) if date < cutoff => {
                Fate::TooOld { date, max_age }
            }
            _ => match composer.filter(item) {
                FilterDecision::Reject { reason } => Fate::Filtered { reason },
                FilterDecision::Accept => match composer.compose(item, &ctx) {
                    Ok(post) if review => {
                        write_post(out, &name, &post, "would wait for review")?;
                        Fate::Review
                    }
                    Ok(post) => {
                        write_post(out, &name, &post, "post")?;
                        Fate::Post
                    }
                    Err(e) => Fate::Invalid {
                        error: e.to_string(),
                    },
                },
            },
        };
        let fate = ItemFate {
            title: item
                .title
                .as_deref()
                .map(html_to_line)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "(untitled)".to_string()),
            fate,
        };
        // A post (to go, or to wait for review) is shown above as it will appear.
        if !fate.fate.posts() && fate.fate != Fate::Review {
            write_fate(out, &name, &fate)?;
        }
        fates.push(fate);
    }
    writeln!(out, "{}", Tally::of_fates(&fates).line(&name, max_age))?;
    Ok(())
}
