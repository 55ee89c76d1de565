//! `queue list|approve|edit|release|retry|drop`: look at and act on the outbox. Each verb
//! takes several ids and acts on each (one line per post); the command fails (exit 1) when
//! any of them could not be acted on, after doing the others. Works beside a running
//! daemon: every change is one guarded statement in the store, made and logged by
//! [`Editor`] as the CLI.

use super::{format_time, truncate};
use crate::cli::{QueueCommand, QueueEditArgs, QueueListArgs};
use crate::config::{ReleaseOrder, Settings};
use crate::feed::redact::redact_url;
use crate::review::{Actor, Done, Editor, ReviewError};
use crate::store::{OutboxRow, PostFilter, PostOrder, PostWait, Store, now_unix};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;

/// `queue …`.
pub async fn queue(settings: &Settings, command: QueueCommand, out: &mut dyn Write) -> Result<()> {
    let store = super::open_store(settings).await?;
    let result = run(&store, settings, command, out).await;
    store.close().await;
    result
}

async fn run(
    store: &Store,
    settings: &Settings,
    command: QueueCommand,
    out: &mut dyn Write,
) -> Result<()> {
    let editor = Editor::new(store.clone(), Actor::Cli);
    let results: Vec<Result<Done, ReviewError>> = match command {
        QueueCommand::List(args) => return list(store, settings, &args, out).await,
        QueueCommand::Approve { ids } => each(&ids, |id| editor.approve(id)).await,
        QueueCommand::Retry { ids } => each(&ids, |id| editor.retry(id)).await,
        QueueCommand::Drop { ids } => each(&ids, |id| editor.drop_post(id)).await,
        QueueCommand::Release { ids } => {
            let names: HashMap<i64, String> = store
                .list_feeds()
                .await?
                .into_iter()
                .map(|f| (f.id, f.name))
                .collect();
            let order = |feed: i64| release_order(settings, names.get(&feed).map(String::as_str));
            editor.release_posts(&ids, order).await?
        }
        QueueCommand::Edit(args) => vec![edit(&editor, &args).await?],
    };
    report(results, out)
}

async fn each<F, Fut>(ids: &[i64], act: F) -> Vec<Result<Done, ReviewError>>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Done, ReviewError>>,
{
    let mut results = Vec::with_capacity(ids.len());
    for &id in ids {
        results.push(act(id).await);
    }
    results
}

async fn edit(editor: &Editor, args: &QueueEditArgs) -> Result<Result<Done, ReviewError>> {
    let text = match (&args.text, &args.text_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--text-file: cannot read {}", path.display()))?;
            // An editor saves a final newline; the post does not want it.
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        }
        (None, None) => bail!("give the new text with --text TEXT or --text-file FILE"),
    };
    Ok(editor.edit(args.id, &text).await)
}

/// One line per post; an error (exit 1) naming the posts that were refused.
fn report(results: Vec<Result<Done, ReviewError>>, out: &mut dyn Write) -> Result<()> {
    let mut refused = Vec::new();
    for result in results {
        match result {
            Ok(done) => writeln!(out, "{done}")?,
            Err(e @ ReviewError::Store(_)) => return Err(e.into()),
            Err(e) => refused.push(e.to_string()),
        }
    }
    match refused.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one} (see `feed2threads queue list`)"),
        many => bail!(
            "{} posts were not changed:\n  {}\n(see `feed2threads queue list`)",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// `queue list [ACCOUNT] [--state S] [--feed F] [--json]`.
async fn list(
    store: &Store,
    settings: &Settings,
    args: &QueueListArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let account_id = match &args.account {
        None => None,
        Some(name) => Some(
            store
                .account_by_name(name)
                .await?
                .with_context(|| format!("no account named {name:?} in the store"))?
                .id,
        ),
    };
    let names: HashMap<i64, String> = store
        .list_feeds()
        .await?
        .into_iter()
        // Shown redacted: a name that defaults to the URL may carry credentials.
        .map(|f| (f.id, redact_url(&f.name).into_owned()))
        .collect();
    let feed_id = match &args.feed {
        None => None,
        Some(feed) => {
            let name = settings
                .feed(feed)
                .map_or(feed.as_str(), |f| f.name.as_str());
            let row = store.feed_by_name(name).await?.with_context(|| {
                format!(
                    "--feed: no feed named {:?} in the store; has it been polled yet?",
                    redact_url(feed)
                )
            })?;
            Some(row.id)
        }
    };
    let rows = store
        .list_posts(&PostFilter {
            account_id,
            feed_id,
            states: &args.state,
            limit: args.limit,
            order: PostOrder::Newest,
        })
        .await?;
    let feed_name = |row: &OutboxRow| {
        names
            .get(&row.feed_id)
            .map_or("?", String::as_str)
            .to_owned()
    };
    if args.json {
        // Like `status --json`: times in unix seconds, and why a queued post waits.
        let waits: HashMap<i64, PostWait> = store
            .outbox_waits(account_id, now_unix())
            .await?
            .into_iter()
            .map(|w| (w.post, w))
            .collect();
        let posts: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "id": row.id,
                    "state": row.state.as_str(),
                    "feed": feed_name(row),
                    "text": row.text,
                    "link": row.link_attachment,
                    "topic_tag": row.topic_tag,
                    "media_type": row.media_type.as_str(),
                    "image_url": row.image_url,
                    "error": row.last_error,
                    "permalink": row.permalink,
                    "item_date": row.item_date,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                    "published_at": row.published_at,
                    "wait": waits.get(&row.id).map(|w| serde_json::json!({
                        "kind": w.kind.as_str(),
                        "until": w.until,
                        "reason": w.note,
                    })),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "posts": posts }))?
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>6}  {:<18} {:<20} {:<25} text",
        "id", "state", "feed", "updated"
    )?;
    for row in &rows {
        let first_line = row.text.lines().next().unwrap_or("");
        let mut detail = truncate(first_line, 60);
        if let Some(link) = row.permalink.as_ref().or(row.link_attachment.as_ref()) {
            detail.push_str(&format!(" <{link}>"));
        }
        if let Some(err) = &row.last_error {
            detail.push_str(&format!(" [{err}]"));
        }
        writeln!(
            out,
            "{:>6}  {:<18} {:<20} {:<25} {}",
            row.id,
            row.state,
            truncate(&feed_name(row), 20),
            format_time(Some(row.updated_at)),
            detail
        )?;
    }
    Ok(())
}

pub(super) fn release_order(settings: &Settings, feed: Option<&str>) -> ReleaseOrder {
    feed.and_then(|name| settings.feed(name))
        .map_or(ReleaseOrder::default(), |f| f.release_order)
}
