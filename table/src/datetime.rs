//! Dates and date-times as text, the same in the engine and the report: the formats schema
//! inference tries, and conversion to and from seconds since 1970-01-01 00:00:00 (no time
//! zone).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Date and date-time formats (chrono syntax), tried in this order: a column takes the first
/// that reads every one of its cells (the engine also needs each cell written back exactly as
/// the source wrote it, so it tells `03/07/2001` from `3/7/2001`; the report only reads).
/// Ambiguous days read month-first; a day above 12 makes a column day-first.
pub const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y",
    "%-m/%-d/%Y",
    "%d/%m/%Y",
    "%-d/%-m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y/%m/%d",
];

/// Seconds since 1970-01-01 00:00:00 of `text` (trimmed) in chrono `format`; `None` when it
/// does not read.
pub fn to_seconds(text: &str, format: &str) -> Option<i64> {
    let text = text.trim();
    if format.contains("%H") {
        NaiveDateTime::parse_from_str(text, format).ok().map(|t| t.and_utc().timestamp())
    } else {
        let date = NaiveDate::parse_from_str(text, format).ok()?;
        Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
    }
}

/// `seconds` since 1970-01-01 written in chrono `format` (the inverse of [`to_seconds`]);
/// `None` when the instant is out of chrono's range or the format cannot write it (chrono
/// reports a bad specifier only when formatting, and `to_string` would panic on it).
pub fn from_seconds(seconds: i64, format: &str) -> Option<String> {
    let t = DateTime::from_timestamp(seconds, 0)?;
    let mut text = String::new();
    write!(text, "{}", t.naive_utc().format(format)).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_counted_from_1970_and_written_back() {
        assert_eq!(to_seconds("1970-01-02", "%Y-%m-%d"), Some(86_400));
        assert_eq!(to_seconds(" 1970-01-01 00:01:40 ", "%Y-%m-%d %H:%M:%S"), Some(100));
        // The format the engine takes for a cell (reads it, writes it back unchanged), and its
        // day since 1970 (Python: `(date(2001, 3, 7) - date(1970, 1, 1)).days`).
        let engine_format = |text: &str| {
            DATETIME_FORMATS.iter().copied().find(|f| {
                to_seconds(text, f).is_some_and(|s| from_seconds(s, f).as_deref() == Some(text))
            })
        };
        for (text, format, day) in [
            ("03/07/2001", "%m/%d/%Y", 11_388),
            ("07/03/2001", "%m/%d/%Y", 11_506),
            ("3/7/2001", "%-m/%-d/%Y", 11_388),
            ("31/12/2001", "%d/%m/%Y", 11_687),
            ("31/1/2001", "%-d/%-m/%Y", 11_353),
        ] {
            assert_eq!(engine_format(text), Some(format), "{text}");
            assert_eq!(to_seconds(text, format), Some(86_400 * day), "{text}");
        }
        assert_eq!(to_seconds("2024-02-30", "%Y-%m-%d"), None);
        assert_eq!(from_seconds(i64::MAX, "%Y-%m-%d"), None);
        assert_eq!(from_seconds(0, "%Y-%m-%d %z"), None);
    }
}
