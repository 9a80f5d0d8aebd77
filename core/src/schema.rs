//! Schema inference: what kind of values each column holds, in what format, and how missing
//! values are written.

use serde::{Deserialize, Serialize};

use crate::config::{KindName, SchemaSettings};

use crate::config::{ColumnConfig, MissingPolicy};
use crate::error::{Error, Result};
use crate::table::{SourceType, Table};

/// The inferred kind of a column, with what is needed to write values back in the source's format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnKind {
    /// Whole numbers (optionally signed).
    Integer,
    /// Decimal numbers written with `decimals` digits after the point (the most seen in the source).
    Float {
        /// Digits after the decimal point on output.
        decimals: u32,
    },
    /// Two-valued labels such as `true`/`false`, `yes`/`no` (kept as written).
    Boolean,
    /// Labels from a finite set.
    Categorical,
    /// Dates or date-times, parsed and written with a chrono `format` such as `%Y-%m-%d`.
    Datetime {
        /// The chrono format string of the source.
        format: String,
    },
    /// Free text.
    Text,
    /// Unique per row; regenerated with the same `shape`.
    Identifier {
        /// The shape of the source's identifiers (see [`IdShape`]).
        shape: IdShape,
    },
}

/// How synthetic identifiers are made to look like the source's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum IdShape {
    /// Integers counting up from `start`.
    Sequence {
        /// The first identifier.
        start: i64,
    },
    /// A template where `9` stands for a digit, `A` for an upper-case letter, `a` for a lower-case
    /// letter and `x` for a lower-case hex digit; `\` escapes the next character, which is kept.
    Template {
        /// The template.
        template: String,
    },
    /// The source's shapes with their counts: each row draws one in proportion (a licence
    /// column writing `8002756`, `S124529` and `a999999`), and a shape with `fresh` prefixes
    /// starts every identifier with one of them, prefixes no source identifier of that shape
    /// starts with, so that no synthetic identifier equals a real one.
    Shapes {
        /// The shapes, most frequent first.
        shapes: Vec<IdTemplate>,
    },
}

/// One shape of [`IdShape::Shapes`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdTemplate {
    /// The template, as in [`IdShape::Template`].
    pub template: String,
    /// How many source identifiers have this shape.
    pub count: u64,
    /// Values for the first varying positions that no source identifier of this shape has
    /// there; empty when every such prefix is taken.
    #[serde(default)]
    pub fresh: Vec<String>,
}

/// One column's inferred description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column's name in the source header.
    pub name: String,
    /// Its kind.
    pub kind: ColumnKind,
    /// How the source writes a missing value in this column (the most frequent missing text);
    /// `None` when the column has no missing values. An Arrow null is written as an empty field.
    pub missing_marker: Option<String>,
    /// How many source rows are missing in this column.
    pub missing_count: usize,
}

/// The inferred description of a whole table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in source order.
    pub columns: Vec<ColumnSchema>,
}

impl KindName {
    /// The name of `kind` without its parameters.
    pub fn of(kind: &ColumnKind) -> KindName {
        match kind {
            ColumnKind::Integer => KindName::Integer,
            ColumnKind::Float { .. } => KindName::Float,
            ColumnKind::Boolean => KindName::Boolean,
            ColumnKind::Categorical => KindName::Categorical,
            ColumnKind::Datetime { .. } => KindName::Datetime,
            ColumnKind::Text => KindName::Text,
            ColumnKind::Identifier { .. } => KindName::Identifier,
        }
    }
}

pub use doppel_table::missing::is_missing;

/// Fewest rows for which a column of unique values is taken for an identifier rather than chance.
const MIN_IDENTIFIER_ROWS: usize = 20;

pub(crate) use doppel_table::datetime::DATETIME_FORMATS;

/// Label pairs read as booleans (compared in lower case).
const BOOLEAN_PAIRS: &[(&str, &str)] =
    &[("true", "false"), ("yes", "no"), ("y", "n"), ("t", "f"), ("1", "0")];

/// Infers the schema of `table`, applying the kind overrides of `config.columns`.
///
/// Fails when the table has no rows, when an override names a column that does not exist, when an
/// override cannot hold the column's values (e.g. `integer` over text, naming the row and value),
/// or when a column has no values at all.
pub fn infer_schema(table: &Table, config: &SchemaSettings) -> Result<Schema> {
    if table.num_rows() == 0 {
        return Err(Error::Data("the table has a header but no data rows".into()));
    }
    check_declared_columns(table, config)?;
    let names = table.column_names();
    let mut columns = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let cells = ColumnCells::collect(table, index, config);
        if cells.present.is_empty() {
            return Err(Error::Data(format!(
                "column '{name}' has no values: all {} rows are missing; remove the column or fill it",
                table.num_rows()
            )));
        }
        let declared = config.columns.get(*name);
        let kind = match declared.and_then(|c| c.kind) {
            Some(wanted) => kind_as(wanted, name, &cells, declared)?,
            None => infer_kind(name, &cells, table.source_type(index)),
        };
        columns.push(ColumnSchema {
            name: name.to_string(),
            kind,
            missing_marker: marker_of(&cells, declared),
            missing_count: cells.missing.len(),
        });
    }
    Ok(Schema { columns })
}

/// Refuses a `[columns]` entry for a column the table does not have, listing the columns.
pub fn check_declared_columns(table: &Table, config: &SchemaSettings) -> Result<()> {
    let names = table.column_names();
    match config.columns.keys().find(|k| !names.contains(&k.as_str())) {
        Some(unknown) => Err(Error::Config(format!(
            "the config sets column '{unknown}', which is not in the data (columns: {})",
            names.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Infers the schema, then applies each column's missing-value policy: `drop` removes rows,
/// `mean` and `mode` fill cells. Returns the table to learn from and its schema (whose missing
/// counts describe that table).
pub fn prepare(table: &Table, config: &SchemaSettings) -> Result<(Table, Schema)> {
    let mut schema = infer_schema(table, config)?;
    let policy = |name: &str| config.columns.get(name).map(|c| c.missing).unwrap_or_default();
    let mut table = drop_missing(table, &schema, config)?;
    let fills: Vec<(usize, String)> = schema
        .columns
        .iter()
        .enumerate()
        .filter_map(|(c, column)| {
            let cells = ColumnCells::collect(&table, c, config);
            let fill = match policy(&column.name) {
                MissingPolicy::Mean => mean_text(&column.kind, &cells.present),
                MissingPolicy::Mode => mode_text(&cells.present),
                MissingPolicy::Keep | MissingPolicy::Drop => None,
            };
            fill.filter(|_| !cells.missing.is_empty()).map(|f| (c, f))
        })
        .collect();
    if !fills.is_empty() {
        table = fill_missing(&table, &fills, config)?;
    }
    for (c, column) in schema.columns.iter_mut().enumerate() {
        let cells = ColumnCells::collect(&table, c, config);
        column.missing_marker = marker_of(&cells, config.columns.get(&column.name));
        column.missing_count = cells.missing.len();
    }
    Ok((table, schema))
}

/// `table` without the rows that miss a value in a column whose policy is `drop`.
pub fn drop_missing(table: &Table, schema: &Schema, config: &SchemaSettings) -> Result<Table> {
    let policy = |name: &str| config.columns.get(name).map(|c| c.missing).unwrap_or_default();
    let drop: Vec<usize> = (0..schema.columns.len())
        .filter(|&c| policy(&schema.columns[c].name) == MissingPolicy::Drop)
        .collect();
    if drop.is_empty() {
        return Ok(table.clone());
    }
    let keep: Vec<usize> = (0..table.num_rows())
        .filter(|&r| drop.iter().all(|&c| !is_missing(config.missing_tokens, table.cell(r, c))))
        .collect();
    if keep.is_empty() {
        return Err(Error::Data(
            "every row has a missing value in a column with missing = \"drop\"".into(),
        ));
    }
    Ok(table.take_rows(&keep))
}

/// A column's cells split into present values (with their row) and missing raw texts.
struct ColumnCells<'a> {
    present: Vec<(usize, &'a str)>,
    missing: Vec<&'a str>,
}

impl<'a> ColumnCells<'a> {
    fn collect(table: &'a Table, column: usize, config: &SchemaSettings) -> ColumnCells<'a> {
        let mut cells = ColumnCells { present: Vec::new(), missing: Vec::new() };
        for row in 0..table.num_rows() {
            let cell = table.cell(row, column);
            if is_missing(config.missing_tokens, cell) {
                cells.missing.push(cell.unwrap_or(""));
            } else {
                cells.present.push((row, cell.unwrap_or("")));
            }
        }
        cells
    }

    /// The most frequent missing text (ties: the smallest), written back for missing values.
    fn marker(&self) -> Option<String> {
        mode_of(self.missing.iter().copied()).map(str::to_string)
    }

    fn values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.present.iter().map(|&(_, v)| v)
    }

    fn all_unique(&self) -> bool {
        let distinct: std::collections::HashSet<&str> = self.values().collect();
        distinct.len() == self.present.len()
    }

    fn may_be_identifier(&self) -> bool {
        self.missing.is_empty() && self.present.len() >= MIN_IDENTIFIER_ROWS && self.all_unique()
    }
}

/// The missing marker a column writes: the declared one, else the source's most frequent.
fn marker_of(cells: &ColumnCells, declared: Option<&ColumnConfig>) -> Option<String> {
    match declared.and_then(|c| c.missing_marker.as_ref()) {
        Some(marker) => Some(marker.clone()),
        None => cells.marker(),
    }
}

/// The kind a typed source's column type fixes, where its values (as Arrow renders them) fit
/// it: an integer column is integers (or a row-number identifier) even when it holds only 0
/// and 1, a float column floats, a boolean column booleans, a date or timestamp column dates.
/// `None` for text, and for values the type's kind cannot write back as read (such as a float
/// rendered `inf`), which are then inferred from their text.
fn declared_by_source(
    name: &str,
    cells: &ColumnCells,
    values: &[&str],
    source: SourceType,
) -> Option<ColumnKind> {
    match source {
        SourceType::Text => None,
        SourceType::Integer => {
            let numbers: Option<Vec<i64>> = values.iter().map(|v| parse_integer(v)).collect();
            let start = numbers?.into_iter().min().unwrap_or(1);
            if cells.may_be_identifier() && is_id_name(name) {
                return Some(ColumnKind::Identifier { shape: IdShape::Sequence { start } });
            }
            Some(ColumnKind::Integer)
        }
        SourceType::Float => float_decimals(values).map(|decimals| ColumnKind::Float { decimals }),
        SourceType::Boolean => is_boolean(values).then_some(ColumnKind::Boolean),
        SourceType::Temporal => {
            datetime_format(values).map(|f| ColumnKind::Datetime { format: f.to_string() })
        }
    }
}

/// The most frequent item; ties go to the smallest.
fn mode_of<'a>(items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut counts = std::collections::BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0usize) += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(v, _)| v)
}

/// The kind of a column: what a typed source declared it to be, else what its values
/// suggest, most specific first.
fn infer_kind(name: &str, cells: &ColumnCells, source: SourceType) -> ColumnKind {
    let values: Vec<&str> = cells.values().collect();
    if let Some(kind) = declared_by_source(name, cells, &values, source) {
        return kind;
    }
    if is_boolean(&values) {
        return ColumnKind::Boolean;
    }
    if values.iter().all(|v| parse_integer(v).is_some()) {
        if cells.may_be_identifier() && is_id_name(name) {
            return ColumnKind::Identifier {
                shape: IdShape::Sequence { start: after_largest(&values) },
            };
        }
        return ColumnKind::Integer;
    }
    if let Some(decimals) = float_decimals(&values) {
        return ColumnKind::Float { decimals };
    }
    if let Some(format) = datetime_format(&values) {
        return ColumnKind::Datetime { format: format.to_string() };
    }
    if cells.may_be_identifier() && values.iter().all(|v| !v.contains(char::is_whitespace)) {
        if let Some(shape) = id_shapes(&values) {
            return ColumnKind::Identifier { shape };
        }
    }
    if looks_like_text(&values) || has_long_tail(&values) {
        return ColumnKind::Text;
    }
    ColumnKind::Categorical
}

/// Rows a string must be seen in to count as a category rather than part of a long tail (the
/// tokenizer's default `rare_category_threshold`, which buckets rarer strings).
const TAIL_COUNT: usize = 10;
/// Share of rows in the long tail from which a string column is short text.
const LONG_TAIL_SHARE: f64 = 0.25;
/// Fewest distinct strings of a long-tail column (a small table's few categories stay
/// categories, even when each is rare).
const LONG_TAIL_DISTINCT: usize = 100;

/// Whether strings have a long tail: at least [`LONG_TAIL_DISTINCT`] of them, and at least
/// [`LONG_TAIL_SHARE`] of the rows holding one seen fewer than [`TAIL_COUNT`] times (job
/// titles, names, licence numbers of mixed shapes). As categories, nearly all of them would
/// be the rare bucket's placeholder; as short text, the subword model writes values that look
/// like them.
fn has_long_tail(values: &[&str]) -> bool {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let tail: usize = counts.values().filter(|&&n| n < TAIL_COUNT).sum();
    counts.len() >= LONG_TAIL_DISTINCT && tail as f64 >= LONG_TAIL_SHARE * values.len() as f64
}

/// The kind `wanted` for a column, with the formats `declared` pins, or an error naming the
/// first value it cannot hold.
fn kind_as(
    wanted: KindName,
    name: &str,
    cells: &ColumnCells,
    declared: Option<&ColumnConfig>,
) -> Result<ColumnKind> {
    let pinned = declared.cloned().unwrap_or_default();
    let values: Vec<&str> = cells.values().collect();
    let reject = |what: &str, test: &dyn Fn(&str) -> bool| -> Result<()> {
        match cells.present.iter().find(|(_, v)| !test(v)) {
            Some((row, value)) => Err(Error::cell(
                row + 1,
                name,
                Some(value),
                format!("'{value}' is not {what}, but the configuration declares the column so"),
            )),
            None => Ok(()),
        }
    };
    Ok(match wanted {
        KindName::Integer => {
            reject("an integer", &|v| parse_integer(v).is_some())?;
            ColumnKind::Integer
        }
        KindName::Float => {
            reject("a number", &|v| parse_float(v).is_some())?;
            let decimals = pinned.decimals.or_else(|| float_decimals(&values)).unwrap_or(0);
            ColumnKind::Float { decimals }
        }
        KindName::Boolean => {
            let distinct: std::collections::BTreeSet<&str> = values.iter().copied().collect();
            if distinct.len() > 2 {
                return Err(Error::Config(format!(
                    "column '{name}' is configured as boolean, but holds {} distinct values",
                    distinct.len()
                )));
            }
            ColumnKind::Boolean
        }
        KindName::Categorical => ColumnKind::Categorical,
        KindName::Text => ColumnKind::Text,
        KindName::Datetime if pinned.format.is_some() => {
            let format = pinned.format.unwrap_or_default();
            reject(&format!("a date in the form `{format}`"), &|v| {
                datetime_to_seconds(v, &format).is_some()
            })?;
            ColumnKind::Datetime { format }
        }
        KindName::Datetime => match datetime_format(&values) {
            Some(format) => ColumnKind::Datetime { format: format.to_string() },
            None => {
                let formats = DATETIME_FORMATS.join("`, `");
                reject(&format!("a date in one of `{formats}`"), &|v| {
                    DATETIME_FORMATS.iter().any(|f| datetime_to_seconds(v, f).is_some())
                })?;
                return Err(Error::Config(format!(
                    "column '{name}' is configured as datetime, but its values mix date formats"
                )));
            }
        },
        KindName::Identifier => {
            let shape = if let Some(template) = pinned.template {
                IdShape::Template { template }
            } else if values.iter().all(|v| parse_integer(v).is_some()) {
                IdShape::Sequence { start: after_largest(&values) }
            } else {
                id_shapes(&values).unwrap_or_else(|| IdShape::Template { template: "*".repeat(12) })
            };
            ColumnKind::Identifier { shape }
        }
    })
}

fn is_boolean(values: &[&str]) -> bool {
    let distinct: std::collections::BTreeSet<String> =
        values.iter().map(|v| v.trim().to_lowercase()).collect();
    if distinct.len() > 2 {
        return false;
    }
    BOOLEAN_PAIRS.iter().any(|(a, b)| {
        let in_pair = distinct.iter().all(|v| v == a || v == b);
        // A lone 0 or 1 is a constant integer, not a boolean.
        in_pair && (distinct.len() == 2 || *a != "1")
    })
}

/// Whether a column name says it holds identifiers (`id`, `user_id`, `userId`, `Customer ID`).
pub(crate) fn is_id_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower == "id"
        || ["_id", " id", "-id"].iter().any(|s| lower.ends_with(s))
        || (name.len() > 2 && (name.ends_with("Id") || name.ends_with("ID")))
}

fn looks_like_text(values: &[&str]) -> bool {
    let n = values.len() as f64;
    let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
    let words = values.iter().map(|v| v.split_whitespace().count()).sum::<usize>() as f64 / n;
    let distinct_share = distinct.len() as f64 / n;
    (distinct_share > 0.5 && words >= 2.0) || (words >= 5.0 && distinct.len() > 20)
}

pub use doppel_table::value::{parse_float, parse_integer};

/// The digits a decimal text shows after the point (`1.50` -> 2, `1.5e-3` -> 4).
pub(crate) fn decimals_of(text: &str) -> u32 {
    let t = text.trim();
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (t, 0),
    };
    let shown = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    (shown - exponent).clamp(0, 12) as u32
}

/// The decimals to write a float column with, when every value is a number.
fn float_decimals(values: &[&str]) -> Option<u32> {
    let mut decimals = 0;
    for v in values {
        parse_float(v)?;
        decimals = decimals.max(decimals_of(v));
    }
    Some(decimals)
}

/// Writes `value` with `decimals` digits after the point, never as `-0.0`.
pub fn format_float(value: f64, decimals: u32) -> String {
    let text = format!("{value:.prec$}", prec = decimals as usize);
    match text.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => text,
    }
}

/// Seconds since 1970-01-01 00:00:00 (no time zone) of `text` in chrono `format`.
pub fn datetime_to_seconds(text: &str, format: &str) -> Option<i64> {
    doppel_table::datetime::to_seconds(text, format)
}

/// Writes `seconds` since 1970-01-01 in chrono `format` (the inverse of [`datetime_to_seconds`]);
/// empty when the instant is out of range or the format cannot write it.
pub fn seconds_to_datetime(seconds: i64, format: &str) -> String {
    doppel_table::datetime::from_seconds(seconds, format).unwrap_or_default()
}

/// Longest date format accepted in a model file, in bytes.
pub const MAX_DATETIME_FORMAT_BYTES: usize = 256;

/// Most digits after the point a float column is written with (declared or read from a model
/// file); beyond this, `10^-decimals` no longer is a usable resolution.
pub const MAX_DECIMALS: u32 = 30;

/// Longest identifier template, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 4_096;

/// Checks that chrono `format` is valid and reads back what it writes, on a fixed instant.
pub fn check_datetime_format(format: &str) -> std::result::Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if format.is_empty() || format.len() > MAX_DATETIME_FORMAT_BYTES {
        return Err(format!(
            "date format of {} bytes (1 to {MAX_DATETIME_FORMAT_BYTES} allowed)",
            format.len()
        ));
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("date format '{format}' is not a valid chrono format"));
    }
    // 2001-02-03 04:05:06 UTC: every field differs, so a format that drops or mixes one shows.
    const PROBE: i64 = 981_173_106;
    let text = seconds_to_datetime(PROBE, format);
    let back = datetime_to_seconds(&text, format).map(|s| seconds_to_datetime(s, format));
    if text.is_empty() || back.as_deref() != Some(text.as_str()) {
        return Err(format!("date format '{format}' does not read back the dates it writes"));
    }
    Ok(())
}

/// Checks an identifier template: not empty, bounded, and with at least one symbol that varies
/// (a template of literals only would give every row the same identifier).
pub fn check_template(template: &str) -> std::result::Result<(), String> {
    let chars = template.chars().count();
    if chars > MAX_TEMPLATE_CHARS {
        return Err(format!(
            "identifier template of {chars} characters (at most {MAX_TEMPLATE_CHARS})"
        ));
    }
    let mut escaped = false;
    let mut varies = false;
    for c in template.chars() {
        varies |= !escaped && template_alphabet(c).is_some();
        escaped = !escaped && c == '\\';
    }
    if !varies {
        return Err(format!(
            "identifier template '{template}' has no symbol that varies (9, A, a, x, X or *)"
        ));
    }
    Ok(())
}

impl ColumnKind {
    /// Checks the kind's parameters: decimals bounded, a valid date format, a usable
    /// identifier template.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self {
            ColumnKind::Float { decimals } if *decimals > MAX_DECIMALS => {
                Err(format!("decimals {decimals} (at most {MAX_DECIMALS})"))
            }
            ColumnKind::Datetime { format } => check_datetime_format(format),
            ColumnKind::Identifier { shape: IdShape::Template { template } } => {
                check_template(template)
            }
            ColumnKind::Identifier { shape: IdShape::Shapes { shapes } } => {
                if shapes.is_empty() || shapes.len() > MAX_ID_SHAPES {
                    return Err(format!(
                        "{} identifier shapes (1 to {MAX_ID_SHAPES})",
                        shapes.len()
                    ));
                }
                for shape in shapes {
                    check_template(&shape.template)?;
                    let slots = template_slots(&shape.template);
                    let fits = |p: &String| {
                        p.chars().count() <= slots.len()
                            && p.chars()
                                .zip(&slots)
                                .all(|(c, (_, a))| c.is_ascii() && a.contains(&(c as u8)))
                    };
                    if shape.fresh.len() > MAX_FRESH || !shape.fresh.iter().all(fits) {
                        return Err(format!(
                            "identifier template '{}' has unusable fresh prefixes",
                            shape.template
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Schema {
    /// Checks a schema read from a model file: at least one column, each kind's parameters
    /// sane (see [`ColumnKind::check`]). The error names the column.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.columns.is_empty() {
            return Err("the schema has no columns".into());
        }
        for (c, column) in self.columns.iter().enumerate() {
            column.kind.check().map_err(|m| format!("column {c} ('{}'): {m}", column.name))?;
        }
        Ok(())
    }
}

/// The first format that reads every value and writes each back unchanged.
fn datetime_format(values: &[&str]) -> Option<&'static str> {
    DATETIME_FORMATS.iter().copied().find(|format| {
        values.iter().all(|v| {
            let t = v.trim();
            datetime_to_seconds(t, format).is_some_and(|s| seconds_to_datetime(s, format) == t)
        })
    })
}

/// Characters a template symbol stands for.
fn template_alphabet(symbol: char) -> Option<&'static str> {
    const DIGITS: &str = "0123456789";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    match symbol {
        '9' => Some(DIGITS),
        'A' => Some(UPPER),
        'a' => Some(LOWER),
        'x' => Some("0123456789abcdef"),
        'X' => Some("0123456789ABCDEF"),
        '*' => Some("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
        _ => None,
    }
}

/// The first identifier of a sequence: one past the largest source identifier, so that no
/// synthetic identifier equals a real one.
fn after_largest(values: &[&str]) -> i64 {
    values.iter().filter_map(|v| parse_integer(v)).max().map_or(1, |m| m.saturating_add(1))
}

/// Most shapes an identifier column keeps (the most frequent).
const MAX_ID_SHAPES: usize = 32;
/// Fresh prefixes kept per shape.
const MAX_FRESH: usize = 16;

/// The shapes of identifiers (see [`IdShape::Shapes`]): values grouped by the class of each
/// character (digit, upper-case, lower-case letter, or the character itself), each group's
/// template from [`id_template`], with fresh prefixes. `None` for no value.
fn id_shapes(values: &[&str]) -> Option<IdShape> {
    let mut groups = std::collections::HashMap::<String, Vec<&str>>::new();
    for v in values {
        let pattern: String = v
            .chars()
            .map(|c| match c {
                '0'..='9' => '9',
                'A'..='Z' => 'A',
                'a'..='z' => 'a',
                c => c,
            })
            .collect();
        groups.entry(pattern).or_default().push(v);
    }
    let mut groups: Vec<(String, Vec<&str>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    groups.truncate(MAX_ID_SHAPES);
    let shapes: Vec<IdTemplate> = groups
        .into_iter()
        .filter_map(|(_, members)| {
            let template = id_template(&members)?;
            let fresh = fresh_prefixes(&template, &members);
            Some(IdTemplate { template, count: members.len() as u64, fresh })
        })
        .collect();
    (!shapes.is_empty()).then_some(IdShape::Shapes { shapes })
}

/// Up to [`MAX_FRESH`] prefixes for the first varying positions of `template` (one, two or
/// three of them, the fewest that leave one free) that no value of `members` has there.
fn fresh_prefixes(template: &str, members: &[&str]) -> Vec<String> {
    let slots = template_slots(template);
    for length in 1..=slots.len().min(3) {
        let used: std::collections::HashSet<String> = members
            .iter()
            .map(|v| {
                let chars: Vec<char> = v.chars().collect();
                slots[..length].iter().filter_map(|&(i, _)| chars.get(i)).collect()
            })
            .collect();
        let alphabets: Vec<&[u8]> = slots[..length].iter().map(|&(_, a)| a).collect();
        let total: usize = alphabets.iter().map(|a| a.len()).product();
        let fresh: Vec<String> = (0..total)
            .map(|mut k| {
                alphabets
                    .iter()
                    .rev()
                    .map(|a| {
                        let c = a[k % a.len()] as char;
                        k /= a.len();
                        c
                    })
                    .collect::<Vec<char>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            })
            .filter(|p| !used.contains(p))
            .take(MAX_FRESH)
            .collect();
        if !fresh.is_empty() {
            return fresh;
        }
    }
    Vec::new()
}

/// The varying positions of a template, as character positions of the identifiers it makes,
/// with their alphabets.
fn template_slots(template: &str) -> Vec<(usize, &'static [u8])> {
    let mut slots = Vec::new();
    let (mut chars, mut position) = (template.chars(), 0);
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if let Some(alphabet) = template_alphabet(c) {
            slots.push((position, alphabet.as_bytes()));
        }
        position += 1;
    }
    slots
}

/// `template` with its first varying positions fixed to `prefix`'s characters.
fn with_prefix(template: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(template.len() + 2 * prefix.len());
    let mut prefix = prefix.chars();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(c);
            out.extend(chars.next());
        } else if template_alphabet(c).is_some() {
            match prefix.next() {
                Some(p) => {
                    out.push('\\');
                    out.push(p);
                }
                None => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The template shared by the most common length of identifier: a position where every value has
/// the same character keeps it; a varying position becomes the narrowest class covering it.
/// `None` when a varying position holds punctuation.
fn id_template(values: &[&str]) -> Option<String> {
    let mut by_length = std::collections::BTreeMap::<usize, Vec<Vec<char>>>::new();
    for v in values {
        let chars: Vec<char> = v.chars().collect();
        by_length.entry(chars.len()).or_default().push(chars);
    }
    let group = by_length.into_values().max_by_key(|g| g.len())?;
    let mut template = String::new();
    for position in 0..group[0].len() {
        let column: Vec<char> = group.iter().map(|v| v[position]).collect();
        if column.iter().all(|&c| c == column[0]) && group.len() > 1 {
            if template_alphabet(column[0]).is_some() || column[0] == '\\' {
                template.push('\\');
            }
            template.push(column[0]);
            continue;
        }
        let symbol = if column.iter().any(|c| !c.is_ascii_alphanumeric()) {
            return None;
        } else if column.iter().all(char::is_ascii_digit) {
            '9'
        } else if column.iter().all(char::is_ascii_uppercase) {
            'A'
        } else if column.iter().all(char::is_ascii_lowercase) {
            'a'
        } else if column.iter().all(|c| c.is_ascii_digit() || ('a'..='f').contains(c)) {
            'x'
        } else if column.iter().all(|c| c.is_ascii_digit() || ('A'..='F').contains(c)) {
            'X'
        } else {
            '*'
        };
        template.push(symbol);
    }
    Some(template)
}

/// The synthetic identifier of row `index`: a sequence counts up from its start; a template is
/// filled so that distinct rows get distinct identifiers (an affine bijection over the rightmost
/// positions, up to 2^64 of them) while looking random.
pub fn generate_identifier(shape: &IdShape, index: u64) -> String {
    let template = match shape {
        // In i128 the sum never overflows, so identifiers past i64::MAX stay distinct.
        IdShape::Sequence { start } => return (i128::from(*start) + i128::from(index)).to_string(),
        IdShape::Template { template } => template,
        IdShape::Shapes { shapes } => return generate_in_shapes(shapes, index),
    };
    enum Item {
        Literal(char),
        Class(&'static [u8]),
    }
    let mut items = Vec::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        let item = match (c, template_alphabet(c)) {
            ('\\', _) => Item::Literal(chars.next().unwrap_or('\\')),
            (_, Some(alphabet)) => Item::Class(alphabet.as_bytes()),
            (c, None) => Item::Literal(c),
        };
        items.push(item);
    }
    // The bijection's modulus: the product of the rightmost radices while it stays below 2^64.
    let mut capacity: u128 = 1;
    let mut counted = 0;
    for item in items.iter().rev() {
        if let Item::Class(a) = item {
            if capacity * a.len() as u128 > u64::MAX as u128 {
                break;
            }
            capacity *= a.len() as u128;
            counted += 1;
        }
    }
    // A prime multiplier is coprime with any product of alphabet sizes (2, 3, 5, 13, 31).
    let mut n = (index as u128 * 1_000_000_007 + 0x2545_F491_4F6C_DD1D) % capacity;
    let mut spare = index ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter().rev() {
        match item {
            Item::Literal(c) => out.push(*c),
            Item::Class(a) if counted > 0 => {
                out.push(a[(n % a.len() as u128) as usize] as char);
                n /= a.len() as u128;
                counted -= 1;
            }
            Item::Class(a) => {
                let bits = crate::rng::splitmix64(&mut spare);
                out.push(a[(bits % a.len() as u64) as usize] as char);
            }
        }
    }
    out.iter().rev().collect()
}

/// The identifier of row `index` in one of `shapes`, in proportion to their counts: row
/// `index` falls in slot `index % W` of a cycle of `W` slots shared out by count, which gives
/// its shape and a rank among the rows of that shape (`index / W` cycles before it), so that
/// the ranks of one shape are dense. Distinct ranks get distinct identifiers (a fresh prefix
/// by the rank modulo their number, the rest from the quotient), and rows of two shapes differ
/// in some character's class.
fn generate_in_shapes(shapes: &[IdTemplate], index: u64) -> String {
    let total: u64 = shapes.iter().map(|s| s.count).fold(0, u64::saturating_add).max(1);
    let slots: Vec<u64> = shapes
        .iter()
        .map(|s| ((s.count as f64 / total as f64) * SHAPE_SLOTS as f64).round().max(1.0) as u64)
        .collect();
    let cycle: u64 = slots.iter().sum::<u64>().max(1);
    let mut slot = index % cycle;
    let Some((shape, width)) = shapes.iter().zip(&slots).find(|&(_, &w)| {
        let here = slot < w;
        if !here {
            slot -= w;
        }
        here
    }) else {
        return index.to_string();
    };
    let rank = (index / cycle) * width + slot;
    if shape.fresh.is_empty() {
        return generate_identifier(&IdShape::Template { template: shape.template.clone() }, rank);
    }
    let m = shape.fresh.len() as u64;
    let template = with_prefix(&shape.template, &shape.fresh[(rank % m) as usize]);
    generate_identifier(&IdShape::Template { template }, rank / m)
}

/// Slots of the cycle [`generate_in_shapes`] shares out among shapes.
const SHAPE_SLOTS: u64 = 1000;

/// A replacement for missing values: the mean of a numeric or date column, written in its format;
/// the mode of any other column.
fn mean_text(kind: &ColumnKind, present: &[(usize, &str)]) -> Option<String> {
    let mean = |parse: &dyn Fn(&str) -> Option<f64>| {
        let values: Vec<f64> = present.iter().filter_map(|(_, v)| parse(v)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    match kind {
        ColumnKind::Integer => {
            mean(&|v| parse_integer(v).map(|i| i as f64)).map(|m| format!("{}", m.round() as i64))
        }
        ColumnKind::Float { decimals } => mean(&parse_float).map(|m| format_float(m, *decimals)),
        ColumnKind::Datetime { format } => {
            mean(&|v| datetime_to_seconds(v, format).map(|s| s as f64))
                .map(|m| seconds_to_datetime(m.round() as i64, format))
        }
        _ => mode_text(present),
    }
}

fn mode_text(present: &[(usize, &str)]) -> Option<String> {
    mode_of(present.iter().map(|&(_, v)| v)).map(str::to_string)
}

/// A copy of `table` with the missing cells of each `(column, fill)` replaced by `fill`.
fn fill_missing(
    table: &Table,
    fills: &[(usize, String)],
    config: &SchemaSettings,
) -> Result<Table> {
    let names: Vec<String> = table.column_names().iter().map(|n| n.to_string()).collect();
    let columns = (0..table.num_columns())
        .map(|c| {
            let fill = fills.iter().find(|(fc, _)| *fc == c).map(|(_, f)| f.as_str());
            (0..table.num_rows())
                .map(|r| {
                    let cell = table.cell(r, c);
                    match fill {
                        Some(f) if is_missing(config.missing_tokens, cell) => Some(f.to_string()),
                        _ => cell.map(str::to_string),
                    }
                })
                .collect()
        })
        .collect();
    Table::from_columns(names, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ColumnConfig;
    use crate::config::TrainConfig;
    use crate::ingest::{read_csv, ReadOptions};
    use std::path::Path;

    fn table(csv: &str) -> Table {
        read_csv(csv.as_bytes(), Path::new("test.csv"), &ReadOptions::default()).unwrap()
    }

    fn kinds(csv: &str) -> Vec<ColumnKind> {
        let schema = infer_schema(&table(csv), &TrainConfig::default().schema_settings()).unwrap();
        schema.columns.into_iter().map(|c| c.kind).collect()
    }

    fn with_rows(header: &str, rows: impl Iterator<Item = String>) -> String {
        let mut csv = format!("{header}\n");
        for row in rows {
            csv.push_str(&row);
            csv.push('\n');
        }
        csv
    }

    fn declared(json: &str) -> TrainConfig {
        TrainConfig::from_json(json).unwrap()
    }

    #[test]
    fn declared_formats_pin_what_inference_would_learn() {
        // Inference alone learns 5 decimals, the marker "NA", a date format and a template.
        let csv = "x,d,id\n1.5,2024-01-31,C-01\n2.12345,2024-02-01,C-02\nNA,2024-02-02,C-03\n";
        let inferred =
            infer_schema(&table(csv), &TrainConfig::default().schema_settings()).unwrap();
        assert_eq!(inferred.columns[0].kind, ColumnKind::Float { decimals: 5 });
        assert_eq!(inferred.columns[0].missing_marker.as_deref(), Some("NA"));
        let config = declared(
            r#"{"columns": {
                "x": {"kind": "float", "decimals": 1, "missing_marker": "."},
                "d": {"kind": "datetime", "format": "%Y-%m-%d"},
                "id": {"kind": "identifier", "template": "ID-999"}}}"#,
        );
        let schema = infer_schema(&table(csv), &config.schema_settings()).unwrap();
        assert_eq!(schema.columns[0].kind, ColumnKind::Float { decimals: 1 });
        assert_eq!(schema.columns[0].missing_marker.as_deref(), Some("."));
        assert_eq!(schema.columns[1].kind, ColumnKind::Datetime { format: "%Y-%m-%d".into() });
        let template = IdShape::Template { template: "ID-999".into() };
        assert_eq!(schema.columns[2].kind, ColumnKind::Identifier { shape: template });
        let (_, prepared) = prepare(&table(csv), &config.schema_settings()).unwrap();
        assert_eq!(prepared.columns[0].missing_marker.as_deref(), Some("."));
    }

    #[test]
    fn declared_formats_are_checked() {
        for (json, want) in [
            (r#"{"columns": {"x": {"decimals": 2}}}"#, "columns.\"x\".decimals needs kind"),
            (r#"{"columns": {"x": {"kind": "float", "decimals": 40}}}"#, "at most 12"),
            (r#"{"columns": {"d": {"kind": "datetime", "format": "%Q"}}}"#, "not a valid"),
            (r#"{"columns": {"d": {"kind": "datetime", "format": "%H"}}}"#, "does not read back"),
            (r#"{"columns": {"i": {"kind": "identifier", "template": "C-"}}}"#, "no symbol"),
            (r#"{"columns": {"x": {"missing_marker": "a\nb"}}}"#, "one line"),
        ] {
            let err = TrainConfig::from_json(json).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{json}: {err}");
        }
        let csv = "d\n2024-01-31\n31/01/2024\n";
        let config = declared(r#"{"columns": {"d": {"kind": "datetime", "format": "%Y-%m-%d"}}}"#);
        let err = infer_schema(&table(csv), &config.schema_settings()).unwrap_err();
        assert!(err.to_string().contains("row 2, column 'd': '31/01/2024' is not a date"), "{err}");
        // The row, column and value are fields of the error too.
        match err {
            Error::Table {
                source: doppel_table::Error::Cell { row, column, value, .. }, ..
            } => {
                assert_eq!((row, column.as_str(), value.as_deref()), (2, "d", Some("31/01/2024")));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A typed source's column keeps its type: an int64 column of 0s and 1s is integers (the
    /// same text in CSV reads as booleans), an int64 `id` of row numbers is an identifier, a
    /// float column floats, a boolean column booleans, a date column dates; a string column
    /// of numbers is inferred from its text as in CSV.
    #[test]
    fn typed_columns_keep_their_types() -> Result<()> {
        use arrow_array::{BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
        use arrow_schema::{DataType, Field, Schema as ArrowSchema};
        let n = 30i64;
        let fields = vec![
            Field::new("flag", DataType::Int64, true),
            Field::new("id", DataType::Int64, false),
            Field::new("price", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
            Field::new("code", DataType::Utf8, true),
        ];
        let schema = std::sync::Arc::new(ArrowSchema::new(fields));
        let columns: Vec<arrow_array::ArrayRef> = vec![
            std::sync::Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 2))),
            std::sync::Arc::new(Int64Array::from_iter_values(1..=n)),
            std::sync::Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 * 0.25))),
            std::sync::Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == 0)))),
            std::sync::Arc::new(Date32Array::from_iter_values((0..n).map(|i| 19_000 + i as i32))),
            std::sync::Arc::new(StringArray::from_iter_values((0..n).map(|i| (i % 4).to_string()))),
        ];
        let batch = arrow_array::RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::Data(e.to_string()))?;
        let typed = crate::ingest::table_from_batches(Path::new("t.parquet"), &schema, &[batch])?;
        assert_eq!(typed.source_type(0), SourceType::Integer);
        let typed_kinds: Vec<ColumnKind> =
            infer_schema(&typed, &TrainConfig::default().schema_settings())?
                .columns
                .into_iter()
                .map(|c| c.kind)
                .collect();
        assert_eq!(typed_kinds[0], ColumnKind::Integer);
        assert_eq!(
            typed_kinds[1],
            ColumnKind::Identifier { shape: IdShape::Sequence { start: 1 } }
        );
        assert!(matches!(typed_kinds[2], ColumnKind::Float { .. }), "{:?}", typed_kinds[2]);
        assert_eq!(typed_kinds[3], ColumnKind::Boolean);
        assert_eq!(typed_kinds[4], ColumnKind::Datetime { format: "%Y-%m-%d".into() });
        assert_eq!(typed_kinds[5], ColumnKind::Integer);
        // The same text from CSV: the 0/1 column is read as booleans.
        let csv: String = std::iter::once("flag\n".to_string())
            .chain((0..n).map(|i| format!("{}\n", i % 2)))
            .collect();
        assert_eq!(kinds(&csv)[0], ColumnKind::Boolean);
        Ok(())
    }

    /// Schema inference reads only its own settings: built here without a training
    /// configuration, with `-` as the one missing token.
    #[test]
    fn inference_takes_only_its_settings() -> Result<()> {
        let columns = std::collections::BTreeMap::new();
        let missing_tokens = vec!["-".to_string()];
        let settings = SchemaSettings { columns: &columns, missing_tokens: &missing_tokens };
        let schema = infer_schema(&table("n,c\n1,a\n-,NA\n3,b\n"), &settings)?;
        assert_eq!(schema.columns[0].kind, ColumnKind::Integer);
        assert_eq!(schema.columns[0].missing_marker.as_deref(), Some("-"));
        // "NA" is no missing token here: a category like the others.
        assert_eq!(
            (schema.columns[1].kind.clone(), schema.columns[1].missing_count),
            (ColumnKind::Categorical, 0)
        );
        Ok(())
    }

    #[test]
    fn infers_numbers_booleans_and_categories() {
        let csv = "age,score,ok,colour,zip\n30,1.5,yes,red,02134\n41,2,no,blue,10001\n\
                   52,-0.25,yes,red,00501\n";
        assert_eq!(
            kinds(csv),
            vec![
                ColumnKind::Integer,
                ColumnKind::Float { decimals: 2 },
                ColumnKind::Boolean,
                ColumnKind::Categorical,
                ColumnKind::Categorical, // leading zeros: a code, not a number
            ]
        );
    }

    #[test]
    fn infers_each_date_form_and_keeps_its_format() {
        let csv = "a,b,c,d,e,f,g\n\
                   2024-01-31,01/31/2024,2024-01-31 13:45:00,2024-01-31T13:45:00,1/5/2024,31/01/2024,31/1/2024\n\
                   2023-12-01,12/01/2023,2023-12-01 00:00:59,2023-12-01T00:00:59,12/25/2023,01/12/2023,1/12/2023\n";
        let formats: Vec<String> = kinds(csv)
            .into_iter()
            .map(|k| match k {
                ColumnKind::Datetime { format } => format,
                other => panic!("expected a date, got {other:?}"),
            })
            .collect();
        assert_eq!(
            formats,
            [
                "%Y-%m-%d",
                "%m/%d/%Y",
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S",
                "%-m/%-d/%Y",
                "%d/%m/%Y",
                "%-d/%-m/%Y"
            ]
        );
    }

    #[test]
    fn an_impossible_date_is_not_a_date() {
        assert_eq!(kinds("d\n2024-02-30\n2024-01-01\n"), vec![ColumnKind::Categorical]);
    }

    #[test]
    fn infers_identifiers_and_text() {
        let csv = with_rows(
            "id,code,note",
            (0..30).map(|i| {
                format!("{},C-{:04},word{i} another{} and more", 100 + i, 337 * i + 5, i % 7)
            }),
        );
        let kinds = kinds(&csv);
        // A sequence continues after the largest source identifier.
        assert_eq!(kinds[0], ColumnKind::Identifier { shape: IdShape::Sequence { start: 130 } });
        let ColumnKind::Identifier { shape: IdShape::Shapes { shapes } } = &kinds[1] else {
            panic!("{:?}", kinds[1]);
        };
        assert_eq!((shapes.len(), shapes[0].template.as_str(), shapes[0].count), (1, "C-9999", 30));
        // 30 codes C-0005, C-0342, ... use every first digit: fresh prefixes are two digits
        // no code starts with.
        let codes: Vec<String> = (0..30).map(|i| format!("C-{:04}", 337 * i + 5)).collect();
        assert!(!shapes[0].fresh.is_empty());
        for prefix in &shapes[0].fresh {
            assert_eq!(prefix.len(), 2);
            assert!(codes.iter().all(|c| !c[2..].starts_with(prefix.as_str())), "{prefix}");
        }
        assert_eq!(kinds[2], ColumnKind::Text);
    }

    #[test]
    fn identifiers_keep_every_shape_and_never_equal_a_source_value() {
        // Licence numbers of three shapes: 8002756, S124529, a999999 (60%, 30%, 10%).
        let licences: Vec<String> = (0..2000)
            .map(|i: u64| {
                let digits = (i * 7919 + 13) % 1_000_000;
                match i % 10 {
                    0..=5 => format!("{}", 8_000_000 + digits),
                    6..=8 => format!("S{digits:06}"),
                    _ => format!("a{digits:06}"),
                }
            })
            .collect();
        let csv = with_rows("licence", licences.iter().cloned());
        let kind = kinds(&csv).remove(0);
        let ColumnKind::Identifier { shape } = &kind else { panic!("{kind:?}") };
        kind.check().unwrap();
        let real: std::collections::HashSet<&str> = licences.iter().map(String::as_str).collect();
        let generated: Vec<String> = (0..2000).map(|i| generate_identifier(shape, i)).collect();
        let shape_of = |v: &str| -> char {
            match v.chars().next() {
                Some('S') => 'S',
                Some('a') => 'a',
                _ => '8',
            }
        };
        let mut counts = std::collections::BTreeMap::<char, usize>::new();
        for v in &generated {
            assert!(!real.contains(v.as_str()), "{v} is a source value");
            assert_eq!(v.len(), 7, "{v}");
            assert!(v[1..].chars().all(|c| c.is_ascii_digit()), "{v}");
            *counts.entry(shape_of(v)).or_default() += 1;
        }
        let mut seen = std::collections::HashMap::new();
        for (i, v) in generated.iter().enumerate() {
            if let Some(j) = seen.insert(v.clone(), i) {
                panic!("rows {j} and {i} both get {v}: {shape:?}");
            }
        }
        // Shares near 60/30/10%.
        assert!((1050..=1350).contains(&counts[&'8']), "{counts:?}");
        assert!((450..=750).contains(&counts[&'S']), "{counts:?}");
        assert!((100..=300).contains(&counts[&'a']), "{counts:?}");
    }

    #[test]
    fn a_long_tail_of_strings_is_short_text_and_a_few_categories_stay_categories() {
        // Job titles: 80% of rows unique, the rest a handful of frequent titles.
        let titles = (0..1000).map(|i| match i % 5 {
            0 => "Teacher".to_string(),
            _ => format!("Clerk{i}"),
        });
        let few = (0..1000).map(|i| format!("grade-{}", i % 40));
        let rows = titles.zip(few).map(|(t, g)| format!("{t},{g}"));
        assert_eq!(
            kinds(&with_rows("title,grade", rows)),
            vec![ColumnKind::Text, ColumnKind::Categorical]
        );
        // 150 rows of 30 categories seen 5 times each: rare, but few.
        let small = with_rows("c", (0..150).map(|i| format!("k{}", i % 30)));
        assert_eq!(kinds(&small), vec![ColumnKind::Categorical]);
    }

    #[test]
    fn unique_integers_without_an_id_name_stay_numbers() {
        let csv = with_rows("weight", (0..30).map(|i| format!("{}", 1000 + i * 17)));
        assert_eq!(kinds(&csv), vec![ColumnKind::Integer]);
    }

    #[test]
    fn records_the_most_frequent_missing_marker() {
        let t = table("a,b\n1,x\n?,y\n?,\nNA,x\n5,x\n");
        let schema = infer_schema(&t, &TrainConfig::default().schema_settings()).unwrap();
        assert_eq!(schema.columns[0].missing_marker.as_deref(), Some("?"));
        assert_eq!(schema.columns[0].missing_count, 3);
        assert_eq!(schema.columns[0].kind, ColumnKind::Integer);
        assert_eq!(schema.columns[1].missing_marker.as_deref(), Some(""));
    }

    #[test]
    fn an_entirely_missing_column_is_an_error_naming_it() {
        let err =
            infer_schema(&table("a,empty\n1,\n2,NA\n"), &TrainConfig::default().schema_settings())
                .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("'empty'") && message.contains("no values"), "{message}");
    }

    #[test]
    fn overrides_apply_and_bad_ones_name_the_problem() {
        let mut config = TrainConfig::default();
        config.columns.insert(
            "a".into(),
            ColumnConfig { kind: Some(KindName::Categorical), ..Default::default() },
        );
        let schema = infer_schema(&table("a,b\n1,x\n2,y\n"), &config.schema_settings()).unwrap();
        assert_eq!(schema.columns[0].kind, ColumnKind::Categorical);

        config.columns.insert(
            "b".into(),
            ColumnConfig { kind: Some(KindName::Integer), ..Default::default() },
        );
        let message = infer_schema(&table("a,b\n1,3\n2,y\n"), &config.schema_settings())
            .unwrap_err()
            .to_string();
        assert!(message.contains("'b'") && message.contains("row 2") && message.contains("'y'"));

        config.columns.insert("nope".into(), ColumnConfig::default());
        let message =
            infer_schema(&table("a,b\n1,3\n"), &config.schema_settings()).unwrap_err().to_string();
        assert!(message.contains("'nope'"), "{message}");
    }

    #[test]
    fn prepare_drops_and_fills_missing_values() {
        let csv = "n,f,c\n1,1.0,x\n?,2.5,y\n3,,x\n5,?,\n";
        let mut config = TrainConfig::default();
        config.columns.insert(
            "n".into(),
            ColumnConfig { missing: MissingPolicy::Drop, ..Default::default() },
        );
        config.columns.insert(
            "f".into(),
            ColumnConfig { missing: MissingPolicy::Mean, ..Default::default() },
        );
        config.columns.insert(
            "c".into(),
            ColumnConfig { missing: MissingPolicy::Mode, ..Default::default() },
        );
        let (t, schema) = prepare(&table(csv), &config.schema_settings()).unwrap();
        assert_eq!(t.num_rows(), 3);
        // Mean of 1.0 and the kept rows' floats (1.0 only: 2.5 was in a dropped row) is 1.0.
        let f: Vec<_> = (0..3).map(|r| t.cell(r, 1).unwrap().to_string()).collect();
        assert_eq!(f, ["1.0", "1.0", "1.0"]);
        assert_eq!(t.cell(2, 2), Some("x"));
        assert!(schema.columns.iter().all(|c| c.missing_count == 0 && c.missing_marker.is_none()));
    }

    #[test]
    fn number_parsing_and_writing() {
        assert_eq!(parse_integer(" -42 "), Some(-42));
        assert_eq!(parse_integer("007"), None);
        assert_eq!(parse_integer("1.0"), None);
        assert_eq!(parse_float("1.5e-3"), Some(0.0015));
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("NaN"), None);
        assert_eq!(decimals_of("1.5e-3"), 4);
        assert_eq!(decimals_of("2.50"), 2);
        assert_eq!(format_float(-0.001, 2), "0.00");
        assert_eq!(format_float(2.345, 1), "2.3");
        assert_eq!(format_float(-1.25, 3), "-1.250");
    }

    #[test]
    fn datetimes_round_trip_through_seconds() {
        for (text, format) in [
            ("1969-07-20", "%Y-%m-%d"),
            ("2024-02-29 23:59:59", "%Y-%m-%d %H:%M:%S"),
            ("3/7/2001", "%-m/%-d/%Y"),
        ] {
            let seconds = datetime_to_seconds(text, format).unwrap();
            assert_eq!(seconds_to_datetime(seconds, format), text);
        }
        assert_eq!(datetime_to_seconds("1970-01-02", "%Y-%m-%d"), Some(86_400));
    }

    #[test]
    fn every_inferred_date_format_passes_the_model_file_check() {
        for format in DATETIME_FORMATS {
            assert_eq!(check_datetime_format(format), Ok(()), "{format}");
        }
        for bad in ["%Q", "%", "%Y-%m-%d %z", "%H:%M", ""] {
            assert!(check_datetime_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifier_templates_must_vary() {
        assert_eq!(check_template("C-99\\9a"), Ok(()));
        assert!(check_template("C-\\9").is_err());
        assert!(check_template("").is_err());
        assert!(ColumnKind::Float { decimals: 4_000_000_000 }.check().is_err());
    }

    #[test]
    fn template_identifiers_are_unique_and_shaped() {
        let shape = IdShape::Template { template: "C-99\\9a".into() };
        let ids: std::collections::HashSet<String> =
            (0..2600).map(|i| generate_identifier(&shape, i)).collect();
        assert_eq!(ids.len(), 2600); // 10 * 10 * 26 = 2600 possible: all used once
        for id in &ids {
            let b = id.as_bytes();
            assert!(id.starts_with("C-") && b[2].is_ascii_digit() && b[3].is_ascii_digit());
            assert_eq!(b[4], b'9');
            assert!(b[5].is_ascii_lowercase());
        }
        let seq = IdShape::Sequence { start: 7 };
        assert_eq!(generate_identifier(&seq, 3), "10");
    }

    #[test]
    fn hex_templates_are_recognised() {
        let values: Vec<String> = (0..40u64)
            .map(|i| format!("{:08x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(id_template(&refs).as_deref(), Some("xxxxxxxx"));
    }
}
