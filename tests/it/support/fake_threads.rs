//! A fake Threads API server for integration tests.
//!
//! Serves, on `127.0.0.1:<random port>`, the endpoints a publishing daemon uses, behaving as
//! `shared/threads-api.md` describes: container creation with the documented limits (500 UTF-8
//! bytes, 5 distinct links, topic tags, `link_attachment` on TEXT only), container status,
//! a non-idempotent `threads_publish` with a moving 24 h quota, post listing with paging,
//! permalinks, the publishing limit, `me`, `debug_token`, and the OAuth token endpoints (single-use
//! codes, long-lived exchange, refresh only after 24 h, expiry with 190/463).
//!
//! Threads' newer options are checked as the doc states them: `text_attachment` (JSON with
//! `plaintext` of at most 10,000 characters and an optional `link_attachment_url`; TEXT only;
//! not with `link_attachment` or `poll_attachment`), `poll_attachment` (not with a link
//! attachment), `enable_reply_approvals` (not on ghost posts), `is_ghost_post` (TEXT only; no
//! reply, link attachment, text attachment, poll, topic tag or reply approvals), and replies
//! (`reply_to_id` must name an existing post; a published reply counts against the separate
//! 1,000-a-day reply quota, not the 250, is listed by `GET /me/replies` and not by
//! `GET /me/threads`). `auto_publish_text` is refused: the daemon must not use it.
//!
//! Failure modes seen in the field are switchable at run time ([`Switches`],
//! [`FakeThreads::fail_next_publishes`], [`FakeThreads::fail_next`]): containers not yet visible
//! (24/4279009), media stuck IN_PROGRESS then FINISHED or ERROR, a publish that succeeds and then
//! drops the connection without answering, a publish that succeeds and answers 500 with code 10,
//! a 5xx before acting, quota exhaustion, expired tokens, and a seeded random mix of publish faults.
//!
//! The server runs on its own thread and Tokio runtime, so it keeps serving while a test blocks
//! (waiting on a child process) or pauses Tokio time, and its state lives as long as the
//! [`FakeThreads`] handle: a daemon process killed and restarted against it finds the posts it
//! made. Its clock is the real clock plus an offset the test can [`advance`](FakeThreads::advance).
//!
//! # Usage
//!
//! ```text
//! use crate::support::fake_threads::{FakeThreads, PublishFault, Switches, Endpoint};
//!
//! let fake = FakeThreads::start();                      // sync; own thread and runtime
//! let client = ThreadsClient::new(ClientConfig::new(fake.base_url()))?;
//! let token = fake.secret_token();                      // or fake.token() as a String
//! fake.set(Switches { quota_total: 3, ..Switches::default() });
//! fake.update(|s| s.not_visible_attempts = 2);
//! fake.fail_next_publishes([PublishFault::DropAfterPublish]);
//! fake.advance(Duration::from_secs(25 * 3600));         // fake clock: token age, quota window
//! // ... run the client or the real binary (api_base = fake.base_url()) ...
//! assert!(fake.duplicates().is_empty());
//! assert_eq!(fake.posts().len(), 3);
//! assert_eq!(fake.calls(Endpoint::Publish), 5);
//! ```
//!
//! Where the real API's behaviour is undocumented the fake makes a choice and says so:
//! - Quota exhausted: HTTP 400, code 4, subcode 2207042 (Instagram's), message "Application
//!   request limit reached" (the same text as app throttling; only the subcode tells them apart).
//! - Link limit: HTTP 400, code 100, message `THREADS_API__LINK_LIMIT_EXCEEDED`.
//! - Refresh of a token younger than 24 h: HTTP 400, code 100 (token still valid).
//! - Publishing a container that is already PUBLISHED creates a *second* post (so tests can catch
//!   double publishing); the post is flagged `duplicate`.
//! - A refreshed token does not invalidate the old one before its own expiry.
//! - Replying to a post that does not exist (or was deleted, [`FakeThreads::delete_post`]):
//!   HTTP 400, code 100, subcode 33, "The post you are replying to does not exist or was
//!   deleted" (at container creation).
//! - An option the account may not use ([`Switches::refused_options`]): HTTP 400, code 100,
//!   message `THREADS_API__FEATURE_NOT_AVAILABLE: <param> is not available for this account`.
//! - URLs inside a text attachment's `plaintext` do not count towards the 5 links; its
//!   `link_attachment_url` does, like a link attachment.
#![allow(
    dead_code,
    reason = "included by several test crates; each uses a different part of it"
)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use regex::Regex;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use url::Url;

/// The Threads app id the fake accepts in the code exchange.
pub const APP_ID: &str = "1234567890123456";
/// The Threads app secret the fake accepts.
pub const APP_SECRET: &str = "fake-threads-app-secret-0123456789abcdef";
/// The redirect URI the fake's "authorize window" used.
pub const REDIRECT_URI: &str = "https://feed2threads.example/oauth/callback";
/// The user behind every token; larger than 2^53, like real ids.
pub const USER_ID: u64 = 17_841_405_793_187_218;
pub const USERNAME: &str = "fake_newsroom";

const LONG_LIVED: chrono::TimeDelta = chrono::TimeDelta::days(60);
const SHORT_LIVED: chrono::TimeDelta = chrono::TimeDelta::hours(1);
const CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(1);
const REFRESH_MIN_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const CONTAINER_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const QUOTA_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const MIN_SINCE: i64 = 1_688_540_400;
const TEXT_MAX_BYTES: usize = 500;
const MAX_LINKS: usize = 5;
const ATTACHMENT_MAX_CHARS: usize = 10_000;
const REPLY_QUOTA: u32 = 1000;

/// The endpoints, for call counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    CreateContainer,
    ContainerStatus,
    Publish,
    GetPost,
    /// `GET /v1.0/{id}` for an id that is neither a container nor a post.
    UnknownObject,
    ListPosts,
    /// `GET /v1.0/{user}/replies`.
    ListReplies,
    PublishingLimit,
    Me,
    DebugToken,
    RefreshToken,
    ExchangeCode,
    ExchangeLongLived,
    /// Any path the fake does not serve.
    UnknownPath,
}

/// One way a `threads_publish` call can go wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishFault {
    /// 400, code 24 / subcode 4279009 "Media Not Found"; nothing published.
    NotVisible,
    /// 503, code 2, `is_transient: true`; nothing published.
    ServerErrorBeforeActing,
    /// The connection is closed without an answer; nothing published.
    DropBeforeActing,
    /// The post is published, then the connection is closed without an answer.
    DropAfterPublish,
    /// The post is published, then the answer is HTTP 500 with code 10 (Meta's false failure).
    Code10AfterPublish,
    /// The post is published, and the answer comes after this delay (to make clients time out).
    DelayAfterPublish(Duration),
}

/// Seeded random publish faults: each publish fails with `probability`, in one of `faults`
/// chosen uniformly. The same seed gives the same sequence of decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    pub probability: f64,
    pub seed: u64,
    pub faults: Vec<PublishFault>,
}

impl RandomFaults {
    /// Every fault kind except delays (which depend on the client's timeout).
    pub fn new(probability: f64, seed: u64) -> Self {
        RandomFaults {
            probability,
            seed,
            faults: vec![
                PublishFault::NotVisible,
                PublishFault::ServerErrorBeforeActing,
                PublishFault::DropBeforeActing,
                PublishFault::DropAfterPublish,
                PublishFault::Code10AfterPublish,
            ],
        }
    }
}

/// How a media (IMAGE/VIDEO) container ends after its IN_PROGRESS polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    Finished,
    /// `ERROR` with this `error_message` (e.g. `UNKNOWN`, `FAILED_DOWNLOADING_VIDEO`).
    Error(String),
}

/// Behaviour switches, settable at run time. `Switches::default()` is a well-behaved API.
#[derive(Debug, Clone, PartialEq)]
pub struct Switches {
    /// Posts per moving 24 h window (fake clock). Real value: 250.
    pub quota_total: u32,
    /// `threads_publish` answers 24/4279009 for the first N attempts on each container.
    pub not_visible_attempts: u32,
    /// ... and for this long after the container's creation.
    pub not_visible_for: Duration,
    /// Media containers (captured at creation) answer IN_PROGRESS to this many status polls.
    pub media_in_progress_polls: u32,
    /// Then they become this (captured at creation).
    pub media_outcome: MediaOutcome,
    /// Every token is treated as expired: 190/463 on every call that takes one.
    pub tokens_expired: bool,
    /// Posts are returned without `permalink`, as for copyrighted content.
    pub copyrighted: bool,
    /// A successful publish answers after this real-time delay.
    pub publish_delay: Duration,
    /// Seeded random faults on publish (after any queued by `fail_next_publishes`).
    pub random_publish_faults: Option<RandomFaults>,
    /// The code exchange returns `user_id` as a string instead of a JSON number.
    pub user_id_as_string: bool,
    /// Container parameters this account may not use (e.g. `enable_reply_approvals`): a
    /// container asking for one (with a value other than `false`) is refused.
    pub refused_options: Vec<String>,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            quota_total: 250,
            not_visible_attempts: 0,
            not_visible_for: Duration::ZERO,
            media_in_progress_polls: 0,
            media_outcome: MediaOutcome::Finished,
            tokens_expired: false,
            copyrighted: false,
            publish_delay: Duration::ZERO,
            random_publish_faults: None,
            user_id_as_string: false,
            refused_options: Vec::new(),
        }
    }
}

/// What makes two posts "the same story" for duplicate detection: `(text, link_attachment)`.
pub type ContentKey = (Option<String>, Option<String>);

/// A published post, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct FakePost {
    pub id: String,
    pub creation_id: String,
    /// The creation-side type: `TEXT`, `IMAGE`, `VIDEO`.
    pub media_type: String,
    pub text: Option<String>,
    pub link_attachment: Option<String>,
    pub image_url: Option<String>,
    pub topic_tag: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub shortcode: String,
    pub permalink: String,
    /// The container had already been published when this post was made.
    pub duplicate: bool,
    /// A reply to this post id.
    pub reply_to: Option<String>,
    /// The text attachment: `(plaintext, link_attachment_url)`.
    pub text_attachment: Option<(String, Option<String>)>,
    pub reply_approvals: bool,
    pub ghost: bool,
    /// Deleted with [`FakeThreads::delete_post`]: no longer listed or readable.
    pub deleted: bool,
}

/// A container, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeContainer {
    pub id: String,
    pub media_type: String,
    /// `IN_PROGRESS`, `FINISHED`, `PUBLISHED`, `ERROR`, `EXPIRED`.
    pub status: String,
    pub error_message: Option<String>,
    pub text: Option<String>,
    pub link_attachment: Option<String>,
    pub image_url: Option<String>,
    pub alt_text: Option<String>,
    pub topic_tag: Option<String>,
    pub reply_control: Option<String>,
    /// The post this container replies to.
    pub reply_to: Option<String>,
    /// `(plaintext, link_attachment_url)`.
    pub text_attachment: Option<(String, Option<String>)>,
    pub reply_approvals: bool,
    pub ghost: bool,
    pub created_at: DateTime<Utc>,
    pub publish_attempts: u32,
    pub status_polls: u32,
    /// Media ids of every post made from this container (more than one = double publish).
    pub published_as: Vec<String>,
    polls_until_done: u32,
    outcome: MediaOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    ShortLived,
    LongLived,
}

/// A token the fake has issued.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeToken {
    pub token: String,
    pub kind: TokenKind,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct CodeRec {
    issued_at: DateTime<Utc>,
    used: bool,
}

/// Handle on a running fake. Dropping it stops the server.
pub struct FakeThreads {
    addr: SocketAddr,
    base_url: Url,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<FakeState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panicking test thread must not take the server down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FakeThreads {
    /// Starts a fake on 127.0.0.1 with a random port, one long-lived token issued "now", and
    /// default switches. Works from sync and async tests alike.
    pub fn start() -> FakeThreads {
        let (std_listener, addr) = bind();
        let base_url = Url::parse(&format!("http://{addr}/")).expect("fake base URL");
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState::new(base_url.clone())),
        });
        let (stop, thread) = serve(std_listener, router(shared.clone()));
        FakeThreads {
            addr,
            base_url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Another address serving this same API (same posts, tokens, switches), which
    /// records the write calls (every method but GET) that come through it: one front per
    /// daemon tells which daemon made which call.
    pub fn front(&self) -> FakeFront {
        let (std_listener, addr) = bind();
        let writes: Arc<Mutex<Vec<WriteCall>>> = Arc::default();
        let log = writes.clone();
        let app = router(self.shared.clone()).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    if req.method() != axum::http::Method::GET {
                        let call = WriteCall {
                            at: std::time::Instant::now(),
                            what: format!("{} {}", req.method(), req.uri().path()),
                        };
                        log.lock().unwrap_or_else(|e| e.into_inner()).push(call);
                    }
                    next.run(req).await
                }
            },
        ));
        let (stop, thread) = serve(std_listener, app);
        FakeFront {
            base_url: Url::parse(&format!("http://{addr}/")).expect("front base URL"),
            writes,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// [`Self::start`] with these switches already set.
    pub fn start_with(switches: Switches) -> FakeThreads {
        let fake = FakeThreads::start();
        fake.set(switches);
        fake
    }

    /// `http://127.0.0.1:<port>/`: the `api_base` for the client.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The newest long-lived token (changes after a refresh or long-lived exchange).
    pub fn token(&self) -> String {
        self.shared.lock().current_token.clone()
    }

    /// [`Self::token`] as the client wants it.
    pub fn secret_token(&self) -> SecretString {
        SecretString::from(self.token())
    }

    /// Issues another token that was issued `age` ago on the fake clock (to test refresh and
    /// expiry without advancing the clock). A long-lived one becomes the current token.
    pub fn issue_token(&self, kind: TokenKind, age: Duration) -> String {
        let mut st = self.shared.lock();
        let issued = st.now() - delta(age);
        st.issue_token(kind, issued)
    }

    /// A fresh authorization code, as the authorize window would put in the redirect.
    pub fn authorization_code(&self) -> String {
        let mut st = self.shared.lock();
        let code = format!("AQB{}", random_string(48));
        let now = st.now();
        st.codes.insert(
            code.clone(),
            CodeRec {
                issued_at: now,
                used: false,
            },
        );
        code
    }

    /// Replaces all switches.
    pub fn set(&self, switches: Switches) {
        self.shared.lock().set_switches(switches);
    }

    /// Changes some switches: `fake.update(|s| s.tokens_expired = true)`.
    pub fn update(&self, f: impl FnOnce(&mut Switches)) {
        let mut st = self.shared.lock();
        let mut s = st.switches.clone();
        f(&mut s);
        st.set_switches(s);
    }

    pub fn switches(&self) -> Switches {
        self.shared.lock().switches.clone()
    }

    /// The next publishes fail in these ways, in order (before any random faults).
    pub fn fail_next_publishes(&self, faults: impl IntoIterator<Item = PublishFault>) {
        self.shared.lock().publish_faults.extend(faults);
    }

    /// The next `times` calls to `endpoint` answer 503 code 2 `is_transient` without acting.
    pub fn fail_next(&self, endpoint: Endpoint, times: u32) {
        *self
            .shared
            .lock()
            .forced_failures
            .entry(endpoint)
            .or_default() += times;
    }

    /// Moves the fake clock forward (token age and expiry, quota window, container expiry).
    pub fn advance(&self, by: Duration) {
        let mut st = self.shared.lock();
        st.clock_offset += delta(by);
    }

    /// The fake clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.lock().now()
    }

    /// Every post, in publish order.
    pub fn posts(&self) -> Vec<FakePost> {
        self.shared.lock().posts.clone()
    }

    /// Number of posts per distinct `(text, link_attachment)`.
    pub fn post_counts(&self) -> HashMap<ContentKey, usize> {
        let mut counts = HashMap::new();
        for p in &self.shared.lock().posts {
            *counts
                .entry((p.text.clone(), p.link_attachment.clone()))
                .or_default() += 1;
        }
        counts
    }

    /// The `(text, link_attachment)` pairs posted more than once, with their counts.
    pub fn duplicates(&self) -> Vec<(ContentKey, usize)> {
        let mut d: Vec<_> = self
            .post_counts()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        d.sort();
        d
    }

    /// Every container, in creation order.
    pub fn containers(&self) -> Vec<FakeContainer> {
        let st = self.shared.lock();
        let mut c: Vec<_> = st.containers.values().cloned().collect();
        c.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        c
    }

    pub fn container(&self, id: &str) -> Option<FakeContainer> {
        self.shared.lock().containers.get(id).cloned()
    }

    /// How many requests reached `endpoint` (including rejected ones).
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.shared
            .lock()
            .calls
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    pub fn all_calls(&self) -> HashMap<Endpoint, u64> {
        self.shared.lock().calls.clone()
    }

    pub fn reset_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// Every token issued.
    pub fn tokens(&self) -> Vec<FakeToken> {
        let st = self.shared.lock();
        let mut t: Vec<_> = st.tokens.values().cloned().collect();
        t.sort_by(|a, b| a.issued_at.cmp(&b.issued_at).then(a.token.cmp(&b.token)));
        t
    }

    /// Posts in the current quota window.
    pub fn quota_usage(&self) -> u32 {
        self.shared.lock().quota_usage()
    }

    /// Replies in the current reply-quota window.
    pub fn reply_quota_usage(&self) -> u32 {
        self.shared.lock().reply_quota_usage()
    }

    /// Top-level posts (not replies), in publish order.
    pub fn top_level_posts(&self) -> Vec<FakePost> {
        self.posts()
            .into_iter()
            .filter(|p| p.reply_to.is_none())
            .collect()
    }

    /// Replies, in publish order.
    pub fn replies(&self) -> Vec<FakePost> {
        self.posts()
            .into_iter()
            .filter(|p| p.reply_to.is_some())
            .collect()
    }

    /// Deletes a post, as its author would in the app: it is no longer listed or readable,
    /// and replying to it fails. Returns false when there is no such post.
    pub fn delete_post(&self, id: &str) -> bool {
        let mut st = self.shared.lock();
        match st.posts.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                p.deleted = true;
                true
            }
            None => false,
        }
    }
}

/// A write call that came through a [`FakeFront`]: when it arrived, and `METHOD /path`.
#[derive(Debug, Clone)]
pub struct WriteCall {
    pub at: std::time::Instant,
    pub what: String,
}

/// See [`FakeThreads::front`]; stops serving when dropped.
pub struct FakeFront {
    base_url: Url,
    writes: Arc<Mutex<Vec<WriteCall>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeFront {
    /// The `api_base` of the daemon that uses this front.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// The write calls received so far.
    pub fn writes(&self) -> Vec<WriteCall> {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for FakeFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A listener on 127.0.0.1 with a random port.
fn bind() -> (std::net::TcpListener, SocketAddr) {
    let std_listener =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the fake");
    std_listener
        .set_nonblocking(true)
        .expect("set the fake's listener non-blocking");
    let addr = std_listener.local_addr().expect("fake's local address");
    (std_listener, addr)
}

/// Serves `app` on its own thread and runtime until the sender is used (or dropped).
fn serve(
    std_listener: std::net::TcpListener,
    app: Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let port = std_listener.local_addr().map_or(0, |a| a.port());
    let thread = std::thread::Builder::new()
        .name(format!("fake-threads-{port}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake's runtime");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(std_listener).expect("fake's tokio listener");
                let serve = axum::serve(
                    KillableListener { inner: listener },
                    app.into_make_service_with_connect_info::<Conn>(),
                );
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
            // Connections still open (a delayed publish) are cut here.
            rt.shutdown_timeout(Duration::from_millis(200));
        })
        .expect("spawn the fake's thread");
    (stop_tx, thread)
}

impl Drop for FakeThreads {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Connection killing: the listener hands each connection a flag; a handler that sets it makes
// every later read EOF and every write fail, so hyper drops the socket without answering and the
// client sees the connection close mid-request (not a 500).

struct KillableListener {
    inner: tokio::net::TcpListener,
}

/// Per-connection info for handlers (axum's `ConnectInfo`).
#[derive(Clone, Debug)]
pub struct Conn {
    remote: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl Conn {
    fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        Conn { remote, kill },
                    );
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Conn {
            remote: self.inner.local_addr()?,
            kill: Arc::default(),
        })
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub struct KillableStream {
    inner: tokio::net::TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake Threads: connection dropped on purpose",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Replies.

enum Reply {
    Json {
        status: StatusCode,
        body: Value,
        trace: String,
    },
    /// Close the connection without answering.
    Drop,
    /// Answer after a real-time delay.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply::Json {
            status: StatusCode::OK,
            body,
            trace: random_string(11),
        }
    }

    fn render(self, conn: &Conn) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(async move {
            match self {
                Reply::Json {
                    status,
                    body,
                    trace,
                } => (
                    status,
                    [
                        ("x-fb-trace-id", trace),
                        ("x-fb-request-id", random_string(22)),
                        (
                            "x-app-usage",
                            r#"{"call_count":1,"total_cputime":1,"total_time":1}"#.to_owned(),
                        ),
                        (header::CONTENT_TYPE.as_str(), "application/json".to_owned()),
                    ],
                    body.to_string(),
                )
                    .into_response(),
                Reply::Drop => {
                    conn.kill();
                    StatusCode::OK.into_response()
                }
                Reply::Delayed(d, inner) => {
                    tokio::time::sleep(d).await;
                    inner.render(conn).await
                }
            }
        })
    }
}

/// A Graph-envelope error under construction.
struct GraphError {
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    kind: &'static str,
    message: String,
    user_title: Option<String>,
    user_msg: Option<String>,
    transient: bool,
}

impl GraphError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code,
            subcode: None,
            kind: "OAuthException",
            message: message.into(),
            user_title: None,
            user_msg: None,
            transient: false,
        }
    }

    fn param(message: impl Into<String>) -> Self {
        let mut e = GraphError::new(100, message);
        e.kind = "THApiException";
        e
    }

    fn status(mut self, s: StatusCode) -> Self {
        self.status = s;
        self
    }

    fn subcode(mut self, s: i64) -> Self {
        self.subcode = Some(s);
        self
    }

    fn user(mut self, title: &str, msg: &str) -> Self {
        self.user_title = Some(title.to_owned());
        self.user_msg = Some(msg.to_owned());
        self
    }

    fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    fn reply(self) -> Reply {
        let trace = random_string(11);
        let mut inner = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "is_transient": self.transient,
            "fbtrace_id": trace,
        });
        if let Some(s) = self.subcode {
            inner["error_subcode"] = s.into();
        }
        if let Some(t) = self.user_title {
            inner["error_user_title"] = t.into();
        }
        if let Some(m) = self.user_msg {
            inner["error_user_msg"] = m.into();
        }
        Reply::Json {
            status: self.status,
            body: json!({ "error": inner }),
            trace,
        }
    }
}

/// The token endpoint's flat error shape.
fn flat_error(code: i64, message: &str) -> Reply {
    Reply::Json {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "error_type": "OAuthException", "code": code, "error_message": message }),
        trace: random_string(11),
    }
}

fn not_visible() -> Reply {
    GraphError::new(24, "The requested resource does not exist")
        .subcode(4_279_009)
        .user("Media Not Found", "The requested resource does not exist.")
        .reply()
}

fn transient_5xx() -> Reply {
    GraphError::new(
        2,
        "An unexpected error has occurred. Please retry your request later.",
    )
    .status(StatusCode::SERVICE_UNAVAILABLE)
    .transient()
    .reply()
}

// ---------------------------------------------------------------------------------------------
// Request parameters: query string, form body and `Authorization: Bearer` all count, as on the
// real API (the official sample sends everything in the query string).

struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Params {
        let mut m = HashMap::new();
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                m.insert(k.into_owned(), v.into_owned());
            }
        }
        for (k, v) in url::form_urlencoded::parse(body) {
            m.insert(k.into_owned(), v.into_owned());
        }
        if !m.contains_key("access_token")
            && let Some(bearer) = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        {
            m.insert("access_token".into(), bearer.trim().to_owned());
        }
        Params(m)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn non_empty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }

    fn fields(&self, default: &str) -> Vec<String> {
        self.get("fields")
            .unwrap_or(default)
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// State and the API's behaviour.

struct FakeState {
    base_url: Url,
    switches: Switches,
    fault_rng: Option<(u64, StdRng)>,
    clock_offset: chrono::TimeDelta,
    tokens: HashMap<String, FakeToken>,
    current_token: String,
    codes: HashMap<String, CodeRec>,
    containers: HashMap<String, FakeContainer>,
    posts: Vec<FakePost>,
    next_id: u64,
    calls: HashMap<Endpoint, u64>,
    publish_faults: VecDeque<PublishFault>,
    forced_failures: HashMap<Endpoint, u32>,
}

static URL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"https?://[^\s]+").expect("URL regex"));

const POST_FIELDS: &[&str] = &[
    "id",
    "permalink",
    "text",
    "timestamp",
    "link_attachment_url",
    "shortcode",
    "media_type",
    "media_product_type",
    "topic_tag",
    "username",
    "owner",
    "is_quote_post",
    "media_url",
    "alt_text",
    "is_reply",
    "replied_to",
    "root_post",
    "text_attachment",
    "is_ghost_post",
];

impl FakeState {
    fn new(base_url: Url) -> Self {
        let mut st = FakeState {
            base_url,
            switches: Switches::default(),
            fault_rng: None,
            clock_offset: chrono::TimeDelta::zero(),
            tokens: HashMap::new(),
            current_token: String::new(),
            codes: HashMap::new(),
            containers: HashMap::new(),
            posts: Vec::new(),
            next_id: 1,
            calls: HashMap::new(),
            publish_faults: VecDeque::new(),
            forced_failures: HashMap::new(),
        };
        let now = st.now();
        st.issue_token(TokenKind::LongLived, now);
        st
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    fn set_switches(&mut self, s: Switches) {
        match &s.random_publish_faults {
            Some(rf) if self.fault_rng.as_ref().map(|(seed, _)| *seed) != Some(rf.seed) => {
                self.fault_rng = Some((rf.seed, StdRng::seed_from_u64(rf.seed)));
            }
            Some(_) => {}
            None => self.fault_rng = None,
        }
        self.switches = s;
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn issue_token(&mut self, kind: TokenKind, issued_at: DateTime<Utc>) -> String {
        let n = self.next_id();
        let (tag, life) = match kind {
            TokenKind::ShortLived => ("S", SHORT_LIVED),
            TokenKind::LongLived => ("L", LONG_LIVED),
        };
        let token = format!("THAA{tag}{n:04}{}", random_string(32));
        self.tokens.insert(
            token.clone(),
            FakeToken {
                token: token.clone(),
                kind,
                issued_at,
                expires_at: issued_at + life,
            },
        );
        if kind == TokenKind::LongLived {
            self.current_token = token.clone();
        }
        token
    }

    fn count(&mut self, e: Endpoint) {
        *self.calls.entry(e).or_default() += 1;
    }

    fn forced_failure(&mut self, e: Endpoint) -> Option<Reply> {
        let left = self.forced_failures.get_mut(&e)?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(transient_5xx())
    }

    /// Top-level posts in the quota window (replies have their own quota).
    fn quota_usage(&self) -> u32 {
        let since = self.now() - QUOTA_WINDOW;
        let n = self
            .posts
            .iter()
            .filter(|p| p.reply_to.is_none() && p.timestamp > since)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn reply_quota_usage(&self) -> u32 {
        let since = self.now() - QUOTA_WINDOW;
        let n = self
            .posts
            .iter()
            .filter(|p| p.reply_to.is_some() && p.timestamp > since)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A post that exists and was not deleted.
    fn live_post(&self, id: &str) -> Option<&FakePost> {
        self.posts.iter().find(|p| p.id == id && !p.deleted)
    }

    /// Checks `access_token`: known, not expired, switch off. Returns the token record.
    fn authorize(&self, p: &Params) -> Result<FakeToken, Reply> {
        let Some(token) = p.non_empty("access_token") else {
            return Err(GraphError::new(
                104,
                "An access token is required to request this resource.",
            )
            .reply());
        };
        let Some(rec) = self.tokens.get(token) else {
            return Err(GraphError::new(
                190,
                "Invalid OAuth access token - Cannot parse access token",
            )
            .reply());
        };
        let now = self.now();
        if self.switches.tokens_expired || rec.expires_at <= now {
            return Err(GraphError::new(
                190,
                format!(
                    "Error validating access token: Session has expired on {}. The current time is {}.",
                    rec.expires_at.format("%A, %d-%b-%y %H:%M:%S UTC"),
                    now.format("%A, %d-%b-%y %H:%M:%S UTC"),
                ),
            )
            .subcode(463)
            .reply());
        }
        Ok(rec.clone())
    }

    fn check_user(user: &str) -> Result<(), Reply> {
        if user == "me" || user == USER_ID.to_string() {
            Ok(())
        } else {
            Err(unsupported_object(user))
        }
    }

    /// Brings a container's status up to date with the clock (24 h expiry).
    fn age_container(&mut self, id: &str) {
        let now = self.now();
        if let Some(c) = self.containers.get_mut(id)
            && matches!(c.status.as_str(), "IN_PROGRESS" | "FINISHED")
            && now - c.created_at >= CONTAINER_TTL
        {
            c.status = "EXPIRED".into();
        }
    }

    // -- POST /v1.0/{user}/threads ------------------------------------------------------------

    fn create_container(&mut self, user: &str, p: &Params) -> Reply {
        self.count(Endpoint::CreateContainer);
        if let Err(r) = self.authorize(p).and_then(|_| Self::check_user(user)) {
            return r;
        }
        if let Some(r) = self.forced_failure(Endpoint::CreateContainer) {
            return r;
        }
        match self.validate_container(p) {
            Ok(()) => {}
            Err(e) => return e.reply(),
        }
        let media_type = p.get("media_type").unwrap_or_default().to_owned();
        let text_attachment = match parse_attachment(p) {
            Ok(a) => a,
            Err(e) => return e.reply(),
        };
        let n = self.next_id();
        let id = format!("1789{n:013}");
        let is_media = media_type != "TEXT";
        let container = FakeContainer {
            id: id.clone(),
            media_type,
            status: if is_media { "IN_PROGRESS" } else { "FINISHED" }.into(),
            error_message: None,
            text: p.get("text").map(str::to_owned),
            link_attachment: p.non_empty("link_attachment").map(str::to_owned),
            image_url: p
                .non_empty("image_url")
                .or_else(|| p.non_empty("video_url"))
                .map(str::to_owned),
            alt_text: p.non_empty("alt_text").map(str::to_owned),
            topic_tag: p.non_empty("topic_tag").map(str::to_owned),
            reply_control: p.non_empty("reply_control").map(str::to_owned),
            reply_to: p.non_empty("reply_to_id").map(str::to_owned),
            text_attachment,
            reply_approvals: flag(p, "enable_reply_approvals"),
            ghost: flag(p, "is_ghost_post"),
            created_at: self.now(),
            publish_attempts: 0,
            status_polls: 0,
            published_as: Vec::new(),
            polls_until_done: self.switches.media_in_progress_polls,
            outcome: self.switches.media_outcome.clone(),
        };
        self.containers.insert(id.clone(), container);
        Reply::ok(json!({ "id": id }))
    }

    fn validate_container(&self, p: &Params) -> Result<(), GraphError> {
        let Some(media_type) = p.non_empty("media_type") else {
            return Err(GraphError::param("The parameter media_type is required."));
        };
        match media_type {
            "TEXT" | "IMAGE" | "VIDEO" => {}
            "CAROUSEL" => {
                return Err(GraphError::param(
                    "Param media_type CAROUSEL is not supported by the fake server",
                ));
            }
            _ => {
                return Err(GraphError::param(
                    "Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}",
                ));
            }
        }
        if p.get("auto_publish_text").is_some() {
            return Err(GraphError::param(
                "Param auto_publish_text is not supported by the fake server",
            ));
        }
        if let Some(refused) = self
            .switches
            .refused_options
            .iter()
            .find(|o| p.get(o).is_some_and(|v| v != "false"))
        {
            return Err(GraphError::param(format!(
                "THREADS_API__FEATURE_NOT_AVAILABLE: {refused} is not available for this account"
            )));
        }
        self.validate_newer_options(p, media_type)?;
        let text = p.get("text").unwrap_or_default();
        if media_type == "TEXT" && text.is_empty() && p.get("text_attachment").is_none() {
            return Err(GraphError::param("Param text is required for TEXT posts"));
        }
        // The server counts bytes (emoji and curly quotes included), not characters.
        if text.len() > TEXT_MAX_BYTES {
            return Err(GraphError::param(
                "Param text must be at most 500 characters long",
            ));
        }
        let link = p.non_empty("link_attachment");
        if link.is_some() && media_type != "TEXT" {
            return Err(GraphError::param(
                "Param link_attachment is only supported for TEXT posts",
            ));
        }
        if link.is_some_and(|l| !is_http_url(l)) {
            return Err(GraphError::param(
                "Param link_attachment must be a valid URL",
            ));
        }
        let attachment_link = parse_attachment(p)?.and_then(|(_, l)| l);
        let link = link.or(attachment_link.as_deref());
        if count_links(text, link) > MAX_LINKS {
            return Err(GraphError::param("THREADS_API__LINK_LIMIT_EXCEEDED")
                .user("Too many links", "Posts can include up to 5 links."));
        }
        if let Some(tag) = p.get("topic_tag") {
            let n = tag.chars().count();
            if !(1..=50).contains(&n) || tag.contains('.') || tag.contains('&') {
                return Err(GraphError::param(
                    "Param topic_tag must be 1 to 50 characters long and must not contain periods (.) or ampersands (&)",
                ));
            }
        }
        if let Some(rc) = p.get("reply_control")
            && ![
                "everyone",
                "accounts_you_follow",
                "mentioned_only",
                "parent_post_author_only",
                "followers_only",
            ]
            .contains(&rc)
        {
            return Err(GraphError::param(format!(
                "Param reply_control has an invalid value: {rc}"
            )));
        }
        match media_type {
            "IMAGE" => match p.non_empty("image_url") {
                None => {
                    return Err(GraphError::param(
                        "Param image_url is required for IMAGE posts",
                    ));
                }
                Some(u) if !is_http_url(u) => {
                    return Err(GraphError::param("Param image_url must be a valid URL"));
                }
                Some(_) => {}
            },
            "VIDEO" if p.non_empty("video_url").is_none() => {
                return Err(GraphError::param(
                    "Param video_url is required for VIDEO posts",
                ));
            }
            _ => {}
        }
        if p.get("alt_text").is_some_and(|a| a.chars().count() > 1000) {
            return Err(GraphError::param(
                "Param alt_text must be at most 1000 characters long",
            ));
        }
        Ok(())
    }

    /// Replies, text attachments, polls, reply approvals and ghost posts (threads-api.md §2.1).
    fn validate_newer_options(&self, p: &Params, media_type: &str) -> Result<(), GraphError> {
        let text_only = |param: &str| {
            GraphError::param(format!("Param {param} is only supported for TEXT posts"))
        };
        let attachment = p.get("text_attachment").is_some();
        let poll = p.get("poll_attachment").is_some();
        let link = p.non_empty("link_attachment").is_some();
        let ghost = flag(p, "is_ghost_post");
        let approvals = flag(p, "enable_reply_approvals");
        if attachment && media_type != "TEXT" {
            return Err(text_only("text_attachment"));
        }
        if attachment && link {
            return Err(GraphError::param(
                "Param text_attachment cannot be used with link_attachment; put the link in the attachment's link_attachment_url",
            ));
        }
        if poll && (media_type != "TEXT" || link || attachment) {
            return Err(GraphError::param(
                "Param poll_attachment is only supported for TEXT posts without a link or text attachment",
            ));
        }
        if ghost {
            if media_type != "TEXT" {
                return Err(text_only("is_ghost_post"));
            }
            let features = [
                ("reply_to_id", p.get("reply_to_id").is_some()),
                ("enable_reply_approvals", approvals),
                ("link_attachment", link),
                ("text_attachment", attachment),
                ("poll_attachment", poll),
                ("topic_tag", p.get("topic_tag").is_some()),
                ("quote_post_id", p.get("quote_post_id").is_some()),
            ];
            if let Some((param, _)) = features.iter().find(|(_, set)| *set) {
                return Err(GraphError::param(format!(
                    "Param {param} cannot be used on a ghost post"
                )));
            }
        }
        if let Some(parent) = p.non_empty("reply_to_id")
            && self.live_post(parent).is_none()
        {
            return Err(GraphError::param(
                "The post you are replying to does not exist or was deleted",
            )
            .subcode(33));
        }
        Ok(())
    }

    // -- GET /v1.0/{id} -----------------------------------------------------------------------

    fn get_node(&mut self, id: &str, p: &Params) -> Reply {
        match id {
            "me" => return self.me(p),
            "debug_token" => return self.debug_token(p),
            _ => {}
        }
        if self.containers.contains_key(id) {
            self.count(Endpoint::ContainerStatus);
            if let Err(r) = self.authorize(p) {
                return r;
            }
            if let Some(r) = self.forced_failure(Endpoint::ContainerStatus) {
                return r;
            }
            return self.container_status(id, p);
        }
        if let Some(post) = self.live_post(id).cloned() {
            self.count(Endpoint::GetPost);
            if let Err(r) = self.authorize(p) {
                return r;
            }
            if let Some(r) = self.forced_failure(Endpoint::GetPost) {
                return r;
            }
            return match self.post_json(&post, &p.fields("id")) {
                Ok(v) => Reply::ok(v),
                Err(e) => e.reply(),
            };
        }
        self.count(Endpoint::UnknownObject);
        if let Err(r) = self.authorize(p) {
            return r;
        }
        unsupported_object(id)
    }

    fn container_status(&mut self, id: &str, p: &Params) -> Reply {
        self.age_container(id);
        let Some(c) = self.containers.get_mut(id) else {
            return unsupported_object(id);
        };
        c.status_polls += 1;
        if c.status == "IN_PROGRESS" && c.status_polls > c.polls_until_done {
            match &c.outcome {
                MediaOutcome::Finished => c.status = "FINISHED".into(),
                MediaOutcome::Error(msg) => {
                    c.status = "ERROR".into();
                    c.error_message = Some(msg.clone());
                }
            }
        }
        let mut out = serde_json::Map::new();
        for f in p.fields("id,status") {
            match f.as_str() {
                "id" => {
                    out.insert("id".into(), c.id.clone().into());
                }
                "status" => {
                    out.insert("status".into(), c.status.clone().into());
                }
                "error_message" => {
                    if let Some(m) = &c.error_message {
                        out.insert("error_message".into(), m.clone().into());
                    }
                }
                other => {
                    return GraphError::param(format!(
                        "Tried accessing nonexisting field ({other}) on node type (ThreadsMediaContainer)"
                    ))
                    .reply();
                }
            }
        }
        Reply::ok(Value::Object(out))
    }

    fn post_json(&self, post: &FakePost, fields: &[String]) -> Result<Value, GraphError> {
        let mut out = serde_json::Map::new();
        for f in fields {
            let v: Value = match f.as_str() {
                "id" => post.id.clone().into(),
                "permalink" if self.switches.copyrighted => continue,
                "permalink" => post.permalink.clone().into(),
                "text" => match &post.text {
                    Some(t) => t.clone().into(),
                    None => continue,
                },
                "timestamp" => post
                    .timestamp
                    .format("%Y-%m-%dT%H:%M:%S+0000")
                    .to_string()
                    .into(),
                "link_attachment_url" => match &post.link_attachment {
                    Some(l) => l.clone().into(),
                    None => continue,
                },
                "shortcode" => post.shortcode.clone().into(),
                "media_type" => match post.media_type.as_str() {
                    "TEXT" => "TEXT_POST".into(),
                    other => other.into(),
                },
                "media_product_type" => "THREADS".into(),
                "topic_tag" => match &post.topic_tag {
                    Some(t) => t.clone().into(),
                    None => continue,
                },
                "username" => USERNAME.into(),
                "owner" => json!({ "id": USER_ID.to_string() }),
                "is_quote_post" => false.into(),
                "is_reply" => post.reply_to.is_some().into(),
                "replied_to" | "root_post" => match &post.reply_to {
                    Some(r) => json!({ "id": r }),
                    None => continue,
                },
                "text_attachment" => match &post.text_attachment {
                    Some((plain, link)) => {
                        json!({ "plaintext": plain, "link_attachment_url": link })
                    }
                    None => continue,
                },
                "is_ghost_post" => post.ghost.into(),
                "media_url" | "alt_text" => continue,
                other if POST_FIELDS.contains(&other) => continue,
                other => {
                    return Err(GraphError::param(format!(
                        "Tried accessing nonexisting field ({other}) on node type (ThreadsMedia)"
                    )));
                }
            };
            out.insert(f.clone(), v);
        }
        Ok(Value::Object(out))
    }

    // -- POST /v1.0/{user}/threads_publish ------------------------------------------------------

    fn publish(&mut self, user: &str, p: &Params) -> Reply {
        self.count(Endpoint::Publish);
        if let Err(r) = self.authorize(p).and_then(|_| Self::check_user(user)) {
            return r;
        }
        if let Some(r) = self.forced_failure(Endpoint::Publish) {
            return r;
        }
        let fault = self.next_publish_fault();
        match fault {
            Some(PublishFault::ServerErrorBeforeActing) => return transient_5xx(),
            Some(PublishFault::DropBeforeActing) => return Reply::Drop,
            Some(PublishFault::NotVisible) => return not_visible(),
            _ => {}
        }
        let Some(creation_id) = p.non_empty("creation_id").map(str::to_owned) else {
            return GraphError::param("The parameter creation_id is required.").reply();
        };
        if !self.containers.contains_key(&creation_id) {
            // The real API can't tell "not yet visible" from "never existed" either.
            return not_visible();
        }
        self.age_container(&creation_id);
        let now = self.now();
        let not_visible_attempts = self.switches.not_visible_attempts;
        let not_visible_for = delta(self.switches.not_visible_for);
        let Some(c) = self.containers.get_mut(&creation_id) else {
            return not_visible();
        };
        c.publish_attempts += 1;
        if c.publish_attempts <= not_visible_attempts || now - c.created_at < not_visible_for {
            return not_visible();
        }
        match c.status.as_str() {
            "IN_PROGRESS" => return not_visible(),
            "ERROR" => {
                return GraphError::param(
                    "The media container could not be published: its processing failed (status ERROR)",
                )
                .reply();
            }
            "EXPIRED" => {
                return GraphError::param(
                    "The media container has expired: it was not published within 24 hours",
                )
                .reply();
            }
            _ => {}
        }
        let is_reply = self
            .containers
            .get(&creation_id)
            .is_some_and(|c| c.reply_to.is_some());
        if is_reply && self.reply_quota_usage() >= REPLY_QUOTA {
            return GraphError::new(4, "Application request limit reached")
                .subcode(2_207_042)
                .user(
                    "Reply limit reached",
                    "You've reached the maximum number of replies you can publish in 24 hours.",
                )
                .reply();
        }
        if !is_reply && self.quota_usage() >= self.switches.quota_total {
            return GraphError::new(4, "Application request limit reached")
                .subcode(2_207_042)
                .user(
                    "Publishing limit reached",
                    "You've reached the maximum number of posts you can publish in 24 hours.",
                )
                .reply();
        }
        let media_id = self.make_post(&creation_id);
        let ok = Reply::ok(json!({ "id": media_id }));
        match fault {
            Some(PublishFault::DropAfterPublish) => Reply::Drop,
            Some(PublishFault::Code10AfterPublish) => {
                GraphError::new(10, "Application does not have permission for this action")
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .reply()
            }
            Some(PublishFault::DelayAfterPublish(d)) => Reply::Delayed(d, Box::new(ok)),
            _ if !self.switches.publish_delay.is_zero() => {
                Reply::Delayed(self.switches.publish_delay, Box::new(ok))
            }
            _ => ok,
        }
    }

    fn next_publish_fault(&mut self) -> Option<PublishFault> {
        if let Some(f) = self.publish_faults.pop_front() {
            return Some(f);
        }
        let rf = self.switches.random_publish_faults.as_ref()?;
        let (_, rng) = self.fault_rng.as_mut()?;
        if rf.faults.is_empty() || !rng.random_bool(rf.probability.clamp(0.0, 1.0)) {
            return None;
        }
        let i = rng.random_range(0..rf.faults.len());
        rf.faults.get(i).cloned()
    }

    fn make_post(&mut self, creation_id: &str) -> String {
        let n = self.next_id();
        let id = format!("1806{n:013}");
        let shortcode = random_string(11);
        let now = self.now();
        let Some(c) = self.containers.get_mut(creation_id) else {
            return id;
        };
        let duplicate = !c.published_as.is_empty();
        c.status = "PUBLISHED".into();
        c.published_as.push(id.clone());
        let post = FakePost {
            id: id.clone(),
            creation_id: creation_id.to_owned(),
            media_type: c.media_type.clone(),
            text: c.text.clone().filter(|t| !t.is_empty()),
            link_attachment: c.link_attachment.clone(),
            image_url: c.image_url.clone(),
            topic_tag: c.topic_tag.clone(),
            timestamp: now,
            permalink: format!("https://www.threads.net/@{USERNAME}/post/{shortcode}"),
            shortcode,
            duplicate,
            reply_to: c.reply_to.clone(),
            text_attachment: c.text_attachment.clone(),
            reply_approvals: c.reply_approvals,
            ghost: c.ghost,
            deleted: false,
        };
        self.posts.push(post);
        id
    }

    // -- GET /v1.0/{user}/threads -------------------------------------------------------------

    /// `GET /{user}/threads` (top-level posts) or `GET /{user}/replies` (`replies`).
    fn list_posts(&mut self, user: &str, p: &Params, replies: bool) -> Reply {
        self.count(if replies {
            Endpoint::ListReplies
        } else {
            Endpoint::ListPosts
        });
        let token = match self
            .authorize(p)
            .and_then(|t| Self::check_user(user).map(|()| t))
        {
            Ok(t) => t,
            Err(r) => return r,
        };
        let endpoint = if replies {
            Endpoint::ListReplies
        } else {
            Endpoint::ListPosts
        };
        if let Some(r) = self.forced_failure(endpoint) {
            return r;
        }
        let since = match p.get("since").map(str::parse::<i64>) {
            None => None,
            Some(Ok(s)) if s >= MIN_SINCE => Some(s),
            Some(_) => {
                return GraphError::param(format!(
                    "Param since must be a unix timestamp not before {MIN_SINCE}"
                ))
                .reply();
            }
        };
        let until = match p.get("until").map(str::parse::<i64>) {
            None => None,
            Some(Ok(u)) => Some(u),
            Some(Err(_)) => {
                return GraphError::param("Param until must be a unix timestamp").reply();
            }
        };
        let limit = match p.get("limit").map(str::parse::<usize>) {
            None => 25,
            Some(Ok(l)) if l >= 1 => l.min(100),
            Some(_) => return GraphError::param("Param limit must be a positive integer").reply(),
        };
        if p.get("before").is_some() {
            return GraphError::param("Param before is not supported by the fake server").reply();
        }
        let offset = match p.get("after") {
            None => 0,
            Some(c) => match c.strip_prefix("QVFI").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return GraphError::param("Invalid cursor").reply(),
            },
        };
        let fields = p.fields("id");
        // Newest first, like the API.
        let matching: Vec<&FakePost> = self
            .posts
            .iter()
            .rev()
            .filter(|x| !x.deleted && x.reply_to.is_some() == replies)
            .filter(|x| since.is_none_or(|s| x.timestamp.timestamp() >= s))
            .filter(|x| until.is_none_or(|u| x.timestamp.timestamp() <= u))
            .collect();
        let page: Vec<&FakePost> = matching.iter().skip(offset).take(limit).copied().collect();
        let mut data = Vec::with_capacity(page.len());
        for post in &page {
            match self.post_json(post, &fields) {
                Ok(v) => data.push(v),
                Err(e) => return e.reply(),
            }
        }
        let end = offset + page.len();
        let mut paging = json!({
            "cursors": { "before": format!("QVFI{offset}"), "after": format!("QVFI{end}") }
        });
        if end < matching.len() {
            let mut next = self.base_url.clone();
            let edge = if replies { "replies" } else { "threads" };
            next.set_path(&format!("v1.0/{user}/{edge}"));
            {
                let mut q = next.query_pairs_mut();
                q.append_pair("fields", &fields.join(","));
                if let Some(s) = since {
                    q.append_pair("since", &s.to_string());
                }
                if let Some(u) = until {
                    q.append_pair("until", &u.to_string());
                }
                q.append_pair("limit", &limit.to_string());
                q.append_pair("after", &format!("QVFI{end}"));
                // Meta puts the token in `next` too; clients must not log it.
                q.append_pair("access_token", &token.token);
            }
            paging["next"] = next.to_string().into();
        }
        Reply::ok(json!({ "data": data, "paging": paging }))
    }

    // -- other graph reads ----------------------------------------------------------------------

    fn publishing_limit(&mut self, user: &str, p: &Params) -> Reply {
        self.count(Endpoint::PublishingLimit);
        if let Err(r) = self.authorize(p).and_then(|_| Self::check_user(user)) {
            return r;
        }
        if let Some(r) = self.forced_failure(Endpoint::PublishingLimit) {
            return r;
        }
        let mut entry = serde_json::Map::new();
        for f in p.fields("quota_usage") {
            let v = match f.as_str() {
                "quota_usage" => self.quota_usage().into(),
                "config" => {
                    json!({ "quota_total": self.switches.quota_total, "quota_duration": 86400 })
                }
                "reply_quota_usage" => self.reply_quota_usage().into(),
                "delete_quota_usage" => 0.into(),
                "reply_config" => {
                    json!({ "quota_total": REPLY_QUOTA, "quota_duration": 86400 })
                }
                "delete_config" => json!({ "quota_total": 100, "quota_duration": 86400 }),
                other => {
                    return GraphError::param(format!(
                        "Tried accessing nonexisting field ({other})"
                    ))
                    .reply();
                }
            };
            entry.insert(f, v);
        }
        Reply::ok(json!({ "data": [Value::Object(entry)] }))
    }

    fn me(&mut self, p: &Params) -> Reply {
        self.count(Endpoint::Me);
        if let Err(r) = self.authorize(p) {
            return r;
        }
        if let Some(r) = self.forced_failure(Endpoint::Me) {
            return r;
        }
        let mut out = serde_json::Map::new();
        for f in p.fields("id") {
            let v: Value = match f.as_str() {
                "id" => USER_ID.to_string().into(),
                "username" => USERNAME.into(),
                "name" => "Fake Newsroom".into(),
                "threads_biography" => "News, automatically.".into(),
                "is_verified" => false.into(),
                other => {
                    return GraphError::param(format!(
                        "Tried accessing nonexisting field ({other}) on node type (ThreadsUser)"
                    ))
                    .reply();
                }
            };
            out.insert(f, v);
        }
        Reply::ok(Value::Object(out))
    }

    fn debug_token(&mut self, p: &Params) -> Reply {
        self.count(Endpoint::DebugToken);
        if let Err(r) = self.authorize(p) {
            return r;
        }
        if let Some(r) = self.forced_failure(Endpoint::DebugToken) {
            return r;
        }
        let Some(input) = p.non_empty("input_token") else {
            return GraphError::param("The parameter input_token is required").reply();
        };
        let now = self.now();
        let data = match self.tokens.get(input) {
            Some(t) => {
                let valid = !self.switches.tokens_expired && t.expires_at > now;
                json!({
                    "type": "USER",
                    "application": "feed2threads (fake)",
                    "data_access_expires_at": (t.issued_at + chrono::TimeDelta::days(90)).timestamp(),
                    "expires_at": t.expires_at.timestamp(),
                    "is_valid": valid,
                    "issued_at": t.issued_at.timestamp(),
                    "scopes": ["threads_basic", "threads_content_publish"],
                    "user_id": USER_ID.to_string(),
                })
            }
            None => json!({
                "is_valid": false,
                "scopes": [],
                "error": { "code": 190, "message": "Invalid OAuth access token - Cannot parse access token" },
            }),
        };
        Reply::ok(json!({ "data": data }))
    }

    // -- token endpoints ------------------------------------------------------------------------

    fn refresh(&mut self, p: &Params) -> Reply {
        self.count(Endpoint::RefreshToken);
        if let Some(r) = self.forced_failure(Endpoint::RefreshToken) {
            return r;
        }
        if p.get("grant_type") != Some("th_refresh_token") {
            return GraphError::param("Unsupported grant_type; expected th_refresh_token").reply();
        }
        let token = match self.authorize(p) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if token.kind != TokenKind::LongLived {
            return GraphError::param(
                "Only long-lived access tokens can be refreshed; exchange the short-lived token first",
            )
            .reply();
        }
        let now = self.now();
        if now - token.issued_at < REFRESH_MIN_AGE {
            return GraphError::param(
                "Access token cannot be refreshed yet: it must be at least 24 hours old",
            )
            .reply();
        }
        let new = self.issue_token(TokenKind::LongLived, now);
        Reply::ok(json!({
            "access_token": new,
            "token_type": "bearer",
            "expires_in": LONG_LIVED.num_seconds(),
        }))
    }

    fn exchange_long_lived(&mut self, p: &Params) -> Reply {
        self.count(Endpoint::ExchangeLongLived);
        if let Some(r) = self.forced_failure(Endpoint::ExchangeLongLived) {
            return r;
        }
        if p.get("grant_type") != Some("th_exchange_token") {
            return GraphError::param("Unsupported grant_type; expected th_exchange_token").reply();
        }
        if p.get("client_secret") != Some(APP_SECRET) {
            return GraphError::new(101, "Error validating client secret.").reply();
        }
        let token = match self.authorize(p) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if token.kind != TokenKind::ShortLived {
            return GraphError::param("Only short-lived access tokens can be exchanged").reply();
        }
        let now = self.now();
        let new = self.issue_token(TokenKind::LongLived, now);
        Reply::ok(json!({
            "access_token": new,
            "token_type": "bearer",
            "expires_in": LONG_LIVED.num_seconds(),
        }))
    }

    fn exchange_code(&mut self, p: &Params) -> Reply {
        self.count(Endpoint::ExchangeCode);
        if let Some(r) = self.forced_failure(Endpoint::ExchangeCode) {
            return r;
        }
        if p.get("grant_type") != Some("authorization_code") {
            return flat_error(400, "Unsupported grant_type; expected authorization_code");
        }
        if p.get("client_id") != Some(APP_ID) {
            return flat_error(400, "Invalid platform app");
        }
        if p.get("client_secret") != Some(APP_SECRET) {
            return flat_error(400, "Error validating client secret.");
        }
        let now = self.now();
        let code = p.get("code").unwrap_or_default();
        let usable = self
            .codes
            .get(code)
            .is_some_and(|c| !c.used && now - c.issued_at < CODE_TTL);
        if !usable {
            return flat_error(400, "Matching code was not found or was already used");
        }
        if p.get("redirect_uri") != Some(REDIRECT_URI) {
            return flat_error(
                400,
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            );
        }
        if let Some(c) = self.codes.get_mut(code) {
            c.used = true;
        }
        let token = self.issue_token(TokenKind::ShortLived, now);
        let user_id: Value = if self.switches.user_id_as_string {
            USER_ID.to_string().into()
        } else {
            USER_ID.into()
        };
        Reply::ok(json!({ "access_token": token, "user_id": user_id }))
    }
}

fn unsupported_object(id: &str) -> Reply {
    GraphError::new(
        100,
        format!(
            "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
        ),
    )
    .subcode(33)
    .reply()
}

/// A boolean parameter given as `true` (or `1`).
fn flag(p: &Params, k: &str) -> bool {
    matches!(p.get(k), Some("true" | "1"))
}

/// The `text_attachment` parameter: `(plaintext, link_attachment_url)`, checked.
fn parse_attachment(p: &Params) -> Result<Option<(String, Option<String>)>, GraphError> {
    let Some(raw) = p.get("text_attachment") else {
        return Ok(None);
    };
    let bad = || {
        GraphError::param(
            "Param text_attachment must be a JSON object with plaintext and an optional link_attachment_url",
        )
    };
    let value: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let plaintext = value
        .get("plaintext")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(bad)?;
    if plaintext.chars().count() > ATTACHMENT_MAX_CHARS {
        return Err(GraphError::param(
            "Param text_attachment.plaintext must be at most 10000 characters long",
        ));
    }
    let link = match value.get("link_attachment_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if is_http_url(l) => Some(l.clone()),
        Some(_) => {
            return Err(GraphError::param(
                "Param text_attachment.link_attachment_url must be a valid URL",
            ));
        }
    };
    Ok(Some((plaintext.to_owned(), link)))
}

fn is_http_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Distinct URLs in the text, plus the attachment if it differs from all of them (the documented
/// rule). Trailing sentence punctuation is not part of a URL.
fn count_links(text: &str, attachment: Option<&str>) -> usize {
    let mut seen: Vec<&str> = URL_RE
        .find_iter(text)
        .map(|m| {
            m.as_str()
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
        })
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let mut n = seen.len();
    if let Some(a) = attachment
        && !seen.contains(&a)
    {
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Routing.

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/{node}", get(get_node))
        .route(
            "/v1.0/{user}/threads",
            get(list_posts).post(create_container),
        )
        .route("/v1.0/{user}/replies", get(list_replies))
        .route("/v1.0/{user}/threads_publish", post(publish))
        .route(
            "/v1.0/{user}/threads_publishing_limit",
            get(publishing_limit),
        )
        .route("/refresh_access_token", get(refresh))
        .route("/access_token", get(exchange_long_lived))
        .route("/oauth/access_token", post(exchange_code))
        .fallback(unknown_path)
        .with_state(shared)
}

type S = State<Arc<Shared>>;
type C = ConnectInfo<Conn>;

async fn get_node(
    State(s): S,
    ConnectInfo(conn): C,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().get_node(&node, &p);
    reply.render(&conn).await
}

async fn list_posts(
    State(s): S,
    ConnectInfo(conn): C,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().list_posts(&user, &p, false);
    reply.render(&conn).await
}

async fn list_replies(
    State(s): S,
    ConnectInfo(conn): C,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().list_posts(&user, &p, true);
    reply.render(&conn).await
}

async fn create_container(
    State(s): S,
    ConnectInfo(conn): C,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let reply = s.lock().create_container(&user, &p);
    reply.render(&conn).await
}

async fn publish(
    State(s): S,
    ConnectInfo(conn): C,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let reply = s.lock().publish(&user, &p);
    reply.render(&conn).await
}

async fn publishing_limit(
    State(s): S,
    ConnectInfo(conn): C,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().publishing_limit(&user, &p);
    reply.render(&conn).await
}

async fn refresh(
    State(s): S,
    ConnectInfo(conn): C,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().refresh(&p);
    reply.render(&conn).await
}

async fn exchange_long_lived(
    State(s): S,
    ConnectInfo(conn): C,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &[]);
    let reply = s.lock().exchange_long_lived(&p);
    reply.render(&conn).await
}

async fn exchange_code(
    State(s): S,
    ConnectInfo(conn): C,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let reply = s.lock().exchange_code(&p);
    reply.render(&conn).await
}

async fn unknown_path(State(s): S, ConnectInfo(conn): C, uri: axum::http::Uri) -> Response {
    s.lock().count(Endpoint::UnknownPath);
    GraphError::new(2500, format!("Unknown path components: {}", uri.path()))
        .reply()
        .render(&conn)
        .await
}
