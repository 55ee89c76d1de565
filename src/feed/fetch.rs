//! HTTP only: one shared client, conditional GET, redirects, decompression, a body cap
//! applied after decompression, and classified errors. Knows nothing of parsing or storage:
//! it hands back bytes, validators and cache hints, and the caller decides what to keep
//! (validators must only be stored once the items behind them are, see field notes §3.3).
//!
//! # Redirects
//!
//! Redirects are followed by hand (reqwest's policy is `none`) so that every hop's status is
//! known, and a loop is reported as a loop rather than as "too many redirects" after burning
//! the whole budget. Three rules make them safe:
//!
//! - A redirect from `https` to `http` is never followed (`insecure_redirect`): it would hand
//!   the feed, and any credentials in its URL, to whoever sits on the path.
//! - `moved_permanently_to` (which the caller stores as the feed's new address) is set only
//!   when *every* hop was a 301 or 308 **and** the new URL is on the same site (same
//!   registrable domain, from the public-suffix list) as the one asked for. A permanent
//!   redirect to another site (an expired domain's parking page, a hijacked host, a CDN
//!   "feed moved" page) is followed for this fetch and logged, and the configured URL stays.
//! - A fetcher built with [`Fetcher::guarded`] checks every hop with an [`AddressGuard`]:
//!   a host that is, or resolves to, a loopback, private or link-local address is refused
//!   (`private_address`), redirect targets included.
//!
//! URLs in errors and logs go through [`redact_url`]: a feed URL may carry credentials.
//!
//! # Error classes
//!
//! [`FetchError::class`] returns a stable snake_case label used in logs, `status` and as a
//! Prometheus label. The set is closed; adding a class is a deliberate change:
//!
//! | class | when |
//! |---|---|
//! | `invalid_url` | not http(s), no host, or a redirect to something that is not a URL |
//! | `dns` | the host name did not resolve |
//! | `connect` | TCP connect failed (refused, unreachable) |
//! | `tls` | TLS handshake or certificate failure |
//! | `timeout` | connect timeout, or no complete response within the total timeout |
//! | `network` | the connection broke after it was made (reset, closed mid-response) |
//! | `not_found` / `gone` | 404 / 410, kept apart from `http_status` because the scheduler treats them differently (a 410 may disable a feed) |
//! | `http_status` | any other unexpected status (401, 403 without HTML, 3xx without Location, …) |
//! | `bot_protection` | a bot challenge: `cf-mitigated: challenge`, or a 403 with an HTML body |
//! | `rate_limited` | 429, with its `Retry-After` |
//! | `unavailable` | 503 (with or without `Retry-After`) |
//! | `server_error` | other 5xx |
//! | `too_large` | body over the cap after decompression |
//! | `empty` | 2xx with an empty (or whitespace-only) body |
//! | `too_many_redirects` | more than `max_redirects` hops, or a loop |
//! | `insecure_redirect` | a redirect from https to http |
//! | `private_address` | a guarded fetch whose host is or resolves to a non-public address |
//! | `other` | anything else (undecodable gzip, client construction) |

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::{Host, Url};

use super::address::{AddressGuard, Refused, ResolveError};
use super::redact::{redact_in, redact_url};

/// What we accept, most specific first. Like miniflux's, plus JSON Feed; `*/*` last because
/// many publishers serve feeds as `text/html` or `application/octet-stream`.
pub const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                          application/rdf+xml, application/xml, text/xml;q=0.9, */*;q=0.8";

const MIB: usize = 1024 * 1024;

/// How the shared HTTP client behaves.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, headers and body, across all redirect hops.
    pub timeout: Duration,
    /// Cap on the body after decompression.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
}

impl Default for FetchConfig {
    /// The values miniflux has run with for years, with a 10 MiB body cap.
    fn default() -> Self {
        Self {
            user_agent: concat!("feed2threads/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(20),
            max_body_bytes: 10 * MIB,
            max_redirects: 5,
        }
    }
}

/// What to ask for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: Url,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl FetchRequest {
    /// An unconditional request.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            etag: None,
            last_modified: None,
        }
    }
}

/// Caching hints the server gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHints {
    /// Cache-Control max-age (or Expires - Date), only when positive.
    pub max_age: Option<Duration>,
}

/// A successful exchange.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per fetch, moved once; boxing would only add an allocation"
)]
pub enum FetchOutcome {
    /// 304, or a 200 whose validators equal the ones we sent: nothing changed.
    /// A new Last-Modified, if sent, should still be stored.
    NotModified {
        last_modified: Option<String>,
        cache: CacheHints,
    },
    Fetched(FetchedBody),
}

#[derive(Debug, Clone)]
pub struct FetchedBody {
    /// Decompressed, never longer than `max_body_bytes`, never empty.
    pub body: Bytes,
    /// Where the body came from after redirects.
    pub final_url: Url,
    /// Set when every redirect on the way was permanent (301/308) and the new URL is on
    /// the same site as the one asked for: the feed moved, remember its new address.
    pub moved_permanently_to: Option<Url>,
    pub content_type: Option<String>,
    /// Validators, already cleared when the response said not to cache (`Expires: 0`).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub cache: CacheHints,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("DNS lookup failed for {host}: {detail}")]
    Dns { host: String, detail: String },

    #[error("could not connect to {host}: {detail}")]
    Connect { host: String, detail: String },

    #[error("TLS failure with {host}: {detail}")]
    Tls { host: String, detail: String },

    #[error("{}", timeout_message(*.after, *.connecting))]
    Timeout { after: Duration, connecting: bool },

    #[error("connection to {host} broke: {detail}")]
    Network { host: String, detail: String },

    #[error("HTTP 404 Not Found")]
    NotFound,

    #[error("HTTP 410 Gone")]
    Gone,

    #[error("HTTP {}", status_text(*.status))]
    HttpStatus { status: u16 },

    #[error(
        "HTTP {} from bot protection{}; ask the publisher to allow-list our User-Agent \"{user_agent}\"",
        status_text(*.status),
        by_whom(.provider.as_deref())
    )]
    BotProtection {
        status: u16,
        /// Who challenged us, when a header says so (e.g. "cloudflare").
        provider: Option<String>,
        user_agent: String,
    },

    #[error("{}", wait_message(*.retry_after, 429))]
    RateLimited { retry_after: Option<Duration> },

    #[error("{}", wait_message(*.retry_after, 503))]
    Unavailable { retry_after: Option<Duration> },

    #[error("HTTP {}", status_text(*.status))]
    ServerError { status: u16 },

    #[error(
        "response body exceeds {}; raise fetch.max_body_size if this feed is really that big",
        human_size(*.limit)
    )]
    TooLarge { limit: usize },

    #[error("server returned an empty body")]
    Empty,

    #[error("more than {limit} redirects (next would be {url})")]
    TooManyRedirects { limit: usize, url: String },

    #[error("redirect loop back to {url}")]
    RedirectLoop { url: String },

    #[error("refused to follow the redirect from {from} to {to}: it would leave HTTPS")]
    InsecureRedirect { from: String, to: String },

    #[error("refused to fetch {url}: {refused}; only public addresses are fetched here")]
    PrivateAddress { url: String, refused: Refused },

    #[error("fetch failed: {0}")]
    Other(String),
}

impl FetchError {
    /// Stable label for logs, `status` and metrics (see the module docs for the table).
    pub fn class(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalid_url",
            Self::Dns { .. } => "dns",
            Self::Connect { .. } => "connect",
            Self::Tls { .. } => "tls",
            Self::Timeout { .. } => "timeout",
            Self::Network { .. } => "network",
            Self::NotFound => "not_found",
            Self::Gone => "gone",
            Self::HttpStatus { .. } => "http_status",
            Self::BotProtection { .. } => "bot_protection",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::ServerError { .. } => "server_error",
            Self::TooLarge { .. } => "too_large",
            Self::Empty => "empty",
            Self::TooManyRedirects { .. } | Self::RedirectLoop { .. } => "too_many_redirects",
            Self::InsecureRedirect { .. } => "insecure_redirect",
            Self::PrivateAddress { .. } => "private_address",
            Self::Other(_) => "other",
        }
    }

    /// Delay the server asked for (429/503 Retry-After), when positive.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status behind the error, if the server answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound => Some(404),
            Self::Gone => Some(410),
            Self::RateLimited { .. } => Some(429),
            Self::Unavailable { .. } => Some(503),
            Self::HttpStatus { status }
            | Self::ServerError { status }
            | Self::BotProtection { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn timeout_message(after: Duration, connecting: bool) -> String {
    let after = humantime::format_duration(after);
    if connecting {
        format!("timed out connecting after {after}")
    } else {
        format!("no complete response within {after}")
    }
}

fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn by_whom(provider: Option<&str>) -> String {
    provider.map(|p| format!(" ({p})")).unwrap_or_default()
}

fn wait_message(retry_after: Option<Duration>, status: u16) -> String {
    let what = if status == 429 {
        "rate limited"
    } else {
        "service unavailable"
    };
    match retry_after {
        Some(d) => format!(
            "server asked us to wait {} (HTTP {status})",
            humantime::format_duration(d)
        ),
        None => format!("{what} (HTTP {status})"),
    }
}

fn human_size(bytes: usize) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// The one HTTP client of the process.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    /// Set for a fetcher that must only reach public addresses.
    guard: Option<AddressGuard>,
}

impl Fetcher {
    /// A fetcher for the configured feeds: any address the operator configured is fine.
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        let client = client_builder(&config).build().map_err(build_error)?;
        Ok(Self {
            client,
            config,
            guard: None,
        })
    }

    /// A fetcher for URLs that did not come from the config (`preview URL`): every host it
    /// connects to, redirect targets included, must pass `guard`. Names are resolved through
    /// the guard's resolver, so the address checked is the address connected to. It ignores
    /// proxy settings: through a proxy the guard would check the proxy, not the target.
    pub fn guarded(config: FetchConfig, guard: AddressGuard) -> Result<Self, FetchError> {
        let client = client_builder(&config)
            .dns_resolver(Arc::new(guard.resolver()))
            .no_proxy()
            .build()
            .map_err(build_error)?;
        Ok(Self {
            client,
            config,
            guard: Some(guard),
        })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    pub async fn fetch(&self, request: &FetchRequest) -> Result<FetchOutcome, FetchError> {
        // reqwest's timeout restarts on every hop and its body deadline is an implementation
        // detail; this bounds the whole exchange, redirects and body included.
        let budget = self.config.timeout;
        match tokio::time::timeout(budget, self.fetch_hops(request)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::Timeout {
                after: budget,
                connecting: false,
            }),
        }
    }

    async fn fetch_hops(&self, request: &FetchRequest) -> Result<FetchOutcome, FetchError> {
        check_url(&request.url)?;
        self.check_address(&request.url)?;
        let mut hops = Hops::new(&request.url, self.config.max_redirects);
        let mut url = request.url.clone();
        loop {
            let response = self.send(&url, request).await?;
            let status = response.status();
            if !is_followed_redirect(status) {
                let moved = hops.moved_to(&url);
                return self.finish(response, request, url, moved).await;
            }
            let Some(next) = location(response.headers(), &url)? else {
                return Err(FetchError::HttpStatus {
                    status: status.as_u16(),
                });
            };
            hops.follow(&url, status, &next)?;
            self.check_address(&next)?;
            tracing::debug!(
                from = %redact_url(url.as_str()),
                to = %redact_url(next.as_str()),
                status = status.as_u16(),
                "following redirect"
            );
            url = next;
        }
    }

    /// The guard's check of a URL whose host is an address; names are checked when the
    /// client resolves them.
    fn check_address(&self, url: &Url) -> Result<(), FetchError> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        guard
            .check_url(url)
            .map_err(|refused| FetchError::PrivateAddress {
                url: redact_url(url.as_str()).into_owned(),
                refused,
            })
    }

    async fn send(
        &self,
        url: &Url,
        request: &FetchRequest,
    ) -> Result<reqwest::Response, FetchError> {
        let mut builder = self.client.get(url.clone());
        // A stored validator that is not a valid header value (it came from a server once,
        // but may have been mangled) is dropped: an unconditional GET is always safe.
        if let Some(value) = request
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            builder = builder.header(header::IF_NONE_MATCH, value);
        }
        if let Some(value) = request
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            builder = builder.header(header::IF_MODIFIED_SINCE, value);
        }
        builder
            .send()
            .await
            .map_err(|e| classify(&e, url, &self.config))
    }

    async fn finish(
        &self,
        response: reqwest::Response,
        request: &FetchRequest,
        final_url: Url,
        moved_permanently_to: Option<Url>,
    ) -> Result<FetchOutcome, FetchError> {
        let status = response.status();
        let headers = response.headers();

        if let Some(err) = status_error(status, headers, &self.config.user_agent) {
            return Err(err);
        }

        let (cache, keep_validators) = cache_hints(headers, SystemTime::now());
        let validator = |name| {
            if keep_validators {
                header_string(headers, name)
            } else {
                None
            }
        };
        let etag = validator(header::ETAG);
        let last_modified = validator(header::LAST_MODIFIED);

        if status == StatusCode::NOT_MODIFIED
            || unchanged(request, etag.as_deref(), last_modified.as_deref())
        {
            // The body (if any) is not read: the connection is simply not reused.
            return Ok(FetchOutcome::NotModified {
                last_modified,
                cache,
            });
        }

        let content_type = header_string(headers, header::CONTENT_TYPE);
        let body = read_capped(response, &final_url, &self.config).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(FetchError::Empty);
        }
        Ok(FetchOutcome::Fetched(FetchedBody {
            body,
            final_url,
            moved_permanently_to,
            content_type,
            etag,
            last_modified,
            cache,
        }))
    }
}

fn client_builder(config: &FetchConfig) -> reqwest::ClientBuilder {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    crate::tls::client_builder()
        .user_agent(config.user_agent.as_str())
        .default_headers(headers)
        .connect_timeout(config.connect_timeout)
        // Per hop; `fetch` also bounds all hops together with the same budget.
        .timeout(config.timeout)
        // Each hop's status matters (permanent vs temporary), so hops are followed by hand.
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true)
        // Polls of one host cluster together (section feeds); idle sockets beyond that
        // only hold publisher resources.
        .pool_idle_timeout(Duration::from_secs(10))
}

fn build_error(e: reqwest::Error) -> FetchError {
    FetchError::Other(format!("cannot build the HTTP client: {}", chain(&e)))
}

/// The redirect chain of one fetch, and the rules for following it.
#[derive(Debug)]
struct Hops<'a> {
    start: &'a Url,
    /// The start URL plus one entry per hop taken so far.
    visited: Vec<Url>,
    all_permanent: bool,
    max_redirects: usize,
}

impl<'a> Hops<'a> {
    fn new(start: &'a Url, max_redirects: usize) -> Self {
        Hops {
            start,
            visited: vec![start.clone()],
            all_permanent: true,
            max_redirects,
        }
    }

    /// Checks the redirect `status` from `from` to `next` and records it when it may be
    /// followed: within the hop budget, not back to a URL already visited, and not from
    /// https to http.
    fn follow(&mut self, from: &Url, status: StatusCode, next: &Url) -> Result<(), FetchError> {
        if self.visited.len() > self.max_redirects {
            return Err(FetchError::TooManyRedirects {
                limit: self.max_redirects,
                url: redact_url(next.as_str()).into_owned(),
            });
        }
        if self.visited.contains(next) {
            return Err(FetchError::RedirectLoop {
                url: redact_url(next.as_str()).into_owned(),
            });
        }
        if from.scheme() == "https" && next.scheme() == "http" {
            return Err(FetchError::InsecureRedirect {
                from: redact_url(from.as_str()).into_owned(),
                to: redact_url(next.as_str()).into_owned(),
            });
        }
        self.all_permanent &= matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
        );
        self.visited.push(next.clone());
        Ok(())
    }

    /// The feed's new address when the chain that ended at `last` says it moved for good
    /// (every hop a 301 or 308) and the move may be remembered: only within one site.
    /// A permanent move to another site (a lapsed domain, a hijacked redirect) is followed
    /// for this fetch only and logged, so it cannot take the feed over for good.
    fn moved_to(&self, last: &Url) -> Option<Url> {
        if self.visited.len() < 2 || !self.all_permanent {
            return None;
        }
        if same_site(self.start, last) {
            return Some(last.clone());
        }
        tracing::warn!(
            from = %redact_url(self.start.as_str()),
            to = %redact_url(last.as_str()),
            "feed redirects permanently to another site; followed for this fetch only, the \
             configured URL stays (update the config if the move is genuine)"
        );
        None
    }
}

/// Same registrable domain ("eTLD+1": `news.example.co.uk` and `www.example.co.uk` are one
/// site, `alice.github.io` and `bob.github.io` are two). Scheme and port do not matter.
fn same_site(a: &Url, b: &Url) -> bool {
    fn site(url: &Url) -> Option<String> {
        match url.host()? {
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                Some(psl::domain_str(&name).map(str::to_owned).unwrap_or(name))
            }
            Host::Ipv4(ip) => Some(ip.to_string()),
            Host::Ipv6(ip) => Some(ip.to_string()),
        }
    }
    match (site(a), site(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn check_url(url: &Url) -> Result<(), FetchError> {
    let reason = if !matches!(url.scheme(), "http" | "https") {
        format!("scheme {:?} is not http or https", url.scheme())
    } else if url.host_str().is_none_or(str::is_empty) {
        "no host".to_owned()
    } else {
        return Ok(());
    };
    Err(FetchError::InvalidUrl {
        url: redact_url(url.as_str()).into_owned(),
        reason,
    })
}

/// 300 (a choice, not a location) and 305 (deprecated proxy) are not followed.
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// The redirect target, resolved against the current URL. `Ok(None)` when there is none.
fn location(headers: &HeaderMap, current: &Url) -> Result<Option<Url>, FetchError> {
    let Some(raw) = headers.get(header::LOCATION) else {
        return Ok(None);
    };
    // Some servers send raw UTF-8 in Location; `join` percent-encodes it.
    let raw = String::from_utf8_lossy(raw.as_bytes());
    let next = current
        .join(raw.trim())
        .map_err(|e| FetchError::InvalidUrl {
            url: redact_url(&raw).into_owned(),
            reason: format!("bad redirect Location ({e})"),
        })?;
    check_url(&next)?;
    Ok(Some(next))
}

/// Maps a status that is not a usable answer (2xx or 304) to its error.
fn status_error(status: StatusCode, headers: &HeaderMap, user_agent: &str) -> Option<FetchError> {
    let code = status.as_u16();
    let challenged = headers
        .get("cf-mitigated")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"challenge"));
    let html = header_string(headers, header::CONTENT_TYPE)
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"));
    // Cloudflare also challenges with 503 + cf-mitigated; a plain 403 with an HTML page is
    // almost always a WAF or bot wall (Cloudflare, Akamai, Sucuri), not a real permission
    // problem of a public feed.
    if challenged || (status == StatusCode::FORBIDDEN && html) {
        return Some(FetchError::BotProtection {
            status: code,
            provider: bot_provider(headers, challenged),
            user_agent: user_agent.to_owned(),
        });
    }
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    let retry_after = || {
        headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    };
    Some(match status {
        StatusCode::NOT_FOUND => FetchError::NotFound,
        StatusCode::GONE => FetchError::Gone,
        StatusCode::TOO_MANY_REQUESTS => FetchError::RateLimited {
            retry_after: retry_after(),
        },
        StatusCode::SERVICE_UNAVAILABLE => FetchError::Unavailable {
            retry_after: retry_after(),
        },
        s if s.is_server_error() => FetchError::ServerError { status: code },
        _ => FetchError::HttpStatus { status: code },
    })
}

fn bot_provider(headers: &HeaderMap, challenged: bool) -> Option<String> {
    let server = header_string(headers, header::SERVER).map(|s| s.to_ascii_lowercase());
    let known = [
        "cloudflare",
        "akamai",
        "sucuri",
        "imperva",
        "ddos-guard",
        "fastly",
    ];
    if let Some(name) = server
        .as_deref()
        .and_then(|s| known.iter().find(|k| s.contains(*k)))
    {
        return Some((*name).to_owned());
    }
    if challenged || headers.contains_key("cf-ray") {
        return Some("cloudflare".to_owned());
    }
    None
}

/// Same validators as we sent means the server ignored the condition but has nothing new
/// (miniflux `IsModified`): an ETag decides when present, else Last-Modified.
fn unchanged(request: &FetchRequest, etag: Option<&str>, last_modified: Option<&str>) -> bool {
    match (etag, last_modified) {
        (Some(new), _) => request.etag.as_deref().is_some_and(|old| weak_eq(old, new)),
        (None, Some(new)) => request.last_modified.as_deref() == Some(new),
        (None, None) => false,
    }
}

/// RFC 9110 weak comparison, as If-None-Match uses: `W/"x"` equals `"x"`. Servers (nginx)
/// weaken an ETag when they compress, so the same file can come back either way.
fn weak_eq(a: &str, b: &str) -> bool {
    fn strip(tag: &str) -> &str {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    strip(a) == strip(b)
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Cache hints, and whether the validators may be kept.
///
/// `max-age` wins over `Expires` (RFC 9111 §5.3). Without it, an `Expires` that is not a
/// valid date in the future (`0`, garbage, a past date) marks the response as already stale:
/// such servers want no caching, so their validators are not trusted for the next poll.
/// `no-cache`/`no-store` are deliberately ignored: they never make us poll faster.
fn cache_hints(headers: &HeaderMap, now: SystemTime) -> (CacheHints, bool) {
    let positive = |d: Duration| (!d.is_zero()).then_some(d);
    if let Some(secs) = max_age(headers) {
        let hints = CacheHints {
            max_age: positive(Duration::from_secs(secs)),
        };
        return (hints, true);
    }
    let Some(expires) = headers.get(header::EXPIRES) else {
        return (CacheHints::default(), true);
    };
    // Measured against the server's own clock when it sent one, so clock skew cancels out.
    let base = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .unwrap_or(now);
    let ttl = expires
        .to_str()
        .ok()
        .and_then(parse_http_date)
        .and_then(|at| at.duration_since(base).ok())
        .map(|d| Duration::from_secs(d.as_secs()))
        .and_then(positive);
    match ttl {
        Some(ttl) => (CacheHints { max_age: Some(ttl) }, true),
        None => (CacheHints::default(), false),
    }
}

/// `max-age` from all Cache-Control headers; `s-maxage` is for shared caches, not us.
fn max_age(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
}

/// `Retry-After` as delay-seconds or an HTTP-date; `None` unless the delay is positive.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        // Rounded up to whole seconds: waiting a fraction longer than asked is harmless,
        // and sub-second precision only makes log lines noisy.
        Err(_) => {
            let d = parse_http_date(value)?.duration_since(now).ok()?;
            Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
        }
    };
    (!delay.is_zero()).then_some(delay)
}

/// HTTP-date in its three RFC 9110 forms: IMF-fixdate, RFC 850 and asctime.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    use chrono::{DateTime, NaiveDateTime};
    let value = value.trim();
    let utc = DateTime::parse_from_rfc2822(value)
        .map(|d| d.to_utc())
        .or_else(|_| {
            NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT").map(|d| d.and_utc())
        })
        .or_else(|_| {
            let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
            NaiveDateTime::parse_from_str(&collapsed, "%a %b %e %H:%M:%S %Y").map(|d| d.and_utc())
        })
        .ok()?;
    Some(SystemTime::from(utc))
}

/// Reads the decompressed body chunk by chunk and stops at the first byte past the cap, so
/// a gzip bomb costs at most `cap` bytes of memory. The buffer grows by doubling but never
/// beyond the cap.
async fn read_capped(
    mut response: reqwest::Response,
    url: &Url,
    config: &FetchConfig,
) -> Result<Bytes, FetchError> {
    let cap = config.max_body_bytes;
    let too_large = || FetchError::TooLarge { limit: cap };
    // Only set when nothing was decompressed, so it is the real size: fail before reading.
    let declared = response.content_length();
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(too_large());
    }
    let initial = declared.map_or(64 * 1024, |len| len as usize).min(cap);
    let mut body: Vec<u8> = Vec::with_capacity(initial);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(&e, url, config))?
    {
        if chunk.len() > cap - body.len() {
            return Err(too_large());
        }
        let needed = body.len() + chunk.len();
        if needed > body.capacity() {
            let target = needed.max(body.capacity().saturating_mul(2)).min(cap);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Turns a reqwest error into a class by walking its source chain: reqwest's own
/// predicates first, then the io errors and messages hyper and rustls leave underneath.
fn classify(err: &reqwest::Error, url: &Url, config: &FetchConfig) -> FetchError {
    let host = url.host_str().unwrap_or_default().to_owned();
    // reqwest's messages quote the URL, credentials and all.
    let detail = redact_in(&root_cause(err), url.as_str()).into_owned();
    // A guarded fetch whose host resolved to a non-public address.
    if let Some(refused) = sources(err).find_map(|e| match e.downcast_ref::<ResolveError>() {
        Some(ResolveError::Refused(r)) => Some(r.clone()),
        _ => None,
    }) {
        return FetchError::PrivateAddress {
            url: redact_url(url.as_str()).into_owned(),
            refused,
        };
    }
    // Only the causes: reqwest's own message contains the URL, and a feed at
    // `/alerts.xml` must not look like a TLS alert.
    let text = sources(err)
        .skip(1)
        .map(|e| e.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(": ");

    if err.is_timeout() {
        return FetchError::Timeout {
            after: if err.is_connect() {
                config.connect_timeout
            } else {
                config.timeout
            },
            connecting: err.is_connect(),
        };
    }
    if err.is_dns()
        || text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no such host")
    {
        return FetchError::Dns { host, detail };
    }
    if is_tls(err, &text) {
        return FetchError::Tls { host, detail };
    }
    if err.is_connect() {
        return FetchError::Connect { host, detail };
    }
    if err.is_builder() {
        return FetchError::InvalidUrl {
            url: redact_url(url.as_str()).into_owned(),
            reason: detail,
        };
    }
    if err.is_decode() {
        return FetchError::Other(format!("could not decode the body: {detail}"));
    }
    if err.is_request() || err.is_body() || has_io_error(err) {
        return FetchError::Network { host, detail };
    }
    FetchError::Other(redact_in(&chain(err), url.as_str()).into_owned())
}

/// rustls failures reach us as `io::Error`s of kind `InvalidData` wrapping a
/// `rustls::Error` (tokio-rustls); plain TCP never produces that kind, and the messages
/// name certificates, alerts or the handshake.
fn is_tls(err: &reqwest::Error, text: &str) -> bool {
    let invalid_data = sources(err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
    });
    let words = [
        "certificate",
        "tls",
        "handshake",
        "alert",
        "corrupt message",
    ];
    (err.is_connect() && invalid_data) || words.iter().any(|w| text.contains(w))
}

fn has_io_error(err: &reqwest::Error) -> bool {
    sources(err).any(|e| e.is::<std::io::Error>())
}

fn sources<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The innermost message, which is the one that says what went wrong
/// ("Connection refused", "invalid peer certificate: UnknownIssuer").
fn root_cause(err: &reqwest::Error) -> String {
    sources(err)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Every message of the chain, joined like anyhow's `{:#}`, repeated parts dropped.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in sources(err) {
        let msg = e.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn at(date: &str) -> SystemTime {
        parse_http_date(date).unwrap()
    }

    const NOW: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

    #[test]
    fn http_dates_in_all_three_forms() {
        let expected = at("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(expected)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(expected));
        assert_eq!(parse_http_date("0"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn retry_after_seconds_or_date() {
        let now = at(NOW);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("0", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn max_age_wins_over_expires() {
        let h = headers(&[
            ("cache-control", "public, s-maxage=60, max-age=300"),
            ("expires", "0"),
        ]);
        let (hints, keep) = cache_hints(&h, at(NOW));
        assert_eq!(hints.max_age, Some(Duration::from_secs(300)));
        assert!(keep);
    }

    #[test]
    fn s_maxage_alone_is_not_ours() {
        let (hints, keep) = cache_hints(&headers(&[("cache-control", "s-maxage=60")]), at(NOW));
        assert_eq!(hints.max_age, None);
        assert!(keep);
    }

    #[test]
    fn expires_relative_to_server_date() {
        let h = headers(&[
            ("date", "Wed, 21 Oct 2015 07:00:00 GMT"),
            ("expires", "Wed, 21 Oct 2015 07:10:00 GMT"),
        ]);
        // Our clock is 28 minutes ahead of the server's: the server's Date is the base.
        let (hints, keep) = cache_hints(&h, at(NOW));
        assert_eq!(hints.max_age, Some(Duration::from_secs(600)));
        assert!(keep);
    }

    #[test]
    fn expires_zero_or_past_drops_validators() {
        for value in ["0", "Thu, 19 Nov 1981 08:52:00 GMT", "garbage"] {
            let (hints, keep) = cache_hints(&headers(&[("expires", value)]), at(NOW));
            assert_eq!(hints.max_age, None, "{value}");
            assert!(!keep, "{value}");
        }
    }

    #[test]
    fn no_cache_directives_are_ignored() {
        let h = headers(&[("cache-control", "no-cache, no-store, max-age=0")]);
        let (hints, keep) = cache_hints(&h, at(NOW));
        assert_eq!(hints.max_age, None);
        assert!(keep);
    }

    #[test]
    fn weak_etags_compare_equal() {
        assert!(weak_eq("W/\"abc\"", "\"abc\""));
        assert!(weak_eq("\"abc\"", "\"abc\""));
        assert!(!weak_eq("\"abc\"", "\"abd\""));
    }

    #[test]
    fn unchanged_prefers_etag_over_last_modified() {
        let req = FetchRequest {
            url: Url::parse("http://example.com/").unwrap(),
            etag: Some("\"v1\"".into()),
            last_modified: Some(NOW.into()),
        };
        assert!(unchanged(&req, Some("\"v1\""), Some("other")));
        assert!(!unchanged(&req, Some("\"v2\""), Some(NOW)));
        assert!(unchanged(&req, None, Some(NOW)));
        assert!(!unchanged(&req, None, None));
        assert!(!unchanged(
            &FetchRequest::new(req.url.clone()),
            Some("\"v1\""),
            None
        ));
    }

    #[test]
    fn statuses_map_to_classes() {
        let ua = "feed2threads/test";
        let class = |code: u16, pairs: &[(&str, &str)]| {
            status_error(StatusCode::from_u16(code).unwrap(), &headers(pairs), ua)
                .map(|e| e.class())
        };
        assert_eq!(class(200, &[]), None);
        assert_eq!(class(304, &[]), None);
        assert_eq!(class(404, &[]), Some("not_found"));
        assert_eq!(class(410, &[]), Some("gone"));
        assert_eq!(class(401, &[]), Some("http_status"));
        assert_eq!(
            class(403, &[("content-type", "application/json")]),
            Some("http_status")
        );
        assert_eq!(
            class(403, &[("content-type", "text/html; charset=utf-8")]),
            Some("bot_protection")
        );
        assert_eq!(
            class(503, &[("cf-mitigated", "challenge")]),
            Some("bot_protection")
        );
        assert_eq!(class(429, &[]), Some("rate_limited"));
        assert_eq!(class(503, &[]), Some("unavailable"));
        assert_eq!(class(500, &[]), Some("server_error"));
        assert_eq!(class(502, &[]), Some("server_error"));
    }

    #[test]
    fn messages_name_the_value() {
        assert_eq!(FetchError::NotFound.to_string(), "HTTP 404 Not Found");
        assert_eq!(
            FetchError::RateLimited {
                retry_after: Some(Duration::from_secs(120))
            }
            .to_string(),
            "server asked us to wait 2m (HTTP 429)"
        );
        assert_eq!(
            FetchError::TooLarge { limit: 10 * MIB }.to_string(),
            "response body exceeds 10 MiB; raise fetch.max_body_size if this feed is really that big"
        );
        assert_eq!(
            FetchError::ServerError { status: 500 }.to_string(),
            "HTTP 500 Internal Server Error"
        );
        assert_eq!(
            FetchError::Timeout {
                after: Duration::from_millis(500),
                connecting: false
            }
            .to_string(),
            "no complete response within 500ms"
        );
        let bot = FetchError::BotProtection {
            status: 403,
            provider: Some("cloudflare".into()),
            user_agent: "feed2threads/1".into(),
        };
        assert_eq!(
            bot.to_string(),
            "HTTP 403 Forbidden from bot protection (cloudflare); ask the publisher to \
             allow-list our User-Agent \"feed2threads/1\""
        );
    }

    #[test]
    fn only_http_urls_are_fetched() {
        for bad in [
            "ftp://example.com/feed",
            "file:///etc/passwd",
            "mailto:a@b.c",
        ] {
            let err = check_url(&Url::parse(bad).unwrap()).unwrap_err();
            assert_eq!(err.class(), "invalid_url", "{bad}");
        }
        assert!(check_url(&Url::parse("https://example.com/feed").unwrap()).is_ok());
    }

    #[test]
    fn relative_locations_resolve_against_the_current_url() {
        let current = Url::parse("https://example.com/news/feed.xml").unwrap();
        let next = location(&headers(&[("location", "../rss")]), &current)
            .unwrap()
            .unwrap();
        assert_eq!(next.as_str(), "https://example.com/rss");
        assert!(location(&HeaderMap::new(), &current).unwrap().is_none());
        let err = location(&headers(&[("location", "javascript:alert(1)")]), &current).unwrap_err();
        assert_eq!(err.class(), "invalid_url");
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_to_http_is_never_followed() {
        let start = url("https://news.example/feed.xml");
        let mut hops = Hops::new(&start, 5);
        let err = hops
            .follow(
                &start,
                StatusCode::MOVED_PERMANENTLY,
                &url("http://news.example/feed.xml"),
            )
            .unwrap_err();
        assert_eq!(err.class(), "insecure_redirect");
        assert_eq!(
            err.to_string(),
            "refused to follow the redirect from https://news.example/feed.xml to \
             http://news.example/feed.xml: it would leave HTTPS"
        );
        // Further along the chain too, and whatever the status.
        let mut hops = Hops::new(&start, 5);
        let middle = url("https://cdn.example/feed.xml");
        hops.follow(&start, StatusCode::FOUND, &middle).unwrap();
        let err = hops
            .follow(
                &middle,
                StatusCode::TEMPORARY_REDIRECT,
                &url("http://cdn.example/x"),
            )
            .unwrap_err();
        assert_eq!(err.class(), "insecure_redirect");
    }

    #[test]
    fn http_to_https_and_https_to_https_are_followed() {
        let start = url("http://news.example/feed.xml");
        let mut hops = Hops::new(&start, 5);
        let secure = url("https://news.example/feed.xml");
        hops.follow(&start, StatusCode::MOVED_PERMANENTLY, &secure)
            .unwrap();
        hops.follow(
            &secure,
            StatusCode::PERMANENT_REDIRECT,
            &url("https://news.example/rss"),
        )
        .unwrap();
        assert_eq!(
            hops.moved_to(&url("https://news.example/rss")),
            Some(url("https://news.example/rss"))
        );
    }

    #[test]
    fn insecure_redirect_messages_hide_credentials() {
        let start = url("https://jane:s3cret@news.example/feed?token=abc");
        let mut hops = Hops::new(&start, 5);
        let err = hops
            .follow(
                &start,
                StatusCode::FOUND,
                &url("http://news.example/feed?token=abc"),
            )
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret") && !err.contains("abc"), "{err}");
        assert!(
            err.contains("https://[redacted]@news.example/feed?token=[redacted]"),
            "{err}"
        );
    }

    #[test]
    fn a_permanent_move_is_remembered_only_within_the_site() {
        let moved = |from: &str, to: &str| {
            let start = url(from);
            let mut hops = Hops::new(&start, 5);
            hops.follow(&start, StatusCode::MOVED_PERMANENTLY, &url(to))
                .unwrap();
            hops.moved_to(&url(to)).is_some()
        };
        assert!(moved(
            "http://example.com/rss",
            "https://www.example.com/feed/"
        ));
        assert!(moved(
            "https://feeds.bbc.co.uk/news/rss.xml",
            "https://www.bbc.co.uk/news/rss.xml"
        ));
        assert!(moved("http://127.0.0.1:8080/a", "http://127.0.0.1:9090/b"));
        assert!(moved(
            "https://news.example.co.uk/rss",
            "https://example.co.uk/rss"
        ));
        // Other sites: another domain, another user's site on a shared host, a parking page.
        assert!(!moved("https://example.com/rss", "https://example.net/rss"));
        assert!(!moved(
            "https://alice.github.io/feed.xml",
            "https://bob.github.io/feed.xml"
        ));
        assert!(!moved(
            "https://example.co.uk/rss",
            "https://other.co.uk/rss"
        ));
        assert!(!moved("http://127.0.0.1/a", "http://127.0.0.2/a"));
        assert!(!moved("http://localhost/a", "http://127.0.0.1/a"));
    }

    #[test]
    fn same_site_compares_registrable_domains() {
        assert!(same_site(
            &url("https://a.b.example.org/"),
            &url("http://example.org:8080/")
        ));
        assert!(same_site(
            &url("https://EXAMPLE.org./x"),
            &url("https://www.example.org/")
        ));
        assert!(!same_site(
            &url("https://example.org/"),
            &url("https://example.com/")
        ));
        assert!(!same_site(
            &url("https://co.uk/"),
            &url("https://example.co.uk/")
        ));
        assert!(same_site(&url("http://[::1]/"), &url("http://[::1]:81/")));
    }
}
