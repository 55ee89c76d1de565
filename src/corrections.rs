//! Corrections (`on_update = "reply"`, issue 13): when a story that was published is seen
//! again with a headline that changed materially, reply to its post with the new headline,
//! once per change.
//!
//! Owns: what a material change is ([`material_change`]: not whitespace, case,
//! punctuation, or typographic quotes and dashes), the reply's wording ([`reply_text`],
//! "Update: NEW HEADLINE" within every limit of a post), and the decision per story
//! ([`correct`]): a reply only when the story's post is published; a post still queued
//! (or held, failed, dropped…) gets nothing and nothing is recorded, so the headline the
//! post went out with stays the one a later change is measured against.
//!
//! The poll calls it after its own writes are committed: [`sightings`] before the parsed
//! document is dropped, [`correct`] after the ingest's commit. Must not: touch the
//! ingest's transaction or the seen set, publish, or write SQL (the store's
//! `corrections` module does).

use crate::compose::{
    Cut, ELLIPSIS, MAX_LINKS, MAX_TEXT_BYTES, PostText, html_to_line, limit_links, truncate,
};
use crate::config::FeedSettings;
use crate::fate::{Fate, ItemFate};
use crate::feed::item::{Item, identify};
use crate::store::corrections::{NewCorrection, Queued, Tracked};
use crate::store::{OutboxState, Store, StoreError};
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

/// What a feed does when a published story's headline changes (`on_update`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnUpdate {
    /// Nothing (the default, as before corrections existed).
    #[default]
    Ignore,
    /// Reply to the story's post with the new headline.
    Reply,
}

impl OnUpdate {
    pub fn parse(text: &str) -> Option<OnUpdate> {
        match text.trim() {
            "ignore" => Some(OnUpdate::Ignore),
            "reply" => Some(OnUpdate::Reply),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnUpdate::Ignore => "ignore",
            OnUpdate::Reply => "reply",
        }
    }
}

/// What a correction reply starts with.
pub const REPLY_PREFIX: &str = "Update: ";

/// One item of a polled document, as corrections need it: its per-feed key and its
/// headline as a plain line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub key: String,
    pub title: String,
}

/// A story whose headline changed materially, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The story's post (an outbox id).
    pub post: i64,
    pub from: String,
    pub to: String,
    pub outcome: Outcome,
}

/// What a material change led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The reply is queued (its outbox id).
    Queued { reply: i64 },
    /// A dry run: it would be.
    WouldReply,
    /// The story's post is not published (`state`): no reply, nothing recorded.
    NotPublished { state: OutboxState },
    /// This change's reply was queued before.
    Already,
    /// The new headline cannot make a post (see the reason); nothing recorded.
    Unusable { reason: String },
    /// Most of the feed's published stories changed headline at once (`why`): no reply,
    /// and the new headline is recorded as the story's.
    FormatChange { why: String },
}

impl Correction {
    /// The change as a dry run shows it.
    pub fn fate(&self) -> ItemFate {
        let no_reply = match &self.outcome {
            Outcome::Queued { .. } | Outcome::WouldReply => None,
            Outcome::NotPublished { state } => Some(format!(
                "its post {} is {state}, not published; the headline it goes out with is the one \
                 a later change is measured against",
                self.post
            )),
            Outcome::Already => Some("this change was replied to already".to_string()),
            Outcome::Unusable { reason } => Some(reason.clone()),
            Outcome::FormatChange { why } => Some(why.clone()),
        };
        ItemFate {
            title: self.to.clone(),
            fate: Fate::Updated {
                from: self.from.clone(),
                to: self.to.clone(),
                no_reply,
            },
        }
    }
}

/// The items of a document worth watching: none unless the feed says
/// `on_update = "reply"`, and only those with a headline.
pub fn sightings(feed: &FeedSettings, items: &[Item]) -> Vec<Sighting> {
    if feed.on_update != OnUpdate::Reply {
        return Vec::new();
    }
    items
        .iter()
        .zip(identify(items))
        .filter_map(|(item, id)| {
            let title = html_to_line(item.title.as_deref()?);
            (!title.is_empty()).then_some(Sighting { key: id.key, title })
        })
        .collect()
}

/// Compare each sighting with the headline its story's post is known by, and queue a
/// reply for each material change of a published post (a dry run queues nothing).
/// Returns the material changes, with what became of each.
pub async fn correct(
    store: &Store,
    feed: &FeedSettings,
    feed_id: i64,
    sightings: &[Sighting],
    dry_run: bool,
    now: i64,
) -> Result<Vec<Correction>, StoreError> {
    if sightings.is_empty() {
        return Ok(Vec::new());
    }
    let titles: HashMap<&str, &str> = sightings
        .iter()
        .map(|s| (s.key.as_str(), s.title.as_str()))
        .collect();
    let keys: Vec<&str> = titles.keys().copied().collect();
    let tracked = store.tracked_stories(feed_id, &keys).await?;
    let changes: Vec<Change> = tracked
        .iter()
        .filter_map(|story| Change::of(story, titles.get(story.key.as_str())?))
        .collect();
    let published = |s: &Tracked| s.state == OutboxState::Published;
    let format = FormatChange {
        changed: changes.iter().filter(|c| published(c.story)).count(),
        published: tracked.iter().filter(|s| published(s)).count(),
    };
    if format.is_format_change() {
        return format.absorb(store, feed, changes, dry_run, now).await;
    }
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let outcome = change.act(store, &feed.account, dry_run, now).await?;
        out.push(change.into_correction(outcome));
    }
    Ok(out)
}

/// How many of the published stories a document lists changed headline in one poll.
/// Most of them at once is the site changing its headline format (a suffix with its
/// name, a new style), not news: replying would flood the account with one "Update"
/// per story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FormatChange {
    changed: usize,
    published: usize,
}

impl FormatChange {
    /// At least this many published stories must change at once to look like a format
    /// change (two related stories updated together are news).
    const AT_LEAST: usize = 3;

    /// More than half of the published stories, and at least [`Self::AT_LEAST`].
    fn is_format_change(self) -> bool {
        self.changed >= Self::AT_LEAST && self.changed * 2 > self.published
    }

    /// No replies: the new headlines become the ones later changes are measured against
    /// (a dry run records nothing), and a warning names the feed.
    async fn absorb(
        self,
        store: &Store,
        feed: &FeedSettings,
        changes: Vec<Change<'_>>,
        dry_run: bool,
        now: i64,
    ) -> Result<Vec<Correction>, StoreError> {
        let FormatChange { changed, published } = self;
        tracing::warn!(
            changed,
            published,
            "{changed} of the {published} published stories of feed {} changed headline in one poll: \
             taken for a change of the site's headline format, not news; no corrections, and \
             the new headlines are the ones later changes are measured against",
            feed.name
        );
        let why = format!(
            "{changed} of the {published} published stories changed headline in one poll, \
             which looks like a change of the site's headline format, not news"
        );
        let mut out = Vec::with_capacity(changes.len());
        let mut rebased = Vec::new();
        for change in changes {
            if change.story.state == OutboxState::Published {
                rebased.push((change.story.post, change.to.clone()));
            }
            let outcome = match change.story.state {
                OutboxState::Published => Outcome::FormatChange { why: why.clone() },
                state => Outcome::NotPublished { state },
            };
            out.push(change.into_correction(outcome));
        }
        if !dry_run {
            store.rebase_headlines(&rebased, now).await?;
        }
        Ok(out)
    }
}

/// One material change of one story's headline.
struct Change<'a> {
    story: &'a Tracked,
    from: String,
    to: String,
}

impl<'a> Change<'a> {
    /// `None` when the headline did not change materially (or the story had none).
    fn of(story: &'a Tracked, new: &str) -> Option<Change<'a>> {
        let from = html_to_line(story.title.as_deref()?);
        material_change(&from, new).then(|| Change {
            story,
            from,
            to: new.to_owned(),
        })
    }

    fn into_correction(self, outcome: Outcome) -> Correction {
        Correction {
            post: self.story.post,
            from: self.from,
            to: self.to,
            outcome,
        }
    }

    async fn act(
        &self,
        store: &Store,
        account: &str,
        dry_run: bool,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let post = self.story.post;
        if self.story.state != OutboxState::Published {
            // Its post still says the headline it was composed with: once it is out, a
            // later poll measures the new headline against that and replies then.
            tracing::debug!(
                post,
                state = %self.story.state,
                "headline changed from {:?} to {:?}; no reply while the post is {}",
                self.from,
                self.to,
                self.story.state
            );
            return Ok(Outcome::NotPublished {
                state: self.story.state,
            });
        }
        let text = match reply_text(&self.to) {
            Ok(text) => text,
            Err(reason) => {
                tracing::warn!(
                    post,
                    "headline changed to {:?}, but {reason}; no reply",
                    self.to
                );
                return Ok(Outcome::Unusable { reason });
            }
        };
        if dry_run {
            return Ok(Outcome::WouldReply);
        }
        let change = NewCorrection {
            post,
            revision: self.story.revision + 1,
            old_title: &self.from,
            new_title: &self.to,
            text: &text,
        };
        Ok(match store.queue_correction(&change, now).await? {
            Queued::Reply { id, superseded } => {
                for _ in 0..superseded {
                    crate::metrics::record_dropped(account, "superseded");
                }
                tracing::info!(
                    post,
                    reply = id,
                    superseded,
                    "headline changed from {:?} to {:?}; reply queued",
                    self.from,
                    self.to
                );
                Outcome::Queued { reply: id }
            }
            Queued::Already => Outcome::Already,
            Queued::NotPublished => Outcome::NotPublished {
                state: self.story.state,
            },
        })
    }
}

/// Whether `new` says something `old` did not: they differ once whitespace, letter case,
/// punctuation and typographic variants (curly quotes, dashes, compatibility forms) are
/// set aside. Punctuation between digits ("3.5", "1,000") and a sign or a currency, per
/// cent or degree symbol are kept: they change what a number says.
pub fn material_change(old: &str, new: &str) -> bool {
    fingerprint(old) != fingerprint(new)
}

/// The words of a headline, lowercased, with what matters of the rest.
fn fingerprint(title: &str) -> Vec<String> {
    let chars: Vec<char> = title.nfkc().flat_map(char::to_lowercase).collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_numeric());
        let keep = c.is_alphanumeric()
            || is_meaningful_symbol(c)
            // "3.5", "1,000", "9:30": the separator is part of the number.
            || (digit(prev) && digit(next) && matches!(c, '.' | ',' | ':' | '/'))
            // "-5", "−5": a sign, not a dash.
            || (matches!(c, '-' | '\u{2212}') && digit(next) && !prev.is_some_and(char::is_alphanumeric));
        if keep {
            word.push(if c == '\u{2212}' { '-' } else { c });
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Symbols that carry meaning in a headline (a price, a share, a temperature).
fn is_meaningful_symbol(c: char) -> bool {
    matches!(
        c,
        '%' | '$' | '£' | '€' | '¥' | '₹' | '₽' | '₩' | '+' | '°' | '&'
    )
}

/// The reply for a new headline: "Update: NEW HEADLINE", its links limited and its text
/// cut at a word with an ellipsis to fit a post; `Err` says why no valid post can be made.
pub fn reply_text(headline: &str) -> Result<PostText, String> {
    let line = html_to_line(headline);
    let line = limit_links(&line, None, &[], MAX_LINKS);
    let room = MAX_TEXT_BYTES - REPLY_PREFIX.len();
    let cut = truncate(&line, room, Cut::Word, ELLIPSIS);
    if cut.trim().is_empty() {
        return Err("the new headline is empty".into());
    }
    PostText::new(format!("{REPLY_PREFIX}{cut}")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (old, new, material?)
    const CASES: &[(&str, &str, bool)] = &[
        // Not material: whitespace, case, punctuation, typography.
        ("Storm hits coast", "Storm hits coast", false),
        ("Storm hits coast", "  Storm   hits\tcoast ", false),
        ("Storm hits coast", "Storm Hits Coast", false),
        ("Storm hits coast", "STORM HITS COAST.", false),
        ("Storm hits coast", "Storm hits coast!", false),
        ("Minister's plan", "Minister’s plan", false),
        (
            "\"Never again\", says mayor",
            "“Never again,” says mayor",
            false,
        ),
        ("Talks - day two", "Talks — day two", false),
        ("Talks - day two", "Talks – day two", false),
        ("Talks: day two", "Talks; day two", false),
        ("Storm hits coast", "Storm hits coast &amp;", true),
        ("Cafe reopens", "Cafe reopens…", false),
        ("Ｔｏｋｙｏ votes", "Tokyo votes", false),
        ("Well-known actor dies", "Well known actor dies", false),
        ("<b>Storm</b> hits coast", "Storm hits coast", false),
        ("Storm hits coast", "Storm hits coast &#8212;", false),
        // Material: words, numbers, signs, money.
        ("Storm hits coast", "Storm misses coast", true),
        ("Storm hits coast", "Storm hits coast, 3 dead", true),
        ("3 dead in storm", "4 dead in storm", true),
        ("Rates rise 3.5%", "Rates rise 35%", true),
        ("Rates rise 3.5%", "Rates rise 3.5", true),
        (
            "Temperatures fall to 5°C",
            "Temperatures fall to -5°C",
            true,
        ),
        ("Deal worth $5m", "Deal worth £5m", true),
        ("Storm hits coast", "", true),
        ("Münster wins", "Munster wins", true),
        ("東京で地震", "大阪で地震", true),
    ];

    #[test]
    fn what_a_material_change_is() {
        for (old, new, material) in CASES {
            // Titles reach the check as plain lines, as the poll gives them.
            let (old, new) = (html_to_line(old), html_to_line(new));
            assert_eq!(
                material_change(&old, &new),
                *material,
                "{old:?} → {new:?}: fingerprints {:?} / {:?}",
                fingerprint(&old),
                fingerprint(&new)
            );
        }
    }

    #[test]
    fn most_published_stories_changing_at_once_is_a_format_change() {
        let of = |changed, published| FormatChange { changed, published }.is_format_change();
        assert!(!of(1, 1), "one story's update is news");
        assert!(!of(2, 2), "two related stories updated together are news");
        assert!(of(3, 3));
        assert!(of(3, 5));
        assert!(!of(3, 6), "half is not most");
        assert!(of(20, 25));
        assert!(!of(0, 0));
    }

    #[test]
    fn the_reply_names_the_new_headline() {
        let text = reply_text("Storm misses the coast").unwrap();
        assert_eq!(text.as_str(), "Update: Storm misses the coast");
        let text = reply_text("Fish &amp; chips <em>shop</em> closes").unwrap();
        assert_eq!(text.as_str(), "Update: Fish & chips shop closes");
    }

    #[test]
    fn a_long_headline_is_cut_at_a_word_within_the_limits() {
        let long = "word ".repeat(200);
        let text = reply_text(&long).unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
        assert!(text.starts_with(REPLY_PREFIX));
        assert!(text.ends_with("word…"), "{text}");
        // Emoji count by their bytes and are never split.
        let emoji = "🌊".repeat(200);
        let text = reply_text(&emoji).unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn a_headline_full_of_links_keeps_at_most_five() {
        let links: Vec<String> = (0..8).map(|i| format!("https://x{i}.example/")).collect();
        let text = reply_text(&links.join(" ")).unwrap();
        assert!(
            crate::compose::count_links(&text, None) <= MAX_LINKS,
            "{text}"
        );
    }

    #[test]
    fn an_empty_headline_makes_no_reply() {
        assert!(reply_text("  <br/> ").is_err());
    }

    #[test]
    fn on_update_reads_its_values() {
        assert_eq!(OnUpdate::parse("reply"), Some(OnUpdate::Reply));
        assert_eq!(OnUpdate::parse("ignore"), Some(OnUpdate::Ignore));
        assert_eq!(OnUpdate::parse("correct"), None);
        assert_eq!(OnUpdate::default(), OnUpdate::Ignore);
    }
}
