//! The desk: a web page for social editors, served under `/desk` by the HTTP listener when
//! `http.desk = true`. It lists posts by state (waiting for review, held by the flood guard,
//! queued with their expected time, failed with the reason, published with their
//! permalink), shows each as it will appear, and lets an editor approve, edit, drop,
//! release (all, the newest N, one) and retry; plus the feeds and their health.
//!
//! Server-rendered HTML (minijinja templates embedded in the binary), usable without
//! JavaScript and on a phone. Security: one password (an argon2 hash in the config), a
//! session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind a TLS proxy), a CSRF token
//! in every form, failed logins limited and slowed; every change goes through
//! [`crate::review::Editor`], which logs it with the session's label and the post.
//!
//! # Layout
//! - here: [`Desk`] (the shared state) and [`Desk::router`].
//! - `pages`: the handlers (login, lists, actions).
//! - `view`: what the templates show, built from the store.
//! - `session`: sessions, CSRF tokens, the failed-login limiter, cookies, the peer.
//! - `password`: the argon2 hash: format check, verification, `desk-password`.
//! - `templates/`: the pages and the stylesheet.
//!
//! Must not hold SQL (the store's), decide what an action means (`review`'s), or hold a
//! password or cookie value anywhere but in memory for the request.

mod pages;
pub mod password;
pub mod session;
mod view;

use crate::config::{ReleaseOrder, Settings};
use crate::store::Store;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::SecretString;
use session::{LoginLimiter, Sessions};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a refused login waits before it answers: guessing gets slow, and a person
/// who mistyped hardly notices.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// Called after a change that may give the publishers work (an approval, a release, a
/// retry): the daemon wakes its workers.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The desk's state; cheap to clone.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: RwLock<Arc<DeskConfig>>,
    sessions: Sessions,
    limiter: LoginLimiter,
    templates: minijinja::Environment<'static>,
    wake: RwLock<Option<Wake>>,
    failed_login_delay: Duration,
    /// Password checks in progress: each costs tens of ms of CPU and ~19 MB.
    verifying: Semaphore,
}

/// What the desk reads from the config.
#[derive(Debug, Clone)]
pub(crate) struct DeskConfig {
    pub password_hash: SecretString,
    /// By feed name.
    pub feeds: HashMap<String, FeedPolicy>,
    /// Each account's `min_interval`, for the expected times of queued posts.
    pub min_interval: HashMap<String, Duration>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedPolicy {
    pub review: bool,
    pub release_order: ReleaseOrder,
}

impl DeskConfig {
    fn from_settings(settings: &Settings) -> Option<DeskConfig> {
        let desk = settings.http.desk.as_ref()?;
        Some(DeskConfig {
            password_hash: desk.password_hash.clone(),
            feeds: settings
                .feeds
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        FeedPolicy {
                            review: f.review,
                            release_order: f.release_order,
                        },
                    )
                })
                .collect(),
            min_interval: settings
                .accounts
                .iter()
                .map(|a| (a.name.clone(), a.min_interval))
                .collect(),
        })
    }

    pub(crate) fn release_order(&self, feed: &str) -> ReleaseOrder {
        self.feeds
            .get(feed)
            .map_or(ReleaseOrder::default(), |f| f.release_order)
    }
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

impl Desk {
    /// The desk the config asks for, or `None` when `http.desk` is off.
    pub fn new(store: Store, settings: &Settings) -> Option<Desk> {
        let config = DeskConfig::from_settings(settings)?;
        Some(Desk {
            inner: Arc::new(Inner {
                store,
                config: RwLock::new(Arc::new(config)),
                sessions: Sessions::default(),
                limiter: LoginLimiter::default(),
                templates: pages::templates(),
                wake: RwLock::new(None),
                failed_login_delay: FAILED_LOGIN_DELAY,
                verifying: Semaphore::new(2),
            }),
        })
    }

    /// What wakes the publishers after a change that queued posts.
    pub fn set_wake(&self, wake: Wake) {
        *self.inner.wake.write().unwrap_or_else(|e| e.into_inner()) = Some(wake);
    }

    /// A reloaded config: new feeds, accounts and password hash. Sessions stay. Returns
    /// false when the new config turns the desk off (the caller stops serving it).
    pub fn reconfigure(&self, settings: &Settings) -> bool {
        let Some(config) = DeskConfig::from_settings(settings) else {
            return false;
        };
        *self.inner.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        true
    }

    pub(crate) fn config(&self) -> Arc<DeskConfig> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn limiter(&self) -> &LoginLimiter {
        &self.inner.limiter
    }

    pub(crate) fn templates(&self) -> &minijinja::Environment<'static> {
        &self.inner.templates
    }

    pub(crate) fn failed_login_delay(&self) -> Duration {
        self.inner.failed_login_delay
    }

    pub(crate) fn verifying(&self) -> &Semaphore {
        &self.inner.verifying
    }

    pub(crate) fn wake(&self) {
        let wake = self
            .inner
            .wake
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(wake) = wake {
            wake();
        }
    }

    /// The `/desk` routes. Serve them with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so the failed-login limit
    /// knows the client (and trusts a proxy's headers only from loopback).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/desk", get(pages::index))
            .route("/desk/", get(pages::index))
            .route("/desk/feeds", get(pages::feeds))
            .route("/desk/login", get(pages::login_page).post(pages::login))
            .route("/desk/logout", post(pages::logout))
            .route(
                "/desk/posts/{id}/edit",
                get(pages::edit_page).post(pages::edit),
            )
            .route("/desk/posts/{id}/{action}", post(pages::post_action))
            .route("/desk/feeds/{id}/release", post(pages::release_feed))
            .route("/desk/static/desk.css", get(pages::stylesheet))
            .fallback(pages::not_found)
            .layer(axum::middleware::map_response(security_headers))
            .with_state(self.clone())
    }
}

/// Every desk answer: never cached, never framed, no referrer, and a CSP that allows only
/// our own stylesheet and forms (images of posts come from the publishers' sites).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src https: http:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    response
}
