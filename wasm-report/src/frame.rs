//! [`Frame`]: tables as typed, encoded columns, the common input of every metric beyond the
//! binned accuracies (correlations, principal components, classifiers and distances).
//!
//! The real (training) table decides each column's [`Kind`] through [`Schema::infer`]; the
//! synthetic and holdout tables are then encoded against that schema with [`Schema::encode`],
//! which matches columns by name and checks that numeric columns hold numbers.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::Table;

/// The code of a missing categorical cell.
pub const MISSING: u32 = u32::MAX;

/// Share of a real column's non-missing cells that must parse as numbers before the others
/// are called mistakes (an error) rather than evidence that the column is text.
const NUMERIC_MAJORITY: f64 = 0.9;

/// How a column is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Finite numbers; missing cells are NaN.
    Numeric,
    /// Codes into [`ColumnSpec::levels`]; missing cells are [`MISSING`].
    Categorical,
}

/// One column of the schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// How the column is encoded.
    pub kind: Kind,
    /// Categorical levels: the real table's, most frequent first (ties by text), then values
    /// first seen in later encoded tables. Empty for numeric columns.
    pub levels: Vec<String>,
    /// How many of `levels` occur in the real table.
    pub real_levels: usize,
}

/// A column dropped from the frame-based metrics, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedColumn {
    /// Column name.
    pub name: String,
    /// Why it was left out, in words.
    pub reason: String,
}

/// The columns kept for the metrics, as decided from the real table.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// Kept columns, in the real table's order.
    pub columns: Vec<ColumnSpec>,
    /// Columns left out, in the real table's order.
    pub skipped: Vec<SkippedColumn>,
    missing_tokens: Vec<String>,
    index: Vec<HashMap<String, u32>>,
}

/// One encoded column.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Numbers, NaN where missing.
    Numeric(Vec<f64>),
    /// Level codes, [`MISSING`] where missing.
    Categorical(Vec<u32>),
}

impl Values {
    /// The number of cells.
    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Categorical(v) => v.len(),
        }
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A table encoded against a [`Schema`]: `columns[i]` is `schema.columns[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Encoded columns, one per schema column.
    pub columns: Vec<Values>,
    /// The number of rows.
    pub rows: usize,
}

pub(crate) use doppel_table::value::parse_number;

/// Whether `cell`, trimmed, is one of the missing-value `tokens`.
pub(crate) fn is_missing_token(tokens: &[String], cell: &str) -> bool {
    doppel_table::missing::is_missing(tokens, Some(cell))
}

/// Why a real column cannot be measured, if it cannot: every value missing; a different text
/// in every row (an identifier or free text, whose distribution says nothing and whose
/// distances would only match rows by their key); or integers that are exactly a run of
/// consecutive numbers, one per row (a row number). Other all-distinct numbers are
/// measurements and are kept.
pub fn skip_reason(cells: &[&str], is_missing: impl Fn(&str) -> bool) -> Option<String> {
    let present: Vec<&str> = cells.iter().copied().filter(|c| !is_missing(c)).collect();
    if present.is_empty() {
        return Some("every real value is missing".into());
    }
    if present.len() < cells.len() || cells.len() < 2 {
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(present.len());
    if !present.iter().all(|c| seen.insert(*c)) {
        return None;
    }
    let numbers: Option<Vec<f64>> = present.iter().map(|c| parse_number(c)).collect();
    match numbers {
        None => Some("a different value in every row (an identifier or free text)".into()),
        Some(v) => {
            let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let integers = v.iter().all(|x| x.fract() == 0.0);
            let run = integers && hi - lo + 1.0 == v.len() as f64;
            run.then(|| "consecutive integers, one per row (a row number)".into())
        }
    }
}

impl Schema {
    /// Decides each column's kind from the `real` table: numeric when every non-missing cell
    /// is a finite number, categorical otherwise. Columns named in `skip`, columns with every
    /// value missing and identifier-like columns (see [`skip_reason`]) are left out.
    ///
    /// Errors when a column is mostly numbers but some cells are not (at least 90% numbers):
    /// the message names the first such row, column and value, since that is almost always a
    /// data error rather than a text column.
    pub fn infer(real: &Table, missing_tokens: &[String], skip: &[String]) -> Result<Schema> {
        let mut schema = Schema {
            columns: Vec::new(),
            skipped: Vec::new(),
            missing_tokens: missing_tokens.to_vec(),
            index: Vec::new(),
        };
        for (c, name) in real.names().iter().enumerate() {
            let cells: Vec<&str> = real.column(c).collect();
            let reason = if skip.contains(name) {
                Some("left out by the options".to_string())
            } else {
                skip_reason(&cells, |c| schema.is_missing(c))
            };
            if let Some(reason) = reason {
                schema.skipped.push(SkippedColumn { name: name.clone(), reason });
                continue;
            }
            let spec = schema.infer_column(name, &cells)?;
            let index = spec.levels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32));
            schema.index.push(index.collect());
            schema.columns.push(spec);
        }
        Ok(schema)
    }

    fn infer_column(&self, name: &str, cells: &[&str]) -> Result<ColumnSpec> {
        let present = cells.iter().filter(|c| !self.is_missing(c));
        let (total, numbers) = present
            .fold((0usize, 0usize), |(t, n), c| (t + 1, n + parse_number(c).is_some() as usize));
        if numbers == total {
            let kind = Kind::Numeric;
            return Ok(ColumnSpec { name: name.into(), kind, levels: Vec::new(), real_levels: 0 });
        }
        if numbers as f64 >= NUMERIC_MAJORITY * total as f64 {
            let row = cells
                .iter()
                .position(|c| !self.is_missing(c) && parse_number(c).is_none())
                .unwrap_or_default();
            return Err(not_a_number("real", row, name, cells[row]));
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for c in cells.iter().filter(|c| !self.is_missing(c)) {
            *counts.entry(c).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let levels: Vec<String> = ranked.iter().map(|(v, _)| v.to_string()).collect();
        let real_levels = levels.len();
        Ok(ColumnSpec { name: name.into(), kind: Kind::Categorical, levels, real_levels })
    }

    /// Whether `cell` means "missing" (compared after trimming whitespace).
    pub fn is_missing(&self, cell: &str) -> bool {
        is_missing_token(&self.missing_tokens, cell)
    }

    /// The position of a kept column by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Encodes `table` (named `role` in messages: "real", "synthetic", "holdout"). Columns
    /// are matched by name; categorical values not seen before become new levels.
    ///
    /// Errors when `table` lacks a column of the real table or has one the real table lacks,
    /// or when a numeric column holds a cell that is neither a number nor missing.
    pub fn encode(&mut self, table: &Table, role: &str) -> Result<Frame> {
        let order = self.align(table, role)?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (k, &c) in order.iter().enumerate() {
            let values = match self.columns[k].kind {
                Kind::Numeric => {
                    let mut numbers = Vec::with_capacity(table.num_rows());
                    for (row, cell) in table.column(c).enumerate() {
                        numbers.push(match parse_number(cell) {
                            Some(x) => x,
                            None if self.is_missing(cell) => f64::NAN,
                            None => {
                                return Err(not_a_number(role, row, &self.columns[k].name, cell))
                            }
                        });
                    }
                    Values::Numeric(numbers)
                }
                Kind::Categorical => {
                    let codes = table.column(c).map(|cell| self.code(k, cell)).collect();
                    Values::Categorical(codes)
                }
            };
            columns.push(values);
        }
        Ok(Frame { columns, rows: table.num_rows() })
    }

    fn code(&mut self, column: usize, cell: &str) -> u32 {
        if self.is_missing(cell) {
            return MISSING;
        }
        if let Some(&code) = self.index[column].get(cell) {
            return code;
        }
        let spec = &mut self.columns[column];
        let code = spec.levels.len() as u32;
        spec.levels.push(cell.to_string());
        self.index[column].insert(cell.to_string(), code);
        code
    }

    /// For each kept column, its index in `table`.
    fn align(&self, table: &Table, role: &str) -> Result<Vec<usize>> {
        let position: HashMap<&str, usize> =
            table.names().iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        if position.len() != table.names().len() {
            let twice = table.names().iter().enumerate().find(|(i, n)| position[n.as_str()] != *i);
            let column = twice.map(|(_, n)| n.clone()).unwrap_or_default();
            return Err(Error::Columns {
                column,
                problem: format!("named twice in the {role} table"),
            });
        }
        let known = |n: &str| {
            self.columns.iter().any(|c| c.name == n) || self.skipped.iter().any(|c| c.name == n)
        };
        if let Some(extra) = table.names().iter().find(|n| !known(n)) {
            let problem = format!("in the {role} table but not in the real one");
            return Err(Error::Columns { column: extra.clone(), problem });
        }
        let all = self.columns.iter().map(|c| &c.name).chain(self.skipped.iter().map(|c| &c.name));
        for name in all {
            if !position.contains_key(name.as_str()) {
                let problem = format!("in the real table but not in the {role} one");
                return Err(Error::Columns { column: name.clone(), problem });
            }
        }
        Ok(self.columns.iter().map(|c| position[c.name.as_str()]).collect())
    }
}

fn not_a_number(role: &str, row: usize, column: &str, value: &str) -> Error {
    Error::NotANumber {
        table: role.to_string(),
        row: row + 1,
        column: column.to_string(),
        value: value.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        crate::literal_table(names, rows)
    }

    fn missing() -> Vec<String> {
        vec!["".into(), "?".into()]
    }

    #[test]
    fn kinds_levels_and_codes_follow_the_real_table() {
        let real =
            table(&["age", "job"], &[&["30", "a"], &["41.5", "b"], &["?", "b"], &["30", ""]]);
        let mut schema = Schema::infer(&real, &missing(), &[]).unwrap();
        assert_eq!(schema.columns[0].kind, Kind::Numeric);
        assert_eq!(schema.columns[1].kind, Kind::Categorical);
        assert_eq!(schema.columns[1].levels, ["b", "a"]);
        // Column order in the synthetic table does not matter; "c" becomes a new level.
        let synthetic = table(&["job", "age"], &[&["c", "2"], &["a", ""]]);
        let frame = schema.encode(&synthetic, "synthetic").unwrap();
        assert_eq!(frame.rows, 2);
        match (&frame.columns[0], &frame.columns[1]) {
            (Values::Numeric(n), Values::Categorical(c)) => {
                assert_eq!(n[0], 2.0);
                assert!(n[1].is_nan());
                assert_eq!(c, &[2, 1]);
            }
            other => panic!("unexpected encoding {other:?}"),
        }
        assert_eq!(schema.columns[1].levels, ["b", "a", "c"]);
        assert_eq!(schema.columns[1].real_levels, 2);
        let real_frame = schema.encode(&real, "real").unwrap();
        assert_eq!(real_frame.columns[1], Values::Categorical(vec![1, 0, 0, MISSING]));
    }

    #[test]
    fn empty_and_identifier_columns_are_skipped_with_reasons() {
        let real = table(
            &["id", "none", "x", "key", "size"],
            &[
                &["1", "?", "u", "k7", "10"],
                &["2", "", "u", "k2", "12"],
                &["3", "?", "v", "k9", "17"],
            ],
        );
        let schema = Schema::infer(&real, &missing(), &[]).unwrap();
        let kept: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        // All-distinct integers that are not a consecutive run are a measurement.
        assert_eq!(kept, ["x", "size"]);
        assert_eq!(schema.skipped[0].name, "id");
        assert!(schema.skipped[0].reason.contains("row number"), "{:?}", schema.skipped);
        assert!(schema.skipped[1].reason.contains("missing"), "{:?}", schema.skipped);
        assert!(schema.skipped[2].reason.contains("identifier"), "{:?}", schema.skipped);
    }

    #[test]
    fn a_stray_word_in_a_numeric_column_is_an_error_naming_the_cell() {
        let mut rows: Vec<Vec<String>> = (0..20).map(|i| vec![(i % 7).to_string()]).collect();
        rows[12][0] = "twelve".into();
        let real = Table::new(vec!["n".into()], rows).unwrap();
        let message = Schema::infer(&real, &missing(), &[]).unwrap_err().to_string();
        assert!(message.contains("row 13") && message.contains("'n'"), "{message}");
        assert!(message.contains("twelve"), "{message}");

        let real = table(&["n"], &[&["1"], &["2"], &["1"]]);
        let mut schema = Schema::infer(&real, &missing(), &[]).unwrap();
        let synthetic = table(&["n"], &[&["1"], &["x"]]);
        let message = schema.encode(&synthetic, "synthetic").unwrap_err().to_string();
        assert!(message.contains("synthetic") && message.contains("row 2"), "{message}");
    }

    #[test]
    fn mismatched_columns_are_named() {
        let real = table(&["a", "b"], &[&["1", "x"], &["1", "y"]]);
        let mut schema = Schema::infer(&real, &missing(), &[]).unwrap();
        let message =
            schema.encode(&table(&["a"], &[&["1"]]), "synthetic").unwrap_err().to_string();
        assert!(message.contains("'b'") && message.contains("not in the synthetic"), "{message}");
        let extra = table(&["a", "b", "c"], &[&["1", "x", "z"]]);
        let message = schema.encode(&extra, "holdout").unwrap_err().to_string();
        assert!(message.contains("'c'") && message.contains("holdout"), "{message}");
    }
}
