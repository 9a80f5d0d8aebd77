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

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `tanh` through `exp`: glibc's `tanhf` goes through a slow `expm1f` and took a third of
/// training time; this form is exact to about 1e-7 absolute, saturating correctly at +-1.
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + (2.0 * x).exp())
}

/// The gate activations of one element: `(i, f, g, o)`.
fn activations(gates: &[f32], hs: usize, j: usize) -> (f32, f32, f32, f32) {
    (sigmoid(gates[j]), sigmoid(gates[hs + j]), tanh(gates[2 * hs + j]), sigmoid(gates[3 * hs + j]))
}

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
        for ((g, c), out) in gates.chunks(4 * hs).zip(c.chunks(hs)).zip(out.chunks_mut(2 * hs)) {
            let (h_out, c_out) = out.split_at_mut(hs);
            for j in 0..hs {
                let (i, f, gg, o) = activations(g, hs, j);
                let c_new = f * c[j] + i * gg;
                c_out[j] = c_new;
                h_out[j] = o * tanh(c_new);
            }
        }
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
        let rows = gates.chunks(4 * hs).zip(c.chunks(hs)).zip(grad.chunks(2 * hs));
        for (((g, c), d), out) in rows.zip(out.chunks_mut(5 * hs)) {
            for j in 0..hs {
                let (i, f, gg, o) = activations(g, hs, j);
                let tc = tanh(f * c[j] + i * gg);
                let (dh, dc_out) = (d[j], d[hs + j]);
                let dc = dc_out + dh * o * (1.0 - tc * tc);
                out[j] = dc * gg * i * (1.0 - i);
                out[hs + j] = dc * c[j] * f * (1.0 - f);
                out[2 * hs + j] = dc * i * (1.0 - gg * gg);
                out[3 * hs + j] = dh * tc * o * (1.0 - o);
                out[4 * hs + j] = dc * f;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, 5 * hs))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Var};

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
}
