//! Polling benchmark (not a test): serves N local feeds built from the corpus, each with
//! unique item identities, then runs the real binary twice against them:
//! a cold cycle (fresh store, every item new, backlog "skip") and a warm cycle (same
//! store, every feed answers 304). Prints feeds/s, CPU seconds and peak RSS of the daemon.
//!
//!     cargo bench --bench poll                 # 2000 feeds, 3 runs each, medians
//!     cargo bench --bench poll -- 500 1        # 500 feeds, 1 run
//!     BENCH_BINARY=/path/to/feed2threads cargo bench --bench poll   # another build
//!
//! Needs FEED_CORPUS (defaults to ../shared/feeds). Feeds are spread over 8 loopback
//! addresses (127.0.0.1-8) so the per-host limit (4) and the global limit (32) both apply
//! as they would for a newsroom's many hosts.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use bytes::Bytes;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const HOSTS: usize = 8;

type Feeds = Arc<HashMap<String, Bytes>>;

async fn serve(
    State(feeds): State<Feeds>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let Some(body) = feeds.get(&name) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let etag = format!("\"{name}-v1\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .body(Body::empty())
            .unwrap();
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::ETAG, etag)
        .body(Body::from(body.clone()))
        .unwrap()
}

struct Run {
    wall: f64,
    cpu: f64,
    peak_rss_mb: f64,
}

fn run_once(binary: &std::path::Path, config: &std::path::Path) -> Run {
    let start = Instant::now();
    // BENCH_WRAPPER runs the daemon under another program, e.g. a profiler:
    // BENCH_WRAPPER="perf record -o /tmp/perf.data --" (words split on spaces).
    let wrapper = std::env::var("BENCH_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    let output = support::daemon_args(&mut command, config, &["run", "--once"])
        .output()
        .expect("run the daemon");
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Ok(path) = std::env::var("BENCH_LOG") {
        // Keep the daemon's log for a closer look (appended, one run after another).
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(stderr.as_bytes()).unwrap();
    }
    assert!(
        output.status.success(),
        "daemon failed: {}\n{stderr}",
        output.status
    );
    // The daemon reports its own CPU time and peak RSS when it stops.
    let stopped = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "feed2threads stopped")
        .expect("the daemon logs its stop line");
    Run {
        wall,
        cpu: stopped["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mb: stopped["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let (docs, sources) = support::feeds::build(n);
    let total_bytes: usize = docs.iter().map(|d| d.len()).sum();
    let feeds: HashMap<String, Bytes> = docs
        .into_iter()
        .enumerate()
        .map(|(i, body)| (format!("f{i}.xml"), body))
        .collect();
    let feeds: Feeds = Arc::new(feeds);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = Router::new()
        .route("/{name}", axum::routing::get(serve))
        .with_state(feeds.clone());
    let ports = support::serve_on_loopback(&rt, HOSTS, app);

    let binary = support::daemon_binary();
    let dir = tempfile::tempdir().unwrap();
    // BENCH_CONFIG adds top-level tables, e.g. "[fetch]\nconcurrency = 64".
    let extra = std::env::var("BENCH_CONFIG").unwrap_or_default();
    // The account needs a token: `run --once` exits 1 when an account is paused. Its API is
    // a closed port: the publisher's token check fails harmlessly (the token is kept) and,
    // with backlog "skip", it has nothing to publish.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = format!(
        "{extra}\n[threads]\napi_base = \"http://127.0.0.1:{closed_port}\"\n[http]\nlisten = \"off\"\n[defaults]\nbacklog = \"skip\"\nmax_age = \"off\"\n[[accounts]]\nname = \"bench\"\naccess_token = \"bench-token\"\n",
    );
    for i in 0..n {
        let addr = ports[i % HOSTS];
        config.push_str(&format!(
            "[[feeds]]\nname = \"f{i}\"\nurl = \"http://{addr}/f{i}.xml\"\n"
        ));
    }

    println!(
        "{n} feeds from {sources} corpus files, {:.1} MB in all; {runs} run(s) per cycle",
        total_bytes as f64 / 1e6
    );
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for r in 0..runs {
        let store = dir.path().join(format!("bench-{r}.db"));
        let path = dir.path().join(format!("bench-{r}.toml"));
        std::fs::write(
            &path,
            format!("[store]\nurl = \"sqlite://{}\"\n{config}", store.display()),
        )
        .unwrap();
        cold.push(run_once(&binary, &path));
        warm.push(run_once(&binary, &path));
    }
    for (name, runs) in [("cold", &cold), ("warm", &warm)] {
        let wall = support::median(runs.iter().map(|r| r.wall).collect());
        let cpu = support::median(runs.iter().map(|r| r.cpu).collect());
        let rss = runs.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
        println!(
            "{name}: {wall:.2} s wall (median), {:.0} feeds/s, {cpu:.2} CPU s, peak RSS {rss:.0} MB (max over runs)",
            n as f64 / wall
        );
    }
}
