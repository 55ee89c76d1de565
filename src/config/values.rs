//! The serde functions of every config value that is not a duration or a secret: sizes,
//! counts, caps, URLs, addresses, cron expressions, posting windows (`hours`, `days`) and
//! the choices (`backlog`, `media`, `image_fallback`, `reply_control`, `timezone`,
//! `overflow`, `long_text`, `link_in`, `on_update`), each read into its own type.
//!
//! Errors say what is wrong with the value and suggest a fix; serde_path_to_error adds the
//! key. Must not know key names or cross-key rules (those are `validate`'s).

use super::defaults;
use super::{Backlog, FeedSchedule, ReleaseOrder};
use crate::compose::{ImageFallback, LinkIn, LongText, MediaMode, ReplyControl};
use crate::corrections::OnUpdate;
use crate::publish::caps::Overflow;
use crate::publish::window::{Days, Hours};
use chrono_tz::Tz;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use std::net::SocketAddr;
use std::str::FromStr;
use url::Url;

/// A value written as one string from a fixed set (or a small grammar).
pub(super) trait Choice: Sized {
    /// The value, or what the user reads after the key.
    fn from_config(text: &str) -> Result<Self, String>;
    /// The text `from_config` reads back.
    fn to_config(&self) -> String;
}

impl Choice for Backlog {
    fn from_config(text: &str) -> Result<Self, String> {
        let v = text.trim();
        match v {
            "skip" => Ok(Backlog::Skip),
            "all" => Ok(Backlog::All),
            _ => v
                .strip_prefix("latest:")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .map(Backlog::Latest)
                .ok_or_else(|| {
                    format!(
                        "{text:?} is not a backlog policy; use \"skip\", \"all\" or \"latest:N\""
                    )
                }),
        }
    }
    fn to_config(&self) -> String {
        self.to_string()
    }
}

impl Choice for ReleaseOrder {
    fn from_config(text: &str) -> Result<Self, String> {
        match text.trim() {
            "oldest" => Ok(ReleaseOrder::Oldest),
            "newest" => Ok(ReleaseOrder::Newest),
            _ => Err(format!("{text:?} is not \"oldest\" or \"newest\"")),
        }
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for MediaMode {
    fn from_config(text: &str) -> Result<Self, String> {
        MediaMode::parse(text).ok_or_else(|| format!("{text:?} is not \"text\" or \"image\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for ImageFallback {
    fn from_config(text: &str) -> Result<Self, String> {
        ImageFallback::parse(text).ok_or_else(|| format!("{text:?} is not \"text\" or \"none\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for ReplyControl {
    fn from_config(text: &str) -> Result<Self, String> {
        ReplyControl::from_str(text).map_err(|e| e.to_string())
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for Tz {
    fn from_config(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" => Ok(Tz::UTC),
            name => name.parse().map_err(|_| {
                format!("{name:?} is not an IANA time zone name (like \"Europe/Berlin\")")
            }),
        }
    }
    fn to_config(&self) -> String {
        self.name().to_owned()
    }
}

impl Choice for Hours {
    fn from_config(text: &str) -> Result<Self, String> {
        Hours::parse(text)
    }
    fn to_config(&self) -> String {
        self.to_string()
    }
}

impl Choice for Overflow {
    fn from_config(text: &str) -> Result<Self, String> {
        Overflow::parse(text).ok_or_else(|| format!("{text:?} is not \"wait\" or \"drop\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for LongText {
    fn from_config(text: &str) -> Result<Self, String> {
        LongText::parse(text)
            .ok_or_else(|| format!("{text:?} is not \"truncate\" or \"attachment\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for LinkIn {
    fn from_config(text: &str) -> Result<Self, String> {
        LinkIn::parse(text).ok_or_else(|| format!("{text:?} is not \"card\" or \"reply\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Choice for OnUpdate {
    fn from_config(text: &str) -> Result<Self, String> {
        OnUpdate::parse(text).ok_or_else(|| format!("{text:?} is not \"ignore\" or \"reply\""))
    }
    fn to_config(&self) -> String {
        self.as_str().to_owned()
    }
}

/// `deserialize_with` for `days`: a list of day names (`["mon", "fri"]`).
pub(super) fn days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Days>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Days::parse(&names).map(Some).map_err(D::Error::custom)
}

/// `serialize_with` for `days`.
pub(super) fn serialize_days<S: Serializer>(value: &Option<Days>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(days) => s.collect_seq(days.names()),
        None => s.serialize_none(),
    }
}

/// `deserialize_with` for a feed's cap (`max_per_hour`, `max_per_day`): 1 to the API's
/// daily limit. 0 is an error, not "no cap": leaving the key out is.
pub(super) fn cap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = i64::deserialize(d)?;
    match u32::try_from(n) {
        Ok(v) if (1..=defaults::MAX_POSTS_PER_DAY).contains(&n) => Ok(Some(v)),
        _ if n < 1 => Err(D::Error::custom(format!(
            "{n} is not a cap: give 1 to {} posts, or leave the key out for no cap",
            defaults::MAX_POSTS_PER_DAY
        ))),
        _ => Err(D::Error::custom(format!(
            "{n} is above the API's own limit of {} posts a day",
            defaults::MAX_POSTS_PER_DAY
        ))),
    }
}

/// `deserialize_with` for a [`Choice`].
pub(super) fn choice<'de, T: Choice, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    let text = String::deserialize(d)?;
    T::from_config(&text).map(Some).map_err(D::Error::custom)
}

/// `serialize_with` for a [`Choice`].
pub(super) fn serialize_choice<T: Choice, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&v.to_config()),
        None => s.serialize_none(),
    }
}

/// `deserialize_with` for `schedule`: cron with seconds (6-7 fields) as the `cron` crate
/// wants, or the classic 5 fields. The expression is kept as written.
pub(super) fn cron<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FeedSchedule>, D::Error> {
    let expression = String::deserialize(d)?;
    parse_cron(&expression)
        .map(|schedule| {
            Some(FeedSchedule::Cron {
                expression,
                schedule: Box::new(schedule),
            })
        })
        .map_err(D::Error::custom)
}

/// The names of a full (6 or 7 field) expression's fields.
const CRON_FIELDS: [&str; 7] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

/// A cron expression, or one line saying what is wrong with it: the `cron` crate's own
/// error draws a caret under the expression on a second line, which a log line or a
/// one-line config error cannot show.
fn parse_cron(expression: &str) -> Result<cron::Schedule, String> {
    let fields = expression.split_whitespace().count();
    let classic = fields == 5;
    let example = if classic || fields < 5 {
        "\"*/5 * * * *\" (minute hour day-of-month month day-of-week)"
    } else {
        "\"0 */5 * * * *\" (second minute hour day-of-month month day-of-week)"
    };
    if !(5..=7).contains(&fields) {
        return Err(format!(
            "{expression:?} is not a cron expression: it has {fields} field(s), not 5 (or 6 \
             with seconds first); try {example}"
        ));
    }
    let full = if classic {
        format!("0 {expression}")
    } else {
        expression.to_string()
    };
    let schedule = cron::Schedule::from_str(&full).map_err(|e| {
        let why = cron_reason(&full, &e.to_string());
        format!("{expression:?} is not a cron expression: {why}; try {example}")
    })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!(
            "{expression:?} never comes (a date that does not exist, or a year in the past); \
             try {example}"
        ));
    }
    Ok(schedule)
}

/// What the `cron` crate's multi-line error says, as one phrase: its message when it has
/// one, else the field its caret points at.
fn cron_reason(full: &str, error: &str) -> String {
    let mut caret = None;
    let mut message = Vec::new();
    for line in error.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || line == full || trimmed == full.trim() {
            continue;
        }
        if trimmed.chars().all(|c| c == '^') {
            caret = line.find('^');
            continue;
        }
        message.push(trimmed.trim_end_matches('.').to_string());
    }
    if !message.is_empty() {
        return message.join("; ");
    }
    let Some(at) = caret else {
        return "the expression is not valid".into();
    };
    // The field the caret points into (or the last one, when it points past the end).
    let mut field = 0;
    let mut text = "";
    for (i, (start, word)) in field_spans(full).enumerate() {
        if start <= at {
            field = i;
            text = word;
        }
    }
    let name = CRON_FIELDS.get(field).copied().unwrap_or("last");
    format!("the {name} field {text:?} is not valid")
}

/// Each whitespace-separated field of `text` with its byte offset.
fn field_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace().map(move |word| {
        let start = word.as_ptr() as usize - text.as_ptr() as usize;
        (start, word)
    })
}

/// `serialize_with` for `schedule` (an `every` schedule is printed as `every`).
pub(super) fn serialize_cron<S: Serializer>(
    value: &Option<FeedSchedule>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(FeedSchedule::Cron { expression, .. }) => s.serialize_str(expression),
        _ => s.serialize_none(),
    }
}

/// `deserialize_with` for `http.listen`: an address, or "off" (`Some(None)`).
pub(super) fn listen<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<SocketAddr>>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "off" {
        return Ok(Some(None));
    }
    text.trim().parse().map(|a| Some(Some(a))).map_err(|_| {
        D::Error::custom(format!(
            "{text:?} is not an address; try \"{}\" or \"off\"",
            defaults::LISTEN
        ))
    })
}

/// `serialize_with` for `http.listen`.
pub(super) fn serialize_listen<S: Serializer>(
    value: &Option<Option<SocketAddr>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(addr)) => s.serialize_str(&addr.to_string()),
        Some(None) => s.serialize_str("off"),
        None => s.serialize_none(),
    }
}

/// `deserialize_with` for an http(s) URL with a host.
pub(super) fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(d)?;
    parse_http_url(&text).map(Some).map_err(D::Error::custom)
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("{value:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{value:?} is not an http(s) URL"));
    }
    Ok(url)
}

/// `serialize_with` for a URL.
pub(super) fn serialize_url<S: Serializer>(value: &Option<Url>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => s.serialize_str(url.as_str()),
        None => s.serialize_none(),
    }
}

/// `deserialize_with` for the numeric Threads app id.
pub(super) fn app_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = String::deserialize(d)?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(D::Error::custom(format!(
            "{id:?} is not an app id; use the numeric Threads App ID from App Dashboard > App settings > Basic"
        )));
    }
    Ok(Some(id))
}

/// `deserialize_with` for a count that must be at least 1.
pub(super) fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(D::Error::custom(format!("{n} must be at least 1")));
    }
    usize::try_from(n)
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{n} is too large")))
}

/// `deserialize_with` for `max_posts_per_day`: 1 to the API's own limit.
pub(super) fn posts_per_day<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = i64::deserialize(d)?;
    match u32::try_from(n) {
        Ok(v) if (1..=defaults::MAX_POSTS_PER_DAY).contains(&n) => Ok(Some(v)),
        _ => Err(D::Error::custom(format!(
            "{n} must be between 1 and {} (the API's own limit)",
            defaults::MAX_POSTS_PER_DAY
        ))),
    }
}

/// `deserialize_with` for a size: `10485760`, `"10MiB"`, `"512 KB"`.
pub(super) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    parse_size(&value).map(Some).map_err(D::Error::custom)
}

/// `serialize_with` for a size: a number of bytes.
pub(super) fn serialize_size<S: Serializer>(
    value: &Option<usize>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => s.serialize_u64(u64::try_from(*n).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

fn parse_size(value: &toml::Value) -> Result<usize, String> {
    let bad = || format!("{value} is not a size; try \"10MiB\" or a number of bytes");
    match value {
        toml::Value::Integer(n) if *n > 0 => usize::try_from(*n).map_err(|_| bad()),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: usize = num.parse().map_err(|_| bad())?;
            let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "kb" => 1000,
                "kib" | "k" => 1024,
                "mb" => 1000 * 1000,
                "mib" | "m" => 1024 * 1024,
                "gb" => 1000 * 1000 * 1000,
                "gib" | "g" => 1024 * 1024 * 1024,
                _ => return Err(bad()),
            };
            n.checked_mul(mult).filter(|&b| b > 0).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        let v = |s: &str| toml::Value::String(s.into());
        assert_eq!(parse_size(&v("10MiB")).unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size(&v("512 KB")).unwrap(), 512_000);
        assert_eq!(parse_size(&toml::Value::Integer(42)).unwrap(), 42);
        assert!(parse_size(&v("lots")).is_err());
        assert!(parse_size(&toml::Value::Integer(0)).is_err());
    }

    #[test]
    fn choices_read_back_what_they_print() {
        for b in [Backlog::Skip, Backlog::All, Backlog::Latest(3)] {
            assert_eq!(Backlog::from_config(&b.to_config()), Ok(b));
        }
        for o in [ReleaseOrder::Oldest, ReleaseOrder::Newest] {
            assert_eq!(ReleaseOrder::from_config(&o.to_config()), Ok(o));
        }
        for m in [MediaMode::Text, MediaMode::Image] {
            assert_eq!(MediaMode::from_config(&m.to_config()), Ok(m));
        }
        for f in [ImageFallback::Text, ImageFallback::None] {
            assert_eq!(ImageFallback::from_config(&f.to_config()), Ok(f));
        }
        for r in ReplyControl::ALL {
            assert_eq!(ReplyControl::from_config(&r.to_config()), Ok(r));
        }
        for o in [Overflow::Wait, Overflow::Drop] {
            assert_eq!(Overflow::from_config(&o.to_config()), Ok(o));
        }
        for l in [LongText::Truncate, LongText::Attachment] {
            assert_eq!(LongText::from_config(&l.to_config()), Ok(l));
        }
        for l in [LinkIn::Card, LinkIn::Reply] {
            assert_eq!(LinkIn::from_config(&l.to_config()), Ok(l));
        }
        let h = Hours::from_config("22:00-02:00").unwrap();
        assert_eq!(Hours::from_config(&h.to_config()), Ok(h));
        let berlin = Tz::from_config("Europe/Berlin").unwrap();
        assert_eq!(Tz::from_config(&berlin.to_config()), Ok(berlin));
    }

    #[test]
    fn cron_errors_are_one_line_naming_the_field() {
        let cases = [
            ("* * * *", "it has 4 field(s), not 5"),
            ("*/x * * * *", "the minute field \"*/x\" is not valid"),
            ("61 * * * *", "Minutes must be less than"),
            ("0 0 * * mon-fr", "'fr' is not a valid day of the week"),
            ("0 0 30 2 *", "never comes"),
            ("1 2 3 4 5 6 7 8", "it has 8 field(s)"),
        ];
        for (expression, expected) in cases {
            let err = parse_cron(expression).unwrap_err();
            assert!(!err.contains('\n'), "{expression}: {err}");
            assert!(!err.contains('^'), "{expression}: {err}");
            assert!(err.contains(expected), "{expression}: {err}");
            assert!(err.starts_with(&format!("{expression:?} ")), "{err}");
        }
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 */5 * * * *").is_ok());
    }
}
