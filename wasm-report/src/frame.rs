//! [`Frame`]: tables as typed, encoded columns, the common input of every metric beyond the
//! binned accuracies (correlations, principal components, classifiers and distances).
//!
//! The real (training) table decides each column's [`Kind`] through [`Schema::infer`] (the
//! rules of [`crate::kinds`], from all of its rows; a real column is never refused for its
//! contents); the synthetic and holdout tables are then encoded against that schema with
//! [`Schema::encode`], which matches columns by name. A cell that a numeric or datetime column
//! cannot read (text in a numeric column of the synthetic table) is read as missing and counted
//! in [`Frame::unreadable`]; the validity checks ([`crate::validity`]) name such cells.
//!
//! Text columns are kept apart from the other columns ([`Schema::texts`], [`Frame::texts`]):
//! correlations, principal components, the classifiers and utility do not use them, the
//! privacy distances and exact copies do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kinds::{datetime_seconds, infer, Inferred};
use crate::table::Table;

/// The code of a missing categorical cell.
pub const MISSING: u32 = u32::MAX;

/// How a column is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Finite numbers; missing cells are NaN.
    Numeric,
    /// Codes into [`ColumnSpec::levels`]; missing cells are [`MISSING`].
    Categorical,
    /// Dates or date-times, encoded as numbers (seconds since 1970-01-01, see
    /// [`crate::kinds::datetime_seconds`]); missing cells are NaN.
    Datetime,
    /// Free text, in [`Schema::texts`]: codes into [`ColumnSpec::levels`] (one per distinct
    /// text); missing cells are [`MISSING`].
    Text,
}

/// One column of the schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// How the column is encoded.
    pub kind: Kind,
    /// Categorical levels (or distinct texts): the real table's, most frequent first (ties by
    /// text), then values first seen in later encoded tables. Empty for numbers and dates.
    pub levels: Vec<String>,
    /// How many of `levels` occur in the real table.
    pub real_levels: usize,
    /// The chrono format of a datetime column (one of [`crate::kinds::DATETIME_FORMATS`]).
    pub format: Option<&'static str>,
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
    /// Numeric, datetime and categorical columns, in the real table's order.
    pub columns: Vec<ColumnSpec>,
    /// Text columns, in the real table's order.
    pub texts: Vec<ColumnSpec>,
    /// Columns left out, in the real table's order.
    pub skipped: Vec<SkippedColumn>,
    missing_tokens: Vec<String>,
    /// Level -> code, per column of `columns` (empty for numbers and dates).
    index: Vec<HashMap<String, u32>>,
    /// Text -> code, per column of `texts`.
    text_index: Vec<HashMap<String, u32>>,
}

/// One encoded column.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Numbers (or seconds of a datetime column), NaN where missing.
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

/// A table encoded against a [`Schema`]: `columns[i]` is `schema.columns[i]`, `texts[t]` is
/// `schema.texts[t]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// Encoded columns, one per schema column.
    pub columns: Vec<Values>,
    /// Text codes ([`MISSING`] where missing), one list per schema text column.
    pub texts: Vec<Vec<u32>>,
    /// The number of rows.
    pub rows: usize,
    /// Per schema column, the cells that were neither missing nor readable in the column's
    /// kind (not a number, not a date in the column's format): read as missing. Empty for a
    /// frame built by hand.
    pub unreadable: Vec<usize>,
}

pub(crate) use doppel_table::value::parse_number;

/// Whether `cell`, trimmed, is one of the missing-value `tokens`.
pub(crate) fn is_missing_token(tokens: &[String], cell: &str) -> bool {
    doppel_table::missing::is_missing(tokens, Some(cell))
}

impl Schema {
    /// Decides each column's kind from all rows of the `real` table (see [`crate::kinds`]):
    /// numeric when every non-missing cell is a finite number, datetime when every one reads
    /// in one date format, text for free text and long tails, categorical otherwise. Columns
    /// named in `skip`, columns with every value missing and row numbers are left out.
    ///
    /// Never fails for a column's contents; the `Result` is kept for callers.
    pub fn infer(real: &Table, missing_tokens: &[String], skip: &[String]) -> Result<Schema> {
        let mut schema = Schema {
            columns: Vec::new(),
            texts: Vec::new(),
            skipped: Vec::new(),
            missing_tokens: missing_tokens.to_vec(),
            index: Vec::new(),
            text_index: Vec::new(),
        };
        for (c, name) in real.names().iter().enumerate() {
            let cells: Vec<&str> = real.column(c).collect();
            let inferred = if skip.contains(name) {
                Inferred::Skipped("left out by the options".to_string())
            } else {
                infer(&cells, |c| schema.is_missing(c))
            };
            let spec = |kind, format| ColumnSpec {
                name: name.clone(),
                kind,
                levels: Vec::new(),
                real_levels: 0,
                format,
            };
            match inferred {
                Inferred::Skipped(reason) => {
                    schema.skipped.push(SkippedColumn { name: name.clone(), reason });
                }
                Inferred::Numeric => schema.push(spec(Kind::Numeric, None)),
                Inferred::Datetime(f) => schema.push(spec(Kind::Datetime, Some(f))),
                Inferred::Categorical => {
                    let levels = schema.ranked_levels(&cells);
                    schema.push(ColumnSpec {
                        real_levels: levels.len(),
                        levels,
                        ..spec(Kind::Categorical, None)
                    });
                }
                Inferred::Text => {
                    let levels = schema.ranked_levels(&cells);
                    let index = levels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32));
                    schema.text_index.push(index.collect());
                    let text =
                        ColumnSpec { real_levels: levels.len(), levels, ..spec(Kind::Text, None) };
                    schema.texts.push(text);
                }
            }
        }
        Ok(schema)
    }

    fn push(&mut self, spec: ColumnSpec) {
        let index = spec.levels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32));
        self.index.push(index.collect());
        self.columns.push(spec);
    }

    /// The distinct present values of `cells`, most frequent first (ties by text).
    fn ranked_levels(&self, cells: &[&str]) -> Vec<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for c in cells.iter().filter(|c| !self.is_missing(c)) {
            *counts.entry(c).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.iter().map(|(v, _)| v.to_string()).collect()
    }

    /// Whether `cell` means "missing" (compared after trimming whitespace).
    pub fn is_missing(&self, cell: &str) -> bool {
        is_missing_token(&self.missing_tokens, cell)
    }

    /// The missing-value tokens the schema was built with.
    pub fn missing_tokens(&self) -> &[String] {
        &self.missing_tokens
    }

    /// The position of a kept (non-text) column by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Encodes `table` (named `role` in messages: "real", "synthetic", "holdout"). Columns
    /// are matched by name; categorical values and texts not seen before become new levels; a
    /// cell a numeric or datetime column cannot read is missing, counted in
    /// [`Frame::unreadable`].
    ///
    /// Errors when `table` lacks a column of the real table or has one the real table lacks.
    pub fn encode(&mut self, table: &Table, role: &str) -> Result<Frame> {
        let (order, text_order) = self.align(table, role)?;
        let mut columns = Vec::with_capacity(self.columns.len());
        let mut unreadable = vec![0; self.columns.len()];
        for (k, &c) in order.iter().enumerate() {
            let read = |cell: &str| match self.columns[k].format {
                Some(format) => datetime_seconds(cell, format),
                None => parse_number(cell),
            };
            let values = match self.columns[k].kind {
                Kind::Numeric | Kind::Datetime => {
                    let numbers = table.column(c).map(|cell| match read(cell) {
                        Some(x) => x,
                        None => {
                            unreadable[k] += usize::from(!self.is_missing(cell));
                            f64::NAN
                        }
                    });
                    Values::Numeric(numbers.collect())
                }
                Kind::Categorical | Kind::Text => {
                    let index = &mut self.index[k];
                    let spec = &mut self.columns[k];
                    let tokens = &self.missing_tokens;
                    let codes = table.column(c).map(|cell| code(index, spec, tokens, cell));
                    Values::Categorical(codes.collect())
                }
            };
            columns.push(values);
        }
        let mut texts = Vec::with_capacity(self.texts.len());
        for (t, &c) in text_order.iter().enumerate() {
            let (index, spec) = (&mut self.text_index[t], &mut self.texts[t]);
            let tokens = &self.missing_tokens;
            texts.push(table.column(c).map(|cell| code(index, spec, tokens, cell)).collect());
        }
        Ok(Frame { columns, texts, rows: table.num_rows(), unreadable })
    }

    /// For each kept column and each text column, its index in `table`.
    fn align(&self, table: &Table, role: &str) -> Result<(Vec<usize>, Vec<usize>)> {
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
        let kept = self.columns.iter().chain(&self.texts).map(|c| &c.name);
        let all: Vec<&String> = kept.chain(self.skipped.iter().map(|c| &c.name)).collect();
        if let Some(extra) = table.names().iter().find(|n| !all.contains(n)) {
            let problem = format!("in the {role} table but not in the real one");
            return Err(Error::Columns { column: extra.clone(), problem });
        }
        for name in all {
            if !position.contains_key(name.as_str()) {
                let problem = format!("in the real table but not in the {role} one");
                return Err(Error::Columns { column: name.clone(), problem });
            }
        }
        let at = |specs: &[ColumnSpec]| specs.iter().map(|c| position[c.name.as_str()]).collect();
        Ok((at(&self.columns), at(&self.texts)))
    }
}

/// The code of `cell` in a categorical or text column, adding it as a new level when it is
/// new; [`MISSING`] for a missing cell.
fn code(
    index: &mut HashMap<String, u32>,
    spec: &mut ColumnSpec,
    missing_tokens: &[String],
    cell: &str,
) -> u32 {
    if is_missing_token(missing_tokens, cell) {
        return MISSING;
    }
    if let Some(&code) = index.get(cell) {
        return code;
    }
    let code = spec.levels.len() as u32;
    spec.levels.push(cell.to_string());
    index.insert(cell.to_string(), code);
    code
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
    fn a_stray_word_makes_a_real_column_categorical_and_a_synthetic_one_unreadable() {
        // The real table is never refused: one word among numbers makes the column categorical.
        let mut rows: Vec<Vec<String>> = (0..20).map(|i| vec![(i % 7).to_string()]).collect();
        rows[12][0] = "twelve".into();
        let real = Table::new(vec!["n".into()], rows).unwrap();
        let schema = Schema::infer(&real, &missing(), &[]).unwrap();
        assert_eq!(schema.columns[0].kind, Kind::Categorical);
        // A synthetic word in a numeric column reads as missing and is counted.
        let real = table(&["n"], &[&["1"], &["2"], &["1"]]);
        let mut schema = Schema::infer(&real, &missing(), &[]).unwrap();
        let synthetic = table(&["n"], &[&["1"], &["x"], &["?"]]);
        let frame = schema.encode(&synthetic, "synthetic").unwrap();
        let Values::Numeric(n) = &frame.columns[0] else { panic!("numeric") };
        assert!(n[0] == 1.0 && n[1].is_nan() && n[2].is_nan());
        assert_eq!(frame.unreadable, [1]);
    }

    #[test]
    fn dates_are_seconds_and_text_is_kept_apart() {
        let notes: Vec<String> = (0..30).map(|i| format!("note number {i}")).collect();
        let rows: Vec<Vec<String>> = (0..30)
            .map(|i| vec![format!("2024-01-{:02}", i + 1), notes[i].clone(), "a".into()])
            .collect();
        let names = vec!["day".into(), "note".into(), "c".into()];
        let real = Table::new(names.clone(), rows).unwrap();
        let mut schema = Schema::infer(&real, &missing(), &[]).unwrap();
        assert_eq!(
            (schema.columns[0].kind, schema.columns[0].format),
            (Kind::Datetime, Some("%Y-%m-%d"))
        );
        assert_eq!(schema.texts.len(), 1);
        assert_eq!((schema.texts[0].name.as_str(), schema.texts[0].kind), ("note", Kind::Text));
        assert_eq!(schema.columns.len(), 2);
        let synthetic = Table::new(
            names,
            vec![
                vec!["1970-01-02".into(), notes[3].clone(), "a".into()],
                vec!["31/12/2024".into(), "new text".into(), "".into()],
            ],
        )
        .unwrap();
        let frame = schema.encode(&synthetic, "synthetic").unwrap();
        let Values::Numeric(days) = &frame.columns[0] else { panic!("numeric") };
        assert!(days[0] == 86_400.0 && days[1].is_nan());
        assert_eq!(frame.unreadable, [1, 0]);
        // Equal texts share a code; a new text becomes a new level.
        assert_eq!(schema.texts[0].levels[frame.texts[0][0] as usize], notes[3]);
        assert_eq!(frame.texts[0][1], 30);
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
