//! `migrate-store --to postgres://…`: a newsroom moves from its SQLite store to PostgreSQL.
//! After the copy the daemon on PostgreSQL posts nothing that was posted already, and the
//! feed's new story goes out once; a target that is not empty is refused, untouched.
//! Needs `FEED2THREADS_TEST_PG` (see `support::pg`); without it the tests pass with a
//! notice.

use crate::support::feed_server::Route;
use crate::support::pg::PgDatabase;
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use feed2threads::store::Store;
use std::process::Output;

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn after_migrate_store_the_daemon_on_postgres_posts_only_the_new_story() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed("news", "desk", 2);
    ok(&app.run(&["run", "--once"]).await);
    assert_eq!(app.fake.posts().len(), 2);

    let printed = ok(&app.run(&["migrate-store", "--to", db.url()]).await);
    assert!(printed.contains("outbox"), "{printed}");

    // The copy holds the token, the feed's validators and state, and the published posts.
    let copy = Store::open(db.url()).await.unwrap();
    let account = copy.account_by_name("desk").await.unwrap().unwrap();
    assert!(account.token().is_some());
    let feed = copy.feed_by_name("news").await.unwrap().unwrap();
    assert!(feed.baseline_done);
    assert_eq!(
        copy.item_counts(feed.id).await.unwrap().get("queued"),
        Some(&2)
    );
    copy.close().await;

    // The newsroom switches over; the feed gets a third story.
    let sqlite = app.db_url();
    let app = app.with_store_url(db.url());
    app.feeds.set("/news.xml", Route::feed(rss("news", 3)));
    ok(&app.run(&["run", "--once"]).await);
    let posts = app.fake.posts();
    assert_eq!(posts.len(), 3, "only the new story went out");
    assert!(app.fake.duplicates().is_empty());
    assert!(
        posts[2]
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("news story number 2"),
        "{:?}",
        posts[2].text
    );

    // A second copy into the same (now used) database is refused.
    let app = app.with_store_url(&sqlite);
    let again = app.run(&["migrate-store", "--to", db.url()]).await;
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(app.fake.posts().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_on_postgres_works_on_a_copy_and_writes_nothing() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let app = TestApp::newsroom_on(db.url(), 1).await;
    ok(&app.run(&["run", "--once"]).await);
    app.feeds.set("/news.xml", Route::feed(rss("news", 2)));
    let dry = ok(&app.run(&["run", "--once", "--dry-run"]).await);
    assert!(dry.contains("news story number 1"), "{dry}");
    assert_eq!(app.fake.posts().len(), 1);
    // Nothing of the dry run reached the database: the real run still finds the story new.
    ok(&app.run(&["run", "--once"]).await);
    assert_eq!(app.fake.posts().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_on_a_new_postgres_database_shows_the_posts_and_creates_nothing() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let app = TestApp::newsroom_on(db.url(), 1).await;
    let dry = ok(&app.run(&["run", "--once", "--dry-run"]).await);
    assert!(dry.contains("news story number 0"), "{dry}");
    assert!(app.fake.posts().is_empty());
    // Not even migrated: the database is as empty as it was.
    use sqlx::{ConnectOptions, Connection};
    let mut conn = db
        .url()
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    assert_eq!(tables, 0);
}
