//! Derived columns: exact relations between number columns, found when the tokenizer is fitted
//! and kept in generation by computing the derived column from the columns it depends on.
//!
//! Tables often hold columns computed from others: a charge that is a rate times minutes, a
//! total that is the sum of two parts, an amount that is a price times a quantity. A model that
//! learns each column on its own writes rows that break the relation, and a classifier telling
//! synthetic rows from real ones uses that. So relations that hold in *every* row of the
//! training table (within the derived column's rounding) are detected:
//! - `y = k · x` for a constant `k` (`k = 1` is a copy), rounded as `y` is written;
//! - `c = a + b`;
//! - `d = a · b`, rounded as `d` is written;
//!
//! and the derived column gets no tokens: its cells are computed after the others are decoded.
//! Only columns without missing values take part, a derived column is never an input of
//! another, and under DP nothing is detected (the relations are learned from the data).
//!
//! A date-time column never before another ([`ordered`]: an end date after its start) is
//! modelled as its distance from that column, so generated rows keep the order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::numbers::Written;
use crate::schema::{self, ColumnKind, Schema};

/// Fewest rows for a relation to be taken for one rather than chance.
const MIN_ROWS: usize = 20;
/// Fewest distinct values an input column needs (a constant or a flag proves nothing).
const MIN_DISTINCT: usize = 5;
/// Most number columns searched for relations of three columns (the search is cubic in them).
const MAX_TRIPLE_COLUMNS: usize = 100;

/// How a derived column's value is computed from other columns (by index in the schema).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "relation", rename_all = "snake_case")]
pub enum Relation {
    /// `factor` times column `source`.
    Scale {
        /// The input column.
        source: usize,
        /// The constant factor.
        factor: f64,
    },
    /// Column `a` plus column `b`.
    Sum {
        /// The first input column.
        a: usize,
        /// The second input column.
        b: usize,
    },
    /// Column `a` times column `b`.
    Product {
        /// The first input column.
        a: usize,
        /// The second input column.
        b: usize,
    },
}

/// How a derived float column writes its values: rounded to `decimals`, with trailing zeros
/// dropped down to `min_decimals` when the source drops them (`2.7` for 2.70, `45.0` for 45).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedFormat {
    /// Digits after the point values are rounded to (0 for an integer column).
    pub decimals: u32,
    /// Fewest digits after the point written.
    pub min_decimals: u32,
}

impl Relation {
    /// The input columns.
    pub fn inputs(&self) -> Vec<usize> {
        match *self {
            Relation::Scale { source, .. } => vec![source],
            Relation::Sum { a, b } | Relation::Product { a, b } => vec![a, b],
        }
    }

    /// The derived value from the inputs' values (in [`Relation::inputs`] order).
    pub fn compute(&self, inputs: &[f64]) -> Option<f64> {
        let value = match (self, inputs) {
            (Relation::Scale { factor, .. }, [x]) => factor * x,
            (Relation::Sum { .. }, [a, b]) => a + b,
            (Relation::Product { .. }, [a, b]) => a * b,
            _ => return None,
        };
        value.is_finite().then_some(value)
    }

    /// Checks a relation read from a model file for a column `column` of `schema`: inputs
    /// are other number columns, and a factor is finite.
    pub(crate) fn check(&self, column: usize, schema: &Schema) -> Result<(), String> {
        if let Relation::Scale { factor, .. } = self {
            if !factor.is_finite() {
                return Err(format!("a derived column's factor {factor} is not finite"));
            }
        }
        for input in self.inputs() {
            let kind = schema.columns.get(input).map(|c| &c.kind);
            if input == column
                || !matches!(kind, Some(ColumnKind::Integer | ColumnKind::Float { .. }))
            {
                return Err(format!(
                    "a derived column's input {input} is not another number column"
                ));
            }
        }
        Ok(())
    }

    /// The relation in words, with `names` the schema's column names.
    pub fn describe(&self, names: &[&str]) -> String {
        let name = |i: usize| names.get(i).copied().unwrap_or("?");
        match *self {
            Relation::Scale { source, factor: 1.0 } => name(source).to_string(),
            Relation::Scale { source, factor } => format!("{factor} x {}", name(source)),
            Relation::Sum { a, b } => format!("{} + {}", name(a), name(b)),
            Relation::Product { a, b } => format!("{} x {}", name(a), name(b)),
        }
    }
}

impl fmt::Display for DerivedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rounded to {} decimals", self.decimals)
    }
}

impl DerivedFormat {
    /// `value` rounded and written in this format.
    pub fn write(&self, value: f64) -> String {
        let text = schema::format_float(value, self.decimals);
        let Some((whole, digits)) = text.split_once('.') else { return text };
        let keep = digits.trim_end_matches('0').len().max(self.min_decimals as usize);
        if keep == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{}", &digits[..keep])
        }
    }

    /// Checks a format read from a model file.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.min_decimals > self.decimals || self.decimals > schema::MAX_DECIMALS {
            return Err(format!(
                "a derived column written with {} to {} decimals (at most {})",
                self.min_decimals,
                self.decimals,
                schema::MAX_DECIMALS
            ));
        }
        Ok(())
    }
}

/// Pairs `(end, start)` of date-time columns where `end` is never before `start` in any row
/// where it is present and after it in some, while their ranges overlap (an order the ranges
/// already imply needs no modelling): an end date never before its start.
/// `start` has no missing value, is not an end itself, and is the closest such column (the
/// smallest gaps). Under DP nothing is detected.
pub fn ordered(schema: &Schema, cells: &[Vec<Option<&str>>]) -> Vec<(usize, usize)> {
    let rows = cells.first().map_or(0, Vec::len);
    if rows < MIN_ROWS {
        return Vec::new();
    }
    let times: Vec<Option<Vec<Option<f64>>>> = schema
        .columns
        .iter()
        .zip(cells)
        .map(|(column, cells)| times_of(&column.kind, cells))
        .collect();
    let complete = |c: usize| times[c].as_ref().is_some_and(|t| t.iter().all(Option::is_some));
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for (end, end_times) in times.iter().enumerate() {
        let Some(end_times) = end_times else { continue };
        let mut best: Option<(usize, f64)> = None;
        for start in (0..times.len()).filter(|&s| s != end && complete(s)) {
            let Some(start_times) = &times[start] else { continue };
            let pairs = end_times.iter().zip(start_times).filter_map(|(e, s)| Some(((*e)?, (*s)?)));
            let (mut total, mut later, mut ok) = (0.0, false, true);
            let (mut lowest_end, mut highest_start) = (f64::INFINITY, f64::NEG_INFINITY);
            for (e, s) in pairs {
                ok &= e >= s;
                later |= e > s;
                total += e - s;
                lowest_end = lowest_end.min(e);
                highest_start = highest_start.max(s);
            }
            let overlap = lowest_end < highest_start;
            if ok && later && overlap && best.is_none_or(|(_, t)| total < t) {
                best = Some((start, total));
            }
        }
        if let Some((start, total)) = best {
            pairs.push((end, start, total));
        }
    }
    // A start is never an end: keep the tightest pairs first.
    pairs.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut kept: Vec<(usize, usize)> = Vec::new();
    for (end, start, _) in pairs {
        if kept.iter().all(|&(e, s)| e != start && s != end && e != end) {
            kept.push((end, start));
        }
    }
    kept.sort();
    kept
}

/// A date-time column's values in seconds for [`ordered`] (`None` inside where missing);
/// `None` for another column, or one holding a value that does not read.
///
/// Numbers are not searched: in a table of counts, one is often never below another by chance
/// (churn's day calls and voice-mail messages), and modelling it as a distance made the churn
/// table easier to tell from the real one (discriminator AUC 0.538 -> 0.576), while credit's
/// loan amount never above the price gained nothing (0.860 -> 0.850). Telling a meaningful order
/// from chance is still to do.
fn times_of(kind: &ColumnKind, cells: &[Option<&str>]) -> Option<Vec<Option<f64>>> {
    let ColumnKind::Datetime { format } = kind else { return None };
    cells
        .iter()
        .map(|cell| match cell {
            None => Some(None),
            Some(text) => schema::datetime_to_seconds(text.trim(), format).map(|s| Some(s as f64)),
        })
        .collect()
}

/// One number column as read for the search: its values, and how it is written.
struct Numbers {
    values: Vec<f64>,
    format: DerivedFormat,
    /// Half the smallest step the column writes: the rounding a derived value may show.
    half_step: f64,
}

/// The relations that hold in every row of `cells` (`cells[c][r]`, the text of column `c` in
/// row `r`, `None` when missing), for the number columns of `schema`; each with its derived
/// column and format, derived columns in increasing order.
pub fn detect(
    schema: &Schema,
    cells: &[Vec<Option<&str>>],
) -> Vec<(usize, Relation, DerivedFormat)> {
    let numbers: Vec<Option<Numbers>> =
        schema.columns.iter().zip(cells).map(|(c, cells)| read_numbers(&c.kind, cells)).collect();
    let rows = numbers.iter().flatten().map(|n| n.values.len()).next().unwrap_or(0);
    if rows < MIN_ROWS {
        return Vec::new();
    }
    let candidates: Vec<usize> = (0..numbers.len()).filter(|&c| numbers[c].is_some()).collect();
    let inputs: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&c| distinct_at_least(&numbers[c], MIN_DISTINCT))
        .collect();
    let mut found: Vec<(usize, Relation, DerivedFormat)> = Vec::new();
    let taken = |found: &[(usize, Relation, DerivedFormat)], c: usize| {
        found.iter().any(|(d, r, _)| *d == c || r.inputs().contains(&c))
    };
    for &y in &candidates {
        for &x in &inputs {
            if x == y || taken(&found, y) || found.iter().any(|(d, ..)| *d == x) {
                continue;
            }
            let (Some(ny), Some(nx)) = (&numbers[y], &numbers[x]) else { continue };
            let Some(factor) = scale_factor(nx, ny) else { continue };
            // When x is also a multiple of y (y = 0.17 x rounded to cents, x to tenths), the
            // finer column is the derived one: computed from the coarser, it keeps the relation
            // both ways; the other way round a generated cent amount rarely divides back.
            if nx.format.decimals > ny.format.decimals && scale_factor(ny, nx).is_some() {
                continue;
            }
            found.push((y, Relation::Scale { source: x, factor }, ny.format));
        }
    }
    if inputs.len() <= MAX_TRIPLE_COLUMNS {
        for &c in &candidates {
            for (i, &a) in inputs.iter().enumerate() {
                for &b in &inputs[i..] {
                    if [a, b].contains(&c) || taken(&found, c) {
                        continue;
                    }
                    if [a, b].iter().any(|x| found.iter().any(|(d, ..)| d == x)) {
                        continue;
                    }
                    let (Some(nc), Some(na), Some(nb)) = (&numbers[c], &numbers[a], &numbers[b])
                    else {
                        continue;
                    };
                    for relation in [Relation::Sum { a, b }, Relation::Product { a, b }] {
                        if holds(&relation, &[na, nb], nc) {
                            found.push((c, relation, nc.format));
                            break;
                        }
                    }
                }
            }
        }
    }
    found.sort_by_key(|(c, ..)| *c);
    found
}

/// A column's values and format, when it is an integer or plain-decimal float column with no
/// missing value.
fn read_numbers(kind: &ColumnKind, cells: &[Option<&str>]) -> Option<Numbers> {
    if !matches!(kind, ColumnKind::Integer | ColumnKind::Float { .. }) {
        return None;
    }
    let mut values = Vec::with_capacity(cells.len());
    let (mut decimals, mut min_decimals) = (0, u32::MAX);
    for cell in cells {
        let text = (*cell)?;
        values.push(doppel_table::value::parse_number(text)?);
        let form = Written::of(text)?;
        decimals = decimals.max(form.precision.max(0) as u32);
        min_decimals = min_decimals.min(form.decimals);
    }
    let min_decimals = min_decimals.min(decimals);
    let half_step = 0.5 * 10f64.powi(-(decimals as i32));
    Some(Numbers { values, format: DerivedFormat { decimals, min_decimals }, half_step })
}

fn distinct_at_least(numbers: &Option<Numbers>, k: usize) -> bool {
    let Some(n) = numbers else { return false };
    let mut seen: Vec<u64> = Vec::with_capacity(k);
    for v in &n.values {
        if !seen.contains(&v.to_bits()) {
            seen.push(v.to_bits());
            if seen.len() >= k {
                return true;
            }
        }
    }
    false
}

/// Whether `derived` equals the relation of `inputs` in every row, within its rounding (see
/// [`slack`]).
fn holds(relation: &Relation, inputs: &[&Numbers], derived: &Numbers) -> bool {
    let mut args = vec![0.0; inputs.len()];
    derived.values.iter().enumerate().all(|(r, &y)| {
        for (arg, input) in args.iter_mut().zip(inputs) {
            *arg = input.values[r];
        }
        relation
            .compute(&args)
            .is_some_and(|v| (v - y).abs() <= slack(derived.half_step, v.abs().max(y.abs())))
    })
}

/// How far a computed value may lie from the written `value`: half its rounding step, and a
/// relative 1e-9 for floating-point arithmetic (a value that lies exactly halfway, 25.585,
/// may have been rounded either way).
fn slack(half_step: f64, value: f64) -> f64 {
    half_step * (1.0 + 1e-9) + 1e-9 * value.abs()
}

/// The factor `k` with `y = k · x` in every row within `y`'s rounding, the one with the fewest
/// decimals among those that fit; `None` when none does, or when `k` is 0.
fn scale_factor(x: &Numbers, y: &Numbers) -> Option<f64> {
    // Each row with x != 0 bounds k to [(y - h) / x, (y + h) / x]; a row with x = 0 needs y = 0.
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for (&xv, &yv) in x.values.iter().zip(&y.values) {
        if xv == 0.0 {
            if yv.abs() > y.half_step {
                return None;
            }
            continue;
        }
        let h = slack(y.half_step, yv);
        let (a, b) = ((yv - h) / xv, (yv + h) / xv);
        lo = lo.max(a.min(b));
        hi = hi.min(a.max(b));
        if lo > hi {
            return None;
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let mid = 0.5 * (lo + hi);
    let factor = (0..=15)
        .map(|d| {
            let scale = 10f64.powi(d);
            (mid * scale).round() / scale
        })
        .find(|k| (lo..=hi).contains(k))
        .unwrap_or(mid);
    let scale = Relation::Scale { source: 0, factor };
    (factor != 0.0 && holds(&scale, &[x], y)).then_some(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnSchema;

    fn schema_of(kinds: &[ColumnKind]) -> Schema {
        let columns = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| ColumnSchema {
                name: format!("c{i}"),
                kind: kind.clone(),
                missing_marker: None,
                missing_count: 0,
            })
            .collect();
        Schema { columns }
    }

    #[test]
    fn scales_sums_and_products_are_found_within_rounding() {
        // minutes, charge = round(0.17 x minutes, 2) written without trailing zeros,
        // a, b, a + b, round(a x b, 2), and an unrelated column.
        let rows = 300;
        let mut texts: Vec<Vec<String>> = vec![Vec::new(); 7];
        for i in 0..rows {
            let minutes = f64::from(i * 37 % 3001) / 10.0;
            let a = f64::from(i * 13 % 997) / 100.0;
            let b = f64::from(i * 7 % 89 + 1) / 10.0;
            let charge = DerivedFormat { decimals: 2, min_decimals: 1 }.write(0.17 * minutes);
            texts[0].push(format!("{minutes:.1}"));
            texts[1].push(charge);
            texts[2].push(format!("{a:.2}"));
            texts[3].push(format!("{b:.1}"));
            texts[4].push(format!("{:.2}", a + b));
            texts[5].push(format!("{:.2}", a * b));
            texts[6].push(format!("{}", (i * 31) % 101));
        }
        let float = |decimals| ColumnKind::Float { decimals };
        let kinds =
            [float(1), float(2), float(2), float(1), float(2), float(2), ColumnKind::Integer];
        let cells: Vec<Vec<Option<&str>>> =
            texts.iter().map(|c| c.iter().map(|t| Some(t.as_str())).collect()).collect();
        let found = detect(&schema_of(&kinds), &cells);
        let relations: Vec<(usize, Relation)> =
            found.iter().map(|(c, r, _)| (*c, r.clone())).collect();
        assert_eq!(
            relations,
            vec![
                (1, Relation::Scale { source: 0, factor: 0.17 }),
                (4, Relation::Sum { a: 2, b: 3 }),
                (5, Relation::Product { a: 2, b: 3 }),
            ]
        );
        assert_eq!(found[0].2, DerivedFormat { decimals: 2, min_decimals: 1 });
        // Breaking one row of the sum removes it.
        let mut broken = cells.clone();
        broken[4][17] = Some("1.00");
        let found = detect(&schema_of(&kinds), &broken);
        assert!(found.iter().all(|(c, ..)| *c != 4), "{found:?}");
    }

    #[test]
    fn an_end_after_its_start_is_found() {
        let date = ColumnKind::Datetime { format: "%Y-%m-%d".into() };
        let kinds = [date.clone(), date.clone(), date, ColumnKind::Integer];
        let mut texts: Vec<Vec<String>> = vec![Vec::new(); 4];
        for i in 0..100u32 {
            texts[0].push(format!("2024-01-{:02}", 1 + i % 20));
            // Never before column 0, up to a week after it (the ranges overlap).
            texts[1].push(format!("2024-01-{:02}", 1 + i % 20 + i % 8));
            texts[2].push(format!("2024-01-{:02}", 1 + (i + 3) % 20)); // before and after 0
            texts[3].push(i.to_string());
        }
        let mut cells: Vec<Vec<Option<&str>>> =
            texts.iter().map(|c| c.iter().map(|t| Some(t.as_str())).collect()).collect();
        assert_eq!(ordered(&schema_of(&kinds), &cells), vec![(1, 0)]);
        // An end may be missing; a start may not.
        cells[1][5] = None;
        assert_eq!(ordered(&schema_of(&kinds), &cells), vec![(1, 0)]);
        cells[0][5] = None;
        // Column 0 can no longer be a start, and column 2 is no start of column 1.
        assert_eq!(ordered(&schema_of(&kinds), &cells), vec![]);
        // Dates a month apart in every row: the ranges say the order, nothing to model.
        let later: Vec<String> = (0..100).map(|i| format!("2024-03-{:02}", 1 + i % 28)).collect();
        let mut cells: Vec<Vec<Option<&str>>> =
            texts.iter().map(|c| c.iter().map(|t| Some(t.as_str())).collect()).collect();
        cells[1] = later.iter().map(|t| Some(t.as_str())).collect();
        cells[2] = cells[0].clone();
        assert_eq!(ordered(&schema_of(&kinds), &cells), vec![]);
        // Numbers are not searched (see `ordered_values`): a price never below the amount is
        // no relation here.
        let kinds = [ColumnKind::Integer, ColumnKind::Integer];
        let columns: Vec<Vec<String>> = vec![
            (0..100).map(|i| (100 + i * 37 % 900).to_string()).collect(),
            (0..100).map(|i| (100 + i * 37 % 900 + i % 13 * 50).to_string()).collect(),
        ];
        let cells: Vec<Vec<Option<&str>>> =
            columns.iter().map(|c| c.iter().map(|t| Some(t.as_str())).collect()).collect();
        assert_eq!(ordered(&schema_of(&kinds), &cells), vec![]);
    }

    #[test]
    fn derived_values_are_written_as_the_source_writes_them() {
        let python = DerivedFormat { decimals: 2, min_decimals: 1 };
        assert_eq!(python.write(2.7), "2.7");
        assert_eq!(python.write(45.067), "45.07");
        assert_eq!(python.write(45.0), "45.0");
        let fixed = DerivedFormat { decimals: 2, min_decimals: 2 };
        assert_eq!(fixed.write(2.7), "2.70");
        assert_eq!(DerivedFormat { decimals: 0, min_decimals: 0 }.write(41.6), "42");
        assert!(DerivedFormat { decimals: 1, min_decimals: 2 }.check().is_err());
    }
}
