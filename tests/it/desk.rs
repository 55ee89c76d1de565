//! The desk over real HTTP (no browser; `desk_browser` drives Chromium): a request without
//! a session or with a bad CSRF token is refused with 403 and changes nothing; a wrong
//! password is refused, slowed and then limited; the session cookie's attributes; an edit
//! beyond the limits is refused with the limit named; a flood released newest first reaches
//! the fake Threads API in that order; a post left in review past max_age expires.

use crate::publish::fast;
use crate::support::desk::{DeskNewsroom, PASSWORD};
use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::FeedServer;
use crate::support::test_app::TestApp;
use feed2threads::publish::{AccountPublisher, FeedInfo};
use feed2threads::review::{Actor, Editor};
use feed2threads::run_mode::RunMode;
use feed2threads::store::OutboxState;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client that keeps the desk's cookies by hand and never follows redirects.
struct Client {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Answer {
    status: StatusCode,
    set_cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

impl Client {
    fn new(newsroom: &DeskNewsroom) -> Client {
        Client::at(newsroom.url(""))
    }

    fn at(base: String) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base,
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie.join("; "))
        };
        let resp = req.send().await.unwrap();
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, _) = c.split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Answer {
            status: resp.status(),
            location: resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Log in through the form, as a person would.
    async fn login(&mut self, password: &str) -> Answer {
        let page = self.get("/desk/login").await;
        let csrf = csrf_of(&page.body);
        self.post("/desk/login", &[("csrf", &csrf), ("password", password)])
            .await
    }
}

/// The first CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn without_a_session_or_a_valid_csrf_token_nothing_changes() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 1).await;
    let post = newsroom.in_state(OutboxState::Review).await[0].id;
    let approve = format!("/desk/posts/{post}/approve");
    let mut c = Client::new(&newsroom);

    // No session: the pages and the actions are 403.
    let page = c.get("/desk").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("Log in to use the desk"),
        "{}",
        page.body
    );
    let refused = c.post(&approve, &[("csrf", "0123")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Nothing was changed"),
        "{}",
        refused.body
    );

    // Logged in: the cookie is HttpOnly and SameSite=Strict (and not Secure over plain
    // HTTP).
    let login = c.login(PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.location.as_deref(), Some("/desk"));
    let session = login
        .set_cookies
        .iter()
        .find(|c| c.starts_with("f2t_desk="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "{session}");

    // A form without its token, or with another's, is refused.
    let no_token = c.post(&approve, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("CSRF"), "{}", no_token.body);
    let forged = c.post(&approve, &[("csrf", "f".repeat(64).as_str())]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(newsroom.in_state(OutboxState::Review).await.len(), 1);

    // With the page's token it works, and the next page says so once.
    let page = c.get("/desk").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("desk story 0"), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let done = c
        .post(&approve, &[("csrf", &csrf), ("back", "review")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(newsroom.in_state(OutboxState::Queued).await[0].id, post);
    let page = c.get("/desk?state=review").await;
    assert!(
        page.body.contains(&format!("Post #{post} approved.")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Nothing waits for review."),
        "{}",
        page.body
    );

    // Logged out, the old cookie is worth nothing.
    let old = c.cookies.clone();
    assert_eq!(
        c.post("/desk/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    c.cookies = old;
    assert_eq!(c.get("/desk").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn behind_a_tls_proxy_on_this_host_the_cookie_is_secure() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 1).await;
    let mut c = Client::new(&newsroom);
    let page = c.get("/desk/login").await;
    let csrf = csrf_of(&page.body);
    let req = c
        .http
        .post(newsroom.url("/desk/login"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)]);
    let login = c.send(req).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert!(
        login.set_cookies.iter().all(|c| c.contains("; Secure")),
        "{:?}",
        login.set_cookies
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_slowed_and_then_limited() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 1).await;
    let mut c = Client::new(&newsroom);

    let started = Instant::now();
    let wrong = c.login("not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong password."), "{}", wrong.body);
    assert!(started.elapsed() >= feed2threads::desk::FAILED_LOGIN_DELAY);
    assert!(!wrong.set_cookies.iter().any(|c| c.starts_with("f2t_desk=")));

    // The login form's own token is required too.
    let forged = c
        .post("/desk/login", &[("csrf", "abc"), ("password", PASSWORD)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    for _ in 1..feed2threads::desk::session::FAILURES_PER_CLIENT {
        assert_eq!(c.login("guess").await.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits for the window to slide.
    let limited = c.login(PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.body.contains("Too many failed logins"),
        "{}",
        limited.body
    );
}

#[tokio::test]
async fn an_edit_beyond_the_limits_is_refused_with_the_limit_named() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 1).await;
    let post = newsroom.in_state(OutboxState::Review).await[0].clone();
    let mut c = Client::new(&newsroom);
    c.login(PASSWORD).await;
    let edit = format!("/desk/posts/{}/edit", post.id);
    let page = c.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = csrf_of(&page.body);

    let long = "é".repeat(300);
    let refused = c.post(&edit, &[("csrf", &csrf), ("text", &long)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("text is 600 bytes of UTF-8; the limit is 500"),
        "{}",
        refused.body
    );
    // The text as typed stays in the form.
    assert!(refused.body.contains(&long));

    let links: String = (0..5).map(|i| format!("https://e{i}.example/ ")).collect();
    let refused = c.post(&edit, &[("csrf", &csrf), ("text", &links)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("6 distinct links"),
        "{}",
        refused.body
    );
    assert_eq!(newsroom.posts().await[0].text, post.text, "nothing changed");

    let saved = c
        .post(
            &edit,
            &[
                ("csrf", &csrf),
                ("text", "A better headline\r\nand a second line"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let row = newsroom.store.outbox_by_id(post.id).await.unwrap().unwrap();
    assert_eq!(row.text, "A better headline\nand a second line");
    assert_eq!(row.state, OutboxState::Review, "an edit does not approve");
}

#[tokio::test]
async fn a_flood_released_newest_first_reaches_threads_in_that_order() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 0).await;
    newsroom.flood(&server).await;
    let wire = newsroom.store.feed_by_name("wire").await.unwrap().unwrap();
    newsroom.start_publisher(fast()).await;

    let mut c = Client::new(&newsroom);
    c.login(PASSWORD).await;
    let page = c.get("/desk?state=held").await;
    assert!(
        page.body.contains("4 post(s) held by the flood guard"),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let released = c
        .post(
            &format!("/desk/feeds/{}/release", wire.id),
            &[("csrf", &csrf), ("latest", "3")],
        )
        .await;
    assert_eq!(released.status, StatusCode::SEE_OTHER);

    wait_until("three posts on Threads", || fake.posts().len() == 3).await;
    let texts: Vec<String> = fake
        .posts()
        .iter()
        .map(|p| p.text.clone().unwrap_or_default())
        .collect();
    for (text, story) in texts
        .iter()
        .zip(["wire story 4", "wire story 3", "wire story 2"])
    {
        assert!(text.starts_with(story), "{texts:?}");
    }
    assert_eq!(newsroom.in_state(OutboxState::Held).await.len(), 1);

    // The rest is dropped (the CLI's `release wire --drop-rest`).
    let editor = Editor::new(newsroom.store.clone(), Actor::Cli);
    let done = editor
        .release_feed(wire.id, "wire", Some(0), true, Default::default())
        .await
        .unwrap();
    assert_eq!((done.released.len(), done.dropped.len()), (0, 1));
    assert!(newsroom.in_state(OutboxState::Held).await.is_empty());
    assert!(fake.duplicates().is_empty());
}

#[tokio::test]
async fn a_post_waiting_for_review_past_max_age_expires() {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 2).await;
    // The stories are minutes old: a max_age of one second has passed for both.
    let infos: HashMap<i64, FeedInfo> = newsroom
        .feeds
        .iter()
        .map(|(f, id)| {
            let mut info = FeedInfo::from_settings(f);
            info.max_age = Some(Duration::from_secs(1));
            (*id, info)
        })
        .collect();
    let publisher = AccountPublisher::new(
        newsroom.store.clone(),
        feed2threads::publish::client(&newsroom.settings).unwrap(),
        newsroom.settings.account("newsroom").unwrap().clone(),
        Arc::new(infos),
        fast(),
    )
    .await
    .unwrap();
    assert_eq!(publisher.expire_stale_reviews().await.unwrap(), 2);
    let expired = newsroom.in_state(OutboxState::Expired).await;
    assert_eq!(expired.len(), 2);
    assert!(
        expired[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("older than max_age"),
        "{expired:?}"
    );
    assert!(fake.posts().is_empty());
}

/// The daemon as `run` builds it serves the desk beside `/healthz`, and an approval there
/// wakes the publisher at once: with the workers' own re-check an hour away, the post can
/// only reach Threads because the desk woke them.
#[tokio::test]
async fn the_daemon_serves_the_desk_and_an_approval_wakes_the_publisher() {
    let hash = crate::support::desk::cheap_hash(PASSWORD);
    let mut app = TestApp::new()
        .await
        // Not "newsroom": this daemon records into the process-wide metrics, which the
        // metrics test counts for that account.
        .with_account("desk-room")
        .with_feed("news", "desk-room", 1)
        .with_defaults("review = true")
        .with_desk(&hash);
    app.options.publish.idle_recheck = Duration::from_secs(3600);
    let running = app.start(RunMode::DAEMON).await;
    let store = app.open_store().await;
    let post = loop {
        let rows = store.list_outbox(None, 10).await.unwrap();
        if let Some(row) = rows.iter().find(|r| r.state == OutboxState::Review) {
            break row.id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut c = Client::at(format!("http://{}", running.http.unwrap()));
    assert_eq!(c.login(PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = c.get("/desk").await;
    assert!(
        page.body.contains(&format!("id=\"post-{post}\"")),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let approved = c
        .post(&format!("/desk/posts/{post}/approve"), &[("csrf", &csrf)])
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    wait_until("the approved post on Threads", || {
        app.fake.posts().len() == 1
    })
    .await;
    // /healthz and /metrics are still there.
    assert_eq!(running.healthz().await.0, 200);
    running.stop().await;
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `HH:MM-HH:MM` (UTC), opening four hours from now for an hour: closed now.
fn closed_window() -> String {
    use chrono::Timelike;
    let start = chrono::Utc::now() + chrono::Duration::hours(4);
    let end = start + chrono::Duration::hours(1);
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

/// Issue 13 parts 4 and 8 on the desk: the queued posts a posting window holds say so, with
/// the reason and when they go, and the tabs count them; a feed whose name is its URL with
/// credentials in it is shown redacted on every page.
#[tokio::test]
async fn the_desk_shows_why_posts_wait_and_never_a_feeds_credentials() {
    let hash = crate::support::desk::cheap_hash(PASSWORD);
    let window = closed_window();
    let app = TestApp::new()
        .await
        .with_account("desk-waits")
        .with_desk(&hash);
    app.feeds.set(
        "/late.xml",
        crate::support::feed_server::Route::feed(crate::support::rss::rss("late", 2)),
    );
    app.feeds.set(
        "/private.xml",
        crate::support::feed_server::Route::feed(crate::support::rss::rss("private", 1)),
    );
    let private = app
        .feeds
        .url("/private.xml")
        .replacen("http://", "http://editor:s3cret@", 1);
    let app = app
        .with_feed_toml("late", "desk-waits", &format!("hours = \"{window}\""))
        .with_feed_block(&format!(
            "account = \"desk-waits\"\nurl = \"{private}\"\nreview = true"
        ));
    let running = app.start(RunMode::DAEMON).await;
    let store = app.open_store().await;
    let started = Instant::now();
    loop {
        let waits = store
            .outbox_waits(None, feed2threads::store::now_unix())
            .await;
        let review = store.list_outbox(None, 20).await.unwrap();
        if waits.unwrap().len() == 2 && review.iter().any(|r| r.state == OutboxState::Review) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no waits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut c = Client::at(format!("http://{}", running.http.unwrap()));
    assert_eq!(c.login(PASSWORD).await.status, StatusCode::SEE_OTHER);
    let queued = c.get("/desk?state=queued").await.body;
    assert!(queued.contains("(2 waiting)"), "{queued}");
    assert!(queued.contains("2 wait for a posting window."), "{queued}");
    assert_eq!(
        queued
            .matches("Waits for the posting window</span>: ")
            .count(),
        2,
        "{queued}"
    );
    assert!(
        queued.contains(&format!("posting window {window}")),
        "{queued}"
    );

    let review = c.get("/desk?state=review").await.body;
    let feeds = c.get("/desk/feeds").await.body;
    for page in [&queued, &review, &feeds] {
        assert!(!page.contains("s3cret"), "{page}");
    }
    // minijinja escapes the slashes: "http:&#x2f;&#x2f;[redacted]@…".
    assert!(review.contains("[redacted]@127.0.0.1"), "{review}");
    assert!(feeds.contains("[redacted]@127.0.0.1"), "{feeds}");
    assert!(feeds.contains("2 wait for a posting window"), "{feeds}");
    store.close().await;
    running.stop().await;
    assert!(app.fake.posts().is_empty());
}
