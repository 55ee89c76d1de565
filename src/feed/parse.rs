//! Bytes to items: encoding detection, a panic-proof feed-rs call, normalisation.
//! No I/O.

use crate::feed::item::ParsedFeed;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("empty body")]
    Empty,
    #[error("not a feed: {0}")]
    NotAFeed(String),
}

impl ParseError {
    /// Stable label for logs, `status` and metrics.
    pub fn class(&self) -> &'static str {
        "not_a_feed"
    }
}

/// Parse a feed document. Never panics.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base_url: &Url,
) -> Result<ParsedFeed, ParseError> {
    // STUB: replaced by the parse work.
    let _ = (body, content_type, base_url);
    Err(ParseError::Empty)
}
