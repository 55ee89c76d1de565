//! Flood benchmark (not a test): a hostile feed that serves a large document of fresh
//! items on every poll, polled by the real daemon. Prints how the store grew, how many
//! items and posts it holds, and the daemon's peak RSS.
//!
//!     cargo build --release && cargo bench --bench flood
//!     cargo bench --bench flood -- SECONDS ITEMS      # defaults: 180 s, 55000 items
//!     BENCH_BINARY=/path/to/feed2threads cargo bench --bench flood   # another build
//!
//! The feed is polled every 30 s (the shortest interval the config allows): its first
//! poll is the backlog, every later one brings ITEMS items never seen before (~10 MiB
//! for 55,000). The goal (issue 11): at most 50 MB of store growth and at most 150 MB
//! peak RSS over 3 minutes.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, header};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Flood {
    items: usize,
    polls: AtomicUsize,
}

/// A document of `items` items no earlier poll had: guids, links and titles carry the
/// poll's number. ~170 bytes an item, so 55,000 of them stay under the default
/// `fetch.max_body_size` (10 MiB).
async fn serve(State(flood): State<Arc<Flood>>) -> Response<Body> {
    let poll = flood.polls.fetch_add(1, Ordering::SeqCst);
    let mut xml = String::with_capacity(flood.items * 200 + 256);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Flood</title><link>https://flood.example/</link>\n");
    let date = chrono::Utc::now().to_rfc2822();
    for i in 0..flood.items {
        let _ = writeln!(
            xml,
            "<item><title>Flood story {poll}-{i}</title><link>https://flood.example/{poll}/{i}</link><guid>flood-{poll}-{i}</guid><pubDate>{date}</pubDate></item>"
        );
    }
    xml.push_str("</channel></rss>\n");
    if poll == 0 {
        println!("flood: each document is {:.1} MB", xml.len() as f64 / 1e6);
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "application/rss+xml")
        .body(Body::from(xml))
        .unwrap()
}

/// The store's files together (the database, its WAL and shared-memory index).
fn store_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|m| m.len())
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(180);
    let items: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(55_000);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let flood = Arc::new(Flood {
        items,
        polls: AtomicUsize::new(0),
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/flood.xml", axum::routing::get(serve))
        .with_state(flood.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let binary = support::daemon_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flood.db");
    let config = dir.path().join("flood.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"off\"\n[[accounts]]\nname = \"news\"\n\
             [[feeds]]\nname = \"flood\"\nurl = \"http://{addr}/flood.xml\"\naccount = \"news\"\nevery = \"30s\"\nmax_age = \"off\"\n",
            db.display()
        ),
    )
    .unwrap();

    println!("flood: {items} fresh items a poll, polled every 30 s for {seconds} s");
    let started = Instant::now();
    let daemon = Command::new(&binary)
        .args([
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
        ])
        .env("RUST_LOG", "warn,feed2threads::app=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the daemon");
    std::thread::sleep(Duration::from_secs(seconds));
    let pid = rustix::process::Pid::from_raw(i32::try_from(daemon.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = daemon.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Ok(path) = std::env::var("BENCH_LOG") {
        std::fs::write(path, stderr.as_bytes()).unwrap();
    }
    assert!(
        output.status.success(),
        "daemon failed: {}\n{stderr}",
        output.status
    );
    let stopped = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "feed2threads stopped")
        .expect("the daemon logs its stop line");

    let bytes = store_bytes(&db);
    let (items_by_disposition, outbox) = rt.block_on(async {
        let store = feed2threads::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let row = store.feed_by_name("flood").await.unwrap().unwrap();
        let counts = store.item_counts(row.id).await.unwrap();
        let outbox = store.list_outbox(None, 1_000_000).await.unwrap().len();
        store.close().await;
        (counts, outbox)
    });
    let mut counts: Vec<(String, i64)> = items_by_disposition.into_iter().collect();
    counts.sort();
    println!(
        "flood: {} polls served in {:.0} s; store {:.1} MB (database, WAL and index); \
         peak RSS {:.0} MB; CPU {:.1} s",
        flood.polls.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        stopped["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        stopped["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
    );
    println!("flood: items by disposition {counts:?}; {outbox} outbox rows");
}
