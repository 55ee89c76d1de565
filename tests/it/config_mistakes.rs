//! Config mistakes `check` catches, each with the message a person reads (issue 12, part
//! 6): a filter's unknown field prefix, an undefined template variable, a regex error with
//! its caret, a cron error on one line, the duration hint, `[defaults]` keys named as such
//! and no key printed twice; an unknown account for `auth` and `import-opml` exits 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");

const ACCOUNT: &str = "[[accounts]]\nname = \"newsroom\"\naccess_token = \"t\"\n";

fn write(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("feed2threads.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEED2THREADS_CONFIG")
        .output()
        .unwrap()
}

/// `check` on `body`: exit 2, and stderr (the whole message, without its prefix).
fn check_error(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&write(dir.path(), body), &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing printed on stdout on error");
    stderr
        .strip_prefix("config error: ")
        .unwrap_or_else(|| panic!("{stderr}"))
        .trim_end()
        .to_string()
}

fn feed(extra: &str) -> String {
    format!("{ACCOUNT}[[feeds]]\nurl = \"https://example.org/a.xml\"\n{extra}\n")
}

#[test]
fn a_filter_with_an_unknown_field_prefix_lists_the_valid_ones() {
    // Read as a regex, "headline:storm" would match no item: an include would silently
    // drop every story (and mark it seen).
    let err = check_error(&feed("include = [\"headline:storm\"]"));
    assert_eq!(
        err,
        "feeds[0].include[0]: \"headline:storm\" starts with an unknown field \"headline:\"; a \
         pattern may start with \"title:\", \"summary:\", \"category:\", \"author:\", \"any:\"; \
         to match the text \"headline:\" itself, write \"any:headline:storm\""
    );
    let err = check_error(&feed("exclude = [\"sport\", \"titel:Live\"]"));
    assert!(
        err.starts_with("feeds[0].exclude[1]: \"titel:Live\" starts with an unknown field \"titel:\" (did you mean \"title:\"?)"),
        "{err}"
    );
}

#[test]
fn a_template_with_an_undefined_variable_names_it_and_the_known_ones() {
    let err = check_error(&feed("template = \"{{ titel }}\\n\\n{{ link }}\""));
    assert_eq!(
        err,
        "feeds[0].template: undefined variable \"titel\" (did you mean \"title\"?); the \
         variables are title, summary, content, standfirst, link, author, authors, categories, \
         feed_title, feed_name, published, published_at"
    );
    // Also where the sample item would not look: a condition, an untaken branch.
    let err = check_error(&feed(
        "template = \"{{ title }}{% if byline %} by {{ byline }}{% endif %}\"",
    ));
    assert!(
        err.starts_with("feeds[0].template: undefined variable \"byline\"; the variables are"),
        "{err}"
    );
}

#[test]
fn optional_variables_that_are_empty_stay_fine() {
    let dir = tempfile::tempdir().unwrap();
    let body = feed(
        "template = \"{{ title }}{% if author %} ({{ author }}){% endif %}{% if standfirst %}\\n\\n{{ standfirst }}{% endif %} {{ categories|hashtags(2) }} {{ published }}\"",
    );
    let out = run(&write(dir.path(), &body), &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_regex_error_keeps_its_caret_under_the_character() {
    let err = check_error(&feed("exclude = [\"title:(storm|flood\"]"));
    assert_eq!(
        err,
        "feeds[0].exclude[0]: invalid regex: unclosed group\n    title:(storm|flood\n          ^"
    );
    let err = check_error(&feed("include = ['summary:\\d{3,2}']"));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("feeds[0].include[0]: invalid regex: "),
        "{err}"
    );
    assert_eq!(lines[1], "    summary:\\d{3,2}");
    // Under "{3,2}", the invalid repetition range.
    assert_eq!(lines[2], "              ^^^^^", "{err}");
}

#[test]
fn a_cron_error_is_one_readable_line() {
    let err = check_error(&feed("schedule = \"*/x * * * *\""));
    assert_eq!(
        err,
        "feeds[0].schedule: \"*/x * * * *\" is not a cron expression: the minute field \"*/x\" \
         is not valid; try \"*/5 * * * *\" (minute hour day-of-month month day-of-week)"
    );
    let err = check_error(&feed("schedule = \"0 9 * *\""));
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("it has 4 field(s), not 5"), "{err}");
    let err = check_error(&feed("schedule = \"0 0 30 2 *\""));
    assert!(err.contains("never comes"), "{err}");
}

#[test]
fn the_duration_hint_keeps_each_part() {
    let err = check_error(&feed("every = \"1m 30s\""));
    assert_eq!(
        err,
        "feeds[0].every: \"1m 30s\" is not a duration; try \"1m30s\""
    );
    let err = check_error(&format!(
        "{}[defaults]\nmax_age = \"1 day 12 hours\"\n",
        feed("")
    ));
    assert_eq!(
        err,
        "defaults.max_age: \"1 day 12 hours\" is not a duration; try \"1d12h\""
    );
}

#[test]
fn an_error_in_defaults_is_named_defaults_key_and_no_key_twice() {
    let err = check_error(&format!(
        "[defaults]\ntemplate = \"{{{{ titel }}}}\"\n{}",
        feed("")
    ));
    assert!(
        err.starts_with("defaults.template: undefined variable \"titel\""),
        "{err}"
    );
    let err = check_error(&format!("[defaults]\nexclude = [\"(\"]\n{}", feed("")));
    assert!(
        err.starts_with("defaults.exclude[0]: invalid regex"),
        "{err}"
    );
    let err = check_error(&format!(
        "[defaults]\nevery = \"10m\"\nschedule = \"*/5 * * * *\"\n{}",
        feed("")
    ));
    assert_eq!(
        err,
        "defaults.schedule: give only one of defaults.every and defaults.schedule"
    );
    // A feed's own mistake: its key once, not "feeds[1]: feeds[1].template".
    let err = check_error(&format!(
        "{}[[feeds]]\nurl = \"https://example.org/b.xml\"\ntemplate = \"{{{{ title }}\"\n",
        feed("")
    ));
    assert!(err.starts_with("feeds[1].template: "), "{err}");
    assert!(!err.contains("feeds[1]: "), "{err}");
}

#[test]
fn an_http_api_base_is_refused_unless_loopback() {
    let err = check_error(&format!(
        "[threads]\napi_base = \"http://graph.threads.net\"\n{}",
        feed("")
    ));
    assert!(
        err.starts_with(
            "threads.api_base: \"http://graph.threads.net/\" must be https: every call carries an access token"
        ),
        "{err}"
    );
    for loopback in [
        "http://127.0.0.1:8080",
        "http://[::1]:9",
        "http://localhost:1",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let body = format!("[threads]\napi_base = \"{loopback}\"\n{}", feed(""));
        let out = run(&write(dir.path(), &body), &["check"]);
        assert!(out.status.success(), "{loopback}");
    }
}

#[test]
fn auth_and_import_opml_with_an_unknown_account_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), &feed(""));
    let out = run(&config, &["auth", "sports"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("account \"sports\" is not in the config; add an [[accounts]] table"),
        "{stderr}"
    );
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        "<opml version=\"2.0\"><body><outline xmlUrl=\"https://example.org/x.xml\"/></body></opml>",
    )
    .unwrap();
    let out = run(
        &config,
        &["import-opml", opml.to_str().unwrap(), "--account", "sports"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("account \"sports\" is not in the config"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
