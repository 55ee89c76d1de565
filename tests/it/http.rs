//! The operations endpoint over real HTTP: `/healthz` follows the run loop's pulse and the
//! store, `/metrics` is a Prometheus exposition that parses and holds what was recorded.

use feed2threads::http::{self, HttpState, Liveness};
use feed2threads::metrics;
use feed2threads::store::{Store, now_unix};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    liveness: Liveness,
    store: Store,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), http::HttpError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("f2t.db").display()))
        .await
        .unwrap();
    let handle = metrics::install().unwrap();
    let liveness = Liveness::new();
    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let state = HttpState::new(store.clone(), liveness.clone(), handle);
    let task = tokio::spawn(http::serve_on(listener, state, shutdown.clone()));
    Server {
        addr,
        liveness,
        store,
        shutdown,
        task,
        _dir: dir,
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, resp.text().await.unwrap())
}

/// One sample of the exposition: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// Parses the text exposition format strictly enough to catch a broken one: every line is a
/// `# HELP`/`# TYPE` comment or `name{k="v",...} value`.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "unexpected comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), HashMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = HashMap::new();
                for pair in split_labels(body) {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label {pair} in {line}"));
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label value in {line}"));
                    labels.insert(k.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\"));
                }
                (name.to_string(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// Splits `a="x",b="y, z"` at the commas outside quotes.
fn split_labels(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in body.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && s.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, name, labels)
        .unwrap_or_else(|| panic!("{name} {labels:?} missing from {samples:#?}"))
        .value
}

#[tokio::test]
async fn healthz_follows_the_loop_and_the_store() {
    let server = start().await;
    let (status, ctype, body) = get(server.addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    assert!(body.starts_with("ok"), "{body}");

    // The loop has not ticked for five minutes: 503, and the body says why.
    server.liveness.beat_at(now_unix() - 300);
    let (status, _, body) = get(server.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    // 300 s, or 301 when a second boundary passes between the beat and the request.
    assert!(
        body.contains("last ticked 300s ago") || body.contains("last ticked 301s ago"),
        "{body}"
    );

    server.liveness.beat();
    assert_eq!(get(server.addr, "/healthz").await.0, 200);

    // The store stops answering: 503.
    server.store.close().await;
    let (status, _, body) = get(server.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store"), "{body}");

    // Shutdown stops the server promptly and cleanly.
    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("the server did not stop")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{}/healthz", server.addr))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn metrics_exposition_parses_and_holds_what_was_recorded() {
    // Labels no other test uses: the recorder is process-wide, and tests that run a daemon
    // (or publish beside one) record into it too.
    let server = start().await;
    metrics::record_fetch("exposition-world", "new", Duration::from_millis(300));
    metrics::record_fetch("exposition-world", "new", Duration::from_millis(700));
    metrics::record_fetch("exposition-world", "timeout", Duration::from_secs(20));
    // A feed without a name is labelled by its URL minus the query string.
    metrics::record_fetch(
        "https://example.org/rss.xml?session=abc123&utm_source=x",
        "not_modified",
        Duration::from_millis(40),
    );
    metrics::record_new_items("exposition-world", 5);
    metrics::record_held("exposition-world", 2);
    metrics::record_published("exposition-newsroom");
    metrics::record_published("exposition-newsroom");
    metrics::record_publish_failed("exposition-newsroom", "quota spent");
    metrics::set_queue_depth("exposition-newsroom", 7);
    metrics::set_quota_remaining("exposition-newsroom", 243);
    metrics::set_token_expiry("exposition-newsroom", 1_900_000_000);
    metrics::record_publish_duration("exposition-newsroom", Duration::from_secs(42));
    metrics::record_api_error(368);
    metrics::record_reply_published("exposition-newsroom");
    metrics::record_dropped("exposition-newsroom", "overflow");
    metrics::set_outbox_posts("exposition-newsroom", "waiting_window", 3);
    server.liveness.beat();

    let (status, ctype, body) = get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let samples = parse_exposition(&body);

    let fetches = "feed2threads_fetches_total";
    assert_eq!(
        value(
            &samples,
            fetches,
            &[("feed", "exposition-world"), ("result", "new")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            fetches,
            &[("feed", "exposition-world"), ("result", "timeout")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            fetches,
            &[("feed", "example.org/rss.xml"), ("result", "not_modified")]
        ),
        1.0
    );
    assert!(
        !body.contains("session=abc123"),
        "a query string reached a label"
    );

    // Fetch duration is a real histogram: cumulative buckets, sum and count.
    let d = "feed2threads_fetch_duration_seconds";
    assert_eq!(
        value(
            &samples,
            &format!("{d}_bucket"),
            &[("feed", "exposition-world"), ("le", "0.5")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("{d}_bucket"),
            &[("feed", "exposition-world"), ("le", "1")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("{d}_bucket"),
            &[("feed", "exposition-world"), ("le", "+Inf")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("{d}_count"),
            &[("feed", "exposition-world")]
        ),
        3.0
    );
    assert!(
        (value(
            &samples,
            &format!("{d}_sum"),
            &[("feed", "exposition-world")]
        ) - 21.0)
            .abs()
            < 1e-9
    );

    assert_eq!(
        value(
            &samples,
            "feed2threads_new_items_total",
            &[("feed", "exposition-world")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_held_items_total",
            &[("feed", "exposition-world")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_posts_published_total",
            &[("account", "exposition-newsroom")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_posts_failed_total",
            &[
                ("account", "exposition-newsroom"),
                ("reason", "quota spent")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_queue_depth",
            &[("account", "exposition-newsroom")]
        ),
        7.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_quota_remaining",
            &[("account", "exposition-newsroom")]
        ),
        243.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_token_expiry_timestamp_seconds",
            &[("account", "exposition-newsroom")]
        ),
        1_900_000_000.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_publish_duration_seconds_count",
            &[("account", "exposition-newsroom")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_api_errors_total",
            &[("code", "368")]
        ),
        1.0
    );
    let tick = value(&samples, "feed2threads_last_tick_timestamp_seconds", &[]);
    assert!((tick - now_unix() as f64).abs() < 60.0);
    assert_eq!(
        value(
            &samples,
            "feed2threads_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "feed2threads_outbox_posts",
            &[
                ("account", "exposition-newsroom"),
                ("state", "waiting_window")
            ]
        ),
        3.0
    );
    // Every metric that has samples is described.
    assert!(
        body.contains("# HELP feed2threads_fetches_total "),
        "{body}"
    );
    assert!(
        body.contains("# TYPE feed2threads_fetch_duration_seconds histogram"),
        "{body}"
    );
    // Every name the module defines is in the exposition once recorded.
    for name in metrics::ALL {
        assert!(
            samples.iter().any(|s| s.name.starts_with(name)),
            "{name} missing"
        );
    }
    server.shutdown.cancel();
}

#[tokio::test]
async fn a_busy_address_is_a_clear_error() {
    let first = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let err = http::bind(addr).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("http.listen: cannot listen on {addr}")),
        "{err}"
    );
    assert!(err.contains("\"off\""), "{err}");
}
