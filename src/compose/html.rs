//! HTML and feed text → clean plain text.
//!
//! Owns: tag stripping (through the html5gum tokenizer, in [`strip`]), entity decoding
//! (htmlize, repeated, for double-encoded feeds),
//! block elements → line/paragraph breaks, whitespace collapsing, removal of control and
//! zero-width junk, repair of UTF-8-read-as-cp1252 mojibake, Unicode NFC, and the final
//! guard that makes "no tag, no entity" hold for any input.
//!
//! Must not: know about limits, links or templates. Every function here is total: any
//! input, however broken, gives a string (never a panic, never an error).

use std::borrow::Cow;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

mod strip;
use strip::strip_tags;

/// Placeholders for breaks while tags are being stripped. Real newlines in HTML are only
/// whitespace, so breaks need their own markers until whitespace has been collapsed.
/// Private-use code points; removed from the input first so a feed cannot forge them.
const LINE: char = '\u{E000}';
const PARA: char = '\u{E001}';

/// Rounds of "strip tags, decode entities". A second round handles HTML that was
/// escaped twice (`&lt;p&gt;` inside an already-escaped description); more than four is
/// an attack or a broken CMS, and the final guard neutralises what is left.
const MAX_HTML_ROUNDS: usize = 4;
/// Rounds of entity decoding within one round; each round strictly shortens the text,
/// so the bound only matters for adversarial input like `&amp;amp;amp;…`.
const MAX_DECODE_ROUNDS: usize = 8;
/// Longest grapheme cluster kept whole. Real ones (family emoji, subdivision flags,
/// stacked Indic or Tibetan marks) stay under 40 bytes; longer ones are "Zalgo" text,
/// and a cluster that never fits would make a title impossible to shorten without
/// splitting it.
const MAX_GRAPHEME_BYTES: usize = 64;

/// Feed text (HTML or plain) → plain text: paragraphs separated by one blank line, line
/// breaks kept, whitespace collapsed, entities decoded, NFC, no tags, no entities.
///
/// Text without any markup keeps its blank lines as paragraph breaks; its single
/// newlines are line-wrapping and become spaces.
pub fn html_to_text(input: &str) -> String {
    let mut cur = clean_chars(input, Markers::Remove);
    let mut saw_markup = false;
    for _ in 0..MAX_HTML_ROUNDS {
        let (stripped, markup) = strip_tags(&cur);
        saw_markup |= markup;
        let decoded = decode_entities(&stripped);
        let decoded = repair_mojibake(&decoded).into_owned();
        let again = find_tag_like(&decoded, 0).is_some() && decoded != cur;
        cur = decoded;
        if !again {
            break;
        }
    }
    if !saw_markup {
        cur = mark_plain_paragraphs(&cur);
    }
    // Decoding may have produced control or zero-width characters (`&#8203;`).
    let cleaned = clean_chars(&cur, Markers::Keep);
    let collapsed = collapse_html_whitespace(&drop_orphans(&cleaned));
    guard(&cap_graphemes(&nfc(collapsed))).into_owned()
}

/// Like [`html_to_text`] but on one line: for titles, categories, authors, alt text.
pub fn html_to_line(input: &str) -> String {
    let text = html_to_text(input);
    if !text.contains('\n') {
        return text;
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text that is already meant to be plain (a rendered template) → text safe to post:
/// newlines kept (at most one blank line in a row), spaces collapsed within lines,
/// stray tags removed, entities decoded, junk characters removed, NFC, trimmed.
pub fn sanitize_plain(input: &str) -> String {
    // Runs on every render while a post is fitted, so the usual case (clean fields plus
    // a little template text) skips every step it can.
    // No mojibake repair here: the fields were repaired by `html_to_text`, and on cut
    // text it would misread our own ellipsis (cp1252 0x85) as a UTF-8 continuation byte.
    let mut cur = clean_chars(input, Markers::Remove);
    if cur.contains(['<', '&']) {
        for _ in 0..MAX_HTML_ROUNDS {
            let stripped = strip_tag_like(&cur);
            let decoded = decode_entities(&stripped);
            let again = decoded != cur && find_tag_like(&decoded, 0).is_some();
            cur = decoded;
            if !again {
                break;
            }
        }
        cur = clean_chars(&cur, Markers::Remove);
    }
    let collapsed = collapse_plain_whitespace(&drop_orphans(&cur));
    // No grapheme capping here: fields were capped by `html_to_text`, and the rest is
    // the operator's own template text.
    guard(&nfc(collapsed)).into_owned()
}

fn nfc(s: String) -> String {
    if unicode_normalization::is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        s
    } else {
        s.nfc().collect()
    }
}

/// Byte range of the first tag-like construct: `<` followed by a letter, `/`, `!` or
/// `?`, closed by a `>` before any other `<` (so `a < b > c` and `<3` are text, while
/// `</ x>` counts, as browsers treat it as markup). This is the definition the post
/// limits check and the one [`guard`] enforces.
pub fn find_tag_like(s: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let lt = i + memchr(b'<', &bytes[i..])?;
        let next = bytes.get(lt + 1).copied();
        let starts = match next {
            Some(c) => c.is_ascii_alphabetic() || matches!(c, b'!' | b'?' | b'/'),
            None => false,
        };
        if starts {
            for (j, &c) in bytes.iter().enumerate().skip(lt + 1) {
                match c {
                    b'>' => return Some((lt, j + 1)),
                    b'<' => break,
                    _ => {}
                }
            }
        }
        i = lt + 1;
    }
    None
}

/// Whether decoding entities would change the text, i.e. it still holds an entity.
/// Attribute rules (HTML5): a legacy entity without `;` followed by a letter, digit or
/// `=` is not one, so `?a=1&copy=2` in a URL stays as it is.
pub fn has_entity(s: &str) -> bool {
    s.contains('&') && htmlize::unescape_attribute(s) != s
}

/// Make "no tag, no entity" hold whatever happened before (truncation can turn
/// `&ampere` into `&amp…`): a tag's `<` becomes `‹`, an entity's `&` becomes `＆`.
/// Replacing one ASCII character by a non-ASCII one cannot create a new tag or entity.
pub fn guard(s: &str) -> Cow<'_, str> {
    let has_tag = find_tag_like(s, 0).is_some();
    let entity = has_entity(s);
    if !has_tag && !entity {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_owned();
    if has_tag {
        let mut from = 0;
        while let Some((start, _)) = find_tag_like(&out, from) {
            out.replace_range(start..start + 1, "‹");
            from = start + '‹'.len_utf8();
        }
    }
    if has_entity(&out) {
        let mut fixed = String::with_capacity(out.len() + 8);
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            let starts_entity = c == '&'
                && chars
                    .peek()
                    .is_some_and(|n| *n == '#' || n.is_ascii_alphabetic());
            fixed.push(if starts_entity { '＆' } else { c });
        }
        out = fixed;
    }
    Cow::Owned(out)
}

/// Shorten grapheme clusters longer than [`MAX_GRAPHEME_BYTES`] to their first
/// characters (the base and its first marks).
fn cap_graphemes(s: &str) -> Cow<'_, str> {
    use unicode_segmentation::UnicodeSegmentation;
    // A cluster over 64 bytes needs at least 8 characters that extend a cluster
    // (combining marks, ZWJ, variation selectors, tags, skin tones, conjoining jamo,
    // regional indicators); without that many in the whole text, skip the segmentation.
    let extenders = s
        .chars()
        .filter(|&c| {
            !c.is_ascii()
                && (unicode_normalization::char::is_combining_mark(c)
                    || matches!(c, '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0000}'..='\u{E0FFF}'
                        | '\u{1F3FB}'..='\u{1F3FF}' | '\u{1F1E6}'..='\u{1F1FF}' | '\u{1100}'..='\u{11FF}'
                        | '\u{A960}'..='\u{A97F}' | '\u{D7B0}'..='\u{D7FF}'))
        })
        .take(8)
        .count();
    if extenders < 8 || !s.graphemes(true).any(|g| g.len() > MAX_GRAPHEME_BYTES) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for g in s.graphemes(true) {
        if g.len() <= MAX_GRAPHEME_BYTES {
            out.push_str(g);
            continue;
        }
        let mut kept = 0;
        for c in g.chars() {
            if kept + c.len_utf8() > MAX_GRAPHEME_BYTES {
                break;
            }
            out.push(c);
            kept += c.len_utf8();
        }
    }
    Cow::Owned(out)
}

/// Decode entities until the text stops changing (bounded).
fn decode_entities(s: &str) -> String {
    let mut cur = s.to_owned();
    for _ in 0..MAX_DECODE_ROUNDS {
        if !cur.contains('&') {
            break;
        }
        let next = htmlize::unescape_attribute(cur.as_str()).into_owned();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Plain-text mode of tag removal: drop tag-like spans, nothing else.
fn strip_tag_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut from = 0;
    let mut copied = 0;
    while let Some((start, end)) = find_tag_like(s, from) {
        out.push_str(&s[copied..start]);
        copied = end;
        from = end;
    }
    out.push_str(&s[copied..]);
    out
}

/// In text without markup, a blank line is a paragraph break.
fn mark_plain_paragraphs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut newlines = 0;
    let mut pending = String::new();
    for c in s.chars() {
        if c == '\n' || c == '\r' || c == '\u{2029}' {
            newlines += if c == '\u{2029}' {
                2
            } else {
                usize::from(c == '\n')
            };
            pending.push(c);
        } else if c.is_whitespace() && newlines > 0 {
            pending.push(c);
        } else {
            if newlines >= 2 {
                out.push(PARA);
            } else {
                out.push_str(&pending);
            }
            pending.clear();
            newlines = 0;
            out.push(c);
        }
    }
    out
}

/// Collapse HTML whitespace: runs → one space; break markers → `\n` or `\n\n`
/// (two or more line breaks in a row, as in `<br><br>`, make a paragraph).
fn collapse_html_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut lines = 0usize;
    let mut para = false;
    for c in s.chars() {
        if c == PARA {
            para = true;
        } else if c == LINE {
            lines += 1;
        } else if c.is_whitespace() {
            space = true;
        } else {
            if !out.is_empty() {
                if para || lines >= 2 {
                    out.push_str("\n\n");
                } else if lines == 1 {
                    out.push('\n');
                } else if space {
                    out.push(' ');
                }
            }
            space = false;
            lines = 0;
            para = false;
            out.push(c);
        }
    }
    out
}

/// Collapse whitespace in plain text: spaces within a line, at most one blank line.
fn collapse_plain_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0usize;
    for line in s.split('\n') {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(&words.join(" "));
    }
    out
}

/// Whether our break markers are input to be removed or our own output to keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Markers {
    Remove,
    Keep,
}

/// Remove or map characters that must not reach a post: control characters (C1 ones
/// are mapped through windows-1252, which is what they almost always were), zero-width
/// junk, bidi embeddings/overrides (unbalanced after truncation, they garble the rest of
/// the timeline), BOMs, soft hyphens, noncharacters and our own break markers.
///
/// ZWJ and ZWNJ are kept between two non-ASCII, non-space characters: that is where
/// emoji sequences (👩‍👩‍👧) and Persian/Indic spelling need them. LRM/RLM are kept:
/// they are how RTL text with Latin parts displays correctly.
fn clean_chars(s: &str, markers: Markers) -> String {
    if !s.chars().any(|c| needs_cleaning(c, markers)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match c {
            // Newlines are kept: they are line breaks in plain text, and in HTML mode the
            // whitespace collapsing treats them as spaces.
            '\n' => out.push('\n'),
            '\r' => {
                // CRLF → LF; a lone CR is a line break too.
                if next != Some('\n') {
                    out.push('\n');
                }
            }
            '\t' | '\u{0B}' | '\u{0C}' => out.push(' '),
            '\u{2028}' => out.push('\n'),
            '\u{2029}' => out.push_str("\n\n"),
            '\u{80}'..='\u{9F}' => {
                if let Some(mapped) = cp1252_c1(c) {
                    out.push(mapped);
                }
            }
            c if c.is_control() => {}
            '\u{200D}' | '\u{200C}' => {
                let joins =
                    |x: Option<char>| x.is_some_and(|x| !x.is_ascii() && !x.is_whitespace());
                if joins(prev) && joins(next) {
                    out.push(c);
                }
            }
            '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}' | '\u{034F}' => {}
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FFF9}'..='\u{FFFB}' => {}
            LINE | PARA if markers == Markers::Keep => out.push(c),
            '\u{FFFE}' | '\u{FFFF}' | LINE | PARA => {}
            '\u{E0000}'..='\u{E007F}' => {
                // Tag characters only mean something in emoji tag sequences (the flags
                // of England, Scotland, Wales): keep them after 🏴 or another tag char.
                let in_sequence = prev
                    .is_some_and(|p| p == '\u{1F3F4}' || ('\u{E0000}'..='\u{E007F}').contains(&p));
                if in_sequence {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// Drop orphans: a combining mark (or other cluster-extending character) with no base,
/// at the start or after whitespace, and a prepended mark (U+0600…) before whitespace.
/// With a space they would form one grapheme cluster, which collapsing or trimming
/// whitespace would then split. Runs after `clean_chars`, on the characters that stay.
fn drop_orphans(s: &str) -> Cow<'_, str> {
    let mut cur = Cow::Borrowed(s);
    // Dropping one orphan can orphan its neighbour (" \u{301}\u{302}"); a few passes
    // settle any real text.
    for _ in 0..4 {
        let mut out: Option<String> = None;
        let mut chars = cur.char_indices().peekable();
        let mut prev: Option<char> = None;
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if is_orphan(prev, c, next) {
                out.get_or_insert_with(|| cur[..i].to_owned());
                continue;
            }
            if let Some(o) = out.as_mut() {
                o.push(c);
            }
            prev = Some(c);
        }
        match out {
            Some(o) => cur = Cow::Owned(o),
            None => break,
        }
    }
    cur
}

/// Whether `c` is a cluster-extending character without a base (see `drop_orphans`).
fn is_orphan(prev: Option<char>, c: char, next: Option<char>) -> bool {
    if c.is_ascii() {
        return false;
    }
    let breaks_at_1 = |a: char, b: char| {
        let mut buf = [0u8; 8];
        let len_a = a.encode_utf8(&mut buf).len();
        let len_b = b.encode_utf8(&mut buf[len_a..]).len();
        let Ok(pair) = std::str::from_utf8(&buf[..len_a + len_b]) else {
            return true;
        };
        let mut cursor = unicode_segmentation::GraphemeCursor::new(len_a, pair.len(), true);
        cursor.is_boundary(pair, 0).unwrap_or(true)
    };
    let no_base = prev.is_none_or(|p| p.is_whitespace() || p == LINE || p == PARA);
    let extends = no_base && !breaks_at_1('a', c);
    let before_space =
        next.is_some_and(|n| n.is_whitespace() || n == LINE || n == PARA) && !breaks_at_1(c, 'a');
    extends || before_space
}

/// Whether `clean_chars` would change or drop `c` (its fast path).
fn needs_cleaning(c: char, markers: Markers) -> bool {
    match c {
        '\n' => false,
        LINE | PARA => markers == Markers::Remove,
        c if c.is_control() => true,
        '\u{200B}'..='\u{200D}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{2060}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{034F}' => true,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{FFFE}'
        | '\u{FFFF}' => true,
        '\u{E0000}'..='\u{E007F}' => true,
        _ => false,
    }
}

/// What windows-1252 bytes 0x80..=0x9F stand for (`€`, `‚`, … `Ÿ`; the five undefined ones
/// stay C1 controls), from encoding_rs rather than a table of our own.
static CP1252_HIGH: LazyLock<[char; 32]> = LazyLock::new(|| {
    std::array::from_fn(|i| {
        let byte = [0x80_u8.saturating_add(u8::try_from(i).unwrap_or(0))];
        let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
        decoded
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER)
    })
});

/// A C1 control character read from bytes that were really windows-1252.
fn cp1252_c1(c: char) -> Option<char> {
    let index = u32::from(c).checked_sub(0x80)?;
    CP1252_HIGH
        .get(usize::try_from(index).ok()?)
        .copied()
        .filter(|d| !d.is_control())
}

/// Repair UTF-8 that was read as windows-1252 ("â€™" → "’", "Ã©" → "é"), which feeds
/// deliver surprisingly often, also through numeric entities (`&#226;&#128;&#166;`).
/// Only complete, valid multi-byte sequences are repaired, so genuine Latin-1 text
/// ("café", "Ärger") is never touched.
fn repair_mojibake(s: &str) -> Cow<'_, str> {
    if !might_be_mojibake(s) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out: Option<String> = None;
    let mut i = 0;
    let mut copied_upto = 0; // in chars
    while i < chars.len() {
        let Some(lead) = cp1252_byte(chars[i]) else {
            i += 1;
            continue;
        };
        let needed = match lead {
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            _ => 0,
        };
        if needed == 0 || i + needed >= chars.len() {
            i += 1;
            continue;
        }
        let mut buf = vec![lead];
        for k in 1..=needed {
            match chars.get(i + k).and_then(|&c| cp1252_byte(c)) {
                Some(b @ 0x80..=0xBF) => buf.push(b),
                _ => break,
            }
        }
        let decoded = if buf.len() == needed + 1 {
            std::str::from_utf8(&buf).ok()
        } else {
            None
        };
        match decoded {
            Some(d) => {
                let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                o.extend(&chars[copied_upto..i]);
                o.push_str(d);
                i += needed + 1;
                copied_upto = i;
            }
            None => i += 1,
        }
    }
    match out {
        Some(mut o) => {
            o.extend(&chars[copied_upto..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(s),
    }
}

/// Whether `s` has a character that could start a mojibake sequence (Â..ô).
fn might_be_mojibake(s: &str) -> bool {
    !s.is_ascii() && s.chars().any(|c| ('\u{C2}'..='\u{F4}').contains(&c))
}

/// The windows-1252 byte a character came from, for bytes ≥ 0x80.
fn cp1252_byte(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if (0xA0..=0xFF).contains(&cp) {
        return u8::try_from(cp).ok();
    }
    CP1252_HIGH
        .iter()
        .position(|&h| h == c)
        .and_then(|p| u8::try_from(0x80 + p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_decodes() {
        assert_eq!(
            html_to_text("<p>Hello &amp; <b>world</b></p>"),
            "Hello & world"
        );
        assert_eq!(
            html_to_text("a <a href=\"x>y\" title='>'>link</a> b"),
            "a link b"
        );
        assert_eq!(html_to_text("x<!-- <p>hidden</p> -->y"), "xy");
        assert_eq!(html_to_text("x<script>if (a<b) {}</script>y"), "xy");
        assert_eq!(html_to_text("x<STYLE type=text/css>p{}</STYLE >y"), "xy");
        assert_eq!(
            html_to_text("keep <b>this</b> and <a href=\"cut"),
            "keep this and"
        );
    }

    #[test]
    fn blocks_make_breaks() {
        assert_eq!(html_to_text("<p>One</p><p>Two</p>"), "One\n\nTwo");
        assert_eq!(
            html_to_text("One<br>Two<br/><br />Three"),
            "One\nTwo\n\nThree"
        );
        assert_eq!(html_to_text("<ul><li>a</li>\n<li>b</li></ul>"), "a\nb");
        assert_eq!(html_to_text("<h1>T</h1>\n\n\n<div>x</div>"), "T\n\nx");
    }

    #[test]
    fn plain_text_paragraphs() {
        assert_eq!(
            html_to_text("line one\nwraps\n\nnext para"),
            "line one wraps\n\nnext para"
        );
    }

    #[test]
    fn double_encoding() {
        assert_eq!(html_to_text("PB&amp;amp;J"), "PB&J");
        assert_eq!(html_to_text("don&amp;#146;t"), "don’t");
        assert_eq!(
            html_to_text("&lt;p&gt;Got a wedding date 😎&lt;/p&gt;"),
            "Got a wedding date 😎"
        );
        assert_eq!(html_to_text("<![CDATA[&#38;]]>"), "&");
        assert_eq!(html_to_text("&#226;&#128;&#166;"), "…");
        assert_eq!(html_to_text("&acirc;&#128;&brvbar;"), "…");
    }

    #[test]
    fn junk_characters() {
        assert_eq!(html_to_text("a\u{200B}b\u{FEFF}c\u{0007}d"), "abcd");
        assert_eq!(html_to_text("don\u{92}t"), "don’t");
        let family = "👩\u{200D}👩\u{200D}👧";
        assert_eq!(html_to_text(family), family);
        assert_eq!(html_to_text("a\u{200D}b"), "ab");
        assert_eq!(html_to_text("e\u{301}"), "é");
        // Marks without a base would merge with a space and be split by trimming.
        assert_eq!(html_to_text("\u{301}a \u{301}\u{302}b\n\u{301}"), "a b");
        assert_eq!(html_to_text("x\u{600} y"), "x y");
        assert_eq!(
            sanitize_plain("Title\n\n \u{1F3FD} \u{1E4EC}x"),
            "Title\n\nx"
        );
    }

    #[test]
    fn emoji_images_keep_alt() {
        let html = r#"<li><img src="x.png" alt="🇨🇭" class="wp-smiley" style="height: 1em" /> <a href="https://geneve.wordcamp.org/2022/">WordCamp Genève</a></li>"#;
        assert_eq!(html_to_text(html), "🇨🇭 WordCamp Genève");
        assert_eq!(html_to_text(r#"<img alt="photo" src="x">Text"#), "Text");
    }

    #[test]
    fn guard_neutralises() {
        assert_eq!(guard("a &amp b"), "a ＆amp b");
        assert_eq!(guard("x <b> y"), "x ‹b> y");
        assert_eq!(guard("a & b < c"), "a & b < c");
        assert!(!has_entity("?a=1&copy=2"));
        assert!(has_entity("&copy;"));
    }

    #[test]
    fn sanitize_keeps_lines() {
        assert_eq!(
            sanitize_plain("  Title  \n\n\n\n  Body &amp; more <i>x</i>\n"),
            "Title\n\nBody & more x"
        );
    }
}
