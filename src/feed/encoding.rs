//! Bytes → UTF-8 text for the feed parser.
//!
//! Owns: choosing a document's character encoding (byte-order mark, UTF-16/32 byte
//! pattern, XML declaration, HTTP charset, then a content check) and transcoding it with
//! `encoding_rs`. It must not parse XML beyond the declaration and does no I/O.
//!
//! Precedence, chosen to recover the feeds found in the wild (see `shared/feeds`):
//! 1. A BOM is decisive.
//! 2. NUL-byte patterns of UTF-16/UTF-32 without a BOM (`<\0?\0`…).
//! 3. Bytes that are valid UTF-8 are read as UTF-8 whatever the labels say: a legacy
//!    single- or multi-byte text is practically never valid UTF-8 by accident, while
//!    templates that declare ISO-8859-1 around UTF-8 content are common.
//! 4. Otherwise the XML declaration, then the HTTP charset (the declaration is written
//!    by whoever produced the bytes; the HTTP charset is often a server default). A
//!    label that says UTF-8 is ignored here because the bytes just proved it wrong.
//! 5. No usable label: UTF-8 with replacement characters when the text is mostly
//!    well-formed UTF-8 with a few bad bytes, else windows-1252 (the WHATWG default
//!    for undeclared legacy text, and what `iso-8859-1` labels mean in practice).

use encoding_rs::{Encoding, ISO_2022_JP, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use std::borrow::Cow;

/// Where the chosen encoding came from; kept for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodingSource {
    Bom,
    BytePattern,
    /// The bytes are valid UTF-8 (labels, if any, were overruled or agreed).
    ValidUtf8,
    Declaration,
    Http,
    /// No usable label: decided from the bytes alone.
    Guess,
}

/// A document transcoded to UTF-8.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    /// The text without BOM; borrowed when the input was already valid UTF-8.
    pub text: Cow<'a, str>,
    /// Name of the encoding used (`"UTF-32LE"` etc. for the ones encoding_rs lacks).
    pub encoding: &'static str,
    pub source: EncodingSource,
    /// Some bytes could not be decoded and became U+FFFD.
    pub had_errors: bool,
}

/// Transcode `body` to UTF-8. Never fails: undecodable bytes become U+FFFD.
pub(crate) fn decode<'a>(body: &'a [u8], content_type: Option<&str>) -> Decoded<'a> {
    let mut decoded = detect_and_decode(body, content_type);
    if has_c1_controls(&decoded.text) {
        decoded.text = Cow::Owned(demoronize(&decoded.text));
    }
    decoded
}

/// U+0080–U+009F are never text in a feed; they appear when windows-1252 bytes were
/// read as ISO-8859-1 and stored as UTF-8 (`don\u{92}t` for `don’t`). In UTF-8 they are
/// 0xC2 followed by 0x80–0x9F. Every document goes through this, so it tests eight
/// bytes at a time for a 0xC2 before looking closer.
fn has_c1_controls(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LEAD: u64 = 0xC2 * ONES;
    let bytes = text.as_bytes();
    let is_c1_at = |i: usize| {
        bytes.get(i) == Some(&0xC2) && bytes.get(i + 1).is_some_and(|b| (0x80..=0x9F).contains(b))
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ LEAD;
        // Non-zero exactly when some byte of `x` is zero, i.e. some byte was 0xC2.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 && (at..at + 8).any(is_c1_at) {
            return true;
        }
        at += 8;
    }
    (at..bytes.len()).any(is_c1_at)
}

/// Each C1 control replaced by the windows-1252 character of the same byte (encoding_rs
/// maps the five bytes windows-1252 leaves undefined to the C1 controls themselves, so
/// those stay).
fn demoronize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(byte @ 0x80..=0x9F) => {
                out.push_str(&WINDOWS_1252.decode_without_bom_handling(&[byte]).0);
            }
            _ => out.push(c),
        }
    }
    out
}

fn detect_and_decode<'a>(body: &'a [u8], content_type: Option<&str>) -> Decoded<'a> {
    if let Some(d) = decode_by_bom(body) {
        return d;
    }
    if let Some(d) = decode_by_pattern(body) {
        return d;
    }

    let declared = declared_encoding(body);
    let http = content_type.and_then(http_charset);

    if let Ok(text) = std::str::from_utf8(body) {
        // ISO-2022-JP is 7-bit, so its bytes are valid UTF-8 too; honour that label.
        let stateful = [declared, http]
            .into_iter()
            .flatten()
            .find(|e| *e == ISO_2022_JP);
        if let Some(enc) = stateful {
            return transcode(body, enc, source_of(enc, declared));
        }
        return Decoded {
            text: Cow::Borrowed(text),
            encoding: UTF_8.name(),
            source: EncodingSource::ValidUtf8,
            had_errors: false,
        };
    }

    let label = declared
        .filter(|e| *e != UTF_8)
        .or_else(|| http.filter(|e| *e != UTF_8));
    if let Some(enc) = label {
        return transcode(body, enc, source_of(enc, declared));
    }
    let guess = if mostly_utf8(body) {
        UTF_8
    } else {
        WINDOWS_1252
    };
    transcode(body, guess, EncodingSource::Guess)
}

fn source_of(enc: &'static Encoding, declared: Option<&'static Encoding>) -> EncodingSource {
    if declared == Some(enc) {
        EncodingSource::Declaration
    } else {
        EncodingSource::Http
    }
}

fn transcode<'a>(body: &'a [u8], enc: &'static Encoding, source: EncodingSource) -> Decoded<'a> {
    let (text, had_errors) = enc.decode_without_bom_handling(body);
    Decoded {
        text,
        encoding: enc.name(),
        source,
        had_errors,
    }
}

fn decode_by_bom(body: &[u8]) -> Option<Decoded<'_>> {
    // UTF-32LE's BOM starts with UTF-16LE's, so test the 4-byte marks first.
    if let Some(rest) = body.strip_prefix(&[0xFF, 0xFE, 0, 0]) {
        return Some(utf32(rest, false, EncodingSource::Bom));
    }
    if let Some(rest) = body.strip_prefix(&[0, 0, 0xFE, 0xFF]) {
        return Some(utf32(rest, true, EncodingSource::Bom));
    }
    let (enc, bom_len) = Encoding::for_bom(body)?;
    let rest = body.get(bom_len..).unwrap_or_default();
    Some(transcode(rest, enc, EncodingSource::Bom))
}

fn decode_by_pattern(body: &[u8]) -> Option<Decoded<'_>> {
    let &[a, b, c, d, ..] = body else {
        return None;
    };
    let nz = |x: u8| x != 0;
    let s = EncodingSource::BytePattern;
    match (nz(a), nz(b), nz(c), nz(d)) {
        (true, false, false, false) => Some(utf32(body, false, s)),
        (false, false, false, true) => Some(utf32(body, true, s)),
        (true, false, true, false) => Some(transcode(body, UTF_16LE, s)),
        (false, true, false, true) => Some(transcode(body, UTF_16BE, s)),
        _ => None,
    }
}

/// UTF-32 by hand: encoding_rs deliberately leaves it out, but feeds in it exist.
fn utf32(body: &[u8], big_endian: bool, source: EncodingSource) -> Decoded<'static> {
    let mut text = String::with_capacity(body.len() / 4);
    let mut had_errors = !body.len().is_multiple_of(4);
    for chunk in body.chunks_exact(4) {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        let code = if big_endian {
            u32::from_be_bytes(word)
        } else {
            u32::from_le_bytes(word)
        };
        match char::from_u32(code) {
            Some(ch) => text.push(ch),
            None => {
                had_errors = true;
                text.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    Decoded {
        text: Cow::Owned(text),
        encoding: if big_endian { "UTF-32BE" } else { "UTF-32LE" },
        source,
        had_errors,
    }
}

/// An encoding usable once we already read the bytes as ASCII: the label must name an
/// ASCII-compatible encoding (a `utf-16` label on 8-bit bytes is a lie), or ISO-2022-JP.
fn usable_label(label: &[u8]) -> Option<&'static Encoding> {
    let enc = Encoding::for_label_no_replacement(label)?;
    (enc.is_ascii_compatible() || enc == ISO_2022_JP).then_some(enc)
}

/// The `encoding` of the XML declaration at the start of an ASCII-compatible document.
pub(crate) fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    usable_label(declaration_encoding_label(body)?.1)
}

/// The span `(start, end)` of the declaration's `encoding` value and the value itself.
/// Looks for the declaration in the first KiB: it should open the document, but
/// comments or whitespace before it are common and it still tells the encoding.
pub(crate) fn declaration_encoding_label(body: &[u8]) -> Option<((usize, usize), &[u8])> {
    let head = body.get(..body.len().min(1024))?;
    let start = find(head, b"<?xml")?;
    let rest = body.get(start..)?;
    if !rest.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    // The declaration runs to `?>` (as quick-xml reads it), not to the first `>`.
    let end = find(rest, b"?>")?;
    let decl = rest.get(..end)?;
    let mut from = 0;
    // The first `encoding` that is an attribute (`encoding =`), as quick-xml finds it.
    while let Some(found) = decl.get(from..).and_then(|d| find(d, b"encoding")) {
        let mut i = from + found + b"encoding".len();
        from = i;
        while decl.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if decl.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while decl.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let Some(&quote) = decl.get(i).filter(|q| **q == b'"' || **q == b'\'') else {
            continue;
        };
        let value_start = i + 1;
        let len = decl.get(value_start..)?.iter().position(|&b| b == quote)?;
        let value = decl.get(value_start..value_start + len)?;
        return Some((
            (start + value_start, start + value_start + len),
            value.trim_ascii(),
        ));
    }
    None
}

/// The `charset` parameter of a Content-Type header, if it names a usable encoding.
pub(crate) fn http_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        usable_label(value.as_bytes())
    })
}

/// True when the well-formed multi-byte UTF-8 sequences outnumber the broken ones: a
/// UTF-8 document with a few stray bytes, not a legacy-encoded one.
fn mostly_utf8(mut bytes: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                good += s.bytes().filter(|b| *b >= 0xC0).count();
                break;
            }
            Err(e) => {
                let (valid, after) = bytes.split_at(e.valid_up_to());
                good += valid.iter().filter(|b| **b >= 0xC0).count();
                bad += 1;
                let skip = e.error_len().unwrap_or(after.len()).max(1);
                bytes = after.get(skip..).unwrap_or_default();
            }
        }
    }
    good > bad
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big_endian {
                &[0xFE, 0xFF]
            } else {
                &[0xFF, 0xFE]
            });
        }
        for unit in s.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    fn utf32(s: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let chars = bom.then_some('\u{FEFF}').into_iter().chain(s.chars());
        for ch in chars {
            let v = ch as u32;
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        out
    }

    const DOC: &str =
        "<?xml version=\"1.0\"?><rss><channel><title>Zürich – café</title></channel></rss>";

    #[test]
    fn detects_and_transcodes() {
        let latin1_decl = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>caf\xe9</t>".to_vec();
        let cp1252_decl = b"<?xml version='1.0' encoding='windows-1252'?><t>don\x92t</t>".to_vec();
        let latin1_no_label = b"<?xml version=\"1.0\"?><t>caf\xe9</t>".to_vec();
        let utf8_bom = [&[0xEF, 0xBB, 0xBF][..], DOC.as_bytes()].concat();
        let koi8_http = b"<rss><t>\xf0\xd2\xc9\xd7\xc5\xd4</t></rss>".to_vec();
        let utf8_mislabelled = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>café</t>"
            .as_bytes()
            .to_vec();
        let mostly_utf8 = [&b"<t>caf\xc3\xa9 caf\xc3\xa9 "[..], b"\xff</t>"].concat();
        // (name, bytes, content type, encoding, source, expected text)
        type Case<'a> = (
            &'a str,
            Vec<u8>,
            Option<&'a str>,
            &'a str,
            EncodingSource,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "utf-8 bom",
                utf8_bom,
                None,
                "UTF-8",
                EncodingSource::Bom,
                "Zürich – café",
            ),
            (
                "utf-16le bom",
                utf16(DOC, false, true),
                None,
                "UTF-16LE",
                EncodingSource::Bom,
                "Zürich – café",
            ),
            (
                "utf-16be bom",
                utf16(DOC, true, true),
                None,
                "UTF-16BE",
                EncodingSource::Bom,
                "Zürich – café",
            ),
            (
                "utf-16le no bom",
                utf16(DOC, false, false),
                None,
                "UTF-16LE",
                EncodingSource::BytePattern,
                "Zürich",
            ),
            (
                "utf-16be no bom",
                utf16(DOC, true, false),
                None,
                "UTF-16BE",
                EncodingSource::BytePattern,
                "Zürich",
            ),
            (
                "utf-32le bom",
                utf32(DOC, false, true),
                None,
                "UTF-32LE",
                EncodingSource::Bom,
                "Zürich – café",
            ),
            (
                "utf-32be no bom",
                utf32(DOC, true, false),
                None,
                "UTF-32BE",
                EncodingSource::BytePattern,
                "café",
            ),
            (
                "iso-8859-1 declared",
                latin1_decl,
                None,
                "windows-1252",
                EncodingSource::Declaration,
                "café",
            ),
            (
                "windows-1252 declared",
                cp1252_decl,
                None,
                "windows-1252",
                EncodingSource::Declaration,
                "don\u{2019}t",
            ),
            (
                "http charset only",
                koi8_http,
                Some("text/xml; charset=\"KOI8-R\""),
                "KOI8-R",
                EncodingSource::Http,
                "Привет",
            ),
            (
                "declaration beats wrong http",
                b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>caf\xe9</t>".to_vec(),
                Some("text/xml; charset=utf-8"),
                "windows-1252",
                EncodingSource::Declaration,
                "café",
            ),
            (
                "valid utf-8 beats wrong label",
                utf8_mislabelled,
                Some("text/xml; charset=iso-8859-1"),
                "UTF-8",
                EncodingSource::ValidUtf8,
                "café",
            ),
            (
                "undeclared legacy",
                latin1_no_label,
                None,
                "windows-1252",
                EncodingSource::Guess,
                "café",
            ),
            (
                "utf-8 with a stray byte",
                mostly_utf8,
                None,
                "UTF-8",
                EncodingSource::Guess,
                "café café \u{FFFD}",
            ),
            (
                "bogus label",
                b"<?xml version=\"1.0\" encoding=\"bogus\"?><t>x</t>".to_vec(),
                Some("text/xml; charset=nonsense"),
                "UTF-8",
                EncodingSource::ValidUtf8,
                "<t>x</t>",
            ),
            (
                "utf-16 label on 8-bit bytes",
                b"<?xml version=\"1.0\" encoding=\"utf-16\"?><t>caf\xe9</t>".to_vec(),
                None,
                "windows-1252",
                EncodingSource::Guess,
                "café",
            ),
        ];
        for (name, bytes, ct, enc, source, needle) in cases {
            let d = decode(&bytes, ct);
            assert_eq!(d.encoding, enc, "{name}: encoding");
            assert_eq!(d.source, source, "{name}: source");
            assert!(
                d.text.contains(needle),
                "{name}: {:?} lacks {needle:?}",
                d.text
            );
            assert!(!d.text.starts_with('\u{FEFF}'), "{name}: BOM kept");
        }
    }

    #[test]
    fn c1_controls_become_windows_1252() {
        // "don\u{92}t": cp1252 read as latin-1 and saved as UTF-8.
        let d = decode(
            b"<t>don\xc2\x92t \xc2\x93q\xc2\x94 \xc2\xa0\xc2\x81</t>",
            None,
        );
        assert_eq!(d.text, "<t>don\u{2019}t \u{201c}q\u{201d} \u{a0}\u{81}</t>");
        // The same in a legacy encoding: decoded first, then fixed.
        let d = decode(
            b"<?xml version='1.0' encoding='iso-8859-1'?><t>\xe9</t>",
            None,
        );
        assert!(d.text.ends_with("<t>\u{e9}</t>"));
        assert!(!has_c1_controls("plain \u{a0} text"));
        assert!(has_c1_controls("x\u{85}"));
        // Across the 8-byte chunk boundary, and in the tail.
        assert!(has_c1_controls("1234567\u{92}"));
        assert!(has_c1_controls("12345678901234\u{92}"));
        assert!(!has_c1_controls("1234567\u{a0}\u{c2}"));
    }

    proptest::proptest! {
        #[test]
        fn c1_scan_matches_a_char_scan(s in "[a-z\u{80}-\u{a0}\u{c2}\u{e9}\u{2019}]{0,40}") {
            let naive = s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c));
            proptest::prop_assert_eq!(has_c1_controls(&s), naive);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode(&bytes, Some("text/xml; charset=windows-1252"));
        }
    }

    #[test]
    fn valid_utf8_is_borrowed() {
        let d = decode(DOC.as_bytes(), None);
        assert!(matches!(d.text, Cow::Borrowed(_)));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for bytes in [
            &b""[..],
            b"\xff",
            b"\xff\xfe",
            b"\xfe\xff\x00",
            b"\x00\x00\xfe\xff\x00",
            b"\xff\xfe\x00\x00\x00\x00\x11\x00",
            b"<?xml encoding=",
            b"<?xml encoding='",
            b"<?xml encoding = 'utf-8' ?>",
        ] {
            let _ = decode(bytes, Some("text/xml; charset"));
        }
    }

    #[test]
    fn reads_declaration_and_http_labels() {
        let label = |b: &'static [u8]| declaration_encoding_label(b).map(|(_, v)| v);
        assert_eq!(
            label(b"  <?xml version='1.0' encoding = 'Shift_JIS' ?>"),
            Some(&b"Shift_JIS"[..])
        );
        // The declaration ends at `?>`, and only `encoding=` counts.
        assert_eq!(
            label(b"<?xml versio</a>n='1' x='encoding' encoding='latin1'?>"),
            Some(&b"latin1"[..])
        );
        assert_eq!(label(b"<?xml version='1.0'?><a encoding='x'/>"), None);
        assert_eq!(label(b"<?xml-stylesheet encoding='x'?>"), None);
        assert_eq!(
            http_charset("application/rss+xml; Charset=UTF-8"),
            Some(UTF_8)
        );
        assert_eq!(http_charset("text/html"), None);
        assert_eq!(http_charset("text/xml; charset=utf-16"), None);
    }
}
