//! Item to post: template, HTML to text, limits, links, topic tag, media, filters.
//! A post is composed and validated before it enters the outbox, so `preview`,
//! `--dry-run` and the real publish show the same text.

use crate::feed::item::Item;
use std::collections::BTreeMap;

/// Per-feed composition settings, already merged with `[defaults]` by the config loader.
/// Values are as the user wrote them; `Composer::new` validates them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComposeOptions {
    pub template: Option<String>,
    pub timezone: Option<String>,
    pub link_params: BTreeMap<String, String>,
    pub topic_tag: Option<String>,
    pub topic_map: BTreeMap<String, String>,
    pub topic_from_categories: bool,
    pub media: Option<String>,
    pub image_fallback: Option<String>,
    pub reply_control: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A post ready for the outbox. Every field is within what the API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub text: String,
    pub link_attachment: Option<String>,
    pub topic_tag: Option<String>,
    pub media: Media,
    pub reply_control: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Text,
    Image { url: String, alt_text: String },
}

impl Media {
    pub fn api_media_type(&self) -> &'static str {
        match self {
            Media::Text => "TEXT",
            Media::Image { .. } => "IMAGE",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{0}")]
    Invalid(String),
}

/// Context an item is composed in.
#[derive(Debug, Clone, Default)]
pub struct FeedContext<'a> {
    pub feed_name: &'a str,
    pub feed_title: Option<&'a str>,
}

/// Whether the feed's filters let an item through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterDecision {
    Accept,
    Reject { reason: String },
}

/// A feed's composer, built once from its validated options.
#[derive(Debug, Clone)]
pub struct Composer {
    options: ComposeOptions,
}

impl Composer {
    /// Validate the options (template syntax, regexes, tags). `key` is the config path
    /// prefix used in error messages, e.g. `feeds[2]`.
    pub fn new(options: &ComposeOptions, key: &str) -> Result<Self, ComposeError> {
        let _ = key;
        Ok(Self {
            options: options.clone(),
        })
    }

    pub fn filter(&self, item: &Item) -> FilterDecision {
        let _ = (item, &self.options);
        FilterDecision::Accept
    }

    pub fn compose(&self, item: &Item, ctx: &FeedContext<'_>) -> Result<Post, ComposeError> {
        // STUB: plain title + link until the composition work lands.
        let _ = ctx;
        let title = item.title.clone().unwrap_or_default();
        let mut text: String = title.chars().take(200).collect();
        if text.is_empty() {
            text = "(untitled)".into();
        }
        Ok(Post {
            text,
            link_attachment: item.link.as_ref().map(|l| l.to_string()),
            topic_tag: None,
            media: Media::Text,
            reply_control: None,
        })
    }
}
