//! Privacy accounting for the Poisson-subsampled Gaussian mechanism (DP-SGD) and the plain
//! Gaussian mechanism.
//!
//! Two accountants answer "how much (ε, δ)-differential privacy do these mechanisms spend?":
//! - [`AccountantKind::Rdp`]: Rényi DP ([`rdp`]; Mironov, Talwar, Zhang 2019) converted to
//!   (ε, δ) with Balle et al. 2020, Theorem 21. Numbers agree with Opacus's `RDPAccountant`.
//! - [`AccountantKind::Prv`] (the default): numerical composition of privacy loss random
//!   variables ([`prv`]; Gopi, Lee, Wutschitz 2021), tighter than RDP, with a stated error bound;
//!   the reported epsilon is the upper end of that bound. By default the bound is about 0.02
//!   wide (`eps_error` 0.01 on each side, Opacus's default) with `delta / 1000` of δ slack;
//!   [`epsilon_prv`] takes other [`PrvOptions`]. It agrees with Google's `dp_accounting` PLD
//!   accountant within that bound (see `tests/accountant.rs`).
//!
//! [`calibrate_noise`] and [`max_steps`] search over either accountant. A [`Ledger`] records the
//! events of a training run (the [`Accountant`] trait) and serialises with the model.
//!
//! Neighbouring data sets differ by adding or removing one record; every mechanism here has
//! L2 sensitivity 1 (noise standard deviation = noise multiplier × clipping norm).
//!
//! # No guarantee
//! With too little noise for the sampling rate and steps (e.g. σ = 1e-200, where σ² underflows
//! to 0) no finite bound exists, and epsilon is `+∞`: never 0, never a finite number. A
//! NaN anywhere in a computation means the same (no bound was proven) and also ends as `+∞`.
//! JSON has no infinity, so epsilon fields serialise `+∞` as the string `"inf"`
//! ([`epsilon_serde`]).
//!
//! ```
//! use doppel_table::accountant::{epsilon, AccountantKind, GaussianEvent};
//! let events = [GaussianEvent { sampling_rate: 0.01, noise_multiplier: 1.0, steps: 1000 }];
//! let rdp = epsilon(AccountantKind::Rdp, &events, 1e-5)?;
//! let prv = epsilon(AccountantKind::Prv, &events, 1e-5)?;
//! assert!(prv.epsilon <= rdp.epsilon);
//! # Ok::<(), doppel_table::Error>(())
//! ```

pub mod calibrate;
pub mod epsilon_serde;
pub mod prv;
pub mod rdp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use calibrate::{calibrate_noise, max_steps, noise_for, Calibration};
pub use prv::PrvOptions;

use crate::error::{Error, Result};

pub(crate) const LN_2: f64 = std::f64::consts::LN_2;

/// Which accountant turns events into (ε, δ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccountantKind {
    /// Numerical composition of privacy loss random variables (Gopi et al. 2021): tight, with
    /// an error bound; the reported epsilon is an upper bound.
    #[default]
    Prv,
    /// Rényi DP (Mironov et al. 2019) over Opacus's default orders: a looser upper bound.
    Rdp,
}

impl AccountantKind {
    /// The lowercase name, `"prv"` or `"rdp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountantKind::Prv => "prv",
            AccountantKind::Rdp => "rdp",
        }
    }
}

impl fmt::Display for AccountantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountantKind {
    type Err = Error;

    /// Parses `"prv"` or `"rdp"` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "prv" => Ok(AccountantKind::Prv),
            "rdp" => Ok(AccountantKind::Rdp),
            _ => Err(Error::Argument(format!("accountant must be \"prv\" or \"rdp\", got {s:?}"))),
        }
    }
}

/// `steps` compositions of the Poisson-subsampled Gaussian mechanism with sampling rate `q`
/// and noise multiplier `sigma` (`q = 1`: the plain Gaussian mechanism, used e.g. for one
/// release of noisy counts with L2 sensitivity 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianEvent {
    /// Probability that each record takes part in a step (Poisson sampling), in `(0, 1]`.
    pub sampling_rate: f64,
    /// Noise standard deviation divided by the L2 sensitivity, positive and finite.
    pub noise_multiplier: f64,
    /// Number of compositions, at least 1.
    pub steps: u64,
}

impl GaussianEvent {
    /// A validated event.
    pub fn new(sampling_rate: f64, noise_multiplier: f64, steps: u64) -> Result<Self> {
        let e = GaussianEvent { sampling_rate, noise_multiplier, steps };
        e.validate()?;
        Ok(e)
    }

    /// Checks the ranges: `sampling_rate` in `(0, 1]`, `noise_multiplier` positive and
    /// finite, `steps >= 1`.
    pub fn validate(&self) -> Result<()> {
        check_sampling_rate(self.sampling_rate)?;
        check_noise_multiplier(self.noise_multiplier)?;
        if self.steps == 0 {
            return Err(Error::Argument("steps must be >= 1, got 0".into()));
        }
        Ok(())
    }
}

/// The result of accounting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacySpent {
    /// An upper bound on the privacy loss ε at `delta` (`+∞` if no finite bound exists,
    /// written `"inf"` in JSON). Never NaN.
    #[serde(with = "epsilon_serde")]
    pub epsilon: f64,
    /// The δ it was computed for.
    pub delta: f64,
    /// The accountant that computed it.
    pub accountant: AccountantKind,
    /// RDP only: the Rényi order at which the bound is attained.
    pub order: Option<f64>,
    /// PRV only: the true epsilon lies in `[epsilon - error_bound, epsilon]` (`+∞` when
    /// nothing below `epsilon` is known; 0 when epsilon is `+∞` for certain).
    #[serde(default, with = "epsilon_serde::option")]
    pub error_bound: Option<f64>,
}

impl PrivacySpent {
    /// True when the accountant found no finite bound: the mechanisms give no guarantee.
    pub fn is_unbounded(&self) -> bool {
        !self.epsilon.is_finite()
    }
}

pub(crate) fn check_sampling_rate(q: f64) -> Result<()> {
    if q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(Error::Argument(format!("sampling_rate must be in (0, 1], got {q}")))
    }
}

pub(crate) fn check_noise_multiplier(sigma: f64) -> Result<()> {
    if sigma > 0.0 && sigma.is_finite() {
        Ok(())
    } else {
        Err(Error::Argument(format!("noise_multiplier must be positive and finite, got {sigma}")))
    }
}

pub(crate) fn check_delta(delta: f64) -> Result<()> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::Argument(format!("delta must be in (0, 1), got {delta}")))
    }
}

pub(crate) fn check_epsilon(name: &str, eps: f64) -> Result<()> {
    if eps > 0.0 && eps.is_finite() {
        Ok(())
    } else {
        Err(Error::Argument(format!("{name} must be positive and finite, got {eps}")))
    }
}

/// Validates each event, naming its position when there are several.
pub(crate) fn check_events(events: &[GaussianEvent]) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        e.validate().map_err(|err| match err {
            Error::Argument(m) if events.len() > 1 => Error::Argument(format!("{m} (event {i})")),
            other => other,
        })?;
    }
    Ok(())
}

/// ε spent by composing all `events`, at `delta`, with the given accountant (PRV with
/// [`PrvOptions::default`]). An empty list spends nothing (ε = 0).
///
/// Errors: [`Error::Argument`] naming the argument when an event or `delta` is out of range
/// (`sampling_rate` in `(0, 1]`, `noise_multiplier > 0` and finite, `steps >= 1`, `delta` in
/// `(0, 1)`), or when the PRV accountant cannot bound a composition numerically.
pub fn epsilon(kind: AccountantKind, events: &[GaussianEvent], delta: f64) -> Result<PrivacySpent> {
    check_delta(delta)?;
    check_events(events)?;
    match kind {
        AccountantKind::Rdp => Ok(epsilon_rdp(events, delta)),
        AccountantKind::Prv => epsilon_prv(events, delta, &PrvOptions::default()),
    }
}

/// An epsilon as the accountants report it: a NaN (no bound was proven) is `+∞`, never a
/// number a comparison or `max` could turn into a small cost.
pub(crate) fn no_nan(epsilon: f64) -> f64 {
    if epsilon.is_nan() {
        f64::INFINITY
    } else {
        epsilon
    }
}

/// [`epsilon`] with the PRV accountant and explicit [`PrvOptions`].
pub fn epsilon_prv(
    events: &[GaussianEvent],
    delta: f64,
    options: &PrvOptions,
) -> Result<PrivacySpent> {
    let b = prv::epsilon_bounds(events, delta, options)?;
    let upper = no_nan(b.upper);
    // A NaN lower end proves nothing: 0 is the trivial lower bound.
    let lower = if b.lower.is_nan() { 0.0 } else { b.lower.min(upper) };
    // ∞ - ∞ is NaN: an epsilon infinite at both ends is known exactly.
    let error_bound = if upper == lower { 0.0 } else { upper - lower };
    Ok(PrivacySpent {
        epsilon: upper,
        delta,
        accountant: AccountantKind::Prv,
        order: None,
        error_bound: Some(error_bound),
    })
}

/// RDP accounting of already validated events.
fn epsilon_rdp(events: &[GaussianEvent], delta: f64) -> PrivacySpent {
    let orders = rdp::default_orders();
    let curve = rdp::rdp_curve(events, &orders);
    let (eps, order) = if events.is_empty() {
        (0.0, None)
    } else {
        rdp::epsilon_from_curve(&orders, &curve, delta)
    };
    let eps = no_nan(eps);
    let order = order.filter(|_| eps.is_finite());
    PrivacySpent { epsilon: eps, delta, accountant: AccountantKind::Rdp, order, error_bound: None }
}

/// A privacy accountant: a ledger told about every noisy step, asked for ε at any δ.
pub trait Accountant {
    /// Records `event` (validated first: on error nothing is recorded).
    fn step(&mut self, event: GaussianEvent) -> Result<()>;
    /// ε spent so far at `delta`.
    fn epsilon(&self, delta: f64) -> Result<PrivacySpent>;
}

/// The events of a run, in order, with the accountant that prices them. Consecutive steps
/// with equal parameters are merged into one event; serialisable with the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    kind: AccountantKind,
    events: Vec<GaussianEvent>,
}

impl Ledger {
    /// An empty ledger priced by `kind`.
    pub fn new(kind: AccountantKind) -> Self {
        Ledger { kind, events: Vec::new() }
    }

    /// A ledger priced by `kind` whose first events are `prior` (each kept as its own event,
    /// even where consecutive ones are equal; each validated).
    pub fn starting_with(kind: AccountantKind, prior: Vec<GaussianEvent>) -> Result<Self> {
        check_events(&prior)?;
        Ok(Ledger { kind, events: prior })
    }

    /// The accountant that prices this ledger.
    pub fn kind(&self) -> AccountantKind {
        self.kind
    }

    /// The recorded events, in order.
    pub fn events(&self) -> &[GaussianEvent] {
        &self.events
    }

    /// The total number of recorded steps.
    pub fn steps(&self) -> u64 {
        self.events.iter().map(|e| e.steps).sum()
    }
}

impl Accountant for Ledger {
    fn step(&mut self, event: GaussianEvent) -> Result<()> {
        event.validate()?;
        match self.events.last_mut() {
            Some(last)
                if last.sampling_rate == event.sampling_rate
                    && last.noise_multiplier == event.noise_multiplier =>
            {
                last.steps = last.steps.checked_add(event.steps).ok_or_else(|| {
                    Error::Argument(format!("steps overflow: {} + {}", last.steps, event.steps))
                })?;
            }
            _ => self.events.push(event),
        }
        Ok(())
    }

    fn epsilon(&self, delta: f64) -> Result<PrivacySpent> {
        epsilon(self.kind, &self.events, delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(q: f64, s: f64, k: u64) -> GaussianEvent {
        GaussianEvent { sampling_rate: q, noise_multiplier: s, steps: k }
    }

    fn config_message(r: Result<impl fmt::Debug>) -> String {
        match r {
            Err(Error::Argument(m)) => m,
            other => panic!("expected Error::Config, got {other:?}"),
        }
    }

    #[test]
    fn kind_parses_and_prints() -> Result<()> {
        assert_eq!("prv".parse::<AccountantKind>()?, AccountantKind::Prv);
        assert_eq!("RDP".parse::<AccountantKind>()?, AccountantKind::Rdp);
        assert_eq!(AccountantKind::Rdp.to_string(), "rdp");
        assert_eq!(AccountantKind::default(), AccountantKind::Prv);
        assert!(config_message("moments".parse::<AccountantKind>()).contains("\"moments\""));
        assert_eq!(serde_json::to_string(&AccountantKind::Prv).ok().as_deref(), Some("\"prv\""));
        Ok(())
    }

    #[test]
    fn invalid_arguments_name_the_argument() {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let m = config_message(epsilon(kind, &[ev(1.5, 1.0, 1)], 1e-5));
            assert_eq!(m, "sampling_rate must be in (0, 1], got 1.5");
            let m = config_message(epsilon(kind, &[ev(0.0, 1.0, 1)], 1e-5));
            assert!(m.starts_with("sampling_rate"), "{m}");
            let m = config_message(epsilon(kind, &[ev(f64::NAN, 1.0, 1)], 1e-5));
            assert!(m.starts_with("sampling_rate"), "{m}");
            let m = config_message(epsilon(kind, &[ev(0.1, 0.0, 1)], 1e-5));
            assert!(m.starts_with("noise_multiplier"), "{m}");
            let m = config_message(epsilon(kind, &[ev(0.1, f64::INFINITY, 1)], 1e-5));
            assert!(m.starts_with("noise_multiplier"), "{m}");
            let m = config_message(epsilon(kind, &[ev(0.1, 1.0, 0)], 1e-5));
            assert!(m.starts_with("steps"), "{m}");
            for d in [0.0, 1.0, -1e-5, f64::NAN] {
                let m = config_message(epsilon(kind, &[ev(0.1, 1.0, 1)], d));
                assert!(m.starts_with("delta must be in (0, 1)"), "{m}");
            }
            let m = config_message(epsilon(kind, &[ev(0.1, 1.0, 1), ev(0.1, -1.0, 1)], 1e-5));
            assert!(m.starts_with("noise_multiplier") && m.ends_with("(event 1)"), "{m}");
        }
    }

    #[test]
    fn empty_composition_spends_nothing() -> Result<()> {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            assert_eq!(epsilon(kind, &[], 1e-5)?.epsilon, 0.0);
        }
        Ok(())
    }

    #[test]
    fn gaussian_rdp_closed_form() -> Result<()> {
        // q = 1: RDP = steps α/(2σ²); the conversion is then explicit.
        let spent = epsilon(AccountantKind::Rdp, &[ev(1.0, 2.0, 10)], 1e-5)?;
        let a = spent.order.expect("an order");
        let expect = 10.0 * a / 8.0 - (1e-5f64.ln() + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln();
        assert!((spent.epsilon - expect).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn prv_is_tighter_than_rdp_and_upper_bounds_the_gaussian() -> Result<()> {
        let events = [ev(1.0, 1.0, 1)];
        let prv = epsilon(AccountantKind::Prv, &events, 1e-5)?;
        let rdp = epsilon(AccountantKind::Rdp, &events, 1e-5)?;
        let (exact, _) = prv::gaussian_epsilon(1.0, 1e-5);
        assert!(prv.epsilon >= exact && prv.epsilon <= exact + 1e-9);
        assert!(prv.epsilon < rdp.epsilon);
        Ok(())
    }

    fn spent(epsilon: f64) -> PrivacySpent {
        PrivacySpent {
            epsilon,
            delta: 1e-5,
            accountant: AccountantKind::Prv,
            order: None,
            error_bound: Some(0.01),
        }
    }

    #[test]
    fn infinite_epsilon_is_written_as_inf_and_read_back() -> Result<()> {
        // JSON has no infinity: serde_json would write `null`, which reads back as an error.
        let json = serde_json::to_string(&spent(f64::INFINITY))
            .map_err(|e| Error::Argument(e.to_string()))?;
        assert!(json.contains(r#""epsilon":"inf""#), "{json}");
        let back: PrivacySpent =
            serde_json::from_str(&json).map_err(|e| Error::Argument(e.to_string()))?;
        assert_eq!(back.epsilon, f64::INFINITY);
        Ok(())
    }

    #[test]
    fn finite_epsilons_round_trip_bit_for_bit_and_nan_is_refused() -> Result<()> {
        let values = [0.0, 5e-324, 1e-300, 0.1, 1.0 / 3.0, 2.5, 1e308, f64::MAX];
        for v in values {
            let json =
                serde_json::to_string(&spent(v)).map_err(|e| Error::Argument(e.to_string()))?;
            let back: PrivacySpent =
                serde_json::from_str(&json).map_err(|e| Error::Argument(e.to_string()))?;
            assert_eq!(back.epsilon.to_bits(), v.to_bits(), "{v:e}: {json}");
        }
        let nan = serde_json::to_string(&spent(f64::NAN));
        assert!(nan.is_err_and(|e| e.to_string().contains("NaN")));
        for text in [r#""nan""#, r#""infinity""#, r#""-inf""#, "null", r#"-1"#] {
            let json = format!(
                r#"{{"epsilon":{text},"delta":1e-5,"accountant":"rdp","order":null,"error_bound":null}}"#
            );
            let r = serde_json::from_str::<PrivacySpent>(&json);
            if text == "-1" {
                // Representation only: ranges are checked where a statement is used.
                assert!(r.is_ok(), "{json}");
            } else {
                assert!(r.is_err(), "{json} was read as {r:?}");
            }
        }
        Ok(())
    }

    #[test]
    fn gaussian_without_noise_gives_no_guarantee() -> Result<()> {
        // q = 1: RDP α/(2σ²) overflows; the PRV closed form has μ = ∞.
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let s = epsilon(kind, &[ev(1.0, 1e-200, 1)], 1e-5)?;
            assert_eq!(s.epsilon, f64::INFINITY, "{kind}");
            assert_eq!(s.order, None, "{kind}");
            if let Some(b) = s.error_bound {
                assert!(!b.is_nan(), "{kind}: error bound NaN");
            }
        }
        Ok(())
    }

    #[test]
    fn ledger_merges_steps_and_refuses_bad_events() -> Result<()> {
        let mut ledger = Ledger::new(AccountantKind::Rdp);
        for _ in 0..3 {
            ledger.step(ev(0.01, 1.0, 1))?;
        }
        ledger.step(ev(1.0, 5.0, 1))?;
        assert!(ledger.step(ev(0.01, -1.0, 1)).is_err());
        assert_eq!(ledger.events(), &[ev(0.01, 1.0, 3), ev(1.0, 5.0, 1)]);
        assert_eq!(ledger.steps(), 4);
        let direct = epsilon(AccountantKind::Rdp, ledger.events(), 1e-5)?;
        assert_eq!(ledger.epsilon(1e-5)?, direct);
        let json = serde_json::to_string(&ledger).map_err(|e| Error::Argument(e.to_string()))?;
        let back: Ledger =
            serde_json::from_str(&json).map_err(|e| Error::Argument(e.to_string()))?;
        assert_eq!(back, ledger);
        Ok(())
    }
}
