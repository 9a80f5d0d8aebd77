//! The privacy filter: drops generated rows identical to, or within a distance of, a training
//! row, and tops the output up to the rows asked for (Gretel's similarity filter).
//!
//! The distance between two rows is the mean over the model's columns (identifiers left out:
//! they are regenerated, never learned) of a per-cell distance in `[0, 1]`: for numbers and
//! dates `|x - y|` over the column's training range (capped at 1), for every other column 0 when
//! the texts are equal and 1 otherwise; a missing cell is 0 from a missing cell and 1 from any
//! value. Distance 0 is an exact copy up to how numbers are written (`1.50` = `1.5`).
//!
//! The filter reads the training rows: its output depends on them beyond what the model
//! learned, so a model trained with DP refuses it (the DP guarantee would not cover the
//! choice of rows). Nor is it a guarantee of its own: the gaps it leaves around training rows,
//! and the count of rows it dropped, depend on those rows.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::schema::{is_missing, ColumnKind};
use crate::table::Table;

/// One column of the training rows, as the distance reads it.
enum Column {
    /// Numbers (or dates as seconds) scaled by the training range (a column of one value: not
    /// scaled); NaN for missing.
    Number { values: Vec<f64>, scale: f64 },
    /// Texts as codes (`u32::MAX` for missing), with the code of each text.
    Text { codes: Vec<u32>, dictionary: HashMap<String, u32> },
}

/// The training rows to filter against, resolved to the model's columns.
pub struct PrivacyFilter {
    /// Per model column: its training cells, `None` for a column the distance leaves out.
    columns: Vec<Option<Column>>,
    /// How many columns the distance averages over.
    counted: usize,
    rows: usize,
    /// Rows within this distance of a training row are dropped.
    distance: f64,
    /// At distance 0, the training rows' cells as keys (an exact copy is a lookup).
    copies: Option<HashSet<Vec<u64>>>,
}

const MISSING_CODE: u32 = u32::MAX;
/// The code of a generated text no training cell has.
const UNSEEN_CODE: u32 = u32::MAX - 1;

impl PrivacyFilter {
    /// Reads `training` (the model's training rows, or any table with its columns by name)
    /// for filtering `model`'s output at `distance` (in `[0, 1)`; 0 drops exact copies only).
    /// An error when the model was trained with DP, when the distance is out of range, or
    /// when the table lacks one of the model's columns (named).
    pub fn new(model: &TrainedModel, training: &Table, distance: f64) -> Result<PrivacyFilter> {
        PrivacyFilter::check(model, distance)?;
        let config = &model.metadata().config;
        if training.num_rows() == 0 {
            return Err(Error::Data("the filter's table has no rows".into()));
        }
        let tokenizer = model.tokenizer();
        let names = training.column_names();
        let mut columns = Vec::new();
        for (c, schema) in model.schema().columns.iter().enumerate() {
            if matches!(schema.kind, ColumnKind::Identifier { .. }) {
                columns.push(None);
                continue;
            }
            let source = names.iter().position(|n| *n == schema.name).ok_or_else(|| {
                Error::Data(format!("the filter's table has no column '{}'", schema.name))
            })?;
            let cell = |r: usize| {
                let cell = training.cell(r, source);
                cell.filter(|_| !is_missing(&config.missing_tokens, cell))
            };
            let numeric = matches!(
                schema.kind,
                ColumnKind::Integer | ColumnKind::Float { .. } | ColumnKind::Datetime { .. }
            );
            let rows = training.num_rows();
            let column = if numeric {
                let values: Vec<f64> = (0..rows)
                    .map(|r| cell(r).and_then(|t| tokenizer.read_number(c, t)).unwrap_or(f64::NAN))
                    .collect();
                let (lo, hi) = values
                    .iter()
                    .filter(|v| !v.is_nan())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                let scale = if hi > lo { 1.0 / (hi - lo) } else { 1.0 };
                Column::Number { values: values.iter().map(|v| v * scale).collect(), scale }
            } else {
                let mut dictionary = HashMap::new();
                let codes = (0..rows)
                    .map(|r| match cell(r) {
                        None => MISSING_CODE,
                        Some(text) => {
                            let next = dictionary.len() as u32;
                            *dictionary.entry(text.to_string()).or_insert(next)
                        }
                    })
                    .collect();
                Column::Text { codes, dictionary }
            };
            columns.push(Some(column));
        }
        let counted = columns.iter().flatten().count();
        let rows = training.num_rows();
        let mut filter = PrivacyFilter { columns, counted, rows, distance, copies: None };
        if distance == 0.0 {
            let keys = (0..rows).map(|r| filter.training_key(r)).collect();
            filter.copies = Some(keys);
        }
        Ok(filter)
    }

    /// Training row `r`'s cells as a key: numbers by bit pattern (every NaN one NaN), texts
    /// by code.
    fn training_key(&self, r: usize) -> Vec<u64> {
        let cells = self.columns.iter().flatten().map(|column| match column {
            Column::Number { values, .. } => Cell::Number(values[r]),
            Column::Text { codes, .. } => Cell::Code(codes[r]),
        });
        cells.map(|cell| cell.key()).collect()
    }

    /// The distance within which rows are dropped.
    pub fn distance(&self) -> f64 {
        self.distance
    }

    /// Refuses, before the training rows are read, a model trained with DP (the filter would
    /// release more than the guarantee covers) and a distance outside `[0, 1)`.
    pub fn check(model: &TrainedModel, distance: f64) -> Result<()> {
        if model.metadata().config.privacy.dp {
            return Err(Error::Config(
                "the privacy filter reads the training rows, which the model's DP guarantee \
                 does not cover: a DP model bounds what any row reveals already; generate \
                 without the filter"
                    .into(),
            ));
        }
        if !(0.0..1.0).contains(&distance) {
            return Err(Error::Config(format!(
                "the filter distance is {distance}; it must be in [0, 1) (0: exact copies only)"
            )));
        }
        Ok(())
    }

    /// Which of `rows` (generated cells in the model's column order, `None` missing) to keep:
    /// those farther than the distance from every training row.
    pub fn keep(&self, model: &TrainedModel, rows: &[Vec<Option<String>>]) -> Vec<bool> {
        rows.par_iter().map(|row| !self.near_a_training_row(model, row)).collect()
    }

    /// Whether `row` is within the distance of some training row. Scans the training rows,
    /// leaving each at the first column that puts it beyond the distance (most rows differ
    /// in a column or two, so a scan reads few cells per row).
    fn near_a_training_row(&self, model: &TrainedModel, row: &[Option<String>]) -> bool {
        let tokenizer = model.tokenizer();
        let coded: Vec<Option<Cell>> = self
            .columns
            .iter()
            .enumerate()
            .map(|(c, column)| {
                let cell = row.get(c).cloned().flatten();
                column.as_ref().map(|column| match column {
                    Column::Number { scale, .. } => Cell::Number(
                        cell.and_then(|t| tokenizer.read_number(c, &t)).unwrap_or(f64::NAN) * scale,
                    ),
                    Column::Text { dictionary, .. } => Cell::Code(match cell {
                        None => MISSING_CODE,
                        Some(t) => dictionary.get(&t).copied().unwrap_or(UNSEEN_CODE),
                    }),
                })
            })
            .collect();
        if let Some(copies) = &self.copies {
            return copies.contains(&coded.iter().flatten().map(Cell::key).collect::<Vec<u64>>());
        }
        // The sum of cell distances a near row stays within (a little slack for rounding).
        let budget = self.distance * self.counted as f64 + 1e-9;
        (0..self.rows).any(|r| {
            let mut sum = 0.0;
            for (column, cell) in self.columns.iter().zip(&coded) {
                let (Some(column), Some(cell)) = (column, cell) else { continue };
                sum += match (column, cell) {
                    (Column::Number { values, .. }, Cell::Number(x)) => {
                        let y = values[r];
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => 0.0,
                            (false, false) => (x - y).abs().min(1.0),
                            _ => 1.0,
                        }
                    }
                    (Column::Text { codes, .. }, Cell::Code(x)) => {
                        f64::from(u8::from(codes[r] != *x))
                    }
                    _ => 1.0,
                };
                if sum > budget {
                    return false;
                }
            }
            true
        })
    }
}

/// A generated cell as the distance reads it.
enum Cell {
    Number(f64),
    Code(u32),
}

impl Cell {
    /// The cell as a key: equal keys for equal cells (every NaN one NaN, -0 as 0).
    fn key(&self) -> u64 {
        match self {
            Cell::Number(x) if x.is_nan() => f64::NAN.to_bits(),
            Cell::Number(x) => (x + 0.0).to_bits(),
            Cell::Code(c) => u64::from(*c),
        }
    }
}
