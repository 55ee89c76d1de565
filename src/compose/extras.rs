//! Threads' newer publishing options, as a feed chooses them and a post carries them:
//! the full text of a long item in a text attachment (`long_text`), the article link in
//! the first reply instead of a link card (`link_in`), reply approvals and ghost posts
//! (threads-api.md §2.1).
//!
//! Owns the option values and [`TextAttachment`], which can only be built within the
//! API's limits (10,000 bytes of plain text; counted in bytes like the post text, the
//! conservative reading). Must not decide where a post's link goes (that is `Composer`)
//! or talk to the API.

use super::html::{find_tag_like, has_entity};
use super::links::{MAX_LINKS, find_links, limit_links};
use super::text::{Cut, ELLIPSIS, LimitError, truncate};

/// Longest text attachment, in UTF-8 bytes (the API says 10,000 characters).
pub const MAX_ATTACHMENT_BYTES: usize = 10_000;

/// What happens to an item too long for a post (`long_text = "truncate" | "attachment"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LongText {
    /// Shorten the post to fit (the default).
    #[default]
    Truncate,
    /// Keep the shortened post, and put the item's full text (with the article link as
    /// the attachment's link) in a text attachment under it. Text posts only.
    Attachment,
}

impl LongText {
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "truncate" => Some(LongText::Truncate),
            "attachment" => Some(LongText::Attachment),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LongText::Truncate => "truncate",
            LongText::Attachment => "attachment",
        }
    }
}

/// Where the article link goes (`link_in = "card" | "reply"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkIn {
    /// A link card on the post (text posts), or the end of the text (image posts).
    #[default]
    Card,
    /// A reply to the post, published right after it: the post itself shows no card.
    Reply,
}

impl LinkIn {
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "card" => Some(LinkIn::Card),
            "reply" => Some(LinkIn::Reply),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkIn::Card => "card",
            LinkIn::Reply => "reply",
        }
    }
}

/// Long-form text under a text post (`text_attachment`): plain text within the limits,
/// and the link the post would otherwise show as its card (`link_attachment_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextAttachment {
    plaintext: String,
    link: Option<String>,
}

impl TextAttachment {
    /// Checks `plaintext` (at most [`MAX_ATTACHMENT_BYTES`], no control character but
    /// `\n`, no HTML tag or entity) and `link` (http(s)).
    pub fn new(plaintext: impl Into<String>, link: Option<String>) -> Result<Self, LimitError> {
        let plaintext = plaintext.into();
        if plaintext.trim().is_empty() {
            return Err(LimitError::AttachmentEmpty);
        }
        if plaintext.len() > MAX_ATTACHMENT_BYTES {
            return Err(LimitError::AttachmentTooLong {
                bytes: plaintext.len(),
            });
        }
        if let Some(c) = plaintext.chars().find(|&c| c.is_control() && c != '\n') {
            return Err(LimitError::ControlChar { code: u32::from(c) });
        }
        if let Some((at, _)) = find_tag_like(&plaintext, 0) {
            return Err(LimitError::HtmlTag { at });
        }
        if has_entity(&plaintext) {
            return Err(LimitError::Entity);
        }
        if let Some(l) = &link
            && !url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(LimitError::AttachmentLink(l.clone()));
        }
        Ok(TextAttachment { plaintext, link })
    }

    /// The attachment for an item whose post had to be shortened: `title` and the full
    /// `body`, cut on a word end to the limit, keeping the post's links (`post_text`, the
    /// attachment's `link`) within the five a post may carry. `None` when there is no
    /// body to add.
    pub(crate) fn for_long_item(
        title: &str,
        body: &str,
        link: Option<&str>,
        post_text: &str,
    ) -> Option<TextAttachment> {
        let body = body.trim();
        if body.is_empty() {
            return None;
        }
        let full = if title.is_empty() || body.starts_with(title) {
            body.to_owned()
        } else {
            format!("{title}\n\n{body}")
        };
        let in_post: Vec<&str> = find_links(post_text)
            .into_iter()
            .map(|r| &post_text[r])
            .collect();
        let limited = limit_links(&full, link, &in_post, MAX_LINKS);
        let cut = truncate(&limited, MAX_ATTACHMENT_BYTES, Cut::Word, ELLIPSIS);
        TextAttachment::new(cut.into_owned(), link.map(str::to_owned)).ok()
    }

    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }

    pub fn link(&self) -> Option<&str> {
        self.link.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for v in [LongText::Truncate, LongText::Attachment] {
            assert_eq!(LongText::parse(v.as_str()), Some(v));
        }
        for v in [LinkIn::Card, LinkIn::Reply] {
            assert_eq!(LinkIn::parse(v.as_str()), Some(v));
        }
        assert_eq!(LinkIn::parse("comment"), None);
    }

    #[test]
    fn attachments_stay_within_the_limits() {
        let long = "word ".repeat(5000);
        let a =
            TextAttachment::for_long_item("Title", &long, Some("https://news.example/a"), "Title")
                .unwrap();
        assert!(a.plaintext().len() <= MAX_ATTACHMENT_BYTES);
        assert!(a.plaintext().starts_with("Title\n\nword word"));
        assert!(a.plaintext().ends_with(ELLIPSIS));
        assert_eq!(a.link(), Some("https://news.example/a"));
        assert!(TextAttachment::for_long_item("Title", "  ", None, "Title").is_none());
        assert_eq!(
            TextAttachment::new("x".repeat(10_001), None),
            Err(LimitError::AttachmentTooLong { bytes: 10_001 })
        );
        assert!(TextAttachment::new("a <b>tag</b>", None).is_err());
        assert!(TextAttachment::new("ok", Some("ftp://x".into())).is_err());
    }

    #[test]
    fn attachment_links_are_limited_with_the_posts() {
        let body = (0..8)
            .map(|i| format!("see https://x.example/{i} for more."))
            .collect::<Vec<_>>()
            .join(" ");
        let a = TextAttachment::for_long_item(
            "T",
            &body,
            Some("https://news.example/a"),
            "T https://y.example/1",
        )
        .unwrap();
        let links = find_links(a.plaintext()).len();
        // Five in all: the post's one, the attachment's link, three in the text.
        assert_eq!(links, 3, "{}", a.plaintext());
    }
}
