//! Replies to our own published posts (the article link of a `link_in = "reply"` feed,
//! and, later, corrections): each is an outbox row whose `reply_to` names the post it
//! answers, so the publishing worker claims, publishes and reconciles it exactly as it
//! does a post, and the quota, `status` and the queue commands count it.
//!
//! A reply's item is a row of `items` with disposition `reply` and the key
//! `reply:<post id>:<tag>`: the item's uniqueness makes the reply unique, so queueing the
//! same reply twice (a retried transaction, a second call) queues it once.
//!
//! Must not decide when a reply is made (the worker and the feed's settings do).

use crate::compose::PostText;
use crate::store::Conn;
use crate::store::on;
use crate::store::{OutboxState, Store, StoreResult};

/// The tag of the reply a post's `first_reply` becomes.
pub const FIRST_REPLY_TAG: &str = "link";

/// What a reply needs of the post it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTarget {
    pub post: i64,
    pub state: OutboxState,
    /// The published post's media id: what `reply_to_id` names.
    pub media_id: Option<String>,
}

/// Queue the first reply of post `post` (its `first_reply`), if it has one. Part of the
/// transaction that records the post published.
pub(super) async fn queue_first_reply(
    mut conn: Conn<'_>,
    post: i64,
    now: i64,
) -> StoreResult<Option<i64>> {
    let text: Option<String> = on!(conn.re(), |c| sqlx::query_scalar(
        "SELECT first_reply FROM outbox WHERE id = $1"
    )
    .bind(post)
    .fetch_optional(&mut *c)
    .await?)
    .flatten();
    match text {
        Some(text) => insert_reply(conn, post, &text, FIRST_REPLY_TAG, now).await,
        None => Ok(None),
    }
}

/// The reply's item, then the reply, both from the post's row; nothing when the item
/// exists already (the reply was queued before). Also the corrections' (`store::corrections`),
/// inside their own write.
pub(in crate::store) async fn insert_reply(
    mut conn: Conn<'_>,
    post: i64,
    text: &str,
    tag: &str,
    now: i64,
) -> StoreResult<Option<i64>> {
    let item: Option<i64> = on!(conn.re(), |c| {
        sqlx::query_scalar(
        "INSERT INTO items (feed_id, item_key, title, link, published_at, first_seen_at, disposition) \
         SELECT feed_id, $1, NULL, NULL, item_date, $2, 'reply' FROM outbox WHERE id = $3 \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(format!("reply:{post}:{tag}"))
    .bind(now)
    .bind(post)
    .fetch_optional(&mut *c)
    .await?
    });
    let Some(item) = item else {
        return Ok(None);
    };
    let id: i64 = on!(conn.re(), |c| sqlx::query_scalar(
        "INSERT INTO outbox (account_id, item_id, feed_id, state, text, media_type, item_date, \
         queue_order, reply_to, created_at, updated_at) \
         SELECT account_id, $1, feed_id, 'queued', $2, 'TEXT', item_date, queue_order, id, $3, $4 \
         FROM outbox WHERE id = $5 RETURNING id",
    )
    .bind(item)
    .bind(text.to_owned())
    .bind(now)
    .bind(now)
    .bind(post)
    .fetch_one(&mut *c)
    .await?);
    Ok(Some(id))
}

impl Store {
    /// Queue a reply with `text` to post `post` (an outbox id), published by the post's
    /// account once the post is published. `tag` names the reply among the post's
    /// replies: queueing the same tag again queues nothing and answers `None`.
    pub async fn queue_reply(
        &self,
        post: i64,
        text: &PostText,
        tag: &str,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_immediate().await?;
        let id = insert_reply(tx.conn(), post, text.as_str(), tag, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The post the reply `reply` answers, as it is now; `None` when `reply` is not a
    /// reply (or the post is gone).
    pub async fn reply_target(&self, reply: i64) -> StoreResult<Option<ReplyTarget>> {
        let row: Option<(i64, OutboxState, Option<String>)> = on!(self.pool(), |c| sqlx::query_as(
            "SELECT p.id, p.state, p.media_id FROM outbox r JOIN outbox p ON p.id = r.reply_to \
             WHERE r.id = $1",
        )
        .bind(reply)
        .fetch_optional(c)
        .await?);
        Ok(row.map(|(post, state, media_id)| ReplyTarget {
            post,
            state,
            media_id,
        }))
    }

    /// The replies of post `post`, oldest first.
    pub async fn replies_of(&self, post: i64) -> StoreResult<Vec<super::OutboxRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {} FROM outbox WHERE reply_to = ? ORDER BY id",
                super::OUTBOX_COLUMNS
            ))
        ))
        .bind(post)
        .fetch_all(c)
        .await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;
    use crate::store::{Claimed, Holder};

    /// A store with one queued post (its id).
    async fn store_with_a_post(store: Store, first_reply: Option<&str>) -> (Store, i64) {
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
            "INSERT INTO items (feed_id, item_key, first_seen_at, disposition) \
             VALUES ($1, 'guid:1', 0, 'queued') RETURNING id",
        )
        .bind(feed)
        .fetch_one(c)
        .await)
        .unwrap();
        let post: i64 = on!(store.pool(), |c| sqlx::query_scalar(
            "INSERT INTO outbox (account_id, item_id, feed_id, state, text, first_reply, \
             item_date, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', 'Story', $4, 5, 0, 0) RETURNING id",
        )
        .bind(account.id)
        .bind(item)
        .bind(feed)
        .bind(first_reply)
        .fetch_one(c)
        .await)
        .unwrap();
        (store, post)
    }

    async fn publish(store: &Store, post: i64) {
        let Claimed::Won(held) = store.outbox_claim(post, &Holder::new(), 1).await.unwrap() else {
            panic!("claim");
        };
        let c = &held.claim;
        assert!(
            store
                .outbox_container_created(c, "c", 1)
                .await
                .unwrap()
                .applied()
        );
        assert!(store.outbox_publishing(c, 2).await.unwrap().applied());
        assert!(
            store
                .outbox_published(c, Some("m1"), None, 3)
                .await
                .unwrap()
                .applied()
        );
    }

    #[tokio::test]
    async fn a_post_with_a_first_reply_queues_it_when_published() {
        each_backend!(|fresh| {
            let (store, post) =
                store_with_a_post(fresh.clone(), Some("https://example.org/a")).await;
            assert!(store.replies_of(post).await.unwrap().is_empty());
            publish(&store, post).await;
            let replies = store.replies_of(post).await.unwrap();
            assert_eq!(replies.len(), 1);
            let r = &replies[0];
            assert_eq!(r.state, OutboxState::Queued);
            assert_eq!(r.text, "https://example.org/a");
            assert_eq!(r.options.reply_to, Some(post));
            assert_eq!(r.item_date, Some(5), "sorts with its story");
            let target = store.reply_target(r.id).await.unwrap().unwrap();
            assert_eq!(target.media_id.as_deref(), Some("m1"));
            assert_eq!(target.state, OutboxState::Published);
            // It is next in the queue, before older stories.
            let next = store.outbox_next_queued(r.account_id, 10).await.unwrap();
            assert_eq!(next.map(|n| n.id), Some(r.id));
            assert!(
                store.reply_target(post).await.unwrap().is_none(),
                "not a reply"
            );
        });
    }

    #[tokio::test]
    async fn a_reply_is_queued_once_per_tag() {
        each_backend!(|fresh| {
            let (store, post) = store_with_a_post(fresh.clone(), None).await;
            publish(&store, post).await;
            assert!(store.replies_of(post).await.unwrap().is_empty());
            let text = PostText::new("Correction: the new headline").unwrap();
            let first = store
                .queue_reply(post, &text, "correction:1", 4)
                .await
                .unwrap();
            assert!(first.is_some());
            assert_eq!(
                store
                    .queue_reply(post, &text, "correction:1", 5)
                    .await
                    .unwrap(),
                None
            );
            assert!(
                store
                    .queue_reply(post, &text, "correction:2", 6)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(store.replies_of(post).await.unwrap().len(), 2);
        });
    }
}
