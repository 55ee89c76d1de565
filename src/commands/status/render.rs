//! How `status` reads: a table of feeds and a block per account for people (times as
//! RFC 3339 with their zone and how far they are from now), or one JSON document for
//! programs (unix seconds, and every key earlier versions had).
//!
//! Must not: read anything or decide what needs a human; everything shown here was
//! redacted by `gather`.

use super::gather::{AccountView, FeedView, LiveQuota, QuotaView, Snapshot, Waiting};
use super::problems::Problem;
use crate::commands::truncate;
use crate::human::{relative, timestamp, when, when_opt};
use serde_json::{Value, json};
use std::io::{self, Write};

/// The JSON document of `status --json`.
pub(super) fn json(snapshot: &Snapshot, problems: &[Problem]) -> Value {
    json!({
        "now": snapshot.now,
        "healthy": problems.is_empty(),
        "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "reasons": problems.iter().map(|p| json!({
            "kind": p.kind.as_str(),
            "what": p.what,
            "fix": p.fix,
        })).collect::<Vec<_>>(),
        "heartbeat": snapshot.heartbeat,
        "daemon_health": snapshot.daemon.as_ref().map(|d| json!({
            "http_status": d.http_status,
            "message": d.message,
        })),
        "feeds": snapshot.feeds.iter().map(feed_json).collect::<Vec<_>>(),
        "accounts": snapshot.accounts.iter().map(account_json).collect::<Vec<_>>(),
        "waiting": snapshot.waiting.iter().map(|w| json!({
            "post": w.post,
            "account": w.account,
            "feed": w.feed,
            "kind": w.kind.as_str(),
            "until": w.until,
            "reason": w.reason,
        })).collect::<Vec<_>>(),
    })
}

fn feed_json(f: &FeedView) -> Value {
    let row = &f.row;
    json!({
        "name": f.name,
        "url": f.url,
        "last_poll": row.last_polled_at,
        "last_success": row.last_success_at,
        "last_result": row.last_result,
        "last_error": f.last_error,
        "next_poll": row.next_check_at,
        "consecutive_failures": row.consecutive_failures,
        "failing_since": row.failing_since,
        "items_seen": row.items_seen,
        "held": f.held_items,
        "held_posts": f.held.map_or(0, |h| h.posts),
        "held_since": f.held.map(|h| h.since),
    })
}

fn account_json(a: &AccountView) -> Value {
    let q = &a.quota;
    let api = q.api();
    json!({
        "name": a.name,
        "username": a.username,
        "owner": a.owner.as_ref().map(|o| json!({
            "node": o.owner,
            "fence": o.fence,
            "lease_seconds_left": o.seconds_left(),
        })),
        "queued": a.counts.queued,
        "review": a.counts.review,
        "waiting_window": a.waits.window,
        "waiting_cap": a.waits.cap,
        "held": a.counts.held,
        "in_flight": a.counts.in_flight,
        "failed": a.counts.failed,
        "failed_posts": a.failed.iter().map(|p| json!({
            "id": p.id,
            "feed": p.feed,
            "text": p.excerpt,
            "error": p.error,
            "failed_at": p.failed_at,
        })).collect::<Vec<_>>(),
        "published_24h": a.counts.published_24h,
        // The API's count (this call's reading, else the daemon's last one).
        "quota_usage": api.map(|(r, _)| r.usage),
        "quota_total": api.map(|(r, _)| r.total),
        "quota": {
            "limit": q.limit(),
            "remaining": q.remaining(),
            "used_24h_ledger": q.ledger_24h,
            "used_24h_api": api.map(|(r, _)| r.usage),
            "api_read_at": api.map(|(r, _)| r.at),
            "api_read_by": api.map(|(_, by)| by.as_str()),
            "api_error": q.live_problem(),
        },
        "next_publish": a.next_publish,
        "token_expires_at": a.token_expires_at,
        "has_token": a.has_token,
        "paused": a.paused,
    })
}

/// The text of `status`.
pub(super) fn text(
    snapshot: &Snapshot,
    problems: &[Problem],
    out: &mut dyn Write,
) -> io::Result<()> {
    let now = snapshot.now;
    writeln!(out, "FEEDS")?;
    writeln!(
        out,
        "{:<24} {:<14} {:>5} {:>8} {:>5}  {:<40} last error",
        "name", "last result", "fails", "seen", "held", "next poll"
    )?;
    for f in &snapshot.feeds {
        writeln!(
            out,
            "{:<24} {:<14} {:>5} {:>8} {:>5}  {:<40} {}",
            truncate(&f.name, 24),
            f.row.last_result.as_deref().unwrap_or("never polled"),
            f.row.consecutive_failures,
            f.row.items_seen,
            f.held_items,
            next_poll(f.row.next_check_at, now),
            f.last_error.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out, "\nACCOUNTS")?;
    for a in &snapshot.accounts {
        account_text(a, now, out)?;
    }
    waiting_text(&snapshot.waiting, now, out)?;
    if problems.is_empty() {
        writeln!(out, "\nok: nothing needs a human")?;
    } else {
        writeln!(out, "\nNEEDS A HUMAN")?;
        for p in problems {
            writeln!(out, "! {p}")?;
        }
    }
    Ok(())
}

/// When the feed is polled next: "due now" once that time has come (a feed never polled
/// yet is due at 0), else the time and how far off.
fn next_poll(at: i64, now: i64) -> String {
    if at <= now {
        "due now".to_string()
    } else {
        when(at, now)
    }
}

fn account_text(a: &AccountView, now: i64, out: &mut dyn Write) -> io::Result<()> {
    match &a.username {
        Some(user) => writeln!(out, "{} (@{user})", a.name)?,
        None => writeln!(out, "{}", a.name)?,
    }
    let c = &a.counts;
    writeln!(
        out,
        "  queue:          {} queued ({} waiting for a posting window, {} for a cap), {} \
         waiting for review, {} held, {} in flight, {} failed; {} published in the last 24 h",
        c.queued,
        a.waits.window,
        a.waits.cap,
        c.review,
        c.held,
        c.in_flight,
        c.failed,
        c.published_24h
    )?;
    writeln!(out, "  quota:          {}", quota_text(&a.quota, now))?;
    writeln!(out, "  next publish:   {}", when_opt(a.next_publish, now))?;
    let token = if a.has_token {
        a.token_expires_at
            .map_or_else(|| "not known yet".to_string(), |t| when(t, now))
    } else {
        "no token".to_string()
    };
    writeln!(out, "  token expires:  {token}")?;
    if let Some(reason) = &a.paused {
        writeln!(out, "  paused:         {reason}")?;
    }
    if let Some(owner) = &a.owner {
        writeln!(out, "  published by:   {}", owner_text(owner))?;
    }
    Ok(())
}

/// `node-a (fence 3, lease 24 s left)`, or `… lease lapsed 5 s ago`: who owns the
/// account's publishing, by the database's clock.
fn owner_text(owner: &crate::store::LeaseRow) -> String {
    let left = owner.seconds_left();
    if owner.millis_left > 0 {
        format!(
            "{} (fence {}, lease {left} s left)",
            owner.owner, owner.fence
        )
    } else {
        format!(
            "{} (fence {}, lease lapsed {} s ago: another node may take it)",
            owner.owner,
            owner.fence,
            left.saturating_neg()
        )
    }
}

/// Posts of one feed waiting for one reason: how many, and until when the first of them.
struct Group<'a> {
    feed: &'a str,
    reason: &'a str,
    posts: usize,
    until: i64,
}

/// Why queued posts wait, one line per feed and reason (posts that wait for the same
/// window share one), the soonest first.
fn waiting_text(waiting: &[Waiting], now: i64, out: &mut dyn Write) -> io::Result<()> {
    if waiting.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    for w in waiting {
        let (feed, reason) = (
            w.feed.as_str(),
            w.reason.as_deref().unwrap_or(w.kind.as_str()),
        );
        match groups
            .iter_mut()
            .find(|g| g.feed == feed && g.reason == reason)
        {
            Some(g) => g.posts += 1,
            None => groups.push(Group {
                feed,
                reason,
                posts: 1,
                until: w.until,
            }),
        }
    }
    writeln!(out, "\nWAITING")?;
    for g in groups {
        writeln!(
            out,
            "{:<24} {:>4} post(s) until {}: {}",
            truncate(g.feed, 24),
            g.posts,
            when(g.until, now),
            g.reason
        )?;
    }
    Ok(())
}

/// "35 of 250 used in the last 24 h per the API (read just now), 35 per our ledger; 215 left".
fn quota_text(q: &QuotaView, now: i64) -> String {
    let limit = q.limit();
    let ledger = format!("{} per our ledger", q.ledger_24h);
    let api = match (&q.live, q.daemon) {
        (LiveQuota::Read(r), _) => format!(
            "{} of {} used in the last 24 h per the API (asked just now)",
            r.usage, r.total
        ),
        (LiveQuota::NotAsked(why) | LiveQuota::Failed(why), Some(r)) => format!(
            "{} of {} used in the last 24 h per the API as the daemon read it at {} ({}; not asked now: {why})",
            r.usage,
            r.total,
            timestamp(r.at),
            relative(r.at, now)
        ),
        (LiveQuota::NotAsked(why) | LiveQuota::Failed(why), None) => {
            format!("the API's count is unknown ({why})")
        }
    };
    let cap = match q.max_per_day {
        Some(max) if i64::from(max) == limit => " (max_posts_per_day)",
        _ => "",
    };
    format!("{api}, {ledger}; {} of {limit}{cap} left", q.remaining())
}
