//! A small, forgiving XML tag scanner and the document fixes built on it.
//!
//! Owns: finding the root element (to tell an HTML page from a feed and to patch roots
//! feed-rs refuses), the per-item media tags feed-rs drops or hides (`media:thumbnail`
//! without `media:content`, the `medium` attribute), and the repairs tried when feed-rs
//! rejects a document (bare `&`, stray `<`, mismatched end tags, truncation, empty
//! elements feed-rs insists on). It is not an XML parser: it sees tags, not meaning, and
//! never decides what an item contains beyond those attributes.
//!
//! All positions are byte offsets of ASCII delimiters, so slicing at them is always on a
//! char boundary; `get` is used anyway so a logic slip cannot panic.

use std::borrow::Cow;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    Start,
    End,
    /// `<x/>`
    Empty,
}

/// One tag: `<name attrs>`, `</name>` or `<name attrs/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    pub kind: TagKind,
    /// Qualified name as written (`media:content`).
    pub name: &'a str,
    /// Raw text between the name and the closing `>` (or `/>`).
    pub attrs: &'a str,
    pub start: usize,
    pub end: usize,
}

impl<'a> Tag<'a> {
    /// The name without its namespace prefix.
    pub fn local(&self) -> &'a str {
        local_name(self.name)
    }

    pub fn prefix(&self) -> &'a str {
        match self.name.bytes().position(|b| b == b':') {
            Some(at) => self.name.get(..at).unwrap_or_default(),
            None => "",
        }
    }

    pub fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        attr(self.attrs, name, false)
    }
}

pub(crate) fn local_name(name: &str) -> &str {
    // Names are short: a plain loop beats `rsplit_once`'s memrchr set-up per tag.
    match name.bytes().rposition(|b| b == b':') {
        Some(at) => name.get(at + 1..).unwrap_or(name),
        None => name,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
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
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
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
        let mut attrs_end = i;
        let kind = if kind == TagKind::Start && bytes.get(i - 1) == Some(&b'/') && i > name_end {
            attrs_end = i - 1;
            TagKind::Empty
        } else {
            kind
        };
        let name = src.get(name_start..name_end).unwrap_or_default();
        let attrs = src.get(name_end..attrs_end).unwrap_or_default();
        Some(Token::Tag(Tag {
            kind,
            name,
            attrs,
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

/// One attribute of a tag's raw attribute text.
#[derive(Debug, Clone, Copy)]
struct RawAttr<'a> {
    key: &'a str,
    /// Raw value (entities not decoded); empty for a bare attribute.
    value: &'a str,
    /// Span from the whitespace before the key to the end of the value.
    span: (usize, usize),
}

/// Iterates the attributes of a tag's raw attribute text, tolerating HTML habits
/// (unquoted values, bare attributes).
fn raw_attrs(attrs: &str) -> impl Iterator<Item = RawAttr<'_>> {
    let bytes = attrs.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        loop {
            let span_start = i;
            while bytes
                .get(i)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
            {
                i += 1;
            }
            if i >= bytes.len() {
                return None;
            }
            let key_start = i;
            while bytes
                .get(i)
                .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'=' && *b != b'/')
            {
                i += 1;
            }
            let key = attrs.get(key_start..i).unwrap_or_default();
            let after_key = i;
            while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                i += 1;
            }
            let value = if bytes.get(i) == Some(&b'=') {
                i += 1;
                while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let vstart = i + 1;
                        let vend = find_byte(attrs, vstart, q).unwrap_or(bytes.len());
                        i = (vend + 1).min(bytes.len());
                        attrs.get(vstart..vend).unwrap_or_default()
                    }
                    _ => {
                        let vstart = i;
                        while bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                            i += 1;
                        }
                        attrs.get(vstart..i).unwrap_or_default()
                    }
                }
            } else {
                // A bare attribute: the whitespace after it belongs to the next one.
                i = after_key;
                ""
            };
            if key.is_empty() {
                // Nothing consumed (a stray `=`): skip a byte so this cannot loop forever.
                i = i.max(key_start + 1);
                continue;
            }
            return Some(RawAttr {
                key,
                value,
                span: (span_start, i),
            });
        }
    })
}

/// The value of attribute `name` in a tag's raw attribute text, entity-decoded.
/// `ignore_case` is for HTML; XML names are case-sensitive.
pub(crate) fn attr<'a>(attrs: &'a str, name: &str, ignore_case: bool) -> Option<Cow<'a, str>> {
    raw_attrs(attrs)
        .find(|a| {
            if ignore_case {
                a.key.eq_ignore_ascii_case(name)
            } else {
                a.key == name
            }
        })
        .map(|a| decode_entities(a.value))
}

/// Decodes the XML predefined entities and numeric references; leaves anything else.
pub(crate) fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let tail = rest.get(at..).unwrap_or_default();
        let semi = tail.get(..tail.len().min(12)).and_then(|t| t.find(';'));
        let decoded = semi.and_then(|semi| {
            let name = tail.get(1..semi)?;
            let ch = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((ch, semi + 1))
        });
        match decoded {
            Some((ch, len)) => {
                out.push(ch);
                rest = tail.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What precedes the first element of a document, and that element.
#[derive(Debug, Default)]
pub(crate) struct RootSniff<'a> {
    pub root: Option<Tag<'a>>,
    /// A `<!DOCTYPE html…>` came before the root.
    pub html_doctype: bool,
    /// Text other than whitespace before the root (not XML at all, usually).
    pub junk_before_root: bool,
}

pub(crate) fn sniff_root(doc: &str) -> RootSniff<'_> {
    let mut sniff = RootSniff::default();
    for token in Lexer::new(doc) {
        match token {
            Token::Tag(tag) if tag.kind != TagKind::End => {
                sniff.root = Some(tag);
                break;
            }
            Token::Markup { start, end } => {
                let markup = doc.get(start..end).unwrap_or_default();
                if markup
                    .get(..14)
                    .is_some_and(|m| m.eq_ignore_ascii_case("<!doctype html"))
                {
                    sniff.html_doctype = true;
                }
            }
            Token::Text { start, end } => {
                if !doc.get(start..end).unwrap_or_default().trim().is_empty() {
                    sniff.junk_before_root = true;
                }
            }
            Token::Tag(_) | Token::StrayLt(_) => sniff.junk_before_root = true,
            Token::Unterminated { .. } => break,
        }
    }
    sniff
}

/// A media reference found by scanning an item's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScannedMedia<'a> {
    pub kind: ScannedKind,
    pub url: Cow<'a, str>,
    pub mime: Option<Cow<'a, str>>,
    /// media:content's `medium` (`image`, `video`…), which feed-rs does not keep.
    pub medium: Option<Cow<'a, str>>,
    pub width: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScannedKind {
    Enclosure,
    MediaContent,
    MediaThumbnail,
}

const MRSS_NS: &str = "http://search.yahoo.com/mrss";

/// The media tags of each item (`item`/`entry` under the root or under `channel`), in
/// document order. `None` when the document does not scan cleanly; the caller also
/// checks that the item count matches feed-rs's before trusting the alignment.
pub(crate) fn scan_item_media(doc: &str) -> Option<Vec<Vec<ScannedMedia<'_>>>> {
    let mut items: Vec<Vec<ScannedMedia<'_>>> = Vec::new();
    // Names of the open elements, outermost first.
    let mut stack: Vec<&str> = Vec::with_capacity(16);
    let mut item_depth: Option<usize> = None;
    let mut media_prefix = "media";
    for token in Lexer::new(doc) {
        let tag = match token {
            Token::Tag(tag) => tag,
            Token::Unterminated { .. } => return None,
            _ => continue,
        };
        if tag.kind == TagKind::End {
            stack.pop()?;
            if item_depth.is_some_and(|d| stack.len() == d) {
                item_depth = None;
            }
            continue;
        }
        let depth = stack.len();
        if depth == 0 {
            media_prefix = mrss_prefix(tag.attrs).unwrap_or(media_prefix);
        }
        match item_depth {
            None => {
                let is_item = matches!(tag.local(), "item" | "entry")
                    && (depth == 0
                        || depth == 1
                        || (depth == 2
                            && stack.get(1).is_some_and(|n| local_name(n) == "channel")));
                if is_item {
                    items.push(Vec::new());
                    if tag.kind == TagKind::Start {
                        item_depth = Some(depth);
                    }
                }
            }
            Some(_) => {
                if let Some(media) = media_of(&tag, media_prefix)
                    && let Some(list) = items.last_mut()
                {
                    list.push(media);
                }
            }
        }
        if tag.kind == TagKind::Start {
            stack.push(tag.name);
        }
    }
    Some(items)
}

fn mrss_prefix(root_attrs: &str) -> Option<&str> {
    // Find `xmlns:P="http://search.yahoo.com/mrss/"` on the root.
    let mut rest = root_attrs;
    while let Some(at) = rest.find("xmlns:") {
        let after = rest.get(at + 6..).unwrap_or_default();
        let eq = after.find('=')?;
        let prefix = after.get(..eq).unwrap_or_default().trim();
        let value = after.get(eq + 1..).unwrap_or_default().trim_start();
        let value = value.trim_start_matches(['"', '\'']);
        if value.starts_with(MRSS_NS) && !prefix.is_empty() {
            return Some(prefix);
        }
        rest = after;
    }
    None
}

fn media_of<'a>(tag: &Tag<'a>, media_prefix: &str) -> Option<ScannedMedia<'a>> {
    let kind = match (tag.prefix(), tag.local()) {
        ("", "enclosure") => ScannedKind::Enclosure,
        (p, "content") if p == media_prefix || p == "media" => ScannedKind::MediaContent,
        (p, "thumbnail") if p == media_prefix || p == "media" => ScannedKind::MediaThumbnail,
        _ => return None,
    };
    let url = tag.attr("url").filter(|u| !u.trim().is_empty())?;
    Some(ScannedMedia {
        kind,
        url,
        mime: tag.attr("type"),
        medium: tag.attr("medium"),
        width: tag.attr("width"),
    })
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

/// Removes every element named `name` (qualified, as written) whose content is empty:
/// nothing, whitespace or an empty CDATA section. feed-rs rejects a whole feed over one
/// empty `<media:description/>`. `None` when there was none.
pub(crate) fn remove_empty_elements(doc: &str, name: &str) -> Option<String> {
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    for token in Lexer::new(doc) {
        if let Token::Tag(tag) = token
            && tag.name == name
        {
            match tag.kind {
                TagKind::Empty => cuts.push((tag.start, tag.end)),
                TagKind::Start => open = Some(tag.start),
                TagKind::End => {
                    if let Some(start) = open.take() {
                        cuts.push((start, tag.end));
                    }
                }
            }
            continue;
        }
        // Anything but whitespace, comments or an empty CDATA section means content.
        let has_content = match token {
            Token::Text { start, end } => {
                !doc.get(start..end).unwrap_or_default().trim().is_empty()
            }
            Token::Markup { start, end } => {
                let m = doc.get(start..end).unwrap_or_default();
                let empty_cdata = m
                    .strip_prefix("<![CDATA[")
                    .and_then(|m| m.strip_suffix("]]>"))
                    .is_some_and(|inner| inner.trim().is_empty());
                !empty_cdata && !m.starts_with("<!--")
            }
            _ => true,
        };
        if has_content {
            open = None;
        }
    }
    cut_spans(doc, &cuts)
}

/// Removes every element whose local name is in `locals`, with its content. One that
/// never closes (its end tag mangled) loses its start tag and the text after it, which
/// also rebalances the document. `None` when there was none.
pub(crate) fn remove_elements(doc: &str, locals: &[&str]) -> Option<String> {
    struct Open<'a> {
        name: &'a str,
        start: usize,
        /// End of the start tag and the text right after it.
        head_end: usize,
        depth: usize,
        seen_other: bool,
    }
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<Open<'_>> = None;
    for token in Lexer::new(doc) {
        match (&mut open, token) {
            (Some(o), Token::Text { end, .. }) if !o.seen_other => o.head_end = end,
            (None, Token::Tag(tag)) if locals.contains(&tag.local()) => match tag.kind {
                TagKind::Empty => cuts.push((tag.start, tag.end)),
                TagKind::Start => {
                    open = Some(Open {
                        name: tag.name,
                        start: tag.start,
                        head_end: tag.end,
                        depth: 0,
                        seen_other: false,
                    });
                }
                TagKind::End => {}
            },
            (Some(o), Token::Tag(tag)) if tag.name == o.name && tag.kind != TagKind::Empty => {
                o.seen_other = true;
                if tag.kind == TagKind::Start {
                    o.depth += 1;
                } else if o.depth > 0 {
                    o.depth -= 1;
                } else {
                    cuts.push((o.start, tag.end));
                    open = None;
                }
            }
            (Some(o), _) => o.seen_other = true,
            (None, _) => {}
        }
    }
    if let Some(o) = open {
        cuts.push((o.start, o.head_end));
    }
    cut_spans(doc, &cuts)
}

/// Removes the element whose start tag ends at byte `pos` (feed-rs reports errors at
/// the position just after the start tag), with its content. Returns the new document
/// and the element's name.
pub(crate) fn remove_element_at(doc: &str, pos: usize) -> Option<(String, String)> {
    let mut target: Option<Tag<'_>> = None;
    let mut depth = 0usize;
    for token in Lexer::new(doc) {
        let Token::Tag(tag) = token else {
            if matches!(token, Token::Unterminated { .. }) {
                return None;
            }
            continue;
        };
        match target {
            None => {
                if tag.end < pos {
                    continue;
                }
                if tag.end > pos || tag.kind == TagKind::End {
                    return None;
                }
                if tag.kind == TagKind::Empty {
                    let text = cut_spans(doc, &[(tag.start, tag.end)])?;
                    return Some((text, tag.name.to_owned()));
                }
                target = Some(tag);
            }
            Some(start) => match tag.kind {
                TagKind::Start => depth += 1,
                TagKind::Empty => {}
                TagKind::End if depth > 0 => depth -= 1,
                TagKind::End => {
                    let text = cut_spans(doc, &[(start.start, tag.end)])?;
                    return Some((text, start.name.to_owned()));
                }
            },
        }
    }
    None
}

/// The qualified name of the start tag ending at `pos`, if any.
pub(crate) fn element_name_at(doc: &str, pos: usize) -> Option<&str> {
    Lexer::new(doc).find_map(|token| match token {
        Token::Tag(tag) if tag.end == pos && tag.kind != TagKind::End => Some(tag.name),
        _ => None,
    })
}

fn cut_spans(doc: &str, cuts: &[(usize, usize)]) -> Option<String> {
    if cuts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(doc.len());
    let mut at = 0;
    for &(start, end) in cuts {
        out.push_str(doc.get(at..start)?);
        at = end;
    }
    out.push_str(doc.get(at..)?);
    Some(out)
}

/// Wraps everything inside the root element in `<wrapper>…</wrapper>`. `None` when the
/// root has no content to wrap (`<rss/>`) or the document has no root.
pub(crate) fn wrap_root_children(doc: &str, wrapper: &str) -> Option<String> {
    let root = sniff_root(doc).root?;
    if root.kind != TagKind::Start {
        return None;
    }
    let close = format!("</{}", root.name);
    let end = doc
        .rfind(&close)
        .filter(|&at| at >= root.end)
        .unwrap_or(doc.len());
    let mut out = String::with_capacity(doc.len() + 2 * wrapper.len() + 5);
    out.push_str(doc.get(..root.end)?);
    let _ = write!(out, "<{wrapper}>");
    out.push_str(doc.get(root.end..end)?);
    let _ = write!(out, "</{wrapper}>");
    out.push_str(doc.get(end..)?);
    Some(out)
}

/// Sets attribute `name` of the start tag `tag` of `doc` to `value` (adding it if
/// missing), or removes it when `value` is `None`; returns the new document.
pub(crate) fn set_root_attr(
    doc: &str,
    tag: &Tag<'_>,
    name: &str,
    value: Option<&str>,
) -> Option<String> {
    let attrs_start = tag.start + 1 + tag.name.len();
    let attrs_end = attrs_start + tag.attrs.len();
    let mut out = String::with_capacity(doc.len() + name.len() + 4);
    out.push_str(doc.get(..attrs_start)?);
    if let Some(value) = value {
        let _ = write!(out, " {name}=\"{value}\"");
    }
    let mut at = 0;
    for a in raw_attrs(tag.attrs).filter(|a| a.key == name) {
        out.push_str(tag.attrs.get(at..a.span.0)?);
        at = a.span.1;
    }
    out.push_str(tag.attrs.get(at..)?);
    out.push_str(doc.get(attrs_end..)?);
    Some(out)
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
    fn reads_attributes() {
        let cases = [
            (r#" url="a&amp;b" type='image/png'"#, "url", Some("a&b")),
            (
                r#" url="a&amp;b" type='image/png'"#,
                "type",
                Some("image/png"),
            ),
            (r#" data-src="x" src=y"#, "src", Some("y")),
            (" async src = \"z\" ", "src", Some("z")),
            (" srcset=\"1\"", "src", None),
            (" = = =", "src", None),
        ];
        for (attrs, name, want) in cases {
            assert_eq!(attr(attrs, name, false).as_deref(), want, "{attrs}");
        }
        assert_eq!(attr(" SRC='q'", "src", true).as_deref(), Some("q"));
    }

    #[test]
    fn sniffs_root() {
        let s = sniff_root("<?xml version='1.0'?>\n<!-- c --><rss version='2.0'>");
        assert_eq!(s.root.map(|t| t.name), Some("rss"));
        let s = sniff_root("<!DOCTYPE html>\n<html lang=en>");
        assert!(s.html_doctype);
        assert_eq!(s.root.map(|t| t.name), Some("html"));
        assert!(sniff_root("hello <b>").junk_before_root);
    }

    #[test]
    fn scans_media_per_item() {
        let doc = r#"<rss xmlns:m="http://search.yahoo.com/mrss/"><channel>
            <image><url>x</url></image>
            <item><m:thumbnail url="t1.jpg"/><enclosure url="e.mp3" type="audio/mpeg"/></item>
            <item><m:content url="c.jpg" medium="image"><m:thumbnail url="t2.jpg"/></m:content></item>
            <item/>
            </channel></rss>"#;
        let items = scan_item_media(doc).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0][0].kind, ScannedKind::MediaThumbnail);
        assert_eq!(items[0][1].mime.as_deref(), Some("audio/mpeg"));
        assert_eq!(items[1][0].medium.as_deref(), Some("image"));
        assert_eq!(items[1][1].url, "t2.jpg");
        assert!(items[2].is_empty());
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
    fn removes_empty_elements() {
        let doc = "<i><m:d><![CDATA[]]></m:d><m:d>x</m:d><m:d/><m:d>\n</m:d></i>";
        assert_eq!(
            remove_empty_elements(doc, "m:d").as_deref(),
            Some("<i><m:d>x</m:d></i>")
        );
        assert!(remove_empty_elements(doc, "m:t").is_none());
        let (text, name) = remove_element_at("<a><b t='x'><c/>y</b><b/></a>", 12).unwrap();
        assert_eq!((text.as_str(), name.as_str()), ("<a><b/></a>", "b"));
    }

    #[test]
    fn removes_named_elements() {
        let doc = "<i><author>a<author>b</author></author><dc:creator/><t>x</t><dc:creator>c</dc:creator></i>";
        assert_eq!(
            remove_elements(doc, &["author", "creator"]).as_deref(),
            Some("<i><t>x</t></i>")
        );
        assert!(remove_elements(doc, &["none"]).is_none());
        // An end tag mangled away: drop the start tag and its text, keep the rest.
        let doc = "<c><webMaster>w@x.com\u{a8}/webMaster>\n<item>i</item></c>";
        assert_eq!(
            remove_elements(doc, &["webMaster"]).as_deref(),
            Some("<c><item>i</item></c>")
        );
    }

    #[test]
    fn wraps_root_children() {
        let cases = [
            (
                "<rss><item/></rss>",
                Some("<rss><channel><item/></channel></rss>"),
            ),
            (
                "<!-- c --><rss>\n</rss>\n",
                Some("<!-- c --><rss><channel>\n</channel></rss>\n"),
            ),
            ("<rss><item>", Some("<rss><channel><item></channel>")),
            ("<rss/>", None),
            ("", None),
        ];
        for (doc, want) in cases {
            assert_eq!(wrap_root_children(doc, "channel").as_deref(), want, "{doc}");
        }
    }

    #[test]
    fn sets_root_attribute() {
        let doc = "<?xml?><rss xmlns:a='b' version=\"0.93\" x=1><channel/></rss>";
        let root = sniff_root(doc).root.unwrap();
        let out = set_root_attr(doc, &root, "version", Some("2.0")).unwrap();
        assert_eq!(
            out,
            "<?xml?><rss version=\"2.0\" xmlns:a='b' x=1><channel/></rss>"
        );
        let doc = "<rss><channel/></rss>";
        let root = sniff_root(doc).root.unwrap();
        assert_eq!(
            set_root_attr(doc, &root, "version", Some("2.0")).unwrap(),
            "<rss version=\"2.0\"><channel/></rss>"
        );
        let doc = "<rss xmlns=\"http://backend.userland.com/rss2\" version=\"2.0\">";
        let root = sniff_root(doc).root.unwrap();
        assert_eq!(
            set_root_attr(doc, &root, "xmlns", None).unwrap(),
            "<rss version=\"2.0\">"
        );
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
            let _ = scan_item_media(doc);
            let _ = remove_empty_elements(doc, "a");
            for pos in 0..=doc.len() {
                let _ = remove_element_at(doc, pos);
            }
        }
    }
}
