//! The dialects feed-rs does not read, rewritten into ones it does before the first
//! parse.
//!
//! Owns: deciding from the root element whether a document is a feed, an HTML page, a
//! feed inside a page, or something else; and the cheap rewrites that make feed-rs read
//! what feedparser reads: `<rss>` of any version and with a default namespace, RSS 0.90
//! (Netscape's RDF namespace), Atom 0.3 and the pre-1.0 Atom namespaces, Media RSS and
//! iTunes namespaces spelled the way publishers spell them, an Atom feed inside an XHTML
//! page, and XML declarations that name an encoding the text no longer has. It does not
//! repair broken XML (`repair`) and does not read items.

use crate::feed::encoding;
use crate::feed::parse_scan::{self, ATOM_NS, OLD_ATOM_NS, Tag};
use std::borrow::Cow;

/// What the root element says a document is.
#[derive(Debug)]
pub(crate) enum Document<'a> {
    /// A feed, rewritten where feed-rs needs it; `rss_root` when the root is `<rss>`.
    Feed { text: Cow<'a, str>, rss_root: bool },
    /// An HTML page without a feed inside.
    Html,
    /// XML whose root is not a feed and holds none; the root's name.
    OtherXml(String),
    /// No element at all.
    NoRoot,
}

/// Classifies `text` (UTF-8, starting with `<`) and prepares a feed for feed-rs.
pub(crate) fn prepare(text: &str) -> Document<'_> {
    let sniff = parse_scan::sniff_root(text);
    let Some(root) = sniff.root else {
        return if sniff.html_doctype {
            Document::Html
        } else {
            Document::NoRoot
        };
    };
    let local = root.local();
    // The root decides: a feed behind a stray XHTML DOCTYPE is still a feed.
    if matches!(local, "rss" | "feed" | "RDF" | "entry") {
        return Document::Feed {
            text: rewrite(text, &root),
            rss_root: local == "rss",
        };
    }
    // feedparser reads a feed wherever it sits: an Atom feed in an XHTML page, for one.
    if let Some(inner) = parse_scan::embedded_feed(text)
        && let Some(inner_root) = parse_scan::sniff_root(&inner).root
    {
        let rss_root = inner_root.local() == "rss";
        let text = Cow::Owned(rewrite(&inner, &inner_root).into_owned());
        return Document::Feed { text, rss_root };
    }
    let html_root = ["html", "head", "body"]
        .iter()
        .any(|h| local.eq_ignore_ascii_case(h));
    if html_root || sniff.html_doctype {
        Document::Html
    } else {
        Document::OtherXml(root.name.to_owned())
    }
}

const RSS1_NS: &str = "http://purl.org/rss/1.0/";
const MRSS_NS_SHORT: &str = "http://search.yahoo.com/mrss";
/// The iTunes namespace as feed-rs knows it; Apple's own documents capitalise it.
const ITUNES_NS: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";

/// The rewrites of a feed document; borrowed when none was needed.
fn rewrite<'a>(text: &'a str, root: &Tag<'_>) -> Cow<'a, str> {
    let mut doc = Cow::Borrowed(text);
    let replace = |doc: &mut Cow<'a, str>, from: &str, to: &str| {
        if let Some(patched) = parse_scan::replace_in_root(doc, from, to) {
            *doc = Cow::Owned(patched);
        }
    };
    match root.local() {
        "rss" => {
            if let Some(patched) = rss_root(text, root) {
                doc = Cow::Owned(patched);
            }
        }
        // An unknown Atom namespace hides every entry from feed-rs.
        "feed" | "entry" => {
            for old in OLD_ATOM_NS {
                if root.attrs.contains(old) {
                    replace(&mut doc, old, ATOM_NS);
                }
            }
        }
        // RSS 0.90 (`http://my.netscape.com/rdf/simple/0.9/`, and the variants Netscape's
        // own samples use) is RSS 1.0's elements under another default namespace, which
        // hides them all from feed-rs; feedparser reads them whatever the namespace.
        "RDF" => {
            if let Some(ns) = root.attr("xmlns")
                && ns.trim() != RSS1_NS
                && let Some(patched) = parse_scan::set_root_attr(&doc, root, "xmlns", Some(RSS1_NS))
            {
                doc = Cow::Owned(patched);
            }
        }
        _ => {}
    }
    // Media RSS declared without its trailing slash is another namespace to feed-rs.
    for quote in ['"', '\''] {
        let short = format!("{quote}{MRSS_NS_SHORT}{quote}");
        if root.attrs.contains(&short) {
            replace(&mut doc, &short, &format!("{quote}{MRSS_NS_SHORT}/{quote}"));
        }
    }
    if let Some(at) = find_ignore_case(root.attrs, ITUNES_NS)
        && let Some(written) = root.attrs.get(at..at + ITUNES_NS.len())
        && written != ITUNES_NS
    {
        replace(&mut doc, written, ITUNES_NS);
    }
    // The text is UTF-8 now; a declaration naming another encoding would make feed-rs
    // decode it a second time, and one past the first 64 bytes (two documents glued
    // together) makes it panic. So every declaration is made to say UTF-8.
    if let Some(patched) = declarations_to_utf8(&doc) {
        doc = Cow::Owned(patched);
    }
    doc
}

/// `<rss>` as feed-rs wants it; `None` when it already is.
fn rss_root(text: &str, root: &Tag<'_>) -> Option<String> {
    // feed-rs dispatches on exact root/version pairs: <rss> without a version, or with
    // 0.93, 0.94, 2.01…, would be "no root element". All are RSS 2.0 enough.
    let version = root.attr("version");
    let known = matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92" | ""));
    // RSS has no namespace; a default one (userland's rss2) hides every element from
    // feed-rs.
    let default_ns = root.attr("xmlns").is_some_and(|ns| !ns.trim().is_empty());
    let mut patched: Option<String> = None;
    if !known {
        patched = parse_scan::set_root_attr(text, root, "version", Some("2.0"));
    }
    if default_ns {
        let current = patched.as_deref().unwrap_or(text);
        if let Some(new_root) = parse_scan::sniff_root(current).root {
            patched = parse_scan::set_root_attr(current, &new_root, "xmlns", None).or(patched);
        }
    }
    // RSS under a prefix bound to userland's or Harvard's RSS namespace (`<r:rss
    // xmlns:r="http://backend.userland.com/rss2">`): feed-rs reads RSS elements in RSS
    // 1.0's namespace as RSS, so the prefix is bound to that instead.
    let prefix = root.prefix();
    if !prefix.is_empty() {
        let current = patched.as_deref().unwrap_or(text);
        let name = format!("xmlns:{prefix}");
        if let Some(new_root) = parse_scan::sniff_root(current).root
            && new_root
                .attr(&name)
                .is_some_and(|ns| RSS2_NAMESPACES.iter().any(|n| ns.contains(n)))
        {
            patched =
                parse_scan::set_root_attr(current, &new_root, &name, Some(RSS1_NS)).or(patched);
        }
    }
    patched
}

/// What the namespaces publishers gave RSS 2.0 contain.
const RSS2_NAMESPACES: &[&str] = &["backend.userland.com/rss", "blogs.law.harvard.edu/tech/rss"];

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Rewrites the `encoding` of every XML declaration in `doc` that does not already say
/// UTF-8; `None` when none needed it.
fn declarations_to_utf8(doc: &str) -> Option<String> {
    // memmem, not `str::find`: this runs over every document, and the two-way
    // searcher cost more than the rest of the dialect pass (perf, 2000-feed cold cycle).
    let open = memchr::memmem::Finder::new("<?xml");
    let close = memchr::memmem::Finder::new("?>");
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = doc.get(from..).and_then(|rest| open.find(rest.as_bytes())) {
        let at = from + found;
        let Some(len) = doc.get(at..).and_then(|rest| close.find(rest.as_bytes())) else {
            break;
        };
        from = at + len;
        let decl = doc.get(at..at + len + 2).unwrap_or_default();
        let Some(((start, end), label)) = encoding::declaration_encoding_label(decl.as_bytes())
        else {
            continue;
        };
        if encoding_rs::Encoding::for_label(label) == Some(encoding_rs::UTF_8) {
            continue;
        }
        let buf = out.get_or_insert_with(|| String::with_capacity(doc.len()));
        buf.push_str(doc.get(copied..at + start).unwrap_or_default());
        buf.push_str("UTF-8");
        copied = at + end;
    }
    let mut out = out?;
    out.push_str(doc.get(copied..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_text(doc: &str) -> String {
        match prepare(doc) {
            Document::Feed { text, .. } => text.into_owned(),
            other => panic!("{doc}: {other:?}"),
        }
    }

    #[test]
    fn every_declaration_says_utf8() {
        let cases = [
            ("<?xml version='1.0'?><a/>", None),
            ("<?xml version='1.0' encoding='utf-8'?><a/>", None),
            (
                "<?xml version='1.0' encoding='latin1'?><a/><?xml encoding=\"koi8-r\" ?>",
                Some("<?xml version='1.0' encoding='UTF-8'?><a/><?xml encoding=\"UTF-8\" ?>"),
            ),
            ("<?xml-stylesheet href='x'?><?xml encoding='x", None),
        ];
        for (doc, want) in cases {
            assert_eq!(declarations_to_utf8(doc).as_deref(), want, "{doc}");
        }
    }

    #[test]
    fn rewrites_namespaces_feed_rs_does_not_know() {
        let cases = [
            (
                "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"><item/></rdf:RDF>",
                "<rdf:RDF xmlns=\"http://purl.org/rss/1.0/\" xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><item/></rdf:RDF>",
            ),
            (
                "<feed xmlns=\"http://purl.org/echo/\"><entry/></feed>",
                "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry/></feed>",
            ),
            (
                "<rss version='2.0' xmlns:itunes='http://www.itunes.com/DTDs/PodCast-1.0.dtd' xmlns:media='http://search.yahoo.com/mrss'><channel/></rss>",
                "<rss version='2.0' xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd' xmlns:media='http://search.yahoo.com/mrss/'><channel/></rss>",
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(feed_text(doc), want);
        }
        // Nothing to do: the text is borrowed, not copied.
        assert_eq!(
            feed_text(
                "<r:rss version=\"2.0\" xmlns:r=\"http://backend.userland.com/rss2\"><r:channel/></r:rss>"
            ),
            "<r:rss xmlns:r=\"http://purl.org/rss/1.0/\" version=\"2.0\"><r:channel/></r:rss>"
        );
        let plain = "<rss version=\"2.0\"><channel/></rss>";
        assert!(matches!(
            prepare(plain),
            Document::Feed {
                text: Cow::Borrowed(_),
                rss_root: true
            }
        ));
    }

    #[test]
    fn classifies_roots() {
        assert!(matches!(prepare("<html><body/></html>"), Document::Html));
        assert!(matches!(
            prepare("<!DOCTYPE html><p>hi"),
            Document::Html | Document::OtherXml(_)
        ));
        assert!(matches!(prepare("<svg/>"), Document::OtherXml(n) if n == "svg"));
        assert!(matches!(prepare("<!-- c -->"), Document::NoRoot));
        let page = "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><feed xmlns=\"http://purl.org/atom/ns#\"><entry/></feed></body></html>";
        assert!(feed_text(page).contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    }
}
