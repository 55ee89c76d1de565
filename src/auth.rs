//! `auth ACCOUNT`: connect a Threads account through Meta's OAuth, or import a token.
//!
//! The OAuth flow (threads-api.md §1.4–1.6): print the authorize URL with a random `state`,
//! read back the redirect URL (or the bare code) the operator pastes, exchange the code for a
//! short-lived token and that at once for a long-lived one, store the long-lived token with its
//! expiry, and read the profile (`/me`) to show whose account was connected. `--token` imports
//! an existing long-lived token instead: it is checked with `/me` and its expiry learnt from
//! `debug_token` where the API allows.
//!
//! Rules this module keeps: a token is stored only once it is known to be long-lived (a failed
//! long-lived exchange is fatal, never papered over with the 1 h token); tokens, codes and the
//! app secret never reach the output or an error message; every known OAuth failure comes with
//! what to do about it ([`KnownFailure`]). Input and output are parameters so tests drive it.

use crate::config::{Settings, ThreadsSettings};
use crate::store::{Store, StoreError, now_unix};
use crate::threads::{ClientConfig, InvalidConfig, ThreadsClient, ThreadsError};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::io::{BufRead, Read, Write};
use url::Url;

/// `expires_in` is missing from the long-lived answer: the documented lifetime.
const DEFAULT_LONG_LIVED_SECS: i64 = 60 * 86_400;
/// An imported token expiring sooner than this is a short-lived (1 h) one, not long-lived.
const SHORT_LIVED_MAX_SECS: i64 = 2 * 3_600;
/// The pasted line is read up to this many bytes: a redirect URL is a few hundred.
const MAX_INPUT: u64 = 16 * 1024;

/// An OAuth failure we recognise, with the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownFailure {
    /// 1349245: the Threads user has not accepted the tester invitation.
    TesterInviteNotAccepted,
    /// 1349026 / 4476002 / "Invalid platform app": the Facebook app id (or secret) was used.
    FacebookAppId,
    /// 1349168 "URL Blocked", or the token endpoint's redirect_uri mismatch.
    RedirectUriNotRegistered,
    /// "Matching code was not found or was already used": single-use, one-hour codes.
    CodeUsedOrExpired,
    /// "Error validating client secret".
    WrongAppSecret,
    /// Code 190 and friends: the token is invalid, expired or revoked.
    TokenInvalid,
    /// `{"error_code":1,"error_message":"An unknown error has occurred."}` in the browser.
    UnknownAuthorizeError,
}

impl KnownFailure {
    /// What the operator should do, naming the account so the command can be copied.
    pub fn advice(self, account: &str) -> String {
        match self {
            KnownFailure::TesterInviteNotAccepted => format!(
                "the Threads user has not accepted the invitation to test this app: in Threads, \
                 open Settings > Account > Website permissions > Invites and accept it (the app's \
                 owner sends it under App Dashboard > App roles > Roles > Threads Tester), then \
                 run `feed2threads auth {account}` again"
            ),
            KnownFailure::FacebookAppId => "threads.app_id / threads.app_secret look like the \
                 Facebook app's: an app with the Threads use case has its own Threads App ID and \
                 Threads App secret (App Dashboard > App settings > Basic); put those in [threads]"
                .to_string(),
            KnownFailure::RedirectUriNotRegistered => "threads.redirect_uri is not registered \
                 for the app, or differs from the registered one: add it exactly (https, same \
                 trailing slash) under Use cases > Access the Threads API > Settings > Redirect \
                 Callback URLs, and fill in the uninstall and delete callback URLs too or the \
                 dashboard will not save"
                .to_string(),
            KnownFailure::CodeUsedOrExpired => format!(
                "an authorization code works once and for one hour: run `feed2threads auth \
                 {account}` again, open the new URL and paste the new redirect (once) within the hour"
            ),
            KnownFailure::WrongAppSecret => "threads.app_secret is wrong: use the Threads App \
                 secret (not the Facebook one) from App Dashboard > App settings > Basic"
                .to_string(),
            KnownFailure::TokenInvalid => format!(
                "the token is invalid, expired or revoked: run `feed2threads auth {account}` \
                 without --token to connect the account again"
            ),
            KnownFailure::UnknownAuthorizeError => "Meta reports an unknown error, which is \
                 usually the app's configuration or the account: check that the account has a \
                 Threads profile, is a Threads Tester of the app (or the app is published), and \
                 that threads.app_id is the Threads App ID"
                .to_string(),
        }
    }
}

/// Recognises an OAuth failure from its code (preferred: messages are sometimes localized)
/// or, for the token endpoint which sends only code 400, from its untranslated message.
pub fn known_failure(code: Option<i64>, message: &str) -> Option<KnownFailure> {
    match code {
        Some(1_349_245) => return Some(KnownFailure::TesterInviteNotAccepted),
        Some(1_349_026 | 4_476_002) => return Some(KnownFailure::FacebookAppId),
        Some(1_349_168) => return Some(KnownFailure::RedirectUriNotRegistered),
        Some(190 | 102) => return Some(KnownFailure::TokenInvalid),
        _ => {}
    }
    let m = message.to_ascii_lowercase();
    if m.contains("matching code was not found") || m.contains("already used") {
        Some(KnownFailure::CodeUsedOrExpired)
    } else if m.contains("not accepted the invite") {
        Some(KnownFailure::TesterInviteNotAccepted)
    } else if m.contains("invalid platform app")
        || m.contains("no app id")
        || m.contains("no application data")
        || m.contains("th__application")
    {
        Some(KnownFailure::FacebookAppId)
    } else if m.contains("redirect_uri") || m.contains("url blocked") {
        Some(KnownFailure::RedirectUriNotRegistered)
    } else if m.contains("validating client secret") {
        Some(KnownFailure::WrongAppSecret)
    } else if code == Some(1) && m.contains("unknown error") {
        Some(KnownFailure::UnknownAuthorizeError)
    } else {
        None
    }
}

fn known_for(err: &ThreadsError) -> Option<KnownFailure> {
    let api = err.api()?;
    known_failure(api.code, &api.message)
}

/// Why `auth` failed. Messages say what to do; none contains a token, code or secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{key} is not set: {why}")]
    MissingKey {
        key: &'static str,
        why: &'static str,
    },
    #[error(
        "account {0:?} is not in the config; add an [[accounts]] table with name = {0:?} first"
    )]
    UnknownAccount(String),
    #[error(
        "nothing was pasted: run the command again and paste the address of the page the browser was sent to"
    )]
    NoInput,
    #[error(
        "the authorization was refused in the browser ({reason}): run `feed2threads auth {account}` again, choose Allow, and make sure the browser is logged in to the Threads account that should post"
    )]
    Denied { account: String, reason: String },
    #[error("the authorize window answered {error}: {description}{}", advice_suffix(.advice))]
    Authorize {
        error: String,
        description: String,
        advice: Option<String>,
    },
    #[error(
        "the pasted address does not belong to this attempt (its `state` is {found}): paste the redirect of the URL printed just now, not an older one; run `feed2threads auth {account}` again if in doubt"
    )]
    StateMismatch { account: String, found: StateFound },
    #[error("{0}")]
    NotACode(String),
    // The API error is part of the message, not a `source`: the advice must come last when
    // the chain is printed with `{:#}`.
    #[error("{step} failed: {error}{}", advice_suffix(.advice))]
    Api {
        step: &'static str,
        error: ThreadsError,
        advice: Option<String>,
    },
    #[error(
        "the token expires in {minutes} min, so it is a short-lived token: pass a long-lived one, or set threads.app_secret so it can be exchanged, or run `feed2threads auth {account}` without --token"
    )]
    ShortLivedImport { account: String, minutes: i64 },
    #[error(
        "debug_token says the token is not valid (expired, revoked or for another app): run `feed2threads auth {account}` without --token to connect the account again"
    )]
    TokenNotValid { account: String },
    #[error(
        "debug_token and /me disagree about whose token this is (user {found} vs {me}); it was not stored"
    )]
    UserMismatch { found: String, me: String },
    #[error(transparent)]
    Client(#[from] InvalidConfig),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read or write the terminal: {0}")]
    Io(std::io::Error),
}

// By hand rather than `#[from]`, which would also make the error a `source` and print it
// twice in a `{:#}` chain.
impl From<std::io::Error> for AuthError {
    fn from(e: std::io::Error) -> Self {
        AuthError::Io(e)
    }
}

/// What a pasted URL said about `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFound {
    Missing,
    Different,
}

impl fmt::Display for StateFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateFound::Missing => "missing",
            StateFound::Different => "different",
        })
    }
}

fn advice_suffix(advice: &Option<String>) -> String {
    advice
        .as_deref()
        .map_or_else(String::new, |a| format!("\n  what to do: {a}"))
}

fn api_error(step: &'static str, error: ThreadsError, account: &str) -> AuthError {
    let advice = known_for(&error).map(|k| k.advice(account));
    AuthError::Api {
        step,
        error,
        advice,
    }
}

/// The account that was connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub account: String,
    pub user_id: String,
    pub username: Option<String>,
    /// Unix seconds; `None` when the API would not say.
    pub expires_at: Option<i64>,
}

/// The authorization code taken from what the operator pasted.
pub struct PastedCode {
    code: SecretString,
    /// False when a bare code was pasted: there was no `state` to compare.
    pub state_checked: bool,
}

impl PastedCode {
    pub fn code(&self) -> &SecretString {
        &self.code
    }
}

impl fmt::Debug for PastedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PastedCode")
            .field("state_checked", &self.state_checked)
            .finish_non_exhaustive()
    }
}

/// A fresh random `state` for one authorization attempt (128 bits, hex).
pub fn new_state() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

fn require_app_id(t: &ThreadsSettings) -> Result<&str, AuthError> {
    t.app_id.as_deref().ok_or(AuthError::MissingKey {
        key: "threads.app_id",
        why: "the OAuth flow needs the Threads App ID (App Dashboard > App settings > Basic; \
              not the Facebook app id)",
    })
}

fn require_secret(t: &ThreadsSettings) -> Result<&SecretString, AuthError> {
    if let Some(problem) = &t.app_secret_problem {
        return Err(AuthError::NotACode(format!(
            "cannot read the Threads App secret: {problem}"
        )));
    }
    t.app_secret.as_ref().ok_or(AuthError::MissingKey {
        key: "threads.app_secret",
        why: "the code exchange needs the Threads App secret; set app_secret_file, \
              app_secret_env or app_secret in [threads]",
    })
}

fn require_redirect(t: &ThreadsSettings) -> Result<&Url, AuthError> {
    t.redirect_uri.as_ref().ok_or(AuthError::MissingKey {
        key: "threads.redirect_uri",
        why: "the OAuth flow needs one of the app's registered Redirect Callback URLs \
              (Use cases > Access the Threads API > Settings)",
    })
}

/// The URL the operator opens: client id, redirect URI and scopes from the config,
/// `response_type=code`, and `state`.
pub fn authorize_url(t: &ThreadsSettings, state: &str) -> Result<Url, AuthError> {
    let app_id = require_app_id(t)?;
    let redirect = require_redirect(t)?;
    let mut url = t.authorize_url.clone();
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("redirect_uri", redirect.as_str())
        .append_pair("scope", &t.scopes.join(","))
        .append_pair("response_type", "code")
        .append_pair("state", state);
    Ok(url)
}

/// Takes the code out of what the operator pasted: the redirect URL (its `state` must equal
/// `expected_state`), its query string, the bare code, or the JSON error some failures show
/// in the browser instead of redirecting. A trailing `#_` is not part of the code.
pub fn parse_pasted(
    text: &str,
    expected_state: &str,
    account: &str,
) -> Result<PastedCode, AuthError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AuthError::NoInput);
    }
    if text.starts_with('{') {
        return Err(browser_json_error(text, account));
    }
    let query = if let Ok(url) = Url::parse(text)
        && url.has_host()
    {
        url.query().unwrap_or_default().to_string()
    } else if text.contains("code=") || text.contains("error=") {
        // The query string alone (`?code=...&state=...#_`), or the URL without its scheme.
        let q = text.split_once('?').map_or(text, |(_, q)| q);
        q.split_once('#').map_or(q, |(q, _)| q).to_string()
    } else {
        return bare_code(text);
    };
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut reason = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_reason" => reason = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        if error == "access_denied" {
            return Err(AuthError::Denied {
                account: account.to_string(),
                reason: reason.unwrap_or(error),
            });
        }
        let description = description.unwrap_or_default();
        let advice = known_failure(None, &description).map(|k| k.advice(account));
        return Err(AuthError::Authorize {
            error,
            description,
            advice,
        });
    }
    match state.as_deref() {
        Some(s) if s == expected_state => {}
        Some(_) => {
            return Err(AuthError::StateMismatch {
                account: account.to_string(),
                found: StateFound::Different,
            });
        }
        None => {
            return Err(AuthError::StateMismatch {
                account: account.to_string(),
                found: StateFound::Missing,
            });
        }
    }
    let Some(code) = code else {
        return Err(AuthError::NotACode(
            "the pasted address has no `code` parameter: paste the address of the page the \
             browser was sent to after you chose Allow"
                .into(),
        ));
    };
    let code = strip_fragment_marker(&code);
    if !looks_like_code(code) {
        return Err(AuthError::NotACode(
            "the `code` in the pasted address is not an authorization code".into(),
        ));
    }
    Ok(PastedCode {
        code: SecretString::from(code.to_string()),
        state_checked: true,
    })
}

fn bare_code(text: &str) -> Result<PastedCode, AuthError> {
    let code = strip_fragment_marker(text);
    if !looks_like_code(code) {
        return Err(AuthError::NotACode(
            "the pasted text is neither the redirect address nor an authorization code: paste \
             the whole address of the page the browser was sent to"
                .into(),
        ));
    }
    Ok(PastedCode {
        code: SecretString::from(code.to_string()),
        state_checked: false,
    })
}

/// Meta appends `#_` to the redirect; it is not part of the code.
fn strip_fragment_marker(code: &str) -> &str {
    let code = code.trim();
    code.strip_suffix("#_")
        .unwrap_or(code)
        .trim_end_matches('#')
}

/// Codes are long URL-safe strings (`AQB...`); anything else is a paste of the wrong thing.
fn looks_like_code(code: &str) -> bool {
    code.len() >= 8
        && code.len() <= 4096
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

/// `{"error_message":"...","error_code":1349245}` as shown in the browser.
fn browser_json_error(text: &str, account: &str) -> AuthError {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return AuthError::NotACode(
                "the pasted text starts like JSON but is not: paste the whole error shown in \
                 the browser, or the address of the page after you chose Allow"
                    .into(),
            );
        }
    };
    let inner = value
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(&value);
    let message = inner
        .get("error_message")
        .or_else(|| inner.get("message"))
        .and_then(|m| m.as_str())
        .unwrap_or("(no message)")
        .to_string();
    let code = inner
        .get("error_code")
        .or_else(|| inner.get("code"))
        .and_then(|c| {
            c.as_i64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        });
    AuthError::Authorize {
        error: code.map_or_else(|| "an error".to_string(), |c| format!("error {c}")),
        description: message.clone(),
        advice: known_failure(code, &message).map(|k| k.advice(account)),
    }
}

fn client(settings: &Settings) -> Result<ThreadsClient, AuthError> {
    let config = ClientConfig::new(settings.threads.api_base.clone())
        .with_request_timeout(settings.threads.request_timeout);
    Ok(ThreadsClient::new(config)?)
}

/// "2026-09-01T08:00:00+00:00 (in 57 days)".
fn format_expiry(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        Some(t) => crate::human::when(t, now),
        None => "unknown (the API would not say)".to_string(),
    }
}

/// `auth ACCOUNT [--token T]`: runs the OAuth flow (or imports `token`), stores the token and
/// the profile, and tells the operator what happened on `out`. Reads the pasted redirect from
/// `input`.
pub async fn run(
    settings: &Settings,
    account: &str,
    token: Option<SecretString>,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<Connected, AuthError> {
    let configured = settings
        .account(account)
        .ok_or_else(|| AuthError::UnknownAccount(account.to_string()))?;
    let threads = &settings.threads;
    // Check every key before the operator spends time in the browser.
    if token.is_none() {
        require_app_id(threads)?;
        require_secret(threads)?;
        require_redirect(threads)?;
    }
    let client = client(settings)?;
    let store = Store::open_with(&settings.store_url, settings.store_options()).await?;
    let result = match token {
        Some(token) => import(settings, &client, &store, account, &token, out).await,
        None => oauth(settings, &client, &store, account, input, out).await,
    };
    store.close().await;
    let connected = result?;
    writeln!(
        out,
        "Connected account {account} to Threads user {} (id {}).",
        connected
            .username
            .as_deref()
            .map_or_else(|| "(username unknown)".to_string(), |u| format!("@{u}")),
        connected.user_id
    )?;
    writeln!(
        out,
        "The token is stored; it expires {}. `feed2threads run` refreshes it before then.",
        format_expiry(connected.expires_at, now_unix())
    )?;
    if configured.token.is_some() {
        writeln!(
            out,
            "Note: the access_token configured for {account} is now ignored (the stored token \
             wins); you may remove it from the config."
        )?;
    }
    tracing::info!(account, user_id = %connected.user_id, "account connected");
    Ok(connected)
}

async fn oauth(
    settings: &Settings,
    client: &ThreadsClient,
    store: &Store,
    account: &str,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<Connected, AuthError> {
    let t = &settings.threads;
    let app_id = require_app_id(t)?;
    let secret = require_secret(t)?;
    let redirect = require_redirect(t)?;
    let state = new_state();
    let url = authorize_url(t, &state)?;
    writeln!(
        out,
        "1. Open this address in a browser logged in to the Threads account {account} should \
         post as, and choose Allow:\n\n   {url}\n\n2. The browser is then sent to {redirect} \
         (the page itself may fail to load; that is fine).\n   Paste the whole address of that \
         page here and press Enter:"
    )?;
    out.flush()?;
    let mut line = String::new();
    (&mut *input).take(MAX_INPUT).read_line(&mut line)?;
    let pasted = parse_pasted(&line, &state, account)?;
    if !pasted.state_checked {
        writeln!(
            out,
            "(A bare code was pasted, so `state` could not be checked; paste the whole \
             address to have it checked.)"
        )?;
    }

    let short = client
        .exchange_code(
            app_id,
            secret,
            pasted.code().expose_secret(),
            redirect.as_str(),
        )
        .await
        .map_err(|e| api_error("exchanging the authorization code", e, account))?;
    // A failure here is fatal: the 1 h token must not be stored as if it were long-lived.
    let long = client
        .exchange_long_lived(secret, &short.access_token)
        .await
        .map_err(|e| {
            api_error(
                "exchanging for a long-lived token (nothing was stored)",
                e,
                account,
            )
        })?;
    let now = now_unix();
    let lifetime = long
        .expires_in
        .and_then(|s| i64::try_from(s).ok())
        .unwrap_or(DEFAULT_LONG_LIVED_SECS);
    let expires_at = now.saturating_add(lifetime);

    let row = store.ensure_account(account, now).await?;
    if let Some(previous) = &row.threads_user_id
        && previous != &short.user_id
    {
        writeln!(
            out,
            "Note: {account} was connected to Threads user id {previous}; it now posts as user id {}.",
            short.user_id
        )?;
    }
    store
        .store_token(
            row.id,
            &long.access_token,
            "auth",
            Some(now),
            Some(expires_at),
            now,
        )
        .await?;
    let (user_id, username) = profile(client, store, row.id, &long.access_token, out).await?;
    let user_id = user_id.unwrap_or(short.user_id);
    Ok(Connected {
        account: account.to_string(),
        user_id,
        username,
        expires_at: Some(expires_at),
    })
}

/// Reads `/me` and stores it. The token is already stored by then: a profile that cannot be
/// read is reported, not a reason to throw away a working token.
async fn profile(
    client: &ThreadsClient,
    store: &Store,
    account_id: i64,
    token: &SecretString,
    out: &mut impl Write,
) -> Result<(Option<String>, Option<String>), AuthError> {
    match client.me(token).await {
        Ok(me) => {
            let username = me.username.clone().unwrap_or_default();
            store
                .set_profile(account_id, &me.id, &username, now_unix())
                .await?;
            Ok((Some(me.id), me.username))
        }
        Err(e) => {
            writeln!(
                out,
                "Warning: the token is stored, but the profile could not be read: {e}"
            )?;
            Ok((None, None))
        }
    }
}

async fn import(
    settings: &Settings,
    client: &ThreadsClient,
    store: &Store,
    account: &str,
    token: &SecretString,
    out: &mut impl Write,
) -> Result<Connected, AuthError> {
    let token = SecretString::from(token.expose_secret().trim().to_string());
    let me = client
        .me(&token)
        .await
        .map_err(|e| api_error("checking the token with /me", e, account))?;
    let now = now_unix();
    // debug_token needs a token of a tester of the same app; the token itself is the best
    // candidate. When the API refuses, the expiry stays unknown and the refresh logic learns
    // it later.
    let info = match client.debug_token(&token, &token).await {
        Ok(info) => Some(info),
        Err(e) => {
            writeln!(
                out,
                "Note: the token's expiry could not be read ({}); it is stored without one.",
                e.call()
            )?;
            None
        }
    };
    if let Some(info) = &info
        && !info.is_valid
    {
        return Err(AuthError::TokenNotValid {
            account: account.to_string(),
        });
    }
    if let Some(found) = info.as_ref().and_then(|i| i.user_id.as_deref())
        && found != me.id
    {
        return Err(AuthError::UserMismatch {
            found: found.to_string(),
            me: me.id.clone(),
        });
    }
    let mut token = token;
    let mut issued_at = info
        .as_ref()
        .and_then(|i| i.issued())
        .map(|d| d.timestamp());
    let mut expires_at = info
        .as_ref()
        .and_then(|i| i.expires())
        .map(|d| d.timestamp());
    if let Some(exp) = expires_at
        && exp - now < SHORT_LIVED_MAX_SECS
    {
        let Some(secret) = settings.threads.app_secret.as_ref() else {
            return Err(AuthError::ShortLivedImport {
                account: account.to_string(),
                minutes: (exp - now).max(0) / 60,
            });
        };
        writeln!(
            out,
            "The token is short-lived; exchanging it for a long-lived one."
        )?;
        let long = client
            .exchange_long_lived(secret, &token)
            .await
            .map_err(|e| {
                api_error(
                    "exchanging for a long-lived token (nothing was stored)",
                    e,
                    account,
                )
            })?;
        let lifetime = long
            .expires_in
            .and_then(|s| i64::try_from(s).ok())
            .unwrap_or(DEFAULT_LONG_LIVED_SECS);
        token = long.access_token;
        issued_at = Some(now);
        expires_at = Some(now.saturating_add(lifetime));
    }
    let row = store.ensure_account(account, now).await?;
    store
        .store_token(row.id, &token, "import", issued_at, expires_at, now)
        .await?;
    store
        .set_profile(
            row.id,
            &me.id,
            me.username.as_deref().unwrap_or_default(),
            now,
        )
        .await?;
    Ok(Connected {
        account: account.to_string(),
        user_id: me.id,
        username: me.username,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn pasted_url_with_fragment_marker() {
        let p = parse_pasted(
            &format!("https://ex.org/cb?code=AQBx-abc_123.def&state={STATE}#_\n"),
            STATE,
            "a",
        )
        .unwrap();
        assert!(p.state_checked);
        assert_eq!(p.code().expose_secret(), "AQBx-abc_123.def");
    }

    #[test]
    fn bare_code_and_query_only() {
        let p = parse_pasted("AQBxabcdef123#_", STATE, "a").unwrap();
        assert!(!p.state_checked);
        assert_eq!(p.code().expose_secret(), "AQBxabcdef123");
        let p = parse_pasted(&format!("?code=AQBxabcdef123&state={STATE}#_"), STATE, "a").unwrap();
        assert!(p.state_checked);
        assert_eq!(p.code().expose_secret(), "AQBxabcdef123");
    }

    #[test]
    fn state_must_match() {
        let e = parse_pasted(
            "https://ex.org/cb?code=AQBxabcdef123&state=other#_",
            STATE,
            "a",
        )
        .unwrap_err();
        assert!(matches!(
            e,
            AuthError::StateMismatch {
                found: StateFound::Different,
                ..
            }
        ));
        let e = parse_pasted("https://ex.org/cb?code=AQBxabcdef123#_", STATE, "a").unwrap_err();
        assert!(matches!(
            e,
            AuthError::StateMismatch {
                found: StateFound::Missing,
                ..
            }
        ));
    }

    #[test]
    fn denied_and_browser_json() {
        let e = parse_pasted(
            "https://ex.org/cb?error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request",
            STATE,
            "newsroom",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("refused"), "{e}");
        assert!(e.contains("user_denied"), "{e}");
        assert!(e.contains("feed2threads auth newsroom"), "{e}");
        let e = parse_pasted(
            r#"{"error_message":"Invalid Request: The user has not accepted the invite to test the app","error_code":1349245}"#,
            STATE,
            "a",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Website permissions"), "{e}");
    }

    #[test]
    fn garbage_is_not_a_code() {
        assert!(matches!(
            parse_pasted("I clicked allow", STATE, "a"),
            Err(AuthError::NotACode(_))
        ));
        assert!(matches!(
            parse_pasted("  \n", STATE, "a"),
            Err(AuthError::NoInput)
        ));
    }

    #[test]
    fn known_failures() {
        assert_eq!(
            known_failure(Some(1_349_026), ""),
            Some(KnownFailure::FacebookAppId)
        );
        assert_eq!(
            known_failure(Some(4_476_002), ""),
            Some(KnownFailure::FacebookAppId)
        );
        assert_eq!(
            known_failure(Some(1_349_168), "URL Blocked"),
            Some(KnownFailure::RedirectUriNotRegistered)
        );
        assert_eq!(
            known_failure(Some(400), "Matching code was not found or was already used"),
            Some(KnownFailure::CodeUsedOrExpired)
        );
        assert_eq!(
            known_failure(Some(1_349_245), ""),
            Some(KnownFailure::TesterInviteNotAccepted)
        );
        assert_eq!(known_failure(Some(2), "temporary"), None);
    }
}
