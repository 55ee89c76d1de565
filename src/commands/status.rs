//! `status [--json] [--check]`: per feed and per account, health, queue, quota and token
//! expiry, read from the store (it works beside the daemon), plus what the daemon's
//! `/healthz` says when it serves one (a store outage shows there first); `--check` exits 1
//! when a human is needed.

use super::{format_time, truncate};
use crate::cli::StatusArgs;
use crate::config::Settings;
use crate::store::now_unix;
use anyhow::Result;
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

/// `status`: a table, or JSON; `--check` returns false when a human is needed.
pub async fn status(settings: &Settings, args: &StatusArgs, out: &mut dyn Write) -> Result<bool> {
    let store = super::open_store(settings).await?;
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
    let daemon = daemon_health(settings).await;
    if let Some(d) = &daemon
        && d.http_status != 200
    {
        healthy = false;
        problems.push(format!("the daemon says: {}", d.message));
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
            "daemon_health": daemon.as_ref().map(|d| serde_json::json!({
                "http_status": d.http_status,
                "message": d.message,
            })),
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

/// What the daemon's `/healthz` answered.
struct DaemonHealth {
    http_status: u16,
    message: String,
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
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
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
