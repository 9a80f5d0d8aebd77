//! The Llama decoder on candle: RMSNorm, rotary position embeddings, grouped-query causal
//! attention and a SwiGLU MLP per block, as Hugging Face `transformers`' `LlamaForCausalLM`
//! computes them (a test compares logits with it to 1e-4).
//!
//! Written here rather than taken from `candle-transformers`, whose Llama keeps its linear
//! layers private inside one forward pass: LoRA adapters on chosen projections, and DP-SGD's
//! per-example norms of their gradients (from each adapter's input activations and output
//! gradients, as the LSTM's ghost norms are), need those layers in view. The building blocks
//! are candle-nn's (`Linear`, `Embedding`, `RmsNorm`, the fused `rope` and softmax kernels).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm};

use super::LlamaConfig;
use crate::error::Result;

/// One decoder block's weights.
struct Block {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A loaded decoder (weights frozen: plain tensors, not variables).
pub struct Llama {
    config: LlamaConfig,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    lm_head: Linear,
    device: Device,
}

impl Llama {
    /// Builds the decoder from its weights by Hugging Face name (`get` returns each, already
    /// checked against `config`'s shapes and on one device, as f32).
    pub(crate) fn from_weights(
        config: &LlamaConfig,
        get: &mut dyn FnMut(&str) -> Result<Tensor>,
    ) -> Result<Llama> {
        let eps = config.rms_norm_eps;
        let linear = |w: Tensor| Linear::new(w, None);
        let mut blocks = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let p = |name: &str| format!("model.layers.{l}.{name}.weight");
            blocks.push(Block {
                input_norm: RmsNorm::new(get(&p("input_layernorm"))?, eps),
                q: linear(get(&p("self_attn.q_proj"))?),
                k: linear(get(&p("self_attn.k_proj"))?),
                v: linear(get(&p("self_attn.v_proj"))?),
                o: linear(get(&p("self_attn.o_proj"))?),
                post_norm: RmsNorm::new(get(&p("post_attention_layernorm"))?, eps),
                gate: linear(get(&p("mlp.gate_proj"))?),
                up: linear(get(&p("mlp.up_proj"))?),
                down: linear(get(&p("mlp.down_proj"))?),
            });
        }
        let embed_weight = get("model.embed_tokens.weight")?;
        let lm_head = match config.tie_word_embeddings {
            true => linear(embed_weight.clone()),
            false => linear(get("lm_head.weight")?),
        };
        let norm = RmsNorm::new(get("model.norm.weight")?, eps);
        let device = embed_weight.device().clone();
        Ok(Llama {
            config: config.clone(),
            embed: Embedding::new(embed_weight, config.hidden_size),
            blocks,
            norm,
            lm_head,
            device,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The logits `[batch, positions, vocab]` after each position of `ids` (`[batch, positions]`
    /// token ids), attending causally from position 0.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if let Some(window) = self.config.sliding_window.filter(|&w| t > w) {
            return Err(crate::Error::Data(format!(
                "{t} positions exceed the model's sliding window of {window}"
            )));
        }
        if t > self.config.max_positions {
            let most = self.config.max_positions;
            return Err(crate::Error::Data(format!("{t} positions exceed the model's {most}")));
        }
        let (cos, sin) = self.rotary(t)?;
        let mask = causal_mask(t, &self.device)?;
        let mut x = self.embed.forward(ids)?;
        for block in &self.blocks {
            let attended =
                self.attention(block, &block.input_norm.forward(&x)?, &cos, &sin, &mask)?;
            x = (x + attended)?;
            let h = block.post_norm.forward(&x)?;
            let mlp = block.down.forward(
                &(candle_nn::ops::silu(&block.gate.forward(&h)?)? * block.up.forward(&h)?)?,
            )?;
            x = (x + mlp)?;
        }
        Ok(self.lm_head.forward(&self.norm.forward(&x)?)?)
    }

    /// Causal grouped-query attention of one block over `x` (`[b, t, hidden]`, normed).
    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let heads = |proj: &Linear, n: usize| -> Result<Tensor> {
            Ok(proj.forward(x)?.reshape((b, t, n, c.head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let q = candle_nn::rotary_emb::rope(&heads(&block.q, c.heads)?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&heads(&block.k, c.kv_heads)?, cos, sin)?;
        let v = heads(&block.v, c.kv_heads)?;
        // Each key and value head serves `heads / kv_heads` query heads in turn.
        let (k, v) = (repeat_kv(&k, c.heads / c.kv_heads)?, repeat_kv(&v, c.heads / c.kv_heads)?);
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let attended = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)?;
        let merged = attended.transpose(1, 2)?.reshape((b, t, c.heads * c.head_dim))?;
        Ok(block.o.forward(&merged)?)
    }

    /// The rotary tables `[t, head_dim / 2]`: `cos` and `sin` of position x `theta^(-2i/d)`,
    /// in f32 as `transformers` computes them.
    fn rotary(&self, t: usize) -> Result<(Tensor, Tensor)> {
        let d = self.config.head_dim;
        let inv: Vec<f32> = (0..d / 2)
            .map(|i| 1.0 / (self.config.rope_theta as f32).powf((2 * i) as f32 / d as f32))
            .collect();
        let inv = Tensor::from_vec(inv, (1, d / 2), &self.device)?;
        let positions = Tensor::arange(0u32, t as u32, &self.device)?.to_dtype(DType::F32)?;
        let angles = positions.reshape((t, 1))?.broadcast_mul(&inv)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

/// `[1, 1, t, t]`: 0 where a position may attend, -inf after it.
fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> =
        (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
    Ok(Tensor::from_vec(mask, (1, 1, t, t), device)?)
}

/// `[b, kv, t, d]` to `[b, kv * n, t, d]`, each head repeated `n` times in place.
fn repeat_kv(x: &Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?.expand((b, kv, n, t, d))?.reshape((b, kv * n, t, d))?)
}
