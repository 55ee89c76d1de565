//! Bytes to items: encoding detection, a panic-proof feed-rs call, normalisation.
//!
//! Owns: turning one fetched document into a [`ParsedFeed`]: transcoding to UTF-8
//! (`encoding`), refusing what is not a feed with a clear reason, patching what feed-rs
//! would otherwise reject (`parse_scan`), calling feed-rs behind `catch_unwind`, and
//! normalising each entry into an [`Item`] (absolute links, categories, authors, image
//! candidates). No I/O, no HTML cleaning (the composer does that), no identity keys
//! (`item::identify`).
//!
//! It never gives up early: a document feed-rs rejects is repaired and parsed again
//! (bare `&`, stray `<`, mismatched or missing end tags, an empty element feed-rs
//! insists on, an unknown RSS or JSON Feed version), keeping every complete item.

use crate::feed::bounded::{self, FeedRead, newest_entries};
use crate::feed::dialect::{self, Document};
use crate::feed::encoding::{self, EncodingSource};
use crate::feed::html_images;
use crate::feed::item::{ImageCandidate, ImageSource, Item, ParsedFeed};
use crate::feed::links::{DocumentLinks, resolve};
use crate::feed::parse_scan::{self, ScannedItem, ScannedKind, ScannedMedia};
use crate::feed::repair;
use feed_rs::model::{Entry, Feed, Link, MediaObject, Person};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use std::borrow::Cow;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("empty document")]
    Empty,
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("malformed feed: {0}")]
    Malformed(String),
    #[error("the feed parser crashed: {0}")]
    Panicked(String),
}

impl ParseError {
    /// Stable label for logs, `status` and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::NotAFeed(_) => "not_a_feed",
            ParseError::Malformed(_) => "malformed",
            ParseError::Panicked(_) => "parser_panic",
        }
    }
}

/// How many times a rejected document is patched and parsed again. Each patch removes
/// one kind of problem, so real feeds need one or two; the cap bounds the work on
/// pathological input.
const MAX_ATTEMPTS: usize = 8;

/// Longest error detail kept: messages go to logs and the `status` table.
const MAX_REASON_LEN: usize = 160;

/// Bounds on the work one document may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// At most this many items are normalised and returned: the newest by date, then
    /// by document order (`ParsedFeed::items_in_document` tells how many there were).
    pub max_items: usize,
}

impl ParseLimits {
    pub const UNBOUNDED: ParseLimits = ParseLimits {
        max_items: usize::MAX,
    };
}

/// Parse a feed document, every item of it. Never panics.
///
/// `content_type` is the HTTP Content-Type, used for its charset; `base_url` is where
/// the document came from (after redirects), the last resort for resolving relative
/// links (see `links` for the rules).
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base_url: &Url,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_with(body, content_type, base_url, ParseLimits::UNBOUNDED)
}

/// `parse_feed` within `limits`.
pub fn parse_feed_with(
    body: &[u8],
    content_type: Option<&str>,
    base_url: &Url,
    limits: ParseLimits,
) -> Result<ParsedFeed, ParseError> {
    // feed-rs runs guarded on its own; this outer guard turns a bug of ours into an
    // error for this one feed instead of a dead poll task.
    match guarded(|| parse_unguarded(body, content_type, base_url, limits)) {
        Ok(result) => result,
        Err(Failure::Panicked(msg)) => Err(ParseError::Panicked(msg)),
        Err(Failure::Error(err)) => Err(describe(&err)),
    }
}

fn parse_unguarded(
    body: &[u8],
    content_type: Option<&str>,
    base_url: &Url,
    limits: ParseLimits,
) -> Result<ParsedFeed, ParseError> {
    let decoded = encoding::decode(body, content_type);
    if decoded.had_errors || decoded.source == EncodingSource::Guess {
        tracing::debug!(
            encoding = decoded.encoding,
            source = ?decoded.source,
            had_errors = decoded.had_errors,
            "feed encoding was guessed or had undecodable bytes"
        );
    }
    let text = decoded
        .text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    match text.chars().next() {
        None => Err(ParseError::Empty),
        Some('<') => parse_xml(text, base_url, limits),
        Some('{') => parse_json(text, base_url, limits),
        Some(_) if body.starts_with(&[0x1f, 0x8b]) => Err(ParseError::NotAFeed(
            "gzip-compressed data that was not decompressed".into(),
        )),
        Some(_) => Err(ParseError::NotAFeed(format!(
            "neither XML nor JSON (starts with {:?})",
            text.chars().take(24).collect::<String>()
        ))),
    }
}

fn parse_xml(text: &str, base_url: &Url, limits: ParseLimits) -> Result<ParsedFeed, ParseError> {
    let (doc, rss_root) = match dialect::prepare(text) {
        Document::Feed { text, rss_root } => (text, rss_root),
        Document::Html => return Err(not_html()),
        Document::NoRoot => return Err(ParseError::Malformed("no root element".into())),
        Document::OtherXml(name) => {
            return Err(ParseError::NotAFeed(format!(
                "the root element is <{}>, not <rss>, <feed> or <rdf:RDF>",
                shorten(&name, 40)
            )));
        }
    };
    let read = |doc: &str| bounded::read_bounded(doc, limits.max_items, run_feed_rs);
    let (feed, doc) = parse_with_retries(doc, read, |doc, failure| match failure {
        // feed-rs 3 slices author text at a byte that can fall inside a character
        // (`…é` right before an email address). Without the person elements the rest
        // of the feed still reads.
        Failure::Panicked(_) => parse_scan::remove_elements(doc, PERSON_ELEMENTS).map(|d| {
            (
                d,
                "removed author elements after a feed-rs panic".to_owned(),
            )
        }),
        Failure::Error(err) => fix_xml(doc, err, rss_root),
    })?;
    Ok(normalise(feed, base_url, Some(&doc), limits).0)
}

/// Elements feed-rs runs through its email/name splitter, by local name.
const PERSON_ELEMENTS: &[&str] = &["author", "creator", "managingEditor", "webMaster"];

/// A patched document for a feed-rs error, and what was done; `None` when the error
/// is not one a patch can get past.
fn fix_xml(doc: &str, err: &ParseFeedError, rss_root: bool) -> Option<(String, String)> {
    match err {
        ParseFeedError::ParseError(ParseErrorKind::MissingContent { position, .. }) => {
            let pos = usize::try_from(*position).ok()?;
            // Remove every empty element of that name at once: a feed with one empty
            // <media:credit/> has one in every item.
            let name = parse_scan::element_name_at(doc, pos)?;
            parse_scan::remove_empty_elements(doc, name)
                .or_else(|| parse_scan::remove_element_at(doc, pos).map(|(d, _)| d))
                .map(|d| (d, format!("removed empty <{name}> elements")))
        }
        ParseFeedError::ParseError(ParseErrorKind::UnknownMimeType { position, mime }) => {
            let pos = usize::try_from(*position).ok()?;
            parse_scan::remove_element_at(doc, pos)
                .map(|(d, name)| (d, format!("removed <{name}> of unknown type {mime:?}")))
        }
        // RSS without <channel>: feed-rs finds no feed; items straight under <rss>
        // (or nothing at all) are still a feed once wrapped.
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) if rss_root => {
            parse_scan::wrap_root_children(doc, "channel")
                .map(|d| (d, "wrapped the content of <rss> in <channel>".to_owned()))
        }
        ParseFeedError::XmlReader(_) | ParseFeedError::IoError(_) => {
            repair::repair(doc).map(|r| (r.text, r.fixes.join("; ")))
        }
        _ => None,
    }
}

fn not_html() -> ParseError {
    ParseError::NotAFeed("an HTML page, not RSS, Atom or JSON Feed".into())
}

fn parse_json(text: &str, base_url: &Url, limits: ParseLimits) -> Result<ParsedFeed, ParseError> {
    let read = |doc: &str| run_feed_rs(doc).map(FeedRead::whole);
    let (feed, doc) =
        parse_with_retries(Cow::Borrowed(text), read, |doc, failure| match failure {
            // feed-rs accepts only "https://jsonfeed.org/version/1…"; feeds in the wild also
            // say "1.1" or use http. The rest of the format is the same.
            Failure::Error(ParseFeedError::JsonUnsupportedVersion(_)) => {
                let mut value: serde_json::Value = serde_json::from_str(doc).ok()?;
                let slot = value.get_mut("version")?;
                *slot = serde_json::Value::from("https://jsonfeed.org/version/1.1");
                serde_json::to_string(&value)
                    .ok()
                    .map(|d| (d, "rewrote an unknown JSON Feed version".to_owned()))
            }
            _ => None,
        })?;
    let (mut parsed, kept) = normalise(feed, base_url, None, limits);
    add_json_images(&mut parsed, &kept, &doc, base_url);
    Ok(parsed)
}

/// Runs `read` (feed-rs), and on failure asks `fix` for a patched document to try again.
/// Returns the feed and the document it was read from (item media are scanned there).
/// When every attempt fails, the first failure is reported: it describes the document
/// as served, not as patched.
fn parse_with_retries<'a>(
    mut doc: Cow<'a, str>,
    read: impl Fn(&str) -> Result<FeedRead, Failure>,
    fix: impl Fn(&str, &Failure) -> Option<(String, String)>,
) -> Result<(FeedRead, Cow<'a, str>), ParseError> {
    let mut first_error: Option<ParseError> = None;
    for _ in 0..MAX_ATTEMPTS {
        let failure = match read(&doc) {
            Ok(feed) => return Ok((feed, doc)),
            Err(failure) => failure,
        };
        let described = match &failure {
            Failure::Error(err) => describe(err),
            Failure::Panicked(msg) => ParseError::Panicked(msg.clone()),
        };
        let Some((patched, what)) = fix(&doc, &failure) else {
            return Err(first_error.unwrap_or(described));
        };
        tracing::debug!(error = %described, fix = %what, "patched a feed feed-rs rejected");
        first_error.get_or_insert(described);
        doc = Cow::Owned(patched);
    }
    Err(first_error.unwrap_or_else(|| ParseError::Malformed("too many problems".into())))
}

enum Failure {
    Error(ParseFeedError),
    Panicked(String),
}

thread_local! {
    /// Set while this thread runs guarded parsing code, so the panic hook stays quiet:
    /// the panic becomes a `ParseError` carrying its message and location instead.
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic happened, for the error message.
    static PANIC_AT: Cell<Option<String>> = const { Cell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Installs, once, a panic hook that stays silent for panics inside guarded parsing on
/// the current thread and defers to the previous hook for every other panic. A flag per
/// thread, not a hook swapped around each call, so concurrent parses and panics
/// elsewhere never see the wrong hook.
fn install_quiet_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| p.set(at));
            } else {
                previous(info);
            }
        }));
    });
}

/// One feed-rs run with its panics caught (feed-rs 3 asserts on some inputs).
fn run_feed_rs(doc: &str) -> Result<Feed, Failure> {
    guarded(|| {
        feed_rs::parser::Builder::new()
            .sanitize_content(false)
            // An empty id tells us the feed had none; feed-rs would invent a random one.
            .id_generator(|_, _, _| String::new())
            .build()
            .parse(doc.as_bytes())
    })
    .and_then(|r| r.map_err(Failure::Error))
}

/// Runs `f`, turning a panic into `Failure::Panicked` with its message and location.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Failure> {
    install_quiet_hook();
    // Restore rather than clear: guards nest (parse_feed around each feed-rs run).
    let was_quiet = QUIET_PANICS.with(|flag| flag.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|flag| flag.set(was_quiet));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let at = PANIC_AT.with(Cell::take);
        let msg = match at {
            Some(at) => format!("{} (at {at})", shorten(&msg, MAX_REASON_LEN)),
            None => shorten(&msg, MAX_REASON_LEN).to_owned(),
        };
        Failure::Panicked(msg)
    })
}

fn describe(err: &ParseFeedError) -> ParseError {
    let reason = match err {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            "no <channel> or entries under the root element".to_owned()
        }
        ParseFeedError::ParseError(kind) => kind.to_string(),
        ParseFeedError::IoError(e) => format!("read error: {e}"),
        ParseFeedError::JsonSerde(e) if e.to_string().starts_with("missing field") => {
            return ParseError::NotAFeed(format!(
                "JSON, but not a JSON Feed ({})",
                shorten(&e.to_string(), MAX_REASON_LEN)
            ));
        }
        ParseFeedError::JsonSerde(e) => format!("JSON: {e}"),
        ParseFeedError::JsonUnsupportedVersion(v) => format!("unsupported JSON Feed version {v:?}"),
        ParseFeedError::XmlReader(e) => {
            let e = e.to_string();
            format!("XML: {}", e.trim_start_matches("Parser error: "))
        }
    };
    ParseError::Malformed(shorten(&reason, MAX_REASON_LEN).to_owned())
}

fn shorten(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => s.get(..at).unwrap_or(s),
        None => s,
    }
}

/// Items from feed-rs's entries, at most `limits.max_items` of them. `xml` is the
/// document feed-rs read, when XML, for the scan of what feed-rs does not keep. Returns
/// the items and, for each, the position of its item in the document.
fn normalise(
    read: FeedRead,
    base_url: &Url,
    xml: Option<&str>,
    limits: ParseLimits,
) -> (ParsedFeed, Vec<usize>) {
    let FeedRead {
        feed,
        positions,
        items_in_document,
    } = read;
    let scan = xml
        .filter(|d| worth_scanning(d, &feed.entries))
        .and_then(parse_scan::scan_items);
    let self_href = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("self"))
        .map(|l| l.href.as_str());
    let root_base = xml.and_then(|d| parse_scan::sniff_root(d).root?.attr("xml:base"));
    let doc = DocumentLinks::new(base_url, self_href, root_base.as_deref());
    let scanned: Option<&[ScannedItem<'_>]> = scan
        .as_deref()
        .filter(|items| items.len() == items_in_document);
    let entries: Vec<&Entry> = feed.entries.iter().collect();
    let kept = newest_entries(&entries, limits.max_items);
    drop(entries);
    // Atom: an entry without an author has the feed's (RFC 4287 §4.2.1).
    let feed_authors = author_names(feed.authors);
    let mut wanted = kept.iter().copied().peekable();
    let mut items = Vec::with_capacity(kept.len());
    for (i, entry) in feed.entries.into_iter().enumerate() {
        if wanted.next_if_eq(&i).is_none() {
            continue;
        }
        let position = positions.get(i).copied().unwrap_or(i);
        let mut item = normalise_entry(entry, &doc, scanned.and_then(|s| s.get(position)));
        if item.authors.is_empty() {
            item.authors.clone_from(&feed_authors);
        }
        items.push(item);
    }
    let parsed = ParsedFeed {
        title: feed.title.map(|t| t.content).and_then(non_empty),
        ttl: feed.ttl.map(|min| Duration::from_secs(u64::from(min) * 60)),
        items,
        items_in_document,
    };
    let kept = kept
        .iter()
        .map(|&i| positions.get(i).copied().unwrap_or(i))
        .collect();
    (parsed, kept)
}

/// Whether the item scan can find something: media tags (each has a `url` attribute);
/// or, for an entry without an article link, a guid that says it is no permalink or
/// RSS written with Atom's `<link href>`.
fn worth_scanning(doc: &str, entries: &[Entry]) -> bool {
    let lacks_link = |e: &Entry| {
        !e.links.iter().any(|l| {
            l.target.is_none()
                && matches!(l.rel.as_deref(), None | Some("alternate"))
                && !l.href.trim().is_empty()
        })
    };
    doc.contains("url=")
        || (entries.iter().any(lacks_link)
            && (doc.contains("isPermaLink") || doc.contains("<link ")))
}

fn non_empty(s: String) -> Option<String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == s.len() {
        Some(s)
    } else {
        Some(trimmed.to_owned())
    }
}

fn normalise_entry(entry: Entry, doc: &DocumentLinks, scanned: Option<&ScannedItem<'_>>) -> Item {
    let Entry {
        id,
        title,
        updated,
        authors,
        content,
        links,
        summary,
        categories,
        published,
        media,
        base,
        ..
    } = entry;
    let guid = non_empty(id);
    // RSS guids are permalinks unless they say otherwise; a feed without <link> relies
    // on that.
    let permalink = guid
        .as_deref()
        .filter(|_| !scanned.is_some_and(|s| s.guid_not_permalink));
    let link = match scanned.map(|s| s.link_hrefs.as_slice()) {
        // RSS with Atom's `<link href>`, which feed-rs reads as an empty link.
        Some(hrefs) if !hrefs.is_empty() => {
            let mut all: Vec<Link> = hrefs.iter().map(|h| plain_link(h)).collect();
            all.extend(links.iter().cloned());
            doc.item_link(&all, permalink)
        }
        _ => doc.item_link(&links, permalink),
    };
    let doc_base = doc.base();
    // Relative <img> in HTML is relative to the content's xml:base, else the article.
    let content_base = content
        .as_ref()
        .and_then(|c| c.body.as_ref().and(c.src.as_ref()));
    let html_base = content_base
        .and_then(|l| resolve(&l.href, doc_base))
        .or_else(|| base.as_deref().and_then(|b| resolve(b, doc_base)))
        .or_else(|| link.clone())
        .unwrap_or_else(|| doc_base.clone());
    let content = content.and_then(|c| c.body).and_then(non_empty);
    let summary = summary.map(|t| t.content).and_then(non_empty);

    let mut images = Images::default();
    match scanned {
        Some(found) => images.add_scanned(&found.media, &media, doc_base),
        None => images.add_feed_rs(&media, doc_base),
    }
    images.add_enclosure_links(&links, doc_base);
    let html_image = [content.as_deref(), summary.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|html| first_html_image(html, &html_base));
    if let Some((url, alt)) = html_image {
        images.push(url, alt, ImageSource::Html);
    }

    let mut cats: Vec<String> = Vec::with_capacity(categories.len());
    for c in categories {
        let Some(name) = c.label.and_then(non_empty).or_else(|| non_empty(c.term)) else {
            continue;
        };
        if !cats.iter().any(|have| have.eq_ignore_ascii_case(&name)) {
            cats.push(name);
        }
    }

    Item {
        guid,
        link,
        title: title.map(|t| t.content).and_then(non_empty),
        summary,
        content,
        published,
        updated,
        authors: author_names(authors),
        categories: cats,
        images: images.into_sorted(),
    }
}

/// A rel-less, untyped link to `href`.
fn plain_link(href: &str) -> Link {
    Link {
        href: href.to_owned(),
        rel: None,
        media_type: None,
        href_lang: None,
        title: None,
        length: None,
        target: None,
    }
}

/// Display names, deduplicated, in order.
fn author_names(people: Vec<Person>) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(people.len());
    for name in people
        .into_iter()
        .filter_map(|p| p.name.and_then(person_name))
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A display name from feed-rs's split of `email (Name)`, which keeps the parentheses;
/// a bare email address is not a name.
fn person_name(raw: String) -> Option<String> {
    let mut name = raw.trim();
    for (open, close) in [('(', ')'), ('<', '>'), ('"', '"')] {
        if let Some(inner) = name.strip_prefix(open).and_then(|n| n.strip_suffix(close)) {
            name = inner.trim();
        }
    }
    let is_email = name.contains('@') && !name.contains(char::is_whitespace);
    (!name.is_empty() && !is_email).then(|| name.to_owned())
}

/// Image candidates of one item, deduplicated by URL, with the width the feed states
/// (used only to order them: the composer takes the first).
#[derive(Default)]
struct Images(Vec<(ImageCandidate, Option<u32>)>);

impl Images {
    fn push(&mut self, url: Url, alt: Option<String>, source: ImageSource) {
        self.push_sized(url, alt, source, None);
    }

    fn push_sized(
        &mut self,
        url: Url,
        alt: Option<String>,
        source: ImageSource,
        width: Option<u32>,
    ) {
        if !self.0.iter().any(|(c, _)| c.url == url) {
            self.0.push((ImageCandidate { url, alt, source }, width));
        }
    }

    /// From the item's own tags: keeps enclosure vs media:content apart and sees
    /// media:thumbnail and `medium`, which feed-rs loses. Alt text still comes from
    /// feed-rs, which parsed the media descriptions.
    fn add_scanned(&mut self, found: &[ScannedMedia<'_>], media: &[MediaObject], base: &Url) {
        for m in found {
            let Some(url) = resolve(&m.url, base) else {
                continue;
            };
            let mime = m.mime.as_deref().map(str::trim).filter(|t| !t.is_empty());
            let (is_image, source) = match m.kind {
                ScannedKind::Enclosure => (
                    mime.is_some_and(is_image_mime)
                        || (mime.is_none_or(|t| t == "application/octet-stream")
                            && has_image_extension(&url)),
                    ImageSource::Enclosure,
                ),
                ScannedKind::MediaContent => {
                    let medium = m.medium.as_deref().map(str::trim);
                    (
                        medium == Some("image")
                            || mime.is_some_and(is_image_mime)
                            || (medium.is_none() && mime.is_none() && has_image_extension(&url)),
                        ImageSource::MediaContent,
                    )
                }
                ScannedKind::MediaThumbnail => (true, ImageSource::MediaThumbnail),
            };
            if is_image {
                let alt = media_alt(media, &url);
                let width = m.width.as_deref().and_then(|w| w.trim().parse().ok());
                self.push_sized(url, alt, source, width);
            }
        }
    }

    /// From feed-rs's media objects, when the tag scan could not be used.
    fn add_feed_rs(&mut self, media: &[MediaObject], base: &Url) {
        for obj in media {
            let alt = object_alt(obj);
            for c in &obj.content {
                let Some(url) = c.url.clone() else { continue };
                let mime = c.content_type.as_ref().map(|t| t.to_string());
                let is_image = match mime.as_deref() {
                    Some(t) => is_image_mime(t),
                    None => has_image_extension(&url),
                };
                if is_image && matches!(url.scheme(), "http" | "https") {
                    self.push_sized(url, alt.clone(), ImageSource::MediaContent, c.width);
                }
            }
            for t in &obj.thumbnails {
                if let Some(url) = resolve(&t.image.uri, base) {
                    self.push_sized(url, alt.clone(), ImageSource::MediaThumbnail, t.image.width);
                }
            }
        }
    }

    /// Atom `<link rel="enclosure">` and JSON Feed attachments.
    fn add_enclosure_links(&mut self, links: &[Link], base: &Url) {
        for l in links {
            let is_enclosure = match l.rel.as_deref() {
                Some("enclosure") => true,
                // JSON Feed attachments: no rel, but a type.
                None => l.media_type.is_some(),
                _ => false,
            };
            if !is_enclosure {
                continue;
            }
            let Some(url) = resolve(&l.href, base) else {
                continue;
            };
            let is_image = match l.media_type.as_deref().map(str::trim) {
                Some(t) if !t.is_empty() => is_image_mime(t),
                _ => has_image_extension(&url),
            };
            if is_image {
                let alt = l.title.clone().and_then(non_empty);
                self.push(url, alt, ImageSource::Enclosure);
            }
        }
    }

    /// Full-size media first, then thumbnails, then images found in the HTML; within
    /// each, the widest first, images of unstated width ahead (feeds tend to give the
    /// main image without sizes and the renditions with them), else document order.
    fn into_sorted(mut self) -> Vec<ImageCandidate> {
        self.0.sort_by_key(|(c, width)| {
            let rank = match c.source {
                ImageSource::Enclosure | ImageSource::MediaContent => 0,
                ImageSource::MediaThumbnail => 1,
                ImageSource::Html => 2,
            };
            (rank, std::cmp::Reverse(width.unwrap_or(u32::MAX)))
        });
        self.0.into_iter().map(|(c, _)| c).collect()
    }
}

fn object_alt(obj: &MediaObject) -> Option<String> {
    obj.description
        .as_ref()
        .or(obj.title.as_ref())
        .map(|t| t.content.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Alt text for `url` from the media object that holds it.
fn media_alt(media: &[MediaObject], url: &Url) -> Option<String> {
    media
        .iter()
        .find(|obj| {
            obj.content.iter().any(|c| c.url.as_ref() == Some(url))
                || obj.thumbnails.iter().any(|t| t.image.uri == url.as_str())
        })
        .and_then(object_alt)
}

fn is_image_mime(mime: &str) -> bool {
    mime.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("image/"))
}

const IMAGE_EXTENSIONS: &[&str] = &[
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".bmp", ".tif", ".tiff", ".heic", ".jfif",
];

fn has_image_extension(url: &Url) -> bool {
    let path = url.path();
    IMAGE_EXTENSIONS.iter().any(|ext| {
        path.len() >= ext.len()
            && path
                .get(path.len() - ext.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(ext))
    })
}

/// How many `<img>` tags to look at before giving up: past a few, the rest are rarely
/// the lead image.
const MAX_HTML_IMGS: usize = 8;

/// The first `<img>` in `html` with a usable source (`src`, or the lazy-loading
/// `data-src` when `src` is a placeholder), skipping 1×1 tracking pixels.
fn first_html_image(html: &str, base: &Url) -> Option<(Url, Option<String>)> {
    html_images::img_tags(html)
        .take(MAX_HTML_IMGS)
        .find_map(|img| {
            let is_pixel =
                |v: &Option<String>| v.as_deref().is_some_and(|v| matches!(v.trim(), "0" | "1"));
            if is_pixel(&img.width) || is_pixel(&img.height) {
                return None;
            }
            let url = img
                .src
                .filter(|s| !s.trim().is_empty() && !s.trim_start().starts_with("data:"))
                .or(img.data_src)
                .or(img.data_lazy_src)
                .and_then(|s| resolve(&s, base))
                .filter(|u| !is_decoration(u))?;
            let alt = img
                .alt
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty());
            Some((url, alt))
        })
}

/// Images in article HTML that are not the article's picture: feed trackers and share
/// buttons (FeedBurner, WordPress stats, ad servers), emoji, avatars, and SVG (which
/// Threads does not take).
fn is_decoration(url: &Url) -> bool {
    const HOSTS: &[&str] = &[
        "feedburner.com",
        "feedblitz.com",
        "feedsportal.com",
        "pheedo.com",
        "doubleclick.net",
        "pixel.wp.com",
        "stats.wordpress.com",
        "gravatar.com",
    ];
    let host = url.host_str().unwrap_or_default();
    let path = url.path();
    HOSTS
        .iter()
        .any(|h| host == *h || host.strip_suffix(h).is_some_and(|rest| rest.ends_with('.')))
        || path.contains("/images/core/emoji/")
        || path
            .get(path.len().saturating_sub(4)..)
            .is_some_and(|ext| ext.eq_ignore_ascii_case(".svg"))
}

/// JSON Feed's `image` and `banner_image`, which feed-rs does not read.
/// `kept` holds the index in the document of each item of `parsed`.
fn add_json_images(parsed: &mut ParsedFeed, kept: &[usize], doc: &str, base: &Url) {
    #[derive(serde::Deserialize)]
    struct JsonFeed {
        #[serde(default)]
        items: Vec<JsonItem>,
    }
    #[derive(serde::Deserialize)]
    struct JsonItem {
        image: Option<String>,
        banner_image: Option<String>,
    }
    let Ok(json) = serde_json::from_str::<JsonFeed>(doc) else {
        return;
    };
    if json.items.len() != parsed.items_in_document {
        return;
    }
    let mut json_items: Vec<Option<JsonItem>> = json.items.into_iter().map(Some).collect();
    for (item, &at) in parsed.items.iter_mut().zip(kept) {
        let Some(j) = json_items.get_mut(at).and_then(Option::take) else {
            continue;
        };
        let mut images = Images(
            std::mem::take(&mut item.images)
                .into_iter()
                .map(|c| (c, None))
                .collect(),
        );
        for url in [j.image, j.banner_image].into_iter().flatten() {
            if let Some(url) = resolve(&url, base) {
                images.push(url, None, ImageSource::Enclosure);
            }
        }
        item.images = images.into_sorted();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/feeds/news.xml").unwrap()
    }

    fn parse(body: &[u8]) -> Result<ParsedFeed, ParseError> {
        parse_feed(body, None, &base())
    }

    fn titles(feed: &ParsedFeed) -> Vec<&str> {
        feed.items
            .iter()
            .map(|i| i.title.as_deref().unwrap_or(""))
            .collect()
    }

    fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in s.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    const RSS_UTF16: &str = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<rss version=\"2.0\"><channel><title>Café</title><item><title>Zürich</title><guid>1</guid></item></channel></rss>";

    #[test]
    fn decodes_every_encoding() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Caf\xe9</title><item><title>Z\xfcrich</title></item></channel></rss>";
        let cp1252 = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><rss version=\"2.0\"><channel><title>Caf\xe9</title><item><title>Z\xfcrich \x93quoted\x94</title></item></channel></rss>";
        let http_only = b"<rss version=\"2.0\"><channel><title>Caf\xe9</title><item><title>Z\xfcrich</title></item></channel></rss>";
        let bom = [&[0xEF, 0xBB, 0xBF][..], "<rss version=\"2.0\"><channel><title>Café</title><item><title>Zürich</title></item></channel></rss>".as_bytes()].concat();
        let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
            ("utf-8 bom", bom, None, "Zürich"),
            ("utf-16le bom", utf16(RSS_UTF16, false), None, "Zürich"),
            ("utf-16be bom", utf16(RSS_UTF16, true), None, "Zürich"),
            ("iso-8859-1 declared", latin1.to_vec(), None, "Zürich"),
            (
                "windows-1252 declared",
                cp1252.to_vec(),
                None,
                "Zürich \u{201c}quoted\u{201d}",
            ),
            (
                "charset only in http",
                http_only.to_vec(),
                Some("application/rss+xml; charset=iso-8859-1"),
                "Zürich",
            ),
        ];
        for (name, body, ct, want) in cases {
            let feed = parse_feed(&body, ct, &base()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(feed.title.as_deref(), Some("Café"), "{name}");
            assert_eq!(titles(&feed), [want], "{name}");
        }
    }

    #[test]
    fn refuses_non_feeds_with_a_reason() {
        let cases: Vec<(&str, &[u8], &str, &str)> = vec![
            ("empty", b"", "empty", "empty document"),
            ("whitespace", b" \n\t ", "empty", "empty document"),
            ("bom only", b"\xef\xbb\xbf", "empty", "empty document"),
            (
                "html page",
                b"<!DOCTYPE html>\n<html><head><title>Hi</title></head><body>x</body></html>",
                "not_a_feed",
                "HTML page",
            ),
            (
                "html without doctype",
                b"<html><body>x</body></html>",
                "not_a_feed",
                "HTML page",
            ),
            (
                "other xml",
                b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
                "not_a_feed",
                "root element is <svg>",
            ),
            (
                "plain text",
                b"Service unavailable",
                "not_a_feed",
                "neither XML nor JSON",
            ),
            ("gzip", b"\x1f\x8b\x08\x00\x00\x00", "not_a_feed", "gzip"),
            (
                "json, not a feed",
                b"{\"error\": \"nope\"}",
                "not_a_feed",
                "not a JSON Feed",
            ),
            (
                "broken json",
                b"{\"version\": \"https://jsonfeed.org/version/1\", \"items\": [",
                "malformed",
                "JSON",
            ),
            (
                "comment only",
                b"<!-- nothing -->",
                "malformed",
                "no root element",
            ),
        ];
        for (name, body, class, msg) in cases {
            let err = parse(body).expect_err(name);
            assert_eq!(err.class(), class, "{name}: {err}");
            assert!(err.to_string().contains(msg), "{name}: {err}");
            assert!(err.to_string().len() < 220, "{name}: message too long");
        }
    }

    #[test]
    fn recovers_broken_xml() {
        let cases: Vec<(&str, &str, Vec<&str>)> = vec![
            (
                "truncated mid-item keeps complete items",
                "<rss version=\"2.0\"><channel><title>T</title><item><title>One</title></item><item><title>Two</title></item><item><title>Thr",
                vec!["One", "Two"],
            ),
            (
                "truncated inside CDATA",
                "<rss version=\"2.0\"><channel><item><title>One</title></item><item><title><![CDATA[Tw",
                vec!["One"],
            ),
            (
                "bare ampersand",
                "<rss version=\"2.0\"><channel><item><title>Fish & Chips &amp; more</title></item></channel></rss>",
                vec!["Fish & Chips & more"],
            ),
            (
                "mismatched end tag",
                "<rss version=\"2.0\"><channel><item><title>One</title><b>bold</item><item><title>Two</title></item></channel></rss>",
                vec!["One", "Two"],
            ),
            (
                "rss without version",
                "<rss><channel><item><title>One</title></item></channel></rss>",
                vec!["One"],
            ),
            (
                "rss 0.94",
                "<rss version=\"0.94\"><channel><item><title>One</title></item></channel></rss>",
                vec!["One"],
            ),
            (
                "empty media:description (feed-rs rejects the feed)",
                "<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\"><channel><item><title>One</title><media:content url=\"https://img.example.org/a\" medium=\"image\"><media:description><![CDATA[]]></media:description><media:credit/></media:content></item><item><title>Two</title><media:content url=\"https://img.example.org/b.jpg\"><media:title></media:title></media:content></item></channel></rss>",
                vec!["One", "Two"],
            ),
            (
                "atom 0.3",
                "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><title>T</title><entry><title>One</title><id>tag:x,2004:1</id></entry></feed>",
                vec!["One"],
            ),
            (
                "declaration after a comment",
                "<!-- generated --><?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss version=\"2.0\"><channel><item><title>One</title></item></channel></rss>",
                vec!["One"],
            ),
        ];
        for (name, doc, want) in cases {
            let feed = parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(titles(&feed), want, "{name}");
        }
        // The repair of the empty media elements keeps the images.
        let feed = parse(
            b"<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\"><channel><item><title>One</title><media:content url=\"https://img.example.org/a\" medium=\"image\"><media:description><![CDATA[]]></media:description></media:content></item></channel></rss>",
        )
        .unwrap();
        assert_eq!(
            feed.items[0].images[0].url.as_str(),
            "https://img.example.org/a"
        );
    }

    #[test]
    fn unrecoverable_xml_is_a_clean_error() {
        let cases: Vec<(&str, &[u8])> = vec![
            (
                "invalid xml:base",
                b"<rss version=\"2.0\"><channel><item xml:base=\"http://[::1\"><title>x</title></item></channel></rss>",
            ),
            ("root never closes its start tag", b"<rss version=\"2.0\""),
        ];
        for (name, body) in cases {
            let err = parse(body).expect_err(name);
            assert_eq!(err.class(), "malformed", "{name}: {err}");
        }
        // Items straight under <rss> are recovered, not refused.
        let feed =
            parse(b"<rss version=\"2.0\"><item><title>no channel</title></item></rss>").unwrap();
        assert_eq!(titles(&feed), ["no channel"]);
    }

    #[test]
    fn glued_documents_parse() {
        // Two documents glued together: feed-rs would panic on the second declaration.
        let glued = format!(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss version=\"2.0\"><channel><item><title>One</title></item>{}</channel></rss><?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss/>",
            " ".repeat(100)
        );
        let feed = parse(glued.as_bytes()).unwrap();
        assert_eq!(titles(&feed), ["One"]);
    }

    #[test]
    fn normalises_entries() {
        let doc = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title> News </title>
  <link>/news/</link>
  <ttl>15</ttl>
  <item>
    <title>Relative</title>
    <link>story/1?utm_source=rss</link>
    <guid isPermaLink="false">  abc-1  </guid>
    <description>&lt;p&gt;Hi &lt;img src="/img/lead.jpg" alt="Lead &amp;amp; more"&gt;&lt;/p&gt;</description>
    <category>Politics</category><category> politics </category><category></category><category>World</category>
    <dc:creator>Ann</dc:creator><author>bob@example.org (Bob)</author><dc:creator>Ann</dc:creator>
    <pubDate>Tue, 02 Mar 2021 23:39:15 +0100</pubDate>
  </item>
  <item>
    <guid>https://example.com/permalink/2</guid>
    <title>Guid is the link</title>
  </item>
  <item>
    <title>Comments are not the link</title>
    <comments>https://example.com/3#comments</comments>
    <guid></guid>
  </item>
</channel>
</rss>"#;
        let feed = parse(doc.as_bytes()).unwrap();
        assert_eq!(feed.title.as_deref(), Some("News"));
        assert_eq!(feed.ttl, Some(Duration::from_secs(15 * 60)));
        let [a, b, c] = &feed.items[..] else {
            panic!("{:?}", feed.items)
        };
        assert_eq!(a.guid.as_deref(), Some("abc-1"));
        // Relative to where the feed came from: the channel's site link is no base.
        assert_eq!(
            a.link.as_ref().map(Url::as_str),
            Some("https://example.org/feeds/story/1?utm_source=rss")
        );
        assert_eq!(a.categories, ["Politics", "World"]);
        assert_eq!(a.authors, ["Ann", "Bob"]);
        assert!(a.published.is_some());
        assert!(a.summary.as_deref().is_some_and(|s| s.contains("<img")));
        assert_eq!(a.images.len(), 1);
        assert_eq!(a.images[0].url.as_str(), "https://example.org/img/lead.jpg");
        assert_eq!(a.images[0].alt.as_deref(), Some("Lead & more"));
        assert_eq!(a.images[0].source, ImageSource::Html);
        assert_eq!(
            b.link.as_ref().map(Url::as_str),
            Some("https://example.com/permalink/2")
        );
        assert_eq!(c.guid, None);
        assert_eq!(c.link, None);
    }

    #[test]
    fn atom_links_and_xml_base() {
        let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.net/2024/">
  <title type="html">Blog &amp;amp; co</title>
  <link rel="self" href="https://blog.example.net/feed.atom"/>
  <author><name>Feed Author</name></author>
  <entry>
    <id>tag:blog.example.net,2024:0</id>
    <title>Inherits the author</title>
  </entry>
  <entry>
    <id>tag:blog.example.net,2024:1</id>
    <title>One</title>
    <link rel="edit" href="/edit/1"/>
    <link rel="enclosure" type="image/png" href="img/one.png" title="The cover"/>
    <link rel="alternate" type="text/html" href="one.html"/>
    <category term="tech" label="Technology"/>
    <author><name>Ann</name></author>
    <content type="html">&lt;p&gt;text&lt;/p&gt;</content>
  </entry>
</feed>"#;
        let feed = parse(doc.as_bytes()).unwrap();
        assert_eq!(feed.items[0].authors, ["Feed Author"]);
        let item = &feed.items[1];
        assert_eq!(item.authors, ["Ann"]);
        assert_eq!(
            item.link.as_ref().map(Url::as_str),
            Some("https://blog.example.net/2024/one.html")
        );
        assert_eq!(item.categories, ["Technology"]);
        assert_eq!(item.content.as_deref(), Some("<p>text</p>"));
        assert_eq!(item.images.len(), 1);
        assert_eq!(item.images[0].source, ImageSource::Enclosure);
        assert_eq!(item.images[0].alt.as_deref(), Some("The cover"));
        assert_eq!(
            item.images[0].url.as_str(),
            "https://blog.example.net/2024/img/one.png"
        );
    }

    #[test]
    fn finds_images() {
        let doc = r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><link>https://news.example.com/</link>
<item><title>thumbnail only</title><media:thumbnail url="https://i.example.com/t.jpg" width="240"/></item>
<item><title>media content</title>
  <media:content url="https://i.example.com/big" medium="image"><media:description>A big picture</media:description></media:content>
  <media:content url="https://v.example.com/clip.mp4" type="video/mp4" medium="video"/>
  <media:thumbnail url="https://i.example.com/small.jpg"/>
</item>
<item><title>enclosures</title>
  <enclosure url="https://a.example.com/episode.mp3" type="audio/mpeg" length="1"/>
  <enclosure url="/photo.JPG" type="" length="1"/>
</item>
<item><title>html</title><description><![CDATA[<img src="data:image/gif;base64,R0l" data-src="/lazy.png"><IMG SRC="https://t.example.com/p.gif" width="1" height="1"><img>]]></description></item>
<item><title>decorations</title><description><![CDATA[<img src="https://s.w.org/images/core/emoji/14.0.0/72x72/1f600.png"><img src="http://feeds.feedburner.com/~ff/x?d=1"><img src="https://i.example.com/logo.svg"><img src="https://secure.gravatar.com/avatar/1"><img src="https://i.example.com/real.png">]]></description></item>
<item><title>pixel only</title><description><![CDATA[<p>no image <img src="https://t.example.com/p.gif" width=1 height=1></p>]]></description></item>
</channel></rss>"#;
        let feed = parse(doc.as_bytes()).unwrap();
        let got: Vec<Vec<(String, ImageSource, Option<String>)>> = feed
            .items
            .iter()
            .map(|i| {
                i.images
                    .iter()
                    .map(|c| (c.url.to_string(), c.source, c.alt.clone()))
                    .collect()
            })
            .collect();
        let want = vec![
            vec![(
                "https://i.example.com/t.jpg".into(),
                ImageSource::MediaThumbnail,
                None,
            )],
            vec![
                (
                    "https://i.example.com/big".into(),
                    ImageSource::MediaContent,
                    Some("A big picture".into()),
                ),
                (
                    "https://i.example.com/small.jpg".into(),
                    ImageSource::MediaThumbnail,
                    Some("A big picture".into()),
                ),
            ],
            vec![(
                "https://example.org/photo.JPG".into(),
                ImageSource::Enclosure,
                None,
            )],
            vec![(
                "https://example.org/lazy.png".into(),
                ImageSource::Html,
                None,
            )],
            vec![(
                "https://i.example.com/real.png".into(),
                ImageSource::Html,
                None,
            )],
            vec![],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn widest_image_first() {
        let doc = r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss"><channel><item><title>t</title>
<media:content width="140" url="https://i.example.com/140.jpg"><media:credit>Agency</media:credit></media:content>
<media:content width="460" url="https://i.example.com/460.jpg"/>
</item></channel></rss>"#;
        let feed = parse(doc.as_bytes()).unwrap();
        let urls: Vec<&str> = feed.items[0]
            .images
            .iter()
            .map(|c| c.url.as_str())
            .collect();
        assert_eq!(
            urls,
            [
                "https://i.example.com/460.jpg",
                "https://i.example.com/140.jpg"
            ]
        );
    }

    #[test]
    fn json_feed() {
        let doc = r#"{"version": "1.1", "title": "J", "home_page_url": "https://j.example.com/",
            "items": [{"id": "1", "url": "https://j.example.com/1", "title": "One",
                       "content_html": "<p>x</p>", "image": "https://j.example.com/1.jpg",
                       "tags": ["a", "A", "b"],
                       "attachments": [{"url": "https://j.example.com/1.mp3", "mime_type": "audio/mpeg"}]}]}"#;
        let feed = parse(doc.as_bytes()).unwrap();
        let item = &feed.items[0];
        assert_eq!(item.guid.as_deref(), Some("1"));
        assert_eq!(
            item.link.as_ref().map(Url::as_str),
            Some("https://j.example.com/1")
        );
        assert_eq!(item.categories, ["a", "b"]);
        assert_eq!(item.images.len(), 1);
        assert_eq!(item.images[0].url.as_str(), "https://j.example.com/1.jpg");
    }

    #[test]
    fn panics_become_errors() {
        let quiet = guarded(|| -> u32 { panic!("boom") });
        let Err(Failure::Panicked(msg)) = quiet else {
            panic!("expected a caught panic");
        };
        assert!(msg.starts_with("boom (at "), "{msg}");
        assert_eq!(ParseError::Panicked(msg).class(), "parser_panic");
        // The flag is cleared, so panics elsewhere still reach the normal hook.
        assert!(!QUIET_PANICS.with(Cell::get));
    }

    #[test]
    fn survives_feed_rs_author_panic() {
        // feed-rs 3 slices "±webmaster@…" inside the '±' and panics.
        let doc = "<rss version=\"2.0\"><channel><managingEditor>±webmaster@example.com</managingEditor><item><title>One</title><author>±a@example.com</author></item></channel></rss>";
        let feed = parse(doc.as_bytes()).unwrap();
        assert_eq!(titles(&feed), ["One"]);
    }

    #[test]
    fn utf16be_without_declared_utf8_does_not_reach_feed_rs_decoder() {
        // feed-rs 3 panics on UTF-16BE it decodes itself; we hand it UTF-8.
        let body = utf16(RSS_UTF16, true);
        assert!(parse(&body).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: Vec<Vec<u8>> = vec![
            b"<".to_vec(),
            b"<rss".to_vec(),
            b"<rss version='2.0'><channel><item><media:content url='".to_vec(),
            b"<feed><entry><content type='bogus/type/x'>x</content></entry></feed>".to_vec(),
            b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><content src='x' type='%%%'/></entry></feed>".to_vec(),
            b"<rss version='2.0'><channel><item xml:base='::bad'><link>x</link></item></channel></rss>".to_vec(),
            b"{".to_vec(),
            vec![0u8; 64],
            vec![0xFF; 64],
            b"\xfe\xff\x00<\x00r".to_vec(),
        ];
        for body in inputs {
            let _ = parse(&body);
        }
    }

    /// Pieces of feeds, glued at random: every mix must give items or a clean error.
    const PIECES: &[&str] = &[
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>",
        "<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\">",
        "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
        "<channel>",
        "</channel>",
        "<item>",
        "</item>",
        "<entry>",
        "</entry>",
        "<title>",
        "</title>",
        "<link>",
        "/a?b=1&c=2",
        "</link>",
        "<guid>",
        "</guid>",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<media:content url=\"https://i.example/x.jpg\" medium=\"image\">",
        "</media:content>",
        "<media:thumbnail url='t.png'/>",
        "<media:description></media:description>",
        "<content type=\"html\">",
        "</content>",
        "<content src=\"x\" type=\"%\">",
        "<enclosure url=\"e.jpg\" type=\"image/jpeg\"/>",
        "&",
        "&amp;",
        "<",
        ">",
        "é",
        "text",
        " ",
        "</rss>",
        "</feed>",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn random_feed_pieces_never_panic(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
            let doc: String = picks.iter().map(|&i| PIECES[i]).collect();
            if let Ok(feed) = parse(doc.as_bytes()) {
                let ids = crate::feed::item::identify(&feed.items);
                proptest::prop_assert_eq!(ids.len(), feed.items.len());
            }
        }
    }

    #[test]
    fn reads_corpus_samples_when_available() {
        // Full coverage lives in tests/it/corpus.rs; this spot-checks a few known cases.
        let Some(dir) = std::env::var_os("FEED_CORPUS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let cases = [
            ("feedparser__encoding_utf-16be-bom.xml", true),
            ("samplefeeds__realworld_engadget_b95ff3.xml", true),
            ("samplefeeds__realworld_buzzfeed_-_latest_6d8026.xml", true),
        ];
        for (name, expect_ok) in cases {
            let Ok(body) = std::fs::read(dir.join(name)) else {
                continue;
            };
            let result = parse(&body);
            assert_eq!(result.is_ok(), expect_ok, "{name}: {:?}", result.err());
        }
    }
}
