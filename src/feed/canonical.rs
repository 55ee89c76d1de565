//! The canonical form of a URL: what two addresses of one story have in common.
//!
//! Owns `canonical_url`, used for the link and guid alias keys and to compare a link with
//! the feed's own address. Pure functions of a URL; no I/O.

use std::fmt::Write as _;
use url::Url;

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
/// slash, tracking parameters removed and the rest sorted; an empty query leaves no `?`.
/// A fragment is kept when it can tell two stories on one page apart (`#a060647`, a
/// live-blog entry's anchor) and dropped when it never does (see `story_fragment`).
/// `https://www.Example.com:443/a/?utm_source=x&b=2&a=1#comments` becomes
/// `example.com/a?a=1&b=2`. Other schemes (`tag:`, `urn:`) keep everything but a fragment
/// that names no story.
pub fn canonical_url(url: &Url) -> String {
    let mut out = canonical_without_fragment(url);
    if let Some(fragment) = url.fragment().and_then(story_fragment) {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn canonical_without_fragment(url: &Url) -> String {
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

/// Fragments that point into a story's page but never tell one story from another:
/// comment sections and forms, "read more" jumps, page landmarks. Compared without case.
const NON_STORY_FRAGMENTS: &[&str] = &[
    "comments",
    "respond",
    "reply",
    "disqus_thread",
    "comment-form",
    "commentform",
    "comments-section",
    "more",
    "read-more",
    "readmore",
    "continue",
    "jump",
    "top",
    "main",
    "content",
    "main-content",
    "maincontent",
    "article",
    "page",
];

/// Prefixes that, followed by digits only, name a comment or a "read more" jump
/// (`#more-1234` is WordPress's, `#comment-56` a comment on the story's page).
const NON_STORY_NUMBERED: &[&str] = &["more-", "comment-", "comments-", "respond-"];

/// The fragment as part of the canonical form when it can tell two stories on one page
/// apart; `None` when it never does: empty, a comment or landmark anchor, or parameters
/// for a script (`#ref=rss`, `#xtor=RSS-1`, `#utm_source=x`: anything of the form
/// `key=value`). A hash-bang route (`#!/story/12`) names a page and is kept.
fn story_fragment(fragment: &str) -> Option<&str> {
    let f = fragment.trim();
    if f.is_empty() {
        return None;
    }
    if f.starts_with('!') {
        return Some(f);
    }
    if f.contains('=') {
        return None;
    }
    let named = NON_STORY_FRAGMENTS
        .iter()
        .any(|n| n.eq_ignore_ascii_case(f));
    let numbered = NON_STORY_NUMBERED.iter().any(|p| {
        f.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
            && f.len() > p.len()
            && f.bytes().skip(p.len()).all(|b| b.is_ascii_digit())
    });
    (!named && !numbered).then_some(f)
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
            ("tag:example.com,2024:1#frag", "tag:example.com,2024:1#frag"),
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
    fn keeps_fragments_that_tell_stories_apart() {
        let cases = [
            // Many stories on one page, told apart by their anchors.
            (
                "https://example.com/2017/06/21.html#a060647",
                "example.com/2017/06/21.html#a060647",
            ),
            (
                "https://example.com/live/election#post-17",
                "example.com/live/election#post-17",
            ),
            (
                "https://example.com/app#!/story/12",
                "example.com/app#!/story/12",
            ),
            // Anchors that never do.
            ("https://example.com/x#comments", "example.com/x"),
            ("https://example.com/x#Respond", "example.com/x"),
            ("https://example.com/x#more-1234", "example.com/x"),
            ("https://example.com/x#comment-56", "example.com/x"),
            ("https://example.com/x#disqus_thread", "example.com/x"),
            ("https://example.com/x#ref=rss", "example.com/x"),
            ("https://example.com/x#xtor=RSS-3", "example.com/x"),
            (
                "https://example.com/x#utm_source=feed&utm_medium=rss",
                "example.com/x",
            ),
            ("https://example.com/x#", "example.com/x"),
            ("https://example.com/x#more-", "example.com/x#more-"),
            ("tag:example.com,2024:1#comments", "tag:example.com,2024:1"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_url(&url(input)), want, "{input}");
        }
    }
}
