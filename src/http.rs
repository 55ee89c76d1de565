//! The operations HTTP endpoint (`[http] listen`): `/healthz` and `/metrics`.
//!
//! `/healthz` answers 200 while the run loop is alive (it beat its [`Liveness`] recently),
//! the store is not in an outage (the daemon's [`StoreHealth`]: its writes fail, locked, full
//! or I/O) and it answers a trivial query, 503 otherwise, with one line saying why: container
//! orchestrators and load balancers read the status, people read the line. `/metrics` renders
//! the Prometheus exposition of the recorder `metrics::install` set up.
//!
//! With `http.desk = true` it also serves the editors' desk under `/desk` ([`crate::desk`]),
//! the only part that changes posts (behind a login and CSRF tokens). The rest only reads:
//! it never touches the outbox, never sees a token, and stops when the caller's shutdown
//! token fires. It must not be started for `run --once` or `--dry-run`
//! (the caller decides; this module does not know about commands).

use crate::health::StoreHealth;
use crate::store::{Store, now_unix};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long the run loop may stay silent before `/healthz` says 503: three of its 30 s
/// ticks, so one slow tick (a store busy with a large ingest) does not flap the check.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(90);

/// A store that takes longer than this to answer `SELECT 1` counts as not answering: a
/// health probe must answer quickly, and the store's own busy timeout is 30 s.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the recorder's histograms are compacted (the exporter leaves this to us
/// because we render through a handle instead of its own listener).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The run loop's pulse: a unix timestamp the loop updates on every tick and the health
/// check (and the systemd watchdog) reads. Cheap to clone; clones share the pulse.
#[derive(Debug, Clone)]
pub struct Liveness {
    last_tick: Arc<AtomicI64>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

impl Liveness {
    /// A pulse that beat just now, so a daemon is healthy from its first second.
    pub fn new() -> Self {
        Liveness {
            last_tick: Arc::new(AtomicI64::new(now_unix())),
        }
    }

    /// The loop is alive now.
    pub fn beat(&self) {
        let now = now_unix();
        self.beat_at(now);
        crate::metrics::set_last_tick(now);
    }

    /// The loop was alive at `unix` (tests use this to make the pulse stale).
    pub fn beat_at(&self, unix: i64) {
        self.last_tick.store(unix, Ordering::Relaxed);
    }

    /// Unix time of the last beat.
    pub fn last_tick(&self) -> i64 {
        self.last_tick.load(Ordering::Relaxed)
    }

    /// Time since the last beat, as of `now` (unix seconds); zero if the clock went back.
    pub fn age_at(&self, now: i64) -> Duration {
        Duration::from_secs(u64::try_from(now - self.last_tick()).unwrap_or(0))
    }

    /// Whether the loop beat within `max_age`.
    pub fn is_fresh(&self, max_age: Duration) -> bool {
        self.age_at(now_unix()) <= max_age
    }
}

/// What the endpoint needs: the store to ping, the pulse to read, the metrics to render.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub liveness: Liveness,
    /// `/healthz` says 503 once the last beat is older than this.
    pub stale_after: Duration,
    pub metrics: PrometheusHandle,
    /// The editors' desk, when `http.desk = true`.
    pub desk: Option<crate::desk::Desk>,
    /// The store's failures as the daemon meets them; `None`: only the ping is checked.
    pub store_health: Option<StoreHealth>,
}

impl HttpState {
    /// State with the default staleness limit ([`DEFAULT_STALE_AFTER`]).
    pub fn new(store: Store, liveness: Liveness, metrics: PrometheusHandle) -> Self {
        HttpState {
            store,
            liveness,
            stale_after: DEFAULT_STALE_AFTER,
            metrics,
            desk: None,
            store_health: None,
        }
    }

    /// Serve the desk under `/desk` too.
    pub fn with_desk(mut self, desk: Option<crate::desk::Desk>) -> Self {
        self.desk = desk;
        self
    }

    /// `/healthz` says 503, with the reason, while the daemon meets store failures.
    pub fn with_store_health(mut self, health: StoreHealth) -> Self {
        self.store_health = Some(health);
        self
    }

    pub fn with_stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }
}

/// The endpoint could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("http.listen: cannot listen on {addr}: {error}; choose another address or \"off\"")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("the HTTP endpoint stopped: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up the metrics: {0}")]
    Metrics(String),
}

/// Binds `listen`. Separate from serving so the caller can fail at start (address in use)
/// and learn the bound address (port 0 in tests).
pub async fn bind(listen: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(listen)
        .await
        .map_err(|error| HttpError::Bind {
            addr: listen,
            error,
        })
}

/// Binds `listen` and serves until `shutdown` fires.
pub async fn serve(
    listen: SocketAddr,
    state: HttpState,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    serve_on(bind(listen).await?, state, shutdown).await
}

/// Serves on an already bound listener until `shutdown` fires; requests in progress finish.
pub async fn serve_on(
    listener: TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    if let Ok(addr) = listener.local_addr() {
        let desk = if state.desk.is_some() {
            " and /desk"
        } else {
            ""
        };
        tracing::info!(%addr, "serving /healthz, /metrics{desk}");
        if state.desk.is_some() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the desk is served on a non-loopback address: put it behind a reverse proxy with TLS (see the README's Desk section)");
        }
    }
    let upkeep = {
        let handle = state.metrics.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = every.tick() => handle.run_upkeep(),
                }
            }
        })
    };
    // The peer's address: the desk's failed-login limit, and whether to trust a proxy.
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .map_err(HttpError::Serve);
    upkeep.abort();
    result
}

/// The endpoint as the daemon runs it: serving on the configured `http.listen`, moved to
/// a new address (or stopped, or started) when a reload changes it. Cheap to clone; the
/// clones share one server.
#[derive(Clone)]
pub struct Endpoint {
    store: Store,
    liveness: Liveness,
    health: StoreHealth,
    /// The editors' desk, served under `/desk` wherever the endpoint moves.
    desk: Option<crate::desk::Desk>,
    serving: Arc<tokio::sync::Mutex<Serving>>,
}

/// What runs now.
#[derive(Default)]
struct Serving {
    /// `http.listen` as configured (`127.0.0.1:0` stays itself across reloads).
    listen: Option<SocketAddr>,
    /// The address actually bound.
    addr: Option<SocketAddr>,
    server: Option<(
        CancellationToken,
        tokio::task::JoinHandle<Result<(), HttpError>>,
    )>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Not serving yet: [`Endpoint::apply`] starts it.
    pub fn new(store: Store, liveness: Liveness, health: StoreHealth) -> Self {
        Endpoint {
            store,
            liveness,
            health,
            desk: None,
            serving: Arc::default(),
        }
    }

    /// Serve the desk under `/desk` too (`http.desk = true`).
    pub fn with_desk(mut self, desk: Option<crate::desk::Desk>) -> Self {
        self.desk = desk;
        self
    }

    /// Serves on `listen` (`None`: not at all). Nothing happens when it already does. A
    /// new address is bound before the old one is given up, so a reload to an address in
    /// use keeps the endpoint where it was (and says why); when only the old server stands
    /// in the way (the same port on another interface), it is stopped first and restored
    /// if the new address still cannot be had.
    pub async fn apply(&self, listen: Option<SocketAddr>) -> Result<(), HttpError> {
        let mut serving = self.serving.lock().await;
        if serving.server.is_some() && serving.listen == listen {
            return Ok(());
        }
        let Some(addr) = listen else {
            Self::stop_server(&mut serving).await;
            serving.listen = None;
            serving.addr = None;
            return Ok(());
        };
        let listener = match bind(addr).await {
            Ok(listener) => listener,
            Err(HttpError::Bind { error, .. })
                if error.kind() == std::io::ErrorKind::AddrInUse
                    && serving.addr.is_some_and(|old| old.port() == addr.port()) =>
            {
                let old = serving.listen;
                Self::stop_server(&mut serving).await;
                match bind(addr).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        if let Some(old) = old
                            && let Ok(listener) = bind(old).await
                        {
                            self.spawn(&mut serving, old, listener)?;
                        }
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        };
        Self::stop_server(&mut serving).await;
        self.spawn(&mut serving, addr, listener)
    }

    /// The configured address served now (`None`: not serving).
    pub async fn listen(&self) -> Option<SocketAddr> {
        let serving = self.serving.lock().await;
        serving.server.as_ref().and(serving.listen)
    }

    /// The address served now, if any.
    pub async fn addr(&self) -> Option<SocketAddr> {
        self.serving.lock().await.addr
    }

    /// Stops serving (requests in progress finish).
    pub async fn stop(&self) {
        Self::stop_server(&mut *self.serving.lock().await).await;
    }

    fn spawn(
        &self,
        serving: &mut Serving,
        listen: SocketAddr,
        listener: TcpListener,
    ) -> Result<(), HttpError> {
        let metrics = crate::metrics::install().map_err(|e| HttpError::Metrics(e.to_string()))?;
        let state = HttpState::new(self.store.clone(), self.liveness.clone(), metrics)
            .with_store_health(self.health.clone())
            .with_desk(self.desk.clone());
        let stop = CancellationToken::new();
        serving.addr = listener.local_addr().ok();
        serving.listen = Some(listen);
        let task = tokio::spawn(serve_on(listener, state, stop.clone()));
        serving.server = Some((stop, task));
        Ok(())
    }

    async fn stop_server(serving: &mut Serving) {
        if let Some((stop, task)) = serving.server.take() {
            stop.cancel();
            if let Ok(Err(e)) = task.await {
                tracing::warn!("{e}");
            }
            if let Some(addr) = serving.addr.take() {
                tracing::info!(%addr, "stopped serving /healthz and /metrics");
            }
        }
    }
}

/// The routes, for callers that mount them elsewhere.
pub fn router(state: HttpState) -> Router {
    let desk = state.desk.as_ref().map(crate::desk::Desk::router);
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    match desk {
        Some(desk) => ops.merge(desk),
        None => ops,
    }
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let age = state.liveness.age_at(now_unix());
    if age > state.stale_after {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: the run loop last ticked {}s ago (limit {}s)\n",
                age.as_secs(),
                state.stale_after.as_secs()
            ),
        );
    }
    if let Some(outage) = state.store_health.as_ref().and_then(StoreHealth::outage) {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {outage}\n"),
        );
    }
    match tokio::time::timeout(STORE_PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => plain(
            StatusCode::OK,
            format!(
                "ok: the run loop ticked {}s ago; the store answers\n",
                age.as_secs()
            ),
        ),
        Ok(Err(e)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: the store does not answer: {e}\n"),
        ),
        Err(_) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: the store did not answer within {}s\n",
                STORE_PING_TIMEOUT.as_secs()
            ),
        ),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            // A health answer is about this instant; a cached one is a lie.
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
