//! `ThreadsClient`: one typed method per Threads API call.
//!
//! Owns URL building (`{api_base}/v1.0/...` for graph calls, `{api_base}/...` for the token
//! endpoints), request encoding (form bodies for POSTs, query strings for GETs), per-call
//! timeouts, bounded body reads, debug logging of Meta's trace and usage headers, and turning
//! every failure into a [`ThreadsError`]. It keeps no token: each call takes the token it should
//! use, so one client serves every account and token rotation needs no locking here.
//!
//! Secrets (`access_token`, `client_secret`, authorization codes) are exposed only while a
//! request is built. They never reach logs or errors: request URLs are not logged, reqwest
//! errors lose their URL, and error bodies are redacted. The client retries nothing and checks
//! no limits; deciding what to do with an error is the caller's job, helped by
//! [`ThreadsError::action`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::debug;
use url::Url;

use super::error::{Call, ErrorKind, ThreadsError, snippet};
use super::types::{
    AccessToken, ContainerId, ContainerStatus, IdOnly, Me, MediaId, NewContainer, Paging, Post,
    PostsPage, PublishingLimit, PublishingLimitWire, RecentPosts, ShortLivedToken, TokenInfo,
    TokenInfoWire,
};

/// The only API version the docs know.
pub const API_VERSION: &str = "v1.0";

/// The production API host.
pub const DEFAULT_API_BASE: &str = "https://graph.threads.net/";

/// Fields read back for a post.
const POST_FIELDS: &str =
    "id,permalink,text,timestamp,link_attachment_url,shortcode,media_type,topic_tag";

/// The API refuses `since` values before this (2023-07-05, the Threads launch).
const MIN_SINCE: i64 = 1_688_540_400;

/// Largest answer read into memory. A page of 100 posts is tens of kilobytes; anything near this
/// is not an answer we want.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Where the API is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://graph.threads.net/` in production; the fake server's address in tests.
    pub api_base: Url,
    /// Timeout of `threads_publish`. Long on purpose (≥ 60 s): a publish that times out has an
    /// unknown outcome and costs a reconciliation, and Meta has been seen taking minutes.
    pub publish_timeout: Duration,
    /// Timeout of every other call.
    pub request_timeout: Duration,
    /// TCP + TLS connect timeout (only applied when the client builds its own reqwest client).
    pub connect_timeout: Duration,
    /// At most this many pages are fetched by `recent_posts`.
    pub max_pages: u32,
}

impl ClientConfig {
    /// Defaults: publish 120 s, other calls 30 s, connect 10 s, 10 pages.
    pub fn new(api_base: Url) -> Self {
        ClientConfig {
            api_base,
            publish_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_pages: 10,
        }
    }

    /// The production host with default timeouts. (A `Result` only because URL parsing is one;
    /// the constant parses, which a unit test checks.)
    pub fn production() -> Result<Self, url::ParseError> {
        Ok(ClientConfig::new(Url::parse(DEFAULT_API_BASE)?))
    }

    pub fn with_publish_timeout(mut self, t: Duration) -> Self {
        self.publish_timeout = t;
        self
    }

    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    pub fn with_max_pages(mut self, n: u32) -> Self {
        self.max_pages = n.max(1);
        self
    }
}

/// The client could not be built: the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Threads client: {0}")]
pub struct InvalidConfig(String);

/// A typed Threads API client. Cheap to clone (reqwest's client is an `Arc` inside).
#[derive(Clone)]
pub struct ThreadsClient {
    http: reqwest::Client,
    config: ClientConfig,
}

impl std::fmt::Debug for ThreadsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadsClient")
            .field("api_base", &self.config.api_base.as_str())
            .field("publish_timeout", &self.config.publish_timeout)
            .field("request_timeout", &self.config.request_timeout)
            .finish_non_exhaustive()
    }
}

impl ThreadsClient {
    /// A client with its own reqwest client. Redirects are not followed: the API never sends
    /// them, and following one would carry the token (in GET query strings) to another host.
    pub fn new(config: ClientConfig) -> Result<Self, InvalidConfig> {
        check_base(&config.api_base)?;
        let http = crate::tls::client_builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("feed2threads/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InvalidConfig(format!("HTTP client: {e}")))?;
        Ok(ThreadsClient { http, config })
    }

    /// A client on a caller-provided reqwest client (shared pools, custom TLS). Per-call
    /// timeouts still apply; the connect timeout and redirect policy are the given client's.
    pub fn with_http(config: ClientConfig, http: reqwest::Client) -> Result<Self, InvalidConfig> {
        check_base(&config.api_base)?;
        Ok(ThreadsClient { http, config })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Step 1 of publishing: `POST /v1.0/me/threads`. Returns the container id.
    ///
    /// Safe to repeat after a failure: an orphan container just expires after 24 h.
    pub async fn create_container(
        &self,
        token: &SecretString,
        container: &NewContainer,
    ) -> Result<ContainerId, ThreadsError> {
        let call = Call::CreateContainer;
        let url = self.graph_url(call, &["me", "threads"])?;
        let fields = container.form_fields();
        // Borrowed, so no owned copy of the token outlives the request builder.
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("access_token", token.expose_secret()));
        let req = self.http.post(url).form(&form);
        let id: IdOnly = self
            .execute(
                call,
                req,
                self.config.request_timeout,
                &[token.expose_secret()],
            )
            .await?;
        Ok(ContainerId::new(id.id))
    }

    /// `GET /v1.0/{container-id}?fields=id,status,error_message`.
    pub async fn container_status(
        &self,
        token: &SecretString,
        container: &ContainerId,
    ) -> Result<ContainerStatus, ThreadsError> {
        let call = Call::ContainerStatus;
        let url = self.graph_url(call, &[container.as_str()])?;
        self.get(
            call,
            url,
            &[("fields", "id,status,error_message")],
            token,
            &[],
        )
        .await
    }

    /// Step 2: `POST /v1.0/me/threads_publish`. **Not idempotent**: on an error whose action is
    /// `OutcomeUnknown`, check [`Self::container_status`] before anything else.
    pub async fn publish(
        &self,
        token: &SecretString,
        container: &ContainerId,
    ) -> Result<MediaId, ThreadsError> {
        let call = Call::Publish;
        let url = self.graph_url(call, &["me", "threads_publish"])?;
        let form = [
            ("creation_id", container.as_str()),
            ("access_token", token.expose_secret()),
        ];
        let req = self.http.post(url).form(&form);
        let id: IdOnly = self
            .execute(
                call,
                req,
                self.config.publish_timeout,
                &[token.expose_secret()],
            )
            .await?;
        Ok(MediaId::new(id.id))
    }

    /// `GET /v1.0/{media-id}?fields=...`: the permalink (absent for copyrighted content), text,
    /// timestamp and link of one published post.
    pub async fn get_post(
        &self,
        token: &SecretString,
        media: &MediaId,
    ) -> Result<Post, ThreadsError> {
        let call = Call::GetPost;
        let url = self.graph_url(call, &[media.as_str()])?;
        self.get(call, url, &[("fields", POST_FIELDS)], token, &[])
            .await
    }

    /// The user's posts published at or after `since`, newest first: `GET /v1.0/me/threads`,
    /// following `paging.next` for at most `max_pages` pages. `limit` is the page size (1–100).
    ///
    /// The next page is requested from our own base URL with the parameters of `paging.next`
    /// (or its `after` cursor), never by fetching the server-given URL itself, so our token
    /// can't be sent to a host other than the configured one.
    pub async fn recent_posts(
        &self,
        token: &SecretString,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<RecentPosts, ThreadsError> {
        self.list_own(Call::RecentPosts, "threads", token, since, limit)
            .await
    }

    /// The user's replies published at or after `since`, newest first: `GET
    /// /v1.0/me/replies`, paged like [`Self::recent_posts`] (which lists top-level posts
    /// only).
    pub async fn recent_replies(
        &self,
        token: &SecretString,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<RecentPosts, ThreadsError> {
        self.list_own(Call::RecentReplies, "replies", token, since, limit)
            .await
    }

    /// `GET /v1.0/me/{edge}` from `since` on, following pages up to the bound.
    async fn list_own(
        &self,
        call: Call,
        edge: &str,
        token: &SecretString,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<RecentPosts, ThreadsError> {
        let mut params: Vec<(String, String)> = vec![
            ("fields".into(), POST_FIELDS.into()),
            ("since".into(), since.timestamp().max(MIN_SINCE).to_string()),
            ("limit".into(), limit.clamp(1, 100).to_string()),
        ];
        let mut posts = Vec::new();
        for _ in 0..self.config.max_pages {
            let url = self.graph_url(call, &["me", edge])?;
            let borrowed: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let page: PostsPage = self.get(call, url, &borrowed, token, &[]).await?;
            let got = page.data.len();
            posts.extend(page.data);
            let Some(next) = page.paging.and_then(|p| next_page_params(&params, p)) else {
                return Ok(RecentPosts {
                    posts,
                    complete: true,
                });
            };
            // The server says there is more but gives nothing new to ask for: stop, and don't
            // claim the list is complete.
            if got == 0 || next == params {
                debug!(call = %call, "paging made no progress; stopping");
                return Ok(RecentPosts {
                    posts,
                    complete: false,
                });
            }
            params = next;
        }
        debug!(
            call = %call,
            pages = self.config.max_pages,
            posts = posts.len(),
            "stopped following pages at the bound"
        );
        Ok(RecentPosts {
            posts,
            complete: false,
        })
    }

    /// `GET /v1.0/me/threads_publishing_limit?fields=quota_usage,config`.
    pub async fn publishing_limit(
        &self,
        token: &SecretString,
    ) -> Result<PublishingLimit, ThreadsError> {
        let call = Call::PublishingLimit;
        let url = self.graph_url(call, &["me", "threads_publishing_limit"])?;
        let wire: PublishingLimitWire = self
            .get(call, url, &[("fields", "quota_usage,config")], token, &[])
            .await?;
        let entry = wire.data.into_iter().next().ok_or_else(|| {
            ThreadsError::new(
                call,
                ErrorKind::Malformed {
                    status: 200,
                    detail: "empty `data` list".into(),
                    snippet: String::new(),
                },
            )
        })?;
        Ok(PublishingLimit {
            quota_usage: entry.quota_usage,
            quota_total: entry.config.quota_total,
            quota_duration: entry.config.quota_duration,
        })
    }

    /// `GET /v1.0/me?fields=id,username`: whose token this is.
    pub async fn me(&self, token: &SecretString) -> Result<Me, ThreadsError> {
        let call = Call::Me;
        let url = self.graph_url(call, &["me"])?;
        self.get(call, url, &[("fields", "id,username")], token, &[])
            .await
    }

    /// `GET /v1.0/debug_token?input_token=...`: validity, expiry and scopes of `input`.
    /// `token` must belong to a tester of the same app (it may be `input` itself).
    pub async fn debug_token(
        &self,
        token: &SecretString,
        input: &SecretString,
    ) -> Result<TokenInfo, ThreadsError> {
        let call = Call::DebugToken;
        let url = self.graph_url(call, &["debug_token"])?;
        let wire: TokenInfoWire = self
            .get(
                call,
                url,
                &[("input_token", input.expose_secret())],
                token,
                &[input.expose_secret()],
            )
            .await?;
        Ok(wire.data)
    }

    /// `GET /refresh_access_token?grant_type=th_refresh_token`. The token must be at least 24 h
    /// old and not expired. Store the returned token: it need not equal the old one.
    pub async fn refresh_token(&self, token: &SecretString) -> Result<AccessToken, ThreadsError> {
        let call = Call::RefreshToken;
        let url = self.token_url(call, &["refresh_access_token"])?;
        self.get(call, url, &[("grant_type", "th_refresh_token")], token, &[])
            .await
    }

    /// `POST /oauth/access_token`: authorization code → short-lived (1 h) token and user id.
    /// A trailing `#_`, which Meta appends to the redirect, is stripped from `code`.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &str,
        redirect_uri: &str,
    ) -> Result<ShortLivedToken, ThreadsError> {
        let call = Call::ExchangeCode;
        let url = self.token_url(call, &["oauth", "access_token"])?;
        let code = code.strip_suffix("#_").unwrap_or(code);
        let form = [
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
        ];
        let req = self.http.post(url).form(&form);
        self.execute(
            call,
            req,
            self.config.request_timeout,
            &[client_secret.expose_secret(), code],
        )
        .await
    }

    /// `GET /access_token?grant_type=th_exchange_token`: short-lived → long-lived (60 days).
    pub async fn exchange_long_lived(
        &self,
        client_secret: &SecretString,
        short_token: &SecretString,
    ) -> Result<AccessToken, ThreadsError> {
        let call = Call::ExchangeLongLived;
        let url = self.token_url(call, &["access_token"])?;
        self.get(
            call,
            url,
            &[
                ("grant_type", "th_exchange_token"),
                ("client_secret", client_secret.expose_secret()),
            ],
            short_token,
            &[client_secret.expose_secret()],
        )
        .await
    }

    fn graph_url(&self, call: Call, segments: &[&str]) -> Result<Url, ThreadsError> {
        build_url(&self.config.api_base, call, Some(API_VERSION), segments)
    }

    fn token_url(&self, call: Call, segments: &[&str]) -> Result<Url, ThreadsError> {
        build_url(&self.config.api_base, call, None, segments)
    }

    /// A GET with `params` and the token in the query string (as the API documents it).
    async fn get<T: DeserializeOwned>(
        &self,
        call: Call,
        mut url: Url,
        params: &[(&str, &str)],
        token: &SecretString,
        extra_secrets: &[&str],
    ) -> Result<T, ThreadsError> {
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            q.append_pair("access_token", token.expose_secret());
        }
        let mut secrets = vec![token.expose_secret()];
        secrets.extend_from_slice(extra_secrets);
        let req = self.http.get(url);
        self.execute(call, req, self.config.request_timeout, &secrets)
            .await
    }

    /// Sends, logs Meta's headers, reads a bounded body and decodes it or the error it holds.
    async fn execute<T: DeserializeOwned>(
        &self,
        call: Call,
        req: RequestBuilder,
        timeout: Duration,
        secrets: &[&str],
    ) -> Result<T, ThreadsError> {
        let started = Instant::now();
        let mut resp = req
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ThreadsError::from_reqwest(call, e))?;
        let status = resp.status();
        log_response(call, status, resp.headers(), started);

        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ThreadsError::from_reqwest(call, e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }

        if !status.is_success() {
            let err = ThreadsError::from_response(call, status, &body, secrets);
            debug!(
                call = %call,
                status = status.as_u16(),
                code = ?err.code(),
                subcode = ?err.subcode(),
                fbtrace_id = ?err.fbtrace_id(),
                is_transient = ?err.is_transient_flag(),
                action = %err.action(),
                "Threads API error"
            );
            return Err(err);
        }
        if truncated {
            return Err(malformed(
                call,
                status,
                format!("answer larger than {MAX_BODY} bytes"),
                &body,
                secrets,
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            // serde's messages quote the offending value; on token endpoints that value (and the
            // body) may be the new token, so only the position is kept there.
            let detail = if returns_token(call) {
                format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                )
            } else {
                e.to_string()
            };
            malformed(call, status, detail, &body, secrets)
        })
    }
}

fn returns_token(call: Call) -> bool {
    matches!(
        call,
        Call::RefreshToken | Call::ExchangeCode | Call::ExchangeLongLived
    )
}

fn malformed(
    call: Call,
    status: StatusCode,
    detail: String,
    body: &[u8],
    secrets: &[&str],
) -> ThreadsError {
    let snippet = if returns_token(call) {
        "[withheld: token endpoint answer]".to_owned()
    } else {
        snippet(body, secrets)
    };
    ThreadsError::new(
        call,
        ErrorKind::Malformed {
            status: status.as_u16(),
            detail,
            snippet,
        },
    )
}

fn check_base(base: &Url) -> Result<(), InvalidConfig> {
    if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
        return Err(InvalidConfig(format!(
            "api_base {base} must be an http(s) URL such as {DEFAULT_API_BASE}"
        )));
    }
    Ok(())
}

/// `{base}/{version}/{segments...}`, keeping any path prefix of the base and percent-encoding
/// each segment (ids come from the server and are not trusted to be URL-safe).
fn build_url(
    base: &Url,
    call: Call,
    version: Option<&str>,
    segments: &[&str],
) -> Result<Url, ThreadsError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            ThreadsError::new(
                call,
                ErrorKind::InvalidRequest(format!("api_base {base} cannot be a base URL")),
            )
        })?;
        path.pop_if_empty();
        if let Some(v) = version {
            path.push(v);
        }
        path.extend(segments);
    }
    Ok(url)
}

/// Parameters for the next page, or `None` when the API says there is none (no `paging.next`).
fn next_page_params(current: &[(String, String)], paging: Paging) -> Option<Vec<(String, String)>> {
    let next = paging.next?;
    if let Ok(url) = Url::parse(&next) {
        let mut params: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !params.is_empty() {
            if !params.iter().any(|(k, _)| k == "fields") {
                params.push(("fields".into(), POST_FIELDS.into()));
            }
            return Some(params);
        }
    }
    let after = paging.cursors?.after?;
    let mut params: Vec<(String, String)> = current
        .iter()
        .filter(|(k, _)| k != "after" && k != "before")
        .cloned()
        .collect();
    params.push(("after".into(), after));
    Some(params)
}

/// Meta's trace and usage headers, at debug level: support needs the trace id, and usage headers
/// (if Threads sends them at all) show how close we are to rate limits.
fn log_response(call: Call, status: StatusCode, headers: &HeaderMap, started: Instant) {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    debug!(
        call = %call,
        status = status.as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        fb_trace_id = ?h("x-fb-trace-id"),
        fb_request_id = ?h("x-fb-request-id"),
        app_usage = ?h("x-app-usage"),
        business_use_case_usage = ?h("x-business-use-case-usage"),
        "Threads API answered"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::types::Cursors;

    #[test]
    fn production_base_parses() {
        assert_eq!(
            ClientConfig::production().unwrap().api_base.as_str(),
            DEFAULT_API_BASE
        );
    }

    #[test]
    fn urls_keep_prefix_and_version_rules() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        let g = build_url(&base, Call::Me, Some(API_VERSION), &["me", "threads"]).unwrap();
        assert_eq!(g.as_str(), "http://127.0.0.1:9/prefix/v1.0/me/threads");
        let t = build_url(&base, Call::RefreshToken, None, &["refresh_access_token"]).unwrap();
        assert_eq!(t.as_str(), "http://127.0.0.1:9/prefix/refresh_access_token");
        let bare = Url::parse("https://graph.threads.net").unwrap();
        let g = build_url(&bare, Call::Me, Some(API_VERSION), &["a/b?c"]).unwrap();
        assert_eq!(g.as_str(), "https://graph.threads.net/v1.0/a%2Fb%3Fc");
    }

    #[test]
    fn rejects_unusable_base() {
        let cfg = ClientConfig::new(Url::parse("mailto:x@example.com").unwrap());
        assert!(ThreadsClient::new(cfg).is_err());
    }

    #[test]
    fn next_page_from_url_drops_token() {
        let current = vec![("fields".to_owned(), "id".to_owned())];
        let paging = Paging {
            next: Some(
                "https://graph.threads.net/v1.0/me/threads?since=1&limit=2&after=XYZ&access_token=SECRET"
                    .into(),
            ),
            cursors: None,
        };
        let p = next_page_params(&current, paging).unwrap();
        assert!(p.iter().all(|(k, _)| k != "access_token"));
        assert!(p.contains(&("after".into(), "XYZ".into())));
        assert!(p.iter().any(|(k, _)| k == "fields"));
    }

    #[test]
    fn next_page_from_cursor_or_none() {
        let current = vec![
            ("since".to_owned(), "5".to_owned()),
            ("after".to_owned(), "OLD".to_owned()),
        ];
        let paging = Paging {
            next: Some("not a url".into()),
            cursors: Some(Cursors {
                after: Some("NEW".into()),
            }),
        };
        let p = next_page_params(&current, paging).unwrap();
        assert_eq!(
            p,
            vec![
                ("since".to_owned(), "5".to_owned()),
                ("after".to_owned(), "NEW".to_owned())
            ]
        );
        let last = Paging {
            next: None,
            cursors: Some(Cursors {
                after: Some("NEW".into()),
            }),
        };
        assert!(next_page_params(&current, last).is_none());
    }

    #[test]
    fn debug_output_has_no_secrets_to_show() {
        let client = ThreadsClient::new(ClientConfig::production().unwrap()).unwrap();
        let s = format!("{client:?}");
        assert!(s.contains("graph.threads.net"));
    }
}
