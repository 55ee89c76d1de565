//! How values read to a person: an instant as RFC 3339 with its zone and how far it is
//! from now ("2026-07-01T10:00:00+02:00 (in 57 days)"), a duration in the one unit that
//! reads at a glance ("60 s", "12 min", "57 days"), the first words of a post, and a name
//! quoted as a shell word so a suggested command can be pasted as it is.
//!
//! Used by `status`, the commands and the log lines people read. Must not be used for
//! what a program reads back: JSON keeps unix seconds, and metrics keep numbers.

use std::time::Duration;

/// `unix` (seconds) as RFC 3339 in the local zone, with its offset:
/// `2026-07-01T10:00:00+02:00`; `-` for an instant chrono cannot represent.
pub fn timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(
        || "-".to_string(),
        |t| {
            t.with_timezone(&chrono::Local)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        },
    )
}

/// How far `unix` is from `now`: "in 57 days", "3 min ago", "now".
pub fn relative(unix: i64, now: i64) -> String {
    let delta = unix.saturating_sub(now);
    if delta == 0 {
        return "now".to_string();
    }
    let span = span(Duration::from_secs(delta.unsigned_abs()));
    if delta > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// [`timestamp`] and [`relative`]: `2026-07-01T10:00:00+02:00 (in 57 days)`.
pub fn when(unix: i64, now: i64) -> String {
    format!("{} ({})", timestamp(unix), relative(unix, now))
}

/// [`when`] of an optional instant; `-` when there is none.
pub fn when_opt(unix: Option<i64>, now: i64) -> String {
    unix.map_or_else(|| "-".to_string(), |t| when(t, now))
}

/// A duration in one unit, rounded: milliseconds below a second, seconds up to 90 s, then minutes up to 90 min, hours
/// up to 36 h, then days. "60 s", "12 min", "5 h", "57 days".
pub fn span(d: Duration) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let s = d.as_secs();
    let rounded = |unit: u64| (s + unit / 2) / unit;
    if s == 0 && !d.is_zero() {
        format!("{} ms", d.as_millis())
    } else if s < 90 {
        format!("{s} s")
    } else if s < 90 * MIN {
        format!("{} min", rounded(MIN))
    } else if s < 36 * HOUR {
        format!("{} h", rounded(HOUR))
    } else {
        let days = rounded(DAY);
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    }
}

/// The first words of a post: its first non-empty line, cut at a word boundary to at most
/// `max` characters, with an ellipsis when something was cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first.chars().count() <= max {
        return first.to_string();
    }
    let cut: String = first.chars().take(max.saturating_sub(1)).collect();
    // Back to the last word boundary, unless that leaves too little.
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i >= cut.len() / 2 => cut[..i].trim_end(),
        _ => cut.as_str(),
    };
    format!("{at_word}…")
}

/// `word` as one shell word: as it is when that is safe, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_one_unit() {
        assert_eq!(span(Duration::from_secs(0)), "0 s");
        assert_eq!(span(Duration::from_millis(250)), "250 ms");
        assert_eq!(span(Duration::from_secs(60)), "60 s");
        assert_eq!(span(Duration::from_secs(89)), "89 s");
        assert_eq!(span(Duration::from_secs(90)), "2 min");
        assert_eq!(span(Duration::from_secs(12 * 60 + 10)), "12 min");
        assert_eq!(span(Duration::from_secs(5 * 3600)), "5 h");
        assert_eq!(span(Duration::from_secs(36 * 3600)), "2 days");
        assert_eq!(span(Duration::from_secs(57 * 86_400 - 100)), "57 days");
    }

    #[test]
    fn relative_says_which_way() {
        let now = 1_800_000_000;
        assert_eq!(relative(now + 57 * 86_400, now), "in 57 days");
        assert_eq!(relative(now - 180, now), "3 min ago");
        assert_eq!(relative(now, now), "now");
    }

    #[test]
    fn timestamps_are_rfc3339_with_a_zone() {
        let t = timestamp(1_800_000_000);
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        assert_eq!(parsed.timestamp(), 1_800_000_000);
        // An offset, never a bare local time.
        assert!(t.ends_with('Z') || t[19..].starts_with(['+', '-']), "{t}");
        assert_eq!(timestamp(i64::MAX), "-");
        let w = when(1_800_000_000 + 60, 1_800_000_000);
        assert!(w.ends_with(" (in 60 s)"), "{w}");
    }

    #[test]
    fn excerpts_are_the_first_words() {
        assert_eq!(excerpt("Short title", 40), "Short title");
        assert_eq!(excerpt("Title\n\nStandfirst here", 40), "Title");
        assert_eq!(
            excerpt("Storm closes the harbour for the third day running", 30),
            "Storm closes the harbour for…"
        );
        assert_eq!(excerpt("\n\n", 10), "");
        // No word boundary in reach: cut inside the word, on a char boundary.
        assert_eq!(excerpt("Ünïcödéwordwithoutspaces", 8), "Ünïcödé…");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("world"), "world");
        assert_eq!(shell_word("https://e.org/rss.xml"), "https://e.org/rss.xml");
        assert_eq!(shell_word("BBC World"), "'BBC World'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("a?b&c"), "'a?b&c'");
    }
}
