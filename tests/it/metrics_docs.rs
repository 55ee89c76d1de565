//! The README's metric list against a live `/metrics`: every metric the README names is
//! served by a running daemon with exactly the labels the README gives it (histograms: on
//! their `_count`, their buckets add `le`), and every metric the code defines is in the
//! README. Dashboards are written from the README; this keeps the two from drifting (the
//! fetch label was `class` in the code and `result` in the README).

use crate::http::{Sample, parse_exposition};
use crate::support::fake_threads::{Endpoint, MediaOutcome};
use crate::support::feed_server::Route;
use crate::support::rss::{rss, rss_with_images};
use crate::support::test_app::TestApp;
use feed2threads::run_mode::RunMode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// `name → labels` as the README's "Watch it" section lists them.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("### Watch it")
        .expect("README has a Watch it section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let re = regex::Regex::new(r"`(feed2threads_[a-z_]+)(?:\{([a-z_,]*)\})?`").unwrap();
    re.captures_iter(section)
        .map(|c| {
            let labels = c.get(2).map_or_else(BTreeSet::new, |l| {
                l.as_str().split(',').map(str::to_string).collect()
            });
            (c[1].to_string(), labels)
        })
        .collect()
}

/// The samples of `name` (a histogram's `_count`), if any carries `ours` among its labels.
fn served<'a>(samples: &'a [Sample], name: &str, ours: &[(&str, &str)]) -> Vec<&'a Sample> {
    let count = format!("{name}_count");
    samples
        .iter()
        .filter(|s| s.name == name || s.name == count)
        .filter(|s| {
            ours.iter()
                .all(|(k, v)| s.labels.get(*k).is_none_or(|have| have == v))
        })
        .collect()
}

#[test]
fn every_metric_the_code_defines_is_documented() {
    let docs = documented();
    for name in feed2threads::metrics::ALL {
        assert!(docs.contains_key(*name), "{name} is not in the README");
    }
    assert!(docs.len() >= feed2threads::metrics::ALL.len(), "{docs:?}");
}

#[tokio::test]
async fn every_documented_metric_is_served_live_with_its_documented_labels() {
    let docs = documented();
    let app = TestApp::new()
        .await
        .with_http()
        .with_account("docs-desk")
        .with_feed("docs-news", "docs-desk", 2)
        .with_feed_toml(
            "docs-photos",
            "docs-desk",
            "media = \"image\"\nimage_fallback = \"none\"",
        )
        // The link as the first reply (a reply published), and a cap that drops.
        .with_feed_toml("docs-linked", "docs-desk", "link_in = \"reply\"")
        .with_feed_toml(
            "docs-capped",
            "docs-desk",
            "max_per_hour = 1\noverflow = \"drop\"",
        );
    app.feeds
        .set("/docs-linked.xml", Route::feed(rss("docs-linked", 1)));
    app.feeds
        .set("/docs-capped.xml", Route::feed(rss("docs-capped", 3)));
    app.feeds.set(
        "/docs-photos.xml",
        Route::feed(rss_with_images("docs-photos", 1)),
    );
    app.fake
        .update(|s| s.media_outcome = MediaOutcome::Error("FAILED_DOWNLOADING_VIDEO".into()));
    // One API error on the way (a container status read that fails once).
    app.fake.fail_next(Endpoint::ContainerStatus, 1);
    let running = app.start(RunMode::DAEMON).await;
    let addr = running.http.unwrap();
    let ours = [("feed", "docs-news"), ("account", "docs-desk")];

    // Wait until every documented metric is there (a failed post, a token expiry learnt, …).
    let started = Instant::now();
    let (samples, missing) = loop {
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let samples = parse_exposition(&body);
        let missing: Vec<&String> = docs
            .keys()
            .filter(|name| served(&samples, name, &ours).is_empty())
            .collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break (samples, missing.into_iter().cloned().collect::<Vec<_>>());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    running.stop().await;
    assert!(missing.is_empty(), "not served: {missing:?}");

    for (name, labels) in &docs {
        for sample in served(&samples, name, &ours) {
            let have: BTreeSet<String> = sample.labels.keys().cloned().collect();
            assert_eq!(
                &have,
                labels,
                "{name}: the README says {{{}}}, /metrics serves {sample:?}",
                labels.iter().cloned().collect::<Vec<_>>().join(",")
            );
        }
    }
    // This daemon's own series, by the labels it gave them.
    let fetches = served(&samples, "feed2threads_fetches_total", &ours);
    assert!(
        fetches.iter().any(
            |s| s.labels.get("feed").map(String::as_str) == Some("docs-news")
                && s.labels.get("result").map(String::as_str) == Some("new_items")
        ),
        "{fetches:?}"
    );
    let failed = served(&samples, "feed2threads_posts_failed_total", &ours);
    assert!(
        failed
            .iter()
            .any(|s| s.labels.get("account").map(String::as_str) == Some("docs-desk")),
        "{failed:?}"
    );
}
