//! What one parsed document does to the store: recognition, the policies, composing and
//! recording, in one transaction.
//!
//! Owns the decision for each item of a document: known, a duplicate of a story the
//! account has, or new; and for a new one: backlog (first poll), too old, filtered,
//! invalid, queued, or held by the flood guard. Once a feed is flood-held (some of its
//! posts wait for `release`), its new items are recorded as held without being composed,
//! so a feed that invents thousands of items a poll costs a row each, not a post each;
//! after `release`, those still in the feed are composed at its next poll. It does no
//! I/O but the store's.
//!
//! An item seen again (same feed, same key) is `Recognised::Known` and left alone: see
//! the comment on that arm in `Ingest::run` for where work on it belongs.

use super::{Entered, Explained, IngestCounts, PollError, max_age_cutoff};
use crate::compose::{FeedContext, FilterDecision, Post};
use crate::config::{Backlog, FeedSettings};
use crate::fate::{Fate, ItemFate};
use crate::feed::item::{Item, identify};
use crate::store::items::{FeedSuccess, IngestTx};
use crate::store::{Entry, FeedRow, IngestItem, ItemDisposition, PendingCommit, Recognised, Store};
use chrono::{DateTime, Utc};

/// What ingesting a document produced.
pub(super) struct Ingested {
    pub counts: IngestCounts,
    /// Posts that entered the outbox (or, in a dry run, would), oldest first, by the
    /// state they entered it in.
    pub entered: Entered,
    /// The commit to wait for; `None` in a dry run.
    pub pending: Option<PendingCommit>,
    /// With `explain`: each first-seen item's fate (duplicates' originals still to be
    /// looked up); empty otherwise.
    pub explained: Explained,
}

/// One document's ingest.
pub(super) struct Ingest<'a> {
    pub store: &'a Store,
    pub feed: &'a FeedSettings,
    pub row: &'a FeedRow,
    pub items: &'a [Item],
    pub ctx: &'a FeedContext<'a>,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// Also say why each item got its disposition (a dry run prints it).
    pub explain: bool,
}

/// An item to decide on: new, or held earlier without a post and now free to go.
struct Candidate {
    index: usize,
    /// The item's row, when it has one already (held without a post).
    item_id: Option<i64>,
}

/// What happens to one candidate.
struct Decision {
    candidate: Candidate,
    disposition: ItemDisposition,
    post: Option<Post>,
    /// With `explain`, why a skipped item is skipped (queued and held ones need none).
    reason: Option<Fate>,
}

impl Ingest<'_> {
    /// Recognise, decide, compose and record, in one transaction.
    pub async fn run(self, mut success: FeedSuccess<'_>) -> Result<Ingested, PollError> {
        let ingest_items = ingest_items(self.items);
        let mut tx = self.store.begin_ingest(self.row).await?;
        let recognised = tx.recognise(&ingest_items).await?;

        let mut counts = IngestCounts {
            items: self.items.len(),
            ..IngestCounts::default()
        };
        let mut new = Vec::new();
        let mut waiting = Vec::new();
        let mut duplicates = Vec::new();
        let mut known_under_old_keys = Vec::new();
        for (index, r) in recognised.iter().enumerate() {
            match *r {
                Recognised::New => new.push(Candidate {
                    index,
                    item_id: None,
                }),
                Recognised::HeldUncomposed { item_id } => waiting.push(Candidate {
                    index,
                    item_id: Some(item_id),
                }),
                Recognised::Duplicate => duplicates.push(index),
                Recognised::KnownUnderOldKeys => known_under_old_keys.push(index),
                // An item seen again: this feed recorded it under its key before (any
                // disposition), so it is neither new nor a duplicate. Nothing is written
                // for it. Work on an item seen again (a changed title, issue 13 part 6)
                // belongs here, in this transaction: `recognise` can return the row's id
                // with `Known` as it does with `HeldUncomposed`.
                Recognised::Known => {}
            }
        }
        counts.new = new.len();
        counts.duplicates = duplicates.len();
        // Recorded as duplicates under today's keys, not counted: not news, and not a
        // story another feed had.
        duplicates.extend(known_under_old_keys);

        let held_feed = self.row.baseline_done
            && !(new.is_empty() && waiting.is_empty())
            && tx.feed_is_held().await?;
        let mut decisions = if held_feed {
            // The feed waits for a human: record what comes, compose nothing.
            new.into_iter()
                .map(|candidate| Decision {
                    candidate,
                    disposition: ItemDisposition::HeldUncomposed,
                    post: None,
                    reason: None,
                })
                .collect()
        } else {
            let candidates: Vec<Candidate> = new.into_iter().chain(waiting).collect();
            self.decide(candidates, &ingest_items)
        };

        // Oldest first, so queue order is publication order.
        decisions.sort_by_key(|d| {
            let i = d.candidate.index;
            (self.items[i].date(), std::cmp::Reverse(i))
        });
        self.record(&mut tx, &mut decisions, &ingest_items, &duplicates)
            .await?;
        let explained = if self.explain {
            // Items known under a previous release's keys are not news: no fate.
            self.explain_fates(&decisions, &ingest_items, &duplicates[..counts.duplicates])
        } else {
            Explained::default()
        };

        let now = self.now.timestamp();
        let mut entered = Entered::default();
        for decision in decisions {
            match decision.disposition {
                ItemDisposition::Backlog => counts.backlog += 1,
                ItemDisposition::TooOld => counts.too_old += 1,
                ItemDisposition::Filtered => counts.filtered += 1,
                ItemDisposition::Invalid => counts.invalid += 1,
                ItemDisposition::HeldUncomposed => counts.held += 1,
                ItemDisposition::Queued | ItemDisposition::Held | ItemDisposition::Duplicate => {}
            }
            let (Some(post), Some(item_id)) = (decision.post, decision.candidate.item_id) else {
                continue;
            };
            // The flood guard wins over review: a held flood is released (or dropped) as a
            // whole or by the piece, and releasing is itself an editor's decision.
            let entry = if decision.disposition == ItemDisposition::Held {
                Entry::Held
            } else if self.feed.review {
                Entry::Review
            } else {
                Entry::Queued
            };
            let date = self.items[decision.candidate.index]
                .date()
                .map(|d| d.timestamp());
            tx.enqueue(item_id, &post, entry, date, now).await?;
            let (count, posts) = match entry {
                Entry::Held => (&mut counts.held, &mut entered.held),
                Entry::Review => (&mut counts.review, &mut entered.review),
                Entry::Queued => (&mut counts.queued, &mut entered.queued),
            };
            *count += 1;
            posts.push(post);
        }

        success.new_items = i64::try_from(counts.new).unwrap_or(i64::MAX);
        success.result = if counts.new > 0 {
            "new_items"
        } else {
            "no_new_items"
        };
        let pending = if self.dry_run {
            tx.abandon().await?;
            None
        } else {
            let (turn_held, pending) = tx.finish(success, now).await?;
            tracing::debug!(write_ms = turn_held.as_millis() as u64, "ingest written");
            Some(pending)
        };
        Ok(Ingested {
            counts,
            entered,
            pending,
            explained,
        })
    }

    /// The policies, in order: backlog (first poll), max_age, filters, composing; then
    /// the flood guard over what would be queued.
    fn decide(&self, candidates: Vec<Candidate>, ingest_items: &[IngestItem]) -> Vec<Decision> {
        let feed = self.feed;
        let backlog_keep: Option<Vec<usize>> = (!self.row.baseline_done).then(|| {
            let indices: Vec<usize> = candidates.iter().map(|c| c.index).collect();
            match feed.backlog {
                Backlog::Skip => Vec::new(),
                Backlog::All => indices,
                Backlog::Latest(n) => newest(self.items, &indices, n),
            }
        });
        let max_age_cutoff = max_age_cutoff(self.now, feed.max_age);
        let explain = self.explain;

        let mut decisions: Vec<Decision> = candidates
            .into_iter()
            .map(|candidate| {
                let i = candidate.index;
                let item = &self.items[i];
                let (disposition, post, reason) = if backlog_keep
                    .as_ref()
                    .is_some_and(|k| !k.contains(&i))
                {
                    let reason = explain.then_some(Fate::Backlog(feed.backlog));
                    (ItemDisposition::Backlog, None, reason)
                } else if let (Some(cutoff), Some(date)) = (max_age_cutoff, item.date())
                    && date < cutoff
                {
                    let reason = feed
                        .max_age
                        .filter(|_| explain)
                        .map(|max_age| Fate::TooOld { date, max_age });
                    (ItemDisposition::TooOld, None, reason)
                } else if let FilterDecision::Reject { reason } = feed.composer.filter(item) {
                    tracing::debug!(item = %ingest_items[i].key, "filtered: {reason}");
                    let reason = explain.then_some(Fate::Filtered { reason });
                    (ItemDisposition::Filtered, None, reason)
                } else {
                    match feed.composer.compose(item, self.ctx) {
                        Ok(post) => (ItemDisposition::Queued, Some(post), None),
                        Err(e) => {
                            tracing::warn!(item = %ingest_items[i].key, "cannot compose a post: {e}");
                            let reason = explain.then(|| Fate::Invalid {
                                error: e.to_string(),
                            });
                            (ItemDisposition::Invalid, None, reason)
                        }
                    }
                };
                Decision {
                    candidate,
                    disposition,
                    post,
                    reason,
                }
            })
            .collect();

        // Flood guard: on a feed we know, a poll that would publish more than the limit
        // looks like a guid-scheme or URL migration, not news. Hold them for a human.
        let to_publish = decisions
            .iter()
            .filter(|d| d.disposition == ItemDisposition::Queued)
            .count();
        if self.row.baseline_done && to_publish > feed.flood_limit {
            for d in &mut decisions {
                if d.disposition == ItemDisposition::Queued {
                    d.disposition = ItemDisposition::Held;
                }
            }
        }
        decisions
    }

    /// Each decision as a fate, oldest first (the reasons `decide` kept; queued and held
    /// from the final dispositions), then the duplicates, whose originals the caller
    /// looks up once the poll's writes are committed.
    fn explain_fates(
        &self,
        decisions: &[Decision],
        ingest_items: &[IngestItem],
        duplicates: &[usize],
    ) -> Explained {
        let title = |i: usize| {
            self.items[i]
                .title
                .as_deref()
                .map(crate::compose::html_to_line)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "(untitled)".to_string())
        };
        let held_count = decisions
            .iter()
            .filter(|d| d.disposition == ItemDisposition::Held)
            .count();
        let mut explained = Explained::default();
        for d in decisions {
            let fate = match d.disposition {
                ItemDisposition::Queued if self.feed.review => Fate::Review,
                ItemDisposition::Queued => Fate::Post,
                ItemDisposition::Held => Fate::Held {
                    new: held_count,
                    limit: self.feed.flood_limit,
                },
                ItemDisposition::HeldUncomposed => Fate::HeldBehind,
                _ => match &d.reason {
                    Some(fate) => fate.clone(),
                    None => continue,
                },
            };
            explained.fates.push(ItemFate {
                title: title(d.candidate.index),
                fate,
            });
        }
        for &i in duplicates {
            explained
                .duplicates
                .push((explained.fates.len(), ingest_items[i].aliases.clone()));
            explained.fates.push(ItemFate {
                title: title(i),
                fate: Fate::Duplicate { of: None },
            });
        }
        explained
    }

    /// Records the new items and the duplicates, updates the held items now decided,
    /// and gives every decision its item row.
    async fn record(
        &self,
        tx: &mut IngestTx,
        decisions: &mut [Decision],
        ingest_items: &[IngestItem],
        duplicates: &[usize],
    ) -> Result<(), PollError> {
        let (fresh, again): (Vec<&mut Decision>, Vec<&mut Decision>) = decisions
            .iter_mut()
            .partition(|d| d.candidate.item_id.is_none());
        let mut rows: Vec<(&IngestItem, ItemDisposition)> = fresh
            .iter()
            .map(|d| (&ingest_items[d.candidate.index], d.disposition))
            .collect();
        rows.extend(
            duplicates
                .iter()
                .map(|&i| (&ingest_items[i], ItemDisposition::Duplicate)),
        );
        let ids = tx.record(&rows, self.now.timestamp()).await?;
        for (d, id) in fresh.into_iter().zip(ids) {
            d.candidate.item_id = Some(id);
        }
        let changes: Vec<(i64, ItemDisposition)> = again
            .iter()
            .filter_map(|d| Some((d.candidate.item_id?, d.disposition)))
            .collect();
        tx.set_dispositions(&changes).await?;
        Ok(())
    }
}

/// The store's view of each item: its identity keys and what `status` shows of it.
fn ingest_items(items: &[Item]) -> Vec<IngestItem> {
    items
        .iter()
        .zip(identify(items))
        .map(|(item, id)| IngestItem {
            key: id.key,
            aliases: id.aliases,
            legacy_key: id.legacy.key,
            legacy_aliases: id.legacy.aliases,
            title: item.title.clone(),
            link: item.link.as_ref().map(|l| l.to_string()),
            published_at: item.date().map(|d| d.timestamp()),
        })
        .collect()
}

/// The `n` newest of the given items: by date when dated, else by document order (feeds
/// list newest first).
fn newest(items: &[Item], indices: &[usize], n: usize) -> Vec<usize> {
    let mut sorted: Vec<usize> = indices.to_vec();
    sorted.sort_by(|a, b| {
        items[*b]
            .date()
            .cmp(&items[*a].date())
            .then_with(|| a.cmp(b))
    });
    sorted.truncate(n);
    sorted
}
