//! The publishing queue end to end: a real SQLite file, the real feed pipeline filling the
//! outbox from a local feed server, and the publisher talking real HTTP to the fake Threads
//! server on 127.0.0.1, with each of its failure modes.
//!
//! What is checked everywhere: every story is published exactly once (no duplicate on the
//! fake, every outbox row `published` with its text and link present once).

use crate::support;
use crate::support::fake_threads;

use fake_threads::{Endpoint, FakeThreads, MediaOutcome, PublishFault, RandomFaults, TokenKind};
use feed2threads::app::sync_config;
use feed2threads::config::{FeedSettings, Settings};
use feed2threads::publish::{
    AccountPublisher, FeedInfo, Outcome, PublishConfig, WaitReason, feed_infos,
};
use feed2threads::store::{Claim, Claimed, Holder, OutboxRow, Store, now_unix};
use feed2threads::threads::{NewContainer, TextContainer, ThreadsClient};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::feed_server::{FeedServer, Route};
use support::test_app::TestApp;
use tokio_util::sync::CancellationToken;

/// Waits short enough for tests, in the production proportions (the same as
/// [`TestApp`](support::test_app::TestApp)'s).
pub(crate) fn fast() -> PublishConfig {
    support::test_app::fast_publish()
}

/// An RSS feed of `n` stories `prefix-0..n`, dated `2 * (n-i)` minutes ago (so story 0 is the
/// oldest), with an image enclosure when `images`.
pub(crate) fn rss(prefix: &str, n: usize, images: bool) -> String {
    let stories = support::rss::numbered(prefix, n, chrono::Duration::minutes(2));
    let stories = if images {
        support::rss::with_images(prefix, stories)
    } else {
        stories
    };
    support::rss::Feed::new("Test News").stories(stories).rss()
}

pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) feeds: Vec<(Arc<FeedSettings>, i64)>,
    pub(crate) client: ThreadsClient,
}

/// One account `newsroom` with `token`, one feed `news` with `n` stories (backlog "all"),
/// polled once so the outbox holds `n` queued posts.
pub(crate) async fn harness(
    fake: &FakeThreads,
    server: &FeedServer,
    n: usize,
    feed_extra: &str,
    account_extra: &str,
) -> Harness {
    server.set(
        "/news.xml",
        Route::feed(rss("news", n, feed_extra.contains("image"))),
    );
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n{account_extra}\n\
         [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n{feed_extra}\n",
        fake.token(),
        server.url("/news.xml")
    );
    harness_with(fake, &config).await
}

pub(crate) async fn harness_with(fake: &FakeThreads, accounts_and_feeds: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    // On PostgreSQL when the test runs through `support::pg::on_postgres`.
    let store_url = crate::support::pg::store_url_override().unwrap_or_else(|| {
        crate::support::sqlite_template::place_migrated_store(&db);
        format!("sqlite://{}", db.display())
    });
    let text = format!(
        "[store]\nurl = \"{store_url}\"\n[threads]\napi_base = \"{}\"\npublish_timeout = \"3s\"\nrequest_timeout = \"3s\"\n[http]\nlisten = \"off\"\n{accounts_and_feeds}",
        fake.base_url()
    );
    let settings = Settings::parse(&text, Path::new("test.toml")).unwrap();
    let store = Store::open(&settings.store_url).await.unwrap();
    let feeds = sync_config(&store, &settings, true).await.unwrap();
    let poller = feed2threads::app::build_poller(&store, &settings).unwrap();
    for (feed, _) in &feeds {
        let row = store.feed_by_name(&feed.name).await.unwrap().unwrap();
        poller.poll(feed, &row).await.unwrap();
    }
    let client = feed2threads::publish::client(&settings).unwrap();
    Harness {
        _dir: dir,
        db,
        settings,
        store,
        feeds,
        client,
    }
}

impl Harness {
    pub(crate) async fn publisher(&self, account: &str, config: PublishConfig) -> AccountPublisher {
        self.publisher_with(account, config, feed_infos(&self.feeds))
            .await
    }

    async fn publisher_with(
        &self,
        account: &str,
        config: PublishConfig,
        feeds: Arc<HashMap<i64, FeedInfo>>,
    ) -> AccountPublisher {
        let settings = self.settings.account(account).unwrap().clone();
        AccountPublisher::new(
            self.store.clone(),
            self.client.clone(),
            settings,
            feeds,
            config,
        )
        .await
        .unwrap()
    }

    pub(crate) async fn rows(&self) -> Vec<OutboxRow> {
        let mut rows = self.store.list_outbox(None, 10_000).await.unwrap();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// Reopen the store from the same file, as a restart would (the config's token only
    /// seeds an empty store).
    async fn restart(&mut self) {
        self.store.close().await;
        self.store = Store::open(&self.settings.store_url).await.unwrap();
        self.feeds = sync_config(&self.store, &self.settings, true)
            .await
            .unwrap();
    }
}

/// Steps the publisher until it has nothing left to do (or `limit` passes), sleeping
/// through its waits; returns the outcomes.
pub(crate) async fn drive(p: &mut AccountPublisher, limit: Duration) -> Vec<Outcome> {
    let deadline = Instant::now() + limit;
    let mut outcomes = Vec::new();
    while Instant::now() < deadline {
        let o = p.try_publish_next().await.unwrap();
        match &o {
            Outcome::Idle | Outcome::Paused { .. } => {
                outcomes.push(o);
                break;
            }
            Outcome::Wait {
                reason: WaitReason::Quota { .. },
                ..
            } => {
                outcomes.push(o);
                break;
            }
            Outcome::Wait { until, .. } => {
                let until = (*until).min(deadline);
                tokio::time::sleep_until(until.into()).await;
            }
            _ => {}
        }
        outcomes.push(o);
    }
    outcomes
}

pub(crate) fn published(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Published { .. }))
        .count()
}

/// No duplicate on the fake; every outbox row published, and its text and link card
/// present exactly once among the fake's posts.
pub(crate) async fn assert_exactly_once(h: &Harness, fake: &FakeThreads) {
    assert!(
        fake.duplicates().is_empty(),
        "duplicates: {:?}",
        fake.duplicates()
    );
    let rows = h.rows().await;
    let counts = fake.post_counts();
    for r in &rows {
        assert_eq!(
            r.state, "published",
            "post {} is {}: {:?}",
            r.id, r.state, r.last_error
        );
        let key = (Some(r.text.clone()), r.link_attachment.clone());
        assert_eq!(counts.get(&key), Some(&1), "post {} on Threads", r.id);
    }
    assert_eq!(
        fake.posts().len(),
        rows.len(),
        "posts on Threads vs outbox rows"
    );
}

pub(crate) fn total_calls(fake: &FakeThreads) -> u64 {
    fake.all_calls().values().sum()
}

/// Waits (real time: the fake runs on its own clock) until `done`, at most `limit`.
pub(crate) async fn wait_for(done: impl Fn() -> bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ----------------------------------------------------------------------------------------
// The happy path and its cost.

#[tokio::test]
pub(crate) async fn text_posts_publish_once_in_order_at_about_four_calls_each() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let n = 20;
    let h = harness(&fake, &server, n, "", "").await;
    fake.reset_calls();

    // The real worker loop, drained as `run --once` does (it includes the permalink
    // backfill when the queue is empty).
    let poke = Arc::new(tokio::sync::Notify::new());
    let drain = CancellationToken::new();
    drain.cancel();
    let worker = h
        .publisher("newsroom", fast())
        .await
        .with_wakeups(poke, drain);
    tokio::time::timeout(
        Duration::from_secs(30),
        worker.run(CancellationToken::new()),
    )
    .await
    .expect("drained in time");

    assert_exactly_once(&h, &fake).await;
    let calls = total_calls(&fake);
    let ratio = calls as f64 / n as f64;
    println!(
        "calls per post without failures: {ratio:.2} ({calls} calls for {n} posts: {:?})",
        fake.all_calls()
    );
    // Create, status, publish, and the new post's permalink (for the `published` log line).
    assert!(ratio <= 4.5, "{ratio} calls per post");
    assert_eq!(fake.calls(Endpoint::Publish), n as u64);
    assert_eq!(fake.calls(Endpoint::CreateContainer), n as u64);

    // Oldest story first.
    let texts: Vec<String> = fake.posts().into_iter().filter_map(|p| p.text).collect();
    for (i, t) in texts.iter().enumerate() {
        assert!(t.contains(&format!("story number {i}")), "{i}: {t}");
    }
    // Media ids and permalinks recorded as each post goes out, no listing needed.
    for r in h.rows().await {
        assert!(r.media_id.is_some(), "{r:?}");
        assert!(r.permalink.is_some(), "{r:?}");
        assert!(r.published_at.is_some());
    }
    assert_eq!(fake.calls(Endpoint::GetPost), n as u64);
    assert_eq!(fake.calls(Endpoint::ListPosts), 0);
}

// ----------------------------------------------------------------------------------------
// Each failure mode, one by one.

#[tokio::test]
async fn not_visible_yet_retries_the_same_container() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 4, "", "").await;
    fake.update(|s| s.not_visible_attempts = 2);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 4, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // Same container each time: no recreation needed.
    assert_eq!(fake.containers().len(), 4);
    assert_eq!(fake.calls(Endpoint::Publish), 4 * 3);
}

#[tokio::test]
async fn never_visible_container_is_recreated_only_when_not_published() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 1, "", "").await;
    // 1 + 3 retries fail on the first container; it is FINISHED, not PUBLISHED: recreate.
    fake.update(|s| s.not_visible_attempts = 4);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 1, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    let containers = fake.containers();
    assert_eq!(containers.len(), 2, "{containers:?}");
    assert_eq!(containers[0].status, "FINISHED");
    assert_eq!(containers[1].status, "PUBLISHED");
}

#[tokio::test]
async fn media_in_progress_then_finished() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 3, "media = \"image\"", "").await;
    fake.update(|s| s.media_in_progress_polls = 3);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 3, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    for post in fake.posts() {
        assert_eq!(post.media_type, "IMAGE");
        assert!(post.image_url.is_some());
    }
    for c in fake.containers() {
        assert!(c.status_polls >= 4, "{c:?}");
    }
}

#[tokio::test]
pub(crate) async fn media_error_falls_back_to_a_text_post_with_the_link() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "media = \"image\"", "").await;
    fake.update(|s| {
        s.media_in_progress_polls = 1;
        s.media_outcome = MediaOutcome::Error("UNKNOWN".into());
    });
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    for (post, row) in fake.posts().iter().zip(h.rows().await) {
        assert_eq!(post.media_type, "TEXT");
        let link = post.link_attachment.as_deref().expect("link card");
        assert!(link.starts_with("https://news.example/news/"), "{link}");
        // The outbox row now is the text post it fell back to.
        assert_eq!(row.media_type, "TEXT");
        assert!(row.image_url.is_none());
        assert_eq!(row.link_attachment.as_deref(), Some(link));
    }
}

#[tokio::test]
async fn media_error_without_fallback_fails_the_post() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(
        &fake,
        &server,
        1,
        "media = \"image\"\nimage_fallback = \"none\"",
        "",
    )
    .await;
    fake.update(|s| s.media_outcome = MediaOutcome::Error("FAILED_DOWNLOADING_VIDEO".into()));
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert!(
        outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })),
        "{outcomes:?}"
    );
    assert!(fake.posts().is_empty());
    assert_eq!(fake.calls(Endpoint::Publish), 0);
    let row = &h.rows().await[0];
    assert_eq!(row.state, "failed");
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or("")
            .contains("FAILED_DOWNLOADING_VIDEO")
    );
}

async fn one_fault(fault: PublishFault) {
    one_fault_with_timeout(fault, None).await;
}

/// `one_fault`, with the client's publish timeout set to `publish_timeout`.
async fn one_fault_with_timeout(fault: PublishFault, publish_timeout: Option<Duration>) {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let mut h = harness(&fake, &server, 3, "", "").await;
    if let Some(t) = publish_timeout {
        h.settings.threads.publish_timeout = t;
        h.client = feed2threads::publish::client(&h.settings).unwrap();
    }
    fake.fail_next_publishes([fault.clone()]);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 3, "{fault:?}: {outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // Even when the answer was lost, the media id was found among the recent posts.
    let ids: Vec<String> = fake.posts().into_iter().map(|p| p.id).collect();
    for r in h.rows().await {
        let media = r.media_id.clone().unwrap_or_default();
        assert!(ids.contains(&media), "{fault:?}: row {r:?}");
    }
}

#[tokio::test]
pub(crate) async fn drop_after_publish_is_reconciled_not_republished() {
    one_fault(PublishFault::DropAfterPublish).await;
}

#[tokio::test]
pub(crate) async fn code_10_after_publish_is_reconciled_not_republished() {
    one_fault(PublishFault::Code10AfterPublish).await;
}

#[tokio::test]
async fn server_error_before_acting_publishes_again() {
    one_fault(PublishFault::ServerErrorBeforeActing).await;
}

#[tokio::test]
async fn drop_before_acting_publishes_again() {
    one_fault(PublishFault::DropBeforeActing).await;
}

#[tokio::test]
async fn answer_slower_than_the_timeout_is_reconciled() {
    // The client gives up after 1 s; the fake publishes, then answers after 1.5 s.
    one_fault_with_timeout(
        PublishFault::DelayAfterPublish(Duration::from_millis(1500)),
        Some(Duration::from_secs(1)),
    )
    .await;
}

#[tokio::test]
async fn transient_errors_on_every_call_back_off_and_recover() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 3, "", "").await;
    fake.fail_next(Endpoint::CreateContainer, 2);
    fake.fail_next(Endpoint::ContainerStatus, 2);
    fake.fail_next(Endpoint::PublishingLimit, 1);
    fake.fail_next(Endpoint::Publish, 2);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(20)).await;
    assert_eq!(published(&outcomes), 3, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    let waits = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outcome::Wait {
                    reason: WaitReason::Retry { .. },
                    ..
                }
            )
        })
        .count();
    assert!(waits >= 4, "{outcomes:?}");
}

#[tokio::test]
pub(crate) async fn every_fault_at_once_with_random_faults() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let n = 30;
    let h = harness(&fake, &server, n, "", "").await;
    fake.update(|s| {
        s.random_publish_faults = Some(RandomFaults::new(0.5, 7));
        s.not_visible_attempts = 1;
    });
    fake.fail_next(Endpoint::ContainerStatus, 3);
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(50)).await;
    assert_eq!(published(&outcomes), n, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    println!(
        "random faults: {} posts, {} publish calls, {} containers",
        fake.posts().len(),
        fake.calls(Endpoint::Publish),
        fake.containers().len()
    );
}

// ----------------------------------------------------------------------------------------
// Crash recovery: posts left in flight are reconciled before anything new.

/// A claim on `post` by a worker that then died (a crash): the next worker of the account
/// adopts the post when it starts.
pub(crate) async fn claimed_by_a_worker_that_died(store: &Store, post: i64, now: i64) -> Claim {
    match store.outbox_claim(post, &Holder::new(), now).await.unwrap() {
        Claimed::Won(held) => held.claim,
        Claimed::Stale => panic!("post {post} could not be claimed"),
    }
}

#[tokio::test]
pub(crate) async fn post_published_before_a_crash_is_recorded_not_republished() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "", "").await;
    let rows = h.rows().await;
    let first = &rows[0];
    // What a crash right after the publish call leaves behind: the container stored, the
    // post marked `publishing`, the post on Threads, and no answer recorded.
    let token = fake.secret_token();
    let cid = h
        .client
        .create_container(
            &token,
            &NewContainer::Text(TextContainer {
                text: first.text.clone(),
                link_attachment: first.link_attachment.clone(),
                topic_tag: first.topic_tag.clone(),
                reply_control: None,
                ..TextContainer::default()
            }),
        )
        .await
        .unwrap();
    let now = now_unix();
    let claim = claimed_by_a_worker_that_died(&h.store, first.id, now).await;
    assert!(
        h.store
            .outbox_container_created(&claim, cid.as_str(), now)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        h.store
            .outbox_publishing(&claim, now)
            .await
            .unwrap()
            .applied()
    );
    let media = h.client.publish(&token, &cid).await.unwrap();

    let mut p = h.publisher("newsroom", fast()).await;
    let o = p.try_publish_next().await.unwrap();
    assert_eq!(
        o,
        Outcome::Published {
            post: first.id,
            media_id: Some(media.as_str().to_string())
        }
    );
    // Then the rest.
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 1);
    assert_exactly_once(&h, &fake).await;
    assert_eq!(fake.calls(Endpoint::Publish), 2);
}

#[tokio::test]
pub(crate) async fn post_marked_publishing_but_never_sent_is_published_once() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 1, "", "").await;
    let row = &h.rows().await[0];
    let token = fake.secret_token();
    let cid = h
        .client
        .create_container(
            &token,
            &NewContainer::Text(TextContainer {
                text: row.text.clone(),
                link_attachment: row.link_attachment.clone(),
                topic_tag: row.topic_tag.clone(),
                reply_control: None,
                ..TextContainer::default()
            }),
        )
        .await
        .unwrap();
    let now = now_unix();
    let claim = claimed_by_a_worker_that_died(&h.store, row.id, now).await;
    let _ = h
        .store
        .outbox_container_created(&claim, cid.as_str(), now)
        .await
        .unwrap();
    let _ = h.store.outbox_publishing(&claim, now).await.unwrap();

    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 1, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // The stored container was used, not a new one.
    assert_eq!(fake.containers().len(), 1);
    assert_eq!(fake.posts()[0].creation_id, cid.as_str());
}

#[tokio::test]
pub(crate) async fn expired_container_left_in_flight_is_replaced() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 1, "", "").await;
    let row = &h.rows().await[0];
    let token = fake.secret_token();
    let cid = h
        .client
        .create_container(
            &token,
            &NewContainer::Text(TextContainer::new(row.text.clone())),
        )
        .await
        .unwrap();
    let claim = claimed_by_a_worker_that_died(&h.store, row.id, now_unix()).await;
    let _ = h
        .store
        .outbox_container_created(&claim, cid.as_str(), now_unix())
        .await
        .unwrap();
    let _ = h.store.outbox_publishing(&claim, now_unix()).await.unwrap();
    fake.advance(Duration::from_secs(25 * 3600));
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 1, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    assert_eq!(fake.container(cid.as_str()).unwrap().status, "EXPIRED");
}

// ----------------------------------------------------------------------------------------
// Waiting: max_age, quota, pacing.

#[tokio::test]
async fn story_older_than_max_age_while_waiting_is_expired() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 3, "", "").await;
    // The stories are minutes old; pretend the feed's max_age is one minute.
    let mut feeds: HashMap<i64, FeedInfo> = (*feed_infos(&h.feeds)).clone();
    for f in feeds.values_mut() {
        f.max_age = Some(Duration::from_secs(60 * 3 + 30));
    }
    let mut p = h.publisher_with("newsroom", fast(), Arc::new(feeds)).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    let expired = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Expired { .. }))
        .count();
    // Stories dated 6 and 4 minutes ago expire; the one from 2 minutes ago is published.
    assert_eq!((expired, published(&outcomes)), (2, 1), "{outcomes:?}");
    assert_eq!(fake.posts().len(), 1);
    let states: Vec<String> = h.rows().await.iter().map(|r| r.state.to_string()).collect();
    assert_eq!(states, ["expired", "expired", "published"]);
}

#[tokio::test]
pub(crate) async fn spent_quota_stops_publishing_without_a_call_storm() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 5, "", "").await;
    fake.update(|s| s.quota_total = 3);
    fake.reset_calls();
    let worker = h.publisher("newsroom", fast()).await;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run(shutdown.clone()));
    // Once the quota is spent, watch for a second (five idle re-checks, thirty retry
    // delays): a storm would show.
    wait_for(|| fake.posts().len() >= 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(fake.posts().len(), 3);
    assert!(fake.duplicates().is_empty());
    // Three publishes, no attempt at a fourth, and the limit read once at start (the
    // wake-up is a day away).
    assert_eq!(fake.calls(Endpoint::Publish), 3, "{:?}", fake.all_calls());
    assert!(
        fake.calls(Endpoint::PublishingLimit) <= 2,
        "{:?}",
        fake.all_calls()
    );
    assert!(total_calls(&fake) <= 3 * 4 + 4, "{:?}", fake.all_calls());
    let states: Vec<String> = h.rows().await.iter().map(|r| r.state.to_string()).collect();
    assert_eq!(states.iter().filter(|s| *s == "queued").count(), 2);
    let account = h.store.account_by_name("newsroom").await.unwrap().unwrap();
    assert_eq!(account.quota_total, Some(3));
}

#[tokio::test]
async fn quota_spent_by_posts_we_do_not_know_is_rechecked_slowly() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "", "").await;
    fake.update(|s| s.quota_total = 2);
    // Another app used the quota.
    let token = fake.secret_token();
    for i in 0..2 {
        let c = h
            .client
            .create_container(
                &token,
                &NewContainer::Text(TextContainer::new(format!("other app {i}"))),
            )
            .await
            .unwrap();
        h.client.publish(&token, &c).await.unwrap();
    }
    fake.reset_calls();
    let worker = h.publisher("newsroom", fast()).await; // quota_recheck: 500 ms
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run(shutdown.clone()));
    // Two and a half re-check intervals.
    tokio::time::sleep(Duration::from_millis(1250)).await;
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(fake.calls(Endpoint::Publish), 0, "{:?}", fake.all_calls());
    assert_eq!(fake.calls(Endpoint::CreateContainer), 0);
    // One look at start, then about one per recheck interval: no storm.
    let limit_calls = fake.calls(Endpoint::PublishingLimit);
    assert!((1..=6).contains(&limit_calls), "{:?}", fake.all_calls());
}

#[tokio::test]
async fn quota_error_from_the_api_means_wait_not_retry() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 3, "", "").await;
    let mut p = h.publisher("newsroom", fast()).await;
    // The worker reads the limit (250) and publishes one post.
    assert!(matches!(
        p.try_publish_next().await.unwrap(),
        Outcome::Published { .. }
    ));
    // Then another app fills the window behind its back.
    fake.update(|s| s.quota_total = 3);
    let token = fake.secret_token();
    for i in 0..2 {
        let c = h
            .client
            .create_container(
                &token,
                &NewContainer::Text(TextContainer::new(format!("other app {i}"))),
            )
            .await
            .unwrap();
        h.client.publish(&token, &c).await.unwrap();
    }
    fake.reset_calls();
    let o = p.try_publish_next().await.unwrap();
    assert!(
        matches!(
            o,
            Outcome::Wait {
                reason: WaitReason::Quota { .. },
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(fake.calls(Endpoint::Publish), 1);
    // The refused post keeps its container, unpublished, for later.
    let rows = h.rows().await;
    assert_eq!(rows[1].state, "container_created");
    assert!(rows[1].container_id.is_some());
    // Asked again at once, it still waits without publishing.
    let o = p.try_publish_next().await.unwrap();
    assert!(matches!(o, Outcome::Wait { .. }), "{o:?}");
    assert_eq!(fake.calls(Endpoint::Publish), 1);
    assert!(fake.duplicates().is_empty());
}

#[tokio::test]
async fn max_posts_per_day_lowers_the_quota() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 4, "", "max_posts_per_day = 2").await;
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    assert!(matches!(
        outcomes.last(),
        Some(Outcome::Wait {
            reason: WaitReason::Quota { .. },
            ..
        })
    ));
    assert_eq!(fake.calls(Endpoint::Publish), 2);
}

#[tokio::test]
async fn min_interval_spaces_posts() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let mut h = harness(&fake, &server, 4, "", "").await;
    // min_interval is a config value: set it on the account's settings.
    for a in &mut h.settings.accounts {
        a.min_interval = Duration::from_millis(300);
    }
    let mut p = h.publisher("newsroom", fast()).await;
    let started = Instant::now();
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 4);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let posts = fake.posts();
    for pair in posts.windows(2) {
        let gap = pair[1].timestamp - pair[0].timestamp;
        assert!(
            gap >= chrono::TimeDelta::milliseconds(280),
            "posts {} ms apart",
            gap.num_milliseconds()
        );
    }
    assert!(outcomes.iter().any(|o| matches!(
        o,
        Outcome::Wait {
            reason: WaitReason::Pacing,
            ..
        }
    )));
}

// ----------------------------------------------------------------------------------------
// Tokens.

#[tokio::test]
pub(crate) async fn token_refresh_is_stored_and_survives_a_restart() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    // A long-lived token 50 days old: 10 days left, inside the 15-day window.
    let old = fake.issue_token(TokenKind::LongLived, Duration::from_secs(50 * 86_400));
    server.set("/news.xml", Route::feed(rss("news", 2, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\naccess_token = \"{old}\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        server.url("/news.xml")
    );
    let mut h = harness_with(&fake, &config).await;
    let mut p = h.publisher("newsroom", fast()).await;
    assert!(matches!(
        p.try_publish_next().await.unwrap(),
        Outcome::Published { .. }
    ));
    assert_eq!(fake.calls(Endpoint::DebugToken), 1);
    assert_eq!(fake.calls(Endpoint::RefreshToken), 1);
    let account = h.store.account_by_name("newsroom").await.unwrap().unwrap();
    let stored = account.token().unwrap();
    assert_ne!(stored.expose_secret(), old);
    assert_eq!(stored.expose_secret(), fake.token());
    assert_eq!(account.token_source.as_deref(), Some("refresh"));
    let expires = account.token_expires_at.unwrap();
    assert!(expires > now_unix() + 59 * 86_400);

    // Restart: the config still names the old token, the store's new one wins, and it
    // needs neither a look nor a refresh.
    drop(p);
    h.restart().await;
    let account = h.store.account_by_name("newsroom").await.unwrap().unwrap();
    assert_eq!(account.token().unwrap().expose_secret(), fake.token());
    let mut p = h.publisher("newsroom", fast()).await;
    assert!(matches!(
        p.try_publish_next().await.unwrap(),
        Outcome::Published { .. }
    ));
    assert_eq!(fake.calls(Endpoint::DebugToken), 1);
    assert_eq!(fake.calls(Endpoint::RefreshToken), 1);
    assert_exactly_once(&h, &fake).await;
}

#[tokio::test]
pub(crate) async fn rejected_token_pauses_only_its_account() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/good.xml", Route::feed(rss("good", 3, false)));
    server.set("/bad.xml", Route::feed(rss("bad", 3, false)));
    let config = format!(
        "[[accounts]]\nname = \"good\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n\
         [[accounts]]\nname = \"bad\"\naccess_token = \"THAAL0000revokedrevokedrevokedrevoked\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"good\"\naccount = \"good\"\nurl = \"{}\"\nbacklog = \"all\"\n\
         [[feeds]]\nname = \"bad\"\naccount = \"bad\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        fake.token(),
        server.url("/good.xml"),
        server.url("/bad.xml")
    );
    let h = harness_with(&fake, &config).await;
    let mut good = h.publisher("good", fast()).await;
    let mut bad = h.publisher("bad", fast()).await;
    let (g, b) = tokio::join!(
        drive(&mut good, Duration::from_secs(10)),
        drive(&mut bad, Duration::from_secs(10))
    );
    assert_eq!(published(&g), 3, "{g:?}");
    let Some(Outcome::Paused { reason }) = b.last() else {
        panic!("bad account not paused: {b:?}");
    };
    assert!(reason.contains("feed2threads auth bad"), "{reason}");
    assert!(!reason.contains("revoked"), "token in the reason: {reason}");
    let bad_row = h.store.account_by_name("bad").await.unwrap().unwrap();
    assert_eq!(bad_row.paused_reason.as_deref(), Some(reason.as_str()));
    assert!(
        h.store
            .account_by_name("good")
            .await
            .unwrap()
            .unwrap()
            .paused_reason
            .is_none()
    );
    // Its posts stay queued; the good account's are all out.
    let bad_id = bad_row.id;
    for r in h.rows().await {
        if r.account_id == bad_id {
            assert_eq!(r.state, "queued");
        } else {
            assert_eq!(r.state, "published");
        }
    }
    assert_eq!(fake.posts().len(), 3);
    // One refresh attempt, then quiet.
    assert_eq!(fake.calls(Endpoint::RefreshToken), 1);
    assert!(matches!(
        bad.try_publish_next().await.unwrap(),
        Outcome::Paused { .. }
    ));
    assert_eq!(fake.calls(Endpoint::RefreshToken), 1);
}

#[tokio::test]
async fn account_without_token_is_paused_with_advice() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss("news", 1, false)));
    let config = format!(
        "[[accounts]]\nname = \"newsroom\"\nmin_interval = \"0s\"\n\
         [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        server.url("/news.xml")
    );
    let h = harness_with(&fake, &config).await;
    let mut p = h.publisher("newsroom", fast()).await;
    match p.try_publish_next().await.unwrap() {
        Outcome::Paused { reason } => assert!(reason.contains("feed2threads auth newsroom")),
        o => panic!("{o:?}"),
    }
    assert_eq!(total_calls(&fake), 0);
    assert_eq!(h.rows().await[0].state, "queued");
}

// ----------------------------------------------------------------------------------------
// The real binary: --once drains, dry run writes nothing, SIGTERM finishes the publish.

/// Account `newsroom`, feed `news` of `stories` stories (backlog "all").
async fn binary_app(stories: usize) -> TestApp {
    TestApp::new()
        .await
        .with_account("newsroom")
        .with_feed("news", "newsroom", stories)
}

/// The binary on `app`'s config, its log appended to `daemon.log` ([`daemon_log`]).
fn command(app: &TestApp, args: &[&str]) -> tokio::process::Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(app.dir().join("daemon.log"))
        .unwrap();
    let mut c = app.command(args);
    c.env("FEED2THREADS_RETRY_WAIT", "50ms")
        .stdout(std::process::Stdio::null())
        .stderr(log);
    c
}

fn daemon_log(app: &TestApp) -> String {
    std::fs::read_to_string(app.dir().join("daemon.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_publishes_everything_and_dry_run_nothing() {
    let app = binary_app(5).await;
    let fake = &app.fake;

    let status = command(&app, &["run", "--once", "--dry-run"])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(
        total_calls(fake),
        0,
        "dry run called {:?}",
        fake.all_calls()
    );

    let status = command(&app, &["run", "--once"]).status().await.unwrap();
    let log = daemon_log(&app);
    assert!(status.success(), "{log}");
    assert_eq!(fake.posts().len(), 5, "{log}");
    assert!(fake.duplicates().is_empty());
    assert!(!log.contains(&fake.token()), "token in the log");
    // Nothing left to do: a second run publishes nothing.
    let status = command(&app, &["run", "--once"]).status().await.unwrap();
    assert!(status.success());
    assert_eq!(fake.posts().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_publish_in_flight_and_exits_0() {
    let app = binary_app(3).await;
    let fake = &app.fake;
    fake.update(|s| s.publish_delay = Duration::from_millis(1200));
    let mut child = command(&app, &["run"]).spawn().unwrap();
    let pid = child.id().unwrap();

    // Wait until the first publish call is in flight (the fake holds its answer for 1.2 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    while fake.calls(Endpoint::Publish) == 0 {
        assert!(Instant::now() < deadline, "no publish call");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let log = daemon_log(&app);
    assert_eq!(status.code(), Some(0), "{log}");

    // The publish in flight completed and was recorded; nothing else was started.
    assert_eq!(fake.calls(Endpoint::Publish), 1, "{log}");
    assert_eq!(fake.posts().len(), 1);
    let store = app.open_store().await;
    let mut rows = store.list_outbox(None, 100).await.unwrap();
    rows.sort_by_key(|r| r.id);
    let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["published", "queued", "queued"], "{log}");
    assert_eq!(
        rows[0].media_id.as_deref(),
        Some(fake.posts()[0].id.as_str())
    );
}
