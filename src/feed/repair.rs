//! The repair pass: rewrites a document a strict XML parser rejects so that it reads.
//!
//! Owns: a forgiving tag lexer that never fails (problems are tokens too: a stray `<`,
//! markup that never closes) and `repair`, which escapes bare `&` and stray `<`, closes
//! elements a mismatched end tag left open, drops end tags that close nothing, and cuts a
//! truncated document before its unfinished item. No crate does this: XML tokenizers stop
//! at the first error, which is exactly where this pass has to keep going. Everything
//! else that reads XML uses quick-xml (`parse_scan`).
//!
//! All positions are byte offsets of ASCII delimiters, so slicing at them is always on a
//! char boundary; `get` is used anyway so a logic slip cannot panic.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Start,
    End,
    /// `<x/>`
    Empty,
}

/// One tag: `<name attrs>`, `</name>` or `<name attrs/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    kind: TagKind,
    /// Qualified name as written (`media:content`).
    name: &'a str,
    start: usize,
    end: usize,
}

impl<'a> Tag<'a> {
    /// The name without its namespace prefix.
    fn local(&self) -> &'a str {
        crate::feed::parse_scan::local_name(self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Text {
        start: usize,
        end: usize,
    },
    Tag(Tag<'a>),
    /// Comment, CDATA section, processing instruction or DOCTYPE, as one span.
    Markup {
        start: usize,
        end: usize,
    },
    /// A `<` that cannot open markup (`a < b` in text).
    StrayLt(usize),
    /// Markup that never closes before the end of the document.
    Unterminated {
        start: usize,
        what: &'static str,
    },
}

/// Iterates the tokens of a document, never failing: problems are tokens too.
struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let src = self.src;
        let bytes = src.as_bytes();
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        if bytes.get(start) != Some(&b'<') {
            let end = find_byte(src, start, b'<').unwrap_or(bytes.len());
            self.pos = end;
            return Some(Token::Text { start, end });
        }
        let rest = bytes.get(start..).unwrap_or_default();
        let markup = |this: &mut Self, close: &str, what: &'static str| match find_seq(
            src,
            start + 2,
            close,
        ) {
            Some(at) => {
                this.pos = at + close.len();
                Token::Markup {
                    start,
                    end: this.pos,
                }
            }
            None => {
                this.pos = bytes.len();
                Token::Unterminated { start, what }
            }
        };
        if rest.starts_with(b"<!--") {
            return Some(markup(self, "-->", "comment"));
        }
        if rest.starts_with(b"<![CDATA[") {
            return Some(markup(self, "]]>", "CDATA section"));
        }
        if rest.starts_with(b"<?") {
            return Some(markup(self, "?>", "processing instruction"));
        }
        if rest.starts_with(b"<!") {
            // DOCTYPE, possibly with an internal subset holding `>` inside brackets.
            let mut depth = 0i32;
            let mut i = start + 2;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'[' => depth += 1,
                    b']' => depth -= 1,
                    b'>' if depth <= 0 => {
                        self.pos = i + 1;
                        return Some(Token::Markup { start, end: i + 1 });
                    }
                    _ => {}
                }
                i += 1;
            }
            self.pos = bytes.len();
            return Some(Token::Unterminated {
                start,
                what: "declaration",
            });
        }
        let (kind, name_start) = if rest.get(1) == Some(&b'/') {
            (TagKind::End, start + 2)
        } else {
            (TagKind::Start, start + 1)
        };
        if !bytes.get(name_start).copied().is_some_and(is_name_start) {
            self.pos = start + 1;
            return Some(Token::StrayLt(start));
        }
        let mut i = name_start;
        while bytes.get(i).copied().is_some_and(is_name_char) {
            i += 1;
        }
        let name_end = i;
        // Find the closing `>`, skipping quoted attribute values.
        let mut quote: Option<u8> = None;
        while let Some(&b) = bytes.get(i) {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') if kind == TagKind::Start => quote = Some(b),
                (None, b'>') => break,
                // A `<` outside quotes: what looked like a tag was text (`a <b</t>`).
                (None, b'<') => {
                    self.pos = start + 1;
                    return Some(Token::StrayLt(start));
                }
                _ => {}
            }
            i += 1;
        }
        if i >= bytes.len() {
            self.pos = bytes.len();
            return Some(Token::Unterminated { start, what: "tag" });
        }
        let end = i + 1;
        self.pos = end;
        let kind = if kind == TagKind::Start && bytes.get(i - 1) == Some(&b'/') && i > name_end {
            TagKind::Empty
        } else {
            kind
        };
        let name = src.get(name_start..name_end).unwrap_or_default();
        Some(Token::Tag(Tag {
            kind,
            name,
            start,
            end,
        }))
    }
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.'
}

/// Position of ASCII byte `needle` in `s` at or after `from`. `str::find` with an ASCII
/// char runs std's word-at-a-time memchr, much faster than a byte loop on long text.
/// `from` is always just past an ASCII byte, so on a char boundary.
fn find_byte(s: &str, from: usize, needle: u8) -> Option<usize> {
    s.get(from..)?.find(char::from(needle)).map(|i| i + from)
}

fn find_seq(s: &str, from: usize, needle: &str) -> Option<usize> {
    s.get(from..)?.find(needle).map(|i| i + from)
}
/// A document rewritten so a strict XML parser accepts it, and what was changed.
#[derive(Debug)]
pub(crate) struct Repaired {
    pub text: String,
    pub fixes: Vec<String>,
}

/// Rewrites a malformed document: escapes bare `&` and stray `<`, closes elements left
/// open by a mismatched end tag, drops end tags that close nothing, and cuts a truncated
/// document before its unfinished item, closing what is still open. `None` when nothing
/// needed fixing (so retrying would fail the same way).
pub(crate) fn repair(doc: &str) -> Option<Repaired> {
    struct Open<'a> {
        name: &'a str,
        out_start: usize,
        is_item: bool,
    }
    let mut out = String::with_capacity(doc.len() + doc.len() / 64 + 64);
    let mut stack: Vec<Open<'_>> = Vec::with_capacity(16);
    let (mut amps, mut lts, mut dropped, mut closed) = (0usize, 0usize, 0usize, 0usize);
    let mut truncated: Option<&'static str> = None;
    let mut root_closed = false;
    for token in Lexer::new(doc) {
        match token {
            Token::Text { start, end } => {
                amps += escape_amps(doc.get(start..end).unwrap_or_default(), &mut out);
            }
            Token::Markup { start, end } => out.push_str(doc.get(start..end).unwrap_or_default()),
            Token::StrayLt(_) => {
                lts += 1;
                out.push_str("&lt;");
            }
            Token::Unterminated { what, .. } => {
                truncated = Some(what);
                break;
            }
            Token::Tag(tag) => {
                let raw = doc.get(tag.start..tag.end).unwrap_or_default();
                match tag.kind {
                    TagKind::Empty => amps += escape_amps(raw, &mut out),
                    TagKind::Start => {
                        if root_closed {
                            // A second root (trailing junk): stop here.
                            break;
                        }
                        stack.push(Open {
                            name: tag.name,
                            out_start: out.len(),
                            is_item: matches!(tag.local(), "item" | "entry"),
                        });
                        amps += escape_amps(raw, &mut out);
                    }
                    TagKind::End => match stack.iter().rposition(|o| o.name == tag.name) {
                        Some(at) => {
                            while stack.len() > at + 1 {
                                if let Some(open) = stack.pop() {
                                    closed += 1;
                                    let _ = write!(out, "</{}>", open.name);
                                }
                            }
                            stack.pop();
                            out.push_str(raw);
                            root_closed = stack.is_empty();
                        }
                        None => dropped += 1,
                    },
                }
            }
        }
    }
    let mut fixes = Vec::new();
    if !stack.is_empty() {
        let what = truncated.unwrap_or("document");
        // Drop an item cut short rather than publish half of it.
        if let Some(at) = stack.iter().position(|o| o.is_item) {
            out.truncate(stack.get(at).map_or(out.len(), |o| o.out_start));
            stack.truncate(at);
            fixes.push(format!(
                "unfinished {what}: dropped the last, incomplete item"
            ));
        } else {
            fixes.push(format!("unfinished {what}: closed the open elements"));
        }
        for open in stack.iter().rev() {
            let _ = write!(out, "</{}>", open.name);
        }
    } else if let Some(what) = truncated {
        fixes.push(format!(
            "ignored an unfinished {what} after the root element"
        ));
    }
    if amps > 0 {
        fixes.push(format!("escaped {amps} bare '&'"));
    }
    if lts > 0 {
        fixes.push(format!("escaped {lts} stray '<'"));
    }
    if closed > 0 {
        fixes.push(format!("closed {closed} elements left open"));
    }
    if dropped > 0 {
        fixes.push(format!("dropped {dropped} end tags that closed nothing"));
    }
    (!fixes.is_empty()).then_some(Repaired { text: out, fixes })
}

/// Copies `s` into `out`, turning each `&` that does not start a reference into `&amp;`.
/// Returns how many were escaped.
fn escape_amps(s: &str, out: &mut String) -> usize {
    let mut count = 0;
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let tail = rest.get(at..).unwrap_or_default();
        if starts_reference(tail) {
            out.push('&');
        } else {
            count += 1;
            out.push_str("&amp;");
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    out.push_str(rest);
    count
}

/// `&name;`, `&#123;` or `&#x1F;` at the start of `s`.
fn starts_reference(s: &str) -> bool {
    let body = s.as_bytes().get(1..).unwrap_or_default();
    let Some(end) = body.iter().take(40).position(|&b| b == b';') else {
        return false;
    };
    let name = body.get(..end).unwrap_or_default();
    match name {
        [] => false,
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        [first, rest @ ..] => is_name_start(*first) && rest.iter().all(|b| is_name_char(*b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(doc: &str) -> Vec<(TagKind, &str)> {
        Lexer::new(doc)
            .filter_map(|t| match t {
                Token::Tag(tag) => Some((tag.kind, tag.name)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn lexes_tags_and_skips_markup() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "<y>">]><!-- <no> --><rss a='>'><![CDATA[<no>]]><i/></rss>"#;
        assert_eq!(
            tags(doc),
            vec![
                (TagKind::Start, "rss"),
                (TagKind::Empty, "i"),
                (TagKind::End, "rss")
            ]
        );
    }

    #[test]
    fn repairs_broken_documents() {
        let cases = [
            (
                "<rss><channel><title>Fish & Chips &amp; more</title></channel></rss>",
                "<rss><channel><title>Fish &amp; Chips &amp; more</title></channel></rss>",
            ),
            (
                "<rss><channel><title>a < b</title></channel></rss>",
                "<rss><channel><title>a &lt; b</title></channel></rss>",
            ),
            (
                "<rss><channel><item><t>1</t></item><item><t>2",
                "<rss><channel><item><t>1</t></item></channel></rss>",
            ),
            (
                "<rss><channel><item><t>1</t></item><item><t><![CDATA[2",
                "<rss><channel><item><t>1</t></item></channel></rss>",
            ),
            (
                "<rss><channel><item><b>x</item></channel></rss>",
                "<rss><channel><item><b>x</b></item></channel></rss>",
            ),
            (
                "<rss><channel><item>x</i></item></channel></rss",
                "<rss><channel><item>x</item></channel></rss>",
            ),
        ];
        for (input, want) in cases {
            let got = repair(input).unwrap();
            assert_eq!(got.text, want, "{input} ({:?})", got.fixes);
        }
        assert!(repair("<rss><channel/></rss>").is_none());
    }

    #[test]
    fn never_panics_on_garbage() {
        for doc in [
            "<",
            "</",
            "<a",
            "<a b='",
            "<!",
            "<!--",
            "<?",
            "&",
            "&#;",
            "<a/",
            "<a></b>",
            "\u{e9}<\u{e9}>",
        ] {
            let _ = Lexer::new(doc).count();
            let _ = repair(doc);
        }
    }
}
