//! Item to post: template, HTML to text, limits, links, topic tag, media, filters.
//! A post is composed and validated before it enters the outbox, so `preview`,
//! `--dry-run` and the real publish show the same text.
//!
//! # Layout
//! - [`Composer`] (here): a feed's validated settings, built once; filters and composes
//!   items. Cheap to clone (an `Arc`), `Send + Sync`.
//! - `template`: minijinja templates, their variables and helpers.
//! - `html`: feed HTML/text → clean plain text.
//! - `text`: [`PostText`], [`LimitError`], truncation on word/sentence/grapheme boundaries.
//! - `fit`: the order in which a too-long post is shortened ([`Fit`]).
//! - `links`: finding, counting ([`count_links`]) and removing links; `link_params`.
//! - `topic`: [`TopicTag`] and its precedence; `hashtag`.
//! - `filter`: include/exclude patterns.
//! - `media`: image choice, alt text, [`ReplyControl`], media settings.
//! - `extras`: Threads' newer options ([`LongText`], [`LinkIn`], [`TextAttachment`]).
//!
//! Must not: do I/O, touch the store, or know about the API client. Everything here is a
//! pure function of the item, the feed's options and the feed context.

mod extras;
mod filter;
mod fit;
mod html;
mod links;
mod media;
mod suggest;
mod template;
mod text;
mod topic;

pub use extras::{LinkIn, LongText, MAX_ATTACHMENT_BYTES, TextAttachment};
pub use fit::Fit;
pub use html::{html_to_line, html_to_text};
pub use links::{MAX_LINKS, count_links, find_links, limit_links};
pub use media::{ImageFallback, MediaMode, ReplyControl};
pub use template::{DEFAULT_DATE_FORMAT, DEFAULT_TEMPLATE};
pub use text::{
    Cut, ELLIPSIS, LimitError, MAX_ALT_BYTES, MAX_TEXT_BYTES, PostText, check_text, truncate,
};
pub use topic::{MAX_TOPIC_BYTES, TopicTag, hashtag};

use crate::feed::item::Item;
use chrono_tz::Tz;
use filter::{FilterInput, Filters};
use fit::{Fitter, Prepared};
use std::collections::BTreeMap;
use std::sync::Arc;
use template::Template;
use topic::TopicRules;

/// Image posts whose article link is longer than this become text posts: the link must
/// go into the 500-byte text, and with less than 100 bytes left there is no post.
const MAX_IMAGE_POST_LINK: usize = 400;

/// Per-feed composition settings, already merged with `[defaults]` by the config loader.
/// The choices arrive as their types (parsed by the config); `Composer::new` validates
/// what needs compiling: the template, the filters' regexes, the topic tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComposeOptions {
    /// minijinja template; `None`: [`DEFAULT_TEMPLATE`].
    pub template: Option<String>,
    /// Zone for `published` (e.g. Europe/Berlin); `None`: UTC.
    pub timezone: Option<Tz>,
    /// Query parameters added to the article link, replacing same-named ones.
    pub link_params: BTreeMap<String, String>,
    /// Fixed topic tag, the fallback when no category gives one.
    pub topic_tag: Option<String>,
    /// Category (case-insensitive) → topic tag; the first of the item's categories
    /// that maps wins.
    pub topic_map: BTreeMap<String, String>,
    /// Use the item's first usable category as topic tag (after `topic_map`).
    pub topic_from_categories: bool,
    /// Text posts (default) or image posts.
    pub media: MediaMode,
    /// What an image post that fails becomes (default: a text post).
    pub image_fallback: ImageFallback,
    /// Who may reply; `None`: the API default (everyone).
    pub reply_control: Option<ReplyControl>,
    /// Regexes, optionally prefixed `title:`/`summary:`/`category:`/`author:`; an item
    /// must match one (when any are given).
    pub include: Vec<String>,
    /// Same syntax; an item matching any is skipped.
    pub exclude: Vec<String>,
    /// A text post too long to fit: shortened, or with its full text attached.
    pub long_text: LongText,
    /// The article link as link card (default) or as the first reply.
    pub link_in: LinkIn,
    /// Threads holds replies to the feed's posts for approval.
    pub reply_approvals: bool,
    /// The feed's posts are ghost posts (text only, archived after 24 h).
    pub ghost_posts: bool,
}

/// A post ready for the outbox. Every field is within what the API accepts when it
/// comes from a [`Composer`]; [`Post::check`] verifies one built elsewhere (e.g. read
/// back from the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub text: PostText,
    /// The link card; TEXT posts only.
    pub link_attachment: Option<String>,
    pub topic_tag: Option<TopicTag>,
    pub media: Media,
    /// The API value (`everyone`, `accounts_you_follow`, …), validated.
    pub reply_control: Option<String>,
    /// Long-form text under the post (TEXT posts without a link card only).
    pub text_attachment: Option<TextAttachment>,
    /// Threads holds replies to the post for approval (`enable_reply_approvals`).
    pub reply_approvals: bool,
    /// A ghost post (`is_ghost_post`): text only, archived after 24 h.
    pub ghost: bool,
    /// A reply the publisher posts under the post right after it (`link_in = "reply"`:
    /// the article link).
    pub first_reply: Option<PostText>,
}

impl Post {
    /// A text post with nothing but its text and link card.
    pub fn text_only(text: PostText, link_attachment: Option<String>) -> Post {
        Post {
            text,
            link_attachment,
            topic_tag: None,
            media: Media::Text,
            reply_control: None,
            text_attachment: None,
            reply_approvals: false,
            ghost: false,
            first_reply: None,
        }
    }

    /// Check the limits that involve more than the text: distinct links including the
    /// attachments, attachments only on TEXT posts, image URL scheme, alt text length,
    /// reply_control value, what a ghost post may not have.
    pub fn check(&self) -> Result<(), LimitError> {
        check_text(&self.text)?;
        let count = match &self.text_attachment {
            None => count_links(&self.text, self.link_attachment.as_deref()),
            // Whether the API counts the links inside the attachment is not documented:
            // counting them is the safe side.
            Some(a) => count_links(
                &format!("{}\n{}", self.text.as_str(), a.plaintext()),
                a.link(),
            ),
        };
        if count > MAX_LINKS {
            return Err(LimitError::TooManyLinks { count });
        }
        if self.text_attachment.is_some() {
            if self.media != Media::Text {
                return Err(LimitError::AttachmentOnMedia);
            }
            if self.link_attachment.is_some() {
                return Err(LimitError::AttachmentWithCard);
            }
        }
        if self.ghost {
            let forbidden = [
                (self.media != Media::Text, "media"),
                (self.link_attachment.is_some(), "a link card"),
                (self.topic_tag.is_some(), "a topic tag"),
                (self.text_attachment.is_some(), "a text attachment"),
                (self.reply_approvals, "reply approvals"),
                (self.first_reply.is_some(), "a first reply"),
            ];
            if let Some((_, what)) = forbidden.iter().find(|(has, _)| *has) {
                return Err(LimitError::Ghost(what));
            }
        }
        if let Media::Image { url, alt_text } = &self.media {
            if self.link_attachment.is_some() {
                return Err(LimitError::LinkAttachmentWithMedia);
            }
            let scheme_ok =
                url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !scheme_ok {
                return Err(LimitError::ImageUrl(url.clone()));
            }
            if alt_text.len() > MAX_ALT_BYTES {
                return Err(LimitError::AltTooLong {
                    bytes: alt_text.len(),
                });
            }
        }
        if let Some(rc) = &self.reply_control {
            rc.parse::<ReplyControl>()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Text,
    /// `url` is http(s); `alt_text` is at most 1000 bytes (empty: send none).
    Image {
        url: String,
        alt_text: String,
    },
}

impl Media {
    pub fn api_media_type(&self) -> &'static str {
        match self {
            Media::Text => "TEXT",
            Media::Image { .. } => "IMAGE",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A bad option, found by [`Composer::new`]; `key` is its config path
    /// (`feeds[2].template`, `feeds[2].exclude[1]`).
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// The template failed on this item.
    #[error("{key}: cannot render this item: {message}")]
    Render { key: String, message: String },
    /// The item has nothing to post: no title, summary, content or link.
    #[error("nothing to post: the item has no title, summary or link")]
    Empty,
    /// A composed post broke a limit. Composition is built so this cannot happen; it is
    /// the last check before a post would reach the outbox.
    #[error("composed post is outside the API limits: {0}")]
    Limit(#[from] LimitError),
}

/// Context an item is composed in.
#[derive(Debug, Clone, Default)]
pub struct FeedContext<'a> {
    pub feed_name: &'a str,
    /// The feed's own title; templates see `feed_name` when it is missing.
    pub feed_title: Option<&'a str>,
}

/// Whether the feed's filters let an item through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterDecision {
    Accept,
    Reject { reason: String },
}

/// A composed post and how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    pub post: Post,
    /// For image posts (with `image_fallback = "text"`): the text-only post for the same
    /// item, to publish if the IMAGE container ends in ERROR. Store it with the post.
    pub fallback: Option<Post>,
    /// How much the text had to be shortened.
    pub fit: Fit,
    /// URLs were taken out of the text to respect the link limit.
    pub links_removed: bool,
}

impl Composition {
    /// Whether the text was cut to fit (for counting; see [`Fit`] for how).
    pub fn truncated(&self) -> bool {
        self.fit.is_truncated()
    }
}

/// A feed's composer, built once from its validated options. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Composer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    key: String,
    template: Template,
    filters: Filters,
    topics: TopicRules,
    link_params: BTreeMap<String, String>,
    media: MediaMode,
    image_fallback: ImageFallback,
    reply_control: Option<ReplyControl>,
    long_text: LongText,
    link_in: LinkIn,
    reply_approvals: bool,
    ghost_posts: bool,
}

/// Where a text post's article link goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkPlace {
    /// The link card.
    Card,
    /// The end of the text (ghost posts, which may not have a card).
    Text,
    /// The first reply.
    Reply,
}

impl Composer {
    /// Validate the options (template syntax and helpers, regexes, topic tags). `key` is
    /// the config path prefix used in error messages, e.g. `feeds[2]`; errors name the
    /// exact key (`feeds[2].exclude[1]: invalid regex …`).
    pub fn new(options: &ComposeOptions, key: &str) -> Result<Self, ComposeError> {
        let tz = options.timezone.unwrap_or(Tz::UTC);
        let template = Template::new(options.template.as_deref(), key, tz, None)?;
        let filters = Filters::new(&options.include, &options.exclude, key)?;
        let topics = TopicRules::new(
            &options.topic_map,
            options.topic_from_categories,
            options.topic_tag.as_deref(),
            key,
        )?;
        for name in options.link_params.keys() {
            if name.trim().is_empty() {
                return Err(ComposeError::Config {
                    key: format!("{key}.link_params"),
                    message: "parameter names must not be empty".into(),
                });
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                key: key.to_owned(),
                template,
                filters,
                topics,
                link_params: options.link_params.clone(),
                media: options.media,
                image_fallback: options.image_fallback,
                reply_control: options.reply_control,
                long_text: options.long_text,
                link_in: options.link_in,
                reply_approvals: options.reply_approvals,
                ghost_posts: options.ghost_posts,
            }),
        })
    }

    /// The config path this composer was built for.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// Apply the feed's include/exclude filters to the item's plain text.
    pub fn filter(&self, item: &Item) -> FilterDecision {
        let title = html_to_line(item.title.as_deref().unwrap_or_default());
        let mut summary = html_to_text(item.summary.as_deref().unwrap_or_default());
        if summary.is_empty() {
            summary = html_to_text(item.content.as_deref().unwrap_or_default());
        }
        let categories = plain_list(&item.categories);
        let authors = plain_list(&item.authors);
        self.inner.filters.decide(&FilterInput {
            title: &title,
            summary: &summary,
            categories: &categories,
            authors: &authors,
        })
    }

    /// The post for an item (see [`Composer::compose_detailed`]).
    pub fn compose(&self, item: &Item, ctx: &FeedContext<'_>) -> Result<Post, ComposeError> {
        self.compose_detailed(item, ctx).map(|c| c.post)
    }

    /// The post for an item, with its text-only fallback (image posts) and how much it
    /// had to be shortened.
    pub fn compose_detailed(
        &self,
        item: &Item,
        ctx: &FeedContext<'_>,
    ) -> Result<Composition, ComposeError> {
        let prepared = self.prepare(item);
        let image = match self.inner.media {
            MediaMode::Image => media::pick_image(&item.images).filter(|_| {
                prepared
                    .link
                    .as_ref()
                    .is_none_or(|l| l.len() <= MAX_IMAGE_POST_LINK)
            }),
            MediaMode::Text => None,
        };
        let Some(candidate) = image else {
            let (post, fit, links_removed) = self.text_post(&prepared, ctx)?;
            return Ok(Composition {
                post,
                fallback: None,
                fit,
                links_removed,
            });
        };
        // The link goes at the end of an image post's text, or in its first reply.
        let first_reply = match self.inner.link_in {
            LinkIn::Reply => reply_text(prepared.link.as_deref()),
            LinkIn::Card => None,
        };
        let fitted = Fitter {
            template: &self.inner.template,
            item: &prepared,
            feed_name: ctx.feed_name,
            feed_title: ctx.feed_title.unwrap_or(ctx.feed_name),
            image_link: prepared.link.as_deref().filter(|_| first_reply.is_none()),
            attachment: None,
        }
        .run()?;
        let post = Post {
            text: PostText::new(fitted.text)?,
            link_attachment: None,
            topic_tag: self.inner.topics.choose(&prepared.categories),
            media: Media::Image {
                url: candidate.url.to_string(),
                alt_text: media::alt_text(candidate, &prepared.title),
            },
            reply_control: self.reply_control(),
            text_attachment: None,
            reply_approvals: self.inner.reply_approvals,
            ghost: false,
            first_reply,
        };
        post.check()?;
        let fallback = match self.inner.image_fallback {
            ImageFallback::Text => Some(self.text_post(&prepared, ctx)?.0),
            ImageFallback::None => None,
        };
        Ok(Composition {
            post,
            fallback,
            fit: fitted.fit,
            links_removed: fitted.links_removed,
        })
    }

    /// The text-only post for an item, whatever the feed's `media` setting: what an
    /// image post falls back to when its container fails.
    pub fn compose_text_only(
        &self,
        item: &Item,
        ctx: &FeedContext<'_>,
    ) -> Result<Post, ComposeError> {
        Ok(self.text_post(&self.prepare(item), ctx)?.0)
    }

    fn text_post(
        &self,
        prepared: &Prepared,
        ctx: &FeedContext<'_>,
    ) -> Result<(Post, Fit, bool), ComposeError> {
        let place = if self.inner.ghost_posts {
            LinkPlace::Text
        } else if self.inner.link_in == LinkIn::Reply
            && reply_text(prepared.link.as_deref()).is_some()
        {
            LinkPlace::Reply
        } else {
            LinkPlace::Card
        };
        match self.text_post_with(prepared, ctx, place) {
            // An item with nothing but its link: the link is the post, with its card.
            Err(ComposeError::Empty) if place == LinkPlace::Reply => {
                self.text_post_with(prepared, ctx, LinkPlace::Card)
            }
            done => done,
        }
    }

    fn text_post_with(
        &self,
        prepared: &Prepared,
        ctx: &FeedContext<'_>,
        place: LinkPlace,
    ) -> Result<(Post, Fit, bool), ComposeError> {
        let link = prepared.link.as_deref();
        let fitted = Fitter {
            template: &self.inner.template,
            item: prepared,
            feed_name: ctx.feed_name,
            feed_title: ctx.feed_title.unwrap_or(ctx.feed_name),
            image_link: link.filter(|_| place == LinkPlace::Text),
            attachment: link.filter(|_| place == LinkPlace::Card),
        }
        .run()?;
        if fitted.text.is_empty() {
            return Err(ComposeError::Empty);
        }
        let ghost = self.inner.ghost_posts;
        let mut post = Post {
            text: PostText::new(fitted.text)?,
            link_attachment: prepared.link.clone().filter(|_| place == LinkPlace::Card),
            topic_tag: if ghost {
                None
            } else {
                self.inner.topics.choose(&prepared.categories)
            },
            media: Media::Text,
            reply_control: self.reply_control(),
            text_attachment: None,
            reply_approvals: self.inner.reply_approvals && !ghost,
            ghost,
            first_reply: if place == LinkPlace::Reply {
                reply_text(link)
            } else {
                None
            },
        };
        if self.inner.long_text == LongText::Attachment && fitted.fit.is_truncated() && !ghost {
            // The card's link moves into the attachment (the API allows no card with it).
            let card = post.link_attachment.as_deref();
            if let Some(a) = TextAttachment::for_long_item(
                &prepared.title,
                &prepared.full_body,
                card,
                &post.text,
            ) {
                post.text_attachment = Some(a);
                post.link_attachment = None;
            }
        }
        post.check()?;
        Ok((post, fitted.fit, fitted.links_removed))
    }

    fn reply_control(&self) -> Option<String> {
        self.inner.reply_control.map(|r| r.as_str().to_owned())
    }

    /// The item's fields as plain text, once per item.
    fn prepare(&self, item: &Item) -> Prepared {
        let title = html_to_line(item.title.as_deref().unwrap_or_default());
        let body = |html: Option<&str>| {
            let text = html_to_text(html.unwrap_or_default());
            truncate(&text, fit::MAX_BODY_BUDGET, Cut::Word, ELLIPSIS).into_owned()
        };
        let summary = body(item.summary.as_deref());
        let content = body(item.content.as_deref());
        // Many feeds repeat the headline as description; a post saying it twice is noise.
        let same_as_title = |s: &str| !s.is_empty() && s.to_lowercase() == title.to_lowercase();
        let standfirst = if !summary.is_empty() && !same_as_title(&summary) {
            summary.clone()
        } else if !same_as_title(&content) {
            content.clone()
        } else {
            String::new()
        };
        let link = item
            .link
            .as_ref()
            .filter(|l| matches!(l.scheme(), "http" | "https"))
            .map(|l| links::apply_link_params(l, &self.inner.link_params).to_string());
        // The full body only where a text attachment may carry it: converting a long
        // article is the expensive part of composing.
        let full_body = if self.inner.long_text == LongText::Attachment {
            let summary = html_to_text(item.summary.as_deref().unwrap_or_default());
            let content = html_to_text(item.content.as_deref().unwrap_or_default());
            if content.len() > summary.len() {
                content
            } else {
                summary
            }
        } else {
            String::new()
        };
        Prepared {
            title,
            summary,
            content,
            standfirst,
            full_body,
            link,
            authors: plain_list(&item.authors),
            categories: plain_list(&item.categories),
            published: item.date(),
        }
    }
}

/// The text of a first reply carrying `link`, if the link makes a valid post.
fn reply_text(link: Option<&str>) -> Option<PostText> {
    PostText::new(link?).ok()
}

/// Plain-text versions of a list (categories, authors), empty ones dropped.
fn plain_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| html_to_line(v))
        .filter(|v| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn composer_is_send_sync_clone() {
        assert_send_sync::<Composer>();
    }
}
