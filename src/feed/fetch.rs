//! HTTP only: one shared client, conditional GET, redirects, decompression, a body cap
//! applied after decompression, and classified errors. Knows nothing of parsing or storage.

use bytes::Bytes;
use std::time::Duration;
use url::Url;

/// How the shared HTTP client behaves.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, headers and body.
    pub timeout: Duration,
    /// Cap on the body after decompression.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
}

/// What to ask for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: Url,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Caching hints the server gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHints {
    /// Cache-Control max-age (or Expires - now).
    pub max_age: Option<Duration>,
}

/// A successful exchange.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// 304: nothing changed. A new Last-Modified, if sent, should still be stored.
    NotModified {
        last_modified: Option<String>,
        cache: CacheHints,
    },
    Fetched(FetchedBody),
}

#[derive(Debug, Clone)]
pub struct FetchedBody {
    pub body: Bytes,
    /// Where the body came from after redirects.
    pub final_url: Url,
    /// Set when every redirect on the way was permanent (301/308): the feed moved.
    pub moved_permanently_to: Option<Url>,
    pub content_type: Option<String>,
    /// Validators, already cleared when the response said not to cache (`Expires: 0`).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub cache: CacheHints,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fetch failed: {0}")]
    Other(String),
}

impl FetchError {
    /// Stable label for logs, `status` and metrics.
    pub fn class(&self) -> &'static str {
        "other"
    }

    /// Delay the server asked for (429/503 Retry-After).
    pub fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The one HTTP client of the process.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| FetchError::Other(e.to_string()))?;
        Ok(Self { client, config })
    }

    pub async fn fetch(&self, request: &FetchRequest) -> Result<FetchOutcome, FetchError> {
        // STUB: replaced by the fetch work.
        let _ = (&self.client, &self.config, request);
        Err(FetchError::Other("not implemented".into()))
    }
}
