//! Validity: whether each synthetic cell is a value the real column could hold.
//!
//! Accuracy compares distributions, so a synthetic column can score well while some of its
//! cells are impossible: a placeholder where a value should be, an age of 212, a fractional
//! number of children, a time of 12:75. Validity counts such cells, per column, from rules
//! read off the real (training) column:
//!
//! - **placeholder**: the cell is one of [`ReportOptions::placeholders`](crate::ReportOptions)
//!   (default `_RARE_`, the token doppel writes for a rare value), unless the real column
//!   holds that text itself;
//! - **outside the domain**: numbers: not a number, or outside the real `[min, max]` widened
//!   by [`RANGE_TOLERANCE`] of its width on each side; dates: not a date in the column's
//!   format, or outside the real range widened the same way; categories with a closed domain
//!   (at most [`MAX_CLOSED_LEVELS`] levels, each seen at least [`MIN_SEEN`] times in the real
//!   column): a level the real column never has;
//! - **fractional**: a number with a fractional part where every real value is an integer;
//! - **broken format**: a shape never seen in the real column, where the real column has a
//!   closed set of shapes (at most [`MAX_SHAPES`], each seen at least [`MIN_SEEN`] times). A
//!   number's shape is the number of decimals it is written with; a string's is its pattern
//!   ([`shape`]: digits kept one for one as `9`, each run of letters as `a`, each run of
//!   whitespace as one space, other characters as they are: `98112-4729` is `99999-9999`).
//!   Where every real value is a valid `HHMM` clock time (1 to 4 digits, hours at most 23,
//!   minutes at most 59; at least [`MIN_CLOCK_VALUES`] distinct values, one of them 100 or
//!   more), a synthetic value that is not one has a broken format too.
//!
//! A set whose items are seen only once or twice in the real column suggests that more are
//! unseen (Good 1953: the chance that the next value is new is about the share of values seen
//! once), so it is not taken as closed and its check is not made.
//!
//! Missing cells are never invalid. Each invalid cell is counted once, under the first reason
//! that applies in the order above. A column is **constant** when its synthetic cells hold at
//! most one distinct value while the real column holds two or more.
//!
//! A column's validity is `1 - invalid / rows` (over all synthetic rows), and 0 for a constant
//! column; the quality score's `validity` component is the mean over compared columns.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::frame::{parse_number, ColumnSpec, Kind, Schema};
use crate::kinds::{datetime_seconds, format_seconds};
use crate::table::Table;

/// The placeholder doppel's engine writes for a value too rare to keep (its `rare_token`).
pub const DEFAULT_PLACEHOLDER: &str = "_RARE_";

/// Share of the real range's width added on each side before a value is out of range.
pub const RANGE_TOLERANCE: f64 = 0.01;

/// Most levels a categorical column may have for its domain to be closed.
pub const MAX_CLOSED_LEVELS: usize = 100;

/// Most distinct shapes a real column may have for its shapes to be a closed set.
pub const MAX_SHAPES: usize = 10;

/// Fewest real rows each level (shape) of a closed domain (set of shapes) needs.
pub const MIN_SEEN: usize = 3;

/// Fewest distinct real values before a column of `HHMM` values is taken for clock times.
pub const MIN_CLOCK_VALUES: usize = 20;

/// Longest value quoted in [`InvalidCell::value`], in characters.
const QUOTED_CHARS: usize = 60;

/// The validity of every compared column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validity {
    /// Mean of the columns' `validity`: the quality score's component.
    pub mean: f64,
    /// One entry per compared column, in the real table's order.
    pub columns: Vec<ColumnValidity>,
}

/// One column's invalid synthetic cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnValidity {
    /// Column name.
    pub name: String,
    /// How the column is read.
    pub kind: Kind,
    /// The checks the real column allows, in words (e.g. `range [17, 90]`, `integers`).
    pub checks: Vec<String>,
    /// Synthetic cells invalid for any reason (each counted once).
    pub invalid: usize,
    /// `invalid` over the synthetic rows.
    pub invalid_share: f64,
    /// Invalid cells that are a placeholder.
    pub placeholders: usize,
    /// Invalid cells outside the real domain (including unreadable numbers and dates).
    pub out_of_domain: usize,
    /// Invalid cells with a fractional part in an integer column.
    pub fractional: usize,
    /// Invalid cells whose shape (or clock time) the real column never has.
    pub broken_format: usize,
    /// Whether the synthetic column holds at most one value while the real one holds more.
    pub constant: bool,
    /// 0 for a constant column, else `1 - invalid_share`.
    pub validity: f64,
    /// The first invalid cell, to look at; `None` when there is none.
    pub first_invalid: Option<InvalidCell>,
}

/// An invalid synthetic cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvalidCell {
    /// 1-based data row of the synthetic table (the header is row 0).
    pub row: usize,
    /// The cell (its first 60 characters).
    pub value: String,
    /// Why it is invalid, in words.
    pub reason: String,
}

/// Why a cell is invalid; the order is the order of precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Reason {
    Placeholder,
    OutOfDomain,
    Fractional,
    BrokenFormat,
}

/// What a real column allows, read off its present cells.
struct Rules<'a> {
    kind: Kind,
    format: Option<&'static str>,
    /// Placeholders the real column does not hold itself.
    placeholders: Vec<&'a str>,
    /// The widened real range of numbers or dates.
    range: Option<(f64, f64)>,
    integers: bool,
    /// The real levels of a closed categorical domain.
    levels: Option<HashSet<&'a str>>,
    /// The real shapes, when they are a closed set.
    shapes: Option<HashSet<String>>,
    clock: bool,
    /// Whether the real column holds two or more distinct values (a synthetic copy with one
    /// is then constant where the real one is not).
    varies: bool,
}

/// Computes the validity of `synthetic` against `real` for the schema's compared columns
/// (both tables hold every one of them; [`Schema::encode`] checks that first).
pub fn validity<'a>(
    schema: &Schema,
    real: &'a Table,
    synthetic: &'a Table,
    placeholders: &[String],
) -> Validity {
    let position = |table: &Table, name: &str| table.names().iter().position(|n| n == name);
    let mut specs: Vec<(usize, &ColumnSpec)> = schema
        .columns
        .iter()
        .chain(&schema.texts)
        .filter_map(|s| position(real, &s.name).map(|p| (p, s)))
        .collect();
    specs.sort_by_key(|&(p, _)| p);
    let mut columns = Vec::with_capacity(specs.len());
    for (r, spec) in specs {
        let Some(s) = position(synthetic, &spec.name) else { continue };
        let present = |t: &'a Table, c: usize| -> Vec<(usize, &'a str)> {
            t.column(c)
                .enumerate()
                .filter(|(_, cell)| !schema.is_missing(cell))
                .map(|(i, cell)| (i, cell.trim()))
                .collect()
        };
        let (real_cells, synthetic_cells) = (present(real, r), present(synthetic, s));
        let real_values: Vec<&str> = real_cells.iter().map(|&(_, c)| c).collect();
        let rules = Rules::new(spec, &real_values, placeholders);
        columns.push(rules.judge(&spec.name, &synthetic_cells, synthetic.num_rows()));
    }
    let mean = columns.iter().map(|c| c.validity).sum::<f64>() / columns.len().max(1) as f64;
    Validity { mean, columns }
}

impl<'a> Rules<'a> {
    /// The rules of a real column from its present, trimmed cells.
    fn new(spec: &ColumnSpec, real: &[&'a str], placeholders: &'a [String]) -> Rules<'a> {
        let held: HashSet<&str> = real.iter().copied().collect();
        let placeholders =
            placeholders.iter().map(|p| p.trim()).filter(|p| !held.contains(p)).collect();
        let mut rules = Rules {
            kind: spec.kind,
            format: spec.format,
            placeholders,
            range: None,
            integers: false,
            levels: None,
            shapes: None,
            clock: false,
            varies: held.len() >= 2,
        };
        let values: Vec<f64> = real.iter().filter_map(|c| rules.read(c)).collect();
        if matches!(spec.kind, Kind::Numeric | Kind::Datetime) && !values.is_empty() {
            let (lo, hi) =
                values.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let slack = RANGE_TOLERANCE * (hi - lo);
            rules.range = Some((lo - slack, hi + slack));
            rules.integers = spec.kind == Kind::Numeric && values.iter().all(|x| x.fract() == 0.0);
        }
        if spec.kind == Kind::Categorical {
            rules.levels = closed(real.iter().copied(), MAX_CLOSED_LEVELS);
        }
        if spec.kind != Kind::Datetime {
            rules.shapes = closed(real.iter().map(|c| rules.shape(c)), MAX_SHAPES);
            rules.clock = is_clock(real);
        }
        rules
    }

    /// A number, or a date's seconds; `None` for other kinds and unreadable cells.
    fn read(&self, cell: &str) -> Option<f64> {
        match (self.kind, self.format) {
            (Kind::Numeric, _) => parse_number(cell),
            (Kind::Datetime, Some(format)) => datetime_seconds(cell, format),
            _ => None,
        }
    }

    /// A number's shape is its decimals class; a string's its pattern ([`shape`]).
    fn shape(&self, cell: &str) -> String {
        match self.kind {
            Kind::Numeric => format!("{} decimals", decimals(cell)),
            _ => shape(cell),
        }
    }

    /// Why a present, trimmed synthetic cell is invalid, if it is, with the details.
    fn check(&self, cell: &str) -> Option<(Reason, String)> {
        if self.placeholders.contains(&cell) {
            return Some((Reason::Placeholder, "a placeholder".into()));
        }
        if matches!(self.kind, Kind::Numeric | Kind::Datetime) {
            let what = if self.kind == Kind::Datetime {
                "a date in the column's format"
            } else {
                "a number"
            };
            let Some(x) = self.read(cell) else {
                return Some((Reason::OutOfDomain, format!("not {what}")));
            };
            if self.range.is_some_and(|(lo, hi)| x < lo || x > hi) {
                return Some((Reason::OutOfDomain, "outside the real range".into()));
            }
            if self.integers && x.fract() != 0.0 {
                return Some((Reason::Fractional, "fractional in an integer column".into()));
            }
        }
        if self.levels.as_ref().is_some_and(|l| !l.contains(cell)) {
            return Some((Reason::OutOfDomain, "a level the real column never has".into()));
        }
        if self.clock && hhmm(cell) != Some(true) {
            return Some((Reason::BrokenFormat, "not a valid HHMM clock time".into()));
        }
        if let Some(shapes) = &self.shapes {
            let shape = self.shape(cell);
            if !shapes.contains(&shape) {
                let why = format!("shape {shape} never seen in the real column");
                return Some((Reason::BrokenFormat, why));
            }
        }
        None
    }

    /// The checks made, in words.
    fn describe(&self) -> Vec<String> {
        let mut checks: Vec<String> =
            self.placeholders.iter().map(|p| format!("placeholder {p}")).collect();
        let show = |x: f64| match self.format {
            Some(f) if self.kind == Kind::Datetime => format_seconds(x, f),
            _ => format!("{x}"),
        };
        if let Some((lo, hi)) = self.range {
            checks.push(format!("range [{}, {}] (the real one widened by 1%)", show(lo), show(hi)));
        }
        if let Some(format) = self.format {
            checks.push(format!("dates in {format}"));
        }
        if self.integers {
            checks.push("integers".into());
        }
        if let Some(levels) = &self.levels {
            checks.push(format!("the {} real levels", levels.len()));
        }
        if let Some(shapes) = &self.shapes {
            let mut list: Vec<&str> = shapes.iter().map(String::as_str).collect();
            list.sort_unstable();
            checks.push(format!("shapes {}", list.join(", ")));
        }
        if self.clock {
            checks.push("HHMM clock times".into());
        }
        checks
    }

    /// Judges the present synthetic cells `(row index, trimmed text)` of a table of `rows`.
    fn judge(&self, name: &str, synthetic: &[(usize, &str)], rows: usize) -> ColumnValidity {
        let mut counts: HashMap<Reason, usize> = HashMap::new();
        let mut first_invalid = None;
        for &(row, cell) in synthetic {
            let Some((reason, why)) = self.check(cell) else { continue };
            *counts.entry(reason).or_default() += 1;
            first_invalid.get_or_insert_with(|| InvalidCell {
                row: row + 1,
                value: cell.chars().take(QUOTED_CHARS).collect(),
                reason: why,
            });
        }
        let distinct: HashSet<&str> = synthetic.iter().map(|&(_, c)| c).collect();
        let constant = distinct.len() <= 1 && self.varies;
        let invalid: usize = counts.values().sum();
        let invalid_share = invalid as f64 / rows.max(1) as f64;
        let count = |r| counts.get(&r).copied().unwrap_or(0);
        ColumnValidity {
            name: name.to_string(),
            kind: self.kind,
            checks: self.describe(),
            invalid,
            invalid_share,
            placeholders: count(Reason::Placeholder),
            out_of_domain: count(Reason::OutOfDomain),
            fractional: count(Reason::Fractional),
            broken_format: count(Reason::BrokenFormat),
            constant,
            validity: if constant { 0.0 } else { 1.0 - invalid_share },
            first_invalid,
        }
    }
}

/// The distinct items, when there are at most `limit` and each occurs at least [`MIN_SEEN`]
/// times (see the module documentation); `None` otherwise.
fn closed<T: std::hash::Hash + Eq>(
    items: impl Iterator<Item = T>,
    limit: usize,
) -> Option<HashSet<T>> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
        if counts.len() > limit {
            return None;
        }
    }
    let closed = !counts.is_empty() && counts.values().all(|&n| n >= MIN_SEEN);
    closed.then(|| counts.into_keys().collect())
}

/// A string's pattern: each ASCII digit as `9`, each run of letters as `a`, each run of
/// whitespace as one space, every other character as it is.
pub fn shape(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut last = None;
    for c in cell.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        // Runs of letters and of whitespace collapse: words vary in length, codes do not.
        if !(matches!(class, 'a' | ' ') && last == Some(class)) {
            out.push(class);
        }
        last = Some(class);
    }
    out
}

/// The digits a number is written with after its point, net of its exponent (`1.50` has 2,
/// `1.5e-3` has 4, `15e1` has 0).
fn decimals(text: &str) -> usize {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let shown = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i64;
    (shown - exponent).clamp(0, 64) as usize
}

/// Whether a cell of 1 to 4 ASCII digits is a valid `HHMM` time; `None` for other cells.
fn hhmm(cell: &str) -> Option<bool> {
    if cell.is_empty() || cell.len() > 4 || !cell.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = cell.parse().ok()?;
    Some(value / 100 <= 23 && value % 100 <= 59)
}

/// Whether every real cell is a valid `HHMM` time, with at least [`MIN_CLOCK_VALUES`]
/// distinct values and one with an hour (100 or more): then they are taken for clock times.
fn is_clock(real: &[&str]) -> bool {
    let all_valid = !real.is_empty() && real.iter().all(|c| hhmm(c) == Some(true));
    let distinct: HashSet<&str> = real.iter().copied().collect();
    let hours = real.iter().any(|c| c.parse::<u32>().is_ok_and(|v| v >= 100));
    all_valid && hours && distinct.len() >= MIN_CLOCK_VALUES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{build_report, Report, ReportOptions};

    /// `n` rows from row `offset` of a table with an integer age, a closed job domain, HHMM
    /// clock times and 150 codes (too many levels for a closed domain, one shape);
    /// `change(row, column, cell)` may replace a cell.
    fn rows(n: usize, offset: usize, change: impl Fn(usize, &str, String) -> String) -> Table {
        let names = ["age", "job", "time", "zip"];
        let rows = (offset..offset + n)
            .map(|i| {
                let cells = [
                    (18 + (i * 7) % 60).to_string(),
                    ["clerk", "nurse", "farmer"][i % 3].to_string(),
                    (((i * 5) % 24) * 100 + (i * 13) % 60).to_string(),
                    format!("K{:04}", 2000 + (i * 7) % 150),
                ];
                names.iter().zip(cells).map(|(c, cell)| change(i - offset, c, cell)).collect()
            })
            .collect();
        Table::new(names.map(String::from).to_vec(), rows).expect("table")
    }

    fn report(synthetic: &Table) -> Report {
        let real = rows(600, 0, |_, _, c| c);
        build_report(&real, synthetic, None, &ReportOptions::default(), &mut |_, _| {})
            .expect("report")
    }

    fn column<'a>(report: &'a Report, name: &str) -> &'a ColumnValidity {
        report.validity.columns.iter().find(|c| c.name == name).expect("column")
    }

    #[test]
    fn each_kind_of_invalid_cell_lowers_validity_and_quality() {
        let clean = report(&rows(600, 1000, |_, _, c| c));
        let validities: Vec<f64> = clean.validity.columns.iter().map(|c| c.validity).collect();
        assert_eq!(validities, [1.0; 4], "{:?}", clean.validity);
        let checks = &column(&clean, "time").checks;
        assert!(checks.iter().any(|c| c == "HHMM clock times"), "{checks:?}");
        let zip = column(&clean, "zip");
        assert!(zip.checks.iter().any(|c| c == "shapes a9999"), "{zip:?}");
        // (column, replacement for every k-th row, k, expected validity, which count)
        type Count = fn(&ColumnValidity) -> usize;
        let cases: [(&str, &str, usize, f64, Count); 8] = [
            ("job", "_RARE_", 1, 0.0, |c| c.placeholders),
            ("job", "clerk", 1, 0.0, |c| usize::from(c.constant)),
            ("age", "200", 4, 0.75, |c| c.out_of_domain),
            ("age", "twenty", 4, 0.75, |c| c.out_of_domain),
            ("age", "30.5", 5, 0.8, |c| c.fractional),
            ("time", "1275", 5, 0.8, |c| c.broken_format),
            ("job", "pilot", 4, 0.75, |c| c.out_of_domain),
            ("zip", "K213x", 4, 0.75, |c| c.broken_format),
        ];
        for (name, value, every, expected, count) in cases {
            let synthetic =
                rows(
                    600,
                    1000,
                    |i, c, cell| if c == name && i % every == 0 { value.into() } else { cell },
                );
            let r = report(&synthetic);
            let v = column(&r, name);
            assert!((v.validity - expected).abs() < 1e-12, "{name} = {value}: {v:?}");
            assert!(count(v) > 0, "{name} = {value}: {v:?}");
            let component = r.scores.quality.components.iter().find(|c| c.name == "validity");
            let mean = (3.0 + expected) / 4.0;
            assert!(component.is_some_and(|c| (c.value - mean).abs() < 1e-12), "{component:?}");
            assert!(
                r.scores.quality.value < clean.scores.quality.value,
                "{name} = {value}: {} vs clean {}",
                r.scores.quality.value,
                clean.scores.quality.value
            );
        }
    }

    #[test]
    fn the_first_invalid_cell_is_named_and_warned_about() {
        let synthetic =
            rows(600, 1000, |i, c, cell| if c == "age" && i == 4 { "twenty".into() } else { cell });
        let r = report(&synthetic);
        let first = column(&r, "age").first_invalid.clone().expect("one invalid cell");
        assert_eq!(
            (first.row, first.value.as_str(), first.reason.as_str()),
            (5, "twenty", "not a number")
        );
        let warning = "column 'age': 1 synthetic cell(s) (0.17%) are invalid, the first in row 5: 'twenty' (not a number)";
        assert!(r.warnings.iter().any(|w| w == warning), "{:?}", r.warnings);
    }

    #[test]
    fn a_placeholder_the_real_column_holds_is_a_value() {
        let real: Vec<&str> = ["_RARE_", "a", "b"].repeat(5);
        let spec = ColumnSpec {
            name: "c".into(),
            kind: Kind::Categorical,
            levels: Vec::new(),
            real_levels: 0,
            format: None,
        };
        let placeholders = [DEFAULT_PLACEHOLDER.to_string(), "N/A".to_string()];
        let rules = Rules::new(&spec, &real, &placeholders);
        assert_eq!(rules.placeholders, ["N/A"]);
        assert_eq!(rules.check("_RARE_"), None);
        assert_eq!(rules.check("N/A").map(|r| r.0), Some(Reason::Placeholder));
    }

    #[test]
    fn dates_outside_the_real_range_or_format_are_invalid() {
        let spec = ColumnSpec {
            name: "d".into(),
            kind: Kind::Datetime,
            levels: Vec::new(),
            real_levels: 0,
            format: Some("%Y-%m-%d"),
        };
        // 2020-01-01 .. 2020-04-10 (100 days): 1% of the range is one day.
        let real: Vec<String> = (0..101)
            .map(|d| format_seconds(1_577_836_800.0 + 86_400.0 * f64::from(d), "%Y-%m-%d"))
            .collect();
        let real: Vec<&str> = real.iter().map(String::as_str).collect();
        let rules = Rules::new(&spec, &real, &[]);
        assert_eq!(rules.check("2020-02-01"), None);
        assert_eq!(rules.check("2020-04-11"), None, "within the tolerance");
        assert_eq!(rules.check("2020-04-12").map(|r| r.0), Some(Reason::OutOfDomain));
        let unreadable = rules.check("01/02/2020").expect("not a date in the format");
        assert_eq!(unreadable, (Reason::OutOfDomain, "not a date in the column's format".into()));
    }

    #[test]
    fn a_constant_copy_of_a_constant_real_column_is_no_fault() {
        let spec = |name: &str| ColumnSpec {
            name: name.into(),
            kind: Kind::Categorical,
            levels: Vec::new(),
            real_levels: 0,
            format: None,
        };
        let synthetic = [(0, "x"), (1, "x"), (2, "x")];
        let same = Rules::new(&spec("same"), &["x", "x", "x"], &[]);
        assert!(!same.judge("same", &synthetic, 3).constant);
        let varied = Rules::new(&spec("varied"), &["x", "y", "x"], &[]);
        let judged = varied.judge("varied", &synthetic, 3);
        assert!(judged.constant && judged.validity == 0.0, "{judged:?}");
    }

    #[test]
    fn shapes_decimals_and_clock_times() {
        assert_eq!(shape("98112-4729"), "99999-9999");
        assert_eq!(shape("Dr.  John  O'Brien"), "a. a a'a");
        assert_eq!(shape("AB12"), "a99");
        assert_eq!(
            (decimals("1.50"), decimals("1.5e-3"), decimals("15e1"), decimals("7")),
            (2, 4, 0, 0)
        );
        assert_eq!(
            (hhmm("2359"), hhmm("0"), hhmm("1275"), hhmm("2400")),
            (Some(true), Some(true), Some(false), Some(false))
        );
        assert_eq!((hhmm("12345"), hhmm("9.5"), hhmm("")), (None, None, None));
        // Seen only once or twice, a shape leaves the set open: no shape check.
        assert!(closed(["a", "a", "a", "b"].into_iter(), 10).is_none());
        assert_eq!(
            closed(["a", "a", "a", "b", "b", "b"].into_iter(), 10).map(|s| s.len()),
            Some(2)
        );
        assert!(closed(["a", "a", "a", "b", "b", "b"].into_iter(), 1).is_none());
        // Clock times need a value past 01:00 and enough distinct values.
        let minutes: Vec<String> = (0..40).map(|m| m.to_string()).collect();
        let few: Vec<String> = (0..MIN_CLOCK_VALUES - 1).map(|i| (100 + i).to_string()).collect();
        let enough: Vec<String> = (0..MIN_CLOCK_VALUES).map(|i| (100 + i).to_string()).collect();
        fn cells(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        assert!(!is_clock(&cells(&minutes)) && !is_clock(&cells(&few)));
        assert!(is_clock(&cells(&enough)));
    }
}
