//! The post's topic tag and in-text hashtags.
//!
//! Owns: [`TopicTag`] (1–50 bytes, no `.` or `&`, one line: threads-api.md §3.3),
//! choosing the tag for an item from the feed's settings, and turning a category into a
//! `#CamelCaseHashtag` for templates.
//!
//! Precedence for the topic tag: `topic_map` (the item's categories in feed order, matched
//! case-insensitively; the first one that maps wins) → the first usable category when
//! `topic_from_categories = true` → the fixed `topic_tag` → none. The fixed tag is the
//! fallback so a feed can map the categories it knows and still tag everything else.
//!
//! The 50 is counted in UTF-8 bytes, like the text limit (the API says "characters"
//! and has been seen counting bytes for text); 50 bytes is still 16 CJK characters.

use super::ComposeError;
use super::text::LimitError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use unicode_segmentation::UnicodeSegmentation;

/// Longest topic tag, in UTF-8 bytes.
pub const MAX_TOPIC_BYTES: usize = 50;

/// A topic tag the API accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicTag(String);

impl TopicTag {
    /// Check a tag as given (e.g. in the config): after trimming and dropping leading
    /// `#`, it must be 1–50 bytes, one line, without `.` or `&`.
    pub fn new(tag: &str) -> Result<Self, LimitError> {
        let err = |reason| LimitError::TopicTag {
            tag: tag.to_owned(),
            reason,
        };
        let t = tag.trim().trim_start_matches('#').trim();
        if t.is_empty() {
            return Err(err("is empty"));
        }
        if t.contains(['.', '&']) {
            return Err(err("must not contain '.' or '&'"));
        }
        if t.chars().any(char::is_control) {
            return Err(err("must be one line without control characters"));
        }
        if t.len() > MAX_TOPIC_BYTES {
            return Err(err("is longer than 50 bytes"));
        }
        Ok(Self(t.to_owned()))
    }

    /// Make a tag out of any text (a feed category): drop `.`, `&`, leading `#` and
    /// control characters, collapse whitespace, cut to 50 bytes on a grapheme boundary.
    /// `None` if nothing is left.
    pub fn sanitize(raw: &str) -> Option<Self> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, '.' | '&') && !c.is_control())
            .collect();
        let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        let t = collapsed.trim_start_matches('#').trim();
        let mut end = 0;
        for (i, g) in t.grapheme_indices(true) {
            if i + g.len() > MAX_TOPIC_BYTES {
                break;
            }
            end = i + g.len();
        }
        let t = t[..end].trim_end();
        (!t.is_empty()).then(|| Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for TopicTag {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicTag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TopicTag {
    type Error = LimitError;
    fn try_from(s: String) -> Result<Self, LimitError> {
        Self::new(&s)
    }
}

impl From<TopicTag> for String {
    fn from(t: TopicTag) -> String {
        t.0
    }
}

/// A feed's validated topic settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicRules {
    /// Normalised category → tag.
    map: HashMap<String, TopicTag>,
    from_categories: bool,
    fixed: Option<TopicTag>,
}

impl TopicRules {
    pub(crate) fn new(
        map: &BTreeMap<String, String>,
        from_categories: bool,
        fixed: Option<&str>,
        key: &str,
    ) -> Result<Self, ComposeError> {
        let mut rules = TopicRules {
            from_categories,
            ..TopicRules::default()
        };
        for (category, tag) in map {
            let tag = TopicTag::new(tag).map_err(|e| ComposeError::Config {
                key: format!("{key}.topic_map.{category:?}"),
                message: e.to_string(),
            })?;
            rules.map.insert(normalise_category(category), tag);
        }
        if let Some(fixed) = fixed {
            rules.fixed = Some(TopicTag::new(fixed).map_err(|e| ComposeError::Config {
                key: format!("{key}.topic_tag"),
                message: e.to_string(),
            })?);
        }
        Ok(rules)
    }

    /// The tag for an item with these (plain-text) categories.
    pub(crate) fn choose(&self, categories: &[String]) -> Option<TopicTag> {
        if !self.map.is_empty()
            && let Some(tag) = categories
                .iter()
                .find_map(|c| self.map.get(&normalise_category(c)))
        {
            return Some(tag.clone());
        }
        if self.from_categories
            && let Some(tag) = categories.iter().find_map(|c| TopicTag::sanitize(c))
        {
            return Some(tag);
        }
        self.fixed.clone()
    }
}

/// Categories compare case-insensitively, with whitespace collapsed and entities decoded.
fn normalise_category(c: &str) -> String {
    super::html::html_to_line(c).to_lowercase()
}

/// `#CamelCase` hashtag from a category: "climate change" → `#ClimateChange`,
/// "COVID-19" → `#COVID19`, "Women’s rights" → `#WomensRights`, "iPhone" → `#iPhone`.
/// Punctuation is dropped (an in-text tag would end at it, §3.3); letters of every
/// script and their combining marks are kept. Empty when nothing usable is left or the
/// result is a bare number (`#1` is not a tag).
pub fn hashtag(category: &str) -> String {
    let no_apostrophes: String = category
        .chars()
        .filter(|c| !matches!(c, '\'' | '’' | 'ʼ'))
        .collect();
    let words: Vec<&str> = no_apostrophes
        .split(|c: char| !is_tag_char(c))
        .filter(|w| !w.is_empty())
        .collect();
    let mut body = String::new();
    for word in &words {
        let mut chars = word.chars();
        if words.len() > 1
            && let Some(first) = chars.next()
        {
            body.extend(first.to_uppercase());
            body.push_str(chars.as_str());
        } else {
            body.push_str(word);
        }
    }
    if body.is_empty() || body.chars().all(|c| c.is_ascii_digit()) {
        return String::new();
    }
    let mut end = 0;
    for (i, g) in body.grapheme_indices(true) {
        if i + g.len() > MAX_TOPIC_BYTES {
            break;
        }
        end = i + g.len();
    }
    format!("#{}", &body[..end])
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || unicode_normalization::char::is_combining_mark(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_tags() {
        assert_eq!(TopicTag::new(" #News ").unwrap().as_str(), "News");
        assert!(TopicTag::new("Arts & Culture").is_err());
        assert!(TopicTag::new("Node.js").is_err());
        assert!(TopicTag::new("").is_err());
        assert!(TopicTag::new(&"x".repeat(51)).is_err());
        assert!(TopicTag::new(&"x".repeat(50)).is_ok());
    }

    #[test]
    fn sanitized_tags() {
        assert_eq!(
            TopicTag::sanitize("Arts & Culture").unwrap().as_str(),
            "Arts Culture"
        );
        assert_eq!(TopicTag::sanitize("Node.js").unwrap().as_str(), "Nodejs");
        assert_eq!(TopicTag::sanitize(" . & "), None);
        let long = "🇨🇭".repeat(10); // 80 bytes: six flags fit in 50
        assert_eq!(TopicTag::sanitize(&long).unwrap().as_str(), "🇨🇭".repeat(6));
    }

    #[test]
    fn hashtags() {
        assert_eq!(hashtag("climate change"), "#ClimateChange");
        assert_eq!(hashtag("COVID-19"), "#COVID19");
        assert_eq!(hashtag("Women’s rights"), "#WomensRights");
        assert_eq!(hashtag("iPhone"), "#iPhone");
        assert_eq!(hashtag("2024"), "");
        assert_eq!(hashtag("!!!"), "");
        assert_eq!(hashtag("ニュース 速報"), "#ニュース速報");
        assert_eq!(hashtag("समाचार"), "#समाचार");
    }

    #[test]
    fn precedence() {
        let map = BTreeMap::from([("World News".to_owned(), "World".to_owned())]);
        let rules = TopicRules::new(&map, true, Some("News"), "feeds[0]").unwrap();
        let cats = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rules
                .choose(&cats(&["Sport", "world  news"]))
                .unwrap()
                .as_str(),
            "World"
        );
        assert_eq!(rules.choose(&cats(&["Sport"])).unwrap().as_str(), "Sport");
        assert_eq!(rules.choose(&cats(&[])).unwrap().as_str(), "News");
        let err = TopicRules::new(
            &BTreeMap::from([("x".to_owned(), "a.b".to_owned())]),
            false,
            None,
            "feeds[2]",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("feeds[2].topic_map.\"x\": "),
            "{err}"
        );
    }
}
