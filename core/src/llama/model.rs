//! The Llama decoder on candle: RMSNorm, rotary position embeddings, grouped-query causal
//! attention and a SwiGLU MLP per block, as Hugging Face `transformers`' `LlamaForCausalLM`
//! computes them (a test compares logits with it to 1e-4).
//!
//! Written here rather than taken from `candle-transformers`, whose Llama keeps its linear
//! layers private inside one forward pass: LoRA adapters on chosen projections, and DP-SGD's
//! per-example norms of their gradients (from each adapter's input activations and output
//! gradients, as the LSTM's ghost norms are), need those layers in view. The building blocks
//! are candle-nn's (`Linear`, `Embedding`, `RmsNorm`, the fused `rope` and softmax kernels).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::Embedding;

use super::lora::{self, Adapted, LoraConfig, Pass, Projection};
use super::LlamaConfig;
use crate::error::Result;
use crate::rng::Rng;

/// RMSNorm's weight and epsilon.
struct Norm {
    weight: Tensor,
    eps: f64,
}

impl Norm {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let eps = self.eps as f32;
        Ok(match kernels {
            Kernels::Fused => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, eps)?,
            Kernels::Differentiable => candle_nn::ops::rms_norm_slow(x, &self.weight, eps)?,
        })
    }
}

/// Which kernels a pass uses: candle-nn's fused RMSNorm, rotary and softmax kernels have no
/// backward pass (their outputs cut the graph), so a pass that training differentiates uses
/// their composite forms (the same values to rounding; both are tested against
/// `transformers`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernels {
    Fused,
    Differentiable,
}

/// One decoder block's weights.
struct Block {
    input_norm: Norm,
    q: Adapted,
    k: Adapted,
    v: Adapted,
    o: Adapted,
    post_norm: Norm,
    gate: Adapted,
    up: Adapted,
    down: Adapted,
}

impl Block {
    fn projection(&self, p: Projection) -> &Adapted {
        match p {
            Projection::Q => &self.q,
            Projection::K => &self.k,
            Projection::V => &self.v,
            Projection::O => &self.o,
            Projection::Gate => &self.gate,
            Projection::Up => &self.up,
            Projection::Down => &self.down,
        }
    }

    fn projection_mut(&mut self, p: Projection) -> &mut Adapted {
        match p {
            Projection::Q => &mut self.q,
            Projection::K => &mut self.k,
            Projection::V => &mut self.v,
            Projection::O => &mut self.o,
            Projection::Gate => &mut self.gate,
            Projection::Up => &mut self.up,
            Projection::Down => &mut self.down,
        }
    }
}

/// DP-SGD's gradient of one batch (see [`Llama::clipped_gradients`]), left where it was
/// computed: reading it on the host is the caller's choice, once per step.
pub(crate) struct Clipped {
    /// The clipped gradients' sums, in [`Llama::adapters`]' order.
    pub sums: Vec<Tensor>,
    /// Each unit's norm before clipping (`[units]`).
    pub norms: Tensor,
    /// The summed next-token loss of the batch's targets (a scalar).
    pub loss: Tensor,
}

/// A loaded decoder (weights frozen: plain tensors, not variables).
pub struct Llama {
    config: LlamaConfig,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: Norm,
    /// The output layer's weight `[vocab, hidden]` (the embedding's when tied).
    lm_head: Tensor,
    device: Device,
    /// The checksum of the weights it was loaded from (see [`Llama::fingerprint`]).
    pub(super) fingerprint: String,
}

impl Llama {
    /// Builds the decoder from its weights by Hugging Face name (`get` returns each, already
    /// checked against `config`'s shapes and on one device, as f32).
    pub(crate) fn from_weights(
        config: &LlamaConfig,
        get: &mut dyn FnMut(&str) -> Result<Tensor>,
    ) -> Result<Llama> {
        let eps = config.rms_norm_eps;
        let adapted = Adapted::plain;
        let mut blocks = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let p = |name: &str| format!("model.layers.{l}.{name}.weight");
            blocks.push(Block {
                input_norm: Norm { weight: get(&p("input_layernorm"))?, eps },
                q: adapted(get(&p("self_attn.q_proj"))?),
                k: adapted(get(&p("self_attn.k_proj"))?),
                v: adapted(get(&p("self_attn.v_proj"))?),
                o: adapted(get(&p("self_attn.o_proj"))?),
                post_norm: Norm { weight: get(&p("post_attention_layernorm"))?, eps },
                gate: adapted(get(&p("mlp.gate_proj"))?),
                up: adapted(get(&p("mlp.up_proj"))?),
                down: adapted(get(&p("mlp.down_proj"))?),
            });
        }
        let embed_weight = get("model.embed_tokens.weight")?;
        let lm_head = match config.tie_word_embeddings {
            true => embed_weight.clone(),
            false => get("lm_head.weight")?,
        };
        let norm = Norm { weight: get("model.norm.weight")?, eps };
        let device = embed_weight.device().clone();
        Ok(Llama {
            config: config.clone(),
            embed: Embedding::new(embed_weight, config.hidden_size),
            blocks,
            norm,
            lm_head,
            device,
            fingerprint: String::new(),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The device its weights are on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The format of its frozen weights and activations (see [`super::Precision`]); logits
    /// and adapters are f32 whatever it is.
    pub fn dtype(&self) -> DType {
        self.embed.embeddings().dtype()
    }

    /// The checksum of the weights [`Llama::load`] read (`sha256:<hex>`, over each tensor's
    /// name, type, shape and bytes): a LoRA model file records it, and loading the adapters onto
    /// a base with another checksum is refused. Empty for a model not loaded from a directory.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The logits `[batch, positions, vocab]` after each position of `ids` (`[batch, positions]`
    /// token ids), attending causally from position 0.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_with(ids, &mut Pass::default(), Kernels::Fused)
    }

    /// The logits `[batch, positions, vocab]` after each position of `ids`, which continue the
    /// sequences `cache` holds (empty: they start them); their keys and values are added to
    /// it, so that generation feeds one new token per step instead of the whole sequence.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        self.forward_cached_with(ids, &mut Pass::default(), Kernels::Fused, Some(cache))
    }

    /// [`Llama::forward`] with `kernels`, the adapters run as `pass` says.
    fn forward_with(&self, ids: &Tensor, pass: &mut Pass, kernels: Kernels) -> Result<Tensor> {
        self.forward_cached_with(ids, pass, kernels, None)
    }

    fn forward_cached_with(
        &self,
        ids: &Tensor,
        pass: &mut Pass,
        kernels: Kernels,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let start = cache.as_ref().map_or(0, |c| c.len);
        let end = start + t;
        if let Some(window) = self.config.sliding_window.filter(|&w| end > w) {
            return Err(crate::Error::Data(format!(
                "{end} positions exceed the model's sliding window of {window}"
            )));
        }
        if end > self.config.max_positions {
            let most = self.config.max_positions;
            return Err(crate::Error::Data(format!("{end} positions exceed the model's {most}")));
        }
        let (cos, sin) = self.rotary(start, t)?;
        let (cos, sin) = (cos.to_dtype(self.dtype())?, sin.to_dtype(self.dtype())?);
        // One mask for every block, stacked for the query heads that share a key head.
        let group = self.config.heads / self.config.kv_heads;
        let mask = causal_mask(start, t, &self.device)?.repeat((1, 1, group, 1))?;
        let mut x = self.embed.forward(ids)?;
        if let Some(c) = cache.as_deref_mut() {
            if c.layers.len() != self.blocks.len() {
                c.layers = (0..self.blocks.len()).map(|_| new_layer_cache()).collect();
            }
            c.len = end;
        }
        for (l, block) in self.blocks.iter().enumerate() {
            let normed = block.input_norm.forward(&x, kernels)?;
            let kv = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let attended =
                self.attention(block, &normed, (&cos, &sin, &mask), pass, kernels, kv)?;
            x = (x + attended)?;
            let h = block.post_norm.forward(&x, kernels)?;
            let gate = candle_nn::ops::silu(&block.gate.forward(&h, pass)?)?;
            let up = block.up.forward(&h, pass)?;
            x = (x + block.down.forward(&(gate * up)?, pass)?)?;
        }
        let logits = lora::frozen_linear(&self.norm.forward(&x, kernels)?, &self.lm_head)?;
        Ok(logits.to_dtype(DType::F32)?)
    }

    /// The mean next-token loss (cross-entropy) over the positions `mask` marks: `ids`
    /// `[batch, positions]`, `mask` `[batch, positions]` (1 where the token at that position
    /// is a target, 0 where it is only context, such as a prompt; position 0 is never a
    /// target). With `rng`, the adapters' dropout applies (training).
    pub fn loss(&self, ids: &Tensor, mask: &Tensor, rng: Option<&mut Rng>) -> Result<Tensor> {
        let (sum, count) = self.loss_sum(ids, mask, rng)?;
        let count = count.to_scalar::<f32>()?;
        if count == 0.0 {
            return Err(crate::Error::Data("the loss mask marks no target".into()));
        }
        Ok((sum / f64::from(count))?)
    }

    /// The summed next-token loss over the positions `mask` marks and their count, both
    /// scalars on the model's device (see [`Llama::loss`]): what a training step's gradient is
    /// taken of, with the adapters' dropout drawn from `rng`.
    pub(crate) fn loss_sum(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        rng: Option<&mut Rng>,
    ) -> Result<(Tensor, Tensor)> {
        let mut pass = Pass { rng, tape: None };
        let (sums, counts) = self.target_log_probs(ids, mask, &mut pass)?;
        Ok((sums.sum_all()?.neg()?, counts.sum_all()?))
    }

    /// Per record: the sum of its targets' log-probabilities and their count (`[batch]` each).
    fn target_log_probs(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        pass: &mut Pass,
    ) -> Result<(Tensor, Tensor)> {
        let (b, t) = ids.dims2()?;
        if mask.dims() != [b, t] || t < 2 {
            return Err(crate::Error::Data(format!(
                "a loss over ids {:?} needs a mask of that shape and two positions (got {:?})",
                ids.dims(),
                mask.dims()
            )));
        }
        let logits = self.forward_with(&ids.narrow(1, 0, t - 1)?, pass, Kernels::Differentiable)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let targets = ids.narrow(1, 1, t - 1)?.unsqueeze(2)?;
        let picked = log_probs.gather(&targets.contiguous()?, 2)?.squeeze(2)?;
        let weights = mask.narrow(1, 1, t - 1)?.to_dtype(DType::F32)?;
        Ok(((picked * &weights)?.sum(1)?, weights.sum(1)?))
    }

    /// DP-SGD's gradient of the adapters for one batch: each record's gradient of its own
    /// mean next-token loss (the record is the unit of privacy), clipped to L2 norm `clip`
    /// over all adapters, summed over the batch. The per-record gradients come from one
    /// forward and one backward pass (see `lora::Tape`), not one pass per record. Returns the
    /// sums in [`Llama::adapters`]' order and each record's norm before clipping. No dropout
    /// (its masks would differ between a record alone and in a batch).
    pub fn clipped_gradients(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        clip: f64,
    ) -> Result<(Vec<Tensor>, Vec<f32>)> {
        let clipped = self.clipped_unit_gradients(ids, mask, clip, None)?;
        Ok((clipped.sums, clipped.norms.to_vec1()?))
    }

    /// [`Llama::clipped_gradients`] with records grouped into privacy units: `units[i]` is
    /// record `i`'s unit (`0..u`); each unit's gradient (the sum of its records') is clipped.
    /// Returns the sums and each unit's norm before clipping.
    pub(crate) fn clipped_unit_gradients(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        clip: f64,
        units: Option<&[usize]>,
    ) -> Result<Clipped> {
        let mut pass = Pass { rng: None, tape: Some(Vec::new()) };
        let (sums, counts) = self.target_log_probs(ids, mask, &mut pass)?;
        let loss = sums.sum_all()?.neg()?.detach();
        let per_record = (sums / counts.clamp(1f32, f32::MAX)?)?.neg()?;
        let grads = per_record.sum_all()?.backward()?;
        let b = ids.dim(0)?;
        // Records to units: a `[u, b]` 0/1 matrix summing each unit's records.
        let grouping = match units {
            Some(units) if units.len() != b => {
                return Err(crate::Error::Data(format!("{} unit ids for {b} records", units.len())))
            }
            Some(units) => {
                let u = units.iter().max().map_or(0, |m| m + 1);
                let mut onehot = vec![0f32; u * b];
                for (r, &unit) in units.iter().enumerate() {
                    onehot[unit * b + r] = 1.0;
                }
                Some(Tensor::from_vec(onehot, (u, b), &self.device)?)
            }
            None => None,
        };
        let mut pieces: Vec<(Var, Tensor)> = Vec::new();
        for tape in pass.tape.iter().flatten() {
            let (a, d_a, v_b, d_b) = tape.per_example(&grads)?;
            for (var, d) in [(a, d_a), (v_b, d_b)] {
                let d = match &grouping {
                    Some(m) => {
                        let dims = d.dims().to_vec();
                        let flat = m.matmul(&d.flatten_from(1)?)?;
                        flat.reshape([&[m.dim(0)?][..], &dims[1..]].concat())?
                    }
                    None => d,
                };
                pieces.push((var, d));
            }
        }
        let n = grouping.as_ref().map_or(Ok(b), |m| m.dim(0))?;
        let mut squares = Tensor::zeros(n, DType::F32, &self.device)?;
        for (_, d) in &pieces {
            squares = (squares + d.sqr()?.flatten_from(1)?.sum(1)?)?;
        }
        let norms = squares.sqrt()?;
        let factors = (norms.clone() + 1e-12)?.recip()?.affine(clip, 0.0)?.clamp(0f32, 1f32)?;
        let factors = factors.reshape((n, 1, 1))?;
        let mut out = Vec::new();
        for (name, var) in self.adapters() {
            let (_, d) = pieces.iter().find(|(v, _)| v.id() == var.id()).ok_or_else(|| {
                crate::Error::Data(format!("adapter {name} was not in the forward pass"))
            })?;
            // Detached: the per-record pieces are products of the pass's activations, and a
            // sum kept across passes would otherwise keep every pass's graph alive.
            out.push(d.broadcast_mul(&factors)?.sum(0)?.detach());
        }
        Ok(Clipped { sums: out, norms: norms.detach(), loss })
    }

    /// Adds fresh adapters of `config` to its target projections in every block (`A` drawn
    /// with `seed`, `B` zero: the model still computes its base's logits).
    pub fn add_lora(&mut self, config: &LoraConfig, seed: u64) -> Result<()> {
        config.validate()?;
        let mut rng = Rng::new(seed, 0);
        for block in &mut self.blocks {
            for &p in &config.targets {
                block.projection_mut(p).adapt(config, &mut rng)?;
            }
        }
        Ok(())
    }

    /// Folds every adapter into its projection's weight for inference (see `Adapted::merge`):
    /// generation then runs as fast as the base. The adapters stay readable (and saved), but
    /// the model is no longer trained: the training passes would not reach them.
    pub fn merge_adapters(&mut self) -> Result<()> {
        for block in &mut self.blocks {
            for p in Projection::ALL {
                block.projection_mut(p).merge()?;
            }
        }
        Ok(())
    }

    /// The adapters' variables by PEFT's names, blocks in order, then projections in
    /// [`Projection::ALL`]'s order, `lora_A` before `lora_B`: what training updates and the
    /// model file saves.
    pub fn adapters(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::new();
        for (l, block) in self.blocks.iter().enumerate() {
            for p in Projection::ALL {
                if let Some(a) = &block.projection(p).adapter {
                    let name = |m: &str| format!("model.layers.{l}.{}.{m}.weight", p.module());
                    out.push((name("lora_A"), &a.a));
                    out.push((name("lora_B"), &a.b));
                }
            }
        }
        out
    }

    /// Writes the adapters to a safetensors file.
    pub fn save_adapters(&self, path: &Path) -> Result<()> {
        lora::save(&self.adapters(), path)
    }

    /// Reads adapters written by [`Llama::save_adapters`] into this model's, which must have
    /// the same names and shapes (add them with [`Llama::add_lora`] first).
    pub fn load_adapters(&self, path: &Path) -> Result<()> {
        lora::load(&self.adapters(), path)
    }

    /// Causal grouped-query attention of one block over `x` (`[b, t, hidden]`, normed).
    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        // `mask` is already repeated for the query heads of one key head (see `forward`).
        (cos, sin, mask): (&Tensor, &Tensor, &Tensor),
        pass: &mut Pass,
        kernels: Kernels,
        cached: Option<&mut candle_nn::kv_cache::KvCache>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let mut heads = |proj: &Adapted, n: usize| -> Result<Tensor> {
            let y = proj.forward(x, pass)?;
            Ok(y.reshape((b, t, n, c.head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let rope = match kernels {
            Kernels::Fused => candle_nn::rotary_emb::rope,
            Kernels::Differentiable => candle_nn::rotary_emb::rope_slow,
        };
        let q = rope(&heads(&block.q, c.heads)?, cos, sin)?;
        let k = rope(&heads(&block.k, c.kv_heads)?, cos, sin)?;
        let v = heads(&block.v, c.kv_heads)?;
        // Earlier positions' keys and values come from the cache (written in place into a
        // buffer that grows by chunks; read back as one contiguous copy per step, made by the
        // f32 conversion below when the base is not f32).
        let (k, v) = match cached {
            Some(cache) => {
                let (k, v) = cache.append(&k, &v)?;
                match k.dtype() {
                    DType::F32 => (k.contiguous()?, v.contiguous()?),
                    _ => (k, v),
                }
            }
            None => (k, v),
        };
        // Each key and value head serves `group` query heads in turn (query head `h` uses
        // key head `h / group`, as `transformers`' repeat_kv orders them): the query heads of
        // one key head are stacked over positions, so keys and values are never copied per
        // query head.
        let group = c.heads / c.kv_heads;
        // Scores, softmax and the weighted values in f32 whatever the base's format (as
        // `transformers` upcasts the softmax): a bf16 softmax over long rows loses the small
        // weights.
        let dtype = x.dtype();
        let (q, k, v) = (q.to_dtype(DType::F32)?, k.to_dtype(DType::F32)?, v.to_dtype(DType::F32)?);
        let q = q.reshape((b, c.kv_heads, group * t, c.head_dim))?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let weights = match kernels {
            Kernels::Fused => candle_nn::ops::softmax_last_dim(&scores)?,
            Kernels::Differentiable => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        let attended = weights.matmul(&v)?.reshape((b, c.heads, t, c.head_dim))?;
        let merged = attended.transpose(1, 2)?.reshape((b, t, c.heads * c.head_dim))?;
        block.o.forward(&merged.to_dtype(dtype)?, pass)
    }

    /// The rotary tables `[t, head_dim / 2]`: `cos` and `sin` of position x `theta^(-2i/d)`,
    /// in f32 as `transformers` computes them.
    fn rotary(&self, start: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let d = self.config.head_dim;
        let inv: Vec<f32> = (0..d / 2)
            .map(|i| 1.0 / (self.config.rope_theta as f32).powf((2 * i) as f32 / d as f32))
            .collect();
        let inv = Tensor::from_vec(inv, (1, d / 2), &self.device)?;
        let positions =
            Tensor::arange(start as u32, (start + t) as u32, &self.device)?.to_dtype(DType::F32)?;
        let angles = positions.reshape((t, 1))?.broadcast_mul(&inv)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

/// `[1, 1, t, start + t]`: query `i` (position `start + i`) may attend to keys `0..=start + i`
/// (0), not after (-inf).
fn causal_mask(start: usize, t: usize, device: &Device) -> Result<Tensor> {
    let keys = start + t;
    let mask: Vec<f32> = (0..t * keys)
        .map(|i| if i % keys > start + i / keys { f32::NEG_INFINITY } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(mask, (1, 1, t, keys), device)?)
}

/// The keys and values of the positions fed so far, per block (before the grouped heads are
/// repeated), for [`Llama::forward_cached`]: candle-nn's cache, which writes each step's keys
/// and values in place into a buffer grown by chunks.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<candle_nn::kv_cache::KvCache>,
    len: usize,
}

/// Positions a layer's cache buffer holds before it grows (by as many again).
const CACHE_CHUNK: usize = 256;

fn new_layer_cache() -> candle_nn::kv_cache::KvCache {
    candle_nn::kv_cache::KvCache::new(2, CACHE_CHUNK)
}

impl KvCache {
    /// Positions fed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of one sequence (batch 1) copied for `n` sequences: a prompt they share is
    /// computed once, not once per sequence.
    pub fn repeat(&self, n: usize) -> Result<KvCache> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let mut copy = new_layer_cache();
            if let (Some(k), Some(v)) = (layer.k()?, layer.v()?) {
                if k.dim(0)? != 1 {
                    return Err(crate::Error::Data(format!(
                        "a cache of {} sequences cannot be repeated; one is",
                        k.dim(0)?
                    )));
                }
                // Contiguous: for one sequence `repeat` returns the buffer's view itself, and
                // the cache writes only whole tensors.
                let (k, v) = (k.repeat((n, 1, 1, 1))?, v.repeat((n, 1, 1, 1))?);
                copy.append(&k.contiguous()?, &v.contiguous()?)?;
            }
            layers.push(copy);
        }
        Ok(KvCache { layers, len: self.len })
    }
}
