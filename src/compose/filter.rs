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
            return FilterDecision::Reject {
                reason: format!("matched no include pattern ({patterns:?})"),
            };
        }
        FilterDecision::Accept
    }
}

fn compile(pattern: &str, key: &str) -> Result<Pattern, ComposeError> {
    let (field, regex) = match pattern.split_once(':') {
        Some(("title", rest)) => (Some(Field::Title), rest),
        Some(("summary", rest)) => (Some(Field::Summary), rest),
        Some(("category", rest)) => (Some(Field::Category), rest),
        Some(("author", rest)) => (Some(Field::Author), rest),
        Some(("any", rest)) => (None, rest),
        _ => (None, pattern),
    };
    let regex = RegexBuilder::new(regex)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| ComposeError::Config {
            key: key.to_owned(),
            // The regex error is multi-line (it draws a caret); one line reads better in logs.
            message: format!(
                "invalid regex {pattern:?}: {}",
                e.to_string().replace('\n', " ")
            ),
        })?;
    Ok(Pattern {
        field,
        regex,
        source: pattern.to_owned(),
        key: key.to_owned(),
    })
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
