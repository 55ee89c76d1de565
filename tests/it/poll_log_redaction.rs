//! The lines a poll logs about a feed whose URL carries credentials (and whose name,
//! unset, defaults to that URL) show them as `[redacted]`: the poll's `feed` field, a
//! permanent move's from and to, the flood guard's `release` hint, and a failed poll's
//! URL and message.

use crate::support::feed_server::{FeedServer, Route};
use crate::support::logs::Logs;
use crate::support::newsroom::Newsroom;
use crate::support::rss::rss;
use feed2threads::poll::PollResult;

#[tokio::test]
async fn a_poll_never_logs_the_credentials_of_a_feed_url() {
    let server = FeedServer::start().await;
    let authority = server
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // Moved within the site; the new address carries a token too.
    server.set(
        "/old.xml",
        Route::redirect(301, "/new.xml?access_token=TOKENVALUE"),
    );
    server.set("/new.xml", Route::feed(rss("wire", 2)));
    let h = Newsroom::new(&format!(
        "[[feeds]]\nurl = \"http://user:pass@{authority}/old.xml?api_key=SECRET\"\n\
         flood_limit = 2\nbacklog = \"all\"\nmax_age = \"off\"\n"
    ))
    .await;
    let name = h.settings.feeds[0].name.clone();
    assert!(name.contains("SECRET"), "the name defaults to the URL");

    let (logs, _capture) = Logs::capture();
    h.ingest(&name).await;
    // Five new stories at once: held, with the release hint.
    server.set("/new.xml", Route::feed(rss("wire", 7)));
    assert_eq!(h.ingest(&name).await.held, 5);
    // The new address fails.
    server.set("/new.xml", Route::status(500));
    let failed = h.poll(&name).await;
    assert!(matches!(failed.result, PollResult::Failed { .. }));

    let text = logs.text();
    for line in [
        "feed moved permanently",
        "flood guard",
        "poll failed",
        "feed=http://[redacted]@",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    for secret in ["SECRET", "TOKENVALUE", "user:pass", "pass@"] {
        assert!(!text.contains(secret), "the log shows {secret:?}:\n{text}");
    }
}
