//! The daemons running on a PostgreSQL store, by node name (issue 14): one live process per
//! name. Two daemons given the same `store.node` would both believe they own the same
//! account leases (a lease taken by a node is that node's own, renewable by it), so the
//! second must not start. A daemon registers its name with an incarnation (random, one
//! per process) and a deadline in the database's clock, renews the deadline while it runs,
//! and deletes its row at a clean stop; a crashed one's row lapses after one lease time.
//!
//! PostgreSQL only (`migrations_pg/0052_nodes.sql`): on SQLite the store's lock file
//! already admits one daemon. Must not decide how long to wait for a name (the daemon does).

use super::on;
use super::{Store, StoreResult};
use std::time::Duration;

/// The live daemon holding a node name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeHolder {
    pub host: String,
    pub pid: i64,
    /// When it registered, unix seconds (the database's clock).
    pub since: i64,
    /// Seconds until its registration lapses unless renewed (the database's clock).
    pub seconds_left: i64,
}

impl std::fmt::Display for NodeHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = chrono::DateTime::from_timestamp(self.since, 0)
            .map_or_else(|| self.since.to_string(), |d| d.to_rfc3339());
        write!(f, "pid {} on host {} since {since}", self.pid, self.host)
    }
}

/// What registering a name found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeClaim {
    /// The name is this incarnation's until it stops renewing it.
    Registered,
    /// A live other incarnation holds it (`None`: it went away this instant; try again).
    Held(Option<NodeHolder>),
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)
}

impl Store {
    /// Register `name` for `incarnation` (this process, on `host` with `pid`) for `lease`:
    /// when nobody holds it, when its holder let it lapse, or when it is this incarnation's.
    pub async fn node_register(
        &self,
        name: &str,
        incarnation: &str,
        host: &str,
        pid: u32,
        lease: Duration,
    ) -> StoreResult<NodeClaim> {
        let now = self.pool().now_secs();
        let sql = format!(
            "INSERT INTO nodes (name, incarnation, host, pid, since, alive_until) \
             VALUES ($1, $2, $3, $4, {now}, {now} + $5) \
             ON CONFLICT (name) DO UPDATE SET incarnation = excluded.incarnation, \
             host = excluded.host, pid = excluded.pid, since = excluded.since, \
             alive_until = excluded.alive_until \
             WHERE nodes.alive_until <= {now} OR nodes.incarnation = excluded.incarnation \
             RETURNING name"
        );
        let taken: Option<String> = on!(self.pool(), |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(name.to_owned())
        .bind(incarnation.to_owned())
        .bind(host.to_owned())
        .bind(i64::from(pid))
        .bind(secs(lease))
        .fetch_optional(c)
        .await?);
        if taken.is_some() {
            return Ok(NodeClaim::Registered);
        }
        let sql = format!(
            "SELECT host, pid, since, alive_until - {now} AS seconds_left FROM nodes WHERE name = $1"
        );
        let holder = on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name.to_owned())
            .fetch_optional(c)
            .await?);
        Ok(NodeClaim::Held(holder))
    }

    /// Keep `name` registered for another `lease` from the database's now. `false`: the
    /// registration is no longer this incarnation's (it lapsed and another took the name).
    pub async fn node_renew(
        &self,
        name: &str,
        incarnation: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        let now = self.pool().now_secs();
        let sql = format!(
            "UPDATE nodes SET alive_until = {now} + $3 WHERE name = $1 AND incarnation = $2"
        );
        let done = on!(self.pool(), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name.to_owned())
            .bind(incarnation.to_owned())
            .bind(secs(lease))
            .execute(c)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Give the name up (a clean stop): a daemon restarted with it starts at once.
    pub async fn node_release(&self, name: &str, incarnation: &str) -> StoreResult<()> {
        on!(self.pool(), |c| sqlx::query(
            "DELETE FROM nodes WHERE name = $1 AND incarnation = $2"
        )
        .bind(name.to_owned())
        .bind(incarnation.to_owned())
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::fresh_stores;

    const LEASE: Duration = Duration::from_secs(30);

    /// A live name is refused to another incarnation with its holder named; it is free
    /// again after a clean stop, or when its holder stopped renewing it.
    #[tokio::test]
    async fn a_node_name_is_held_by_one_live_incarnation() {
        let Some(pg) = fresh_stores(false)
            .await
            .into_iter()
            .find(|s| s.backend == "postgres")
        else {
            return; // PostgreSQL only; fresh_stores said why it is skipped
        };
        let store = pg.store.clone();
        let register = |inc: &'static str, pid: u32, lease: Duration| {
            let store = store.clone();
            async move {
                store
                    .node_register("news-1", inc, "host-a", pid, lease)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(register("one", 10, LEASE).await, NodeClaim::Registered);
        // Its own again (a retry of the same process) is fine; another is refused.
        assert_eq!(register("one", 10, LEASE).await, NodeClaim::Registered);
        let NodeClaim::Held(Some(holder)) = register("two", 20, LEASE).await else {
            panic!("a live name was taken")
        };
        assert_eq!((holder.pid, holder.host.as_str()), (10, "host-a"));
        assert!(holder.seconds_left > 0, "{holder:?}");
        assert!(store.node_renew("news-1", "one", LEASE).await.unwrap());
        assert!(!store.node_renew("news-1", "two", LEASE).await.unwrap());

        // A clean stop frees it at once.
        store.node_release("news-1", "one").await.unwrap();
        assert_eq!(register("two", 20, LEASE).await, NodeClaim::Registered);
        assert!(!store.node_renew("news-1", "one", LEASE).await.unwrap());

        // A crash: "two" stops renewing; once its second lapses, "three" takes the name.
        assert!(
            store
                .node_renew("news-1", "two", Duration::from_secs(1))
                .await
                .unwrap()
        );
        // Registrations count whole seconds of the database's clock: one second from now
        // ends when that clock next turns a second, within a second or so.
        let crashed = std::time::Instant::now();
        loop {
            match register("three", 30, LEASE).await {
                NodeClaim::Registered => break,
                NodeClaim::Held(holder) => assert!(
                    crashed.elapsed() < Duration::from_secs(5),
                    "a one-second registration still held after 5 s: {holder:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!store.node_renew("news-1", "two", LEASE).await.unwrap());
        pg.finish().await;
    }
}
