//! Making a step's outcome durable: published (found after a lost answer, or answered),
//! failed, deferred, expired, not published, fallen back to text; the store trouble that
//! ends a step; and the permalink backfill.
//!
//! Each transition is conditional on the post's state and its holder (see
//! `store::outbox::claim`); a stale one means the post is no longer ours to move, and the
//! step ends as [`Outcome::Skipped`]. Must not call `threads_publish`.

use super::calls::CallError;
use super::steps::Trip;
use super::{AccountPublisher, Outcome, WaitReason};
use crate::publish::PublishError;
use crate::publish::reconcile;
use crate::store::{MediaType, OutboxRow, StoreError, Transition, now_unix};
use crate::threads::MediaId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Characters of a post's first line in the `published` log line.
const EXCERPT: usize = 60;

impl AccountPublisher {
    /// The container is PUBLISHED: find the post among the account's recent ones and record
    /// it. Not finding it does not make it unpublished: it is recorded without a media id.
    pub(super) async fn record_found(&mut self, trip: &mut Trip) -> Result<Outcome, PublishError> {
        let since = reconcile::search_since(trip.row(), self.config.search_slack);
        // The API lists replies apart from top-level posts.
        let reply = trip.is_reply();
        let listed = self
            .call(&mut trip.token, move |c, t| async move {
                if reply {
                    c.recent_replies(&t, since, 100).await
                } else {
                    c.recent_posts(&t, since, 100).await
                }
            })
            .await?;
        match listed {
            Ok(list) => match reconcile::find_post(&list.posts, trip.row(), since) {
                Some(post) => {
                    tracing::info!(media_id = %post.id, "the lost publish did succeed; found the post");
                    let media = post.id.clone();
                    let permalink = post.permalink.clone();
                    self.record_published(trip, Some(media), permalink).await
                }
                None => {
                    tracing::warn!(
                        complete = list.complete,
                        "the container is PUBLISHED but the post is not among the recent ones; recorded as published without a media id"
                    );
                    self.record_published(trip, None, None).await
                }
            },
            Err(CallError::Api(e)) => {
                tracing::warn!(
                    "the container is PUBLISHED; cannot list recent posts to find it ({e}); recorded as published without a media id"
                );
                self.record_published(trip, None, None).await
            }
            Err(CallError::Paused(_)) => self.record_published(trip, None, None).await,
            // Recorded by whoever owns the account next, which reconciles it again.
            Err(CallError::LeaseLapsed) => Ok(Outcome::LeaseLapsed),
        }
    }

    /// Records the post as published, then makes sure its permalink is known (the publish
    /// answer carries only the media id: one read of the post, after the store has the
    /// publish), and logs the line people read: the post's first words and its permalink.
    pub(super) async fn record_published(
        &mut self,
        trip: &Trip,
        media: Option<MediaId>,
        permalink: Option<String>,
    ) -> Result<Outcome, PublishError> {
        let now = now_unix();
        let media_id = media.map(MediaId::into_string);
        // Published whatever the store says next: pacing counts it.
        self.pacer.published();
        let stored = self
            .store
            .outbox_published(
                &trip.held.claim,
                media_id.as_deref(),
                permalink.as_deref(),
                now,
            )
            .await?;
        if stored.is_stale() {
            // Published, but an operator changed the row meanwhile: say so, loudly.
            tracing::error!(
                media_id = media_id.as_deref().unwrap_or("-"),
                "post published but its outbox row changed state meanwhile"
            );
            return Ok(Outcome::Skipped { post: trip.post() });
        }
        let permalink = match (permalink, &media_id) {
            (Some(link), _) => Some(link),
            (None, Some(media)) => self.permalink_of(trip, media).await,
            (None, None) => None,
        };
        if permalink.is_none() && media_id.is_some() {
            self.permalinks_due = true;
        }
        let excerpt = crate::human::excerpt(&trip.row().text, EXCERPT);
        let link = permalink.as_deref().unwrap_or("-");
        let media = media_id.as_deref().unwrap_or("-");
        let what = match trip.row().options.reply_to {
            Some(parent) => format!("reply to post {parent} published"),
            None => "published".to_string(),
        };
        match (&permalink, &media_id) {
            (Some(link), _) => {
                tracing::info!(text = %excerpt, permalink = %link, media_id = %media, "{what} \"{excerpt}\" at {link}");
            }
            (None, Some(_)) => tracing::info!(
                text = %excerpt, permalink = %link, media_id = %media,
                "{what} \"{excerpt}\" as media {media}; its permalink is not known yet"
            ),
            (None, None) => tracing::info!(
                text = %excerpt, permalink = %link, media_id = %media,
                "{what} \"{excerpt}\"; the post was not found among the account's recent ones"
            ),
        }
        if trip.is_reply() {
            crate::metrics::record_reply_published(&self.settings.name);
        } else {
            crate::metrics::record_published(&self.settings.name);
        }
        if let Some(created) = trip.row().container_created_at {
            let secs = u64::try_from(now - created).unwrap_or(0);
            crate::metrics::record_publish_duration(&self.settings.name, Duration::from_secs(secs));
        }
        Ok(Outcome::Published {
            post: trip.post(),
            media_id,
        })
    }

    /// The permalink of a post just published, read from the API and stored; `None` when
    /// the API does not give it (yet, or for copyrighted content) or the read fails: the
    /// backfill tries again later. Never fails the step: the publish is already recorded.
    async fn permalink_of(&mut self, trip: &Trip, media: &str) -> Option<String> {
        let media = MediaId::new(media.to_string());
        let post = match self.client.get_post(&trip.token, &media).await {
            Ok(post) => post,
            Err(e) => {
                crate::metrics::record_threads_error(&e);
                tracing::debug!("cannot read the new post's permalink yet: {e}");
                return None;
            }
        };
        let link = post.permalink?;
        if let Err(e) = self.store.outbox_set_permalink(trip.post(), &link).await {
            tracing::warn!("cannot store the permalink {link}: {e}; the backfill tries again");
            self.permalinks_due = true;
        }
        Some(link)
    }

    pub(super) async fn fail(
        &mut self,
        trip: &Trip,
        reason: &str,
    ) -> Result<Outcome, PublishError> {
        let stored = self
            .store
            .outbox_failed(&trip.held.claim, reason, now_unix())
            .await?;
        if stored.is_stale() {
            return Ok(Outcome::Skipped { post: trip.post() });
        }
        tracing::error!("post failed: {reason}");
        // The reason text is free-form; the label stays bounded.
        crate::metrics::record_publish_failed(&self.settings.name, "permanent");
        Ok(Outcome::Failed {
            post: trip.post(),
            reason: reason.to_string(),
        })
    }

    /// A transient failure: note it on the post and hold the account back (capped
    /// exponential backoff with jitter).
    pub(super) async fn defer(
        &mut self,
        trip: &Trip,
        error: &str,
    ) -> Result<Outcome, PublishError> {
        let d = self.retry.next_delay();
        let now = now_unix();
        // Rounded down, so the post is due again no later than the hold ends.
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let stored = self
            .store
            .outbox_defer(&trip.held.claim, error, now.saturating_add(secs), now)
            .await?;
        if stored.is_stale() {
            return Ok(Outcome::Skipped { post: trip.post() });
        }
        let until = Instant::now() + d;
        let reason = WaitReason::Retry {
            post: trip.post(),
            error: error.to_string(),
        };
        self.hold = Some((until, reason.clone()));
        tracing::warn!(
            retry_in_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            failures = self.retry.failures(),
            "{error}"
        );
        Ok(Outcome::Wait { until, reason })
    }

    /// Threads proved the publish did not happen: the post keeps its container, back in
    /// `container_created`.
    pub(super) async fn not_published(
        &mut self,
        trip: &mut Trip,
        error: &str,
        now: i64,
    ) -> Result<Transition, PublishError> {
        let stored = self
            .store
            .outbox_not_published(&trip.held.claim, error, now)
            .await?;
        if stored.applied() {
            trip.held.row.state = crate::store::OutboxState::ContainerCreated;
        }
        Ok(stored)
    }

    /// Expire the posts waiting for review whose story grew older than their feed's
    /// `max_age`, as a queued post would be: nobody approved them in time.
    pub async fn expire_stale_reviews(&self) -> Result<u64, PublishError> {
        let now = now_unix();
        let mut expired = 0;
        for (post, feed, born) in self.store.review_ages(self.account_id).await? {
            let Some(max_age) = self.feeds.get(&feed).and_then(|f| f.max_age) else {
                continue;
            };
            let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            if now.saturating_sub(born) <= max {
                continue;
            }
            let reason = format!(
                "the story is older than max_age ({}) and was not approved",
                humantime::format_duration(max_age)
            );
            if self.store.expire_review(post, &reason, now).await?
                == crate::store::AdminOutcome::Done
            {
                tracing::warn!(post, "expired while waiting for review: {reason}");
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Drop a queued post whose story is older than its feed's `max_age`.
    pub(super) async fn expire_if_old(
        &mut self,
        trip: &Trip,
    ) -> Result<Option<Outcome>, PublishError> {
        let Some(max_age) = trip.feed.as_ref().and_then(|f| f.max_age) else {
            return Ok(None);
        };
        let now = now_unix();
        // Undated items age from when we queued them.
        let born = trip.row().item_date.unwrap_or(trip.row().created_at);
        let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(born) <= max {
            return Ok(None);
        }
        let reason = format!(
            "the story is older than max_age ({}) and was not published",
            humantime::format_duration(max_age)
        );
        let stored = self
            .store
            .outbox_expired(&trip.held.claim, &reason, now)
            .await?;
        if stored.is_stale() {
            return Ok(Some(Outcome::Skipped { post: trip.post() }));
        }
        tracing::warn!("dropped: {reason}");
        Ok(Some(Outcome::Expired { post: trip.post() }))
    }

    /// An IMAGE post whose container failed: turn it into the text post of the same story
    /// (unless the feed says `image_fallback = "none"`). Returns the changed row.
    pub(super) async fn media_failed(
        &mut self,
        trip: &Trip,
        why: &str,
    ) -> Result<Option<OutboxRow>, PublishError> {
        let row = trip.row();
        if row.media_type != MediaType::Image
            || !trip.feed.as_ref().is_none_or(|f| f.image_fallback)
        {
            return Ok(None);
        }
        let link = match reconcile::fallback_link(&row.text) {
            // The link goes in the first reply: the text post gets no card either.
            _ if row.options.first_reply.is_some() => None,
            Some(l) => Some(l),
            None => self
                .store
                .outbox_item_link(row.id)
                .await?
                .filter(|l| l.starts_with("http://") || l.starts_with("https://")),
        };
        let note = format!("{why}; fell back to a text post");
        let stored = self
            .store
            .outbox_fallback_to_text(&trip.held.claim, link.as_deref(), &note, now_unix())
            .await?;
        if stored.is_stale() {
            return Ok(None);
        }
        tracing::warn!(
            image_url = row.image_url.as_deref().unwrap_or("-"),
            "{why}; publishing the text-only version of the story instead"
        );
        Ok(self.store.outbox_by_id(row.id).await?)
    }

    /// A store failure ended the step: log what was being done, and wait (capped
    /// exponential backoff) before the next step, which starts again from the store.
    pub(super) fn store_trouble(
        &mut self,
        doing: &str,
        post: Option<i64>,
        error: &StoreError,
    ) -> Outcome {
        let d = self.store_trouble.next_delay();
        tracing::error!(
            account = %self.settings.name,
            post,
            step = doing,
            failures = self.store_trouble.failures(),
            retry_in_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            "store error while {doing}: {error}; trying again"
        );
        let until = Instant::now() + d;
        let reason = WaitReason::Store {
            post,
            error: error.to_string(),
        };
        self.hold = Some((until, reason.clone()));
        Outcome::Wait { until, reason }
    }

    /// Fill in the permalinks of recent publishes with one listing of the account's posts,
    /// instead of one lookup per post: the publish answer carries only the media id.
    pub async fn backfill_permalinks(&mut self) -> Result<usize, PublishError> {
        self.permalinks_due = false;
        let now = now_unix();
        let missing = self
            .store
            .outbox_missing_permalinks(self.account_id, now - 86_400)
            .await?;
        let Some(oldest) = missing.iter().map(|(_, _, at)| *at).min() else {
            return Ok(0);
        };
        let Some(account) = self.store.account_by_id(self.account_id).await? else {
            return Ok(0);
        };
        let Some(token) = account.token().filter(|_| account.paused_reason.is_none()) else {
            return Ok(0);
        };
        let slack = i64::try_from(self.config.search_slack.as_secs()).unwrap_or(0);
        let since = chrono::DateTime::from_timestamp(oldest - slack, 0).unwrap_or_default();
        let list = match self.client.recent_posts(&token, since, 100).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(account = %self.settings.name, "cannot list recent posts for permalinks: {e}");
                return Ok(0);
            }
        };
        let mut links: HashMap<String, String> = list
            .posts
            .into_iter()
            .filter_map(|p| Some((p.id.into_string(), p.permalink?)))
            .collect();
        // Replies are listed apart; look there only if posts did not account for all.
        if missing
            .iter()
            .any(|(_, media, _)| !links.contains_key(media))
            && let Ok(replies) = self.client.recent_replies(&token, since, 100).await
        {
            links.extend(
                replies
                    .posts
                    .into_iter()
                    .filter_map(|p| Some((p.id.into_string(), p.permalink?))),
            );
        }
        let mut filled = 0;
        for (id, media, _) in &missing {
            if let Some(link) = links.get(media) {
                self.store.outbox_set_permalink(*id, link).await?;
                filled += 1;
            }
        }
        tracing::debug!(account = %self.settings.name, filled, "permalinks backfilled");
        Ok(filled)
    }
}

/// The `Instant` of unix time `at`, as seen from unix time `now`.
pub(super) fn instant_at(at: i64, now: i64) -> Instant {
    let ahead = Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0));
    Instant::now() + ahead
}
