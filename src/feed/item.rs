//! The normalised feed item and its identity keys.
//!
//! Owns: the `Item` model every later stage reads, the per-feed identity key, the
//! account-wide alias keys, and the canonical form of a URL. Does no I/O.

use chrono::{DateTime, Utc};
use std::time::Duration;
use url::Url;

/// A feed document after parsing and normalisation.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// RSS `<ttl>`: how long the publisher says the feed may be cached.
    pub ttl: Option<Duration>,
    pub items: Vec<Item>,
}

/// One entry of a feed, normalised across RSS, Atom and JSON Feed.
///
/// Text fields are kept as the feed gave them (they may hold HTML and entities); turning
/// them into post text is the composer's job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// guid (RSS) or id (Atom, JSON Feed), trimmed; `None` when absent or empty.
    pub guid: Option<String>,
    /// The article link, absolute (resolved against xml:base or the feed URL).
    pub link: Option<Url>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub images: Vec<ImageCandidate>,
}

impl Item {
    /// The date that decides `max_age`: published, else updated.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        self.published.or(self.updated)
    }
}

/// An image the item offers, in the order the composer should prefer them.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCandidate {
    pub url: Url,
    /// media:description or similar, when the feed gives one.
    pub alt: Option<String>,
    pub source: ImageSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    Enclosure,
    MediaContent,
    MediaThumbnail,
    /// First `<img>` in the summary or content HTML.
    Html,
}

/// How an item is recognised: one per-feed key and account-wide alias keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIdentity {
    /// Unique within one feed document and stable across polls.
    pub key: String,
    /// Account-wide keys; an item is new only if none of `key`/`aliases` was seen.
    pub aliases: Vec<String>,
}

/// Identity of every item of one document, in order. A guid repeated inside the document,
/// or missing, falls back to the link, then to a sha256 of title + content.
pub fn identify(items: &[Item]) -> Vec<ItemIdentity> {
    // STUB: replaced by the parse/identity work.
    items
        .iter()
        .map(|item| ItemIdentity {
            key: item
                .guid
                .clone()
                .or_else(|| item.link.as_ref().map(|l| l.to_string()))
                .unwrap_or_default(),
            aliases: Vec::new(),
        })
        .collect()
}

/// The canonical form of a URL used as an account-wide alias key.
pub fn canonical_url(url: &Url) -> String {
    // STUB: replaced by the parse/identity work.
    url.to_string()
}
