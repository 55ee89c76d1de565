//! Review mode and releasing by the piece, through the real binary: `review = true` in
//! `[defaults]` puts composed posts in `review`; `queue approve|edit|drop|release` take
//! several ids; `queue edit` refuses a text beyond the limits with composition's message;
//! `queue list --state --feed --json`; `release FEED --latest N` and `--drop-rest`; and the
//! config keys (`review`, `release_order`, `http.desk*`) as `check` sees them.

use crate::support::fake_threads::FakeThreads;
use crate::support::feed_server::{FeedServer, Route};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` stories `news-0..n`, story i dated `n - i` minutes ago.
fn rss(n: usize) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>Review News</title>");
    for i in 0..n {
        let date = (chrono::Utc::now() - chrono::Duration::minutes(i64::try_from(n - i).unwrap()))
            .to_rfc2822();
        s.push_str(&format!(
            "<item><guid>news-{i}</guid><link>https://news.example/{i}</link><title>news story {i}</title><pubDate>{date}</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// A config on `dir`'s store, publishing to `fake` as account `n`, with `body`'s feeds.
fn config(dir: &Path, fake: &FakeThreads, body: &str) -> PathBuf {
    let path = dir.join("feed2threads.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[threads]\napi_base = \"{}\"\n[http]\nlisten = \"off\"\n\
             [[accounts]]\nname = \"n\"\naccess_token = \"{}\"\nmin_interval = \"0s\"\n{body}",
            dir.join("s.db").display(),
            fake.base_url(),
            fake.token(),
        ),
    )
    .unwrap();
    path
}

/// The posts `queue list --json` shows for `filters`.
fn listed(cfg: &Path, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["queue", "list", "--json"];
    args.extend_from_slice(filters);
    let out = run(cfg, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["posts"].as_array().unwrap().clone()
}

fn ids(posts: &[serde_json::Value]) -> Vec<String> {
    posts.iter().map(|p| p["id"].to_string()).collect()
}

#[tokio::test]
async fn review_mode_from_the_command_line() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss(3)));
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeThreads::start();
    let cfg = config(
        dir.path(),
        &fake,
        &format!(
            "[defaults]\nbacklog = \"all\"\nreview = true\n[[feeds]]\nname = \"news\"\nurl = \"{}\"\n",
            server.url("/news.xml")
        ),
    );
    tokio::task::spawn_blocking(move || {
        // Posts waiting for review are the operator's choice: the run ends well, and
        // nothing reaches Threads.
        let out = run(&cfg, &["run", "--once"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(fake.posts().is_empty());
        let review = listed(&cfg, &["--state", "review", "--feed", "news"]);
        assert_eq!(review.len(), 3);
        assert!(listed(&cfg, &["--state", "queued"]).is_empty());
        let ids = ids(&review);

        // Over the limit: refused with composition's message, nothing changed.
        let long = "x".repeat(520);
        let refused = run(&cfg, &["queue", "edit", &ids[0], "--text", &long]);
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            stderr(&refused).contains("text is 520 bytes of UTF-8; the limit is 500"),
            "{}",
            stderr(&refused)
        );
        let links: String = (0..6).map(|i| format!("https://e{i}.example/ ")).collect();
        let refused = run(&cfg, &["queue", "edit", &ids[0], "--text", &links]);
        assert!(
            stderr(&refused).contains("the limit is 5"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(
            listed(&cfg, &["--state", "review"])[2]["text"],
            review[2]["text"]
        );

        // From a file: its final newline is not part of the post.
        let file = dir_of(&cfg).join("text.txt");
        std::fs::write(&file, "A headline an editor wrote\n").unwrap();
        let edited = run(
            &cfg,
            &[
                "queue",
                "edit",
                &ids[0],
                "--text-file",
                file.to_str().unwrap(),
            ],
        );
        assert!(edited.status.success(), "{}", stderr(&edited));
        assert_eq!(stdout(&edited).trim(), format!("post {} edited", ids[0]));
        let post = listed(&cfg, &["--state", "review"])
            .into_iter()
            .find(|p| p["id"] == ids[0].parse::<i64>().unwrap())
            .unwrap();
        assert_eq!(post["text"], "A headline an editor wrote");

        // Several ids at once; one that cannot be approved fails the command after the
        // others are done.
        let approved = run(&cfg, &["queue", "approve", &ids[0], &ids[1]]);
        assert!(approved.status.success(), "{}", stderr(&approved));
        assert_eq!(stdout(&approved).matches("approved").count(), 2);
        let again = run(&cfg, &["queue", "approve", &ids[0], &ids[2]]);
        assert_eq!(again.status.code(), Some(1));
        assert!(stdout(&again).contains(&format!("post {} approved", ids[2])));
        assert!(
            stderr(&again).contains(&format!(
                "post {} is queued; only posts waiting for review can be approved",
                ids[0]
            )),
            "{}",
            stderr(&again)
        );
        assert_eq!(listed(&cfg, &["--state", "queued"]).len(), 3);

        let dropped = run(&cfg, &["queue", "drop", &ids[1], "99999"]);
        assert_eq!(dropped.status.code(), Some(1));
        assert!(stdout(&dropped).contains(&format!("post {} dropped", ids[1])));
        assert!(
            stderr(&dropped).contains("no post with id 99999"),
            "{}",
            stderr(&dropped)
        );

        // A state that does not exist is a usage error naming the known ones.
        let bad = run(&cfg, &["queue", "list", "--state", "waiting"]);
        assert_eq!(bad.status.code(), Some(2));
        assert!(
            stderr(&bad).contains("review, held, queued"),
            "{}",
            stderr(&bad)
        );
    })
    .await
    .unwrap();
}

fn dir_of(cfg: &Path) -> PathBuf {
    cfg.parent().unwrap().to_path_buf()
}

#[tokio::test]
async fn a_flood_is_released_by_the_piece() {
    let server = FeedServer::start().await;
    server.set("/news.xml", Route::feed(rss(1)));
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeThreads::start();
    let cfg = config(
        dir.path(),
        &fake,
        &format!(
            "[[feeds]]\nname = \"news\"\nurl = \"{}\"\nflood_limit = 2\nrelease_order = \"newest\"\n",
            server.url("/news.xml")
        ),
    );
    let c = cfg.clone();
    tokio::task::spawn_blocking(move || {
        let out = run(&c, &["run", "--once"]);
        assert!(out.status.success(), "{}", stderr(&out));
    })
    .await
    .unwrap();
    server.set("/news.xml", Route::feed(rss(7)));
    tokio::task::spawn_blocking(move || {
        let out = run(&cfg, &["run", "--once"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(fake.posts().is_empty(), "a held flood is not published");
        let held = listed(&cfg, &["--state", "held"]);
        assert_eq!(held.len(), 6);

        // One by id.
        let one = held[5]["id"].to_string(); // the oldest (newest id first)
        let out = run(&cfg, &["queue", "release", &one]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), format!("post {one} released"));

        // The newest two; the rest stays held.
        let out = run(&cfg, &["release", "news", "--latest", "2"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            "released 2 held post(s) of news (newest first); 3 still held"
        );
        let queued = listed(&cfg, &["--state", "queued"]);
        let texts: Vec<&str> = queued.iter().map(|p| p["text"].as_str().unwrap()).collect();
        assert!(
            texts.iter().any(|t| t.starts_with("news story 6")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.starts_with("news story 5")),
            "{texts:?}"
        );

        // The rest is dropped.
        let out = run(&cfg, &["release", "news", "--drop-rest"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            "released 0 held post(s) of news; dropped 3"
        );
        assert!(listed(&cfg, &["--state", "held"]).is_empty());
        assert_eq!(listed(&cfg, &["--state", "dropped"]).len(), 3);
        let status = run(&cfg, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(
            doc["feeds"][0]["held"], 0,
            "dropped items are not counted as held"
        );
    })
    .await
    .unwrap();
}

#[test]
fn the_desk_and_review_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[accounts]]\nname = \"n\"\n[[feeds]]\nurl = \"https://e.org/a\"\n";
    let check = |http: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("[http]\n{http}\n{base}")).unwrap();
        run(&path, &["check"])
    };
    let out = check("desk = true");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("http.desk: needs http.desk_password_hash"),
        "{}",
        stderr(&out)
    );
    let out = check("desk = true\ndesk_password_hash = \"hunter2\"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("http.desk_password_hash: is not an argon2 hash"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    let out = check("listen = \"off\"\ndesk = true\ndesk_password_hash = \"x\"");
    assert_eq!(out.status.code(), Some(2));

    let hash = crate::support::desk::cheap_hash("a long desk password");
    let out = check(&format!(
        "desk = true\ndesk_password_hash = \"{hash}\"\n[defaults]\nreview = true\nrelease_order = \"newest\""
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(!shown.contains(&hash), "{shown}");
    assert!(
        shown.contains("desk_password_hash = \"[redacted]\""),
        "{shown}"
    );
    assert!(
        shown.contains("review = true") && shown.contains("release_order = \"newest\""),
        "{shown}"
    );

    let out = check("[defaults]\nrelease_order = \"latest\"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("defaults.release_order"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn desk_password_prints_a_hash_the_desk_accepts() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("desk-password")
        .env_remove("FEED2THREADS_CONFIG")
        .current_dir(tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let hash = stdout(&out).trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let secret = secrecy::SecretString::from(hash);
    assert!(feed2threads::desk::password::verify(
        &secret,
        "correct horse battery staple"
    ));
    assert!(!feed2threads::desk::password::verify(
        &secret,
        "correct horse"
    ));
}
