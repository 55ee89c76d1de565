//! Links in post text: finding and counting them the way the API limit is enforced,
//! removing them from text that must not spend the link budget, and adding per-feed
//! query parameters to the article link.
//!
//! What counts as a link (threads-api.md §3.2: "each unique URL in text counts once;
//! link_attachment adds one more only if it differs from every URL in text"): we count
//! every `http://` / `https://` URL (any case) and every `www.`-prefixed host. Bare
//! domains (`example.com/path`) are *not* counted: matching them means guessing at TLDs
//! and would flag "Node.js" or "3.5"; the API may still linkify some of them, which is
//! why composition keeps posts well under the limit in practice (one link card). URLs
//! are compared as exact strings (after trimming trailing sentence punctuation), so
//! two spellings of one address count twice: over-counting is the safe direction.
//!
//! Must not: decide what goes into a post (that is `fit`).

use std::collections::BTreeMap;
use std::ops::Range;
use url::Url;

/// The most distinct links a post may carry, `link_attachment` included.
pub const MAX_LINKS: usize = 5;

/// Byte ranges of the URLs in `text`, in order.
pub fn find_links(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Only `h`/`H` (http) and `w`/`W` (www.) can start a link.
        if !matches!(bytes[i], b'h' | b'H' | b'w' | b'W') {
            i += 1;
            continue;
        }
        let scheme = if starts_with_ci(bytes, i, b"https://") {
            8
        } else if starts_with_ci(bytes, i, b"http://") {
            7
        } else {
            0
        };
        let host_follows = |at: usize| text[at..].chars().next().is_some_and(char::is_alphanumeric);
        let is_start = (scheme > 0 && host_follows(i + scheme))
            || (starts_with_ci(bytes, i, b"www.") && host_follows(i + 4) && !prev_is_word(text, i));
        let start = is_start.then_some(i);
        let Some(start) = start else {
            i += utf8_len(bytes[i]);
            continue;
        };
        let mut end = start;
        for (off, c) in text[start..].char_indices() {
            if c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"') {
                break;
            }
            end = start + off + c.len_utf8();
        }
        let end = trim_url_end(&text[start..end]) + start;
        if end > start + 4 {
            // A span that starts or ends inside a grapheme cluster (a prepended mark
            // like U+0D4E before `<`) would split it when the URL is removed.
            spans.push(snap_to_graphemes(text, start, end));
        }
        i = end.max(start + 1);
        while i < bytes.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    spans
}

/// Distinct links a post with this text and attachment carries, counted as the API does
/// (see the module docs for what is counted as a link).
pub fn count_links(text: &str, link_attachment: Option<&str>) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for span in find_links(text) {
        let url = &text[span];
        if !seen.contains(&url) {
            seen.push(url);
        }
    }
    let extra = link_attachment.is_some_and(|a| !a.is_empty() && !seen.contains(&a));
    seen.len() + usize::from(extra)
}

/// Remove every URL from `text`, tidying the space and empty brackets it leaves.
pub fn remove_links(text: &str) -> String {
    let spans = find_links(text);
    if spans.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&text[copied..span.start]);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    tidy(&out)
}

/// Keep at most `max` distinct links (counting `link_attachment` and the links in
/// `reserved`, which the caller will add), removing later ones.
pub fn limit_links(
    text: &str,
    link_attachment: Option<&str>,
    reserved: &[&str],
    max: usize,
) -> String {
    let mut kept: Vec<&str> = reserved.to_vec();
    if let Some(a) = link_attachment
        && !kept.contains(&a)
    {
        kept.push(a);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut removed = false;
    for span in find_links(text) {
        let url = &text[span.clone()];
        if kept.contains(&url) {
            continue;
        }
        if kept.len() < max {
            kept.push(url);
            continue;
        }
        out.push_str(&text[copied..span.start]);
        copied = span.end;
        removed = true;
    }
    out.push_str(&text[copied..]);
    if removed { tidy(&out) } else { out }
}

/// Add per-feed query parameters to the article link, replacing parameters of the same
/// name and leaving every other part of the URL (and the order and exact encoding of the
/// other parameters) as the publisher wrote it.
pub fn apply_link_params(url: &Url, params: &BTreeMap<String, String>) -> Url {
    if params.is_empty() {
        return url.clone();
    }
    let mut pairs: Vec<String> = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let raw_name = pair.split('=').next().unwrap_or_default();
            let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !params.contains_key(&name)
        })
        .map(str::to_owned)
        .collect();
    for (name, value) in params {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair(name, value);
        pairs.push(s.finish());
    }
    let mut out = url.clone();
    out.set_query(Some(&pairs.join("&")));
    out
}

/// Widen `start..end` to the grapheme clusters it touches.
fn snap_to_graphemes(text: &str, start: usize, end: usize) -> Range<usize> {
    use unicode_segmentation::GraphemeCursor;
    let mut snapped = start..end;
    let mut at_start = GraphemeCursor::new(start, text.len(), true);
    if !at_start.is_boundary(text, 0).unwrap_or(true)
        && let Ok(Some(prev)) = at_start.prev_boundary(text, 0)
    {
        snapped.start = prev;
    }
    let mut at_end = GraphemeCursor::new(end, text.len(), true);
    if !at_end.is_boundary(text, 0).unwrap_or(true)
        && let Ok(Some(next)) = at_end.next_boundary(text, 0)
    {
        snapped.end = next;
    }
    snapped
}

fn starts_with_ci(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    hay.get(at..at + needle.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// `www.` inside a word or path (`foo.www.example`, `/www.x`) is not a link start.
fn prev_is_word(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '/' | '@' | '-' | '_'))
}

/// Length of `url` without the trailing punctuation that belongs to the sentence
/// ("see https://x.com/a." / "(https://x.com/a)"), keeping balanced brackets
/// (`https://en.wikipedia.org/wiki/Rust_(language)`).
fn trim_url_end(url: &str) -> usize {
    let count = |c: char| url.chars().filter(|&x| x == c).count();
    // (open, close) counts, updated as closers are trimmed, so this stays linear.
    let mut parens = (count('('), count(')'));
    let mut squares = (count('['), count(']'));
    let mut braces = (count('{'), count('}'));
    let mut end = url.len();
    while let Some(c) = url[..end].chars().next_back() {
        let strip = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' => true,
            ')' => unbalanced(&mut parens),
            ']' => unbalanced(&mut squares),
            '}' => unbalanced(&mut braces),
            _ => false,
        };
        if !strip {
            break;
        }
        end -= c.len_utf8();
    }
    end
}

/// Whether a trailing closer has no opener in the URL; if so it is trimmed (counted off).
fn unbalanced(counts: &mut (usize, usize)) -> bool {
    if counts.1 > counts.0 {
        counts.1 -= 1;
        true
    } else {
        false
    }
}

/// Clean up after removing URLs: double spaces, spaces before punctuation, empty
/// brackets, blank lines, and a dangling ":" at a line end ("Read more:").
fn tidy(s: &str) -> String {
    let mut lines = Vec::new();
    for line in s.split('\n') {
        let mut l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        for (from, to) in [
            ("( )", ""),
            ("()", ""),
            ("[ ]", ""),
            ("[]", ""),
            (" .", "."),
            (" ,", ","),
            (" ;", ";"),
            (" !", "!"),
            (" ?", "?"),
        ] {
            while l.contains(from) {
                l = l.replace(from, to);
            }
        }
        let l = l.trim().trim_end_matches(':').trim_end().to_owned();
        lines.push(l);
    }
    let joined = lines.join("\n");
    // Removing a URL that was alone on its line leaves blank lines; keep at most one.
    let mut out = String::with_capacity(joined.len());
    let mut blank = 0;
    for line in joined.split('\n') {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(t: &str) -> Vec<&str> {
        find_links(t).into_iter().map(|r| &t[r]).collect()
    }

    #[test]
    fn finds_scheme_and_www_urls() {
        assert_eq!(
            urls("See https://a.com/x. And (http://b.org/y) or www.c.net/z, not d.com."),
            vec!["https://a.com/x", "http://b.org/y", "www.c.net/z"]
        );
        assert_eq!(
            urls("https://en.wikipedia.org/wiki/Rust_(language)"),
            vec!["https://en.wikipedia.org/wiki/Rust_(language)"]
        );
        assert_eq!(urls("HTTPS://EXAMPLE.COM"), vec!["HTTPS://EXAMPLE.COM"]);
        assert!(urls("Node.js 3.5 www. and https://").is_empty());
        assert_eq!(
            urls("日本https://例え.jp/パス です"),
            vec!["https://例え.jp/パス"]
        );
    }

    #[test]
    fn counts_as_the_api_documents() {
        // threads-api.md §3.2: a.com, a.com, b.com + attachment b.com = 2.
        assert_eq!(
            count_links(
                "https://a.com https://a.com https://b.com",
                Some("https://b.com")
            ),
            2
        );
        assert_eq!(count_links("no links", Some("https://x.com")), 1);
        assert_eq!(count_links("no links", None), 0);
        assert_eq!(count_links("https://a.com", Some("https://c.com")), 2);
    }

    #[test]
    fn removes_and_limits() {
        assert_eq!(
            remove_links("Read more: https://a.com/x\n\nNext (https://b.com)."),
            "Read more\n\nNext."
        );
        let t = "1 https://a.com 2 https://b.com 3 https://c.com";
        assert_eq!(
            limit_links(t, Some("https://z.com"), &[], 3),
            "1 https://a.com 2 https://b.com 3"
        );
        assert_eq!(
            limit_links(t, None, &["https://c.com"], 2),
            "1 https://a.com 2 3 https://c.com"
        );
    }

    #[test]
    fn link_params_replace_same_name() {
        let url = Url::parse("https://ex.com/a?utm_source=rss&id=7&x=%20y#frag").unwrap();
        let params = BTreeMap::from([
            ("utm_source".to_owned(), "threads".to_owned()),
            ("utm_medium".to_owned(), "social".to_owned()),
        ]);
        assert_eq!(
            apply_link_params(&url, &params).as_str(),
            "https://ex.com/a?id=7&x=%20y&utm_medium=social&utm_source=threads#frag"
        );
        let bare = Url::parse("https://ex.com/").unwrap();
        assert_eq!(
            apply_link_params(&bare, &params).as_str(),
            "https://ex.com/?utm_medium=social&utm_source=threads"
        );
    }
}
