//! The editorial-control keys once inherited: a feed's posting window and caps, an
//! account's window, and the rules between Threads' newer options (a ghost post allows
//! no reply approvals, no attachment, no link card…; a text attachment needs text posts).
//!
//! Each error names the key the user should change, with the value that conflicts.
//! Must not parse values (the raw type did) or apply defaults other than its own.

use super::raw::{RawAccount, RawFeed};
use super::{AccountSettings, ConfigError, key_error};
use crate::compose::{LinkIn, LongText, MediaMode};
use crate::publish::caps::Caps;
use crate::publish::window::PostingWindow;
use chrono_tz::Tz;

/// The account's posting window.
pub(super) fn account_window(raw: &RawAccount) -> Option<PostingWindow> {
    PostingWindow::new(raw.hours, raw.days, raw.timezone.unwrap_or(Tz::UTC))
}

/// The feed's posting window (in its `timezone`) and caps, checked against its account.
pub(super) fn feed_gate(
    options: &RawFeed,
    key: &str,
    account: &AccountSettings,
) -> Result<(Option<PostingWindow>, Caps), ConfigError> {
    let window = PostingWindow::new(
        options.hours,
        options.days,
        options.timezone.unwrap_or(Tz::UTC),
    );
    let caps = Caps {
        per_hour: options.max_per_hour,
        per_day: options.max_per_day,
        overflow: options.overflow.unwrap_or_default(),
    };
    if let (Some(cap), Some(quota)) = (caps.per_day, account.max_posts_per_day)
        && cap > quota
    {
        return Err(key_error(
            format!("{key}.max_per_day"),
            format!(
                "{cap} is above the account's max_posts_per_day ({quota}); a feed's cap can only be lower"
            ),
        ));
    }
    Ok((window, caps))
}

/// The rules between the publishing options, after inheritance.
pub(super) fn check_options(options: &RawFeed, key: &str) -> Result<(), ConfigError> {
    let image = options.media == Some(MediaMode::Image);
    if options.long_text == Some(LongText::Attachment) && image {
        return Err(key_error(
            format!("{key}.long_text"),
            "\"attachment\" works on text posts only, and this feed has media = \"image\"; \
             use long_text = \"truncate\" or media = \"text\"",
        ));
    }
    if options.ghost_posts != Some(true) {
        return Ok(());
    }
    // What a ghost post may not have (threads-api.md §2.1), by the key that asks for it.
    let conflicts = [
        (
            "reply_approvals",
            options.reply_approvals == Some(true),
            "reply approvals",
        ),
        (
            "long_text",
            options.long_text == Some(LongText::Attachment),
            "a text attachment",
        ),
        ("media", image, "an image"),
        (
            "link_in",
            options.link_in == Some(LinkIn::Reply),
            "replies (its link would go in one)",
        ),
        ("topic_tag", options.topic_tag.is_some(), "a topic tag"),
        (
            "topic_map",
            options.topic_map.as_ref().is_some_and(|m| !m.is_empty()),
            "a topic tag",
        ),
        (
            "topic_from_categories",
            options.topic_from_categories == Some(true),
            "a topic tag",
        ),
    ];
    match conflicts.iter().find(|(_, set, _)| *set) {
        Some((name, _, what)) => Err(key_error(
            format!("{key}.{name}"),
            format!("a ghost post cannot have {what}, and this feed has ghost_posts = true"),
        )),
        None => Ok(()),
    }
}
