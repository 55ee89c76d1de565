//! Cluster benchmark (issue 14, not a test): N local feeds (20,000 by default) built from
//! the corpus as the poll benchmark builds them, polled by the real binary in daemon mode
//! (`run`, stopped with SIGTERM once the feed server has answered every feed) on:
//! SQLite with one daemon, PostgreSQL with one daemon, PostgreSQL with two daemons on one
//! database. A cold cycle (fresh store, every item new, backlog "skip"), then a warm one
//! (every feed made due again; every feed answers 304).
//!
//!     cargo build --release
//!     BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench cluster -- 20000 1
//!
//! The PostgreSQL URL comes from BENCH_PG, else FEED2THREADS_TEST_PG (a user that may
//! create databases); each setup gets a database of its own. Without either, SQLite only.
//! Prints, per setup and cycle: wall time, feeds/s, each daemon's CPU seconds, peak RSS
//! and polls (from its stop line, read from /proc), CPU seconds per 1,000 feeds, and the
//! database server's CPU seconds (its processes' utime+stime, exited backends included
//! through the postmaster's cutime+cstime: run it on a cluster of its own). Each feed
//! must be fetched exactly once per cycle across the daemons: counted at the feed server,
//! and the benchmark panics if not.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use bytes::Bytes;
use feed2threads::store::Store;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const HOSTS: usize = 8;

/// The feeds and how often each was fetched.
struct Feeds {
    docs: Vec<Bytes>,
    hits: Vec<AtomicU32>,
    total: AtomicU32,
}

impl Feeds {
    fn reset(&self) {
        for h in &self.hits {
            h.store(0, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
    }

    /// Feeds fetched more than once, and never.
    fn misses(&self) -> (usize, usize) {
        let counts: Vec<u32> = self
            .hits
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect();
        (
            counts.iter().filter(|&&c| c > 1).count(),
            counts.iter().filter(|&&c| c == 0).count(),
        )
    }
}

async fn serve(
    State(feeds): State<Arc<Feeds>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let index = name
        .strip_prefix('f')
        .and_then(|n| n.strip_suffix(".xml"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&i| i < feeds.docs.len());
    let Some(i) = index else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    feeds.hits[i].fetch_add(1, Ordering::Relaxed);
    feeds.total.fetch_add(1, Ordering::Relaxed);
    let etag = format!("\"{name}-v1\"");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str());
    let builder = Response::builder().header(header::ETAG, etag);
    if unchanged {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap();
    }
    builder
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(feeds.docs[i].clone()))
        .unwrap()
}

/// One setup: a store and the daemons on it.
struct Setup {
    name: &'static str,
    url: String,
    nodes: Vec<&'static str>,
    /// PostgreSQL: the data directory, for the server's CPU time.
    pg_data: Option<PathBuf>,
}

/// What one daemon said when it stopped.
#[derive(Debug, Default, Clone)]
struct Stopped {
    cpu: f64,
    rss: f64,
    polls: u64,
}

/// One cycle's figures.
struct Cycle {
    wall: f64,
    daemons: Vec<Stopped>,
    db_cpu: Option<f64>,
}

/// The database server's CPU seconds so far: the postmaster's own and its reaped
/// children's (utime, stime, cutime, cstime), plus every live child's own.
fn pg_cpu(data: &std::path::Path) -> f64 {
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).expect("postmaster.pid");
    let postmaster: u32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let pid: u32 = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let ppid: u32 = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if pid == postmaster || ppid == postmaster {
            // After ')': utime is index 11, stime 12, cutime 13, cstime 14.
            ticks += (11..=14)
                .filter_map(|i| f.get(i).and_then(|s| s.parse::<u64>().ok()))
                .sum::<u64>();
        }
    }
    ticks as f64 / 100.0
}

fn spawn_daemon(
    binary: &std::path::Path,
    config: &std::path::Path,
    log: &std::path::Path,
) -> Child {
    support::daemon_args(&mut Command::new(binary), config, &["run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start the daemon")
}

/// The daemon's stop line ("feed2threads stopped", with its own CPU and peak RSS).
fn stopped(log: &std::path::Path) -> Stopped {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("feed2threads stopped"))
        })
        .unwrap_or_else(|| panic!("no stop line in {}:\n{text}", log.display()));
    Stopped {
        cpu: line["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        rss: line["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        polls: line["polls"].as_u64().unwrap_or(0),
    }
}

/// Starts the setup's daemons, waits until the feed server answered every feed, stops
/// them with SIGTERM and waits for them.
fn run_cycle(
    setup: &Setup,
    feeds: &Feeds,
    binary: &std::path::Path,
    dir: &std::path::Path,
    tag: &str,
) -> Cycle {
    feeds.reset();
    let n = feeds.docs.len() as u32;
    let db_before = setup.pg_data.as_deref().map(pg_cpu);
    let start = Instant::now();
    let mut daemons: Vec<(Child, PathBuf)> = setup
        .nodes
        .iter()
        .map(|node| {
            let config = dir.join(format!("{}-{node}.toml", setup.name));
            let log = dir.join(format!("{}-{node}-{tag}.log", setup.name));
            (spawn_daemon(binary, &config, &log), log)
        })
        .collect();
    while feeds.total.load(Ordering::Relaxed) < n {
        for (child, log) in &mut daemons {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&*log).unwrap_or_default();
                panic!("a daemon ended early ({status}):\n{text}");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (child, _) in &daemons {
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    for (child, _) in &mut daemons {
        let status = child.wait().unwrap();
        assert!(status.success(), "a daemon failed: {status}");
    }
    let wall = start.elapsed().as_secs_f64();
    let db_cpu = setup
        .pg_data
        .as_deref()
        .map(|d| pg_cpu(d) - db_before.unwrap_or(0.0));
    let (twice, never) = feeds.misses();
    assert!(
        twice == 0 && never == 0,
        "{} {tag}: {twice} feeds fetched more than once, {never} never (of {n})",
        setup.name
    );
    Cycle {
        wall,
        daemons: daemons.iter().map(|(_, log)| stopped(log)).collect(),
        db_cpu,
    }
}

/// Makes every feed due now (the warm cycle polls each again, answered 304).
async fn make_all_due(url: &str) {
    let store = Store::open(url).await.expect("open the store");
    let rows = store.list_feeds().await.unwrap();
    for row in &rows {
        assert!(
            row.last_polled_at.is_some(),
            "feed {} was never polled",
            row.name
        );
    }
    // Many at once: on SQLite each write waits for its group commit (~20 ms), so one after
    // another 20,000 took about 400 s; at once they share the commits.
    for chunk in rows.chunks(1000) {
        let writes = chunk.iter().map(|row| store.set_next_check(row.id, 0));
        for done in futures_util::future::join_all(writes).await {
            done.unwrap();
        }
    }
    store.close().await;
}

/// A fresh database in the cluster of `admin`; its URL and data directory.
async fn create_pg_database(admin: &str, name: &str) -> (String, PathBuf) {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = admin
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .expect("connect to BENCH_PG");
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let data: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    (url.to_string(), PathBuf::from(data))
}

async fn drop_pg_database(admin: &str, url: &str) {
    use sqlx::{ConnectOptions, Connection};
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = admin
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    let _ = conn.close().await;
}

fn write_configs(setup: &Setup, feeds_toml: &str, dir: &std::path::Path) {
    for node in &setup.nodes {
        let config = format!(
            "[store]\nurl = \"{}\"\nnode = \"{node}\"\n{feeds_toml}",
            setup.url
        );
        std::fs::write(dir.join(format!("{}-{node}.toml", setup.name)), config).unwrap();
    }
}

/// The accounts and feeds part of the config: `n` feeds over `ports`, polled every 30
/// minutes (no second poll within a cycle), the API a closed port (backlog "skip": nothing
/// to publish, the token check fails harmlessly).
fn feeds_toml(n: usize, ports: &[std::net::SocketAddr]) -> String {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = format!(
        "[threads]\napi_base = \"http://127.0.0.1:{closed_port}\"\n[http]\nlisten = \"off\"\n[defaults]\nbacklog = \"skip\"\nmax_age = \"off\"\nevery = \"30m\"\n[[accounts]]\nname = \"bench\"\naccess_token = \"bench-token\"\n",
    );
    for i in 0..n {
        let addr = ports[i % ports.len()];
        config.push_str(&format!(
            "[[feeds]]\nname = \"f{i}\"\nurl = \"http://{addr}/f{i}.xml\"\n"
        ));
    }
    config
}

fn report(setup: &Setup, tag: &str, n: usize, runs: &[Cycle]) {
    let wall = support::median(runs.iter().map(|r| r.wall).collect());
    let cpus: Vec<f64> = runs
        .iter()
        .map(|r| r.daemons.iter().map(|d| d.cpu).sum())
        .collect();
    let cpu = support::median(cpus);
    let rss = runs
        .iter()
        .flat_map(|r| r.daemons.iter().map(|d| d.rss))
        .fold(0.0, f64::max);
    let per_daemon: Vec<String> = runs
        .last()
        .unwrap()
        .daemons
        .iter()
        .zip(&setup.nodes)
        .map(|(d, node)| {
            format!(
                "{node}: {:.2} CPU s, {} polls, {:.0} MB",
                d.cpu, d.polls, d.rss
            )
        })
        .collect();
    let db = runs.iter().filter_map(|r| r.db_cpu).collect::<Vec<_>>();
    let db = if db.is_empty() {
        "-".to_string()
    } else {
        format!("{:.2}", support::median(db))
    };
    println!(
        "{:<12} {tag:<4} wall {wall:>7.2} s  {:>6.0} feeds/s  daemons {cpu:>7.2} CPU s ({:.3} per 1,000 feeds)  peak RSS {rss:>4.0} MB  db server {db} CPU s  [{}]",
        setup.name,
        n as f64 / wall,
        cpu / n as f64 * 1000.0,
        per_daemon.join("; ")
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let (docs, sources) = support::feeds::build(n);
    let megabytes = docs.iter().map(|d| d.len()).sum::<usize>() as f64 / 1e6;
    let feeds = Arc::new(Feeds {
        hits: (0..n).map(|_| AtomicU32::new(0)).collect(),
        docs,
        total: AtomicU32::new(0),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = Router::new()
        .route("/{name}", axum::routing::get(serve))
        .with_state(feeds.clone());
    let ports = support::serve_on_loopback(&rt, HOSTS, app);
    let binary = support::daemon_binary();
    let dir = tempfile::tempdir().unwrap();
    let toml = feeds_toml(n, &ports);
    let pg = std::env::var("BENCH_PG")
        .or_else(|_| std::env::var("FEED2THREADS_TEST_PG"))
        .ok();
    if pg.is_none() {
        println!("BENCH_PG / FEED2THREADS_TEST_PG not set: SQLite only");
    }
    println!(
        "{n} feeds from {sources} corpus files, {megabytes:.1} MB; {runs} run(s) per cycle; load average {}",
        load_average()
    );
    // Per setup (in order) and cycle, every run's figures.
    let mut all: Vec<(Setup, Vec<Cycle>, Vec<Cycle>)> = Vec::new();
    for run in 0..runs {
        for (i, setup) in setups(&rt, pg.as_deref(), dir.path(), run)
            .into_iter()
            .enumerate()
        {
            write_configs(&setup, &toml, dir.path());
            let cold = run_cycle(&setup, &feeds, &binary, dir.path(), "cold");
            report(&setup, "cold", n, std::slice::from_ref(&cold));
            rt.block_on(make_all_due(&setup.url));
            let warm = run_cycle(&setup, &feeds, &binary, dir.path(), "warm");
            report(&setup, "warm", n, std::slice::from_ref(&warm));
            if let Some(admin) = pg.as_deref().filter(|_| setup.pg_data.is_some()) {
                rt.block_on(drop_pg_database(admin, &setup.url));
            }
            if run == 0 {
                all.push((setup, Vec::new(), Vec::new()));
            }
            all[i].1.push(cold);
            all[i].2.push(warm);
        }
    }
    if runs > 1 {
        println!("medians of {runs} runs (peak RSS: the largest):");
        for (setup, cold, warm) in &all {
            report(setup, "cold", n, cold);
            report(setup, "warm", n, warm);
        }
    }
    println!("load average after: {}", load_average());
}

/// The setups of run `run`, each on a fresh store.
fn setups(
    rt: &tokio::runtime::Runtime,
    pg: Option<&str>,
    dir: &std::path::Path,
    run: usize,
) -> Vec<Setup> {
    let mut out = vec![Setup {
        name: "sqlite",
        url: format!("sqlite://{}", dir.join(format!("bench-{run}.db")).display()),
        nodes: vec!["bench-a"],
        pg_data: None,
    }];
    if let Some(admin) = pg {
        for (name, nodes) in [
            ("pg-1-daemon", vec!["bench-a"]),
            ("pg-2-daemons", vec!["bench-a", "bench-b"]),
        ] {
            let (url, data) = rt.block_on(create_pg_database(
                admin,
                &format!("f2t_bench_{}_{run}", nodes.len()),
            ));
            out.push(Setup {
                name,
                url,
                nodes,
                pg_data: Some(data),
            });
        }
    }
    out
}
