//! How an item is recognised: one per-feed key and account-wide alias keys.
//!
//! Owns the rule that decides when two items are one story (the README's "Once"
//! paragraph says it for users):
//!
//! - The per-feed key is the guid when the document has it once; else, for an item
//!   with a link, the canonical link (`#2` for the second item of a pair); else a sha256
//!   of title, content and summary (`#n` for identical copies). An item without guid
//!   keeps its link as key when a late title changes its content.
//! - The aliases are account-wide: the canonical link, and the guid (its canonical form
//!   when it is an http(s) URL). An item is a new story only if none of its keys was
//!   seen by the account, earlier in this document or before.
//! - Two items of one document with the same canonical link are one story; a link that
//!   three or more items of a document share names a listing page, and a bare home page
//!   names no story: such links identify nothing. A guid two items share identifies
//!   neither; a plain guid (`123`) is too weak to be account-wide.
//!
//! Stores written before fragments counted hold keys with every fragment dropped and
//! without the pair rule; `ItemIdentity::legacy` carries an item's keys under those
//! rules where they differ, so the store can match them (only against rows it held
//! before the upgrade). No I/O.

use super::canonical::canonical_url;
use super::item::Item;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use url::Url;

/// How an item is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIdentity {
    /// Unique within one feed document and stable across polls.
    pub key: String,
    /// Account-wide keys; an item is new only if none of `key`/`aliases` was seen.
    pub aliases: Vec<String>,
    /// The item's keys under the rules of releases before story fragments counted, where
    /// they differ from `key` and `aliases`.
    pub legacy: LegacyKeys,
}

/// Keys an earlier release gave an item; empty when they are today's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyKeys {
    pub key: Option<String>,
    pub aliases: Vec<String>,
}

/// Guids longer than this are stored as a hash: some feeds put whole articles in them.
const MAX_GUID_KEY_LEN: usize = 512;

/// The most items of one document a link may name and still identify a story: a story
/// listed twice (a sponsor post and a linked-list post, a CMS repeating an entry) has
/// two; a link three or more items share is a listing page.
const MAX_ITEMS_PER_STORY: usize = 2;

/// Which identity rules to apply: today's, or those of earlier releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    Current,
    /// Every fragment dropped; a link shared by two items identified neither, and a home
    /// page was a link like any other.
    Legacy,
}

impl Rules {
    fn max_items_per_link(self) -> usize {
        match self {
            Rules::Current => MAX_ITEMS_PER_STORY,
            Rules::Legacy => 1,
        }
    }
}

/// One item's raw identity parts, canonicalised once.
struct Parts<'a> {
    guid: Option<&'a str>,
    /// Canonical link; `None` without one (and, under today's rules, for a home page).
    link: Option<String>,
    /// The guid's alias (`url:…` or `guid:…`), when strong enough to be one.
    guid_alias: Option<String>,
}

/// Identity of every item of one document, in order.
pub fn identify(items: &[Item]) -> Vec<ItemIdentity> {
    let current: Vec<Parts<'_>> = items.iter().map(parts).collect();
    let ids = identify_with(items, &current, Rules::Current);
    if !legacy_may_differ(items, &current) {
        return ids
            .into_iter()
            .map(|(key, aliases)| ItemIdentity {
                key,
                aliases,
                legacy: LegacyKeys::default(),
            })
            .collect();
    }
    let old: Vec<Parts<'_>> = items.iter().map(legacy_parts).collect();
    let legacy = identify_with(items, &old, Rules::Legacy);
    ids.into_iter()
        .zip(legacy)
        .map(|((key, aliases), (old_key, old_aliases))| {
            let legacy = LegacyKeys {
                key: (old_key != key).then_some(old_key),
                aliases: old_aliases
                    .into_iter()
                    .filter(|a| !aliases.contains(a))
                    .collect(),
            };
            ItemIdentity {
                key,
                aliases,
                legacy,
            }
        })
        .collect()
}

fn parts(item: &Item) -> Parts<'_> {
    let guid = non_empty(item.guid.as_deref());
    Parts {
        guid,
        link: item
            .link
            .as_ref()
            .map(canonical_url)
            .filter(|l| !is_home_page(l)),
        guid_alias: guid.and_then(guid_alias),
    }
}

/// The parts as earlier releases computed them: fragments dropped, home pages kept.
fn legacy_parts(item: &Item) -> Parts<'_> {
    let guid = non_empty(item.guid.as_deref());
    Parts {
        guid,
        link: item
            .link
            .as_ref()
            .map(|l| without_fragment(&canonical_url(l)).to_owned()),
        guid_alias: guid
            .and_then(guid_alias)
            .map(|a| without_fragment(&a).to_owned()),
    }
}

fn without_fragment(canonical: &str) -> &str {
    canonical
        .split_once('#')
        .map_or(canonical, |(before, _)| before)
}

/// A canonical link that is a site's front page: it lists stories, it is none.
fn is_home_page(canonical: &str) -> bool {
    !canonical.contains(['/', '?', '#'])
}

/// Whether earlier releases could have keyed these items differently: only through a
/// fragment, a link two items share, or a home page (now no identity).
fn legacy_may_differ(items: &[Item], parts: &[Parts<'_>]) -> bool {
    let with_link = parts.iter().filter(|p| p.link.is_some()).count();
    let distinct_links = count(parts.iter().filter_map(|p| p.link.as_deref())).len();
    with_link != distinct_links
        || items
            .iter()
            .zip(parts)
            .any(|(item, p)| item.link.is_some() && p.link.is_none())
        || parts.iter().any(|p| {
            p.link.as_deref().is_some_and(|l| l.contains('#'))
                || p.guid_alias.as_deref().is_some_and(|a| a.contains('#'))
        })
}

fn identify_with(items: &[Item], parts: &[Parts<'_>], rules: Rules) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<Option<String>> = vec![None; items.len()];

    // 1. guid, when it is unique in the document.
    let guid_counts = count(parts.iter().filter_map(|p| p.guid));
    for (key, p) in keys.iter_mut().zip(parts) {
        if let Some(g) = p.guid
            && guid_counts.get(g) == Some(&1)
        {
            *key = Some(guid_key(g));
        }
    }

    // 2. canonical link, when no more items without a key than a story may have share
    // it; the second of a pair is told apart by its rank.
    let link_counts = count(
        keys.iter()
            .zip(parts)
            .filter(|(k, _)| k.is_none())
            .filter_map(|(_, p)| p.link.as_deref()),
    );
    let mut ranks: HashMap<&str, usize> = HashMap::new();
    for (key, p) in keys.iter_mut().zip(parts) {
        if key.is_none()
            && let Some(l) = p.link.as_deref()
            && link_counts
                .get(l)
                .is_some_and(|n| *n <= rules.max_items_per_link())
        {
            let rank = ranks.entry(l).or_insert(0);
            *rank += 1;
            *key = Some(if *rank == 1 {
                format!("link:{l}")
            } else {
                format!("link:{l}#{rank}")
            });
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

    let aliases: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            let mut a: Vec<String> = Vec::with_capacity(2);
            if let Some(l) = &p.link {
                a.push(format!("url:{l}"));
            }
            if let Some(g) = &p.guid_alias
                && !a.contains(g)
            {
                a.push(g.clone());
            }
            a
        })
        .collect();
    let alias_counts = count(aliases.iter().flatten().map(String::as_str));
    let identifies = |alias: &str| {
        let n = alias_counts.get(alias).copied().unwrap_or(0);
        // A repeated guid is garbage; a repeated link may be one story listed twice.
        let max = if alias.starts_with("url:") {
            rules.max_items_per_link()
        } else {
            1
        };
        n <= max
    };

    keys.into_iter()
        .zip(&aliases)
        .map(|(key, aliases)| {
            let aliases = aliases.iter().filter(|a| identifies(a)).cloned().collect();
            (key.unwrap_or_default(), aliases)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::canonical::canonical_url;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
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

    #[test]
    fn two_items_with_one_link_are_one_story() {
        let ids = identify(&[
            item(
                Some("sponsor-991"),
                Some("https://e.com/story?utm_source=rss"),
                "Sponsor",
            ),
            item(Some("linked-17"), Some("https://www.e.com/story"), "Linked"),
        ]);
        // Both carry the link's alias: the store takes the second for a duplicate and
        // remembers both guids.
        assert_eq!(ids[0].aliases, ["url:e.com/story"]);
        assert_eq!(ids[1].aliases, ["url:e.com/story"]);
        assert_eq!(ids[0].key, "guid:sponsor-991");
        assert_eq!(ids[1].key, "guid:linked-17");
        // Without guids: the link is the key, the second of the pair ranked.
        let ids = identify(&[
            item(None, Some("https://e.com/story"), "A"),
            item(None, Some("https://e.com/story"), "B"),
        ]);
        assert_eq!(ids[0].key, "link:e.com/story");
        assert_eq!(ids[1].key, "link:e.com/story#2");
    }

    #[test]
    fn a_listing_page_or_a_home_page_names_no_story() {
        let listing: Vec<Item> = ["A", "B", "C"]
            .iter()
            .map(|t| item(None, Some("https://e.com/deals"), t))
            .collect();
        for id in identify(&listing) {
            assert!(id.key.starts_with("hash:"), "{id:?}");
            assert!(id.aliases.is_empty(), "{id:?}");
        }
        let home = identify(&[item(Some("x-1"), Some("https://www.e.com/"), "A")]);
        assert!(home[0].aliases.is_empty(), "{home:?}");
    }

    #[test]
    fn a_late_title_does_not_change_the_key_of_an_item_with_a_link() {
        let before = identify(&[item(None, Some("https://e.com/1"), "")]);
        let after = identify(&[item(None, Some("https://e.com/1"), "Now with a title")]);
        assert_eq!(before[0].key, after[0].key);
        assert_eq!(before[0].key, "link:e.com/1");
    }

    #[test]
    fn stories_on_one_page_are_told_apart_by_fragment() {
        let ids = identify(&[
            item(None, Some("https://e.com/2017/06/21.html#a060647"), "One"),
            item(None, Some("https://e.com/2017/06/21.html#a060648"), "Two"),
            item(Some("g-3"), Some("https://e.com/x#comments"), "Three"),
        ]);
        assert_eq!(ids[0].key, "link:e.com/2017/06/21.html#a060647");
        assert_eq!(ids[1].aliases, ["url:e.com/2017/06/21.html#a060648"]);
        assert_eq!(ids[2].aliases, ["url:e.com/x"]);
        // Earlier releases dropped the fragment: two items shared one link, so both were
        // keyed by their content hash and had no link alias.
        assert_eq!(
            ids[0].legacy.key.as_deref(),
            Some(format!("hash:{}", content_hash(&item(None, None, "One"))).as_str())
        );
        assert!(ids[0].legacy.aliases.is_empty());
        // Nothing differs for an item with no fragment to keep.
        assert_eq!(ids[2].legacy, LegacyKeys::default());
        // One item alone on its page: its old key is the link without the fragment.
        let alone = identify(&[item(None, Some("https://e.com/p#a1"), "One")]);
        assert_eq!(alone[0].legacy.key.as_deref(), Some("link:e.com/p"));
        assert_eq!(alone[0].legacy.aliases, ["url:e.com/p"]);
    }
}
