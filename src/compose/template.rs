//! Per-feed post templates (minijinja, Jinja syntax).
//!
//! Owns: compiling a feed's template once, checking it at config time (syntax, unknown
//! filters and tests, unknown variables), the variables and helpers a template sees, and
//! rendering one item. Output is plain text: auto-escaping is off.
//!
//! Variables (all plain text, HTML already stripped and entities decoded):
//! `title`, `summary`, `content`, `standfirst` (the summary, or the content when the
//! summary is missing or only repeats the title), `link` (with the feed's `link_params`),
//! `author` (authors joined with ", "), `authors`, `categories` (lists), `feed_title`,
//! `feed_name`, `published` (the item's date formatted with `date_format` in `timezone`;
//! empty when undated) and `published_at` (the same as RFC 3339).
//!
//! Helpers:
//! - `truncate(length=255, killwords=false, end="…", leeway=0)` (filter; replaces
//!   Jinja's): `length` is in UTF-8 **bytes**, the cut falls at a word end
//!   (`killwords=true`: any grapheme boundary), never inside an emoji, flag or URL.
//!   `truncate_bytes` is the same filter.
//! - `hashtag` (filter and function): "climate change" → `#ClimateChange`.
//! - `hashtags(limit=none)` (filter): a list of categories → `#A #B`, de-duplicated.
//! - `datetimeformat(format)` (filter): `published_at|datetimeformat("%d %b")`, chrono
//!   `strftime` syntax, in the feed's timezone.
//!
//! Must not: enforce post limits (the composer shortens fields and re-renders).

use super::ComposeError;
use super::text::{Cut, ELLIPSIS, truncate};
use super::topic::hashtag;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, context};
use std::fmt::Write as _;

/// Headline, blank line, as much of the standfirst as fits. The link goes in the link
/// card (or, for image posts, is appended by the composer), not in the template.
pub const DEFAULT_TEMPLATE: &str = "{{ title }}{% if standfirst %}\n\n{{ standfirst }}{% endif %}";

/// The variables a template sees, in the order the docs list them.
pub const VARIABLES: [&str; 12] = [
    "title",
    "summary",
    "content",
    "standfirst",
    "link",
    "author",
    "authors",
    "categories",
    "feed_title",
    "feed_name",
    "published",
    "published_at",
];

/// Names Jinja itself defines inside a template (`loop` in a for loop, `caller` in a
/// macro called with a block, …), which the parser reports as undeclared.
const JINJA_NAMES: [&str; 6] = ["loop", "self", "super", "caller", "varargs", "kwargs"];

/// Default `date_format`: unambiguous across locales, with the zone.
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d %H:%M %Z";

/// Work one render may do (minijinja "fuel": about one unit per instruction or per 64
/// bytes of data). A generous template over 2 KB fields uses a few thousand.
const TEMPLATE_FUEL: u64 = 500_000;

/// An item's fields as the template sees them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub content: &'a str,
    pub standfirst: &'a str,
    pub link: &'a str,
    pub authors: &'a [String],
    pub categories: &'a [String],
    pub feed_title: &'a str,
    pub feed_name: &'a str,
    pub published: Option<DateTime<Utc>>,
}

/// A compiled template with its helpers.
#[derive(Debug)]
pub(crate) struct Template {
    env: Environment<'static>,
    /// The template's name in `env`: its config key, so minijinja's own error messages
    /// ("… (in feeds[2].template:1)") point at the config.
    name: String,
    tz: Tz,
    date_format: String,
}

impl Template {
    /// Compile and check. `key` is the feed's config path (`feeds[2]`).
    pub(crate) fn new(
        source: Option<&str>,
        key: &str,
        tz: Tz,
        date_format: Option<&str>,
    ) -> Result<Self, ComposeError> {
        let name = format!("{key}.template");
        let config_err = |message: String| ComposeError::Config {
            key: name.clone(),
            message,
        };
        let date_format = date_format.unwrap_or(DEFAULT_DATE_FORMAT).to_owned();
        if format_date(sample_date(tz), &date_format).is_none() {
            return Err(ComposeError::Config {
                key: format!("{key}.date_format"),
                message: format!("{date_format:?} is not a valid strftime format"),
            });
        }
        let source = source.unwrap_or(DEFAULT_TEMPLATE).to_owned();

        // Checked with a strict environment so `{{ titel }}` is a config error, but
        // rendered with a lenient one so `{{ categories[0] }}` on an item without
        // categories is empty rather than a failed post.
        let mut check = build_env(tz, UndefinedBehavior::SemiStrict);
        check
            .add_template_owned(name.clone(), source.clone())
            .map_err(|e| config_err(one_line(&e)))?;
        check_helpers(&check, &source).map_err(config_err)?;
        check_variables(&check, &name).map_err(config_err)?;
        let template = Template {
            env: check,
            name: name.clone(),
            tz,
            date_format,
        };
        let sample_categories = [
            "World".to_owned(),
            "Climate change".to_owned(),
            "Science".to_owned(),
        ];
        let sample_authors = ["A. Reporter".to_owned(), "B. Editor".to_owned()];
        let sample = Fields {
            title: "Sample headline",
            summary: "Sample summary.",
            content: "Sample content.",
            standfirst: "Sample summary.",
            link: "https://example.com/story",
            authors: &sample_authors,
            categories: &sample_categories,
            feed_title: "Sample feed",
            feed_name: "sample",
            published: Some(
                Utc.timestamp_opt(1_700_000_000, 0)
                    .single()
                    .unwrap_or_default(),
            ),
        };
        let rendered = template
            .render(&sample)
            .map_err(|e| config_err(one_line(&e)))?;
        if rendered.trim().is_empty() {
            return Err(config_err(
                "the template renders empty text for a complete item".into(),
            ));
        }
        // An item with nothing but a title must render too (lenient from here on).
        let mut env = build_env(tz, UndefinedBehavior::Lenient);
        env.add_template_owned(name.clone(), source)
            .map_err(|e| config_err(one_line(&e)))?;
        let template = Template { env, ..template };
        template
            .render(&Fields {
                title: "Sample headline",
                ..Fields::default()
            })
            .map_err(|e| config_err(one_line(&e)))?;
        Ok(template)
    }

    /// The config key the template came from (`feeds[2].template`).
    pub(crate) fn key(&self) -> &str {
        &self.name
    }

    /// Render one item. The output is raw: the composer sanitizes, trims and fits it.
    pub(crate) fn render(&self, f: &Fields<'_>) -> Result<String, Error> {
        let local = f.published.map(|d| d.with_timezone(&self.tz));
        let published = local
            .and_then(|d| format_date(d, &self.date_format))
            .unwrap_or_default();
        let published_at = local.map(|d| d.to_rfc3339()).unwrap_or_default();
        let ctx = context! {
            title => f.title,
            summary => f.summary,
            content => f.content,
            standfirst => f.standfirst,
            link => f.link,
            author => f.authors.join(", "),
            authors => Value::from_iter(f.authors.iter().map(String::as_str)),
            categories => Value::from_iter(f.categories.iter().map(String::as_str)),
            feed_title => f.feed_title,
            feed_name => f.feed_name,
            published => published,
            published_at => published_at,
        };
        self.env.get_template(&self.name)?.render(ctx)
    }
}

fn build_env(tz: Tz, undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(undefined);
    // A template is config, but a runaway loop (`range(100000)` nested) must be an error
    // for the feed, not a poll loop that never returns.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_filter("truncate", truncate_filter);
    env.add_filter("truncate_bytes", truncate_filter);
    env.add_filter("hashtag", |v: Value| hashtag(&value_str(&v)));
    env.add_function("hashtag", |v: Value| hashtag(&value_str(&v)));
    env.add_filter("hashtags", hashtags_filter);
    env.add_filter("datetimeformat", move |v: Value, format: Option<String>| {
        datetimeformat(tz, &v, format.as_deref())
    });
    env
}

/// Byte-limited, word- and grapheme-safe `truncate` (see the module docs).
fn truncate_filter(
    value: Value,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    leeway: Option<usize>,
) -> String {
    let s = value_str(&value);
    let length = length.unwrap_or(255);
    if s.len() <= length.saturating_add(leeway.unwrap_or(0)) {
        return s;
    }
    let cut = if killwords.unwrap_or(false) {
        Cut::Grapheme
    } else {
        Cut::Word
    };
    truncate(&s, length, cut, end.as_deref().unwrap_or(ELLIPSIS)).into_owned()
}

fn hashtags_filter(value: Value, limit: Option<usize>) -> String {
    let items: Vec<String> = match value.as_str() {
        Some(s) => vec![s.to_owned()],
        None => match value.try_iter() {
            Ok(iter) => iter.map(|v| value_str(&v)).collect(),
            Err(_) => Vec::new(),
        },
    };
    let mut tags: Vec<String> = Vec::new();
    for item in items {
        let tag = hashtag(&item);
        if !tag.is_empty() && !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            tags.push(tag);
        }
    }
    tags.truncate(limit.unwrap_or(usize::MAX));
    tags.join(" ")
}

fn datetimeformat(tz: Tz, value: &Value, format: Option<&str>) -> Result<String, Error> {
    let s = value_str(value);
    if s.is_empty() {
        return Ok(String::new());
    }
    let date = DateTime::parse_from_rfc3339(&s).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("datetimeformat: {s:?} is not an RFC 3339 date ({e})"),
        )
    })?;
    let format = format.unwrap_or(DEFAULT_DATE_FORMAT);
    format_date(date.with_timezone(&tz), format).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("datetimeformat: {format:?} is not a valid strftime format"),
        )
    })
}

/// chrono reports a bad format string only as a `fmt::Error` while writing (and
/// `to_string` would panic on it), so write into a `String` and check.
fn format_date<T: TimeZone>(date: DateTime<T>, format: &str) -> Option<String>
where
    T::Offset: std::fmt::Display,
{
    let mut out = String::new();
    write!(out, "{}", date.format(format)).ok()?;
    Some(out)
}

fn sample_date(tz: Tz) -> DateTime<Tz> {
    Utc.timestamp_opt(1_700_000_000, 0)
        .single()
        .unwrap_or_default()
        .with_timezone(&tz)
}

fn value_str(v: &Value) -> String {
    if v.is_undefined() || v.is_none() {
        String::new()
    } else if let Some(s) = v.as_str() {
        s.to_owned()
    } else {
        v.to_string()
    }
}

fn one_line(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

/// Every variable the template reads must be one of [`VARIABLES`] (or a helper): rendering
/// is lenient so that an empty field prints nothing, which would also let `{{ titel }}`
/// print nothing on every post. The parser lists the names the template reads without
/// setting them itself, in every branch, whatever a sample item would take.
fn check_variables(env: &Environment<'static>, name: &str) -> Result<(), String> {
    let template = env.get_template(name).map_err(|e| one_line(&e))?;
    let globals: Vec<&str> = env.globals().map(|(n, _)| n).collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| {
            let v = v.as_str();
            !VARIABLES.contains(&v) && !JINJA_NAMES.contains(&v) && !globals.contains(&v)
        })
        .collect();
    unknown.sort();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let hint = super::suggest::closest(first, &VARIABLES)
        .map(|v| format!(" (did you mean \"{v}\"?)"))
        .unwrap_or_default();
    let others = match &unknown[1..] {
        [] => String::new(),
        rest => format!(
            " (also undefined: {})",
            rest.iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(format!(
        "undefined variable \"{first}\"{hint}{others}; the variables are {}",
        VARIABLES.join(", ")
    ))
}

/// minijinja looks filters and tests up only when they run, so a typo in a branch the
/// sample item does not take would surface on some item weeks later. Find every filter
/// and test name in the source and ask the environment about each.
fn check_helpers(env: &Environment<'static>, source: &str) -> Result<(), String> {
    let (filters, tests) = helper_names(source);
    for name in filters {
        let expr = env
            .compile_expression_owned(format!("x|{name}"))
            .map_err(|e| one_line(&e))?;
        if let Err(e) = expr.eval(context! { x => "" })
            && e.kind() == ErrorKind::UnknownFilter
        {
            return Err(format!("unknown filter {name:?}"));
        }
    }
    for name in tests {
        let expr = env
            .compile_expression_owned(format!("x is {name}"))
            .map_err(|e| one_line(&e))?;
        if let Err(e) = expr.eval(context! { x => "" })
            && e.kind() == ErrorKind::UnknownTest
        {
            return Err(format!("unknown test {name:?}"));
        }
    }
    Ok(())
}

/// Filter and test names used in a template: identifiers after `|`, after `{% filter`,
/// and after `is` / `is not`, inside `{{ }}` and `{% %}` (strings, comments and
/// `{% raw %}` blocks skipped).
fn helper_names(source: &str) -> (Vec<String>, Vec<String>) {
    let mut filters = Vec::new();
    let mut tests = Vec::new();
    let b = source.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        let open = &b[i..i + 2];
        if open == b"{#" {
            i = source[i..].find("#}").map_or(b.len(), |p| i + p + 2);
            continue;
        }
        if open != b"{{" && open != b"{%" {
            i += 1;
            continue;
        }
        let close: &[u8] = if open == b"{{" { b"}}" } else { b"%}" };
        let statement = open == b"{%";
        let mut j = i + 2;
        let mut tokens: Vec<&str> = Vec::new();
        while j < b.len() {
            if b[j..].starts_with(close) {
                j += 2;
                break;
            }
            let c = b[j];
            if c == b'"' || c == b'\'' {
                j += 1;
                while j < b.len() && b[j] != c {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                j += 1;
                tokens.push("\"");
            } else if c.is_ascii_alphabetic() || c == b'_' {
                let start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                tokens.push(&source[start..j]);
            } else {
                if !c.is_ascii_whitespace() && c != b'-' && c != b'+' {
                    tokens.push(if c == b'|' { "|" } else { "." });
                }
                j += 1;
            }
        }
        if statement && tokens.first() == Some(&"raw") {
            i = source[j.min(b.len())..]
                .find("endraw")
                .and_then(|p| source[j + p..].find("%}").map(|q| j + p + q + 2))
                .unwrap_or(b.len());
            continue;
        }
        for (k, t) in tokens.iter().enumerate() {
            let prev = k.checked_sub(1).map(|p| tokens[p]);
            let prev2 = k.checked_sub(2).map(|p| tokens[p]);
            let is_ident = t
                .as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
            if !is_ident {
                continue;
            }
            if prev == Some("|") || (statement && k == 1 && prev == Some("filter")) {
                filters.push((*t).to_owned());
            } else if (prev == Some("is") && *t != "not")
                || (prev == Some("not") && prev2 == Some("is"))
            {
                tests.push((*t).to_owned());
            }
        }
        i = j;
    }
    filters.sort();
    filters.dedup();
    tests.sort();
    tests.dedup();
    (filters, tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_helper_names() {
        let (f, t) = helper_names(
            "{{ title|upper | truncate(10) }}{# {{ x|nope }} #}{% if a is not defined %}{% filter lower %}x{% endfilter %}{% endif %}{{ 'a|b' }}{% raw %}{{ y|nope2 }}{% endraw %}{{ z is odd }}",
        );
        assert_eq!(f, vec!["lower", "truncate", "upper"]);
        assert_eq!(t, vec!["defined", "odd"]);
    }

    fn variable_error(source: &str) -> Option<String> {
        Template::new(Some(source), "feeds[2]", Tz::UTC, None)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn an_unknown_variable_is_named_with_the_known_ones() {
        let err = variable_error("{{ titel }}").unwrap();
        assert!(
            err.starts_with("feeds[2].template: undefined variable \"titel\" (did you mean \"title\"?); the variables are title, summary,"),
            "{err}"
        );
        assert!(err.ends_with("published, published_at"), "{err}");
        // In a branch the sample item does not take, and in a condition.
        let err = variable_error("{{ title }}{% if false %}{{ sumary }}{% endif %}").unwrap();
        assert!(
            err.contains("\"sumary\" (did you mean \"summary\"?)"),
            "{err}"
        );
        let err = variable_error("{% if byline %}{{ byline }}{% endif %}{{ title }}").unwrap();
        assert!(err.contains("undefined variable \"byline\";"), "{err}");
    }

    #[test]
    fn known_variables_helpers_and_local_names_pass() {
        for ok in [
            "{{ title }}{% if standfirst %}\n\n{{ standfirst }}{% endif %}",
            "{% for c in categories %}{{ loop.index }}{{ c|hashtag }}{% endfor %}{{ title }}",
            "{% set t = title|upper %}{{ t }} {{ hashtag(feed_name) }} {{ range(2)|length }}",
            "{{ title }} {{ author }} {{ authors|join(', ') }} {{ published }} {{ published_at|datetimeformat('%d') }}",
            "{{ title }} {{ summary }} {{ content }} {{ link }} {{ feed_title }} {{ categories[0] }}",
            "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(title) }}",
        ] {
            assert_eq!(variable_error(ok), None, "{ok}");
        }
    }

    #[test]
    fn runaway_template_is_an_error_not_a_hang() {
        let err = Template::new(
            Some(
                "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            ),
            "feeds[2]",
            Tz::UTC,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("feeds[2].template: "), "{err}");
    }

    #[test]
    fn unknown_filter_in_untaken_branch_is_caught() {
        let err = Template::new(
            Some("{% if false %}{{ title|nope }}{% endif %}{{ title }}"),
            "feeds[2]",
            Tz::UTC,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "feeds[2].template: unknown filter \"nope\""
        );
    }
}
