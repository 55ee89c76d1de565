//! kill -9: the real binary publishes ~30 stories to the fake Threads server (with random
//! publish faults and a slow publish answer), and is killed with SIGKILL at random moments
//! many times, restarted after each kill. A final `run --once` drains the queue. Every story
//! must then be on Threads exactly once: no duplicate, none missing.

use crate::support::fake_threads;
use crate::support::kill9::KillRun;
use rand::RngExt;
use std::collections::HashMap;
use std::time::Instant;

const STORIES: usize = 30;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_publishes_every_story_exactly_once() {
    let started = Instant::now();
    let mut run = KillRun::new("k9", STORIES, "").await;
    let kills = run.rng.random_range(20..=25);
    let left_in_flight = run.kill_at_random_moments(kills).await;
    let fake = &run.fake;
    let after_kills = fake.posts().len();

    // Drain what is left; `--once` returns when the queue is empty.
    run.drain(STORIES).await;

    let posts = fake.posts();
    let mut per_link: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        *per_link
            .entry(p.link_attachment.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let missing: Vec<usize> = (0..STORIES)
        .filter(|i| !per_link.contains_key(&format!("https://news.example/k9/{i}")))
        .collect();
    let duplicates = fake.duplicates();
    let twice: Vec<&String> = per_link
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(l, _)| l)
        .collect();
    println!(
        "kill9: kills={kills} posts={} (published before the final drain: {after_kills}) duplicates={} missing={} kills-with-a-post-in-flight={left_in_flight} publish-calls={} elapsed={:.1}s",
        posts.len(),
        duplicates.len(),
        missing.len(),
        fake.calls(fake_threads::Endpoint::Publish),
        started.elapsed().as_secs_f64()
    );
    let log_text = run.log_text("kill9");
    assert!(!log_text.contains(&fake.token()), "token in the log");
    assert!(
        duplicates.is_empty() && twice.is_empty(),
        "duplicates: {duplicates:?} {twice:?}"
    );
    assert!(missing.is_empty(), "missing stories: {missing:?}");
    assert_eq!(posts.len(), STORIES);

    // The store agrees: every post published, with its media id where it was found.
    let store = run.store().await;
    let rows = store.list_outbox(None, 1000).await.unwrap();
    assert_eq!(rows.len(), STORIES);
    assert!(rows.iter().all(|r| r.state == "published"), "{rows:?}");
}
