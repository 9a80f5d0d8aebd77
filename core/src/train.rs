//! Training: fits the tokenizer and the LSTM to a table with mini-batch gradient descent, and
//! full determinism for a given seed.
//!
//! One loop ([`train`]) runs every step; its gradient stage is either plain (the mean gradient
//! of a shuffled mini-batch, with a validation split, early stopping and the best epoch's
//! weights kept) or private (DP-SGD, see [`crate::dp`]: Poisson-sampled privacy units,
//! per-unit clipping, noise, every step recorded in the ledger stored with the model).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{Device, Shape, Tensor, Var};
use rayon::prelude::*;

use crate::accountant::{Accountant, GaussianEvent, Ledger};
use crate::artifact::{TrainedModel, TrainingSummary};
use crate::backprop::{self, Batch, Clip, Gradients};
use crate::config::{KindName, ModelKind, TrainConfig, TrainingConfig, DEFAULT_RANDOM_ORDER_SHARE};
use crate::dp::{Plan, Randomness};
use crate::dp_defaults;
use crate::error::{Error, Result};
use crate::model::LstmModel;
use crate::optim::{Optimizer, WeightAverage};
use crate::order::Orders;
use crate::private_schema;
use crate::private_stats::Release;
use crate::rng::Rng;
use crate::schema::ColumnKind;
use crate::schema::{self, prepare};
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
    /// Steps planned in all (early stopping, the time budget or a cancel can end training
    /// sooner); with the epoch, step and steps per epoch it gives the share of the run done.
    pub total_steps: usize,
    /// Whether the time budget shortened the plan (`max_epochs` and `total_steps` are then
    /// the steps that fit it); see [`crate::config::TrainingConfig::time_budget`].
    pub time_bound: bool,
    /// Epochs planned before the time budget shortened the plan (`max_epochs` without one).
    pub planned_epochs: usize,
    /// Tokens trained on so far: the records of every step's batch times tokens per record.
    /// Under DP the batches are Poisson samples whose sizes are facts about the private rows:
    /// as with `loss`, for the caller's own process only (the CLI shows steps per second).
    pub tokens: usize,
    /// Loss of the last step (nats per token). Under DP it is computed from private rows
    /// outside the ledger: it goes to the caller's own process only and is stored nowhere
    /// (the CLI does not print it under DP); do not log it where the model's users can see it.
    pub loss: f64,
    /// Validation loss, set on the last step of an epoch when there is a validation split.
    pub validation_loss: Option<f64>,
    /// Under DP: epsilon spent so far, set on the last step of an epoch.
    pub epsilon: Option<f64>,
}

/// Refuses, before training, a constraint on a column the table lacks (the rest is checked
/// against the trained model when generating).
fn check_constraints(table: &Table, config: &TrainConfig) -> Result<()> {
    let names = table.column_names();
    for text in &config.constraints {
        for condition in crate::steer::parse_conditions(text)? {
            // As generation finds it: the exact name, or the one name equal up to case.
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&condition.column)) {
                return Err(Error::Config(format!(
                    "constraint '{text}': the table has no column '{}'",
                    condition.column
                )));
            }
        }
    }
    Ok(())
}

/// Trains a model on `table` with `config`. `progress` is called after every step; setting
/// `cancel` stops training with [`Error::Cancelled`].
///
/// `model.kind` picks the model: the LSTM, or LoRA adapters on a pretrained decoder (see
/// [`crate::llama`]). Both run the same setup (schema, tokenizer statistics, the DP releases
/// and plan) and the same loop of steps (`run`); they differ in how a step's records become
/// a loss and gradients (a `Learner`).
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
    check_constraints(table, config)?;
    let device = crate::device::select(config.training.device)?;
    if config.model.kind == ModelKind::Lora {
        // Read the base before the private releases: a wrong directory fails fast.
        let base = crate::llama::Base::load(&config.model, &device)?;
        let mut config = config.clone();
        crate::llama::apply_defaults(&mut config);
        let setup = Setup::new(table, &config)?;
        return crate::llama::train_lora(setup, base, progress, cancel);
    }
    let Setup { mut config, tokenizer, data, mut stage, .. } = Setup::new(table, config)?;
    // Recorded in the model file as used (a file without it was trained in one order).
    let order_share = *config.training.random_order_share.get_or_insert(DEFAULT_RANDOM_ORDER_SHARE);
    config.model.context.get_or_insert(crate::config::DEFAULT_CONTEXT);
    let tc = &config.training;
    let model = LstmModel::new(
        &config.model,
        tokenizer.fields(),
        tokenizer.vocab_size(),
        tc.seed,
        &device,
    )?;
    let learner = LstmLearner {
        batcher: Batcher { data: &data, tokenizer: &tokenizer, start: model.start_token() },
        model: &model,
        orders: Orders::new(tokenizer.fields(), order_share, tc.seed),
    };
    let summary = run(&learner, &mut stage, tc, progress, cancel)?;
    Ok(TrainedModel::new(config, tokenizer, summary, model))
}

/// What the training loop trains: its variables, and how a step's records become a loss and
/// gradients. The LSTM's is [`LstmLearner`]; the LoRA model's is in [`crate::llama`].
pub(crate) trait Learner: Sync {
    /// The trained variables, in a fixed order (the gradients' order).
    fn variables(&self) -> Vec<&Var>;
    /// Where they live.
    fn device(&self) -> &Device;
    /// Tokens of one record (for the progress count).
    fn tokens_per_record(&self) -> usize;
    /// Summed loss, token count and gradient sums of the records `shards` at step `step`,
    /// each unit's gradient clipped to `clip` when set (DP; units never span shards).
    fn gradients(
        &self,
        shards: &[Shard],
        seed: u64,
        step: usize,
        clip: Option<f64>,
    ) -> Result<(f64, f64, Vec<Tensor>)>;
    /// Mean loss per token over `rows`, without dropout, `batch_size` records at a time.
    fn mean_loss(&self, rows: &[usize], batch_size: usize) -> Result<f64>;
}

/// The loop of steps: plans them (the time budget may shorten the plan), forms each step's
/// gradient through `stage` (plain or DP-SGD) from `learner`, applies the optimizer, measures
/// at each epoch's end, and returns what it did. The learner's variables end as the model to
/// write (the best epoch's, or DP's weight average).
pub(crate) fn run(
    learner: &dyn Learner,
    stage: &mut Stage,
    tc: &TrainingConfig,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<TrainingSummary> {
    let params = || learner.variables().into_iter();
    let mut optimizer = Optimizer::new(tc.optimizer, tc.learning_rate(), params())?;
    let mut summary = stage.summary(learner);
    let (mut total, per_epoch) = stage.steps(tc);
    let mut max_epochs = total.div_ceil(per_epoch);
    summary.planned_epochs = max_epochs;
    let mut clock = Clock::new(tc.time_budget(stage.is_private()), stage.is_private());
    let mut tokens = 0;
    let mut epoch = 0;
    'epochs: while epoch < max_epochs {
        epoch += 1;
        stage.start_epoch(tc.seed, epoch);
        let (mut epoch_loss, mut epoch_records) = (0.0, 0);
        let mut s = 0;
        while s < per_epoch && summary.steps < total {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let share = summary.steps as f64 / total as f64;
            optimizer.set_learning_rate(cosine_learning_rate(tc.learning_rate(), share));
            let shards = stage.shards(s, tc.batch_size());
            let records: usize = shards.iter().map(|shard| shard.rows.len()).sum();
            let (loss, grads) = stage.gradients(learner, &shards, tc.seed, summary.steps)?;
            check_loss(loss, epoch, s + 1, tc.learning_rate())?;
            optimizer.step(params(), &grads)?;
            if let Stage::Private(p) = stage {
                if let Some(average) = &mut p.average {
                    average.update(params())?;
                }
            }
            epoch_loss += loss * records as f64;
            epoch_records += records;
            tokens += records * learner.tokens_per_record();
            summary.steps += 1;
            if let Some(fit) = clock.fit(summary.steps, s + 1 == per_epoch).filter(|&f| f < total) {
                (total, max_epochs, summary.time_bound) = (fit, fit.div_ceil(per_epoch), true);
            }
            let last = s + 1 == per_epoch || summary.steps == total;
            // Under DP the ledger must hold exactly the steps that ran: check after each one.
            let stop = stage.is_private() && clock.out_of_time();
            let (validation_loss, epsilon) =
                if last || stop { stage.measure(learner, tc.batch_size())? } else { (None, None) };
            progress(&Progress {
                epoch,
                max_epochs,
                step: s + 1,
                steps_per_epoch: per_epoch,
                total_steps: total,
                time_bound: summary.time_bound,
                planned_epochs: summary.planned_epochs,
                tokens,
                loss,
                validation_loss,
                epsilon,
            });
            if let Some(v) = validation_loss {
                check_loss(v, epoch, s + 1, tc.learning_rate())?;
                summary.validation_loss.push(v);
            }
            if stop {
                summary.epochs = if last { epoch } else { epoch - 1 };
                summary.stop_reason = "time_limit".into();
                break 'epochs;
            }
            s += 1;
        }
        summary.epochs = epoch;
        let mean_loss = epoch_loss / epoch_records.max(1) as f64;
        if stage.end_epoch(epoch, mean_loss, tc.patience, learner, &mut summary)? {
            break;
        }
        if !stage.is_private() && clock.out_of_time() {
            summary.stop_reason = "time_limit".into();
            break;
        }
    }
    stage.finish(learner, &mut summary)?;
    summary.still_improving = still_improving(&summary);
    check_weights(learner, tc.learning_rate())?;
    Ok(summary)
}

/// Plain training fits its plan to the time budget after its first epoch or this long,
/// whichever comes first.
const FIT_AFTER: Duration = Duration::from_secs(60);

/// Training's wall-time budget: the hard stop, and for plain training the one re-plan that
/// fits the steps to the budget.
struct Clock {
    budget: Option<Duration>,
    started: Instant,
    /// The end of the first step: the pace is measured from there (setting up and warming up
    /// excluded).
    first_step: Option<Instant>,
    /// Whether the plan was fitted (or must not be: DP's steps are fixed by its plan).
    fitted: bool,
}

impl Clock {
    fn new(budget: Option<Duration>, private: bool) -> Clock {
        Clock { budget, started: Instant::now(), first_step: None, fitted: private }
    }

    fn out_of_time(&self) -> bool {
        self.budget.is_some_and(|b| self.started.elapsed() >= b)
    }

    /// Called after each step with the steps done: once, at the end of the first epoch or
    /// after [`FIT_AFTER`], the number of steps that fit the budget at the pace so far.
    fn fit(&mut self, done: usize, end_of_epoch: bool) -> Option<usize> {
        let now = Instant::now();
        let Some(first) = self.first_step else {
            self.first_step = Some(now);
            return None;
        };
        if self.fitted || !(end_of_epoch || now - self.started >= FIT_AFTER) {
            return None;
        }
        self.fitted = true;
        let left = self.budget?.saturating_sub(now - self.started);
        Some(steps_that_fit(done, (now - first) / (done - 1) as u32, left))
    }
}

/// Steps in all when `done` have run, each further one takes `pace`, and `left` remains: at
/// least one more.
fn steps_that_fit(done: usize, pace: Duration, left: Duration) -> usize {
    let more = left.as_secs_f64() / pace.as_secs_f64().max(1e-9);
    done + (more.floor() as usize).max(1)
}

/// What training needs before its first step: the configuration it runs with, the fitted
/// tokenizer, the prepared table (missing-value policies applied; the stage's row indices
/// are its rows), its encoded records and the gradient stage.
pub(crate) struct Setup {
    pub config: TrainConfig,
    pub tokenizer: Tokenizer,
    pub table: Table,
    pub data: Encoded,
    pub stage: Stage,
}

/// How a step's gradient is formed.
pub(crate) enum Stage {
    /// The mean gradient of a shuffled mini-batch.
    Plain(Plain),
    /// DP-SGD's noisy, clipped sum.
    Private(Box<Private>),
}

/// Plain training: the records split into training and validation rows.
pub(crate) struct Plain {
    training: Vec<usize>,
    validation: Vec<usize>,
    /// The best epoch's validation loss and weights so far.
    best: Option<(f64, Vec<Tensor>)>,
}

/// DP-SGD training (see [`crate::dp`]). No validation split and no checkpoint selection: both
/// would look at private rows outside the accountant, so every unit trains and the model is the
/// moving average of the weights over the last steps (a function of the DP-SGD iterates only).
pub(crate) struct Private {
    plan: Plan,
    /// Each privacy unit's rows.
    members: Vec<Vec<usize>>,
    /// The privacy unit's name for the report (`row` or a column).
    unit: String,
    /// The secret randomness of sampling and noise.
    random: Randomness,
    /// Every mechanism run so far: the releases before training, then each step.
    ledger: Ledger,
    max_rows_per_unit: usize,
    deterministic: bool,
    /// The moving average of the weights written as the model (none: the last weights).
    average: Option<WeightAverage>,
}

impl Setup {
    /// The setup `config` asks for: plain or private.
    pub fn new(table: &Table, config: &TrainConfig) -> Result<Setup> {
        if config.privacy.dp {
            Setup::private(table, config)
        } else {
            Setup::plain(table, config)
        }
    }

    /// Plain training: schema inference, the tokenizer and a seeded validation split.
    fn plain(table: &Table, config: &TrainConfig) -> Result<Setup> {
        let (table, schema) = prepare(table, &config.schema_settings())?;
        let tokenizer = Tokenizer::fit(&table, &schema, &config.tokenizer_settings())?;
        let data = tokenizer.encode(&table, &config.tokenizer_settings())?;
        let tc = &config.training;
        let mut order: Vec<usize> = (0..data.rows).collect();
        Rng::new(tc.seed, 1).shuffle(&mut order);
        let validation_rows = (data.rows as f64 * tc.validation_split).round() as usize;
        let (validation, training) = order.split_at(validation_rows.min(data.rows - 1));
        let stage = Stage::Plain(Plain {
            training: training.to_vec(),
            validation: validation.to_vec(),
            best: None,
        });
        Ok(Setup { config: config.clone(), tokenizer, table, data, stage })
    }

    /// DP training: the schema and the tokenizer's statistics from noisy releases over one row
    /// per unit, both recorded in the ledger, then the plan of DP-SGD steps.
    fn private(table: &Table, config: &TrainConfig) -> Result<Setup> {
        let mut config = private_config(config);
        // The releases' noise, as the model file records it.
        let (schema_noise, statistics_noise) = dp_defaults::release_noise(&config.privacy)?;
        config.privacy.schema_noise = Some(schema_noise);
        config.privacy.statistics_noise = Some(statistics_noise);
        let (seed, pc) = (config.training.seed, &config.privacy);
        let mut random = Randomness::new(pc.deterministic_noise, seed);
        // The schema and the number of units: one noisy release over each unit's first row.
        let (members, unit) = privacy_units(table, pc.privacy_unit.as_deref())?;
        if members.len() < 2 {
            return Err(Error::Data(format!(
                "DP training needs at least 2 privacy units, got {}",
                members.len()
            )));
        }
        let first_rows: Vec<usize> = members.iter().map(|m| m[0]).collect();
        let released = private_schema::release(
            table,
            &config.schema_settings(),
            &first_rows,
            schema_noise,
            &mut random,
        )?;
        let schema = released.schema;
        config.refuse_unaccounted(Some(&schema))?;
        // Every later choice sees the noisy count only (it fixes q, the steps, delta, noise).
        let units = (released.units.round() as usize).max(2);
        dp_defaults::apply(&mut config, units);
        let pc = &config.privacy;
        let table = schema::drop_missing(
            &private_schema::conform(table, &schema, &config.schema_settings())?,
            &schema,
            &config.schema_settings(),
        )?;
        let (members, _) = privacy_units(&table, pc.privacy_unit.as_deref())?;
        // The tokenizer's statistics: one noisy release, one row per unit, composed in below.
        let columns = schema
            .columns
            .iter()
            .filter(|c| !matches!(c.kind, ColumnKind::Identifier { .. }))
            .count();
        let selection_delta = pc.delta.resolve(units) * SELECTION_DELTA_SHARE;
        let first_rows: Vec<usize> = members.iter().map(|m| m[0]).collect();
        let mut release = Release::new(&mut random, statistics_noise, columns, selection_delta);
        let tokenizer = Tokenizer::fit_private(
            &table,
            &schema,
            &config.tokenizer_settings(),
            &first_rows,
            &mut release,
        )?;
        let data = tokenizer.encode(&table, &config.tokenizer_settings())?;
        let prior = vec![
            GaussianEvent { sampling_rate: 1.0, noise_multiplier: schema_noise, steps: 1 },
            GaussianEvent { sampling_rate: 1.0, noise_multiplier: statistics_noise, steps: 1 },
        ];
        let plan = Plan::new(&config, units, prior, selection_delta)?;
        let ledger = plan.ledger()?;
        // Recorded in the model file as chosen.
        let decay = *config
            .privacy
            .weight_average_decay
            .get_or_insert(dp_defaults::weight_average_decay(plan.steps));
        let (tc, pc) = (&config.training, &config.privacy);
        let private = Private {
            members,
            unit,
            // Sampling and noise restart from the seed (only matters with seeded noise).
            random: Randomness::new(pc.deterministic_noise, tc.seed),
            ledger,
            max_rows_per_unit: pc.max_rows_per_unit,
            deterministic: pc.deterministic_noise,
            plan,
            average: (decay > 0.0).then(|| WeightAverage::new(decay)),
        };
        Ok(Setup { stage: Stage::Private(Box::new(private)), config, tokenizer, table, data })
    }
}

impl Stage {
    fn is_private(&self) -> bool {
        matches!(self, Stage::Private(_))
    }

    /// The summary before the first step. Under DP the exact row count and the losses are
    /// facts about the data: not stored (the privacy report holds the noisy unit count).
    fn summary(&self, learner: &dyn Learner) -> TrainingSummary {
        let mut summary = TrainingSummary {
            tokens_per_row: learner.tokens_per_record(),
            parameters: learner.variables().iter().map(|v| v.elem_count()).sum(),
            stop_reason: "max_epochs".into(),
            ..TrainingSummary::default()
        };
        match self {
            Stage::Plain(p) => {
                summary.rows = p.training.len() + p.validation.len();
                summary.training_rows = p.training.len();
                summary.validation_rows = p.validation.len();
            }
            Stage::Private(p) if p.plan.capped => summary.stop_reason = "max_epsilon".into(),
            Stage::Private(_) => {}
        }
        summary
    }

    /// All steps to take, and steps per epoch.
    fn steps(&self, tc: &TrainingConfig) -> (usize, usize) {
        match self {
            Stage::Plain(p) => {
                let per_epoch = p.training.len().div_ceil(tc.batch_size());
                (per_epoch * tc.epochs_for(per_epoch), per_epoch)
            }
            Stage::Private(p) => (p.plan.steps, p.plan.steps_per_epoch),
        }
    }

    fn start_epoch(&mut self, seed: u64, epoch: usize) {
        if let Stage::Plain(p) = self {
            Rng::new(seed, 1000 + epoch as u64).shuffle(&mut p.training);
        }
    }

    /// Step `s`'s records, cut into shards: the epoch's `s`-th mini-batch, or a Poisson sample
    /// of the privacy units drawn with the secret randomness.
    fn shards(&mut self, s: usize, batch_size: usize) -> Vec<Shard> {
        match self {
            Stage::Plain(p) => {
                let rows = p.training.chunks(batch_size).nth(s).unwrap_or_default();
                Shard::split(rows)
            }
            Stage::Private(p) => {
                let q = p.plan.sampling_rate;
                let chosen = sample_units(&p.members, q, p.max_rows_per_unit, &mut p.random);
                let all: Vec<usize> = (0..chosen.len()).collect();
                Shard::of_units(&all, &chosen)
            }
        }
    }

    /// The step's loss (nats per token) and the gradient the optimizer applies: the mean
    /// gradient per token, or under DP the clipped sum plus `N(0, σ²C²)` noise over the
    /// expected batch size, the step recorded in the ledger.
    fn gradients(
        &mut self,
        learner: &dyn Learner,
        shards: &[Shard],
        seed: u64,
        step: usize,
    ) -> Result<(f64, Vec<Tensor>)> {
        match self {
            Stage::Plain(_) => {
                let (loss_sum, tokens, grads) = learner.gradients(shards, seed, step, None)?;
                let mean = 1.0 / tokens.max(1.0);
                let grads = grads
                    .iter()
                    .map(|g| g.affine(mean, 0.0))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Ok((loss_sum * mean, grads))
            }
            Stage::Private(p) => {
                let c = p.plan.max_grad_norm;
                let std = p.plan.noise_multiplier * c;
                let shapes: Vec<Shape> =
                    learner.variables().iter().map(|v| v.shape().clone()).collect();
                let random = &mut p.random;
                // The noise does not depend on the gradients: draw it alongside the shards.
                let (clipped, noise) = rayon::join(
                    || learner.gradients(shards, seed, step, Some(c)),
                    || random.noise(&shapes, std, learner.device()),
                );
                let ((loss_sum, tokens, clipped), noise) = (clipped?, noise?);
                let scale = 1.0 / p.plan.expected_batch;
                let grads = clipped
                    .iter()
                    .zip(&noise)
                    .map(|(g, n)| (g + n)?.affine(scale, 0.0))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                p.ledger.step(p.plan.step_event())?;
                Ok((loss_sum * (1.0 / tokens.max(1.0)), grads))
            }
        }
    }

    /// At the end of an epoch (or when time runs out): the validation loss, or under DP the
    /// epsilon spent so far, from the ledger.
    fn measure(
        &self,
        learner: &dyn Learner,
        batch_size: usize,
    ) -> Result<(Option<f64>, Option<f64>)> {
        match self {
            Stage::Plain(p) if p.validation.is_empty() => Ok((None, None)),
            Stage::Plain(p) => Ok((Some(learner.mean_loss(&p.validation, batch_size)?), None)),
            Stage::Private(p) => {
                let report = p.plan.report(&p.ledger, &p.unit, p.deterministic)?;
                Ok((None, Some(report.epsilon)))
            }
        }
    }

    /// Book-keeping after epoch `epoch`; true when training should stop (early stopping).
    fn end_epoch(
        &mut self,
        epoch: usize,
        mean_loss: f64,
        patience: usize,
        learner: &dyn Learner,
        summary: &mut TrainingSummary,
    ) -> Result<bool> {
        let Stage::Plain(p) = self else { return Ok(false) };
        summary.train_loss.push(mean_loss);
        // Keep the weights of the best epoch: by validation loss, or the last one without a
        // split (every epoch counts as the best so far then: no early stopping).
        let score = if p.validation.is_empty() {
            f64::NEG_INFINITY
        } else {
            summary.validation_loss.last().copied().unwrap_or(f64::INFINITY)
        };
        if p.validation.is_empty() || p.best.as_ref().is_none_or(|(b, _)| score < *b) {
            let snapshot = learner
                .variables()
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<Vec<_>>>()?;
            p.best = Some((score, snapshot));
            summary.best_epoch = epoch;
        } else if epoch - summary.best_epoch >= patience {
            summary.stop_reason = "early_stopping".into();
            return Ok(true);
        }
        Ok(false)
    }

    /// After the last step: the best epoch's weights restored, or under DP the weight average
    /// written and the privacy statement computed from the ledger.
    fn finish(&mut self, learner: &dyn Learner, summary: &mut TrainingSummary) -> Result<()> {
        match self {
            Stage::Plain(p) => {
                if let Some((_, snapshot)) = p.best.take() {
                    for (var, saved) in learner.variables().into_iter().zip(snapshot) {
                        var.set(&saved)?;
                    }
                }
            }
            Stage::Private(p) => {
                if let Some(average) = &p.average {
                    average.apply(learner.variables().into_iter())?;
                }
                summary.best_epoch = summary.epochs;
                summary.privacy = Some(p.plan.report(&p.ledger, &p.unit, p.deterministic)?);
            }
        }
        Ok(())
    }
}

/// Least relative fall of the validation loss over its recent epochs for it to count as still
/// falling: a converged model's loss moves by less than this from epoch to epoch.
const STILL_FALLING: f64 = 1e-3;

/// Whether training stopped at `max_epochs` while the validation loss was still falling: the
/// last epoch was the best, and the loss fell by more than [`STILL_FALLING`] of itself over the
/// recent epochs ([`TrainingSummary::recent_validation_change`]). Early stopping, the time
/// budget and `max_epsilon` are stops the user asked for; without validation losses (no split,
/// or DP) there is no trend to judge.
fn still_improving(summary: &TrainingSummary) -> bool {
    summary.stop_reason == "max_epochs"
        && summary.best_epoch == summary.epochs
        && summary
            .recent_validation_change()
            .is_some_and(|(_, first, last)| first - last > STILL_FALLING * first.abs())
}

/// Stops training on a loss that is not finite: the weights have diverged, and a model trained
/// on would be written with losses and weights that cannot be read back.
fn check_loss(loss: f64, epoch: usize, step: usize, learning_rate: f64) -> Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    Err(Error::Data(format!(
        "training diverged: the loss is {loss}, not finite, at epoch {epoch}, step {step}; \
         lower training.learning_rate (now {learning_rate:e})"
    )))
}

/// Refuses trained weights that are not all finite (the last step can diverge after its loss
/// was computed).
fn check_weights(learner: &dyn Learner, learning_rate: f64) -> Result<()> {
    for (i, var) in learner.variables().into_iter().enumerate() {
        let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "training diverged: parameter {i} holds values that are not finite; lower \
                 training.learning_rate (now {learning_rate:e})"
            )));
        }
    }
    Ok(())
}

/// Share of delta spent on partition selection of category vocabularies (the rest goes to the
/// accountant).
const SELECTION_DELTA_SHARE: f64 = 0.1;

/// The configuration DP training runs with: the privacy-unit column becomes an identifier (its
/// values are never learned). [`TrainConfig::validate`] has refused what DP cannot account for.
fn private_config(config: &TrainConfig) -> TrainConfig {
    let mut config = config.clone();
    if let Some(unit) = &config.privacy.privacy_unit {
        let column = config.columns.entry(unit.clone()).or_default();
        column.kind.get_or_insert(KindName::Identifier);
    }
    config
}

/// The privacy units: each unit's rows, and the unit's name for the report. Without a unit
/// column every row is a unit; with one, all rows sharing its value (missing included) are.
fn privacy_units(table: &Table, column: Option<&str>) -> Result<(Vec<Vec<usize>>, String)> {
    let Some(name) = column else {
        return Ok(((0..table.num_rows()).map(|r| vec![r]).collect(), "row".into()));
    };
    let c = table.column_index(name).ok_or_else(|| {
        Error::Config(format!(
            "privacy.privacy_unit names column '{name}', which the data does not have (columns: {})",
            table.column_names().join(", ")
        ))
    })?;
    let mut index = std::collections::HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for r in 0..table.num_rows() {
        let u = *index.entry(table.cell(r, c)).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[u].push(r);
    }
    Ok((members, name.to_string()))
}

/// One step's batch under DP: a Poisson sample of the units at rate `q`, each with its rows,
/// and a unit with more than `cap` rows with a random `cap` of them, drawn with the secret
/// randomness, so that its clipped gradient is bounded as any unit's is.
fn sample_units(
    members: &[Vec<usize>],
    q: f64,
    cap: usize,
    random: &mut Randomness,
) -> Vec<Vec<usize>> {
    let sampled = random.sample(members.len(), q);
    sampled.iter().map(|&u| random.subset(&members[u], cap)).collect()
}

/// The learning rate after `share` of all planned steps: a cosine decay from `base` to a tenth
/// of it (Loshchilov & Hutter 2017, SGDR, without restarts). Small late steps let the model
/// settle instead of oscillating around the optimum, which sharpens the learned marginals.
fn cosine_learning_rate(base: f64, share: f64) -> f64 {
    let floor = 0.1 * base;
    floor + 0.5 * (base - floor) * (1.0 + (std::f64::consts::PI * share.clamp(0.0, 1.0)).cos())
}

/// The records one thread handles in a step, with their privacy units under DP.
pub(crate) struct Shard {
    /// The records (rows of the prepared table).
    pub rows: Vec<usize>,
    /// Under DP, each record's unit (local to the shard, `0..`), in `rows`' order.
    pub units: Option<Vec<usize>>,
}

impl Shard {
    /// Cuts the sampled privacy units into [`SHARDS`] shards, each with its units' rows.
    fn of_units(sampled: &[usize], members: &[Vec<usize>]) -> Vec<Shard> {
        let len = sampled.len().div_ceil(SHARDS).max(1);
        sampled
            .chunks(len)
            .map(|units| {
                let mut shard = Shard { rows: Vec::new(), units: Some(Vec::new()) };
                for (local, &u) in units.iter().enumerate() {
                    shard.rows.extend(&members[u]);
                    if let Some(ids) = shard.units.as_mut() {
                        ids.extend(std::iter::repeat_n(local, members[u].len()));
                    }
                }
                shard
            })
            .collect()
    }

    /// Cuts a batch into [`SHARDS`] fixed shards of consecutive records.
    fn split(rows: &[usize]) -> Vec<Shard> {
        let len = rows.len().div_ceil(SHARDS).max(1);
        rows.chunks(len).map(|c| Shard { rows: c.to_vec(), units: None }).collect()
    }
}

/// The LSTM as the loop's [`Learner`]: its records' tokens, each step in the column order
/// [`Orders`] gives it (validation in the table's order, the one unconditional generation
/// takes).
struct LstmLearner<'a> {
    batcher: Batcher<'a>,
    model: &'a LstmModel,
    orders: Orders,
}

impl Learner for LstmLearner<'_> {
    fn variables(&self) -> Vec<&Var> {
        self.model.params().iter().map(|(_, v)| v).collect()
    }

    fn device(&self) -> &Device {
        self.model.device()
    }

    fn tokens_per_record(&self) -> usize {
        self.batcher.data.len
    }

    fn gradients(
        &self,
        shards: &[Shard],
        seed: u64,
        step: usize,
        clip: Option<f64>,
    ) -> Result<(f64, f64, Vec<Tensor>)> {
        let order = self.orders.for_step(step);
        self.batcher.gradients(self.model, shards, seed, step, clip, &order)
    }

    fn mean_loss(&self, rows: &[usize], batch_size: usize) -> Result<f64> {
        self.batcher.mean_loss(self.model, rows, batch_size, &self.orders.fixed())
    }
}

/// Builds model inputs from encoded records.
struct Batcher<'a> {
    data: &'a Encoded,
    tokenizer: &'a Tokenizer,
    start: u32,
}

impl Batcher<'_> {
    /// `(inputs, targets, weights)` of the records `rows` with their fields in `order`,
    /// row-major: inputs are the global ids of each position's previous token (the start token
    /// first), targets the local ids.
    fn columns(&self, rows: &[usize], order: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let len = self.data.len;
        let fields = self.tokenizer.fields();
        let mut inputs = Vec::with_capacity(rows.len() * len);
        let mut targets = Vec::with_capacity(rows.len() * len);
        let mut weights = Vec::with_capacity(rows.len() * len);
        for &r in rows {
            let tokens = &self.data.tokens[r * len..(r + 1) * len];
            let row_weights = &self.data.weights[r * len..(r + 1) * len];
            inputs.push(self.start);
            for w in order.windows(2) {
                let f = w[0] as usize;
                inputs.push(fields[f].offset + tokens[f]);
            }
            targets.extend(order.iter().map(|&f| tokens[f as usize]));
            weights.extend(order.iter().map(|&f| row_weights[f as usize]));
        }
        (inputs, targets, weights)
    }

    /// Summed loss, weighted token count and gradients of the records `shards` (each a list of
    /// records, optionally with each record's privacy unit), computed on the shards at once.
    ///
    /// The shards are fixed by the caller and each has its own dropout stream; their gradients
    /// are summed in shard order, so the result does not depend on how many threads ran them.
    /// With `clip`, each unit's gradient is clipped before summing (units never span shards).
    fn gradients(
        &self,
        model: &LstmModel,
        shards: &[Shard],
        seed: u64,
        step: usize,
        max_norm: Option<f64>,
        order: &[u32],
    ) -> Result<(f64, f64, Vec<Tensor>)> {
        let run = |(k, shard): (usize, &Shard)| -> Result<Option<Gradients>> {
            if shard.rows.is_empty() {
                return Ok(None);
            }
            let (inputs, targets, weights) = self.columns(&shard.rows, order);
            let batch = Batch { inputs: &inputs, targets: &targets, weights: &weights, order };
            let mut dropout = Rng::new(seed, 3 + (step * SHARDS + k) as u64);
            let clip = max_norm.map(|max_norm| Clip { max_norm, units: shard.units.as_deref() });
            Ok(Some(backprop::gradients(model, &batch, Some(&mut dropout), clip.as_ref())?))
        };
        let results: Vec<Result<Option<Gradients>>> =
            shards.par_iter().enumerate().map(run).collect();
        let (mut loss, mut tokens) = (0.0, 0.0);
        let mut sum: Option<Vec<Tensor>> = None;
        for result in results {
            let Some(g) = result? else { continue };
            loss += g.loss;
            tokens += g.tokens;
            sum = Some(match sum {
                None => g.grads,
                Some(acc) => acc
                    .iter()
                    .zip(&g.grads)
                    .map(|(a, b)| a + b)
                    .collect::<candle_core::Result<Vec<_>>>()?,
            });
        }
        let sum = match sum {
            Some(sum) => sum,
            None => model
                .params()
                .iter()
                .map(|(_, v)| v.zeros_like())
                .collect::<candle_core::Result<_>>()?,
        };
        Ok((loss, tokens, sum))
    }

    /// Mean loss per weighted token over `rows` with their fields in `order`, without dropout.
    fn mean_loss(
        &self,
        model: &LstmModel,
        rows: &[usize],
        batch_size: usize,
        order: &[u32],
    ) -> Result<f64> {
        let (mut total, mut count) = (0.0, 0.0);
        for chunk in rows.chunks(batch_size) {
            let (inputs, targets, weights) = self.columns(chunk, order);
            let batch = Batch { inputs: &inputs, targets: &targets, weights: &weights, order };
            let (loss, tokens) = backprop::loss(model, &batch)?;
            total += loss;
            count += tokens;
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
    fn a_sampled_unit_takes_part_with_at_most_cap_of_its_rows() {
        // One unit of 100 rows and 50 units of 2: with q = 1 every unit is in every batch.
        let mut members = vec![(0..100).collect::<Vec<usize>>()];
        members.extend((0..50).map(|i| vec![100 + 2 * i, 101 + 2 * i]));
        let mut random = Randomness::new(true, 3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let batch = sample_units(&members, 1.0, 8, &mut random);
            assert_eq!(batch.len(), 51);
            assert_eq!(batch[0].len(), 8, "{:?}", batch[0]);
            assert!(batch[0].windows(2).all(|w| w[0] < w[1] && w[1] < 100), "{:?}", batch[0]);
            assert_eq!(&batch[1..], &members[1..]);
            seen.extend(batch[0].iter().copied());
        }
        // The big unit's subset changes from step to step (20 draws of 8 cover most of 100).
        assert!(seen.len() > 60, "{} rows seen", seen.len());
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

    /// A summary of as many epochs as `validation_loss` holds.
    fn summary(stop_reason: &str, best_epoch: usize, validation_loss: &[f64]) -> TrainingSummary {
        TrainingSummary {
            epochs: validation_loss.len(),
            best_epoch,
            stop_reason: stop_reason.into(),
            validation_loss: validation_loss.to_vec(),
            ..TrainingSummary::default()
        }
    }

    #[test]
    fn still_improving_needs_max_epochs_a_best_last_epoch_and_a_real_fall() {
        let falling = [2.0, 1.5, 1.3, 1.2];
        assert_eq!(
            summary("max_epochs", 4, &falling).recent_validation_change(),
            Some((2, 1.5, 1.2))
        );
        assert!(still_improving(&summary("max_epochs", 4, &falling)));
        // Two epochs measured: the trend is over the last one.
        assert!(still_improving(&summary("max_epochs", 2, &[2.0, 1.9])));
        // Stops the user asked for, or a loss that no longer falls.
        assert!(!still_improving(&summary("early_stopping", 4, &falling)));
        assert!(!still_improving(&summary("time_limit", 4, &falling)));
        assert!(!still_improving(&summary("max_epochs", 3, &[2.0, 1.5, 1.2, 1.3])));
        assert!(!still_improving(&summary("max_epochs", 3, &[1.2, 1.2, 1.1999, 1.1998])));
        // One epoch, or no validation split: no trend.
        assert!(!still_improving(&summary("max_epochs", 1, &[2.0])));
        assert!(!still_improving(&TrainingSummary {
            epochs: 3,
            best_epoch: 3,
            ..summary("max_epochs", 3, &[])
        }));
    }

    /// 400 rows of two columns, the second a function of the first: quick to learn.
    fn patterned_table() -> Result<Table> {
        let names = vec!["a".to_string(), "b".to_string()];
        let a = (0..400).map(|i| Some((i % 7).to_string())).collect();
        let b = (0..400).map(|i| Some(format!("v{}", i % 7 % 3))).collect();
        Table::from_columns(names, vec![a, b])
    }

    /// A small model in batches of 32 for `epochs` epochs (the patterned table's tests).
    fn quick_config(hidden: usize, epochs: usize) -> TrainConfig {
        let mut config = TrainConfig::default();
        config.model.hidden_size = hidden;
        config.training.batch_size = Some(32);
        config.training.max_epochs = Some(epochs);
        config
    }

    #[test]
    fn stopping_at_max_epochs_while_the_validation_loss_falls_is_recorded() -> Result<()> {
        let config = quick_config(16, 2);
        let model = train(&patterned_table()?, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let s = &model.metadata().summary;
        assert_eq!((s.epochs, s.best_epoch, s.stop_reason.as_str()), (2, 2, "max_epochs"));
        assert!(s.validation_loss[1] < s.validation_loss[0], "{:?}", s.validation_loss);
        assert!(s.still_improving, "{s:?}");
        Ok(())
    }

    #[test]
    fn the_steps_that_fit_follow_the_pace_and_add_at_least_one() {
        let secs = Duration::from_secs;
        assert_eq!(steps_that_fit(10, secs(2), secs(60)), 40);
        assert_eq!(steps_that_fit(10, Duration::from_millis(1500), secs(10)), 16);
        assert_eq!(steps_that_fit(10, secs(2), secs(0)), 11);
    }

    #[test]
    fn a_time_budget_shortens_the_plan_and_its_schedule_ends_within_it() -> Result<()> {
        let mut config = quick_config(16, 100_000);
        config.training.validation_split = 0.0;
        config.training.max_training_seconds = Some(1);
        let mut last = None;
        let started = Instant::now();
        let table = patterned_table()?;
        let model =
            train(&table, &config, &mut |p| last = Some(p.clone()), &AtomicBool::new(false))?;
        let s = &model.metadata().summary;
        assert!(s.time_bound && s.planned_epochs == 100_000, "{s:?}");
        assert!(s.epochs < 100_000 && started.elapsed() < Duration::from_secs(30), "{s:?}");
        let last = last.expect("progress was reported");
        // The plan shrank to what fits: its last step is the schedule's last.
        assert!(last.time_bound && last.max_epochs < 100_000, "{last:?}");
        if s.stop_reason == "max_epochs" {
            assert_eq!(last.total_steps, s.steps, "{s:?}");
        }
        Ok(())
    }

    #[test]
    fn early_stopping_is_not_stopping_while_the_loss_falls() -> Result<()> {
        // Values without a pattern: the validation loss soon rises as the model memorises.
        let names = vec!["a".to_string(), "b".to_string()];
        let mut rng = Rng::new(7, 0);
        let mut column = || (0..60).map(|_| Some((rng.next_u64() % 4).to_string())).collect();
        let table = Table::from_columns(names, vec![column(), column()])?;
        let mut config = TrainConfig::default();
        config.training.learning_rate = Some(0.03);
        config.training.batch_size = Some(8);
        config.training.validation_split = 0.3;
        config.training.max_epochs = Some(60);
        config.training.patience = 1;
        let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let s = &model.metadata().summary;
        assert_eq!(s.stop_reason, "early_stopping", "{s:?}");
        assert!(s.epochs < 60 && !s.still_improving, "{s:?}");
        Ok(())
    }

    #[test]
    fn progress_counts_steps_and_tokens_of_the_whole_run() -> Result<()> {
        let mut config = quick_config(8, 2);
        config.training.validation_split = 0.0;
        let mut seen = Vec::new();
        let model = train(
            &patterned_table()?,
            &config,
            &mut |p| seen.push((p.total_steps, p.tokens)),
            &AtomicBool::new(false),
        )?;
        let s = &model.metadata().summary;
        // 400 rows in batches of 32: 13 steps per epoch, every row once per epoch.
        assert!(seen.iter().all(|&(total, _)| total == 26), "{seen:?}");
        assert_eq!(seen.len(), 26);
        assert_eq!(seen.last().map(|&(_, t)| t), Some(2 * 400 * s.tokens_per_row));
        assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "{seen:?}");
        Ok(())
    }

    /// Mean loss per token of `table` under `model` with its fields in `order`.
    fn loss_in_order(model: &TrainedModel, table: &Table, order: &[u32]) -> Result<f64> {
        let settings = model.metadata().config.tokenizer_settings();
        let data = model.tokenizer().encode(table, &settings)?;
        let start = model.network()?.start_token();
        let batcher = Batcher { data: &data, tokenizer: model.tokenizer(), start };
        batcher.mean_loss(model.network()?, &(0..data.rows).collect::<Vec<_>>(), 256, order)
    }

    /// `b` is a function of `a`: a model trained on random column orders also predicts `a`
    /// from `b` (the order a generation conditioned on `b` takes), one trained in the table's
    /// order only does not; and the share it used is recorded.
    #[test]
    fn random_orders_teach_the_conditionals_of_other_orders() -> Result<()> {
        let table = patterned_table()?;
        let mut losses = Vec::new();
        for share in [0.0, 0.5] {
            let mut config = quick_config(32, 40);
            config.training.random_order_share = Some(share);
            let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
            let recorded = model.metadata().config.training.random_order_share;
            assert_eq!(recorded, Some(share));
            let fields = model.tokenizer().fields();
            let (a, b): (Vec<u32>, Vec<u32>) =
                (0..fields.len() as u32).partition(|&f| fields[f as usize].column == 0);
            let fixed = loss_in_order(&model, &table, &[a.clone(), b.clone()].concat())?;
            let reversed = loss_in_order(&model, &table, &[b, a].concat())?;
            losses.push((fixed, reversed));
        }
        let ((fixed_only, fixed_reversed), (any_fixed, any_reversed)) = (losses[0], losses[1]);
        assert!(any_reversed < 0.8 * fixed_reversed, "{losses:?}");
        assert!(any_fixed < 1.05 * fixed_only, "{losses:?}");
        Ok(())
    }

    #[test]
    fn without_a_validation_split_every_epoch_runs_and_the_last_is_kept() -> Result<()> {
        let names = vec!["a".to_string(), "b".to_string()];
        let column = |f: fn(usize) -> String| (0..40).map(|i| Some(f(i))).collect();
        let columns = vec![column(|i| (i % 7).to_string()), column(|i| format!("v{}", i % 3))];
        let table = Table::from_columns(names, columns)?;
        let mut config = TrainConfig::default();
        config.model.hidden_size = 8;
        config.training.validation_split = 0.0;
        config.training.max_epochs = Some(4);
        config.training.patience = 1;
        let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let s = &model.metadata().summary;
        assert_eq!((s.epochs, s.best_epoch, s.stop_reason.as_str()), (4, 4, "max_epochs"));
        // No validation loss: no trend to judge.
        assert!(!s.still_improving);
        Ok(())
    }
}
