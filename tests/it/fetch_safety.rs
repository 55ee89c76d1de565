//! Safe fetching against real HTTP on loopback: a permanent redirect to another site is
//! followed but not remembered, a guarded fetcher (what `preview URL` uses) refuses
//! loopback, private and link-local hosts (also behind a name or a redirect) without
//! connecting to them, and feed URLs' credentials never reach an error message.
//! (The https → http rule needs TLS, so it is tested on the redirect rules directly, in
//! `feed::fetch`'s unit tests.)

use crate::support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use feed2threads::feed::address::{AddressGuard, NonPublic};
use feed2threads::feed::fetch::{FetchConfig, FetchError, FetchOutcome, FetchRequest, Fetcher};
use support::feed_server::{FeedServer, Route};
use url::Url;

const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Safety</title>
<item><guid>1</guid><title>Hello from loopback</title><link>https://example.com/1</link></item>
</channel></rss>"#;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn config() -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..FetchConfig::default()
    }
}

fn get(url: &str) -> FetchRequest {
    FetchRequest::new(Url::parse(url).unwrap())
}

async fn failed(fetcher: &Fetcher, url: &str) -> FetchError {
    match fetcher.fetch(&get(url)).await {
        Err(err) => err,
        Ok(outcome) => panic!("expected an error for {url}, got {outcome:?}"),
    }
}

fn refused_kind(err: &FetchError) -> NonPublic {
    match err {
        FetchError::PrivateAddress { refused, .. } => refused.kind,
        other => panic!("expected a private_address refusal, got {other:?}"),
    }
}

// ---- permanent redirects and the site they lead to --------------------------------------

#[tokio::test]
async fn a_permanent_redirect_to_another_site_is_followed_but_not_remembered() {
    let home = FeedServer::start().await;
    let elsewhere = FeedServer::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    elsewhere.set("/feed", Route::feed(RSS));
    home.set("/feed", Route::redirect(301, &elsewhere.url("/feed")));

    let outcome = Fetcher::new(config())
        .unwrap()
        .fetch(&get(&home.url("/feed")))
        .await
        .unwrap();
    let FetchOutcome::Fetched(body) = outcome else {
        panic!("expected a body, got {outcome:?}");
    };
    // Followed for this fetch …
    assert_eq!(body.body, RSS.as_bytes());
    assert_eq!(body.final_url.as_str(), elsewhere.url("/feed"));
    // … but not a new address for the feed: the configured URL stays.
    assert_eq!(body.moved_permanently_to, None);
    assert_eq!(elsewhere.hits("/feed"), 1);
}

#[tokio::test]
async fn a_permanent_redirect_within_the_site_is_remembered() {
    let server = FeedServer::start().await;
    server.set("/old.xml", Route::redirect(308, "/new.xml"));
    server.set("/new.xml", Route::feed(RSS));
    let outcome = Fetcher::new(config())
        .unwrap()
        .fetch(&get(&server.url("/old.xml")))
        .await
        .unwrap();
    let FetchOutcome::Fetched(body) = outcome else {
        panic!("expected a body, got {outcome:?}");
    };
    assert_eq!(
        body.moved_permanently_to.map(String::from),
        Some(server.url("/new.xml"))
    );
}

// ---- the address guard ------------------------------------------------------------------

#[tokio::test]
async fn a_guarded_fetcher_refuses_loopback_without_connecting() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS));
    let guarded = Fetcher::guarded(config(), AddressGuard::public_only()).unwrap();

    let err = failed(&guarded, &server.url("/feed")).await;
    assert_eq!(err.class(), "private_address");
    assert_eq!(refused_kind(&err), NonPublic::Loopback);
    assert_eq!(
        err.to_string(),
        format!(
            "refused to fetch {}: 127.0.0.1 is a loopback address; only public addresses are \
             fetched here",
            server.url("/feed")
        )
    );
    assert_eq!(server.total_requests(), 0);
    assert_eq!(server.connections(), 0);

    // The unguarded fetcher (configured feeds) reaches it.
    let ok = Fetcher::new(config())
        .unwrap()
        .fetch(&get(&server.url("/feed")))
        .await;
    assert!(matches!(ok, Ok(FetchOutcome::Fetched(_))), "{ok:?}");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS));
    let guarded = Fetcher::guarded(config(), AddressGuard::public_only()).unwrap();
    let url = format!("http://localhost:{}/feed", server.addr().port());

    let err = failed(&guarded, &url).await;
    assert_eq!(err.class(), "private_address", "{err}");
    assert_eq!(refused_kind(&err), NonPublic::Loopback);
    let message = err.to_string();
    assert!(message.contains("localhost resolves to"), "{message}");
    assert!(message.contains("a loopback address"), "{message}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn ipv6_and_mapped_loopback_are_refused() {
    let guarded = Fetcher::guarded(config(), AddressGuard::public_only()).unwrap();
    for url in [
        "http://[::1]:9/feed",
        "http://[::ffff:127.0.0.1]:9/feed",
        "http://0x7f000001:9/feed",
    ] {
        let err = failed(&guarded, url).await;
        assert_eq!(refused_kind(&err), NonPublic::Loopback, "{url}: {err}");
    }
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused_before_connecting() {
    // The guard trusts this one server, as if it were a public host, to show that where it
    // redirects to is still checked (nothing is ever sent to the refused addresses).
    let server = FeedServer::start().await;
    let guard = AddressGuard::public_only().trusting(server.addr().ip());
    let guarded = Fetcher::guarded(config(), guard).unwrap();
    server.set("/feed", Route::feed(RSS));
    let cases = [
        ("/to-private", "http://10.0.0.1/feed", NonPublic::Private),
        ("/to-router", "http://192.168.1.1/admin", NonPublic::Private),
        (
            "/to-metadata",
            "http://169.254.169.254/latest/meta-data/",
            NonPublic::LinkLocal,
        ),
        ("/to-v6-loopback", "http://[::1]/feed", NonPublic::Loopback),
        ("/to-v6-ula", "https://[fd00::1]/feed", NonPublic::Private),
    ];
    for (path, target, kind) in cases {
        server.set(path, Route::redirect(302, target));
        let err = failed(&guarded, &server.url(path)).await;
        assert_eq!(err.class(), "private_address", "{path}: {err}");
        assert_eq!(refused_kind(&err), kind, "{path}");
        assert!(err.to_string().contains(target), "{path}: {err}");
        assert_eq!(server.hits(path), 1);
    }
    // The trusted server itself is fetched.
    let ok = guarded.fetch(&get(&server.url("/feed"))).await;
    assert!(matches!(ok, Ok(FetchOutcome::Fetched(_))), "{ok:?}");
}

// ---- credentials in feed URLs -----------------------------------------------------------

#[tokio::test]
async fn credentials_never_reach_fetch_errors() {
    let server = FeedServer::start().await;
    server.set("/loop-a", Route::redirect(302, "/loop-b?token=tok3n"));
    server.set("/loop-b", Route::redirect(302, "/loop-a?token=tok3n"));
    let fetcher = Fetcher::new(config()).unwrap();
    // A closed port: the connect error quotes the URL in reqwest's message.
    let closed = support::free_addr().port();
    let urls = [
        format!("http://jane:s3cr3t@127.0.0.1:{closed}/feed?apikey=tok3n"),
        format!(
            "{}?token=tok3n",
            server
                .url("/loop-a")
                .replace("http://", "http://jane:s3cr3t@")
        ),
        "ftp://jane:s3cr3t@example.com/feed?access_token=tok3n".to_owned(),
    ];
    for url in urls {
        let err = failed(&fetcher, &url).await;
        let shown = format!("{err} / {err:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("tok3n"),
            "{url}: {shown}"
        );
    }
    let guarded = Fetcher::guarded(config(), AddressGuard::public_only()).unwrap();
    let err = failed(&guarded, "http://jane:s3cr3t@127.0.0.1/feed?sig=tok3n").await;
    let shown = err.to_string();
    assert!(
        shown.contains("http://[redacted]@127.0.0.1/feed?sig=[redacted]"),
        "{shown}"
    );
}

// ---- `preview URL` ---------------------------------------------------------------------

fn preview(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("preview")
        .args(args)
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn preview_refuses_private_urls_unless_allowed_or_configured() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(RSS));
    server.set("/configured", Route::feed(RSS));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feed2threads.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite::memory:\"\n[[accounts]]\nname = \"n\"\n[[feeds]]\nname = \"lan\"\nurl = \"{}\"\n",
            server.url("/configured")
        ),
    )
    .unwrap();
    let url = server.url("/feed");
    let configured = server.url("/configured");

    let (refused, allowed, by_url, by_name) = tokio::task::spawn_blocking(move || {
        (
            preview(&cfg, &[&url]),
            preview(&cfg, &[&url, "--allow-private"]),
            preview(&cfg, &[&configured]),
            preview(&cfg, &["lan"]),
        )
    })
    .await
    .unwrap();

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("a loopback address"), "{stderr}");
    assert!(stderr.contains("--allow-private"), "{stderr}");
    assert_eq!(
        server.hits("/feed"),
        1,
        "only the allowed preview fetched it"
    );

    for (what, out) in [
        ("--allow-private", &allowed),
        ("a configured feed's URL", &by_url),
        ("a configured feed's name", &by_name),
    ] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Hello from loopback"), "{what}: {stdout}");
    }
}
