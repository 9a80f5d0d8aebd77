//! Generation: samples records from a trained model, batch by batch, and writes them in the
//! source's header, column order and value formats.
//!
//! Each batch draws from its own generator seeded by `(seed, batch index)`, so the output depends
//! on the seed only, not on how many threads share the batches.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, Field, Schema as ArrowSchema, SchemaRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifact::TrainedModel;
use crate::balance::{Quota, SELECTION_MOST_OVERSAMPLING};
use crate::error::{Error, Result};
use crate::ingest::Format;
use crate::output::{create_sink, rows_to_batch, OutputType};
use crate::rng::Rng;
use crate::schema::ColumnKind;
use crate::steer::{Balance, Plan, RowPlan, Seed, Steering};
use crate::tokenizer::{Allowed, FieldRole};

/// How tokens are drawn from the model's distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// Divides the logits; 1 samples the learned distribution, lower values are more conservative.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `p` (1 = all).
    pub top_p: f64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 }
    }
}

/// What to generate. In JSON (the C ABI's options) every key is optional and an unknown one
/// is an error: see [`GenerateOptions::from_json`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateOptions {
    /// Number of records.
    pub rows: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Token sampling.
    pub sampling: Sampling,
    /// Records per batch (also the unit of parallel work).
    pub batch_size: usize,
    /// Conditions every record satisfies, such as `age >= 60 and sex = Female` (see
    /// [`crate::steer::parse_conditions`]); empty for none. `where` in JSON.
    #[serde(default, rename = "where", skip_serializing_if = "String::is_empty")]
    pub conditions: String,
    /// Shares of categories in the output, such as `sex=Female:0.5` (several values joined by
    /// `,`, several columns by `;`); the other columns keep their distribution given the
    /// rebalanced ones. Empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rebalance: String,
    /// Fairness, such as `target=income sensitive=sex`: the target's distribution is made the
    /// same in every group of the sensitive column (statistical parity). Empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fair: String,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            rows: 1000,
            seed: 42,
            sampling: Sampling::default(),
            batch_size: 1024,
            conditions: String::new(),
            rebalance: String::new(),
            fair: String::new(),
        }
    }
}

/// Most records per generation batch: a batch holds its records' tokens and recurrent state at
/// once, so its size bounds generation memory.
pub const MAX_BATCH_SIZE: usize = 1 << 16;

impl GenerateOptions {
    /// Options from a JSON object with the keys `rows`, `seed`, `sampling` (`temperature`,
    /// `top_k`, `top_p`), `batch_size`, `where`, `rebalance` and `fair`, each optional (the
    /// default's value otherwise), checked: a value of the wrong type, an unknown key, a value
    /// out of range or an array where a value belongs is [`Error::Config`] naming the key. The
    /// conditions themselves are read when generation starts.
    pub fn from_json(text: &str) -> Result<GenerateOptions> {
        let options: GenerateOptions =
            crate::config::from_json_object(text).map_err(Error::Config)?;
        options.validate()?;
        Ok(options)
    }

    fn validate(&self) -> Result<()> {
        let s = &self.sampling;
        if !(s.temperature > 0.0 && s.temperature.is_finite()) {
            return Err(Error::Config("temperature must be > 0".into()));
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return Err(Error::Config("top_p must be in (0, 1]".into()));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(Error::Config(format!(
                "batch_size is {}; it must be in 1..={MAX_BATCH_SIZE}",
                self.batch_size
            )));
        }
        Ok(())
    }
}

/// Generates `options.rows` records, passing each batch of rows (cells in schema column order)
/// to `consume` in order, and the running row count to `progress`.
pub fn generate(
    model: &TrainedModel,
    options: &GenerateOptions,
    consume: &mut dyn FnMut(Vec<Vec<String>>) -> Result<()>,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let markers = missing_markers(model);
    let as_text = |row: Vec<Option<String>>| -> Vec<String> {
        row.into_iter().zip(&markers).map(|(cell, m)| cell.unwrap_or_else(|| m.clone())).collect()
    };
    let plan = plan(model, options, None)?;
    let selection = selection(model, options, plan.as_deref())?;
    generate_cells(
        model,
        options,
        plan.as_deref(),
        selection,
        &mut |rows| consume(rows.into_iter().map(as_text).collect()),
        progress,
        &|| false,
    )
}

/// A rebalancing by selection (see [`Quota`]): the options and plan of the unsteered rows it
/// selects from, and the quota.
struct Selection {
    options: GenerateOptions,
    plan: Option<Box<Plan>>,
    quota: Quota,
}

/// The selection that balances a generation, when it is one: one column rebalanced, or
/// fairness alone (each pair of a sensitive and a target value at the product of their
/// shares, as the first 4,096 rows without the fairness have them), with no seed, and every
/// named class generated often enough in those rows that [`SELECTION_MOST_OVERSAMPLING`]
/// times the rows suffice. `plan` is the generation's whole plan (its errors are already checked).
fn selection(
    model: &TrainedModel,
    options: &GenerateOptions,
    plan: Option<&Plan>,
) -> Result<Option<Selection>> {
    let specs: Vec<&str> = options.rebalance.split(';').filter(|s| !s.trim().is_empty()).collect();
    let fair = !options.fair.trim().is_empty();
    if plan.is_none_or(|p| p.seed_rows().is_some()) || specs.len() + usize::from(fair) != 1 {
        return Ok(None);
    }
    // Unsteered but for the conditions, and as many rows as the most oversampling needs.
    let most = (options.rows as f64 * (SELECTION_MOST_OVERSAMPLING + 1.0)) as usize;
    let rows = most.saturating_add(options.batch_size);
    let unsteered =
        GenerateOptions { rows, rebalance: String::new(), fair: String::new(), ..options.clone() };
    let base = self::plan(model, &unsteered, None)?;
    // The first batches, generated again when selecting (a few tenths of a second).
    let batches = PILOT_ROWS.div_ceil(options.batch_size);
    let mut first = Vec::new();
    for rows in generate_group(model, &unsteered, base.as_deref(), 0..batches) {
        first.extend(rows?);
    }
    let quota = match specs.first() {
        Some(spec) => {
            let (name, named) = crate::steer::read_rebalancing(spec).map_err(Error::Config)?;
            let column = crate::steer::find_column(model, &name)?;
            let named = named.into_iter().map(|(value, share)| (vec![value], share)).collect();
            Quota::new(vec![column], named, options.rows)
        }
        None => {
            let (target, sensitive) = crate::steer::read_fairness(model, &options.fair)?;
            fair_quota(&first, target, sensitive, options.rows)
        }
    };
    if quota.oversampling(&first) > SELECTION_MOST_OVERSAMPLING {
        return Ok(None);
    }
    Ok(Some(Selection { options: unsteered, plan: base, quota }))
}

/// Rows generated to measure the shares a selection starts from.
const PILOT_ROWS: usize = 4096;

/// The quota that makes `target` independent of `sensitive`: each pair of their values at the
/// product of the values' shares among `rows` (rows missing either share the rest).
fn fair_quota(rows: &[Vec<Option<String>>], target: usize, sensitive: usize, n: usize) -> Quota {
    let mut t: HashMap<&str, usize> = HashMap::new();
    let mut s: HashMap<&str, usize> = HashMap::new();
    let mut both = 0;
    for row in rows {
        if let (Some(Some(tv)), Some(Some(sv))) = (row.get(target), row.get(sensitive)) {
            *t.entry(tv).or_default() += 1;
            *s.entry(sv).or_default() += 1;
            both += 1;
        }
    }
    let present = both as f64 / rows.len().max(1) as f64;
    let mut named = Vec::new();
    for (&sv, &sc) in &s {
        for (&tv, &tc) in &t {
            let share = present * (sc as f64 / both as f64) * (tc as f64 / both as f64);
            named.push((vec![sv.to_string(), tv.to_string()], share));
        }
    }
    // A fixed order: the same rows on every run.
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Quota::new(vec![sensitive, target], named, n)
}

/// The plan of a steered generation: `None` when nothing steers it (no conditions, no seed,
/// no constraints in the model).
/// Errors in the conditions or the seed come from here, before anything is generated.
/// (Boxed: a plan is large, and a stream keeps it.)
fn plan(
    model: &TrainedModel,
    options: &GenerateOptions,
    seed: Option<Seed>,
) -> Result<Option<Box<Plan>>> {
    options.validate()?;
    let steering = Steering {
        conditions: &options.conditions,
        rebalance: &options.rebalance,
        fair: &options.fair,
    };
    let constrained = !model.metadata().config.constraints.is_empty();
    if steering.is_empty() && seed.is_none() && !constrained {
        return Ok(None);
    }
    let plan = Plan::new(model, &steering, seed)?;
    if model.lora_model().is_some() {
        crate::llama::check_plan(model.tokenizer(), &plan)?;
    }
    Ok(Some(Box::new(plan)))
}

/// The number of records to generate: one per seed row with a seed, else `options.rows`.
fn rows_of(options: &GenerateOptions, plan: Option<&Plan>) -> usize {
    plan.and_then(Plan::seed_rows).unwrap_or(options.rows)
}

/// [`generate`] with each cell as decoded: its text, or `None` for a missing value. With a
/// selection, its rows and plan are generated and its quota keeps what it needs; `stop`,
/// asked after each thread-pool's worth of batches, ends generation early.
fn generate_cells(
    model: &TrainedModel,
    options: &GenerateOptions,
    plan: Option<&Plan>,
    selection: Option<Selection>,
    consume: &mut dyn FnMut(Vec<Vec<Option<String>>>) -> Result<()>,
    progress: &mut dyn FnMut(usize),
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    options.validate()?;
    let (selected, selected_plan, mut quota) = match selection {
        Some(s) => (Some(s.options), s.plan, Some(s.quota)),
        None => (None, None, None),
    };
    let options = selected.as_ref().unwrap_or(options);
    let plan = if quota.is_some() { selected_plan.as_deref() } else { plan };
    let batches = rows_of(options, plan).div_ceil(options.batch_size);
    let window = rayon::current_num_threads().max(1);
    let mut done = 0;
    for first in (0..batches).step_by(window) {
        for rows in generate_group(model, options, plan, first..batches.min(first + window)) {
            let rows = match quota.as_mut() {
                Some(quota) => quota.select(rows?),
                None => rows?,
            };
            done += rows.len();
            consume(rows)?;
            progress(done);
        }
        if quota.as_ref().is_some_and(Quota::done) || stop() {
            return Ok(());
        }
    }
    match quota {
        Some(quota) if !quota.done() => Err(Error::Data(format!(
            "rebalancing kept {done} rows of {} from {} generated: the model generates a \
             named value too rarely; ask for a smaller share",
            quota.target(),
            rows_of(options, plan)
        ))),
        _ => Ok(()),
    }
}

/// Generates records into a file whose format follows its extension (CSV by default). The file
/// appears only once complete. A missing value is a null in Parquet and Arrow IPC; CSV writes
/// it as the source did (its marker, such as `?`, or an empty field). Returns the number of
/// rows written.
pub fn generate_to_file(
    model: &TrainedModel,
    options: &GenerateOptions,
    path: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    generate_to_file_as(model, options, path, None, progress)
}

/// [`generate_to_file`] in `format` whatever the path's extension (`None`: the extension's,
/// and an unknown extension is [`Error::UnknownFormat`] before anything is written).
pub fn generate_to_file_as(
    model: &TrainedModel,
    options: &GenerateOptions,
    path: &Path,
    format: Option<Format>,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    generate_seeded_to_file(model, options, None, path, format, progress)
}

/// [`generate_to_file_as`] steered by a seed table (see [`crate::steer`]): one record per
/// seed row, its given cells exactly as the seed has them, the others generated given them
/// (`options.rows` is not read). Without a seed, [`generate_to_file_as`]. Errors in the seed
/// (a column the model lacks, a cell that does not read as its column's values, a value that
/// breaks a condition) name the row and column, before anything is written.
pub fn generate_seeded_to_file(
    model: &TrainedModel,
    options: &GenerateOptions,
    seed: Option<Seed>,
    path: &Path,
    format: Option<Format>,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    let format = Format::resolve(path, format)?;
    let plan = plan(model, options, seed)?;
    let mut out = RowWriter::create(model, path, format)?;
    let selection = selection(model, options, plan.as_deref())?;
    let consume = &mut |rows| out.write(rows);
    generate_cells(model, options, plan.as_deref(), selection, consume, progress, &|| false)?;
    out.finish()
}

/// What a filtered generation wrote and dropped (see [`generate_filtered_to_file`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filtered {
    /// Rows written: the rows asked for.
    pub rows: usize,
    /// Generated rows dropped as too near a training row.
    pub dropped: usize,
}

/// A filtered generation generates at most this many times the rows asked for.
const FILTER_MOST_OVERSAMPLING: usize = 100;

/// [`generate_to_file_as`] through a privacy filter (see [`crate::filter`]): rows within the
/// filter's distance of a training row are dropped and generation goes on until
/// `options.rows` are written: the rows are those of the unfiltered generation with the same
/// seed and more rows, less the dropped ones. An error names the share dropped when 100 times
/// the rows asked for are not enough.
pub fn generate_filtered_to_file(
    model: &TrainedModel,
    options: &GenerateOptions,
    filter: &crate::filter::PrivacyFilter,
    path: &Path,
    format: Option<Format>,
    progress: &mut dyn FnMut(usize),
) -> Result<Filtered> {
    let format = Format::resolve(path, format)?;
    let plan = plan(model, options, None)?;
    let mut out = RowWriter::create(model, path, format)?;
    let (kept, mut dropped) = (Cell::new(0usize), 0usize);
    let most = options.rows.saturating_mul(FILTER_MOST_OVERSAMPLING);
    let all = GenerateOptions { rows: most.saturating_add(options.batch_size), ..options.clone() };
    let consume = &mut |rows: Vec<Vec<Option<String>>>| {
        let keep = filter.keep(model, &rows);
        let mut batch = Vec::with_capacity(rows.len());
        for (row, keep) in rows.into_iter().zip(keep) {
            if kept.get() == options.rows {
                break;
            }
            if keep {
                batch.push(row);
                kept.set(kept.get() + 1);
            } else {
                dropped += 1;
            }
        }
        out.write(batch)
    };
    let stop = || kept.get() == options.rows;
    let on_progress = &mut |_| progress(kept.get());
    generate_cells(model, &all, plan.as_deref(), None, consume, on_progress, &stop)?;
    if kept.get() < options.rows {
        return Err(Error::Data(format!(
            "the privacy filter dropped {dropped} of {} generated rows, too many to write {}: \
             lower the filter distance",
            kept.get() + dropped,
            options.rows
        )));
    }
    let rows = out.finish()?;
    Ok(Filtered { rows, dropped })
}

/// Most draws per imputed cell: every draw of every row is held until the typical values are
/// taken, so the count bounds memory.
pub const MAX_DRAWS: usize = 1000;

/// Fills the missing cells of `seed.table` (see [`Seed::fill_missing`]) into a file: with
/// `draws` 1, each missing cell is one draw from the model given its row's known cells; with
/// more, the draws' typical value: the median of a number's draws, the most frequent of any
/// other cell's (a category, a text, a date as written), which is closer to the truth on average and keeps less
/// of the distribution's spread. Known cells are never changed. Returns the rows written.
pub fn impute_to_file(
    model: &TrainedModel,
    options: &GenerateOptions,
    seed: Seed,
    draws: usize,
    path: &Path,
    format: Option<Format>,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    if draws == 0 || draws > MAX_DRAWS {
        return Err(Error::Config(format!("draws is {draws}; it must be in 1..={MAX_DRAWS}")));
    }
    if draws == 1 {
        return generate_seeded_to_file(model, options, Some(seed), path, format, progress);
    }
    let format = Format::resolve(path, format)?;
    let plan = plan(model, options, Some(seed))?;
    let rows = plan.as_deref().and_then(Plan::seed_rows).unwrap_or(0);
    let mut all: Vec<Vec<Vec<Option<String>>>> = Vec::with_capacity(draws);
    for k in 0..draws {
        let options =
            GenerateOptions { seed: options.seed.wrapping_add(k as u64), ..options.clone() };
        let mut cells = Vec::with_capacity(rows);
        let consume = &mut |batch: Vec<Vec<Option<String>>>| {
            cells.extend(batch);
            Ok(())
        };
        let on_progress = &mut |done: usize| progress((k * rows).saturating_add(done));
        generate_cells(model, &options, plan.as_deref(), None, consume, on_progress, &|| false)?;
        all.push(cells);
    }
    let typical: Vec<Vec<Option<String>>> = (0..rows)
        .map(|r| {
            let columns = all[0].get(r).map_or(0, Vec::len);
            (0..columns).map(|c| typical_cell(all.iter().map(|d| &d[r][c]))).collect()
        })
        .collect();
    let mut out = RowWriter::create(model, path, format)?;
    out.write(typical)?;
    out.finish()
}

/// The typical one of a cell's draws: when every draw reads as a number, the draw holding the
/// (lower) median; else the most frequent draw (the first of equals).
fn typical_cell<'a>(draws: impl Iterator<Item = &'a Option<String>>) -> Option<String> {
    let draws: Vec<&Option<String>> = draws.collect();
    let numbers: Option<Vec<(f64, usize)>> = draws
        .iter()
        .enumerate()
        .map(|(i, d)| d.as_deref().and_then(doppel_table::value::parse_number).map(|v| (v, i)))
        .collect();
    if let Some(mut numbers) = numbers.filter(|n| !n.is_empty()) {
        numbers.sort_by(|a, b| a.0.total_cmp(&b.0));
        return draws[numbers[(numbers.len() - 1) / 2].1].clone();
    }
    let count = |d: &&Option<String>| draws.iter().filter(|e| **e == *d).count();
    let best =
        draws.iter().max_by(|a, b| count(a).cmp(&count(b)).then(std::cmp::Ordering::Greater));
    best.and_then(|d| (*d).clone())
}

/// Generated rows into a file: the model's header and column types, CSV with the training
/// data's delimiter and missing markers, the typed formats with nulls.
struct RowWriter {
    sink: Box<dyn crate::output::RowSink + Send>,
    format: Format,
    markers: Vec<String>,
    written: usize,
}

impl RowWriter {
    fn create(model: &TrainedModel, path: &Path, format: Format) -> Result<RowWriter> {
        let header: Vec<String> = model.schema().columns.iter().map(|c| c.name.clone()).collect();
        let types = output_types(model);
        // The training data's delimiter (recorded when it was detected); ',' for a model
        // trained from memory without one.
        let delimiter = match model.metadata().config.delimiter {
            Some(d) => crate::ingest::check_delimiter(d, "the model's delimiter")?,
            None => b',',
        };
        let sink = create_sink(path, format, &header, &types, delimiter)?;
        Ok(RowWriter { sink, format, markers: missing_markers(model), written: 0 })
    }

    fn write(&mut self, rows: Vec<Vec<Option<String>>>) -> Result<()> {
        for row in rows {
            // CSV writes a missing value as the source wrote it; the typed formats have nulls.
            let cells: Vec<Option<&str>> = match self.format {
                Format::Csv => row
                    .iter()
                    .zip(&self.markers)
                    .map(|(cell, marker)| Some(cell.as_deref().unwrap_or(marker)))
                    .collect(),
                _ => row.iter().map(Option::as_deref).collect(),
            };
            self.sink.write_row(&cells)?;
            self.written += 1;
        }
        Ok(())
    }

    fn finish(self) -> Result<usize> {
        self.sink.finish()?;
        Ok(self.written)
    }
}

/// The typed output column of each schema column: Int64 for integer columns, Float64 for
/// floats, text otherwise.
fn output_types(model: &TrainedModel) -> Vec<OutputType> {
    let kind = |c: &crate::schema::ColumnSchema| match c.kind {
        ColumnKind::Integer => OutputType::Int64,
        ColumnKind::Float { .. } => OutputType::Float64,
        _ => OutputType::Utf8,
    };
    model.schema().columns.iter().map(kind).collect()
}

/// The text each column's missing values are written as in CSV: the source's marker (such
/// as `?`), or empty.
fn missing_markers(model: &TrainedModel) -> Vec<String> {
    let marker = |c: &crate::schema::ColumnSchema| c.missing_marker.clone().unwrap_or_default();
    model.schema().columns.iter().map(marker).collect()
}

/// The Arrow schema of generated records: the training columns in order, typed as in the
/// Parquet and Arrow IPC outputs, every field nullable.
pub fn output_schema(model: &TrainedModel) -> SchemaRef {
    let fields: Vec<Field> = model
        .schema()
        .columns
        .iter()
        .zip(output_types(model))
        .map(|(c, t)| Field::new(c.name.clone(), t.data_type(), true))
        .collect();
    Arc::new(ArrowSchema::new(fields))
}

/// Generates the batches `range` in parallel, in order.
fn generate_group(
    model: &TrainedModel,
    options: &GenerateOptions,
    plan: Option<&Plan>,
    range: std::ops::Range<usize>,
) -> Vec<Result<Vec<Vec<Option<String>>>>> {
    let group: Vec<usize> = range.collect();
    group.par_iter().map(|&b| generate_batch(model, options, plan, b)).collect()
}

/// Generated records as a lazy stream of Arrow record batches (one per `batch_size` rows, with
/// the schema of [`output_schema`]): the rows of [`generate`] with the same options, typed as in
/// the Parquet output (missing values are nulls). Batches are made a thread-pool's worth at a
/// time as the stream is read, so memory stays bounded however many rows are asked for. The
/// stream holds its own reference to the model. After an error it ends.
pub struct BatchStream {
    model: Arc<TrainedModel>,
    options: GenerateOptions,
    plan: Option<Box<Plan>>,
    schema: SchemaRef,
    types: Vec<OutputType>,
    next_batch: usize,
    batches: usize,
    ready: VecDeque<Result<RecordBatch>>,
    /// A rebalancing by selection's quota (`options` and `plan` are then the selection's).
    quota: Option<Quota>,
}

/// Opens a [`BatchStream`] of `options.rows` generated records.
pub fn generate_batches(
    model: Arc<TrainedModel>,
    options: &GenerateOptions,
) -> Result<BatchStream> {
    generate_seeded_batches(model, options, None)
}

/// [`generate_batches`] steered by a seed table: one record per seed row (see
/// [`generate_seeded_to_file`]).
pub fn generate_seeded_batches(
    model: Arc<TrainedModel>,
    options: &GenerateOptions,
    seed: Option<Seed>,
) -> Result<BatchStream> {
    let plan = plan(&model, options, seed)?;
    Ok(match selection(&model, options, plan.as_deref())? {
        Some(s) => BatchStream::new(model, &s.options, s.plan, Some(s.quota)),
        None => BatchStream::new(model, options, plan, None),
    })
}

impl BatchStream {
    fn new(
        model: Arc<TrainedModel>,
        options: &GenerateOptions,
        plan: Option<Box<Plan>>,
        quota: Option<Quota>,
    ) -> BatchStream {
        BatchStream {
            quota,
            schema: output_schema(&model),
            types: output_types(&model),
            options: options.clone(),
            next_batch: 0,
            batches: rows_of(options, plan.as_deref()).div_ceil(options.batch_size),
            plan,
            ready: VecDeque::new(),
            model,
        }
    }

    /// Generates the next thread-pool's worth of batches into `ready`.
    fn refill(&mut self) {
        let window = rayon::current_num_threads().max(1);
        let end = self.batches.min(self.next_batch + window);
        let group =
            generate_group(&self.model, &self.options, self.plan.as_deref(), self.next_batch..end);
        self.next_batch = end;
        for rows in group {
            let rows = match self.quota.as_mut() {
                Some(quota) if quota.done() => break,
                Some(quota) => rows.map(|rows| quota.select(rows)),
                None => rows,
            };
            let batch = rows.and_then(|rows| {
                let cells: Vec<Vec<Option<&str>>> =
                    rows.iter().map(|row| row.iter().map(Option::as_deref).collect()).collect();
                rows_to_batch(&self.schema, &self.types, &cells)
            });
            let failed = batch.is_err();
            self.ready.push_back(batch);
            if failed {
                // Nothing after an error: the stream ends with it.
                self.next_batch = self.batches;
                break;
            }
        }
        match &self.quota {
            Some(quota) if quota.done() => self.next_batch = self.batches,
            Some(quota) if self.next_batch == self.batches => {
                self.ready.push_back(Err(Error::Data(format!(
                    "rebalancing kept {} rows of {}: the model generates a named value too \
                     rarely; ask for a smaller share",
                    quota.total(),
                    quota.target()
                ))));
            }
            _ => {}
        }
    }
}

impl Iterator for BatchStream {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && self.next_batch < self.batches {
            self.refill();
        }
        let batch = self.ready.pop_front()?;
        Some(batch.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for BatchStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

fn generate_batch(
    model: &TrainedModel,
    options: &GenerateOptions,
    plan: Option<&Plan>,
    batch: usize,
) -> Result<Vec<Vec<Option<String>>>> {
    let first_row = batch * options.batch_size;
    let n = options.batch_size.min(rows_of(options, plan) - first_row);
    if let Some(lora) = model.lora_model() {
        let most = model.metadata().config.model.lora.as_ref().map(|l| l.max_record_tokens);
        let most = most.unwrap_or(crate::llama::DEFAULT_MAX_RECORD_TOKENS);
        let tokenizer = model.tokenizer();
        let (rows, _) =
            crate::llama::generate_rows(lora, tokenizer, most, options, plan, batch, n)?;
        return Ok(rows);
    }
    let mut rng = Rng::new(options.seed, batch as u64);
    let net = model.network()?;
    let tokenizer = model.tokenizer();
    let fields = tokenizer.fields();
    let len = fields.len();
    // One plan per seed row; without a seed, every row shares one.
    let mut orders = HashMap::new();
    let shared = plan.is_some_and(|p| p.seed_rows().is_none());
    let rows = match plan {
        Some(plan) if shared => vec![plan.row(tokenizer, 0, &mut orders)?],
        Some(plan) => (first_row..first_row + n)
            .map(|r| plan.row(tokenizer, r, &mut orders))
            .collect::<Result<Vec<RowPlan>>>()?,
        None => Vec::new(),
    };
    let row_plan = |r: usize| rows.get(if shared { 0 } else { r });
    let fixed_order: Vec<u32> = (0..len as u32).collect();
    let order_of = |r: usize| row_plan(r).map_or(fixed_order.as_slice(), |p| p.order.as_slice());
    // Files of format version 1 project layer 0's input as they always did (same rows for the
    // same seed); later ones look it up in folded tables.
    let folded = model.metadata().format_version >= crate::artifact::FOLDED_INPUT_VERSION;
    let mut state = net.initial_state(n, folded)?;
    let mut previous = vec![net.start_token(); n];
    let mut tokens = vec![0u32; n * len];
    // Which fields each row has so far (a balanced field groups rows by another's token).
    let mut done = vec![false; n * len];
    let mut probs = Vec::new();
    let never: Vec<Vec<u32>> = (0..len).map(|t| tokenizer.never(t)).collect();
    let rules = plan.map_or(&[][..], Plan::rules);
    for s in 0..len {
        let step_fields: Vec<u32> = (0..n).map(|r| order_of(r)[s]).collect();
        // Forced tokens (a seed's cells, a text's padding after its end) need no logits: only
        // the other rows get them, field by field, in row order.
        let forced: Vec<Option<u32>> = (0..n)
            .map(|r| {
                let t = step_fields[r] as usize;
                let seeded = row_plan(r).and_then(|p| p.fixed[t]);
                seeded.or_else(|| tokenizer.forced(t, &tokens[r * len..r * len + t]))
            })
            .collect();
        let same = step_fields.iter().all(|&f| f == step_fields[0]);
        let top = net.advance(
            &mut state,
            &previous,
            if same { &step_fields[..1] } else { &step_fields },
        )?;
        let mut by_field: Vec<(u32, Vec<u32>)> = Vec::new();
        for r in (0..n).filter(|&r| forced[r].is_none()) {
            match by_field.iter_mut().find(|(f, _)| *f == step_fields[r]) {
                Some((_, group)) => group.push(r as u32),
                None => by_field.push((step_fields[r], vec![r as u32])),
            }
        }
        for (r, token) in forced.iter().enumerate() {
            if let Some(token) = token {
                tokens[r * len + step_fields[r] as usize] = *token;
            }
        }
        for (t, group) in by_field {
            let t = t as usize;
            let every = group.len() == n;
            let logits = net.field_logits(&top, t, if every { None } else { Some(&group) })?;
            let mut logits = match logits {
                Some(l) => l.to_vec2::<f32>()?,
                None => Vec::new(),
            };
            let allowed = plan.and_then(|p| p.allowed(fields[t].column));
            for (&r, row_logits) in group.iter().zip(logits.iter_mut()) {
                let r = r as usize;
                for &token in &never[t] {
                    if let Some(logit) = row_logits.get_mut(token as usize) {
                        *logit = f32::NEG_INFINITY;
                    }
                }
                if let Some(allowed) = allowed {
                    tokenizer.bar(t, allowed, &tokens[r * len..(r + 1) * len], row_logits);
                }
                let row = r * len..(r + 1) * len;
                let (row_tokens, row_done) = (&tokens[row.clone()], &done[row]);
                bar_unordered(tokenizer, plan, t, row_tokens, row_done, row_logits);
                let present = row_plan(r).is_some_and(|p| p.present[fields[t].column]);
                if let Some(missing) = tokenizer.missing_token(t).filter(|_| present) {
                    if let Some(logit) = row_logits.get_mut(missing as usize) {
                        *logit = f32::NEG_INFINITY;
                    }
                }
            }
            let balance = plan.and_then(|p| p.balance_at(t));
            let drawn = match balance {
                Some(balance) => {
                    let other = |r: u32| {
                        balance.group_of(&tokens[r as usize * len..], &done[r as usize * len..])
                    };
                    let groups: Vec<Option<u32>> = group.iter().map(|&r| other(r)).collect();
                    balanced_draw(&logits, &groups, balance, &options.sampling, &mut rng)
                }
                None => Vec::new(),
            };
            for (i, (&r, row_logits)) in group.iter().zip(logits.iter()).enumerate() {
                let r = r as usize;
                tokens[r * len + t] = match drawn.get(i).copied().flatten() {
                    Some(token) => token,
                    None => sample(row_logits, &options.sampling, &mut rng, &mut probs),
                };
            }
        }
        for r in 0..n {
            let t = step_fields[r] as usize;
            previous[r] = fields[t].offset + tokens[r * len + t];
            done[r * len + t] = true;
        }
    }
    let within = plan.map(Plan::within).unwrap_or_default();
    Ok((0..n)
        .map(|r| {
            let known = row_plan(r).map_or(&[][..], |p| p.known.as_slice());
            let tokens = &tokens[r * len..(r + 1) * len];
            tokenizer.decode_steered(
                tokens,
                (first_row + r) as u64,
                &mut rng,
                &within,
                known,
                rules,
            )
        })
        .collect())
}

/// Bars the tokens of number field `field` that would break one of the plan's order rules
/// given the other column's tokens so far in the record (`tokens`, of which `done` are
/// drawn), or the values it can take at all when it comes later. A bar
/// that would leave no token (the data broke the order) is not applied: that record's cell
/// then follows the model alone.
fn bar_unordered(
    tokenizer: &crate::tokenizer::Tokenizer,
    plan: Option<&Plan>,
    field: usize,
    tokens: &[u32],
    done: &[bool],
    logits: &mut [f32],
) {
    let Some(plan) = plan else { return };
    let Some(f) = tokenizer.fields().get(field) else { return };
    if plan.rules().is_empty()
        || !matches!(f.role, FieldRole::NumberValue | FieldRole::NumberPosition)
    {
        return;
    }
    let mut bound = vec![(f64::NEG_INFINITY, f64::INFINITY)];
    for rule in plan.rules() {
        let Some((other, _)) = rule.other(f.column) else { continue };
        // The other column still to come: this one keeps to what it can take at all (what
        // the model generates, within its conditions).
        let span = match tokenizer.span_so_far(other, tokens, done) {
            Some(span) => span,
            None if !tokenizer.drawn(other, done) => match tokenizer.value_range(other) {
                Some(range) => within_conditions(range, plan.allowed(other)),
                None => continue,
            },
            None => continue,
        };
        bound = crate::tokenizer::intersect(&bound, &tokenizer.order_bound(f.column, rule, span));
    }
    let before = logits.to_vec();
    tokenizer.bar_values(field, &bound, tokens, logits);
    let missing = tokenizer.missing_token(field).map(|m| m as usize);
    let barred = |(i, l): (usize, &f32)| Some(i) == missing || *l == f32::NEG_INFINITY;
    if logits.iter().enumerate().all(barred) {
        logits.copy_from_slice(&before);
    }
}

/// `range` narrowed to the hull of a condition's intervals, if the column has one.
fn within_conditions(range: (f64, f64), allowed: Option<&Allowed>) -> (f64, f64) {
    match allowed {
        Some(Allowed::Numbers(iv)) if !iv.is_empty() => {
            (range.0.max(iv[0].0), range.1.min(iv[iv.len() - 1].1))
        }
        _ => range,
    }
}

/// The tokens of the rows whose logits are `logits` at a balanced field (see
/// [`crate::balance`]): rows in the same group (`Some`) are held together to the target,
/// each keeping its own distribution (at `sampling`'s temperature; top-k and top-p do not
/// apply) up to the group's factors. A row outside every group (`None`) gets `None`: it is
/// drawn as usual.
fn balanced_draw(
    logits: &[Vec<f32>],
    groups: &[Option<u32>],
    balance: &Balance,
    sampling: &Sampling,
    rng: &mut Rng,
) -> Vec<Option<u32>> {
    let probs: Vec<Vec<f64>> = logits.iter().map(|l| softmax(l, sampling.temperature)).collect();
    let members: Vec<usize> = (0..probs.len()).filter(|&i| groups[i].is_some()).collect();
    let in_groups: Vec<Vec<f64>> = members.iter().map(|&i| probs[i].clone()).collect();
    let target = balance.target(&in_groups);
    let mut out = vec![None; probs.len()];
    let mut keys: Vec<u32> = members.iter().filter_map(|&i| groups[i]).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let rows: Vec<usize> =
            members.iter().copied().filter(|&i| groups[i] == Some(key)).collect();
        let q: Vec<Vec<f64>> = rows.iter().map(|&i| probs[i].clone()).collect();
        let p = crate::balance::reweight(&q, &crate::balance::factors(&q, &target));
        for (&i, c) in rows.iter().zip(crate::balance::draw_counts(&p, rng)) {
            out[i] = Some(c as u32);
        }
    }
    out
}

/// The probabilities of `logits` at `temperature` (a logit of -inf or NaN: 0).
fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let max = logits.iter().copied().filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits
        .iter()
        .map(|&l| if l.is_finite() { (f64::from(l - max) / temperature).exp() } else { 0.0 })
        .collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect()
}

/// Draws one index from `logits` with temperature, top-k and top-p; `probs` is scratch space.
///
/// Logits that are not finite (weights near the f32 range can overflow) are read as `+inf` ->
/// the largest finite logit and NaN -> never drawn, so a token barred with `-inf` stays barred.
pub(crate) fn sample(
    logits: &[f32],
    s: &Sampling,
    rng: &mut Rng,
    probs: &mut Vec<(f64, u32)>,
) -> u32 {
    let finite = |l: f32| if l.is_nan() { f32::NEG_INFINITY } else { l.min(f32::MAX) };
    let max = logits.iter().map(|&l| finite(l)).fold(f32::NEG_INFINITY, f32::max);
    probs.clear();
    probs.extend(logits.iter().enumerate().map(|(i, &l)| {
        // A difference that overflows is -inf, a probability of 0.
        let p = ((finite(l) - max) as f64 / s.temperature).exp();
        (if p.is_nan() { 0.0 } else { p }, i as u32)
    }));
    if s.top_k > 0 || s.top_p < 1.0 {
        probs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        if s.top_k > 0 {
            probs.truncate(s.top_k);
        }
        if s.top_p < 1.0 {
            let total: f64 = probs.iter().map(|p| p.0).sum();
            let mut cumulative = 0.0;
            let keep = probs
                .iter()
                .position(|p| {
                    cumulative += p.0;
                    cumulative >= s.top_p * total
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
    }
    let total: f64 = probs.iter().map(|p| p.0).sum();
    let mut target = rng.uniform() * total;
    for &(p, i) in probs.iter() {
        target -= p;
        if target < 0.0 {
            return i;
        }
    }
    // Rounding left `target` above zero: take the last token that had any probability.
    probs.iter().rev().find(|p| p.0 > 0.0).map_or(0, |p| p.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frequencies(logits: &[f32], s: &Sampling, draws: usize) -> Vec<f64> {
        let mut rng = Rng::new(5, 0);
        let mut scratch = Vec::new();
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..draws {
            counts[sample(logits, s, &mut rng, &mut scratch) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn a_batch_size_above_the_bound_is_refused() {
        let options = GenerateOptions { batch_size: usize::MAX, ..GenerateOptions::default() };
        let message = options.validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("batch_size"), "{message}");
        let options = GenerateOptions { batch_size: MAX_BATCH_SIZE, ..GenerateOptions::default() };
        assert!(options.validate().is_ok());
    }

    #[test]
    fn a_fair_selection_makes_the_target_independent_of_the_group() {
        // Group g1 has y in half its rows, g2 in a tenth; g2 is a third of the rows.
        let row =
            |g: &str, y: bool| vec![Some(g.to_string()), Some((if y { "y" } else { "n" }).into())];
        let mut rows = Vec::new();
        for i in 0..3000 {
            rows.push(if i % 3 == 2 { row("g2", i % 30 == 2) } else { row("g1", i % 2 == 0) });
        }
        let mut quota = fair_quota(&rows, 1, 0, 600);
        let mut kept = Vec::new();
        for chunk in rows.chunks(100) {
            kept.extend(quota.select(chunk.to_vec()));
        }
        assert!(quota.done());
        let share = |g: &str| {
            let group: Vec<_> = kept.iter().filter(|r| r[0].as_deref() == Some(g)).collect();
            let y = group.iter().filter(|r| r[1].as_deref() == Some("y")).count();
            (group.len(), y as f64 / group.len() as f64)
        };
        let ((n1, y1), (n2, y2)) = (share("g1"), share("g2"));
        // The groups keep their sizes (2:1), y its overall share (1/3 + 1/30 = 11/30).
        assert_eq!((n1, n2), (400, 200));
        assert!((y1 - y2).abs() < 0.01 && (y1 - 11.0 / 30.0).abs() < 0.01, "{y1} {y2}");
    }

    #[test]
    fn options_read_from_json_with_defaults_and_named_errors() -> Result<()> {
        let options = GenerateOptions::from_json(
            r#"{"rows": 7, "where": "age >= 60", "sampling": {"top_k": 3}}"#,
        )?;
        let want = GenerateOptions {
            rows: 7,
            conditions: "age >= 60".into(),
            sampling: Sampling { top_k: 3, ..Sampling::default() },
            ..GenerateOptions::default()
        };
        assert_eq!(options, want);
        assert_eq!(GenerateOptions::from_json("{}")?, GenerateOptions::default());
        for (json, key) in [
            (r#"{"rowz": 7}"#, "rowz"),
            (r#"{"sampling": {"temp": 1}}"#, "temp"),
            (r#"{"rows": "many"}"#, "rows"),
            (r#"{"sampling": [1.0, 0, 1.0]}"#, "sampling"),
            (r#"{"sampling": {"top_p": 2}}"#, "top_p"),
        ] {
            let message = GenerateOptions::from_json(json).err().map(|e| e.to_string());
            assert!(message.as_deref().is_some_and(|m| m.contains(key)), "{json}: {message:?}");
        }
        Ok(())
    }

    #[test]
    fn sampling_follows_the_softmax() {
        // softmax([0, ln 2, ln 5]) = [1/8, 2/8, 5/8].
        let logits = [0.0, 2f32.ln(), 5f32.ln()];
        let f = frequencies(&logits, &Sampling::default(), 80_000);
        for (got, want) in f.iter().zip([0.125, 0.25, 0.625]) {
            assert!((got - want).abs() < 0.01, "{f:?}");
        }
    }

    #[test]
    fn temperature_top_k_and_top_p_reshape_it() {
        let logits = [0.0, 2f32.ln(), 5f32.ln()];
        // Temperature 0.5 squares the odds: [1, 4, 25] / 30.
        let s = Sampling { temperature: 0.5, ..Sampling::default() };
        let f = frequencies(&logits, &s, 80_000);
        assert!((f[2] - 25.0 / 30.0).abs() < 0.01, "{f:?}");
        // Top-2 renormalises the two largest: [0, 2/7, 5/7].
        let f = frequencies(&logits, &Sampling { top_k: 2, ..Sampling::default() }, 80_000);
        assert_eq!(f[0], 0.0);
        assert!((f[1] - 2.0 / 7.0).abs() < 0.01, "{f:?}");
        // Top-p 0.6 keeps only the 5/8 token.
        let f = frequencies(&logits, &Sampling { top_p: 0.6, ..Sampling::default() }, 1_000);
        assert_eq!(f[2], 1.0);
    }
}
