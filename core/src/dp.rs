//! DP-SGD's moving parts around the gradient: the plan (sampling rate, steps, noise), Poisson
//! sampling of privacy units, Gaussian noise, and the privacy report stored with the model.
//!
//! One step (Abadi et al. 2016, "Deep learning with differential privacy", Algorithm 1): each
//! unit joins the batch independently with probability `q`; each unit's gradient is clipped to
//! norm `C` (`backprop`); the clipped gradients are summed; `N(0, σ²C²)` noise is added
//! to every coordinate once; the sum is divided by the expected batch size `q·n`; then the
//! optimizer steps. The accountant composes `steps` such Poisson-subsampled Gaussian mechanisms.

use candle_core::{Device, Shape, Tensor};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::accountant::{self, AccountantKind, GaussianEvent, Ledger};
use crate::config::{Delta, TrainConfig};
use crate::error::{Error, Result};

/// What DP-SGD will do, fixed before the first step.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Privacy units (rows, or subjects): the noisy count from the schema release.
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
    /// What the user should know about the guarantee (e.g. a large delta).
    pub warnings: Vec<String>,
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
        let sampling_rate = (tc.batch_size() as f64 / units as f64).min(1.0);
        let steps_per_epoch = units.div_ceil(tc.batch_size());
        let planned = steps_per_epoch * tc.max_epochs.unwrap_or(crate::dp_defaults::EPOCHS);
        let delta = p.delta.resolve(units);
        let warnings: Vec<String> = Delta::check(delta, units)?.into_iter().collect();
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
        let plan = Plan {
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
            warnings,
        };
        plan.check_bounded(accountant_delta)?;
        Ok(plan)
    }

    /// Refuses, before the first step, a plan whose guarantee after all its steps has no
    /// finite epsilon (too little noise for the sampling rate and steps): training would
    /// release the model under no guarantee at all.
    fn check_bounded(&self, accountant_delta: f64) -> Result<()> {
        let events = self.planned_events(self.steps);
        let spent = accountant::epsilon(self.accountant, &events, accountant_delta)?;
        if spent.epsilon.is_finite() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "DP training would give no finite epsilon (no guarantee): noise multiplier {:e} is \
             too small for sampling rate {:.5} over {} steps ({} accountant, delta {:e}); raise \
             privacy.noise_multiplier (CLI: --noise-multiplier), or set privacy.epsilon \
             (--epsilon) to have the noise calibrated",
            self.noise_multiplier, self.sampling_rate, self.steps, self.accountant, self.delta
        )))
    }

    /// The ledger before the first step: the releases made before training, each its own
    /// event.
    pub fn ledger(&self) -> Result<Ledger> {
        Ok(Ledger::starting_with(self.accountant, self.prior.clone())?)
    }

    /// The mechanism one DP-SGD step runs, as the ledger records it.
    pub fn step_event(&self) -> GaussianEvent {
        GaussianEvent {
            sampling_rate: self.sampling_rate,
            noise_multiplier: self.noise_multiplier,
            steps: 1,
        }
    }

    /// The mechanisms the plan would have run after `steps` steps (to check it before the
    /// first step; the guarantee of a run is computed from its ledger).
    fn planned_events(&self, steps: usize) -> Vec<GaussianEvent> {
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

    /// The guarantee of the mechanisms recorded in `ledger` (which started as
    /// [`Plan::ledger`]), from the plan's accountant (and RDP alongside); its events become
    /// the statement's.
    pub fn report(
        &self,
        ledger: &Ledger,
        unit: &str,
        deterministic: bool,
    ) -> Result<PrivacyReport> {
        let prior: u64 = self.prior.iter().map(|e| e.steps).sum();
        let steps = ledger.steps().checked_sub(prior).ok_or_else(|| {
            Error::Data("the ledger holds fewer events than the plan's releases".into())
        })? as usize;
        let events = ledger.events().to_vec();
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
            warnings: self.warnings.clone(),
        })
    }
}

pub use doppel_table::privacy::{PrivacyReport, VERIFY_TOLERANCE};

/// Checks a privacy statement against the configuration the model was trained with
/// (`config.dp` is on; the accountant, clip norm, privacy unit, seeded-noise flag and a
/// configured noise multiplier are the statement's), then against its own ledger
/// ([`PrivacyReport::verify_ledger`]: recomputing epsilon from the events gives the stated
/// figures).
///
/// Errors: [`Error::Data`] saying that the privacy statement does not match the model's
/// ledger, and which figure differs (the model loader turns it into [`Error::Model`]).
pub fn verify(report: &PrivacyReport, config: &crate::config::PrivacyConfig) -> Result<()> {
    if !config.dp {
        return Err(mismatch(
            "the model was trained without differential privacy (privacy.dp = false in its \
             configuration), yet it carries a privacy statement"
                .into(),
        ));
    }
    let unit = config.privacy_unit.as_deref().unwrap_or("row");
    let settings = [
        ("accountant", report.accountant == config.accountant),
        ("max_grad_norm", report.max_grad_norm == config.max_grad_norm),
        ("deterministic_noise", report.deterministic_noise == config.deterministic_noise),
        ("unit", report.unit == unit),
        ("noise_multiplier", config.noise_multiplier.is_none_or(|s| s == report.noise_multiplier)),
    ];
    if let Some((key, _)) = settings.iter().find(|(_, same)| !same) {
        return Err(mismatch(format!("{key} differs from the configuration's privacy.{key}")));
    }
    Ok(report.verify_ledger()?)
}

/// Checks a model's privacy statement (`summary.privacy`) against its configuration: present
/// exactly when `config.dp` is on, and then [`verify`].
pub fn verify_statement(
    statement: Option<&PrivacyReport>,
    config: &crate::config::PrivacyConfig,
) -> Result<()> {
    match statement {
        Some(report) => verify(report, config),
        None if config.dp => Err(mismatch(
            "the configuration says it was trained with differential privacy (privacy.dp = \
             true), but it carries no privacy statement"
                .into(),
        )),
        None => Ok(()),
    }
}

fn mismatch(detail: String) -> Error {
    Error::Data(format!("the privacy statement does not match the model's ledger: {detail}"))
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

    /// `rows` itself when it has at most `k` items, else `k` of them drawn uniformly without
    /// replacement (a partial Fisher-Yates shuffle), in their original order.
    pub fn subset(&mut self, rows: &[usize], k: usize) -> Vec<usize> {
        if rows.len() <= k {
            return rows.to_vec();
        }
        let mut pool = rows.to_vec();
        for i in 0..k {
            let j =
                i + ((self.uniform() * (pool.len() - i) as f64) as usize).min(pool.len() - i - 1);
            pool.swap(i, j);
        }
        let mut chosen = pool[..k].to_vec();
        chosen.sort_unstable();
        chosen
    }

    /// Fills `out` with independent `N(0, std²)` draws (Box-Muller, both outputs used).
    pub fn fill_normal(&mut self, out: &mut [f32], std: f64) {
        for pair in out.chunks_mut(2) {
            let u1 = 1.0 - self.uniform();
            let u2 = self.uniform();
            let (first, second) = crate::rng::box_muller(u1, u2, std);
            pair[0] = first as f32;
            if let Some(slot) = pair.get_mut(1) {
                *slot = second as f32;
            }
        }
    }

    /// One tensor of independent `N(0, std²)` draws per shape (the noise of one step, drawn
    /// while the step's gradients are computed), on `device`.
    pub fn noise(&mut self, shapes: &[Shape], std: f64, device: &Device) -> Result<Vec<Tensor>> {
        shapes
            .iter()
            .map(|shape| {
                let mut noise = vec![0f32; shape.elem_count()];
                self.fill_normal(&mut noise, std);
                Ok(Tensor::from_vec(noise, shape, device)?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accountant::Accountant;
    use crate::config::PrivacyConfig;

    /// `plan`'s ledger after `steps` steps, recorded one at a time as training does.
    fn after(plan: &Plan, steps: usize) -> Result<Ledger> {
        let mut ledger = plan.ledger()?;
        for _ in 0..steps {
            ledger.step(plan.step_event())?;
        }
        Ok(ledger)
    }

    fn config(epsilon: Option<f64>, sigma: Option<f64>, max: Option<f64>) -> TrainConfig {
        let mut c = TrainConfig::default();
        c.training.batch_size = Some(100);
        c.training.max_epochs = Some(5);
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
    fn subsets_are_uniform_draws_without_replacement() {
        let mut r = Randomness::new(true, 5);
        let rows: Vec<usize> = (100..110).collect();
        assert_eq!(r.subset(&rows, 10), rows);
        let mut hits = [0usize; 10];
        for _ in 0..10_000 {
            let s = r.subset(&rows, 3);
            assert_eq!(s.len(), 3);
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
            s.iter().for_each(|&v| hits[v - 100] += 1);
        }
        // Each row is chosen with probability 3/10: 3,000 of 10,000 draws (std about 46).
        assert!(hits.iter().all(|&h| (2_800..3_200).contains(&h)), "{hits:?}");
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
        let mut report = plan.report(&after(&plan, plan.steps)?, "row", true)?;
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

    /// A statement as training writes it: `units` units, noise `sigma`, a prior statistics
    /// release, with `kind`.
    fn statement(
        kind: AccountantKind,
        units: usize,
        sigma: f64,
    ) -> Result<(TrainConfig, PrivacyReport)> {
        let mut c = config(None, Some(sigma), None);
        c.privacy.accountant = kind;
        let prior = vec![GaussianEvent { sampling_rate: 1.0, noise_multiplier: 10.0, steps: 1 }];
        let plan = Plan::new(&c, units, prior, 1e-7)?;
        let report = plan.report(&after(&plan, plan.steps)?, "row", false)?;
        Ok((c, report))
    }

    /// An edit of a statement, as a forger would make it.
    type Edit = Box<dyn Fn(&mut PrivacyReport)>;

    fn mismatch_message(r: Result<()>) -> String {
        match r {
            Err(Error::Data(m)) => {
                assert!(
                    m.starts_with("the privacy statement does not match the model's ledger"),
                    "{m}"
                );
                m
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_statement_verifies_against_its_own_ledger() -> Result<()> {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let (c, report) = statement(kind, 10_000, 1.2)?;
            verify(&report, &c.privacy)?;
            verify_statement(Some(&report), &c.privacy)?;
            // The JSON round trip keeps it verifiable.
            let json = serde_json::to_string(&report).map_err(|e| Error::Data(e.to_string()))?;
            let back: PrivacyReport =
                serde_json::from_str(&json).map_err(|e| Error::Data(e.to_string()))?;
            verify(&back, &c.privacy)?;
        }
        // Without DP there is no statement, and none is needed.
        verify_statement(None, &PrivacyConfig::default())?;
        Ok(())
    }

    #[test]
    fn edited_or_pasted_statements_are_refused() -> Result<()> {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let (c, report) = statement(kind, 10_000, 1.2)?;
            let edits: Vec<(&str, Edit)> = vec![
                ("epsilon is", Box::new(|r| r.epsilon *= 0.5)),
                ("epsilon is", Box::new(|r| r.epsilon *= 1.0 + 1e-6)),
                ("epsilon is", Box::new(|r| r.epsilon = f64::INFINITY)),
                ("epsilon is", Box::new(|r| r.epsilon = -1.0)),
                ("epsilon is", Box::new(|r| r.epsilon = f64::NAN)),
                ("rdp_epsilon is", Box::new(|r| r.rdp_epsilon -= 0.1)),
                ("delta", Box::new(|r| r.delta = 5.0)),
                ("delta", Box::new(|r| r.selection_delta = r.delta)),
                ("epsilon is", Box::new(|r| r.delta *= 10.0)),
                ("noise_multiplier", Box::new(|r| r.noise_multiplier *= 2.0)),
                ("not the last event", Box::new(|r| r.steps += 1)),
                ("not the last event", Box::new(|r| r.sampling_rate /= 2.0)),
                ("epsilon is", Box::new(|r| r.events[0].noise_multiplier = 1e9)),
                ("sampling_rate", Box::new(|r| r.events[0].sampling_rate = 2.0)),
                (
                    "accountant",
                    Box::new(|r| {
                        r.accountant = match r.accountant {
                            AccountantKind::Rdp => AccountantKind::Prv,
                            AccountantKind::Prv => AccountantKind::Rdp,
                        }
                    }),
                ),
                ("deterministic_noise", Box::new(|r| r.deterministic_noise = true)),
                ("max_grad_norm", Box::new(|r| r.max_grad_norm = 0.1)),
                ("unit", Box::new(|r| r.unit = "customer".into())),
                ("privacy units", Box::new(|r| r.units = 1)),
            ];
            for (needle, edit) in edits {
                let mut forged = report.clone();
                edit(&mut forged);
                let m = mismatch_message(verify(&forged, &c.privacy));
                assert!(m.contains(needle), "{kind}: {m}");
            }
            // A block pasted into a model trained without DP.
            let m = mismatch_message(verify_statement(Some(&report), &PrivacyConfig::default()));
            assert!(m.contains("trained without differential privacy"), "{m}");
            // A DP model whose block was removed.
            let m = mismatch_message(verify_statement(None, &c.privacy));
            assert!(m.contains("carries no privacy statement"), "{m}");
        }
        Ok(())
    }

    #[test]
    fn verifying_a_typical_statement_is_cheap() -> Result<()> {
        // Adult: q = 256/8140 ≈ 0.03145, 640 steps (20 epochs of 32), after the one statistics
        // release (q = 1, σ = 10).
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let mut c = config(None, Some(1.55), None);
            c.privacy.accountant = kind;
            c.training.batch_size = Some(256);
            c.training.max_epochs = Some(20);
            let prior =
                vec![GaussianEvent { sampling_rate: 1.0, noise_multiplier: 10.0, steps: 1 }];
            let plan = Plan::new(&c, 8140, prior, 0.0)?;
            let report = plan.report(&after(&plan, plan.steps)?, "row", false)?;
            assert_eq!(report.steps, 640);
            let started = std::time::Instant::now();
            verify(&report, &c.privacy)?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            println!("{kind}: verify takes {ms:.1} ms (epsilon {})", report.epsilon);
        }
        Ok(())
    }

    #[test]
    fn plans_calibrate_noise_and_respect_max_epsilon() -> Result<()> {
        let target = config(Some(2.0), None, None);
        let plan = Plan::new(&target, 10_000, Vec::new(), 0.0)?;
        assert_eq!((plan.steps_per_epoch, plan.steps), (100, 500));
        assert!((plan.sampling_rate - 0.01).abs() < 1e-15);
        let spent = plan.report(&after(&plan, plan.steps)?, "row", true)?;
        assert!(spent.epsilon <= 2.0 && spent.epsilon > 1.9, "{}", spent.epsilon);
        assert!(spent.epsilon <= spent.rdp_epsilon);

        let capped = Plan::new(&config(None, Some(1.0), Some(1.0)), 10_000, Vec::new(), 0.0)?;
        assert!(capped.capped && capped.steps < 500);
        let at_cap = capped.report(&after(&capped, capped.steps)?, "row", true)?.epsilon;
        let one_more = capped.report(&after(&capped, capped.steps + 1)?, "row", true)?.epsilon;
        assert!(at_cap <= 1.0 && one_more > 1.0, "{at_cap} {one_more}");
        Ok(())
    }
}
