//! A local feed server for integration tests: real HTTP/1.1 on 127.0.0.1 (or another
//! loopback address), port 0.
//!
//! It is hand-written HTTP over a raw `TcpListener` rather than axum, because the point is to
//! misbehave on demand: stall after the headers, stream a body bigger than any cap from a
//! small buffer, serve a gzip bomb, hang up without answering. Well-behaved routes are served
//! with keep-alive from an in-memory map, so thousands of paths and hundreds of concurrent
//! connections (the polling benchmark) cost little.
//!
//! # Including it
//!
//! ```ignore
//! use crate::support::feed_server::{FeedServer, Route};   // tests/it/support/mod.rs
//! ```
//!
//! # Example
//!
//! ```ignore
//! let server = FeedServer::start().await;
//! server.set("/feed.xml", Route::feed(RSS).etag("\"v1\"").header("Cache-Control", "max-age=300"));
//! let url = server.url("/feed.xml");
//! // ... poll `url` ...
//! assert_eq!(server.hits("/feed.xml"), 1);
//! assert_eq!(server.last_header("/feed.xml", "if-none-match").as_deref(), Some("\"v1\""));
//! server.set("/feed.xml", Route::status(503).header("Retry-After", "120"));
//! ```
//!
//! Routes are matched on the full request target (path and query) first, then on the path
//! alone; hits are counted under the key that matched (or the path, for a 404). An unknown
//! path gets a 404. The server stops when the `FeedServer` is dropped.

#![allow(
    dead_code,
    reason = "each test binary includes this file and uses a different part of it"
)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Content type of `Route::feed`.
pub const RSS_CONTENT_TYPE: &str = "application/rss+xml; charset=utf-8";

/// What one path answers. Build with a constructor, adjust with the chained modifiers.
#[derive(Clone, Debug)]
pub struct Route {
    status: u16,
    body: Body,
    headers: Vec<(String, String)>,
    etag: Option<String>,
    last_modified: Option<String>,
    honour_validators: bool,
    delay: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Body {
    Bytes(Bytes),
    /// `len` filler bytes streamed from a small buffer; chunked unless `declare_length`.
    Huge {
        len: u64,
        declare_length: bool,
    },
    /// Headers and the start of a body, then silence until the server is dropped.
    StallAfterHeaders(Bytes),
    /// Close the connection without answering.
    HangUp,
}

impl Route {
    /// 200 with `body` as `application/rss+xml; charset=utf-8`.
    pub fn feed(body: impl Into<Bytes>) -> Self {
        Self::status(200).body(body).content_type(RSS_CONTENT_TYPE)
    }

    /// A bare status with an empty body; add `.body()`, `.content_type()`, `.header()`.
    pub fn status(code: u16) -> Self {
        Self {
            status: code,
            body: Body::Bytes(Bytes::new()),
            headers: Vec::new(),
            etag: None,
            last_modified: None,
            honour_validators: true,
            delay: None,
        }
    }

    /// A redirect (301/302/303/307/308) to `location`, sent as given: relative paths stay
    /// relative, so clients must resolve them.
    pub fn redirect(code: u16, location: &str) -> Self {
        Self::status(code).header("Location", location)
    }

    /// 200, `Content-Encoding: gzip`, decompressing to `decompressed_len` zero bytes, valid to
    /// the last byte (CRC and length included). Costs about 1/1000 of `decompressed_len` in
    /// memory, and is cheap to build even for several GiB.
    pub fn gzip_bomb(decompressed_len: u64) -> Self {
        Self::status(200)
            .content_type(RSS_CONTENT_TYPE)
            .header("Content-Encoding", "gzip")
            .body(gzip_zeros(decompressed_len))
    }

    /// 200 with `len` bytes of filler, chunked, so only counting the bytes can stop a client.
    /// Nothing of it is held in memory.
    pub fn huge(len: u64) -> Self {
        Self {
            body: Body::Huge {
                len,
                declare_length: false,
            },
            ..Self::status(200).content_type(RSS_CONTENT_TYPE)
        }
    }

    /// Like `huge`, with an honest `Content-Length` up front.
    pub fn huge_with_length(len: u64) -> Self {
        Self {
            body: Body::Huge {
                len,
                declare_length: true,
            },
            ..Self::status(200).content_type(RSS_CONTENT_TYPE)
        }
    }

    /// 200 headers announcing a 1 MB body, the first few bytes of a feed, then nothing
    /// until the server is dropped.
    pub fn stall_after_headers() -> Self {
        Self {
            body: Body::StallAfterHeaders(Bytes::from_static(
                b"<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>stalling",
            )),
            ..Self::status(200).content_type(RSS_CONTENT_TYPE)
        }
    }

    /// Read the request, then close the connection without a response.
    pub fn hang_up() -> Self {
        Self {
            body: Body::HangUp,
            ..Self::status(200)
        }
    }

    pub fn with_status(mut self, code: u16) -> Self {
        self.status = code;
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    pub fn content_type(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    /// Adds a header, replacing one of the same name.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends this ETag (give it with its quotes) and answers 304 to a matching If-None-Match.
    pub fn etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.to_owned());
        self
    }

    /// Sends this Last-Modified and answers 304 to an If-Modified-Since at or after it
    /// (only when the request has no If-None-Match, as RFC 9110 says).
    pub fn last_modified(mut self, http_date: &str) -> Self {
        self.last_modified = Some(http_date.to_owned());
        self
    }

    /// Never answer 304: a server that sends validators but ignores conditional requests.
    pub fn ignore_validators(mut self) -> Self {
        self.honour_validators = false;
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Compresses the current body with gzip and says so in `Content-Encoding`.
    pub fn gzip(self) -> Self {
        self.encode("gzip", |raw| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(raw).expect("gzip into memory");
            enc.finish().expect("gzip into memory")
        })
    }

    /// HTTP `deflate`, which is the zlib format (RFC 9110 §8.4.1.2).
    pub fn deflate(self) -> Self {
        self.encode("deflate", |raw| {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(raw).expect("zlib into memory");
            enc.finish().expect("zlib into memory")
        })
    }

    pub fn brotli(self) -> Self {
        self.encode("br", |raw| {
            let mut enc = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
            enc.write_all(raw).expect("brotli into memory");
            enc.into_inner()
        })
    }

    fn encode(mut self, name: &str, compress: impl FnOnce(&[u8]) -> Vec<u8>) -> Self {
        let Body::Bytes(raw) = &self.body else {
            panic!("only a plain body can be compressed");
        };
        self.body = Body::Bytes(compress(raw).into());
        self.header("Content-Encoding", name)
    }
}

/// A gzip stream of `len` zeros built without compressing `len` bytes: one raw-deflate
/// segment for 1 MiB of zeros, ended by a sync flush so it is byte-aligned and self-contained,
/// repeated as often as needed. Back-references inside a segment only reach zeros, so the
/// repetition is a valid stream.
fn gzip_zeros(len: u64) -> Bytes {
    const SEGMENT: usize = 1 << 20;
    let zeros = vec![0u8; SEGMENT];
    let deflate_zeros = |n: usize| {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&zeros[..n]).expect("deflate into memory");
        enc.flush().expect("deflate into memory");
        enc.get_ref().clone()
    };
    let full = len / SEGMENT as u64;
    let rest = (len % SEGMENT as u64) as usize;
    let segment = deflate_zeros(SEGMENT);

    let mut out = Vec::with_capacity(segment.len() * (full as usize + 1) + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut crc = flate2::Crc::new();
    for _ in 0..full {
        out.extend_from_slice(&segment);
        crc.update(&zeros);
    }
    if rest > 0 {
        out.extend_from_slice(&deflate_zeros(rest));
        crc.update(&zeros[..rest]);
    }
    // Final empty block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block.
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.into()
}

/// One request as the server saw it. Header names are lower-case.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
}

#[derive(Default)]
struct PathLog {
    hits: usize,
    last: Option<RecordedRequest>,
}

struct Shared {
    routes: RwLock<HashMap<String, Arc<Route>>>,
    log: Mutex<HashMap<String, PathLog>>,
    connections: AtomicUsize,
    requests: AtomicUsize,
    bytes_sent: AtomicU64,
    shutdown: CancellationToken,
}

/// The running server. Dropping it stops the listener and every open connection.
pub struct FeedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl FeedServer {
    /// Binds 127.0.0.1 on a free port and starts serving on the current tokio runtime.
    pub async fn start() -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Binds `ip` (e.g. 127.0.0.2: Linux routes all of 127/8 to loopback) on a free port,
    /// to give tests several distinct hosts for per-host limits.
    pub async fn start_on(ip: IpAddr) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            routes: RwLock::new(HashMap::new()),
            log: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Self { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        assert!(path.starts_with('/'), "path must start with '/': {path}");
        format!("http://{}{path}", self.addr)
    }

    /// Sets or replaces a route; takes effect for the next request.
    pub fn set(&self, path: &str, route: Route) {
        self.routes_mut().insert(path.to_owned(), Arc::new(route));
    }

    /// Sets many routes under one lock (bulk mode for benchmarks).
    pub fn set_many(&self, routes: impl IntoIterator<Item = (String, Route)>) {
        let mut map = self.routes_mut();
        for (path, route) in routes {
            map.insert(path, Arc::new(route));
        }
    }

    pub fn remove(&self, path: &str) {
        self.routes_mut().remove(path);
    }

    /// Requests received for `path` (whatever the answer).
    pub fn hits(&self, path: &str) -> usize {
        self.log().get(path).map_or(0, |l| l.hits)
    }

    /// The last request for `path`.
    pub fn last_request(&self, path: &str) -> Option<RecordedRequest> {
        self.log().get(path).and_then(|l| l.last.clone())
    }

    /// One header of the last request for `path`.
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        self.last_request(path)
            .and_then(|r| r.header(name).map(str::to_owned))
    }

    /// Requests over all paths.
    pub fn total_requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted: with keep-alive, far fewer than requests.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Response bytes written to sockets (heads included), to check a client stopped early.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }

    /// Forgets hits and recorded requests; routes stay.
    pub fn reset_counts(&self) {
        self.log().clear();
        self.shared.requests.store(0, Ordering::Relaxed);
        self.shared.connections.store(0, Ordering::Relaxed);
        self.shared.bytes_sent.store(0, Ordering::Relaxed);
    }

    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Route>>> {
        // A panicking test thread must not take the other assertions down with it.
        self.shared
            .routes
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathLog>> {
        self.shared.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Out of file descriptors under a benchmark: let some connections close.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

enum After {
    KeepAlive,
    Close,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Heads and bodies go out in separate writes; without this, Nagle + delayed ACK would
    // add ~40 ms to every keep-alive request.
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    loop {
        let request = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            request = read_request(&mut stream) => request,
        };
        let Some((request, keep_alive)) = request else {
            return;
        };
        let after = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            after = respond(&mut stream, request, &shared) => after,
        };
        match after {
            Ok(After::KeepAlive) if keep_alive => {}
            _ => return,
        }
    }
}

/// Reads one request head (and skips any body). `None` on EOF or garbage.
async fn read_request<R: AsyncRead + Unpin>(
    stream: &mut BufReader<R>,
) -> Option<(RecordedRequest, bool)> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut line = String::new();
    let mut budget = MAX_HEAD;

    next_line(stream, &mut line, &mut budget).await?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let version = parts.next()?.to_owned();

    let mut headers = Vec::new();
    loop {
        next_line(stream, &mut line, &mut budget).await?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let request = RecordedRequest {
        method,
        target,
        headers,
    };

    if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::io::copy(&mut (&mut *stream).take(len), &mut tokio::io::sink())
            .await
            .ok()?;
    }
    let connection = request.header("connection").map(str::to_ascii_lowercase);
    let keep_alive = match connection.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => version == "HTTP/1.1",
    };
    Some((request, keep_alive))
}

/// One line into `line`; `None` at EOF or once the head outgrows `budget`.
async fn next_line<R: AsyncRead + Unpin>(
    stream: &mut BufReader<R>,
    line: &mut String,
    budget: &mut usize,
) -> Option<()> {
    line.clear();
    let n = stream.read_line(line).await.ok()?;
    *budget = budget.checked_sub(n)?;
    (n > 0).then_some(())
}

async fn respond(
    stream: &mut BufReader<TcpStream>,
    request: RecordedRequest,
    shared: &Shared,
) -> std::io::Result<After> {
    let found = {
        let routes = shared.routes.read().unwrap_or_else(|e| e.into_inner());
        routes
            .get_key_value(request.target.as_str())
            .or_else(|| routes.get_key_value(request.path()))
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
    };
    let key = found
        .as_ref()
        .map_or_else(|| request.path().to_owned(), |(k, _)| k.clone());
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let not_modified = found
        .as_ref()
        .is_some_and(|(_, route)| is_not_modified(route, &request));
    record(shared, key, request);

    let Some((_, route)) = found else {
        let out = Out::new(shared, stream);
        return out
            .send_bytes(
                404,
                &[("Content-Type", "text/plain")],
                b"no such route\n",
                head_only,
            )
            .await;
    };
    if let Some(delay) = route.delay {
        tokio::time::sleep(delay).await;
    }

    let mut headers: Vec<(&str, &str)> = route
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Some(etag) = &route.etag {
        headers.push(("ETag", etag));
    }
    if let Some(lm) = &route.last_modified {
        headers.push(("Last-Modified", lm));
    }
    let out = Out::new(shared, stream);

    if not_modified {
        // A 304 carries the validators and caching headers but no body or body headers.
        headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("content-encoding")
        });
        return out
            .send_head(304, &headers, None)
            .await
            .map(|()| After::KeepAlive);
    }

    match &route.body {
        Body::Bytes(body) => {
            out.send_bytes(route.status, &headers, body, head_only)
                .await
        }
        Body::Huge {
            len,
            declare_length,
        } => {
            out.send_huge(route.status, &headers, *len, *declare_length)
                .await
        }
        Body::StallAfterHeaders(partial) => {
            let announced = partial.len() as u64 + 1_000_000;
            let mut out = out;
            out.write_head(route.status, &headers, Some(announced))
                .await?;
            out.write(partial).await?;
            shared.shutdown.cancelled().await;
            Ok(After::Close)
        }
        Body::HangUp => Ok(After::Close),
    }
}

fn record(shared: &Shared, key: String, request: RecordedRequest) {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
    let entry = log.entry(key).or_default();
    entry.hits += 1;
    entry.last = Some(request);
}

/// RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison), otherwise
/// If-Modified-Since against Last-Modified. Only for a 200 route that honours validators.
fn is_not_modified(route: &Route, request: &RecordedRequest) -> bool {
    if !route.honour_validators || route.status != 200 || !matches!(route.body, Body::Bytes(_)) {
        return false;
    }
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if let Some(candidates) = request.header("if-none-match") {
        return route.etag.as_deref().is_some_and(|etag| {
            candidates
                .split(',')
                .any(|c| c.trim() == "*" || weak(c) == weak(etag))
        });
    }
    match (request.header("if-modified-since"), &route.last_modified) {
        (Some(since), Some(modified)) => {
            let parse = |s: &str| chrono::DateTime::parse_from_rfc2822(s.trim()).ok();
            since.trim() == modified.trim()
                || matches!((parse(since), parse(modified)), (Some(s), Some(m)) if m <= s)
        }
        _ => false,
    }
}

/// Writes a response to the socket and counts the bytes.
struct Out<'a> {
    shared: &'a Shared,
    stream: &'a mut BufReader<TcpStream>,
}

impl<'a> Out<'a> {
    fn new(shared: &'a Shared, stream: &'a mut BufReader<TcpStream>) -> Self {
        Self { shared, stream }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes).await?;
        self.shared
            .bytes_sent
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// `length`: `Some` → Content-Length, `None` → neither (304) unless `chunked` headers are
    /// passed by the caller.
    async fn send_head(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        length: Option<u64>,
    ) -> std::io::Result<()> {
        self.write_head(status, headers, length).await
    }

    async fn write_head(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        length: Option<u64>,
    ) -> std::io::Result<()> {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if let Some(len) = length {
            head.push_str(&format!("Content-Length: {len}\r\n"));
        }
        head.push_str("\r\n");
        self.write(head.as_bytes()).await
    }

    async fn send_bytes(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        head_only: bool,
    ) -> std::io::Result<After> {
        self.write_head(status, headers, Some(body.len() as u64))
            .await?;
        if !head_only && !body.is_empty() {
            self.write(body).await?;
        }
        Ok(After::KeepAlive)
    }

    async fn send_huge(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        len: u64,
        declare_length: bool,
    ) -> std::io::Result<After> {
        const FILLER: &[u8] = b"<!-- feed2threads test filler, streamed to overflow a cap -->\n";
        let block: Vec<u8> = FILLER.iter().copied().cycle().take(64 * 1024).collect();
        if declare_length {
            self.write_head(status, headers, Some(len)).await?;
        } else {
            let mut with_chunked = headers.to_vec();
            with_chunked.push(("Transfer-Encoding", "chunked"));
            self.write_head(status, &with_chunked, None).await?;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            if declare_length {
                self.write(&block[..n]).await?;
            } else {
                self.write(format!("{n:x}\r\n").as_bytes()).await?;
                self.write(&block[..n]).await?;
                self.write(b"\r\n").await?;
            }
            left -= n as u64;
        }
        if !declare_length {
            self.write(b"0\r\n\r\n").await?;
        }
        Ok(After::KeepAlive)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
