//! The editorial-control keys as a user writes them: posting windows (feed, `[defaults]`,
//! account), caps, overflow and Threads' newer options arrive typed, `check` prints them
//! back as a config that resolves to the same settings, and every bad value or forbidden
//! combination is an error naming the key.

use feed2threads::compose::{LinkIn, LongText};
use feed2threads::config::{ConfigError, Settings};
use feed2threads::publish::caps::Overflow;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(text, Path::new("test.toml"))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const BASE: &str =
    "[[accounts]]\nname = \"newsroom\"\n[[feeds]]\nurl = \"https://example.org/rss.xml\"\n";

const RICH: &str = r#"
[defaults]
hours = "06:30-23:00"
timezone = "Europe/Berlin"
max_per_day = 40

[[accounts]]
name = "newsroom"
max_posts_per_day = 100
hours = "05:00-01:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat"]
timezone = "Europe/Berlin"

[[feeds]]
name = "world"
url = "https://example.org/world.xml"
max_per_hour = 4
overflow = "drop"
reply_approvals = true
long_text = "attachment"
link_in = "reply"

[[feeds]]
name = "night"
url = "https://example.org/night.xml"
hours = "22:00-02:00"
days = ["Friday", "sat"]
timezone = "America/New_York"

[[feeds]]
name = "live"
url = "https://example.org/live.xml"
ghost_posts = true
"#;

#[test]
fn windows_caps_and_options_arrive_typed() {
    let s = parse(RICH).unwrap();
    let world = s.feed("world").unwrap();
    let w = world.window.unwrap();
    assert_eq!(w.to_string(), "06:30-23:00 (Europe/Berlin)");
    assert_eq!(world.caps.per_hour, Some(4));
    assert_eq!(world.caps.per_day, Some(40), "inherited from [defaults]");
    assert_eq!(world.caps.overflow, Overflow::Drop);
    assert!(world.compose.reply_approvals);
    assert_eq!(world.compose.long_text, LongText::Attachment);
    assert_eq!(world.compose.link_in, LinkIn::Reply);

    let night = s.feed("night").unwrap().window.unwrap();
    assert_eq!(
        night.to_string(),
        "22:00-02:00 on fri,sat (America/New_York)"
    );
    assert!(s.feed("live").unwrap().compose.ghost_posts);

    let account = s.account("newsroom").unwrap().window.unwrap();
    assert_eq!(
        account.to_string(),
        "05:00-01:00 on mon,tue,wed,thu,fri,sat (Europe/Berlin)"
    );
    // No window anywhere: always open.
    let plain = parse(BASE).unwrap();
    assert!(plain.feeds[0].window.is_none() && plain.accounts[0].window.is_none());
    assert!(!plain.feeds[0].caps.is_set());
}

#[test]
fn check_prints_the_new_keys_back_as_the_same_settings() {
    let first = parse(RICH).unwrap();
    let printed = first.to_redacted_toml().unwrap();
    for key in [
        "hours = \"06:30-23:00\"",
        "days = [\"fri\", \"sat\"]",
        "max_per_hour = 4",
        "overflow = \"drop\"",
        "long_text = \"attachment\"",
        "link_in = \"reply\"",
        "reply_approvals = true",
        "ghost_posts = true",
    ] {
        assert!(printed.contains(key), "{key} missing:\n{printed}");
    }
    let second = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    for (a, b) in first.feeds.iter().zip(&second.feeds) {
        assert_eq!(a.window, b.window, "{printed}");
        assert_eq!(a.caps, b.caps, "{printed}");
        assert_eq!(a.compose, b.compose, "{printed}");
    }
    assert_eq!(first.accounts[0].window, second.accounts[0].window);
    assert_eq!(second.to_redacted_toml().unwrap(), printed);
}

#[test]
fn bad_windows_caps_and_choices_name_their_key() {
    let cases = [
        (
            "hours = \"25:00-07:00\"",
            "feeds[0].hours",
            "25 is not an hour",
        ),
        ("hours = \"06:30-06:30\"", "feeds[0].hours", "the same"),
        ("hours = \"6.30-23.00\"", "feeds[0].hours", "06:30-23:00"),
        (
            "days = [\"mon\", \"moon\"]",
            "feeds[0].days",
            "\"moon\" is not a day",
        ),
        ("days = []", "feeds[0].days", "at least one day"),
        (
            "max_per_hour = 0",
            "feeds[0].max_per_hour",
            "0 is not a cap",
        ),
        ("max_per_day = 0", "feeds[0].max_per_day", "0 is not a cap"),
        (
            "max_per_day = 300",
            "feeds[0].max_per_day",
            "the API's own limit",
        ),
        (
            "overflow = \"queue\"",
            "feeds[0].overflow",
            "\"wait\" or \"drop\"",
        ),
        (
            "long_text = \"split\"",
            "feeds[0].long_text",
            "\"truncate\" or \"attachment\"",
        ),
        (
            "link_in = \"comment\"",
            "feeds[0].link_in",
            "\"card\" or \"reply\"",
        ),
        ("reply_approvals = \"yes\"", "feeds[0].reply_approvals", ""),
    ];
    for (line, key, says) in cases {
        let err = error(&format!("{BASE}{line}\n"));
        assert!(err.starts_with(&format!("{key}:")), "{line} → {err}");
        assert!(err.contains(says), "{line} → {err}");
    }
    // In [defaults] and on an account too.
    let err = error(&format!("[defaults]\nhours = \"25:00-07:00\"\n{BASE}"));
    assert!(err.starts_with("defaults.hours:"), "{err}");
    let err = error("[[accounts]]\nname = \"a\"\nhours = \"07:00-24:30\"\n");
    assert!(err.starts_with("accounts[0].hours:"), "{err}");
}

#[test]
fn options_that_cannot_go_together_name_the_key_to_change() {
    let cases = [
        (
            "media = \"image\"\nlong_text = \"attachment\"",
            "feeds[0].long_text",
            "text posts only",
        ),
        (
            "ghost_posts = true\nreply_approvals = true",
            "feeds[0].reply_approvals",
            "a ghost post cannot have reply approvals",
        ),
        (
            "ghost_posts = true\nlong_text = \"attachment\"",
            "feeds[0].long_text",
            "ghost post",
        ),
        (
            "ghost_posts = true\nmedia = \"image\"",
            "feeds[0].media",
            "ghost post",
        ),
        (
            "ghost_posts = true\nlink_in = \"reply\"",
            "feeds[0].link_in",
            "ghost post",
        ),
        (
            "ghost_posts = true\ntopic_tag = \"News\"",
            "feeds[0].topic_tag",
            "ghost post",
        ),
    ];
    for (lines, key, says) in cases {
        let err = error(&format!("{BASE}{lines}\n"));
        assert!(err.starts_with(&format!("{key}:")), "{lines} → {err}");
        assert!(err.contains(says), "{lines} → {err}");
    }
    // Inherited from [defaults], the feed's key is named.
    let err = error(&format!(
        "[defaults]\nghost_posts = true\n{BASE}reply_approvals = true\n"
    ));
    assert!(err.starts_with("feeds[0].reply_approvals:"), "{err}");
    // A feed's cap above its account's own daily limit.
    let err = error(
        "[[accounts]]\nname = \"a\"\nmax_posts_per_day = 20\n\
         [[feeds]]\nurl = \"https://example.org/f\"\nmax_per_day = 30\n",
    );
    assert!(err.starts_with("feeds[0].max_per_day:"), "{err}");
    assert!(err.contains("max_posts_per_day (20)"), "{err}");
}

#[test]
fn the_binary_check_refuses_a_bad_window_with_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.toml");
    std::fs::write(&path, format!("{BASE}hours = \"25:00-07:00\"\n")).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("feeds[0].hours"), "{stderr}");
    assert!(stderr.contains("25:00-07:00"), "{stderr}");
}
