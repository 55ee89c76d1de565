//! The log lines of a real `run --once` (the binary, against the fake Threads API) are
//! written for people: no Rust debug forms in any value (`"media_id":"Some(\"1784…\")"`),
//! times as RFC 3339 with zone plus "in 57 days", a `published` line with the post's first
//! words and permalink, a line for each pacing wait, and no colour codes off a terminal.

use crate::support::test_app::TestApp;
use serde_json::Value;
use std::process::Output;

/// Account `desk` (the fake's token, `min_interval`), feed `news` of `stories` stories.
async fn app(stories: usize, min_interval: &str) -> TestApp {
    let app = TestApp::new().await;
    let token = app.fake.token();
    app.with_account_toml(
        "desk",
        &format!("access_token = \"{token}\"\nmin_interval = \"{min_interval}\""),
    )
    .with_feed("news", "desk", stories)
}

async fn run(app: &TestApp, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = app.command(args);
    cmd.env_remove("NO_COLOR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// A value a person should never read: a Rust debug form.
fn debug_form(value: &str) -> bool {
    let duration_debug = regex::Regex::new(r"^\d+\.\d+(ns|µs|ms|s)$").unwrap();
    value.starts_with("Some(")
        || value == "None"
        || value.contains("Some(\"")
        || value.contains("\\\"")
        || duration_debug.is_match(value)
}

fn strings(v: &Value, out: &mut Vec<(String, String)>, key: &str) {
    match v {
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Object(m) => m.iter().for_each(|(k, v)| strings(v, out, k)),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out, key)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_logs_are_written_for_people() {
    let app = app(3, "1s").await;
    let fake = &app.fake;
    let out = run(&app, &["--log-format", "json", "run", "--once"], &[]).await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(fake.posts().len(), 3);

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        let mut values = Vec::new();
        strings(line, &mut values, "");
        for (key, value) in values {
            assert!(
                !debug_form(&value),
                "{key}={value:?} is a debug form in {line}"
            );
        }
    }

    // Each publish: the post's first words and its permalink.
    let published: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("published ")
        })
        .collect();
    assert_eq!(published.len(), 3, "{log}");
    for (i, line) in published.iter().enumerate() {
        let message = line["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("published \"news story number {i}")),
            "{message}"
        );
        let permalink = line["permalink"].as_str().unwrap();
        assert!(
            permalink.starts_with("https://www.threads.net/@") && message.ends_with(permalink),
            "{line}"
        );
        assert!(
            line["text"]
                .as_str()
                .unwrap()
                .starts_with("news story number")
        );
    }

    // The waits for pacing (min_interval = 1s between the three posts) are said.
    let pacing: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("next post for desk in ") && m.ends_with("(min_interval)"))
        .collect();
    assert!(pacing.len() >= 2, "{log}");

    // The token's expiry, learnt from the API: RFC 3339 with zone, and how far off.
    let expiry = lines
        .iter()
        .find(|l| l["message"] == "learned the access token's expiry")
        .unwrap_or_else(|| panic!("{log}"));
    let at = expiry["expires_at"].as_str().unwrap();
    let (stamp, rest) = at.split_once(' ').unwrap();
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert!(rest.starts_with("(in ") && rest.ends_with(" days)"), "{at}");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_logs_carry_no_colour_codes_off_a_terminal() {
    let app = app(1, "0s").await;
    // Text asked for, stderr a pipe: plain text. And with NO_COLOR too.
    for envs in [&[][..], &[("NO_COLOR", "1")][..]] {
        let out = run(
            &app,
            &["--log-format", "text", "run", "--once", "--dry-run"],
            envs,
        )
        .await;
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(log.contains("feed2threads stopped"), "{log}");
        assert!(
            !log.contains('\u{1b}'),
            "colour codes in a piped log: {log:?}"
        );
    }
}
