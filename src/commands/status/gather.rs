//! What `status` reads: the store's feeds and accounts (outbox counts, failed posts, posts
//! held by the flood guard, queued posts a posting window or a cap holds and why), the
//! daemon's `/healthz` when it serves one, and each account's publishing quota as the API
//! reports it now.
//!
//! Read-only, so it works beside a running daemon: nothing is written to the store (the
//! quota the API reports is shown, not stored) and nothing here fails for want of a network:
//! an API that cannot be asked is one more thing to show. Names, URLs and errors of feeds
//! are redacted here, once, so nothing downstream can show a credential.
//!
//! Must not: decide what needs a human (`problems`) or how it reads (`render`).

use crate::config::Settings;
use crate::feed::redact::{redact_in, redact_url};
use crate::store::attention::HeldPosts;
use crate::store::outbox::{OutboxCounts, WaitCounts, WaitKind};
use crate::store::{AccountRow, FeedRow, Store, now_unix};
use crate::threads::{PublishingLimit, ThreadsClient};
use anyhow::Result;
use secrecy::SecretString;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How long `status` waits for the API's quota answer: it must answer promptly with no
/// network too.
const QUOTA_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it waits for the daemon's `/healthz`.
const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(3);
/// Failed posts listed one by one per account; the rest are counted.
const FAILED_LISTED: i64 = 5;
/// Characters of a post's first line shown beside its id.
const EXCERPT: usize = 50;

/// Everything `status` shows, read at `now`.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub now: i64,
    pub feeds: Vec<FeedView>,
    pub accounts: Vec<AccountView>,
    /// Queued posts a posting window or a cap holds, the soonest first.
    pub waiting: Vec<Waiting>,
    pub heartbeat: Option<i64>,
    pub daemon: Option<DaemonHealth>,
}

/// A queued post that waits for its posting window or for room under a cap.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    pub post: i64,
    pub account: String,
    /// The feed's name, redacted.
    pub feed: String,
    pub kind: WaitKind,
    /// Unix seconds at which it is due again.
    pub until: i64,
    /// Why, for people.
    pub reason: Option<String>,
}

/// A configured feed as the store knows it, with its name, URL and error redacted.
#[derive(Debug)]
pub(super) struct FeedView {
    pub name: String,
    pub url: String,
    pub last_error: Option<String>,
    pub row: FeedRow,
    /// Items the flood guard held (the items' disposition).
    pub held_items: i64,
    /// Posts the flood guard holds now, and since when.
    pub held: Option<HeldPosts>,
}

/// An account as the store knows it, with its queue and quota.
#[derive(Debug)]
pub(super) struct AccountView {
    pub name: String,
    /// The Threads username, once known.
    pub username: Option<String>,
    /// Why publishing is paused until a human acts.
    pub paused: Option<String>,
    pub token_expires_at: Option<i64>,
    pub has_token: bool,
    pub counts: OutboxCounts,
    /// Of the queued posts, those a posting window or a cap holds.
    pub waits: WaitCounts,
    /// The most recent failed posts (at most [`FAILED_LISTED`]) and how many there are.
    pub failed: Vec<FailedPost>,
    pub failed_total: i64,
    /// The earliest the next queued post may go out (pacing after the last publish).
    pub next_publish: Option<i64>,
    pub quota: QuotaView,
    /// Which node owns the account's publishing (its lease), once a daemon took it.
    pub owner: Option<crate::store::LeaseRow>,
}

/// A post that failed and waits for `queue retry` or `queue drop`.
#[derive(Debug, Clone)]
pub(super) struct FailedPost {
    pub id: i64,
    /// The feed's name, redacted.
    pub feed: String,
    pub excerpt: String,
    pub error: String,
    pub failed_at: i64,
}

/// The quota used in the last 24 h, as the API reports it and as our ledger counts it.
#[derive(Debug)]
pub(super) struct QuotaView {
    /// Our publishes in the last 24 h.
    pub ledger_24h: i64,
    /// What this `status` call got from the API.
    pub live: LiveQuota,
    /// The daemon's last reading, as stored.
    pub daemon: Option<QuotaReading>,
    /// `max_posts_per_day`, when configured.
    pub max_per_day: Option<u32>,
}

/// A reading of the API's publishing limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QuotaReading {
    pub usage: i64,
    pub total: i64,
    /// Unix seconds.
    pub at: i64,
}

/// What asking the API for the quota gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LiveQuota {
    Read(QuotaReading),
    /// Not asked, and why (no token, paused, expired).
    NotAsked(String),
    /// Asked, and it failed (no network, an API error).
    Failed(String),
}

/// Who read the quota shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadBy {
    Status,
    Daemon,
}

impl ReadBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadBy::Status => "status",
            ReadBy::Daemon => "daemon",
        }
    }
}

impl QuotaView {
    /// The API's count: this call's reading, else the daemon's last one.
    pub fn api(&self) -> Option<(QuotaReading, ReadBy)> {
        match &self.live {
            LiveQuota::Read(r) => Some((*r, ReadBy::Status)),
            _ => self.daemon.map(|r| (r, ReadBy::Daemon)),
        }
    }

    /// Why this call has no reading of its own.
    pub fn live_problem(&self) -> Option<&str> {
        match &self.live {
            LiveQuota::Read(_) => None,
            LiveQuota::NotAsked(why) | LiveQuota::Failed(why) => Some(why),
        }
    }

    /// Posts allowed per 24 h: the API's total (250 until it said otherwise), lowered by
    /// `max_posts_per_day`.
    pub fn limit(&self) -> i64 {
        let api = self
            .api()
            .map_or(crate::publish::quota::DEFAULT_TOTAL, |(r, _)| r.total);
        self.max_per_day.map_or(api, |max| api.min(i64::from(max)))
    }

    /// Posts left: the limit minus the larger of the two counts (each may know posts the
    /// other does not yet).
    pub fn remaining(&self) -> i64 {
        let used = self
            .api()
            .map_or(self.ledger_24h, |(r, _)| r.usage.max(self.ledger_24h));
        self.limit().saturating_sub(used).max(0)
    }
}

/// What the daemon's `/healthz` answered.
#[derive(Debug)]
pub(super) struct DaemonHealth {
    pub http_status: u16,
    pub message: String,
}

/// Reads everything `status` shows.
pub(super) async fn snapshot(settings: &Settings, store: &Store) -> Result<Snapshot> {
    let now = now_unix();
    let all_feeds = store.list_feeds().await?;
    let feed_names: HashMap<i64, String> = all_feeds
        .iter()
        .map(|f| (f.id, redact_url(&f.name).into_owned()))
        .collect();
    let feeds = feeds(store, settings, all_feeds).await?;
    let rows = store.list_accounts().await?;
    let client = crate::publish::client(settings);
    let mut accounts = Vec::with_capacity(rows.len());
    let mut reads = Vec::with_capacity(rows.len());
    let mut waiting = Vec::new();
    for row in rows {
        for w in store.outbox_waits(Some(row.id), now).await? {
            waiting.push(Waiting {
                post: w.post,
                account: row.name.clone(),
                feed: feed_names
                    .get(&w.feed_id)
                    .cloned()
                    .unwrap_or_else(|| "?".into()),
                kind: w.kind,
                until: w.until,
                reason: w.note,
            });
        }
        let configured = settings.account(&row.name);
        let token = row
            .token()
            .or_else(|| configured.and_then(|a| a.token.clone()));
        reads.push(match &client {
            Ok(client) => read_quota(client, &row, token.clone(), now),
            Err(e) => Box::pin(std::future::ready(LiveQuota::NotAsked(format!(
                "no API client: {e}"
            )))),
        });
        accounts.push(account(store, settings, &feed_names, row, token.is_some(), now).await?);
    }
    // Every account's API read at once, and the daemon's health beside them: with no
    // network, `status` waits one timeout, not one per account.
    let (live, daemon) = tokio::join!(
        futures_util::future::join_all(reads),
        daemon_health(settings)
    );
    for (view, live) in accounts.iter_mut().zip(live) {
        view.quota.live = live;
    }
    Ok(Snapshot {
        now,
        feeds,
        accounts,
        waiting,
        heartbeat: store.last_heartbeat().await?,
        daemon,
    })
}

/// The configured feeds, in the store's order (by name).
async fn feeds(store: &Store, settings: &Settings, rows: Vec<FeedRow>) -> Result<Vec<FeedView>> {
    let configured: HashSet<&str> = settings.feeds.iter().map(|f| f.name.as_str()).collect();
    let held = store.held_posts().await?;
    let mut views = Vec::new();
    for row in rows
        .into_iter()
        .filter(|f| configured.contains(f.name.as_str()))
    {
        let counts = store.item_counts(row.id).await?;
        let last_error = row.last_error.as_deref().map(|e| {
            let e = redact_in(e, &row.url);
            redact_in(&e, &row.fetch_url).into_owned()
        });
        views.push(FeedView {
            name: redact_url(&row.name).into_owned(),
            url: redact_url(&row.fetch_url).into_owned(),
            last_error,
            held_items: counts.get("held").copied().unwrap_or(0),
            held: held.get(&row.id).copied(),
            row,
        });
    }
    Ok(views)
}

/// One account's queue, failed posts and stored quota (the live read comes later).
async fn account(
    store: &Store,
    settings: &Settings,
    feed_names: &HashMap<i64, String>,
    row: AccountRow,
    has_token: bool,
    now: i64,
) -> Result<AccountView> {
    let counts = store.outbox_counts(row.id, now).await?;
    let waits = store.outbox_wait_counts(row.id, now).await?;
    let owner = store
        .leases()
        .await?
        .into_iter()
        .find(|lease| lease.account == row.name);
    let configured = settings.account(&row.name);
    // The earliest the next post may go out: pacing after the last publish when a post is
    // due, else when the first waiting one is (a window opens, a cap has room).
    let next_publish = if counts.queued > 0 && row.paused_reason.is_none() {
        if store.outbox_next_queued(row.id, now).await?.is_some() {
            let min_interval = configured.map_or(0, |a| {
                i64::try_from(a.min_interval.as_secs()).unwrap_or(i64::MAX)
            });
            let last = store.last_published_at(row.id).await?;
            Some(last.map_or(now, |l| l.saturating_add(min_interval).max(now)))
        } else {
            store.outbox_next_due_at(row.id, now).await?
        }
    } else {
        None
    };
    let (failed_rows, failed_total) = store.failed_posts(row.id, FAILED_LISTED).await?;
    let failed = failed_rows
        .into_iter()
        .map(|p| FailedPost {
            id: p.id,
            feed: feed_names
                .get(&p.feed_id)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            excerpt: crate::human::excerpt(&p.text, EXCERPT),
            error: p
                .last_error
                .unwrap_or_else(|| "no reason recorded".to_string()),
            failed_at: p.updated_at,
        })
        .collect();
    let daemon = match (row.quota_usage, row.quota_total, row.quota_checked_at) {
        (Some(usage), Some(total), Some(at)) => Some(QuotaReading { usage, total, at }),
        _ => None,
    };
    Ok(AccountView {
        owner,
        quota: QuotaView {
            ledger_24h: counts.published_24h,
            live: LiveQuota::NotAsked("not asked yet".into()),
            daemon,
            max_per_day: configured.and_then(|a| a.max_posts_per_day),
        },
        name: row.name,
        username: row.username,
        paused: row.paused_reason,
        token_expires_at: row.token_expires_at,
        has_token,
        counts,
        waits,
        failed,
        failed_total,
        next_publish,
    })
}

type QuotaRead = std::pin::Pin<Box<dyn Future<Output = LiveQuota> + Send>>;

/// Asks the API for the account's quota when its token is usable.
fn read_quota(
    client: &ThreadsClient,
    row: &AccountRow,
    token: Option<SecretString>,
    now: i64,
) -> QuotaRead {
    let not_asked = |why: &str| -> QuotaRead {
        Box::pin(std::future::ready(LiveQuota::NotAsked(why.to_string())))
    };
    if row.paused_reason.is_some() {
        return not_asked("the account is paused");
    }
    let Some(token) = token else {
        return not_asked("no access token");
    };
    if row.token_expires_at.is_some_and(|at| at <= now) {
        return not_asked("the access token has expired");
    }
    let client = client.clone();
    Box::pin(async move {
        match tokio::time::timeout(QUOTA_READ_TIMEOUT, client.publishing_limit(&token)).await {
            Ok(Ok(limit)) => LiveQuota::Read(reading(&limit, now)),
            Ok(Err(e)) => LiveQuota::Failed(e.to_string()),
            Err(_) => LiveQuota::Failed(format!(
                "no answer within {}",
                crate::human::span(QUOTA_READ_TIMEOUT)
            )),
        }
    })
}

fn reading(limit: &PublishingLimit, now: i64) -> QuotaReading {
    QuotaReading {
        usage: i64::from(limit.quota_usage),
        total: i64::from(limit.quota_total),
        at: now,
    }
}

/// Asks the running daemon's `/healthz` (when `http.listen` is on), so a store outage the
/// daemon is living through shows here too. `None` when nothing answers: whether the daemon
/// runs at all is the heartbeat's to say.
async fn daemon_health(settings: &Settings) -> Option<DaemonHealth> {
    let mut addr = settings.http.listen?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let client = crate::tls::client_builder()
        .timeout(HEALTHZ_TIMEOUT)
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .ok()?;
    let http_status = response.status().as_u16();
    let message = response.text().await.ok()?.trim().to_string();
    Some(DaemonHealth {
        http_status,
        message,
    })
}
