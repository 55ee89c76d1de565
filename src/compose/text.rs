//! Post text within the API's limits, and the cutting that gets it there.
//!
//! Owns: [`PostText`] (text that provably meets the text limits: ≤ 500 bytes of UTF-8,
//! ≤ 5 distinct links, no HTML tag, no undecoded entity, no control character but `\n`),
//! [`LimitError`], and truncation on word / sentence / grapheme boundaries with an
//! ellipsis. Truncation never splits a grapheme cluster (ZWJ emoji, flags, combining
//! marks) and never cuts inside a URL.
//!
//! Length is counted in UTF-8 bytes (`str::len`), not characters: threads-api.md §3.1
//! documents a 498-character post with three curly apostrophes (504 bytes) being
//! rejected. That costs CJK text some room, but it is what is known to pass.
//!
//! Must not: decide which part of a post to shorten (that is `fit`).

use super::html::{find_tag_like, has_entity};
use super::links::{MAX_LINKS, count_links, find_links};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

/// Longest post text, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 500;
/// Longest image alt text, in UTF-8 bytes. The API says 1,000 characters; bytes are the
/// conservative reading, as for the text (§3.1).
pub const MAX_ALT_BYTES: usize = 1000;
/// Appended where text was cut.
pub const ELLIPSIS: &str = "…";

/// Why a text, tag or post is outside what the API accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("text is {bytes} bytes of UTF-8; the limit is {MAX_TEXT_BYTES}")]
    TooLong { bytes: usize },
    #[error("post has {count} distinct links (link_attachment included); the limit is {MAX_LINKS}")]
    TooManyLinks { count: usize },
    #[error("text contains an HTML tag at byte {at}")]
    HtmlTag { at: usize },
    #[error("text contains an undecoded HTML entity")]
    Entity,
    #[error("text contains the control character U+{code:04X}")]
    ControlChar { code: u32 },
    #[error("topic tag {tag:?}: {reason}")]
    TopicTag { tag: String, reason: &'static str },
    #[error("alt text is {bytes} bytes of UTF-8; the limit is {MAX_ALT_BYTES}")]
    AltTooLong { bytes: usize },
    #[error("link_attachment is only allowed on TEXT posts")]
    LinkAttachmentWithMedia,
    #[error("image URL {0:?} is not http(s)")]
    ImageUrl(String),
    #[error(
        "reply_control {0:?} is not one of everyone, accounts_you_follow, mentioned_only, parent_post_author_only, followers_only"
    )]
    ReplyControl(String),
    #[error("text attachment is empty")]
    AttachmentEmpty,
    #[error(
        "text attachment is {bytes} bytes of UTF-8; the limit is {}",
        super::extras::MAX_ATTACHMENT_BYTES
    )]
    AttachmentTooLong { bytes: usize },
    #[error("text attachment link {0:?} is not http(s)")]
    AttachmentLink(String),
    #[error("a text attachment is only allowed on TEXT posts")]
    AttachmentOnMedia,
    #[error(
        "a text attachment cannot go with a link card; its link goes in the attachment's link_attachment_url"
    )]
    AttachmentWithCard,
    #[error("a ghost post cannot have {0}")]
    Ghost(&'static str),
}

/// Text of a post. Can only be built within the text limits, so a `Post` holding one
/// will not be rejected for its text. Derefs to `str`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostText(String);

impl PostText {
    /// Check `text` against the limits.
    pub fn new(text: impl Into<String>) -> Result<Self, LimitError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The checks behind [`PostText::new`], for text held elsewhere.
pub fn check_text(text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(LimitError::TooLong { bytes: text.len() });
    }
    if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\n') {
        return Err(LimitError::ControlChar { code: u32::from(c) });
    }
    if let Some((at, _)) = find_tag_like(text, 0) {
        return Err(LimitError::HtmlTag { at });
    }
    if has_entity(text) {
        return Err(LimitError::Entity);
    }
    let count = count_links(text, None);
    if count > MAX_LINKS {
        return Err(LimitError::TooManyLinks { count });
    }
    Ok(())
}

impl Deref for PostText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PostText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PostText {
    type Error = LimitError;
    fn try_from(s: String) -> Result<Self, LimitError> {
        Self::new(s)
    }
}

impl TryFrom<&str> for PostText {
    type Error = LimitError;
    fn try_from(s: &str) -> Result<Self, LimitError> {
        Self::new(s)
    }
}

impl From<PostText> for String {
    fn from(t: PostText) -> String {
        t.0
    }
}

impl PartialEq<str> for PostText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PostText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Where a cut may fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// At the end of a word (before whitespace, or next to CJK characters, which are
    /// written without spaces); inside a very long word only if no word end is in the
    /// second half of the room.
    Word,
    /// At any grapheme boundary.
    Grapheme,
}

/// `text` if it has at most `max` bytes; else a prefix cut at a `cut` boundary, with
/// trailing separators removed and `ellipsis` appended, of at most `max` bytes. The
/// result is empty when nothing meaningful fits.
pub fn truncate<'a>(text: &'a str, max: usize, cut: Cut, ellipsis: &str) -> Cow<'a, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    Cutter::new(text, max).cut(max, cut, ellipsis)
}

/// The cut points of one text, found once, for cutting it at many budgets (fitting a
/// post tries a dozen). Segmenting is the expensive part of truncation.
#[derive(Debug, Clone)]
pub struct Cutter<'a> {
    text: &'a str,
    /// Grapheme boundaries up to the largest budget, ascending (0 included).
    graphemes: Vec<usize>,
    /// Word ends (see [`Cut::Word`]) outside URLs up to the largest budget, ascending.
    words: Vec<usize>,
    /// URLs starting before the largest budget.
    urls: Vec<std::ops::Range<usize>>,
}

impl<'a> Cutter<'a> {
    /// Prepare to cut `text` at budgets of at most `max_budget` bytes.
    pub fn new(text: &'a str, max_budget: usize) -> Self {
        let limit = max_budget.min(text.len());
        // URLs matter only near a cut; a URL running past this window is still found
        // (it just looks shorter), which is all the checks below need.
        let mut window = text.len().min(limit.saturating_add(512));
        while !text.is_char_boundary(window) {
            window -= 1;
        }
        let urls = find_links(&text[..window]);
        let inside = |i: usize| urls.iter().any(|u| u.start < i && i < u.end);
        let graphemes = text
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .take_while(|&i| i <= limit)
            .collect();
        let words = text
            .split_word_bound_indices()
            .map(|(i, _)| i)
            .take_while(|&i| i <= limit)
            .filter(|&i| i > 0 && is_word_end(text, i) && !inside(i))
            .collect();
        Cutter {
            text,
            graphemes,
            words,
            urls,
        }
    }

    /// [`truncate`] with the prepared cut points (`max` at most the prepared budget).
    pub fn cut(&self, max: usize, cut: Cut, ellipsis: &str) -> Cow<'a, str> {
        let text = self.text;
        if text.len() <= max {
            return Cow::Borrowed(text);
        }
        let Some(limit) = max.checked_sub(ellipsis.len()) else {
            return Cow::Owned(String::new());
        };
        let last_at_most = |v: &[usize]| {
            v.partition_point(|&i| i <= limit)
                .checked_sub(1)
                .map(|p| v[p])
        };
        let grapheme_cut = last_at_most(&self.graphemes).unwrap_or(0);
        let grapheme_cut = self
            .urls
            .iter()
            .find(|u| u.start < grapheme_cut && grapheme_cut < u.end)
            .map_or(grapheme_cut, |u| u.start);
        let mut chosen = grapheme_cut;
        if cut == Cut::Word
            && let Some(w) = last_at_most(&self.words)
            // A word end far back ("A Supercalifragilistic…" → "A…") is worse than
            // cutting the long word itself.
            && w >= limit / 2
        {
            chosen = w;
        }
        let mut prefix = trim_cut_end(text, chosen);
        // "… https://x.com/a…" would make the ellipsis part of the link: drop the URL.
        if let Some(u) = self.urls.iter().find(|u| u.end == prefix.len()) {
            prefix = trim_cut_end(text, u.start);
        }
        if prefix.is_empty() {
            return Cow::Owned(String::new());
        }
        Cow::Owned(format!("{prefix}{ellipsis}"))
    }
}

/// The longest prefix of `text` that ends at a sentence boundary and has at most `max`
/// bytes (trailing whitespace removed). `None` if even the first sentence is too long.
pub fn sentence_prefix(text: &str, max: usize) -> Option<&str> {
    let mut best = None;
    for (i, sentence) in text.split_sentence_bound_indices() {
        let prefix = text[..i + sentence.len()].trim_end();
        if prefix.len() > max {
            break;
        }
        if !prefix.is_empty() {
            best = Some(prefix);
        }
    }
    best
}

fn is_word_end(text: &str, i: usize) -> bool {
    let prev = text[..i].chars().next_back();
    let next = text[i..].chars().next();
    match (prev, next) {
        (Some(p), Some(n)) => (!p.is_whitespace() && n.is_whitespace()) || is_wide(p) || is_wide(n),
        _ => false,
    }
}

/// Scripts written without spaces between words, where any character boundary that is
/// a word boundary (UAX #29) is a fine place to cut.
fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x3000..=0x30FF      // CJK punctuation, Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0xFF00..=0xFFEF    // Halfwidth and Fullwidth Forms
        | 0x20000..=0x3FFFF) // CJK Extensions B..
}

/// `text[..end]` without what should not stand before an ellipsis: spaces, separators,
/// opening brackets and quotes ("The quick, …" → "The quick…"). Trimming stops at a
/// grapheme boundary of the whole text (a space can belong to the cluster before it,
/// after a prepended mark like U+0600).
fn trim_cut_end(text: &str, end: usize) -> &str {
    let mut end = end;
    loop {
        let trimmed = text[..end].trim_end_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ',' | ';'
                        | ':'
                        | '-'
                        | '–'
                        | '—'
                        | '/'
                        | '('
                        | '['
                        | '{'
                        | '«'
                        | '“'
                        | '‘'
                        | '„'
                        | '&'
                        | '·'
                        | '|'
                        | '#'
                        | '@'
                        | '、'
                        | '，'
                )
        });
        let mut cursor = GraphemeCursor::new(trimmed.len(), text.len(), true);
        match cursor.is_boundary(text, 0) {
            Ok(true) => return trimmed,
            // Back off to the start of the cluster the trim cut into, and trim again.
            _ => match cursor.prev_boundary(text, 0) {
                Ok(Some(prev)) if prev < end => end = prev,
                _ => return "",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_text_limits() {
        assert!(PostText::new("a".repeat(500)).is_ok());
        assert_eq!(
            PostText::new("a".repeat(501)),
            Err(LimitError::TooLong { bytes: 501 })
        );
        // 167 curly apostrophes are 501 bytes though only 167 characters.
        assert!(matches!(
            PostText::new("’".repeat(167)),
            Err(LimitError::TooLong { .. })
        ));
        assert!(matches!(
            PostText::new("a <b>c</b>"),
            Err(LimitError::HtmlTag { at: 2 })
        ));
        assert_eq!(PostText::new("AT&amp;T"), Err(LimitError::Entity));
        assert!(PostText::new("AT&T, a < b, <3, x&copy=1").is_ok());
        assert!(matches!(
            PostText::new("a\tb"),
            Err(LimitError::ControlChar { code: 9 })
        ));
        let six = (0..6)
            .map(|i| format!("https://e.com/{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            PostText::new(six),
            Err(LimitError::TooManyLinks { count: 6 })
        );
    }

    #[test]
    fn truncates_on_words() {
        let t = "The quick brown fox jumps over the lazy dog";
        assert_eq!(truncate(t, 100, Cut::Word, ELLIPSIS), t);
        assert_eq!(truncate(t, 20, Cut::Word, ELLIPSIS), "The quick brown…");
        assert_eq!(
            truncate("Quick, brown fox", 12, Cut::Word, ELLIPSIS),
            "Quick…"
        );
        assert_eq!(truncate(t, 2, Cut::Word, ELLIPSIS), "");
        assert_eq!(
            truncate(
                "A Supercalifragilisticexpialidocious",
                20,
                Cut::Word,
                ELLIPSIS
            ),
            "A Supercalifragil…"
        );
    }

    #[test]
    fn never_splits_graphemes() {
        let flags = "🇨🇭🇬🇷🇦🇹";
        // 8 bytes per flag; 20 bytes - 3 = 17 → two flags.
        assert_eq!(truncate(flags, 20, Cut::Grapheme, ELLIPSIS), "🇨🇭🇬🇷…");
        let family = "👩\u{200D}👩\u{200D}👧👍";
        // The family is 18 bytes: it fits whole with the ellipsis in 21, else not at all.
        assert_eq!(
            truncate(family, 21, Cut::Grapheme, ELLIPSIS),
            "👩\u{200D}👩\u{200D}👧…"
        );
        assert_eq!(truncate(family, 20, Cut::Grapheme, ELLIPSIS), "");
        assert_eq!(
            truncate("e\u{301}e\u{301}e\u{301}", 8, Cut::Grapheme, ELLIPSIS),
            "e\u{301}…"
        );
    }

    #[test]
    fn cjk_cuts_between_characters() {
        let t = "記事1のタイトルです。長い説明が続きます";
        let cut = truncate(t, 20, Cut::Word, ELLIPSIS);
        assert!(cut.len() <= 20 && cut.ends_with('…'), "{cut}");
        assert!(t.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn never_cuts_inside_urls() {
        let t = "Read this https://example.com/a/very/long/path/that/goes/on now";
        let cut = truncate(t, 40, Cut::Word, ELLIPSIS);
        assert_eq!(cut, "Read this…");
    }

    #[test]
    fn sentences() {
        let t = "First one. Second one is longer. Third.";
        assert_eq!(sentence_prefix(t, 12), Some("First one."));
        assert_eq!(
            sentence_prefix(t, 33),
            Some("First one. Second one is longer.")
        );
        assert_eq!(sentence_prefix(t, 5), None);
    }
}
