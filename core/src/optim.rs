//! Optimizers that apply a gradient to the model's parameters (Adam and RMSProp), and the
//! moving average of the weights that DP training keeps ([`WeightAverage`]).
//!
//! They take the gradients as plain tensors (one per parameter, in the parameters' order) so the
//! same step serves ordinary training and, later, DP-SGD's noised gradients.

use candle_core::{Tensor, Var};

use crate::config::OptimizerName;
use crate::error::Result;

/// A first-order optimizer with per-parameter state.
pub struct Optimizer {
    kind: OptimizerName,
    learning_rate: f64,
    step: i32,
    /// Adam: first and second moments; RMSProp: only the second (the first stays unused).
    moments: Vec<(Tensor, Tensor)>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const RMS_ALPHA: f64 = 0.99;
const EPSILON: f64 = 1e-8;

impl Optimizer {
    /// An optimizer for `params` with zeroed state.
    pub fn new<'a>(
        kind: OptimizerName,
        learning_rate: f64,
        params: impl Iterator<Item = &'a Var>,
    ) -> Result<Self> {
        let moments =
            params.map(|p| Ok((p.zeros_like()?, p.zeros_like()?))).collect::<Result<Vec<_>>>()?;
        Ok(Optimizer { kind, learning_rate, step: 0, moments })
    }

    /// Sets the learning rate for the following steps (for a schedule).
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Applies one update: `grads[i]` is the gradient of `params[i]`.
    pub fn step<'a>(
        &mut self,
        params: impl Iterator<Item = &'a Var>,
        grads: &[Tensor],
    ) -> Result<()> {
        self.step += 1;
        for ((param, grad), (m, v)) in params.zip(grads).zip(&mut self.moments) {
            let update = match self.kind {
                // Kingma and Ba 2015, Algorithm 1.
                OptimizerName::Adam => {
                    *m = ((&*m * BETA1)? + (grad * (1.0 - BETA1))?)?;
                    *v = ((&*v * BETA2)? + (grad.sqr()? * (1.0 - BETA2))?)?;
                    let m_hat = (&*m / (1.0 - BETA1.powi(self.step)))?;
                    let v_hat = (&*v / (1.0 - BETA2.powi(self.step)))?;
                    (m_hat / (v_hat.sqrt()? + EPSILON)?)?
                }
                // Tieleman and Hinton 2012 (PyTorch's RMSprop with alpha 0.99, no momentum).
                OptimizerName::Rmsprop => {
                    *v = ((&*v * RMS_ALPHA)? + (grad.sqr()? * (1.0 - RMS_ALPHA))?)?;
                    (grad / (v.sqrt()? + EPSILON)?)?
                }
            };
            param.set(&(param.as_tensor() - (update * self.learning_rate)?)?)?;
        }
        Ok(())
    }
}

/// An exponential moving average of the weights over the steps (Polyak averaging as De et al.
/// 2022, "Unlocking high-accuracy differentially private image classification through scale",
/// use it): `avg <- decay avg + (1 - decay) w` after each step, starting from the weights after
/// the first. Under DP-SGD each step's weights carry that step's noise; their average carries
/// less, and as a function of the weights it is post-processing, free in privacy.
pub struct WeightAverage {
    decay: f64,
    weights: Vec<Tensor>,
}

impl WeightAverage {
    /// An average with this `decay` (in `[0, 1)`; its horizon is about `1 / (1 - decay)` steps).
    pub fn new(decay: f64) -> Self {
        WeightAverage { decay, weights: Vec::new() }
    }

    /// Folds in the weights after a step.
    pub fn update<'a>(&mut self, params: impl Iterator<Item = &'a Var>) -> Result<()> {
        if self.weights.is_empty() {
            self.weights =
                params.map(|p| p.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
            return Ok(());
        }
        for (avg, p) in self.weights.iter_mut().zip(params) {
            *avg = ((&*avg * self.decay)? + (p.as_tensor() * (1.0 - self.decay))?)?;
        }
        Ok(())
    }

    /// Writes the average into `params` (nothing when no step was folded in).
    pub fn apply<'a>(&self, params: impl Iterator<Item = &'a Var>) -> Result<()> {
        for (avg, p) in self.weights.iter().zip(params) {
            p.set(avg)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// Both optimizers against a scalar re-computation of their update rules.
    #[test]
    fn updates_match_the_formulas() -> Result<()> {
        for kind in [OptimizerName::Adam, OptimizerName::Rmsprop] {
            let p = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu)?;
            let mut opt = Optimizer::new(kind, 0.1, [&p].into_iter())?;
            let grads = [[0.5f64, -1.0], [0.25, 2.0]];
            let mut expected = [1.0f64, -2.0];
            let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
            for (s, g) in grads.iter().enumerate() {
                let gt = Tensor::from_slice(&[g[0] as f32, g[1] as f32], 2, &Device::Cpu)?;
                opt.step([&p].into_iter(), &[gt])?;
                for i in 0..2 {
                    let t = (s + 1) as i32;
                    expected[i] -= 0.1
                        * match kind {
                            OptimizerName::Adam => {
                                m[i] = 0.9 * m[i] + 0.1 * g[i];
                                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                                (m[i] / (1.0 - 0.9f64.powi(t)))
                                    / ((v[i] / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8)
                            }
                            OptimizerName::Rmsprop => {
                                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
                                g[i] / (v[i].sqrt() + 1e-8)
                            }
                        };
                }
            }
            let got = p.as_tensor().to_vec1::<f32>()?;
            for i in 0..2 {
                assert!(
                    (f64::from(got[i]) - expected[i]).abs() < 1e-5,
                    "{kind:?} {got:?} {expected:?}"
                );
            }
        }
        Ok(())
    }

    /// The average against a scalar re-computation, starting from the first step's weights.
    #[test]
    fn the_weight_average_follows_its_recurrence() -> Result<()> {
        let p = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu)?;
        let mut average = WeightAverage::new(0.9);
        average.apply([&p].into_iter())?;
        assert_eq!(p.as_tensor().to_vec1::<f32>()?, [1.0, -2.0], "nothing folded in yet");
        let steps = [[1.0f32, -2.0], [3.0, 0.0], [-1.0, 4.0]];
        let mut expected = [0.0f64; 2];
        for (s, w) in steps.iter().enumerate() {
            p.set(&Tensor::from_slice(w, 2, &Device::Cpu)?)?;
            average.update([&p].into_iter())?;
            for i in 0..2 {
                let w = f64::from(w[i]);
                expected[i] = if s == 0 { w } else { 0.9 * expected[i] + 0.1 * w };
            }
        }
        average.apply([&p].into_iter())?;
        let got = p.as_tensor().to_vec1::<f32>()?;
        // 1 -> 0.9 + 0.3 = 1.2 -> 1.08 - 0.1 = 0.98; -2 -> -1.8 -> -1.62 + 0.4 = -1.22.
        assert!((f64::from(got[0]) - 0.98).abs() < 1e-6 && (expected[0] - 0.98).abs() < 1e-12);
        assert!((f64::from(got[1]) + 1.22).abs() < 1e-6 && (expected[1] + 1.22).abs() < 1e-12);
        Ok(())
    }
}
