//! The benchmarks' local feeds: N copies of the corpus feeds, each copy's items with
//! identities no other copy has, so every item of a cold cycle is new.

use super::{corpus_dir, corpus_feeds};
use bytes::Bytes;
use regex::Regex;

/// Give every item of copy `n` identities no other copy has: append `?b=n` to the text
/// of guid, id and link elements and to link hrefs.
fn uniquify(xml: &str, n: usize, elements: &Regex, hrefs: &Regex) -> String {
    let once = elements.replace_all(xml, |c: &regex::Captures| {
        let value = &c[3];
        let sep = if value.contains('?') { "&amp;" } else { "?" };
        format!("{}{}{}b={n}{}", &c[1], value, sep, &c[4])
    });
    hrefs
        .replace_all(&once, |c: &regex::Captures| {
            let sep = if c[2].contains('?') { "&amp;" } else { "?" };
            format!("{}{}{sep}b={n}\"", &c[1], &c[2])
        })
        .into_owned()
}

/// `n` feed documents (feed `i` is `docs[i]`), and how many corpus files they come from.
pub fn build(n: usize) -> (Vec<Bytes>, usize) {
    let corpus = corpus_dir();
    let sources = corpus_feeds(&corpus);
    assert!(
        !sources.is_empty(),
        "no usable feeds in {}",
        corpus.display()
    );
    let elements = Regex::new(r"(?s)(<(guid|id|link)(?:\s[^>]*)?>)\s*(?:<!\[CDATA\[)?\s*([^<\]]+?)\s*(?:\]\]>)?\s*(</(?:guid|id|link)>)").unwrap();
    let hrefs = Regex::new(r#"(<link\b[^>]*\bhref=")([^"]+)""#).unwrap();
    let docs = (0..n)
        .map(|i| {
            let src = String::from_utf8_lossy(&sources[i % sources.len()]);
            Bytes::from(uniquify(&src, i, &elements, &hrefs))
        })
        .collect();
    (docs, sources.len())
}
