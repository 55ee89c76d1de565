//! How posts read to an operator: `preview` and the dry run print them the same way (text,
//! then link, tag, media, byte count), so what a dry run shows is what would be published.
//!
//! Must not: decide anything about a post; it only writes one. Write errors (a closed pipe)
//! are returned for the caller to act on.

use crate::compose::{Media, Post};
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
    writeln!(out, "[{}]\n", facts.join(" · "))
}

/// What one poll of a dry run would have done: the posts it would publish or hold, or
/// why it failed.
pub fn write_poll(out: &mut dyn Write, feed: &str, report: &PollReport) -> io::Result<()> {
    for post in &report.queued {
        write_post(out, feed, post, "would publish")?;
    }
    for post in &report.held {
        write_post(out, feed, post, "would hold (flood guard)")?;
    }
    for post in &report.review {
        write_post(out, feed, post, "would wait for review")?;
    }
    if let PollResult::Failed { class, message } = &report.result {
        writeln!(out, "--- {feed} · poll failed ({class}): {message}\n")?;
    }
    out.flush()
}
