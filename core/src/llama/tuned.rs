//! A LoRA-tuned pretrained decoder as the engine's second model: the base read from its
//! directory ([`Base`]), what the model file records of it ([`BaseInfo`]), its training through
//! the engine's loop ([`train_lora`]: the same setup, DP stage, ledger and summary as the
//! LSTM's) and the trained model ([`LoraModel`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::shape::Shape;
use super::text::{self, BaseTokenizer};
use super::{BaseTokens, Llama, LlamaConfig, LoraConfig, Precision, Projection, RecordGrammar};
use crate::artifact::TrainedModel;
use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::schema::Schema;
use crate::table::Table;
use crate::tokenizer::Tokenizer;
use crate::train::{self, Learner, Progress, Setup, Shard, Stage};

/// A pretrained model read from its directory: the decoder and its tokenizer.
pub struct Base {
    pub(crate) model: Llama,
    pub(crate) tokenizer: BaseTokenizer,
    dir: PathBuf,
}

impl Base {
    /// Reads the base `model.base_model` names (an error says how to name one when unset).
    pub fn load(model: &ModelConfig, device: &Device) -> Result<Base> {
        let dir = model.base_model.as_deref().ok_or_else(|| {
            Error::Config(
                "model.kind = \"lora\" needs the pretrained model's directory: set \
                 model.base_model (CLI: --base-model DIR)"
                    .into(),
            )
        })?;
        let precision = model.lora.as_ref().map(|l| l.precision).unwrap_or_default();
        Base::load_dir(dir, device, precision)
    }

    /// Reads the decoder (`config.json`, `*.safetensors`) of `dir` in `precision` on
    /// `device`, and its `tokenizer.json`.
    pub fn load_dir(dir: &Path, device: &Device, precision: Precision) -> Result<Base> {
        let model = Llama::load_as(dir, device, precision.dtype(device))?;
        let tokenizer = BaseTokenizer::load(dir)?;
        if tokenizer.vocab_size() > model.config().vocab_size {
            return Err(Error::BaseModel {
                path: dir.join("tokenizer.json"),
                message: format!(
                    "it has {} tokens, more than config.json's vocab_size {}",
                    tokenizer.vocab_size(),
                    model.config().vocab_size
                ),
            });
        }
        Ok(Base { model, tokenizer, dir: dir.to_path_buf() })
    }

    /// What a model file records of this base.
    pub fn info(&self) -> BaseInfo {
        let name = self.dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let config: serde_json::Value =
            serde_json::from_str(&self.model.config().to_json()).unwrap_or_default();
        BaseInfo {
            name: name.unwrap_or_else(|| self.dir.display().to_string()),
            checksum: self.model.fingerprint().to_string(),
            tokenizer_checksum: self.tokenizer.checksum().to_string(),
            config,
        }
    }
}

/// What a LoRA model file records of its base: its name (the directory's), the checksum of
/// its weights ([`Llama::fingerprint`]) and its shape (`config.json`'s keys that doppel
/// reads). Loading the adapters onto a base with another checksum is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseInfo {
    /// The base model's name (its directory's name when trained).
    pub name: String,
    /// `sha256:<hex>` over the base's weights.
    pub checksum: String,
    /// `sha256:<hex>` of the base's `tokenizer.json`: the token ids the adapters learned.
    pub tokenizer_checksum: String,
    /// The base's configuration, as `config.json` keys.
    pub config: serde_json::Value,
}

impl BaseInfo {
    /// The recorded configuration, checked as a `config.json` is.
    pub fn llama_config(&self) -> Result<LlamaConfig> {
        LlamaConfig::from_json(&self.config.to_string(), Path::new("the model file's base.config"))
    }
}

/// The adapters' tensor names and shapes for a base of `config` with `lora`, in
/// [`Llama::adapters`]' order: what a model file must hold.
pub(crate) fn adapter_shapes(config: &LlamaConfig, lora: &LoraConfig) -> Vec<(String, Vec<usize>)> {
    let shapes: std::collections::HashMap<String, Vec<usize>> =
        config.weight_shapes().into_iter().collect();
    let mut out = Vec::new();
    for l in 0..config.layers {
        for p in Projection::ALL.into_iter().filter(|p| lora.targets.contains(p)) {
            let weight = format!("model.layers.{l}.{}.weight", p.module());
            let (rows, cols) = match shapes.get(&weight).map(Vec::as_slice) {
                Some(&[rows, cols]) => (rows, cols),
                _ => continue,
            };
            let name = |m: &str| format!("model.layers.{l}.{}.{m}.weight", p.module());
            out.push((name("lora_A"), vec![lora.rank, cols]));
            out.push((name("lora_B"), vec![rows, lora.rank]));
        }
    }
    out
}

/// A trained LoRA model: the base with its adapters set.
pub struct LoraModel {
    pub(crate) base: Base,
    /// The base's tokens as the grammars see them, made on first use.
    token_bytes: OnceLock<Arc<BaseTokens>>,
    /// The record shapes generation decoded in (the plain one, steered rows'), made on first
    /// use (see [`LoraModel::grammar`]); at most [`MAX_GRAMMARS`].
    grammars: Mutex<HashMap<Shape, Arc<RecordGrammar>>>,
}

/// Record grammars a model keeps: a seeded generation makes one per seed row whose cells
/// differ, each holding the allowed tokens of the states its records met.
const MAX_GRAMMARS: usize = 64;

impl LoraModel {
    /// The base with adapters of `lora` set from `tensors` (by PEFT name), after checking that
    /// the base is the one `info` records.
    pub(crate) fn attach(
        mut base: Base,
        info: &BaseInfo,
        lora: &LoraConfig,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<LoraModel> {
        if base.model.fingerprint() != info.checksum {
            return Err(Error::BaseModel {
                path: base.dir.clone(),
                message: format!(
                    "its weights' checksum is {}, but the model was trained on '{}' with {}: \
                     pass the base it was trained on (--base-model DIR)",
                    base.model.fingerprint(),
                    info.name,
                    info.checksum
                ),
            });
        }
        if base.tokenizer.checksum() != info.tokenizer_checksum {
            return Err(Error::BaseModel {
                path: base.dir.join("tokenizer.json"),
                message: format!(
                    "its checksum is {}, but the model was trained with '{}''s tokenizer {}: \
                     pass the base it was trained on (--base-model DIR)",
                    base.tokenizer.checksum(),
                    info.name,
                    info.tokenizer_checksum
                ),
            });
        }
        base.model.add_lora(lora, 0)?;
        for (name, var) in base.model.adapters() {
            let tensor = tensors
                .get(&name)
                .ok_or_else(|| Error::Data(format!("the model file has no tensor {name}")))?;
            var.set(&tensor.to_device(var.device())?)?;
        }
        LoraModel::new(base)
    }

    /// The trained model for generation: its adapters folded into the base's weights.
    fn new(mut base: Base) -> Result<LoraModel> {
        base.model.merge_adapters()?;
        Ok(LoraModel { base, token_bytes: OnceLock::new(), grammars: Mutex::default() })
    }

    /// The shape of `tokenizer`'s records over the base's tokens (made once, then shared by
    /// every generation from this model).
    pub fn grammar(&self, tokenizer: &Tokenizer) -> Result<Arc<RecordGrammar>> {
        self.shaped_grammar(tokenizer, &Shape::plain(tokenizer.schema()))
    }

    /// The grammar of records of `shape` (see [`super::shape`]), made once per shape.
    pub(crate) fn shaped_grammar(
        &self,
        tokenizer: &Tokenizer,
        shape: &Shape,
    ) -> Result<Arc<RecordGrammar>> {
        if let Some(made) = self.grammars.lock().ok().and_then(|g| g.get(shape).cloned()) {
            return Ok(made);
        }
        let tokens = self
            .token_bytes
            .get_or_init(|| Arc::new(BaseTokens::new(self.base.tokenizer.token_bytes())));
        let grammar = RecordGrammar::shaped(tokenizer, tokens.clone(), shape)
            .map_err(|e| Error::Data(format!("the records' shape: {e}")))?;
        let grammar = Arc::new(grammar);
        if let Ok(mut grammars) = self.grammars.lock() {
            if grammars.len() >= MAX_GRAMMARS {
                grammars.clear();
            }
            grammars.insert(shape.clone(), grammar.clone());
        }
        Ok(grammar)
    }

    /// The decoder with its adapters.
    pub fn llama(&self) -> &Llama {
        &self.base.model
    }

    /// The base's tokenizer.
    pub fn tokenizer(&self) -> &BaseTokenizer {
        &self.base.tokenizer
    }

    /// The adapters' tensors by PEFT name (what the model file stores).
    pub(crate) fn tensors(&self) -> Vec<(String, Tensor)> {
        self.base.model.adapters().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect()
    }
}

/// Learning rate of LoRA training when `training.learning_rate` is unset (with or without
/// DP): the order PEFT's LoRA recipes use for Adam on adapters (LoRA's paper tuned 2e-4 to
/// 5e-4 on GPT-2 and RoBERTa).
pub const LORA_LEARNING_RATE: f64 = 5e-4;
/// Records per step of plain LoRA training when `training.batch_size` is unset.
pub const LORA_BATCH_SIZE: usize = 32;
/// Epochs of LoRA training when `training.max_epochs` is unset (plain or DP): a pretrained
/// model needs few passes, and each costs far more than the LSTM's.
pub const LORA_EPOCHS: usize = 3;
/// Positions in one forward and backward pass (a step's records are cut into passes of at most
/// this many, their gradients summed): bounds a step's memory whatever its batch size. A
/// 135M-parameter model keeps about 10 MB per position for its backward pass on the CPU
/// (BENCHMARKS.md, issue 16).
const TOKENS_PER_PASS: usize = 512;

/// The LoRA model's defaults for what the configuration leaves unset (before the DP plan is
/// made from them).
pub(crate) fn apply_defaults(config: &mut TrainConfig) {
    let tc = &mut config.training;
    tc.learning_rate.get_or_insert(LORA_LEARNING_RATE);
    tc.max_epochs.get_or_insert(LORA_EPOCHS);
    // As the LSTM's: records with some columns first teach the conditionals that steered
    // generation writes first (see `training_record`).
    tc.random_order_share.get_or_insert(crate::config::DEFAULT_RANDOM_ORDER_SHARE);
    if !config.privacy.dp {
        tc.batch_size.get_or_insert(LORA_BATCH_SIZE);
    }
    config.model.lora.get_or_insert_with(LoraConfig::default);
}

/// Trains adapters on `base` through the engine's loop (see [`crate::train`]): each record of
/// the prepared table as JSON after the schema's prompt; without DP several records share a
/// sequence, under DP each is its own (the unit DP protects).
pub(crate) fn train_lora(
    setup: Setup,
    mut base: Base,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<TrainedModel> {
    let Setup { config, tokenizer, table, mut stage, .. } = setup;
    super::shape::check_constraints(tokenizer.schema(), &config.constraints)?;
    let lora = config.model.lora.clone().unwrap_or_default();
    base.model.add_lora(&lora, config.training.seed)?;
    // A GPU draws dropout masks with its own generator (see `lora::dropout`): seeded here, so
    // that a run repeats on its device. The CPU draws from the engine's seeded streams.
    if !base.model.device().is_cpu() {
        base.model.device().set_seed(config.training.seed)?;
    }
    let prompt = text::prompt(tokenizer.schema());
    let head = base.tokenizer.encode(&prompt)?;
    let most = lora.max_record_tokens;
    let share = config.training.random_order_share.unwrap_or(0.0);
    let bodies = (0..table.num_rows())
        .map(|r| {
            let first = record_first(tokenizer.schema(), share, config.training.seed, r);
            let record = training_record(&tokenizer, &table, r, first.as_deref());
            let body = base.tokenizer.encode(&record)?;
            if body.len() > most {
                return Err(Error::Data(format!(
                    "record {} takes {} of the base's tokens as JSON, over \
                     model.lora.max_record_tokens = {most}: raise it",
                    r + 1,
                    body.len()
                )));
            }
            Ok(body)
        })
        .collect::<Result<Vec<_>>>()?;
    let len = head.len() + most;
    if len > base.model.config().max_positions {
        return Err(Error::Config(format!(
            "the prompt ({} tokens) and model.lora.max_record_tokens ({most}) exceed the base's \
             {} positions: lower model.lora.max_record_tokens",
            head.len(),
            base.model.config().max_positions
        )));
    }
    let private = matches!(stage, Stage::Private(_));
    let mean = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len().max(1);
    let learner = LoraLearner {
        model: &base.model,
        head,
        bodies,
        len,
        pack: !private,
        // Under DP the mean length is a fact about the records: the public bound instead.
        tokens_per_record: if private { most } else { mean },
    };
    let summary = train::run(&learner, &mut stage, &config.training, progress, cancel)?;
    let info = base.info();
    Ok(TrainedModel::lora(config, tokenizer, summary, info, LoraModel::new(base)?))
}

/// Which columns record `r` writes first (per schema column), when it is one of the share
/// `random_share` written in another order than the schema's (drawn as the LSTM's training
/// orders are, once per record: the record is tokenized once).
fn record_first(schema: &Schema, random_share: f64, seed: u64, r: usize) -> Option<Vec<bool>> {
    let columns = text::record_columns(schema, None);
    let picks = crate::order::draw_first(columns.len(), random_share, seed, r as u64)?;
    let mut first = vec![false; schema.columns.len()];
    columns.iter().zip(picks).for_each(|(&c, pick)| first[c] = pick);
    Some(first)
}

/// Record `r` of `table` as the model learns it: JSON with the columns marked in `first`
/// first (generation writes the columns it fixes first: see [`super::shape`]), the others in
/// the schema's order, without the identifier columns (regenerated, never learned), each
/// category outside the tokenizer's domain written as its rare bucket (as the LSTM sees it).
pub(crate) fn training_record(
    tokenizer: &Tokenizer,
    table: &Table,
    r: usize,
    first: Option<&[bool]>,
) -> String {
    let schema = tokenizer.schema();
    let cells: Vec<Option<&str>> = (0..schema.columns.len())
        .map(|c| {
            let cell = table.cell(r, c);
            match (cell, tokenizer.categories(c)) {
                (Some(value), Some((values, _))) if !values.iter().any(|v| v == value) => {
                    Some(tokenizer.rare_token())
                }
                _ => cell,
            }
        })
        .collect();
    text::record_json_in(schema, &cells, &text::record_columns(schema, first))
}

/// The LoRA model as the training loop's learner.
struct LoraLearner<'a> {
    model: &'a Llama,
    /// The prompt's ids.
    head: Vec<u32>,
    /// Each record's ids.
    bodies: Vec<Vec<u32>>,
    /// The longest sequence: the prompt and `model.lora.max_record_tokens`.
    len: usize,
    /// Several records per sequence (plain training).
    pack: bool,
    tokens_per_record: usize,
}

impl LoraLearner<'_> {
    /// The sequences of `rows` (packed or one each), as `(ids, mask)` of `[n, width]` where
    /// `width` is the longest one's length, and the number of target tokens (counted here, so
    /// that the device is not asked for it).
    fn batch(&self, rows: &[usize]) -> Result<(Tensor, Tensor, f64)> {
        let bodies: Vec<&[u32]> = rows.iter().map(|&r| self.bodies[r].as_slice()).collect();
        let (ids, mask, width) = text::pack_records(&self.head, &bodies, self.len, self.pack);
        let n = ids.len() / width.max(1);
        // Position 0 is never a target (nothing predicts it).
        let targets: f32 = mask.chunks(width.max(1)).flat_map(|row| row.iter().skip(1)).sum();
        let device = self.model.device();
        Ok((
            Tensor::from_vec(ids, (n, width), device)?,
            Tensor::from_vec(mask, (n, width), device)?,
            f64::from(targets),
        ))
    }

    /// The records cut into groups of one forward pass each, of at most [`TOKENS_PER_PASS`]
    /// positions counted as if each record had a sequence of its own (packing only lowers
    /// that), each record with its unit's index within its group: under DP a unit's rows stay
    /// in one group (so that its gradient is clipped whole); without units each record is its
    /// own.
    fn groups(&self, rows: &[usize], units: Option<&[usize]>) -> Vec<(Vec<usize>, Vec<usize>)> {
        let head = self.head.len();
        let mut groups = Vec::new();
        let mut current: (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        let mut longest = 0;
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            if let Some(u) = units {
                while j < rows.len() && u[j] == u[i] {
                    j += 1;
                }
            }
            let unit_longest = rows[i..j].iter().map(|&r| self.bodies[r].len()).max();
            let wider = longest.max(unit_longest.unwrap_or(0));
            let positions = (current.0.len() + j - i) * (head + wider);
            if !current.0.is_empty() && positions > TOKENS_PER_PASS {
                groups.push(std::mem::take(&mut current));
                longest = 0;
            }
            let local = current.1.last().map_or(0, |&l| l + 1);
            current.0.extend(&rows[i..j]);
            current.1.extend(std::iter::repeat_n(local, j - i));
            longest = longest.max(unit_longest.unwrap_or(0));
            i = j;
        }
        if !current.0.is_empty() {
            groups.push(current);
        }
        groups
    }
}

impl Learner for LoraLearner<'_> {
    fn variables(&self) -> Vec<&Var> {
        self.model.adapters().into_iter().map(|(_, v)| v).collect()
    }

    fn device(&self) -> &Device {
        self.model.device()
    }

    fn tokens_per_record(&self) -> usize {
        self.tokens_per_record
    }

    fn gradients(
        &self,
        shards: &[Shard],
        seed: u64,
        step: usize,
        clip: Option<f64>,
    ) -> Result<(f64, f64, Vec<Tensor>)> {
        let variables = self.variables();
        let mut sums: Vec<Tensor> =
            variables.iter().map(|v| v.zeros_like()).collect::<candle_core::Result<_>>()?;
        // The loss stays on the device until the step's end: one read per step, not per pass.
        let mut loss = Tensor::zeros((), DType::F32, self.model.device())?;
        let mut tokens = 0.0;
        let mut k = 0;
        for shard in shards {
            for (rows, units) in self.groups(&shard.rows, shard.units.as_deref()) {
                let (ids, mask, targets) = self.batch(&rows)?;
                tokens += targets;
                let grads = match clip {
                    Some(clip) => {
                        let clipped =
                            self.model.clipped_unit_gradients(&ids, &mask, clip, Some(&units))?;
                        loss = (loss + clipped.loss)?;
                        clipped.sums
                    }
                    None => {
                        let mut dropout = Rng::new(seed, 3 + (step * 4096 + k) as u64);
                        let (sum, _) = self.model.loss_sum(&ids, &mask, Some(&mut dropout))?;
                        loss = (loss + sum.detach())?;
                        let store = sum.backward()?;
                        variables
                            .iter()
                            .map(|v| match store.get(v.as_tensor()) {
                                Some(g) => Ok(g.detach()),
                                None => v.zeros_like(),
                            })
                            .collect::<candle_core::Result<Vec<_>>>()?
                    }
                };
                k += 1;
                for (sum, g) in sums.iter_mut().zip(&grads) {
                    *sum = (&*sum + g)?;
                }
            }
        }
        Ok((f64::from(loss.to_scalar::<f32>()?), tokens, sums))
    }

    fn mean_loss(&self, rows: &[usize], _batch_size: usize) -> Result<f64> {
        let mut total = Tensor::zeros((), DType::F32, self.model.device())?;
        let mut count = 0.0;
        for (group, _) in self.groups(rows, None) {
            let (ids, mask, targets) = self.batch(&group)?;
            total = (total + self.model.loss_sum(&ids, &mask, None)?.0)?;
            count += targets;
        }
        Ok(f64::from(total.to_scalar::<f32>()?) / count.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny random decoder with adapters whose `B` is not zero (so every adapter's gradient
    /// is).
    fn tiny() -> Result<Llama> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("a temporary directory", e))?;
        let config = LlamaConfig {
            model_type: "llama".into(),
            vocab_size: 40,
            hidden_size: 32,
            intermediate_size: 48,
            layers: 1,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_positions: 32,
            tie_word_embeddings: false,
            sliding_window: None,
        };
        super::super::write_random(dir.path(), &config, 3, 0.1)?;
        let mut model = Llama::load(dir.path(), &Device::Cpu)?;
        model.add_lora(&LoraConfig { rank: 4, dropout: 0.0, ..LoraConfig::default() }, 1)?;
        let mut rng = Rng::new(9, 0);
        for (name, var) in model.adapters() {
            if name.contains("lora_B") {
                let values: Vec<f32> =
                    (0..var.elem_count()).map(|_| (rng.normal() * 0.1) as f32).collect();
                var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
            }
        }
        Ok(model)
    }

    #[test]
    fn merged_adapters_give_the_adapted_models_logits() -> Result<()> {
        let mut model = tiny()?;
        let ids = Tensor::from_vec((0..20u32).collect::<Vec<_>>(), (2, 10), &Device::Cpu)?;
        let adapted = model.forward(&ids)?;
        model.merge_adapters()?;
        let merged = model.forward(&ids)?;
        let diff = (&adapted - &merged)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = adapted.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5 * scale.max(1.0), "merged logits differ by {diff} (of {scale})");
        // Merged once: merging again changes nothing.
        model.merge_adapters()?;
        assert_eq!(model.forward(&ids)?.to_vec3::<f32>()?, merged.to_vec3::<f32>()?);
        Ok(())
    }

    #[test]
    fn a_units_gradient_is_its_records_summed_then_clipped() -> Result<()> {
        let model = tiny()?;
        let (b, t) = (5, 10);
        let ids: Vec<u32> = (0..b * t).map(|i| ((i * 7 + i / 3) % 40) as u32).collect();
        let mask: Vec<f32> = (0..b * t).map(|i| if i % t < 3 { 0.0 } else { 1.0 }).collect();
        let ids = Tensor::from_vec(ids, (b, t), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu)?;
        // Each record alone, unclipped.
        let mut alone = Vec::new();
        for r in 0..b {
            let (ids, mask) = (ids.narrow(0, r, 1)?, mask.narrow(0, r, 1)?);
            alone.push(model.clipped_unit_gradients(&ids, &mask, 1e9, None)?.sums);
        }
        let units = [0, 0, 1, 2, 2];
        // Unclipped norms first, then a clip between them, so that some units are clipped.
        let free = model.clipped_unit_gradients(&ids, &mask, 1e9, Some(&units))?;
        let free_norms = free.norms.to_vec1::<f32>()?;
        assert_eq!(free_norms.len(), 3);
        let mut norms = free_norms.clone();
        norms.sort_by(f32::total_cmp);
        let clip = f64::from(norms[1]);
        let got = model.clipped_unit_gradients(&ids, &mask, clip, Some(&units))?;
        let mut want: Vec<Vec<f32>> = alone[0].iter().map(|g| vec![0.0; g.elem_count()]).collect();
        for (u, &free_norm) in free_norms.iter().enumerate() {
            let members: Vec<usize> = (0..b).filter(|&r| units[r] == u).collect();
            let sum: Vec<Vec<f32>> = (0..want.len())
                .map(|p| {
                    let mut acc = vec![0f32; want[p].len()];
                    for &r in &members {
                        let g = alone[r][p].flatten_all()?.to_vec1::<f32>()?;
                        acc.iter_mut().zip(g).for_each(|(a, x)| *a += x);
                    }
                    Ok(acc)
                })
                .collect::<Result<_>>()?;
            let norm = sum.iter().flatten().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            assert!((norm - f64::from(free_norm)).abs() < 1e-4 * norm, "unit {u}: {norm}");
            let factor = (clip / norm).min(1.0) as f32;
            for (w, s) in want.iter_mut().zip(sum) {
                w.iter_mut().zip(s).for_each(|(w, x)| *w += factor * x);
            }
        }
        let mut worst = 0f32;
        let mut scale = 0f32;
        for (g, w) in got.sums.iter().zip(&want) {
            for (a, b) in g.flatten_all()?.to_vec1::<f32>()?.iter().zip(w) {
                worst = worst.max((a - b).abs());
                scale = scale.max(b.abs());
            }
        }
        assert!(worst <= 1e-4 * scale, "largest difference {worst} of {scale}");
        Ok(())
    }
}
