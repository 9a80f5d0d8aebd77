//! Searches over an accountant: the noise for a budget ([`calibrate_noise`]) and the steps a
//! budget allows ([`max_steps`]).
//!
//! Both are bracketing root searches on a monotone function (ε decreases with the noise and
//! increases with the steps): regula falsi with the Illinois modification (Dowell & Jarratt
//! 1971), which keeps a bracket and converges superlinearly, on `ln ε` against `ln σ`
//! (respectively `ln T`), where the curve is nearly straight. The PRV searches start from the
//! RDP answer, which costs microseconds and is close (the PRV bound is tighter).
//!
//! Every test of a budget is written `within(ε, budget)`, false for NaN and `+∞`: an epsilon
//! that is not a proven finite bound never meets a budget.

use super::{
    check_delta, check_epsilon, check_events, check_noise_multiplier, check_sampling_rate, epsilon,
    rdp, AccountantKind, GaussianEvent,
};
use crate::error::{Error, Result};

/// The smallest noise multiplier [`calibrate_noise`] considers.
pub const MIN_NOISE_MULTIPLIER: f64 = 0.01;
/// The largest noise multiplier [`calibrate_noise`] considers.
pub const MAX_NOISE_MULTIPLIER: f64 = 1e4;
/// The relative precision of [`calibrate_noise`]: the returned σ meets the target and
/// `σ / (1 + CALIBRATION_TOLERANCE)` does not.
pub const CALIBRATION_TOLERANCE: f64 = 2e-4;
/// The largest step count [`max_steps`] reports: it saturates there. 2^53, the last integer
/// up to which every integer is an exact `f64` (the search works on `ln(T + 1)`). Not the most
/// steps an accountant composes: the PRV accountant refuses more than
/// [`super::prv::MAX_COMPOSED_STEPS`].
pub const MAX_REPORTED_STEPS: u64 = 1 << 53;

/// A bracket of a root search: points `lo` and `hi` where the signed gap `g` has opposite
/// signs (`g_lo`, `g_hi`).
struct Bracket<P> {
    lo: P,
    g_lo: f64,
    hi: P,
    g_hi: f64,
}

/// Regula falsi with the Illinois modification (Dowell & Jarratt 1971, "A modified regula
/// falsi method for computing the root of an equation", BIT 11): the next probe is where the
/// secant through `(x(lo), g_lo)` and `(x(hi), g_hi)` crosses zero, and when one end of the
/// bracket is kept twice in a row its `g` is halved, which restores superlinear convergence.
///
/// `x` maps a point to the coordinate the secant is drawn on; `candidate(x, lo, hi)` turns
/// the secant's root (possibly not finite) into a point strictly inside the bracket;
/// `probe(p)` gives whether `p` replaces `lo` (else `hi`) and `g(p)`. Stops when
/// `converged(lo, hi)` or after `max_probes` probes, and returns the final `(lo, hi)`.
fn illinois<P: Copy>(
    bracket: Bracket<P>,
    max_probes: usize,
    x: impl Fn(P) -> f64,
    converged: impl Fn(P, P) -> bool,
    candidate: impl Fn(f64, P, P) -> P,
    mut probe: impl FnMut(P) -> Result<(bool, f64)>,
) -> Result<(P, P)> {
    let Bracket { mut lo, mut g_lo, mut hi, mut g_hi } = bracket;
    let mut side = 0i8;
    for _ in 0..max_probes {
        if converged(lo, hi) {
            break;
        }
        let (x_lo, x_hi) = (x(lo), x(hi));
        let p = candidate((x_lo * g_hi - x_hi * g_lo) / (g_hi - g_lo), lo, hi);
        let (replaces_lo, g) = probe(p)?;
        if replaces_lo {
            (lo, g_lo) = (p, g);
            if side == -1 {
                g_hi /= 2.0;
            }
            side = -1;
        } else {
            (hi, g_hi) = (p, g);
            if side == 1 {
                g_lo /= 2.0;
            }
            side = 1;
        }
    }
    Ok((lo, hi))
}

/// Whether `epsilon` is a proven bound within `budget` (false for NaN).
fn within(epsilon: f64, budget: f64) -> bool {
    epsilon <= budget
}

/// An epsilon for a message: a number, or that there is no finite bound.
fn spent(epsilon: f64) -> String {
    if epsilon.is_finite() {
        format!("epsilon {epsilon}")
    } else {
        "no finite epsilon (no guarantee)".into()
    }
}

/// The privacy calculator's answer for a target epsilon: the calibrated noise multiplier and
/// the epsilon it spends (at most the target). `doppel privacy noise` prints it, the browser
/// page shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// The smallest noise multiplier that meets the target ([`calibrate_noise`]).
    pub noise_multiplier: f64,
    /// The epsilon `steps` steps at that noise spend.
    pub epsilon: f64,
    /// The accountant that computed both.
    pub accountant: AccountantKind,
}

/// The noise multiplier for which `steps` steps of the Poisson-subsampled Gaussian mechanism
/// at `sampling_rate` spend at most `target` epsilon at `delta` ([`calibrate_noise`] with no
/// other mechanism), and the epsilon they then spend.
///
/// Errors: as [`calibrate_noise`].
pub fn noise_for(
    kind: AccountantKind,
    target: f64,
    delta: f64,
    sampling_rate: f64,
    steps: u64,
) -> Result<Calibration> {
    let noise_multiplier = calibrate_noise(kind, target, delta, sampling_rate, steps, &[])?;
    let event = GaussianEvent { sampling_rate, noise_multiplier, steps };
    let spent = super::epsilon(kind, &[event], delta)?;
    Ok(Calibration { noise_multiplier, epsilon: spent.epsilon, accountant: kind })
}

/// Smallest noise multiplier σ (to a relative [`CALIBRATION_TOLERANCE`]) such that `fixed`
/// composed with `steps` steps of the Gaussian mechanism at `sampling_rate` and σ spends at
/// most `target` (an epsilon) at `delta`. σ is searched in
/// `[MIN_NOISE_MULTIPLIER, MAX_NOISE_MULTIPLIER]`; if σ = `MIN_NOISE_MULTIPLIER` already meets
/// the target it is returned.
///
/// Errors: [`Error::Argument`] for arguments out of range (named as the C ABI's and the CLI's
/// arguments are: `epsilon` for the target, `delta`, `sampling_rate`, `steps`), or when even
/// σ = `MAX_NOISE_MULTIPLIER` cannot reach the target (e.g. `fixed` alone spends more).
pub fn calibrate_noise(
    kind: AccountantKind,
    target: f64,
    delta: f64,
    sampling_rate: f64,
    steps: u64,
    fixed: &[GaussianEvent],
) -> Result<f64> {
    check_epsilon("epsilon", target)?;
    check_delta(delta)?;
    check_sampling_rate(sampling_rate)?;
    if steps == 0 {
        return Err(Error::Argument("steps must be >= 1, got 0".into()));
    }
    check_events(fixed)?;
    let eps_at = |kind: AccountantKind, sigma: f64| -> Result<f64> {
        let mut events = fixed.to_vec();
        events.push(GaussianEvent { sampling_rate, noise_multiplier: sigma, steps });
        Ok(epsilon(kind, &events, delta)?.epsilon)
    };
    let at_max = eps_at(kind, MAX_NOISE_MULTIPLIER)?;
    if !within(at_max, target) {
        return Err(Error::Argument(format!(
            "epsilon {target} cannot be reached: even noise_multiplier = \
             {MAX_NOISE_MULTIPLIER} spends {} at delta {delta}",
            spent(at_max)
        )));
    }
    // RDP: bracket the whole range. PRV: start from the RDP answer.
    let (lo, hi, e_lo, e_hi) = match kind {
        AccountantKind::Rdp => {
            let e_min = eps_at(kind, MIN_NOISE_MULTIPLIER)?;
            if within(e_min, target) {
                return Ok(MIN_NOISE_MULTIPLIER);
            }
            (MIN_NOISE_MULTIPLIER, MAX_NOISE_MULTIPLIER, e_min, at_max)
        }
        AccountantKind::Prv => {
            let guess =
                calibrate_noise(AccountantKind::Rdp, target, delta, sampling_rate, steps, fixed)
                    .unwrap_or(MAX_NOISE_MULTIPLIER);
            // Walk out until the bracket holds: ε(lo) > target >= ε(hi).
            let mut hi = guess;
            let mut e_hi = eps_at(kind, hi)?;
            while !within(e_hi, target) {
                hi = (hi * 1.1).min(MAX_NOISE_MULTIPLIER);
                e_hi = eps_at(kind, hi)?;
            }
            let mut lo = hi / 1.25;
            loop {
                if lo <= MIN_NOISE_MULTIPLIER {
                    lo = MIN_NOISE_MULTIPLIER;
                }
                let e = eps_at(kind, lo)?;
                if !within(e, target) {
                    break (lo, hi, e, e_hi);
                }
                if lo == MIN_NOISE_MULTIPLIER {
                    return Ok(lo);
                }
                (hi, e_hi) = (lo, e);
                lo /= 1.5;
            }
        }
    };
    // Illinois on x = ln σ, g = ln ε - ln target (g(lo) > 0 >= g(hi)); at most 200 probes.
    let g = |e: f64| e.max(target * 1e-9).ln() - target.ln();
    let tol = CALIBRATION_TOLERANCE.ln_1p();
    let guard = 0.25 * tol;
    let (_, hi) = illinois(
        Bracket { lo, g_lo: g(e_lo), hi, g_hi: g(e_hi) },
        200,
        f64::ln,
        |lo, hi| hi.ln() - lo.ln() <= tol,
        |x, lo, hi| {
            let (x_lo, x_hi) = (lo.ln(), hi.ln());
            let x = if x.is_finite() { x } else { 0.5 * (x_lo + x_hi) };
            x.clamp(x_lo + guard, x_hi - guard).exp()
        },
        |sigma| {
            let e = eps_at(kind, sigma)?;
            Ok((!within(e, target), g(e)))
        },
    )?;
    Ok(hi)
}

/// Largest number of steps `T` (0 allowed) of the Gaussian mechanism at (`sampling_rate`,
/// `noise_multiplier`) such that, composed with `fixed`, ε at `delta` is at most
/// `max_epsilon`. Saturates at [`MAX_REPORTED_STEPS`].
///
/// Errors: [`Error::Argument`] for arguments out of range, or when `fixed` alone already spends
/// more than `max_epsilon`.
pub fn max_steps(
    kind: AccountantKind,
    max_epsilon: f64,
    delta: f64,
    sampling_rate: f64,
    noise_multiplier: f64,
    fixed: &[GaussianEvent],
) -> Result<u64> {
    check_epsilon("max_epsilon", max_epsilon)?;
    check_delta(delta)?;
    check_sampling_rate(sampling_rate)?;
    check_noise_multiplier(noise_multiplier)?;
    check_events(fixed)?;
    let spent_fixed = epsilon(kind, fixed, delta)?.epsilon;
    if !within(spent_fixed, max_epsilon) {
        return Err(Error::Argument(format!(
            "max_epsilon {max_epsilon} is already exceeded by the fixed events, which spend \
             {} at delta {delta}",
            spent(spent_fixed)
        )));
    }
    let rdp_steps = max_steps_rdp(max_epsilon, delta, sampling_rate, noise_multiplier, fixed);
    if kind == AccountantKind::Rdp {
        return Ok(rdp_steps);
    }
    let eps_at = |t: u64| -> Result<f64> {
        if t == 0 {
            return Ok(spent_fixed);
        }
        let mut events = fixed.to_vec();
        events.push(GaussianEvent { sampling_rate, noise_multiplier, steps: t });
        Ok(epsilon(kind, &events, delta)?.epsilon)
    };
    // Bracket: ε(lo) <= max < ε(hi), from the RDP answer (PRV is usually tighter, so lo).
    let (mut lo, mut e_lo, mut hi, mut e_hi);
    let e_r = eps_at(rdp_steps)?;
    if within(e_r, max_epsilon) {
        (lo, e_lo) = (rdp_steps, e_r);
        hi = rdp_steps.max(1).saturating_mul(2);
        loop {
            e_hi = eps_at(hi)?;
            if !within(e_hi, max_epsilon) {
                break;
            }
            if hi >= MAX_REPORTED_STEPS {
                return Ok(MAX_REPORTED_STEPS);
            }
            (lo, e_lo) = (hi, e_hi);
            hi = hi.saturating_mul(2).min(MAX_REPORTED_STEPS);
        }
    } else {
        (hi, e_hi) = (rdp_steps, e_r);
        (lo, e_lo) = (0, spent_fixed);
    }
    // Illinois on x = ln(T + 1), g = ε - max (g(lo) <= 0 < g(hi)), on integers: each probe
    // narrows the bracket by at least one step, so it ends.
    let (lo, _) = illinois(
        Bracket { lo, g_lo: e_lo - max_epsilon, hi, g_hi: e_hi - max_epsilon },
        usize::MAX,
        |t| (t as f64 + 1.0).ln(),
        |lo, hi| hi - lo <= 1,
        |x, lo, hi| {
            let t = if x.is_finite() { (x.exp() - 1.0).round() as u64 } else { lo + (hi - lo) / 2 };
            t.clamp(lo + 1, hi - 1)
        },
        |t| {
            let e = eps_at(t)?;
            Ok((within(e, max_epsilon), e - max_epsilon))
        },
    )?;
    Ok(lo)
}

/// [`max_steps`] for RDP: the per-step RDP curve is computed once and ε(T) is
/// `min_α conversion(fixed(α) + T r(α))`, so the binary search costs microseconds per probe.
fn max_steps_rdp(
    max_epsilon: f64,
    delta: f64,
    sampling_rate: f64,
    noise_multiplier: f64,
    fixed: &[GaussianEvent],
) -> u64 {
    let orders = rdp::default_orders();
    let base = rdp::rdp_curve(fixed, &orders);
    let per_step: Vec<f64> =
        orders.iter().map(|&a| rdp::rdp_step(sampling_rate, noise_multiplier, a)).collect();
    let eps_at = |t: u64| -> f64 {
        if t == 0 && fixed.is_empty() {
            return 0.0;
        }
        let curve: Vec<f64> =
            base.iter().zip(&per_step).map(|(b, &r)| b + rdp::times(t as f64, r)).collect();
        rdp::epsilon_from_curve(&orders, &curve, delta).0
    };
    if !within(eps_at(1), max_epsilon) {
        return 0;
    }
    let (mut lo, mut hi) = (1u64, 2u64);
    while within(eps_at(hi), max_epsilon) {
        if hi >= MAX_REPORTED_STEPS {
            return MAX_REPORTED_STEPS;
        }
        lo = hi;
        hi = (hi * 2).min(MAX_REPORTED_STEPS);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if within(eps_at(mid), max_epsilon) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_message(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Argument(m)) => m,
            other => panic!("expected Error::Config, got {other:?}"),
        }
    }

    #[test]
    fn rdp_calibration_round_trips() -> Result<()> {
        let kind = AccountantKind::Rdp;
        for &(target, q, t) in &[(1.0, 0.01, 1000u64), (8.0, 0.05, 100), (0.5, 1.0, 1)] {
            let sigma = calibrate_noise(kind, target, 1e-5, q, t, &[])?;
            let ev = |s| [GaussianEvent { sampling_rate: q, noise_multiplier: s, steps: t }];
            assert!(epsilon(kind, &ev(sigma), 1e-5)?.epsilon <= target);
            assert!(epsilon(kind, &ev(sigma * (1.0 - 1e-3)), 1e-5)?.epsilon > target);
        }
        Ok(())
    }

    #[test]
    fn gaussian_calibration_matches_closed_form() -> Result<()> {
        // One Gaussian release: the PRV path is the exact analytic Gaussian mechanism, so the
        // calibrated σ must satisfy δ(ε) = δ to the tolerance.
        let sigma = calibrate_noise(AccountantKind::Prv, 1.0, 1e-5, 1.0, 1, &[])?;
        let (eps, _) = super::super::prv::gaussian_epsilon(1.0 / sigma, 1e-5);
        assert!(eps <= 1.0 && eps > 0.999, "{sigma} {eps}");
        Ok(())
    }

    #[test]
    fn max_steps_rdp_is_exact() -> Result<()> {
        let kind = AccountantKind::Rdp;
        let t = max_steps(kind, 2.0, 1e-5, 0.01, 1.0, &[])?;
        let ev = |k| [GaussianEvent { sampling_rate: 0.01, noise_multiplier: 1.0, steps: k }];
        assert!(epsilon(kind, &ev(t), 1e-5)?.epsilon <= 2.0);
        assert!(epsilon(kind, &ev(t + 1), 1e-5)?.epsilon > 2.0);
        // One step already too many.
        assert_eq!(max_steps(kind, 0.01, 1e-5, 1.0, 0.5, &[])?, 0);
        Ok(())
    }

    #[test]
    fn fixed_events_without_noise_make_every_budget_unreachable() {
        // σ = 1e-200: σ² underflows to 0. These events spend no finite epsilon, so no noise
        // added after them can meet a budget.
        for q in [0.5, 1.0] {
            let fixed = [GaussianEvent { sampling_rate: q, noise_multiplier: 1e-200, steps: 1 }];
            for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
                let m = config_message(calibrate_noise(kind, 1.0, 1e-5, 0.01, 100, &fixed));
                assert!(m.contains("cannot be reached") && m.contains("no finite epsilon"), "{m}");
                let m = config_message(max_steps(kind, 1.0, 1e-5, 0.01, 1.0, &fixed));
                assert!(m.contains("already exceeded") && m.contains("no finite epsilon"), "{m}");
            }
        }
        // And a step without noise is never within a budget.
        assert_eq!(max_steps(AccountantKind::Rdp, 1e300, 1e-5, 0.5, 1e-200, &[]).ok(), Some(0));
    }

    #[test]
    fn extreme_budgets_give_a_calibration_that_holds_or_an_error() -> Result<()> {
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            for &target in &[1e-300, 1e-3, 1.0, 1e3, 1e300] {
                for &(q, steps) in &[(1e-9, 1u64), (0.01, 1000), (1.0, 1), (0.5, 1_000_000)] {
                    if kind == AccountantKind::Prv && steps > 1000 {
                        continue; // seconds per probe; the RDP path covers the search
                    }
                    match calibrate_noise(kind, target, 1e-5, q, steps, &[]) {
                        Ok(sigma) => {
                            let ev = [GaussianEvent {
                                sampling_rate: q,
                                noise_multiplier: sigma,
                                steps,
                            }];
                            let at = format!("{kind} ε={target} q={q} T={steps}: σ {sigma}");
                            let e = epsilon(kind, &ev, 1e-5)
                                .map_err(|e| Error::Argument(format!("{at}: {e}")))?
                                .epsilon;
                            assert!(e <= target, "{kind} {target} {q} {steps}: σ {sigma} ε {e}");
                        }
                        // PRV may also refuse a composition it cannot resolve (saying so).
                        Err(Error::Argument(m)) => assert!(
                            m.contains("cannot be reached")
                                || (kind == AccountantKind::Prv && m.contains("PRV accountant")),
                            "{kind} ε={target} q={q} T={steps}: {m}"
                        ),
                        Err(other) => panic!("{other}"),
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn unreachable_targets_are_errors() {
        let fixed = [GaussianEvent { sampling_rate: 1.0, noise_multiplier: 0.5, steps: 1 }];
        for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
            let m = config_message(calibrate_noise(kind, 1.0, 1e-5, 0.01, 100, &fixed));
            assert!(m.contains("epsilon 1 cannot be reached"), "{m}");
            let m = config_message(max_steps(kind, 1.0, 1e-5, 0.01, 1.0, &fixed));
            assert!(m.contains("max_epsilon 1 is already exceeded"), "{m}");
            let m = config_message(calibrate_noise(kind, -1.0, 1e-5, 0.01, 100, &[]));
            assert!(m.starts_with("epsilon must be positive"), "{m}");
            let m = config_message(calibrate_noise(kind, 1.0, 1e-5, 0.01, 0, &[]));
            assert!(m.starts_with("steps must be >= 1"), "{m}");
            let m = config_message(max_steps(kind, 1.0, 1e-5, 2.0, 1.0, &[]));
            assert!(m.starts_with("sampling_rate"), "{m}");
            let m = config_message(max_steps(kind, 1.0, 1e-5, 0.1, f64::NAN, &[]));
            assert!(m.starts_with("noise_multiplier"), "{m}");
        }
    }
}
