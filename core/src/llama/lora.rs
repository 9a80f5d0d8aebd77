//! LoRA adapters (Hu et al. 2021, arXiv 2106.09685) on a frozen decoder's projections: a
//! projection `y = x W^T` becomes `y = x W^T + (alpha / r) (drop(x) A^T) B^T` with `A` `[r, in]`
//! and `B` `[out, r]` trained and `W` frozen. `B` starts at zero, so an adapted model starts
//! as its base; `A` starts uniform in `+-1/sqrt(in)` (PEFT's default, Kaiming-uniform with
//! `a = sqrt(5)`). Only the adapters are trained and saved.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A projection of a decoder block that may carry an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// Attention's query projection (`self_attn.q_proj`).
    Q,
    /// Attention's key projection (`self_attn.k_proj`).
    K,
    /// Attention's value projection (`self_attn.v_proj`).
    V,
    /// Attention's output projection (`self_attn.o_proj`).
    O,
    /// The MLP's gate projection (`mlp.gate_proj`).
    Gate,
    /// The MLP's up projection (`mlp.up_proj`).
    Up,
    /// The MLP's down projection (`mlp.down_proj`).
    Down,
}

impl Projection {
    /// Every projection, in a block's order.
    pub const ALL: [Projection; 7] = [
        Projection::Q,
        Projection::K,
        Projection::V,
        Projection::O,
        Projection::Gate,
        Projection::Up,
        Projection::Down,
    ];

    /// Its Hugging Face module name within a block.
    pub fn module(self) -> &'static str {
        match self {
            Projection::Q => "self_attn.q_proj",
            Projection::K => "self_attn.k_proj",
            Projection::V => "self_attn.v_proj",
            Projection::O => "self_attn.o_proj",
            Projection::Gate => "mlp.gate_proj",
            Projection::Up => "mlp.up_proj",
            Projection::Down => "mlp.down_proj",
        }
    }
}

/// Which projections get adapters, and their shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    /// The adapters' rank `r`.
    pub rank: usize,
    /// The scale's numerator: updates are scaled by `alpha / rank`.
    pub alpha: f64,
    /// Dropout on an adapter's input while training.
    pub dropout: f32,
    /// The adapted projections.
    pub targets: Vec<Projection>,
    /// The longest record, in the base's tokens as JSON, that training reads (a longer one is
    /// an error naming it) and generation writes (a record still open after it is dropped as
    /// invalid). With the prompt it must fit the base's positions.
    pub max_record_tokens: usize,
    /// The number format of the frozen base's weights and activations (the adapters, their
    /// gradients and the loss stay f32).
    #[serde(skip_serializing_if = "Precision::is_auto")]
    pub precision: Precision,
}

/// How the frozen base is held: `auto` is bf16 on a CUDA GPU with bf16 products (Ampere or
/// later: half the memory and traffic of f32, with f32's range), and f32 on an older GPU and on
/// the CPU (where bf16 products are slower, not faster). f16 is never chosen for you: training
/// back-propagates through the base without loss scaling, where f16's range can lose small
/// gradients; choose it on an older GPU for generation, or where its range suffices. Whatever the base's format, the
/// adapters, attention scores and softmax run in f32, and the logits (the output layer's
/// product in the base's format) are upcast to f32 before sampling or the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on a GPU with bf16 products, else f32.
    #[default]
    Auto,
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl Precision {
    /// The format on `device`.
    pub fn dtype(self, device: &candle_core::Device) -> DType {
        match self {
            Precision::Auto if crate::device::has_bf16(device) => DType::BF16,
            Precision::Auto | Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }

    fn is_auto(&self) -> bool {
        *self == Precision::Auto
    }
}

/// [`LoraConfig::max_record_tokens`] when unset: an Adult record is about 60 tokens of a
/// Llama tokenizer; a free-text column can need more.
pub const DEFAULT_MAX_RECORD_TOKENS: usize = 256;

/// Rank 16, alpha 32, dropout 0.05 on every projection (adapting the MLP as well as attention
/// is what QLoRA, arXiv 2305.14314, found to match full fine-tuning).
impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.05,
            targets: Projection::ALL.to_vec(),
            max_record_tokens: DEFAULT_MAX_RECORD_TOKENS,
            precision: Precision::Auto,
        }
    }
}

impl LoraConfig {
    /// Checks the values, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1024).contains(&self.rank) {
            return Err(Error::Config(format!(
                "model.lora.rank is {}; it must be in 1..=1024",
                self.rank
            )));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::Config(format!(
                "model.lora.alpha is {}; it must be positive",
                self.alpha
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "model.lora.dropout is {}; it must be in [0, 1)",
                self.dropout
            )));
        }
        if !(1..=65_536).contains(&self.max_record_tokens) {
            return Err(Error::Config(format!(
                "model.lora.max_record_tokens is {}; it must be in 1..=65536",
                self.max_record_tokens
            )));
        }
        if self.targets.is_empty() {
            return Err(Error::Config(
                "model.lora.targets is empty; name at least one projection".into(),
            ));
        }
        Ok(())
    }
}

/// A trained low-rank update of one projection.
pub(crate) struct Adapter {
    /// `[r, in]`.
    pub a: Var,
    /// `[out, r]`.
    pub b: Var,
    scale: f64,
    dropout: f32,
}

/// `x W^T` for a frozen weight `W` (`[out, in]`; `x` `[.., in]`): candle's own matrix product
/// forward, but a backward pass that computes only `x`'s gradient. candle's matmul computes
/// both inputs' gradients whether or not they lead to a variable, which for frozen base
/// weights doubled the backward pass's work and kept a weight-sized gradient per projection.
pub(crate) fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (inputs, outputs) = (w.dim(1)?, w.dim(0)?);
    let rows = x.elem_count() / inputs.max(1);
    let flat = x.contiguous()?.reshape((rows, inputs))?;
    let y = flat.apply_op2(&w.contiguous()?, FrozenLinear)?;
    let mut shape = dims;
    if let Some(last) = shape.last_mut() {
        *last = outputs;
    }
    Ok(y.reshape(shape)?)
}

/// [`frozen_linear`]'s operation on `x` `[m, in]` and `W` `[out, in]`, both contiguous.
struct FrozenLinear;

impl FrozenLinear {
    fn run<S: candle_core::backend::BackendStorage>(
        x: &S,
        xl: &Layout,
        w: &S,
        wl: &Layout,
    ) -> candle_core::Result<(S, Shape)> {
        let (m, k) = xl.shape().dims2()?;
        let n = wl.shape().dims2()?.0;
        let y = x.matmul(w, (1, m, n, k), xl, &wl.transpose(0, 1)?)?;
        Ok((y, Shape::from((m, n))))
    }
}

impl CustomOp2 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        FrozenLinear::run(x, xl, w, wl)
    }

    fn cuda_fwd(
        &self,
        x: &candle_core::cuda::CudaStorage,
        xl: &Layout,
        w: &candle_core::cuda::CudaStorage,
        wl: &Layout,
    ) -> candle_core::Result<(candle_core::cuda::CudaStorage, Shape)> {
        FrozenLinear::run(x, xl, w, wl)
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(w)?), None))
    }
}

/// A frozen projection (its weight `[out, in]`), with an adapter when it is one of the
/// targets.
pub(crate) struct Adapted {
    pub weight: Tensor,
    pub adapter: Option<Adapter>,
    /// Whether `weight` already holds the adapter's update (see [`Adapted::merge`]).
    merged: bool,
}

impl Adapted {
    /// A projection without an adapter.
    pub fn plain(weight: Tensor) -> Adapted {
        Adapted { weight, adapter: None, merged: false }
    }

    /// Folds the adapter's update into the weight, `W + (alpha / r) B A`, so that inference
    /// runs one product per projection instead of three (PEFT's merge). The adapter is kept
    /// (the model file saves it) but no longer applied: a merged model generates, it is not
    /// trained.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(adapter) = self.adapter.as_ref().filter(|_| !self.merged) {
            let update = (adapter.b.as_tensor().matmul(adapter.a.as_tensor())? * adapter.scale)?;
            let update = update.to_dtype(self.weight.dtype())?;
            self.weight = (&self.weight + update)?.detach();
            self.merged = true;
        }
        Ok(())
    }

    /// Adds a fresh adapter of `config` (`A` drawn from `rng`, `B` zero).
    pub fn adapt(&mut self, config: &LoraConfig, rng: &mut Rng) -> Result<()> {
        let w = &self.weight;
        let (out, input) = w.dims2()?;
        let bound = 1.0 / (input as f64).sqrt();
        let a: Vec<f32> = (0..config.rank * input)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = Var::from_tensor(&Tensor::from_vec(a, (config.rank, input), w.device())?)?;
        let b = Var::zeros((out, config.rank), DType::F32, w.device())?;
        let scale = config.alpha / config.rank as f64;
        self.adapter = Some(Adapter { a, b, scale, dropout: config.dropout });
        Ok(())
    }

    /// `x W^T`, plus the adapter's update; `pass` may apply its dropout and keep what the
    /// per-example gradients need. The update is computed in f32 (the adapters' format) from
    /// `x` in the base's, and added in the base's.
    pub fn forward(&self, x: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let y = frozen_linear(x, &self.weight)?;
        let Some(adapter) = self.adapter.as_ref().filter(|_| !self.merged) else { return Ok(y) };
        let x = x.to_dtype(DType::F32)?;
        let x = match pass.rng.as_deref_mut() {
            Some(rng) if adapter.dropout > 0.0 => dropout(&x, adapter.dropout, rng)?,
            _ => x,
        };
        let u = x.broadcast_matmul(&adapter.a.t()?)?;
        let mut update = (u.broadcast_matmul(&adapter.b.t()?)? * adapter.scale)?;
        if let Some(tape) = pass.tape.as_mut() {
            let probe = Var::zeros(update.shape(), DType::F32, update.device())?;
            update = (update + probe.as_tensor())?;
            tape.push(Tape {
                x,
                u,
                probe,
                a: adapter.a.clone(),
                b: adapter.b.clone(),
                scale: adapter.scale,
            });
        }
        let update = update.to_dtype(y.dtype())?;
        Ok((y + update)?)
    }
}

/// How one forward pass runs the adapters: with `rng`, their dropout (training); with `tape`,
/// each adapter's pieces for the per-example gradients.
#[derive(Default)]
pub(crate) struct Pass<'a> {
    pub rng: Option<&'a mut Rng>,
    pub tape: Option<Vec<Tape>>,
}

/// What the per-example gradients need of one adapter in a pass: its input after dropout `x`
/// (`[b, t, in]`), `u = x A^T` (`[b, t, r]`), and a zero variable added to its update, whose
/// gradient is the gradient of the adapter's output `g` (`[b, t, out]`). Then, per example,
/// `dB = s g^T u` and `dA = s (g B)^T x`: products over the example's positions at rank `r`,
/// never one backward pass per example.
pub(crate) struct Tape {
    x: Tensor,
    u: Tensor,
    probe: Var,
    a: Var,
    b: Var,
    scale: f64,
}

impl Tape {
    /// Each example's gradients of `A` (`[b, r, in]`) and `B` (`[b, out, r]`), from the
    /// output gradient in `grads` (none: the adapter did not reach the loss, zero).
    pub fn per_example(
        &self,
        grads: &candle_core::backprop::GradStore,
    ) -> Result<(Var, Tensor, Var, Tensor)> {
        let g = match grads.get(self.probe.as_tensor()) {
            Some(g) => g.clone(),
            None => self.probe.as_tensor().zeros_like()?,
        };
        let d_b = (g.transpose(1, 2)?.matmul(&self.u)? * self.scale)?;
        let g_b = g.broadcast_matmul(self.b.as_tensor())?;
        let d_a = (g_b.transpose(1, 2)?.matmul(&self.x)? * self.scale)?;
        Ok((self.a.clone(), d_a, self.b.clone(), d_b))
    }
}

/// Inverted dropout. Its uniform draws are made where `x` lives: on the CPU from `rng`
/// (seeded, so a training run repeats), on a GPU by the device's own generator (seeded once
/// per training, see [`super::tuned`]), so that no activation-sized mask is copied to the GPU
/// per projection and pass.
fn dropout(x: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    let uniform = match x.device() {
        candle_core::Device::Cpu => {
            let draws: Vec<f32> = (0..x.elem_count()).map(|_| rng.uniform() as f32).collect();
            Tensor::from_vec(draws, x.shape(), x.device())?
        }
        device => Tensor::rand(0f32, 1f32, x.shape(), device)?,
    };
    let mask = (uniform.ge(f64::from(p))?.to_dtype(x.dtype())? / (1.0 - f64::from(p)))?;
    Ok((x * mask)?)
}

/// The adapters' tensors by PEFT's names
/// (`model.layers.{l}.{module}.lora_A.weight`, `…lora_B.weight`), written to or read from a
/// safetensors file.
pub(crate) fn save(adapters: &[(String, &Var)], path: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> =
        adapters.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
    candle_core::safetensors::save(&tensors, path)?;
    Ok(())
}

/// Sets `adapters` from the file at `path`, which must hold exactly those names and shapes.
pub(crate) fn load(adapters: &[(String, &Var)], path: &Path) -> Result<()> {
    let bad = |message: String| Error::Model { path: path.to_path_buf(), message };
    let device =
        adapters.first().map(|(_, v)| v.device().clone()).unwrap_or(candle_core::Device::Cpu);
    let tensors = candle_core::safetensors::load(path, &device)
        .map_err(|e| bad(format!("the adapters do not read: {e}")))?;
    if tensors.len() != adapters.len() {
        let (n, m) = (tensors.len(), adapters.len());
        return Err(bad(format!("{n} adapter tensors where the model has {m}")));
    }
    for (name, var) in adapters {
        let t = tensors.get(name).ok_or_else(|| bad(format!("no tensor {name}")))?;
        if t.dims() != var.dims() || t.dtype() != DType::F32 {
            return Err(bad(format!(
                "{name} is {:?} {:?}; the model's is {:?} f32",
                t.dims(),
                t.dtype(),
                var.dims()
            )));
        }
        var.set(t)?;
    }
    Ok(())
}
