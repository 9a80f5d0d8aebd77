//! Training: fits the tokenizer and the LSTM to a table with mini-batch gradient descent, early
//! stopping on a held-out validation split, and full determinism for a given seed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};

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
    let mut dropout_rng = Rng::new(tc.seed, 3);
    for epoch in 1..=tc.max_epochs {
        Rng::new(tc.seed, 1000 + epoch as u64).shuffle(&mut training);
        let mut epoch_loss = 0.0;
        for (s, rows) in training.chunks(tc.batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let (inputs, targets, weights) = batcher.batch(rows)?;
            let loss = model.loss(&inputs, &targets, &weights, Some(&mut dropout_rng))?;
            let mut grads = loss.backward()?;
            let grads = model
                .params()
                .iter()
                .map(|(name, var)| {
                    grads.remove(var.as_tensor()).ok_or_else(|| {
                        Error::Data(format!("no gradient for parameter {name}"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            optimizer.step(model.params().iter().map(|(_, v)| v), &grads)?;
            let loss = f64::from(loss.to_scalar::<f32>()?);
            epoch_loss += loss * rows.len() as f64;
            summary.steps += 1;
            let last = s + 1 == steps_per_epoch;
            let validation_loss =
                if last && !validation.is_empty() { Some(batcher.mean_loss(&model, validation, tc.batch_size)?) } else { None };
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
            let snapshot = model.params().iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<Vec<_>>>()?;
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
