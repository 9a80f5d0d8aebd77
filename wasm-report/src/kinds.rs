//! How a real column is read: its [`Inferred`] kind, decided from **all** of its cells, so that
//! the binned accuracies ([`mod@crate::fidelity`]), the encoded frame ([`crate::frame`]) and the
//! validity checks ([`crate::validity`]) always agree.
//!
//! A real column is never refused for its contents: a column with a single cell that is not a
//! number is simply not numeric. The rules, in order (missing cells are ignored throughout):
//!
//! 1. every cell missing: left out;
//! 2. every cell a finite number: **numeric**, unless the numbers are integers forming a run of
//!    consecutive values, one per row, with no cell missing (a row number: left out);
//! 3. every cell a date or date-time in one of [`DATETIME_FORMATS`] (the first that reads them
//!    all): **datetime**, measured in seconds since 1970-01-01 00:00:00 (no time zone);
//! 4. more than [`MIN_TEXT_VALUES`] distinct values, and either more than half of the cells
//!    distinct (a long tail: names, addresses, identifiers) or at least
//!    [`TEXT_MIN_WORDS`] words per cell on average (free text): **text**;
//! 5. a different value in every row but too few rows to compare as text: left out;
//! 6. otherwise **categorical**.

use doppel_table::datetime;
use std::collections::HashSet;

use crate::frame::parse_number;

pub use doppel_table::datetime::DATETIME_FORMATS;

/// More distinct values than this are needed before a column of strings is read as text.
pub const MIN_TEXT_VALUES: usize = 20;

/// Mean words per cell from which a column with many distinct values is free text.
pub const TEXT_MIN_WORDS: f64 = 5.0;

/// How a real column is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inferred {
    /// Finite numbers.
    Numeric,
    /// Dates or date-times in this format (one of [`DATETIME_FORMATS`]).
    Datetime(&'static str),
    /// A limited set of values.
    Categorical,
    /// Free text or long-tail strings.
    Text,
    /// Left out of every metric, for this reason.
    Skipped(String),
}

/// Decides the kind of a real column from all of its `cells` (see the module documentation);
/// `is_missing` says which cells are missing.
pub fn infer(cells: &[&str], is_missing: impl Fn(&str) -> bool) -> Inferred {
    let present: Vec<&str> = cells.iter().copied().filter(|c| !is_missing(c)).collect();
    if present.is_empty() {
        return Inferred::Skipped("every real value is missing".into());
    }
    let complete = present.len() == cells.len();
    let numbers: Option<Vec<f64>> = present.iter().map(|c| parse_number(c)).collect();
    if let Some(numbers) = numbers {
        if complete && is_row_number(&numbers) {
            return Inferred::Skipped("consecutive integers, one per row (a row number)".into());
        }
        return Inferred::Numeric;
    }
    if let Some(format) = datetime_format(&present) {
        return Inferred::Datetime(format);
    }
    let distinct: HashSet<&str> = present.iter().copied().collect();
    let words = present.iter().map(|c| c.split_whitespace().count()).sum::<usize>() as f64
        / present.len() as f64;
    let long_tail = 2 * distinct.len() > present.len();
    if distinct.len() > MIN_TEXT_VALUES && (long_tail || words >= TEXT_MIN_WORDS) {
        return Inferred::Text;
    }
    if complete && cells.len() >= 2 && distinct.len() == present.len() {
        return Inferred::Skipped(
            "a different value in every row (an identifier or free text), too few rows to \
             compare as text"
                .into(),
        );
    }
    Inferred::Categorical
}

/// Whether `numbers` (at least two) are distinct integers forming a consecutive run.
fn is_row_number(numbers: &[f64]) -> bool {
    if numbers.len() < 2 || numbers.iter().any(|x| x.fract() != 0.0) {
        return false;
    }
    let mut seen = HashSet::with_capacity(numbers.len());
    if !numbers.iter().all(|x| seen.insert(x.to_bits())) {
        return false;
    }
    let (lo, hi) = numbers.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    hi - lo + 1.0 == numbers.len() as f64
}

/// The first of [`DATETIME_FORMATS`] that reads every one of `present` (not empty).
pub fn datetime_format(present: &[&str]) -> Option<&'static str> {
    // Most columns are not dates: their first cell rules every format out at once.
    DATETIME_FORMATS
        .iter()
        .copied()
        .find(|format| present.iter().all(|c| datetime_seconds(c, format).is_some()))
}

/// Seconds since 1970-01-01 00:00:00 (no time zone) of `text` (trimmed) in chrono `format`;
/// `None` when it does not read.
pub fn datetime_seconds(text: &str, format: &str) -> Option<f64> {
    datetime::to_seconds(text, format).map(|s| s as f64)
}

/// `seconds` since 1970-01-01 written in chrono `format` (the inverse of
/// [`datetime_seconds`], rounded down to a whole second), or the number itself when it is
/// beyond chrono's range.
pub fn format_seconds(seconds: f64, format: &str) -> String {
    (seconds.is_finite() && seconds.abs() < 1e15)
        .then(|| datetime::from_seconds(seconds.floor() as i64, format))
        .flatten()
        .unwrap_or_else(|| format!("{seconds}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(cells: &[&str]) -> Inferred {
        infer(cells, |c| c.trim().is_empty() || c == "?")
    }

    #[test]
    fn one_non_number_among_numbers_makes_a_column_categorical_not_an_error() {
        // A ZIP column: 1,300 plain numbers and one ZIP+4 in row 1,285.
        let mut zips: Vec<String> = (0..1300).map(|i| (98000 + i % 40).to_string()).collect();
        zips[1284] = "98112-4729".into();
        let cells: Vec<&str> = zips.iter().map(String::as_str).collect();
        assert_eq!(kind(&cells), Inferred::Categorical);
        // Without it, numeric; the decision reads every row, not the first ones.
        zips[1284] = "98112".into();
        let cells: Vec<&str> = zips.iter().map(String::as_str).collect();
        assert_eq!(kind(&cells), Inferred::Numeric);
    }

    #[test]
    fn dates_take_the_first_format_that_reads_every_cell() {
        assert_eq!(kind(&["2024-01-31", "", "1999-12-01"]), Inferred::Datetime("%Y-%m-%d"));
        let times = ["2024-01-31 10:00:00", "2024-02-01 23:59:59"];
        assert_eq!(kind(&times), Inferred::Datetime("%Y-%m-%d %H:%M:%S"));
        let iso = ["2024-01-31T10:00:00", "2024-02-01T23:59:59"];
        assert_eq!(kind(&iso), Inferred::Datetime("%Y-%m-%dT%H:%M:%S"));
        // Ambiguous days read month-first; a day above 12 makes the column day-first.
        assert_eq!(kind(&["01/02/2020", "03/04/2021"]), Inferred::Datetime("%m/%d/%Y"));
        assert_eq!(kind(&["01/02/2020", "25/04/2021"]), Inferred::Datetime("%d/%m/%Y"));
        // One cell that is no date keeps the column out of the datetime kind.
        assert_eq!(kind(&["2024-01-31", "2024-02-30", "2024-01-31"]), Inferred::Categorical);
        assert_eq!(datetime_seconds("1970-01-02", "%Y-%m-%d"), Some(86_400.0));
        assert_eq!(datetime_seconds(" 1970-01-01 00:01:40 ", "%Y-%m-%d %H:%M:%S"), Some(100.0));
        assert_eq!(format_seconds(86_400.0, "%Y-%m-%d"), "1970-01-02");
        assert_eq!(format_seconds(f64::INFINITY, "%Y-%m-%d"), "inf");
    }

    #[test]
    fn long_tails_and_free_text_are_text() {
        // 30 distinct names in 40 rows: a long tail.
        let names: Vec<String> = (0..40).map(|i| format!("name{}", i % 30)).collect();
        let cells: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(kind(&cells), Inferred::Text);
        // Sentences repeating 25 times each among 200 rows (few distinct, but many words).
        let notes: Vec<String> =
            (0..200).map(|i| format!("the parcel {} arrived late and damaged", i % 25)).collect();
        let cells: Vec<&str> = notes.iter().map(String::as_str).collect();
        assert_eq!(kind(&cells), Inferred::Text);
        // 25 single-word codes over 200 rows: categorical.
        let codes: Vec<String> = (0..200).map(|i| format!("c{}", i % 25)).collect();
        let cells: Vec<&str> = codes.iter().map(String::as_str).collect();
        assert_eq!(kind(&cells), Inferred::Categorical);
    }

    #[test]
    fn empty_columns_row_numbers_and_tiny_identifiers_are_left_out() {
        assert!(matches!(kind(&["", "?"]), Inferred::Skipped(r) if r.contains("missing")));
        assert!(matches!(kind(&["3", "1", "2"]), Inferred::Skipped(r) if r.contains("row number")));
        // A gap, a repeat or a missing cell makes them a measurement.
        assert_eq!(kind(&["1", "2", "4"]), Inferred::Numeric);
        assert_eq!(kind(&["1", "2", "2"]), Inferred::Numeric);
        assert_eq!(kind(&["1", "2", ""]), Inferred::Numeric);
        let ids = kind(&["k7", "k2", "k9"]);
        assert!(matches!(&ids, Inferred::Skipped(r) if r.contains("identifier")), "{ids:?}");
    }
}
