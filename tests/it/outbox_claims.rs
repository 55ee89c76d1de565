//! The outbox's claims and the worker's step machine under what the daemon lock and a
//! healthy disk normally rule out: two workers of one account on one store, a post held by
//! another worker, and the store failing in the middle of a step.
//!
//! What a user would check: every story on Threads exactly once (counted at the fake), the
//! post's row telling the truth, and no publish call a committed state did not allow.

use crate::publish::{
    Harness, assert_exactly_once, claimed_by_a_worker_that_died, drive, fast, harness, published,
};
use crate::support::fake_threads::{Endpoint, FakeThreads, RandomFaults};
use crate::support::feed_server::FeedServer;
use feed2threads::publish::{Outcome, WaitReason};
use feed2threads::store::{Claimed, Holder, OutboxState, now_unix};
use feed2threads::threads::{NewContainer, TextContainer};
use std::time::Duration;

// ----------------------------------------------------------------------------------------
// Two workers, one account, one store (the daemon lock bypassed).

#[tokio::test]
pub(crate) async fn two_workers_of_one_account_publish_each_post_once() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let n = 24;
    let h = harness(&fake, &server, n, "", "").await;
    // Lost answers and code 10 make both workers reconcile: neither may take the other's.
    fake.update(|s| s.random_publish_faults = Some(RandomFaults::new(0.3, 11)));
    let mut a = h.publisher("newsroom", fast()).await;
    let mut b = h.publisher("newsroom", fast()).await;
    let (oa, ob) = tokio::join!(
        drive(&mut a, Duration::from_secs(40)),
        drive(&mut b, Duration::from_secs(40))
    );
    println!(
        "two workers: {} and {} posts, {} publish calls for {n} posts",
        published(&oa),
        published(&ob),
        fake.calls(Endpoint::Publish)
    );
    assert_eq!(published(&oa) + published(&ob), n, "{oa:?}\n{ob:?}");
    assert!(published(&oa) > 0 && published(&ob) > 0, "both worked");
    assert_exactly_once(&h, &fake).await;
}

#[tokio::test]
pub(crate) async fn a_post_another_worker_holds_is_left_alone() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "", "").await;
    let rows = h.rows().await;
    let mut p = h.publisher("newsroom", fast()).await;
    // Another live worker holds the first post (in flight: container created, publish
    // called) and the second (queued).
    let token = fake.secret_token();
    let cid = h
        .client
        .create_container(
            &token,
            &NewContainer::Text(TextContainer {
                text: rows[0].text.clone(),
                link_attachment: rows[0].link_attachment.clone(),
                topic_tag: None,
                reply_control: None,
                ..TextContainer::default()
            }),
        )
        .await
        .unwrap();
    let other = Holder::new();
    let now = now_unix();
    let Claimed::Won(first) = h.store.outbox_claim(rows[0].id, &other, now).await.unwrap() else {
        panic!("claim");
    };
    let Claimed::Won(_) = h.store.outbox_claim(rows[1].id, &other, now).await.unwrap() else {
        panic!("claim");
    };
    let _ = h
        .store
        .outbox_container_created(&first.claim, cid.as_str(), now)
        .await
        .unwrap();
    let _ = h.store.outbox_publishing(&first.claim, now).await.unwrap();
    fake.reset_calls();

    let o = p.try_publish_next().await.unwrap();
    assert_eq!(o, Outcome::Idle);
    for endpoint in [
        Endpoint::CreateContainer,
        Endpoint::ContainerStatus,
        Endpoint::Publish,
    ] {
        assert_eq!(fake.calls(endpoint), 0, "{:?}", fake.all_calls());
    }
    let rows = h.rows().await;
    assert_eq!(rows[0].state, "publishing");
    assert_eq!(rows[1].state, "queued");
    assert!(
        rows.iter()
            .all(|r| r.claimed_by.as_deref() == Some(other.as_str()))
    );

    // That worker is gone (a restart): the next one adopts both, reconciles the first
    // (its publish never happened) and publishes each once.
    drop(p);
    let mut next = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut next, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    assert_eq!(fake.posts()[0].creation_id, cid.as_str());
}

// ----------------------------------------------------------------------------------------
// The store failing inside a step.

/// Makes every write that moves an outbox row to `state` fail, as a full disk or an I/O
/// error would, until `heal` is called: a trigger, set through a connection of its own.
struct FailingWrites {
    pool: sqlx::SqlitePool,
}

impl FailingWrites {
    async fn on(h: &Harness, state: &str) -> FailingWrites {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", h.db.display()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TRIGGER fail_writes BEFORE UPDATE OF state ON outbox \
             WHEN NEW.state = '{state}' BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END"
        )))
        .execute(&pool)
        .await
        .unwrap();
        FailingWrites { pool }
    }

    async fn heal(self) {
        sqlx::query("DROP TRIGGER fail_writes")
            .execute(&self.pool)
            .await
            .unwrap();
        self.pool.close().await;
    }
}

fn is_store_wait(o: &Outcome, post: i64) -> bool {
    matches!(
        o,
        Outcome::Wait { reason: WaitReason::Store { post: Some(p), error }, .. }
            if *p == post && error.contains("disk I/O error (test)")
    )
}

#[tokio::test]
async fn a_store_failure_before_the_publish_call_stops_the_step_before_it() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 1, "", "").await;
    let post = h.rows().await[0].id;
    let mut p = h.publisher("newsroom", fast()).await;
    let failing = FailingWrites::on(&h, "publishing").await;

    let o = p.try_publish_next().await.unwrap();
    assert!(is_store_wait(&o, post), "{o:?}");
    // `publishing` could not be committed: no publish call was made.
    assert_eq!(fake.calls(Endpoint::Publish), 0);
    let row = &h.rows().await[0];
    assert_eq!(row.state, OutboxState::ContainerCreated);
    // Asked again at once, the worker backs off instead of hammering the store.
    let again = p.try_publish_next().await.unwrap();
    assert!(is_store_wait(&again, post), "{again:?}");
    assert_eq!(fake.calls(Endpoint::Publish), 0);

    failing.heal().await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 1, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // The stored container was the one published.
    assert_eq!(fake.containers().len(), 1);
    assert_eq!(fake.calls(Endpoint::Publish), 1);
}

#[tokio::test]
async fn a_store_failure_after_the_publish_is_reconciled_not_republished() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "", "").await;
    let post = h.rows().await[0].id;
    let mut p = h.publisher("newsroom", fast()).await;
    let failing = FailingWrites::on(&h, "published").await;

    let o = p.try_publish_next().await.unwrap();
    assert!(is_store_wait(&o, post), "{o:?}");
    // Threads has the post; the store still says `publishing`.
    assert_eq!(fake.calls(Endpoint::Publish), 1);
    assert_eq!(fake.posts().len(), 1);
    assert_eq!(h.rows().await[0].state, OutboxState::Publishing);

    failing.heal().await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // The first post was found through its container, not published again.
    assert_eq!(fake.calls(Endpoint::Publish), 2);
    let first = &h.rows().await[0];
    assert_eq!(first.media_id.as_deref(), Some(fake.posts()[0].id.as_str()));
}

#[tokio::test]
pub(crate) async fn a_crash_between_claim_and_container_leaves_a_post_the_next_worker_takes() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let h = harness(&fake, &server, 2, "", "").await;
    let rows = h.rows().await;
    // A worker claimed the oldest post and died before its container was stored.
    let _ = claimed_by_a_worker_that_died(&h.store, rows[0].id, now_unix()).await;
    let mut p = h.publisher("newsroom", fast()).await;
    let outcomes = drive(&mut p, Duration::from_secs(10)).await;
    assert_eq!(published(&outcomes), 2, "{outcomes:?}");
    assert_exactly_once(&h, &fake).await;
    // Oldest story first still.
    let first = &fake.posts()[0];
    assert_eq!(first.text.as_deref(), Some(rows[0].text.as_str()));
}
