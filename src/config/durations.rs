//! Config durations: compact humantime strings (`90s`, `5m`, `1h30m`, `2d`), each key with
//! an upper bound, and the serde functions the raw config reads and prints them with.
//!
//! Long forms such as "5 minutes" are refused so that every config reads the same way; the
//! error suggests the compact form. Must not know key names: serde_path_to_error adds them.

use super::defaults;
use super::{ConfigError, key_error};
use serde::{Deserialize, Deserializer, Serializer};
use std::sync::LazyLock;
use std::time::Duration;

/// Units from the largest, as the printer prefers them (in milliseconds).
const UNITS: [(&str, u128); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parse a duration for `key` (no upper bound), naming the key on error.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse(value).map_err(|bad| key_error(key, bad.message(value, None)))
}

/// Why a text is not a usable duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// Not the compact syntax.
    Syntax,
    /// Longer than the key's bound, or than a `Duration` holds at all.
    TooLong,
}

impl Bad {
    /// What a user reads after the key.
    fn message(self, value: &str, max: Option<Duration>) -> String {
        match (self, max) {
            (Bad::Syntax, _) => format!(
                "{value:?} is not a duration; try \"{}\"",
                duration_hint(value)
            ),
            (Bad::TooLong, Some(max)) => {
                format!("{value:?} is too long; the limit is \"{}\"", format(max))
            }
            (Bad::TooLong, None) => format!("{value:?} is too long"),
        }
    }
}

fn parse(value: &str) -> Result<Duration, Bad> {
    static COMPACT: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^(\d+(ms|s|m|h|d|w))+$").expect("a fixed, valid pattern")
    });
    let trimmed = value.trim();
    if !COMPACT.is_match(trimmed) {
        return Err(Bad::Syntax);
    }
    // The syntax is right, so the only failure left is a number too large for a Duration.
    humantime::parse_duration(trimmed).map_err(|_| Bad::TooLong)
}

/// A duration no longer than `max`, or the message saying why not.
fn parse_bounded(value: &str, max: Duration) -> Result<Duration, String> {
    match parse(value) {
        Ok(d) if d <= max => Ok(d),
        Ok(_) => Err(Bad::TooLong.message(value, Some(max))),
        Err(bad) => Err(bad.message(value, Some(max))),
    }
}

/// Guess what the user meant, for the error message: each number with the unit written
/// after it, in the compact syntax ("1m 30s" → "1m30s", "5 minutes" → "5m", "1.5h" →
/// "90m"). Text with no usable number or unit gets an example.
fn duration_hint(value: &str) -> String {
    static PART: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(\d+(?:[.,]\d+)?)\s*([a-zA-Z]*)").expect("a fixed, valid pattern")
    });
    let mut total_ms: f64 = 0.0;
    let mut compact = String::new();
    let mut whole = true;
    for part in PART.captures_iter(value) {
        let number = part[1].replace(',', ".");
        // A bare number is most often meant as minutes ("5" for an interval).
        let Some((unit, ms)) = unit_of(&part[2]) else {
            return "5m".into();
        };
        let Ok(n) = number.parse::<f64>() else {
            return "5m".into();
        };
        whole &= !number.contains('.');
        total_ms += n * ms as f64;
        compact.push_str(&format!("{number}{unit}"));
    }
    if compact.is_empty() {
        return "5m".into();
    }
    if whole {
        return compact;
    }
    // A fraction ("1.5h") in the smallest whole unit; the cast saturates, and `parse`
    // reports a value too long for the key anyway.
    format(Duration::from_millis(total_ms.round() as u64))
}

/// A unit as people write it ("s", "sec", "seconds", "min", "hours", …): its compact
/// name and size in milliseconds. No unit is read as minutes.
fn unit_of(word: &str) -> Option<(&'static str, u128)> {
    let w = word.to_ascii_lowercase();
    let unit = match w.as_str() {
        "" => "m",
        "ms" | "msec" | "msecs" | "millis" => "ms",
        _ if w.starts_with("milli") => "ms",
        _ if w.starts_with("mo") => return None,
        _ if w.starts_with('s') => "s",
        _ if w.starts_with('m') => "m",
        _ if w.starts_with('h') => "h",
        _ if w.starts_with('d') => "d",
        _ if w.starts_with('w') => "w",
        _ => return None,
    };
    UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(name, size)| (*name, *size))
}

/// The compact form `parse` reads back: the largest unit that divides the duration
/// exactly (`90s`, `30d`, `1500ms`). Below a millisecond is dropped: no config value has it.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    // "ms" divides everything, so a unit is always found.
    let (unit, size) = UNITS
        .iter()
        .find(|(_, size)| ms.is_multiple_of(*size))
        .unwrap_or(&("ms", 1));
    format!("{}{unit}", ms / size)
}

/// `deserialize_with` for a duration of at most `MAX` seconds.
pub(super) fn up_to<'de, const MAX: u64, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_bounded(&text, Duration::from_secs(MAX))
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `deserialize_with` for a duration of at least `MIN` and at most `MAX` seconds.
pub(super) fn between<'de, const MIN: u64, const MAX: u64, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    let value = parse_bounded(&text, Duration::from_secs(MAX)).map_err(serde::de::Error::custom)?;
    let min = Duration::from_secs(MIN);
    if value < min {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is too short; the minimum is \"{}\"",
            format(min)
        )));
    }
    Ok(Some(value))
}

/// `deserialize_with` for `every`: between the polite minimum and the bound.
pub(super) fn poll_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    let every = parse_bounded(&text, Duration::from_secs(defaults::max::EVERY))
        .map_err(serde::de::Error::custom)?;
    if every < defaults::MIN_EVERY {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is too short; poll at most every {} to stay polite",
            format(defaults::MIN_EVERY)
        )));
    }
    Ok(Some(every))
}

/// `deserialize_with` for `max_age`: a bounded duration, or "off" (`Some(None)`).
pub(super) fn max_age<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Duration>>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "off" {
        return Ok(Some(None));
    }
    parse_bounded(&text, Duration::from_secs(defaults::max::MAX_AGE))
        .map(|d| Some(Some(d)))
        .map_err(serde::de::Error::custom)
}

/// `serialize_with` for an optional duration.
pub(super) fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => s.serialize_str(&format(*d)),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for `max_age`.
pub(super) fn serialize_max_age<S: Serializer>(
    value: &Option<Option<Duration>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(d)) => s.serialize_str(&format(*d)),
        Some(None) => s.serialize_str("off"),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_parse_and_long_forms_are_refused_with_a_hint() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_secs(172_800)));
        let long = Duration::from_secs(1 << 40);
        assert_eq!(
            parse_bounded("5 minutes", long).unwrap_err(),
            "\"5 minutes\" is not a duration; try \"5m\""
        );
        assert_eq!(
            parse_bounded("2 hours", long).unwrap_err(),
            "\"2 hours\" is not a duration; try \"2h\""
        );
    }

    #[test]
    fn the_hint_keeps_every_part_with_its_unit() {
        let cases = [
            ("1m 30s", "1m30s"),
            ("1 hour 30 minutes", "1h30m"),
            ("90 seconds", "90s"),
            ("1.5h", "90m"),
            ("2 days", "2d"),
            ("500 ms", "500ms"),
            ("5", "5m"),
            ("soon", "5m"),
            ("3 months", "5m"),
        ];
        for (written, hint) in cases {
            assert_eq!(duration_hint(written), hint, "{written}");
            if hint != "5m" || written == "5" {
                assert!(parse(hint).is_ok(), "{hint}");
            }
        }
    }

    #[test]
    fn format_reads_back_as_the_same_duration() {
        for secs in [
            0, 1, 59, 60, 90, 300, 3600, 5400, 5415, 86_400, 172_800, 2_592_000,
        ] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse(&format(d)), Ok(d), "{secs}s → {}", format(d));
        }
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(format(Duration::from_secs(5415)), "5415s");
        assert_eq!(format(Duration::from_secs(520 * 7 * 86_400)), "520w");
    }

    #[test]
    fn values_past_the_bound_are_refused_naming_the_bound() {
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(parse_bounded("7d", week), Ok(week));
        assert_eq!(
            parse_bounded("8d", week).unwrap_err(),
            "\"8d\" is too long; the limit is \"1w\""
        );
        // Too large for a Duration at all: still the bound, not "not a duration".
        assert_eq!(
            parse_bounded("99999999999999999999w", week).unwrap_err(),
            "\"99999999999999999999w\" is too long; the limit is \"1w\""
        );
        assert_eq!(
            parse_bounded("30000000000000w", week).unwrap_err(),
            "\"30000000000000w\" is too long; the limit is \"1w\""
        );
    }
}
