//! The field-aware tokenizer: a record becomes a fixed-length sequence of tokens, each belonging to
//! one *field* of one column.
//!
//! Every record has the same fields in the same order, so position `t` of every sequence belongs
//! to the same field. That keeps batches aligned, lets the model predict each position from its
//! field's vocabulary slice only (constrained decoding: nothing generated is ever invalid), and
//! lets later work permute or condition on fields, since the field to predict is a model input.
//!
//! Per column kind:
//! - categorical and boolean: one field, one token per value seen at least
//!   `rare_category_threshold` times, plus a protected bucket for the rarer ones and a token for
//!   missing values;
//! - numbers and datetimes: a *value* field (missing, frequent exact values, quantile bins) and, when
//!   there are bins, a *position* field (where in the bin, in `bin_positions` steps). The tokens of a
//!   binned number stand for an interval; decoding draws a value in it at the source's precision;
//! - text: `slots` fields of learned subword tokens, ended by an end token (later slots repeat it);
//! - identifiers: no fields; regenerated from the row index;
//! - derived number columns (an exact relation to other columns in every training row, see
//!   `relations`): no fields; computed from the decoded cells of the columns they depend on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{TokenizerConfig, TokenizerSettings};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::numbers::{number_format, parse_number, source_number_format, NumberFormat, Written};
use crate::private_stats::Release;
use crate::relations::{self, DerivedFormat, Relation};
use crate::rng::Rng;
use crate::schema::is_missing;
use crate::schema::{self, ColumnKind, Schema};
use crate::subword::SubwordModel;
use crate::table::Table;

mod allowed;
mod text_pattern;
pub(crate) use allowed::{intersect, whole_match};
pub use allowed::{Allowed, OrderRule, Test};
pub use text_pattern::TextPattern;

/// One column's mapping between cell text and local token ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "codec", rename_all = "snake_case")]
enum Codec {
    /// Local ids: `0` missing, `1` rare bucket, then `values`. `rare` says whether the source
    /// had values in the bucket (models saved before it was recorded read as `true`).
    Categorical {
        values: Vec<String>,
        #[serde(default = "rare_unknown")]
        rare: bool,
    },
    /// Value field: `0` missing, then `exact`, then one token per bin of `edges`.
    /// Position field: `0` not applicable, then `positions` steps.
    Number {
        format: NumberFormat,
        exact: Vec<f64>,
        edges: Vec<f64>,
        positions: u32,
        /// For a float column: how the source writes the values of each value token (exact
        /// values, then bins), with counts; decoding draws a form from its token's. Empty
        /// when every value is written as `format` writes it (and under DP).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        written: Vec<Vec<(Written, u32)>>,
        /// For a column never below column `after` (a price never below the loan amount, an
        /// end never before its start): the tokens stand for the distance from that column's
        /// value, so that generated rows keep the order. `None` for a column modelled on its
        /// own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<usize>,
    },
    /// Each slot: `0` end, `1` missing, then the subword ids.
    Text { model: SubwordModel, slots: usize },
    /// Not learned.
    Identifier,
    /// Not learned: computed from other columns after they are decoded (see `relations`).
    Derived { relation: Relation, format: DerivedFormat },
}

/// Whether a categorical column had rare values, where that was not recorded: assume it did.
fn rare_unknown() -> bool {
    true
}

const MISSING: u32 = 0;
const RARE: u32 = 1;
const CATEGORY_BASE: u32 = 2;
const TEXT_END: u32 = 0;
const TEXT_MISSING: u32 = 1;
const TEXT_BASE: u32 = 2;
const NOT_APPLICABLE: u32 = 0;

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// A category (or boolean) value.
    Category,
    /// A number's value: missing, an exact value or a bin.
    NumberValue,
    /// Where in its bin a number lies; follows its value field.
    NumberPosition,
    /// One subword slot of a text cell.
    TextSlot,
}

/// One position of the token sequence: which column it belongs to and its slice of the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The source column (index into the schema).
    pub column: usize,
    /// What the field holds.
    pub role: FieldRole,
    /// First global token id of this field's vocabulary.
    pub offset: u32,
    /// Number of tokens in this field's vocabulary.
    pub size: u32,
}

impl Field {
    /// Whether `self` predicts from the same vocabulary slice as `other` (the slots of one
    /// text column do).
    pub fn shares_slice_with(&self, other: &Field) -> bool {
        (self.offset, self.size) == (other.offset, other.size)
    }
}

/// Maps records to token sequences and back. Built from the training table; saved with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tokenizer {
    schema: Schema,
    rare_token: String,
    codecs: Vec<Codec>,
    fields: Vec<Field>,
    vocab_size: u32,
}

/// A table encoded as tokens: `tokens[r * len + t]` is the local id of field `t` in record `r`.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Local token ids (within each field's vocabulary), row-major.
    pub tokens: Vec<u32>,
    /// Loss weights, row-major like `tokens`: 0 where a token is forced by earlier ones.
    pub weights: Vec<f32>,
    /// Number of records.
    pub rows: usize,
    /// Fields per record.
    pub len: usize,
}

impl Tokenizer {
    /// Learns every column's vocabulary from `table` (already prepared: see [`schema::prepare`]).
    pub fn fit(table: &Table, schema: &Schema, config: &TokenizerSettings) -> Result<Tokenizer> {
        let tc = config.tokenizer;
        let all_cells = cells_by_column(table, schema, config);
        let mut derived = relations::detect(schema, &all_cells);
        let mut ordered = relations::ordered(schema, &all_cells);
        // A derived column is computed, neither an end nor a start.
        ordered.retain(|&(end, start)| derived.iter().all(|&(d, ..)| d != end && d != start));
        let mut codecs = Vec::with_capacity(schema.columns.len());
        for (c, column) in schema.columns.iter().enumerate() {
            if let Some(i) = derived.iter().position(|(d, ..)| *d == c) {
                let (_, relation, format) = derived.swap_remove(i);
                codecs.push(Codec::Derived { relation, format });
                continue;
            }
            // The column's present cells with their rows, from the cells read once above.
            let cells: Vec<(usize, &str)> = all_cells[c]
                .iter()
                .enumerate()
                .filter_map(|(row, cell)| cell.map(|text| (row, text)))
                .collect();
            let codec = match &column.kind {
                ColumnKind::Categorical | ColumnKind::Boolean => {
                    let codec = fit_categories(&cells, tc);
                    check_categories(&codec, &column.name, config.limits)?;
                    codec
                }
                ColumnKind::Text if !config.text_vocabulary => public_text(tc),
                ColumnKind::Text => fit_text(&cells, tc),
                ColumnKind::Identifier { .. } => Codec::Identifier,
                kind => {
                    let format = source_number_format(kind, &cells);
                    let mut values = Vec::with_capacity(cells.len());
                    for (row, text) in &cells {
                        values.push(parse_number(text, &format).ok_or_else(|| {
                            let problem = format!("cannot read '{text}' as {}", format.describe());
                            Error::cell(row + 1, &column.name, Some(text), problem)
                        })?);
                    }
                    let after = ordered.iter().find(|(end, _)| *end == c).map(|&(_, s)| s);
                    if let Some(start) = after {
                        // Detection read every start and found it present.
                        let start_format = number_format(&schema.columns[start].kind);
                        for ((row, _), value) in cells.iter().zip(values.iter_mut()) {
                            let base = all_cells[start][*row]
                                .and_then(|text| parse_number(text, &start_format));
                            *value -= base.unwrap_or(0.0);
                        }
                    }
                    let mut codec = fit_numbers(values.clone(), format, tc)?;
                    if let Codec::Number { after: a, .. } = &mut codec {
                        *a = after;
                    }
                    fit_written(&mut codec, &values, &cells, tc.rare_category_threshold.max(1));
                    codec
                }
            };
            codecs.push(codec);
        }
        Tokenizer::from_codecs(schema.clone(), config, codecs)
    }

    /// Lays the columns' fields out over one vocabulary, refusing one above
    /// `limits.max_vocabulary`.
    fn from_codecs(
        schema: Schema,
        config: &TokenizerSettings,
        codecs: Vec<Codec>,
    ) -> Result<Tokenizer> {
        let limit = config.limits.max_vocabulary;
        let mut fields = Vec::new();
        let mut total = 0usize;
        // The column with the most tokens, named when the vocabulary is too large.
        let mut largest = (0usize, "");
        for (column, codec) in codecs.iter().enumerate() {
            let name = schema.columns.get(column).map_or("", |c| c.name.as_str());
            let sizes =
                codec.field_sizes().map_err(|m| Error::Data(format!("column '{name}': {m}")))?;
            let start = total;
            for (k, (role, size)) in sizes.into_iter().enumerate() {
                let shared = k > 0 && codec.shares_slice();
                // Saturated offsets are never used: the limit below refuses them.
                let offset = u32::try_from(if shared { start } else { total }).unwrap_or(u32::MAX);
                fields.push(Field { column, role, offset, size });
                if !shared {
                    total = total.saturating_add(size as usize);
                }
            }
            largest = largest.max((total - start, name));
        }
        if total > limit {
            return Err(Limits::exceeded(
                &format!(
                    "the vocabulary (tokens of all columns; column '{}' has {})",
                    largest.1, largest.0
                ),
                total,
                "max_vocabulary",
                limit as u64,
            ));
        }
        // The start token takes the id after the vocabulary.
        let offset = u32::try_from(total)
            .ok()
            .filter(|&v| v < u32::MAX)
            .ok_or_else(|| Error::Data("the vocabulary exceeds 2^32 - 1 tokens".into()))?;
        if fields.is_empty() {
            return Err(Error::Data(
                "nothing to learn: every column is an identifier; set a column's kind in the config"
                    .into(),
            ));
        }
        Ok(Tokenizer {
            schema,
            rare_token: config.tokenizer.rare_token.clone(),
            codecs,
            fields,
            vocab_size: offset,
        })
    }

    /// Like [`Tokenizer::fit`], with every statistic released through `release` (DP; see
    /// `private_stats`). Only `rows` count, one per privacy unit. Returns the tokenizer
    /// and the number of columns whose counts were released (the sensitivity is its root).
    pub fn fit_private(
        table: &Table,
        schema: &Schema,
        config: &TokenizerSettings,
        rows: &[usize],
        release: &mut Release,
    ) -> Result<Tokenizer> {
        let tc = config.tokenizer;
        let mut schema = schema.clone();
        let mut codecs = Vec::with_capacity(schema.columns.len());
        for (c, column) in schema.columns.iter_mut().enumerate() {
            let cells: Vec<&str> = rows
                .iter()
                .filter_map(|&r| {
                    let cell = table.cell(r, c);
                    (!is_missing(config.missing_tokens, cell)).then(|| cell.unwrap_or_default())
                })
                .collect();
            let missing = rows.len() - cells.len();
            let codec = match &mut column.kind {
                ColumnKind::Identifier { shape } => {
                    // The smallest source id is a data value: start synthetic ids at 1.
                    if let schema::IdShape::Sequence { start } = shape {
                        *start = 1;
                    }
                    // Identifiers are regenerated for every row: never missing.
                    column.missing_count = 0;
                    codecs.push(Codec::Identifier);
                    continue;
                }
                // A LoRA model's text: nothing learned from the cells, nothing released.
                ColumnKind::Text if !config.text_vocabulary => public_text(tc),
                ColumnKind::Text => {
                    // Refused before fitting (`TrainConfig::refuse_unaccounted`).
                    return Err(Error::Data(format!(
                        "column '{}' is free text, which DP training does not cover",
                        column.name
                    )));
                }
                ColumnKind::Categorical | ColumnKind::Boolean => {
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for text in &cells {
                        *counts.entry(text).or_default() += 1;
                    }
                    let counts = counts.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
                    // Whether any value fell below the threshold is itself a count: the
                    // private release does not tell, so the bucket stays available.
                    let codec =
                        Codec::Categorical { values: release.categories(counts), rare: true };
                    check_categories(&codec, &column.name, config.limits)?;
                    codec
                }
                kind => {
                    let format = number_format(kind);
                    let values = cells
                        .iter()
                        .map(|text| {
                            parse_number(text, &format).ok_or_else(|| {
                                Error::Data(format!(
                                    "column '{}': cannot read '{text}' as {}",
                                    column.name,
                                    format.describe()
                                ))
                            })
                        })
                        .collect::<Result<Vec<f64>>>()?;
                    let r = format.resolution();
                    let (exact, mut edges) =
                        release.numbers(&values, r, tc.exact_value_share, tc.numeric_bins);
                    let exact = exact.into_iter().map(|v| format.snap(v, f64::round)).collect();
                    if edges.is_empty() {
                        // Nothing cleared the noise: one data-independent bin keeps encoding total.
                        edges = vec![0.0, r];
                    }
                    let positions = bin_positions(tc)?;
                    Codec::Number {
                        format,
                        exact,
                        edges,
                        positions,
                        written: Vec::new(),
                        after: None,
                    }
                }
            };
            column.missing_count = release.noisy_missing(missing);
            codecs.push(codec);
        }
        Tokenizer::from_codecs(schema, config, codecs)
    }

    /// The schema the tokenizer was built for.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// A categorical column's domain: the values it keeps verbatim, and the text written for
    /// the rest (the rare bucket) when the source had values in it; `None` for a column of
    /// another kind.
    pub(crate) fn categories(&self, column: usize) -> Option<(&[String], Option<&str>)> {
        match self.codecs.get(column) {
            Some(Codec::Categorical { values, rare }) => {
                Some((values, rare.then_some(self.rare_token.as_str())))
            }
            _ => None,
        }
    }

    /// The text written for a category in the rare bucket.
    pub(crate) fn rare_token(&self) -> &str {
        &self.rare_token
    }

    /// A number column's range as its codec holds it (the smallest and largest exact value or
    /// bin edge: under DP, released with the statistics); `None` for another kind, and for a
    /// column modelled as a distance from another.
    pub(crate) fn number_range(&self, column: usize) -> Option<(f64, f64)> {
        match self.codecs.get(column) {
            Some(Codec::Number { exact, edges, after: None, .. }) => {
                let values = exact.iter().chain(edges).copied().filter(|v| v.is_finite());
                values.fold(None, |range, v| match range {
                    None => Some((v, v)),
                    Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
                })
            }
            _ => None,
        }
    }

    /// The fields of a record, in sequence order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Total number of tokens over all fields.
    pub fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    /// Checks a tokenizer read from a model file against `limits`: its schema (see
    /// [`Schema::check`]), one codec per column that fits the column's kind and is sane (sorted
    /// finite bin edges, sizes within the limits), and fields that are exactly the codecs'
    /// fields, laid out over a vocabulary of `vocab_size` tokens. Nothing is allocated from the
    /// sizes before they are checked. The error names the column or field at fault.
    pub fn check(&self, limits: &Limits) -> std::result::Result<(), String> {
        self.schema.check()?;
        let columns = &self.schema.columns;
        if self.codecs.len() != columns.len() {
            return Err(format!(
                "the tokenizer has {} codecs for {} columns",
                self.codecs.len(),
                columns.len()
            ));
        }
        let mut expected_fields = 0usize;
        for (c, (codec, column)) in self.codecs.iter().zip(columns).enumerate() {
            codec
                .check(column, limits)
                .map_err(|m| format!("column {c} ('{}'): {m}", column.name))?;
            if let Codec::Number { after: Some(start), .. } = codec {
                let from = self.codecs.get(*start);
                let date = |k: &ColumnKind| matches!(k, ColumnKind::Datetime { .. });
                let same_family =
                    columns.get(*start).is_some_and(|s| date(&s.kind) == date(&column.kind));
                if *start == c
                    || !same_family
                    || !matches!(from, Some(Codec::Number { after: None, .. }))
                {
                    return Err(format!(
                        "column {c} ('{}'): measured from column {start}, which is not another \
                         column of its family modelled on its own",
                        column.name
                    ));
                }
            }
            if let Codec::Derived { relation, .. } = codec {
                let derived_input = relation
                    .inputs()
                    .into_iter()
                    .any(|i| matches!(self.codecs.get(i), Some(Codec::Derived { .. })));
                relation
                    .check(c, &self.schema)
                    .and_then(|()| match derived_input {
                        true => Err("a derived column's input is derived itself".into()),
                        false => Ok(()),
                    })
                    .map_err(|m| format!("column {c} ('{}'): {m}", column.name))?;
            }
            expected_fields = expected_fields.saturating_add(codec.field_count());
        }
        if expected_fields != self.fields.len() {
            return Err(format!(
                "the tokenizer has {} fields, but its codecs make {expected_fields}",
                self.fields.len()
            ));
        }
        if self.fields.is_empty() {
            return Err("nothing to generate: every column is an identifier".into());
        }
        let name = |c: usize| columns.get(c).map_or("?", |c| c.name.as_str());
        let mut i = 0usize;
        let mut offset = 0u64;
        for (c, codec) in self.codecs.iter().enumerate() {
            // Bounded: the count was compared with the fields stored above.
            let sizes =
                codec.field_sizes().map_err(|m| format!("column {c} ('{}'): {m}", name(c)))?;
            // A text column's slots share one slice; files written before they did give each
            // slot its own, which still reads.
            let start = offset;
            let shared = codec.shares_slice()
                && self.fields.get(i + 1).is_some_and(|f| u64::from(f.offset) == start);
            for (k, (role, size)) in sizes.into_iter().enumerate() {
                let Some(actual) = self.fields.get(i) else { break };
                if actual.size == 0 {
                    return Err(format!(
                        "tokenizer field {i} ('{}') has 0 tokens",
                        name(actual.column)
                    ));
                }
                let at = if shared { start } else { offset };
                let expected = Field { column: c, role, offset: at as u32, size };
                if *actual != expected || at > u64::from(u32::MAX) {
                    return Err(format!(
                        "tokenizer field {i} ('{}') is {actual:?}, but column {c}'s codec makes \
                         {expected:?}",
                        name(actual.column)
                    ));
                }
                if k == 0 || !shared {
                    offset += u64::from(size);
                }
                i += 1;
            }
        }
        if offset != u64::from(self.vocab_size) {
            return Err(format!(
                "tokenizer vocab_size is {}, but its fields hold {offset} tokens",
                self.vocab_size
            ));
        }
        if offset > limits.max_vocabulary as u64 || self.vocab_size == u32::MAX {
            return Err(format!(
                "a vocabulary of {offset} tokens, above limits.max_vocabulary = {}",
                limits.max_vocabulary
            ));
        }
        Ok(())
    }

    /// Encodes every row of `table` (which must have the schema's columns in order).
    pub fn encode(&self, table: &Table, config: &TokenizerSettings) -> Result<Encoded> {
        let rows = table.num_rows();
        let len = self.fields.len();
        let mut tokens = Vec::with_capacity(rows * len);
        let mut weights = Vec::with_capacity(rows * len);
        let mut row_tokens = Vec::with_capacity(len);
        for row in 0..rows {
            row_tokens.clear();
            for (c, codec) in self.codecs.iter().enumerate() {
                let cell = table.cell(row, c);
                let cell =
                    (!is_missing(config.missing_tokens, cell)).then(|| cell.unwrap_or_default());
                let base = self.base_of(codec, |s| table.cell(row, s), config);
                codec.encode(cell, base, &mut row_tokens).map_err(|message| {
                    Error::cell(row + 1, &self.schema.columns[c].name, cell, message)
                })?;
            }
            for t in 0..len {
                let forced = self.forced(t, &row_tokens[..t]).is_some();
                weights.push(if forced { 0.0 } else { 1.0 });
            }
            tokens.extend_from_slice(&row_tokens);
        }
        Ok(Encoded { tokens, weights, rows, len })
    }

    /// The token field `field` must take given the earlier tokens of its record, if it is forced:
    /// a position after a missing or exact number, and text slots after the end token.
    pub fn forced(&self, field: usize, previous: &[u32]) -> Option<u32> {
        let f = self.fields[field];
        match f.role {
            FieldRole::NumberPosition => {
                let Some(Codec::Number { exact, .. }) = self.codecs.get(f.column) else {
                    return None;
                };
                let value = previous.get(field.wrapping_sub(1)).copied().unwrap_or(MISSING);
                (value as usize <= exact.len()).then_some(NOT_APPLICABLE)
            }
            FieldRole::TextSlot => {
                let same = |i: usize| self.fields.get(i).is_some_and(|g| g.column == f.column);
                // The last slot always ends the text (encoding keeps at most slots - 1 tokens),
                // and once a text has ended or is missing, every later slot is the end token.
                let ended = field > 0
                    && same(field - 1)
                    && previous.get(field - 1).is_some_and(|&t| t <= TEXT_MISSING);
                (ended || !same(field + 1)).then_some(TEXT_END)
            }
            _ => None,
        }
    }

    /// The local tokens of `field` that generation must never draw: the "missing" token of a
    /// column's first field when the source has no missing values in that column, and the
    /// rare bucket of a categorical column that had no rare values, or whose values are all
    /// numbers or booleans (its placeholder would not parse as the column's values do). (The
    /// model gives them a small probability, and drawing one would write a value the source
    /// never has.)
    pub fn never(&self, field: usize) -> Vec<u32> {
        let f = self.fields[field];
        let first = field == 0 || self.fields[field - 1].column != f.column;
        if !first {
            return Vec::new();
        }
        let mut never = Vec::new();
        if self.schema.columns.get(f.column).is_some_and(|c| c.missing_count == 0) {
            match f.role {
                FieldRole::Category | FieldRole::NumberValue => never.push(MISSING),
                FieldRole::TextSlot => never.push(TEXT_MISSING),
                FieldRole::NumberPosition => {}
            }
        }
        if let Some(Codec::Categorical { rare, values }) = self.codecs.get(f.column) {
            // The bucket's placeholder is no value of a column whose values are numbers (codes,
            // or a numeric column the private schema release made categorical) or booleans:
            // there, generation draws among the kept values only.
            let typed = values.iter().all(|v| doppel_table::value::parse_number(v).is_some())
                || self.schema.columns.get(f.column).is_some_and(|c| c.kind == ColumnKind::Boolean);
            if !rare || (typed && !values.is_empty()) {
                never.push(RARE);
            }
        }
        never
    }

    /// The value of the column a codec's values are measured from (see `Codec::Number`'s
    /// `after`), read from `cell_of(column)`: `Some(None)` when that cell is missing or
    /// unreadable, `None` for a codec modelled on its own.
    fn base_of<'a>(
        &self,
        codec: &Codec,
        cell_of: impl Fn(usize) -> Option<&'a str>,
        config: &TokenizerSettings,
    ) -> Option<Option<f64>> {
        let Codec::Number { after: Some(start), .. } = codec else { return None };
        let Some(Codec::Number { format, .. }) = self.codecs.get(*start) else { return Some(None) };
        let cell = cell_of(*start);
        let present = (!is_missing(config.missing_tokens, cell)).then_some(cell).flatten();
        Some(present.and_then(|text| parse_number(text, format)))
    }

    /// Decodes one record's local tokens into cells in schema column order: a value's text in
    /// the source's format, or `None` for a missing value (the output writes it as a null, or
    /// as the column's missing marker in CSV). `row_index` numbers generated identifiers;
    /// `rng` draws values within numeric bins.
    pub fn decode(&self, tokens: &[u32], row_index: u64, rng: &mut Rng) -> Vec<Option<String>> {
        self.decode_steered(tokens, row_index, rng, &[], &[], &[])
    }

    /// [`Tokenizer::decode`] keeping each number column `c` with `within[c]` inside those
    /// intervals (see [`Allowed::Numbers`]), and each column `c` with `known[c]` at that cell
    /// (a seed's: ends measured from it and derived columns computed from it read it too);
    /// columns beyond either slice are free. Each of `rules` holds between its columns'
    /// values when the tokens allow it (generation bars the tokens that do not): the first of
    /// the two decoded keeps to the other's tokens, the second to the first's value.
    pub fn decode_steered(
        &self,
        tokens: &[u32],
        row_index: u64,
        rng: &mut Rng,
        within: &[Option<&[(f64, f64)]>],
        known: &[Option<Option<String>>],
        rules: &[OrderRule],
    ) -> Vec<Option<String>> {
        let known = |c: usize| known.get(c).and_then(Option::as_ref);
        let mut cells = Vec::with_capacity(self.codecs.len());
        let mut spans = Vec::with_capacity(self.codecs.len());
        let mut t = 0usize;
        for (codec, column) in self.codecs.iter().zip(&self.schema.columns) {
            let n = codec.field_count();
            // A validated tokenizer has a token for every field; anything else decodes as missing.
            let span = tokens.get(t..t.saturating_add(n));
            let ordered = matches!(codec, Codec::Number { after: Some(_), .. });
            let mut allowed = within.get(cells.len()).copied().flatten();
            let related = self.ordered_bound(cells.len(), rules, &cells, tokens, allowed, &known);
            if let Some(bound) = related.as_deref().filter(|b| !b.is_empty()) {
                allowed = Some(bound);
            }
            if let Some(cell) = known(cells.len()) {
                cells.push(cell.clone());
                spans.push(None);
                t = t.saturating_add(n);
                continue;
            }
            let cell = span.filter(|_| !ordered).and_then(|tokens| match allowed {
                Some(allowed) => codec.decode_from(tokens, 0.0, column, rng, Some(allowed)),
                None => codec.decode(tokens, &self.rare_token, column, row_index, rng),
            });
            // A step too narrow to hold a value the order allows (its values round out of
            // it): the allowed value nearest to it.
            let cell = cell.or_else(|| {
                let bound = related.as_deref().filter(|b| !b.is_empty())?;
                self.nearest_value(cells.len(), bound, tokens)
            });
            cells.push(cell);
            spans.push(span);
            t = t.saturating_add(n);
        }
        // Ends after their starts (never chained: checked), then derived columns.
        for (c, codec) in self.codecs.iter().enumerate() {
            let Codec::Number { after: Some(start), .. } = codec else { continue };
            if known(c).is_some() {
                continue;
            }
            let start_cell = cells.get(*start).cloned().flatten();
            let Some(Codec::Number { format, .. }) = self.codecs.get(*start) else { continue };
            let base = start_cell.as_deref().and_then(|text| parse_number(text, format));
            let column = &self.schema.columns[c];
            cells[c] = match (spans[c], base) {
                (Some(tokens), Some(base)) => codec.decode_from(tokens, base, column, rng, None),
                _ => None,
            };
        }
        for (c, codec) in self.codecs.iter().enumerate() {
            if let (Codec::Derived { relation, format }, None) = (codec, known(c)) {
                // Inputs are never derived (checked), so they are decoded by now.
                let inputs: Option<Vec<f64>> = relation
                    .inputs()
                    .iter()
                    .map(|&i| cells.get(i)?.as_deref().and_then(doppel_table::value::parse_number))
                    .collect();
                cells[c] = inputs.and_then(|v| relation.compute(&v)).map(|v| format.write(v));
            }
        }
        cells
    }

    /// The intervals column `c` keeps to for `rules` (with `within` its own, if any), given
    /// the cells decoded so far, the other cells a seed fixes, and the tokens of the rest;
    /// `None` when no rule bounds it.
    fn ordered_bound<'a>(
        &self,
        c: usize,
        rules: &[OrderRule],
        cells: &[Option<String>],
        tokens: &[u32],
        within: Option<&[(f64, f64)]>,
        known: &dyn Fn(usize) -> Option<&'a Option<String>>,
    ) -> Option<Vec<(f64, f64)>> {
        let mut bound: Option<Vec<(f64, f64)>> = None;
        for rule in rules {
            let Some((other, _)) = rule.other(c) else { continue };
            let value = |cell: Option<&str>| self.read_number(other, cell?).map(|v| (v, v));
            let span = match (cells.get(other), known(other)) {
                (Some(cell), _) => value(cell.as_deref()),
                (None, Some(cell)) => value(cell.as_deref()),
                (None, None) => self.span_so_far(other, tokens, &[]),
            };
            let Some(span) = span else { continue };
            let start = bound.take().or_else(|| within.map(<[_]>::to_vec));
            let start = start.unwrap_or_else(|| vec![(f64::NEG_INFINITY, f64::INFINITY)]);
            bound = Some(intersect(&start, &self.order_bound(c, rule, span)));
        }
        // Applied even where the column's own tokens seem to keep it: a value decoded in one
        // of the column's written forms may round out of its step. (So a column in a rule is
        // written in its column format, not its learned forms.)
        bound
    }

    /// The derived columns: each column's index and how it is computed, in words (an end date
    /// is its start plus a learned time).
    pub fn derived(&self) -> Vec<(usize, String)> {
        let names: Vec<&str> = self.schema.columns.iter().map(|c| c.name.as_str()).collect();
        let described = |(c, codec): (usize, &Codec)| match codec {
            Codec::Derived { relation, format } => {
                Some((c, format!("{} ({format})", relation.describe(&names))))
            }
            Codec::Number { after: Some(start), .. } => {
                let start = names.get(*start).copied().unwrap_or("?");
                Some((c, format!("{start} + a learned distance (never below {start})")))
            }
            _ => None,
        };
        self.codecs.iter().enumerate().filter_map(described).collect()
    }
}

/// Every cell of `table` by column, `None` where missing.
fn cells_by_column<'a>(
    table: &'a Table,
    schema: &Schema,
    config: &TokenizerSettings,
) -> Vec<Vec<Option<&'a str>>> {
    (0..schema.columns.len())
        .map(|c| {
            (0..table.num_rows())
                .map(|r| {
                    let cell = table.cell(r, c);
                    cell.filter(|_| !is_missing(config.missing_tokens, cell))
                })
                .collect()
        })
        .collect()
}

fn fit_categories(cells: &[(usize, &str)], tc: &TokenizerConfig) -> Codec {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, text) in cells {
        *counts.entry(text).or_default() += 1;
    }
    let distinct = counts.len();
    let mut frequent: Vec<(&str, usize)> =
        counts.into_iter().filter(|&(_, n)| n >= tc.rare_category_threshold.max(1)).collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rare = frequent.len() < distinct;
    Codec::Categorical { values: frequent.into_iter().map(|(v, _)| v.to_string()).collect(), rare }
}

/// The text codec of a model that writes text with another tokenizer (a LoRA model's base):
/// an empty vocabulary (every character unknown) and one slot, learned from nothing.
fn public_text(tc: &TokenizerConfig) -> Codec {
    Codec::Text { model: SubwordModel::learn(&[], tc.subword_vocab_size, 1), slots: 1 }
}

fn fit_text(cells: &[(usize, &str)], tc: &TokenizerConfig) -> Codec {
    let texts: Vec<&str> = cells.iter().map(|&(_, t)| t).collect();
    let model =
        SubwordModel::learn(&texts, tc.subword_vocab_size, tc.rare_category_threshold.max(1));
    let longest = texts.iter().map(|t| model.encode(t).len()).max().unwrap_or(0);
    let slots = (longest + 1).clamp(1, tc.max_text_tokens.max(1));
    Codec::Text { model, slots }
}

/// `tokenizer.bin_positions` as the u32 of a codec (the configuration's limit keeps it far below).
fn bin_positions(tc: &TokenizerConfig) -> Result<u32> {
    u32::try_from(tc.bin_positions).map_err(|_| {
        Error::Config(format!("tokenizer.bin_positions is {}, above 2^32 - 1", tc.bin_positions))
    })
}

/// Refuses a categorical column with more kept categories than `limits.max_categories`.
fn check_categories(codec: &Codec, name: &str, limits: &Limits) -> Result<()> {
    let Codec::Categorical { values, .. } = codec else { return Ok(()) };
    if values.len() <= limits.max_categories {
        return Ok(());
    }
    Err(Error::Config(format!(
        "column '{name}' has {} categories seen at least tokenizer.rare_category_threshold \
         times, above the limit of {} (each costs training time); declare the column `text` or \
         `identifier` in [columns.\"{name}\"] if its values are free text or unique keys, raise \
         tokenizer.rare_category_threshold, or raise limits.max_categories",
        values.len(),
        limits.max_categories
    )))
}

/// Splits `values` into exact tokens for frequent values and quantile bins for the rest.
///
/// A *discrete* column (see [`is_discrete`]: whole numbers, few of them covering nearly every
/// row, such as small counts, ages or codes) gets an exact token for every value seen at
/// least `rare_category_threshold` times, so that a count that is 1 in 2% of rows stays 1
/// rather than a bin's draw. When its frequent values are also *sparse* (codes: fewer than
/// half the integers of their range), the rarer values are not binned at all: they are
/// encoded as the nearest frequent value, so that generation writes only codes that exist.
fn fit_numbers(mut values: Vec<f64>, format: NumberFormat, tc: &TokenizerConfig) -> Result<Codec> {
    values.sort_by(f64::total_cmp);
    let threshold = tc.rare_category_threshold.max(1);
    let runs: Vec<&[f64]> = values.chunk_by(|a, b| a == b).collect();
    let discrete = is_discrete(&format, &runs, threshold);
    let exact_min = if discrete {
        threshold
    } else {
        threshold.max((tc.exact_value_share * values.len() as f64).ceil() as usize)
    };
    let mut exact = Vec::new();
    let mut rest = Vec::with_capacity(values.len());
    for run in &runs {
        if run.len() >= exact_min {
            exact.push(run[0]);
        } else {
            rest.extend_from_slice(run);
        }
    }
    if discrete && is_sparse(&exact) {
        rest.clear();
    }
    clip_extremes(&mut rest, tc.outlier_rows);
    let edges = quantile_edges(&rest, tc.numeric_bins.min((rest.len() / threshold).max(1)));
    let positions = if edges.is_empty() { 0 } else { bin_positions(tc)? };
    Ok(Codec::Number { format, exact, edges, positions, written: Vec::new(), after: None })
}

/// Most frequent values a discrete column may have (each is a token of its value field).
const MAX_DISCRETE_VALUES: usize = 256;
/// Share of rows a discrete column's frequent values must cover.
const DISCRETE_SHARE: f64 = 0.9;

/// Whether a column, as sorted runs of equal values, is discrete: an integer or float format,
/// every value whole, and at most [`MAX_DISCRETE_VALUES`] values seen `threshold` times or
/// more that together cover [`DISCRETE_SHARE`] of the rows.
fn is_discrete(format: &NumberFormat, runs: &[&[f64]], threshold: usize) -> bool {
    if !matches!(format, NumberFormat::Integer | NumberFormat::Float { .. }) {
        return false;
    }
    if !runs.iter().all(|run| run[0].fract() == 0.0) {
        return false;
    }
    let rows: usize = runs.iter().map(|run| run.len()).sum();
    let frequent = runs.iter().filter(|run| run.len() >= threshold);
    let (values, covered) = frequent.fold((0, 0), |(v, c), run| (v + 1, c + run.len()));
    rows > 0 && values <= MAX_DISCRETE_VALUES && covered as f64 >= DISCRETE_SHARE * rows as f64
}

/// Whether sorted whole `values` are fewer than half the integers from the first to the last.
fn is_sparse(values: &[f64]) -> bool {
    match (values.first(), values.last()) {
        (Some(&lo), Some(&hi)) if values.len() >= 2 => 2.0 * values.len() as f64 <= hi - lo,
        _ => false,
    }
}

/// Records how a float column's source writes each value token's values (see
/// [`Written`]), keeping the forms seen at least `threshold` times in the column; leaves the
/// codec as it is when no form clears it, or when the one kept form is the column's format.
fn fit_written(codec: &mut Codec, values: &[f64], cells: &[(usize, &str)], threshold: usize) {
    let (decimals, written) = match &*codec {
        Codec::Number { format: NumberFormat::Float { decimals }, written, .. } => {
            (*decimals, written)
        }
        Codec::Number { format: NumberFormat::Integer, written, .. } => (0, written),
        _ => return,
    };
    let forms: Vec<Option<Written>> = cells.iter().map(|(_, text)| Written::of(text)).collect();
    let mut totals: BTreeMap<Written, usize> = BTreeMap::new();
    for form in forms.iter().flatten() {
        *totals.entry(*form).or_default() += 1;
    }
    totals.retain(|_, n| *n >= threshold);
    let plain = Written { precision: decimals as i32, decimals };
    if totals.is_empty() || (totals.len() == 1 && totals.contains_key(&plain)) {
        return;
    }
    let tokens = codec.value_tokens();
    let mut per_token: Vec<BTreeMap<Written, u32>> = vec![BTreeMap::new(); tokens];
    for (&value, form) in values.iter().zip(&forms) {
        let (Some(form), Some(token)) = (form, codec.value_token(value)) else { continue };
        if totals.contains_key(form) {
            let count = per_token[token].entry(*form).or_default();
            *count = count.saturating_add(1);
        }
    }
    // A token whose values were all written in rare forms takes the column's kept forms.
    let column: BTreeMap<Written, u32> =
        totals.iter().map(|(&w, &n)| (w, u32::try_from(n).unwrap_or(u32::MAX))).collect();
    let table = per_token
        .into_iter()
        .map(|forms| if forms.is_empty() { column.clone() } else { forms })
        .map(|forms| forms.into_iter().collect())
        .collect();
    debug_assert!(written.is_empty());
    if let Codec::Number { written, .. } = codec {
        *written = table;
    }
}

/// Clamps sorted `values` into `[values[k - 1], values[n - k]]`: the range's ends become values
/// that at least `k` rows reach, so an outlier is neither stored as a bin edge nor generated.
/// With fewer than `2k` values the range shrinks to the median.
fn clip_extremes(values: &mut [f64], k: usize) {
    let n = values.len();
    if n == 0 || k <= 1 {
        return;
    }
    let (lo, hi) =
        if n >= 2 * k { (values[k - 1], values[n - k]) } else { (values[n / 2], values[n / 2]) };
    for v in values.iter_mut() {
        *v = v.clamp(lo, hi);
    }
}

/// `bins + 1` quantile edges of sorted `values` (fewer where quantiles coincide), from the minimum
/// to the maximum; empty for no values, `[v, v]` when all values are `v`.
fn quantile_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let Some((&first, &last)) = values.first().zip(values.last()) else { return Vec::new() };
    let mut edges: Vec<f64> = (0..=bins).map(|i| values[(i * (values.len() - 1)) / bins]).collect();
    edges.dedup();
    if edges.len() == 1 {
        edges.push(last);
    }
    debug_assert_eq!(edges[0], first);
    edges
}

impl Codec {
    /// The number of value tokens of a number codec (exact values and bins; not counting
    /// the missing token), 0 for other codecs.
    fn value_tokens(&self) -> usize {
        match self {
            Codec::Number { exact, edges, .. } => exact.len() + edges.len().saturating_sub(1),
            _ => 0,
        }
    }

    /// The value token (0-based, without the missing token) and position step of `value` in
    /// a number codec: its exact token, else its bin; with no bins, the nearest exact value
    /// (the lower of two as near). `None` for other codecs or a codec with no token.
    fn locate_value(&self, value: f64) -> Option<(usize, Option<u32>)> {
        let Codec::Number { exact, edges, positions, .. } = self else { return None };
        match exact.binary_search_by(|e| e.total_cmp(&value)) {
            Ok(i) => Some((i, None)),
            Err(_) if edges.len() > 1 => {
                let (bin, step) = locate(value, edges, *positions);
                Some((exact.len() + bin as usize, Some(step)))
            }
            Err(i) => {
                let below = i.checked_sub(1).map(|j| (j, value - exact[j]));
                let above = exact.get(i).map(|&e| (i, e - value));
                let nearest = match (below, above) {
                    (Some(b), Some(a)) => Some(if a.1 < b.1 { a } else { b }),
                    (b, a) => b.or(a),
                };
                nearest.map(|(j, _)| (j, None))
            }
        }
    }

    /// The value token of `value`: see [`Codec::locate_value`].
    fn value_token(&self, value: f64) -> Option<usize> {
        self.locate_value(value).map(|(token, _)| token)
    }

    /// The number of fields of this column.
    fn field_count(&self) -> usize {
        match self {
            Codec::Categorical { .. } => 1,
            Codec::Number { edges, .. } => 1 + usize::from(edges.len() > 1),
            Codec::Text { slots, .. } => *slots,
            Codec::Identifier | Codec::Derived { .. } => 0,
        }
    }

    /// Whether this column's fields share one vocabulary slice: a text column's slots all
    /// predict from its one subword vocabulary, so their output rows and token embeddings are
    /// one set of parameters, learned from every slot (one set per slot made Tate's titles a
    /// 4.9-million-parameter model that spelled letter salad), while the field embedding still
    /// tells the slots apart.
    fn shares_slice(&self) -> bool {
        matches!(self, Codec::Text { .. })
    }

    /// The role and vocabulary size of each field of this column; an error when a size does
    /// not fit a token id.
    fn field_sizes(&self) -> std::result::Result<Vec<(FieldRole, u32)>, String> {
        let size = |base: u32, n: usize| -> std::result::Result<u32, String> {
            u32::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(base))
                .ok_or_else(|| format!("{n} tokens in one field do not fit a 32-bit token id"))
        };
        Ok(match self {
            Codec::Categorical { values, .. } => {
                vec![(FieldRole::Category, size(CATEGORY_BASE, values.len())?)]
            }
            Codec::Number { exact, edges, positions, .. } => {
                let bins = edges.len().saturating_sub(1);
                let value = size(1, exact.len().saturating_add(bins))?;
                let mut sizes = vec![(FieldRole::NumberValue, value)];
                if bins > 0 {
                    sizes.push((FieldRole::NumberPosition, size(1, *positions as usize)?));
                }
                sizes
            }
            Codec::Text { model, slots } => {
                vec![(FieldRole::TextSlot, size(TEXT_BASE, model.vocab_len())?); *slots]
            }
            Codec::Identifier | Codec::Derived { .. } => Vec::new(),
        })
    }

    /// Appends the local tokens of one cell (`None` = missing).
    /// `base`: for a codec whose values are measured from another column's, that column's
    /// value in the row (`None` inside when it is missing); `None` for every other codec.
    fn encode(
        &self,
        cell: Option<&str>,
        base: Option<Option<f64>>,
        out: &mut Vec<u32>,
    ) -> std::result::Result<(), String> {
        match self {
            Codec::Categorical { values, .. } => out.push(match cell {
                None => MISSING,
                Some(text) => {
                    values.iter().position(|v| v == text).map_or(RARE, |i| CATEGORY_BASE + i as u32)
                }
            }),
            Codec::Number { format, edges, .. } => {
                let has_position = edges.len() > 1;
                let Some(text) = cell else {
                    out.push(MISSING);
                    if has_position {
                        out.push(NOT_APPLICABLE);
                    }
                    return Ok(());
                };
                let mut value = parse_number(text, format)
                    .ok_or_else(|| format!("cannot read '{text}' as {}", format.describe()))?;
                if let Some(base) = base {
                    let base =
                        base.ok_or("the column it is measured from is missing in this row")?;
                    value -= base;
                }
                let (token, step) = self
                    .locate_value(value)
                    .ok_or_else(|| format!("value '{text}' was not seen in training"))?;
                out.push(1 + token as u32);
                if has_position {
                    out.push(step.map_or(NOT_APPLICABLE, |step| 1 + step));
                }
            }
            Codec::Text { model, slots } => {
                let start = out.len();
                match cell {
                    None => out.push(TEXT_MISSING),
                    Some(text) => out.extend(
                        model
                            .encode(text)
                            .into_iter()
                            .take(slots.saturating_sub(1))
                            .map(|id| TEXT_BASE + id),
                    ),
                }
                out.resize(start + slots, TEXT_END);
            }
            Codec::Identifier | Codec::Derived { .. } => {}
        }
        Ok(())
    }

    /// Decodes one cell from its fields' local tokens: its text, or `None` when missing.
    /// Tokens come from a validated model's field slices; one outside them (which validation
    /// rules out) decodes as missing.
    fn decode(
        &self,
        tokens: &[u32],
        rare: &str,
        column: &schema::ColumnSchema,
        row_index: u64,
        rng: &mut Rng,
    ) -> Option<String> {
        let first = tokens.first().copied().unwrap_or(MISSING);
        match self {
            Codec::Categorical { values, .. } => match first {
                MISSING => None,
                RARE => Some(rare.to_string()),
                t => values.get((t - CATEGORY_BASE) as usize).cloned(),
            },
            Codec::Number { .. } => self.decode_from(tokens, 0.0, column, rng, None),
            Codec::Text { model, .. } => {
                if first == TEXT_MISSING {
                    return None;
                }
                let ids: Vec<u32> = tokens
                    .iter()
                    .take_while(|&&t| t > TEXT_MISSING)
                    .map(|t| t - TEXT_BASE)
                    .collect();
                Some(model.decode(&ids))
            }
            Codec::Identifier => match &column.kind {
                ColumnKind::Identifier { shape } => {
                    Some(schema::generate_identifier(shape, row_index))
                }
                _ => None,
            },
            // Computed by `Tokenizer::decode` once its inputs are decoded.
            Codec::Derived { .. } => None,
        }
    }

    /// Decodes a number codec's tokens to the text of `base` plus the value they stand for
    /// (`base` is 0 for a column modelled on its own); `None` when missing, or for another
    /// codec. The column's written forms apply to values modelled on their own only. With
    /// `within` (a condition's intervals, see [`Allowed::Numbers`]), a binned value is drawn
    /// and kept within them.
    fn decode_from(
        &self,
        tokens: &[u32],
        base: f64,
        column: &schema::ColumnSchema,
        rng: &mut Rng,
        within: Option<&[(f64, f64)]>,
    ) -> Option<String> {
        let Codec::Number { format, exact, edges, positions, written, after } = self else {
            return None;
        };
        debug_assert!(matches!(
            column.kind,
            ColumnKind::Integer | ColumnKind::Float { .. } | ColumnKind::Datetime { .. }
        ));
        let first = tokens.first().copied().unwrap_or(MISSING);
        if first == MISSING {
            return None;
        }
        let i = (first - 1) as usize;
        let form =
            written.get(i).filter(|_| after.is_none()).and_then(|forms| draw_form(forms, rng));
        if let Some(&value) = exact.get(i) {
            return Some(match form {
                Some(form) => schema::format_float(value, form.decimals),
                None => format.write(base + value),
            });
        }
        let bin = i - exact.len();
        let (&lo, &hi) = (edges.get(bin)?, edges.get(bin + 1)?);
        if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
            return None;
        }
        let mut positions = (*positions).max(1);
        let step = match tokens.get(1) {
            Some(&p) if p != NOT_APPLICABLE => f64::from((p - 1).min(positions - 1)),
            // No step drawn, and a range to keep to: anywhere in the bin within it.
            _ if within.is_some() => {
                positions = 1;
                0.0
            }
            _ => rng.below(positions as usize) as f64,
        };
        if let Some(allowed) = within {
            return Some(format.write(draw_in_step(
                format,
                allowed,
                (lo, hi),
                step,
                positions,
                rng,
            )?));
        }
        let u = (step + rng.uniform()) / f64::from(positions);
        let x = lo + u * (hi - lo);
        if let Some(text) =
            form.and_then(|form| write_in_form(form, x, (exact, edges), bin, step, positions))
        {
            return Some(text);
        }
        Some(format.write(base + value_in_step(format, x, (exact, edges), bin, step, positions)))
    }

    /// The name of the codec, for errors.
    fn name(&self) -> &'static str {
        match self {
            Codec::Categorical { .. } => "categorical",
            Codec::Number { .. } => "number",
            Codec::Text { .. } => "text",
            Codec::Identifier => "identifier",
            Codec::Derived { .. } => "derived",
        }
    }

    /// Whether this codec can encode a column of `kind`.
    fn fits(&self, kind: &ColumnKind) -> bool {
        match self {
            Codec::Categorical { .. } => {
                matches!(kind, ColumnKind::Categorical | ColumnKind::Boolean)
            }
            Codec::Number { format, .. } => format.fits(kind),
            Codec::Text { .. } => matches!(kind, ColumnKind::Text),
            Codec::Identifier => matches!(kind, ColumnKind::Identifier { .. }),
            Codec::Derived { .. } => matches!(kind, ColumnKind::Integer | ColumnKind::Float { .. }),
        }
    }

    /// Checks a codec read from a model file against its column and `limits`: values sorted and
    /// finite, sizes within the limits, and something to generate.
    fn check(
        &self,
        column: &schema::ColumnSchema,
        limits: &Limits,
    ) -> std::result::Result<(), String> {
        if !self.fits(&column.kind) {
            return Err(format!(
                "its {} codec does not fit its kind {:?}",
                self.name(),
                crate::config::KindName::of(&column.kind)
            ));
        }
        let nothing = column.missing_count == 0;
        match self {
            Codec::Categorical { values, rare } => {
                if values.len() > limits.max_categories {
                    return Err(format!(
                        "{} categories, above limits.max_categories = {}",
                        values.len(),
                        limits.max_categories
                    ));
                }
                if values.is_empty() && !rare && nothing {
                    return Err("no category, rare bucket or missing value to generate".into());
                }
            }
            Codec::Number { format, exact, edges, positions, written, after } => {
                format.check()?;
                if after.is_some() && !matches!(format, NumberFormat::Datetime { .. }) {
                    return Err(
                        "a distance from another column on a column that is not a date".into()
                    );
                }
                if !written.is_empty() {
                    if !matches!(format, NumberFormat::Float { .. } | NumberFormat::Integer) {
                        return Err(
                            "written forms on a column of neither floats nor integers".into()
                        );
                    }
                    if written.len() != self.value_tokens() {
                        return Err(format!(
                            "written forms for {} value tokens, but the column has {}",
                            written.len(),
                            self.value_tokens()
                        ));
                    }
                    for (form, _) in written.iter().flatten() {
                        form.check()?;
                    }
                }
                if let Some(v) = exact.iter().chain(edges).find(|v| !v.is_finite()) {
                    return Err(format!("value {v} is not finite"));
                }
                if exact.windows(2).any(|w| w[0] >= w[1]) {
                    return Err("exact values are not in increasing order".into());
                }
                if edges.windows(2).any(|w| w[0] > w[1]) {
                    return Err("bin edges are not in increasing order".into());
                }
                if edges.len() == 1 {
                    return Err("a single bin edge (a bin needs two)".into());
                }
                let bins = edges.len().saturating_sub(1);
                if bins > limits.max_numeric_bins {
                    return Err(format!(
                        "{bins} bins, above limits.max_numeric_bins = {}",
                        limits.max_numeric_bins
                    ));
                }
                let bad_positions =
                    *positions == 0 || *positions as usize > limits.max_bin_positions;
                if bins > 0 && bad_positions {
                    return Err(format!(
                        "{positions} bin positions (1 to limits.max_bin_positions = {})",
                        limits.max_bin_positions
                    ));
                }
                if exact.is_empty() && bins == 0 && nothing {
                    return Err("no value, bin or missing value to generate".into());
                }
            }
            Codec::Text { slots, .. } if *slots == 0 => return Err("text with 0 slots".into()),
            Codec::Derived { format, .. } => format.check()?,
            Codec::Text { .. } | Codec::Identifier => {}
        }
        Ok(())
    }
}

/// A value the source can write near `x` that encodes back to `bin` and `step` where one exists:
/// rounding `x` can cross into the next step or land on a value that has its own exact token, so
/// the step's first and last representable values are tried next.
fn value_in_step(
    format: &NumberFormat,
    x: f64,
    bins: (&[f64], &[f64]),
    bin: usize,
    step: f64,
    positions: u32,
) -> f64 {
    let (lo, hi) = (bins.1[bin], bins.1[bin + 1]);
    exact_step(&|v, round| format.snap(v, round), x, bins, bin, step, positions)
        .unwrap_or_else(|| format.snap(x, f64::round).clamp(lo, hi))
}

/// A value of step `step` of the bin `[lo, hi]` within `allowed` (a condition's intervals):
/// drawn uniformly in their overlap with the step, rounded to what `format` writes and kept
/// inside the interval it was drawn in (whose ends the format writes). Written forms are not
/// drawn here: the value is written as the column's format writes it. `None` when the step
/// misses every interval (the masks rule that out).
fn draw_in_step(
    format: &NumberFormat,
    allowed: &[(f64, f64)],
    (lo, hi): (f64, f64),
    step: f64,
    positions: u32,
    rng: &mut Rng,
) -> Option<f64> {
    let span = allowed::step_span(lo, hi, step as u32, positions);
    let (pick, u) = (rng.uniform(), rng.uniform());
    let (x, (a, b)) = allowed::draw_within(allowed, span, format.resolution(), pick, u)?;
    Some(format.snap(x, f64::round).clamp(a, b))
}

/// [`value_in_step`]'s value, `None` when no candidate encodes back to `bin` and `step`.
fn exact_step(
    snap: &dyn Fn(f64, fn(f64) -> f64) -> f64,
    x: f64,
    (exact, edges): (&[f64], &[f64]),
    bin: usize,
    step: f64,
    positions: u32,
) -> Option<f64> {
    let (lo, hi) = (edges[bin], edges[bin + 1]);
    let width = (hi - lo) / f64::from(positions);
    let candidates = [
        snap(x, f64::round),
        snap(lo + step * width, f64::ceil),
        snap(lo + (step + 1.0) * width, f64::floor),
    ];
    let target = (bin as u32, step as u32);
    candidates.into_iter().map(|v| v.clamp(lo, hi)).find(|&v| {
        locate(v, edges, positions) == target
            && exact.binary_search_by(|e| e.total_cmp(&v)).is_err()
    })
}

/// A value near `x` in `bin` written in `form`: on the form's precision, in the drawn step
/// when the precision allows, else anywhere in the bin (a whole-number column's bin narrower
/// than its steps); `None` when the bin holds no value of that precision.
fn write_in_form(
    form: Written,
    x: f64,
    bins: (&[f64], &[f64]),
    bin: usize,
    step: f64,
    positions: u32,
) -> Option<String> {
    let snap = |v: f64, round: fn(f64) -> f64| form.snap(v, round);
    let value = exact_step(&snap, x, bins, bin, step, positions).or_else(|| {
        let (lo, hi) = (snap(bins.1[bin], f64::ceil), snap(bins.1[bin + 1], f64::floor));
        (lo <= hi).then(|| snap(x, f64::round).clamp(lo, hi))
    })?;
    Some(schema::format_float(value, form.decimals))
}

/// A form drawn from `forms` in proportion to their counts; `None` when they count nothing.
fn draw_form(forms: &[(Written, u32)], rng: &mut Rng) -> Option<Written> {
    let total: u64 = forms.iter().map(|&(_, n)| u64::from(n)).sum();
    if total == 0 {
        return None;
    }
    let mut k = rng.below(usize::try_from(total).unwrap_or(usize::MAX)) as u64;
    for &(form, n) in forms {
        if k < u64::from(n) {
            return Some(form);
        }
        k -= u64::from(n);
    }
    None
}

/// The bin of `edges` holding `value` (clamped into range) and its position step within the bin.
fn locate(value: f64, edges: &[f64], positions: u32) -> (u32, u32) {
    let bins = edges.len().saturating_sub(1).max(1);
    if edges.len() < 2 {
        return (0, 0);
    }
    let value = value.clamp(edges[0], edges[bins]);
    // The last edge <= value, capped so the maximum falls in the last bin.
    let bin = (edges.partition_point(|&e| e <= value).max(1) - 1).min(bins - 1);
    let (lo, hi) = (edges[bin], edges[bin + 1]);
    let step = if hi > lo { ((value - lo) / (hi - lo) * f64::from(positions)) as u32 } else { 0 };
    (bin as u32, step.min(positions.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::schema::{ColumnSchema, IdShape};

    fn column(name: &str, kind: ColumnKind, missing: Option<&str>) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            kind,
            missing_marker: missing.map(String::from),
            missing_count: 0,
        }
    }

    /// 40 rows: a categorical with a rare value and a missing one, an integer column with a
    /// frequent value and a spread, a date, a text and an identifier.
    fn fixture() -> (Table, Schema, TrainConfig) {
        let n = 40;
        let cat = (0..n).map(|i| match i {
            0 => "rare",
            1 => "?",
            i if i % 2 == 0 => "even",
            _ => "odd",
        });
        let num = (0..n).map(|i| if i % 3 == 0 { "7".to_string() } else { (i * 13).to_string() });
        let date = (0..n).map(|i| format!("2020-01-{:02}", 1 + i % 28));
        let text =
            (0..n).map(|i| if i == 5 { String::new() } else { format!("red fox {}", i % 4) });
        let id = (0..n).map(|i| (1000 + i).to_string());
        let columns = vec![
            cat.map(|s| Some(s.to_string())).collect(),
            num.map(Some).collect(),
            date.map(Some).collect(),
            text.map(Some).collect(),
            id.map(Some).collect(),
        ];
        let names = ["cat", "num", "date", "text", "id"].map(String::from).to_vec();
        let table = Table::from_columns(names, columns).unwrap();
        let schema = Schema {
            columns: vec![
                column("cat", ColumnKind::Categorical, Some("?")),
                column("num", ColumnKind::Integer, None),
                column("date", ColumnKind::Datetime { format: "%Y-%m-%d".into() }, None),
                column("text", ColumnKind::Text, Some("")),
                column(
                    "id",
                    ColumnKind::Identifier { shape: IdShape::Sequence { start: 1 } },
                    None,
                ),
            ],
        };
        let mut config = TrainConfig::default();
        config.tokenizer.rare_category_threshold = 3;
        (table, schema, config)
    }

    #[test]
    fn fields_cover_a_contiguous_vocabulary_and_text_slots_share_theirs() -> Result<()> {
        let (table, schema, config) = fixture();
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        let mut next = 0;
        for (i, f) in tok.fields().iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| tok.fields()[p]);
            match previous.filter(|p| p.column == f.column && f.role == FieldRole::TextSlot) {
                Some(p) => assert_eq!((f.offset, f.size), (p.offset, p.size), "field {i}"),
                None => {
                    assert_eq!(f.offset, next, "field {i}");
                    next += f.size;
                }
            }
        }
        assert_eq!(next, tok.vocab_size());
        tok.check(&Limits::default()).map_err(Error::Data)?;
        // Files written before text slots shared their slice still read; a mix does not.
        let mut legacy = tok.clone();
        let mut next = 0;
        for f in &mut legacy.fields {
            f.offset = next;
            next += f.size;
        }
        legacy.vocab_size = next;
        assert!(legacy.vocab_size > tok.vocab_size());
        legacy.check(&Limits::default()).map_err(Error::Data)?;
        let last = legacy.fields.len() - 1;
        legacy.fields[last].offset = legacy.fields[last - 1].offset;
        assert!(legacy.check(&Limits::default()).is_err());
        // cat: 1 field; num: value + position; date: value + position; text: slots; id: none.
        let columns: Vec<usize> = tok.fields().iter().map(|f| f.column).collect();
        assert_eq!(&columns[..5], &[0, 1, 1, 2, 2]);
        assert!(columns[5..].iter().all(|&c| c == 3));
        Ok(())
    }

    /// A cell the tokenizer cannot encode is an error with its row, column and value as
    /// fields.
    #[test]
    fn an_encoding_error_names_row_column_and_value() -> Result<()> {
        let (table, schema, config) = fixture();
        let settings = config.tokenizer_settings();
        let tok = Tokenizer::fit(&table, &schema, &settings)?;
        let names = table.column_names().into_iter().map(str::to_owned).collect();
        let mut columns: Vec<Vec<Option<String>>> = (0..table.num_columns())
            .map(|c| (0..table.num_rows()).map(|r| table.cell(r, c).map(str::to_owned)).collect())
            .collect();
        columns[1][2] = Some("abc".into());
        let bad = Table::from_columns(names, columns)?;
        match tok.encode(&bad, &settings) {
            Err(Error::Table {
                source: doppel_table::Error::Cell { row, column, value, .. },
                ..
            }) => {
                assert_eq!((row, column.as_str(), value.as_deref()), (3, "num", Some("abc")));
            }
            other => panic!("expected a cell error, got {other:?}"),
        }
        Ok(())
    }

    /// The rare bucket's placeholder is never generated where the kept values are numbers: a
    /// code column with a rare code bars it, a text column with a rare value keeps it.
    #[test]
    fn numeric_categories_never_generate_the_placeholder() -> Result<()> {
        let n = 40;
        // Row 0 holds the rare value; the others alternate between two frequent ones.
        let column = |rare: &str, even: &str, odd: &str| -> Vec<Option<String>> {
            let pick = |i: usize| {
                if i == 0 {
                    rare
                } else if i % 2 == 0 {
                    even
                } else {
                    odd
                }
            };
            (0..n).map(|i| Some(pick(i).to_string())).collect()
        };
        let table = Table::from_columns(
            vec!["code".into(), "word".into()],
            vec![column("9999", "10", "20"), column("rare", "a", "b")],
        )?;
        let schema = Schema {
            columns: vec![
                column_schema_of("code", ColumnKind::Categorical),
                column_schema_of("word", ColumnKind::Categorical),
            ],
        };
        let mut config = TrainConfig::default();
        config.tokenizer.rare_category_threshold = 3;
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        assert!(tok.never(0).contains(&RARE), "{:?}", tok.never(0));
        assert!(!tok.never(1).contains(&RARE), "{:?}", tok.never(1));
        Ok(())
    }

    #[test]
    fn records_round_trip_through_tokens() -> Result<()> {
        let (table, schema, config) = fixture();
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        let enc = tok.encode(&table, &config.tokenizer_settings())?;
        let mut rng = Rng::new(1, 0);
        for r in 0..table.num_rows() {
            let tokens = &enc.tokens[r * enc.len..(r + 1) * enc.len];
            let cells = tok.decode(tokens, r as u64, &mut rng);
            // Categories: exact, except the rare one, which becomes the protected bucket.
            // A missing one (row 1's "?") decodes as None.
            let cell = table.cell(r, 0);
            let want = if r == 0 { Some("_RARE_") } else { cell.filter(|&c| c != "?") };
            assert_eq!(cells[0].as_deref(), want, "row {r}");
            // Numbers: the frequent 7 is exact; binned values decode into the same bin and
            // position step, i.e. re-encode to the same tokens.
            let decoded = Table::from_columns(
                schema.columns.iter().map(|c| c.name.clone()).collect(),
                cells.iter().map(|c| vec![c.clone()]).collect(),
            )?;
            let again = tok.encode(&decoded, &config.tokenizer_settings())?;
            assert_eq!(&again.tokens[..5], &tokens[..5], "row {r}: {cells:?}");
            if r % 3 == 0 {
                assert_eq!(cells[1].as_deref(), Some("7"));
            }
            // Text: exact, a missing value as None (not as its marker's text).
            let text = table.cell(r, 3);
            let want = (!is_missing(&config.missing_tokens, text)).then_some(text).flatten();
            assert_eq!(cells[3].as_deref(), want, "row {r}");
            // Identifiers: regenerated from the row index.
            assert_eq!(cells[4], Some((1 + r).to_string()));
        }
        Ok(())
    }

    #[test]
    fn an_outlier_is_neither_a_bin_edge_nor_generated() -> Result<()> {
        // 1,000 spread values and one capital gain of 987,654,321.
        let values = (0..1000).map(|i| Some((i * 7 % 1000).to_string()));
        let column = values.chain([Some("987654321".to_string())]).collect();
        let table = Table::from_columns(vec!["gain".into()], vec![column])?;
        let schema = Schema { columns: vec![column_schema_of("gain", ColumnKind::Integer)] };
        let config = TrainConfig::default();
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        let Codec::Number { edges, .. } = &tok.codecs[0] else { panic!("{:?}", tok.codecs[0]) };
        // Ten rows reach 991 (991..=999 and the outlier), and ten reach 9 from below.
        assert_eq!((edges[0], edges[edges.len() - 1]), (9.0, 991.0), "{edges:?}");
        let enc = tok.encode(&table, &config.tokenizer_settings())?;
        let mut rng = Rng::new(3, 0);
        for r in 0..enc.rows {
            let cells = tok.decode(&enc.tokens[r * enc.len..(r + 1) * enc.len], r as u64, &mut rng);
            let cell = cells[0].clone().unwrap_or_default();
            let v: f64 = cell.parse().map_err(|_| Error::Data(cell.clone()))?;
            assert!((9.0..=991.0).contains(&v), "row {r}: {v}");
        }
        // outlier_rows = 1 keeps the exact range (the old behaviour).
        let mut exact = config.clone();
        exact.tokenizer.outlier_rows = 1;
        let tok = Tokenizer::fit(&table, &schema, &exact.tokenizer_settings())?;
        let Codec::Number { edges, .. } = &tok.codecs[0] else { panic!() };
        assert_eq!(edges.last(), Some(&987_654_321.0));
        Ok(())
    }

    fn column_schema_of(name: &str, kind: ColumnKind) -> ColumnSchema {
        column(name, kind, None)
    }

    #[test]
    fn forced_positions_get_no_weight() -> Result<()> {
        let (table, schema, config) = fixture();
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        let enc = tok.encode(&table, &config.tokenizer_settings())?;
        // Row 0 has num = 7, an exact value: its position token is forced.
        assert_eq!(tok.forced(2, &enc.tokens[..2]), Some(NOT_APPLICABLE));
        assert_eq!(enc.weights[2], 0.0);
        // Row 1 has num = 13, a binned value: its position is free.
        let row1 = &enc.tokens[enc.len..2 * enc.len];
        assert_eq!(tok.forced(2, &row1[..2]), None);
        assert_eq!(enc.weights[enc.len + 2], 1.0);
        // Text slots after the end token are forced to it.
        let last = enc.len - 1;
        assert_eq!(tok.forced(last, &enc.tokens[..last]), Some(TEXT_END));
        Ok(())
    }

    #[test]
    fn missing_tokens_are_barred_only_where_the_source_has_none() -> Result<()> {
        let (table, mut schema, config) = fixture();
        schema.columns[0].missing_count = 1;
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        assert_eq!(tok.never(0), [] as [u32; 0]); // cat has a missing value and a rare one
        assert_eq!(tok.never(1), [MISSING]); // num has no missing value
        assert_eq!(tok.never(2), [] as [u32; 0]); // num's position field
        Ok(())
    }

    #[test]
    fn the_rare_bucket_is_barred_where_no_value_was_rare() -> Result<()> {
        let (table, schema, mut config) = fixture();
        // Every category of `cat` reaches a threshold of 1: nothing is rare.
        config.tokenizer.rare_category_threshold = 1;
        let tok = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        assert!(tok.never(0).contains(&RARE), "{:?}", tok.never(0));
        // A model saved before `rare` was recorded keeps the bucket.
        let old: Codec = serde_json::from_str(r#"{"codec": "categorical", "values": ["a"]}"#)
            .map_err(|e| Error::Data(e.to_string()))?;
        assert_eq!(old, Codec::Categorical { values: vec!["a".into()], rare: true });
        Ok(())
    }

    /// A one-column tokenizer fitted on `texts` as `kind`.
    fn one_column(texts: &[String], kind: ColumnKind) -> Result<Tokenizer> {
        let table = Table::from_columns(
            vec!["x".into()],
            vec![texts.iter().map(|t| Some(t.clone())).collect()],
        )?;
        let schema = Schema { columns: vec![column_schema_of("x", kind)] };
        Tokenizer::fit(&table, &schema, &TrainConfig::default().tokenizer_settings())
    }

    /// Every cell a one-column tokenizer can decode, whatever the model draws: each value token
    /// with each position, several times (a bin draws within its step).
    fn every_decode(tok: &Tokenizer) -> Vec<String> {
        let fields = tok.fields();
        let positions = fields.get(1).map_or(1, |f| f.size);
        let mut rng = Rng::new(5, 0);
        let mut cells = Vec::new();
        for value in 1..fields[0].size {
            for position in 0..positions {
                for _ in 0..4 {
                    let tokens = if fields.len() > 1 { vec![value, position] } else { vec![value] };
                    cells.extend(tok.decode(&tokens, 0, &mut rng).into_iter().flatten());
                }
            }
        }
        cells
    }

    /// Encodes `texts` with a one-column `tok`, decodes every row, and returns the total
    /// variation between the real and decoded `shares` (a histogram of some form of the text).
    fn round_trip_variation(
        tok: &Tokenizer,
        texts: &[String],
        shares: fn(&[String]) -> BTreeMap<usize, f64>,
    ) -> Result<f64> {
        let config = TrainConfig::default();
        let column = texts.iter().map(|t| Some(t.clone())).collect();
        let table = Table::from_columns(vec!["x".into()], vec![column])?;
        let enc = tok.encode(&table, &config.tokenizer_settings())?;
        let mut rng = Rng::new(9, 0);
        let decoded: Vec<String> = (0..enc.rows)
            .filter_map(|r| {
                tok.decode(&enc.tokens[r * enc.len..(r + 1) * enc.len], 0, &mut rng)[0].clone()
            })
            .collect();
        let (real, synthetic) = (shares(texts), shares(&decoded));
        let keys: std::collections::BTreeSet<usize> =
            real.keys().chain(synthetic.keys()).copied().collect();
        let gap =
            |k: &usize| (real.get(k).unwrap_or(&0.0) - synthetic.get(k).unwrap_or(&0.0)).abs();
        Ok(keys.iter().map(gap).sum::<f64>() / 2.0)
    }

    /// Share of `texts` by digits after the point.
    fn decimals_shares(texts: &[String]) -> BTreeMap<usize, f64> {
        let mut shares = BTreeMap::new();
        for t in texts {
            let d = t.split_once('.').map_or(0, |(_, d)| d.len());
            *shares.entry(d).or_default() += 1.0 / texts.len() as f64;
        }
        shares
    }

    #[test]
    fn floats_are_written_as_the_source_writes_each_value() -> Result<()> {
        // Half the values with one decimal, half with two, 1% with float noise (10 decimals).
        let texts: Vec<String> = (0..2000)
            .map(|i| match i % 100 {
                0 => format!("{}.{:010}", 50 + i % 70, 1_097_615_708u64 + i),
                k if k % 2 == 0 => format!("{}.{}", 20 + i % 90, 1 + i % 9),
                _ => format!("{}.{:02}", 20 + i % 90, 11 + i % 88),
            })
            .collect();
        let tok = one_column(&texts, ColumnKind::Float { decimals: 10 })?;
        let tv = round_trip_variation(&tok, &texts, decimals_shares)?;
        assert!(tv < 0.05, "total variation of the decimals' shares {tv}");
        Ok(())
    }

    /// Share of `texts` by the zeros that end them (`1500`: 2; `0` counts none).
    fn zeros_shares(texts: &[String]) -> BTreeMap<usize, f64> {
        let mut shares = BTreeMap::new();
        for t in texts {
            let zeros = if t == "0" { 0 } else { t.len() - t.trim_end_matches('0').len() };
            *shares.entry(zeros).or_default() += 1.0 / texts.len() as f64;
        }
        shares
    }

    #[test]
    fn integer_amounts_keep_their_roundness() -> Result<()> {
        // Loan amounts: 70% in hundreds, 20% in tens, 10% anything, from 100 to 5,000.
        let texts: Vec<String> = (0..3000u64)
            .map(|i| {
                let x = 100 + (i * 7919) % 4900;
                match i % 10 {
                    0..=6 => format!("{}", x / 100 * 100 + 100),
                    7 | 8 => format!("{}", x / 10 * 10 + if x % 100 == 0 { 10 } else { 0 }),
                    _ => format!("{}", x / 10 * 10 + 1 + i % 9),
                }
            })
            .collect();
        let tok = one_column(&texts, ColumnKind::Integer)?;
        let tv = round_trip_variation(&tok, &texts, zeros_shares)?;
        assert!(tv < 0.05, "total variation of the zeros' shares {tv}");
        Ok(())
    }

    #[test]
    fn whole_floats_codes_and_clock_times_generate_only_their_forms() -> Result<()> {
        // Whole numbers written `41.0`, spread over a range: only whole numbers, as `N.0`.
        let whole: Vec<String> = (0..3000).map(|i| format!("{}.0", (i * 37) % 5000)).collect();
        let tok = one_column(&whole, ColumnKind::Float { decimals: 1 })?;
        for cell in every_decode(&tok) {
            assert!(cell.ends_with(".0") && cell.parse::<f64>().is_ok(), "{cell}");
        }
        // 20 occupation codes written `5620.0`, plus 15 rows of rare codes: only the 20.
        let codes: Vec<f64> = (0..20).map(|k| f64::from(1000 + 437 * k)).collect();
        let mut texts: Vec<String> =
            (0..2000).map(|i| format!("{:.1}", codes[(i * i + 3 * i) % 20])).collect();
        texts.extend((0..15).map(|i| format!("{}.0", 1001 + 613 * i)));
        let tok = one_column(&texts, ColumnKind::Float { decimals: 1 })?;
        for cell in every_decode(&tok) {
            let v: f64 = cell.parse().map_err(|_| Error::Data(cell.clone()))?;
            assert!(codes.contains(&v) && cell.ends_with(".0"), "{cell}");
        }
        // Clock times HHMM, every minute of the day about twice: never minutes above 59.
        let minutes = (0..3000).map(|i| (i * 997) % 1440);
        let times: Vec<String> = minutes.map(|m| format!("{}", m / 60 * 100 + m % 60)).collect();
        let tok = one_column(&times, ColumnKind::Integer)?;
        for cell in every_decode(&tok) {
            let v: i64 = cell.parse().map_err(|_| Error::Data(cell.clone()))?;
            assert!(v % 100 < 60 && (0..=2400).contains(&v), "{cell}");
        }
        // Timestamps on the hour: never minutes or seconds.
        let format = "%Y-%m-%d %H:%M:%S";
        let stamps: Vec<String> = (0..3000)
            .map(|i| format!("2024-{:02}-{:02} {:02}:00:00", 1 + i % 12, 1 + i % 28, (i * 5) % 24))
            .collect();
        let tok = one_column(&stamps, ColumnKind::Datetime { format: format.into() })?;
        for cell in every_decode(&tok) {
            assert!(cell.ends_with(":00:00"), "{cell}");
        }
        Ok(())
    }

    #[test]
    fn small_counts_keep_exact_values_and_their_tail() -> Result<()> {
        // A delinquency count: 0 in 95% of rows, 1 in 3%, 2 in 1.5%, a tail up to 30.
        let texts: Vec<String> = (0..4000)
            .map(|i| match i % 200 {
                0..=189 => "0".to_string(),
                190..=195 => "1".to_string(),
                196..=198 => "2".to_string(),
                _ => (3 + (i / 200) % 28).to_string(),
            })
            .collect();
        let tok = one_column(&texts, ColumnKind::Integer)?;
        let Codec::Number { exact, edges, .. } = &tok.codecs[0] else {
            panic!("{:?}", tok.codecs[0])
        };
        assert_eq!(&exact[..3], &[0.0, 1.0, 2.0], "{exact:?}");
        // The tail beyond the frequent values is still generated (its bins, not clipped away).
        assert!(edges.last().is_some_and(|&hi| hi > 10.0), "{edges:?} {exact:?}");
        Ok(())
    }

    #[test]
    fn bins_follow_the_quantiles() {
        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(quantile_edges(&values, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(quantile_edges(&[3.0, 3.0], 4), vec![3.0, 3.0]);
        assert!(quantile_edges(&[], 4).is_empty());
        let edges = [0.0, 25.0, 50.0, 75.0, 100.0];
        assert_eq!(locate(0.0, &edges, 10), (0, 0));
        assert_eq!(locate(30.0, &edges, 10), (1, 2));
        assert_eq!(locate(100.0, &edges, 10), (3, 9));
        assert_eq!(locate(250.0, &edges, 10), (3, 9));
    }
}
