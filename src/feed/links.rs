//! The link rules: which URL of an item is its link, and how a relative URL resolves.
//!
//! Owns the rules, in one place, so the parser, the tests and the README say the same:
//!
//! 1. An empty or whitespace `href` is no link.
//! 2. A relative URL resolves against the item's `xml:base` (feed-rs applies it while
//!    reading), else the document's `rel="self"` address, else the address the document
//!    was fetched from (after redirects).
//! 3. A URL that is not http(s) once resolved (`javascript:`, `mailto:`, `data:`, `ftp:`)
//!    is no link.
//! 4. A link equal to the feed's own address (where it was fetched from, its `rel="self"`
//!    address, or the `xml:base` of its root element, which is what an empty `href`
//!    turns into once the base is applied: WordPress's `…/wp-atom.php`) is no link. (An
//!    item's or a content's own `xml:base` is often the article's address: not this.)
//! 5. Of the item's links, an alternate (or rel-less) HTML one is the article: one that
//!    says `text/html` before one that says no type. Comment links, enclosures and
//!    self/edit links never are.
//! 6. An item without one takes its permalink guid: an RSS `guid` whose `isPermaLink` is
//!    not `false` (or an Atom `id`) that is an absolute http(s) URL.
//! 7. Else a `related` or `via` link.
//!
//! It does no I/O and knows nothing of XML; `parse` hands it what feed-rs and the scan
//! found.

use crate::feed::item::canonical_url;
use feed_rs::model::Link;
use url::Url;

/// An absolute http(s) URL from `href`, resolved against `base` when relative; `None`
/// for an empty `href` or another scheme (rules 1-3).
pub(crate) fn resolve(href: &str, base: &Url) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match Url::parse(href) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base.join(href).ok()?,
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Where one document's relative links resolve, and which addresses are its own.
#[derive(Debug, Clone)]
pub(crate) struct DocumentLinks {
    /// The `rel="self"` address, else the fetch address.
    base: Url,
    /// Canonical forms of the feed's own addresses (rule 4), sorted.
    own: Vec<String>,
}

impl DocumentLinks {
    /// `fetched_from` is the address after redirects; `self_href` the document's
    /// `rel="self"` link; `root_base` its root element's `xml:base`, as written.
    pub fn new(fetched_from: &Url, self_href: Option<&str>, root_base: Option<&str>) -> Self {
        let self_url = self_href.and_then(|href| resolve(href, fetched_from));
        let base = self_url.clone().unwrap_or_else(|| fetched_from.clone());
        let mut own = vec![canonical_url(fetched_from)];
        own.extend(self_url.as_ref().map(canonical_url));
        // What an empty href became once feed-rs applied the root's xml:base.
        own.extend(
            root_base
                .and_then(|b| resolve(b, &base))
                .map(|u| canonical_url(&u)),
        );
        own.sort_unstable();
        own.dedup();
        DocumentLinks { base, own }
    }

    /// The base for relative URLs that have no `xml:base` of their own (rule 2).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether `url` is the feed's own address (rule 4).
    pub fn is_own(&self, url: &Url) -> bool {
        self.own.binary_search(&canonical_url(url)).is_ok()
    }

    /// The item's link from its links and guid (rules 1-7).
    pub fn item_link(&self, links: &[Link], permalink_guid: Option<&str>) -> Option<Url> {
        fn media_type(l: &Link) -> &str {
            l.media_type.as_deref().map_or("", str::trim)
        }
        let is_html = |t: &str| t.starts_with("text/html") || t.starts_with("application/xhtml");
        let alternate =
            |l: &&Link| l.target.is_none() && matches!(l.rel.as_deref(), None | Some("alternate"));
        let typed = links
            .iter()
            .filter(alternate)
            .filter(|l| is_html(media_type(l)));
        let untyped = links
            .iter()
            .filter(alternate)
            .filter(|l| media_type(l).is_empty());
        let mut related = links
            .iter()
            .filter(|l| l.target.is_none() && matches!(l.rel.as_deref(), Some("related" | "via")));
        let usable = |l: &Link| resolve(&l.href, &self.base).filter(|u| !self.is_own(u));
        typed
            .chain(untyped)
            .find_map(usable)
            .or_else(|| {
                let url = Url::parse(permalink_guid?.trim()).ok()?;
                (matches!(url.scheme(), "http" | "https") && url.has_host() && !self.is_own(&url))
                    .then_some(url)
            })
            .or_else(|| related.find_map(usable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(rel: Option<&str>, href: &str) -> Link {
        Link {
            href: href.to_owned(),
            rel: rel.map(str::to_owned),
            media_type: None,
            href_lang: None,
            title: None,
            length: None,
            target: None,
        }
    }

    fn doc() -> DocumentLinks {
        let fetched = Url::parse("https://blog.example/feed/atom/").unwrap();
        DocumentLinks::new(
            &fetched,
            Some("https://blog.example/feeds/main.atom"),
            Some("https://blog.example/wp-atom.php"),
        )
    }

    fn pick(links: &[Link], guid: Option<&str>) -> Option<String> {
        doc().item_link(links, guid).map(|u| u.to_string())
    }

    #[test]
    fn no_link_from_empty_foreign_or_own_addresses() {
        let cases: Vec<(&str, Vec<Link>, Option<&str>)> = vec![
            ("empty", vec![link(Some("alternate"), "")], None),
            ("whitespace", vec![link(None, "  \n ")], None),
            ("javascript", vec![link(None, "javascript:void(0)")], None),
            ("mailto", vec![link(None, "mailto:desk@blog.example")], None),
            ("data", vec![link(None, "data:text/html,hi")], None),
            // An empty href that feed-rs resolved against the feed's xml:base.
            (
                "the xml:base itself",
                vec![link(Some("alternate"), "https://blog.example/wp-atom.php")],
                None,
            ),
            (
                "the fetch address",
                vec![link(None, "http://www.blog.example/feed/atom")],
                None,
            ),
            (
                "the self address",
                vec![link(None, "https://blog.example/feeds/main.atom")],
                None,
            ),
            (
                "a comment feed is not the article",
                vec![link(Some("replies"), "https://blog.example/1#comments")],
                None,
            ),
        ];
        for (name, links, want) in cases {
            assert_eq!(pick(&links, None).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn relative_links_resolve_against_self_then_fetch_address() {
        // The self address is the base, not the fetch address.
        assert_eq!(
            pick(&[link(None, "post/1")], None).as_deref(),
            Some("https://blog.example/feeds/post/1")
        );
        let plain = DocumentLinks::new(
            &Url::parse("https://news.example/rss/all.xml").unwrap(),
            None,
            None,
        );
        assert_eq!(
            plain
                .item_link(&[link(None, "/2024/story")], None)
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://news.example/2024/story")
        );
    }

    #[test]
    fn prefers_alternate_then_permalink_guid_then_related() {
        let links = vec![
            link(Some("edit"), "https://blog.example/edit/1"),
            link(Some("related"), "https://other.example/source"),
            link(Some("alternate"), ""),
            link(Some("alternate"), "https://blog.example/1"),
        ];
        assert_eq!(
            pick(&links, None).as_deref(),
            Some("https://blog.example/1")
        );
        // An empty alternate: the permalink guid, else the related link.
        assert_eq!(
            pick(&links[..3], Some(" https://blog.example/?p=7 ")).as_deref(),
            Some("https://blog.example/?p=7")
        );
        assert_eq!(
            pick(&links[..3], None).as_deref(),
            Some("https://other.example/source")
        );
        // An alternate that says it is HTML before one that says nothing.
        let mut html = link(Some("alternate"), "https://blog.example/1.html");
        html.media_type = Some("text/html".into());
        assert_eq!(
            pick(&[link(None, "https://blog.example/1"), html], None).as_deref(),
            Some("https://blog.example/1.html")
        );
        for guid in [
            "tag:blog.example,2024:7",
            "7",
            "/2024/7",
            "ftp://blog.example/7",
        ] {
            assert_eq!(pick(&[], Some(guid)), None, "{guid}");
        }
    }
}
