//! The outbox: composed posts waiting for, going through, or done with publishing.
//!
//! States (`OutboxState`):
//! `held` → `queued` → `container_created` → `publishing` → `published`,
//! or `failed` / `expired` / `dropped`. Each transition is committed before the network
//! call that depends on it.

use super::{Store, StoreResult};
use crate::compose::{Media, Post};

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
    conn: &mut sqlx::SqliteConnection,
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
    .fetch_one(conn)
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

// ---------------------------------------------------------------------------------------
// The publisher's side: claim, transitions, ledger. Every transition names the states it
// may leave (`WHERE state IN (...)`) and reports whether it happened, so a post an
// operator dropped or retried meanwhile is never silently overwritten.
// ---------------------------------------------------------------------------------------

/// The queue order: the oldest story first (its own date, else when we queued it), ties
/// by insertion order.
const QUEUE_ORDER: &str = "COALESCE(item_date, created_at), id";

impl Store {
    /// Posts of the account left in flight (`container_created`, `publishing`), oldest
    /// first. After a crash these are reconciled before anything new starts.
    pub async fn outbox_in_flight(&self, account_id: i64) -> StoreResult<Vec<OutboxRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? \
             AND state IN ('container_created', 'publishing') ORDER BY {QUEUE_ORDER}"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The next queued post of the account whose `not_before` has passed, oldest first.
    pub async fn outbox_next_queued(
        &self,
        account_id: i64,
        now: i64,
    ) -> StoreResult<Option<OutboxRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? AND state = 'queued' \
             AND not_before <= ? ORDER BY {QUEUE_ORDER} LIMIT 1"
        )))
        .bind(account_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The earliest `not_before` of a queued post that is not due yet, if any.
    pub async fn outbox_next_due_at(&self, account_id: i64, now: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(not_before) FROM outbox WHERE account_id = ? AND state = 'queued' \
             AND not_before > ?",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    /// Posts the account still has to publish (queued or in flight).
    pub async fn outbox_pending(&self, account_id: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE account_id = ? \
             AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(account_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// A container was created for the post: store its id before anything uses it. Also
    /// used to replace a container that is proven unpublished (EXPIRED, ERROR, never
    /// visible): the caller must know the old one was not published.
    pub async fn outbox_container_created(
        &self,
        id: i64,
        container_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'container_created', container_id = ?, \
             container_created_at = ?, publish_started_at = NULL, attempts = attempts + 1, \
             updated_at = ? WHERE id = ? \
             AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(container_id)
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// About to call `threads_publish`: from now on the post may exist on Threads and must
    /// be reconciled, never published blindly. The first start time of this container is
    /// kept: it bounds the search for the post among the account's recent ones.
    pub async fn outbox_publishing(&self, id: i64, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'publishing', \
             publish_started_at = COALESCE(publish_started_at, ?), updated_at = ? \
             WHERE id = ? AND state IN ('container_created', 'publishing') \
             AND container_id IS NOT NULL",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Threads proved the publish did not happen (a rejection such as quota or throttling):
    /// the post keeps its container and may publish it later.
    pub async fn outbox_not_published(&self, id: i64, error: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'container_created', last_error = ?, updated_at = ? \
             WHERE id = ? AND state = 'publishing'",
        )
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The post is on Threads. `media_id` is `None` when the container says PUBLISHED but
    /// the post could not be found among the recent ones: it is published all the same.
    pub async fn outbox_published(
        &self,
        id: i64,
        media_id: Option<&str>,
        permalink: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'published', media_id = ?, permalink = ?, \
             published_at = ?, last_error = NULL, updated_at = ? \
             WHERE id = ? AND state IN ('container_created', 'publishing')",
        )
        .bind(media_id)
        .bind(permalink)
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Give up on the post for good (the API rejects it, or its media failed with no
    /// fallback). Only from states in which it is proven not published.
    pub async fn outbox_failed(&self, id: i64, reason: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = ?, updated_at = ? \
             WHERE id = ? AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The story grew older than its feed's `max_age` while it waited. Queued posts only:
    /// one in flight may already be on Threads.
    pub async fn outbox_expired(&self, id: i64, reason: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'expired', last_error = ?, updated_at = ? \
             WHERE id = ? AND state = 'queued'",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Note a transient failure on the post (any unfinished state): the reason, and the
    /// earliest time (unix seconds) to try it again.
    pub async fn outbox_defer(
        &self,
        id: i64,
        error: &str,
        not_before: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET last_error = ?, not_before = ?, updated_at = ? \
             WHERE id = ? AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(error)
        .bind(not_before)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An image post whose container failed becomes the text post of the same story, back
    /// in the queue without a container: its text (which carries the article link, image
    /// posts have no link card) and `link` as the card.
    pub async fn outbox_fallback_to_text(
        &self,
        id: i64,
        link: Option<&str>,
        note: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'queued', media_type = 'TEXT', image_url = NULL, \
             alt_text = NULL, link_attachment = ?, container_id = NULL, \
             container_created_at = NULL, publish_started_at = NULL, last_error = ?, \
             updated_at = ? \
             WHERE id = ? AND media_type = 'IMAGE' \
             AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(link)
        .bind(note)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The link of the item behind a post, as the feed gave it.
    pub async fn outbox_item_link(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT items.link FROM outbox JOIN items ON items.id = outbox.item_id \
             WHERE outbox.id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// Published posts of the account still without a permalink, published at or after
    /// `since`: `(outbox id, media id, published_at)`.
    pub async fn outbox_missing_permalinks(
        &self,
        account_id: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT id, media_id, published_at FROM outbox WHERE account_id = ? \
             AND state = 'published' AND permalink IS NULL AND media_id IS NOT NULL \
             AND published_at >= ? ORDER BY published_at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn outbox_set_permalink(&self, id: i64, permalink: &str) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET permalink = ? WHERE id = ? AND permalink IS NULL")
            .bind(permalink)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The publish ledger: when the account's posts were published, oldest first, from
    /// `since` on (unix seconds).
    pub async fn published_times(&self, account_id: i64, since: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT published_at FROM outbox WHERE account_id = ? AND state = 'published' \
             AND published_at >= ? ORDER BY published_at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// When the account last published, if ever.
    pub async fn last_published_at(&self, account_id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(published_at) FROM outbox WHERE account_id = ? AND state = 'published'",
        )
        .bind(account_id)
        .fetch_one(self.pool())
        .await?)
    }
}
