//! kill -9 with replies: the real binary publishes stories of a `link_in = "reply"` feed
//! (each post, then its link as the first reply) to the fake Threads server with random
//! publish faults and a slow publish answer, and is killed with SIGKILL at random moments,
//! restarted after each kill. A final `run --once` drains the queue. Every story must then
//! be on Threads exactly once with exactly one reply under it: none missing, none twice.

use crate::support::fake_threads;
use crate::support::kill9::KillRun;
use rand::RngExt;
use std::time::Instant;

const STORIES: usize = 12;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_publishes_every_story_and_its_reply_exactly_once() {
    let started = Instant::now();
    let mut run = KillRun::new("k9r", STORIES, "link_in = \"reply\"\n").await;
    let kills = run.rng.random_range(12..=15);
    let left_in_flight = run.kill_at_random_moments(kills).await;
    let fake = &run.fake;
    let after_kills = fake.posts().len();

    // Drain what is left; `--once` returns when the queue is empty.
    run.drain(2 * STORIES).await;

    let posts = fake.top_level_posts();
    let replies = fake.replies();
    let duplicates = fake.duplicates();
    let mut missing = Vec::new();
    let mut twice = Vec::new();
    for i in 0..STORIES {
        let link = format!("https://news.example/k9r/{i}");
        let title = format!("Story {i} of the kill test");
        let mine: Vec<_> = posts
            .iter()
            .filter(|p| p.text.as_deref().is_some_and(|t| t.starts_with(&title)))
            .collect();
        let under: Vec<_> = replies
            .iter()
            .filter(|r| r.text.as_deref() == Some(link.as_str()))
            .collect();
        match (mine.as_slice(), under.as_slice()) {
            ([post], [reply]) => {
                assert!(post.link_attachment.is_none(), "a card on {post:?}");
                assert_eq!(reply.reply_to.as_deref(), Some(post.id.as_str()));
            }
            ([], _) | (_, []) => missing.push(i),
            _ => twice.push(i),
        }
    }
    println!(
        "kill9 replies: kills={kills} posts={} replies={} (published before the final drain: {after_kills}) duplicates={} missing={} kills-with-a-post-in-flight={left_in_flight} publish-calls={} elapsed={:.1}s",
        posts.len(),
        replies.len(),
        duplicates.len(),
        missing.len(),
        fake.calls(fake_threads::Endpoint::Publish),
        started.elapsed().as_secs_f64()
    );
    let log_text = run.log_text("kill9 replies");
    assert!(!log_text.contains(&fake.token()), "token in the log");
    assert!(
        duplicates.is_empty() && twice.is_empty(),
        "duplicates: {duplicates:?} {twice:?}"
    );
    assert!(
        missing.is_empty(),
        "missing stories or replies: {missing:?}"
    );
    assert_eq!((posts.len(), replies.len()), (STORIES, STORIES));

    // The store agrees: every post and every reply published.
    let store = run.store().await;
    let rows = store.list_outbox(None, 1000).await.unwrap();
    assert_eq!(rows.len(), 2 * STORIES);
    assert!(rows.iter().all(|r| r.state == "published"), "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.options.reply_to.is_some()).count(),
        STORIES
    );
}
