//! The LSTM language model over field-tagged token sequences, on candle.
//!
//! Input at position `t`: the embedding of the previous token (a start token at `t = 0`) plus the
//! embedding of field `t`, the field to predict. Because the field identity is an input, later
//! work can permute fields and condition on any subset. Output at `t`: logits over field `t`'s
//! vocabulary slice only, so decoding is constrained by construction.
//!
//! The LSTM is written from linear maps (`x W_ih^T + h W_hh^T + b`) rather than a fused kernel,
//! so per-sample gradient rules for DP-SGD apply to each map: every weight's per-sample gradient
//! is an outer product of an input the forward pass sees and an output gradient.
//! Parameter names follow PyTorch's `nn.Embedding`, `nn.LSTM` and `nn.Linear`.

use candle_core::{DType, Device, Tensor, Var, D};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::lstm_cell::cell;
use crate::rng::Rng;
use crate::tokenizer::Field;

/// The trainable parameters, by PyTorch-style name, in a fixed order.
pub struct Params {
    named: Vec<(String, Var)>,
}

impl Params {
    /// The parameters in their fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.named.iter().map(|(n, v)| (n.as_str(), v))
    }

    fn get(&self, name: &str) -> &Var {
        &self.named.iter().find(|(n, _)| n == name).expect("parameter exists").1
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.named.iter().map(|(_, v)| v.elem_count()).sum()
    }
}

/// An LSTM language model over one tokenizer's fields.
pub struct LstmModel {
    config: ModelConfig,
    fields: Vec<Field>,
    vocab_size: usize,
    params: Params,
    device: Device,
}

/// The recurrent state of a batch during generation: `(h, c)` per layer.
pub struct State {
    layers: Vec<(Tensor, Tensor)>,
}

impl LstmModel {
    /// The name and shape of every parameter of a model of `config` over `fields` fields and
    /// `vocab_size` tokens, in the fixed parameter order. The sizes are multiplied with checks,
    /// so a model file's metadata can be compared with its tensors before anything is allocated.
    pub fn parameter_shapes(
        config: &ModelConfig,
        fields: usize,
        vocab_size: u32,
    ) -> Result<Vec<(String, Vec<usize>)>> {
        let overflow = || Error::Data("the model's sizes overflow".into());
        let (e, h) = (config.embedding_dim, config.hidden_size);
        let v = vocab_size as usize;
        let gates = h.checked_mul(4).ok_or_else(overflow)?;
        let tokens = v.checked_add(1).ok_or_else(overflow)?;
        let mut shapes = vec![
            ("token_embedding.weight".to_string(), vec![tokens, e]),
            ("field_embedding.weight".to_string(), vec![fields, e]),
        ];
        for l in 0..config.layers {
            let input = if l == 0 { e } else { h };
            shapes.push((format!("lstm.weight_ih_l{l}"), vec![gates, input]));
            shapes.push((format!("lstm.weight_hh_l{l}"), vec![gates, h]));
            shapes.push((format!("lstm.bias_ih_l{l}"), vec![gates]));
            shapes.push((format!("lstm.bias_hh_l{l}"), vec![gates]));
        }
        shapes.push(("output.weight".to_string(), vec![v, h]));
        shapes.push(("output.bias".to_string(), vec![v]));
        Ok(shapes)
    }

    /// A freshly initialised model (PyTorch's default initialisations, forget-gate bias 1).
    pub fn new(config: &ModelConfig, fields: &[Field], vocab_size: u32, seed: u64) -> Result<Self> {
        let device = Device::Cpu;
        let mut rng = Rng::new(seed, 0x1417);
        let h = config.hidden_size;
        let embedding_bound = 0.1;
        let k = 1.0 / (h as f64).sqrt();
        let mut named = Vec::new();
        for (name, shape) in Self::parameter_shapes(config, fields.len(), vocab_size)? {
            let bound = if name.ends_with("embedding.weight") { embedding_bound } else { k };
            let n: usize = shape.iter().product();
            let mut values: Vec<f32> =
                (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32).collect();
            if name.starts_with("lstm.bias_ih") {
                // The forget gate's bias starts at 1 (its slice is the second quarter).
                values[h..2 * h].iter_mut().for_each(|b| *b += 1.0);
            }
            let t = Tensor::from_vec(values, shape, &device)?;
            named.push((name, Var::from_tensor(&t)?));
        }
        Ok(LstmModel {
            config: config.clone(),
            fields: fields.to_vec(),
            vocab_size: vocab_size as usize,
            params: Params { named },
            device,
        })
    }

    /// Rebuilds a model from saved tensors, checking every name, shape and dtype (tensors
    /// beyond the model's are ignored). Nothing is allocated before the shapes are checked.
    pub fn from_tensors(
        config: &ModelConfig,
        fields: &[Field],
        vocab_size: u32,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self> {
        let mut named = Vec::new();
        for (name, shape) in Self::parameter_shapes(config, fields.len(), vocab_size)? {
            let t = tensors
                .get(name.as_str())
                .ok_or_else(|| Error::Data(format!("tensor '{name}' is missing")))?;
            if t.dims() != shape.as_slice() || t.dtype() != DType::F32 {
                return Err(Error::Data(format!(
                    "tensor '{name}' has shape {:?} {:?}, expected {shape:?} f32",
                    t.dims(),
                    t.dtype(),
                )));
            }
            named.push((name, Var::from_tensor(t)?));
        }
        Ok(LstmModel {
            config: config.clone(),
            fields: fields.to_vec(),
            vocab_size: vocab_size as usize,
            params: Params { named },
            device: Device::Cpu,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The model's size settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The id of the start token (one past the tokenizer's vocabulary).
    pub fn start_token(&self) -> u32 {
        self.vocab_size as u32
    }

    fn p(&self, name: &str) -> &Tensor {
        self.params.get(name).as_tensor()
    }

    /// Parameter `name` detached from autograd, for the hand-written passes in `backprop`.
    pub(crate) fn tensor(&self, name: &str) -> Tensor {
        self.p(name).detach()
    }

    /// The output layer's weight `[size, h]` and bias `[size]` rows for field `field`.
    pub(crate) fn output_slice(&self, field: usize) -> Result<(Tensor, Tensor)> {
        let f = self.fields[field];
        let (off, size) = (f.offset as usize, f.size as usize);
        Ok((
            self.tensor("output.weight").narrow(0, off, size)?,
            self.tensor("output.bias").narrow(0, off, size)?,
        ))
    }

    /// The fields, one per position.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Mean negative log-likelihood per weighted target token. `inputs`, `targets` and `weights`
    /// are `[batch, positions]`: the global id of each position's previous token, the local id
    /// of its target within its field, and the target's weight (0 for forced tokens). With a
    /// `dropout` generator, dropout is applied to every layer's output.
    ///
    /// The sequence is unrolled step by step so that backpropagation touches each step's tensors
    /// only (slicing one large tensor per step would make the backward pass quadratic in length).
    pub fn loss(
        &self,
        inputs: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
        mut dropout: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let (batch, positions) = inputs.dims2()?;
        let ids = inputs.t()?.contiguous()?;
        let targets = targets.t()?.contiguous()?;
        let weights = weights.t()?.contiguous()?;
        let (tokens_in, fields_in) = self.input_tables()?;
        let mut state = self.initial_state(batch)?;
        let mut total: Option<Tensor> = None;
        for t in 0..positions {
            let gates_in = tokens_in.embedding(&ids.get(t)?)?.broadcast_add(&fields_in.get(t)?)?;
            let mut x = self.layer_step(0, &gates_in, &mut state.layers[0])?;
            for l in 0..self.config.layers {
                if l > 0 {
                    let gates_in = self.input_projection(l, &x)?;
                    x = self.layer_step(l, &gates_in, &mut state.layers[l])?;
                }
                if let Some(rng) = dropout.as_deref_mut() {
                    x = self.dropout(&x, rng)?;
                }
            }
            let logp = candle_nn::ops::log_softmax(&self.field_logits(&x, t)?, D::Minus1)?;
            let target = targets.get(t)?.unsqueeze(1)?;
            let picked = logp.gather(&target, 1)?.squeeze(1)?;
            let term = (picked * weights.get(t)?)?.sum_all()?;
            total = Some(match total {
                None => term,
                Some(acc) => (acc + term)?,
            });
        }
        let count = weights.sum_all()?.to_scalar::<f32>()?.max(1.0);
        let total = total.ok_or_else(|| Error::Data("records have no tokens".into()))?;
        Ok((total.neg()? / f64::from(count))?)
    }

    /// Layer 0's input projection folded into lookup tables: since the input is
    /// `E_tok[id] + E_field[t]`, its projection `x W_ih^T + b` equals `P_tok[id] + P_field[t]`
    /// with `P_tok = E_tok W_ih^T` and `P_field = E_field W_ih^T + b`. Computing the tables once
    /// per batch replaces a `[batch, in] x [in, 4h]` product at every step with a row lookup.
    fn input_tables(&self) -> Result<(Tensor, Tensor)> {
        let w_t = self.p("lstm.weight_ih_l0").t()?;
        let tokens = self.p("token_embedding.weight").matmul(&w_t)?;
        let fields =
            self.p("field_embedding.weight").matmul(&w_t)?.broadcast_add(&self.bias(0)?)?;
        Ok((tokens, fields))
    }

    fn bias(&self, l: usize) -> Result<Tensor> {
        Ok((self.p(&format!("lstm.bias_ih_l{l}")) + self.p(&format!("lstm.bias_hh_l{l}")))?)
    }

    /// `x W_ih^T + b_ih + b_hh` for layer `l`.
    fn input_projection(&self, l: usize, x: &Tensor) -> Result<Tensor> {
        let w_t = self.p(&format!("lstm.weight_ih_l{l}")).t()?;
        Ok(x.matmul(&w_t)?.broadcast_add(&self.bias(l)?)?)
    }

    /// One step of layer `l` given its input projection; updates `(h, c)` and returns `h`.
    fn layer_step(
        &self,
        l: usize,
        gates_in: &Tensor,
        state: &mut (Tensor, Tensor),
    ) -> Result<Tensor> {
        let w_hh_t = self.p(&format!("lstm.weight_hh_l{l}")).t()?;
        let gates = (gates_in + state.0.matmul(&w_hh_t)?)?;
        let (h, c) = cell(&gates, &state.1, self.config.hidden_size)?;
        *state = (h.clone(), c);
        Ok(h)
    }

    /// Logits over field `field`'s vocabulary slice from the top layer's output `x`.
    fn field_logits(&self, x: &Tensor, field: usize) -> Result<Tensor> {
        let f = self.fields[field];
        let (off, size) = (f.offset as usize, f.size as usize);
        Ok(x.matmul(&self.p("output.weight").narrow(0, off, size)?.t()?)?
            .broadcast_add(&self.p("output.bias").narrow(0, off, size)?)?)
    }

    /// Runs layer `l` over a whole `[batch, positions, in]` input (used to test the cell).
    #[cfg(test)]
    fn layer_sequence(&self, l: usize, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let hs = self.config.hidden_size;
        let mut state = (
            Tensor::zeros((b, hs), DType::F32, &self.device)?,
            Tensor::zeros((b, hs), DType::F32, &self.device)?,
        );
        let mut outputs = Vec::with_capacity(t);
        for step in 0..t {
            let gates_in = self.input_projection(l, &x.narrow(1, step, 1)?.squeeze(1)?)?;
            outputs.push(self.layer_step(l, &gates_in, &mut state)?);
        }
        Ok(Tensor::stack(&outputs, 1)?)
    }

    fn dropout(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let p = f64::from(self.config.dropout);
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let scale = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> =
            (0..x.elem_count()).map(|_| if rng.uniform() < p { 0.0 } else { scale }).collect();
        Ok((x * Tensor::from_vec(mask, x.shape(), &self.device)?)?)
    }

    /// The zero state for `batch` records.
    pub fn initial_state(&self, batch: usize) -> Result<State> {
        let zeros = Tensor::zeros((batch, self.config.hidden_size), DType::F32, &self.device)?;
        Ok(State { layers: vec![(zeros.clone(), zeros); self.config.layers] })
    }

    /// One generation step: feeds the previous tokens (global ids, one per record) for field
    /// `field`, advances `state`, and returns the logits over that field's vocabulary
    /// (`[batch, size]`).
    pub fn step(&self, state: &mut State, previous: &[u32], field: usize) -> Result<Tensor> {
        let ids = Tensor::from_slice(previous, previous.len(), &self.device)?;
        let emb = self.p("token_embedding.weight").embedding(&ids)?;
        let mut x = emb.broadcast_add(&self.p("field_embedding.weight").get(field)?)?;
        for (l, layer) in state.layers.iter_mut().enumerate() {
            let gates_in = self.input_projection(l, &x)?;
            x = self.layer_step(l, &gates_in, layer)?;
        }
        self.field_logits(&x, field)
    }
}

/// The LSTM cell update from gate pre-activations `[batch, 4h]` in PyTorch's order (i, f, g, o).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::FieldRole;

    fn tiny() -> Result<LstmModel> {
        let fields = [
            Field { column: 0, role: FieldRole::Category, offset: 0, size: 3 },
            Field { column: 1, role: FieldRole::Category, offset: 3, size: 4 },
        ];
        let config = ModelConfig { embedding_dim: 3, hidden_size: 4, layers: 2, dropout: 0.0 };
        LstmModel::new(&config, &fields, 7, 11)
    }

    fn values(m: &LstmModel, name: &str) -> Result<Vec<Vec<f32>>> {
        let t = m.p(name);
        Ok(match t.rank() {
            1 => vec![t.to_vec1()?],
            _ => t.to_vec2()?,
        })
    }

    /// The LSTM equations computed with scalar loops (PyTorch's nn.LSTM documentation).
    fn reference_layer(m: &LstmModel, l: usize, xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let hs = m.config.hidden_size;
        let w_ih = values(m, &format!("lstm.weight_ih_l{l}"))?;
        let w_hh = values(m, &format!("lstm.weight_hh_l{l}"))?;
        let b_ih = &values(m, &format!("lstm.bias_ih_l{l}"))?[0];
        let b_hh = &values(m, &format!("lstm.bias_hh_l{l}"))?[0];
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        let (mut h, mut c) = (vec![0f32; hs], vec![0f32; hs]);
        let mut out = Vec::new();
        for x in xs {
            let gate = |k: usize| -> f32 {
                let wx: f32 = w_ih[k].iter().zip(x).map(|(w, v)| w * v).sum();
                let wh: f32 = w_hh[k].iter().zip(&h).map(|(w, v)| w * v).sum();
                wx + wh + b_ih[k] + b_hh[k]
            };
            let g: Vec<f32> = (0..4 * hs).map(gate).collect();
            for j in 0..hs {
                c[j] = sig(g[hs + j]) * c[j] + sig(g[j]) * g[2 * hs + j].tanh();
                h[j] = sig(g[3 * hs + j]) * c[j].tanh();
            }
            out.push(h.clone());
        }
        Ok(out)
    }

    #[test]
    fn lstm_layers_match_a_scalar_reference() -> Result<()> {
        let m = tiny()?;
        let mut rng = Rng::new(2, 0);
        let xs: Vec<Vec<f32>> =
            (0..5).map(|_| (0..3).map(|_| rng.normal() as f32).collect()).collect();
        let x = Tensor::from_vec(xs.concat(), (1, 5, 3), &Device::Cpu)?;
        let h1 = m.layer_sequence(0, &x)?;
        let h2 = m.layer_sequence(1, &h1)?;
        let want1 = reference_layer(&m, 0, &xs)?;
        let want2 = reference_layer(&m, 1, &want1)?;
        for (got, want) in [(h1, want1), (h2, want2)] {
            let got = got.squeeze(0)?.to_vec2::<f32>()?;
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        Ok(())
    }

    #[test]
    fn stepwise_generation_matches_the_training_forward_pass() -> Result<()> {
        // The loss of a sequence equals minus the sum of the step logits' log-probabilities.
        let m = tiny()?;
        let (a, b) = (2u32, 1u32);
        let inputs = Tensor::from_vec(vec![m.start_token(), a], (1, 2), &Device::Cpu)?;
        let targets = Tensor::from_vec(vec![a, b], (1, 2), &Device::Cpu)?;
        let weights = Tensor::ones((1, 2), DType::F32, &Device::Cpu)?;
        let loss = f64::from(m.loss(&inputs, &targets, &weights, None)?.to_scalar::<f32>()?);
        let mut state = m.initial_state(1)?;
        let mut nll = 0.0;
        for (t, (prev, target)) in [(m.start_token(), a), (a, b)].into_iter().enumerate() {
            let logits = m.step(&mut state, &[prev], t)?.squeeze(0)?.to_vec1::<f32>()?;
            let max = logits.iter().copied().fold(f32::MIN, f32::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
            nll -= f64::from(logits[target as usize] - lse);
        }
        assert!((loss - nll / 2.0).abs() < 1e-5, "{loss} vs {}", nll / 2.0);
        Ok(())
    }
}
