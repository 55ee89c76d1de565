//! Wiring: the only place components are put together. The run loop, shutdown, and the
//! bodies of the smaller commands.

use crate::cli::{PreviewArgs, RunArgs, StatusArgs};
use crate::compose::{Composer, FeedContext, FilterDecision, Media, Post};
use crate::config::{FeedSettings, Settings};
use crate::feed::fetch::{FetchConfig, FetchOutcome, FetchRequest, Fetcher};
use crate::feed::parse::parse_feed;
use crate::poll::{FetchLimiter, PollReport, PollResult, Poller};
use crate::schedule::Limits;
use crate::store::{FeedConfig, Store, now_unix};
use anyhow::{Context, Result, bail};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the run loop wakes up at the latest (heartbeat, new due feeds).
const TICK: Duration = Duration::from_secs(30);
/// How long a shutdown waits for polls in flight before abandoning them (a poll
/// abandoned half way loses nothing: its transaction rolls back).
const POLL_DRAIN: Duration = Duration::from_secs(5);

pub fn fetch_config(settings: &Settings) -> FetchConfig {
    FetchConfig {
        user_agent: settings.fetch.user_agent.clone(),
        connect_timeout: settings.fetch.connect_timeout,
        timeout: settings.fetch.timeout,
        max_body_bytes: settings.fetch.max_body_bytes,
        max_redirects: 5,
    }
}

/// Open the store the config names. A dry run against a store that does not exist yet
/// works on an in-memory one, so that it creates nothing.
pub async fn open_store(settings: &Settings, dry_run: bool) -> Result<Store> {
    let url = if dry_run && !sqlite_file_exists(&settings.store_url) {
        "sqlite::memory:".to_string()
    } else {
        settings.store_url.clone()
    };
    Store::open(&url)
        .await
        .with_context(|| format!("store.url = {:?}", settings.store_url))
}

fn sqlite_file_exists(url: &str) -> bool {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    path.contains(":memory:") || std::path::Path::new(path).exists()
}

/// Make the store's accounts and feeds match the config; returns each configured feed
/// with its row id.
pub async fn sync_config(
    store: &Store,
    settings: &Settings,
    seed_tokens: bool,
) -> Result<Vec<(Arc<FeedSettings>, i64)>> {
    let now = now_unix();
    let mut account_ids = HashMap::new();
    for account in &settings.accounts {
        let row = store.ensure_account(&account.name, now).await?;
        if seed_tokens
            && let Some(token) = &account.token
            && store.seed_token(row.id, token, now).await?
        {
            tracing::info!(account = %account.name, "stored the configured access token");
        }
        account_ids.insert(account.name.clone(), row.id);
    }
    let mut rows = Vec::with_capacity(settings.feeds.len());
    for feed in &settings.feeds {
        let account_id = match account_ids.get(&feed.account) {
            Some(id) => *id,
            None => store.ensure_account(&feed.account, now).await?.id,
        };
        rows.push(FeedConfig {
            name: &feed.name,
            url: feed.url.as_str(),
            account_id,
        });
    }
    // One commit for all: a newsroom's thousands of feeds start in milliseconds.
    let ids = store.sync_feeds(&rows, now).await?;
    Ok(settings
        .feeds
        .iter()
        .zip(ids)
        .map(|(feed, id)| (Arc::new(feed.clone()), id))
        .collect())
}

/// What a run did, for tests and the exit message.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub polls: usize,
    pub failed_polls: usize,
    pub queued: usize,
    pub held: usize,
}

/// `run`, `run --once`, `run --dry-run`. Returns when the cycle is over (`--once`) or
/// when `shutdown` fires. Each message on `reload` (SIGHUP) re-reads the config file.
pub async fn run(
    settings: &Settings,
    args: RunArgs,
    shutdown: CancellationToken,
    mut reload: Option<mpsc::UnboundedReceiver<()>>,
    out: &mut (dyn Write + Send),
) -> Result<RunSummary> {
    let mut settings = settings.clone();
    let store = open_store(&settings, args.dry_run).await?;
    let feeds = sync_config(&store, &settings, !args.dry_run).await?;
    let daemon = !args.once && !args.dry_run;
    let mut poller = build_poller(&store, &settings, args.dry_run)?;
    tracing::info!(
        feeds = feeds.len(),
        accounts = settings.accounts.len(),
        once = args.once,
        dry_run = args.dry_run,
        "feed2threads starting"
    );

    // /healthz and /metrics, only for the daemon; it stops after the publishers, so
    // /healthz answers during the shutdown drain.
    let liveness = crate::http::Liveness::new();
    let http_stop = CancellationToken::new();
    let background = TaskTracker::new();
    // The desk wakes the publishers through this when an editor queues posts.
    let desk_poke = Arc::new(tokio::sync::Notify::new());
    let mut desk: Option<crate::desk::Desk> = None;
    if daemon && let Some(listen) = settings.http.listen {
        let handle = crate::metrics::install().context("cannot set up the metrics")?;
        let listener = crate::http::bind(listen)
            .await
            .with_context(|| format!("http.listen = \"{listen}\""))?;
        desk = crate::desk::Desk::new(store.clone(), &settings);
        if let Some(desk) = &desk {
            let poke = desk_poke.clone();
            desk.set_wake(Arc::new(move || poke.notify_one()));
        }
        let state = crate::http::HttpState::new(store.clone(), liveness.clone(), handle)
            .with_desk(desk.clone());
        background.spawn(crate::http::serve_on(listener, state, http_stop.clone()));
        tracing::info!(%listen, "serving /healthz and /metrics");
    }
    if daemon {
        background.spawn(crate::notify::run_watchdog(
            liveness.clone(),
            crate::http::DEFAULT_STALE_AFTER,
            shutdown.clone(),
        ));
    }

    // One publisher per account, started before the first poll so that posts a crash left
    // in flight are reconciled first. A dry run starts none: it calls no write endpoint.
    let mut publishers = if args.dry_run {
        None
    } else {
        Some(start_publishers(&store, &settings, &feeds, &shutdown).await?)
    };
    if daemon {
        crate::notify::ready();
    }

    let mut summary = RunSummary::default();
    let mut next_check: HashMap<i64, i64> = HashMap::new();
    let ids: Vec<i64> = feeds.iter().map(|(_, id)| *id).collect();
    let stored = if args.once {
        HashMap::new()
    } else {
        store.feed_rows(&ids).await?
    };
    for id in ids {
        let at = stored.get(&id).map_or(0, |r| r.next_check_at);
        next_check.insert(id, at);
    }
    let mut by_id: HashMap<i64, Arc<FeedSettings>> =
        feeds.iter().map(|(f, id)| (*id, f.clone())).collect();

    let tracker = TaskTracker::new();
    let polls_cancel = CancellationToken::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(i64, Duration, Result<PollReport>)>();
    let mut in_flight: HashSet<i64> = HashSet::new();
    let mut polled_once: HashSet<i64> = HashSet::new();
    let mut last_beat = 0i64;

    loop {
        let now = now_unix();
        liveness.beat();
        if !args.dry_run && now - last_beat >= 15 {
            store.heartbeat(now).await?;
            crate::metrics::set_last_tick(now);
            for account in store.list_accounts().await? {
                let counts = store.outbox_counts(account.id, now).await?;
                crate::metrics::set_queue_depth(
                    &account.name,
                    u64::try_from(counts.queued + counts.in_flight).unwrap_or(0),
                );
                if let Some(expires) = account.token_expires_at {
                    crate::metrics::set_token_expiry(&account.name, expires);
                }
            }
            last_beat = now;
        }
        // Start every due feed that is not already being polled.
        let mut due: Vec<i64> = next_check
            .iter()
            .filter(|(id, at)| **at <= now && !in_flight.contains(*id))
            .filter(|(id, _)| !(args.once && polled_once.contains(*id)))
            .map(|(id, _)| *id)
            .collect();
        due.sort_by_key(|id| next_check.get(id).copied().unwrap_or(0));
        // Read now, not in each task: no poll of these feeds is in flight, so the rows are
        // current.
        let mut rows = if due.is_empty() {
            HashMap::new()
        } else {
            match store.feed_rows(&due).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(
                        feeds = due.len(),
                        "cannot read the due feeds from the store: {e}; trying again at the next tick"
                    );
                    for id in due.drain(..) {
                        next_check.insert(id, now + TICK.as_secs() as i64);
                    }
                    HashMap::new()
                }
            }
        };
        for id in due {
            let Some(feed) = by_id.get(&id).cloned() else {
                continue;
            };
            let row = rows.remove(&id);
            in_flight.insert(id);
            polled_once.insert(id);
            let poller = poller.clone();
            let done = done_tx.clone();
            let cancel = polls_cancel.clone();
            tracker.spawn(async move {
                let started = std::time::Instant::now();
                let work = async {
                    let row = row.context("feed row vanished")?;
                    Ok(poller.poll(&feed, &row).await?)
                };
                let result = tokio::select! {
                    r = work => r,
                    () = cancel.cancelled() => Err(anyhow::anyhow!("poll abandoned at shutdown")),
                };
                let _ = done.send((id, started.elapsed(), result));
            });
        }

        if args.once && in_flight.is_empty() && polled_once.len() >= by_id.len() {
            break;
        }

        let wake = next_check
            .iter()
            .filter(|(id, _)| !in_flight.contains(*id))
            .map(|(_, at)| *at)
            .min()
            .map_or(TICK, |at| {
                Duration::from_secs(u64::try_from(at - now).unwrap_or(0)).min(TICK)
            });
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = desk_poke.notified() => {
                if let Some(p) = &publishers {
                    p.poke();
                }
            }
            Some(()) = async { match reload.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                let Some(new) = reload_settings(&settings) else { continue };
                // Stop the old publishers first (each finishes its publish in flight), so
                // two workers never publish for one account at once.
                if let Some(p) = publishers.take() {
                    p.stop().await;
                }
                let feeds = sync_config(&store, &new, true).await?;
                let known: HashSet<i64> = feeds.iter().map(|(_, id)| *id).collect();
                next_check.retain(|id, _| known.contains(id));
                for (_, id) in &feeds {
                    if !next_check.contains_key(id) {
                        let at = store.feed_by_id(*id).await?.map_or(0, |r| r.next_check_at);
                        next_check.insert(*id, at);
                    }
                }
                by_id = feeds.iter().map(|(f, id)| (*id, f.clone())).collect();
                poller = build_poller(&store, &new, false)?;
                publishers = Some(start_publishers(&store, &new, &feeds, &shutdown).await?);
                if let Some(desk) = &desk
                    && !desk.reconfigure(&new)
                {
                    tracing::warn!("http.desk was turned off: the desk stays up until a restart");
                }
                tracing::info!(feeds = by_id.len(), accounts = new.accounts.len(), "config reloaded");
                settings = new;
            }
            Some((id, elapsed, result)) = done_rx.recv() => {
                in_flight.remove(&id);
                summary.polls += 1;
                let name = by_id.get(&id).map_or("?", |f| f.name.as_str()).to_string();
                match result {
                    Ok(report) => {
                        next_check.insert(id, report.next_check_at);
                        crate::metrics::record_fetch(&name, report.result.label(), elapsed);
                        if let PollResult::Ingested(c) = &report.result {
                            crate::metrics::record_new_items(&name, c.queued as u64 + c.held as u64);
                            crate::metrics::record_held(&name, c.held as u64);
                        }
                        if matches!(report.result, PollResult::Failed { .. }) {
                            summary.failed_polls += 1;
                        }
                        summary.queued += report.queued.len();
                        summary.held += report.held.len();
                        if !report.queued.is_empty()
                            && let Some(p) = &publishers
                        {
                            p.poke();
                        }
                        if args.dry_run && let Some(feed) = by_id.get(&id) {
                            print_dry_run(out, feed, &report)?;
                        }
                    }
                    Err(e) => {
                        summary.failed_polls += 1;
                        crate::metrics::record_fetch(&name, "store_error", elapsed);
                        tracing::error!(feed = %name, "poll failed: {e:#}");
                        // The store failed under us: try again on the next tick.
                        next_check.insert(id, now + TICK.as_secs() as i64);
                    }
                }
            }
            () = tokio::time::sleep(wake) => {}
        }
    }
    if daemon {
        crate::notify::stopping();
    }

    // Shutdown: stop starting polls, give the ones in flight a moment, then abandon them.
    tracker.close();
    if tokio::time::timeout(POLL_DRAIN, tracker.wait())
        .await
        .is_err()
    {
        polls_cancel.cancel();
        tracker.wait().await;
    }
    drop(done_tx);
    while let Ok((_, _, Ok(report))) = done_rx.try_recv() {
        summary.polls += 1;
        summary.queued += report.queued.len();
    }
    // `--once`: publish what is due (pacing included) and return. Otherwise (or on a
    // signal) the publishers stop at their next safe point, finishing a publish in flight.
    if let Some(p) = publishers {
        if args.once && !shutdown.is_cancelled() {
            p.publishers.poke();
            p.publishers.drain().await;
        } else {
            p.stop().await;
        }
    }
    http_stop.cancel();
    background.close();
    background.wait().await;
    let usage = crate::procstat::ProcessUsage::read();
    tracing::info!(
        polls = summary.polls,
        failed = summary.failed_polls,
        queued = summary.queued,
        held = summary.held,
        cpu_seconds = usage.cpu_seconds,
        peak_rss_mb = usage.peak_rss_mb,
        "feed2threads stopped"
    );
    store.close().await;
    Ok(summary)
}

fn build_poller(store: &Store, settings: &Settings, dry_run: bool) -> Result<Poller> {
    let fetcher = Fetcher::new(fetch_config(settings)).context("cannot build the HTTP client")?;
    Ok(Poller {
        store: store.clone(),
        fetcher,
        limiter: FetchLimiter::new(
            settings.fetch.concurrency,
            settings.fetch.per_host_concurrency,
        ),
        limits: Limits {
            max_hint_interval: settings.fetch.max_hint_interval,
            max_backoff: settings.fetch.max_backoff,
        },
        dry_run,
    })
}

/// One generation of publishers with its own stop signal (a child of the shutdown), so a
/// config reload can replace them without stopping the daemon.
struct PublisherGeneration {
    publishers: crate::publish::Publishers,
    stop: CancellationToken,
}

impl PublisherGeneration {
    fn poke(&self) {
        self.publishers.poke();
    }

    /// Stop at the next safe point (a publish in flight finishes) and wait.
    async fn stop(self) {
        self.stop.cancel();
        self.publishers.finish().await;
    }
}

async fn start_publishers(
    store: &Store,
    settings: &Settings,
    feeds: &[(Arc<FeedSettings>, i64)],
    shutdown: &CancellationToken,
) -> Result<PublisherGeneration> {
    let stop = shutdown.child_token();
    let publishers = crate::publish::Publishers::start(
        store,
        settings,
        feeds,
        crate::publish::PublishConfig::from_env(),
        stop.clone(),
    )
    .await
    .context("cannot start the publishers")?;
    Ok(PublisherGeneration { publishers, stop })
}

/// Re-read the config file; an invalid one is rejected (with the key named) and the
/// running config stays.
fn reload_settings(current: &Settings) -> Option<Settings> {
    match Settings::load(&current.source) {
        Ok(new) => Some(new),
        Err(e) => {
            tracing::error!("config reload rejected, keeping the running config: {e}");
            None
        }
    }
}

fn print_dry_run(
    out: &mut (dyn Write + Send),
    feed: &FeedSettings,
    report: &PollReport,
) -> Result<()> {
    for post in &report.queued {
        write_post(out, &feed.name, post, "would publish")?;
    }
    for post in &report.held {
        write_post(out, &feed.name, post, "would hold (flood guard)")?;
    }
    for post in &report.review {
        write_post(out, &feed.name, post, "would wait for review")?;
    }
    if let PollResult::Failed { class, message } = &report.result {
        writeln!(
            out,
            "--- {} · poll failed ({class}): {message}\n",
            feed.name
        )?;
    }
    Ok(())
}

/// A post as the operator reads it: text, then link, tag, media, byte count.
pub fn write_post(out: &mut dyn Write, feed: &str, post: &Post, what: &str) -> Result<()> {
    writeln!(out, "--- {feed} · {what}")?;
    writeln!(out, "{}", post.text.as_str())?;
    let mut facts = vec![format!("{} bytes", post.text.len())];
    if let Some(link) = &post.link_attachment {
        facts.push(format!("link: {link}"));
    }
    if let Some(tag) = &post.topic_tag {
        facts.push(format!("topic: {tag}"));
    }
    match &post.media {
        Media::Text => facts.push("media: text".into()),
        Media::Image { url, alt_text } => {
            facts.push(format!("media: image {url} (alt: {alt_text})"));
        }
    }
    if let Some(rc) = &post.reply_control {
        facts.push(format!("replies: {rc}"));
    }
    writeln!(out, "[{}]\n", facts.join(" · "))?;
    Ok(())
}

/// `check`: the config resolved, secrets redacted.
pub fn check(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    write!(out, "{}", settings.to_redacted_toml()?)?;
    writeln!(
        out,
        "# ok: {} account(s), {} feed(s)",
        settings.accounts.len(),
        settings.feeds.len()
    )?;
    Ok(())
}

/// `preview FEED`: fetch once and print the posts; touches no store.
pub async fn preview(settings: &Settings, args: &PreviewArgs, out: &mut dyn Write) -> Result<()> {
    let (name, url, composer) = match settings.feed(&args.feed) {
        Some(feed) => (feed.name.clone(), feed.url.clone(), feed.composer.clone()),
        None => {
            let url = url::Url::parse(&args.feed).with_context(|| {
                format!(
                    "{:?} is neither a configured feed name nor a URL",
                    args.feed
                )
            })?;
            let composer = Composer::new(&settings.default_compose, "defaults")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (url.to_string(), url, Arc::new(composer))
        }
    };
    let fetcher = Fetcher::new(fetch_config(settings))?;
    let outcome = fetcher
        .fetch(&FetchRequest {
            url: url.clone(),
            etag: None,
            last_modified: None,
        })
        .await
        .with_context(|| format!("cannot fetch {url}"))?;
    let FetchOutcome::Fetched(body) = outcome else {
        bail!("{url} answered 304 Not Modified to an unconditional request");
    };
    let parsed = tokio::task::spawn_blocking(move || {
        parse_feed(&body.body, body.content_type.as_deref(), &body.final_url)
    })
    .await?
    .with_context(|| format!("cannot parse {url}"))?;
    let ctx = FeedContext {
        feed_name: &name,
        feed_title: parsed.title.as_deref(),
    };
    writeln!(
        out,
        "# {} · {} item(s) · showing at most {}\n",
        parsed.title.as_deref().unwrap_or(&name),
        parsed.items.len(),
        args.limit
    )?;
    for item in parsed.items.iter().take(args.limit) {
        match composer.filter(item) {
            FilterDecision::Reject { reason } => {
                writeln!(
                    out,
                    "--- {name} · filtered out: {reason}\n{}\n",
                    item.title.as_deref().unwrap_or("(untitled)")
                )?;
                continue;
            }
            FilterDecision::Accept => {}
        }
        match composer.compose(item, &ctx) {
            Ok(post) => write_post(out, &name, &post, "post")?,
            Err(e) => writeln!(out, "--- {name} · cannot compose: {e}\n")?,
        }
    }
    Ok(())
}

/// `release FEED [--latest N] [--drop-rest]`: queue what the flood guard held.
pub async fn release(
    settings: &Settings,
    args: &crate::cli::ReleaseArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let store = open_store(settings, false).await?;
    crate::review::cli::release(&store, settings, args, out).await
}

/// `status`: a table, or JSON; `--check` returns false when a human is needed.
pub async fn status(settings: &Settings, args: &StatusArgs, out: &mut dyn Write) -> Result<bool> {
    let store = open_store(settings, false).await?;
    let now = now_unix();
    let mut healthy = true;
    let mut problems = Vec::new();
    let mut feeds_json = Vec::new();
    let configured: HashSet<&str> = settings.feeds.iter().map(|f| f.name.as_str()).collect();
    let feeds = store.list_feeds().await?;
    for feed in feeds
        .iter()
        .filter(|f| configured.contains(f.name.as_str()))
    {
        let counts = store.item_counts(feed.id).await?;
        let held = counts.get("held").copied().unwrap_or(0);
        if let Some(since) = feed.failing_since
            && now - since > settings.status.feed_failing_after.as_secs() as i64
        {
            healthy = false;
            problems.push(format!(
                "feed {} failing for {}",
                feed.name,
                humantime::format_duration(Duration::from_secs((now - since) as u64))
            ));
        }
        feeds_json.push(serde_json::json!({
            "name": feed.name,
            "url": feed.fetch_url,
            "last_poll": feed.last_polled_at,
            "last_result": feed.last_result,
            "last_error": feed.last_error,
            "next_poll": feed.next_check_at,
            "consecutive_failures": feed.consecutive_failures,
            "failing_since": feed.failing_since,
            "items_seen": feed.items_seen,
            "held": held,
        }));
    }
    let mut accounts_json = Vec::new();
    for account in store.list_accounts().await? {
        let counts = store.outbox_counts(account.id, now).await?;
        if let Some(reason) = &account.paused_reason {
            healthy = false;
            problems.push(format!("account {} paused: {reason}", account.name));
        }
        // The earliest the next post may go out: pacing after the last publish.
        let next_publish = if counts.queued > 0 && account.paused_reason.is_none() {
            let min_interval = settings
                .account(&account.name)
                .map_or(0, |a| a.min_interval.as_secs() as i64);
            let last = store.last_published_at(account.id).await?;
            Some(last.map_or(now, |l| (l + min_interval).max(now)))
        } else {
            None
        };
        accounts_json.push(serde_json::json!({
            "name": account.name,
            "username": account.username,
            "queued": counts.queued,
            "held": counts.held,
            "in_flight": counts.in_flight,
            "failed": counts.failed,
            "published_24h": counts.published_24h,
            "quota_usage": account.quota_usage,
            "quota_total": account.quota_total,
            "next_publish": next_publish,
            "token_expires_at": account.token_expires_at,
            "has_token": account.token().is_some(),
            "paused": account.paused_reason,
        }));
    }
    let heartbeat = store.last_heartbeat().await?;
    let stale = settings.status.heartbeat_stale_after.as_secs() as i64;
    match heartbeat {
        None => {
            healthy = false;
            problems.push("the daemon has not run on this store yet".to_string());
        }
        Some(beat) if now - beat > stale => {
            healthy = false;
            problems.push(format!(
                "the daemon's heartbeat is {} old: it is not running, or stuck",
                humantime::format_duration(Duration::from_secs((now - beat) as u64))
            ));
        }
        Some(_) => {}
    }
    if args.json {
        let doc = serde_json::json!({
            "now": now,
            "healthy": healthy,
            "problems": problems,
            "heartbeat": heartbeat,
            "feeds": feeds_json,
            "accounts": accounts_json,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(out, "FEEDS")?;
        writeln!(
            out,
            "{:<24} {:<14} {:>5} {:>8} {:>5}  {:<20} last error",
            "name", "last result", "fails", "seen", "held", "next poll"
        )?;
        for f in &feeds_json {
            writeln!(
                out,
                "{:<24} {:<14} {:>5} {:>8} {:>5}  {:<20} {}",
                truncate(f["name"].as_str().unwrap_or(""), 24),
                f["last_result"].as_str().unwrap_or("never polled"),
                f["consecutive_failures"],
                f["items_seen"],
                f["held"],
                format_time(f["next_poll"].as_i64()),
                f["last_error"].as_str().unwrap_or("")
            )?;
        }
        writeln!(out, "\nACCOUNTS")?;
        writeln!(
            out,
            "{:<16} {:>6} {:>6} {:>9} {:>6} {:>8} {:>11}  {:<20} {:<20} paused",
            "name",
            "queued",
            "held",
            "in flight",
            "failed",
            "pub 24h",
            "quota",
            "token expires",
            "next publish"
        )?;
        for a in &accounts_json {
            let quota = match (a["quota_usage"].as_i64(), a["quota_total"].as_i64()) {
                (Some(u), Some(t)) => format!("{u}/{t}"),
                _ => "?".into(),
            };
            writeln!(
                out,
                "{:<16} {:>6} {:>6} {:>9} {:>6} {:>8} {:>11}  {:<20} {:<20} {}",
                truncate(a["name"].as_str().unwrap_or(""), 16),
                a["queued"],
                a["held"],
                a["in_flight"],
                a["failed"],
                a["published_24h"],
                quota,
                if a["has_token"].as_bool() == Some(true) {
                    format_time(a["token_expires_at"].as_i64())
                } else {
                    "no token".into()
                },
                format_time(a["next_publish"].as_i64()),
                a["paused"].as_str().unwrap_or("")
            )?;
        }
        for p in &problems {
            writeln!(out, "! {p}")?;
        }
    }
    Ok(healthy || !args.check)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn format_time(unix: Option<i64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or("-".to_string(), |d| {
            d.format("%Y-%m-%d %H:%M:%S").to_string()
        })
}

/// Run one command; the `Ok` value is the process exit code.
pub async fn dispatch(
    settings: &Settings,
    command: crate::cli::Command,
) -> Result<std::process::ExitCode> {
    use crate::cli::Command;
    use std::process::ExitCode;
    let mut stdout = std::io::stdout();
    match command {
        Command::Run(args) => {
            let shutdown = CancellationToken::new();
            spawn_signal_handler(shutdown.clone());
            let reload = spawn_reload_handler();
            run(settings, args, shutdown, reload, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            check(settings, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Preview(args) => {
            preview(settings, &args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let ok = status(settings, &args, &mut stdout).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Release(args) => {
            release(settings, &args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeskPassword => {
            desk_password(&mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue(cmd) => {
            queue(settings, cmd, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth(args) => {
            let token = args.token.map(secrecy::SecretString::from);
            // `Stdin` (not its lock) keeps this future `Send`.
            let mut input = std::io::BufReader::new(std::io::stdin());
            crate::auth::run(settings, &args.account, token, &mut input, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOpml(args) => {
            crate::opml::import(settings, &args.file, &args.account, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `desk-password`: on a terminal the password is read twice without echo.
pub fn desk_password(out: &mut dyn Write) -> Result<()> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    without_echo(interactive, || {
        crate::review::cli::desk_password(&mut input, out, interactive)
    })
}

/// Runs `f` with the terminal's echo off (when `on` and the terminal allows it).
fn without_echo<T>(on: bool, f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    if on {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        if let Ok(saved) = tcgetattr(&stdin) {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
            let result = f();
            let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
            return result;
        }
    }
    let _ = on;
    f()
}

/// SIGHUP asks for a config reload; each signal is one message on the channel.
fn spawn_reload_handler() -> Option<mpsc::UnboundedReceiver<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP; config reload is off: {e}");
                return None;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received; reloading the config");
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        Some(rx)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// SIGTERM and SIGINT (ctrl-c) both ask for a clean stop; a second signal is left to
/// the default handler's successor: we only listen once.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received; stopping"),
                        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; stopping"),
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        shutdown.cancel();
    });
}

/// `queue list|approve|edit|release|retry|drop`.
pub async fn queue(
    settings: &Settings,
    command: crate::cli::QueueCommand,
    out: &mut dyn Write,
) -> Result<()> {
    let store = open_store(settings, false).await?;
    crate::review::cli::queue(&store, settings, command, out).await
}
