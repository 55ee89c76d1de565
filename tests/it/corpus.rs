//! The real-world feed corpus: every file either yields items or a clean error, none
//! panics, identity keys are present and unique per document, and parsing is fast.
//!
//! Runs only when `FEED_CORPUS` names the corpus directory (CI sets it to
//! `../shared/feeds`); on a fresh clone without it the test passes after saying so.
//! The corpus is read in place, never copied into the project (its licenses vary).
//! `CORPUS_VERBOSE=1` also lists the files that parsed to zero items.

use feed2threads::feed::item::identify;
use feed2threads::feed::parse::parse_feed;
use std::collections::{BTreeMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

/// Files that gave at least one item when this test was written (266 of 360), less a
/// small margin. A drop below it is a parser regression.
const MIN_FILES_WITH_ITEMS: usize = 260;
/// Items across the corpus at the same time (2817), less a margin.
const MIN_TOTAL_ITEMS: usize = 2_750;
/// Files refused with an error at the same time (5: an empty file, a comment-only
/// file, broken JSON, an HTML page, an unknown XML root). More means a feed we used to
/// read is now refused.
const MAX_ERRORS: usize = 8;

#[test]
fn corpus_parses_without_panics() {
    let Some(dir) = std::env::var_os("FEED_CORPUS") else {
        println!("corpus test skipped: set FEED_CORPUS to the feed corpus directory");
        return;
    };
    let dir = PathBuf::from(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("FEED_CORPUS={}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        // Try every file, documentation aside: odd extensions are part of the test.
        .filter(|p| p.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", dir.display());

    let base = Url::parse("https://example.org/").expect("static URL");
    let mut with_items = 0usize;
    let mut zero_items = 0usize;
    let mut total_items = 0usize;
    let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut panicked: Vec<String> = Vec::new();
    let mut bad_keys: Vec<String> = Vec::new();
    let mut total_bytes = 0usize;
    let mut parse_time = Duration::ZERO;

    for path in &files {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let body = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        total_bytes += body.len();
        let started = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| parse_feed(&body, None, &base)));
        parse_time += started.elapsed();
        match outcome {
            Err(_) => panicked.push(name),
            Ok(Err(err)) => errors
                .entry(err.class())
                .or_default()
                .push(format!("{name}: {err}")),
            Ok(Ok(feed)) if feed.items.is_empty() => {
                zero_items += 1;
                if std::env::var_os("CORPUS_VERBOSE").is_some() {
                    println!("  zero items: {name}");
                }
            }
            Ok(Ok(feed)) => {
                with_items += 1;
                total_items += feed.items.len();
                let ids = identify(&feed.items);
                let mut keys = HashSet::with_capacity(ids.len());
                for id in &ids {
                    if id.key.is_empty() || !keys.insert(id.key.as_str()) {
                        bad_keys.push(format!("{name}: key {:?}", id.key));
                    }
                }
                if ids.len() != feed.items.len() {
                    bad_keys.push(format!(
                        "{name}: {} keys for {} items",
                        ids.len(),
                        feed.items.len()
                    ));
                }
            }
        }
    }

    let secs = parse_time.as_secs_f64().max(1e-9);
    println!(
        "corpus: {} files, {} with items ({} items), {} with zero items, {} errors, {} panics",
        files.len(),
        with_items,
        total_items,
        zero_items,
        errors.values().map(Vec::len).sum::<usize>(),
        panicked.len()
    );
    for (class, list) in &errors {
        println!("  errors {class}: {}", list.len());
        for line in list {
            println!("    {line}");
        }
    }
    println!(
        "corpus: {:.2} MB parsed in {:.3} s = {:.1} MB/s (this build's profile)",
        total_bytes as f64 / 1e6,
        secs,
        total_bytes as f64 / 1e6 / secs
    );

    assert!(
        panicked.is_empty(),
        "parse_feed let panics through: {panicked:?}"
    );
    // Caught panics are errors, but each one is a feed-rs input we should avoid.
    assert!(
        !errors.contains_key("parser_panic"),
        "the parser panicked: {:?}",
        errors.get("parser_panic")
    );
    assert!(bad_keys.is_empty(), "identity problems: {bad_keys:?}");
    assert!(
        with_items >= MIN_FILES_WITH_ITEMS,
        "only {with_items} files gave items (floor {MIN_FILES_WITH_ITEMS})"
    );
    assert!(
        total_items >= MIN_TOTAL_ITEMS,
        "only {total_items} items in all (floor {MIN_TOTAL_ITEMS})"
    );
    let error_count: usize = errors.values().map(Vec::len).sum();
    assert!(
        error_count <= MAX_ERRORS,
        "{error_count} files refused (at most {MAX_ERRORS} expected)"
    );
}
