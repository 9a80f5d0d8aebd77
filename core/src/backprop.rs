//! The LSTM's forward and backward passes written out by hand, with per-unit gradient clipping.
//!
//! DP-SGD needs each privacy unit's gradient norm before it may sum gradients. Materialising one
//! gradient per unit costs memory of batch size times parameter count; instead every parameter's
//! per-unit norm is computed from quantities the backward pass already holds (the "ghost norm"
//! of Li et al. 2021, "Large language models can be strong differentially private learners",
//! Section 4, and Goodfellow 2015), and the clipped sum reuses them (the book-keeping of Bu et
//! al. 2023, "Differentially private optimization on large model at small cost", Algorithm 1):
//!
//! - every weight's gradient is a sum of outer products `Σ b ⊗ a` over the unit's (record,
//!   position) pairs, of an output gradient `b` and the input `a` the forward pass saw; so its
//!   squared norm is `Σ_{i,j} (a_i·a_j)(b_i·b_j)`, two Gram matrices (dense weights);
//! - the output layer, the token and the field embeddings are used one vocabulary slice per
//!   position (fields own disjoint slices; a text column's slots share one, but DP training
//!   refuses text and the norms refuse shared slices), so only pairs at the same position
//!   interact;
//! - backpropagation is linear in the loss gradient, so scaling a unit's output gradients by its
//!   clip factor scales all of its signals, and one set of weight-gradient products over the
//!   scaled signals yields the clipped sum without a second backward pass.
//!
//! Without clipping the same code gives the plain gradient of the summed loss; training uses it
//! either way, so private and non-private training share one engine.
//!
//! Cost per record of `T` positions, hidden size `h`: the backward pass is about
//! `2·T·(4h·(in + h))` multiply-adds per layer for the weight gradients; the Gram matrices add
//! `T²·(4h + in + h)`, a fifth of that at `T = 20, h = 128`.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::lstm_cell::cell_backward;
use crate::model::{field_rows, forward, Layer0, Layers, LstmModel, Masks, Trace};
use crate::rng::Rng;
use crate::tokenizer::Field;

/// A batch of encoded records, row-major `[records, positions]`, every record in one order of
/// the fields.
pub struct Batch<'a> {
    /// Global id of each position's previous token (the start token at position 0).
    pub inputs: &'a [u32],
    /// Local id of each position's target within its field.
    pub targets: &'a [u32],
    /// Loss weight of each target (0 for forced tokens).
    pub weights: &'a [f32],
    /// The field each position predicts: the tokenizer's order `0, 1, …`, or for any-order
    /// training another order of the fields (a column's fields kept together).
    pub order: &'a [u32],
}

impl Batch<'_> {
    fn records(&self) -> usize {
        self.inputs.len() / self.positions().max(1)
    }

    fn positions(&self) -> usize {
        self.order.len()
    }
}

/// Per-unit clipping of the gradient (DP-SGD's first stage).
pub struct Clip<'a> {
    /// Largest L2 norm a unit's gradient keeps (over all parameters together).
    pub max_norm: f64,
    /// The privacy unit of each record (`0..units`); `None` makes each record its own unit.
    pub units: Option<&'a [usize]>,
}

/// The result of one forward and backward pass.
pub struct Gradients {
    /// Sum over records of the weighted negative log-likelihood (nats).
    pub loss: f64,
    /// Sum of the target weights (the number of learned tokens).
    pub tokens: f64,
    /// One gradient per parameter, in the model's parameter order: the gradient of the summed
    /// loss, or with clipping the sum of the units' clipped gradients.
    pub grads: Vec<Tensor>,
    /// With clipping: each unit's gradient norm before clipping. Facts about private units:
    /// training never releases them; the tests compare them with naive per-unit norms.
    #[cfg_attr(not(test), allow(dead_code))]
    pub norms: Vec<f64>,
}

/// One forward pass over a batch and what the backward pass needs from it.
struct Pass<'a> {
    /// The model's fields, in the tokenizer's (vocabulary) order.
    all: &'a [Field],
    /// The batch's order: the field of each position, and those fields.
    order: Vec<u32>,
    fields: Vec<Field>,
    /// The weights, detached from autograd.
    layers: Layers,
    /// Time-major previous-token ids `[T·B]`: row `s·B + r` is record r at position s.
    ids: Tensor,
    masks: Option<Masks>,
    /// Per position: the top layer's output after dropout `[B, h]`.
    top: Vec<Tensor>,
    trace: Trace,
    device: Device,
}

impl Pass<'_> {
    /// The dropout mask of layer `l`'s output at position `s`, if any.
    fn mask(&self, l: usize, s: usize) -> Option<&Tensor> {
        self.masks.as_ref()?.get(l)?.get(s)?.as_ref()
    }
}

/// Checks a batch's shape and the fields' layout the hand-written passes rely on.
fn check(model: &LstmModel, batch: &Batch) -> Result<()> {
    let (b, t) = (batch.records(), batch.positions());
    let cells = [batch.inputs.len(), batch.targets.len(), batch.weights.len()];
    if b == 0 || t == 0 || cells.iter().any(|&n| n != b * t) {
        return Err(Error::Data("a training batch has no records or ragged records".into()));
    }
    let mut seen = vec![false; model.fields().len()];
    for &f in batch.order {
        match seen.get_mut(f as usize) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(Error::Data(format!(
                    "a batch's order repeats field {f} or has no such field"
                )))
            }
        }
    }
    // The output gradient's layout relies on each field's vocabulary slice being the previous
    // field's (a text column's slots) or the next one in position order (as the tokenizer
    // builds them).
    let mut previous: Option<&Field> = None;
    let mut next = 0;
    for f in model.fields() {
        if previous.is_some_and(|p| p.shares_slice_with(f)) {
            continue;
        }
        if f.offset != next {
            return Err(Error::Data(
                "tokenizer fields are not consecutive vocabulary slices".into(),
            ));
        }
        next += f.size;
        previous = Some(f);
    }
    Ok(())
}

/// Runs [`forward`] over a whole batch from the zero state, keeping its trace.
fn run<'a>(model: &'a LstmModel, batch: &Batch, dropout: Option<&mut Rng>) -> Result<Pass<'a>> {
    let (b, t) = (batch.records(), batch.positions());
    let device = model.device().clone();
    let layers = model.layers().detach();
    let ids = time_major_ids(batch, &device)?;
    let masks = dropout.map(|rng| model.dropout_masks(b, t, rng)).transpose()?;
    let mut state = model.zero_state(b)?;
    let tables = layers.input_tables()?;
    let order = batch.order;
    let out =
        forward(&layers, Layer0::Tables(&tables), &ids, order, &mut state, masks.as_ref(), true)?;
    let trace = out.trace.ok_or_else(|| Error::Data("the forward pass kept no trace".into()))?;
    let all = model.fields();
    let fields = order.iter().map(|&f| all[f as usize]).collect();
    let order = order.to_vec();
    Ok(Pass { all, order, fields, layers, ids, masks, top: out.top, trace, device })
}

/// Loss and gradients of `batch`, optionally clipped per unit. With a `dropout` generator,
/// dropout masks are drawn position by position, layer by layer
/// ([`LstmModel::dropout_masks`]).
pub fn gradients(
    model: &LstmModel,
    batch: &Batch,
    dropout: Option<&mut Rng>,
    clip: Option<&Clip>,
) -> Result<Gradients> {
    check(model, batch)?;
    let b = batch.records();
    let pass = run(model, batch, dropout)?;
    let (loss, tokens, dlogits) = output_gradients(&pass, batch, true)?;
    let dh_top = top_gradients(&pass, &dlogits)?;
    let dgates = recurrent_gradients(&pass, dh_top)?;
    let (factors, norms) = match clip {
        None => (None, Vec::new()),
        Some(clip) => {
            let units = match clip.units {
                Some(u) => u.to_vec(),
                None => (0..b).collect(),
            };
            let sq = squared_norms(batch, &pass, &dlogits, &dgates, &units)?;
            let norms: Vec<f64> = sq.iter().map(|s| s.max(0.0).sqrt()).collect();
            // Opacus's clip factor: min(1, C / (norm + 1e-6)).
            let per_unit: Vec<f32> =
                norms.iter().map(|n| (clip.max_norm / (n + 1e-6)).min(1.0) as f32).collect();
            let per_record: Vec<f32> = units.iter().map(|&u| per_unit[u]).collect();
            (Some(per_record), norms)
        }
    };
    let grads = weight_gradients(&pass, &dlogits, &dgates, factors.as_deref())?;
    Ok(Gradients { loss, tokens, grads, norms })
}

/// The summed weighted negative log-likelihood of `batch` and its weighted token count, without
/// dropout (validation).
pub fn loss(model: &LstmModel, batch: &Batch) -> Result<(f64, f64)> {
    check(model, batch)?;
    let pass = run(model, batch, None)?;
    let (loss, tokens, _) = output_gradients(&pass, batch, false)?;
    Ok((loss, tokens))
}

/// The batch's previous-token ids, time-major.
fn time_major_ids(batch: &Batch, device: &Device) -> Result<Tensor> {
    let (b, t) = (batch.records(), batch.positions());
    let ids: Vec<u32> = (0..t).flat_map(|s| (0..b).map(move |r| batch.inputs[r * t + s])).collect();
    Ok(Tensor::from_vec(ids, t * b, device)?)
}

/// Layer 0's input `E_tok[id] + E_field[order[s]]` (plus the context sum, when the model has
/// it), time-major `[T·B, e]`.
fn embedded_input(pass: &Pass, t: usize) -> Result<Tensor> {
    let b = pass.ids.dim(0)? / t;
    let tokens = pass.layers.token_embedding.weight.embedding(&pass.ids)?.reshape((t, b, ()))?;
    let fields = field_rows(&pass.layers.field_embedding.weight, &pass.order)?.unsqueeze(1)?;
    let mut x = tokens.broadcast_add(&fields)?;
    if let Some(bag) = &pass.layers.context_embedding {
        let rows = bag.weight.embedding(&pass.ids)?.reshape((t, b, ()))?;
        x = (x + crate::model::running_sums(&rows, &mut None)?)?;
    }
    Ok(x.reshape((t * b, ()))?)
}

/// For a time-major `[T·B, k]` matrix, at each position the sum over that position and every
/// later one, per record (`[T·B, k]`).
fn later_sums(x: &Tensor, t: usize) -> Result<Tensor> {
    let b = x.dim(0)? / t;
    let mut sums = vec![None; t];
    let mut running: Option<Tensor> = None;
    for s in (0..t).rev() {
        let row = x.narrow(0, s * b, b)?;
        let sum = match running.take() {
            Some(after) => (after + row)?,
            None => row,
        };
        sums[s] = Some(sum.clone());
        running = Some(sum);
    }
    let sums: Vec<Tensor> = sums.into_iter().flatten().collect();
    Ok(Tensor::cat(&sums, 0)?)
}

/// Sums of the rows of a `[n, k]` matrix, as a matrix product (candle's reduction along the
/// first dimension walks memory with a stride and was a tenth of training time).
fn row_sum(x: &Tensor) -> Result<Tensor> {
    let ones = Tensor::ones((1, x.dim(0)?), DType::F32, x.device())?;
    Ok(ones.matmul(x)?.squeeze(0)?)
}

/// Per-position sums over the batch of a time-major `[T·B, k]` matrix: `[T, k]`.
fn position_sums(x: &Tensor, t: usize) -> Result<Tensor> {
    let b = x.dim(0)? / t;
    let ones = Tensor::ones((t, 1, b), DType::F32, x.device())?;
    Ok(ones.matmul(&x.reshape((t, b, ()))?)?.squeeze(1)?)
}

/// One position's gradient with respect to its logits, over the records that carry loss there:
/// a forced token (weight 0, such as a text's padding after its end) costs no output product,
/// no softmax and no gradient (most of a text column's positions are padding).
struct LogitGrad {
    /// The records covered, as row indices; `None`: every record of the batch.
    rows: Option<Tensor>,
    /// `[rows, size]`, `w·(softmax − one-hot)`; `None` when no record carries loss here.
    grad: Option<Tensor>,
}

impl LogitGrad {
    /// The rows of `x` (`[B, k]`) of the covered records.
    fn select(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.rows {
            Some(rows) => x.contiguous()?.index_select(rows, 0)?,
            None => x.clone(),
        })
    }

    /// `x` (one row per covered record) spread over `b` records, zeros elsewhere.
    fn spread(&self, x: Tensor, b: usize) -> Result<Tensor> {
        Ok(match &self.rows {
            Some(rows) => {
                Tensor::zeros((b, x.dim(1)?), DType::F32, x.device())?.index_add(rows, &x, 0)?
            }
            None => x,
        })
    }

    /// The gradient over all `b` records, `[b, size]`.
    fn dense(&self, b: usize, size: usize, device: &Device) -> Result<Tensor> {
        match &self.grad {
            Some(g) => self.spread(g.clone(), b),
            None => Ok(Tensor::zeros((b, size), DType::F32, device)?),
        }
    }
}

/// The loss, the weighted token count, and (with `grad`) per position the gradient of the
/// summed loss with respect to that position's logits (see [`LogitGrad`]).
fn output_gradients(pass: &Pass, batch: &Batch, grad: bool) -> Result<(f64, f64, Vec<LogitGrad>)> {
    let (b, t) = (batch.records(), batch.positions());
    let (mut loss, mut tokens) = (0.0f64, 0.0f64);
    let mut dlogits = Vec::with_capacity(t);
    for (s, y) in pass.top.iter().enumerate() {
        let active: Vec<u32> =
            (0..b).filter(|&r| batch.weights[r * t + s] != 0.0).map(|r| r as u32).collect();
        let rows = match active.len() {
            n if n == b => None,
            n => Some(Tensor::from_slice(&active, n, &pass.device)?),
        };
        let mut signal = LogitGrad { rows, grad: None };
        if !active.is_empty() {
            let logits = pass.layers.output.logits(&signal.select(y)?, pass.fields[s])?;
            let size = logits.dim(1)?;
            let mut values = logits.flatten_all()?.to_vec1::<f32>()?;
            for (&r, row) in active.iter().zip(values.chunks_mut(size)) {
                let at = r as usize * t + s;
                let (weight, target) = (batch.weights[at], batch.targets[at] as usize);
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for v in row.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                // Targets are local ids within the field, which encoding guarantees; a checked
                // lookup turns a broken guarantee into an error instead of a panic.
                let p_target = row.get(target).ok_or_else(|| {
                    Error::Data(format!("target token {target} outside its field of {size}"))
                })? / sum;
                // Diverged weights make the probability NaN, which must reach the loss (and
                // stop training there): `f32::max` would turn it into the clamp.
                let p_target =
                    if p_target.is_nan() { p_target } else { p_target.max(f32::MIN_POSITIVE) };
                loss -= f64::from(weight) * f64::from(p_target).ln();
                tokens += f64::from(weight);
                if grad {
                    for v in row.iter_mut() {
                        *v *= weight / sum;
                    }
                    row[target] -= weight;
                }
            }
            if grad {
                signal.grad = Some(Tensor::from_vec(values, (active.len(), size), &pass.device)?);
            }
        }
        if grad {
            dlogits.push(signal);
        }
    }
    Ok((loss, tokens, dlogits))
}

/// The gradient with respect to the top layer's hidden state at every step (before dropout).
fn top_gradients(pass: &Pass, dlogits: &[LogitGrad]) -> Result<Vec<Tensor>> {
    let top = pass.layers.lstm.len() - 1;
    dlogits
        .iter()
        .enumerate()
        .map(|(s, dl)| {
            let y = &pass.top[s];
            let dy = match &dl.grad {
                Some(g) => {
                    dl.spread(g.matmul(&pass.layers.output.slice(pass.fields[s])?.0)?, y.dim(0)?)?
                }
                None => y.zeros_like()?,
            };
            Ok(match pass.mask(top, s) {
                Some(m) => (dy * m)?,
                None => dy,
            })
        })
        .collect()
}

/// Backpropagation through time, layer by layer from the top: per layer the gate gradients
/// `[T·B, 4h]` (time-major).
fn recurrent_gradients(pass: &Pass, mut dh_in: Vec<Tensor>) -> Result<Vec<Tensor>> {
    let trace = &pass.trace;
    let layers = trace.gates.len();
    let t = dh_in.len();
    let mut dgates = vec![None; layers];
    for l in (0..layers).rev() {
        let w_hh = &pass.layers.lstm[l].weight_hh;
        let mut dh_rec = dh_in[0].zeros_like()?;
        let mut dc = dh_rec.clone();
        let mut steps = vec![None; t];
        for s in (0..t).rev() {
            let d = Tensor::cat(&[&(&dh_in[s] + &dh_rec)?, &dc], 1)?;
            let (dg, dc_prev) = cell_backward(&trace.gates[l][s], &trace.c_prev[l][s], &d)?;
            dh_rec = dg.matmul(w_hh)?;
            dc = dc_prev;
            steps[s] = Some(dg);
        }
        let steps: Vec<Tensor> = steps.into_iter().flatten().collect();
        let dg = Tensor::cat(&steps, 0)?;
        if l > 0 {
            let d_input = dg.matmul(&pass.layers.lstm[l].weight_ih)?;
            let b = d_input.dim(0)? / t;
            dh_in = (0..t)
                .map(|s| {
                    let d = d_input.narrow(0, s * b, b)?;
                    Ok(match pass.mask(l - 1, s) {
                        Some(m) => (d * m)?,
                        None => d,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        }
        dgates[l] = Some(dg);
    }
    Ok(dgates.into_iter().flatten().collect())
}
/// Units of at most this many records take the ghost norm (Gram matrices); larger ones form
/// their dense gradients (see [`squared_norms`]). At 2, row-level units and small subjects stay
/// on the batched path.
const GHOST_RECORDS: usize = 2;

/// Each unit's squared gradient norm over all parameters, without materialising the gradient
/// of any unit of up to [`GHOST_RECORDS`] records. `units[r]` is record r's unit.
fn squared_norms(
    batch: &Batch,
    pass: &Pass,
    dlogits: &[LogitGrad],
    dgates: &[Tensor],
    units: &[usize],
) -> Result<Vec<f64>> {
    let (b, t) = (batch.records(), batch.positions());
    // The sparse parameters' norms below pair only a unit's records at the same position,
    // which needs every position to own its slice (text columns share theirs, and DP
    // training refuses them).
    if pass.fields.windows(2).any(|w| w[0].shares_slice_with(&w[1])) {
        return Err(Error::Data(
            "per-unit norms need one vocabulary slice per position; text columns share one".into(),
        ));
    }
    let count = units.iter().max().map_or(0, |m| m + 1);
    let mut members = vec![Vec::new(); count];
    for (r, &u) in units.iter().enumerate() {
        members[u].push(r);
    }
    let mut total = vec![0f64; count];

    // Dense weights. A unit of few records takes the ghost norm: Gram matrices over its
    // (record, position) pairs, padded to the longest such unit and batched. A larger unit
    // would make that padding quadratic in its size (one subject with 100 records once asked
    // for 2 GB), so its gradient is formed instead, one unit at a time: memory linear in its
    // pairs, and the same multiply-adds as the weight gradient itself (Bu et al. 2022, "mixed
    // ghost clipping", choose per layer between the two for the same reason).
    let (small, large): (Vec<usize>, Vec<usize>) =
        (0..count).partition(|&u| members[u].len() <= GHOST_RECORDS);
    let pairs = |rows: &[usize]| -> Vec<u32> {
        rows.iter().flat_map(|&r| (0..t).map(move |s| (s * b + r) as u32)).collect()
    };
    let layer_inputs = (0..dgates.len())
        .map(|l| match l {
            0 => embedded_input(pass, t),
            _ => Ok(pass.trace.inputs[l - 1].clone()),
        })
        .collect::<Result<Vec<Tensor>>>()?;
    if !small.is_empty() {
        let longest = small.iter().map(|&u| members[u].len()).max().unwrap_or(0) * t;
        let mut slots = vec![(t * b) as u32; small.len() * longest];
        for (k, &u) in small.iter().enumerate() {
            for (j, row) in pairs(&members[u]).into_iter().enumerate() {
                slots[k * longest + j] = row;
            }
        }
        let slots = Tensor::from_vec(slots, small.len() * longest, &pass.device)?;
        let gram = |x: &Tensor| -> Result<Tensor> {
            let padded = Tensor::cat(&[x, &x.narrow(0, 0, 1)?.zeros_like()?], 0)?;
            let per_unit = padded.index_select(&slots, 0)?.reshape((small.len(), longest, ()))?;
            Ok(per_unit.matmul(&per_unit.t()?)?)
        };
        for (l, dg) in dgates.iter().enumerate() {
            let g_gates = gram(dg)?;
            let input = (&gram(&layer_inputs[l])? * &g_gates)?.sum((1, 2))?;
            let hidden = (&gram(&pass.trace.h_prev[l])? * &g_gates)?.sum((1, 2))?;
            // b_ih and b_hh both receive Σ dg, whose squared norm is the sum of the gate Gram.
            let biases = (g_gates.sum((1, 2))? * 2.0)?;
            for part in [input, hidden, biases] {
                for (&u, v) in small.iter().zip(part.to_vec1::<f32>()?) {
                    total[u] += f64::from(v);
                }
            }
        }
    }
    for &u in &large {
        let index = pairs(&members[u]);
        let index = Tensor::from_vec(index.clone(), index.len(), &pass.device)?;
        for (l, dg) in dgates.iter().enumerate() {
            let g = dg.index_select(&index, 0)?;
            let g_t = g.t()?;
            let input = g_t.matmul(&layer_inputs[l].index_select(&index, 0)?)?;
            let hidden = g_t.matmul(&pass.trace.h_prev[l].index_select(&index, 0)?)?;
            let bias = g.sum(0)?;
            let squares = |x: &Tensor| -> Result<f64> {
                Ok(f64::from(x.sqr()?.sum_all()?.to_scalar::<f32>()?))
            };
            // b_ih and b_hh both receive the bias gradient.
            total[u] += squares(&input)? + squares(&hidden)? + 2.0 * squares(&bias)?;
        }
    }

    // Sparse parameters: position s touches only its own rows, so only pairs of a unit's
    // records at the same position interact.
    // The gradient of layer 0's input, shared by both embeddings.
    let w_ih = pass.layers.lstm[0].weight_ih.clone();
    let dx = dgates[0].matmul(&w_ih)?.to_vec2::<f32>()?;
    // The context embedding's row of the token fed at position s collects the input
    // gradients of s and every later position (see `weight_gradients`).
    let d_context = match pass.layers.context_embedding {
        Some(_) => Some(later_sums(&dgates[0], t)?.matmul(&w_ih)?.to_vec2::<f32>()?),
        None => None,
    };
    let dot =
        |a: &[f32], c: &[f32]| -> f64 { a.iter().zip(c).map(|(x, y)| f64::from(x * y)).sum() };
    for s in 0..t {
        let size = pass.fields[s].size as usize;
        let dl = dlogits[s].dense(b, size, &pass.device)?.to_vec2::<f32>()?;
        let y = pass.top[s].to_vec2::<f32>()?;
        for (u, rows) in members.iter().enumerate() {
            let mut sum = 0.0;
            for &r in rows {
                for &q in rows {
                    let logit_dot = dot(&dl[r], &dl[q]);
                    let dx_dot = dot(&dx[s * b + r], &dx[s * b + q]);
                    // output.weight, output.bias, field_embedding (one row per position),
                    // token_embedding (shared only by equal previous tokens).
                    sum += logit_dot * dot(&y[r], &y[q]) + logit_dot + dx_dot;
                    if batch.inputs[r * t + s] == batch.inputs[q * t + s] {
                        sum += dx_dot;
                        // context_embedding: the same rows as token_embedding's (a record's
                        // positions feed tokens of different fields, so no two positions of
                        // one record share a row).
                        if let Some(dc) = &d_context {
                            sum += dot(&dc[s * b + r], &dc[s * b + q]);
                        }
                    }
                }
            }
            total[u] += sum;
        }
    }
    Ok(total)
}

/// Every parameter's gradient from the signals, each record's signals scaled by its factor.
fn weight_gradients(
    pass: &Pass,
    dlogits: &[LogitGrad],
    dgates: &[Tensor],
    factors: Option<&[f32]>,
) -> Result<Vec<Tensor>> {
    let t = dlogits.len();
    let b = pass.ids.dim(0)? / t;
    let factors = match factors {
        Some(f) => Some(Tensor::from_slice(f, (b, 1), &pass.device)?),
        None => None,
    };
    // Time-major signals `[T·B, ·]` scaled row by row.
    let scale = |x: &Tensor| -> Result<Tensor> {
        Ok(match &factors {
            Some(f) => {
                x.reshape((t, b, ()))?.broadcast_mul(&f.unsqueeze(0)?)?.reshape((t * b, ()))?
            }
            None => x.clone(),
        })
    };
    let mut layers = Vec::with_capacity(dgates.len());
    let mut embeddings = None;
    for (l, dg) in dgates.iter().enumerate() {
        let dg = scale(dg)?;
        let dg_t = dg.t()?;
        let w_hh = dg_t.matmul(&pass.trace.h_prev[l])?;
        let w_ih = if l == 0 {
            // Through the folded tables: with S = Σ dg per previous token and F = Σ dg per
            // position, dW_ih = S^T E_tok + F^T E_field[order], dE_tok = S W_ih, and
            // dE_field = F W_ih scattered to the positions' fields.
            let e_tok = pass.layers.token_embedding.weight.clone();
            let e_field = pass.layers.field_embedding.weight.clone();
            let w_ih = pass.layers.lstm[0].weight_ih.clone();
            let per_token = Tensor::zeros((e_tok.dim(0)?, dg.dim(1)?), DType::F32, &pass.device)?
                .index_add(&pass.ids, &dg, 0)?;
            let per_position = position_sums(&dg, t)?;
            let order = Tensor::from_slice(&pass.order, t, &pass.device)?;
            let d_field =
                e_field.zeros_like()?.index_add(&order, &per_position.matmul(&w_ih)?, 0)?;
            let mut w_ih_grad = (per_token.t()?.matmul(&e_tok)?
                + per_position.t()?.matmul(&field_rows(&e_field, &pass.order)?)?)?;
            // The context sum: a token's context row enters every position from its own on,
            // so it collects the gradients of those positions (C = Σ over later positions
            // per token): dW_ih += C^T E_ctx, dE_ctx = C W_ih.
            let d_context = match &pass.layers.context_embedding {
                Some(e_ctx) => {
                    let later = later_sums(&dg, t)?;
                    let per_token = Tensor::zeros(
                        (e_ctx.weight.dim(0)?, dg.dim(1)?),
                        DType::F32,
                        &pass.device,
                    )?
                    .index_add(&pass.ids, &later, 0)?;
                    w_ih_grad = (w_ih_grad + per_token.t()?.matmul(&e_ctx.weight)?)?;
                    Some(per_token.matmul(&w_ih)?)
                }
                None => None,
            };
            embeddings = Some((per_token.matmul(&w_ih)?, d_field, d_context));
            w_ih_grad
        } else {
            dg_t.matmul(&pass.trace.inputs[l - 1])?
        };
        let bias = row_sum(&dg)?;
        layers.extend([w_ih, w_hh, bias.clone(), bias]);
    }
    let (token, field, context) =
        embeddings.ok_or_else(|| Error::Data("model has no layers".into()))?;
    let mut grads = vec![token, field];
    grads.extend(context);
    grads.extend(layers);
    // The output weight and bias rows per vocabulary slice, in vocabulary order (the
    // tokenizer's field order): positions sharing a slice add up; a slice no position
    // predicts gets zeros.
    let mut slices: Vec<(Field, Option<(Tensor, Tensor)>)> = Vec::new();
    for f in pass.all {
        if !slices.last().is_some_and(|(last, _)| last.shares_slice_with(f)) {
            slices.push((*f, None));
        }
    }
    for (s, dl) in dlogits.iter().enumerate() {
        let Some(g) = &dl.grad else { continue };
        let g = match &factors {
            Some(f) => g.broadcast_mul(&dl.select(f)?)?,
            None => g.clone(),
        };
        let (w, b) = (g.t()?.matmul(&dl.select(&pass.top[s])?)?, row_sum(&g)?);
        // `check` made the slices ascend by offset.
        let j = slices.partition_point(|(f, _)| f.offset < pass.fields[s].offset);
        let slot = &mut slices[j].1;
        *slot = Some(match slot.take() {
            Some((w0, b0)) => ((w0 + w)?, (b0 + b)?),
            None => (w, b),
        });
    }
    let h = pass.top.first().map_or(Ok(0), |y| y.dim(1))?;
    let (mut out_w, mut out_b) =
        (Vec::with_capacity(slices.len()), Vec::with_capacity(slices.len()));
    for (f, grads) in slices {
        let (w, b) = match grads {
            Some(wb) => wb,
            None => (
                Tensor::zeros((f.size as usize, h), DType::F32, &pass.device)?,
                Tensor::zeros(f.size as usize, DType::F32, &pass.device)?,
            ),
        };
        out_w.push(w);
        out_b.push(b);
    }
    grads.push(Tensor::cat(&out_w, 0)?);
    grads.push(Tensor::cat(&out_b, 0)?);
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::tokenizer::{Field, FieldRole};

    const SIZES: [u32; 4] = [3, 4, 2, 5];

    fn model(dropout: f32) -> Result<LstmModel> {
        model_sharing(dropout, false)
    }

    /// With `shared`, fields 1 and 2 share one vocabulary slice (as a text column's slots do).
    fn model_sharing(dropout: f32, shared: bool) -> Result<LstmModel> {
        model_with(dropout, shared, false)
    }

    /// With `context`, the model has the context sum.
    fn model_with(dropout: f32, shared: bool, context: bool) -> Result<LstmModel> {
        let mut offset = 0;
        let fields: Vec<Field> = SIZES
            .iter()
            .enumerate()
            .map(|(s, &size)| {
                if shared && s == 2 {
                    let previous = offset - SIZES[1];
                    return Field {
                        column: 0,
                        role: FieldRole::TextSlot,
                        offset: previous,
                        size: SIZES[1],
                    };
                }
                let f = Field { column: 0, role: FieldRole::Category, offset, size };
                offset += size;
                f
            })
            .collect();
        let config = ModelConfig {
            embedding_dim: 3,
            hidden_size: 5,
            layers: 2,
            dropout: Some(dropout),
            context: Some(context),
            ..ModelConfig::default()
        };
        LstmModel::new(&config, &fields, offset, 7, &Device::Cpu)
    }

    /// Records: inputs (previous global ids), targets, weights, and the fields' order.
    type Records = (Vec<u32>, Vec<u32>, Vec<f32>, Vec<u32>);

    /// `n` random records in a fields' `order`, weights some zero (and all of field 2's, as
    /// at a text's padding).
    fn records_in(m: &LstmModel, n: usize, seed: u64, order: &[u32]) -> Records {
        let mut rng = Rng::new(seed, 0);
        let (mut inputs, mut targets, mut weights) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let mut previous = m.start_token();
            for &field in order {
                let f = m.fields()[field as usize];
                let target = (rng.uniform() * f64::from(f.size)) as u32 % f.size;
                inputs.push(previous);
                targets.push(target);
                weights.push(if field == 2 || rng.uniform() < 0.2 { 0.0 } else { 1.0 });
                previous = f.offset + target;
            }
        }
        (inputs, targets, weights, order.to_vec())
    }

    /// [`records_in`] the tokenizer's order.
    fn records(m: &LstmModel, n: usize, seed: u64) -> Records {
        records_in(m, n, seed, &[0, 1, 2, 3])
    }

    fn batch(data: &Records) -> Batch<'_> {
        Batch { inputs: &data.0, targets: &data.1, weights: &data.2, order: &data.3 }
    }

    /// The summed weighted loss of `rows` records, written with candle's ops (log-softmax,
    /// gather) over the model's forward pass on its tracked variables, for autograd.
    fn reference_loss(
        m: &LstmModel,
        data: &Records,
        rows: &[usize],
        dropout: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let t = SIZES.len();
        let at = |v: &[u32], s: usize| rows.iter().map(|&r| v[r * t + s]).collect::<Vec<u32>>();
        let ids: Vec<u32> = (0..t).flat_map(|s| at(&data.0, s)).collect();
        let ids = Tensor::from_vec(ids, t * rows.len(), m.device())?;
        let layers = m.layers();
        let masks = dropout.map(|rng| m.dropout_masks(rows.len(), t, rng)).transpose()?;
        let mut state = m.zero_state(rows.len())?;
        let tables = layers.input_tables()?;
        let order = &data.3;
        let out = forward(
            layers,
            Layer0::Tables(&tables),
            &ids,
            order,
            &mut state,
            masks.as_ref(),
            false,
        )?;
        let mut total = Tensor::zeros((), DType::F32, m.device())?;
        for (s, y) in out.top.iter().enumerate() {
            let logits = layers.output.logits(y, m.fields()[order[s] as usize])?;
            let logp = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
            let target = Tensor::from_vec(at(&data.1, s), (rows.len(), 1), m.device())?;
            let w: Vec<f32> = rows.iter().map(|&r| data.2[r * t + s]).collect();
            let w = Tensor::from_vec(w, rows.len(), m.device())?;
            let picked = logp.gather(&target, 1)?.squeeze(1)?;
            total = (total - (picked * w)?.sum_all()?)?;
        }
        Ok(total)
    }

    /// The gradient of the summed loss of `rows` records by candle's autograd.
    fn autograd(
        m: &LstmModel,
        data: &Records,
        rows: &[usize],
        dropout: Option<&mut Rng>,
    ) -> Result<Vec<Tensor>> {
        let loss = reference_loss(m, data, rows, dropout)?;
        let grads = loss.backward()?;
        m.params()
            .iter()
            .map(|(name, v)| {
                grads
                    .get(v.as_tensor())
                    .cloned()
                    .ok_or_else(|| Error::Data(format!("no grad {name}")))
            })
            .collect()
    }

    fn flat(ts: &[Tensor]) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for t in ts {
            out.extend(t.flatten_all()?.to_vec1::<f32>()?.into_iter().map(f64::from));
        }
        Ok(out)
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        let scale = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let diff = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        assert!(scale > 0.0 && diff <= 1e-4 * scale, "{what}: |diff| {diff} vs |want| {scale}");
    }

    /// The unclipped gradients of `data` against autograd, with the same dropout stream;
    /// returns the computed gradients.
    fn assert_unclipped_equal_autograd(m: &LstmModel, data: &Records) -> Result<Gradients> {
        let got = gradients(m, &batch(data), Some(&mut Rng::new(5, 5)), None)?;
        let rows: Vec<usize> = (0..data.0.len() / data.3.len()).collect();
        let want = autograd(m, data, &rows, Some(&mut Rng::new(5, 5)))?;
        for (((name, _), g), w) in m.params().iter().zip(&got.grads).zip(&want) {
            assert_eq!(g.dims(), w.dims(), "{name}");
            assert_close(&flat(std::slice::from_ref(g))?, &flat(std::slice::from_ref(w))?, name);
        }
        Ok(got)
    }

    #[test]
    fn unclipped_gradients_equal_autograd_with_and_without_dropout() -> Result<()> {
        for dropout in [0.0, 0.3] {
            let m = model(dropout)?;
            let got = assert_unclipped_equal_autograd(&m, &records(&m, 6, 1))?;
            assert!(got.norms.is_empty());
        }
        Ok(())
    }

    /// Another order of the fields: each position's field embedding and output slice follow
    /// the order, and the gradients land on the fields' own rows.
    #[test]
    fn gradients_in_another_order_equal_autograd() -> Result<()> {
        let m = model(0.3)?;
        assert_unclipped_equal_autograd(&m, &records_in(&m, 6, 4, &[3, 1, 0, 2]))?;
        // A repeated or unknown field is an error, not a panic.
        for order in [[0, 0, 1, 2], [0, 1, 2, 9]] {
            let mut data = records(&m, 2, 4);
            data.3 = order.to_vec();
            assert!(gradients(&m, &batch(&data), None, None).is_err(), "{order:?}");
        }
        Ok(())
    }

    /// The context sum: each token's context row collects the gradients of its own and every
    /// later position, in the table's order and in another.
    #[test]
    fn gradients_with_the_context_sum_equal_autograd() -> Result<()> {
        let m = model_with(0.2, false, true)?;
        assert!(m.params().iter().any(|(name, _)| name == "context_embedding.weight"));
        let got = assert_unclipped_equal_autograd(&m, &records(&m, 6, 7))?;
        let context = &got.grads[2];
        assert!(context.sqr()?.sum_all()?.to_scalar::<f32>()? > 0.0, "the context learns");
        assert_unclipped_equal_autograd(&m, &records_in(&m, 6, 8, &[2, 0, 3, 1]))?;
        Ok(())
    }

    /// Fields sharing a slice (text slots) add their output gradients into the same rows.
    #[test]
    fn gradients_of_fields_sharing_a_slice_equal_autograd() -> Result<()> {
        let m = model_sharing(0.2, true)?;
        let data = records(&m, 6, 3);
        assert_unclipped_equal_autograd(&m, &data)?;
        // The shared slice's fields moved together to the front of another order.
        assert_unclipped_equal_autograd(&m, &records_in(&m, 6, 3, &[1, 2, 3, 0]))?;
        // Per-unit norms pair positions, which a shared slice would break: refused.
        let clip = Clip { max_norm: 1.0, units: None };
        assert!(gradients(&m, &batch(&data), None, Some(&clip)).is_err());
        Ok(())
    }

    /// Per-unit norms and the clipped sum against one-unit-at-a-time autograd gradients.
    #[test]
    fn ghost_norms_and_clipped_sum_equal_the_naive_computation() -> Result<()> {
        // With and without the context sum.
        for context in [false, true] {
            ghost_norms_of(&model_with(0.0, false, context)?)?;
        }
        Ok(())
    }

    fn ghost_norms_of(m: &LstmModel) -> Result<()> {
        let n = 7;
        // Any order of the fields (any-order training) clips the same way.
        let data = records_in(m, n, 2, &[2, 0, 3, 1]);
        let batch = batch(&data);
        // Row-level units, then subjects of 3, 1, 2 and 1 records (not contiguous), then one
        // of 5 records with two of 1: units above GHOST_RECORDS form their gradient.
        let row_units: Vec<usize> = (0..n).collect();
        let subjects = vec![0, 1, 0, 2, 3, 2, 0];
        let one_large = vec![1, 0, 0, 2, 0, 0, 0];
        for units in [row_units, subjects, one_large] {
            let count = units.iter().max().unwrap() + 1;
            let per_unit: Vec<Vec<f64>> = (0..count)
                .map(|u| {
                    let rows: Vec<usize> = (0..n).filter(|&r| units[r] == u).collect();
                    flat(&autograd(m, &data, &rows, None)?)
                })
                .collect::<Result<_>>()?;
            let naive_norms: Vec<f64> =
                per_unit.iter().map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
            // A clip norm between the smallest and largest norm clips some units only.
            let mut sorted = naive_norms.clone();
            sorted.sort_by(f64::total_cmp);
            let max_norm = sorted[count / 2];
            let clip = Clip { max_norm, units: Some(&units) };
            let got = gradients(m, &batch, None, Some(&clip))?;
            assert_close(&got.norms, &naive_norms, "per-unit norms");
            let mut want = vec![0.0; per_unit[0].len()];
            for (g, norm) in per_unit.iter().zip(&naive_norms) {
                let factor = (max_norm / (norm + 1e-6)).min(1.0);
                want.iter_mut().zip(g).for_each(|(w, v)| *w += factor * v);
            }
            assert_close(&flat(&got.grads)?, &want, "clipped sum");
        }
        Ok(())
    }
    #[test]
    fn the_validation_loss_equals_the_reference_loss() -> Result<()> {
        let m = model(0.3)?;
        let data = records(&m, 5, 3);
        let (got, tokens) = loss(&m, &batch(&data))?;
        let rows: Vec<usize> = (0..5).collect();
        let want = f64::from(reference_loss(&m, &data, &rows, None)?.to_scalar::<f32>()?);
        assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
        assert_eq!(tokens, data.2.iter().map(|&w| f64::from(w)).sum::<f64>());
        Ok(())
    }
}
