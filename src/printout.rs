//! How posts read to an operator: `preview` and the dry run print them the same way (text,
//! then link, tag, media, byte count), so what a dry run shows is what would be published;
//! an item that is not posted gets its reason and title (`crate::fate` words it), and a
//! dry run's feed its summary line.
//!
//! Must not: decide anything about a post; it only writes one. Write errors (a closed pipe)
//! are returned for the caller to act on.

use crate::compose::{Media, Post};
use crate::config::FeedSettings;
use crate::fate::{Fate, ItemFate, Tally};
use crate::poll::{PollReport, PollResult};
use std::io::{self, Write};

/// A post as the operator reads it: text, then link, tag, media, byte count.
pub fn write_post(out: &mut dyn Write, feed: &str, post: &Post, what: &str) -> io::Result<()> {
    writeln!(out, "--- {feed} · {what}")?;
    writeln!(out, "{}", post.text.as_str())?;
    let mut facts = vec![format!("{} bytes", post.text.len())];
    if let Some(link) = &post.link_attachment {
        facts.push(format!("link: {link}"));
    }
    if let Some(tag) = &post.topic_tag {
        facts.push(format!("topic: {tag}"));
    }
    match &post.media {
        Media::Text => facts.push("media: text".into()),
        Media::Image { url, alt_text } => {
            facts.push(format!("media: image {url} (alt: {alt_text})"));
        }
    }
    if let Some(rc) = &post.reply_control {
        facts.push(format!("replies: {rc}"));
    }
    if post.reply_approvals {
        facts.push("reply approvals".into());
    }
    if post.ghost {
        facts.push("ghost post".into());
    }
    if let Some(a) = &post.text_attachment {
        let mut fact = format!("text attachment: {} bytes", a.plaintext().len());
        if let Some(link) = a.link() {
            fact.push_str(&format!(", link: {link}"));
        }
        facts.push(fact);
    }
    if let Some(reply) = &post.first_reply {
        facts.push(format!("first reply: {}", reply.as_str()));
    }
    writeln!(out, "[{}]\n", facts.join(" · "))
}

/// What one poll of a dry run would have done: the posts it would publish or hold, each
/// other item it looked at for the first time with the reason it is skipped, and a
/// one-line summary of the feed, also when nothing would be posted (or why it failed).
pub fn write_poll(out: &mut dyn Write, feed: &FeedSettings, report: &PollReport) -> io::Result<()> {
    // Shown redacted: a name that defaults to the URL may carry credentials.
    let shown = crate::feed::redact::redact_url(&feed.name);
    let name = shown.as_ref();
    for post in &report.queued {
        write_post(out, name, post, "would publish")?;
    }
    for post in &report.held {
        write_post(out, name, post, "would hold (flood guard)")?;
    }
    for post in &report.review {
        write_post(out, name, post, "would wait for review")?;
    }
    for item in report.fates.iter().filter(|f| !f.fate.posts()) {
        if matches!(item.fate, Fate::Held { .. } | Fate::Review) {
            continue; // shown above with its post
        }
        write_fate(out, name, item)?;
    }
    match &report.result {
        PollResult::Ingested(counts) => {
            writeln!(out, "{}\n", Tally::of_poll(counts).line(name, feed.max_age))?;
        }
        PollResult::NotModified => writeln!(
            out,
            "{name}: not modified since the last poll (304), nothing to post\n"
        )?,
        PollResult::Unchanged => writeln!(
            out,
            "{name}: unchanged since the last poll, nothing to post\n"
        )?,
        PollResult::Failed { class, message } => {
            writeln!(out, "--- {name} · poll failed ({class}): {message}\n")?;
        }
    }
    out.flush()
}

/// An item that is not posted: why, then its title.
pub fn write_fate(out: &mut dyn Write, feed: &str, item: &ItemFate) -> io::Result<()> {
    writeln!(out, "--- {feed} · {}", item.fate.describe())?;
    writeln!(out, "{}\n", item.title)
}
