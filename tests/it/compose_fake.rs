//! Every corpus item, composed with the default options and as an image post, is sent as
//! a container to the fake Threads server, which validates text length, links and topic
//! tags exactly as the API does: none may be rejected. Runs when FEED_CORPUS is set.

use crate::support::fake_threads;

use fake_threads::FakeThreads;
use feed2threads::compose::{ComposeOptions, Composer, FeedContext, Media};
use feed2threads::feed::parse::parse_feed;
use feed2threads::threads::{
    ClientConfig, ImageContainer, NewContainer, TextContainer, ThreadsClient,
};

#[tokio::test(flavor = "multi_thread")]
async fn no_corpus_item_makes_a_post_the_api_rejects() {
    let Ok(dir) = std::env::var("FEED_CORPUS") else {
        println!("compose_fake: FEED_CORPUS is not set; skipped");
        return;
    };
    let fake = FakeThreads::start();
    let client = ThreadsClient::new(ClientConfig::new(fake.base_url())).unwrap();
    let token = fake.secret_token();
    let base = url::Url::parse("https://example.org/").unwrap();
    let text_composer = Composer::new(&ComposeOptions::default(), "defaults").unwrap();
    let image_composer = Composer::new(
        &ComposeOptions {
            media: feed2threads::compose::MediaMode::Image,
            topic_from_categories: true,
            ..ComposeOptions::default()
        },
        "defaults",
    )
    .unwrap();

    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    let (mut sent, mut rejected) = (0usize, Vec::new());
    for path in paths {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(feed) = parse_feed(&bytes, None, &base) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let ctx = FeedContext {
            feed_name: &name,
            feed_title: feed.title.as_deref(),
        };
        for item in &feed.items {
            for composer in [&text_composer, &image_composer] {
                let Ok(post) = composer.compose(item, &ctx) else {
                    continue;
                };
                let container = match &post.media {
                    Media::Text => NewContainer::Text(TextContainer {
                        text: post.text.as_str().to_string(),
                        link_attachment: post.link_attachment.clone(),
                        topic_tag: post.topic_tag.as_ref().map(|t| t.as_str().to_string()),
                        reply_control: None,
                        ..TextContainer::default()
                    }),
                    Media::Image { url, alt_text } => NewContainer::Image(ImageContainer {
                        image_url: url.clone(),
                        alt_text: Some(alt_text.clone()),
                        text: Some(post.text.as_str().to_string()),
                        topic_tag: post.topic_tag.as_ref().map(|t| t.as_str().to_string()),
                        reply_control: None,
                        enable_reply_approvals: false,
                    }),
                };
                sent += 1;
                if let Err(e) = client.create_container(&token, &container).await {
                    rejected.push(format!("{name}: {e} ({} bytes)", post.text.as_str().len()));
                }
            }
        }
    }
    println!(
        "compose_fake: {sent} containers sent, {} rejected",
        rejected.len()
    );
    assert!(
        sent > 3000,
        "the corpus should give thousands of posts, got {sent}"
    );
    assert!(rejected.is_empty(), "rejected: {rejected:#?}");
}
