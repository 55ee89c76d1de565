//! What the desk's templates show, read from the store: the tabs and their counts, the
//! posts of one state as they will appear, the expected time of each queued post and why
//! it waits (a posting window, a cap), and the feeds with their health. Feed names and
//! URLs are shown redacted (a name that defaults to the URL may carry credentials), times
//! as `human` writes them.
//!
//! Must not change anything: it only reads.

use super::DeskConfig;
use crate::feed::redact::redact_url;
use crate::human;
use crate::store::{
    FeedRow, OutboxRow, OutboxState, PostFilter, PostOrder, PostWait, Store, StoreError, WaitKind,
    now_unix,
};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// How many posts a tab shows at most.
const PAGE: i64 = 200;

/// A tab of the desk: the posts of one (or a few) states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Review,
    Held,
    Queued,
    Failed,
    Published,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Review,
        Tab::Held,
        Tab::Queued,
        Tab::Failed,
        Tab::Published,
    ];

    pub fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Review => "review",
            Tab::Held => "held",
            Tab::Queued => "queued",
            Tab::Failed => "failed",
            Tab::Published => "published",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tab::Review => "Review",
            Tab::Held => "Held",
            Tab::Queued => "Queued",
            Tab::Failed => "Failed",
            Tab::Published => "Published",
        }
    }

    pub fn heading(self) -> &'static str {
        match self {
            Tab::Review => "Waiting for review",
            Tab::Held => "Held by the flood guard",
            Tab::Queued => "Queued to publish",
            Tab::Failed => "Failed",
            Tab::Published => "Published in the last 24 hours",
        }
    }

    pub fn empty(self) -> &'static str {
        match self {
            Tab::Review => "Nothing waits for review.",
            Tab::Held => "Nothing is held.",
            Tab::Queued => "The queue is empty.",
            Tab::Failed => "No failed posts.",
            Tab::Published => "Nothing published in the last 24 hours.",
        }
    }

    fn states(self) -> &'static [OutboxState] {
        match self {
            Tab::Review => &[OutboxState::Review],
            Tab::Held => &[OutboxState::Held],
            Tab::Queued => &[
                OutboxState::Queued,
                OutboxState::ContainerCreated,
                OutboxState::Publishing,
            ],
            Tab::Failed => &[OutboxState::Failed],
            Tab::Published => &[OutboxState::Published],
        }
    }

    fn of(state: OutboxState) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.states().contains(&state))
    }

    /// Review and the queue read in the order they will go; the others newest first.
    fn order(self) -> PostOrder {
        match self {
            Tab::Review | Tab::Queued => PostOrder::Queue,
            Tab::Held | Tab::Failed | Tab::Published => PostOrder::Newest,
        }
    }

    /// What an editor may do with a post of this tab, in button order.
    fn actions(self, state: OutboxState) -> &'static [&'static str] {
        match (self, state) {
            (Tab::Review, _) => &["approve", "edit", "drop"],
            (Tab::Held, _) => &["release", "edit", "drop"],
            (Tab::Queued, OutboxState::Queued) => &["edit", "drop"],
            (Tab::Queued, _) => &[],
            (Tab::Failed, _) => &["retry", "edit", "drop"],
            (Tab::Published, _) => &[],
        }
    }
}

/// The button labels of [`Tab::actions`].
pub(crate) fn action_labels() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("approve", "Approve"),
        ("edit", "Edit"),
        ("drop", "Drop"),
        ("release", "Release"),
        ("retry", "Retry"),
    ])
}

#[derive(Debug, Serialize)]
pub(crate) struct TabView {
    pub state: &'static str,
    pub label: &'static str,
    pub count: i64,
    /// Of the queued posts, how many a posting window or a cap holds ("3 waiting").
    pub waiting: Option<String>,
}

/// Why a queued post waits past its turn.
#[derive(Debug, Serialize)]
pub(crate) struct WaitView {
    /// `window` or `cap`.
    pub kind: &'static str,
    /// "posting window", "feed's cap".
    pub label: &'static str,
    /// The publisher's own words: "outside the feed's posting window 06:30-23:00 …".
    pub note: Option<String>,
    /// When it may go.
    pub until: String,
}

/// One post as it will appear.
#[derive(Debug, Serialize)]
pub(crate) struct PostView {
    pub id: i64,
    pub feed: String,
    pub state: &'static str,
    pub state_label: String,
    pub text: String,
    pub bytes: usize,
    pub link_domain: Option<String>,
    pub topic_tag: Option<String>,
    pub image_url: Option<String>,
    pub alt_text: String,
    pub media: &'static str,
    /// When it is expected to go (queued), went (published), or entered its state.
    pub when: Option<String>,
    /// Why it failed or expired.
    pub reason: Option<String>,
    /// What holds a queued post back (a posting window, a cap).
    pub wait: Option<WaitView>,
    pub permalink: Option<String>,
    pub actions: &'static [&'static str],
}

#[derive(Debug, Serialize)]
pub(crate) struct FeedOption {
    pub id: i64,
    pub name: String,
}

/// A feed's held flood and the ways to release it.
#[derive(Debug, Serialize)]
pub(crate) struct ReleaseView {
    pub feed_id: i64,
    pub feed: String,
    pub held: i64,
    pub order: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct CountView {
    pub state: &'static str,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct FeedView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub health: &'static str,
    pub health_label: String,
    pub last_poll: String,
    pub last_result: Option<String>,
    pub next_poll: String,
    pub last_error: Option<String>,
    pub failing_since: Option<String>,
    pub failures: i64,
    pub counts: Vec<CountView>,
    /// Of its queued posts, those a posting window or a cap holds.
    pub waiting: Option<String>,
    pub review: bool,
    pub release_order: &'static str,
}

/// Posts per feed and tab (published: the last 24 h), and the queued posts a posting
/// window or a cap holds.
pub(crate) struct Counts {
    by_feed: HashMap<i64, HashMap<&'static str, i64>>,
    waits: Vec<PostWait>,
}

impl Counts {
    pub async fn read(store: &Store, now: i64) -> Result<Counts, StoreError> {
        let waits = store.outbox_waits(None, now).await?;
        let mut by_feed: HashMap<i64, HashMap<&'static str, i64>> = HashMap::new();
        for (feed, state, n) in store.post_counts_by_feed(now - 86_400).await? {
            if let Some(tab) = Tab::of(state) {
                *by_feed
                    .entry(feed)
                    .or_default()
                    .entry(tab.as_str())
                    .or_default() += n;
            }
        }
        Ok(Counts { by_feed, waits })
    }

    pub fn tabs(&self) -> Vec<TabView> {
        Tab::ALL
            .into_iter()
            .map(|t| TabView {
                state: t.as_str(),
                label: t.label(),
                count: self.total(t),
                waiting: (t == Tab::Queued && !self.waits.is_empty())
                    .then(|| format!("{} waiting", self.waits.len())),
            })
            .collect()
    }

    /// Of one feed (or all), the queued posts a window holds and those a cap holds.
    fn waiting(&self, feed: Option<i64>) -> (i64, i64) {
        self.waits
            .iter()
            .filter(|w| feed.is_none_or(|f| f == w.feed_id))
            .fold((0, 0), |(window, cap), w| match w.kind {
                WaitKind::Window => (window + 1, cap),
                WaitKind::Cap => (window, cap + 1),
            })
    }

    /// "2 wait for a posting window, 1 for a cap" (of one feed, or all); `None` when
    /// nothing waits.
    pub fn wait_summary(&self, feed: Option<i64>) -> Option<String> {
        let parts: Vec<String> = match self.waiting(feed) {
            (0, 0) => return None,
            (window, 0) => vec![format!("{window} {} for a posting window", wait(window))],
            (0, cap) => vec![format!("{cap} {} for a cap", wait(cap))],
            (window, cap) => vec![
                format!("{window} {} for a posting window", wait(window)),
                format!("{cap} for a cap"),
            ],
        };
        Some(parts.join(", "))
    }

    fn wait_of(&self, post: i64) -> Option<&PostWait> {
        self.waits.iter().find(|w| w.post == post)
    }

    pub fn total(&self, tab: Tab) -> i64 {
        self.by_feed
            .values()
            .filter_map(|m| m.get(tab.as_str()))
            .sum()
    }

    fn of_feed(&self, feed: i64, tab: Tab) -> i64 {
        self.by_feed
            .get(&feed)
            .and_then(|m| m.get(tab.as_str()))
            .copied()
            .unwrap_or(0)
    }
}

/// "waits" or "wait".
fn wait(n: i64) -> &'static str {
    if n == 1 { "waits" } else { "wait" }
}

/// A feed's name as the desk shows it.
pub(crate) fn feed_name(feed: &FeedRow) -> String {
    redact_url(&feed.name).into_owned()
}

/// The store's feeds by id.
pub(crate) async fn feeds_by_id(store: &Store) -> Result<HashMap<i64, FeedRow>, StoreError> {
    Ok(store
        .list_feeds()
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect())
}

/// The posts of a tab (of one feed, or all), as they will appear.
pub(crate) async fn posts(
    store: &Store,
    config: &DeskConfig,
    counts: &Counts,
    tab: Tab,
    feed: Option<i64>,
    feeds: &HashMap<i64, FeedRow>,
) -> Result<Vec<PostView>, StoreError> {
    let rows = store
        .list_posts(&PostFilter {
            account_id: None,
            feed_id: feed,
            states: tab.states(),
            limit: PAGE,
            order: tab.order(),
        })
        .await?;
    let now = now_unix();
    let expected = if tab == Tab::Queued {
        expected_times(store, config, &rows, now).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .iter()
        .map(|row| {
            let when = match row.state {
                OutboxState::Queued => expected
                    .get(&row.id)
                    .map(|t| format!("expected {}", human::when(*t, now))),
                OutboxState::ContainerCreated | OutboxState::Publishing => {
                    Some("publishing now".to_owned())
                }
                OutboxState::Published => row
                    .published_at
                    .map(|t| format!("published {}", human::when(t, now))),
                _ => Some(format!("since {}", human::when(row.updated_at, now))),
            };
            let mut view = post_view(row, tab, feeds, when);
            view.wait = counts.wait_of(row.id).map(|w| wait_view(w, now));
            view
        })
        .collect())
}

fn wait_view(wait: &PostWait, now: i64) -> WaitView {
    WaitView {
        kind: wait.kind.as_str(),
        label: match wait.kind {
            WaitKind::Window => "posting window",
            WaitKind::Cap => "feed's cap",
        },
        note: wait.note.clone(),
        until: human::when(wait.until, now),
    }
}

/// One post for the templates.
pub(crate) fn post_view(
    row: &OutboxRow,
    tab: Tab,
    feeds: &HashMap<i64, FeedRow>,
    when: Option<String>,
) -> PostView {
    PostView {
        id: row.id,
        feed: feeds
            .get(&row.feed_id)
            .map_or_else(|| format!("feed {}", row.feed_id), feed_name),
        state: Tab::of(row.state).unwrap_or(tab).as_str(),
        state_label: row.state.as_str().replace('_', " "),
        text: row.text.clone(),
        bytes: row.text.len(),
        link_domain: row.link_attachment.as_deref().and_then(domain),
        topic_tag: row.topic_tag.clone(),
        image_url: row.image_url.clone(),
        alt_text: row.alt_text.clone().unwrap_or_default(),
        media: row.media_type.as_str(),
        when,
        reason: row.last_error.clone(),
        wait: None,
        permalink: row.permalink.clone(),
        actions: tab.actions(row.state),
    }
}

/// The held floods of the listed feeds, for the release forms.
pub(crate) fn releases(
    counts: &Counts,
    config: &DeskConfig,
    feeds: &HashMap<i64, FeedRow>,
    only: Option<i64>,
) -> Vec<ReleaseView> {
    let mut out: Vec<ReleaseView> = feeds
        .values()
        .filter(|f| only.is_none_or(|id| id == f.id))
        .filter_map(|f| {
            let held = counts.of_feed(f.id, Tab::Held);
            (held > 0).then(|| ReleaseView {
                feed_id: f.id,
                feed: feed_name(f),
                held,
                order: config.release_order(&f.name).as_str(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.feed.cmp(&b.feed));
    out
}

/// The feeds and their health.
pub(crate) fn feed_views(
    counts: &Counts,
    config: &DeskConfig,
    feeds: &HashMap<i64, FeedRow>,
) -> Vec<FeedView> {
    let now = now_unix();
    let mut out: Vec<FeedView> = feeds
        .values()
        .filter(|f| config.feeds.contains_key(&f.name))
        .map(|f| {
            let (health, health_label) = match (f.failing_since, f.last_success_at) {
                (Some(since), _) => (
                    "failing",
                    format!(
                        "failing for {}",
                        human::span(Duration::from_secs(
                            u64::try_from(now.saturating_sub(since)).unwrap_or(0)
                        ))
                    ),
                ),
                (None, Some(_)) => ("ok", "ok".to_owned()),
                (None, None) => ("never", "not polled yet".to_owned()),
            };
            let policy = config.feeds.get(&f.name);
            FeedView {
                id: f.id,
                name: feed_name(f),
                url: redact_url(&f.fetch_url).into_owned(),
                health,
                health_label,
                last_poll: f
                    .last_polled_at
                    .map_or("never".into(), |t| human::when(t, now)),
                last_result: f.last_result.clone(),
                next_poll: human::when(f.next_check_at, now),
                last_error: f.last_error.clone(),
                failing_since: f.failing_since.map(|t| human::when(t, now)),
                failures: f.consecutive_failures,
                counts: [
                    Tab::Review,
                    Tab::Held,
                    Tab::Queued,
                    Tab::Failed,
                    Tab::Published,
                ]
                .into_iter()
                .filter_map(|t| {
                    let count = counts.of_feed(f.id, t);
                    (count > 0).then_some(CountView {
                        state: t.as_str(),
                        label: t.label(),
                        count,
                    })
                })
                .collect(),
                waiting: counts.wait_summary(Some(f.id)),
                review: policy.is_some_and(|p| p.review),
                release_order: policy.map_or("oldest", |p| p.release_order.as_str()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// When each queued post is expected to go: pacing (`min_interval` after the account's
/// last post, then one after another in queue order); a post whose own `not_before` (a
/// posting window, a cap, a retry's backoff) is past its turn goes then, and the posts
/// behind it take its turn. An estimate: quota and retries can push it later.
async fn expected_times(
    store: &Store,
    config: &DeskConfig,
    rows: &[OutboxRow],
    now: i64,
) -> Result<HashMap<i64, i64>, StoreError> {
    let accounts: HashMap<i64, String> = store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut next_at: HashMap<i64, i64> = HashMap::new();
    let mut out = HashMap::new();
    // `rows` are in queue order.
    for row in rows.iter().filter(|r| r.state == OutboxState::Queued) {
        let interval = accounts
            .get(&row.account_id)
            .and_then(|name| config.min_interval.get(name))
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let at = match next_at.get(&row.account_id) {
            Some(at) => *at,
            None => {
                let last = store.last_published_at(row.account_id).await?;
                last.map_or(now, |l| l.saturating_add(interval).max(now))
            }
        };
        if row.not_before > at {
            // A posting window, a cap or a retry's backoff holds it past its turn: the
            // posts behind it go first (the publisher skips a post not due yet).
            out.insert(row.id, row.not_before);
            continue;
        }
        out.insert(row.id, at);
        next_at.insert(row.account_id, at.saturating_add(interval));
    }
    Ok(out)
}

/// The host of a link card, without `www.`.
fn domain(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    let host = url.host_str()?;
    Some(host.strip_prefix("www.").unwrap_or(host).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_domains_and_tabs() {
        assert_eq!(
            domain("https://www.news.example/a?b").as_deref(),
            Some("news.example")
        );
        assert_eq!(Tab::parse("held"), Some(Tab::Held));
        assert_eq!(Tab::of(OutboxState::Publishing), Some(Tab::Queued));
        assert_eq!(Tab::of(OutboxState::Dropped), None);
    }
}
