//! XML scanning on quick-xml: what feed-rs does not tell us about a document, and the
//! small edits tried when feed-rs refuses one.
//!
//! Owns: the root element (to tell an HTML page from a feed, to find a feed embedded in
//! an XHTML page, and to patch roots feed-rs refuses); per-item facts feed-rs drops (media
//! tags with their `medium` and `width`, `media:thumbnail` without `media:content`, a guid's
//! `isPermaLink`); the document's `xml:base` values; and the edits tried when feed-rs
//! rejects a document (removing empty or named elements, wrapping the root's children,
//! setting a root attribute). It reads tokens, not meaning: quick-xml with its
//! well-formedness checks off, so a mismatched end tag or a bare `&` does not stop it.
//! Repairing a broken document is `repair`'s job, not this module's.
//!
//! Positions are byte offsets quick-xml reports at token boundaries (ASCII delimiters),
//! so slicing at them is on a char boundary; `get` is used anyway so a slip cannot panic.

use quick_xml::events::Event;
use quick_xml::events::attributes::Attributes;
use quick_xml::reader::Reader;
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

    /// The value of attribute `name` (case-sensitive, as XML names are), decoded.
    pub fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        attr(self.attrs, name, false)
    }

    /// The namespace declarations of this tag: `(prefix, uri)`, `""` for the default one.
    fn namespace_declarations(&self) -> Vec<(&'a str, Cow<'a, str>)> {
        if !self.attrs.contains("xmlns") {
            return Vec::new();
        }
        raw_attrs(self.attrs)
            .filter_map(|(key, value)| {
                let prefix = match key.strip_prefix("xmlns") {
                    Some("") => "",
                    Some(rest) => rest.strip_prefix(':')?,
                    None => return None,
                };
                Some((prefix, decode(value)))
            })
            .collect()
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
enum Token<'a> {
    Tag(Tag<'a>),
    /// Character data, an entity reference or a CDATA section (`cdata`).
    Text {
        start: usize,
        end: usize,
        cdata: bool,
    },
    /// A comment, processing instruction, XML declaration or DOCTYPE.
    Markup {
        start: usize,
        end: usize,
    },
}

/// The tokens of a document as quick-xml reads them, with their byte spans. Ends at the
/// end of the document or at the first error quick-xml cannot read past (markup that
/// never closes); `clean` tells which.
struct Tokens<'a> {
    doc: &'a str,
    reader: Reader<&'a [u8]>,
    done: bool,
    clean: bool,
}

impl<'a> Tokens<'a> {
    fn new(doc: &'a str) -> Self {
        let mut reader = Reader::from_str(doc);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.allow_dangling_amp = true;
        config.check_comments = false;
        Tokens {
            doc,
            reader,
            done: false,
            clean: true,
        }
    }

    fn offset(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.done {
            return None;
        }
        let start = self.offset();
        let event = self.reader.read_event();
        let end = self.offset().min(self.doc.len());
        let token = match event {
            Ok(Event::Start(_)) => Token::Tag(tag_at(self.doc, start, end, TagKind::Start)?),
            Ok(Event::Empty(_)) => Token::Tag(tag_at(self.doc, start, end, TagKind::Empty)?),
            Ok(Event::End(_)) => Token::Tag(tag_at(self.doc, start, end, TagKind::End)?),
            Ok(Event::Text(_) | Event::GeneralRef(_)) => Token::Text {
                start,
                end,
                cdata: false,
            },
            Ok(Event::CData(_)) => Token::Text {
                start,
                end,
                cdata: true,
            },
            Ok(Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_)) => {
                Token::Markup { start, end }
            }
            Ok(Event::Eof) => {
                self.done = true;
                return None;
            }
            Err(_) => {
                self.done = true;
                self.clean = false;
                return None;
            }
        };
        Some(token)
    }
}

/// The tag spanning `start..end` of `doc`, read from its text.
fn tag_at(doc: &str, start: usize, end: usize, kind: TagKind) -> Option<Tag<'_>> {
    let text = doc.get(start..end)?;
    let inner = text.strip_prefix('<')?.strip_suffix('>')?;
    let (inner, inner_start) = match kind {
        TagKind::End => (inner.strip_prefix('/')?, start + 2),
        TagKind::Empty => (inner.strip_suffix('/')?, start + 1),
        TagKind::Start => (inner, start + 1),
    };
    let name_len = inner
        .find(|c: char| c.is_ascii_whitespace() || c == '/')
        .unwrap_or(inner.len());
    Some(Tag {
        kind,
        name: inner.get(..name_len)?,
        attrs: inner.get(name_len..)?,
        start,
        end: end.max(inner_start),
    })
}

/// The attributes of a tag's raw attribute text as `(key, raw value)`, tolerating HTML
/// habits (unquoted values, bare attributes).
fn raw_attrs(attrs: &str) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    let mut iter = Attributes::html(attrs, 0);
    iter.with_checks(false);
    // A malformed attribute is skipped; the iterator moves past it.
    iter.filter_map(Result::ok).map(|a| (a.key.0, a.value))
}

/// Entities decoded (XML's and HTML's, numeric references); an unknown one is kept.
fn decode(value: Cow<'_, str>) -> Cow<'_, str> {
    htmlize::unescape_attribute(value)
}

/// The value of attribute `name` in a tag's raw attribute text, entity-decoded.
/// `ignore_case` is for HTML; XML names are case-sensitive.
pub(crate) fn attr<'a>(attrs: &'a str, name: &str, ignore_case: bool) -> Option<Cow<'a, str>> {
    raw_attrs(attrs)
        .find(|(key, _)| {
            if ignore_case {
                key.eq_ignore_ascii_case(name)
            } else {
                *key == name
            }
        })
        .map(|(_, value)| decode(value))
}

/// What precedes the first element of a document, and that element.
#[derive(Debug, Default)]
pub(crate) struct RootSniff<'a> {
    pub root: Option<Tag<'a>>,
    /// A `<!DOCTYPE html…>` came before the root.
    pub html_doctype: bool,
}

pub(crate) fn sniff_root(doc: &str) -> RootSniff<'_> {
    let mut sniff = RootSniff::default();
    for token in Tokens::new(doc) {
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
            _ => {}
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

/// What the scan saw in one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScannedItem<'a> {
    pub media: Vec<ScannedMedia<'a>>,
    /// The RSS guid's `isPermaLink` said no (`false`). Absent, or anything else, is yes.
    pub guid_not_permalink: bool,
    /// In RSS, the `href` of `<link href="…"/>` written the Atom way (feed-rs reads only
    /// the element's text); rel-less or `rel="alternate"` ones.
    pub link_hrefs: Vec<Cow<'a, str>>,
    /// Where the item's element starts and ends in the document (its byte span).
    pub span: (usize, usize),
}

const MRSS_NS: &str = "http://search.yahoo.com/mrss";

/// Scans the items (`item`/`entry` under the root or under `channel`) of a document, in
/// document order. `None` when the document does not scan cleanly; the caller also
/// checks that the item count matches feed-rs's before trusting the alignment.
pub(crate) fn scan_items(doc: &str) -> Option<Vec<ScannedItem<'_>>> {
    let mut items: Vec<ScannedItem<'_>> = Vec::new();
    // Names of the open elements, outermost first.
    let mut stack: Vec<&str> = Vec::with_capacity(16);
    let mut item_depth: Option<usize> = None;
    let mut media_prefix = "media";
    let mut rss = false;
    let mut tokens = Tokens::new(doc);
    for token in &mut tokens {
        let Token::Tag(tag) = token else { continue };
        if tag.kind == TagKind::End {
            stack.pop()?;
            if item_depth.is_some_and(|d| stack.len() == d) {
                item_depth = None;
                if let Some(item) = items.last_mut() {
                    item.span.1 = tag.end;
                }
            }
            continue;
        }
        let depth = stack.len();
        if depth == 0 {
            rss = tag.local() == "rss";
            media_prefix = tag
                .namespace_declarations()
                .into_iter()
                .find(|(prefix, uri)| !prefix.is_empty() && uri.starts_with(MRSS_NS))
                .map_or(media_prefix, |(prefix, _)| prefix);
        }
        match item_depth {
            None => {
                let is_item = matches!(tag.local(), "item" | "entry")
                    && (depth <= 1
                        || (depth == 2
                            && stack.get(1).is_some_and(|n| local_name(n) == "channel")));
                if is_item {
                    items.push(ScannedItem {
                        span: (tag.start, tag.end),
                        ..ScannedItem::default()
                    });
                    if tag.kind == TagKind::Start {
                        item_depth = Some(depth);
                    }
                }
            }
            Some(_) => {
                if let Some(item) = items.last_mut() {
                    if let Some(media) = media_of(&tag, media_prefix) {
                        item.media.push(media);
                    } else if tag.name == "guid" {
                        item.guid_not_permalink = tag
                            .attr("isPermaLink")
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
                    } else if rss
                        && tag.name == "link"
                        && tag.attr("rel").is_none_or(|r| r.trim() == "alternate")
                        && let Some(href) = tag.attr("href")
                    {
                        item.link_hrefs.push(href);
                    }
                }
            }
        }
        if tag.kind == TagKind::Start {
            stack.push(tag.name);
        }
    }
    tokens.clean.then_some(items)
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

pub(crate) const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
/// Namespaces of Atom before 1.0 (0.3 and the drafts), which feedparser reads as Atom.
pub(crate) const OLD_ATOM_NS: &[&str] = &[
    "http://purl.org/atom/ns#",
    "http://purl.org/echo/",
    "http://purl.org/pie/",
    "http://example.com/necho",
    "http://example.com/newformat#",
    "uri/of/echo/namespace#",
];
const RDF_NS: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// A feed inside another document (an Atom `<feed>` in an XHTML page): the feed's
/// element as a document of its own, with the namespace declarations it inherited.
/// `None` when there is no feed element (in the Atom namespace
/// or an older one for `feed`, the RDF one for `RDF`, none or an RSS one for `rss`)
/// below the root.
pub(crate) fn embedded_feed(doc: &str) -> Option<String> {
    // The declarations of each open element, outermost first.
    let mut scopes: Vec<Vec<(&str, Cow<'_, str>)>> = Vec::with_capacity(16);
    let mut found: Option<(Tag<'_>, usize)> = None;
    for token in Tokens::new(doc) {
        let Token::Tag(tag) = token else { continue };
        if let Some((feed, depth)) = found {
            found = match tag.kind {
                TagKind::Start => Some((feed, depth + 1)),
                TagKind::Empty => Some((feed, depth)),
                TagKind::End if depth > 0 => Some((feed, depth - 1)),
                TagKind::End => {
                    let inherited = scopes.first().map_or(&[][..], Vec::as_slice);
                    return Some(standalone(doc, &feed, inherited, tag.end));
                }
            };
            continue;
        }
        if tag.kind == TagKind::End {
            scopes.pop();
            continue;
        }
        let own = tag.namespace_declarations();
        let namespace = own
            .iter()
            .chain(scopes.iter().rev().flatten())
            .find(|(prefix, _)| *prefix == tag.prefix())
            .map_or("", |(_, uri)| uri.as_ref());
        let is_feed = match tag.local() {
            "feed" => namespace == ATOM_NS || OLD_ATOM_NS.contains(&namespace),
            "RDF" => namespace == RDF_NS,
            "rss" => namespace.is_empty() || namespace.contains("/rss"),
            _ => false,
        };
        if is_feed && !scopes.is_empty() {
            let inherited = inherited_declarations(&own, &scopes);
            if tag.kind == TagKind::Empty {
                return Some(standalone(doc, &tag, &inherited, tag.end));
            }
            found = Some((tag, 0));
            scopes = vec![inherited];
        } else if tag.kind == TagKind::Start {
            scopes.push(own);
        }
    }
    // A feed that never closes: the repair pass will close it.
    let (feed, _) = found?;
    let inherited = scopes.into_iter().next().unwrap_or_default();
    Some(standalone(doc, &feed, &inherited, doc.len()))
}

/// The declarations in `scopes` (innermost wins) that `own` does not redeclare.
fn inherited_declarations<'a>(
    own: &[(&'a str, Cow<'a, str>)],
    scopes: &[Vec<(&'a str, Cow<'a, str>)>],
) -> Vec<(&'a str, Cow<'a, str>)> {
    let mut inherited: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (prefix, uri) in scopes.iter().rev().flatten() {
        let taken = own.iter().chain(&inherited).any(|(p, _)| p == prefix);
        // XHTML's default namespace is the page's, not the feed's.
        let page_default = prefix.is_empty() && uri.contains("/xhtml");
        if !taken && !page_default {
            inherited.push((prefix, uri.clone()));
        }
    }
    inherited
}

/// `doc[feed.start..end]` as a document of its own, with `declarations` added to the
/// feed's start tag.
fn standalone(
    doc: &str,
    feed: &Tag<'_>,
    declarations: &[(&str, Cow<'_, str>)],
    end: usize,
) -> String {
    let mut out = String::with_capacity(end.saturating_sub(feed.start) + 128);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(feed.name);
    for (prefix, uri) in declarations {
        let uri = htmlize::escape_attribute(uri.as_ref());
        if prefix.is_empty() {
            let _ = write!(out, " xmlns=\"{uri}\"");
        } else {
            let _ = write!(out, " xmlns:{prefix}=\"{uri}\"");
        }
    }
    let name_end = feed.start + 1 + feed.name.len();
    out.push_str(doc.get(name_end..end).unwrap_or_default());
    out
}

/// Removes every element named `name` (qualified, as written) whose content is empty:
/// nothing, whitespace or an empty CDATA section. feed-rs rejects a whole feed over one
/// empty `<media:description/>`. `None` when there was none.
pub(crate) fn remove_empty_elements(doc: &str, name: &str) -> Option<String> {
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    for token in Tokens::new(doc) {
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
            Token::Text { start, end, cdata } => {
                let text = doc.get(start..end).unwrap_or_default();
                let text = if cdata {
                    text.strip_prefix("<![CDATA[")
                        .and_then(|t| t.strip_suffix("]]>"))
                        .unwrap_or(text)
                } else {
                    text
                };
                !text.trim().is_empty()
            }
            Token::Markup { .. } => false,
            Token::Tag(_) => true,
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
    for token in Tokens::new(doc) {
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
    let mut tokens = Tokens::new(doc);
    for token in &mut tokens {
        let Token::Tag(tag) = token else { continue };
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
    Tokens::new(doc).find_map(|token| match token {
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
/// missing), or removes it when `value` is `None`; returns the new document. The tag is
/// written anew from its attributes, each in double quotes unless its value holds one.
pub(crate) fn set_root_attr(
    doc: &str,
    tag: &Tag<'_>,
    name: &str,
    value: Option<&str>,
) -> Option<String> {
    let mut out = String::with_capacity(doc.len() + name.len() + 4);
    out.push_str(doc.get(..tag.start)?);
    out.push('<');
    out.push_str(tag.name);
    if let Some(value) = value {
        let _ = write!(out, " {name}=\"{value}\"");
    }
    for (key, raw) in raw_attrs(tag.attrs).filter(|(key, _)| *key != name) {
        let quote = if raw.contains('"') { '\'' } else { '"' };
        let _ = write!(out, " {key}={quote}{raw}{quote}");
    }
    out.push_str(if tag.kind == TagKind::Empty {
        "/>"
    } else {
        ">"
    });
    out.push_str(doc.get(tag.end..)?);
    Some(out)
}

/// Replaces `from` with `to` in the root's start tag only.
pub(crate) fn replace_in_root(doc: &str, from: &str, to: &str) -> Option<String> {
    let root = sniff_root(doc).root?;
    let tag = doc.get(root.start..root.end)?;
    if !tag.contains(from) {
        return None;
    }
    let mut out = String::with_capacity(doc.len() + to.len());
    out.push_str(doc.get(..root.start)?);
    out.push_str(&tag.replace(from, to));
    out.push_str(doc.get(root.end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(doc: &str) -> Vec<(TagKind, &str)> {
        Tokens::new(doc)
            .filter_map(|t| match t {
                Token::Tag(tag) => Some((tag.kind, tag.name)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_tags_and_skips_markup() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "<y>">]><!-- <no> --><rss a='>'><![CDATA[<no>]]><i/>a & b</rss>"#;
        assert_eq!(
            tags(doc),
            vec![
                (TagKind::Start, "rss"),
                (TagKind::Empty, "i"),
                (TagKind::End, "rss")
            ]
        );
        let root = sniff_root(doc).root.unwrap();
        assert_eq!(&doc[root.start..root.end], "<rss a='>'>");
        assert_eq!(root.attr("a").as_deref(), Some(">"));
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
            (
                " alt=\"caf&eacute; &#233; &unknown;\"",
                "alt",
                Some("café é &unknown;"),
            ),
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
    }

    #[test]
    fn scans_items() {
        let doc = r#"<rss xmlns:m="http://search.yahoo.com/mrss/"><channel>
            <image><url>x</url></image>
            <item><m:thumbnail url="t1.jpg"/><enclosure url="e.mp3" type="audio/mpeg"/><guid isPermaLink="false">https://e.com/1</guid><link href="https://e.com/a"/><link rel="enclosure" href="e.mp3"/></item>
            <item xml:base="https://e.com/sub/"><m:content url="c.jpg" medium="image"><m:thumbnail url="t2.jpg"/></m:content><guid>https://e.com/2</guid></item>
            <item/>
            </channel></rss>"#;
        let items = scan_items(doc).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].media[0].kind, ScannedKind::MediaThumbnail);
        assert_eq!(items[0].media[1].mime.as_deref(), Some("audio/mpeg"));
        assert!(items[0].guid_not_permalink);
        assert_eq!(items[0].link_hrefs, ["https://e.com/a"]);
        assert_eq!(items[1].media[0].medium.as_deref(), Some("image"));
        assert_eq!(items[1].media[1].url, "t2.jpg");
        assert!(!items[1].guid_not_permalink);
        assert!(items[2].media.is_empty());
        let span = |i: usize| &doc[items[i].span.0..items[i].span.1];
        assert!(span(0).starts_with("<item><m:thumbnail") && span(0).ends_with("</item>"));
        assert!(span(1).starts_with("<item xml:base") && span(1).ends_with("</guid></item>"));
        assert_eq!(span(2), "<item/>");
        // Markup that never closes: no scan to trust.
        assert!(scan_items("<rss><channel><item><title><![CDATA[x").is_none());
    }

    #[test]
    fn finds_a_feed_inside_a_page() {
        let page = r#"<?xml version="1.0"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:media="http://search.yahoo.com/mrss/"><head><title>Page</title></head>
<body><p>Our news:</p>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Embedded</title><entry><id>1</id><media:thumbnail url="t.jpg"/></entry></feed>
</body></html>"#;
        let feed = embedded_feed(page).unwrap();
        assert_eq!(
            feed,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns:media=\"http://search.yahoo.com/mrss/\" xmlns=\"http://www.w3.org/2005/Atom\"><title>Embedded</title><entry><id>1</id><media:thumbnail url=\"t.jpg\"/></entry></feed>"
        );
        // A prefixed Atom feed takes its prefix along.
        let page = r#"<html xmlns="http://www.w3.org/1999/xhtml" xmlns:a="http://www.w3.org/2005/Atom"><body><a:feed><a:entry/></a:feed></body></html>"#;
        assert_eq!(
            embedded_feed(page).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a:feed xmlns:a=\"http://www.w3.org/2005/Atom\"><a:entry/></a:feed>"
        );
        // An element named feed in the page's own namespace is not a feed.
        assert!(
            embedded_feed(
                "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><feed>x</feed></body></html>"
            )
            .is_none()
        );
        assert!(embedded_feed("<html><body><p>no feed</p></body></html>").is_none());
        // Never closed: taken to the end for the repair pass.
        let open = embedded_feed("<html><body><rss version=\"2.0\"><channel><item>").unwrap();
        assert!(
            open.ends_with("<rss version=\"2.0\"><channel><item>"),
            "{open}"
        );
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
        assert_eq!(element_name_at("<a><b t='x'>", 12), Some("b"));
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
            "<?xml?><rss version=\"2.0\" xmlns:a=\"b\" x=\"1\"><channel/></rss>"
        );
        let doc = "<rss><channel/></rss>";
        let root = sniff_root(doc).root.unwrap();
        assert_eq!(
            set_root_attr(doc, &root, "version", Some("2.0")).unwrap(),
            "<rss version=\"2.0\"><channel/></rss>"
        );
        let doc = "<rss xmlns=\"http://backend.userland.com/rss2\" version='2.0' t='say \"hi\"'>";
        let root = sniff_root(doc).root.unwrap();
        assert_eq!(
            set_root_attr(doc, &root, "xmlns", None).unwrap(),
            "<rss version=\"2.0\" t='say \"hi\"'>"
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
            "<a xmlns:=''><feed xmlns='http://www.w3.org/2005/Atom'>",
        ] {
            let _ = Tokens::new(doc).count();
            let _ = scan_items(doc);
            let _ = embedded_feed(doc);
            let _ = remove_empty_elements(doc, "a");
            let _ = remove_elements(doc, &["a"]);
            let _ = wrap_root_children(doc, "c");
            for pos in 0..=doc.len() {
                let _ = remove_element_at(doc, pos);
            }
        }
    }
}
