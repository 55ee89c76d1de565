//! The fetcher against a real HTTP server on loopback: conditional GET, redirects, caps,
//! decompression, timeouts and error classes.

use crate::support;

use std::time::{Duration, Instant};

use feed2threads::feed::fetch::{
    FetchConfig, FetchError, FetchOutcome, FetchRequest, FetchedBody, Fetcher,
};
use support::feed_server::{FeedServer, RSS_CONTENT_TYPE, Route};
use url::Url;

const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Test</title>
<item><guid>1</guid><title>Hello</title><link>https://example.com/1</link></item>
</channel></rss>"#;

const UA: &str = "feed2threads-test/1.0 (+https://example.test/bot)";
const MIB: usize = 1024 * 1024;
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

fn config() -> FetchConfig {
    FetchConfig {
        user_agent: UA.to_owned(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        max_body_bytes: 10 * MIB,
        max_redirects: 5,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(config()).unwrap()
}

fn get(url: &str) -> FetchRequest {
    FetchRequest::new(Url::parse(url).unwrap())
}

async fn fetched(fetcher: &Fetcher, request: &FetchRequest) -> FetchedBody {
    match fetcher.fetch(request).await {
        Ok(FetchOutcome::Fetched(body)) => body,
        other => panic!("expected a body, got {other:?}"),
    }
}

async fn failed(fetcher: &Fetcher, request: &FetchRequest) -> FetchError {
    match fetcher.fetch(request).await {
        Err(err) => err,
        Ok(outcome) => panic!("expected an error, got {outcome:?}"),
    }
}

// ---- conditional GET ----------------------------------------------------------------

#[tokio::test]
async fn validators_are_sent_back_and_304_is_not_modified() {
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(RSS).etag("\"v1\"").last_modified(LAST_MODIFIED),
    );
    let fetcher = fetcher();

    let first = fetched(&fetcher, &get(&server.url("/feed"))).await;
    assert_eq!(first.body, RSS.as_bytes());
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    assert_eq!(first.last_modified.as_deref(), Some(LAST_MODIFIED));
    assert_eq!(first.content_type.as_deref(), Some(RSS_CONTENT_TYPE));
    assert_eq!(first.final_url.as_str(), server.url("/feed"));
    assert_eq!(first.moved_permanently_to, None);
    assert_eq!(server.last_header("/feed", "if-none-match"), None);

    let again = FetchRequest {
        etag: first.etag.clone(),
        last_modified: first.last_modified.clone(),
        ..get(&server.url("/feed"))
    };
    let outcome = fetcher.fetch(&again).await.unwrap();
    assert!(
        matches!(outcome, FetchOutcome::NotModified { .. }),
        "{outcome:?}"
    );
    assert_eq!(server.hits("/feed"), 2);
    assert_eq!(
        server.last_header("/feed", "if-none-match").as_deref(),
        Some("\"v1\"")
    );
    assert_eq!(
        server.last_header("/feed", "if-modified-since").as_deref(),
        Some(LAST_MODIFIED)
    );
}

#[tokio::test]
async fn last_modified_alone_gives_304() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS).last_modified(LAST_MODIFIED));
    let request = FetchRequest {
        last_modified: Some(LAST_MODIFIED.to_owned()),
        ..get(&server.url("/feed"))
    };
    let outcome = fetcher().fetch(&request).await.unwrap();
    let FetchOutcome::NotModified { last_modified, .. } = outcome else {
        panic!("expected NotModified, got {outcome:?}");
    };
    assert_eq!(last_modified.as_deref(), Some(LAST_MODIFIED));
}

#[tokio::test]
async fn a_304_hands_back_the_new_last_modified() {
    let server = FeedServer::start().await;
    let newer = "Thu, 22 Oct 2015 08:00:00 GMT";
    server.set(
        "/feed",
        Route::feed(RSS).etag("\"v1\"").last_modified(newer),
    );
    let request = FetchRequest {
        etag: Some("\"v1\"".to_owned()),
        last_modified: Some(LAST_MODIFIED.to_owned()),
        ..get(&server.url("/feed"))
    };
    let outcome = fetcher().fetch(&request).await.unwrap();
    let FetchOutcome::NotModified { last_modified, .. } = outcome else {
        panic!("expected NotModified, got {outcome:?}");
    };
    assert_eq!(last_modified.as_deref(), Some(newer));
}

#[tokio::test]
async fn same_etag_on_a_200_is_not_modified() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS).etag("\"v1\"").ignore_validators());
    let request = FetchRequest {
        etag: Some("\"v1\"".to_owned()),
        ..get(&server.url("/feed"))
    };
    let outcome = fetcher().fetch(&request).await.unwrap();
    assert!(
        matches!(outcome, FetchOutcome::NotModified { .. }),
        "{outcome:?}"
    );

    // A weakened ETag (nginx does that when it compresses) is still the same version.
    server.set(
        "/feed",
        Route::feed(RSS).etag("W/\"v1\"").ignore_validators(),
    );
    let outcome = fetcher().fetch(&request).await.unwrap();
    assert!(
        matches!(outcome, FetchOutcome::NotModified { .. }),
        "{outcome:?}"
    );

    server.set("/feed", Route::feed(RSS).etag("\"v2\"").ignore_validators());
    let body = fetched(&fetcher(), &request).await;
    assert_eq!(body.etag.as_deref(), Some("\"v2\""));
}

#[tokio::test]
async fn expires_zero_means_no_validators() {
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(RSS)
            .etag("\"v1\"")
            .last_modified(LAST_MODIFIED)
            .header("Expires", "0"),
    );
    let body = fetched(&fetcher(), &get(&server.url("/feed"))).await;
    assert_eq!(body.etag, None);
    assert_eq!(body.last_modified, None);
    assert_eq!(body.cache.max_age, None);
}

#[tokio::test]
async fn cache_control_max_age_and_expires_become_hints() {
    let server = FeedServer::start().await;
    server.set(
        "/max-age",
        Route::feed(RSS)
            .etag("\"v1\"")
            .header("Cache-Control", "public, max-age=300, no-cache"),
    );
    let body = fetched(&fetcher(), &get(&server.url("/max-age"))).await;
    assert_eq!(body.cache.max_age, Some(Duration::from_secs(300)));
    assert_eq!(body.etag.as_deref(), Some("\"v1\""));

    // No Date header from this server: Expires is measured against our clock.
    let in_ten_minutes = chrono::Utc::now() + chrono::Duration::seconds(600);
    let expires = in_ten_minutes
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    server.set("/expires", Route::feed(RSS).header("Expires", &expires));
    let body = fetched(&fetcher(), &get(&server.url("/expires"))).await;
    let max_age = body.cache.max_age.expect("a max-age from Expires");
    assert!(
        (Duration::from_secs(590)..=Duration::from_secs(600)).contains(&max_age),
        "{max_age:?}"
    );
}

#[tokio::test]
async fn sends_user_agent_accept_and_accept_encoding() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS));
    fetched(&fetcher(), &get(&server.url("/feed"))).await;
    let request = server.last_request("/feed").unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.header("user-agent"), Some(UA));
    let accept = request.header("accept").unwrap();
    assert!(accept.starts_with("application/rss+xml"), "{accept}");
    assert!(accept.contains("application/feed+json"), "{accept}");
    let encodings = request.header("accept-encoding").unwrap();
    for enc in ["gzip", "br", "deflate"] {
        assert!(encodings.contains(enc), "{encodings}");
    }
}

// ---- decompression ------------------------------------------------------------------

#[tokio::test]
async fn gzip_deflate_and_brotli_bodies_are_decoded() {
    let server = FeedServer::start().await;
    server.set("/gzip", Route::feed(RSS).gzip());
    server.set("/deflate", Route::feed(RSS).deflate());
    server.set("/brotli", Route::feed(RSS).brotli());
    let fetcher = fetcher();
    for path in ["/gzip", "/deflate", "/brotli"] {
        let body = fetched(&fetcher, &get(&server.url(path))).await;
        assert_eq!(body.body, RSS.as_bytes(), "{path}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_what_content_encoding_says_is_other() {
    let server = FeedServer::start().await;
    server.set(
        "/alerts.xml",
        Route::feed(RSS).header("Content-Encoding", "gzip"),
    );
    let err = failed(&fetcher(), &get(&server.url("/alerts.xml"))).await;
    assert_eq!(err.class(), "other", "{err}");
    assert!(err.to_string().contains("decode"), "{err}");
}

#[tokio::test]
async fn the_test_gzip_bomb_is_a_valid_stream() {
    // Proves the bomb below is a real gzip stream, so its rejection is the cap's doing.
    let server = FeedServer::start().await;
    let len = 3 * MIB + 5;
    server.set("/small-bomb", Route::gzip_bomb(len as u64));
    let body = fetched(&fetcher(), &get(&server.url("/small-bomb"))).await;
    assert_eq!(body.body.len(), len);
    assert!(body.body.iter().all(|&b| b == 0));
}

// ---- size cap -----------------------------------------------------------------------

#[tokio::test]
async fn streamed_body_over_the_cap_stops_early() {
    let server = FeedServer::start().await;
    let total = 200 * MIB as u64;
    server.set("/huge", Route::huge(total));
    let fetcher = Fetcher::new(FetchConfig {
        max_body_bytes: MIB,
        ..config()
    })
    .unwrap();
    let err = failed(&fetcher, &get(&server.url("/huge"))).await;
    assert_eq!(err.class(), "too_large", "{err}");
    assert!(matches!(err, FetchError::TooLarge { limit } if limit == MIB));
    assert_eq!(
        err.to_string(),
        "response body exceeds 1 MiB; raise fetch.max_body_size if this feed is really that big"
    );
    // The server may fill socket buffers ahead of the client, but not much more.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        server.bytes_sent() < 64 * MIB as u64,
        "server wrote {} bytes",
        server.bytes_sent()
    );
}

#[tokio::test]
async fn declared_length_over_the_cap_fails_before_reading() {
    let server = FeedServer::start().await;
    server.set("/huge", Route::huge_with_length(20 * MIB as u64));
    let err = failed(&fetcher(), &get(&server.url("/huge"))).await;
    assert_eq!(err.class(), "too_large", "{err}");
    assert!(err.to_string().starts_with("response body exceeds 10 MiB"));
}

#[tokio::test]
async fn gzip_bomb_is_caught_by_the_cap_without_blowing_memory() {
    let server = FeedServer::start().await;
    // 4 GiB of zeros in about 4 MB: reading it whole would exhaust a CI runner.
    server.set("/bomb", Route::gzip_bomb(4 << 30));
    let err = failed(&fetcher(), &get(&server.url("/bomb"))).await;
    assert_eq!(err.class(), "too_large", "{err}");
    if let Some(peak) = peak_rss_bytes() {
        assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    }
}

/// VmHWM of this process, on Linux.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test]
async fn empty_or_blank_body_is_its_own_error() {
    let server = FeedServer::start().await;
    server.set("/empty", Route::feed(""));
    server.set("/blank", Route::feed(" \r\n\t\n"));
    server.set("/no-content", Route::status(204));
    let fetcher = fetcher();
    for path in ["/empty", "/blank", "/no-content"] {
        let err = failed(&fetcher, &get(&server.url(path))).await;
        assert_eq!(err.class(), "empty", "{path}: {err}");
    }
}

// ---- redirects ----------------------------------------------------------------------

#[tokio::test]
async fn permanent_redirects_report_the_new_home() {
    let server = FeedServer::start().await;
    server.set("/old", Route::redirect(301, "/older-still"));
    server.set("/older-still", Route::redirect(308, &server.url("/new")));
    server.set("/new", Route::feed(RSS));
    let body = fetched(&fetcher(), &get(&server.url("/old"))).await;
    assert_eq!(body.final_url.as_str(), server.url("/new"));
    assert_eq!(
        body.moved_permanently_to.as_ref().map(Url::as_str),
        Some(server.url("/new").as_str())
    );
    assert_eq!(server.hits("/old"), 1);
    assert_eq!(server.hits("/older-still"), 1);
    assert_eq!(server.hits("/new"), 1);
}

#[tokio::test]
async fn a_temporary_hop_means_the_feed_did_not_move() {
    let server = FeedServer::start().await;
    server.set("/a", Route::redirect(301, "/b"));
    server.set("/b", Route::redirect(302, "/c"));
    server.set("/c", Route::redirect(308, "/feed"));
    server.set("/feed", Route::feed(RSS));
    server.set("/temp", Route::redirect(307, "feed"));
    let fetcher = fetcher();

    let body = fetched(&fetcher, &get(&server.url("/a"))).await;
    assert_eq!(body.final_url.as_str(), server.url("/feed"));
    assert_eq!(body.moved_permanently_to, None);

    let body = fetched(&fetcher, &get(&server.url("/temp"))).await;
    assert_eq!(body.final_url.as_str(), server.url("/feed"));
    assert_eq!(body.moved_permanently_to, None);
}

#[tokio::test]
async fn conditional_headers_follow_redirects() {
    let server = FeedServer::start().await;
    server.set("/old", Route::redirect(301, "/new"));
    server.set("/new", Route::feed(RSS).etag("\"v1\""));
    let request = FetchRequest {
        etag: Some("\"v1\"".to_owned()),
        ..get(&server.url("/old"))
    };
    let outcome = fetcher().fetch(&request).await.unwrap();
    assert!(
        matches!(outcome, FetchOutcome::NotModified { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn redirect_loop_is_reported_as_such() {
    let server = FeedServer::start().await;
    server.set("/a", Route::redirect(302, "/b"));
    server.set("/b", Route::redirect(302, "/a"));
    let err = failed(&fetcher(), &get(&server.url("/a"))).await;
    assert_eq!(err.class(), "too_many_redirects");
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("redirect loop back to {}", server.url("/a"))
    );
    assert_eq!(server.hits("/a"), 1);
}

#[tokio::test]
async fn at_most_five_redirects() {
    let server = FeedServer::start().await;
    // /r6 → /r5 → … → /r1 → /feed: six hops from /r6, five from /r5.
    for i in 1..=6 {
        let next = if i == 1 {
            "/feed".to_owned()
        } else {
            format!("/r{}", i - 1)
        };
        server.set(&format!("/r{i}"), Route::redirect(301, &next));
    }
    server.set("/feed", Route::feed(RSS));
    let fetcher = fetcher();

    let body = fetched(&fetcher, &get(&server.url("/r5"))).await;
    assert_eq!(body.final_url.as_str(), server.url("/feed"));
    assert!(body.moved_permanently_to.is_some());

    let err = failed(&fetcher, &get(&server.url("/r6"))).await;
    assert_eq!(err.class(), "too_many_redirects");
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 5, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirect_to_another_scheme_is_an_invalid_url() {
    let server = FeedServer::start().await;
    server.set("/ftp", Route::redirect(301, "ftp://example.com/feed"));
    let err = failed(&fetcher(), &get(&server.url("/ftp"))).await;
    assert_eq!(err.class(), "invalid_url", "{err}");

    let err = failed(&fetcher(), &get("ftp://example.com/feed")).await;
    assert_eq!(err.class(), "invalid_url", "{err}");
}

// ---- timeouts and network -----------------------------------------------------------

#[tokio::test]
async fn stall_after_headers_times_out_within_the_budget() {
    let server = FeedServer::start().await;
    server.set("/stall", Route::stall_after_headers());
    let fetcher = Fetcher::new(FetchConfig {
        timeout: Duration::from_millis(500),
        ..config()
    })
    .unwrap();
    let started = Instant::now();
    let err = failed(&fetcher, &get(&server.url("/stall"))).await;
    let elapsed = started.elapsed();
    assert_eq!(err.class(), "timeout", "{err}");
    assert_eq!(err.to_string(), "no complete response within 500ms");
    // The budget was spent, not cut short; and it ended the wait: the server never
    // finishes its body, so only the timeout can have answered.
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
}

#[tokio::test]
async fn slow_headers_time_out_too() {
    let server = FeedServer::start().await;
    server.set("/slow", Route::feed(RSS).delay(Duration::from_secs(30)));
    let fetcher = Fetcher::new(FetchConfig {
        timeout: Duration::from_millis(500),
        ..config()
    })
    .unwrap();
    let err = failed(&fetcher, &get(&server.url("/slow"))).await;
    // The server answers after 30 s, with a good feed: only the timeout makes this fail.
    assert_eq!(err.class(), "timeout", "{err}");
    assert_eq!(err.to_string(), "no complete response within 500ms");
}

#[tokio::test]
async fn connection_refused_is_connect() {
    // Bind, note the port, close: nothing listens there any more.
    let port = support::free_addr().port();
    let err = failed(&fetcher(), &get(&format!("http://127.0.0.1:{port}/feed"))).await;
    assert_eq!(err.class(), "connect", "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn unresolvable_host_is_dns() {
    // `.invalid` never resolves (RFC 6761).
    let err = failed(&fetcher(), &get("http://feeds.example.invalid/rss")).await;
    assert_eq!(err.class(), "dns", "{err}");
    assert!(err.to_string().contains("feeds.example.invalid"), "{err}");
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_tls() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS));
    let url = format!("https://{}/feed", server.addr());
    let err = failed(&fetcher(), &get(&url)).await;
    assert_eq!(err.class(), "tls", "{err}");
}

#[tokio::test]
async fn hang_up_without_answer_is_network() {
    let server = FeedServer::start().await;
    server.set("/hang-up", Route::hang_up());
    let err = failed(&fetcher(), &get(&server.url("/hang-up"))).await;
    assert_eq!(err.class(), "network", "{err}");
}

// ---- statuses -----------------------------------------------------------------------

#[tokio::test]
async fn statuses_are_classified() {
    let server = FeedServer::start().await;
    server.set("/404", Route::status(404).body("nope"));
    server.set("/410", Route::status(410));
    server.set("/500", Route::status(500));
    server.set("/502", Route::status(502));
    server.set("/401", Route::status(401));
    server.set(
        "/403-json",
        Route::status(403).content_type("application/json"),
    );
    let fetcher = fetcher();
    let cases = [
        ("/404", "not_found", "HTTP 404 Not Found"),
        ("/410", "gone", "HTTP 410 Gone"),
        ("/500", "server_error", "HTTP 500 Internal Server Error"),
        ("/502", "server_error", "HTTP 502 Bad Gateway"),
        ("/401", "http_status", "HTTP 401 Unauthorized"),
        ("/403-json", "http_status", "HTTP 403 Forbidden"),
        ("/missing", "not_found", "HTTP 404 Not Found"),
    ];
    for (path, class, message) in cases {
        let err = failed(&fetcher, &get(&server.url(path))).await;
        assert_eq!(err.class(), class, "{path}");
        assert_eq!(err.to_string(), message, "{path}");
        assert_eq!(err.retry_after(), None, "{path}");
    }
}

#[tokio::test]
async fn retry_after_is_parsed_for_429_and_503() {
    let server = FeedServer::start().await;
    server.set("/429", Route::status(429).header("Retry-After", "120"));
    server.set("/503", Route::status(503).header("Retry-After", "3600"));
    server.set("/503-bare", Route::status(503));
    let in_a_minute = chrono::Utc::now() + chrono::Duration::seconds(90);
    let date = in_a_minute.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    server.set("/429-date", Route::status(429).header("Retry-After", &date));
    let fetcher = fetcher();

    let err = failed(&fetcher, &get(&server.url("/429"))).await;
    assert_eq!(err.class(), "rate_limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(err.to_string(), "server asked us to wait 2m (HTTP 429)");

    let err = failed(&fetcher, &get(&server.url("/503"))).await;
    assert_eq!(err.class(), "unavailable");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));

    let err = failed(&fetcher, &get(&server.url("/503-bare"))).await;
    assert_eq!(err.class(), "unavailable");
    assert_eq!(err.retry_after(), None);
    assert_eq!(err.to_string(), "service unavailable (HTTP 503)");

    let err = failed(&fetcher, &get(&server.url("/429-date"))).await;
    assert_eq!(err.class(), "rate_limited");
    let wait = err.retry_after().expect("a delay from the HTTP-date");
    assert!(
        (Duration::from_secs(80)..=Duration::from_secs(90)).contains(&wait),
        "{wait:?}"
    );
}

#[tokio::test]
async fn bot_protection_is_recognised_and_names_our_user_agent() {
    let server = FeedServer::start().await;
    let challenge = "<!DOCTYPE html><html><title>Just a moment...</title></html>";
    server.set(
        "/cf",
        Route::status(403)
            .content_type("text/html; charset=UTF-8")
            .header("cf-mitigated", "challenge")
            .header("Server", "cloudflare")
            .body(challenge),
    );
    server.set(
        "/akamai",
        Route::status(403)
            .content_type("text/html")
            .header("Server", "AkamaiGHost")
            .body("<html>Access Denied</html>"),
    );
    server.set(
        "/html-403",
        Route::status(403)
            .content_type("text/html")
            .body("<html>no</html>"),
    );
    let fetcher = fetcher();

    let err = failed(&fetcher, &get(&server.url("/cf"))).await;
    assert_eq!(err.class(), "bot_protection");
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP 403 Forbidden from bot protection (cloudflare); \
             ask the publisher to allow-list our User-Agent \"{UA}\""
        )
    );
    let err = failed(&fetcher, &get(&server.url("/akamai"))).await;
    assert_eq!(err.class(), "bot_protection");
    assert!(err.to_string().contains("(akamai)"), "{err}");
    let err = failed(&fetcher, &get(&server.url("/html-403"))).await;
    assert_eq!(err.class(), "bot_protection");
    assert_eq!(err.status(), Some(403));
}

// ---- the server itself, as the poll benchmark will use it -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_mode_serves_many_paths_concurrently_with_keep_alive() {
    let server = FeedServer::start().await;
    let paths: Vec<String> = (0..2000).map(|i| format!("/feeds/{i}.xml")).collect();
    server.set_many(
        paths
            .iter()
            .map(|p| (p.clone(), Route::feed(RSS).etag(&format!("\"{p}\"")))),
    );
    let fetcher = fetcher();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for path in &paths {
        let (fetcher, url, semaphore) = (fetcher.clone(), server.url(path), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.unwrap();
            fetcher.fetch(&get(&url)).await
        });
    }
    let mut ok = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(FetchOutcome::Fetched(body)) => {
                assert_eq!(body.body, RSS.as_bytes());
                ok += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, paths.len());
    assert_eq!(server.total_requests(), paths.len());
    assert!(
        server.connections() <= 400,
        "{} connections for {} requests: keep-alive is not working",
        server.connections(),
        paths.len()
    );
}

#[tokio::test]
async fn routes_can_change_between_polls() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS).etag("\"v1\""));
    let fetcher = fetcher();
    let first = fetched(&fetcher, &get(&server.url("/feed"))).await;
    let request = FetchRequest {
        etag: first.etag,
        ..get(&server.url("/feed"))
    };
    server.set("/feed", Route::feed("<rss>v2</rss>").etag("\"v2\""));
    let second = fetched(&fetcher, &request).await;
    assert_eq!(second.body, "<rss>v2</rss>".as_bytes());
    assert_eq!(second.etag.as_deref(), Some("\"v2\""));
    assert_eq!(server.hits("/feed"), 2);
}

#[tokio::test]
async fn servers_can_stand_for_distinct_hosts() {
    let other = FeedServer::start_on("127.0.0.2".parse().unwrap()).await;
    other.set("/feed", Route::feed(RSS));
    assert!(other.url("/feed").starts_with("http://127.0.0.2:"));
    let body = fetched(&fetcher(), &get(&other.url("/feed"))).await;
    assert_eq!(body.body, RSS.as_bytes());
    assert_eq!(
        other.last_header("/feed", "host"),
        Some(other.addr().to_string())
    );
}
