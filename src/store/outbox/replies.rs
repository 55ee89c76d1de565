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
use crate::store::{OutboxState, Store, StoreResult};
use sqlx::SqliteConnection;

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
    conn: &mut SqliteConnection,
    post: i64,
    now: i64,
) -> StoreResult<Option<i64>> {
    let text: Option<String> = sqlx::query_scalar("SELECT first_reply FROM outbox WHERE id = ?")
        .bind(post)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    match text {
        Some(text) => insert_reply(conn, post, &text, FIRST_REPLY_TAG, now).await,
        None => Ok(None),
    }
}

/// The reply's item, then the reply, both from the post's row; nothing when the item
/// exists already (the reply was queued before).
async fn insert_reply(
    conn: &mut SqliteConnection,
    post: i64,
    text: &str,
    tag: &str,
    now: i64,
) -> StoreResult<Option<i64>> {
    let item: Option<i64> = sqlx::query_scalar(
        "INSERT INTO items (feed_id, item_key, title, link, published_at, first_seen_at, disposition) \
         SELECT feed_id, ?, NULL, NULL, item_date, ?, 'reply' FROM outbox WHERE id = ? \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(format!("reply:{post}:{tag}"))
    .bind(now)
    .bind(post)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(item) = item else {
        return Ok(None);
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (account_id, item_id, feed_id, state, text, media_type, item_date, \
         reply_to, created_at, updated_at) \
         SELECT account_id, ?, feed_id, 'queued', ?, 'TEXT', item_date, id, ?, ? \
         FROM outbox WHERE id = ? RETURNING id",
    )
    .bind(item)
    .bind(text.to_owned())
    .bind(now)
    .bind(now)
    .bind(post)
    .fetch_one(&mut *conn)
    .await?;
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
        let mut tx = self.pool().begin().await?;
        let id = insert_reply(&mut tx, post, text.as_str(), tag, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The post the reply `reply` answers, as it is now; `None` when `reply` is not a
    /// reply (or the post is gone).
    pub async fn reply_target(&self, reply: i64) -> StoreResult<Option<ReplyTarget>> {
        let row: Option<(i64, OutboxState, Option<String>)> = sqlx::query_as(
            "SELECT p.id, p.state, p.media_id FROM outbox r JOIN outbox p ON p.id = r.reply_to \
             WHERE r.id = ?",
        )
        .bind(reply)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(post, state, media_id)| ReplyTarget {
            post,
            state,
            media_id,
        }))
    }

    /// The replies of post `post`, oldest first.
    pub async fn replies_of(&self, post: i64) -> StoreResult<Vec<super::OutboxRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM outbox WHERE reply_to = ? ORDER BY id",
            super::OUTBOX_COLUMNS
        )))
        .bind(post)
        .fetch_all(self.pool())
        .await?)
    }
}
