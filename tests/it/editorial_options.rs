//! Threads' newer options, composed and published to the fake API: reply approvals,
//! long items with their full text in a text attachment, ghost posts, and an option the
//! API refuses, which fails that feed's posts with the API's reason and nothing else.

use crate::publish::{drive, fast, harness, harness_with, published, rss};
use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::{Feed, Story};
use feed2threads::compose::{
    ComposeOptions, Composer, FeedContext, LimitError, LinkIn, LongText, MAX_ATTACHMENT_BYTES,
    Media, MediaMode, Post, PostText, TextAttachment,
};
use feed2threads::feed::item::Item;
use feed2threads::publish::Outcome;
use feed2threads::store::OutboxState;
use std::time::Duration;
use url::Url;

const LINK: &str = "https://news.example/story/1";

fn ctx() -> FeedContext<'static> {
    FeedContext {
        feed_name: "world",
        feed_title: Some("World news"),
    }
}

fn item(title: &str, content: &str) -> Item {
    Item {
        title: Some(title.to_owned()),
        summary: Some("A short standfirst for the story.".to_owned()),
        content: Some(content.to_owned()),
        link: Some(Url::parse(LINK).unwrap()),
        ..Item::default()
    }
}

fn compose(options: ComposeOptions, item: &Item) -> Post {
    Composer::new(&options, "feeds[0]")
        .unwrap()
        .compose(item, &ctx())
        .unwrap()
}

/// An article of `paragraphs` paragraphs of about 600 bytes each, as feed HTML.
fn article(paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|i| {
            format!(
                "<p>Paragraph {i} of the report. {}</p>",
                "The council met again and the debate went on for hours. ".repeat(10)
            )
        })
        .collect()
}

#[test]
fn a_long_item_keeps_its_full_text_in_an_attachment_with_the_link() {
    let options = ComposeOptions {
        long_text: LongText::Attachment,
        template: Some("{{ title }}\n\n{{ content }}".into()),
        ..ComposeOptions::default()
    };
    let long = item("Council votes on the budget", &article(4));
    let post = compose(options.clone(), &long);
    assert!(post.text.len() <= 500);
    assert!(post.link_attachment.is_none(), "no card with an attachment");
    let a = post.text_attachment.as_ref().expect("an attachment");
    assert_eq!(a.link(), Some(LINK));
    assert!(
        a.plaintext()
            .starts_with("Council votes on the budget\n\nParagraph 0")
    );
    assert!(
        a.plaintext().contains("Paragraph 3 of the report."),
        "whole"
    );
    post.check().unwrap();

    // An article longer than the attachment is cut on a word end, within the limit.
    let huge = compose(options.clone(), &item("Huge", &article(40)));
    let a = huge.text_attachment.unwrap();
    assert!(a.plaintext().len() <= MAX_ATTACHMENT_BYTES);
    assert!(a.plaintext().ends_with('…'));

    // A short item fits: no attachment, the card as usual.
    let short = compose(options, &item("Short", "<p>Brief.</p>"));
    assert!(short.text_attachment.is_none());
    assert_eq!(short.link_attachment.as_deref(), Some(LINK));
}

#[test]
fn the_link_goes_in_the_first_reply_and_not_in_the_post() {
    let options = ComposeOptions {
        link_in: LinkIn::Reply,
        ..ComposeOptions::default()
    };
    let post = compose(options.clone(), &item("Budget passes", "<p>Details.</p>"));
    assert!(post.link_attachment.is_none());
    assert!(!post.text.contains("https://"), "{}", post.text.as_str());
    assert_eq!(post.first_reply.as_deref(), Some(LINK));
    // An image post: the link is not appended to its text either.
    let mut with_image = item("Budget passes", "<p>Details.</p>");
    with_image
        .images
        .push(feed2threads::feed::item::ImageCandidate {
            url: Url::parse("https://img.example/1.jpg").unwrap(),
            alt: None,
            source: feed2threads::feed::item::ImageSource::Enclosure,
        });
    let image = compose(
        ComposeOptions {
            media: MediaMode::Image,
            ..options
        },
        &with_image,
    );
    assert!(matches!(image.media, Media::Image { .. }));
    assert!(
        !image.text.contains("https://news.example"),
        "{}",
        image.text.as_str()
    );
    assert_eq!(image.first_reply.as_deref(), Some(LINK));
}

#[test]
fn ghost_posts_carry_their_link_in_the_text_and_nothing_they_may_not_have() {
    let options = ComposeOptions {
        ghost_posts: true,
        ..ComposeOptions::default()
    };
    let post = compose(options, &item("Live: the vote", "<p>Follow along.</p>"));
    assert!(post.ghost);
    assert!(post.link_attachment.is_none());
    assert!(post.text.contains(LINK), "{}", post.text.as_str());
    assert!(post.topic_tag.is_none() && !post.reply_approvals && post.first_reply.is_none());
    // Built by hand with a feature a ghost post may not have: refused, with the reason.
    let mut bad = post.clone();
    bad.reply_approvals = true;
    assert_eq!(bad.check(), Err(LimitError::Ghost("reply approvals")));
}

#[test]
fn post_check_refuses_attachments_where_the_api_does() {
    let text = PostText::new("Short text").unwrap();
    let attachment = TextAttachment::new("Long text", Some(LINK.into())).unwrap();
    let mut post = Post::text_only(text, Some(LINK.into()));
    post.text_attachment = Some(attachment);
    assert_eq!(post.check(), Err(LimitError::AttachmentWithCard));
    post.link_attachment = None;
    post.check().unwrap();
    post.media = Media::Image {
        url: "https://img.example/1.jpg".into(),
        alt_text: String::new(),
    };
    assert_eq!(post.check(), Err(LimitError::AttachmentOnMedia));
}

// ----------------------------------------------------------------------------------------
// Published to the fake API.

/// An RSS feed of `n` stories with long bodies.
fn long_rss(n: usize) -> String {
    let body = "The council met again and the debate went on for hours. ".repeat(30);
    Feed::new("Long")
        .stories((0..n).map(|i| {
            Story::new(
                format!("long-{i}"),
                format!("https://news.example/long/{i}"),
                format!("Long story {i}"),
            )
            .description(body.as_str())
        }))
        .rss()
}

#[tokio::test]
async fn long_items_reach_threads_with_their_text_attachment() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/long.xml", Route::feed(long_rss(2)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"long\"\nurl = \"{}\"\nbacklog = \"all\"\nlong_text = \"attachment\"\n",
        fake.token(),
        server.url("/long.xml"),
    );
    let h = harness_with(&fake, &config).await;
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    for post in fake.posts() {
        assert!(post.link_attachment.is_none());
        let (plain, link) = post.text_attachment.expect("attachment on Threads");
        assert!(plain.contains("went on for hours"), "{plain}");
        assert!(plain.len() > 1000, "the full text: {} bytes", plain.len());
        assert!(link.unwrap().starts_with("https://news.example/long/"));
    }
}

#[tokio::test]
async fn reply_approvals_and_ghost_posts_reach_threads() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/held.xml", Route::feed(rss("held", 2, false)));
    server.set("/ghost.xml", Route::feed(rss("ghost", 1, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"held\"\nurl = \"{}\"\nbacklog = \"all\"\nreply_approvals = true\n\
         [[feeds]]\nname = \"ghost\"\nurl = \"{}\"\nbacklog = \"all\"\nghost_posts = true\n",
        fake.token(),
        server.url("/held.xml"),
        server.url("/ghost.xml"),
    );
    let h = harness_with(&fake, &config).await;
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 3, "{outcomes:?}");
    let posts = fake.posts();
    let (ghosts, held): (Vec<_>, Vec<_>) = posts.iter().partition(|p| p.ghost);
    assert_eq!(held.len(), 2);
    assert!(
        held.iter()
            .all(|p| p.reply_approvals && p.link_attachment.is_some())
    );
    assert_eq!(ghosts.len(), 1);
    let ghost = ghosts[0];
    assert!(!ghost.reply_approvals && ghost.link_attachment.is_none());
    assert!(
        ghost
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("https://news.example/ghost/0")
    );
}

#[tokio::test]
async fn an_option_the_api_refuses_fails_that_post_with_the_apis_reason_only() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/held.xml", Route::feed(rss("held", 2, false)));
    server.set("/plain.xml", Route::feed(rss("plain", 2, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"held\"\nurl = \"{}\"\nbacklog = \"all\"\nreply_approvals = true\n\
         [[feeds]]\nname = \"plain\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        fake.token(),
        server.url("/held.xml"),
        server.url("/plain.xml"),
    );
    let h = harness_with(&fake, &config).await;
    fake.update(|s| s.refused_options = vec!["enable_reply_approvals".into()]);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count();
    assert_eq!(failed, 2, "{outcomes:?}");
    for r in h.rows().await {
        if r.text.contains("held story") {
            assert_eq!(r.state, OutboxState::Failed);
            let why = r.last_error.unwrap_or_default();
            assert!(why.contains("THREADS_API__FEATURE_NOT_AVAILABLE"), "{why}");
            assert!(why.contains("enable_reply_approvals"), "{why}");
        } else {
            assert_eq!(r.state, OutboxState::Published, "{r:?}");
        }
    }
    // The account is not paused or held back by it.
    let account = &h.store.list_accounts().await.unwrap()[0];
    assert!(account.paused_reason.is_none());
}

#[tokio::test]
async fn a_post_with_a_text_attachment_and_a_card_is_refused_by_the_fake_as_by_threads() {
    // The daemon never sends this; the fake must still refuse it as documented.
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 1, "", "").await;
    let token = fake.secret_token();
    let both = feed2threads::threads::TextContainer {
        text: "Short".into(),
        link_attachment: Some(LINK.into()),
        text_attachment: Some(feed2threads::threads::AttachedText {
            plaintext: "Long".into(),
            link_attachment_url: None,
        }),
        ..Default::default()
    };
    let err = h
        .client
        .create_container(&token, &both.into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("text_attachment"), "{err}");
    let ghost_reply = feed2threads::threads::TextContainer {
        text: "Ghost".into(),
        is_ghost_post: true,
        enable_reply_approvals: true,
        ..Default::default()
    };
    let err = h
        .client
        .create_container(&token, &ghost_reply.into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ghost post"), "{err}");
}
