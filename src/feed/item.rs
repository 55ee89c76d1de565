//! The normalised feed item and its identity keys.
//!
//! Owns: the `Item` model every later stage reads, the per-feed identity key, the
//! account-wide alias keys, and the canonical form of a URL. Does no I/O and knows
//! nothing of XML: `parse` builds the items.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;
use url::Url;

/// A feed document after parsing and normalisation.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// RSS `<ttl>`: how long the publisher says the feed may be cached.
    pub ttl: Option<Duration>,
    pub items: Vec<Item>,
}

/// One entry of a feed, normalised across RSS, Atom and JSON Feed.
///
/// Text fields are kept as the feed gave them (they may hold HTML and entities); turning
/// them into post text is the composer's job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// guid (RSS) or id (Atom, JSON Feed), trimmed; `None` when absent or empty.
    pub guid: Option<String>,
    /// The article link, absolute (resolved against xml:base or the feed URL).
    pub link: Option<Url>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub images: Vec<ImageCandidate>,
}

impl Item {
    /// The date that decides `max_age`: published, else updated.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        self.published.or(self.updated)
    }
}

/// An image the item offers, in the order the composer should prefer them.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCandidate {
    pub url: Url,
    /// media:description or similar, when the feed gives one.
    pub alt: Option<String>,
    pub source: ImageSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    Enclosure,
    MediaContent,
    MediaThumbnail,
    /// First `<img>` in the summary or content HTML.
    Html,
}

/// How an item is recognised: one per-feed key and account-wide alias keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIdentity {
    /// Unique within one feed document and stable across polls.
    pub key: String,
    /// Account-wide keys; an item is new only if none of `key`/`aliases` was seen.
    pub aliases: Vec<String>,
}

/// Guids longer than this are stored as a hash: some feeds put whole articles in them.
const MAX_GUID_KEY_LEN: usize = 512;

/// Identity of every item of one document, in order.
///
/// The per-feed key is, by preference, `guid:<guid>`; for an item whose guid is missing
/// or repeated inside the document, `link:<canonical link>`; then
/// `hash:<sha256 of title, content and summary>`; an identical item repeated gets
/// `#<n>` (its rank among the copies) so keys stay unique within the document.
///
/// Aliases are account-wide: `url:<canonical link>`, and the guid as `url:<canonical>`
/// when it is an http(s) URL (so an RSS guid URL and an Atom link match), else as
/// `guid:<guid>`. An alias shared by two items of the same document identifies neither
/// (every item linking to the home page, a guid repeated) and is left out, as is a
/// non-URL guid too short or too plain (`123`) to be unique beyond its own feed.
pub fn identify(items: &[Item]) -> Vec<ItemIdentity> {
    let guids: Vec<Option<&str>> = items.iter().map(|i| non_empty(i.guid.as_deref())).collect();
    let links: Vec<Option<String>> = items
        .iter()
        .map(|i| i.link.as_ref().map(canonical_url))
        .collect();

    let mut keys: Vec<Option<String>> = vec![None; items.len()];

    // 1. guid, when it is unique in the document.
    let guid_counts = count(guids.iter().map(|g| g.unwrap_or_default()));
    for (key, guid) in keys.iter_mut().zip(&guids) {
        if let Some(g) = guid
            && guid_counts.get(g) == Some(&1)
        {
            *key = Some(guid_key(g));
        }
    }

    // 2. canonical link, when unique among the items still without a key.
    let link_counts = count(
        keys.iter()
            .zip(&links)
            .filter(|(k, _)| k.is_none())
            .filter_map(|(_, l)| l.as_deref()),
    );
    for (key, link) in keys.iter_mut().zip(&links) {
        if key.is_none()
            && let Some(l) = link
            && link_counts.get(l.as_str()) == Some(&1)
        {
            *key = Some(format!("link:{l}"));
        }
    }

    // 3. content hash; copies are told apart by rank.
    let mut seen_hashes: HashMap<String, usize> = HashMap::new();
    for (key, item) in keys.iter_mut().zip(items) {
        if key.is_none() {
            let hash = content_hash(item);
            let n = seen_hashes.entry(hash.clone()).or_insert(0);
            *n += 1;
            *key = Some(if *n == 1 {
                format!("hash:{hash}")
            } else {
                format!("hash:{hash}#{n}")
            });
        }
    }

    let aliases: Vec<Vec<String>> = guids
        .iter()
        .zip(&links)
        .map(|(guid, link)| {
            let mut a: Vec<String> = Vec::with_capacity(2);
            if let Some(l) = link {
                a.push(format!("url:{l}"));
            }
            if let Some(g) = guid.and_then(guid_alias)
                && !a.contains(&g)
            {
                a.push(g);
            }
            a
        })
        .collect();
    let alias_counts = count(aliases.iter().flatten().map(String::as_str));

    keys.into_iter()
        .zip(aliases.iter())
        .map(|(key, aliases)| ItemIdentity {
            key: key.unwrap_or_default(),
            aliases: aliases
                .iter()
                .filter(|a| alias_counts.get(a.as_str()) == Some(&1))
                .cloned()
                .collect(),
        })
        .collect()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn count<'a>(values: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for v in values.filter(|v| !v.is_empty()) {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

fn guid_key(guid: &str) -> String {
    if guid.len() > MAX_GUID_KEY_LEN {
        format!("guid:sha256:{}", sha256_hex([guid]))
    } else {
        format!("guid:{guid}")
    }
}

/// The account-wide alias of a guid, or `None` when it is too weak to be one.
fn guid_alias(guid: &str) -> Option<String> {
    if let Ok(url) = Url::parse(guid)
        && matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
    {
        return Some(format!("url:{}", canonical_url(&url)));
    }
    let strong = guid.len() >= 12 && guid.bytes().any(|b| b.is_ascii_alphabetic());
    strong.then(|| guid_key(guid))
}

/// Hex sha256 of the item's title, content and summary, each field separated so that
/// moving text between fields changes the hash.
fn content_hash(item: &Item) -> String {
    sha256_hex([
        item.title.as_deref().unwrap_or_default(),
        "\u{1f}",
        item.content.as_deref().unwrap_or_default(),
        "\u{1f}",
        item.summary.as_deref().unwrap_or_default(),
    ])
}

fn sha256_hex<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Query parameters that track a click rather than name a page. Compared without case.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "igshid",
    "igsh",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "vero_conv",
    "wickedid",
    "ref_src",
    "ref_url",
    "ocid",
    "smid",
    "cmpid",
    "xtor",
    "ns_mchannel",
    "ns_source",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "at_medium",
    "at_campaign",
    "at_custom1",
    "at_custom2",
    "at_custom3",
    "at_custom4",
    "wt.mc_id",
    "rss_source",
    "__twitter_impression",
    "s_cid",
    "spm",
];

fn is_tracking_param(key: &str) -> bool {
    let utm = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("utm_"));
    utm || TRACKING_PARAMS.iter().any(|t| t.eq_ignore_ascii_case(key))
}

/// The canonical form of a URL used as an account-wide alias key.
///
/// For http(s): no scheme (so http and https match), the host lower-cased without a
/// leading `www.`, no port 80/443, no user info, percent-escapes normalised, no trailing
/// slash, no fragment, tracking parameters removed and the rest sorted; an empty query
/// leaves no `?`. `https://www.Example.com:443/a/?utm_source=x&b=2&a=1#top` becomes
/// `example.com/a?a=1&b=2`. Other schemes (`tag:`, `urn:`) keep everything but the
/// fragment.
pub fn canonical_url(url: &Url) -> String {
    let host = match url.host_str() {
        Some(h) if matches!(url.scheme(), "http" | "https") => h,
        _ => {
            let s = url.as_str();
            return s.split_once('#').map_or(s, |(before, _)| before).to_owned();
        }
    };
    let mut out = String::with_capacity(url.as_str().len());
    let host = host.trim_end_matches('.');
    let host = match host.get(..4) {
        Some(w) if w.eq_ignore_ascii_case("www.") && host.len() > 4 => {
            host.get(4..).unwrap_or(host)
        }
        _ => host,
    };
    out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    if let Some(port) = url.port().filter(|p| *p != 80 && *p != 443) {
        let _ = write!(out, ":{port}");
    }
    push_normalised(&mut out, url.path().trim_end_matches('/'));
    if let Some(query) = url.query() {
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !is_tracking_param(p.split_once('=').map_or(*p, |(k, _)| k)))
            .collect();
        params.sort_unstable();
        params.dedup();
        for (i, p) in params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            push_normalised(&mut out, p);
        }
    }
    out
}

/// Appends `s` with percent-escapes normalised (RFC 3986 §6.2.2): escapes of unreserved
/// characters decoded, the others upper-cased, so `%7e` and `~` compare equal.
fn push_normalised(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) == Some(&b'%')
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(hv), Some(lv)) = (hex_val(h), hex_val(l))
        {
            let c = hv * 16 + lv;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(c));
            } else {
                out.push('%');
                out.push(char::from(h.to_ascii_uppercase()));
                out.push(char::from(l.to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // Copy up to the next escape in one go (Url output is ASCII, so this is a boundary).
        let next = bytes
            .get(i + 1..)
            .and_then(|b| b.iter().position(|&c| c == b'%'))
            .map_or(bytes.len(), |p| p + i + 1);
        out.push_str(s.get(i..next).unwrap_or_default());
        i = next;
    }
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn canonicalises_urls() {
        let cases = [
            ("https://www.Example.com/a/b/", "example.com/a/b"),
            ("http://example.com/a/b", "example.com/a/b"),
            ("https://example.com/", "example.com"),
            ("https://example.com", "example.com"),
            ("https://example.com:443/x", "example.com/x"),
            ("http://example.com:80/x", "example.com/x"),
            ("http://example.com:8080/x", "example.com:8080/x"),
            ("https://example.com/x#comments", "example.com/x"),
            ("https://example.com/x?", "example.com/x"),
            (
                "https://example.com/x?utm_source=rss&utm_medium=feed",
                "example.com/x",
            ),
            (
                "https://example.com/x?UTM_Campaign=a&id=3",
                "example.com/x?id=3",
            ),
            (
                "https://example.com/x?b=2&a=1&fbclid=zz",
                "example.com/x?a=1&b=2",
            ),
            (
                "https://example.com/x?gclid=1&dclid=2&msclkid=3&mc_cid=4&mc_eid=5&igshid=6&_ga=7&ref_src=8",
                "example.com/x",
            ),
            (
                "https://www.bbc.co.uk/news/world-60993659?at_medium=RSS&at_campaign=KARANGA",
                "bbc.co.uk/news/world-60993659",
            ),
            (
                "https://example.com/%7euser/caf%c3%a9",
                "example.com/~user/caf%C3%A9",
            ),
            ("https://user:pw@example.com/x", "example.com/x"),
            ("https://www./x", "www/x"),
            ("https://example.com./x", "example.com/x"),
            ("https://example.com/a?x=1&&x=1", "example.com/a?x=1"),
            ("tag:example.com,2024:1#frag", "tag:example.com,2024:1"),
            (
                "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
                "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_url(&url(input)), want, "{input}");
        }
    }

    #[test]
    fn variants_of_one_story_share_an_alias() {
        let variants = [
            "http://example.com/story/1",
            "https://www.example.com/story/1/",
            "https://example.com/story/1?utm_source=twitter#top",
        ];
        let canon: Vec<String> = variants.iter().map(|u| canonical_url(&url(u))).collect();
        assert!(canon.windows(2).all(|w| w[0] == w[1]), "{canon:?}");

        // The RSS version keys the story by a guid URL, the Atom one by a tag id and link.
        let rss = Item {
            guid: Some("http://example.com/story/1".into()),
            link: Some(url("http://example.com/story/1?utm_medium=rss")),
            ..Item::default()
        };
        let atom = Item {
            guid: Some("tag:example.com,2024:story-1".into()),
            link: Some(url("https://www.example.com/story/1")),
            ..Item::default()
        };
        let a = &identify(&[rss])[0];
        let b = &identify(&[atom])[0];
        assert!(
            a.aliases.contains(&"url:example.com/story/1".to_owned()),
            "{a:?}"
        );
        assert!(
            b.aliases.contains(&"url:example.com/story/1".to_owned()),
            "{b:?}"
        );
        assert_eq!(a.aliases.len(), 1, "guid URL and link collapse: {a:?}");
    }

    fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_owned),
            link: link.map(url),
            title: Some(title.to_owned()),
            ..Item::default()
        }
    }

    #[test]
    fn identity_fallbacks() {
        let h = |title: &str| content_hash(&item(None, None, title));
        let cases: Vec<(&str, Vec<Item>, Vec<String>)> = vec![
            (
                "plain guids",
                vec![item(Some(" a "), None, "A"), item(Some("b"), None, "B")],
                vec!["guid:a".into(), "guid:b".into()],
            ),
            (
                "repeated guid falls back to link",
                vec![
                    item(Some("x"), Some("https://e.com/1"), "A"),
                    item(Some("x"), Some("https://e.com/2"), "B"),
                    item(Some("y"), Some("https://e.com/3"), "C"),
                ],
                vec![
                    "link:e.com/1".into(),
                    "link:e.com/2".into(),
                    "guid:y".into(),
                ],
            ),
            (
                "missing guid uses link",
                vec![item(None, Some("https://www.e.com/1/?utm_source=x"), "A")],
                vec!["link:e.com/1".into()],
            ),
            (
                "empty guid counts as missing",
                vec![item(Some("  "), Some("https://e.com/1"), "A")],
                vec!["link:e.com/1".into()],
            ),
            (
                "no guid, no link: content hash",
                vec![item(None, None, "A"), item(None, None, "B")],
                vec![format!("hash:{}", h("A")), format!("hash:{}", h("B"))],
            ),
            (
                "repeated guid and link: content hash",
                vec![
                    item(Some("x"), Some("https://e.com/"), "A"),
                    item(Some("x"), Some("https://e.com/"), "B"),
                ],
                vec![format!("hash:{}", h("A")), format!("hash:{}", h("B"))],
            ),
            (
                "identical items: position",
                vec![
                    item(None, None, "A"),
                    item(None, None, "A"),
                    item(None, None, "A"),
                ],
                vec![
                    format!("hash:{}", h("A")),
                    format!("hash:{}#2", h("A")),
                    format!("hash:{}#3", h("A")),
                ],
            ),
        ];
        for (name, items, want) in cases {
            let got: Vec<String> = identify(&items).into_iter().map(|i| i.key).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn hash_is_stable_hex_sha256() {
        // Stored keys must not change between releases: pin one value.
        let k = content_hash(&item(None, None, "A"));
        assert_eq!(k.len(), 64);
        assert_eq!(k, sha256_hex(["A\u{1f}\u{1f}"]));
        assert_ne!(
            content_hash(&Item {
                title: Some("ab".into()),
                ..Item::default()
            }),
            content_hash(&Item {
                title: Some("a".into()),
                content: Some("b".into()),
                ..Item::default()
            })
        );
    }

    #[test]
    fn aliases() {
        let items = vec![
            item(
                Some("https://e.com/p?id=1"),
                Some("https://e.com/story-1"),
                "A",
            ),
            item(Some("tag:e.com,2024:2"), Some("https://e.com/"), "B"),
            item(Some("17"), Some("https://e.com/"), "C"),
            item(Some("dup-guid-value"), None, "D"),
            item(Some("dup-guid-value"), None, "E"),
        ];
        let ids = identify(&items);
        assert_eq!(ids[0].aliases, ["url:e.com/story-1", "url:e.com/p?id=1"]);
        // The home-page link is shared, so it names neither item.
        assert_eq!(ids[1].aliases, ["guid:tag:e.com,2024:2"]);
        // A bare number is no account-wide identity.
        assert!(ids[2].aliases.is_empty());
        assert!(ids[3].aliases.is_empty() && ids[4].aliases.is_empty());
        let long = "g".repeat(600);
        let id = &identify(&[item(Some(&long), None, "L")])[0];
        assert!(id.key.starts_with("guid:sha256:") && id.key.len() < 100);
    }

    #[test]
    fn keys_are_unique_and_prefixed() {
        let items = vec![
            item(Some("https://e.com/1"), Some("https://e.com/1"), "A"),
            item(None, Some("https://e.com/1"), "A"),
            item(None, None, "A"),
            item(None, None, "A"),
            item(Some("x"), None, "A"),
        ];
        let ids = identify(&items);
        let mut keys: Vec<&str> = ids.iter().map(|i| i.key.as_str()).collect();
        assert!(
            keys.iter().all(|k| k.starts_with("guid:")
                || k.starts_with("link:")
                || k.starts_with("hash:"))
        );
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), items.len());
    }
}
