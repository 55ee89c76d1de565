//! Every item of the real-world corpus composes into a post within every API limit, as a
//! text post (default options) and as an image post (`media = "image"`).
//!
//! Runs only when `FEED_CORPUS` names the corpus directory (CI sets it to
//! `../shared/feeds`); otherwise it says "skipped" and passes. Files the parser rejects
//! count as zero items: this test is about composition, `tests/it/corpus.rs` about parsing.
//! Prints how many items were composed and how many had to be shortened. With
//! `COMPOSE_SHOW=<part of a file name>` it also prints the posts of matching files, for
//! reviewing what composition does to real feeds.

use feed2threads::compose::{
    ComposeError, ComposeOptions, Composer, FeedContext, Fit, Media, Post, count_links,
};
use feed2threads::feed::parse::parse_feed;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;
use url::Url;

static TAG: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"<[A-Za-z/!?][^<>]*>").expect("static regex"));

fn check(post: &Post, what: &str) {
    let text = post.text.as_str();
    assert!(text.len() <= 500, "{what}: {} bytes", text.len());
    assert!(
        count_links(text, post.link_attachment.as_deref()) <= 5,
        "{what}: too many links"
    );
    assert!(!TAG.is_match(text), "{what}: tag in {text:?}");
    assert_eq!(
        htmlize::unescape_attribute(text),
        text,
        "{what}: entity in {text:?}"
    );
    post.check()
        .unwrap_or_else(|e| panic!("{what}: {e}: {text:?}"));
}

#[test]
fn corpus_items_compose_within_limits() {
    let Some(dir) = std::env::var_os("FEED_CORPUS") else {
        println!("compose corpus test skipped: set FEED_CORPUS to the feed corpus directory");
        return;
    };
    let dir = PathBuf::from(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("FEED_CORPUS={}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();

    let base = Url::parse("https://example.org/").expect("static URL");
    let text = Composer::new(&ComposeOptions::default(), "corpus").expect("default options");
    let image = Composer::new(
        &ComposeOptions {
            media: feed2threads::compose::MediaMode::Image,
            ..ComposeOptions::default()
        },
        "corpus",
    )
    .expect("image options");

    let mut files_with_items = 0usize;
    let mut items = 0usize;
    let mut truncated = 0usize;
    let mut fits: BTreeMap<String, usize> = BTreeMap::new();
    let mut image_posts = 0usize;
    let mut image_truncated = 0usize;
    let mut empty = 0usize;
    let mut links_removed = 0usize;
    let mut empty_items: Vec<String> = Vec::new();
    let show = std::env::var("COMPOSE_SHOW").ok();
    let mut compose_time = std::time::Duration::ZERO;
    for path in &files {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let body = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Ok(feed) = parse_feed(&body, None, &base) else {
            continue;
        };
        if !feed.items.is_empty() {
            files_with_items += 1;
        }
        let show_file = show.as_deref().is_some_and(|s| name.contains(s));
        let ctx = FeedContext {
            feed_name: &name,
            feed_title: feed.title.as_deref(),
        };
        for (i, item) in feed.items.iter().enumerate() {
            let what = format!("{name} item {i}");
            items += 1;
            let started = std::time::Instant::now();
            let composed = text.compose_detailed(item, &ctx);
            compose_time += started.elapsed();
            match composed {
                Ok(c) => {
                    check(&c.post, &what);
                    assert_eq!(c.post.media, Media::Text, "{what}");
                    truncated += usize::from(c.truncated());
                    links_removed += usize::from(c.links_removed);
                    *fits.entry(format!("{:?}", c.fit)).or_default() += 1;
                    if show_file {
                        println!(
                            "--- {what} [{:?}, {} bytes, link {:?}, topic {:?}]\n{}\n",
                            c.fit,
                            c.post.text.len(),
                            c.post.link_attachment,
                            c.post.topic_tag,
                            c.post.text
                        );
                    }
                }
                // An item with no title, summary, content or link has nothing to post.
                Err(ComposeError::Empty) => {
                    empty += 1;
                    empty_items.push(what.clone());
                }
                Err(e) => panic!("{what}: {e}"),
            }
            let started = std::time::Instant::now();
            let composed = image.compose_detailed(item, &ctx);
            compose_time += started.elapsed();
            match composed {
                Ok(c) => {
                    check(&c.post, &format!("{what} (image)"));
                    if show_file && matches!(c.post.media, Media::Image { .. }) {
                        println!(
                            "--- {what} image [{:?}]\n{}\n{:?}\n",
                            c.fit, c.post.text, c.post.media
                        );
                    }
                    if matches!(c.post.media, Media::Image { .. }) {
                        image_posts += 1;
                        image_truncated += usize::from(c.fit != Fit::Whole);
                        let fallback = c.fallback.as_ref().expect("image posts have a fallback");
                        check(fallback, &format!("{what} (fallback)"));
                        if let Some(link) = &item.link {
                            assert!(
                                c.post.text.contains(link.as_str()),
                                "{what}: link not in image text"
                            );
                        }
                    }
                }
                Err(ComposeError::Empty) => {}
                Err(e) => panic!("{what} (image): {e}"),
            }
        }
    }
    println!(
        "compose corpus: {} files, {files_with_items} with items; {items} items composed, \
         {truncated} needed truncation ({fits:?}), {links_removed} had links removed, \
         {empty} had nothing to post; {image_posts} image posts, {image_truncated} of them truncated; \
         {:?} per composition",
        files.len(),
        compose_time / u32::try_from(2 * items.max(1)).unwrap_or(u32::MAX),
    );
    if show.is_some() {
        println!("nothing to post: {empty_items:?}");
    }
}
