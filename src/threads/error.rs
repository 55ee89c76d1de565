//! `ThreadsError`: every way a Threads API call can fail, and what the caller should do about it.
//!
//! Owns the parsing of both error shapes the API uses (the Graph envelope on `/v1.0/...` and the
//! flat OAuth shape on the token endpoints), the classification of network failures by whether
//! the request may have reached the server, and the decision table [`ThreadsError::action`].
//! It never holds an access token, app secret or request URL: bodies are redacted by the client
//! before they get here and reqwest errors are stripped of their URL.

use std::fmt;

use reqwest::StatusCode;
use serde_json::Value;

/// A boxed source error. Boxed rather than `reqwest::Error` so tests (ours and other modules')
/// can build network errors from plain `std::io::Error`s.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Longest raw-body excerpt kept in an error, in bytes. Enough to recognise an HTML error page or
/// a proxy message; short enough for a log line.
const SNIPPET_MAX: usize = 300;

/// Which API call failed. The same error means different things on different calls (a timeout on
/// a GET is harmless, on `threads_publish` the post may exist), so every error carries this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `POST /v1.0/me/threads`
    CreateContainer,
    /// `GET /v1.0/{container-id}?fields=status,error_message`
    ContainerStatus,
    /// `POST /v1.0/me/threads_publish`: not idempotent.
    Publish,
    /// `GET /v1.0/{media-id}?fields=...`
    GetPost,
    /// `GET /v1.0/me/threads`
    RecentPosts,
    /// `GET /v1.0/me/replies`
    RecentReplies,
    /// `GET /v1.0/me/threads_publishing_limit`
    PublishingLimit,
    /// `GET /v1.0/me`
    Me,
    /// `GET /v1.0/debug_token`
    DebugToken,
    /// `GET /refresh_access_token`
    RefreshToken,
    /// `POST /oauth/access_token`
    ExchangeCode,
    /// `GET /access_token?grant_type=th_exchange_token`
    ExchangeLongLived,
}

impl Call {
    /// A short stable name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::CreateContainer => "create container",
            Call::ContainerStatus => "container status",
            Call::Publish => "threads_publish",
            Call::GetPost => "get post",
            Call::RecentPosts => "list recent posts",
            Call::RecentReplies => "list recent replies",
            Call::PublishingLimit => "publishing limit",
            Call::Me => "get profile",
            Call::DebugToken => "debug token",
            Call::RefreshToken => "refresh token",
            Call::ExchangeCode => "exchange authorization code",
            Call::ExchangeLongLived => "exchange for long-lived token",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller should do after an error. Decided by [`ThreadsError::action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Transient: back off and make the same call again.
    RetryLater,
    /// `threads_publish` said the container is not visible yet (24 / 4279009): wait a few
    /// seconds and publish the *same* container again, a bounded number of times.
    NotReadyYet,
    /// The token is expired, invalid or revoked: try one refresh if it may still be valid,
    /// otherwise the user must authorize again. Retrying the call won't help.
    TokenProblem,
    /// The 250-posts-per-24 h publishing quota is used up: wait for the moving window.
    QuotaSpent,
    /// The request itself is wrong (bad parameter, missing permission, too many links, media that
    /// can't be fetched): sending it again gives the same answer.
    Permanent,
    /// `threads_publish` may or may not have created the post (timeout, lost connection after
    /// sending, 5xx, code 10). Check the container status before doing anything else; never
    /// publish again blindly.
    OutcomeUnknown,
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorAction::RetryLater => "retry later",
            ErrorAction::NotReadyYet => "not ready yet",
            ErrorAction::TokenProblem => "token problem",
            ErrorAction::QuotaSpent => "quota spent",
            ErrorAction::Permanent => "permanent",
            ErrorAction::OutcomeUnknown => "outcome unknown",
        })
    }
}

/// Which of the two error bodies the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error":{"message","type","code","error_subcode",...}}` (graph endpoints).
    Graph,
    /// `{"error_type","code","error_message"}` or `{"error_message","error_code"}` (token and
    /// authorize endpoints), or OAuth2's `{"error","error_description"}`.
    Flat,
}

/// An error body the server sent, parsed. Strings are as the server sent them, minus any secret
/// of the request (redacted by the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response.
    pub http_status: u16,
    pub shape: ErrorShape,
    /// `message` / `error_message`; may be empty.
    pub message: String,
    /// `type` / `error_type`, e.g. `OAuthException`, `THApiException`.
    pub error_type: Option<String>,
    /// `code` / `error_code`.
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    /// Localized: shown to people, never matched on.
    pub user_title: Option<String>,
    /// Localized: shown to people; matched on only for the link-limit marker, which is an
    /// untranslated constant.
    pub user_msg: Option<String>,
    /// Meta's trace id for support requests; expires quickly, so it goes to the logs at once.
    pub fbtrace_id: Option<String>,
    pub is_transient: Option<bool>,
}

/// Graph codes that say "slow down, try again later" (Graph API "Handling Errors" table).
const TRANSIENT_CODES: &[i64] = &[1, 2, 4, 17, 32, 341, 368, 613];
/// Graph codes that say the token is bad.
const TOKEN_CODES: &[i64] = &[190, 102];
/// Token-related subcodes: 458 app removed, 459 checkpoint, 460 password changed, 463 expired,
/// 464 unconfirmed user, 467 invalid, 492 invalid session.
const TOKEN_SUBCODES: &[i64] = &[458, 459, 460, 463, 464, 467, 492];
/// Subcode Meta uses for "container not yet visible" on publish (with code 24).
pub const SUBCODE_MEDIA_NOT_FOUND: i64 = 4_279_009;
/// Instagram's "publishing limit reached" subcode; Threads' own is undocumented, so we assume
/// the same (and the fake server sends it, with code 4).
pub const SUBCODE_QUOTA_REACHED: i64 = 2_207_042;
/// "Media could not be fetched from this URI".
pub const SUBCODE_MEDIA_FETCH_FAILED: i64 = 2_207_052;
/// Marker string for "more than 5 links"; where it appears in the body is undocumented.
pub const LINK_LIMIT_MARKER: &str = "THREADS_API__LINK_LIMIT_EXCEEDED";

impl ApiError {
    /// Parses an error body in either shape. `None` when the body is not JSON or not an error
    /// object we recognise; the caller then keeps a snippet of the raw body.
    pub fn parse(http_status: u16, body: &[u8]) -> Option<ApiError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        if let Some(inner) = obj.get("error").and_then(Value::as_object) {
            return Some(ApiError {
                http_status,
                shape: ErrorShape::Graph,
                message: str_field(inner, "message").unwrap_or_default(),
                error_type: str_field(inner, "type"),
                code: int_field(inner, "code"),
                subcode: int_field(inner, "error_subcode"),
                user_title: str_field(inner, "error_user_title"),
                user_msg: str_field(inner, "error_user_msg"),
                fbtrace_id: str_field(inner, "fbtrace_id"),
                is_transient: bool_field(inner, "is_transient"),
            });
        }
        let flat_message = str_field(obj, "error_message");
        let flat_code = int_field(obj, "error_code").or_else(|| int_field(obj, "code"));
        if flat_message.is_some()
            || obj.contains_key("error_type")
            || obj.contains_key("error_code")
        {
            return Some(ApiError {
                http_status,
                shape: ErrorShape::Flat,
                message: flat_message.unwrap_or_default(),
                error_type: str_field(obj, "error_type"),
                code: flat_code,
                subcode: int_field(obj, "error_subcode"),
                user_title: None,
                user_msg: None,
                fbtrace_id: str_field(obj, "fbtrace_id"),
                is_transient: bool_field(obj, "is_transient"),
            });
        }
        // OAuth2-style `{"error":"invalid_request","error_description":"..."}`: not documented
        // for Threads, but cheap to understand if a proxy or a future endpoint sends it.
        if let Some(kind) = str_field(obj, "error") {
            return Some(ApiError {
                http_status,
                shape: ErrorShape::Flat,
                message: str_field(obj, "error_description").unwrap_or_default(),
                error_type: Some(kind),
                code: None,
                subcode: None,
                user_title: None,
                user_msg: None,
                fbtrace_id: None,
                is_transient: None,
            });
        }
        None
    }

    /// Whether the code or subcode says the token is unusable.
    pub fn is_token_error(&self) -> bool {
        self.code.is_some_and(|c| TOKEN_CODES.contains(&c))
            || self.subcode.is_some_and(|s| TOKEN_SUBCODES.contains(&s))
    }

    /// More than 5 links. Matched anywhere in `message` or `error_user_msg` because the JSON
    /// encoding is undocumented.
    pub fn is_link_limit(&self) -> bool {
        self.message.contains(LINK_LIMIT_MARKER)
            || self
                .user_msg
                .as_deref()
                .is_some_and(|m| m.contains(LINK_LIMIT_MARKER))
    }

    /// The container was not visible to publish yet (24 / 4279009).
    pub fn is_media_not_found(&self) -> bool {
        self.subcode == Some(SUBCODE_MEDIA_NOT_FOUND)
    }

    /// The publishing quota is spent. The Threads error is undocumented: we accept Instagram's
    /// subcode 2207042, and otherwise a message about a *post* limit or quota. Plain code 4
    /// ("Application request limit reached") is app throttling, not the quota, so the phrases
    /// below are chosen not to match it.
    pub fn is_quota_spent(&self) -> bool {
        if self.subcode == Some(SUBCODE_QUOTA_REACHED) {
            return true;
        }
        let texts = [Some(self.message.as_str()), self.user_msg.as_deref()];
        texts.into_iter().flatten().any(|t| {
            let t = t.to_ascii_lowercase();
            [
                "maximum number of posts",
                "publishing limit",
                "publish limit",
                "posting limit",
                "post limit",
                "posts limit",
                "quota",
            ]
            .iter()
            .any(|p| t.contains(p))
        })
    }

    fn is_permission_error(&self) -> bool {
        self.code
            .is_some_and(|c| c == 10 || (200..=299).contains(&c))
    }

    fn is_transient_code(&self) -> bool {
        self.code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
    }

    fn is_media_fetch_failure(&self) -> bool {
        self.subcode == Some(SUBCODE_MEDIA_FETCH_FAILED)
    }

    fn is_server_error(&self) -> bool {
        self.http_status >= 500
    }

    fn redact(&mut self, secrets: &[&str]) {
        self.message = redact(&self.message, secrets);
        for field in [
            &mut self.user_title,
            &mut self.user_msg,
            &mut self.error_type,
            &mut self.fbtrace_id,
        ] {
            if let Some(s) = field.as_mut() {
                *s = redact(s, secrets);
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http_status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        if let Some(sub) = self.subcode {
            write!(f, "/{sub}")?;
        }
        if let Some(t) = &self.error_type {
            write!(f, " {t}")?;
        }
        if self.message.is_empty() {
            f.write_str(": (no message)")?;
        } else {
            write!(f, ": {}", self.message)?;
        }
        if let Some(m) = &self.user_msg {
            write!(f, " ({m})")?;
        }
        if let Some(t) = &self.fbtrace_id {
            write!(f, " [fbtrace_id {t}]")?;
        }
        Ok(())
    }
}

fn str_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Codes are numbers in every documented example, but a string of digits costs nothing to accept.
fn int_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<i64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Replaces every occurrence of each secret with `[redacted]`. Secrets shorter than 8 bytes are
/// skipped: real ones are far longer, and replacing short strings would mangle ordinary text.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 8 && out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

/// A bounded, single-line excerpt of a body for error messages: HTML error pages and proxy
/// answers are recognisable from their start.
pub(crate) fn snippet(body: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = redact(&collapsed, secrets);
    if out.len() > SNIPPET_MAX {
        let mut cut = SNIPPET_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The failure itself, without the call it happened on.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The server answered with an error body we understood.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The server answered with a non-success status and a body we did not understand
    /// (an HTML page from a proxy, an empty body...).
    #[error("HTTP {status} with an unrecognised body: {snippet:?}")]
    Http { status: u16, snippet: String },
    /// A success status whose body we could not use (not the JSON we expected, or too large).
    #[error("HTTP {status} but the answer is unusable ({detail}); body starts {snippet:?}")]
    Malformed {
        status: u16,
        detail: String,
        snippet: String,
    },
    /// No answer within the timeout. The request may have reached the server and been acted on.
    #[error("timed out waiting for the answer; the request may have reached the server")]
    Timeout {
        #[source]
        source: BoxError,
    },
    /// The connection broke after the request was (at least partly) sent: the server may have
    /// acted on it.
    #[error(
        "connection lost before the full answer arrived; the request may have reached the server"
    )]
    ConnectionLost {
        #[source]
        source: BoxError,
    },
    /// Could not connect (refused, DNS, TLS handshake). Nothing was sent: certainly not acted on.
    #[error("could not connect to the Threads API; the request was not sent")]
    Connect {
        #[source]
        source: BoxError,
    },
    /// Another transport failure after connecting; the request may have reached the server.
    #[error("network error; the request may have reached the server")]
    Network {
        #[source]
        source: BoxError,
    },
    /// The request could not be built (bad base URL...). Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// An error from one Threads API call: the call, and what went wrong.
///
/// `Display` gives one line with the call, the HTTP status, code/subcode, message and
/// `fbtrace_id`; the underlying transport error is available as `source()`.
#[derive(Debug)]
pub struct ThreadsError {
    call: Call,
    kind: ErrorKind,
}

impl fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.kind)
    }
}

impl std::error::Error for ThreadsError {
    // The kind's own text is already in our Display; expose only the transport error beneath it
    // so `{:#}` chains don't repeat the message.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

impl ThreadsError {
    /// Builds an error; public so other modules' tests can fabricate any failure.
    pub fn new(call: Call, kind: ErrorKind) -> Self {
        ThreadsError { call, kind }
    }

    /// An error for a non-success response: parsed if the body is in either known shape,
    /// otherwise the status and a bounded snippet. `secrets` are redacted from every string kept.
    pub fn from_response(call: Call, status: StatusCode, body: &[u8], secrets: &[&str]) -> Self {
        let kind = match ApiError::parse(status.as_u16(), body) {
            Some(mut api) => {
                api.redact(secrets);
                ErrorKind::Api(Box::new(api))
            }
            None => ErrorKind::Http {
                status: status.as_u16(),
                snippet: snippet(body, secrets),
            },
        };
        ThreadsError::new(call, kind)
    }

    /// Maps a reqwest transport error, dropping its URL (GET URLs carry the access token).
    pub fn from_reqwest(call: Call, err: reqwest::Error) -> Self {
        let err = err.without_url();
        let kind = if err.is_connect() {
            // Checked before is_timeout: a connect timeout is both, and nothing was sent.
            ErrorKind::Connect {
                source: Box::new(err),
            }
        } else if err.is_timeout() {
            ErrorKind::Timeout {
                source: Box::new(err),
            }
        } else if err.is_builder() {
            ErrorKind::InvalidRequest(err.to_string())
        } else if err.is_body() || err.is_decode() || looks_like_connection_lost(&err) {
            ErrorKind::ConnectionLost {
                source: Box::new(err),
            }
        } else {
            ErrorKind::Network {
                source: Box::new(err),
            }
        };
        ThreadsError::new(call, kind)
    }

    pub fn call(&self) -> Call {
        self.call
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The parsed error body, if the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match &self.kind {
            ErrorKind::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status, if an answer arrived.
    pub fn http_status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Api(api) => Some(api.http_status),
            ErrorKind::Http { status, .. } | ErrorKind::Malformed { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<i64> {
        self.api().and_then(|a| a.code)
    }

    pub fn subcode(&self) -> Option<i64> {
        self.api().and_then(|a| a.subcode)
    }

    pub fn fbtrace_id(&self) -> Option<&str> {
        self.api().and_then(|a| a.fbtrace_id.as_deref())
    }

    pub fn is_transient_flag(&self) -> Option<bool> {
        self.api().and_then(|a| a.is_transient)
    }

    /// False only when we know the request never left this machine.
    pub fn may_have_reached_server(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Connect { .. } | ErrorKind::InvalidRequest(_)
        )
    }

    /// Whether making the same call again later is the right move (`RetryLater` or
    /// `NotReadyYet`). Never true for a publish whose outcome is unknown.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.action(),
            ErrorAction::RetryLater | ErrorAction::NotReadyYet
        )
    }

    /// What to do about this error, given the call it happened on.
    ///
    /// The publish rules are the strict ones: `threads_publish` is not idempotent, so anything
    /// that does not prove the post was *not* created is `OutcomeUnknown` (timeouts, connections
    /// lost after sending, every 5xx, code 10 which Meta returns on false failures, and the
    /// "unknown"/"temporary" codes 1 and 2). Rejections that prove nothing happened (4279009,
    /// quota, bad token, throttling, bad parameters) keep their own action.
    pub fn action(&self) -> ErrorAction {
        let publish = self.call == Call::Publish;
        match &self.kind {
            ErrorKind::InvalidRequest(_) => ErrorAction::Permanent,
            // Nothing was sent, so even a publish is safe to repeat.
            ErrorKind::Connect { .. } => ErrorAction::RetryLater,
            ErrorKind::Timeout { .. }
            | ErrorKind::ConnectionLost { .. }
            | ErrorKind::Network { .. } => {
                if publish {
                    ErrorAction::OutcomeUnknown
                } else {
                    ErrorAction::RetryLater
                }
            }
            // A 2xx we can't read: on publish the post probably exists (Meta documents publish
            // answers without a media id); elsewhere a schema we don't understand won't change
            // by asking again.
            ErrorKind::Malformed { .. } => {
                if publish {
                    ErrorAction::OutcomeUnknown
                } else {
                    ErrorAction::Permanent
                }
            }
            ErrorKind::Http { status, .. } => status_only_action(self.call, *status),
            ErrorKind::Api(api) => {
                if publish {
                    publish_action(api)
                } else {
                    other_action(self.call, api)
                }
            }
        }
    }
}

/// Unparsed error bodies: only the status to go on.
fn status_only_action(call: Call, status: u16) -> ErrorAction {
    match status {
        500..=599 if call == Call::Publish => ErrorAction::OutcomeUnknown,
        500..=599 | 408 | 429 => ErrorAction::RetryLater,
        401 => ErrorAction::TokenProblem,
        _ => ErrorAction::Permanent,
    }
}

fn publish_action(api: &ApiError) -> ErrorAction {
    if api.is_server_error() || api.code == Some(10) {
        return ErrorAction::OutcomeUnknown;
    }
    if api.is_token_error() {
        return ErrorAction::TokenProblem;
    }
    if api.is_quota_spent() {
        return ErrorAction::QuotaSpent;
    }
    if api.is_media_not_found() || api.code == Some(24) {
        return ErrorAction::NotReadyYet;
    }
    if api.is_link_limit()
        || api.is_media_fetch_failure()
        || api.code == Some(100)
        || api.is_permission_error()
    {
        return ErrorAction::Permanent;
    }
    // Throttling is applied before the request is processed: safe to retry later.
    if matches!(api.code, Some(4 | 17 | 32 | 341 | 368 | 613)) {
        return ErrorAction::RetryLater;
    }
    // "Unknown error" (1), "service temporarily unavailable" (2) or an explicit transient flag
    // may come after the post was created.
    if matches!(api.code, Some(1 | 2)) || api.is_transient == Some(true) {
        return ErrorAction::OutcomeUnknown;
    }
    ErrorAction::Permanent
}

fn other_action(call: Call, api: &ApiError) -> ErrorAction {
    if api.is_token_error() {
        return ErrorAction::TokenProblem;
    }
    if api.is_link_limit() || api.is_media_fetch_failure() {
        return ErrorAction::Permanent;
    }
    if api.is_media_not_found() {
        return ErrorAction::NotReadyYet;
    }
    if api.subcode == Some(SUBCODE_QUOTA_REACHED) {
        return ErrorAction::QuotaSpent;
    }
    // Explicit "fix your request" codes win over an is_transient flag.
    if api.code == Some(100) || api.is_permission_error() {
        return if call == Call::RefreshToken {
            ErrorAction::TokenProblem
        } else {
            ErrorAction::Permanent
        };
    }
    if api.is_transient_code()
        || api.is_transient == Some(true)
        || api.is_server_error()
        || matches!(api.http_status, 408 | 429)
    {
        return ErrorAction::RetryLater;
    }
    // A refresh that fails for any other reason means the token can't be extended: the docs
    // say to treat it as "needs re-authorization".
    if call == Call::RefreshToken {
        return ErrorAction::TokenProblem;
    }
    ErrorAction::Permanent
}

/// hyper reports a connection closed mid-answer as "connection closed before message completed"
/// (IncompleteMessage); hyper is not a direct dependency, so we look for that text and for reset
/// or aborted I/O errors in the source chain. This only picks the variant's label: both
/// `ConnectionLost` and `Network` mean "may have reached the server" and get the same action.
fn looks_like_connection_lost(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        if e.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_err(call: Call, status: u16, body: &str) -> ThreadsError {
        let status = StatusCode::from_u16(status).unwrap();
        ThreadsError::from_response(call, status, body.as_bytes(), &[])
    }

    fn graph(code: i64, subcode: Option<i64>, transient: Option<bool>, message: &str) -> String {
        let mut inner = serde_json::json!({
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEf123",
        });
        if let Some(s) = subcode {
            inner["error_subcode"] = s.into();
        }
        if let Some(t) = transient {
            inner["is_transient"] = t.into();
        }
        serde_json::json!({ "error": inner }).to_string()
    }

    #[test]
    fn parses_graph_envelope() {
        let body = r#"{"error":{"message":"The requested resource does not exist","type":"OAuthException","code":24,"error_subcode":4279009,"is_transient":false,"error_user_title":"Media Not Found","error_user_msg":"The requested resource does not exist.","fbtrace_id":"AXyz123"}}"#;
        let e = ApiError::parse(400, body.as_bytes()).unwrap();
        assert_eq!(e.shape, ErrorShape::Graph);
        assert_eq!(e.code, Some(24));
        assert_eq!(e.subcode, Some(4_279_009));
        assert_eq!(e.is_transient, Some(false));
        assert_eq!(e.fbtrace_id.as_deref(), Some("AXyz123"));
        assert_eq!(e.user_title.as_deref(), Some("Media Not Found"));
        assert_eq!(e.error_type.as_deref(), Some("OAuthException"));
        assert_eq!(e.http_status, 400);
    }

    #[test]
    fn parses_flat_oauth_shape() {
        let body = r#"{"error_type": "OAuthException", "code": 400, "error_message": "Matching code was not found or was already used"}"#;
        let e = ApiError::parse(400, body.as_bytes()).unwrap();
        assert_eq!(e.shape, ErrorShape::Flat);
        assert_eq!(e.code, Some(400));
        assert_eq!(e.message, "Matching code was not found or was already used");
        assert_eq!(e.error_type.as_deref(), Some("OAuthException"));
    }

    #[test]
    fn parses_flat_authorize_shape() {
        let body = r#"{"error_message":"Invalid Request: The user has not accepted the invite to test the app","error_code":1349245}"#;
        let e = ApiError::parse(400, body.as_bytes()).unwrap();
        assert_eq!(e.shape, ErrorShape::Flat);
        assert_eq!(e.code, Some(1_349_245));
        assert!(e.message.contains("not accepted the invite"));
    }

    #[test]
    fn parses_oauth2_style_error() {
        let body = r#"{"error":"invalid_request","error_description":"bad"}"#;
        let e = ApiError::parse(400, body.as_bytes()).unwrap();
        assert_eq!(e.error_type.as_deref(), Some("invalid_request"));
        assert_eq!(e.message, "bad");
    }

    #[test]
    fn tolerates_string_codes_and_missing_fields() {
        let body = r#"{"error":{"code":"190","is_transient":"true"}}"#;
        let e = ApiError::parse(401, body.as_bytes()).unwrap();
        assert_eq!(e.code, Some(190));
        assert_eq!(e.is_transient, Some(true));
        assert_eq!(e.message, "");
    }

    #[test]
    fn unknown_json_and_html_bodies_keep_status_and_snippet() {
        for body in [
            r#"{"data":[]}"#,
            "[1,2,3]",
            "",
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
        ] {
            let err = api_err(Call::RecentPosts, 502, body);
            match err.kind() {
                ErrorKind::Http { status, snippet } => {
                    assert_eq!(*status, 502);
                    assert!(!snippet.contains('\n'));
                }
                other => panic!("unexpected kind {other:?} for {body:?}"),
            }
            assert_eq!(err.http_status(), Some(502));
        }
        let html = api_err(Call::Me, 502, "<html><title>502 Bad Gateway</title></html>");
        assert!(html.to_string().contains("502 Bad Gateway"));
    }

    #[test]
    fn long_bodies_are_bounded_on_a_char_boundary() {
        let body = "é".repeat(5000);
        let s = snippet(body.as_bytes(), &[]);
        assert!(s.len() <= SNIPPET_MAX + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }

    #[test]
    fn secrets_are_redacted_from_kept_strings() {
        let token = "THAAsecretTOKEN1234567";
        let body = format!(
            r#"{{"error":{{"message":"bad token {token}","code":190,"error_user_msg":"{token}"}}}}"#
        );
        let err = ThreadsError::from_response(
            Call::Me,
            StatusCode::BAD_REQUEST,
            body.as_bytes(),
            &[token],
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(shown.contains("[redacted]"));

        let raw = format!("<html>{token}</html>");
        let err = ThreadsError::from_response(
            Call::Me,
            StatusCode::BAD_GATEWAY,
            raw.as_bytes(),
            &[token],
        );
        assert!(!format!("{err} {err:?}").contains(token));
    }

    #[test]
    fn display_names_call_code_and_trace() {
        let err = api_err(
            Call::CreateContainer,
            400,
            &graph(
                100,
                None,
                None,
                "Param text must be at most 500 characters long",
            ),
        );
        let s = err.to_string();
        assert!(s.starts_with("create container: HTTP 400, code 100"), "{s}");
        assert!(s.contains("Param text must be at most 500 characters long"));
        assert!(s.contains("AbCdEf123"));
        assert_eq!(err.fbtrace_id(), Some("AbCdEf123"));
    }

    fn net(call: Call, kind: fn(BoxError) -> ErrorKind) -> ThreadsError {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        ThreadsError::new(call, kind(Box::new(io)))
    }

    #[test]
    fn classification_table() {
        use Call::*;
        use ErrorAction::*;
        let cases: Vec<(Call, u16, String, ErrorAction)> = vec![
            // Transient codes on reads and creation.
            (RecentPosts, 500, graph(1, None, None, "An unknown error occurred"), RetryLater),
            (CreateContainer, 503, graph(2, None, Some(true), "Service temporarily unavailable"), RetryLater),
            (ContainerStatus, 400, graph(4, None, Some(true), "Application request limit reached"), RetryLater),
            (Me, 400, graph(17, None, None, "User request limit reached"), RetryLater),
            (GetPost, 400, graph(32, None, None, "Page request limit"), RetryLater),
            (PublishingLimit, 400, graph(341, None, None, "Application limit reached"), RetryLater),
            (RecentPosts, 400, graph(613, None, None, "Calls exceed the rate limit"), RetryLater),
            (CreateContainer, 400, graph(9999, None, Some(true), "whatever"), RetryLater),
            (CreateContainer, 500, graph(9999, None, None, "whatever"), RetryLater),
            // Token problems everywhere.
            (Publish, 400, graph(190, Some(463), None, "Session has expired"), TokenProblem),
            (CreateContainer, 400, graph(190, None, None, "Invalid OAuth access token"), TokenProblem),
            (Me, 400, graph(102, None, None, "Session key invalid"), TokenProblem),
            (Me, 400, graph(999, Some(467), None, "invalid"), TokenProblem),
            (RefreshToken, 400, graph(100, None, None, "too young"), TokenProblem),
            // Permanent request errors.
            (CreateContainer, 400, graph(100, None, None, "Param text must be at most 500 characters long"), Permanent),
            (CreateContainer, 400, graph(100, None, Some(true), "bad param, transient flag"), Permanent),
            (CreateContainer, 400, graph(10, None, None, "Application does not have permission"), Permanent),
            (CreateContainer, 403, graph(200, None, None, "Permissions error"), Permanent),
            (CreateContainer, 400, graph(100, None, None, "THREADS_API__LINK_LIMIT_EXCEEDED"), Permanent),
            (CreateContainer, 400, graph(1, Some(2_207_052), Some(true), "media could not be fetched from this URI"), Permanent),
            (ExchangeCode, 400, r#"{"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}"#.into(), Permanent),
            // Publish specifics.
            (Publish, 400, graph(24, Some(4_279_009), Some(false), "The requested resource does not exist"), NotReadyYet),
            (Publish, 400, graph(4, Some(2_207_042), Some(false), "Application request limit reached"), QuotaSpent),
            (Publish, 400, graph(9, None, None, "You reached the maximum number of posts allowed in 24 hours"), QuotaSpent),
            (Publish, 400, graph(4, None, Some(true), "Application request limit reached"), RetryLater),
            (Publish, 500, graph(10, None, None, "Application does not have permission for this action"), OutcomeUnknown),
            (Publish, 400, graph(10, None, None, "Application does not have permission for this action"), OutcomeUnknown),
            (Publish, 500, graph(1, None, None, "An unknown error occurred"), OutcomeUnknown),
            (Publish, 503, graph(2, None, Some(true), "Service temporarily unavailable"), OutcomeUnknown),
            (Publish, 400, graph(2, None, Some(true), "Service temporarily unavailable"), OutcomeUnknown),
            (Publish, 502, graph(24, Some(4_279_009), None, "even this, on a 5xx"), OutcomeUnknown),
            (Publish, 400, graph(100, None, None, "Invalid parameter"), Permanent),
            (Publish, 403, graph(200, None, None, "Permissions error"), Permanent),
            // Unparsed bodies.
            (Publish, 502, "<html>bad gateway</html>".into(), OutcomeUnknown),
            (Publish, 404, "<html>not found</html>".into(), Permanent),
            (Publish, 429, "slow down".into(), RetryLater),
            (RecentPosts, 502, "<html>bad gateway</html>".into(), RetryLater),
            (RecentPosts, 401, "nope".into(), TokenProblem),
            (RecentPosts, 404, "nope".into(), Permanent),
        ];
        for (call, status, body, want) in cases {
            let err = api_err(call, status, &body);
            assert_eq!(err.action(), want, "{call:?} {status} {body}");
            assert_eq!(
                err.is_retryable(),
                matches!(want, RetryLater | NotReadyYet),
                "{call:?} {status} {body}"
            );
        }
    }

    #[test]
    fn network_errors_depend_on_the_call() {
        use ErrorAction::*;
        let timeout = |b| ErrorKind::Timeout { source: b };
        let lost = |b| ErrorKind::ConnectionLost { source: b };
        let other = |b| ErrorKind::Network { source: b };
        let connect = |b| ErrorKind::Connect { source: b };
        for kind in [timeout, lost, other] {
            assert_eq!(net(Call::Publish, kind).action(), OutcomeUnknown);
            assert!(!net(Call::Publish, kind).is_retryable());
            assert!(net(Call::Publish, kind).may_have_reached_server());
            assert_eq!(net(Call::RecentPosts, kind).action(), RetryLater);
            assert_eq!(net(Call::CreateContainer, kind).action(), RetryLater);
        }
        // Nothing was sent: even publish is safe to repeat.
        assert_eq!(net(Call::Publish, connect).action(), RetryLater);
        assert!(!net(Call::Publish, connect).may_have_reached_server());

        let malformed = |call| {
            ThreadsError::new(
                call,
                ErrorKind::Malformed {
                    status: 200,
                    detail: "missing field `id`".into(),
                    snippet: "{}".into(),
                },
            )
        };
        assert_eq!(malformed(Call::Publish).action(), OutcomeUnknown);
        assert_eq!(malformed(Call::Me).action(), Permanent);
    }

    #[test]
    fn quota_phrases_do_not_catch_app_throttling() {
        let throttle = ApiError::parse(
            400,
            graph(4, None, None, "Application request limit reached").as_bytes(),
        )
        .unwrap();
        assert!(!throttle.is_quota_spent());
        let link = ApiError::parse(
            400,
            graph(100, None, None, "THREADS_API__LINK_LIMIT_EXCEEDED").as_bytes(),
        )
        .unwrap();
        assert!(!link.is_quota_spent());
        assert!(link.is_link_limit());
    }

    #[test]
    fn link_limit_found_in_user_msg() {
        let body = r#"{"error":{"message":"Invalid parameter","code":100,"error_user_msg":"THREADS_API__LINK_LIMIT_EXCEEDED: at most 5 links"}}"#;
        let err = api_err(Call::CreateContainer, 400, body);
        assert!(err.api().unwrap().is_link_limit());
        assert_eq!(err.action(), ErrorAction::Permanent);
    }
}
