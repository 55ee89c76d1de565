//! The outbox: composed posts waiting for, going through, or done with publishing.
//!
//! States ([`OutboxState`]):
//! `review` / `held` → `queued` → `container_created` → `publishing` → `published`,
//! or `failed` / `expired` / `dropped`. Each transition is committed before the network
//! call that depends on it.
//!
//! The queue's order is the `queue_order` column (then the id): a post's story date when
//! it enters, rewritten only when a flood is released newest first (see `admin`).
//!
//! Here: the row, queueing a post, and the reads (the queue, counts, the publish ledger).
//! `state`: the column types. `claim`: the publishing worker's claim and every transition
//! of a claimed post. `waits`: why queued posts wait (posting windows, caps). `replies`:
//! replies to published posts, which are outbox rows too. Operator actions (an editor's,
//! from the CLI or the desk) live in `admin`.

mod claim;
mod replies;
mod state;
mod waits;

pub use claim::{Claim, Claimed, Held, Holder};
pub(super) use replies::insert_reply;
pub use replies::{FIRST_REPLY_TAG, ReplyTarget};
pub use state::{MediaType, OutboxState, Transition};
pub use waits::{PostWait, WaitCounts, WaitKind};

use super::{Store, StoreResult};
use crate::compose::{Media, Post};
use crate::store::on;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: i64,
    pub item_id: i64,
    pub feed_id: i64,
    pub state: OutboxState,
    pub text: String,
    pub link_attachment: Option<String>,
    pub topic_tag: Option<String>,
    pub media_type: MediaType,
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
    /// The worker holding the post (see `claim`); `None` while nobody does.
    pub claimed_by: Option<String>,
    /// Where the post stands in its account's queue: smallest first, then by id.
    pub queue_order: i64,
    /// Threads' options the post was composed with, and what it replies to.
    #[sqlx(flatten)]
    pub options: PostOptions,
}

/// The columns of a post's Threads options (`text_attachment`, reply approvals, ghost
/// post, the first reply to queue once it is published) and, for a reply, the post it
/// answers. All empty for a plain post.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct PostOptions {
    pub text_attachment: Option<String>,
    pub attachment_link: Option<String>,
    pub reply_approvals: bool,
    pub ghost: bool,
    pub first_reply: Option<String>,
    /// This row is a reply to that post (an outbox id), published once that post is.
    pub reply_to: Option<i64>,
}

pub(crate) const OUTBOX_COLUMNS: &str = "id, account_id, item_id, feed_id, state, text, \
    link_attachment, topic_tag, media_type, image_url, alt_text, reply_control, container_id, \
    container_created_at, publish_started_at, media_id, permalink, attempts, last_error, \
    not_before, item_date, created_at, updated_at, published_at, claimed_by, queue_order, \
    text_attachment, attachment_link, reply_approvals, ghost, first_reply, reply_to";

/// The state a composed post enters the outbox in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Ready for the publisher.
    Queued,
    /// Held by the flood guard until released.
    Held,
    /// Waiting for an editor (the feed says `review = true`).
    Review,
}

impl Entry {
    pub fn state(self) -> OutboxState {
        match self {
            Entry::Queued => OutboxState::Queued,
            Entry::Held => OutboxState::Held,
            Entry::Review => OutboxState::Review,
        }
    }
}

pub(crate) struct NewPost<'a> {
    pub account_id: i64,
    pub feed_id: i64,
    pub item_id: i64,
    pub post: &'a Post,
    pub entry: Entry,
    pub item_date: Option<i64>,
}

pub(crate) async fn insert(conn: super::Conn<'_>, new: NewPost<'_>, now: i64) -> StoreResult<i64> {
    let (image_url, alt_text) = match &new.post.media {
        Media::Text => (None, None),
        Media::Image { url, alt_text } => (Some(url.as_str()), Some(alt_text.as_str())),
    };
    let state = new.entry.state();
    // The oldest story first: its own date, else when we queued it.
    let queue_order = new.item_date.unwrap_or(now);
    let attachment = new.post.text_attachment.as_ref();
    let id: i64 = on!(conn, |c| {
        sqlx::query_scalar(
        "INSERT INTO outbox (account_id, item_id, feed_id, state, text, link_attachment, \
         topic_tag, media_type, image_url, alt_text, reply_control, item_date, created_at, \
         updated_at, queue_order, text_attachment, attachment_link, reply_approvals, ghost, \
         first_reply) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.item_id)
    .bind(new.feed_id)
    .bind(state)
    .bind(new.post.text.as_str())
    .bind(new.post.link_attachment.as_deref())
    .bind(new.post.topic_tag.as_deref())
    .bind(MediaType::from(&new.post.media))
    .bind(image_url)
    .bind(alt_text)
    .bind(new.post.reply_control.as_deref())
    .bind(new.item_date)
    .bind(now)
    .bind(now)
    .bind(queue_order)
    .bind(attachment.map(|a| a.plaintext()))
    .bind(attachment.and_then(|a| a.link()))
    .bind(new.post.reply_approvals)
    .bind(new.post.ghost)
    .bind(new.post.first_reply.as_deref())
    .fetch_one(c)
    .await?
    });
    Ok(id)
}

/// Outbox counts of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting for an editor.
    pub review: i64,
    pub held: i64,
    pub queued: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub published_24h: i64,
}

impl Store {
    pub async fn outbox_by_id(&self, id: i64) -> StoreResult<Option<OutboxRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?"))
        ))
        .bind(id)
        .fetch_optional(c)
        .await?))
    }

    /// The outbox of one account (or all), newest first, at most `limit` rows.
    pub async fn list_outbox(
        &self,
        account_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE (? IS NULL OR account_id = ?) \
             ORDER BY id DESC LIMIT ?"
            ))
        ))
        .bind(account_id)
        .bind(account_id)
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    pub async fn outbox_counts(&self, account_id: i64, now: i64) -> StoreResult<OutboxCounts> {
        let rows: Vec<(OutboxState, i64)> = on!(self.pool(), |c| {
            sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE account_id = $1 \
             AND state IN ('review', 'held', 'queued', 'container_created', 'publishing', 'failed') \
             GROUP BY state",
        )
        .bind(account_id)
        .fetch_all(c)
        .await?
        });
        let mut counts = OutboxCounts::default();
        for (state, n) in rows {
            match state {
                OutboxState::Review => counts.review = n,
                OutboxState::Held => counts.held = n,
                OutboxState::Queued => counts.queued = n,
                OutboxState::Failed => counts.failed = n,
                _ => counts.in_flight += n,
            }
        }
        counts.published_24h = on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE account_id = $1 AND state = 'published' \
             AND published_at > $2",
        )
        .bind(account_id)
        .bind(now - 86_400)
        .fetch_one(c)
        .await?);
        Ok(counts)
    }
}

// ---------------------------------------------------------------------------------------
// The publisher's reads: the queue, and the publish ledger. Its claim and transitions are
// in `claim`.
// ---------------------------------------------------------------------------------------

/// The queue order: replies first (a reply finishes what its published post began), then
/// `queue_order` (the story's date, else when we queued it, unless a release reordered its
/// batch newest first), ties by insertion order. A correction's reply
/// (`store::corrections`) is news of its own: it queues with the stories, by when the
/// change was seen (its `queue_order`), so a feed that rewrites its headlines cannot starve
/// the newsroom's new stories.
pub(crate) const QUEUE_ORDER: &str =
    "(reply_to IS NULL OR id IN (SELECT reply_id FROM correction_replies)), queue_order, id";

impl Store {
    /// Posts of the account in flight (`container_created`, `publishing`), whoever holds
    /// them, oldest first.
    pub async fn outbox_in_flight(&self, account_id: i64) -> StoreResult<Vec<OutboxRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? \
             AND state IN ('container_created', 'publishing') ORDER BY {QUEUE_ORDER}"
            ))
        ))
        .bind(account_id)
        .fetch_all(c)
        .await?))
    }

    /// The next queued post of the account that nobody holds and whose `not_before` has
    /// passed, oldest first: the one to claim.
    pub async fn outbox_next_queued(
        &self,
        account_id: i64,
        now: i64,
    ) -> StoreResult<Option<OutboxRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? AND state = 'queued' \
             AND claimed_by IS NULL AND not_before <= ? ORDER BY {QUEUE_ORDER} LIMIT 1"
            ))
        ))
        .bind(account_id)
        .bind(now)
        .fetch_optional(c)
        .await?))
    }

    /// The earliest `not_before` of a queued post that is not due yet, if any.
    pub async fn outbox_next_due_at(&self, account_id: i64, now: i64) -> StoreResult<Option<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT MIN(not_before) FROM outbox WHERE account_id = $1 AND state = 'queued' \
             AND not_before > $2",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(c)
        .await?))
    }

    /// Posts the account still has to publish (queued or in flight).
    pub async fn outbox_pending(&self, account_id: i64) -> StoreResult<i64> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE account_id = $1 \
             AND state IN ('queued', 'container_created', 'publishing')",
        )
        .bind(account_id)
        .fetch_one(c)
        .await?))
    }

    /// The link of the item behind a post, as the feed gave it.
    pub async fn outbox_item_link(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT items.link FROM outbox JOIN items ON items.id = outbox.item_id \
             WHERE outbox.id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await?)
        .flatten())
    }

    /// Published posts of the account still without a permalink, published at or after
    /// `since`: `(outbox id, media id, published_at)`.
    pub async fn outbox_missing_permalinks(
        &self,
        account_id: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(
            "SELECT id, media_id, published_at FROM outbox WHERE account_id = $1 \
             AND state = 'published' AND permalink IS NULL AND media_id IS NOT NULL \
             AND published_at >= $2 ORDER BY published_at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(c)
        .await?))
    }

    pub async fn outbox_set_permalink(&self, id: i64, permalink: &str) -> StoreResult<()> {
        on!(self.pool(), |c| sqlx::query(
            "UPDATE outbox SET permalink = $1 WHERE id = $2 AND permalink IS NULL"
        )
        .bind(permalink)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The publish ledger: when the account's posts (and replies: the quota is planned
    /// with them) were published, oldest first, from `since` on (unix seconds).
    pub async fn published_times(&self, account_id: i64, since: i64) -> StoreResult<Vec<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT published_at FROM outbox WHERE account_id = $1 AND state = 'published' \
             AND published_at >= $2 ORDER BY published_at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(c)
        .await?))
    }

    /// When the account last published, if ever.
    pub async fn last_published_at(&self, account_id: i64) -> StoreResult<Option<i64>> {
        Ok(on!(self.pool(), |c| sqlx::query_scalar(
            "SELECT MAX(published_at) FROM outbox WHERE account_id = $1 AND state = 'published'",
        )
        .bind(account_id)
        .fetch_one(c)
        .await?))
    }
}
