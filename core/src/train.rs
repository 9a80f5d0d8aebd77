//! Training: fits the tokenizer and the LSTM to a table with mini-batch gradient descent, early
//! stopping on a held-out validation split, and full determinism for a given seed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::artifact::{TrainedModel, TrainingSummary};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::LstmModel;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::schema::prepare;
use crate::table::Table;
use crate::tokenizer::{Encoded, Tokenizer};

/// Fewest records doppel learns from.
pub const MIN_ROWS: usize = 10;

/// Shards a batch is cut into for data-parallel gradients (fixed, so results do not depend on
/// the thread count).
const SHARDS: usize = 2;

/// Progress of training, passed to the caller's callback after every step.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Current epoch (1-based).
    pub epoch: usize,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Step within the epoch (1-based).
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Loss of the last step (nats per token).
    pub loss: f64,
    /// Validation loss, set on the last step of an epoch when there is a validation split.
    pub validation_loss: Option<f64>,
}

/// Trains a model on `table` with `config`. `progress` is called after every step; setting
/// `cancel` stops training with [`Error::Cancelled`].
pub fn train(
    table: &Table,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<TrainedModel> {
    config.validate()?;
    if table.num_rows() < MIN_ROWS {
        return Err(Error::Data(format!(
            "only {} data row(s); doppel needs at least {MIN_ROWS} rows to learn from",
            table.num_rows()
        )));
    }
    let (table, schema) = prepare(table, config)?;
    let tokenizer = Tokenizer::fit(&table, &schema, config)?;
    let data = tokenizer.encode(&table, config)?;
    let tc = &config.training;

    let mut order: Vec<usize> = (0..data.rows).collect();
    Rng::new(tc.seed, 1).shuffle(&mut order);
    let validation_rows = (data.rows as f64 * tc.validation_split).round() as usize;
    let (validation, training) = order.split_at(validation_rows.min(data.rows - 1));
    let mut training = training.to_vec();

    let model = LstmModel::new(&config.model, tokenizer.fields(), tokenizer.vocab_size(), tc.seed)?;
    let batcher = Batcher { data: &data, tokenizer: &tokenizer, start: model.start_token() };
    let mut optimizer =
        Optimizer::new(tc.optimizer, tc.learning_rate, model.params().iter().map(|(_, v)| v))?;
    let mut summary = TrainingSummary {
        rows: data.rows,
        training_rows: training.len(),
        validation_rows: validation.len(),
        tokens_per_row: data.len,
        parameters: model.params().count(),
        stop_reason: "max_epochs".into(),
        ..TrainingSummary::default()
    };
    let started = Instant::now();
    let steps_per_epoch = training.len().div_ceil(tc.batch_size);
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    for epoch in 1..=tc.max_epochs {
        Rng::new(tc.seed, 1000 + epoch as u64).shuffle(&mut training);
        let mut epoch_loss = 0.0;
        for (s, rows) in training.chunks(tc.batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let progress_share = summary.steps as f64 / (steps_per_epoch * tc.max_epochs) as f64;
            optimizer.set_learning_rate(cosine_learning_rate(tc.learning_rate, progress_share));
            let (loss, grads) = batcher.gradients(&model, rows, tc.seed, summary.steps)?;
            optimizer.step(model.params().iter().map(|(_, v)| v), &grads)?;
            epoch_loss += loss * rows.len() as f64;
            summary.steps += 1;
            let last = s + 1 == steps_per_epoch;
            let validation_loss = if last && !validation.is_empty() {
                Some(batcher.mean_loss(&model, validation, tc.batch_size)?)
            } else {
                None
            };
            progress(&Progress {
                epoch,
                max_epochs: tc.max_epochs,
                step: s + 1,
                steps_per_epoch,
                loss,
                validation_loss,
            });
            if let Some(v) = validation_loss {
                summary.validation_loss.push(v);
            }
        }
        summary.epochs = epoch;
        summary.train_loss.push(epoch_loss / training.len() as f64);
        // Keep the weights of the best epoch: by validation loss, or the last one without a split.
        let score = summary.validation_loss.last().copied().unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            let snapshot = model
                .params()
                .iter()
                .map(|(_, v)| v.as_tensor().copy())
                .collect::<candle_core::Result<Vec<_>>>()?;
            best = Some((score, snapshot));
            summary.best_epoch = epoch;
        } else if epoch - summary.best_epoch >= tc.patience {
            summary.stop_reason = "early_stopping".into();
            break;
        }
        if tc.max_training_seconds > 0 && started.elapsed().as_secs() >= tc.max_training_seconds {
            summary.stop_reason = "time_limit".into();
            break;
        }
    }
    if let Some((_, snapshot)) = best {
        for ((_, var), saved) in model.params().iter().zip(snapshot) {
            var.set(&saved)?;
        }
    }
    Ok(TrainedModel::new(config.clone(), tokenizer, summary, model))
}

/// The learning rate after `share` of all planned steps: a cosine decay from `base` to a tenth
/// of it (Loshchilov & Hutter 2017, SGDR, without restarts). Small late steps let the model
/// settle instead of oscillating around the optimum, which sharpens the learned marginals.
fn cosine_learning_rate(base: f64, share: f64) -> f64 {
    let floor = 0.1 * base;
    floor + 0.5 * (base - floor) * (1.0 + (std::f64::consts::PI * share.clamp(0.0, 1.0)).cos())
}

/// Builds model inputs from encoded records.
struct Batcher<'a> {
    data: &'a Encoded,
    tokenizer: &'a Tokenizer,
    start: u32,
}

impl Batcher<'_> {
    /// `(inputs, targets, weights)` tensors for the records `rows`: inputs are the global ids of
    /// each position's previous token (the start token first), targets the local ids.
    fn batch(&self, rows: &[usize]) -> Result<(Tensor, Tensor, Tensor)> {
        let len = self.data.len;
        let fields = self.tokenizer.fields();
        let mut inputs = Vec::with_capacity(rows.len() * len);
        let mut targets = Vec::with_capacity(rows.len() * len);
        let mut weights = Vec::with_capacity(rows.len() * len);
        for &r in rows {
            let tokens = &self.data.tokens[r * len..(r + 1) * len];
            inputs.push(self.start);
            for t in 1..len {
                inputs.push(fields[t - 1].offset + tokens[t - 1]);
            }
            targets.extend_from_slice(tokens);
            weights.extend_from_slice(&self.data.weights[r * len..(r + 1) * len]);
        }
        let shape = (rows.len(), len);
        Ok((
            Tensor::from_vec(inputs, shape, &Device::Cpu)?,
            Tensor::from_vec(targets, shape, &Device::Cpu)?,
            Tensor::from_vec(weights, shape, &Device::Cpu)?,
        ))
    }

    /// Loss and gradients of the batch `rows`, computed on [`SHARDS`] shards at once.
    ///
    /// The batch is always cut into the same shards, each with its own dropout stream, and their
    /// gradients are summed in shard order, so the result does not depend on how many threads
    /// ran them. Each shard's mean loss is weighted by its share of the batch's weighted tokens.
    fn gradients(
        &self,
        model: &LstmModel,
        rows: &[usize],
        seed: u64,
        step: usize,
    ) -> Result<(f64, Vec<Tensor>)> {
        let shard_len = rows.len().div_ceil(SHARDS).max(1);
        let shards: Vec<&[usize]> = rows.chunks(shard_len).collect();
        let run = |(k, shard): (usize, &&[usize])| -> Result<(f64, f64, Vec<Tensor>)> {
            let (inputs, targets, weights) = self.batch(shard)?;
            let count = f64::from(weights.sum_all()?.to_scalar::<f32>()?).max(1.0);
            let mut dropout = Rng::new(seed, 3 + (step * SHARDS + k) as u64);
            let loss = model.loss(&inputs, &targets, &weights, Some(&mut dropout))?;
            let mut grads = loss.backward()?;
            let grads = model
                .params()
                .iter()
                .map(|(name, var)| {
                    // A variable's gradient is built from forward activations and keeps their
                    // graph alive; detached, the optimizer's moments cannot chain every step's
                    // graph together (this leaked 3.5 MB per step).
                    grads
                        .remove(var.as_tensor())
                        .map(|g| g.detach())
                        .ok_or_else(|| Error::Data(format!("no gradient for parameter {name}")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((f64::from(loss.to_scalar::<f32>()?), count, grads))
        };
        let results: Vec<Result<(f64, f64, Vec<Tensor>)>> =
            shards.par_iter().enumerate().map(run).collect();
        let results = results.into_iter().collect::<Result<Vec<_>>>()?;
        let total: f64 = results.iter().map(|r| r.1).sum();
        let mut loss = 0.0;
        let mut sum: Option<Vec<Tensor>> = None;
        for (shard_loss, count, grads) in results {
            let share = count / total;
            loss += shard_loss * share;
            let scaled = grads
                .iter()
                .map(|g| g.affine(share, 0.0))
                .collect::<candle_core::Result<Vec<_>>>()?;
            sum = Some(match sum {
                None => scaled,
                Some(acc) => acc
                    .iter()
                    .zip(&scaled)
                    .map(|(a, b)| a + b)
                    .collect::<candle_core::Result<Vec<_>>>()?,
            });
        }
        Ok((loss, sum.unwrap_or_default()))
    }

    /// Mean loss per weighted token over `rows`, without dropout.
    fn mean_loss(&self, model: &LstmModel, rows: &[usize], batch_size: usize) -> Result<f64> {
        let (mut total, mut count) = (0.0, 0.0);
        for chunk in rows.chunks(batch_size) {
            let (inputs, targets, weights) = self.batch(chunk)?;
            let n = f64::from(weights.sum_all()?.to_scalar::<f32>()?);
            let loss = model.loss(&inputs, &targets, &weights, None)?.detach();
            total += f64::from(loss.to_scalar::<f32>()?) * n;
            count += n;
        }
        Ok(total / count.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_runs_from_base_to_a_tenth() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(cosine_learning_rate(1.0, 0.0), 1.0));
        // Halfway: the mean of base and floor, (1 + 0.1) / 2.
        assert!(close(cosine_learning_rate(1.0, 0.5), 0.55));
        assert!(close(cosine_learning_rate(2.0, 1.0), 0.2));
        assert!(close(cosine_learning_rate(2.0, 7.0), 0.2));
    }

    #[test]
    fn too_few_rows_is_an_error_naming_the_minimum() {
        let names = vec!["a".to_string()];
        let table = Table::from_columns(names, vec![vec![Some("1".into()); 3]]).unwrap();
        let err = train(&table, &TrainConfig::default(), &mut |_| {}, &AtomicBool::new(false));
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("3 data row") && message.contains("at least 10"), "{message}");
    }

    #[test]
    fn a_set_cancel_flag_stops_training() {
        let names = vec!["a".to_string(), "b".to_string()];
        let column = |f: fn(usize) -> String| (0..40).map(|i| Some(f(i))).collect();
        let columns = vec![column(|i| (i % 7).to_string()), column(|i| format!("v{}", i % 3))];
        let table = Table::from_columns(names, columns).unwrap();
        let err = train(&table, &TrainConfig::default(), &mut |_| {}, &AtomicBool::new(true));
        assert!(matches!(err, Err(Error::Cancelled)));
    }
}
