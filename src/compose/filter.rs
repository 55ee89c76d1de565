//! Per-feed include/exclude filters.
//!
//! Owns: compiling the patterns once and deciding whether an item passes.
//!
//! A pattern is a regex (the `regex` crate's syntax), optionally prefixed by the field it
//! applies to: `title:`, `summary:`, `category:` or `author:` (`any:` forces "all
//! fields", for a regex that itself starts with one of those words). Without a prefix it
//! is tried on all four. Patterns are **case-insensitive** by default (a newsroom writing
//! `exclude = ["sponsored"]` means "Sponsored" too); `(?-i)` at the start of the regex
//! makes one case-sensitive.
//!
//! Fields are matched as decoded plain text (entities decoded, tags stripped), never raw
//! HTML. `summary` is the item's summary, or its content when it has no summary;
//! `category` and `author` match each category/author on its own, so `^Sport$` works.
//!
//! A lowercase word followed by a colon at the start (not `http://`) is always read as a
//! field, so a misspelt one (`headline:`) is a config error instead of a pattern that
//! matches nothing.
//!
//! An item passes when it matches at least one include (if there are any) and no exclude.

use super::{ComposeError, FilterDecision};
use regex::{Regex, RegexBuilder};

/// Compiled patterns can be large; this bounds what one config line may cost.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Summary,
    Category,
    Author,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Category => "category",
            Field::Author => "author",
        }
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `None`: any field.
    field: Option<Field>,
    regex: Regex,
    /// As written in the config, for reasons.
    source: String,
    /// Config path, e.g. `feeds[2].exclude[1]`.
    key: String,
}

/// The item fields filters look at, as plain text.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilterInput<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub categories: &'a [String],
    pub authors: &'a [String],
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Filters {
    pub(crate) fn new(
        include: &[String],
        exclude: &[String],
        key: &str,
    ) -> Result<Self, ComposeError> {
        let compile = |list: &[String], name: &str| -> Result<Vec<Pattern>, ComposeError> {
            list.iter()
                .enumerate()
                .map(|(i, p)| compile(p, &format!("{key}.{name}[{i}]")))
                .collect()
        };
        Ok(Filters {
            include: compile(include, "include")?,
            exclude: compile(exclude, "exclude")?,
        })
    }

    pub(crate) fn decide(&self, input: &FilterInput<'_>) -> FilterDecision {
        for p in &self.exclude {
            if let Some(field) = p.matches(input) {
                return FilterDecision::Reject {
                    reason: format!(
                        "{} matched exclude pattern {:?} ({})",
                        field.name(),
                        p.source,
                        p.key
                    ),
                };
            }
        }
        if !self.include.is_empty() && !self.include.iter().any(|p| p.matches(input).is_some()) {
            let patterns: Vec<&str> = self.include.iter().map(|p| p.source.as_str()).collect();
            // `feeds[2].include[0]` → `feeds[2].include`: the list, not its first pattern.
            let key = self.include[0]
                .key
                .rsplit_once('[')
                .map_or(self.include[0].key.as_str(), |(list, _)| list);
            return FilterDecision::Reject {
                reason: format!("matched no include pattern ({patterns:?}, {key})"),
            };
        }
        FilterDecision::Accept
    }
}

/// The field prefixes a pattern may start with, as the error lists them.
const PREFIXES: [&str; 5] = ["title", "summary", "category", "author", "any"];

fn compile(pattern: &str, key: &str) -> Result<Pattern, ComposeError> {
    let config_err = |message: String| ComposeError::Config {
        key: key.to_owned(),
        message,
    };
    let (field, regex) = match pattern.split_once(':') {
        Some(("title", rest)) => (Some(Field::Title), rest),
        Some(("summary", rest)) => (Some(Field::Summary), rest),
        Some(("category", rest)) => (Some(Field::Category), rest),
        Some(("author", rest)) => (Some(Field::Author), rest),
        Some(("any", rest)) => (None, rest),
        // A lowercase word before the colon is meant as a field: read as a regex it would
        // match the text "headline:…", which no item contains, and an include would then
        // silently let nothing through.
        Some((word, rest)) if is_field_like(word) && !rest.starts_with("//") => {
            return Err(config_err(unknown_prefix(pattern, word)));
        }
        _ => (None, pattern),
    };
    let regex = RegexBuilder::new(regex)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| config_err(regex_error(pattern, pattern.len() - regex.len(), &e)))?;
    Ok(Pattern {
        field,
        regex,
        source: pattern.to_owned(),
        key: key.to_owned(),
    })
}

fn is_field_like(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn unknown_prefix(pattern: &str, word: &str) -> String {
    let hint = super::suggest::closest(word, &PREFIXES[..4])
        .map(|f| format!(" (did you mean \"{f}:\"?)"))
        .unwrap_or_default();
    format!(
        "{pattern:?} starts with an unknown field \"{word}:\"{hint}; a pattern may start with \
         {}; to match the text \"{word}:\" itself, write \"any:{pattern}\"",
        PREFIXES
            .iter()
            .map(|p| format!("\"{p}:\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A regex error as one line saying what is wrong, then the pattern as written (field
/// prefix included) with a caret under the place: the `regex` crate's own drawing is of
/// the regex without its prefix, and only lines up in a monospace block of its own.
/// `offset`: the length of the prefix, in bytes.
fn regex_error(pattern: &str, offset: usize, error: &regex::Error) -> String {
    let regex = &pattern[offset..];
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(regex);
    let (what, span) = match &parsed {
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), *e.span()),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), *e.span()),
        // Valid syntax, yet refused (too large, say): no place to point at.
        _ => {
            let message = error.to_string().replace('\n', " ");
            return format!("invalid regex {pattern:?}: {message}");
        }
    };
    // The line of the pattern the error is on, and the columns (in characters) under it.
    let line_no = span.start.line;
    let line = regex.split('\n').nth(line_no - 1).unwrap_or(regex);
    let (shown, shift) = if line_no == 1 {
        (
            &pattern[..offset + line.len()],
            pattern[..offset].chars().count(),
        )
    } else {
        (line, 0)
    };
    let start = shift + span.start.column - 1;
    let width = if span.end.line == span.start.line {
        span.end.column.saturating_sub(span.start.column).max(1)
    } else {
        1
    };
    let place = if regex.contains('\n') {
        format!(" (line {line_no} of the pattern)")
    } else {
        String::new()
    };
    format!(
        "invalid regex: {what}{place}\n    {}\n    {}{}",
        shown.replace('\t', " "),
        " ".repeat(start),
        "^".repeat(width)
    )
}

impl Pattern {
    /// The field that matched, if any.
    fn matches(&self, input: &FilterInput<'_>) -> Option<Field> {
        let fields = [Field::Title, Field::Summary, Field::Category, Field::Author];
        fields
            .into_iter()
            .filter(|f| self.field.is_none_or(|only| only == *f))
            .find(|f| match f {
                Field::Title => self.regex.is_match(input.title),
                Field::Summary => self.regex.is_match(input.summary),
                Field::Category => input.categories.iter().any(|c| self.regex.is_match(c)),
                Field::Author => input.authors.iter().any(|a| self.regex.is_match(a)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(pattern: &str) -> String {
        Filters::new(&[], &[pattern.to_owned()], "feeds[2]")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unknown_field_prefix_is_an_error_listing_the_fields() {
        let err = error("headline:storm");
        assert!(
            err.starts_with(
                "feeds[2].exclude[0]: \"headline:storm\" starts with an unknown field \"headline:\""
            ),
            "{err}"
        );
        for prefix in PREFIXES {
            assert!(err.contains(&format!("\"{prefix}:\"")), "{err}");
        }
        assert!(err.contains("\"any:headline:storm\""), "{err}");
        assert!(error("titel:x").contains("did you mean \"title:\"?"));
        // Not a lowercase word: a regex as before.
        for ok in [
            "Live:",
            "^LIVE:",
            "any:headline:x",
            "title:a:b",
            "https?://x",
            "(?i)x:y",
            "http://x",
        ] {
            Filters::new(&[ok.to_owned()], &[], "feeds[2]").unwrap();
        }
    }

    #[test]
    fn a_regex_error_puts_the_caret_under_the_pattern_as_written() {
        let err = error("title:(storm");
        assert_eq!(
            err,
            "feeds[2].exclude[0]: invalid regex: unclosed group\n    title:(storm\n          ^"
        );
        let err = error("a{2,1}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[1], "    a{2,1}", "{err}");
        assert_eq!(lines[2], "     ^^^^^", "{err}");
        let err = error("summary:\\p{Nope}");
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines[0].contains("Unicode property not found"), "{err}");
        assert_eq!(lines[2].find('^'), Some(4 + 8), "{err}");
    }
}
