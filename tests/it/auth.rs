//! `auth ACCOUNT` against the fake Threads server: the OAuth flow (authorize URL, pasted
//! redirect, code → short-lived → long-lived exchange, `/me`), `--token` import, every known
//! failure with its advice, and no token, code or secret ever on the screen.

use crate::support::fake_threads;

use fake_threads::{APP_ID, APP_SECRET, Endpoint, FakeThreads, REDIRECT_URI, TokenKind, USERNAME};
use feed2threads::auth::{self, AuthError, Connected};
use feed2threads::config::Settings;
use feed2threads::store::{Store, now_unix};
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

const DAY: i64 = 86_400;

/// What the program wrote, readable by the "operator" while the program waits for input.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The operator: reads the authorize URL off the screen, "uses the browser", and types back
/// whatever `respond` makes of that URL.
struct Operator {
    screen: Screen,
    respond: Box<dyn FnMut(&Url) -> String>,
    typed: Option<Vec<u8>>,
    pos: usize,
    seen_url: Option<Url>,
}

impl Operator {
    fn new(screen: &Screen, respond: impl FnMut(&Url) -> String + 'static) -> Self {
        Operator {
            screen: screen.clone(),
            respond: Box::new(respond),
            typed: None,
            pos: 0,
            seen_url: None,
        }
    }
}

impl Read for Operator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Operator {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.typed.is_none() {
            let text = self.screen.text();
            let url = text
                .split_whitespace()
                .find(|w| w.starts_with("https://threads.net/oauth/authorize"))
                .map(|w| Url::parse(w).unwrap())
                .unwrap_or_else(|| panic!("no authorize URL on the screen:\n{text}"));
            self.typed = Some((self.respond)(&url).into_bytes());
            self.seen_url = Some(url);
        }
        Ok(&self.typed.as_ref().unwrap()[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The browser after "Allow": Meta's redirect with the code, the state, and the `#_`.
fn allow(code: String) -> impl FnMut(&Url) -> String {
    move |url| {
        let state = query(url, "state").unwrap();
        format!("{REDIRECT_URI}?code={code}&state={state}#_\n")
    }
}

struct Env {
    fake: FakeThreads,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            fake: FakeThreads::start(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("f2t.db").display())
    }

    /// A config with `threads` as the `[threads]` body after `api_base`.
    fn settings_with(&self, threads: &str) -> Settings {
        let text = format!(
            "[store]\nurl = \"{}\"\n[threads]\napi_base = \"{}\"\n{threads}\n[http]\nlisten = \"off\"\n\
             [[accounts]]\nname = \"newsroom\"\n",
            self.db(),
            self.fake.base_url()
        );
        Settings::parse(&text, Path::new("test.toml")).unwrap()
    }

    fn settings(&self) -> Settings {
        self.settings_with(&format!(
            "app_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\nredirect_uri = \"{REDIRECT_URI}\""
        ))
    }

    async fn store(&self) -> Store {
        Store::open(&self.db()).await.unwrap()
    }

    /// Every secret the run could have leaked.
    fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self.fake.tokens().into_iter().map(|t| t.token).collect();
        s.push(APP_SECRET.to_string());
        s
    }

    fn assert_no_secret(&self, text: &str) {
        for secret in self.secrets() {
            assert!(!text.contains(&secret), "a secret leaked into:\n{text}");
        }
    }
}

async fn run_oauth(
    env: &Env,
    settings: &Settings,
    respond: impl FnMut(&Url) -> String + 'static,
) -> (Result<Connected, AuthError>, String, Option<Url>) {
    let screen = Screen::default();
    let mut operator = Operator::new(&screen, respond);
    let mut out = screen.clone();
    let result = auth::run(settings, "newsroom", None, &mut operator, &mut out).await;
    let text = screen.text();
    env.assert_no_secret(&text);
    if let Err(e) = &result {
        env.assert_no_secret(&e.to_string());
        env.assert_no_secret(&format!("{e:?}"));
    }
    (result, text, operator.seen_url)
}

#[tokio::test]
async fn oauth_flow_stores_a_long_lived_token_and_the_profile() {
    let env = Env::new();
    let code = env.fake.authorization_code();
    let (result, screen, url) = run_oauth(&env, &env.settings(), allow(code.clone())).await;
    let connected = result.unwrap();

    // The authorize URL carries the configured values and a random state.
    let url = url.unwrap();
    assert_eq!(query(&url, "client_id").as_deref(), Some(APP_ID));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some(REDIRECT_URI));
    assert_eq!(
        query(&url, "scope").as_deref(),
        Some("threads_basic,threads_content_publish")
    );
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    let state = query(&url, "state").unwrap();
    assert_eq!(state.len(), 32);
    assert!(state.chars().all(|c| c.is_ascii_hexdigit()));

    assert_eq!(connected.username.as_deref(), Some(USERNAME));
    assert_eq!(connected.user_id, fake_threads::USER_ID.to_string());
    assert!(screen.contains(&format!("@{USERNAME}")), "{screen}");
    assert!(screen.contains("expires"), "{screen}");
    assert!(!screen.contains(&code), "the code was echoed:\n{screen}");

    // Exactly one exchange of each kind, then /me.
    assert_eq!(env.fake.calls(Endpoint::ExchangeCode), 1);
    assert_eq!(env.fake.calls(Endpoint::ExchangeLongLived), 1);
    assert_eq!(env.fake.calls(Endpoint::Me), 1);

    // The stored token is the fake's newest long-lived token, with its 60-day expiry.
    let store = env.store().await;
    let row = store.account_by_name("newsroom").await.unwrap().unwrap();
    let stored = row.token().unwrap();
    let long_lived: Vec<_> = env
        .fake
        .tokens()
        .into_iter()
        .filter(|t| t.kind == TokenKind::LongLived)
        .map(|t| t.token)
        .collect();
    assert_eq!(stored.expose_secret(), env.fake.token());
    assert!(long_lived.contains(&stored.expose_secret().to_string()));
    assert_eq!(row.token_source.as_deref(), Some("auth"));
    let now = now_unix();
    let issued = row.token_issued_at.unwrap();
    assert!((now - issued).abs() < 60);
    let expires = row.token_expires_at.unwrap();
    assert!((expires - (issued + 60 * DAY)).abs() < 60, "{expires}");
    assert_eq!(connected.expires_at, Some(expires));
    assert_eq!(row.username.as_deref(), Some(USERNAME));
    assert_eq!(
        row.threads_user_id.as_deref(),
        Some(fake_threads::USER_ID.to_string().as_str())
    );
}

#[tokio::test]
async fn a_bare_code_with_its_fragment_marker_works() {
    let env = Env::new();
    let code = env.fake.authorization_code();
    let (result, screen, _) =
        run_oauth(&env, &env.settings(), move |_| format!("  {code}#_\n")).await;
    result.unwrap();
    assert!(screen.contains("`state` could not be checked"), "{screen}");
    let row = env
        .store()
        .await
        .account_by_name("newsroom")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.token().unwrap().expose_secret(), env.fake.token());
}

#[tokio::test]
async fn a_state_mismatch_stops_before_any_exchange() {
    let env = Env::new();
    let code = env.fake.authorization_code();
    let (result, _, _) = run_oauth(&env, &env.settings(), move |_| {
        format!("{REDIRECT_URI}?code={code}&state=00000000000000000000000000000000#_\n")
    })
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, AuthError::StateMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("does not belong to this attempt"),
        "{err}"
    );
    assert_eq!(env.fake.calls(Endpoint::ExchangeCode), 0);
    let row = env.store().await.account_by_name("newsroom").await.unwrap();
    assert!(row.is_none_or(|r| r.token().is_none()));
}

#[tokio::test]
async fn a_used_or_expired_code_says_to_start_again() {
    let env = Env::new();
    let code = env.fake.authorization_code();
    let (first, _, _) = run_oauth(&env, &env.settings(), allow(code.clone())).await;
    first.unwrap();
    // The flat OAuth error shape: {"error_type","code":400,"error_message"}.
    let (again, _, _) = run_oauth(&env, &env.settings(), allow(code)).await;
    let err = again.unwrap_err().to_string();
    assert!(
        err.contains("Matching code was not found or was already used"),
        "{err}"
    );
    assert!(err.contains("works once and for one hour"), "{err}");
    assert!(err.contains("feed2threads auth newsroom"), "{err}");

    let old = env.fake.authorization_code();
    env.fake.advance(Duration::from_secs(61 * 60));
    let (late, _, _) = run_oauth(&env, &env.settings(), allow(old)).await;
    let err = late.unwrap_err().to_string();
    assert!(err.contains("works once and for one hour"), "{err}");
}

#[tokio::test]
async fn a_failed_long_lived_exchange_stores_nothing() {
    let env = Env::new();
    let code = env.fake.authorization_code();
    // The Graph error shape: {"error":{"message","type","code":2,"is_transient":true,...}}.
    env.fake.fail_next(Endpoint::ExchangeLongLived, 1);
    let (result, _, _) = run_oauth(&env, &env.settings(), allow(code)).await;
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("long-lived"), "{text}");
    assert!(text.contains("nothing was stored"), "{text}");
    assert!(text.contains("code 2"), "{text}");
    assert_eq!(env.fake.calls(Endpoint::ExchangeCode), 1);
    assert_eq!(env.fake.calls(Endpoint::Me), 0);
    let row = env.store().await.account_by_name("newsroom").await.unwrap();
    assert!(
        row.is_none_or(|r| r.token().is_none()),
        "a short-lived token was stored"
    );
}

#[tokio::test]
async fn access_denied_in_the_browser_is_explained() {
    let env = Env::new();
    let (result, _, _) = run_oauth(&env, &env.settings(), |url| {
        let state = query(url, "state").unwrap();
        format!(
            "{REDIRECT_URI}?error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request&state={state}#_\n"
        )
    })
    .await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("refused in the browser (user_denied)"),
        "{err}"
    );
    assert!(err.contains("choose Allow"), "{err}");
    assert_eq!(env.fake.calls(Endpoint::ExchangeCode), 0);
}

#[tokio::test]
async fn known_configuration_mistakes_get_advice() {
    let env = Env::new();

    // The Facebook app id instead of the Threads one.
    let facebook = env.settings_with(&format!(
        "app_id = \"999999999999\"\napp_secret = \"{APP_SECRET}\"\nredirect_uri = \"{REDIRECT_URI}\""
    ));
    let (r, _, _) = run_oauth(&env, &facebook, allow(env.fake.authorization_code())).await;
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("Threads App ID and Threads App secret"),
        "{err}"
    );

    // A redirect URI other than the one the code was issued for.
    let other_redirect = env.settings_with(&format!(
        "app_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\nredirect_uri = \"https://elsewhere.example/cb\""
    ));
    let (r, _, _) = run_oauth(&env, &other_redirect, allow(env.fake.authorization_code())).await;
    let err = r.unwrap_err().to_string();
    assert!(err.contains("Redirect Callback URLs"), "{err}");

    // The wrong secret.
    let wrong_secret = env.settings_with(&format!(
        "app_id = \"{APP_ID}\"\napp_secret = \"not-the-secret-at-all\"\nredirect_uri = \"{REDIRECT_URI}\""
    ));
    let (r, _, _) = run_oauth(&env, &wrong_secret, allow(env.fake.authorization_code())).await;
    let err = r.unwrap_err().to_string();
    assert!(err.contains("threads.app_secret is wrong"), "{err}");
    assert!(!err.contains("not-the-secret-at-all"), "{err}");

    // Errors the authorize window shows as JSON instead of redirecting, pasted back.
    for (body, advice) in [
        (
            r#"{"error_message":"Invalid Request: The user has not accepted the invite to test the app","error_code":1349245}"#,
            "Website permissions",
        ),
        (
            r#"{"error_message":"No application data was given","error_code":1349026}"#,
            "Threads App ID",
        ),
        (
            r#"{"error_message":"No app ID was provided","error_code":4476002}"#,
            "Threads App ID",
        ),
        (
            r#"{"error_message":"URL Blocked","error_code":1349168}"#,
            "Redirect Callback URLs",
        ),
    ] {
        let (r, _, _) = run_oauth(&env, &env.settings(), move |_| format!("{body}\n")).await;
        let err = r.unwrap_err().to_string();
        assert!(err.contains(advice), "{body} → {err}");
    }
    // None of these stored anything.
    let row = env.store().await.account_by_name("newsroom").await.unwrap();
    assert!(row.is_none_or(|r| r.token().is_none()));
}

#[tokio::test]
async fn missing_keys_are_named_before_the_browser_step() {
    let env = Env::new();
    for (threads, key) in [
        (
            format!("app_secret = \"{APP_SECRET}\"\nredirect_uri = \"{REDIRECT_URI}\""),
            "threads.app_id",
        ),
        (
            format!("app_id = \"{APP_ID}\"\nredirect_uri = \"{REDIRECT_URI}\""),
            "threads.app_secret",
        ),
        (
            format!("app_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\""),
            "threads.redirect_uri",
        ),
    ] {
        let settings = env.settings_with(&threads);
        let screen = Screen::default();
        let mut out = screen.clone();
        let mut input = std::io::Cursor::new(Vec::new());
        let err = auth::run(&settings, "newsroom", None, &mut input, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::MissingKey { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&format!("{key} is not set")),
            "{err}"
        );
        assert!(
            screen.text().is_empty(),
            "printed before failing: {}",
            screen.text()
        );
    }
    let err = auth::run(
        &env.settings(),
        "sports",
        None,
        &mut std::io::Cursor::new(Vec::new()),
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("account \"sports\" is not in the config"),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_pasted_is_a_clear_error() {
    let env = Env::new();
    let (r, _, _) = run_oauth(&env, &env.settings(), |_| String::new()).await;
    assert!(matches!(r, Err(AuthError::NoInput)), "{r:?}");
}

#[tokio::test]
async fn importing_a_long_lived_token_learns_its_expiry() {
    let env = Env::new();
    // Issued ten days ago: 50 days left.
    let token = env
        .fake
        .issue_token(TokenKind::LongLived, Duration::from_secs(10 * DAY as u64));
    let settings = env.settings_with(""); // no app credentials needed for an import
    let screen = Screen::default();
    let mut out = screen.clone();
    let connected = auth::run(
        &settings,
        "newsroom",
        Some(SecretString::from(format!(" {token}\n"))),
        &mut std::io::Cursor::new(Vec::new()),
        &mut out,
    )
    .await
    .unwrap();
    env.assert_no_secret(&screen.text());
    assert_eq!(connected.username.as_deref(), Some(USERNAME));
    let store = env.store().await;
    let row = store.account_by_name("newsroom").await.unwrap().unwrap();
    assert_eq!(row.token().unwrap().expose_secret(), token);
    assert_eq!(row.token_source.as_deref(), Some("import"));
    let fake_record = env
        .fake
        .tokens()
        .into_iter()
        .find(|t| t.token == token)
        .unwrap();
    assert_eq!(
        row.token_expires_at,
        Some(fake_record.expires_at.timestamp())
    );
    assert_eq!(row.token_issued_at, Some(fake_record.issued_at.timestamp()));
    assert_eq!(row.username.as_deref(), Some(USERNAME));
    assert!(screen.text().contains("in 49 days") || screen.text().contains("in 50 days"));
    assert_eq!(env.fake.calls(Endpoint::ExchangeCode), 0);
}

#[tokio::test]
async fn importing_a_short_lived_token_exchanges_it_or_refuses() {
    let env = Env::new();
    let short = env.fake.issue_token(TokenKind::ShortLived, Duration::ZERO);

    // Without the app secret it cannot become long-lived: refused, nothing stored.
    let err = auth::run(
        &env.settings_with(""),
        "newsroom",
        Some(SecretString::from(short.clone())),
        &mut std::io::Cursor::new(Vec::new()),
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::ShortLivedImport { .. }), "{err}");
    env.assert_no_secret(&err.to_string());
    let row = env.store().await.account_by_name("newsroom").await.unwrap();
    assert!(row.is_none_or(|r| r.token().is_none()));

    // With it, the stored token is a long-lived one.
    auth::run(
        &env.settings(),
        "newsroom",
        Some(SecretString::from(short.clone())),
        &mut std::io::Cursor::new(Vec::new()),
        &mut Vec::new(),
    )
    .await
    .unwrap();
    let row = env
        .store()
        .await
        .account_by_name("newsroom")
        .await
        .unwrap()
        .unwrap();
    let stored = row.token().unwrap().expose_secret().to_string();
    assert_ne!(stored, short);
    let kind = env
        .fake
        .tokens()
        .into_iter()
        .find(|t| t.token == stored)
        .unwrap()
        .kind;
    assert_eq!(kind, TokenKind::LongLived);
}

#[tokio::test]
async fn importing_a_bad_token_is_refused() {
    let env = Env::new();
    for token in ["THQVJnot-a-real-token-at-all-0123456789", ""] {
        let err = auth::run(
            &env.settings_with(""),
            "newsroom",
            Some(SecretString::from(token.to_string())),
            &mut std::io::Cursor::new(Vec::new()),
            &mut Vec::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        if !token.is_empty() {
            assert!(!err.contains(token), "{err}");
        }
        assert!(err.contains("checking the token"), "{err}");
    }
    let expired = env
        .fake
        .issue_token(TokenKind::LongLived, Duration::from_secs(61 * DAY as u64));
    let err = auth::run(
        &env.settings_with(""),
        "newsroom",
        Some(SecretString::from(expired.clone())),
        &mut std::io::Cursor::new(Vec::new()),
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("without --token"), "{err}");
    assert!(!err.contains(&expired), "{err}");
    let row = env.store().await.account_by_name("newsroom").await.unwrap();
    assert!(row.is_none_or(|r| r.token().is_none()));
}

/// The real binary: stdin and stdout are pipes, logs go to stderr; no token, code or secret
/// appears in either stream.
#[test]
fn the_binary_runs_the_flow_over_pipes_without_printing_secrets() {
    use std::io::BufReader;
    use std::process::{Command, Stdio};

    let env = Env::new();
    let config = env.dir.path().join("feed2threads.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\n[threads]\napi_base = \"{}\"\napp_id = \"{APP_ID}\"\n\
             app_secret_env = \"F2T_TEST_APP_SECRET\"\nredirect_uri = \"{REDIRECT_URI}\"\n\
             [http]\nlisten = \"off\"\n[[accounts]]\nname = \"newsroom\"\n",
            env.db(),
            env.fake.base_url()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_feed2threads"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "auth", "newsroom"])
        .env("F2T_TEST_APP_SECRET", APP_SECRET)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut screen = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no URL:\n{screen}"
        );
        screen.push_str(&line);
        if let Some(u) = line
            .split_whitespace()
            .find(|w| w.starts_with("https://threads.net/oauth/authorize"))
        {
            break Url::parse(u).unwrap();
        }
    };
    let code = env.fake.authorization_code();
    let state = query(&url, "state").unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{REDIRECT_URI}?code={code}&state={state}#_").unwrap();
    drop(stdin);
    stdout.read_to_string(&mut screen).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{screen}\n{stderr}");
    assert!(screen.contains(&format!("@{USERNAME}")), "{screen}");
    for text in [&screen, &stderr] {
        env.assert_no_secret(text);
        assert!(!text.contains(&code), "the code leaked:\n{text}");
    }
}
