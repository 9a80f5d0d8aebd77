//! The privacy accountants against independent implementations.
//!
//! Reference values come from `tests/golden/accountant.json`, written by
//! `tests/golden/make_golden.py` (its header records the package versions and the date):
//! Opacus's RDP accountant, Google's `dp_accounting` PLD accountant and Opacus's PRV accountant.

use std::path::PathBuf;
use std::time::Instant;

use doppel_core::accountant::{
    calibrate_noise, epsilon, max_steps, AccountantKind, GaussianEvent, PrivacySpent,
};
use doppel_core::{Error, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    header: serde_json::Value,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    name: Option<String>,
    events: Vec<GaussianEvent>,
    delta: f64,
    rdp: f64,
    rdp_order: f64,
    #[serde(default)]
    pld: Option<f64>,
    #[serde(default)]
    pld_error: Option<f64>,
    #[serde(default)]
    opacus_prv: Option<f64>,
}

impl Case {
    fn label(&self) -> String {
        let events: Vec<String> = self
            .events
            .iter()
            .map(|e| format!("(q={}, σ={}, T={})", e.sampling_rate, e.noise_multiplier, e.steps))
            .collect();
        format!("{} {} δ={}", self.name.as_deref().unwrap_or(""), events.join("+"), self.delta)
    }
}

fn golden() -> Result<Golden> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/accountant.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let g: Golden = serde_json::from_str(&text).map_err(|e| Error::input(&path, e.to_string()))?;
    assert!(g.header.get("packages").is_some(), "golden file lacks its provenance header");
    assert!(g.cases.len() >= 300, "golden file has only {} cases", g.cases.len());
    Ok(g)
}

fn prv(events: &[GaussianEvent], delta: f64) -> Result<(PrivacySpent, f64)> {
    let s = epsilon(AccountantKind::Prv, events, delta)?;
    let bound = s.error_bound.expect("PRV reports an error bound");
    Ok((s, bound))
}

#[test]
fn rdp_matches_opacus() -> Result<()> {
    let g = golden()?;
    let mut worst = (0.0f64, String::new());
    for case in &g.cases {
        let s = epsilon(AccountantKind::Rdp, &case.events, case.delta)?;
        let rel = (s.epsilon - case.rdp).abs() / case.rdp.abs().max(1e-12);
        assert!(
            rel <= 1e-4,
            "{}: ours {} vs Opacus {} (rel {rel:e})",
            case.label(),
            s.epsilon,
            case.rdp
        );
        assert_eq!(s.order, Some(case.rdp_order), "{}: optimal order", case.label());
        if rel > worst.0 {
            worst = (rel, case.label());
        }
    }
    println!(
        "RDP vs Opacus over {} cases: max relative error {:e} at {}",
        g.cases.len(),
        worst.0,
        worst.1
    );
    Ok(())
}

/// The PLD reference is pessimistic (>= the true epsilon) with its own discretisation error
/// `pld_error`, and our PRV interval `[eps - bound, eps]` holds the true epsilon, so
/// `eps - bound <= pld <= eps + pld_error` (+ 1e-9 round-off).
#[test]
fn prv_brackets_the_pld_reference() -> Result<()> {
    let g = golden()?;
    let mut worst = (0.0f64, 0.0f64, String::new());
    let mut checked = 0;
    for case in &g.cases {
        let (Some(pld), Some(pld_error)) = (case.pld, case.pld_error) else { continue };
        let (s, bound) = prv(&case.events, case.delta)?;
        assert!(
            s.epsilon - bound <= pld + 1e-9 && pld <= s.epsilon + pld_error + 1e-9,
            "{}: PRV {} ± {bound} vs PLD {pld} (PLD error {pld_error})",
            case.label(),
            s.epsilon
        );
        let diff = (s.epsilon - pld).abs();
        if diff > worst.0 {
            worst = (diff, bound, case.label());
        }
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} PLD cases");
    println!(
        "PRV vs PLD over {checked} cases: max |PRV - PLD| = {:.5} (its error bound {:.5}) at {}",
        worst.0, worst.1, worst.2
    );
    Ok(())
}

#[test]
fn prv_is_at_most_rdp() -> Result<()> {
    let g = golden()?;
    for case in &g.cases {
        let (s, _) = prv(&case.events, case.delta)?;
        assert!(s.epsilon <= case.rdp, "{}: PRV {} > RDP {}", case.label(), s.epsilon, case.rdp);
    }
    Ok(())
}

/// Opacus's PRV accountant composes the remove direction only and reports its own upper
/// bound (error 0.01): ours (both directions) must be close, and never far below it.
#[test]
fn prv_agrees_with_opacus_prv() -> Result<()> {
    let g = golden()?;
    let mut worst = (0.0f64, String::new());
    for case in &g.cases {
        let Some(theirs) = case.opacus_prv else { continue };
        let (s, bound) = prv(&case.events, case.delta)?;
        let diff = s.epsilon - theirs;
        assert!(
            diff.abs() <= bound + 0.03,
            "{}: ours {} ± {bound} vs Opacus PRV {theirs}",
            case.label(),
            s.epsilon
        );
        if diff.abs() > worst.0 {
            worst = (diff.abs(), case.label());
        }
    }
    println!("PRV vs Opacus PRV: max difference {:.5} at {}", worst.0, worst.1);
    Ok(())
}

#[test]
fn compositions_do_not_depend_on_order_or_splitting() -> Result<()> {
    let a = GaussianEvent { sampling_rate: 0.01, noise_multiplier: 1.0, steps: 600 };
    let b = GaussianEvent { sampling_rate: 1.0, noise_multiplier: 5.0, steps: 1 };
    let c = GaussianEvent { sampling_rate: 0.05, noise_multiplier: 2.0, steps: 40 };
    let split = [GaussianEvent { steps: 250, ..a }, c, GaussianEvent { steps: 350, ..a }, b];
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        let one = epsilon(kind, &[a, b, c], 1e-5)?.epsilon;
        let other = epsilon(kind, &[c, b, a], 1e-5)?.epsilon;
        let parts = epsilon(kind, &split, 1e-5)?.epsilon;
        assert!((one - other).abs() <= 1e-9 * one, "{kind}: {one} vs {other}");
        assert!((one - parts).abs() <= 1e-9 * one, "{kind}: {one} vs {parts}");
        // Adding a mechanism never lowers epsilon.
        assert!(one > epsilon(kind, &[a, c], 1e-5)?.epsilon);
    }
    Ok(())
}

#[test]
fn calibrate_noise_round_trips() -> Result<()> {
    let fixed = [GaussianEvent { sampling_rate: 1.0, noise_multiplier: 5.0, steps: 1 }];
    let cases: &[(f64, f64, u64, &[GaussianEvent])] = &[
        (1.0, 0.01, 1000, &[]),
        (3.0, 0.004, 10_000, &[]),
        (8.0, 0.1, 500, &fixed),
        (0.5, 1.0, 1, &[]),
    ];
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        for &(target, q, steps, fixed) in cases {
            let started = Instant::now();
            let sigma = calibrate_noise(kind, target, 1e-5, q, steps, fixed)?;
            let seconds = started.elapsed().as_secs_f64();
            let at = |s: f64| -> Result<f64> {
                let mut events = fixed.to_vec();
                events.push(GaussianEvent { sampling_rate: q, noise_multiplier: s, steps });
                Ok(epsilon(kind, &events, 1e-5)?.epsilon)
            };
            let (e, e_less) = (at(sigma)?, at(sigma * (1.0 - 1e-3))?);
            println!("{kind}: ε={target} q={q} T={steps}: σ={sigma:.5} ({seconds:.2} s)");
            assert!(e <= target, "{kind} {target} {q} {steps}: ε({sigma}) = {e}");
            assert!(e_less > target, "{kind} {target} {q} {steps}: ε(σ(1-1e-3)) = {e_less}");
        }
    }
    // PRV is tighter, so it needs less noise.
    let rdp = calibrate_noise(AccountantKind::Rdp, 1.0, 1e-5, 0.01, 1000, &[])?;
    let prv = calibrate_noise(AccountantKind::Prv, 1.0, 1e-5, 0.01, 1000, &[])?;
    assert!(prv < rdp, "PRV σ {prv} vs RDP σ {rdp}");
    Ok(())
}

#[test]
fn max_steps_is_the_largest_feasible_count() -> Result<()> {
    let fixed = [GaussianEvent { sampling_rate: 1.0, noise_multiplier: 8.0, steps: 1 }];
    let cases: &[(f64, f64, f64, &[GaussianEvent])] =
        &[(2.0, 0.01, 1.0, &[]), (1.0, 0.02, 1.5, &fixed), (8.0, 0.004, 0.9, &[])];
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        for &(max_eps, q, sigma, fixed) in cases {
            let started = Instant::now();
            let t = max_steps(kind, max_eps, 1e-5, q, sigma, fixed)?;
            let seconds = started.elapsed().as_secs_f64();
            println!("{kind}: ε≤{max_eps} q={q} σ={sigma}: T={t} ({seconds:.2} s)");
            let at = |steps: u64| -> Result<f64> {
                let mut events = fixed.to_vec();
                if steps > 0 {
                    events.push(GaussianEvent { sampling_rate: q, noise_multiplier: sigma, steps });
                }
                Ok(epsilon(kind, &events, 1e-5)?.epsilon)
            };
            assert!(at(t)? <= max_eps, "{kind}: ε(T={t}) > {max_eps}");
            assert!(at(t + 1)? > max_eps, "{kind}: ε(T={}) <= {max_eps}", t + 1);
        }
        // A budget too small for a single step gives 0.
        assert_eq!(max_steps(kind, 0.05, 1e-5, 1.0, 1.0, &[])?, 0);
    }
    // RDP up to a million steps stays fast.
    let started = Instant::now();
    let t = max_steps(AccountantKind::Rdp, 40.0, 1e-5, 0.001, 0.6, &[])?;
    let seconds = started.elapsed().as_secs_f64();
    println!("RDP max_steps -> {t} in {seconds:.3} s");
    assert!(t > 100_000, "{t}");
    assert!(seconds < 2.0, "{seconds}");
    Ok(())
}
