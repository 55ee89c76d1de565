//! The outbox: composed posts waiting for, going through, or done with publishing.
//!
//! States (`OutboxState`):
//! `held` → `queued` → `container_created` → `publishing` → `published`,
//! or `failed` / `expired` / `dropped`. Each transition is committed before the network
//! call that depends on it.

use super::{Store, StoreResult};
use crate::compose::{Media, Post};
use sqlx::{Sqlite, Transaction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Held by the flood guard until an operator runs `release`.
    Held,
    /// Waiting for its turn.
    Queued,
    /// A container exists (id stored); not yet asked to publish.
    ContainerCreated,
    /// Publish was called; the outcome is not yet recorded. After a crash or a lost
    /// answer this state means "reconcile before anything else".
    Publishing,
    Published,
    Failed,
    /// Grew older than `max_age` while waiting.
    Expired,
    /// Removed by an operator.
    Dropped,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Held => "held",
            OutboxState::Queued => "queued",
            OutboxState::ContainerCreated => "container_created",
            OutboxState::Publishing => "publishing",
            OutboxState::Published => "published",
            OutboxState::Failed => "failed",
            OutboxState::Expired => "expired",
            OutboxState::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        Some(match s {
            "held" => OutboxState::Held,
            "queued" => OutboxState::Queued,
            "container_created" => OutboxState::ContainerCreated,
            "publishing" => OutboxState::Publishing,
            "published" => OutboxState::Published,
            "failed" => OutboxState::Failed,
            "expired" => OutboxState::Expired,
            "dropped" => OutboxState::Dropped,
            _ => return None,
        })
    }

    /// States in which a post is in flight: it may exist on Threads already.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            OutboxState::ContainerCreated | OutboxState::Publishing
        )
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: i64,
    pub item_id: i64,
    pub feed_id: i64,
    pub state: String,
    pub text: String,
    pub link_attachment: Option<String>,
    pub topic_tag: Option<String>,
    pub media_type: String,
    pub image_url: Option<String>,
    pub alt_text: Option<String>,
    pub reply_control: Option<String>,
    pub container_id: Option<String>,
    pub container_created_at: Option<i64>,
    pub publish_started_at: Option<i64>,
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub not_before: i64,
    pub item_date: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
}

impl OutboxRow {
    pub fn state(&self) -> Option<OutboxState> {
        OutboxState::parse(&self.state)
    }
}

pub(crate) const OUTBOX_COLUMNS: &str = "id, account_id, item_id, feed_id, state, text, \
    link_attachment, topic_tag, media_type, image_url, alt_text, reply_control, container_id, \
    container_created_at, publish_started_at, media_id, permalink, attempts, last_error, \
    not_before, item_date, created_at, updated_at, published_at";

pub(crate) struct NewPost<'a> {
    pub account_id: i64,
    pub feed_id: i64,
    pub item_id: i64,
    pub post: &'a Post,
    pub held: bool,
    pub item_date: Option<i64>,
}

pub(crate) async fn insert(
    tx: &mut Transaction<'static, Sqlite>,
    new: NewPost<'_>,
    now: i64,
) -> StoreResult<i64> {
    let (image_url, alt_text) = match &new.post.media {
        Media::Text => (None, None),
        Media::Image { url, alt_text } => (Some(url.as_str()), Some(alt_text.as_str())),
    };
    let state = if new.held {
        OutboxState::Held
    } else {
        OutboxState::Queued
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (account_id, item_id, feed_id, state, text, link_attachment, \
         topic_tag, media_type, image_url, alt_text, reply_control, item_date, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.item_id)
    .bind(new.feed_id)
    .bind(state.as_str())
    .bind(new.post.text.as_str())
    .bind(new.post.link_attachment.as_deref())
    .bind(new.post.topic_tag.as_deref())
    .bind(new.post.media.api_media_type())
    .bind(image_url)
    .bind(alt_text)
    .bind(new.post.reply_control.as_deref())
    .bind(new.item_date)
    .bind(now)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Outbox counts of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub held: i64,
    pub queued: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub published_24h: i64,
}

impl Store {
    /// Move the posts the flood guard held for a feed into the queue.
    pub async fn release_held(&self, feed_id: i64, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'queued', updated_at = ? WHERE feed_id = ? AND state = 'held'",
        )
        .bind(now)
        .bind(feed_id)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "UPDATE items SET disposition = 'queued' WHERE feed_id = ? AND disposition = 'held'",
        )
        .bind(feed_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn outbox_by_id(&self, id: i64) -> StoreResult<Option<OutboxRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The outbox of one account (or all), newest first, at most `limit` rows.
    pub async fn list_outbox(
        &self,
        account_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE (? IS NULL OR account_id = ?) \
             ORDER BY id DESC LIMIT ?"
        )))
        .bind(account_id)
        .bind(account_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn outbox_counts(&self, account_id: i64, now: i64) -> StoreResult<OutboxCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE account_id = ? \
             AND state IN ('held', 'queued', 'container_created', 'publishing', 'failed') \
             GROUP BY state",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        let mut counts = OutboxCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "held" => counts.held = n,
                "queued" => counts.queued = n,
                "failed" => counts.failed = n,
                _ => counts.in_flight += n,
            }
        }
        counts.published_24h = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE account_id = ? AND state = 'published' \
             AND published_at > ?",
        )
        .bind(account_id)
        .bind(now - 86_400)
        .fetch_one(self.pool())
        .await?;
        Ok(counts)
    }
}
