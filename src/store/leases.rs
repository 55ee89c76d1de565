//! Account leases: which node (daemon) publishes for an account, until when, and the
//! fencing token of its ownership (issue 14).
//!
//! A node takes an account's lease when nobody holds it, or when its holder let it lapse
//! (died, paused, cut off from the database); every new ownership gets a greater `fence`.
//! The holder renews it with its heartbeat. Every outbox transition of a publisher names the
//! fence it holds (see `outbox::claim`), so a node that lost its lease moves no post and so
//! never reaches a publish call. Times are the database's clock in milliseconds
//! (`clock_timestamp()`, `unixepoch('subsec')`, see `Db::now_ms`), never a node's.
//!
//! Must not decide when to take or renew (the publisher does); it only makes the rules
//! atomic.

use super::on;
use super::{Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;

/// The default time a lease lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// One node's ownership of one account, as the store granted it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    account_id: i64,
    node: Arc<str>,
    fence: i64,
}

impl Lease {
    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The fencing token: greater for every new owner of the account.
    pub fn fence(&self) -> i64 {
        self.fence
    }
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, for another lease time.
    Renewed,
    /// It lapsed, or another node took it: this ownership is over.
    Lost,
}

/// Who owns an account now, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeaseRow {
    pub account: String,
    pub owner: String,
    pub fence: i64,
    /// Milliseconds left, by the database's clock (≤ 0: lapsed).
    pub millis_left: i64,
}

impl LeaseRow {
    /// Whole seconds left, rounded up while the lease holds (so a held lease never shows
    /// 0 s left) and toward zero once it lapsed.
    pub fn seconds_left(&self) -> i64 {
        if self.millis_left > 0 {
            self.millis_left.saturating_add(999) / 1000
        } else {
            self.millis_left / 1000
        }
    }
}

fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Take the account's lease for `node`: when nobody holds it, when it lapsed, or when
    /// `node` itself holds it (a restarted node takes a new fence, so the claims of its
    /// previous run are stale). `None` while another node holds it.
    pub async fn lease_take(
        &self,
        account_id: i64,
        node: &str,
        lease: Duration,
    ) -> StoreResult<Option<Lease>> {
        self.take_lease(account_id, node, lease, false).await
    }

    /// Take the account's lease whoever holds it, with a new fence: only for a node that
    /// holds the store's one-daemon lock, so that any other holder is gone.
    pub async fn lease_take_over(
        &self,
        account_id: i64,
        node: &str,
        lease: Duration,
    ) -> StoreResult<Lease> {
        let taken = self.take_lease(account_id, node, lease, true).await?;
        // An unconditional upsert always returns its row.
        taken.ok_or(sqlx::Error::RowNotFound.into())
    }

    async fn take_lease(
        &self,
        account_id: i64,
        node: &str,
        lease: Duration,
        whoever_holds_it: bool,
    ) -> StoreResult<Option<Lease>> {
        let now = self.pool().now_ms();
        let free = if whoever_holds_it {
            "TRUE".to_owned()
        } else {
            format!(
                "account_leases.lease_until_ms <= {now} OR account_leases.owner = excluded.owner"
            )
        };
        let sql = format!(
            "INSERT INTO account_leases (account_id, owner, fence, lease_until_ms) \
             VALUES ($1, $2, 1, {now} + $3) \
             ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, \
             fence = account_leases.fence + 1, lease_until_ms = excluded.lease_until_ms \
             WHERE {free} RETURNING fence"
        );
        let fence: Option<i64> = on!(self.pool(), |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(account_id)
        .bind(node.to_owned())
        .bind(millis(lease))
        .fetch_optional(c)
        .await?);
        Ok(fence.map(|fence| Lease {
            account_id,
            node: node.into(),
            fence,
        }))
    }

    /// Extend a lease still held, by another `lease` from now (the database's now).
    pub async fn lease_renew(&self, held: &Lease, lease: Duration) -> StoreResult<Renewal> {
        let now = self.pool().now_ms();
        let sql = format!(
            "UPDATE account_leases SET lease_until_ms = {now} + $1 \
             WHERE account_id = $2 AND owner = $3 AND fence = $4 AND lease_until_ms > {now}"
        );
        let done = on!(self.pool(), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(lease))
            .bind(held.account_id)
            .bind(held.node.to_string())
            .bind(held.fence)
            .execute(c)
            .await?
            .rows_affected());
        Ok(if done == 1 {
            Renewal::Renewed
        } else {
            Renewal::Lost
        })
    }

    /// Give a lease up (a clean stop), so another node takes the account at once instead
    /// of after a lease time.
    pub async fn lease_release(&self, held: &Lease) -> StoreResult<()> {
        let now = self.pool().now_ms();
        let sql = format!(
            "UPDATE account_leases SET lease_until_ms = {now} \
             WHERE account_id = $1 AND owner = $2 AND fence = $3 AND lease_until_ms > {now}"
        );
        on!(self.pool(), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(held.account_id)
            .bind(held.node.to_string())
            .bind(held.fence)
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Which node owns which account, by account name (`status`).
    pub async fn leases(&self) -> StoreResult<Vec<LeaseRow>> {
        let now = self.pool().now_ms();
        let sql = format!(
            "SELECT a.name AS account, l.owner, l.fence, l.lease_until_ms - {now} AS millis_left \
             FROM account_leases l JOIN accounts a ON a.id = l.account_id ORDER BY a.name"
        );
        let rows = on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(c)
            .await?);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    const LAPSED: Duration = Duration::ZERO;

    #[tokio::test]
    async fn a_lease_is_taken_renewed_lost_and_its_fence_grows() {
        each_backend!(|store| {
            let account = store.ensure_account("news", 0).await.unwrap().id;
            let a = store
                .lease_take(account, "a", DEFAULT_LEASE)
                .await
                .unwrap()
                .expect("nobody holds it");
            assert_eq!(a.fence(), 1);
            // Held by a: b cannot take it, a renews it.
            assert!(
                store
                    .lease_take(account, "b", DEFAULT_LEASE)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                store.lease_renew(&a, DEFAULT_LEASE).await.unwrap(),
                Renewal::Renewed
            );
            let shown = store.leases().await.unwrap();
            assert_eq!(shown.len(), 1);
            assert_eq!(
                (shown[0].account.as_str(), shown[0].owner.as_str()),
                ("news", "a")
            );
            assert!(shown[0].millis_left > 0, "{shown:?}");
            assert!((29..=30).contains(&shown[0].seconds_left()), "{shown:?}");

            // a lets it lapse (renewed for no time): b takes it with a greater fence, and a
            // cannot renew it any more.
            assert_eq!(
                store.lease_renew(&a, LAPSED).await.unwrap(),
                Renewal::Renewed
            );
            let b = store
                .lease_take(account, "b", DEFAULT_LEASE)
                .await
                .unwrap()
                .expect("a lapsed lease is taken");
            assert!(b.fence() > a.fence());
            assert_eq!(
                store.lease_renew(&a, DEFAULT_LEASE).await.unwrap(),
                Renewal::Lost
            );
            assert_eq!(
                store.lease_renew(&b, DEFAULT_LEASE).await.unwrap(),
                Renewal::Renewed
            );

            // A clean stop hands it over at once; a node taking its own again gets a new
            // fence, so its previous run's claims are stale.
            store.lease_release(&b).await.unwrap();
            let a2 = store
                .lease_take(account, "a", DEFAULT_LEASE)
                .await
                .unwrap()
                .expect("a released lease is taken");
            assert!(a2.fence() > b.fence());
            let a3 = store
                .lease_take(account, "a", DEFAULT_LEASE)
                .await
                .unwrap()
                .expect("its own lease");
            assert!(a3.fence() > a2.fence());
            assert_eq!(
                store.lease_renew(&a2, DEFAULT_LEASE).await.unwrap(),
                Renewal::Lost
            );

            // Timed to the millisecond: 1.5 s is neither 1 s nor 2 s.
            let half = Duration::from_millis(1500);
            assert_eq!(
                store.lease_renew(&a3, half).await.unwrap(),
                Renewal::Renewed
            );
            let left = store.leases().await.unwrap()[0].millis_left;
            assert!((1000..=1500).contains(&left), "{left} ms left");
        });
    }
}
