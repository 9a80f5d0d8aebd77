//! Generation: samples records from a trained model, batch by batch, and writes them in the
//! source's header, column order and value formats.
//!
//! Each batch draws from its own generator seeded by `(seed, batch index)`, so the output depends
//! on the seed only, not on how many threads share the batches.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, Field, Schema as ArrowSchema, SchemaRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::ingest::Format;
use crate::output::{create_sink, rows_to_batch, OutputType};
use crate::rng::Rng;
use crate::schema::ColumnKind;

/// How tokens are drawn from the model's distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// Number of records.
    pub rows: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Token sampling.
    pub sampling: Sampling,
    /// Records per batch (also the unit of parallel work).
    pub batch_size: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { rows: 1000, seed: 42, sampling: Sampling::default(), batch_size: 1024 }
    }
}

/// Most records per generation batch: a batch holds its records' tokens and recurrent state at
/// once, so its size bounds generation memory.
pub const MAX_BATCH_SIZE: usize = 1 << 16;

impl GenerateOptions {
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
    generate_cells(
        model,
        options,
        &mut |rows| consume(rows.into_iter().map(as_text).collect()),
        progress,
    )
}

/// [`generate`] with each cell as decoded: its text, or `None` for a missing value.
fn generate_cells(
    model: &TrainedModel,
    options: &GenerateOptions,
    consume: &mut dyn FnMut(Vec<Vec<Option<String>>>) -> Result<()>,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    options.validate()?;
    let batches = options.rows.div_ceil(options.batch_size);
    let window = rayon::current_num_threads().max(1);
    let mut done = 0;
    for first in (0..batches).step_by(window) {
        for rows in generate_group(model, options, first..batches.min(first + window)) {
            let rows = rows?;
            done += rows.len();
            consume(rows)?;
            progress(done);
        }
    }
    Ok(())
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
    let format = Format::resolve(path, format)?;
    let header: Vec<String> = model.schema().columns.iter().map(|c| c.name.clone()).collect();
    let types = output_types(model);
    // The training data's delimiter (recorded when it was detected); ',' for a model trained
    // from memory without one.
    let delimiter = match model.metadata().config.delimiter {
        Some(d) => crate::ingest::check_delimiter(d, "the model's delimiter")?,
        None => b',',
    };
    let mut sink = create_sink(path, format, &header, &types, delimiter)?;
    // CSV writes a missing value as the source wrote it; the typed formats have nulls.
    let markers = missing_markers(model);
    let mut written = 0;
    generate_cells(
        model,
        options,
        &mut |rows| {
            for row in rows {
                let cells: Vec<Option<&str>> = match format {
                    Format::Csv => row
                        .iter()
                        .zip(&markers)
                        .map(|(cell, marker)| Some(cell.as_deref().unwrap_or(marker)))
                        .collect(),
                    _ => row.iter().map(Option::as_deref).collect(),
                };
                sink.write_row(&cells)?;
                written += 1;
            }
            Ok(())
        },
        progress,
    )?;
    sink.finish()?;
    Ok(written)
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
    range: std::ops::Range<usize>,
) -> Vec<Result<Vec<Vec<Option<String>>>>> {
    let group: Vec<usize> = range.collect();
    group.par_iter().map(|&b| generate_batch(model, options, b)).collect()
}

/// Generated records as a lazy stream of Arrow record batches (one per `batch_size` rows, with
/// the schema of [`output_schema`]): the rows of [`generate`] with the same options, typed as in
/// the Parquet output (missing values are nulls). Batches are made a thread-pool's worth at a
/// time as the stream is read, so memory stays bounded however many rows are asked for. The
/// stream holds its own reference to the model. After an error it ends.
pub struct BatchStream {
    model: Arc<TrainedModel>,
    options: GenerateOptions,
    schema: SchemaRef,
    types: Vec<OutputType>,
    next_batch: usize,
    batches: usize,
    ready: VecDeque<Result<RecordBatch>>,
}

/// Opens a [`BatchStream`] of `options.rows` generated records.
pub fn generate_batches(
    model: Arc<TrainedModel>,
    options: &GenerateOptions,
) -> Result<BatchStream> {
    options.validate()?;
    Ok(BatchStream {
        schema: output_schema(&model),
        types: output_types(&model),
        options: options.clone(),
        next_batch: 0,
        batches: options.rows.div_ceil(options.batch_size),
        ready: VecDeque::new(),
        model,
    })
}

impl BatchStream {
    /// Generates the next thread-pool's worth of batches into `ready`.
    fn refill(&mut self) {
        let window = rayon::current_num_threads().max(1);
        let end = self.batches.min(self.next_batch + window);
        let group = generate_group(&self.model, &self.options, self.next_batch..end);
        self.next_batch = end;
        for rows in group {
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
    batch: usize,
) -> Result<Vec<Vec<Option<String>>>> {
    let first_row = batch * options.batch_size;
    let n = options.batch_size.min(options.rows - first_row);
    let mut rng = Rng::new(options.seed, batch as u64);
    let net = model.network();
    let tokenizer = model.tokenizer();
    let fields = tokenizer.fields();
    let len = fields.len();
    // Files of format version 1 project layer 0's input as they always did (same rows for the
    // same seed); later ones look it up in folded tables.
    let folded = model.metadata().format_version >= crate::artifact::FOLDED_INPUT_VERSION;
    let mut state = net.initial_state(n, folded)?;
    let mut previous = vec![net.start_token(); n];
    let mut tokens = vec![0u32; n * len];
    let mut probs = Vec::new();
    for (t, field) in fields.iter().enumerate() {
        // Forced tokens (a text's padding after its end) need no logits: only the other rows
        // get them, in row order, and draw in that order as before.
        let forced: Vec<Option<u32>> =
            (0..n).map(|r| tokenizer.forced(t, &tokens[r * len..r * len + t])).collect();
        let free: Vec<u32> = (0..n as u32).filter(|&r| forced[r as usize].is_none()).collect();
        let rows = (free.len() < n).then_some(free.as_slice());
        let mut logits = match net.step_rows(&mut state, &previous, t, rows)? {
            Some(l) => l.to_vec2::<f32>()?,
            None => Vec::new(),
        };
        let mut drawn = logits.iter_mut();
        let never = tokenizer.never(t);
        for (r, forced) in forced.into_iter().enumerate() {
            let token = match forced {
                Some(token) => token,
                None => {
                    let row_logits = drawn
                        .next()
                        .ok_or_else(|| Error::Data("a free row got no logits".into()))?;
                    for &token in &never {
                        if let Some(logit) = row_logits.get_mut(token as usize) {
                            *logit = f32::NEG_INFINITY;
                        }
                    }
                    sample(row_logits, &options.sampling, &mut rng, &mut probs)
                }
            };
            tokens[r * len + t] = token;
            previous[r] = field.offset + token;
        }
    }
    Ok((0..n)
        .map(|r| {
            tokenizer.decode(&tokens[r * len..(r + 1) * len], (first_row + r) as u64, &mut rng)
        })
        .collect())
}

/// Draws one index from `logits` with temperature, top-k and top-p; `probs` is scratch space.
///
/// Logits that are not finite (weights near the f32 range can overflow) are read as `+inf` ->
/// the largest finite logit and NaN -> never drawn, so a token barred with `-inf` stays barred.
fn sample(logits: &[f32], s: &Sampling, rng: &mut Rng, probs: &mut Vec<(f64, u32)>) -> u32 {
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
