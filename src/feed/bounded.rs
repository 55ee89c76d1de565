//! feed-rs over a document of too many items, a slice at a time.
//!
//! Owns: which items of a document are kept under `max_items` (the newest by date, then
//! document order), and reading a large XML document so that feed-rs never holds more
//! than about twice `max_items` entries: a flood of 55,000 items would otherwise cost
//! feed-rs's model of every one of them (~150 MB) before all but 500 are dropped.
//! Each slice is the document with every other item cut out, so feed-rs sees the same
//! channel, namespaces and `xml:base` as in the whole document, and reads each item's
//! dates itself: the kept items are exactly those a whole-document read would keep.
//! Must not patch documents (`parse` retries) nor interpret entries (`parse`).

use crate::feed::parse_scan;
use feed_rs::model::{Entry, Feed};

/// feed-rs's reading of a document: the feed with the entries kept, each entry's
/// position among the document's items, and how many items the document held.
pub(crate) struct FeedRead {
    pub feed: Feed,
    pub positions: Vec<usize>,
    pub items_in_document: usize,
}

impl FeedRead {
    /// A read of the whole document: every entry, at its own position.
    pub fn whole(feed: Feed) -> Self {
        let n = feed.entries.len();
        FeedRead {
            feed,
            positions: (0..n).collect(),
            items_in_document: n,
        }
    }
}

/// Reads `doc` with `read` (feed-rs), in slices of about `max_items` items when it holds
/// more than that. Falls back to one whole-document read when the slices do not line up
/// with the item scan or a slice fails: errors (and their positions, which the repairs
/// use) are then the whole document's, as without slicing.
pub(crate) fn read_bounded<E>(
    doc: &str,
    max_items: usize,
    read: impl Fn(&str) -> Result<Feed, E>,
) -> Result<FeedRead, E> {
    let spans = match item_spans(doc, max_items) {
        Some(spans) if spans.len() > max_items => spans,
        _ => return read(doc).map(FeedRead::whole),
    };
    match read_in_slices(doc, &spans, max_items, &read) {
        Some(bounded) => Ok(bounded),
        None => read(doc).map(FeedRead::whole),
    }
}

/// The byte spans of the document's items, when it may hold more than `max_items` of
/// them. A cheap count first: most documents are far below the bound and are not
/// scanned for it.
fn item_spans(doc: &str, max_items: usize) -> Option<Vec<(usize, usize)>> {
    if item_name_bound(doc) <= max_items || !may_hold_more_than(doc, max_items) {
        return None;
    }
    let scan = parse_scan::scan_items(doc)?;
    Some(scan.into_iter().map(|item| item.span).collect())
}

/// Whether `doc` has more than `max` tags named `item` or `entry` (with or without a
/// prefix): never fewer than the items the scan finds. One pass over the `<`s.
fn may_hold_more_than(doc: &str, max: usize) -> bool {
    let bytes = doc.as_bytes();
    let mut count = 0;
    for (at, _) in doc.match_indices('<') {
        let name = bytes.get(at + 1..).unwrap_or_default();
        let name_len = name
            .iter()
            .take(64)
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'))
            .unwrap_or(0);
        let name = name.get(..name_len).unwrap_or_default();
        let local = name.rsplit(|&b| b == b':').next().unwrap_or_default();
        if local == b"item" || local == b"entry" {
            count += 1;
            if count > max {
                return true;
            }
        }
    }
    false
}

/// At least as many as the items the scan can find: an item is a tag of its own whose
/// name is `item` or `entry`, right after its `<` or after its prefix's `:`, so each
/// holds one of these four strings inside its own span. Four SIMD substring counts cost
/// a fraction of `may_hold_more_than`'s walk over every `<` (a perf profile of a
/// 2000-feed cold cycle put that walk at 2 % of the daemon's CPU), and settle every
/// document of up to `max_items` items.
fn item_name_bound(doc: &str) -> usize {
    ["<item", ":item", "<entry", ":entry"]
        .iter()
        .map(|needle| memchr::memmem::find_iter(doc.as_bytes(), needle).count())
        .sum()
}

/// Items per slice: `max_items`, but never so few that the copies of the channel
/// around them dominate.
const MIN_SLICE: usize = 100;

fn read_in_slices<E>(
    doc: &str,
    spans: &[(usize, usize)],
    max_items: usize,
    read: &impl Fn(&str) -> Result<Feed, E>,
) -> Option<FeedRead> {
    let slice_len = max_items.max(MIN_SLICE);
    let mut feed: Option<Feed> = None;
    let mut kept: Vec<(usize, Entry)> = Vec::new();
    for (slice_no, slice) in spans.chunks(slice_len).enumerate() {
        let first = slice_no * slice_len;
        let text = with_only(doc, spans, first..first + slice.len())?;
        let mut part = read(&text).ok()?;
        if part.entries.len() != slice.len() {
            return None;
        }
        let entries = std::mem::take(&mut part.entries);
        kept.extend((first..).zip(entries));
        kept = newest(kept, max_items);
        feed.get_or_insert(part);
    }
    let mut feed = feed?;
    let (positions, entries) = kept.into_iter().unzip();
    feed.entries = entries;
    Some(FeedRead {
        feed,
        positions,
        items_in_document: spans.len(),
    })
}

/// `doc` without the items outside `keep` (indices into `spans`).
fn with_only(doc: &str, spans: &[(usize, usize)], keep: std::ops::Range<usize>) -> Option<String> {
    let mut text = String::with_capacity(doc.len().min(1 << 20));
    let mut from = 0;
    for (i, &(start, end)) in spans.iter().enumerate() {
        if keep.contains(&i) {
            continue;
        }
        text.push_str(doc.get(from..start)?);
        from = end;
    }
    text.push_str(doc.get(from..)?);
    Some(text)
}

/// The `max` newest of `entries` (in document order, tagged with their positions),
/// still in document order.
fn newest(entries: Vec<(usize, Entry)>, max: usize) -> Vec<(usize, Entry)> {
    if entries.len() <= max {
        return entries;
    }
    let wanted = newest_entries(&entries.iter().map(|(_, e)| e).collect::<Vec<_>>(), max);
    let mut wanted = wanted.into_iter().peekable();
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, _)| wanted.next_if_eq(i).is_some())
        .map(|(_, entry)| entry)
        .collect()
}

/// The indices, in document order, of the `max` newest entries: by date (published,
/// else updated; undated ones after dated ones), then by document order.
pub(crate) fn newest_entries(entries: &[&Entry], max: usize) -> Vec<usize> {
    if entries.len() <= max {
        return (0..entries.len()).collect();
    }
    let date = |e: &Entry| e.published.or(e.updated);
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (date(entries[a]), date(entries[b]));
        // Newest first; `None` sorts below every date.
        db.cmp(&da).then(a.cmp(&b))
    });
    order.truncate(max);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn feed_rs(doc: &str) -> Result<Feed, feed_rs::parser::ParseFeedError> {
        feed_rs::parser::Builder::new()
            .build()
            .parse(doc.as_bytes())
    }

    /// Dates in a shuffled order (a fixed permutation), many of them equal, some
    /// missing when `undated_every` says so.
    fn day_of(i: usize) -> u32 {
        u32::try_from((i * 7919 + 13) % 97).unwrap() % 28 + 1
    }

    fn rss(items: usize, undated_every: usize) -> String {
        let mut doc = String::from(
            "<?xml version='1.0'?>\n<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>T</title><link>https://e.com/</link>\n",
        );
        for i in 0..items {
            let date = if undated_every > 0 && i % undated_every == 0 {
                String::new()
            } else if i % 3 == 0 {
                format!("<dc:date>2024-01-{:02}T10:00:00Z</dc:date>", day_of(i))
            } else {
                format!(
                    "<pubDate>{:02} Jan 2024 10:00:00 +0000</pubDate>",
                    day_of(i)
                )
            };
            let _ = writeln!(
                doc,
                "<item><title>t{i}</title><link>https://e.com/{i}</link><guid>g{i}</guid>{date}</item>"
            );
            if i == items / 2 {
                // Channel content between items stays in every slice.
                doc.push_str("<copyright>c</copyright>\n");
            }
        }
        doc.push_str("</channel></rss>\n");
        doc
    }

    fn atom(items: usize, undated_every: usize) -> String {
        let mut doc = String::from(
            "<?xml version='1.0'?>\n<feed xmlns='http://www.w3.org/2005/Atom' xml:base='https://e.com/'><title>T</title><id>urn:t</id>\n",
        );
        for i in 0..items {
            let date = if undated_every > 0 && i % undated_every == 0 {
                String::new()
            } else if i % 2 == 0 {
                format!("<published>2024-01-{:02}T10:00:00Z</published>", day_of(i))
            } else {
                format!("<updated>2024-01-{:02}T10:00:00+01:00</updated>", day_of(i))
            };
            let _ = writeln!(
                doc,
                "<entry><title>t{i}</title><link href='{i}'/><id>g{i}</id>{date}</entry>"
            );
        }
        doc.push_str("</feed>\n");
        doc
    }

    /// What reading the whole document (`feed`) and keeping the newest `max` gives: the
    /// positions and ids of the kept entries, and how many the document has.
    fn whole(feed: &Feed, max: usize) -> (Vec<usize>, Vec<String>, usize) {
        let entries: Vec<&Entry> = feed.entries.iter().collect();
        let kept = newest_entries(&entries, max);
        let ids = kept.iter().map(|&i| feed.entries[i].id.clone()).collect();
        (kept, ids, feed.entries.len())
    }

    fn bounded(doc: &str, max: usize) -> (Vec<usize>, Vec<String>, usize) {
        let read = read_bounded(doc, max, feed_rs).unwrap();
        let ids = read.feed.entries.iter().map(|e| e.id.clone()).collect();
        (read.positions, ids, read.items_in_document)
    }

    #[test]
    fn keeps_the_items_a_whole_read_keeps() {
        for (name, doc) in [
            ("rss, shuffled dates", rss(1_000, 0)),
            ("rss, some undated", rss(1_000, 5)),
            ("rss, none dated", rss(1_000, 1)),
            ("atom, shuffled dates", atom(1_000, 0)),
            ("atom, some undated", atom(1_000, 4)),
            ("atom, none dated", atom(1_000, 1)),
        ] {
            let feed = feed_rs(&doc).unwrap();
            assert_eq!(feed.entries.len(), 1_000, "{name}");
            for max in [1, 30, 150, 999] {
                let expected = whole(&feed, max);
                assert_eq!(bounded(&doc, max), expected, "{name}, max_items {max}");
            }
        }
    }

    #[test]
    fn reads_slices_with_the_channel_around_them() {
        let doc = rss(1_000, 5);
        let read = read_bounded(&doc, 30, feed_rs).unwrap();
        assert_eq!(read.feed.entries.len(), 30);
        assert_eq!(read.items_in_document, 1_000);
        assert_eq!(read.feed.title.map(|t| t.content).as_deref(), Some("T"));
        assert_eq!(read.feed.rights.map(|t| t.content).as_deref(), Some("c"));
    }

    #[test]
    fn counts_item_tags_with_or_without_prefix() {
        let doc = "<rdf:RDF><rss:item/><item>x</item><entry\n/><atom:entry x='1'></atom:entry><items/><itemx/></rdf:RDF>";
        assert!(may_hold_more_than(doc, 3));
        assert!(!may_hold_more_than(doc, 4));
        assert!(!may_hold_more_than("<item", 0));
    }

    #[test]
    fn the_cheap_bound_is_never_below_the_items_the_scan_finds() {
        let docs = [
            "<rdf:RDF><rss:item/><item>x</item><entry\n/><atom:entry x='1'></atom:entry><items/><itemx/></rdf:RDF>".to_owned(),
            "<rss><channel><item><title>an <item> in text</title></item><item/></channel></rss>".to_owned(),
            "<feed><x<y:entry>a</x<y:entry><a:b:entry/><entry><![CDATA[<item>]]></entry></feed>".to_owned(),
            rss(1_000, 5),
            atom(20, 0),
        ];
        for doc in &docs {
            let scanned = parse_scan::scan_items(doc).map_or(0, |items| items.len());
            assert!(item_name_bound(doc) >= scanned, "{doc}");
        }
        // At the bound or below, a document is read whole without a scan.
        let doc = rss(30, 0);
        assert_eq!(item_name_bound(&doc), 30);
        assert_eq!(item_spans(&doc, 30), None);
        assert_eq!(item_spans(&doc, 29).map(|s| s.len()), Some(30));
    }

    #[test]
    fn reads_small_documents_whole() {
        let doc = atom(20, 0);
        let read = read_bounded(&doc, 30, feed_rs).unwrap();
        assert_eq!(read.positions, (0..20).collect::<Vec<_>>());
        assert_eq!(read.items_in_document, 20);
    }

    #[test]
    fn a_broken_document_fails_as_a_whole_read_does() {
        let mut doc = rss(200, 0);
        doc.truncate(doc.len() / 2);
        doc.push_str("<item><title>x</wrong></item></channel></rss>");
        let whole = feed_rs(&doc).err().map(|e| e.to_string());
        let bounded = read_bounded(&doc, 30, feed_rs).err().map(|e| e.to_string());
        assert!(whole.is_some());
        assert_eq!(bounded, whole);
    }
}
