//! The desk in a real browser: headless Chromium driven through WebDriver (chromedriver and
//! fantoccini), against the real HTTP listener, the real store and publisher, and the fake
//! Threads API.
//!
//! An editor logs in, sees a post waiting for review, edits its text to one over 500 bytes
//! and reads the error, fixes it, posts a form whose CSRF token was taken out (refused,
//! nothing changes), approves the post, and the fake Threads API receives exactly that text;
//! then a held flood is released and reaches Threads newest first. In the daemon as run,
//! posts a closed posting window holds show on the Queued tab with why and until when.
//! Screenshots of the desk are saved under `target/` (`desk-review.png`, `desk-held.png`,
//! `desk-queued.png`).
//!
//! Both scenarios share one browser session (starting one is most of what the test costs).
//!
//! Needs `chromedriver` and a Chromium on the PATH (Debian: `chromium-driver`, and
//! `chromium-headless-shell` or `chromium`; `.ci/run` installs them). The headless shell,
//! Debian's Chromium built headless only, is preferred: the same engine, and the whole test
//! took 3.2 CPU seconds on it against 5.7 on the full browser. Without either the test
//! prints a notice and passes.

use crate::publish::fast;
use crate::support::desk::{DeskNewsroom, PASSWORD};
use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use feed2threads::run_mode::RunMode;
use feed2threads::store::{OutboxState, now_unix};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free port, with its own profile directory; killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Kills chromedriver and the browser it started: they share a process group of their
    /// own. The headless shell outlives a closed session (and a killed chromedriver) and
    /// would go on using CPU after the test.
    fn drop(&mut self) {
        let group = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// The browser and its driver, or why not (the test then skips).
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let chromium = on_path("chromium-headless-shell")
        .or_else(|| on_path("chromium"))
        .or_else(|| on_path("chromium-browser"))
        .ok_or("neither chromium-headless-shell nor chromium is installed")?;
    let driver = on_path("chromedriver").ok_or("chromedriver is not installed")?;
    Ok((chromium, driver))
}

async fn start_driver(driver: &Path) -> Driver {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let profile = tempfile::tempdir().unwrap();
    // chromedriver makes the browser's profile directory under TMPDIR: ours, removed on
    // drop. (chromium-headless-shell refuses a `--user-data-dir` given to it directly.)
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .env("TMPDIR", profile.path())
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url,
        _profile: profile,
    }
}

async fn connect(driver: &Driver, chromium: &Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                // A phone's width: the desk must read there.
                "--window-size=412,1400",
            ],
        },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session through chromedriver")
}

/// `target/NAME`, where cargo builds (the test binary knows its target dir).
fn target_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join(name)
}

/// What `read` gives once it succeeds, asked again every 50 ms for up to 10 s: the page
/// may not show the element yet, and while a form's POST is still loading chromedriver
/// can answer "aborted by navigation" or give an element that goes stale at once.
async fn when_shown<T, F, Fut>(css: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    let started = Instant::now();
    loop {
        match read().await {
            Ok(value) => return value,
            Err(e) if started.elapsed() >= Duration::from_secs(10) => panic!("{css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The element `css` once the page shows it.
async fn element(c: &Client, css: &str) -> Element {
    when_shown(css, || c.find(Locator::Css(css))).await
}

/// The text of the element `css` once the page shows it.
async fn text_of(c: &Client, css: &str) -> String {
    when_shown(css, || async {
        c.find(Locator::Css(css)).await?.text().await
    })
    .await
}

/// Clicks the element `css` once the page shows it. The click itself is not repeated: a
/// second one could post a form twice.
async fn click(c: &Client, css: &str) {
    element(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click on {css}: {e}"));
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

/// The browser, or `None` after printing why the test skips.
fn browser_or_notice() -> Option<(PathBuf, PathBuf)> {
    match browser() {
        Ok(found) => Some(found),
        Err(why) => {
            eprintln!(
                "NOTICE: skipping the desk's browser test: {why} (Debian: apt-get install chromium-driver chromium-headless-shell; .ci/run installs them)"
            );
            None
        }
    }
}

async fn log_in(c: &Client, login_url: &str) {
    c.goto(login_url).await.unwrap();
    element(c, "#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(c, "#login").await;
    // Logged in once a page with the logout button has loaded: going elsewhere before
    // that would cancel the login's POST.
    element(c, "form[action='/desk/logout']").await;
}

/// Both scenarios in one browser session, one after the other: starting a Chromium session
/// costs more CPU than a scenario does.
#[tokio::test]
async fn the_desk_in_chromium() {
    let Some((chromium, driver_bin)) = browser_or_notice() else {
        return;
    };
    let driver = start_driver(&driver_bin).await;
    let c = connect(&driver, &chromium).await;
    an_editor_reviews_edits_approves_and_releases(&c).await;
    the_desk_shows_why_a_queued_post_waits(&c).await;
    c.close().await.unwrap();
}

async fn an_editor_reviews_edits_approves_and_releases(c: &Client) {
    let fake = FakeThreads::start();
    let server = FeedServer::start().await;
    let newsroom = DeskNewsroom::start(&fake, &server, 1).await;
    newsroom.start_publisher(fast()).await;
    let post = newsroom.in_state(OutboxState::Review).await[0].id;

    log_in(c, &newsroom.url("/desk/login")).await;

    // The post waits for review, shown as it will appear: text, link card, topic tag.
    let card = text_of(c, &format!("#post-{post}")).await;
    assert!(card.contains("desk story 0"), "{card}");
    assert!(
        card.contains("news.example"),
        "the link card's domain: {card}"
    );
    assert!(card.contains("Politics"), "the topic tag: {card}");
    let shot = c.screenshot().await.unwrap();
    std::fs::write(target_file("desk-review.png"), shot).unwrap();

    // Too long: refused, with the limit named, and nothing changed.
    click(c, &format!("#edit-{post}")).await;
    let area = element(c, "#text").await;
    area.clear().await.unwrap();
    area.send_keys(&"x".repeat(520)).await.unwrap();
    click(c, "#save").await;
    let error = text_of(c, "#edit-error").await;
    assert!(
        error.contains("text is 520 bytes of UTF-8; the limit is 500"),
        "{error}"
    );
    let row = newsroom.store.outbox_by_id(post).await.unwrap().unwrap();
    assert!(row.text.starts_with("desk story 0"), "{}", row.text);

    // Fixed.
    let fixed = "Council approves the new tram line after a ten-year debate";
    let area = element(c, "#text").await;
    area.clear().await.unwrap();
    area.send_keys(fixed).await.unwrap();
    click(c, "#save").await;
    let flash = text_of(c, "#flash").await;
    assert!(flash.contains(&format!("Post #{post} edited")), "{flash}");

    // A form posted without its CSRF token is refused and changes nothing.
    c.execute(
        "document.querySelectorAll('form input[name=csrf]').forEach(e => e.remove());",
        vec![],
    )
    .await
    .unwrap();
    click(c, &format!("#approve-{post}")).await;
    let refused = text_of(c, "#message").await;
    assert!(refused.contains("no valid CSRF token"), "{refused}");
    assert!(refused.contains("Nothing was changed"), "{refused}");
    let row = newsroom.store.outbox_by_id(post).await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Review);

    // Approved: the fake Threads API receives exactly the edited text.
    c.goto(&newsroom.url("/desk?state=review")).await.unwrap();
    click(c, &format!("#approve-{post}")).await;
    let flash = text_of(c, "#flash").await;
    assert!(flash.contains("approved"), "{flash}");
    wait_until("the approved post on Threads", || fake.posts().len() == 1).await;
    assert_eq!(fake.posts()[0].text.as_deref(), Some(fixed));

    // A flood is held; released newest first, it reaches Threads in that order.
    newsroom.flood(&server).await;
    let wire = newsroom.store.feed_by_name("wire").await.unwrap().unwrap();
    c.goto(&newsroom.url("/desk?state=held")).await.unwrap();
    let release = text_of(c, &format!("#release-feed-{}", wire.id)).await;
    assert!(
        release.contains("4 post(s) held") && release.contains("newest first"),
        "{release}"
    );
    let shot = c.screenshot().await.unwrap();
    std::fs::write(target_file("desk-held.png"), shot).unwrap();
    click(c, &format!("#release-all-{}", wire.id)).await;
    let flash = text_of(c, "#flash").await;
    assert!(
        flash.contains("Released 4 post(s) of wire (newest first)"),
        "{flash}"
    );
    wait_until("the flood on Threads", || fake.posts().len() == 5).await;
    let order: Vec<String> = fake.posts()[1..]
        .iter()
        .map(|p| p.text.clone().unwrap_or_default())
        .collect();
    for (text, story) in order.iter().zip([
        "wire story 4",
        "wire story 3",
        "wire story 2",
        "wire story 1",
    ]) {
        assert!(text.starts_with(story), "{order:?}");
    }
    assert!(fake.duplicates().is_empty());

    // Published, with its permalink.
    c.goto(&newsroom.url("/desk?state=published"))
        .await
        .unwrap();
    let published = text_of(c, "main").await;
    assert!(published.contains("Council approves"), "{published}");
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

/// The daemon as run: a feed whose posting window is closed has its posts queued and
/// waiting; the desk's Queued tab counts them and each card says why and until when.
async fn the_desk_shows_why_a_queued_post_waits(c: &Client) {
    let hash = crate::support::desk::cheap_hash(PASSWORD);
    let window = closed_window();
    let app = TestApp::new()
        .await
        .with_account("desk-window")
        .with_desk(&hash);
    app.feeds.set("/late.xml", Route::feed(rss("late", 2)));
    let app = app.with_feed_toml("late", "desk-window", &format!("hours = \"{window}\""));
    let running = app.start(RunMode::DAEMON).await;
    let store = app.open_store().await;
    let started = Instant::now();
    while store.outbox_waits(None, now_unix()).await.unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "no waits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = store.outbox_waits(None, now_unix()).await.unwrap()[0].post;

    let base = format!("http://{}", running.http.unwrap());
    log_in(c, &format!("{base}/desk/login")).await;
    c.goto(&format!("{base}/desk?state=queued")).await.unwrap();
    let tab = text_of(c, "#tab-queued").await;
    assert!(tab.contains("(2 waiting)"), "{tab}");
    let waits = text_of(c, "#waits").await;
    assert_eq!(waits, "2 wait for a posting window.");
    let wait = text_of(c, &format!("#wait-{post}")).await;
    assert!(
        wait.starts_with("Waits for the posting window: outside the feed's posting window"),
        "{wait}"
    );
    assert!(wait.contains(&format!("posting window {window}")), "{wait}");
    let shot = c.screenshot().await.unwrap();
    std::fs::write(target_file("desk-queued.png"), shot).unwrap();

    store.close().await;
    running.stop().await;
    assert!(app.fake.posts().is_empty());
}
