//! The differential test against feedparser (Python), the reference for what a feed
//! holds: whatever it reads items from, we read too, unless we decided otherwise for a
//! stated reason.
//!
//! For every file, the items feedparser finds with an http(s) link are matched with ours
//! by canonical link (our `canonical_url`, so http/https, `www.` and tracking parameters
//! do not count as differences); a matched item whose title differs (after entities,
//! tags and whitespace are normalised) is counted apart. It fails when we miss more than
//! 1 % of feedparser's items, or on a file where feedparser finds items and we find none,
//! unless that file is listed, with its reason, in `tests/feedparser/expectations.toml`.
//! It prints per-file counts and a total.
//!
//! Runs when `FEED_CORPUS` is set and feedparser is importable by `FEEDPARSER_PYTHON`
//! (`.ci/run` installs it in a venv under `target/` and sets that), else by `python3`.
//! One Python process reads every file (`tests/feedparser/dump.py`).
//!
//! `feedparser_test_feeds` (ignored: not for CI) runs the same comparison over the
//! directory `FEEDPARSER_FEEDS` names, feedparser's own test feeds from its sdist
//! (`pip download --no-binary :all: --no-deps feedparser`), and only reports.

use feed2threads::feed::item::canonical_url;
use feed2threads::feed::parse::parse_feed;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use url::Url;

/// Where relative links resolve, for feedparser (its Content-Location) and for us.
const BASE: &str = "https://example.org/";
/// The share of feedparser's items we may miss outside the expectations file.
const MAX_MISSED: f64 = 0.01;

fn python() -> String {
    std::env::var("FEEDPARSER_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn feedparser_available(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import feedparser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One item as feedparser or we see it.
#[derive(Debug, Clone)]
struct Seen {
    link: String,
    title: String,
}

/// What one parser made of one file: how many items in all, and those with a link.
type Read = Result<(usize, Vec<Seen>), String>;

/// feedparser's items of every file, one Python process for all.
fn feedparser_items(python: &str, files: &[PathBuf]) -> Vec<Read> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/feedparser/dump.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(BASE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let list: String = files.iter().map(|p| format!("{}\n", p.display())).collect();
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = Vec::with_capacity(files.len());
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("feedparser's output is UTF-8 JSON");
        let record: serde_json::Value =
            serde_json::from_str(&line).expect("one JSON object a line");
        if let Some(error) = record["error"].as_str() {
            out.push(Err(error.to_owned()));
            continue;
        }
        let all = record["items"].as_array().map_or(0, Vec::len);
        let items = record["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let link = Url::parse(item["link"].as_str()?.trim()).ok()?;
                matches!(link.scheme(), "http" | "https").then(|| Seen {
                    link: canonical_url(&link),
                    title: normalise_title(item["title"].as_str().unwrap_or_default()),
                })
            })
            .collect();
        out.push(Ok((all, items)));
    }
    writer
        .join()
        .expect("writer thread")
        .expect("write the file list");
    assert!(
        child.wait().expect("feedparser ran").success(),
        "dump.py failed"
    );
    assert_eq!(out.len(), files.len(), "one line per file from dump.py");
    out
}

/// Our items, in the same terms.
fn our_items(path: &Path) -> Read {
    let body = std::fs::read(path).map_err(|e| e.to_string())?;
    let base = Url::parse(BASE).expect("static URL");
    let feed = parse_feed(&body, None, &base).map_err(|e| e.to_string())?;
    let linked = feed
        .items
        .iter()
        .filter_map(|item| {
            Some(Seen {
                link: canonical_url(item.link.as_ref()?),
                title: normalise_title(item.title.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    Ok((feed.items.len(), linked))
}

/// Titles as a reader sees them: entities decoded, tags gone, whitespace collapsed.
fn normalise_title(raw: &str) -> String {
    let mut text = htmlize::unescape(raw).into_owned();
    // Twice: feedparser decodes a level of escaping that some feeds double.
    if text.contains('<') || text.contains('&') {
        let tags = regex::Regex::new(r"<[^>]*>").expect("static regex");
        text = htmlize::unescape(tags.replace_all(&text, "").as_ref()).into_owned();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How one file compares.
#[derive(Debug, Default, Clone)]
struct FileReport {
    /// Items in all, with or without a link.
    feedparser_all: usize,
    ours_all: usize,
    /// Items with an http(s) link.
    feedparser: usize,
    ours: usize,
    /// feedparser's items whose link none of ours has.
    missed: usize,
    /// Matched by link, but the titles differ.
    titles_differ: usize,
    our_error: Option<String>,
    feedparser_error: Option<String>,
    /// One missed link, for the log.
    example: Option<String>,
    /// One title that differs: feedparser's, ours.
    title_example: Option<(String, String)>,
}

fn compare(feedparser: &[Seen], ours: &[Seen]) -> FileReport {
    let mut by_link: HashMap<&str, Vec<&str>> = HashMap::new();
    for item in ours {
        by_link.entry(&item.link).or_default().push(&item.title);
    }
    let mut report = FileReport {
        feedparser: feedparser.len(),
        ours: ours.len(),
        ..FileReport::default()
    };
    for item in feedparser {
        match by_link.get_mut(item.link.as_str()) {
            Some(titles) if !titles.is_empty() => {
                match titles.iter().position(|t| *t == item.title) {
                    Some(at) => {
                        titles.swap_remove(at);
                    }
                    None => {
                        report.titles_differ += 1;
                        let ours = titles.pop().unwrap_or_default();
                        report
                            .title_example
                            .get_or_insert_with(|| (item.title.clone(), ours.to_owned()));
                    }
                }
            }
            _ => {
                report.missed += 1;
                report.example.get_or_insert_with(|| item.link.clone());
            }
        }
    }
    report
}

/// Compares every file; returns per-file reports keyed by the file's path.
fn run(files: &[PathBuf], python: &str) -> BTreeMap<String, FileReport> {
    let theirs = feedparser_items(python, files);
    let mut reports = BTreeMap::new();
    for (path, theirs) in files.iter().zip(theirs) {
        let ours = our_items(path);
        let none = (0, Vec::new());
        let (t, o) = (
            theirs.as_ref().unwrap_or(&none),
            ours.as_ref().unwrap_or(&none),
        );
        let mut report = compare(&t.1, &o.1);
        report.feedparser_all = t.0;
        report.ours_all = o.0;
        report.our_error = ours.err();
        report.feedparser_error = theirs.err();
        reports.insert(path.display().to_string(), report);
    }
    reports
}

fn print(reports: &BTreeMap<String, FileReport>, root: &Path) {
    println!(
        "file: feedparser items with an http(s) link / ours / missed / titles differ [all items: feedparser, ours]"
    );
    for (path, r) in reports {
        let name = Path::new(path)
            .strip_prefix(root)
            .map_or_else(|_| path.clone(), |p| p.display().to_string());
        let mut line = format!(
            "  {name}: {} / {} / {} / {} [{}, {}]",
            r.feedparser, r.ours, r.missed, r.titles_differ, r.feedparser_all, r.ours_all
        );
        if let Some(e) = &r.our_error {
            line.push_str(&format!(" [ours: {e}]"));
        }
        if let Some(e) = &r.feedparser_error {
            line.push_str(&format!(" [feedparser: {e}]"));
        }
        if let Some(link) = &r.example {
            line.push_str(&format!(" (missed e.g. {link})"));
        }
        if let Some((theirs, ours)) = &r.title_example {
            line.push_str(&format!(" (title {theirs:?} / ours {ours:?})"));
        }
        println!("{line}");
    }
    let sum = |f: fn(&FileReport) -> usize| reports.values().map(f).sum::<usize>();
    let files = |f: fn(&FileReport) -> usize| reports.values().filter(|r| f(r) > 0).count();
    println!(
        "total: {} files; all items: feedparser {} in {} files, ours {} in {} files; \
         with an http(s) link: feedparser {} in {} files, ours {} in {} files; \
         missed {} ({:.2} %), titles differ {}",
        reports.len(),
        sum(|r| r.feedparser_all),
        files(|r| r.feedparser_all),
        sum(|r| r.ours_all),
        files(|r| r.ours_all),
        sum(|r| r.feedparser),
        files(|r| r.feedparser),
        sum(|r| r.ours),
        files(|r| r.ours),
        sum(|r| r.missed),
        100.0 * sum(|r| r.missed) as f64 / sum(|r| r.feedparser).max(1) as f64,
        sum(|r| r.titles_differ),
    );
}

/// The files listed in the expectations file, with their reasons.
fn expectations() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/feedparser/expectations.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    #[derive(serde::Deserialize)]
    struct File {
        files: BTreeMap<String, String>,
    }
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (name, reason) in &file.files {
        assert!(!reason.trim().is_empty(), "{name}: give the reason");
    }
    file.files
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_none_or(|ext| ext != "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn corpus_matches_feedparser() {
    let Some(dir) = std::env::var_os("FEED_CORPUS") else {
        println!("feedparser comparison skipped: set FEED_CORPUS to the feed corpus directory");
        return;
    };
    let python = python();
    if !feedparser_available(&python) {
        println!(
            "feedparser comparison skipped: {python} cannot import feedparser (set FEEDPARSER_PYTHON)"
        );
        return;
    }
    let dir = PathBuf::from(dir);
    let files = files_in(&dir);
    let reports = run(&files, &python);
    print(&reports, &dir);

    let expected = expectations();
    let name_of = |path: &str| {
        Path::new(path)
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let mut unexplained_empty = Vec::new();
    let (mut theirs, mut missed) = (0usize, 0usize);
    for (path, r) in &reports {
        let name = name_of(path);
        if let Some(reason) = expected.get(&name) {
            if r.missed == 0 && r.titles_differ == 0 {
                println!("note: {name} is in the expectations file but matches now ({reason})");
            }
            continue;
        }
        theirs += r.feedparser;
        missed += r.missed;
        if r.feedparser > 0 && r.ours == 0 {
            unexplained_empty.push(format!("{name}: {r:?}"));
        }
    }
    for name in expected.keys() {
        assert!(
            reports.keys().any(|p| name_of(p) == *name),
            "expectations.toml lists {name}, which is not in the corpus"
        );
    }
    assert!(
        unexplained_empty.is_empty(),
        "feedparser finds items where we find none: {unexplained_empty:#?}"
    );
    let share = missed as f64 / theirs.max(1) as f64;
    assert!(
        share <= MAX_MISSED,
        "we miss {missed} of feedparser's {theirs} items ({:.2} %) outside the expectations file",
        share * 100.0
    );
}

#[test]
#[ignore = "not for CI: needs feedparser's sdist test feeds in FEEDPARSER_FEEDS"]
fn feedparser_test_feeds() {
    let dir = PathBuf::from(std::env::var_os("FEEDPARSER_FEEDS").expect("set FEEDPARSER_FEEDS"));
    let python = python();
    assert!(
        feedparser_available(&python),
        "{python} cannot import feedparser"
    );
    let files = files_in(&dir);
    let reports = run(&files, &python);
    print(&reports, &dir);
}
