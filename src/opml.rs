//! `import-opml FILE --account NAME`: the feeds of an OPML export as `[[feeds]]` blocks.
//!
//! Reads OPML as the common feed readers write it (Feedly, Inoreader, NetNewsWire, Miniflux,
//! Thunderbird, ...): outlines nested in folders to any depth, the feed URL in `xmlUrl` (any
//! letter case), the name in `title` or `text`, attributes with HTML entities or stray `&`
//! that strict XML would reject. It prints one `[[feeds]]` block per feed for the operator to
//! paste into the config, and a `#` comment for every feed it leaves out and why (already
//! configured for the account, listed twice, not an http(s) URL), so nothing is dropped
//! silently.
//!
//! It never writes the config file and never fetches a feed: what it prints is a proposal.

use crate::config::Settings;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;
use url::Url;

/// Larger than any real subscription list (10 000 feeds are about 3 MB).
const MAX_FILE: u64 = 32 * 1024 * 1024;
/// Generated names stay readable in `status` tables and metric labels.
const MAX_NAME_CHARS: usize = 40;

/// Why the import failed.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} is larger than {MAX_FILE} bytes; that is not a subscription list")]
    TooLarge { path: String },
    #[error("malformed OPML at line {line}, column {column}: {message}")]
    Malformed {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not an OPML file: the root element is <{root}>, not <opml>{hint}")]
    NotOpml { root: String, hint: &'static str },
    #[error("not an OPML file: it starts with {0:?}, not with an <opml> element")]
    NotXml(String),
    #[error("malformed OPML: {0}")]
    Structure(String),
    #[error("no feeds found: no <outline> has an xmlUrl attribute")]
    NoFeeds,
    #[error(
        "account {0:?} is not in the config; add an [[accounts]] table with name = {0:?} first, or pass --account with a configured one"
    )]
    UnknownAccount(String),
    #[error("cannot write the output: {0}")]
    Write(std::io::Error),
}

// By hand rather than `#[from]`, which would also make the error a `source` and print it
// twice in a `{:#}` chain.
impl From<std::io::Error> for OpmlError {
    fn from(e: std::io::Error) -> Self {
        OpmlError::Write(e)
    }
}

/// One feed of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `xmlUrl`, as written (entities decoded, whitespace trimmed).
    pub xml_url: String,
    /// `title`, else `text`; `None` when both are missing or empty.
    pub title: Option<String>,
    /// The folders it sits in, outermost first.
    pub folders: Vec<String>,
}

/// What `render` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: usize,
    pub already_configured: usize,
    pub duplicates: usize,
    pub invalid: usize,
}

/// Reads `path` and prints the blocks for `account` on `out`.
pub fn import(
    settings: &Settings,
    path: &Path,
    account: &str,
    out: &mut impl Write,
) -> Result<ImportSummary, OpmlError> {
    let shown = path.display().to_string();
    let read_err = |error| OpmlError::Read {
        path: shown.clone(),
        error,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_FILE {
        return Err(OpmlError::TooLarge { path: shown });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    let feeds = parse(&bytes)?;
    render(&feeds, settings, account, &shown, out)
}

/// Parses an OPML document into its feeds, in document order.
pub fn parse(bytes: &[u8]) -> Result<Vec<OpmlFeed>, OpmlError> {
    let text = decode(bytes);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().trim_text(true);
    let mut feeds = Vec::new();
    // One entry per open element: `Some(name)` for a folder outline, `None` otherwise.
    let mut stack: Vec<(String, Option<String>)> = Vec::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(&text, reader.error_position(), &e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                check_root(&mut seen_root, &name)?;
                let folder = if is_outline(&e) {
                    outline(&e, &stack, &mut feeds)
                } else {
                    None
                };
                stack.push((name, folder));
            }
            Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                check_root(&mut seen_root, &name)?;
                if is_outline(&e) {
                    outline(&e, &stack, &mut feeds);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) if !seen_root => {
                let start: String = t.xml10_content().trim().chars().take(40).collect();
                if !start.is_empty() {
                    return Err(OpmlError::NotXml(start));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(OpmlError::Structure(
            "the file is empty or has no elements".into(),
        ));
    }
    if let Some((open, _)) = stack.last() {
        return Err(OpmlError::Structure(format!(
            "the file ends before <{open}> is closed (truncated download?)"
        )));
    }
    if feeds.is_empty() {
        return Err(OpmlError::NoFeeds);
    }
    Ok(feeds)
}

fn check_root(seen_root: &mut bool, name: &str) -> Result<(), OpmlError> {
    if !*seen_root {
        *seen_root = true;
        if !name.eq_ignore_ascii_case("opml") {
            let hint = if matches!(name, "rss" | "feed" | "rdf:RDF" | "RDF") {
                "; this is a feed itself: add it with [[feeds]] url = \"...\""
            } else {
                ""
            };
            return Err(OpmlError::NotOpml {
                root: name.to_string(),
                hint,
            });
        }
    }
    Ok(())
}

fn is_outline(e: &BytesStart<'_>) -> bool {
    e.local_name().as_ref().eq_ignore_ascii_case("outline")
}

/// Records a feed outline; returns the folder name of a folder outline.
fn outline(
    e: &BytesStart<'_>,
    stack: &[(String, Option<String>)],
    feeds: &mut Vec<OpmlFeed>,
) -> Option<String> {
    let mut xml_url = None;
    let mut title = None;
    let mut text = None;
    // Checks off: real exports repeat attributes or leave `&` unescaped; we take what we can.
    for attr in e.attributes().with_checks(false).flatten() {
        let key = attr.key.local_name().as_ref().to_ascii_lowercase();
        let value = htmlize::unescape_attribute(attr.value.as_ref())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        match key.as_str() {
            "xmlurl" => xml_url = Some(value),
            "title" => title = Some(value),
            "text" => text = Some(value),
            _ => {}
        }
    }
    let label = title
        .filter(|t| !t.is_empty())
        .or(text.filter(|t| !t.is_empty()));
    match xml_url.filter(|u| !u.is_empty()) {
        Some(xml_url) => {
            feeds.push(OpmlFeed {
                xml_url,
                title: label,
                folders: stack.iter().filter_map(|(_, f)| f.clone()).collect(),
            });
            None
        }
        None => Some(label.unwrap_or_default()).filter(|l| !l.is_empty()),
    }
}

/// UTF-8 (with or without BOM), UTF-16 with BOM, or the encoding the XML declaration names;
/// bytes that are not valid in it are replaced rather than rejected.
fn decode(bytes: &[u8]) -> String {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return text.into_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let declared = head
        .split_once("encoding=")
        .and_then(|(_, rest)| {
            let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
            rest.get(1..)?.split(quote).next()
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()));
    let encoding = declared.unwrap_or(encoding_rs::UTF_8);
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    // The declaration must not make quick-xml think it has to transcode again.
    text.into_owned()
}

fn malformed(text: &str, offset: u64, message: &str) -> OpmlError {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let mut cut = offset;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    OpmlError::Malformed {
        line,
        column,
        message: message.to_string(),
    }
}

/// A feed URL as the config would hold it, or why it cannot be one. `feed:` URLs (an old
/// convention for "subscribe to this") are turned into the http(s) URL they stand for.
fn feed_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    let converted = if lower.starts_with("feed:http://") || lower.starts_with("feed:https://") {
        raw[5..].to_string()
    } else if lower.starts_with("feed://") {
        format!("http://{}", &raw[7..])
    } else {
        raw.to_string()
    };
    let mut url =
        Url::parse(&converted).map_err(|e| format!("xmlUrl {raw:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("xmlUrl {raw:?} is not an http(s) URL"));
    }
    // The fragment never reaches the server; two URLs that differ only there are one feed.
    url.set_fragment(None);
    Ok(url)
}

/// A slug-like name: lowercase letters and digits (accents removed), words joined by `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut pending_dash = false;
    for c in text.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) || matches!(c, '\'' | '’') {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.extend(c.to_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if out.chars().count() > MAX_NAME_CHARS {
        let mut cut: String = out.chars().take(MAX_NAME_CHARS + 1).collect();
        // Cut at the last word boundary rather than inside a word, unless that loses most
        // of the name.
        match cut.rfind('-') {
            Some(i) if cut[..i].chars().count() >= MAX_NAME_CHARS / 2 => cut.truncate(i),
            _ => cut = cut.chars().take(MAX_NAME_CHARS).collect(),
        }
        out = cut.trim_end_matches('-').to_string();
    }
    out
}

fn base_name(feed: &OpmlFeed, url: &Url) -> String {
    let from_title = feed.title.as_deref().map(slug).unwrap_or_default();
    if !from_title.is_empty() {
        return from_title;
    }
    let host = url.host_str().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let s = slug(&format!("{host} {}", url.path()));
    if s.is_empty() { "feed".to_string() } else { s }
}

/// The names given so far, and for each base name the next number to try, so that the
/// thousandth feed called "News" costs one lookup, not a thousand (`news-2` … `news-999`
/// were tried once, when they were given).
#[derive(Debug, Default)]
struct Names {
    taken: HashSet<String>,
    next_suffix: HashMap<String, usize>,
}

impl Names {
    /// Names already used by the config.
    fn new(configured: impl IntoIterator<Item = String>) -> Self {
        Names {
            taken: configured.into_iter().collect(),
            next_suffix: HashMap::new(),
        }
    }

    /// `base`, or `base-N` with the smallest N ≥ 2 not yet taken, and mark it taken.
    ///
    /// Linear over a whole import: each base's counter only moves forward, and it moves
    /// past a taken `base-N` only when that name was given to a feed whose own base was
    /// `base-N` (or configured), which happens once per name.
    fn unique(&mut self, base: String) -> String {
        if self.taken.insert(base.clone()) {
            return base;
        }
        let next = self.next_suffix.entry(base.clone()).or_insert(2);
        loop {
            let name = format!("{base}-{next}");
            *next += 1;
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A comment line that cannot break out of the comment (titles may contain newlines).
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn shown_title(feed: &OpmlFeed) -> String {
    comment_text(feed.title.as_deref().unwrap_or("(untitled)"))
}

/// Prints the `[[feeds]]` blocks for `feeds` (from `source`) and a comment for each one left out.
pub fn render(
    feeds: &[OpmlFeed],
    settings: &Settings,
    account: &str,
    source: &str,
    out: &mut impl Write,
) -> Result<ImportSummary, OpmlError> {
    // Without a config file there is no account to check against: the output says
    // which one to add instead.
    if settings.account(account).is_none() && !settings.defaults_only {
        return Err(OpmlError::UnknownAccount(account.to_string()));
    }
    let mut names = Names::new(settings.feeds.iter().map(|f| f.name.clone()));
    let configured: HashMap<String, (usize, &str)> = settings
        .feeds
        .iter()
        .enumerate()
        .filter(|(_, f)| f.account == account)
        .map(|(i, f)| {
            let mut url = f.url.clone();
            url.set_fragment(None);
            (url.to_string(), (i, f.name.as_str()))
        })
        .collect();
    let mut emitted: HashMap<String, String> = HashMap::new();
    let mut summary = ImportSummary::default();
    let mut last_folder: Option<String> = None;

    writeln!(
        out,
        "# {} feed(s) from {} for account {}.",
        feeds.len(),
        comment_text(source),
        toml_string(account)
    )?;
    writeln!(
        out,
        "# Add the blocks below to the config, then run `feed2threads check`.\n"
    )?;
    if settings.defaults_only {
        writeln!(
            out,
            "# There is no config file yet: it needs the account too, e.g.\n\
             # [[accounts]]\n\
             # name = {}\n\
             # access_token_file = \"/etc/feed2threads/token\"\n",
            toml_string(account)
        )?;
    }
    for feed in feeds {
        let title = shown_title(feed);
        let url = match feed_url(&feed.xml_url) {
            Ok(url) => url,
            Err(why) => {
                summary.invalid += 1;
                writeln!(out, "# skipped {title:?}: {}\n", comment_text(&why))?;
                continue;
            }
        };
        if let Some((index, name)) = configured.get(url.as_str()) {
            summary.already_configured += 1;
            writeln!(
                out,
                "# skipped {title:?}: {} is already configured as feeds[{index}] ({})\n",
                url,
                comment_text(name)
            )?;
            continue;
        }
        if let Some(first) = emitted.get(url.as_str()) {
            summary.duplicates += 1;
            writeln!(
                out,
                "# skipped {title:?}: {} is listed twice in the OPML (added above as {})\n",
                url,
                comment_text(first)
            )?;
            continue;
        }
        // A folder comment above the first block of each folder; "(top level)" when a
        // folder's blocks are followed by ones outside any folder.
        let folder = (!feed.folders.is_empty()).then(|| comment_text(&feed.folders.join(" / ")));
        if folder != last_folder && (folder.is_some() || last_folder.is_some()) {
            writeln!(out, "# {}", folder.as_deref().unwrap_or("(top level)"))?;
        }
        last_folder = folder;
        let name = names.unique(base_name(feed, &url));
        writeln!(out, "[[feeds]]")?;
        writeln!(out, "name = {}", toml_string(&name))?;
        writeln!(out, "url = {}", toml_string(url.as_str()))?;
        writeln!(out, "account = {}\n", toml_string(account))?;
        emitted.insert(url.to_string(), name);
        summary.added += 1;
    }
    writeln!(
        out,
        "# {} to add, {} already configured, {} listed twice, {} unusable.",
        summary.added, summary.already_configured, summary.duplicates, summary.invalid
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("BBC News - World"), "bbc-news-world");
        assert_eq!(
            slug("Le Monde.fr - Actualités à la une"),
            "le-monde-fr-actualites-a-la-une"
        );
        assert_eq!(slug("  Reuters' Top News!! "), "reuters-top-news");
        assert_eq!(slug("日本経済新聞"), "日本経済新聞");
        assert_eq!(slug("---"), "");
        assert!(slug(&"word ".repeat(30)).chars().count() <= MAX_NAME_CHARS);
        assert!(!slug(&"word ".repeat(30)).ends_with('-'));
    }

    #[test]
    fn feed_urls() {
        assert_eq!(
            feed_url("feed://example.org/rss").unwrap().as_str(),
            "http://example.org/rss"
        );
        assert_eq!(
            feed_url("feed:https://example.org/rss").unwrap().as_str(),
            "https://example.org/rss"
        );
        assert_eq!(
            feed_url("https://Example.org/rss#x").unwrap().as_str(),
            "https://example.org/rss"
        );
        assert!(feed_url("/relative/rss").is_err());
        assert!(feed_url("mailto:x@example.org").is_err());
    }

    #[test]
    fn names_count_up_per_base_and_skip_taken_ones() {
        let mut names = Names::new(["news-3".to_string()]);
        let given: Vec<String> = ["news", "news", "news", "news-2", "news", "sport"]
            .into_iter()
            .map(|b| names.unique(b.to_string()))
            .collect();
        assert_eq!(
            given,
            ["news", "news-2", "news-4", "news-2-2", "news-5", "sport"]
        );
    }

    #[test]
    fn positions_are_lines_and_columns() {
        let e = parse(b"<opml>\n<body>\n  <outline text=\"a\">\n</body></opml>").unwrap_err();
        let OpmlError::Malformed { line, .. } = e else {
            panic!("{e}");
        };
        assert_eq!(line, 4);
    }
}
