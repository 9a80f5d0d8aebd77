//! The privacy accountants against independent implementations.
//!
//! Reference values come from `tests/golden/accountant.json`, written by
//! `tests/golden/make_golden.py` (its header records the package versions and the date):
//! Opacus's RDP accountant, Google's `dp_accounting` PLD accountant and Opacus's PRV accountant.

use std::path::PathBuf;
use std::time::Instant;

use doppel_table::accountant::{
    calibrate_noise, epsilon, max_steps, AccountantKind, GaussianEvent, PrivacySpent,
};
use doppel_table::{Error, Result};
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
    let text = std::fs::read_to_string(&path).map_err(Error::Io)?;
    let g: Golden = serde_json::from_str(&text)
        .map_err(|e| Error::Argument(format!("{}: {e}", path.display())))?;
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

// ---------------------------------------------------------------------------------------------
// Extreme arguments (issue 12, point 1). A grid rather than random draws: the failures live at
// the ends of the ranges (σ² underflowing to 0 or overflowing to ∞, q at 1, 2^64 steps), and a
// grid hits every one of them on every run.

const SIGMAS: [f64; 9] = [1e-300, 1e-200, 1e-10, 1e-3, 0.1, 1.0, 1e3, 1e10, 1e300];
const QS: [f64; 5] = [1e-300, 1e-9, 1e-3, 0.5, 1.0];
const STEPS: [u64; 4] = [1, 1000, 1_000_000_000, u64::MAX];
const DELTAS: [f64; 5] = [1e-300, 1e-12, 1e-5, 0.5, 0.999];

/// Grid indices `[sigma, q, steps, delta]`.
type Point = [usize; 4];

/// One accountant's answers over the grid: `Some(spent)`, or `None` for an `Error::Config` (a
/// clear refusal) or a PRV point left out (see [`prv_runs`]).
struct Grid {
    answers: std::collections::HashMap<Point, Option<PrivacySpent>>,
}

impl Grid {
    fn get(&self, p: Point) -> Option<&PrivacySpent> {
        self.answers.get(&p).and_then(Option::as_ref)
    }
}

/// The PRV points the grid runs (the test must stay well under 30 s in release on a loaded
/// machine). The accountant refuses more than 10^9 steps up front, so `u64::MAX` costs
/// nothing. Composing 10^9 steps costs seconds per point, so that count runs only at delta
/// 1e-5. Noise multipliers from 1e-10 to 0.1 need the finest lattices (about 0.5-1 s per
/// point with one thread), so they run only at delta 1e-5 with 1 or `u64::MAX` steps; at the
/// other deltas and step counts they take the same code path as their neighbours in the grid.
fn prv_runs(sigma: f64, steps: u64, delta: f64) -> bool {
    if (1e-10..=0.1).contains(&sigma) {
        delta == 1e-5 && (steps == 1 || steps == u64::MAX)
    } else {
        steps != 1_000_000_000 || delta == 1e-5
    }
}

/// One answer: any error but `Error::Config`, a NaN or a negative epsilon fails the test.
fn answer(
    kind: AccountantKind,
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
) -> Option<PrivacySpent> {
    let event = GaussianEvent { sampling_rate: q, noise_multiplier: sigma, steps };
    let at = format!("{kind} q={q:e} σ={sigma:e} T={steps} δ={delta:e}");
    let started = Instant::now();
    let result = epsilon(kind, &[event], delta);
    let seconds = started.elapsed().as_secs_f64();
    if seconds > 0.3 {
        println!("slow: {at}: {seconds:.2} s ({:?})", result.as_ref().map(|s| s.epsilon));
    }
    match result {
        Ok(s) => {
            assert!(s.epsilon >= 0.0, "{at}: epsilon {} (NaN or negative)", s.epsilon);
            if let Some(b) = s.error_bound {
                assert!(b >= 0.0, "{at}: error bound {b}");
            }
            if s.epsilon.is_infinite() {
                assert_eq!(s.order, None, "{at}: an infinite epsilon has no optimal order");
            }
            Some(s)
        }
        Err(Error::Argument(m)) => {
            assert!(!m.is_empty(), "{at}: empty message");
            None
        }
        Err(other) => panic!("{at}: unexpected error {other}"),
    }
}

/// The grid of `kind`, computed once for all the tests that read it.
fn grid(kind: AccountantKind) -> &'static Grid {
    static RDP: std::sync::OnceLock<Grid> = std::sync::OnceLock::new();
    static PRV: std::sync::OnceLock<Grid> = std::sync::OnceLock::new();
    let cell = if kind == AccountantKind::Rdp { &RDP } else { &PRV };
    cell.get_or_init(|| {
        let started = Instant::now();
        let mut answers = std::collections::HashMap::new();
        for (si, &sigma) in SIGMAS.iter().enumerate() {
            for (qi, &q) in QS.iter().enumerate() {
                for (ti, &steps) in STEPS.iter().enumerate() {
                    for (di, &delta) in DELTAS.iter().enumerate() {
                        let run = kind == AccountantKind::Rdp || prv_runs(sigma, steps, delta);
                        let a = if run { answer(kind, q, sigma, steps, delta) } else { None };
                        answers.insert([si, qi, ti, di], a);
                    }
                }
            }
        }
        println!("{kind} grid: {:.1} s", started.elapsed().as_secs_f64());
        Grid { answers }
    })
}

/// Checks that epsilon does not decrease from `p0` to `p1` (`p1` has fewer noise, more steps
/// or a higher sampling rate), with `+∞` above every finite value. PRV reports an interval
/// `[eps - bound, eps]` holding the true epsilon: the intervals must allow a monotone truth.
fn check_order(kind: AccountantKind, p0: Point, p1: Point) {
    let g = grid(kind);
    let (Some(a), Some(b)) = (g.get(p0), g.get(p1)) else { return };
    let slack = a.error_bound.unwrap_or(0.0) + b.error_bound.unwrap_or(0.0) + 1e-9 * a.epsilon;
    // An infinite epsilon must stay infinite (∞ - slack is NaN or ∞).
    let holds = b.epsilon >= a.epsilon || (a.epsilon.is_finite() && b.epsilon >= a.epsilon - slack);
    assert!(
        holds,
        "{kind}: epsilon decreases from {} at {} to {} at {}",
        a.epsilon,
        label(p0),
        b.epsilon,
        label(p1)
    );
}

fn label([si, qi, ti, di]: Point) -> String {
    format!("σ={:e} q={:e} T={} δ={:e}", SIGMAS[si], QS[qi], STEPS[ti], DELTAS[di])
}

fn points() -> impl Iterator<Item = Point> {
    (0..SIGMAS.len()).flat_map(|si| {
        (0..QS.len()).flat_map(move |qi| {
            (0..STEPS.len()).flat_map(move |ti| (0..DELTAS.len()).map(move |di| [si, qi, ti, di]))
        })
    })
}

#[test]
fn extreme_arguments_give_an_error_or_a_valid_epsilon() {
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        // `answer` checks each point as the grid is built.
        let g = grid(kind);
        let answered = g.answers.values().filter(|a| a.is_some()).count();
        println!("{kind}: {answered} of {} points answered", g.answers.len());
        assert!(answered > g.answers.len() / 3, "{kind}: too many refusals");
    }
}

#[test]
fn extreme_epsilon_is_monotone_in_noise_steps_and_sampling_rate() {
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        for p in points() {
            let [si, qi, ti, di] = p;
            // Less noise, more steps, a higher sampling rate: never a smaller epsilon.
            if si > 0 {
                check_order(kind, p, [si - 1, qi, ti, di]);
            }
            if ti + 1 < STEPS.len() {
                check_order(kind, p, [si, qi, ti + 1, di]);
            }
            if qi + 1 < QS.len() {
                check_order(kind, p, [si, qi + 1, ti, di]);
            }
        }
    }
}

#[test]
fn tiny_noise_gives_no_guarantee() {
    for p in points().filter(|p| SIGMAS[p[0]] <= 1e-200) {
        let [_, qi, ti, di] = p;
        let rdp = grid(AccountantKind::Rdp).get(p);
        let rdp = rdp.unwrap_or_else(|| panic!("RDP refused {}", label(p)));
        assert_eq!(rdp.epsilon, f64::INFINITY, "RDP {}", label(p));
        // Without noise a sampled step releases its record outright: with probability
        // 1 - (1 - q)^T > δ nothing bounds the loss, so PRV must say infinity (or refuse).
        // Below that the true epsilon is finite, and PRV may find it.
        let (q, steps, delta) = (QS[qi], STEPS[ti], DELTAS[di]);
        let leak = -((-q).ln_1p() * steps as f64).exp_m1();
        if let Some(prv) = grid(AccountantKind::Prv).get(p).filter(|_| leak > delta) {
            assert_eq!(prv.epsilon, f64::INFINITY, "PRV {}", label(p));
        }
    }
}

#[test]
fn extreme_prv_is_at_most_rdp() {
    for p in points() {
        let prv = grid(AccountantKind::Prv).get(p);
        let rdp = grid(AccountantKind::Rdp).get(p);
        let (Some(prv), Some(rdp)) = (prv, rdp) else { continue };
        // The true epsilon lies in [prv - bound, prv] and is at most RDP's bound.
        let lower = prv.epsilon - prv.error_bound.unwrap_or(0.0);
        assert!(lower <= rdp.epsilon + 1e-9, "{}: PRV {prv:?} vs RDP {rdp:?}", label(p));
    }
}
