//! DP-SGD's moving parts around the gradient: the plan (sampling rate, steps, noise), Poisson
//! sampling of privacy units, Gaussian noise, and the privacy report stored with the model.
//!
//! One step (Abadi et al. 2016, "Deep learning with differential privacy", Algorithm 1): each
//! unit joins the batch independently with probability `q`; each unit's gradient is clipped to
//! norm `C` ([`crate::backprop`]); the clipped gradients are summed; `N(0, σ²C²)` noise is added
//! to every coordinate once; the sum is divided by the expected batch size `q·n`; then the
//! optimizer steps. The accountant composes `steps` such Poisson-subsampled Gaussian mechanisms.

use candle_core::{Device, Shape, Tensor};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::accountant::{self, AccountantKind, GaussianEvent};
use crate::config::TrainConfig;
use crate::error::{Error, Result};

/// What DP-SGD will do, fixed before the first step.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Privacy units (rows, or subjects).
    pub units: usize,
    /// Probability that a unit joins a step's batch.
    pub sampling_rate: f64,
    /// Expected units per batch, `q·n` (the divisor of the noisy sum).
    pub expected_batch: f64,
    /// Noise standard deviation over the clip norm.
    pub noise_multiplier: f64,
    /// The clip norm `C`.
    pub max_grad_norm: f64,
    /// Steps per epoch (one epoch visits each unit once in expectation).
    pub steps_per_epoch: usize,
    /// Steps to take: `max_epochs` epochs, or fewer where `max_epsilon` stops earlier.
    pub steps: usize,
    /// Whether `max_epsilon` cut the planned steps.
    pub capped: bool,
    /// The delta of the guarantee: the accountant's share plus `selection_delta`.
    pub delta: f64,
    /// The part of delta spent outside the accountant (partition selection of categories).
    pub selection_delta: f64,
    /// The accountant.
    pub accountant: AccountantKind,
    /// Mechanisms run before training on the same data (e.g. noisy statistics), composed in.
    pub prior: Vec<GaussianEvent>,
}

impl Plan {
    /// The plan for `units` privacy units under `config`, composed after `prior` releases;
    /// `selection_delta` of the configured delta is already spent outside the accountant.
    pub fn new(
        config: &TrainConfig,
        units: usize,
        prior: Vec<GaussianEvent>,
        selection_delta: f64,
    ) -> Result<Plan> {
        let p = &config.privacy;
        let tc = &config.training;
        if units < 2 {
            return Err(Error::Data(format!(
                "DP training needs at least 2 privacy units, got {units}"
            )));
        }
        let sampling_rate = (tc.batch_size as f64 / units as f64).min(1.0);
        let steps_per_epoch = units.div_ceil(tc.batch_size);
        let planned = steps_per_epoch * tc.max_epochs;
        let delta = p.delta.resolve(units);
        let accountant_delta = delta - selection_delta;
        if accountant_delta <= 0.0 {
            return Err(Error::Config(format!(
                "delta {delta} leaves nothing for the accountant after {selection_delta} for \
                 partition selection"
            )));
        }
        let kind = p.accountant;
        let noise_multiplier = match (p.epsilon, p.noise_multiplier) {
            (_, Some(sigma)) => sigma,
            (Some(target), None) => accountant::calibrate_noise(
                kind,
                target,
                accountant_delta,
                sampling_rate,
                planned as u64,
                &prior,
            )?,
            (None, None) => {
                return Err(Error::Config(
                    "DP needs privacy.epsilon or privacy.noise_multiplier".into(),
                ))
            }
        };
        let mut steps = planned;
        if let Some(max) = p.max_epsilon {
            let allowed = accountant::max_steps(
                kind,
                max,
                accountant_delta,
                sampling_rate,
                noise_multiplier,
                &prior,
            )?;
            if allowed == 0 {
                return Err(Error::Config(format!(
                    "privacy.max_epsilon {max} is spent before the first step (noise multiplier \
                     {noise_multiplier:.4}); raise it or the noise"
                )));
            }
            steps = steps.min(allowed as usize);
        }
        Ok(Plan {
            units,
            sampling_rate,
            expected_batch: sampling_rate * units as f64,
            noise_multiplier,
            max_grad_norm: p.max_grad_norm,
            steps_per_epoch,
            steps,
            capped: steps < planned,
            delta,
            selection_delta,
            accountant: kind,
            prior,
        })
    }

    /// Every mechanism run once `steps` steps are done.
    pub fn events(&self, steps: usize) -> Vec<GaussianEvent> {
        let mut events = self.prior.clone();
        if steps > 0 {
            events.push(GaussianEvent {
                sampling_rate: self.sampling_rate,
                noise_multiplier: self.noise_multiplier,
                steps: steps as u64,
            });
        }
        events
    }

    /// The guarantee after `steps` steps, from the plan's accountant (and RDP alongside).
    pub fn report(&self, steps: usize, unit: &str, deterministic: bool) -> Result<PrivacyReport> {
        let events = self.events(steps);
        let accountant_delta = self.delta - self.selection_delta;
        let spent = accountant::epsilon(self.accountant, &events, accountant_delta)?;
        let rdp = accountant::epsilon(AccountantKind::Rdp, &events, accountant_delta)?;
        Ok(PrivacyReport {
            epsilon: spent.epsilon,
            delta: self.delta,
            selection_delta: self.selection_delta,
            accountant: self.accountant,
            order: rdp.order,
            error_bound: spent.error_bound,
            rdp_epsilon: rdp.epsilon,
            noise_multiplier: self.noise_multiplier,
            max_grad_norm: self.max_grad_norm,
            sampling_rate: self.sampling_rate,
            steps,
            unit: unit.to_string(),
            units: self.units,
            events,
            deterministic_noise: deterministic,
        })
    }
}

/// The privacy guarantee of a trained model, stored in its metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacyReport {
    /// Epsilon of the (epsilon, delta)-DP guarantee, from `accountant` (an upper bound).
    pub epsilon: f64,
    /// Delta of the guarantee (the accountant's share plus `selection_delta`).
    pub delta: f64,
    /// The part of delta spent on partition selection of category vocabularies.
    pub selection_delta: f64,
    /// The accountant that produced `epsilon`.
    pub accountant: AccountantKind,
    /// The optimal Rényi order of the RDP bound.
    pub order: Option<f64>,
    /// The numerical accountant's error bound on epsilon (PRV), if any.
    pub error_bound: Option<f64>,
    /// Epsilon by the RDP accountant, for comparison.
    pub rdp_epsilon: f64,
    /// Noise standard deviation over the clip norm.
    pub noise_multiplier: f64,
    /// The per-unit clip norm.
    pub max_grad_norm: f64,
    /// Probability that a unit joined a step's batch.
    pub sampling_rate: f64,
    /// DP-SGD steps taken.
    pub steps: usize,
    /// The privacy unit: `row`, or the column identifying a subject.
    pub unit: String,
    /// Number of privacy units in the training data.
    pub units: usize,
    /// Every mechanism composed into `epsilon`.
    pub events: Vec<GaussianEvent>,
    /// True when sampling and noise came from the configured seed (no guarantee then).
    pub deterministic_noise: bool,
}

/// The secret randomness of DP-SGD: Poisson sampling and Gaussian noise, from ChaCha20 seeded
/// by the operating system (or by the training seed for reproducible tests).
pub struct Randomness {
    rng: ChaCha20Rng,
}

impl Randomness {
    /// Secret randomness from the operating system, or from `seed` when `deterministic`.
    pub fn new(deterministic: bool, seed: u64) -> Randomness {
        let rng = if deterministic {
            ChaCha20Rng::seed_from_u64(seed ^ 0x0d1f_fe4e_71a1_5eed)
        } else {
            ChaCha20Rng::from_os_rng()
        };
        Randomness { rng }
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Poisson sampling: each of `units` units independently with probability `q`.
    pub fn sample(&mut self, units: usize, q: f64) -> Vec<usize> {
        (0..units).filter(|_| self.uniform() < q).collect()
    }

    /// Fills `out` with independent `N(0, std²)` draws (Box-Muller, both outputs used).
    pub fn fill_normal(&mut self, out: &mut [f32], std: f64) {
        for pair in out.chunks_mut(2) {
            let u1 = 1.0 - self.uniform();
            let u2 = self.uniform();
            let r = std * (-2.0 * u1.ln()).sqrt();
            let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
            pair[0] = (r * c) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (r * s) as f32;
            }
        }
    }

    /// One tensor of independent `N(0, std²)` draws per shape (the noise of one step, drawn
    /// while the step's gradients are computed).
    pub fn noise(&mut self, shapes: &[Shape], std: f64) -> Result<Vec<Tensor>> {
        shapes
            .iter()
            .map(|shape| {
                let mut noise = vec![0f32; shape.elem_count()];
                self.fill_normal(&mut noise, std);
                Ok(Tensor::from_vec(noise, shape, &Device::Cpu)?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Delta, PrivacyConfig};

    fn config(epsilon: Option<f64>, sigma: Option<f64>, max: Option<f64>) -> TrainConfig {
        let mut c = TrainConfig::default();
        c.training.batch_size = 100;
        c.training.max_epochs = 5;
        c.privacy = PrivacyConfig {
            dp: true,
            epsilon,
            noise_multiplier: sigma,
            delta: Delta::Value(1e-5),
            max_epsilon: max,
            ..PrivacyConfig::default()
        };
        c
    }

    #[test]
    fn noise_has_the_configured_standard_deviation() {
        let mut r = Randomness::new(true, 3);
        let mut x = vec![0f32; 200_001];
        r.fill_normal(&mut x, 2.5);
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
        // Standard errors: mean 2.5/sqrt(n) = 0.0056; std about 2.5/sqrt(2n) = 0.004.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 2.5).abs() < 0.02, "std {}", var.sqrt());
        // Fourth moment of a normal is 3 sigma^4: rules out e.g. uniform noise of the same std.
        let kurtosis =
            x.iter().map(|&v| (f64::from(v) - mean).powi(4)).sum::<f64>() / n / var.powi(2);
        assert!((kurtosis - 3.0).abs() < 0.1, "kurtosis {kurtosis}");
    }

    #[test]
    fn poisson_sampling_has_rate_q_and_secret_draws_differ() {
        let mut r = Randomness::new(true, 1);
        let total: usize = (0..200).map(|_| r.sample(1000, 0.05).len()).sum();
        // 200 * 1000 * 0.05 = 10,000 expected, standard deviation about 97.
        assert!((total as f64 - 10_000.0).abs() < 500.0, "{total}");
        let (mut a, mut b) = (Randomness::new(false, 1), Randomness::new(false, 1));
        assert_ne!(a.sample(1000, 0.5), b.sample(1000, 0.5));
        let (mut a, mut b) = (Randomness::new(true, 1), Randomness::new(true, 1));
        assert_eq!(a.sample(1000, 0.5), b.sample(1000, 0.5));
    }

    #[test]
    fn a_plan_without_a_finite_guarantee_is_refused_before_training() {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let mut c = config(None, Some(1e-300), None);
            c.privacy.accountant = kind;
            match Plan::new(&c, 10_000, Vec::new(), 0.0) {
                Err(Error::Config(m)) => {
                    assert!(m.contains("no finite epsilon"), "{kind}: {m}");
                    assert!(m.contains("privacy.noise_multiplier"), "{kind}: {m}");
                }
                other => panic!("{kind}: expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_infinite_epsilon_is_stored_as_inf() -> Result<()> {
        let plan = Plan::new(&config(None, Some(1.0), None), 10_000, Vec::new(), 0.0)?;
        let mut report = plan.report(plan.steps, "row", true)?;
        report.epsilon = f64::INFINITY;
        report.rdp_epsilon = f64::INFINITY;
        let json = serde_json::to_value(&report).map_err(|e| Error::Data(e.to_string()))?;
        assert_eq!(json["epsilon"], "inf");
        assert_eq!(json["rdp_epsilon"], "inf");
        let back: PrivacyReport =
            serde_json::from_value(json).map_err(|e| Error::Data(e.to_string()))?;
        assert_eq!(back, report);
        Ok(())
    }

    #[test]
    fn plans_calibrate_noise_and_respect_max_epsilon() -> Result<()> {
        let target = config(Some(2.0), None, None);
        let plan = Plan::new(&target, 10_000, Vec::new(), 0.0)?;
        assert_eq!((plan.steps_per_epoch, plan.steps), (100, 500));
        assert!((plan.sampling_rate - 0.01).abs() < 1e-15);
        let spent = plan.report(plan.steps, "row", true)?;
        assert!(spent.epsilon <= 2.0 && spent.epsilon > 1.9, "{}", spent.epsilon);
        assert!(spent.epsilon <= spent.rdp_epsilon);

        let capped = Plan::new(&config(None, Some(1.0), Some(1.0)), 10_000, Vec::new(), 0.0)?;
        assert!(capped.capped && capped.steps < 500);
        let at_cap = capped.report(capped.steps, "row", true)?.epsilon;
        let one_more = capped.report(capped.steps + 1, "row", true)?.epsilon;
        assert!(at_cap <= 1.0 && one_more > 1.0, "{at_cap} {one_more}");
        Ok(())
    }
}
