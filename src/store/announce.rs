//! Telling the other daemons on one PostgreSQL database that posts were queued (issue 14).
//!
//! With several daemons, the one that polled a feed is often not the one that owns the
//! account's publishing: without a word from it, the owner would find the new posts only
//! at its idle recheck (a minute). The poller announces the account on a PostgreSQL
//! channel once its posts are committed; every daemon listens and wakes that account's
//! worker. An announcement lost while a connection is down is covered by the recheck.
//! On SQLite there is one daemon, which wakes its own workers: nothing is sent.
//!
//! Must not: carry anything but an account's name (the posts are read from the outbox).

use super::{Db, Store, StoreResult};
use sqlx::postgres::PgListener;

/// The channel of the announcements.
const CHANNEL: &str = "feed2threads_queued";

impl Store {
    /// Tells every daemon on the database that `account` has newly queued posts (call it
    /// after they are committed). Nothing on SQLite.
    pub async fn announce_queued(&self, account: &str) -> StoreResult<()> {
        if let Db::Postgres(pool) = self.pool() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(account)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Listens to the announcements of every daemon on the database (this one's too);
    /// `None` on SQLite.
    pub async fn queued_announcements(&self) -> StoreResult<Option<QueuedAnnouncements>> {
        let Db::Postgres(pool) = self.pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(QueuedAnnouncements { listener }))
    }
}

/// The announcements, as they arrive.
pub struct QueuedAnnouncements {
    listener: PgListener,
}

impl QueuedAnnouncements {
    /// The next account announced. A lost connection is made again here (sqlx listens
    /// again on the new one); an error means it could not be.
    pub async fn next(&mut self) -> StoreResult<String> {
        let notification = self.listener.recv().await?;
        Ok(notification.payload().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testing::fresh_stores;
    use std::time::Duration;

    /// What one daemon announces, every daemon listening on the database hears (a second
    /// store on the same database stands for the other daemon); SQLite has no listener.
    #[tokio::test]
    async fn an_announcement_reaches_the_other_daemons_listening() {
        for t in fresh_stores(false).await {
            let Some(mut heard) = t.store.queued_announcements().await.unwrap() else {
                assert_eq!(t.backend, "sqlite");
                t.store.announce_queued("desk").await.unwrap();
                t.finish().await;
                continue;
            };
            let other = crate::store::Store::open(&t.url).await.unwrap();
            other.announce_queued("desk").await.unwrap();
            other.announce_queued("sport").await.unwrap();
            for want in ["desk", "sport"] {
                let got = tokio::time::timeout(Duration::from_secs(10), heard.next())
                    .await
                    .expect("the announcement arrives")
                    .unwrap();
                assert_eq!(got, want);
            }
            other.close().await;
            drop(heard);
            t.finish().await;
        }
    }
}
