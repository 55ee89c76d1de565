//! Documents of every dialect feedparser reads, and the link rules, on hand-written
//! fixtures (tests/fixtures/dialects/): each must yield its items with the right links.

use feed2threads::feed::item::ParsedFeed;
use feed2threads::feed::parse::parse_feed;
use std::path::Path;
use url::Url;

/// Where the fixtures pretend to have been fetched from.
const FETCHED_FROM: &str = "https://fetch.example/feeds/latest";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dialects")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(body: &[u8]) -> ParsedFeed {
    let base = Url::parse(FETCHED_FROM).unwrap();
    parse_feed(body, None, &base).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// (title, link) of every item.
fn items(feed: &ParsedFeed) -> Vec<(String, Option<String>)> {
    feed.items
        .iter()
        .map(|i| {
            (
                i.title.clone().unwrap_or_default(),
                i.link.as_ref().map(|l| l.to_string()),
            )
        })
        .collect()
}

fn pairs(want: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    want.iter()
        .map(|(t, l)| (t.to_string(), l.map(str::to_owned)))
        .collect()
}

#[test]
fn rss_090_is_read() {
    let feed = parse(&fixture("rss090.rdf"));
    assert_eq!(feed.title.as_deref(), Some("Harbour Gazette"));
    assert_eq!(
        items(&feed),
        pairs(&[
            (
                "Ferry timetable changes on Monday",
                Some("https://harbour.example/news/ferry-timetable")
            ),
            (
                "Lighthouse reopens after repairs",
                Some("https://harbour.example/news/lighthouse")
            ),
        ])
    );
}

#[test]
fn an_atom_feed_inside_an_xhtml_page_is_read() {
    let feed = parse(&fixture("atom-in-xhtml.xhtml"));
    assert_eq!(feed.title.as_deref(), Some("Valley Courier"));
    assert_eq!(
        items(&feed),
        pairs(&[
            (
                "Bridge closed for inspection",
                Some("https://courier.example/2026/11/bridge")
            ),
            // Relative: against the feed's rel="self" address, not the fetch address.
            (
                "Market moves to the square",
                Some("https://courier.example/2026/11/market")
            ),
        ])
    );
    // A page without a feed is still refused, with the reason.
    let page = b"<!DOCTYPE html><html><body><p>No feed here</p></body></html>";
    let err = parse_feed(page, None, &Url::parse(FETCHED_FROM).unwrap()).unwrap_err();
    assert_eq!(err.class(), "not_a_feed");
    assert!(err.to_string().contains("HTML page"), "{err}");
}

#[test]
fn a_podcast_feed_gives_its_episodes_with_their_permalink_guids() {
    let feed = parse(&fixture("podcast.xml"));
    assert_eq!(
        items(&feed),
        pairs(&[
            (
                "Episode 42: Harbour strike",
                Some("https://radio.example/night-shift/42")
            ),
            (
                "Episode 41: The lighthouse keeper",
                Some("https://radio.example/night-shift/41")
            ),
        ])
    );
    assert!(feed.items.iter().all(|i| i.published.is_some()));
}

#[test]
fn whitespace_or_a_bom_before_the_declaration_is_no_obstacle() {
    let body = fixture("podcast.xml");
    let bom = [0xEF, 0xBB, 0xBF];
    let prefixes: Vec<(&str, Vec<u8>)> = vec![
        ("BOM", bom.to_vec()),
        ("blank lines", b"\r\n\n  \t".to_vec()),
        ("BOM then blank lines", [&bom[..], b"\n\n "].concat()),
        ("blank lines then BOM", [&b"\n "[..], &bom[..]].concat()),
        ("two BOMs", [bom, bom].concat()),
    ];
    for (name, prefix) in prefixes {
        let feed = parse(&[prefix, body.clone()].concat());
        assert_eq!(feed.items.len(), 2, "{name}");
    }
    // The same in UTF-16 with its BOM and a blank line first.
    let text = format!("\n{}", String::from_utf8(body).unwrap());
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(parse(&utf16).items.len(), 2, "UTF-16");
}

#[test]
fn a_guid_is_the_link_only_when_it_is_a_permalink_url() {
    let feed = parse(&fixture("guids.xml"));
    let links: Vec<Option<String>> = items(&feed).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        links,
        [
            Some("https://guids.example/stories/1".to_owned()),
            None,
            None,
            Some("https://guids.example/stories/4".to_owned()),
        ]
    );
}

#[test]
fn an_empty_href_never_becomes_the_feeds_own_address() {
    let feed = parse(&fixture("wp-empty-href.atom"));
    assert_eq!(
        items(&feed),
        pairs(&[
            // No link at all: not …/wp-atom.php, the base the empty href resolves to.
            ("Notes from the marsh", None),
            // A blank href: the permalink id instead.
            ("A walk to the dunes", Some("https://blog.example/?p=812")),
            (
                "The tide tables",
                Some("https://blog.example/2026/11/tides/")
            ),
        ])
    );
}

#[test]
fn link_rules() {
    let feed = parse(&fixture("link-rules.xml"));
    assert_eq!(
        items(&feed),
        pairs(&[
            ("Script", None),
            ("Mail", None),
            ("Data", None),
            ("Blank", None),
            ("The feed itself", None),
            (
                "Relative to the self address",
                Some("https://feeds.links.example/news/stories/6")
            ),
            (
                "Root-relative",
                Some("https://feeds.links.example/stories/7")
            ),
            (
                "Relative to the item's xml:base",
                Some("https://archive.links.example/2026/stories/8")
            ),
        ])
    );
}
