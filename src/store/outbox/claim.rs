//! The publisher's side of the outbox: claiming a post, and every transition of a claimed
//! post.
//!
//! A worker claims a queued post atomically (`UPDATE … WHERE id = ? AND state = 'queued'
//! AND claimed_by IS NULL … RETURNING`); from then on it holds the post, and every
//! transition names the post, its holder and the states it may leave ([`guard`]), so no
//! code path can move a post another worker holds or an operator changed meanwhile: such a
//! transition is [`Transition::Stale`] and writes nothing.
//!
//! A holder made under an account lease ([`Holder::leased`]) adds its fencing token: the
//! claim, the adoption and every transition also ask that the lease still be held with that
//! fence, by the database's clock, in the same statement. A node that lost its lease (paused,
//! cut off) moves no post, so it never reaches a publish call.
//!
//! Must not decide anything about publishing (the worker does); it only makes the worker's
//! decisions durable, conditionally.

use super::state::{OutboxState, Transition, sql_list};
use super::{OUTBOX_COLUMNS, OutboxRow, QUEUE_ORDER};
use crate::store::on;
use crate::store::{Arg, bind_args, numbered};
use crate::store::{Lease, Store, StoreResult};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One publishing worker, as the posts it holds name it. Unique per worker: two workers of
/// one process differ, and so do the workers of two processes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    name: Arc<str>,
    /// The account lease its transitions are fenced by, when it works under one.
    lease: Option<Lease>,
}

impl Holder {
    /// A new holder: `pid <pid> worker <n> <random>`, readable in `queue list`-style
    /// inspection and unique without coordination.
    pub fn new() -> Holder {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt: u32 = rand::random();
        Holder {
            name: format!("pid {} worker {n} {salt:08x}", std::process::id()).into(),
            lease: None,
        }
    }

    /// A new holder working under `lease`: its claims and transitions apply only while the
    /// lease is held with its fence.
    pub fn leased(lease: Lease) -> Holder {
        Holder {
            lease: Some(lease),
            ..Holder::new()
        }
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The `AND EXISTS (…)` fence clause for a statement on `outbox` (empty without a
    /// lease), and its binds.
    fn fence_clause(&self, now: &str) -> String {
        match self.lease {
            Some(_) => format!(
                " AND EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = outbox.account_id \
                 AND l.owner = ? AND l.fence = ? AND l.lease_until_ms > {now})"
            ),
            None => String::new(),
        }
    }

    fn fence_args(&self) -> Vec<Arg<'_>> {
        match &self.lease {
            Some(lease) => vec![Arg::from(lease.node()), Arg::from(lease.fence())],
            None => Vec::new(),
        }
    }
}

impl Default for Holder {
    fn default() -> Self {
        Holder::new()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name)
    }
}

/// A worker's hold on one post: what every transition of the post is conditional on,
/// besides its state. Only the store makes one (a claim, or the posts a holder holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    post: i64,
    holder: Holder,
}

impl Claim {
    pub fn post(&self) -> i64 {
        self.post
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// What [`Claim::guard`] asks for, in its order.
    fn args(&self) -> Vec<Arg<'_>> {
        let mut args = vec![Arg::from(self.post), Arg::from(self.holder.as_str())];
        args.extend(self.holder.fence_args());
        args
    }

    /// The `WHERE` of every transition of a held post: the post, its holder, the states it
    /// may leave, and the holder's fence when it has one (`now`: the database's clock
    /// in milliseconds).
    /// Bound by [`Claim::args`].
    fn guard(&self, from: &[OutboxState], now: &str) -> String {
        format!(
            "id = ? AND claimed_by = ? AND state IN ({}){}",
            sql_list(from),
            self.holder.fence_clause(now)
        )
    }
}

/// A post its worker holds.
#[derive(Debug, Clone)]
pub struct Held {
    pub claim: Claim,
    pub row: OutboxRow,
}

impl Held {
    fn new(row: OutboxRow, holder: &Holder) -> Held {
        Held {
            claim: Claim {
                post: row.id,
                holder: holder.clone(),
            },
            row,
        }
    }
}

/// What a claim did.
#[derive(Debug, Clone)]
pub enum Claimed {
    /// The post is ours now.
    Won(Box<Held>),
    /// Another worker took it first, or it left the queue meanwhile.
    Stale,
}

const UNFINISHED: [OutboxState; 3] = [
    OutboxState::Queued,
    OutboxState::ContainerCreated,
    OutboxState::Publishing,
];
const IN_FLIGHT: [OutboxState; 2] = [OutboxState::ContainerCreated, OutboxState::Publishing];

impl Store {
    /// Take a queued post nobody holds, if it is still queued, unheld and due. Atomic: of
    /// two workers claiming the same post, one wins.
    pub async fn outbox_claim(&self, id: i64, holder: &Holder, now: i64) -> StoreResult<Claimed> {
        let sql = numbered(&format!(
            "UPDATE outbox SET claimed_by = ?, updated_at = ? \
             WHERE id = ? AND state = 'queued' AND claimed_by IS NULL AND not_before <= ?{} \
             RETURNING {OUTBOX_COLUMNS}",
            holder.fence_clause(self.pool().now_ms())
        ));
        let fence = holder.fence_args();
        let row: Option<OutboxRow> = on!(self.pool(), |c| {
            let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(holder.as_str().to_owned())
                .bind(now)
                .bind(id)
                .bind(now);
            bind_args!(query, &fence).fetch_optional(c).await?
        });
        Ok(match row {
            Some(row) => Claimed::Won(Box::new(Held::new(row, holder))),
            None => Claimed::Stale,
        })
    }

    /// The oldest unfinished post `holder` holds: what it must carry on with before it
    /// claims another.
    pub async fn outbox_held(&self, account_id: i64, holder: &Holder) -> StoreResult<Option<Held>> {
        let row: Option<OutboxRow> = on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE account_id = ? AND claimed_by = ? \
             AND state IN ({}) ORDER BY {QUEUE_ORDER} LIMIT 1",
                sql_list(&UNFINISHED)
            ))
        ))
        .bind(account_id)
        .bind(holder.as_str().to_owned())
        .fetch_optional(c)
        .await?);
        Ok(row.map(|row| Held::new(row, holder)))
    }

    /// A new worker of the account takes over the posts its predecessor left unfinished:
    /// every post in flight, and every queued post someone holds. Only for a worker that
    /// starts when no other worker of the account runs on this store (one daemon per
    /// store; within it, one worker per account, restarted only after the old one ended):
    /// the posts' old holder is gone. Returns how many posts it took over.
    pub async fn outbox_adopt(&self, account_id: i64, holder: &Holder) -> StoreResult<u64> {
        let sql = numbered(&format!(
            "UPDATE outbox SET claimed_by = ? WHERE account_id = ? \
             AND (state IN ({}) OR (state = 'queued' AND claimed_by IS NOT NULL)) \
             AND (claimed_by IS NULL OR claimed_by <> ?){}",
            sql_list(&IN_FLIGHT),
            holder.fence_clause(self.pool().now_ms())
        ));
        let fence = holder.fence_args();
        let done = on!(self.pool(), |c| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(holder.as_str().to_owned())
                .bind(account_id)
                .bind(holder.as_str().to_owned());
            bind_args!(query, &fence).execute(c).await?.rows_affected()
        });
        Ok(done)
    }

    /// One conditional transition of a held post: `SET {set}` where the post is still held
    /// by `claim` and in one of `from` (and `also`, when not empty). `args` are the
    /// values of the placeholders of `set` and `also`, in order.
    async fn transition(
        &self,
        claim: &Claim,
        set: &str,
        from: &[OutboxState],
        also: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Transition> {
        let sql = numbered(&format!(
            "UPDATE outbox SET {set} WHERE {}{also}",
            claim.guard(from, self.pool().now_ms())
        ));
        let done = on!(self.pool(), |c| bind_args!(
            bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args),
            &claim.args()
        )
        .execute(c)
        .await?
        .rows_affected());
        Ok(Transition::from_rows(done))
    }

    /// A container was created for the post: store its id before anything uses it. Also
    /// used to replace a container that is proven unpublished (EXPIRED, ERROR, never
    /// visible): the caller must know the old one was not published.
    pub async fn outbox_container_created(
        &self,
        claim: &Claim,
        container_id: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'container_created', container_id = ?, container_created_at = ?, \
             publish_started_at = NULL, attempts = attempts + 1, wait_kind = NULL, \
             wait_note = NULL, updated_at = ?",
            &UNFINISHED,
            "",
            &[Arg::from(container_id), Arg::from(now), Arg::from(now)],
        )
        .await
    }

    /// About to call `threads_publish`: from now on the post may exist on Threads and must
    /// be reconciled, never published blindly. The first start time of this container is
    /// kept: it bounds the search for the post among the account's recent ones.
    pub async fn outbox_publishing(&self, claim: &Claim, now: i64) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'publishing', publish_started_at = COALESCE(publish_started_at, ?), \
             updated_at = ?",
            &IN_FLIGHT,
            " AND container_id IS NOT NULL",
            &[Arg::from(now), Arg::from(now)],
        )
        .await
    }

    /// Threads proved the publish did not happen (a rejection such as quota or throttling):
    /// the post keeps its container and may publish it later.
    pub async fn outbox_not_published(
        &self,
        claim: &Claim,
        error: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'container_created', last_error = ?, updated_at = ?",
            &[OutboxState::Publishing],
            "",
            &[Arg::from(error), Arg::from(now)],
        )
        .await
    }

    /// The post is on Threads. `media_id` is `None` when the container says PUBLISHED but
    /// the post could not be found among the recent ones: it is published all the same.
    /// A post composed with a first reply (`link_in = "reply"`) gets it queued in the same
    /// transaction, so no crash can publish the post and lose its reply.
    pub async fn outbox_published(
        &self,
        claim: &Claim,
        media_id: Option<&str>,
        permalink: Option<&str>,
        now: i64,
    ) -> StoreResult<Transition> {
        let sql = numbered(&format!(
            "UPDATE outbox SET state = 'published', media_id = ?, permalink = ?, \
             published_at = ?, last_error = NULL, updated_at = ? WHERE {}",
            claim.guard(&IN_FLIGHT, self.pool().now_ms())
        ));
        // The write comes first, so the transaction holds the write lock from its start.
        let mut tx = self.begin().await?;
        let done = on!(tx.conn(), |c| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(media_id)
                .bind(permalink)
                .bind(now)
                .bind(now);
            bind_args!(query, &claim.args())
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        let stored = Transition::from_rows(done);
        if stored.applied() {
            super::replies::queue_first_reply(tx.conn(), claim.post, now).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Give up on the post for good (the API rejects it, or its media failed with no
    /// fallback). Only from states in which it is proven not published.
    pub async fn outbox_failed(
        &self,
        claim: &Claim,
        reason: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'failed', last_error = ?, updated_at = ?",
            &UNFINISHED,
            "",
            &[Arg::from(reason), Arg::from(now)],
        )
        .await
    }

    /// The story grew older than its feed's `max_age` while it waited. Queued posts only:
    /// one in flight may already be on Threads.
    pub async fn outbox_expired(
        &self,
        claim: &Claim,
        reason: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'expired', last_error = ?, updated_at = ?",
            &[OutboxState::Queued],
            "",
            &[Arg::from(reason), Arg::from(now)],
        )
        .await
    }

    /// Note a transient failure on the post (any unfinished state): the reason, and the
    /// earliest time (unix seconds) to try it again.
    pub async fn outbox_defer(
        &self,
        claim: &Claim,
        error: &str,
        not_before: i64,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "last_error = ?, not_before = ?, wait_kind = NULL, wait_note = NULL, updated_at = ?",
            &UNFINISHED,
            "",
            &[Arg::from(error), Arg::from(not_before), Arg::from(now)],
        )
        .await
    }

    /// A posting window or a cap holds the queued post until `until` (unix seconds): it
    /// goes back to the queue unheld, not due before then, with the reason kept for
    /// `status` and the desk. Other posts go meanwhile.
    pub async fn outbox_postpone(
        &self,
        claim: &Claim,
        until: i64,
        kind: super::WaitKind,
        note: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "not_before = ?, wait_kind = ?, wait_note = ?, claimed_by = NULL, updated_at = ?",
            &[OutboxState::Queued],
            "",
            &[
                Arg::from(until),
                Arg::from(kind.as_str()),
                Arg::from(note),
                Arg::from(now),
            ],
        )
        .await
    }

    /// A queued post beyond its feed's cap, with `overflow = "drop"`: dropped, the reason
    /// stored. Queued posts only (one in flight may be on Threads already).
    pub async fn outbox_dropped(
        &self,
        claim: &Claim,
        reason: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'dropped', last_error = ?, wait_kind = NULL, wait_note = NULL, \
             updated_at = ?",
            &[OutboxState::Queued],
            "",
            &[Arg::from(reason), Arg::from(now)],
        )
        .await
    }

    /// An image post whose container failed becomes the text post of the same story, back
    /// in the queue without a container (still held): its text (which carries the article
    /// link, image posts have no link card) and `link` as the card.
    pub async fn outbox_fallback_to_text(
        &self,
        claim: &Claim,
        link: Option<&str>,
        note: &str,
        now: i64,
    ) -> StoreResult<Transition> {
        self.transition(
            claim,
            "state = 'queued', media_type = 'TEXT', image_url = NULL, alt_text = NULL, \
             link_attachment = ?, container_id = NULL, container_created_at = NULL, \
             publish_started_at = NULL, last_error = ?, updated_at = ?",
            &UNFINISHED,
            " AND media_type = 'IMAGE'",
            &[Arg::from(link), Arg::from(note), Arg::from(now)],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MediaType;
    use crate::store::testing::each_backend;
    use std::time::Duration;

    /// A store with one account, one feed and `n` queued text posts; returns the post ids.
    async fn store_with_posts(store: Store, n: usize) -> (Store, i64, Vec<i64>) {
        let account = store.ensure_account("news", 0).await.unwrap();
        let feed = store
            .sync_feeds(
                &[crate::store::FeedConfig {
                    name: "front",
                    url: "https://example.org/feed",
                    account_id: account.id,
                }],
                0,
            )
            .await
            .unwrap()[0];
        let mut ids = Vec::new();
        for i in 0..n {
            let item: i64 = on!(store.pool(), |c| sqlx::query_scalar(
                "INSERT INTO items (feed_id, item_key, first_seen_at, disposition) \
                 VALUES ($1, $2, 0, 'queued') RETURNING id",
            )
            .bind(feed)
            .bind(format!("guid:{i}"))
            .fetch_one(c)
            .await)
            .unwrap();
            let id: i64 = on!(store.pool(), |c| sqlx::query_scalar(
                "INSERT INTO outbox (account_id, item_id, feed_id, state, text, created_at, \
                 updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, 0) RETURNING id",
            )
            .bind(account.id)
            .bind(item)
            .bind(feed)
            .bind(format!("story {i}"))
            .bind(i64::try_from(i).unwrap())
            .fetch_one(c)
            .await)
            .unwrap();
            ids.push(id);
        }
        (store, account.id, ids)
    }

    async fn claim(store: &Store, id: i64, holder: &Holder) -> Option<Held> {
        match store.outbox_claim(id, holder, 10).await.unwrap() {
            Claimed::Won(held) => Some(*held),
            Claimed::Stale => None,
        }
    }

    #[tokio::test]
    async fn a_post_is_claimed_once_and_moved_only_by_its_holder() {
        each_backend!(|fresh| {
            let (store, _, ids) = store_with_posts(fresh.clone(), 1).await;
            let (a, b) = (Holder::new(), Holder::new());
            assert_ne!(a, b);
            let held = claim(&store, ids[0], &a).await.expect("first claim wins");
            assert_eq!(held.row.state, OutboxState::Queued);
            assert_eq!(held.row.media_type, MediaType::Text);
            assert_eq!(held.row.claimed_by.as_deref(), Some(a.as_str()));
            assert!(claim(&store, ids[0], &b).await.is_none(), "second claim");

            // Another worker's claim on the same post moves nothing.
            let theirs = Claim {
                post: ids[0],
                holder: b.clone(),
            };
            let t = store
                .outbox_container_created(&theirs, "c-b", 11)
                .await
                .unwrap();
            assert_eq!(t, Transition::Stale);
            let t = store
                .outbox_container_created(&held.claim, "c-a", 11)
                .await
                .unwrap();
            assert_eq!(t, Transition::Applied);
            assert!(
                store
                    .outbox_publishing(&theirs, 12)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                store
                    .outbox_publishing(&held.claim, 12)
                    .await
                    .unwrap()
                    .applied()
            );
            let row = store.outbox_by_id(ids[0]).await.unwrap().unwrap();
            assert_eq!(row.state, OutboxState::Publishing);
            assert_eq!(row.container_id.as_deref(), Some("c-a"));
            assert_eq!(row.publish_started_at, Some(12));
        });
    }

    #[tokio::test]
    async fn transitions_only_leave_the_states_they_name() {
        each_backend!(|fresh| {
            let (store, _, ids) = store_with_posts(fresh.clone(), 1).await;
            let held = claim(&store, ids[0], &Holder::new()).await.unwrap();
            let c = &held.claim;
            // Not in flight yet: cannot be published or marked publishing.
            assert!(store.outbox_publishing(c, 1).await.unwrap().is_stale());
            assert!(
                store
                    .outbox_published(c, Some("m"), None, 1)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                store
                    .outbox_container_created(c, "c1", 1)
                    .await
                    .unwrap()
                    .applied()
            );
            // In flight: it may be on Threads, so it never expires.
            assert!(store.outbox_expired(c, "old", 2).await.unwrap().is_stale());
            assert!(store.outbox_publishing(c, 2).await.unwrap().applied());
            assert!(
                store
                    .outbox_published(c, Some("m"), None, 3)
                    .await
                    .unwrap()
                    .applied()
            );
            // Done: nothing moves it any more.
            assert!(store.outbox_failed(c, "no", 4).await.unwrap().is_stale());
            assert!(
                store
                    .outbox_defer(c, "later", 9, 4)
                    .await
                    .unwrap()
                    .is_stale()
            );
            let row = store.outbox_by_id(ids[0]).await.unwrap().unwrap();
            assert_eq!(row.state, "published");
            assert_eq!(row.media_id.as_deref(), Some("m"));
        });
    }

    #[tokio::test]
    async fn held_posts_come_first_and_a_new_worker_adopts_them() {
        each_backend!(|fresh| {
            let (store, account, ids) = store_with_posts(fresh.clone(), 3).await;
            let old = Holder::new();
            let held = claim(&store, ids[1], &old).await.unwrap();
            let _ = store
                .outbox_container_created(&held.claim, "c1", 1)
                .await
                .unwrap();
            // The next queued post skips the held one.
            let next = store.outbox_next_queued(account, 100).await.unwrap();
            assert_eq!(next.map(|r| r.id), Some(ids[0]));
            assert_eq!(
                store
                    .outbox_held(account, &old)
                    .await
                    .unwrap()
                    .map(|h| h.row.id),
                Some(ids[1])
            );

            // The old worker is gone; a new one adopts its post, and the old claim is stale.
            let new = Holder::new();
            assert!(store.outbox_held(account, &new).await.unwrap().is_none());
            assert_eq!(store.outbox_adopt(account, &new).await.unwrap(), 1);
            let adopted = store.outbox_held(account, &new).await.unwrap().unwrap();
            assert_eq!(adopted.row.id, ids[1]);
            assert!(
                store
                    .outbox_publishing(&held.claim, 2)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                store
                    .outbox_publishing(&adopted.claim, 2)
                    .await
                    .unwrap()
                    .applied()
            );
            // Unheld queued posts are left to be claimed.
            assert_eq!(
                store.outbox_adopt(account, &Holder::new()).await.unwrap(),
                1
            );
            let row = store.outbox_by_id(ids[0]).await.unwrap().unwrap();
            assert!(row.claimed_by.is_none());
        });
    }

    #[tokio::test]
    async fn an_operator_retry_releases_the_claim() {
        each_backend!(|fresh| {
            let (store, _, ids) = store_with_posts(fresh.clone(), 1).await;
            let held = claim(&store, ids[0], &Holder::new()).await.unwrap();
            assert!(
                store
                    .outbox_failed(&held.claim, "refused", 1)
                    .await
                    .unwrap()
                    .applied()
            );
            assert_eq!(
                store.retry_post(ids[0], 2).await.unwrap(),
                crate::store::admin::AdminOutcome::Done
            );
            let row = store.outbox_by_id(ids[0]).await.unwrap().unwrap();
            assert_eq!((row.state, row.claimed_by), (OutboxState::Queued, None));
            assert!(claim(&store, ids[0], &Holder::new()).await.is_some());
        });
    }

    #[tokio::test]
    async fn a_post_not_due_is_not_claimed() {
        each_backend!(|fresh| {
            let (store, _, ids) = store_with_posts(fresh.clone(), 1).await;
            on!(store.pool(), |c| sqlx::query(
                "UPDATE outbox SET not_before = 50 WHERE id = $1"
            )
            .bind(ids[0])
            .execute(c)
            .await
            .unwrap()
            .rows_affected());
            assert!(claim(&store, ids[0], &Holder::new()).await.is_none());
            let due = store
                .outbox_claim(ids[0], &Holder::new(), 50)
                .await
                .unwrap();
            assert!(matches!(due, Claimed::Won(_)));
        });
    }

    /// A node that lost its account's lease moves no post: not a claim, not an adoption,
    /// not a transition (so it never reaches a publish call); the new owner adopts the post
    /// in flight and moves it.
    #[tokio::test]
    async fn a_stale_fence_cannot_claim_adopt_or_transition() {
        use crate::store::leases::DEFAULT_LEASE;
        each_backend!(|fresh| {
            let (store, account, ids) = store_with_posts(fresh.clone(), 2).await;
            let lease_a = store
                .lease_take(account, "node-a", DEFAULT_LEASE)
                .await
                .unwrap()
                .unwrap();
            let a = Holder::leased(lease_a.clone());
            let held = claim(&store, ids[0], &a).await.expect("a holds the lease");
            assert!(
                store
                    .outbox_container_created(&held.claim, "c-a", 11)
                    .await
                    .unwrap()
                    .applied()
            );

            // a's lease lapses (as if paused past it); b takes the account.
            let _ = store.lease_renew(&lease_a, Duration::ZERO).await.unwrap();
            let lease_b = store
                .lease_take(account, "node-b", DEFAULT_LEASE)
                .await
                .unwrap()
                .unwrap();
            assert!(lease_b.fence() > lease_a.fence());

            // Before b adopts anything, a's claim is still on the post: the fence alone stops it.
            assert!(
                store
                    .outbox_publishing(&held.claim, 12)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                store
                    .outbox_published(&held.claim, Some("m"), None, 12)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                store
                    .outbox_failed(&held.claim, "x", 12)
                    .await
                    .unwrap()
                    .is_stale()
            );
            assert!(
                claim(&store, ids[1], &a).await.is_none(),
                "a claims nothing"
            );
            assert_eq!(store.outbox_adopt(account, &a).await.unwrap(), 0);

            let b = Holder::leased(lease_b);
            assert_eq!(store.outbox_adopt(account, &b).await.unwrap(), 1);
            let adopted = store.outbox_held(account, &b).await.unwrap().unwrap();
            assert_eq!(adopted.row.id, ids[0]);
            assert_eq!(adopted.row.state, OutboxState::ContainerCreated);
            assert!(
                store
                    .outbox_publishing(&adopted.claim, 13)
                    .await
                    .unwrap()
                    .applied()
            );
            assert!(claim(&store, ids[1], &b).await.is_some());
            let row = store.outbox_by_id(ids[0]).await.unwrap().unwrap();
            assert_eq!(row.state, OutboxState::Publishing);
            assert_eq!(row.claimed_by.as_deref(), Some(b.as_str()));
        });
    }

    /// A row edited by hand into a state we do not know is an error that names the column
    /// and the value, not a post silently skipped or taken for another state.
    #[tokio::test]
    async fn an_unknown_stored_state_is_a_clear_error() {
        each_backend!(|fresh| {
            let (store, _, ids) = store_with_posts(fresh.clone(), 1).await;
            on!(store.pool(), |c| sqlx::query(
                "UPDATE outbox SET state = 'sent' WHERE id = $1"
            )
            .bind(ids[0])
            .execute(c)
            .await
            .unwrap()
            .rows_affected());
            let err = store.outbox_by_id(ids[0]).await.unwrap_err().to_string();
            assert!(err.contains("state") && err.contains("sent"), "{err}");
        });
    }
}
