//! The normalised feed item.
//!
//! Owns: the `Item` model every later stage reads. Its identity keys are `identity`'s,
//! the canonical form of a URL `canonical`'s (both re-exported here). Does no I/O and
//! knows nothing of XML: `parse` builds the items.

use chrono::{DateTime, Utc};
use std::time::Duration;
use url::Url;

pub use super::canonical::canonical_url;
pub use super::identity::{ItemIdentity, LegacyKeys, identify};

/// A feed document after parsing and normalisation.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// RSS `<ttl>`: how long the publisher says the feed may be cached.
    pub ttl: Option<Duration>,
    /// The items, in document order: all of them, or the newest within the parse's
    /// `max_items`.
    pub items: Vec<Item>,
    /// How many items the document held before `max_items` applied.
    pub items_in_document: usize,
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
