//! One poll of one feed, from fetch to outbox.
//!
//! Order of work (miniflux's, with our additions): compute and persist the next check,
//! fetch (conditional GET), skip unchanged bodies by hash, parse off the async threads,
//! recognise items against the account's seen set, apply the policies (backlog on first
//! poll, max_age, filters, flood guard), compose, and commit items + outbox + validators
//! in one transaction. A dry run does all of it and rolls the transaction back.

mod ingest;

use crate::compose::{FeedContext, Post};
use crate::config::FeedSettings;
use crate::fate::{Fate, ItemFate};
use crate::feed::fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher};
use crate::feed::parse::{ParseError, ParseLimits, parse_feed_with};
use crate::feed::parse_pool::ParsePool;
use crate::feed::redact::{redact_in, redact_url};
use crate::schedule::{self, CacheHint, Limits};
use crate::store::feeds::FeedFailure;
use crate::store::items::FeedSuccess;
use crate::store::{FeedRow, Store, StoreError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// Bounds on concurrent work: fetches in all and per host, the parser threads, and
/// parsed documents waiting for the store.
///
/// A poll holds its global permit from the fetch until its body is parsed, so at most
/// `global` bodies are in memory at a time; parsing (CPU work) runs on a fixed pool of
/// one thread per core (`ParsePool`). A parsed document then waits for the store's single
/// writer under a queue permit (`global` of them): enough that parsing goes on while the
/// writer works through a backlog, and still a bound on the documents held in memory.
/// (Twice `global` cost 10 MB more at peak and was no faster once parsers yield to the
/// writer.)
#[derive(Debug, Clone)]
pub struct FetchLimiter {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    parsers: ParsePool,
    store_queue: Arc<Semaphore>,
}

/// Held while a poll's body is in memory.
#[derive(Debug)]
pub struct PollPermit {
    _global: OwnedSemaphorePermit,
}

impl FetchLimiter {
    pub fn new(global: usize, per_host: usize) -> Self {
        FetchLimiter {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_host: per_host.max(1),
            hosts: Arc::new(Mutex::new(HashMap::new())),
            parsers: ParsePool::per_core(),
            store_queue: Arc::new(Semaphore::new(global.max(1))),
        }
    }

    /// A poll slot (global) and a fetch slot for the URL's host; the host slot is
    /// returned as the second value so the caller can release it right after the fetch.
    pub async fn acquire(&self, url: &Url) -> (PollPermit, OwnedSemaphorePermit) {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let host_sem = {
            // A poisoned lock only means another poll panicked while inserting; the map
            // itself is still usable.
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Take the host permit first so one slow host cannot hold global permits idle.
        let host = acquire(host_sem).await;
        let global = acquire(self.global.clone()).await;
        (PollPermit { _global: global }, host)
    }

    /// The parser threads: parsing is CPU work, one thread per core is as fast as it gets
    /// and keeps memory flat.
    pub fn parsers(&self) -> &ParsePool {
        &self.parsers
    }

    /// A place in the queue of parsed documents waiting for the store.
    pub async fn acquire_store_queue(&self) -> OwnedSemaphorePermit {
        acquire(self.store_queue.clone()).await
    }
}

async fn acquire(semaphore: Arc<Semaphore>) -> OwnedSemaphorePermit {
    match semaphore.acquire_owned().await {
        Ok(permit) => permit,
        Err(_) => unreachable!("the limiter's semaphores are never closed"),
    }
}

/// Everything a poll needs, shared by all polls.
#[derive(Debug, Clone)]
pub struct Poller {
    pub store: Store,
    pub fetcher: Fetcher,
    pub limiter: FetchLimiter,
    pub limits: Limits,
    /// Compose and print, but change no state.
    pub dry_run: bool,
    /// Also say what became of each new item and why ([`PollReport::fates`]): a dry run
    /// prints it. Off in the daemon, which would build it for nobody.
    pub explain: bool,
}

/// How a poll ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    /// 304 Not Modified.
    NotModified,
    /// Same body as last time; not parsed again.
    Unchanged,
    /// The body was parsed and its items recognised.
    Ingested(IngestCounts),
    /// Fetch or parse failed; `class` is a stable label.
    Failed { class: String, message: String },
}

impl PollResult {
    pub fn label(&self) -> &str {
        match self {
            PollResult::NotModified => "not_modified",
            PollResult::Unchanged => "unchanged",
            PollResult::Ingested(c) if c.new > 0 => "new_items",
            PollResult::Ingested(_) => "no_new_items",
            PollResult::Failed { class, .. } => class,
        }
    }
}

/// What a parsed document held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestCounts {
    pub items: usize,
    /// Items never seen before by the account.
    pub new: usize,
    pub queued: usize,
    pub held: usize,
    /// Composed for a feed with `review = true`: waiting for an editor.
    pub review: usize,
    pub backlog: usize,
    pub too_old: usize,
    pub filtered: usize,
    pub duplicates: usize,
    pub invalid: usize,
}

/// The result of one poll, with what a dry run would publish.
#[derive(Debug, Clone)]
pub struct PollReport {
    pub result: PollResult,
    pub next_check_at: i64,
    /// Posts the poll queued (or, in a dry run, would queue), oldest first.
    pub queued: Vec<Post>,
    /// Posts the flood guard held.
    pub held: Vec<Post>,
    /// Posts waiting for an editor's review (`review = true`).
    pub review: Vec<Post>,
    /// With [`Poller::explain`]: each item recognised for the first time (duplicates
    /// included) and its fate, oldest first; empty otherwise.
    pub fates: Vec<ItemFate>,
}

/// The posts one poll put in the outbox, by the state they entered it in.
#[derive(Debug, Default)]
struct Entered {
    queued: Vec<Post>,
    held: Vec<Post>,
    review: Vec<Post>,
}

/// The fates of one ingest, and the duplicates whose originals are still to be looked up
/// (the store can say only once the poll's writes are committed).
#[derive(Debug, Default)]
struct Explained {
    fates: Vec<ItemFate>,
    /// Index in `fates`, and the duplicate's account-wide keys.
    duplicates: Vec<(usize, Vec<String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Poller {
    /// Poll one feed once. Errors of the feed itself (network, HTTP, parse) are recorded on
    /// the feed and returned as `PollResult::Failed`; only a store failure is an `Err`.
    // Feed names and URLs are logged redacted: a URL (and a name that defaults to it) may
    // carry credentials.
    #[tracing::instrument(name = "poll", skip_all, fields(feed = %redact_url(&feed.name)))]
    pub async fn poll(&self, feed: &FeedSettings, row: &FeedRow) -> Result<PollReport, PollError> {
        let now = Utc::now();
        let limits = self.limits;
        // Persist the next check before the fetch: whatever happens next (a crash
        // included), the feed is not polled again before its time.
        let provisional = schedule::at(
            now,
            schedule::success_interval(
                &feed.schedule,
                now,
                CacheHint::default(),
                limits,
                schedule::random_jitter(),
            ),
        );
        if !self.dry_run {
            self.store.set_next_check(row.id, provisional).await?;
        }

        let fetch_url = Url::parse(&row.fetch_url).unwrap_or_else(|_| feed.url.clone());
        let (poll_permit, host_permit) = self.limiter.acquire(&fetch_url).await;
        // Boxed only now: a daemon spawns every due poll at once, and a task is allocated
        // at the size of its largest state. Inline, each of 2000 polls waiting for a fetch
        // slot carried 4 KB of fetch, parse and ingest state that only the running ones
        // use (10 MB at the peak, heaptrack); now a waiting poll's task is 1 KB.
        Box::pin(self.fetch_and_ingest(feed, row, now, fetch_url, poll_permit, host_permit)).await
    }

    /// The rest of `poll`, once it has its fetch slots.
    async fn fetch_and_ingest(
        &self,
        feed: &FeedSettings,
        row: &FeedRow,
        now: DateTime<Utc>,
        fetch_url: Url,
        poll_permit: PollPermit,
        host_permit: OwnedSemaphorePermit,
    ) -> Result<PollReport, PollError> {
        let request = FetchRequest {
            url: fetch_url.clone(),
            etag: row.etag.clone(),
            last_modified: row.last_modified.clone(),
        };
        let fetched = self.fetcher.fetch(&request).await;
        drop(host_permit);

        // The poll slot bounds the bodies in memory; a poll without one (or done with it)
        // gives it back before waiting for its writes to commit.
        let mut body = match fetched {
            Err(e) => {
                drop(poll_permit);
                return self.fail_fetch(feed, row, now, &e).await;
            }
            Ok(FetchOutcome::NotModified {
                last_modified,
                cache,
            }) => {
                drop(poll_permit);
                let hint = CacheHint {
                    ttl: None,
                    max_age: cache.max_age,
                };
                let next = self.next_success(feed, now, hint);
                if !self.dry_run {
                    self.store
                        .record_feed_unchanged(
                            row.id,
                            "not_modified",
                            last_modified.as_deref(),
                            next,
                            now.timestamp(),
                        )
                        .await?;
                }
                tracing::debug!(url = %redact_url(fetch_url.as_str()), "not modified");
                return Ok(self.report(PollResult::NotModified, next));
            }
            Ok(FetchOutcome::Fetched(body)) => body,
        };

        if let Some(moved) = &body.moved_permanently_to
            && moved.as_str() != row.fetch_url
        {
            tracing::info!(
                from = %redact_url(&row.fetch_url),
                to = %redact_url(moved.as_str()),
                "feed moved permanently; polling the new URL from now on"
            );
            if !self.dry_run {
                self.store.set_fetch_url(row.id, moved.as_str()).await?;
            }
        }

        let body_hash = hex::encode(Sha256::digest(&body.body));
        if row.body_hash.as_deref() == Some(body_hash.as_str()) && row.baseline_done {
            drop(poll_permit);
            let hint = CacheHint {
                ttl: None,
                max_age: body.cache.max_age,
            };
            let next = self.next_success(feed, now, hint);
            if !self.dry_run {
                self.store
                    .record_feed_unchanged(
                        row.id,
                        "unchanged",
                        body.last_modified.as_deref(),
                        next,
                        now.timestamp(),
                    )
                    .await?;
            }
            tracing::debug!(url = %redact_url(fetch_url.as_str()), "body unchanged; not parsed again");
            return Ok(self.report(PollResult::Unchanged, next));
        }

        let (parsed, parse_time) = {
            // Moved into the parser, so the body is freed as soon as it is parsed.
            let bytes = std::mem::take(&mut body.body);
            let content_type = body.content_type.clone();
            let base = body.final_url.clone();
            let limits = ParseLimits {
                max_items: feed.max_items,
            };
            // Parsing is CPU work: keep it off the async worker threads.
            match self
                .limiter
                .parsers()
                .run(move || parse_feed_with(&bytes, content_type.as_deref(), &base, limits))
                .await
            {
                Ok(done) => done,
                // Our fault, not the feed's: say so rather than call it "not a feed".
                Err(e) => (Err(ParseError::Panicked(e.to_string())), Duration::ZERO),
            }
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                drop(poll_permit);
                let class = e.class();
                let message = e.to_string();
                return self
                    .fail(feed, row, now, class, &message, None, &fetch_url)
                    .await;
            }
        };

        // Parsed: the body is gone; wait for the store in the queue, not in a fetch slot.
        let queue_permit = self.limiter.acquire_store_queue().await;
        drop(poll_permit);
        let store_started = std::time::Instant::now();
        let hint = CacheHint {
            ttl: parsed.ttl,
            max_age: body.cache.max_age,
        };
        let next = self.next_success(feed, now, hint);
        let ctx = FeedContext {
            feed_name: &feed.name,
            feed_title: parsed.title.as_deref(),
        };
        if parsed.items_in_document > parsed.items.len() {
            tracing::info!(
                items = parsed.items_in_document,
                considered = parsed.items.len(),
                "the document holds more than max_items items; only the newest are considered"
            );
        }
        let ingest::Ingested {
            counts,
            entered,
            pending,
            explained,
        } = ingest::Ingest {
            store: &self.store,
            feed,
            row,
            items: &parsed.items,
            ctx: &ctx,
            now,
            dry_run: self.dry_run,
            explain: self.explain,
        }
        .run(FeedSuccess {
            etag: body.etag.as_deref(),
            last_modified: body.last_modified.as_deref(),
            body_hash: Some(&body_hash),
            result: "",
            next_check_at: next,
            new_items: 0,
        })
        .await?;
        // Corrections hook (issue 13, `on_update = "reply"`; all of it in
        // `crate::corrections`): the items' keys and headlines, before the document goes.
        let sightings = crate::corrections::sightings(feed, &parsed.items);
        drop(parsed);
        drop(body);
        drop(queue_permit);
        if let Some(pending) = pending {
            pending.wait().await?;
        }
        let mut fates = self.resolve_duplicates(row, explained).await?;
        // Corrections hook, second half: once the poll's own writes are committed, each
        // published story whose headline changed gets its reply queued.
        let corrections = crate::corrections::correct(
            &self.store,
            feed,
            row.id,
            &sightings,
            self.dry_run,
            now.timestamp(),
        )
        .await?;
        if self.explain {
            fates.extend(corrections.iter().map(crate::corrections::Correction::fate));
        }
        if counts.held > 0 {
            tracing::warn!(
                held = counts.held,
                limit = feed.flood_limit,
                "flood guard: one poll brought {} new items (limit {}); they are held until `feed2threads release {}`",
                counts.held,
                feed.flood_limit,
                redact_url(&feed.name)
            );
        }
        tracing::info!(
            items = counts.items,
            new = counts.new,
            queued = counts.queued,
            held = counts.held,
            review = counts.review,
            backlog = counts.backlog,
            too_old = counts.too_old,
            filtered = counts.filtered,
            duplicates = counts.duplicates,
            invalid = counts.invalid,
            parse_ms = parse_time.as_millis() as u64,
            store_ms = store_started.elapsed().as_millis() as u64,
            "polled"
        );
        Ok(PollReport {
            result: PollResult::Ingested(counts),
            next_check_at: next,
            queued: entered.queued,
            held: entered.held,
            review: entered.review,
            fates,
        })
    }

    fn report(&self, result: PollResult, next_check_at: i64) -> PollReport {
        PollReport {
            result,
            next_check_at,
            queued: Vec::new(),
            held: Vec::new(),
            review: Vec::new(),
            fates: Vec::new(),
        }
    }

    /// Names the original of each duplicate (its feed and title), now that the poll's
    /// writes are in the store.
    async fn resolve_duplicates(
        &self,
        row: &FeedRow,
        explained: Explained,
    ) -> Result<Vec<ItemFate>, PollError> {
        let Explained {
            mut fates,
            duplicates,
        } = explained;
        if duplicates.is_empty() {
            return Ok(fates);
        }
        let keys: Vec<&str> = duplicates
            .iter()
            .flat_map(|(_, aliases)| aliases.iter().map(String::as_str))
            .collect();
        let originals = self.store.originals(row.account_id, &keys).await?;
        for (index, aliases) in &duplicates {
            let of = aliases.iter().find_map(|a| originals.get(a)).cloned();
            if let Some(fate) = fates.get_mut(*index) {
                fate.fate = Fate::Duplicate { of };
            }
        }
        Ok(fates)
    }

    fn next_success(&self, feed: &FeedSettings, now: DateTime<Utc>, hint: CacheHint) -> i64 {
        schedule::at(
            now,
            schedule::success_interval(
                &feed.schedule,
                now,
                hint,
                self.limits,
                schedule::random_jitter(),
            ),
        )
    }

    async fn fail_fetch(
        &self,
        feed: &FeedSettings,
        row: &FeedRow,
        now: DateTime<Utc>,
        error: &FetchError,
    ) -> Result<PollReport, PollError> {
        let url = Url::parse(&row.fetch_url).unwrap_or_else(|_| feed.url.clone());
        self.fail(
            feed,
            row,
            now,
            error.class(),
            &error.to_string(),
            error.retry_after(),
            &url,
        )
        .await
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site each; a struct adds nothing"
    )]
    async fn fail(
        &self,
        feed: &FeedSettings,
        row: &FeedRow,
        now: DateTime<Utc>,
        class: &str,
        message: &str,
        retry_after: Option<Duration>,
        url: &Url,
    ) -> Result<PollReport, PollError> {
        let failures = u32::try_from(row.consecutive_failures + 1).unwrap_or(u32::MAX);
        let next = schedule::at(
            now,
            schedule::failure_interval(
                &feed.schedule,
                now,
                failures,
                retry_after,
                self.limits,
                schedule::random_jitter(),
            ),
        );
        // The message may quote the URL (a connection error does).
        let message_shown = [row.url.as_str(), row.fetch_url.as_str(), url.as_str()]
            .into_iter()
            .fold(message.to_owned(), |m, u| redact_in(&m, u).into_owned());
        tracing::warn!(
            url = %redact_url(url.as_str()),
            class,
            failures,
            retry_in = %humantime::format_duration(Duration::from_secs(u64::try_from(next - now.timestamp()).unwrap_or(0))),
            "poll failed: {message_shown}"
        );
        if !self.dry_run {
            self.store
                .record_feed_failure(
                    row.id,
                    &FeedFailure {
                        class,
                        message,
                        next_check_at: next,
                    },
                    now.timestamp(),
                )
                .await?;
        }
        Ok(self.report(
            PollResult::Failed {
                class: class.to_string(),
                message: message.to_string(),
            },
            next,
        ))
    }
}

/// Items dated before this are too old. `None` (no cutoff) when `max_age` reaches past
/// the representable dates: `now - max_age` would panic, and nothing is that old.
fn max_age_cutoff(now: DateTime<Utc>, max_age: Option<Duration>) -> Option<DateTime<Utc>> {
    let max_age = chrono::Duration::from_std(max_age?).ok()?;
    now.checked_sub_signed(max_age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_max_age_past_the_representable_dates_is_no_cutoff() {
        let now = Utc::now();
        let day = Duration::from_secs(86_400);
        assert_eq!(
            max_age_cutoff(now, Some(day)),
            Some(now - chrono::Duration::days(1))
        );
        assert_eq!(max_age_cutoff(now, None), None);
        // "14000000w": within chrono's Duration, beyond its dates.
        let weeks = Duration::from_secs(14_000_000 * 7 * 86_400);
        assert_eq!(max_age_cutoff(now, Some(weeks)), None);
        assert_eq!(max_age_cutoff(now, Some(Duration::MAX)), None);
    }

    async fn blocks<T>(f: impl std::future::Future<Output = T>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), f)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn the_limiter_bounds_fetches_per_host_and_in_all_and_the_store_queue() {
        let limiter = FetchLimiter::new(3, 2);
        let a = Url::parse("http://a.example/feed").unwrap();
        let b = Url::parse("http://B.example/feed").unwrap();
        let _a1 = limiter.acquire(&a).await;
        let _a2 = limiter.acquire(&a).await;
        // A third fetch from host a waits for its host, not for the global limit.
        assert!(blocks(limiter.acquire(&a)).await);
        let b1 = limiter.acquire(&b).await;
        // Three polls in flight: the global limit holds back host b too.
        assert!(blocks(limiter.acquire(&Url::parse("http://b.example/x").unwrap())).await);
        drop(b1);
        let _b2 = limiter.acquire(&b).await;

        // Parsed documents wait for the store in a queue as long as the global limit.
        let queued: Vec<_> =
            futures_util::future::join_all((0..3).map(|_| limiter.acquire_store_queue())).await;
        assert!(blocks(limiter.acquire_store_queue()).await);
        drop(queued);
        let _q = limiter.acquire_store_queue().await;
    }
}
