//! What became of each item a poll or a preview looked at, and why, in words a person
//! reads: post, held by the flood guard, waiting for review, or skipped (backlog policy, older than `max_age`
//! with its date, filtered by which pattern of which key, duplicate of which feed's item,
//! not composable; for an item seen before, a changed headline and its reply); and the
//! one-line summary of a feed ("BBC World: 64 items, 0 to post:
//! 61 backlog, 3 older than 2d").
//!
//! The decisions are the poll's (`poll`) and the preview's; this module only names them.
//! Must not: decide anything, or touch the store.

use crate::config::{Backlog, format_duration};
use crate::poll::IngestCounts;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

/// Where an item the account had already seen came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The feed that brought it first.
    pub feed: String,
    pub title: Option<String>,
    /// Its identity key in that feed.
    pub key: String,
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Queued (a dry run: would be).
    Post,
    /// Held by the flood guard until `release`: the poll brought `new` items to post,
    /// more than `limit`.
    Held { new: usize, limit: usize },
    /// The feed's earlier posts are held: the item is recorded without a post, and
    /// composed at the first poll after `release` if the feed still lists it.
    HeldBehind,
    /// Composed, and waiting for an editor (the feed says `review = true`).
    Review,
    /// Present at the feed's first poll and left out by its backlog policy.
    Backlog(Backlog),
    /// Dated before `now - max_age`.
    TooOld {
        date: DateTime<Utc>,
        max_age: Duration,
    },
    /// An include or exclude pattern said no; `reason` names the pattern and its key.
    Filtered { reason: String },
    /// The account has it already: from `of` when the store could say.
    Duplicate { of: Option<Original> },
    /// It cannot become a valid post.
    Invalid { error: String },
    /// Seen before, and its headline changed materially since its post was composed
    /// (`on_update = "reply"`): a reply with the new headline, or `no_reply` says why not.
    Updated {
        from: String,
        to: String,
        no_reply: Option<String>,
    },
}

impl Fate {
    /// Whether the item becomes a post now.
    pub fn posts(&self) -> bool {
        matches!(self, Fate::Post)
    }

    /// The fate as a person reads it: "post", or "skip: …" / "held: …" with the reason.
    pub fn describe(&self) -> String {
        match self {
            Fate::Post => "post".into(),
            Fate::Held { new, limit } => format!(
                "held by the flood guard ({new} new items in one poll, flood_limit {limit}); \
                 `feed2threads release FEED` publishes them"
            ),
            Fate::HeldBehind => {
                "held: the feed's earlier posts wait for `feed2threads release FEED`; \
                 composed at the first poll after the release"
                    .into()
            }
            Fate::Review => "waits for review (review = true); `feed2threads queue approve ID` \
                 queues it"
                .into(),
            Fate::Backlog(policy) => format!(
                "skip: backlog at the feed's first poll (backlog = \"{policy}\"{})",
                match policy {
                    Backlog::Latest(n) => format!(" keeps the {n} newest"),
                    Backlog::Skip => " posts none of them".into(),
                    Backlog::All => String::new(),
                }
            ),
            Fate::TooOld { date, max_age } => format!(
                "skip: older than {} (published {})",
                format_duration(*max_age),
                date.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Fate::Filtered { reason } => format!("skip: filtered: {reason}"),
            Fate::Duplicate { of: Some(of) } => format!(
                "skip: duplicate of {} in feed {} ({})",
                of.title
                    .as_deref()
                    .map_or_else(|| "an item".to_string(), |t| format!("{t:?}")),
                of.feed,
                of.key
            ),
            Fate::Duplicate { of: None } => {
                "skip: duplicate of an item the account has already seen".into()
            }
            Fate::Invalid { error } => format!("skip: cannot become a post: {error}"),
            Fate::Updated { from, to, no_reply } => match no_reply {
                None => format!("would reply: title changed from {from:?} to {to:?}"),
                Some(why) => format!("no reply: title changed from {from:?} to {to:?}, but {why}"),
            },
        }
    }
}

/// One item and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFate {
    /// The item's title as the feed gives it ("(untitled)" when it has none).
    pub title: String,
    pub fate: Fate,
}

/// What a feed's summary line counts, whatever produced it (a poll or a preview).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub items: usize,
    pub to_post: usize,
    pub held: usize,
    /// Composed and waiting for an editor.
    pub review: usize,
    pub backlog: usize,
    pub too_old: usize,
    pub filtered: usize,
    pub duplicates: usize,
    pub invalid: usize,
    /// Seen in an earlier poll of the feed: nothing new to decide.
    pub seen_before: usize,
}

impl Tally {
    /// A poll's counts.
    pub fn of_poll(c: &IngestCounts) -> Tally {
        Tally {
            items: c.items,
            to_post: c.queued,
            held: c.held,
            review: c.review,
            backlog: c.backlog,
            too_old: c.too_old,
            filtered: c.filtered,
            duplicates: c.duplicates,
            invalid: c.invalid,
            seen_before: c.items.saturating_sub(c.new + c.duplicates),
        }
    }

    /// Counts the fates of a preview (which reads no store: nothing is seen before).
    pub fn of_fates(fates: &[ItemFate]) -> Tally {
        let mut t = Tally {
            items: fates.len(),
            ..Tally::default()
        };
        for f in fates {
            match f.fate {
                Fate::Post => t.to_post += 1,
                Fate::Held { .. } | Fate::HeldBehind => t.held += 1,
                Fate::Review => t.review += 1,
                Fate::Backlog(_) => t.backlog += 1,
                Fate::TooOld { .. } => t.too_old += 1,
                Fate::Filtered { .. } => t.filtered += 1,
                Fate::Duplicate { .. } => t.duplicates += 1,
                Fate::Invalid { .. } => t.invalid += 1,
                Fate::Updated { .. } => t.seen_before += 1,
            }
        }
        t
    }

    /// "BBC World: 64 items, 0 to post: 61 backlog, 3 older than 2d".
    pub fn line(&self, feed: &str, max_age: Option<Duration>) -> String {
        let older = max_age.map_or_else(
            || "too old".to_string(),
            |m| format!("older than {}", format_duration(m)),
        );
        let parts: Vec<String> = [
            (self.held, "held by the flood guard".to_string()),
            (self.review, "waiting for review".into()),
            (self.backlog, "backlog".into()),
            (self.too_old, older),
            (self.filtered, "filtered".into()),
            (
                self.duplicates,
                if self.duplicates == 1 {
                    "duplicate"
                } else {
                    "duplicates"
                }
                .into(),
            ),
            (self.invalid, "not composable".into()),
            (self.seen_before, "seen before".into()),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let items = if self.items == 1 { "item" } else { "items" };
        let mut line = format!("{feed}: {} {items}, {} to post", self.items, self.to_post);
        if !parts.is_empty() {
            line.push_str(": ");
            line.push_str(&parts.join(", "));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_reason_with_its_count() {
        let t = Tally {
            items: 64,
            backlog: 61,
            too_old: 3,
            ..Tally::default()
        };
        let two_days = Some(Duration::from_secs(2 * 86_400));
        assert_eq!(
            t.line("BBC World", two_days),
            "BBC World: 64 items, 0 to post: 61 backlog, 3 older than 2d"
        );
        let t = Tally {
            items: 1,
            to_post: 1,
            ..Tally::default()
        };
        assert_eq!(t.line("x", None), "x: 1 item, 1 to post");
    }

    #[test]
    fn each_fate_says_why() {
        let date = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let old = Fate::TooOld {
            date,
            max_age: Duration::from_secs(2 * 86_400),
        };
        assert_eq!(
            old.describe(),
            "skip: older than 2d (published 2023-11-14T22:13:20Z)"
        );
        let dup = Fate::Duplicate {
            of: Some(Original {
                feed: "front".into(),
                title: Some("Storm".into()),
                key: "guid:1".into(),
            }),
        };
        assert_eq!(
            dup.describe(),
            "skip: duplicate of \"Storm\" in feed front (guid:1)"
        );
        let updated = Fate::Updated {
            from: "Storm hits coast".into(),
            to: "Storm misses coast".into(),
            no_reply: None,
        };
        assert_eq!(
            updated.describe(),
            "would reply: title changed from \"Storm hits coast\" to \"Storm misses coast\""
        );
        assert!(
            Fate::Backlog(Backlog::Latest(3))
                .describe()
                .contains("latest:3\" keeps the 3 newest")
        );
    }
}
