//! Editorial actions on posts, shared by the CLI (`queue …`, `release`) and the desk:
//! approve, edit, release (by the piece or a feed's flood), retry, drop.
//!
//! Owns what the two front ends must do alike: an edited text is checked against every
//! limit by composition's own check ([`Post::check`]: 500 bytes, 5 links, no markup, the
//! topic tag rules), so the messages are composition's; and every change is logged once,
//! with who made it ([`Actor`]: the CLI, or a desk session by its label, never its cookie)
//! and the post. Must not hold SQL (the store's `admin` statements do) nor print: the
//! callers turn [`Done`] and [`ReviewError`] into lines or pages.

use crate::compose::{LimitError, Media, Post, PostText, TextAttachment, TopicTag};
use crate::config::ReleaseOrder;
use crate::store::{
    AdminOutcome, MediaType, OutboxRow, OutboxState, ReleaseRequest, Released, Store, StoreError,
    now_unix,
};
use std::fmt;

/// Who acted, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A `feed2threads queue …` / `release` command.
    Cli,
    /// A desk session, by its public label (not its cookie).
    Desk { session: String },
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli => f.write_str("cli"),
            Actor::Desk { session } => write!(f, "desk session {session}"),
        }
    }
}

/// One action on one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Edit,
    Release,
    Retry,
    Drop,
}

impl Action {
    /// What the post became, for messages: "post 12 approved".
    pub fn done(self) -> &'static str {
        match self {
            Action::Approve => "approved",
            Action::Edit => "edited",
            Action::Release => "released",
            Action::Retry => "queued again",
            Action::Drop => "dropped",
        }
    }

    /// The states the action applies to, for messages.
    fn applies_to(self) -> &'static str {
        match self {
            Action::Approve => "posts waiting for review",
            Action::Edit => "posts waiting for review, held, queued or failed",
            Action::Release => "posts held by the flood guard",
            Action::Retry => "failed, expired or dropped posts",
            Action::Drop => "posts waiting for review, held, queued or failed",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Edit => "edit",
            Action::Release => "release",
            Action::Retry => "retry",
            Action::Drop => "drop",
        }
    }
}

/// An action that did what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub post: i64,
    pub action: Action,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "post {} {}", self.post, self.action.done())
    }
}

/// Why an action did not happen. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no post with id {post}")]
    NotFound { post: i64 },
    #[error("post {post} is {state}; only {} can be {}", action.applies_to(), action.done())]
    WrongState {
        post: i64,
        state: OutboxState,
        action: Action,
    },
    #[error("post {post} is being published; it can no longer be {}", action.done())]
    Claimed { post: i64, action: Action },
    /// The edited text breaks a limit; the message is composition's.
    #[error("post {post}: {source}")]
    Limit { post: i64, source: LimitError },
    #[error("post {post}: the text is empty")]
    Empty { post: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReviewError {
    /// The post's own fault (not the store's): a person can fix the request.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, ReviewError::Store(_))
    }
}

/// The editorial actions, for one actor.
#[derive(Debug, Clone)]
pub struct Editor {
    store: Store,
    actor: Actor,
}

impl Editor {
    pub fn new(store: Store, actor: Actor) -> Editor {
        Editor { store, actor }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// A post waiting for review goes to the queue.
    pub async fn approve(&self, post: i64) -> Result<Done, ReviewError> {
        let outcome = self.store.approve_post(post, now_unix()).await?;
        self.finish(post, Action::Approve, outcome)
    }

    /// A post leaves the outbox for good.
    pub async fn drop_post(&self, post: i64) -> Result<Done, ReviewError> {
        let outcome = self.store.drop_post(post, now_unix()).await?;
        self.finish(post, Action::Drop, outcome)
    }

    /// A failed (expired, dropped) post goes back to the queue.
    pub async fn retry(&self, post: i64) -> Result<Done, ReviewError> {
        let outcome = self.store.retry_post(post, now_unix()).await?;
        self.finish(post, Action::Retry, outcome)
    }

    /// Replace a post's text after checking it as composition checks a post. Line ends
    /// are `\n` (a browser sends `\r\n`).
    pub async fn edit(&self, post: i64, text: &str) -> Result<Done, ReviewError> {
        let Some(row) = self.store.outbox_by_id(post).await? else {
            return Err(ReviewError::NotFound { post });
        };
        let text = normalise(text);
        checked_text(&row, &text)?;
        let outcome = self.store.edit_post_text(post, &text, now_unix()).await?;
        let done = self.finish(post, Action::Edit, outcome)?;
        tracing::info!(
            actor = %self.actor,
            post,
            bytes = text.len(),
            before = %first_words(&row.text),
            after = %first_words(&text),
            "post text edited"
        );
        Ok(done)
    }

    /// Release held posts by id. Posts of a feed whose `release_order` is `newest` (as
    /// `order` says) and that are released together go out newest first.
    pub async fn release_posts(
        &self,
        posts: &[i64],
        order: impl Fn(i64) -> ReleaseOrder,
    ) -> Result<Vec<Result<Done, ReviewError>>, ReviewError> {
        // Group by feed: each feed's batch follows its own release order.
        let mut by_feed: Vec<(i64, Vec<i64>)> = Vec::new();
        let mut missing = Vec::new();
        for &post in posts {
            match self.store.outbox_by_id(post).await? {
                Some(row) => match by_feed.iter_mut().find(|(f, _)| *f == row.feed_id) {
                    Some((_, ids)) => ids.push(post),
                    None => by_feed.push((row.feed_id, vec![post])),
                },
                None => missing.push(post),
            }
        }
        let now = now_unix();
        let mut results = Vec::with_capacity(posts.len());
        for (feed, ids) in by_feed {
            let newest_first = order(feed).newest_first();
            for (post, outcome) in self.store.release_posts(&ids, newest_first, now).await? {
                results.push((post, self.finish(post, Action::Release, outcome)));
            }
        }
        results.extend(
            missing
                .into_iter()
                .map(|post| (post, Err(ReviewError::NotFound { post }))),
        );
        // In the order asked.
        results.sort_by_key(|(post, _)| posts.iter().position(|p| p == post));
        Ok(results.into_iter().map(|(_, r)| r).collect())
    }

    /// Release a feed's flood: all, or the newest `latest`, the rest kept or dropped.
    pub async fn release_feed(
        &self,
        feed_id: i64,
        feed_name: &str,
        latest: Option<usize>,
        drop_rest: bool,
        order: ReleaseOrder,
    ) -> Result<Released, ReviewError> {
        let request = ReleaseRequest {
            latest,
            drop_rest,
            newest_first: order.newest_first(),
        };
        let done = self
            .store
            .release_feed(feed_id, request, now_unix())
            .await?;
        tracing::info!(
            actor = %self.actor,
            feed = %crate::feed::redact::redact_url(feed_name),
            released = done.released.len(),
            dropped = done.dropped.len(),
            kept = done.kept,
            posts = ?done.released,
            order = order.as_str(),
            "released held posts"
        );
        Ok(done)
    }

    /// Log a change that happened, or say why it did not.
    fn finish(
        &self,
        post: i64,
        action: Action,
        outcome: AdminOutcome,
    ) -> Result<Done, ReviewError> {
        match outcome {
            AdminOutcome::Done => {
                tracing::info!(actor = %self.actor, post, action = action.as_str(), "post {}", action.done());
                Ok(Done { post, action })
            }
            AdminOutcome::NotFound => Err(ReviewError::NotFound { post }),
            AdminOutcome::WrongState(state) => Err(ReviewError::WrongState {
                post,
                state,
                action,
            }),
            AdminOutcome::Claimed => Err(ReviewError::Claimed { post, action }),
        }
    }
}

/// `\r\n` and lone `\r` become `\n`.
pub fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The post `row` would be with `text`, checked as composition checks a post: the text's
/// own limits, then the links with the card counted, the topic tag, the media.
pub fn checked_text(row: &OutboxRow, text: &str) -> Result<PostText, ReviewError> {
    let post = row.id;
    if text.trim().is_empty() {
        return Err(ReviewError::Empty { post });
    }
    let limit = |source| ReviewError::Limit { post, source };
    let checked = Post {
        text: PostText::new(text).map_err(limit)?,
        link_attachment: row.link_attachment.clone(),
        topic_tag: row
            .topic_tag
            .as_deref()
            .map(TopicTag::new)
            .transpose()
            .map_err(limit)?,
        media: match (row.media_type, &row.image_url) {
            (MediaType::Image, Some(url)) => Media::Image {
                url: url.clone(),
                alt_text: row.alt_text.clone().unwrap_or_default(),
            },
            _ => Media::Text,
        },
        reply_control: row.reply_control.clone(),
        text_attachment: row
            .options
            .text_attachment
            .clone()
            .map(|a| TextAttachment::new(a, row.options.attachment_link.clone()))
            .transpose()
            .map_err(limit)?,
        reply_approvals: row.options.reply_approvals,
        ghost: row.options.ghost,
        first_reply: row
            .options
            .first_reply
            .as_deref()
            .map(PostText::new)
            .transpose()
            .map_err(limit)?,
    };
    checked.check().map_err(limit)?;
    Ok(checked.text)
}

/// The first words of a text, for a log line.
fn first_words(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> OutboxRow {
        OutboxRow {
            id: 7,
            account_id: 1,
            item_id: 1,
            feed_id: 1,
            state: OutboxState::Review,
            text: text.into(),
            link_attachment: Some("https://news.example/a".into()),
            topic_tag: Some("News".into()),
            media_type: MediaType::Text,
            image_url: None,
            alt_text: None,
            reply_control: None,
            container_id: None,
            container_created_at: None,
            publish_started_at: None,
            media_id: None,
            permalink: None,
            attempts: 0,
            last_error: None,
            not_before: 0,
            item_date: None,
            created_at: 0,
            updated_at: 0,
            published_at: None,
            claimed_by: None,
            queue_order: 0,
            options: Default::default(),
        }
    }

    #[test]
    fn an_edit_is_checked_with_compositions_messages() {
        let r = row("old");
        let long = "x".repeat(501);
        let err = checked_text(&r, &long).unwrap_err().to_string();
        assert_eq!(
            err, "post 7: text is 501 bytes of UTF-8; the limit is 500",
            "{err}"
        );
        // Five links in the text plus a different card: six.
        let links: String = (0..5).map(|i| format!("https://e{i}.example/ ")).collect();
        let err = checked_text(&r, &links).unwrap_err().to_string();
        assert!(
            err.contains("6 distinct links") && err.contains("limit is 5"),
            "{err}"
        );
        let err = checked_text(&r, "a <b>bold</b> claim")
            .unwrap_err()
            .to_string();
        assert!(err.contains("HTML tag"), "{err}");
        assert!(matches!(
            checked_text(&r, "  \n"),
            Err(ReviewError::Empty { post: 7 })
        ));
        let mut bad_tag = row("x");
        bad_tag.topic_tag = Some("Arts & Culture".into());
        let err = checked_text(&bad_tag, "fine").unwrap_err().to_string();
        assert!(err.contains("topic tag"), "{err}");
        assert_eq!(checked_text(&r, "new text").unwrap().as_str(), "new text");
        assert_eq!(normalise("a\r\nb\rc"), "a\nb\nc");
    }
}
