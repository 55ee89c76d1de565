//! Media choice for a post, and the per-post settings that travel with it.
//!
//! Owns: which image candidate an image post uses (the first http(s) one, in the order
//! the parser ranked them: enclosure, media:content, media:thumbnail, first `<img>`), its
//! alt text (the candidate's own, else the title; ≤ 1000 bytes on a word/grapheme
//! boundary), the `media` / `image_fallback` / `reply_control` option values.
//!
//! Must not: fetch or inspect images (Meta fetches them; a bad one ends the container in
//! ERROR, and the publisher then uses the text-only fallback).

use super::html::html_to_line;
use super::text::{Cut, ELLIPSIS, LimitError, MAX_ALT_BYTES, truncate};
use crate::feed::item::ImageCandidate;
use std::str::FromStr;

/// What kind of post a feed makes (`media = "text" | "image"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MediaMode {
    /// Text posts with the article as link card.
    #[default]
    Text,
    /// Image posts when the item has a usable image, text posts otherwise.
    Image,
}

/// What to do when an image post's container fails (`image_fallback = "text" | "none"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageFallback {
    /// Publish the text-only version of the same item instead.
    #[default]
    Text,
    /// Give up on the item.
    None,
}

impl MediaMode {
    /// The config value (`"text"`, `"image"`), trimmed; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "text" => Some(MediaMode::Text),
            "image" => Some(MediaMode::Image),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Text => "text",
            MediaMode::Image => "image",
        }
    }
}

impl ImageFallback {
    /// The config value (`"text"`, `"none"`), trimmed; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "text" => Some(ImageFallback::Text),
            "none" => Some(ImageFallback::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFallback::Text => "text",
            ImageFallback::None => "none",
        }
    }
}

/// Who may reply to a post (threads-api.md §2.1): the API client's type, so the value
/// validated here is the one sent.
pub use crate::threads::ReplyControl;

impl FromStr for ReplyControl {
    type Err = LimitError;
    fn from_str(s: &str) -> Result<Self, LimitError> {
        ReplyControl::parse(s).ok_or_else(|| LimitError::ReplyControl(s.to_owned()))
    }
}

/// The image an image post uses: the first candidate with an http(s) URL.
pub(crate) fn pick_image(images: &[ImageCandidate]) -> Option<&ImageCandidate> {
    images
        .iter()
        .find(|c| matches!(c.url.scheme(), "http" | "https") && c.url.host().is_some())
}

/// Alt text: the candidate's description, else the plain title; one line, ≤ 1000 bytes.
pub(crate) fn alt_text(candidate: &ImageCandidate, plain_title: &str) -> String {
    let own = candidate
        .alt
        .as_deref()
        .map(html_to_line)
        .unwrap_or_default();
    let alt = if own.is_empty() {
        plain_title.to_owned()
    } else {
        own
    };
    truncate(&alt, MAX_ALT_BYTES, Cut::Word, ELLIPSIS).into_owned()
}
