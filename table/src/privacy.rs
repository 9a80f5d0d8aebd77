//! The privacy statement a model carries ([`PrivacyReport`]): its (ε, δ) guarantee with the
//! ledger of every mechanism composed into it, so that anyone holding the model file (the
//! engine, `doppel inspect`, the report in the browser) can recompute the figures.

use serde::{Deserialize, Serialize};

use crate::accountant::{self, AccountantKind, GaussianEvent};
use crate::error::{Error, Result};

/// The privacy guarantee of a trained model, stored in its metadata. Epsilon fields write
/// `+∞` (no guarantee) as `"inf"` ([`crate::accountant::epsilon_serde`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacyReport {
    /// Epsilon of the (epsilon, delta)-DP guarantee, from `accountant` (an upper bound).
    #[serde(with = "crate::accountant::epsilon_serde")]
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
    #[serde(default, with = "crate::accountant::epsilon_serde::option")]
    pub error_bound: Option<f64>,
    /// Epsilon by the RDP accountant, for comparison.
    #[serde(with = "crate::accountant::epsilon_serde")]
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
    /// Number of privacy units in the training data: under DP a noisy count (the exact one is
    /// a fact about the data), from the schema release.
    pub units: usize,
    /// Every mechanism composed into `epsilon`.
    pub events: Vec<GaussianEvent>,
    /// True when sampling and noise came from the configured seed (no guarantee then).
    pub deterministic_noise: bool,
    /// What the user should know about the guarantee (e.g. a delta above 1/(10 n)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl PrivacyReport {
    /// Checks the statement against its own ledger: delta and its partition-selection share
    /// are in range; every event is valid and the DP-SGD steps are the last event; there are
    /// at least 2 privacy units; and recomputing epsilon (with the stated accountant, at
    /// `delta - selection_delta`), the PRV error bound, the RDP epsilon and its order from
    /// `events` gives the stated figures (within [`VERIFY_TOLERANCE`], relative).
    ///
    /// Errors: [`Error::Statement`] naming the figure that differs.
    pub fn verify_ledger(&self) -> Result<()> {
        self.check_shape()?;
        let accountant_delta = self.delta - self.selection_delta;
        let spent = accountant::epsilon(self.accountant, &self.events, accountant_delta)
            .map_err(|e| Error::Statement(format!("its events cannot be accounted ({e})")))?;
        same("epsilon", self.epsilon, spent.epsilon)?;
        if self.accountant == AccountantKind::Prv {
            let (stated, computed) = (self.error_bound, spent.error_bound);
            match (stated, computed) {
                (Some(a), Some(b)) => same("error_bound", a, b)?,
                _ => {
                    return Err(Error::Statement(format!("error_bound {stated:?} vs {computed:?}")))
                }
            }
        }
        let rdp = if self.accountant == AccountantKind::Rdp {
            spent
        } else {
            accountant::epsilon(AccountantKind::Rdp, &self.events, accountant_delta)?
        };
        same("rdp_epsilon", self.rdp_epsilon, rdp.epsilon)?;
        if self.order != rdp.order {
            return Err(Error::Statement(format!(
                "order {:?}, but the ledger gives {:?}",
                self.order, rdp.order
            )));
        }
        Ok(())
    }

    /// The checks of [`PrivacyReport::verify_ledger`] that need no accounting.
    fn check_shape(&self) -> Result<()> {
        let deltas_valid = self.delta > 0.0
            && self.delta < 1.0
            && self.selection_delta >= 0.0
            && self.selection_delta < self.delta;
        if !deltas_valid {
            return Err(Error::Statement(format!(
                "delta {} with selection_delta {} (need 0 <= selection_delta < delta < 1)",
                self.delta, self.selection_delta
            )));
        }
        accountant::check_events(&self.events).map_err(|e| Error::Statement(e.to_string()))?;
        if self.units < 2 {
            let units = self.units;
            return Err(Error::Statement(format!("{units} privacy units (DP training needs 2)")));
        }
        if self.steps > 0 {
            let sgd = GaussianEvent {
                sampling_rate: self.sampling_rate,
                noise_multiplier: self.noise_multiplier,
                steps: self.steps as u64,
            };
            if self.events.last() != Some(&sgd) {
                return Err(Error::Statement(format!(
                    "noise_multiplier {}, sampling_rate {} and steps {} are not the last event \
                     of the ledger ({:?})",
                    self.noise_multiplier,
                    self.sampling_rate,
                    self.steps,
                    self.events.last()
                )));
            }
        }
        Ok(())
    }
}

/// Relative tolerance when a stored epsilon is recomputed from its ledger. Both accountants
/// are deterministic (the PRV's FFT, quadrature and sums run in a fixed order), so on one
/// machine the figures agree bit for bit; the tolerance only absorbs a different platform's
/// last-digit rounding of `ln`/`exp` and of the FFT's floating point, and sits far below any
/// edit that changes a printed digit.
pub const VERIFY_TOLERANCE: f64 = 1e-9;

/// `stated` equals `computed` within [`VERIFY_TOLERANCE`] (both infinite counts as equal).
fn same(name: &str, stated: f64, computed: f64) -> Result<()> {
    // Infinite values must be equal: `∞ - x <= tolerance · ∞` would hold for any x.
    let close = stated == computed
        || (stated.is_finite()
            && computed.is_finite()
            && (stated - computed).abs() <= VERIFY_TOLERANCE * stated.abs().max(computed.abs()));
    if close {
        Ok(())
    } else {
        Err(Error::Statement(format!("{name} is {stated}, but its events give {computed}")))
    }
}
