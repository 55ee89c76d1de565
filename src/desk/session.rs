//! The desk's sessions, CSRF tokens and failed-login limits, all in memory: a restart logs
//! every editor out, which costs a login and keeps the store free of session secrets.
//!
//! A session is a random 256-bit cookie value; the table keys it by its SHA-256, so the
//! value itself is kept nowhere but in the editor's browser. Each session has a public
//! label (for the log) and a CSRF token that every form carries. Before login, a short-lived
//! cookie carries the login form's token (double submit).
//!
//! Must not log a cookie or a token: only labels.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const SESSION_COOKIE: &str = "f2t_desk";
/// The login form's token (before a session exists).
pub const LOGIN_COOKIE: &str = "f2t_desk_login";

/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after login whatever happens.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// At most this many live sessions; the least recently used goes first.
const MAX_SESSIONS: usize = 256;

/// Failed logins: at most this many per client, and in all, within the window.
pub const FAILURES_PER_CLIENT: usize = 5;
pub const FAILURES_IN_ALL: usize = 30;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A random token: 32 bytes, hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal tokens, compared through their digests: the comparison's timing says nothing
/// about the token.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && digest(a) == digest(b)
}

/// What a request knows of its session.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Public name of the session, for logs: never the cookie.
    pub label: String,
    pub csrf: String,
}

/// A one-time message on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub message: String,
}

#[derive(Debug)]
struct Session {
    label: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock leaves a usable map (each write is one insert).
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session: returns the cookie value and the session.
    pub fn create(&self) -> (String, SessionView) {
        let token = random_token();
        let now = Instant::now();
        let session = Session {
            label: hex::encode(rand::random::<[u8; 4]>()),
            csrf: random_token(),
            created: now,
            last_seen: now,
            flash: None,
        };
        let view = SessionView {
            label: session.label.clone(),
            csrf: session.csrf.clone(),
        };
        let mut map = self.lock();
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(digest(&token), session);
        (token, view)
    }

    /// The live session behind a cookie value, touched.
    pub fn get(&self, token: &str) -> Option<SessionView> {
        let now = Instant::now();
        let mut map = self.lock();
        let key = digest(token);
        let session = map.get_mut(&key)?;
        if !live(session, now) {
            map.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(SessionView {
            label: session.label.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// The message left for the session's next page, once.
    pub fn take_flash(&self, token: &str) -> Option<Flash> {
        self.lock().get_mut(&digest(token))?.flash.take()
    }

    /// Leave a message for the session's next page.
    pub fn flash(&self, token: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(&digest(token)) {
            s.flash = Some(flash);
        }
    }

    /// Log out.
    pub fn remove(&self, token: &str) {
        self.lock().remove(&digest(token));
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_seen) < IDLE_TIMEOUT && now.duration_since(s.created) < MAX_AGE
}

/// Where a request comes from, as far as can be trusted: the peer, or, when the peer is a
/// proxy on this host, what the proxy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The client, for the failed-login limit.
    pub client: String,
    /// The request reached the proxy over TLS: cookies get `Secure`.
    pub tls: bool,
}

impl Peer {
    /// `addr` is the TCP peer (`None` when unknown: nothing forwarded is trusted).
    /// A loopback peer is the reverse proxy: its `X-Forwarded-Proto` and the last
    /// address of `X-Forwarded-For` (the one it appended) are believed.
    pub fn new(
        addr: Option<SocketAddr>,
        forwarded_proto: Option<&str>,
        forwarded_for: Option<&str>,
    ) -> Peer {
        let proxy = addr.is_some_and(|a| a.ip().is_loopback());
        let tls = proxy && forwarded_proto.is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        let forwarded = forwarded_for
            .filter(|_| proxy)
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let client = match (forwarded, addr) {
            (Some(ip), _) => ip.to_string(),
            (None, Some(a)) => a.ip().to_string(),
            (None, None) => "unknown".to_owned(),
        };
        Peer { client, tls }
    }
}

/// Failed logins per client and in all, over a sliding window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    all: VecDeque<Instant>,
    per_client: HashMap<String, VecDeque<Instant>>,
}

impl LoginLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `None` when `client` may try; else how long until it may.
    pub fn blocked(&self, client: &str, now: Instant) -> Option<Duration> {
        let mut f = self.lock();
        f.expire(now);
        let wait = |q: &VecDeque<Instant>, limit: usize| {
            (q.len() >= limit)
                .then(|| {
                    q.front()
                        .map(|first| FAILURE_WINDOW.saturating_sub(now.duration_since(*first)))
                })
                .flatten()
        };
        let mine = f
            .per_client
            .get(client)
            .and_then(|q| wait(q, FAILURES_PER_CLIENT));
        mine.or_else(|| wait(&f.all, FAILURES_IN_ALL))
    }

    pub fn failed(&self, client: &str, now: Instant) {
        let mut f = self.lock();
        f.expire(now);
        f.all.push_back(now);
        f.per_client
            .entry(client.to_owned())
            .or_default()
            .push_back(now);
    }

    /// A successful login clears the client's own failures.
    pub fn succeeded(&self, client: &str) {
        self.lock().per_client.remove(client);
    }
}

impl Failures {
    fn expire(&mut self, now: Instant) {
        let old = |t: &Instant| now.duration_since(*t) >= FAILURE_WINDOW;
        while self.all.front().is_some_and(old) {
            self.all.pop_front();
        }
        self.per_client.retain(|_, q| {
            while q.front().is_some_and(old) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// A `Set-Cookie` value for the desk: `HttpOnly`, `SameSite=Strict`, path `/desk`, and
/// `Secure` when the request came over TLS. `max_age` zero deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, tls: bool) -> String {
    format!(
        "{name}={value}; Path=/desk; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if tls { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_cookie_and_carry_a_flash_once() {
        let sessions = Sessions::default();
        let (token, view) = sessions.create();
        assert_ne!(token, view.csrf);
        assert!(!token.contains(&view.label));
        let again = sessions.get(&token).unwrap();
        assert_eq!(again.csrf, view.csrf);
        sessions.flash(
            &token,
            Flash {
                ok: true,
                message: "done".into(),
            },
        );
        assert!(sessions.get(&token).is_some());
        assert_eq!(sessions.take_flash(&token).unwrap().message, "done");
        assert!(sessions.take_flash(&token).is_none());
        assert!(sessions.get("forged").is_none());
        sessions.remove(&token);
        assert!(sessions.get(&token).is_none());
    }

    #[test]
    fn forwarded_headers_count_only_from_a_proxy_on_this_host() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let p = Peer::new(Some(local), Some("https"), Some("198.51.100.1, 192.0.2.7"));
        assert_eq!(
            p,
            Peer {
                client: "192.0.2.7".into(),
                tls: true
            }
        );
        let p = Peer::new(Some(remote), Some("https"), Some("192.0.2.7"));
        assert_eq!(
            p,
            Peer {
                client: "203.0.113.9".into(),
                tls: false
            }
        );
        assert!(!Peer::new(None, Some("https"), None).tls);
    }

    #[test]
    fn failed_logins_block_a_client_then_everyone_and_slide() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..FAILURES_PER_CLIENT {
            assert!(limiter.blocked("a", t0).is_none());
            limiter.failed("a", t0);
        }
        assert!(limiter.blocked("a", t0).is_some());
        assert!(limiter.blocked("b", t0).is_none());
        let later = t0 + FAILURE_WINDOW;
        assert!(limiter.blocked("a", later).is_none());
        for i in 0..FAILURES_IN_ALL {
            limiter.failed(&format!("c{i}"), later);
        }
        assert!(limiter.blocked("fresh", later).is_some());
    }

    #[test]
    fn cookies_are_read_and_written() {
        assert_eq!(
            cookie("a=1; f2t_desk=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("f2t_desk_login=q", SESSION_COOKIE), None);
        let c = set_cookie(SESSION_COOKIE, "v", Duration::from_secs(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "v", Duration::ZERO, false).contains("Secure"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}
