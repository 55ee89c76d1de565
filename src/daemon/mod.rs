//! The run loop: start the due polls, take what each poll brought, reload on SIGHUP, stop
//! on a signal, at the end of a `--once` cycle, or when the store has failed for too long;
//! then stop in order (polls, publishers) and report.
//!
//! - [`polls`]: the polls in flight as tasks, a panicked one included.
//! - [`pulse`]: the heartbeat and store probe that runs beside the loop.
//! - [`node`]: this daemon's node name on a PostgreSQL store, one live daemon per name.
//! - [`report`]: what a run did, its exit code and closing line.
//!
//! The loop itself never fails: a store error is reported to the `StoreHealth`, and the
//! work it interrupted is tried again later (capped backoff); only an outage longer than
//! `[store] max_outage` ends the run, through the same orderly stop as a signal.
//!
//! Feed names are shown (logged, printed) redacted: a name defaults to the feed's URL, which
//! may carry credentials (`feed::redact`).
//!
//! Must not: wire components (that is `app`'s), hold SQL, or publish.

pub mod announced;
pub mod node;
pub mod polls;
pub mod pulse;
pub mod report;

pub use report::{End, PollPanic, RunReport};

use crate::app::{Configured, PublisherGeneration, Wiring, fetch_limits};
use crate::config::{FeedSettings, Settings};
use crate::feed::redact::redact_url;
use crate::health::{Outage, StoreHealth};
use crate::http::{Endpoint, Liveness};
use crate::poll::{PollReport, PollResult, Poller};
use crate::run_mode::RunMode;
use crate::scheduler::{Scheduler, instant_of_unix};
use crate::store::Store;
use crate::store::feeds::FeedFailure;
use polls::{Finished, PollEnd, PollTasks};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The run loop's rhythm. `Cadence::default()` is production's; tests shorten it.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// The loop wakes up at least this often, even with nothing due.
    pub tick: Duration,
    /// Between two heartbeats (the store probe) while the store is well.
    pub heartbeat: Duration,
    /// How long a shutdown waits for the polls in flight before abandoning them.
    pub poll_drain: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            tick: Duration::from_secs(30),
            heartbeat: Duration::from_secs(15),
            poll_drain: Duration::from_secs(5),
        }
    }
}

/// With feed claims, a daemon claims at most this many times its fetch limit (polls in
/// flight included) and leaves the other due feeds unclaimed for now. Claiming every due
/// feed at once let the first daemon take nearly all of a cold start (cluster benchmark,
/// 2000 feeds: 1790 polls against 210), and a claim lasts one lease time, less than a
/// daemon may need to reach the last of thousands it claimed.
const CLAIM_AHEAD: usize = 8;

/// How soon the due feeds left unclaimed are looked at again.
const CLAIM_AGAIN: Duration = Duration::from_millis(20);

/// What stops or reloads the run.
pub struct Signals {
    /// SIGTERM / SIGINT (or the caller's stop).
    pub shutdown: CancellationToken,
    /// One message per SIGHUP.
    pub reload: Option<UnboundedReceiver<()>>,
}

/// What woke the loop.
enum Event {
    Stop,
    StoreGaveUp(Outage),
    Reload,
    Polled(Finished),
    /// An editor queued posts on the desk.
    DeskQueued,
    /// Another daemon on the database queued posts for this account (PostgreSQL).
    QueuedElsewhere(String),
    Tick,
}

/// The run loop and everything it keeps.
pub struct Daemon {
    mode: RunMode,
    settings: Settings,
    wiring: Wiring,
    scheduler: Scheduler,
    poller: Poller,
    polls: PollTasks,
    publishers: Option<PublisherGeneration>,
    liveness: Liveness,
    signals: Signals,
    out: Box<dyn Write + Send>,
    report: RunReport,
}

impl Daemon {
    pub fn new(
        settings: Settings,
        wiring: Wiring,
        configured: Configured,
        publishers: Option<PublisherGeneration>,
        liveness: Liveness,
        signals: Signals,
        out: Box<dyn Write + Send>,
    ) -> Self {
        let mode = wiring.mode;
        let mut scheduler = Scheduler::new(mode.cycle);
        scheduler.replace(configured.scheduled, crate::store::now_unix());
        Daemon {
            mode,
            settings,
            polls: PollTasks::new(wiring.options.test_panic_in_poll_of.clone()),
            wiring,
            scheduler,
            poller: configured.poller,
            publishers,
            liveness,
            signals,
            out,
            report: RunReport::new(mode),
        }
    }

    fn store(&self) -> &Store {
        &self.wiring.store
    }

    fn health(&self) -> &StoreHealth {
        &self.wiring.health
    }

    /// Runs until the run ends; then stops the polls and the publishers in order.
    pub async fn run(mut self) -> RunReport {
        let end = loop {
            self.liveness.beat();
            self.start_due_polls().await;
            if self.scheduler.cycle_done() {
                break End::CycleDone;
            }
            match self.next_event().await {
                Event::Stop => break End::Signal,
                Event::StoreGaveUp(outage) => break End::StoreOutage(outage),
                Event::Reload => self.reload().await,
                Event::Polled(done) => {
                    if let Some(end) = self.poll_finished(done).await {
                        break end;
                    }
                }
                Event::DeskQueued => {
                    if let Some(generation) = &self.publishers {
                        generation.publishers.poke_all();
                    }
                }
                Event::QueuedElsewhere(account) => {
                    if let Some(generation) = &self.publishers {
                        generation.publishers.poke(&account);
                    }
                }
                Event::Tick => {}
            }
        };
        self.stop(end).await
    }

    async fn next_event(&mut self) -> Event {
        let sleep = self
            .scheduler
            .sleep_from(Instant::now(), self.wiring.options.cadence.tick);
        let health = self.wiring.health.clone();
        let desk_poke = self.wiring.desk_poke.clone();
        let reload = self.signals.reload.as_mut();
        let reload = async move {
            match reload {
                Some(r) => r.recv().await,
                None => std::future::pending().await,
            }
        };
        let elsewhere = self.wiring.queued_elsewhere.clone();
        let elsewhere = async move {
            match elsewhere {
                Some(r) => r.lock().await.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.signals.shutdown.cancelled() => Event::Stop,
            outage = health.gave_up() => Event::StoreGaveUp(outage),
            Some(()) = reload => Event::Reload,
            () = desk_poke.notified() => Event::DeskQueued,
            Some(account) = elsewhere => Event::QueuedElsewhere(account),
            Some(done) = self.polls.next(), if !self.polls.is_empty() => Event::Polled(done),
            () = tokio::time::sleep(sleep) => Event::Tick,
        }
    }

    /// Starts a poll of every feed due now (their rows read in one query). With feed
    /// claims (several daemons), only as many as this daemon polls soon: see [`CLAIM_AHEAD`].
    async fn start_due_polls(&mut self) {
        let mut due = self.scheduler.due(Instant::now());
        if due.is_empty() {
            return;
        }
        if self.claims_feeds() {
            let room = (CLAIM_AHEAD * self.settings.fetch.concurrency.max(1))
                .saturating_sub(self.polls.len());
            if due.len() > room {
                let later = Instant::now() + CLAIM_AGAIN;
                for (id, _) in due.drain(room..) {
                    self.scheduler.postpone(id, later);
                }
            }
            if due.is_empty() {
                return;
            }
        }
        let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
        let claimed = match self.claim_feeds(&ids).await {
            Ok(claimed) => claimed,
            Err(e) => {
                self.report.store_errors += 1;
                let retry = self.health().failed("claiming the due feeds", &e);
                for id in ids {
                    self.scheduler.postpone(id, Instant::now() + retry);
                }
                return;
            }
        };
        let mut rows = match self.store().feed_rows(&ids).await {
            Ok(rows) => rows,
            Err(e) => {
                self.report.store_errors += 1;
                let retry = self.health().failed("reading the due feeds", &e);
                for id in ids {
                    self.scheduler.postpone(id, Instant::now() + retry);
                }
                return;
            }
        };
        for (id, feed) in due {
            match rows.remove(&id) {
                Some(row) if claimed.as_ref().is_some_and(|c| !c.contains(&id)) => {
                    // Another daemon polled it (not due before its next check) or polls it
                    // now: look again then, or after a tick.
                    let now_unix = crate::store::now_unix();
                    let tick = Instant::now() + self.wiring.options.cadence.tick;
                    let next = instant_of_unix(row.next_check_at, now_unix, Instant::now());
                    self.scheduler.postpone(id, next.max(tick));
                }
                Some(row) => self.polls.spawn(feed, row, self.poller.clone()),
                None => {
                    // Synced at start or reload; gone only if someone edits the store.
                    tracing::error!(feed = %redact_url(&feed.name), "the feed's row is missing from the store; trying again later");
                    let retry = self.wiring.options.cadence.tick;
                    self.scheduler.postpone(id, Instant::now() + retry);
                }
            }
        }
    }

    /// With several daemons on one database (leases without the one-daemon lock, a daemon
    /// cycle), the due feeds this node claimed (`Some`): each due poll happens once across
    /// them. `None`: this daemon alone polls every feed it finds due.
    async fn claim_feeds(&mut self, ids: &[i64]) -> crate::store::StoreResult<Option<Vec<i64>>> {
        let lease = match &self.wiring.options.publish.lease {
            Some(lease) if self.claims_feeds() => lease.clone(),
            _ => return Ok(None),
        };
        let store = self.store().clone();
        let claimed = store
            .feeds_claim(ids, &lease.node, lease.duration, crate::store::now_unix())
            .await?;
        Ok(Some(claimed))
    }

    /// Whether due feeds are claimed across daemons: several daemons on one database
    /// (leases without the one-daemon lock) in a daemon cycle.
    fn claims_feeds(&self) -> bool {
        self.mode.cycle == crate::run_mode::Cycle::Daemon
            && self
                .wiring
                .options
                .publish
                .lease
                .as_ref()
                .is_some_and(|l| !l.exclusive)
    }

    /// Takes what a poll brought; `Some` ends the run (a dry run whose output closed).
    async fn poll_finished(&mut self, done: Finished) -> Option<End> {
        let Some(feed) = self.scheduler.feed(done.feed_id).cloned() else {
            return None; // removed by a reload while it was polled
        };
        match done.end {
            PollEnd::Report(report) => {
                return self.poll_reported(done.feed_id, &feed, done.elapsed, &report);
            }
            PollEnd::Store(e) => {
                self.report.store_errors += 1;
                crate::metrics::record_fetch(&feed.name, "store_error", done.elapsed);
                let what = format!("storing the poll of feed {}", redact_url(&feed.name));
                let retry = self.health().failed(&what, &e);
                self.scheduler
                    .postpone(done.feed_id, Instant::now() + retry);
            }
            PollEnd::Panicked(message) => {
                self.report.polls += 1;
                self.report.failed_polls += 1;
                crate::metrics::record_fetch(&feed.name, "panic", done.elapsed);
                let next = self
                    .after_panic(&feed, done.feed_id, done.failures_before, &message)
                    .await;
                self.scheduler.finished(done.feed_id, next);
                self.report.poll_panics.push(PollPanic {
                    feed: redact_url(&feed.name).into_owned(),
                    message,
                });
            }
        }
        None
    }

    /// A poll ran: schedule the feed, count, wake its account's publisher, print (dry run).
    fn poll_reported(
        &mut self,
        id: i64,
        feed: &FeedSettings,
        elapsed: Duration,
        report: &PollReport,
    ) -> Option<End> {
        self.health().ok();
        self.report.polls += 1;
        let next = instant_of_unix(
            report.next_check_at,
            crate::store::now_unix(),
            Instant::now(),
        );
        self.scheduler.finished(id, next);
        crate::metrics::record_fetch(&feed.name, report.result.label(), elapsed);
        match &report.result {
            PollResult::Ingested(c) => {
                let composed = c.queued + c.held + c.review;
                crate::metrics::record_new_items(&feed.name, composed as u64);
                crate::metrics::record_held(&feed.name, c.held as u64);
            }
            PollResult::Failed { .. } => self.report.failed_polls += 1,
            PollResult::NotModified | PollResult::Unchanged => {}
        }
        self.report.queued += report.queued.len();
        self.report.held += report.held.len();
        if !report.queued.is_empty()
            && let Some(generation) = &self.publishers
        {
            generation.publishers.poke(&feed.account);
        }
        if !report.queued.is_empty() && self.store().is_postgres() {
            // The account's owner may be another daemon: tell it (off the run loop, which
            // must not wait on the database).
            let store = self.store().clone();
            let account = feed.account.clone();
            tokio::spawn(async move {
                if let Err(e) = store.announce_queued(&account).await {
                    tracing::debug!(account, "cannot announce the queued posts: {e}");
                }
            });
        }
        if self.mode.prints_posts()
            && let Err(e) = crate::printout::write_poll(&mut *self.out, feed, report)
        {
            return Some(End::OutputClosed(format!("cannot write the posts: {e}")));
        }
        None
    }

    /// A poll panicked: log it as the feed's failure, record it for `status`, and say when
    /// to try again (the feed's failure backoff).
    async fn after_panic(
        &mut self,
        feed: &FeedSettings,
        id: i64,
        failures_before: i64,
        message: &str,
    ) -> Instant {
        let now = chrono::Utc::now();
        let failures = u32::try_from(failures_before.saturating_add(1)).unwrap_or(u32::MAX);
        let interval = crate::schedule::failure_interval(
            &feed.schedule,
            now,
            failures,
            None,
            fetch_limits(&self.settings),
            crate::schedule::random_jitter(),
        );
        let next_check_at = crate::schedule::at(now, interval);
        tracing::error!(
            feed = %redact_url(&feed.name),
            failures,
            "poll failed: the poll panicked: {message}; trying again in {}",
            humantime::format_duration(interval)
        );
        let store = self.store().clone();
        let health = self.health().clone();
        let what = format!("recording the failure of feed {}", redact_url(&feed.name));
        let message = format!("the poll panicked: {message}");
        tokio::spawn(async move {
            let failure = FeedFailure {
                class: "panic",
                message: &message,
                next_check_at,
            };
            match store
                .record_feed_failure(id, &failure, now.timestamp())
                .await
            {
                Ok(()) => health.ok(),
                Err(e) => {
                    health.failed(&what, &e);
                }
            }
        });
        instant_of_unix(next_check_at, now.timestamp(), Instant::now())
    }

    /// SIGHUP: re-read the config and apply it in the same run mode. An invalid config, or
    /// one the store cannot take now, is rejected and the running one stays.
    async fn reload(&mut self) {
        let new = match Settings::load(&self.settings.source) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!("config reload rejected, keeping the running config: {e}");
                return;
            }
        };
        if let Err(e) = self.wiring.check_publishers(&new) {
            tracing::error!("config reload rejected, keeping the running config: {e:#}");
            return;
        }
        let configured = match self.wiring.configure(&new).await {
            Ok(c) => c,
            Err(e) => {
                self.report.store_errors += 1;
                self.health()
                    .failed("applying the reloaded config", &format!("{e:#}"));
                tracing::error!("config reload not applied, keeping the running config");
                return;
            }
        };
        // Stop the old publishers first (each finishes its publish in flight), so two
        // workers never publish for one account at once.
        if let Some(old) = self.publishers.take() {
            old.stop().await;
        }
        self.publishers =
            match self
                .wiring
                .start_publishers(&new, &configured.feeds, &self.signals.shutdown)
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("cannot start the publishers of the reloaded config: {e:#}");
                    None
                }
            };
        if let Some(desk) = &self.wiring.desk
            && !desk.reconfigure(&new)
        {
            tracing::warn!("http.desk was turned off: the desk stays up until a restart");
        }
        self.scheduler
            .replace(configured.scheduled, crate::store::now_unix());
        self.poller = configured.poller;
        if let Some(endpoint) = self.wiring.endpoint.clone() {
            move_endpoint(&endpoint, new.http.listen).await;
        }
        tracing::info!(
            feeds = self.scheduler.len(),
            accounts = new.accounts.len(),
            "config reloaded"
        );
        self.settings = new;
    }

    /// The orderly stop: no new polls; the polls in flight get a moment; then the
    /// publishers drain (`--once` at the end of its cycle: every post the polls queued is
    /// committed by now) or stop at their next safe point.
    async fn stop(mut self, end: End) -> RunReport {
        if self.mode.serves_operations() {
            crate::notify::stopping();
        }
        let grace = self.wiring.options.cadence.poll_drain;
        for done in self.polls.drain(grace).await {
            // Counted; a closed output no longer matters, the run is ending anyway.
            let _ = self.poll_finished(done).await;
        }
        let drain = end == End::CycleDone && !self.signals.shutdown.is_cancelled();
        if let Some(generation) = self.publishers.take() {
            self.report.publishers = if drain {
                generation.publishers.drain().await
            } else {
                generation.stop().await
            };
        }
        self.report.end = end;
        self.report
    }
}

/// A reload that changed `http.listen` moves `/healthz` and `/metrics` there; if the new
/// address cannot be had, they stay where they are, and the log says so.
async fn move_endpoint(endpoint: &Endpoint, listen: Option<SocketAddr>) {
    // Compared with what is served, not with the last config: a move that failed is tried
    // again by the next reload.
    let before = endpoint.listen().await;
    if listen == before {
        return;
    }
    let shown =
        |listen: Option<SocketAddr>| listen.map_or_else(|| "off".to_string(), |a| a.to_string());
    match endpoint.apply(listen).await {
        Ok(()) => tracing::info!(
            "http.listen changed from \"{}\" to \"{}\"",
            shown(before),
            shown(listen)
        ),
        Err(e) => {
            let now = endpoint.addr().await;
            tracing::error!(
                "{e}; /healthz and /metrics stay on {}",
                now.map_or_else(|| "nothing (off)".to_string(), |a| a.to_string())
            );
        }
    }
}
