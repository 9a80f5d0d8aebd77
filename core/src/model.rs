//! The LSTM language model over field-tagged token sequences, on candle, as typed layers.
//!
//! Input at position `t`: the embedding of the previous token (a start token at `t = 0`) plus the
//! embedding of field `t`, the field to predict. Because the field identity is an input, later
//! work can permute fields and condition on any subset. Output at `t`: logits over field `t`'s
//! vocabulary slice only, so decoding is constrained by construction.
//!
//! The layers are structs in the candle-nn style (`Embedding`, `LstmLayer`, `Output`),
//! built from a `VarBuilder` under PyTorch's names (`nn.Embedding`, `nn.LSTM`, `nn.Linear`), so
//! a model file's tensors map onto them by name. The LSTM is written from linear maps
//! (`x W_ih^T + h W_hh^T + b`) rather than a fused kernel, so per-sample gradient rules for
//! DP-SGD apply to each map: every weight's per-sample gradient is an outer product of an input
//! the forward pass sees and an output gradient (`backprop` holds the backward pass).
//!
//! `forward` is the one forward pass: training and validation run it over whole records,
//! generation one position at a time through [`LstmModel::step`].

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::lstm_cell::{cell, InputRows};
use crate::rng::Rng;
use crate::tokenizer::Field;

/// A lookup table of embeddings (`nn.Embedding`): one row per id.
#[derive(Clone)]
pub(crate) struct Embedding {
    /// `[ids, dim]`.
    pub weight: Tensor,
}

impl Embedding {
    fn new(vb: VarBuilder, ids: usize, dim: usize) -> Result<Self> {
        Ok(Embedding { weight: vb.get((ids, dim), "weight")? })
    }
}

/// One layer of `nn.LSTM` (its tensors of layer `l`), gates in PyTorch's order (i, f, g, o).
#[derive(Clone)]
pub(crate) struct LstmLayer {
    /// `[4h, in]`.
    pub weight_ih: Tensor,
    /// `[4h, h]`.
    pub weight_hh: Tensor,
    /// `[4h]`.
    pub bias_ih: Tensor,
    /// `[4h]`.
    pub bias_hh: Tensor,
}

impl LstmLayer {
    fn new(vb: VarBuilder, l: usize, input: usize, hidden: usize) -> Result<Self> {
        let gates = 4 * hidden;
        Ok(LstmLayer {
            weight_ih: vb.get((gates, input), &format!("weight_ih_l{l}"))?,
            weight_hh: vb.get((gates, hidden), &format!("weight_hh_l{l}"))?,
            bias_ih: vb.get(gates, &format!("bias_ih_l{l}"))?,
            bias_hh: vb.get(gates, &format!("bias_hh_l{l}"))?,
        })
    }

    /// The hidden size `h`.
    fn hidden(&self) -> Result<usize> {
        Ok(self.weight_hh.dim(1)?)
    }

    /// `b_ih + b_hh`.
    pub fn bias(&self) -> Result<Tensor> {
        Ok((&self.bias_ih + &self.bias_hh)?)
    }

    /// The gate pre-activations' input part `x W_ih^T + b_ih + b_hh` of an `[n, in]` input.
    fn input_gates(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight_ih.t()?)?.broadcast_add(&self.bias()?)?)
    }
}

/// The output layer (`nn.Linear` from the hidden state to every token), used one field's
/// vocabulary slice at a time.
#[derive(Clone)]
pub(crate) struct Output {
    /// `[vocab, h]`.
    pub weight: Tensor,
    /// `[vocab]`.
    pub bias: Tensor,
}

impl Output {
    fn new(vb: VarBuilder, vocab: usize, hidden: usize) -> Result<Self> {
        Ok(Output { weight: vb.get((vocab, hidden), "weight")?, bias: vb.get(vocab, "bias")? })
    }

    /// The weight `[size, h]` and bias `[size]` rows of `field`'s vocabulary slice.
    pub fn slice(&self, field: Field) -> Result<(Tensor, Tensor)> {
        let (off, size) = (field.offset as usize, field.size as usize);
        Ok((self.weight.narrow(0, off, size)?, self.bias.narrow(0, off, size)?))
    }

    /// Logits `[b, size]` over `field`'s vocabulary slice from the top layer's output `x`.
    pub fn logits(&self, x: &Tensor, field: Field) -> Result<Tensor> {
        let (w, b) = self.slice(field)?;
        Ok(x.matmul(&w.t()?)?.broadcast_add(&b)?)
    }
}

/// The network's layers. Those of a model are its trainable variables;
/// [`Layers::detach`] gives the same weights outside autograd, for the hand-written passes.
#[derive(Clone)]
pub(crate) struct Layers {
    /// `token_embedding`: `[vocab + 1, e]` (the last row is the start token).
    pub token_embedding: Embedding,
    /// `field_embedding`: `[fields, e]`.
    pub field_embedding: Embedding,
    /// `context_embedding`: `[vocab + 1, e]`, summed over the record so far (see
    /// [`ModelConfig::context`]); `None` in a model without it.
    pub context_embedding: Option<Embedding>,
    /// `lstm`, bottom first.
    pub lstm: Vec<LstmLayer>,
    /// `output`.
    pub output: Output,
}

impl Layers {
    fn new(vb: VarBuilder, config: &ModelConfig, fields: usize, vocab: usize) -> Result<Self> {
        let (e, h) = (config.embedding_dim, config.hidden_size);
        let lstm = (0..config.layers)
            .map(|l| LstmLayer::new(vb.pp("lstm"), l, if l == 0 { e } else { h }, h))
            .collect::<Result<Vec<_>>>()?;
        Ok(Layers {
            token_embedding: Embedding::new(vb.pp("token_embedding"), vocab + 1, e)?,
            field_embedding: Embedding::new(vb.pp("field_embedding"), fields, e)?,
            context_embedding: match config.has_context() {
                true => Some(Embedding::new(vb.pp("context_embedding"), vocab + 1, e)?),
                false => None,
            },
            lstm,
            output: Output::new(vb.pp("output"), vocab, h)?,
        })
    }

    /// The same weights, detached from autograd (they share storage, so they stay current).
    pub fn detach(&self) -> Layers {
        let lstm = self
            .lstm
            .iter()
            .map(|l| LstmLayer {
                weight_ih: l.weight_ih.detach(),
                weight_hh: l.weight_hh.detach(),
                bias_ih: l.bias_ih.detach(),
                bias_hh: l.bias_hh.detach(),
            })
            .collect();
        Layers {
            token_embedding: Embedding { weight: self.token_embedding.weight.detach() },
            field_embedding: Embedding { weight: self.field_embedding.weight.detach() },
            context_embedding: self
                .context_embedding
                .as_ref()
                .map(|c| Embedding { weight: c.weight.detach() }),
            lstm,
            output: Output { weight: self.output.weight.detach(), bias: self.output.bias.detach() },
        }
    }

    /// Layer 0's input projection folded into lookup tables: since the input is
    /// `E_tok[id] + E_field[t]`, its projection `x W_ih^T + b` equals `P_tok[id] + P_field[t]`
    /// with `P_tok = E_tok W_ih^T` and `P_field = E_field W_ih^T + b`. Computed once per batch
    /// (or per generated batch), they replace a `[batch, e] x [e, 4h]` product at every
    /// position with a row lookup: `V + T` rows instead of `T·B`.
    pub fn input_tables(&self) -> Result<InputTables> {
        let l0 = self.lstm.first().ok_or_else(|| Error::Data("the model has no layers".into()))?;
        let w_t = l0.weight_ih.t()?;
        Ok(InputTables {
            tokens: self.token_embedding.weight.matmul(&w_t)?,
            fields: self.field_embedding.weight.matmul(&w_t)?.broadcast_add(&l0.bias()?)?,
            context: self.context_embedding.as_ref().map(|c| c.weight.matmul(&w_t)).transpose()?,
        })
    }
}

/// How `forward` forms layer 0's gate inputs `(E_tok[id] + E_field[t]) W_ih^T + b`: the same
/// value either way, rounded differently in the last bits.
pub(crate) enum Layer0<'a> {
    /// Row lookups in the tables of [`Layers::input_tables`] (training and validation: two
    /// small products per batch instead of one per position; generation from files of format
    /// version 2 on makes the same lookups and sums in [`crate::lstm_cell::step`]).
    Tables(&'a InputTables),
    /// Embed, then project, one position at a time: generation from model files of format
    /// version 1, which have generated their rows this way since, so such a file generates
    /// the same rows for the same seed in every doppel version.
    Project,
}

/// Layer 0's gate inputs by previous token and by position (see [`Layers::input_tables`]).
pub(crate) struct InputTables {
    /// `[vocab + 1, 4h]`.
    pub tokens: Tensor,
    /// `[fields, 4h]`.
    pub fields: Tensor,
    /// `[vocab + 1, 4h]`: the context embedding projected (no bias), when the model has it.
    pub context: Option<Tensor>,
}

/// The trainable parameters, by PyTorch-style name, in a fixed order (the order of
/// [`LstmModel::parameter_shapes`], of the gradients and of the model file).
pub struct Params {
    named: Vec<(String, Var)>,
}

impl Params {
    /// The parameters in their fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.named.iter().map(|(n, v)| (n.as_str(), v))
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
    layers: Layers,
    device: Device,
}

/// The recurrent state of a generated batch between positions: `(h, c)` per layer.
pub struct State {
    carry: Carry,
    /// Layer 0's input tables stacked (token rows, field rows, then context rows) for
    /// [`crate::lstm_cell::step`], when the generation folds its input projection.
    stacked: Option<InputRows>,
}

/// What the network carries from one position to the next.
pub(crate) struct Carry {
    /// Each layer's `(h, c)`, `[B, h]` each.
    pub layers: Vec<(Tensor, Tensor)>,
    /// The sum of the context rows fed so far, for a model with the context sum (`None`: none
    /// fed yet).
    pub context: Option<Tensor>,
}

/// What one call of `forward` produced.
pub(crate) struct Forward {
    /// Per position: the top layer's output after dropout, `[B, h]`.
    pub top: Vec<Tensor>,
    /// With `keep`: what the backward pass needs.
    pub trace: Option<Trace>,
}

/// What the forward pass keeps for the hand-written backward pass, time-major (`[T·B, ·]`).
pub(crate) struct Trace {
    /// Per layer above the first: its input `[T·B, h]`.
    pub inputs: Vec<Tensor>,
    /// Per layer and position: the gate pre-activations `[B, 4h]`.
    pub gates: Vec<Vec<Tensor>>,
    /// Per layer: previous hidden states `[T·B, h]` (the initial state's at the first position).
    pub h_prev: Vec<Tensor>,
    /// Per layer and position: the previous cell state `[B, h]`.
    pub c_prev: Vec<Vec<Tensor>>,
}

/// Per layer and position: the inverted-dropout mask of its output (`None` without dropout).
pub(crate) type Masks = Vec<Vec<Option<Tensor>>>;

/// The one forward pass: runs `layers` over `k` positions for a batch of `B` records, position
/// `s` predicting field `order[s]` (`order` has `k` entries: the fields in the records' order,
/// or one field in generation), or, with `k·B` entries, record `r` predicting field
/// `order[s·B + r]` (a generation whose records take different orders). `ids` holds the previous tokens' global ids, time-major
/// (`[k·B]`, row `s·B + r` is record `r` at position `s`); `state` is each layer's `(h, c)`
/// before the first position and is advanced past the last: `carry` holds each layer's `(h, c)`
/// and (for a model with the context sum) the sum of the context rows of the ids fed so far; `masks[l][s]` applies dropout to
/// layer `l`'s output at position `s`. With `keep`, the result holds the backward pass's trace.
///
/// Layers run one after another over all `k` positions (a layer's input projection is then one
/// product over `k·B` rows); with `k = 1` this is generation's position-by-position order.
pub(crate) fn forward(
    layers: &Layers,
    layer0: Layer0,
    ids: &Tensor,
    order: &[u32],
    carry: &mut Carry,
    masks: Option<&Masks>,
    keep: bool,
) -> Result<Forward> {
    let b = match carry.layers.first() {
        Some((h, _)) => h.dim(0)?,
        None => return Err(Error::Data("the model has no layers".into())),
    };
    let n = ids.dim(0)?;
    if b == 0 || n % b != 0 || carry.layers.len() != layers.lstm.len() {
        return Err(Error::Data(format!("a batch of {n} ids does not fit {b} records")));
    }
    let k = n / b;
    if order.len() != k && order.len() != n {
        return Err(Error::Data(format!("{k} positions but an order of {}", order.len())));
    }
    let mut trace =
        Trace { inputs: Vec::new(), gates: Vec::new(), h_prev: Vec::new(), c_prev: Vec::new() };
    let mut input: Option<Tensor> = None;
    let mut top = Vec::new();
    for (l, (layer, (h0, c0))) in layers.lstm.iter().zip(carry.layers.iter_mut()).enumerate() {
        let gates_in = match &input {
            Some(x) => layer.input_gates(x)?,
            None => {
                let (tokens, fields, bag) = match &layer0 {
                    Layer0::Tables(t) => (&t.tokens, &t.fields, t.context.as_ref()),
                    Layer0::Project => (
                        &layers.token_embedding.weight,
                        &layers.field_embedding.weight,
                        layers.context_embedding.as_ref().map(|c| &c.weight),
                    ),
                };
                // One field per position is added to each record's row by broadcasting; one
                // per record, row by row (the same sums).
                let fields = match order.len() == k {
                    true => field_rows(fields, order)?.unsqueeze(1)?,
                    false => field_rows(fields, order)?.reshape((k, b, ()))?,
                };
                let mut x = tokens.embedding(ids)?.reshape((k, b, ()))?.broadcast_add(&fields)?;
                if let Some(bag) = bag {
                    x = (x + running_sums(
                        &bag.embedding(ids)?.reshape((k, b, ()))?,
                        &mut carry.context,
                    )?)?;
                }
                let x = x.reshape((k * b, ()))?;
                match layer0 {
                    Layer0::Tables(_) => x,
                    Layer0::Project => layer.input_gates(&x)?,
                }
            }
        };
        let (hs, w_hh_t) = (layer.hidden()?, layer.weight_hh.t()?);
        let (mut h, mut c) = (h0.clone(), c0.clone());
        let (mut gates, mut h_prev, mut c_prev) = (Vec::new(), Vec::new(), Vec::new());
        let mut outputs = Vec::with_capacity(k);
        for s in 0..k {
            let g = (gates_in.narrow(0, s * b, b)? + h.matmul(&w_hh_t)?)?;
            let (h_next, c_next) = cell(&g, &c, hs)?;
            let mask = masks.and_then(|m| m.get(l)).and_then(|m| m.get(s)).and_then(Option::as_ref);
            outputs.push(match mask {
                Some(m) => (&h_next * m)?,
                None => h_next.clone(),
            });
            if keep {
                gates.push(g);
                h_prev.push(h);
                c_prev.push(c);
            }
            (h, c) = (h_next, c_next);
        }
        (*h0, *c0) = (h, c);
        if keep {
            trace.gates.push(gates);
            trace.h_prev.push(Tensor::cat(&h_prev, 0)?);
            trace.c_prev.push(c_prev);
            trace.inputs.extend(input.take());
        }
        if l + 1 == layers.lstm.len() {
            top = outputs;
        } else {
            input = Some(Tensor::cat(&outputs, 0)?);
        }
    }
    Ok(Forward { top, trace: keep.then_some(trace) })
}

/// [`LstmModel::advance`] for a folded model: layer 0 in one [`crate::lstm_cell::step`], its
/// inputs looked up in `stacked` (`[vocab + 1 + fields (+ vocab + 1), 4h]`: each record's token,
/// field and context rows); a layer above adds its input projection of the layer below to its
/// recurrent product, as [`forward`] does. The same sums in the same order as [`forward`], so
/// the same values.
fn advance_stacked(
    layers: &Layers,
    carry: &mut Carry,
    stacked: &InputRows,
    previous: &[u32],
    fields: &[u32],
) -> Result<Tensor> {
    let token_rows = layers.token_embedding.weight.dim(0)? as u32;
    let field_rows = layers.field_embedding.weight.dim(0)? as u32;
    if previous.iter().any(|&id| id >= token_rows) {
        return Err(Error::Data(format!("a token id is beyond the model's {token_rows}")));
    }
    let with_context = layers.context_embedding.is_some();
    let field_of = |r: usize| fields.get(r).or(fields.first()).copied().unwrap_or(0);
    let lookups: Vec<u32> = (0..previous.len())
        .flat_map(|r| {
            let (id, f) = (previous[r], token_rows + field_of(r));
            let context = with_context.then_some(token_rows + field_rows + id);
            [id, f].into_iter().chain(context)
        })
        .collect();
    let mut below: Option<Tensor> = None;
    for (layer, (h, c)) in layers.lstm.iter().zip(carry.layers.iter_mut()) {
        let hw = h.matmul(&layer.weight_hh.t()?)?;
        let (h_next, c_next) = match &below {
            None => {
                let context = with_context.then_some(&mut carry.context);
                crate::lstm_cell::step(&hw, c, stacked, &lookups, context)?
            }
            Some(x) => cell(&(layer.input_gates(x)? + hw)?, c, layer.hidden()?)?,
        };
        (*h, *c) = (h_next.clone(), c_next);
        below = Some(h_next);
    }
    below.ok_or_else(|| Error::Data("the model has no layers".into()))
}

/// The running sums over positions of `rows` (`[k, B, d]`), each position's sum including its
/// own row, started from `context` (`[B, d]`, `None`: zero), which is left at the last sum.
/// A loop of `k` additions, not `cumsum`'s triangular product: exact running sums, and no
/// transposed copies.
pub(crate) fn running_sums(rows: &Tensor, context: &mut Option<Tensor>) -> Result<Tensor> {
    let k = rows.dim(0)?;
    let mut sums = Vec::with_capacity(k);
    for s in 0..k {
        let row = rows.get(s)?;
        let sum = match context.take() {
            Some(before) => (before + row)?,
            None => row,
        };
        sums.push(sum.clone());
        *context = Some(sum);
    }
    Ok(Tensor::stack(&sums, 0)?)
}

/// The rows of a per-field table (`[fields, ·]`) for the fields `order`, one per position.
pub(crate) fn field_rows(table: &Tensor, order: &[u32]) -> Result<Tensor> {
    let fields = table.dim(0)?;
    if let Some(&f) = order.iter().find(|&&f| f as usize >= fields) {
        return Err(Error::Data(format!("field {f} is beyond the model's {fields}")));
    }
    Ok(table.index_select(&Tensor::from_slice(order, order.len(), table.device())?, 0)?)
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
        if config.has_context() {
            shapes.push(("context_embedding.weight".to_string(), vec![tokens, e]));
        }
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

    /// A freshly initialised model on `device` (PyTorch's default initialisations, forget-gate
    /// bias 1), drawn from `seed` in the fixed parameter order, so any device starts from the
    /// same weights.
    pub fn new(
        config: &ModelConfig,
        fields: &[Field],
        vocab_size: u32,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = Rng::new(seed, 0x1417);
        let h = config.hidden_size;
        let embedding_bound = 0.1;
        let k = 1.0 / (h as f64).sqrt();
        let mut tensors = HashMap::new();
        for (name, shape) in Self::parameter_shapes(config, fields.len(), vocab_size)? {
            let bound = if name.ends_with("embedding.weight") { embedding_bound } else { k };
            let n: usize = shape.iter().product();
            let mut values: Vec<f32> =
                (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32).collect();
            if name.starts_with("lstm.bias_ih") {
                // The forget gate's bias starts at 1 (its slice is the second quarter).
                values[h..2 * h].iter_mut().for_each(|b| *b += 1.0);
            }
            tensors.insert(name, Tensor::from_vec(values, shape, device)?);
        }
        Self::from_tensors(config, fields, vocab_size, &tensors, device)
    }

    /// Rebuilds a model on `device` from saved tensors (on any device), checking every name,
    /// shape and dtype first (tensors beyond the model's are ignored).
    pub fn from_tensors(
        config: &ModelConfig,
        fields: &[Field],
        vocab_size: u32,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        let shapes = Self::parameter_shapes(config, fields.len(), vocab_size)?;
        for (name, shape) in &shapes {
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
        }
        // The variables, by name, for the layers to pick up through the `VarBuilder`.
        let varmap = VarMap::new();
        let mut named = Vec::with_capacity(shapes.len());
        {
            let mut vars = varmap
                .data()
                .lock()
                .map_err(|_| Error::Data("the model's variables are poisoned".into()))?;
            for (name, _) in shapes {
                let var = Var::from_tensor(&tensors[name.as_str()].to_device(device)?)?;
                vars.insert(name.clone(), var.clone());
                named.push((name, var));
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let layers = Layers::new(vb, config, fields.len(), vocab_size as usize)?;
        Ok(LstmModel {
            config: config.clone(),
            fields: fields.to_vec(),
            vocab_size: vocab_size as usize,
            params: Params { named },
            layers,
            device: device.clone(),
        })
    }

    /// The same model on `device` (a copy of its weights; itself when already there).
    pub fn to_device(&self, device: &Device) -> Result<LstmModel> {
        let tensors = self
            .params
            .iter()
            .map(|(name, var)| (name.to_string(), var.as_tensor().clone()))
            .collect();
        let vocab = self.vocab_size as u32;
        Self::from_tensors(&self.config, &self.fields, vocab, &tensors, device)
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The layers (trainable variables; [`Layers::detach`] them for the hand-written passes).
    pub(crate) fn layers(&self) -> &Layers {
        &self.layers
    }

    /// The model's size settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device every tensor of the model, its training and its generation lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The id of the start token (one past the tokenizer's vocabulary).
    pub fn start_token(&self) -> u32 {
        self.vocab_size as u32
    }

    /// The fields, one per position.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The zero `(h, c)` of every layer for `batch` records.
    pub(crate) fn zero_state(&self, batch: usize) -> Result<Carry> {
        let zeros = Tensor::zeros((batch, self.config.hidden_size), DType::F32, &self.device)?;
        Ok(Carry { layers: vec![(zeros.clone(), zeros); self.config.layers], context: None })
    }

    /// Inverted-dropout masks of every layer's output for `positions` positions of `batch`
    /// records, drawn position by position, then layer by layer (`None` without dropout).
    pub(crate) fn dropout_masks(
        &self,
        batch: usize,
        positions: usize,
        rng: &mut Rng,
    ) -> Result<Masks> {
        let hs = self.config.hidden_size;
        let p = f64::from(self.config.dropout());
        let mut masks = vec![Vec::with_capacity(positions); self.config.layers];
        for _ in 0..positions {
            for layer_masks in masks.iter_mut() {
                layer_masks.push(if p > 0.0 {
                    let scale = (1.0 / (1.0 - p)) as f32;
                    let mask: Vec<f32> = (0..batch * hs)
                        .map(|_| if rng.uniform() < p { 0.0 } else { scale })
                        .collect();
                    Some(Tensor::from_vec(mask, (batch, hs), &self.device)?)
                } else {
                    None
                });
            }
        }
        Ok(masks)
    }

    /// The state before the first position of a generated batch of `batch` records. With
    /// `folded`, its steps look layer 0's input up in tables (the token and field embeddings
    /// projected once per batch, as training does) instead of projecting it at every step:
    /// a third of a step's multiply-adds (9 % faster on Adult), the same values rounded
    /// differently (see [`crate::artifact::FORMAT_VERSION`]); the lookups, the sums and the
    /// cell then run as one fused pass (`lstm_cell::step`).
    pub fn initial_state(&self, batch: usize, folded: bool) -> Result<State> {
        let stacked = match folded {
            true => {
                let t = self.layers.detach().input_tables()?;
                let parts: Vec<&Tensor> =
                    [&t.tokens, &t.fields].into_iter().chain(&t.context).collect();
                Some(InputRows::new(Tensor::cat(&parts, 0)?)?)
            }
            false => None,
        };
        Ok(State { carry: self.zero_state(batch)?, stacked })
    }

    /// One generation step: feeds the previous tokens (global ids, one per record) for field
    /// `field`, advances `state`, and returns the logits over that field's vocabulary
    /// (`[batch, size]`).
    pub fn step(&self, state: &mut State, previous: &[u32], field: usize) -> Result<Tensor> {
        self.step_rows(state, previous, field, None)?
            .ok_or_else(|| Error::Data("a step for every record gave no logits".into()))
    }

    /// [`LstmModel::step`] with the logits of the records `rows` only (`[rows, size]`, in that
    /// order; `None`: every record; none at all when `rows` is empty): records whose token is
    /// forced need none, and the output product over a 2,048-token text vocabulary costs as
    /// much as the recurrence. The state still advances for every record.
    pub fn step_rows(
        &self,
        state: &mut State,
        previous: &[u32],
        field: usize,
        rows: Option<&[u32]>,
    ) -> Result<Option<Tensor>> {
        let top = self.advance(state, previous, &[field as u32])?;
        self.field_logits(&top, field, rows)
    }

    /// Advances `state` by one position: record `r` feeds `previous[r]` (a global id) and
    /// predicts field `fields[r]` (or every record `fields[0]`, when `fields` has one entry).
    /// Returns the top layer's output (`[batch, h]`), which [`LstmModel::field_logits`] turns
    /// into each record's logits.
    pub fn advance(&self, state: &mut State, previous: &[u32], fields: &[u32]) -> Result<Tensor> {
        let count = self.fields.len();
        if let Some(&f) = fields.iter().find(|&&f| f as usize >= count) {
            return Err(Error::Data(format!("field {f} is beyond the model's {count}")));
        }
        let layers = self.layers.detach();
        if let Some(stacked) = &state.stacked {
            return advance_stacked(&layers, &mut state.carry, stacked, previous, fields);
        }
        let ids = Tensor::from_slice(previous, previous.len(), &self.device)?;
        let out = forward(&layers, Layer0::Project, &ids, fields, &mut state.carry, None, false)?;
        out.top.into_iter().next_back().ok_or_else(|| Error::Data("the model has no layers".into()))
    }

    /// The logits over field `field`'s vocabulary of the records `rows` of `top` (an output of
    /// [`LstmModel::advance`]; `[rows, size]`, in that order; `None`: every record; none at all
    /// when `rows` is empty).
    pub fn field_logits(
        &self,
        top: &Tensor,
        field: usize,
        rows: Option<&[u32]>,
    ) -> Result<Option<Tensor>> {
        let f = *self.fields.get(field).ok_or_else(|| {
            Error::Data(format!("field {field} is beyond the model's {}", self.fields.len()))
        })?;
        let top = match rows {
            None => top.clone(),
            Some([]) => return Ok(None),
            Some(rows) => top
                .contiguous()?
                .index_select(&Tensor::from_slice(rows, rows.len(), &self.device)?, 0)?,
        };
        Ok(Some(self.layers.detach().output.logits(&top, f)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::FieldRole;

    fn tiny(device: &Device) -> Result<LstmModel> {
        let fields = [
            Field { column: 0, role: FieldRole::Category, offset: 0, size: 3 },
            Field { column: 1, role: FieldRole::Category, offset: 3, size: 4 },
            Field { column: 2, role: FieldRole::Category, offset: 7, size: 2 },
        ];
        let config = ModelConfig {
            embedding_dim: 3,
            hidden_size: 4,
            layers: 2,
            dropout: Some(0.0),
            context: None,
            ..ModelConfig::default()
        };
        LstmModel::new(&config, &fields, 9, 11, device)
    }

    fn values(t: &Tensor) -> Result<Vec<Vec<f32>>> {
        Ok(match t.rank() {
            1 => vec![t.to_vec1()?],
            _ => t.to_vec2()?,
        })
    }

    #[test]
    fn a_step_for_some_rows_gives_their_logits_and_advances_every_state() -> Result<()> {
        let m = tiny(&Device::Cpu)?;
        let (mut all, mut some) = (m.initial_state(3, true)?, m.initial_state(3, true)?);
        let start = [m.start_token(); 3];
        m.step(&mut all, &start, 0)?;
        assert!(m.step_rows(&mut some, &start, 0, Some(&[]))?.is_none());
        // Different previous tokens make the three rows differ.
        let full = values(&m.step(&mut all, &[0, 1, 2], 1)?)?;
        let part = m.step_rows(&mut some, &[0, 1, 2], 1, Some(&[2, 0]))?;
        let part = values(&part.expect("logits of two rows"))?;
        assert_eq!(part, vec![full[2].clone(), full[0].clone()]);
        assert_ne!(full[0], full[2]);
        // Both states advanced alike: the next step agrees on every row.
        assert_eq!(
            values(&m.step(&mut all, &[3, 4, 5], 2)?)?,
            values(&m.step(&mut some, &[3, 4, 5], 2)?)?
        );
        Ok(())
    }

    /// The LSTM equations computed with scalar loops (PyTorch's nn.LSTM documentation).
    fn reference_layer(layer: &LstmLayer, xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let w_ih = values(&layer.weight_ih)?;
        let w_hh = values(&layer.weight_hh)?;
        let b_ih = &values(&layer.bias_ih)?[0];
        let b_hh = &values(&layer.bias_hh)?[0];
        let hs = w_hh[0].len();
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
    fn the_forward_pass_matches_a_scalar_reference() -> Result<()> {
        let m = tiny(&Device::Cpu)?;
        let layers = m.layers().detach();
        // One record: start token, then tokens 2 and 5 as the previous tokens.
        let ids = [m.start_token(), 2, 5];
        let tokens = values(&layers.token_embedding.weight)?;
        let fields = values(&layers.field_embedding.weight)?;
        let xs: Vec<Vec<f32>> = ids
            .iter()
            .enumerate()
            .map(|(t, &id)| {
                tokens[id as usize].iter().zip(&fields[t]).map(|(a, b)| a + b).collect()
            })
            .collect();
        let want = reference_layer(&layers.lstm[1], &reference_layer(&layers.lstm[0], &xs)?)?;
        let ids = Tensor::from_slice(&ids, 3, m.device())?;
        let mut state = m.zero_state(1)?;
        let tables = layers.input_tables()?;
        let got =
            forward(&layers, Layer0::Tables(&tables), &ids, &[0, 1, 2], &mut state, None, true)?;
        for (g, w) in got.top.iter().zip(&want) {
            for (g, w) in g.squeeze(0)?.to_vec1::<f32>()?.iter().zip(w) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        // The trace holds every layer's gates and states at every position.
        let trace = got.trace.expect("kept");
        assert_eq!((trace.gates.len(), trace.gates[0].len(), trace.inputs.len()), (2, 3, 1));
        Ok(())
    }

    #[test]
    fn stepwise_generation_matches_the_whole_sequence_pass() -> Result<()> {
        stepwise_matches_whole(&tiny(&Device::Cpu)?)?;
        // With the context sum, carried from step to step in the generation state.
        let fields = tiny(&Device::Cpu)?.fields().to_vec();
        let config = ModelConfig {
            embedding_dim: 3,
            hidden_size: 4,
            layers: 2,
            dropout: Some(0.0),
            context: Some(true),
            ..ModelConfig::default()
        };
        stepwise_matches_whole(&LstmModel::new(&config, &fields, 9, 12, &Device::Cpu)?)
    }

    fn stepwise_matches_whole(m: &LstmModel) -> Result<()> {
        let previous = [[m.start_token(), m.start_token()], [1, 0], [3 + 2, 3]];
        let layers = m.layers().detach();
        let ids: Vec<u32> = previous.concat();
        let ids = Tensor::from_vec(ids, 6, m.device())?;
        let mut state = m.zero_state(2)?;
        let tables = layers.input_tables()?;
        let order = [0, 1, 2];
        let whole =
            forward(&layers, Layer0::Tables(&tables), &ids, &order, &mut state, None, false)?;
        // Projected (format version 1's generation) and folded (later versions') steps.
        for folded in [false, true] {
            let mut gen = m.initial_state(2, folded)?;
            for (t, prev) in previous.iter().enumerate() {
                let step = m.step(&mut gen, prev, t)?;
                let want = layers.output.logits(&whole.top[t], m.fields()[t])?;
                let diff = (step - want)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "position {t}, folded {folded}: {diff}");
            }
            assert!(m.step(&mut gen, &[0, 0], 3).is_err(), "a field past the last is refused");
        }
        Ok(())
    }

    #[test]
    fn layers_are_built_under_pytorch_names_and_share_the_variables() -> Result<()> {
        let m = tiny(&Device::Cpu)?;
        let names: Vec<&str> = m.params().iter().map(|(n, _)| n).collect();
        assert_eq!(
            names[..3],
            ["token_embedding.weight", "field_embedding.weight", "lstm.weight_ih_l0"]
        );
        assert_eq!(names.last(), Some(&"output.bias"));
        // Setting a variable changes the layer built from it.
        let (_, var) = m.params().iter().find(|(n, _)| *n == "lstm.bias_hh_l1").expect("exists");
        var.set(&var.ones_like()?)?;
        assert_eq!(m.layers().lstm[1].bias_hh.to_vec1::<f32>()?, vec![1.0; 16]);
        // A copy on a device has the same weights.
        let copy = m.to_device(&Device::Cpu)?;
        for ((_, a), (_, b)) in m.params().iter().zip(copy.params().iter()) {
            assert_eq!(a.flatten_all()?.to_vec1::<f32>()?, b.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(())
    }
}
