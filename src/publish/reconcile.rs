//! Reconciliation: what a container's status means for a post, and finding a post that
//! Threads published while our answer was lost.
//!
//! The rule this module encodes (threads-api.md §4.3, §8): after a publish whose outcome is
//! unknown, the container's status decides. `PUBLISHED` means done (the media id is looked
//! up among the account's recent posts); `FINISHED` means it is safe to publish again;
//! `EXPIRED` and `ERROR` mean the container was not published and a new one (or the
//! text-only fallback) is needed; anything else means wait and ask again. Nothing here
//! calls the API or the store: the worker does, and asks this module what the answers mean.

use crate::compose::find_links;
use crate::store::{MediaType, OutboxRow};
use crate::threads::{
    AttachedText, ContainerState, ImageContainer, MediaId, NewContainer, Post, ReplyControl,
    TextContainer,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What to do with a post, given its container's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `PUBLISHED`: the post exists; record it, never publish again.
    Published,
    /// `FINISHED`: ready, and certainly not published.
    Publish,
    /// `IN_PROGRESS`, or a status we do not know: ask again later. Publishing a container
    /// in an unknown state could publish it twice.
    Wait,
    /// `EXPIRED`: not published within 24 h; a new container is needed.
    Recreate,
    /// `ERROR`: processing failed (the message says why); permanent for this media.
    Failed(String),
}

pub fn verdict(state: &ContainerState, error_message: Option<&str>) -> Verdict {
    match state {
        ContainerState::Published => Verdict::Published,
        ContainerState::Finished => Verdict::Publish,
        ContainerState::Expired => Verdict::Recreate,
        ContainerState::Error => Verdict::Failed(error_message.unwrap_or("UNKNOWN").to_string()),
        ContainerState::InProgress | ContainerState::Other(_) => Verdict::Wait,
    }
}

/// Where to start looking for a published post: a little before its first publish call
/// (clocks differ, and the API's `since` is coarse).
pub fn search_since(row: &OutboxRow, slack: Duration) -> DateTime<Utc> {
    let start = row
        .publish_started_at
        .or(row.container_created_at)
        .unwrap_or(row.updated_at);
    let slack = i64::try_from(slack.as_secs()).unwrap_or(0);
    DateTime::from_timestamp(start.saturating_sub(slack), 0).unwrap_or_else(Utc::now)
}

/// The post among `posts` that is this outbox row: same text (and same link card when the
/// row has one); failing that, the same link card alone, in case Threads normalised the
/// text. Among several, the earliest at or after `since` (the API lists newest first).
pub fn find_post<'a>(posts: &'a [Post], row: &OutboxRow, since: DateTime<Utc>) -> Option<&'a Post> {
    let after = |p: &&Post| p.timestamp.is_none_or(|t| t >= since);
    let same_link = |p: &&Post| match &row.link_attachment {
        Some(link) => p.link_attachment_url.as_deref() == Some(link.as_str()),
        None => true,
    };
    let same_text = |p: &&Post| p.text.as_deref().map(str::trim) == Some(row.text.trim());
    posts
        .iter()
        .rev()
        .filter(after)
        .find(|p| same_text(p) && same_link(p))
        .or_else(|| {
            row.link_attachment.as_ref()?;
            posts.iter().rev().filter(after).find(same_link)
        })
}

/// The link card for the text-only fallback of an image post: image posts carry the
/// article link in their text (they get no card), so the last http(s) link of the text is
/// the article. Reusing a link that is in the text keeps the link count unchanged.
pub fn fallback_link(text: &str) -> Option<String> {
    find_links(text)
        .into_iter()
        .rev()
        .map(|r| text[r].to_string())
        .find(|l| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
}

/// The container request for an outbox row; `reply_to` is the media id of the post a
/// reply row answers. Posts were validated when they were queued; an unknown reply
/// control (or an image post without its image) here means the row was edited by hand.
pub fn container_for(row: &OutboxRow, reply_to: Option<&str>) -> Result<NewContainer, String> {
    let reply_control = match row.reply_control.as_deref() {
        None => None,
        Some(v) => {
            Some(ReplyControl::parse(v).ok_or_else(|| format!("unknown reply_control {v:?}"))?)
        }
    };
    let options = &row.options;
    let reply_to_id = match (options.reply_to, reply_to) {
        (None, _) => None,
        (Some(_), Some(media)) => Some(MediaId::new(media)),
        (Some(post), None) => {
            return Err(format!(
                "post {post}, which this reply answers, has no known media id on Threads"
            ));
        }
    };
    match row.media_type {
        MediaType::Text => Ok(NewContainer::Text(TextContainer {
            text: row.text.clone(),
            link_attachment: row.link_attachment.clone(),
            topic_tag: row.topic_tag.clone(),
            reply_control,
            text_attachment: options
                .text_attachment
                .clone()
                .map(|plaintext| AttachedText {
                    plaintext,
                    link_attachment_url: options.attachment_link.clone(),
                }),
            reply_to_id,
            enable_reply_approvals: options.reply_approvals,
            is_ghost_post: options.ghost,
        })),
        MediaType::Image => {
            let image_url = row
                .image_url
                .clone()
                .ok_or_else(|| "image post without image_url".to_string())?;
            Ok(NewContainer::Image(ImageContainer {
                image_url,
                alt_text: row.alt_text.clone().filter(|a| !a.is_empty()),
                text: Some(row.text.clone()).filter(|t| !t.is_empty()),
                topic_tag: row.topic_tag.clone(),
                reply_control,
                enable_reply_approvals: options.reply_approvals,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxState;
    use crate::threads::MediaId;

    fn row(text: &str, link: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 1,
            account_id: 1,
            item_id: 1,
            feed_id: 1,
            state: OutboxState::Publishing,
            text: text.into(),
            link_attachment: link.map(str::to_string),
            topic_tag: None,
            media_type: MediaType::Text,
            image_url: None,
            alt_text: None,
            reply_control: None,
            container_id: Some("c1".into()),
            container_created_at: Some(1_800_000_000),
            publish_started_at: Some(1_800_000_010),
            media_id: None,
            permalink: None,
            attempts: 1,
            last_error: None,
            not_before: 0,
            item_date: None,
            created_at: 1_800_000_000,
            updated_at: 1_800_000_010,
            published_at: None,
            claimed_by: None,
            queue_order: 0,
            options: Default::default(),
        }
    }

    fn post(id: &str, text: &str, link: Option<&str>, at: i64) -> Post {
        Post {
            id: MediaId::new(id),
            permalink: Some(format!("https://www.threads.net/@u/post/{id}")),
            text: Some(text.into()),
            timestamp: DateTime::from_timestamp(at, 0),
            link_attachment_url: link.map(str::to_string),
            shortcode: None,
            media_type: Some("TEXT_POST".into()),
            topic_tag: None,
        }
    }

    #[test]
    fn statuses_map_to_verdicts() {
        assert_eq!(
            verdict(&ContainerState::Published, None),
            Verdict::Published
        );
        assert_eq!(verdict(&ContainerState::Finished, None), Verdict::Publish);
        assert_eq!(verdict(&ContainerState::Expired, None), Verdict::Recreate);
        assert_eq!(verdict(&ContainerState::InProgress, None), Verdict::Wait);
        assert_eq!(
            verdict(&ContainerState::Other("NEW".into()), None),
            Verdict::Wait
        );
        assert_eq!(
            verdict(&ContainerState::Error, Some("FAILED_DOWNLOADING_VIDEO")),
            Verdict::Failed("FAILED_DOWNLOADING_VIDEO".into())
        );
    }

    #[test]
    fn finds_by_text_and_link() {
        let r = row("Hello world", Some("https://a.example/1"));
        let since = search_since(&r, Duration::from_secs(60));
        let posts = vec![
            post("3", "Other", Some("https://a.example/2"), 1_800_000_030),
            post(
                "2",
                "Hello world",
                Some("https://a.example/1"),
                1_800_000_020,
            ),
            post(
                "1",
                "Hello world",
                Some("https://a.example/1"),
                1_700_000_000,
            ),
        ];
        assert_eq!(
            find_post(&posts, &r, since).map(|p| p.id.as_str()),
            Some("2")
        );
        // Text normalised by the server: the link alone identifies it.
        let posts = vec![post(
            "4",
            "Hello  world!",
            Some("https://a.example/1"),
            1_800_000_020,
        )];
        assert_eq!(
            find_post(&posts, &r, since).map(|p| p.id.as_str()),
            Some("4")
        );
        // A text-only row with no match.
        let r = row("Nothing like it", None);
        assert!(find_post(&posts, &r, since).is_none());
    }

    #[test]
    fn fallback_link_is_the_last_http_link() {
        assert_eq!(
            fallback_link("Big news https://a.example/x and more https://b.example/story"),
            Some("https://b.example/story".into())
        );
        assert_eq!(fallback_link("no links here"), None);
    }

    #[test]
    fn containers_from_rows() {
        let mut r = row("Hi", Some("https://a.example/1"));
        r.reply_control = Some("followers_only".into());
        match container_for(&r, None).unwrap() {
            NewContainer::Text(t) => {
                assert_eq!(t.link_attachment.as_deref(), Some("https://a.example/1"));
                assert_eq!(t.reply_control, Some(ReplyControl::FollowersOnly));
            }
            other => panic!("{other:?}"),
        }
        r.media_type = MediaType::Image;
        r.link_attachment = None;
        r.image_url = Some("https://a.example/i.jpg".into());
        r.alt_text = Some(String::new());
        match container_for(&r, None).unwrap() {
            NewContainer::Image(i) => assert!(i.alt_text.is_none()),
            other => panic!("{other:?}"),
        }
        r.reply_control = Some("nobody".into());
        assert!(container_for(&r, None).is_err());
    }

    #[test]
    fn replies_and_options_reach_the_container() {
        let mut r = row("https://a.example/1", None);
        r.options.reply_to = Some(3);
        assert!(container_for(&r, None).unwrap_err().contains("post 3"));
        match container_for(&r, Some("1806")).unwrap() {
            NewContainer::Text(t) => {
                assert_eq!(t.reply_to_id.as_ref().map(MediaId::as_str), Some("1806"));
                assert!(t.link_attachment.is_none());
            }
            other => panic!("{other:?}"),
        }
        let mut r = row("Short", None);
        r.options.text_attachment = Some("Long text".into());
        r.options.attachment_link = Some("https://a.example/1".into());
        r.options.reply_approvals = true;
        match container_for(&r, None).unwrap() {
            NewContainer::Text(t) => {
                let a = t.text_attachment.unwrap();
                assert_eq!(a.plaintext, "Long text");
                assert_eq!(
                    a.link_attachment_url.as_deref(),
                    Some("https://a.example/1")
                );
                assert!(t.enable_reply_approvals);
                assert!(!t.is_ghost_post);
            }
            other => panic!("{other:?}"),
        }
    }
}
