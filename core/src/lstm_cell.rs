//! The LSTM cell's element-wise part as one fused candle operation on the CPU.
//!
//! Given the gate pre-activations `g = [g_i | g_f | g_g | g_o]` (`[batch, 4h]`) and the previous
//! cell state `c` (`[batch, h]`), the cell computes (PyTorch's `nn.LSTM` equations)
//! `c' = σ(g_f)·c + σ(g_i)·tanh(g_g)` and `h' = σ(g_o)·tanh(c')`. Written with candle's generic
//! ops this is a dozen passes over memory each way, each allocating a tensor, and it dominated
//! training time; fused it is one pass forward and one backward. The linear maps that produce
//! `g` stay ordinary candle matmuls, so their per-sample gradients remain available for DP-SGD.
//! Other devices use the same equations written with candle ops ([`cell_composite`] and
//! [`cell_backward_composite`]), tested equal to the fused passes.
//!
//! Generation adds [`step`]: layer 0's input rows looked up, summed with the recurrent product
//! and passed through the cell in one pass. The activations use a branch-free exponential
//! compiled for AVX2 where the CPU has it; with the fused step this took Adult's generation
//! from 20,300 to 33,000 rows/s on two cores (BENCHMARKS.md).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use crate::error::Result;

/// `(h', c')` of one LSTM step.
pub fn cell(gates: &Tensor, c: &Tensor, hidden: usize) -> Result<(Tensor, Tensor)> {
    if !gates.device().is_cpu() {
        return cell_composite(gates, c, hidden);
    }
    let both = gates.contiguous()?.apply_op2(&c.contiguous()?, FusedCell)?;
    Ok((both.narrow(1, 0, hidden)?, both.narrow(1, hidden, hidden)?))
}

/// Layer 0's input projection as rows to look up in a generation step ([`step`]): token rows,
/// field rows, then (for a model with the context sum) context rows, stacked `[rows, 4h]`; on
/// the CPU also copied once to the host for the fused pass.
pub struct InputRows {
    table: Tensor,
    host: Option<Arc<[f32]>>,
}

impl InputRows {
    /// Wraps the stacked table `[rows, 4h]`.
    pub fn new(table: Tensor) -> Result<InputRows> {
        let host = match table.device().is_cpu() {
            true => Some(table.flatten_all()?.to_vec1::<f32>()?.into()),
            false => None,
        };
        Ok(InputRows { table, host })
    }
}

/// One generation step of layer 0. Record `r` looks up `lookups[r * per ..][..per]`: its token
/// row `T[t]`, its field row `T[f]` and, with the context sum (`per` 3, `context` given), its
/// context row `T[k]`. Its gates are `((T[t] + T[f]) + s) + hw[r]` (without the context sum,
/// `(T[t] + T[f]) + hw[r]`), where `s = before[r] + T[k]` (`T[k]` at the first step) is the new
/// context sum, left in `context`; `hw` is `h W_hh^T` (`[b, 4h]`). Returns `(h', c')`, each
/// `[b, h]`. The same sums in the same order as [`crate::model::forward`]'s gathers and adds, so
/// the same bits; on the CPU in one pass instead of six (they took a fifth of generation time),
/// elsewhere as those tensor ops.
pub fn step(
    hw: &Tensor,
    c: &Tensor,
    rows: &InputRows,
    lookups: &[u32],
    context: Option<&mut Option<Tensor>>,
) -> Result<(Tensor, Tensor)> {
    let (b, hs) = c.dims2()?;
    let (count, per) = (rows.table.dim(0)?, if context.is_some() { 3 } else { 2 });
    if hw.dims() != [b, 4 * hs] || rows.table.dim(1)? != 4 * hs {
        return Err(crate::Error::Data(format!(
            "an LSTM step of {b} records and {hs} units got gates {:?} and a table {:?}",
            hw.dims(),
            rows.table.dims()
        )));
    }
    if lookups.len() != b * per {
        let n = lookups.len();
        return Err(crate::Error::Data(format!("{n} input rows for {b} records of {per} each")));
    }
    if let Some(&bad) = lookups.iter().find(|&&i| i as usize >= count) {
        return Err(crate::Error::Data(format!("input row {bad} is beyond the table's {count}")));
    }
    let Some(host) = &rows.host else {
        let index = Tensor::from_slice(lookups, lookups.len(), rows.table.device())?;
        let looked_up = rows.table.embedding(&index)?.reshape((b, per, 4 * hs))?;
        let row = |k: usize| looked_up.narrow(1, k, 1)?.squeeze(1);
        let mut x = (row(0)? + row(1)?)?;
        if let Some(context) = context {
            let sum = match context.take() {
                Some(before) => (before + row(2)?)?,
                None => row(2)?,
            };
            x = (x + &sum)?;
            *context = Some(sum);
        }
        return cell(&(x + hw)?, c, hs);
    };
    let op = StepCell { table: host.clone(), lookups: lookups.to_vec(), per };
    let (hw, c) = (hw.contiguous()?, c.contiguous()?);
    let out = match context.as_ref().and_then(|c| c.as_ref()) {
        Some(before) => hw.apply_op3_no_bwd(&c, &before.contiguous()?, &op)?,
        None => hw.apply_op2_no_bwd(&c, &op)?,
    };
    let part = |k: usize, width: usize| out.narrow(0, k * b * hs, b * width)?.reshape((b, width));
    if let Some(context) = context {
        *context = Some(part(2, 4 * hs)?);
    }
    Ok((part(0, hs)?, part(1, hs)?))
}

/// The backward pass of [`cell`]: from the gate pre-activations `[b, 4h]`, the previous cell
/// state `[b, h]` and the gradient `[b, 2h]` of `[h' | c']`, the gradients of the gates and of
/// the previous cell state. Fused on the CPU; other devices use [`cell_backward_composite`].
pub fn cell_backward(gates: &Tensor, c: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    if !gates.device().is_cpu() {
        return cell_backward_composite(gates, c, grad);
    }
    let hs = c.dim(1)?;
    let both = gates.contiguous()?.apply_op3_no_bwd(
        &c.contiguous()?,
        &grad.contiguous()?,
        &FusedCellBackward,
    )?;
    Ok((both.narrow(1, 0, 4 * hs)?.contiguous()?, both.narrow(1, 4 * hs, hs)?.contiguous()?))
}

/// The same step written with candle's element-wise ops (any device; the reference in tests).
pub fn cell_composite(gates: &Tensor, c: &Tensor, hs: usize) -> Result<(Tensor, Tensor)> {
    let i = candle_nn::ops::sigmoid(&gates.narrow(1, 0, hs)?)?;
    let f = candle_nn::ops::sigmoid(&gates.narrow(1, hs, hs)?)?;
    let g = gates.narrow(1, 2 * hs, hs)?.tanh()?;
    let o = candle_nn::ops::sigmoid(&gates.narrow(1, 3 * hs, hs)?)?;
    let c = ((f * c)? + (i * g)?)?;
    let h = (o * c.tanh()?)?;
    Ok((h, c))
}

/// [`cell_backward`] written with candle's element-wise ops (any device; equal to the fused
/// pass on the CPU, which a test checks).
pub fn cell_backward_composite(
    gates: &Tensor,
    c: &Tensor,
    grad: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let hs = c.dim(1)?;
    let i = candle_nn::ops::sigmoid(&gates.narrow(1, 0, hs)?)?;
    let f = candle_nn::ops::sigmoid(&gates.narrow(1, hs, hs)?)?;
    let g = gates.narrow(1, 2 * hs, hs)?.tanh()?;
    let o = candle_nn::ops::sigmoid(&gates.narrow(1, 3 * hs, hs)?)?;
    let tc = ((&f * c)? + (&i * &g)?)?.tanh()?;
    let (dh, dc_out) = (grad.narrow(1, 0, hs)?, grad.narrow(1, hs, hs)?);
    // 1 - x² and x (1 - x), the derivatives of tanh and of the sigmoid through their values.
    let one_minus_square =
        |x: &Tensor| -> candle_core::Result<Tensor> { x.sqr()?.affine(-1.0, 1.0) };
    let slope = |x: &Tensor| -> candle_core::Result<Tensor> { x * x.affine(-1.0, 1.0)? };
    let dc = (dc_out + (&dh * &o)?.mul(&one_minus_square(&tc)?)?)?;
    let d_i = ((&dc * &g)? * slope(&i)?)?;
    let d_f = ((&dc * c)? * slope(&f)?)?;
    let d_g = ((&dc * &i)? * one_minus_square(&g)?)?;
    let d_o = ((&dh * &tc)? * slope(&o)?)?;
    let dc_prev = (&dc * &f)?;
    Ok((Tensor::cat(&[d_i, d_f, d_g, d_o], 1)?, dc_prev))
}

/// `e^x` with no libm call and no branch, so that the loops over a row's gates compile to
/// vector instructions (libm's `expf`, called once per element, took a fifth of generation
/// time). Cody-Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, then the degree-7
/// polynomial of Cephes' `expf.c` (S. L. Moshier, Cephes Mathematical Library: relative error
/// about 2e-7 over the reduced range, checked against `f64::exp` by a test); `2^n` is written
/// into the exponent bits. Arguments are clamped to `[-87, 88]`, where `e^x` is a normal float
/// (so the sigmoid and `tanh` below still saturate to 0 and +-1); NaN stays NaN. Only `*` and `+`
/// (never a fused multiply-add), so every CPU computes the same bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // 1.5 * 2^23: `y + SHIFT` holds `round(y)` in its low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    // ln 2 split so that `n * LN2_HI` is exact for every `n` used.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Not `clamp`, which compiles to a slower sequence here; NaN passes both tests unchanged.
    #[allow(clippy::manual_clamp)]
    let x = if x < -87.0 {
        -87.0
    } else if x > 88.0 {
        88.0
    } else {
        x
    };
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    // Cephes' 5.0000001201e-1 rounds to 0.5 in f32.
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    let n = shifted.to_bits() as i32 - SHIFT.to_bits() as i32;
    e_r * f32::from_bits(((n + 127) << 23) as u32)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh` through `exp`: glibc's `tanhf` goes through a slow `expm1f` and took a third of
/// training time; this form is exact to about 1e-7 absolute, saturating correctly at +-1.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * x))
}

/// A row's four gate blocks `(i, f, g, o)`, each `hs` long.
#[inline(always)]
fn gate_blocks(g: &[f32], hs: usize) -> (&[f32], &[f32], &[f32], &[f32]) {
    (&g[..hs], &g[hs..2 * hs], &g[2 * hs..3 * hs], &g[3 * hs..4 * hs])
}

/// The forward step over every row: `out` (`[b, 2h]`) gets `[h' | c']`. Written over
/// slices of one length so that the compiler drops the bounds checks and vectorises the loop.
#[inline(always)]
fn forward_rows(gates: &[f32], c: &[f32], out: &mut [f32], hs: usize) {
    for ((g, c), out) in gates.chunks(4 * hs).zip(c.chunks(hs)).zip(out.chunks_mut(2 * hs)) {
        let (h_out, c_out) = out.split_at_mut(hs);
        cell_row(g, c, h_out, c_out, hs);
    }
}

/// One row of the cell: `h'` and `c'` from the row's gates `g` (`4h`) and cell state `c`.
#[inline(always)]
fn cell_row(g: &[f32], c: &[f32], h_out: &mut [f32], c_out: &mut [f32], hs: usize) {
    let (gi, gf, gg, go) = gate_blocks(g, hs);
    let (c, h_out, c_out) = (&c[..hs], &mut h_out[..hs], &mut c_out[..hs]);
    for j in 0..hs {
        let c_new = sigmoid(gf[j]) * c[j] + sigmoid(gi[j]) * tanh(gg[j]);
        c_out[j] = c_new;
        h_out[j] = sigmoid(go[j]) * tanh(c_new);
    }
}

/// The backward step over every row: `out` (`[b, 5h]`) gets `[d gates | d c]`.
#[inline(always)]
fn backward_rows(gates: &[f32], c: &[f32], grad: &[f32], out: &mut [f32], hs: usize) {
    let rows = gates.chunks(4 * hs).zip(c.chunks(hs)).zip(grad.chunks(2 * hs));
    for (((g, c), d), out) in rows.zip(out.chunks_mut(5 * hs)) {
        let (gi, gf, gg, go) = gate_blocks(g, hs);
        let (c, dh, dc_out) = (&c[..hs], &d[..hs], &d[hs..2 * hs]);
        let (d_i, rest) = out.split_at_mut(hs);
        let (d_f, rest) = rest.split_at_mut(hs);
        let (d_g, rest) = rest.split_at_mut(hs);
        let (d_o, d_c) = rest.split_at_mut(hs);
        let (d_c, d_i, d_f, d_g, d_o) = (&mut d_c[..hs], d_i, d_f, d_g, &mut d_o[..hs]);
        for j in 0..hs {
            let (i, f, gg, o) = (sigmoid(gi[j]), sigmoid(gf[j]), tanh(gg[j]), sigmoid(go[j]));
            let tc = tanh(f * c[j] + i * gg);
            let dc = dc_out[j] + dh[j] * o * (1.0 - tc * tc);
            d_i[j] = dc * gg * i * (1.0 - i);
            d_f[j] = dc * c[j] * f * (1.0 - f);
            d_g[j] = dc * i * (1.0 - gg * gg);
            d_o[j] = dh[j] * tc * o * (1.0 - o);
            d_c[j] = dc * f;
        }
    }
}

/// What [`step_rows`] looks up: each record's `per` rows of `table` (`[rows, 4h]`, flat) in
/// `lookups`, and the context sums before the step (`[b, 4h]`; empty at the first step or
/// without the context sum).
#[derive(Clone, Copy)]
struct StepInputs<'a> {
    before: &'a [f32],
    table: &'a [f32],
    lookups: &'a [u32],
    per: usize,
}

/// [`StepCell`]'s pass (see [`step`] for the sums and their order).
#[inline(always)]
fn step_rows(hw: &[f32], c: &[f32], inputs: &StepInputs, out: &mut [f32], hs: usize) {
    let StepInputs { before, table, lookups, per } = *inputs;
    let (w, b) = (4 * hs, c.len() / hs);
    let (h_out, rest) = out.split_at_mut(b * hs);
    let (c_out, sums) = rest.split_at_mut(b * hs);
    let row = |i: u32| &table[i as usize * w..(i as usize + 1) * w];
    let mut gates = vec![0f32; w];
    for r in 0..b {
        let at = &lookups[r * per..(r + 1) * per];
        gates.iter_mut().zip(row(at[0]).iter().zip(row(at[1]))).for_each(|(g, (t, f))| {
            *g = t + f;
        });
        if per == 3 {
            let sum = &mut sums[r * w..(r + 1) * w];
            match before.get(r * w..(r + 1) * w) {
                Some(before) => sum
                    .iter_mut()
                    .zip(before.iter().zip(row(at[2])))
                    .for_each(|(s, (b, k))| *s = b + k),
                None => sum.copy_from_slice(row(at[2])),
            }
            gates.iter_mut().zip(sum.iter()).for_each(|(g, s)| *g += s);
        }
        gates.iter_mut().zip(&hw[r * w..(r + 1) * w]).for_each(|(g, x)| *g += x);
        let (h_out, c_out) = (&mut h_out[r * hs..(r + 1) * hs], &mut c_out[r * hs..(r + 1) * hs]);
        cell_row(&gates, &c[r * hs..(r + 1) * hs], h_out, c_out, hs);
    }
}

/// Defines `$name`, which runs the `#[inline(always)]` function `$body` compiled for AVX2 when
/// the CPU has it (eight lanes instead of SSE2's four), else as built. Both compile the same `*`
/// and `+`, so the results are the same bits. (A closure would not do: it is compiled apart from
/// the function that enables the feature.)
macro_rules! vectorised {
    ($name:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { avx2($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}

vectorised!(forward_all, forward_rows, (gates: &[f32], c: &[f32], out: &mut [f32], hs: usize));
vectorised!(
    step_all,
    step_rows,
    (hw: &[f32], c: &[f32], inputs: &StepInputs, out: &mut [f32], hs: usize)
);
vectorised!(
    backward_all,
    backward_rows,
    (gates: &[f32], c: &[f32], grad: &[f32], out: &mut [f32], hs: usize)
);

fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("fused LSTM cell: input is not contiguous"),
    }
}

/// Forward: `(gates [b, 4h], c [b, h]) -> [b, 2h]` holding `[h' | c']` per row. The backward
/// pass recomputes the activations from `gates` (cheaper than saving them: a wider result makes
/// every slice of it costlier to backpropagate).
struct FusedCell;

impl CustomOp2 for FusedCell {
    fn name(&self) -> &'static str {
        "fused-lstm-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, hs) = l2.shape().dims2()?;
        let (gates, c) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let mut out = vec![0f32; b * 2 * hs];
        forward_all(gates, c, &mut out, hs);
        Ok((CpuStorage::F32(out), Shape::from((b, 2 * hs))))
    }

    fn bwd(
        &self,
        gates: &Tensor,
        c: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let hs = c.dim(1)?;
        let grads = gates.apply_op3_no_bwd(c, &grad_res.contiguous()?, &FusedCellBackward)?;
        Ok((Some(grads.narrow(1, 0, 4 * hs)?), Some(grads.narrow(1, 4 * hs, hs)?)))
    }
}

/// [`step`]'s operation on the CPU: `(hw [b, 4h], c [b, h])`, with the context sum also
/// `before [b, 4h]` (none at the first step), to one flat buffer: every `h'`, every `c'`, then
/// (with the context sum) every new sum.
struct StepCell {
    table: Arc<[f32]>,
    lookups: Vec<u32>,
    per: usize,
}

impl StepCell {
    fn run(
        &self,
        hw: (&CpuStorage, &Layout),
        c: (&CpuStorage, &Layout),
        before: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, hs) = c.1.shape().dims2()?;
        let (hw, c) = (f32_slice(hw.0, hw.1)?, f32_slice(c.0, c.1)?);
        let before = before.map(|(s, l)| f32_slice(s, l)).transpose()?.unwrap_or(&[]);
        let len = b * hs * if self.per == 3 { 6 } else { 2 };
        let mut out = vec![0f32; len];
        let inputs =
            StepInputs { before, table: &self.table, lookups: &self.lookups, per: self.per };
        step_all(hw, c, &inputs, &mut out, hs);
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

impl CustomOp2 for StepCell {
    fn name(&self) -> &'static str {
        "fused-lstm-step"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), None)
    }
}

impl CustomOp3 for StepCell {
    fn name(&self) -> &'static str {
        "fused-lstm-step"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), Some((s3, l3)))
    }
}

/// Backward: `(gates, c, d[h' | c']) -> [b, 5h]` holding `[d gates | d c]` per row.
struct FusedCellBackward;

impl CustomOp3 for FusedCellBackward {
    fn name(&self) -> &'static str {
        "fused-lstm-cell-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, hs) = l2.shape().dims2()?;
        let (gates, c, grad) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let mut out = vec![0f32; b * 5 * hs];
        backward_all(gates, c, grad, &mut out, hs);
        Ok((CpuStorage::F32(out), Shape::from((b, 5 * hs))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{DType, Device, Var};

    fn random(shape: (usize, usize), rng: &mut Rng) -> Result<Var> {
        let values = (0..shape.0 * shape.1).map(|_| (rng.normal() * 2.0) as f32).collect();
        Ok(Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu)?)?)
    }

    fn max_difference(a: &Tensor, b: &Tensor) -> Result<f32> {
        Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
    }

    #[test]
    fn fused_cell_matches_the_composite_values_and_gradients() -> Result<()> {
        let (b, hs) = (3, 5);
        let mut rng = Rng::new(9, 0);
        let (gates, c) = (random((b, 4 * hs), &mut rng)?, random((b, hs), &mut rng)?);
        // Weight h' and c' differently so both output gradients are exercised.
        let (wh, wc) = (random((b, hs), &mut rng)?, random((b, hs), &mut rng)?);
        let objective = |h: &Tensor, c: &Tensor| -> Result<Tensor> {
            Ok(((h * wh.as_tensor())?.sum_all()? + (c * wc.as_tensor())?.sum_all()?)?)
        };
        let (h1, c1) = cell(gates.as_tensor(), c.as_tensor(), hs)?;
        let (h2, c2) = cell_composite(gates.as_tensor(), c.as_tensor(), hs)?;
        assert!(max_difference(&h1, &h2)? < 1e-6 && max_difference(&c1, &c2)? < 1e-6);
        let g1 = objective(&h1, &c1)?.backward()?;
        let g2 = objective(&h2, &c2)?.backward()?;
        for var in [&gates, &c] {
            let (a, b) = (g1.get(var).expect("gradient"), g2.get(var).expect("gradient"));
            assert!(max_difference(a, b)? < 1e-5, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn fused_backward_matches_the_composite_backward() -> Result<()> {
        let (b, hs) = (4, 6);
        let mut rng = Rng::new(10, 0);
        let gates = random((b, 4 * hs), &mut rng)?;
        let c = random((b, hs), &mut rng)?;
        let grad = random((b, 2 * hs), &mut rng)?;
        let (dg1, dc1) = cell_backward(gates.as_tensor(), c.as_tensor(), grad.as_tensor())?;
        let (dg2, dc2) =
            cell_backward_composite(gates.as_tensor(), c.as_tensor(), grad.as_tensor())?;
        assert_eq!((dg1.dims(), dc1.dims()), (dg2.dims(), dc2.dims()));
        assert!(max_difference(&dg1, &dg2)? < 1e-5, "{dg1} vs {dg2}");
        assert!(max_difference(&dc1, &dc2)? < 1e-5, "{dc1} vs {dc2}");
        Ok(())
    }

    #[test]
    fn the_vectorised_exponential_is_within_3e_7_of_f64() {
        let mut worst = 0f64;
        for k in -870_000..=880_000 {
            let x = k as f32 * 1e-4;
            let (got, want) = (f64::from(exp(x)), f64::from(x).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "relative error {worst}");
        // Clamped beyond the normal range: the activations still saturate.
        assert_eq!((sigmoid(1e4), tanh(1e4), tanh(-1e4)), (1.0, 1.0, -1.0));
        assert!(
            sigmoid(-1e4) < 1e-37 && tanh(20.0) == 1.0 && (tanh(0.5) - 0.5f32.tanh()).abs() < 1e-7
        );
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
    }

    #[test]
    fn the_avx2_build_computes_the_same_bits_as_the_portable_one() -> Result<()> {
        let (b, hs) = (3, 13);
        let mut rng = Rng::new(11, 0);
        let (gates, c) = (random((b, 4 * hs), &mut rng)?, random((b, hs), &mut rng)?);
        let (gates, c) = (gates.flatten_all()?.to_vec1::<f32>()?, c.flatten_all()?.to_vec1()?);
        let (mut portable, mut dispatched) = (vec![0f32; b * 2 * hs], vec![0f32; b * 2 * hs]);
        forward_rows(&gates, &c, &mut portable, hs);
        forward_all(&gates, &c, &mut dispatched, hs);
        assert_eq!(portable, dispatched);
        Ok(())
    }

    /// `step` fused on the CPU and as tensor ops (its path on other devices): the same bits,
    /// with and without the context sum, at the first step and later ones.
    #[test]
    fn the_fused_step_equals_its_tensor_ops_bit_for_bit() -> Result<()> {
        let (b, hs, rows) = (3, 5, 7);
        let mut rng = Rng::new(12, 0);
        let table = random((rows, 4 * hs), &mut rng)?.as_tensor().clone();
        let fused = InputRows::new(table.clone())?;
        let unfused = InputRows { table, host: None };
        let values = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1()?) };
        for with_context in [false, true] {
            let per = if with_context { 3 } else { 2 };
            let (mut sum_a, mut sum_b) = (None, None);
            for _ in 0..3 {
                let hw = random((b, 4 * hs), &mut rng)?;
                let c = random((b, hs), &mut rng)?;
                let lookups: Vec<u32> =
                    (0..b * per).map(|_| (rng.uniform() * rows as f64) as u32).collect();
                let context_a = with_context.then_some(&mut sum_a);
                let (h1, c1) = step(hw.as_tensor(), c.as_tensor(), &fused, &lookups, context_a)?;
                let context_b = with_context.then_some(&mut sum_b);
                let (h2, c2) = step(hw.as_tensor(), c.as_tensor(), &unfused, &lookups, context_b)?;
                assert_eq!((values(&h1)?, values(&c1)?), (values(&h2)?, values(&c2)?));
                assert_eq!(h1.dims(), [b, hs]);
                let sums = [&sum_a, &sum_b].map(|s| s.as_ref().map(values).transpose());
                let [sum_a, sum_b] = sums;
                assert_eq!(sum_a?, sum_b?);
            }
        }
        let (hw, c) = (
            Tensor::zeros((b, 4 * hs), DType::F32, &Device::Cpu)?,
            Tensor::zeros((b, hs), DType::F32, &Device::Cpu)?,
        );
        assert!(
            step(&hw, &c, &fused, &[0, rows as u32, 0, 0, 0, 0], None).is_err(),
            "a row past the table"
        );
        assert!(step(&hw, &c, &fused, &[0; 5], None).is_err(), "too few lookups");
        Ok(())
    }
}
