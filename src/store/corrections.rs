//! What corrections (`on_update = "reply"`) keep: the headline each published story is
//! known by, and the replies queued for its changes (migration `0040_corrections`).
//!
//! A story is found by its item's per-feed key (`items.item_key`) and mapped to the
//! top-level post it became; its headline is the last one replied to (`corrections`), or
//! the item's title at first sight, which is what the post was composed from. Queueing a
//! correction is one write: the post's earlier correction still waiting is superseded,
//! the reply is queued (through the replies' own insert, so it is claimed, reconciled and
//! counted as every reply is), and the new headline and revision are recorded, all
//! committed before any worker can see the reply.
//!
//! Must not decide what a material change is, nor word the reply (`crate::corrections`
//! does); must not publish.

use super::padded::{MAX_ROWS, PaddedSql};
use super::{OutboxState, Store, StoreResult};
use crate::compose::PostText;
use crate::store::on;

/// A story of the document that was made into a post of this feed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Tracked {
    /// The item's per-feed key.
    pub key: String,
    /// The top-level post it became (an outbox id).
    pub post: i64,
    pub state: OutboxState,
    /// The headline the story is known by; `None` when the item had no title.
    pub title: Option<String>,
    /// Changes replied to so far.
    pub revision: i64,
}

/// A change to queue a reply for.
#[derive(Debug, Clone)]
pub struct NewCorrection<'a> {
    pub post: i64,
    /// The revision this change becomes (the tracked one plus one).
    pub revision: i64,
    pub old_title: &'a str,
    pub new_title: &'a str,
    pub text: &'a PostText,
}

/// What queueing a correction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// The reply is queued (its outbox id); `superseded` earlier corrections of the post
    /// that were still waiting were dropped for it.
    Reply { id: i64, superseded: u64 },
    /// This revision's reply was queued before (a retried write): nothing changed.
    Already,
    /// The post is no longer published (dropped or deleted meanwhile): nothing changed.
    NotPublished,
}

/// The tag of a correction's reply among its post's replies.
fn tag(revision: i64) -> String {
    format!("update:{revision}")
}

impl Store {
    /// The stories among `keys` (per-feed item keys of feed `feed_id`) that became a
    /// top-level post, with the headline each is known by. Keys without a post (skipped,
    /// filtered, duplicates) are left out.
    pub async fn tracked_stories(&self, feed_id: i64, keys: &[&str]) -> StoreResult<Vec<Tracked>> {
        static TRACKED: PaddedSql = PaddedSql::new(
            "SELECT i.item_key AS key, o.id AS post, o.state AS state, \
             COALESCE(c.title, i.title) AS title, COALESCE(c.revision, 0) AS revision \
             FROM items i JOIN outbox o ON o.item_id = i.id AND o.reply_to IS NULL \
             LEFT JOIN corrections c ON c.post_id = o.id \
             WHERE i.feed_id = ? AND i.item_key IN (",
            "?",
            ")",
        );
        let mut out = Vec::new();
        for chunk in keys.chunks(MAX_ROWS) {
            let (sql, rows) = TRACKED.sql(chunk.len());
            let found: Vec<Tracked> = on!(self.pool(), |c| {
                let mut query = sqlx::query_as(sql).bind(feed_id);
                for i in 0..rows {
                    query = query.bind(chunk.get(i).copied());
                }
                query.fetch_all(c).await?
            });
            out.extend(found);
        }
        Ok(out)
    }

    /// Queue the reply of one change, in one write (see the module docs). The post must
    /// still be published.
    pub async fn queue_correction(
        &self,
        change: &NewCorrection<'_>,
        now: i64,
    ) -> StoreResult<Queued> {
        let mut slot = self.begin_write().await?;
        let mut conn = slot.conn();
        let published: Option<i64> = on!(conn.re(), |c| sqlx::query_scalar(
            "SELECT id FROM outbox WHERE id = $1 AND state = 'published'"
        )
        .bind(change.post)
        .fetch_optional(&mut *c)
        .await?);
        if published.is_none() {
            // Nothing written: giving the turn back is a commit of nothing.
            slot.commit().await?.wait().await?;
            return Ok(Queued::NotPublished);
        }
        let Some(reply) = super::outbox::insert_reply(
            conn.re(),
            change.post,
            change.text.as_str(),
            &tag(change.revision),
            now,
        )
        .await?
        else {
            // The reply's item was there already: nothing written.
            slot.commit().await?.wait().await?;
            return Ok(Queued::Already);
        };
        // An earlier correction nobody holds yet says an older headline: drop it, so a
        // headline changed on every poll leaves one reply waiting, not one per poll.
        let superseded = on!(conn.re(), |c| sqlx::query(
            "UPDATE outbox SET state = 'dropped', last_error = $1, updated_at = $2 \
             WHERE id IN (SELECT reply_id FROM correction_replies WHERE post_id = $3) \
             AND state = 'queued' AND claimed_by IS NULL",
        )
        .bind(format!(
            "superseded by a newer headline before it went out (update {} of post {})",
            change.revision, change.post
        ))
        .bind(now)
        .bind(change.post)
        .execute(&mut *c)
        .await?
        .rows_affected());
        // Queued by when the change was seen, not by its story's date (see `QUEUE_ORDER`).
        on!(conn.re(), |c| sqlx::query(
            "UPDATE outbox SET queue_order = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(reply)
        .execute(&mut *c)
        .await?
        .rows_affected());
        on!(conn.re(), |c| sqlx::query(
            "INSERT INTO correction_replies (reply_id, post_id, revision, old_title, new_title) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(reply)
        .bind(change.post)
        .bind(change.revision)
        .bind(change.old_title)
        .bind(change.new_title)
        .execute(&mut *c)
        .await?
        .rows_affected());
        on!(conn.re(), |c| {
            sqlx::query(
            "INSERT INTO corrections (post_id, title, revision, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (post_id) DO UPDATE SET title = excluded.title, \
             revision = excluded.revision, updated_at = excluded.updated_at",
        )
        .bind(change.post)
        .bind(change.new_title)
        .bind(change.revision)
        .bind(now)
        .execute(&mut *c)
        .await?.rows_affected()
        });
        slot.commit().await?.wait().await?;
        Ok(Queued::Reply {
            id: reply,
            superseded,
        })
    }

    /// Record new headlines of published posts `(post, title)` without a reply (a change
    /// of the site's headline format): later changes are measured against these. The
    /// revision stays, so the next correction's reply is still a new one.
    pub async fn rebase_headlines(&self, headlines: &[(i64, String)], now: i64) -> StoreResult<()> {
        if headlines.is_empty() {
            return Ok(());
        }
        let mut slot = self.begin_write().await?;
        for (post, title) in headlines {
            on!(slot.conn(), |c| {
                sqlx::query(
                "INSERT INTO corrections (post_id, title, revision, updated_at) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (post_id) DO UPDATE SET title = excluded.title, \
                 updated_at = excluded.updated_at",
            )
            .bind(post)
            .bind(title)
            .bind(now)
            .execute(c)
            .await?.rows_affected()
            });
        }
        slot.commit().await?.wait().await
    }

    /// The revision of a newer correction of the same story, when correction reply `id`
    /// is superseded by one; `None` for the latest (and for any other row).
    pub async fn correction_superseded_by(&self, id: i64) -> StoreResult<Option<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT MAX(newer.revision) FROM correction_replies this \
             JOIN correction_replies newer \
             ON newer.post_id = this.post_id AND newer.revision > this.revision \
             WHERE this.reply_id = $1",
        )
        .bind(id)
        .fetch_one(c)
        .await?))
    }

    /// Whether outbox row `id` is the reply of a correction: the worker paces it like a
    /// post (a first reply completes a post just out and is not paced).
    pub async fn is_correction_reply(&self, id: i64) -> StoreResult<bool> {
        let found: Option<i64> = on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT reply_id FROM correction_replies WHERE reply_id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await?);
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;
    use crate::store::{Claimed, Holder};

    /// A store with one post of feed `front` for item `guid:1` titled "Old", published
    /// when `publish`; the feed id and the post id.
    async fn store_with_a_post(store: Store, publish: bool) -> (Store, i64, i64) {
        let account = store.ensure_account("news", 0).await.unwrap();
        let feed = store
            .sync_feeds(
                &[crate::store::FeedConfig {
                    name: "front",
                    url: "https://example.org/feed",
                    account_id: account.id,
                }],
                0,
            )
            .await
            .unwrap()[0];
        let item: i64 = on!(store.pool(), |c| sqlx::query_scalar(
            "INSERT INTO items (feed_id, item_key, title, first_seen_at, disposition) \
             VALUES ($1, 'guid:1', 'Old', 0, 'queued') RETURNING id",
        )
        .bind(feed)
        .fetch_one(c)
        .await)
        .unwrap();
        let post: i64 = on!(store.pool(), |c| sqlx::query_scalar(
            "INSERT INTO outbox (account_id, item_id, feed_id, state, text, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', 'Old', 0, 0) RETURNING id",
        )
        .bind(account.id)
        .bind(item)
        .bind(feed)
        .fetch_one(c)
        .await)
        .unwrap();
        if publish {
            let Claimed::Won(held) = store.outbox_claim(post, &Holder::new(), 1).await.unwrap()
            else {
                panic!("claim");
            };
            let c = &held.claim;
            let created = store.outbox_container_created(c, "c", 1).await.unwrap();
            assert!(created.applied());
            assert!(store.outbox_publishing(c, 2).await.unwrap().applied());
            let published = store
                .outbox_published(c, Some("m1"), None, 3)
                .await
                .unwrap();
            assert!(published.applied());
        }
        (store, feed, post)
    }

    fn change<'a>(post: i64, revision: i64, new: &'a str, text: &'a PostText) -> NewCorrection<'a> {
        NewCorrection {
            post,
            revision,
            old_title: "Old",
            new_title: new,
            text,
        }
    }

    #[tokio::test]
    async fn a_story_is_tracked_by_its_key_with_the_title_it_was_first_seen_with() {
        each_backend!(|fresh| {
            let (store, feed, post) = store_with_a_post(fresh.clone(), true).await;
            let tracked = store
                .tracked_stories(feed, &["guid:1", "guid:2"])
                .await
                .unwrap();
            assert_eq!(
                tracked,
                [Tracked {
                    key: "guid:1".into(),
                    post,
                    state: OutboxState::Published,
                    title: Some("Old".into()),
                    revision: 0,
                }]
            );
        });
    }

    #[tokio::test]
    async fn a_correction_is_queued_once_and_the_new_headline_is_remembered() {
        each_backend!(|fresh| {
            let (store, feed, post) = store_with_a_post(fresh.clone(), true).await;
            let text = PostText::new("Update: New").unwrap();
            let queued = store
                .queue_correction(&change(post, 1, "New", &text), 10)
                .await
                .unwrap();
            let Queued::Reply { id, superseded: 0 } = queued else {
                panic!("{queued:?}");
            };
            assert!(store.is_correction_reply(id).await.unwrap());
            assert!(!store.is_correction_reply(post).await.unwrap());
            // The same revision again (a retried write) queues nothing.
            assert_eq!(
                store
                    .queue_correction(&change(post, 1, "New", &text), 11)
                    .await
                    .unwrap(),
                Queued::Already
            );
            let tracked = store.tracked_stories(feed, &["guid:1"]).await.unwrap();
            assert_eq!(tracked[0].title.as_deref(), Some("New"));
            assert_eq!(tracked[0].revision, 1);
            let replies = store.replies_of(post).await.unwrap();
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0].text, "Update: New");
            assert_eq!(replies[0].state, OutboxState::Queued);
        });
    }

    #[tokio::test]
    async fn a_newer_change_supersedes_the_correction_still_waiting() {
        each_backend!(|fresh| {
            let (store, _, post) = store_with_a_post(fresh.clone(), true).await;
            let first = PostText::new("Update: New").unwrap();
            let second = PostText::new("Update: Newer").unwrap();
            store
                .queue_correction(&change(post, 1, "New", &first), 10)
                .await
                .unwrap();
            let queued = store
                .queue_correction(&change(post, 2, "Newer", &second), 11)
                .await
                .unwrap();
            assert!(
                matches!(queued, Queued::Reply { superseded: 1, .. }),
                "{queued:?}"
            );
            let replies = store.replies_of(post).await.unwrap();
            let states: Vec<_> = replies.iter().map(|r| r.state).collect();
            assert_eq!(states, [OutboxState::Dropped, OutboxState::Queued]);
            assert!(
                replies[0]
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("superseded"))
            );
        });
    }

    #[tokio::test]
    async fn nothing_is_queued_for_a_post_that_is_not_published() {
        each_backend!(|fresh| {
            let (store, feed, post) = store_with_a_post(fresh.clone(), false).await;
            let text = PostText::new("Update: New").unwrap();
            assert_eq!(
                store
                    .queue_correction(&change(post, 1, "New", &text), 10)
                    .await
                    .unwrap(),
                Queued::NotPublished
            );
            assert!(store.replies_of(post).await.unwrap().is_empty());
            let tracked = store.tracked_stories(feed, &["guid:1"]).await.unwrap();
            assert_eq!(tracked[0].title.as_deref(), Some("Old"), "nothing updated");
        });
    }
}
