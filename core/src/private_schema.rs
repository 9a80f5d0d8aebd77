//! The schema under DP: every choice inference makes from the data (a column's kind, a float's
//! decimals, a date's format, the missing marker, whether a column holds identifiers) and the
//! number of privacy units, released through one Gaussian mechanism.
//!
//! Without DP, [`crate::schema::infer_schema`] looks at every value: one added row with five
//! decimals, a word in a date column or a new missing text changes the schema deterministically,
//! and the model file would tell. Under DP each privacy unit (its first row) instead adds one
//! vote per column to fixed, data-independent histograms:
//! - the *class* of its value: integer, float, a date in one of the known formats, words (three
//!   or more), other; or, when missing, which of the configured missing tokens it is;
//! - the decimals its number shows (0 to [`MAX_DECIMALS`]), for numbers;
//! - whether its value is new among the first rows so far (the count of distinct values).
//!
//! Plus one count of all units. A unit changes at most three counts per column by one (class or
//! missing token, decimals, distinct) and the unit count, so the L2 sensitivity is
//! `sqrt(3k + 1)` for `k` columns; noise of standard deviation `σ·sqrt(3k + 1)` makes it one
//! Gaussian mechanism of noise multiplier `σ` (`privacy.schema_noise`), composed into epsilon.
//! Every decision below is post-processing of the noisy counts. What the user declares in
//! `[columns]` (kind, decimals, format, missing marker, template) is public and used as is.
//!
//! Values that do not fit the chosen kind (a word in a number column) are treated as missing
//! under DP ([`conform`]): refusing them would make an error depend on one row.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};

use crate::config::{ColumnConfig, KindName, SchemaSettings, MAX_DECIMALS};
use crate::dp::Randomness;
use crate::error::Result;
use crate::private_stats::upper_normal_quantile;
use crate::schema::is_missing;
use crate::schema::{self, ColumnKind, ColumnSchema, IdShape, Schema};
use crate::table::Table;

/// The template of synthetic identifiers under DP when none is declared: sixteen random-looking
/// hex digits, learned from nothing (a template learned from the data would reproduce real
/// identifiers, and it is a data-dependent choice).
pub const NEUTRAL_TEMPLATE: &str = "xxxxxxxxxxxxxxxx";

/// Value classes a unit votes for, in order: integer, float, one per date format, words, other.
fn classes() -> usize {
    2 + schema::DATETIME_FORMATS.len() + 2
}
const INTEGER: usize = 0;
const FLOAT: usize = 1;
const FIRST_DATE: usize = 2;
fn words_class() -> usize {
    FIRST_DATE + schema::DATETIME_FORMATS.len()
}
fn other_class() -> usize {
    words_class() + 1
}

/// Fewest whitespace-separated words of a value voting "words".
const MIN_WORDS: usize = 3;
/// Share of a column's values that may fall outside its kind (a stray word in a number column).
const TOLERANCE: f64 = 0.01;
/// Noise standard deviations of slack in every comparison of noisy counts.
const SIGMAS: f64 = 3.0;
/// Chance that noise alone makes an empty count look like data (a decimals count, or missing
/// values in a column that has none).
const SPURIOUS: f64 = 1e-4;

/// One column's noisy counts.
#[derive(Clone, Debug)]
struct Votes {
    classes: Vec<f64>,
    decimals: Vec<f64>,
    missing: Vec<f64>,
    distinct: f64,
}

/// The released schema and the noisy number of privacy units.
#[derive(Clone, Debug)]
pub struct PrivateSchema {
    /// The schema (missing counts are 0 here; the statistics release sets them).
    pub schema: Schema,
    /// The noisy number of privacy units, at least 1.
    pub units: f64,
}

/// Releases the schema of `table` from the rows `first_rows` (one per privacy unit) with noise
/// multiplier `sigma`, honouring what `config.columns` declares.
pub fn release(
    table: &Table,
    config: &SchemaSettings,
    first_rows: &[usize],
    sigma: f64,
    rng: &mut Randomness,
) -> Result<PrivateSchema> {
    schema::check_declared_columns(table, config)?;
    let names = table.column_names();
    let tokens = missing_tokens(config);
    let std = sigma * ((3 * names.len() + 1) as f64).sqrt();
    let mut noisy = |count: usize| -> f64 {
        let mut n = [0f32; 1];
        rng.fill_normal(&mut n, std);
        count as f64 + f64::from(n[0])
    };
    let units = noisy(first_rows.len()).max(1.0);
    let mut columns = Vec::with_capacity(names.len());
    for (c, name) in names.iter().enumerate() {
        let votes = count_votes(table, c, first_rows, config, &tokens);
        let votes = Votes {
            classes: votes.classes.iter().map(|&n| noisy(n as usize)).collect(),
            decimals: votes.decimals.iter().map(|&n| noisy(n as usize)).collect(),
            missing: votes.missing.iter().map(|&n| noisy(n as usize)).collect(),
            distinct: noisy(votes.distinct as usize),
        };
        let declared = config.columns.get(*name).cloned().unwrap_or_default();
        let kind = decide_kind(name, &declared, &votes, (std, units));
        let missing_marker =
            declared.missing_marker.clone().or_else(|| marker_of(&votes.missing, &tokens, std));
        columns.push(ColumnSchema {
            name: name.to_string(),
            kind,
            missing_marker,
            missing_count: 0,
        });
    }
    Ok(PrivateSchema { schema: Schema { columns }, units })
}

/// The configured missing tokens, trimmed and without repeats, with `""` (a null) first.
fn missing_tokens(config: &SchemaSettings) -> Vec<String> {
    let mut tokens = vec![String::new()];
    for t in config.missing_tokens {
        let t = t.trim().to_string();
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    tokens
}

/// The exact counts of one column over `rows` (before noise).
fn count_votes(
    table: &Table,
    c: usize,
    rows: &[usize],
    config: &SchemaSettings,
    tokens: &[String],
) -> Votes {
    let mut votes = Votes {
        classes: vec![0.0; classes()],
        decimals: vec![0.0; MAX_DECIMALS as usize + 1],
        missing: vec![0.0; tokens.len()],
        distinct: 0.0,
    };
    let mut seen = HashSet::new();
    for &r in rows {
        let cell = table.cell(r, c);
        if is_missing(config.missing_tokens, cell) {
            let text = cell.unwrap_or("").trim();
            let slot = tokens.iter().position(|t| t == text).unwrap_or(0);
            votes.missing[slot] += 1.0;
            continue;
        }
        let value = cell.unwrap_or("");
        let class = class_of(value);
        votes.classes[class] += 1.0;
        if class == INTEGER || class == FLOAT {
            votes.decimals[schema::decimals_of(value) as usize] += 1.0;
        }
        if seen.insert(value) {
            votes.distinct += 1.0;
        }
    }
    votes
}

/// The class a present value votes for.
fn class_of(value: &str) -> usize {
    if schema::parse_integer(value).is_some() {
        return INTEGER;
    }
    if schema::parse_float(value).is_some() {
        return FLOAT;
    }
    let t = value.trim();
    let date = schema::DATETIME_FORMATS.iter().position(|f| {
        schema::datetime_to_seconds(t, f).is_some_and(|s| schema::seconds_to_datetime(s, f) == t)
    });
    if let Some(f) = date {
        return FIRST_DATE + f;
    }
    if t.split_whitespace().count() >= MIN_WORDS {
        return words_class();
    }
    other_class()
}

/// The most frequent missing token, when its noisy count is clearly above what noise alone
/// gives (but rarely) to any token; `None` otherwise.
fn marker_of(counts: &[f64], tokens: &[String], std: f64) -> Option<String> {
    let best = argmax(counts);
    (counts[best] > clear_of_noise(counts.len()) * std).then(|| tokens.get(best).cloned()).flatten()
}

/// How many standard deviations a noisy count of zero exceeds with probability at most
/// [`SPURIOUS`] / `counts` (a union bound over the `counts` counts compared).
fn clear_of_noise(counts: usize) -> f64 {
    upper_normal_quantile(SPURIOUS / counts.max(1) as f64)
}

fn argmax(counts: &[f64]) -> usize {
    let mut best = 0;
    for (i, &n) in counts.iter().enumerate() {
        if n > counts[best] {
            best = i;
        }
    }
    best
}

/// The kind of one column from its noisy votes (`std`: the noise of one count; `units`: the
/// noisy number of privacy units).
fn decide_kind(
    name: &str,
    declared: &ColumnConfig,
    votes: &Votes,
    (std, units): (f64, f64),
) -> ColumnKind {
    let present: f64 = votes.classes.iter().sum::<f64>().max(0.0);
    // A class holds "every" value when the others together are within the tolerance and the
    // noise of the counts compared.
    let slack = (TOLERANCE * present).max(SIGMAS * std * (votes.classes.len() as f64).sqrt());
    // (And is clearly more than noise: when `present` is barely above `slack`, noise alone
    // reaches `present - slack`.)
    let holds = |count: f64| present > slack && count >= present - slack && count > SIGMAS * std;
    // Whether the test above cannot tell "every value" from "three quarters of them" (few
    // units, many columns): then numbers that clearly lead the votes stay numbers.
    let weak = slack > 0.25 * units;
    let decimals = || declared.decimals.unwrap_or_else(|| decimals_of(votes, std, present));
    let date = || {
        (0..schema::DATETIME_FORMATS.len())
            .max_by(|&a, &b| {
                votes.classes[FIRST_DATE + a].total_cmp(&votes.classes[FIRST_DATE + b])
            })
            .map(|f| schema::DATETIME_FORMATS[f].to_string())
    };
    let neutral = || IdShape::Template { template: NEUTRAL_TEMPLATE.into() };
    let integer = votes.classes[INTEGER];
    let numeric = integer + votes.classes[FLOAT];
    let unique = holds(votes.distinct);
    match declared.kind {
        Some(KindName::Integer) => ColumnKind::Integer,
        Some(KindName::Float) => ColumnKind::Float { decimals: decimals() },
        Some(KindName::Boolean) => ColumnKind::Boolean,
        Some(KindName::Categorical) => ColumnKind::Categorical,
        Some(KindName::Text) => ColumnKind::Text,
        Some(KindName::Datetime) => ColumnKind::Datetime {
            format: declared.format.clone().or_else(date).unwrap_or_else(|| "%Y-%m-%d".into()),
        },
        Some(KindName::Identifier) => ColumnKind::Identifier {
            shape: match &declared.template {
                Some(template) => IdShape::Template { template: template.clone() },
                None => neutral(),
            },
        },
        None if holds(integer) && unique && schema::is_id_name(name) => {
            ColumnKind::Identifier { shape: neutral() }
        }
        None if holds(integer) => ColumnKind::Integer,
        None if holds(numeric) => ColumnKind::Float { decimals: decimals() },
        // Too few units to tell "every value" from noise: numbers stay numbers when they are
        // clearly the most votes, instead of a category none of whose values clears the noise
        // (every generated cell the rare bucket's placeholder).
        None if weak && clear_plurality(votes, numeric, std) => {
            if integer >= votes.classes[FLOAT] {
                ColumnKind::Integer
            } else {
                ColumnKind::Float { decimals: decimals() }
            }
        }
        None => {
            let best_date = (0..schema::DATETIME_FORMATS.len())
                .find(|&f| holds(votes.classes[FIRST_DATE + f]))
                .map(|f| schema::DATETIME_FORMATS[f].to_string());
            if let Some(format) = best_date {
                ColumnKind::Datetime { format }
            } else if unique && votes.classes[words_class()] <= slack {
                ColumnKind::Identifier { shape: neutral() }
            } else if votes.classes[words_class()] >= 0.5 * present && present > slack {
                ColumnKind::Text
            } else {
                ColumnKind::Categorical
            }
        }
    }
}

/// Whether `numeric` (the integer and float votes together) is both more than every other
/// class's votes and more than noise ([`PLURALITY_SIGMAS`] deviations: a bar that 400 numbers
/// under a noise of 68 per count miss with chance 0.3%, where a category would put every
/// value in the rare bucket).
fn clear_plurality(votes: &Votes, numeric: f64, std: f64) -> bool {
    let others = votes.classes[FIRST_DATE..].iter().copied().fold(f64::MIN, f64::max);
    numeric > others && numeric > PLURALITY_SIGMAS * std
}

/// Noise deviations the numeric votes of a small table must exceed to stay numbers.
const PLURALITY_SIGMAS: f64 = 2.0;

/// The decimals of a float column: the most any noisy decimals count shows clearly above the
/// noise (beyond what an empty count reaches but rarely, and at least 1 % of the values); 0
/// when none does.
fn decimals_of(votes: &Votes, std: f64, present: f64) -> u32 {
    let threshold = (clear_of_noise(votes.decimals.len()) * std).max(TOLERANCE * present);
    (0..votes.decimals.len()).rev().find(|&d| votes.decimals[d] >= threshold).unwrap_or(0) as u32
}

/// `table` with every value that does not fit its column's kind made missing (a null), so that
/// encoding never fails on one row's value under DP. A column whose values all fit is shared
/// with `table`, not copied (a copy of Adult's cells as strings was 30 MB of peak memory).
pub fn conform(table: &Table, schema: &Schema, config: &SchemaSettings) -> Result<Table> {
    let names: Vec<String> = table.column_names().iter().map(|n| n.to_string()).collect();
    let fits_at = |r: usize, c: usize, kind: &ColumnKind| {
        let cell = table.cell(r, c);
        is_missing(config.missing_tokens, cell) || cell.is_some_and(|v| fits(v, kind))
    };
    let columns = schema
        .columns
        .iter()
        .enumerate()
        .map(|(c, column)| -> ArrayRef {
            let rows = 0..table.num_rows();
            if rows.clone().all(|r| fits_at(r, c, &column.kind)) {
                return table.record_batch().column(c).clone();
            }
            let cells: StringArray =
                rows.map(|r| table.cell(r, c).filter(|_| fits_at(r, c, &column.kind))).collect();
            Arc::new(cells)
        })
        .collect();
    Table::from_arrays(names, columns)
}

/// Whether a present value can be encoded as `kind`.
fn fits(value: &str, kind: &ColumnKind) -> bool {
    match kind {
        ColumnKind::Integer => schema::parse_integer(value).is_some(),
        ColumnKind::Float { .. } => schema::parse_float(value).is_some(),
        ColumnKind::Datetime { format } => schema::datetime_to_seconds(value, format).is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::ingest::{read_csv, ReadOptions};
    use std::path::Path;

    fn table(csv: &str) -> Table {
        read_csv(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::default()).unwrap()
    }

    /// 2,000 rows: an integer, a 2-decimal float, a date, a category, an id, words, a column
    /// with missing values written NA, plus whatever `extra` row is appended.
    fn csv(extra: Option<&str>) -> String {
        let mut s = String::from("age,price,day,colour,customer_id,note,m\n");
        for i in 0..2000 {
            let note = format!("a note about item {i}");
            let m = if i % 4 == 0 { "NA".to_string() } else { (i % 9).to_string() };
            s.push_str(&format!(
                "{},{}.{:02},2024-01-{:02},{},{},{note},{m}\n",
                20 + i % 50,
                i % 300,
                i % 97,
                1 + i % 28,
                ["red", "blue", "green"][i % 3],
                100_000 + i,
            ));
        }
        if let Some(row) = extra {
            s.push_str(row);
            s.push('\n');
        }
        s
    }

    fn released(csv: &str, seed: u64, config: &TrainConfig) -> PrivateSchema {
        let t = table(csv);
        let rows: Vec<usize> = (0..t.num_rows()).collect();
        release(&t, &config.schema_settings(), &rows, 10.0, &mut Randomness::new(true, seed))
            .unwrap()
    }

    #[test]
    fn noisy_votes_find_the_kinds_inference_finds() {
        let s = released(&csv(None), 1, &TrainConfig::default());
        let kinds: Vec<&ColumnKind> = s.schema.columns.iter().map(|c| &c.kind).collect();
        let neutral = ColumnKind::Identifier {
            shape: IdShape::Template { template: NEUTRAL_TEMPLATE.into() },
        };
        assert_eq!(
            kinds,
            vec![
                &ColumnKind::Integer,
                &ColumnKind::Float { decimals: 2 },
                &ColumnKind::Datetime { format: "%Y-%m-%d".into() },
                &ColumnKind::Categorical,
                &neutral,
                &ColumnKind::Text,
                &ColumnKind::Integer,
            ]
        );
        assert_eq!(s.schema.columns[6].missing_marker.as_deref(), Some("NA"));
        // 2,000 units, noise std 10 * sqrt(22) = 47.
        assert!((s.units - 2000.0).abs() < 250.0, "{}", s.units);
    }

    #[test]
    fn one_added_row_does_not_change_the_schema() {
        // The flips inference shows with one more row: 5 decimals, a marker, a word in a date
        // column, a float in an integer column. With the same noise draws the schema is equal.
        let extra = "20.5,1.12345,soon,red,999999,x,N/A";
        let config = TrainConfig::default();
        let (a, b) = (released(&csv(None), 7, &config), released(&csv(Some(extra)), 7, &config));
        assert_eq!(a.schema, b.schema);
        let exact =
            schema::infer_schema(&table(&csv(Some(extra))), &config.schema_settings()).unwrap();
        assert_ne!(exact.columns[0].kind, a.schema.columns[0].kind, "inference flips");
    }

    #[test]
    fn declared_columns_are_used_as_declared() {
        let config = TrainConfig::from_json(
            r#"{"columns": {"price": {"kind": "float", "decimals": 1},
                 "customer_id": {"kind": "identifier", "template": "C-99999"},
                 "m": {"missing_marker": "?"}}}"#,
        )
        .unwrap();
        let s = released(&csv(None), 3, &config);
        assert_eq!(s.schema.columns[1].kind, ColumnKind::Float { decimals: 1 });
        let shape = IdShape::Template { template: "C-99999".into() };
        assert_eq!(s.schema.columns[4].kind, ColumnKind::Identifier { shape });
        assert_eq!(s.schema.columns[6].missing_marker.as_deref(), Some("?"));
    }

    #[test]
    fn a_small_table_keeps_its_numbers_numeric() {
        // 600 units and 15 columns: noise std 10 * sqrt(46) = 68 per count, too much to tell
        // that every value is an integer, but 600 integer votes clearly beat the rest.
        let mut s = (0..15).map(|c| format!("n{c}")).collect::<Vec<_>>().join(",") + "\n";
        for i in 0..600 {
            let row: Vec<String> = (0..15).map(|c| ((i * (c + 3)) % 90).to_string()).collect();
            s.push_str(&(row.join(",") + "\n"));
        }
        for seed in 0..5 {
            let released = released(&s, seed, &TrainConfig::default());
            for column in &released.schema.columns {
                assert_eq!(column.kind, ColumnKind::Integer, "seed {seed}, {}", column.name);
            }
        }
        // Words are no numbers (nor dates).
        let words: String = std::iter::once("w\n".to_string())
            .chain((0..400).map(|i| format!("word number {}\n", i % 7)))
            .collect();
        for seed in 0..5 {
            let kind =
                released(&words, seed, &TrainConfig::default()).schema.columns[0].kind.clone();
            assert!(matches!(kind, ColumnKind::Text | ColumnKind::Categorical), "{kind:?}");
        }
    }

    #[test]
    fn values_outside_the_kind_become_missing() {
        let t = table("n,c\n1,a\nx,b\n3,c\n");
        let schema = Schema {
            columns: vec![
                ColumnSchema {
                    name: "n".into(),
                    kind: ColumnKind::Integer,
                    missing_marker: None,
                    missing_count: 0,
                },
                ColumnSchema {
                    name: "c".into(),
                    kind: ColumnKind::Categorical,
                    missing_marker: None,
                    missing_count: 0,
                },
            ],
        };
        let conformed = conform(&t, &schema, &TrainConfig::default().schema_settings()).unwrap();
        assert_eq!(conformed.cell(1, 0), None);
        assert_eq!(conformed.cell(1, 1), Some("b"));
        assert_eq!(conformed.cell(2, 0), Some("3"));
    }
}
