//! Posting windows: the hours (and days) in which a feed's or an account's posts may go
//! out, in a time zone, and when a closed window opens next.
//!
//! `hours = "06:30-23:00"` is read in the window's zone (the feed's `timezone`); a window
//! whose end is before its start runs over midnight (`"22:00-02:00"`), and belongs to the
//! day it starts on, so `days = ["fri"]` with `"22:00-02:00"` is Friday night until
//! Saturday 02:00. `days` alone is a window of whole days.
//!
//! Wall-clock time decides, across daylight saving changes: a start that does not exist
//! on the day clocks go forward (02:30 in a 02:00→03:00 gap) opens the window when the
//! clocks jump; a start that exists twice when they go back opens it at the first one (and
//! again at the second, if the window closed in between). [`PostingWindow::is_open`] and
//! [`PostingWindow::next_open`] agree minute for minute; the tests walk whole DST days.
//!
//! This module decides only: no store, no API, no clock of its own (`now` is an argument).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::fmt;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// `HH:MM-HH:MM`: minutes after local midnight. `end` may be `24:00`; `start != end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    start: u16,
    end: u16,
}

impl Hours {
    /// Reads `"06:30-23:00"`. The error says what is wrong, for the config to prefix with
    /// the key.
    pub fn parse(text: &str) -> Result<Hours, String> {
        let bad = |why: String| {
            format!("{text:?} is not a time window ({why}); write it like \"06:30-23:00\"")
        };
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| bad("no '-' between start and end".into()))?;
        let start = clock(start.trim(), false).map_err(&bad)?;
        let end = clock(end.trim(), true).map_err(&bad)?;
        if start == end {
            return Err(bad(
                "start and end are the same; leave `hours` out for a window of whole days".into(),
            ));
        }
        Ok(Hours { start, end })
    }

    /// Minutes after midnight at which the window opens.
    pub fn start(self) -> u16 {
        self.start
    }

    /// Runs past midnight into the next day.
    pub fn over_midnight(self) -> bool {
        self.end < self.start
    }
}

/// `"06:30"` → 390. `24:00` only as an end.
fn clock(text: &str, is_end: bool) -> Result<u16, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not HH:MM"))?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(format!("{text:?} is not HH:MM"));
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
    );
    if m > 59 {
        return Err(format!("{m} is not a minute (00-59)"));
    }
    match h {
        0..=23 => Ok(h * 60 + m),
        24 if is_end && m == 0 => Ok(MINUTES_PER_DAY),
        _ if is_end => Err(format!("{h} is not an hour (00-23, or 24:00 as the end)")),
        _ => Err(format!("{h} is not an hour (00-23)")),
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Days {
    pub const ALL: Days = Days(0b111_1111);

    /// `["mon", "tue"]`; full names and any case are accepted. An empty list is an error
    /// (a window that never opens would keep every post waiting forever).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Days, String> {
        if names.is_empty() {
            return Err(
                "is empty: name at least one day, or leave `days` out for every day".into(),
            );
        }
        let mut bits = 0u8;
        for name in names {
            let name = name.as_ref();
            let lower = name.trim().to_ascii_lowercase();
            let i = DAY_NAMES
                .iter()
                .position(|d| *d == lower)
                .or_else(|| FULL_NAMES.iter().position(|d| *d == lower))
                .ok_or_else(|| format!("{name:?} is not a day; use {}", DAY_NAMES.join(", ")))?;
            bits |= 1 << i;
        }
        Ok(Days(bits))
    }

    pub fn contains(self, day: chrono::Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// The short names, Monday first.
    pub fn names(self) -> Vec<&'static str> {
        DAY_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, d)| *d)
            .collect()
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// When posts may go out: `hours` (all day when `None`) on `days`, in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostingWindow {
    pub hours: Option<Hours>,
    pub days: Days,
    pub tz: Tz,
}

impl PostingWindow {
    /// A window from the config's keys; `None` when neither is set (always open).
    pub fn new(hours: Option<Hours>, days: Option<Days>, tz: Tz) -> Option<PostingWindow> {
        if hours.is_none() && days.is_none() {
            return None;
        }
        Some(PostingWindow {
            hours,
            days: days.unwrap_or(Days::ALL),
            tz,
        })
    }

    /// Whether a post may go out at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
        let today = local.date_naive();
        let Some(hours) = self.hours else {
            return self.days.contains(today.weekday());
        };
        if hours.over_midnight() {
            let yesterday = today.pred_opt().unwrap_or(today);
            (minute >= hours.start && self.days.contains(today.weekday()))
                || (minute < hours.end && self.days.contains(yesterday.weekday()))
        } else {
            minute >= hours.start && minute < hours.end && self.days.contains(today.weekday())
        }
    }

    /// `at` when the window is open then; otherwise the first instant after `at` at which
    /// it opens. Every window opens at least once a week, so this always exists.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(at) {
            return at;
        }
        let start = self.hours.map_or(0, Hours::start);
        let today = at.with_timezone(&self.tz).date_naive();
        // The next local start: a window starting yesterday may not have opened yet only
        // in odd zones, so look from yesterday to a week and a day ahead.
        let next_start = (-1..=8)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .filter(|day| self.days.contains(day.weekday()))
            .flat_map(|day| self.instants_of(day, start))
            .filter(|t| *t > at)
            .min();
        let Some(next_start) = next_start else {
            // Unreachable for a valid zone; wait a day rather than never.
            return at + Duration::days(1);
        };
        // A change of the clocks between now and then can open the window itself (local
        // time jumping back into it), without passing its start.
        match self.clock_change_between(at, next_start) {
            Some(change) if self.is_open(change) => change,
            _ => next_start,
        }
    }

    /// The instants at which local time on `day` reads `minute`: one, two (clocks going
    /// back) or, in a gap (clocks going forward), the first instant after it.
    fn instants_of(&self, day: NaiveDate, minute: u16) -> Vec<DateTime<Utc>> {
        let time = |m: u16| NaiveTime::from_hms_opt(u32::from(m / 60), u32::from(m % 60), 0);
        // A gap is at most a few hours; look forward minute by minute until time exists.
        for skip in 0..=240u16 {
            let m = minute + skip;
            let (date, m) = if m >= MINUTES_PER_DAY {
                match day.succ_opt() {
                    Some(next) => (next, m - MINUTES_PER_DAY),
                    None => return Vec::new(),
                }
            } else {
                (day, m)
            };
            let Some(t) = time(m) else { continue };
            match self.tz.from_local_datetime(&date.and_time(t)) {
                chrono::LocalResult::Single(t) => return vec![t.with_timezone(&Utc)],
                chrono::LocalResult::Ambiguous(first, second) => {
                    return vec![first.with_timezone(&Utc), second.with_timezone(&Utc)];
                }
                chrono::LocalResult::None => {}
            }
        }
        Vec::new()
    }

    /// The first instant in `(from, to]` with `to`'s UTC offset, when the offset differs
    /// at `from`: the moment the clocks changed. (At most one change in nine days.)
    fn clock_change_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        use chrono::Offset;
        let offset = |t: DateTime<Utc>| t.with_timezone(&self.tz).offset().fix();
        let target = offset(to);
        if offset(from) == target {
            return None;
        }
        // Invariant: `lo` has another offset, `hi` has the target's.
        let (mut lo, mut hi) = (from.timestamp(), to.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let at = DateTime::from_timestamp(mid, 0)?;
            if offset(at) == target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        DateTime::from_timestamp(hi, 0)
    }
}

impl fmt::Display for PostingWindow {
    /// `06:30-23:00 on mon,tue (Europe/Berlin)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hours {
            Some(h) => write!(f, "{h}")?,
            None => f.write_str("all day")?,
        }
        if self.days != Days::ALL {
            write!(f, " on {}", self.days)?;
        }
        write!(f, " ({})", self.tz.name())
    }
}

/// The first instant at or after `at` when every window is open, looking two weeks
/// ahead: `None` when they never overlap in that time (a feed's window outside its
/// account's, say).
pub fn next_open_all(windows: &[PostingWindow], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let limit = at + Duration::days(15);
    let mut t = at;
    while t <= limit {
        let mut moved = false;
        for w in windows {
            let open = w.next_open(t);
            if open != t {
                t = open;
                moved = true;
            }
        }
        if !moved {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn window(hours: &str, days: Option<&[&str]>, tz: &str) -> PostingWindow {
        PostingWindow::new(
            Some(Hours::parse(hours).unwrap()),
            days.map(|d| Days::parse(d).unwrap()),
            tz.parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn hours_parse_and_print() {
        let h = Hours::parse("06:30-23:00").unwrap();
        assert_eq!(h.to_string(), "06:30-23:00");
        assert!(!h.over_midnight());
        assert!(Hours::parse("22:00-02:00").unwrap().over_midnight());
        assert_eq!(
            Hours::parse(" 0:00 - 24:00 ").unwrap().to_string(),
            "00:00-24:00"
        );
        for (bad, says) in [
            ("25:00-07:00", "25 is not an hour"),
            ("06:60-07:00", "60 is not a minute"),
            ("0630-2300", "\"0630\" is not HH:MM"),
            ("06:30 to 23:00", "no '-'"),
            ("06-23", "is not HH:MM"),
            ("24:00-06:00", "24 is not an hour"),
            ("07:00-07:00", "the same"),
            ("06:30-24:30", "24 is not an hour"),
        ] {
            let err = Hours::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains("06:30-23:00"), "{bad}: {err}");
        }
    }

    #[test]
    fn days_parse() {
        let d = Days::parse(&["Mon", "friday", "sun"]).unwrap();
        assert_eq!(d.names(), ["mon", "fri", "sun"]);
        assert!(d.contains(chrono::Weekday::Fri));
        assert!(!d.contains(chrono::Weekday::Tue));
        assert!(
            Days::parse(&["moon"])
                .unwrap_err()
                .contains("\"moon\" is not a day")
        );
        assert!(Days::parse::<&str>(&[]).is_err());
    }

    #[test]
    fn a_plain_window_opens_at_its_start() {
        let w = window("06:30-23:00", None, "UTC");
        assert!(w.is_open(utc("2026-05-04T12:00:00Z")));
        assert!(!w.is_open(utc("2026-05-04T23:00:00Z")));
        assert_eq!(
            w.next_open(utc("2026-05-04T23:10:00Z")),
            utc("2026-05-05T06:30:00Z")
        );
        assert_eq!(
            w.next_open(utc("2026-05-05T03:00:00Z")),
            utc("2026-05-05T06:30:00Z")
        );
        // Open: now.
        let now = utc("2026-05-05T07:00:00Z");
        assert_eq!(w.next_open(now), now);
    }

    #[test]
    fn over_midnight_belongs_to_the_day_it_starts() {
        // Friday 22:00 to Saturday 02:00, and nothing else.
        let w = window("22:00-02:00", Some(&["fri"]), "UTC");
        // 2026-05-08 is a Friday.
        assert!(w.is_open(utc("2026-05-08T23:00:00Z")));
        assert!(w.is_open(utc("2026-05-09T01:59:00Z")));
        assert!(!w.is_open(utc("2026-05-09T02:00:00Z")));
        assert!(!w.is_open(utc("2026-05-09T23:00:00Z")), "saturday night");
        assert!(!w.is_open(utc("2026-05-08T01:00:00Z")), "thursday night");
        assert_eq!(
            w.next_open(utc("2026-05-09T03:00:00Z")),
            utc("2026-05-15T22:00:00Z")
        );
    }

    #[test]
    fn days_alone_are_whole_days_in_the_zone() {
        let w = PostingWindow::new(
            None,
            Some(Days::parse(&["mon", "tue", "wed", "thu", "fri"]).unwrap()),
            "America/New_York".parse().unwrap(),
        )
        .unwrap();
        // Saturday 2026-05-09 12:00 in New York → Monday 00:00 EDT = 04:00 UTC.
        assert_eq!(
            w.next_open(utc("2026-05-09T16:00:00Z")),
            utc("2026-05-11T04:00:00Z")
        );
        assert_eq!(
            w.to_string(),
            "all day on mon,tue,wed,thu,fri (America/New_York)"
        );
    }

    /// Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
    #[test]
    fn daylight_saving_changes_keep_wall_clock_time() {
        let w = window("06:30-23:00", None, "Europe/Berlin");
        // The night the clocks go forward: 06:30 CEST is 04:30 UTC (not 05:30).
        assert_eq!(
            w.next_open(utc("2026-03-28T22:30:00Z")),
            utc("2026-03-29T04:30:00Z")
        );
        // The night they go back: 06:30 CET is 05:30 UTC.
        assert_eq!(
            w.next_open(utc("2026-10-24T21:30:00Z")),
            utc("2026-10-25T05:30:00Z")
        );
        // A start inside the gap opens when the clocks jump (03:00 CEST = 01:00 UTC).
        let gap = window("02:30-04:00", None, "Europe/Berlin");
        assert_eq!(
            gap.next_open(utc("2026-03-28T23:00:00Z")),
            utc("2026-03-29T01:00:00Z")
        );
        // A start that happens twice opens at the first.
        let twice = window("02:30-02:45", None, "Europe/Berlin");
        assert_eq!(
            twice.next_open(utc("2026-10-24T23:00:00Z")),
            utc("2026-10-25T00:30:00Z")
        );
        // ... and again at the second, once it closed in between.
        assert_eq!(
            twice.next_open(utc("2026-10-25T00:50:00Z")),
            utc("2026-10-25T01:30:00Z")
        );
        // Clocks going back into a window open it without passing its start.
        let back = window("01:00-02:30", None, "Europe/Berlin");
        // 02:40 CEST = 00:40 UTC: closed; at 01:00 UTC it is 02:00 CET: open again.
        assert!(!back.is_open(utc("2026-10-25T00:40:00Z")));
        assert_eq!(
            back.next_open(utc("2026-10-25T00:40:00Z")),
            utc("2026-10-25T01:00:00Z")
        );
    }

    /// Walks every minute of the DST days (and a plain one) for a few windows: the next
    /// opening `next_open` names is open, and nothing between is.
    #[test]
    fn next_open_agrees_with_is_open_minute_by_minute() {
        let windows = [
            window("06:30-23:00", None, "Europe/Berlin"),
            window("02:30-04:00", None, "Europe/Berlin"),
            window("01:00-02:30", None, "Europe/Berlin"),
            window("22:00-02:30", Some(&["sat", "sun"]), "Europe/Berlin"),
            window("00:15-01:00", Some(&["sun"]), "America/New_York"),
            window("02:00-03:00", None, "Australia/Lord_Howe"),
        ];
        let starts = [
            "2026-03-28T18:00:00Z",
            "2026-10-24T18:00:00Z",
            "2026-03-07T18:00:00Z",
            "2026-10-03T10:00:00Z",
            "2026-06-10T00:00:00Z",
        ];
        const MINUTES: i64 = 36 * 60;
        for w in &windows {
            for start in starts {
                let t0 = utc(start);
                let at = |i: i64| t0 + Duration::minutes(i);
                let open: Vec<bool> = (0..MINUTES).map(|i| w.is_open(at(i))).collect();
                for i in 0..MINUTES {
                    let next = w.next_open(at(i));
                    assert!(w.is_open(next), "{w} {}: {next} is not open", at(i));
                    let expected = (i..MINUTES).find(|j| open[usize::try_from(*j).unwrap()]);
                    match expected {
                        Some(j) => assert_eq!(next, at(j), "{w} from {}", at(i)),
                        None => assert!(next >= at(MINUTES), "{w} from {}: {next}", at(i)),
                    }
                }
            }
        }
    }

    #[test]
    fn two_windows_open_where_they_overlap() {
        let feed = window("06:00-12:00", None, "UTC");
        let account = window("10:00-20:00", None, "UTC");
        assert_eq!(
            next_open_all(&[feed, account], utc("2026-05-04T03:00:00Z")),
            Some(utc("2026-05-04T10:00:00Z"))
        );
        let evening = window("20:00-22:00", None, "UTC");
        assert_eq!(
            next_open_all(&[feed, evening], utc("2026-05-04T03:00:00Z")),
            None
        );
        assert_eq!(
            next_open_all(&[], utc("2026-05-04T03:00:00Z")),
            Some(utc("2026-05-04T03:00:00Z"))
        );
    }
}
