//! `queue list|retry|drop`: look at and act on the publishing queue. Works beside a running
//! daemon: every change is one guarded transition in the store.

use super::{format_time, truncate};
use crate::cli::QueueCommand;
use crate::config::Settings;
use crate::feed::redact::redact_url;
use crate::store::admin::AdminOutcome;
use crate::store::now_unix;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;

/// `queue list|retry|drop`.
pub async fn queue(settings: &Settings, command: QueueCommand, out: &mut dyn Write) -> Result<()> {
    let store = super::open_store(settings).await?;
    let now = now_unix();
    let (id, outcome, verb) = match command {
        QueueCommand::List { account, limit } => {
            let account_id = match &account {
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
            writeln!(
                out,
                "{:>6}  {:<18} {:<20} {:<25} text",
                "id", "state", "feed", "updated"
            )?;
            for row in store.list_outbox(account_id, limit).await? {
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
                    truncate(names.get(&row.feed_id).map_or("?", String::as_str), 20),
                    format_time(Some(row.updated_at)),
                    detail
                )?;
            }
            return Ok(());
        }
        QueueCommand::Retry { id } => (id, store.retry_post(id, now).await?, "queued again"),
        QueueCommand::Drop { id } => (id, store.drop_post(id, now).await?, "dropped"),
    };
    match outcome {
        AdminOutcome::Done => {
            tracing::info!(post = id, "post {verb} by the operator");
            writeln!(out, "post {id} {verb}")?;
            Ok(())
        }
        AdminOutcome::NotFound => bail!("no post with id {id}; see `feed2threads queue list`"),
        AdminOutcome::WrongState(state) => {
            bail!("post {id} is {state}; that cannot be {verb} (see `feed2threads queue list`)")
        }
    }
}
