//! Rényi differential privacy (RDP) of the Poisson-subsampled Gaussian mechanism.
//!
//! References:
//! - \[MTZ19\] I. Mironov, K. Talwar, L. Zhang, "Rényi Differential Privacy of the Sampled Gaussian
//!   Mechanism", arXiv:1908.10530, 2019.
//! - \[Mir17\] I. Mironov, "Rényi Differential Privacy", CSF 2017 (composition: RDP curves add up).
//! - \[BBG+20\] B. Balle, G. Barthe, M. Gaboardi, J. Hsu, T. Sato, "Hypothesis Testing
//!   Interpretations and Renyi Differential Privacy", AISTATS 2020 (conversion to (ε, δ)).
//!
//! The sampled Gaussian mechanism with sampling rate `q` and noise multiplier `σ` compares
//! `μ0 = N(0, σ²)` with the mixture `μ = (1 - q) μ0 + q N(1, σ²)`. Its RDP at order `α` is
//! `ε(α) = ln(A_α) / (α - 1)` with `A_α = E_{z∼μ0}[(μ(z)/μ0(z))^α]` (\[MTZ19\], Section 3).
//! The order list, the conversion rule and hence the numbers agree with Opacus's
//! `RDPAccountant`; the code is written from the papers.

use super::{GaussianEvent, LN_2};

/// Opacus's default RDP orders: `1.1, 1.2, ..., 10.9`, then `12, 13, ..., 63` (151 orders).
pub fn default_orders() -> Vec<f64> {
    (1..100u32).map(|x| 1.0 + f64::from(x) / 10.0).chain((12..64u32).map(f64::from)).collect()
}

/// `ln(e^a + e^b)` without overflow. `+∞` absorbs everything (`∞ - ∞` would be NaN); a NaN
/// stays NaN.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY || hi == f64::INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `(k² - k) / (2σ²)`, the exponent of the binomial terms. It is exactly 0 for `k` in
/// `{0, 1}` whatever σ: with σ² underflowing to 0 the quotient would be `0/0 = NaN`.
fn exponent(k: f64, sigma: f64) -> f64 {
    let numerator = k * k - k;
    if numerator == 0.0 {
        0.0
    } else {
        numerator / (2.0 * sigma * sigma)
    }
}

/// `ln(erfc(x))`, accurate far into the upper tail where `erfc` underflows.
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        libm::erfc(x).ln()
    } else {
        // Asymptotic expansion (Abramowitz & Stegun 7.1.23):
        // erfc(x) = e^{-x²} / (x √π) · (1 - 1/(2x²) + 3/(4x⁴) - 15/(8x⁶) + 105/(16x⁸) - ...).
        let y = 1.0 / (x * x);
        let series = 1.0 - 0.5 * y + 0.75 * y * y - 1.875 * y * y * y + 6.5625 * y * y * y * y;
        -x * x - x.ln() - 0.5 * std::f64::consts::PI.ln() + series.ln()
    }
}

/// `ln A_α` for an integer order, by the exact binomial expansion (\[MTZ19\], Section 3.3):
/// `A_α = Σ_{k=0}^{α} C(α, k) (1 - q)^{α-k} q^k exp((k² - k) / (2σ²))`. The binomial weights
/// sum to 1 and the `k = 0, 1` exponents are 0, so
/// `A_α - 1 = Σ_{k=2}^{α} C(α, k) (1 - q)^{α-k} q^k (exp((k² - k)/(2σ²)) - 1)`, a sum of
/// non-negative terms, accumulated in log space; then `ln A_α = ln(1 + (A_α - 1))`. Summing
/// `A_α` itself loses everything below rounding of 1 (with tiny q or huge σ, `A_α - 1` is far
/// below 1e-16), and that noise, multiplied by 10^19 steps, made epsilon fall as q rose.
fn log_a_integer(q: f64, sigma: f64, alpha: u32) -> f64 {
    let (ln_q, ln_1mq) = (q.ln(), (-q).ln_1p());
    let a = f64::from(alpha);
    let mut ln_binom = 0.0; // ln C(α, k)
    let mut excess = f64::NEG_INFINITY; // ln(A_α - 1)
    for k in 1..=alpha {
        let kf = f64::from(k);
        ln_binom += (a - kf + 1.0).ln() - kf.ln();
        if k < 2 {
            continue;
        }
        let term = ln_binom + kf * ln_q + (a - kf) * ln_1mq + ln_exp_m1(exponent(kf, sigma));
        excess = log_add(excess, term);
    }
    ln_1p_exp(excess)
}

/// `ln(e^x - 1)` for `x >= 0`, without overflow (`-∞` at 0, `+∞` at `+∞`).
fn ln_exp_m1(x: f64) -> f64 {
    if x > 1.0 {
        x + (-(-x).exp()).ln_1p()
    } else {
        x.exp_m1().ln()
    }
}

/// `ln(1 + e^x)` without overflow.
fn ln_1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `ln A_α` for a fractional order by the convergent two-sided series of \[MTZ19\], Section 3.3:
/// with `z0 = σ² ln(1/q - 1) + 1/2`,
/// `A_α = Σ_{i≥0} C(α, i) [ q^i (1-q)^{α-i} e^{(i²-i)/(2σ²)} · erfc((i - z0)/(√2 σ)) / 2
///                       + q^{α-i} (1-q)^i e^{(j²-j)/(2σ²)} · erfc((z0 - j)/(√2 σ)) / 2 ]`,
/// `j = α - i`. The binomial coefficients alternate in sign beyond `i > α`, so positive and
/// negative terms are accumulated separately in log space. The series is cut when both terms
/// fall below `e^-30`, as in the paper's reference implementation. Returns `+∞` once the sum
/// overflows (too little noise: no bound at this order) and NaN if it does not converge (which
/// [`rdp_step`] also turns into "no bound at this order").
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (ln_q, ln_1mq) = (q.ln(), (-q).ln_1p());
    // σ² ln(1/q - 1): at q = 1/2 the logarithm is 0 and σ² may be ∞ (0·∞ = NaN).
    let ln_odds = (1.0 / q - 1.0).ln();
    let z0 = if ln_odds == 0.0 { 0.5 } else { sigma * sigma * ln_odds + 0.5 };
    let s2 = std::f64::consts::SQRT_2 * sigma;
    let (mut pos, mut neg) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut ln_abs_binom = 0.0; // ln |C(α, 0)|
    let mut negative = false; // sign of C(α, i)
    for i in 0..100_000u32 {
        let fi = f64::from(i);
        if i > 0 {
            let factor = alpha - fi + 1.0;
            ln_abs_binom += factor.abs().ln() - fi.ln();
            if factor < 0.0 {
                negative = !negative;
            }
        }
        let j = alpha - fi;
        let log_t0 = ln_abs_binom + fi * ln_q + j * ln_1mq;
        let log_t1 = ln_abs_binom + j * ln_q + fi * ln_1mq;
        let log_e0 = -LN_2 + log_erfc((fi - z0) / s2);
        let log_e1 = -LN_2 + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + exponent(fi, sigma) + log_e0;
        let log_s1 = log_t1 + exponent(j, sigma) + log_e1;
        let term = log_add(log_s0, log_s1);
        if negative {
            neg = log_add(neg, term);
        } else {
            pos = log_add(pos, term);
        }
        if pos == f64::INFINITY || pos.is_nan() || neg.is_nan() {
            // Overflow (no finite bound) or a failed term: more terms cannot change that.
            return if pos == f64::INFINITY && !neg.is_nan() { pos } else { f64::NAN };
        }
        if log_s0.max(log_s1) < -30.0 {
            // ln(e^pos - e^neg); the true sum A_α ≥ 1 so pos > neg.
            if neg == f64::NEG_INFINITY {
                return pos;
            }
            let d = neg - pos;
            return if d < 0.0 { pos + (-d.exp()).ln_1p() } else { f64::NAN };
        }
    }
    f64::NAN
}

/// RDP of one step of the sampled Gaussian mechanism at order `alpha > 1`: `+∞` when no
/// finite bound holds at this order (too little noise, or a series that fails numerically),
/// never NaN.
///
/// `q = 1` is the plain Gaussian mechanism: `α / (2σ²)` (\[Mir17\], Proposition 7).
pub fn rdp_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q >= 1.0 {
        return super::no_nan(alpha / (2.0 * sigma * sigma));
    }
    let log_a = if alpha.fract() == 0.0 && alpha <= f64::from(u32::MAX) {
        log_a_integer(q, sigma, alpha as u32)
    } else {
        log_a_fractional(q, sigma, alpha)
    };
    // A NaN is "no bound at this order", not zero cost: `NaN.max(0.0)` would be 0.
    let r = super::no_nan(log_a / (alpha - 1.0));
    // A_α ≥ 1 always; clamp tiny negative round-off.
    r.max(0.0)
}

/// The total RDP curve of a list of events at `orders`: per-step RDP times the number of steps,
/// added across events (\[Mir17\], Proposition 1: RDP composes additively at each order).
pub fn rdp_curve(events: &[GaussianEvent], orders: &[f64]) -> Vec<f64> {
    let mut total = vec![0.0; orders.len()];
    for e in events {
        for (t, &a) in total.iter_mut().zip(orders) {
            *t += times(e.steps as f64, rdp_step(e.sampling_rate, e.noise_multiplier, a));
        }
    }
    total
}

/// `steps · rdp`, with no steps costing nothing even where one step costs `+∞` (`0·∞` is NaN).
pub(crate) fn times(steps: f64, rdp: f64) -> f64 {
    if steps == 0.0 {
        0.0
    } else {
        steps * rdp
    }
}

/// Converts an RDP curve into `(ε, optimal order)` at `delta` with \[BBG+20\], Theorem 21:
/// `ε = ε_RDP(α) + ln((α - 1)/α) - (ln δ + ln α)/(α - 1)`, minimised over the orders (the first
/// minimum wins ties, as numpy's `nanargmin`). NaN orders are skipped (no bound at that
/// order, like `+∞`); if no order gives a finite value the result is `(+∞, None)`. A negative
/// bound is clamped to 0 (a valid, if trivial, consequence of any smaller bound).
pub fn epsilon_from_curve(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, Option<f64>) {
    let ln_delta = delta.ln();
    let mut best = (f64::INFINITY, None);
    for (&a, &r) in orders.iter().zip(rdp) {
        let eps = r - (ln_delta + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln();
        if eps.is_nan() {
            continue;
        }
        if eps < best.0 {
            best = (eps, Some(a));
        }
    }
    (best.0.max(0.0), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_match_opacus_list() {
        let o = default_orders();
        assert_eq!(o.len(), 151);
        assert_eq!(o[0], 1.1);
        assert_eq!(o[9], 2.0);
        assert_eq!(o[98], 10.9);
        assert_eq!(o[99], 12.0);
        assert_eq!(o[150], 63.0);
    }

    #[test]
    fn gaussian_is_alpha_over_two_sigma_squared() {
        for &a in &[1.5, 2.0, 10.9, 63.0] {
            let r = rdp_step(1.0, 2.0, a);
            assert!((r - a / 8.0).abs() < 1e-15);
        }
        let events = [GaussianEvent { sampling_rate: 1.0, noise_multiplier: 0.5, steps: 7 }];
        let curve = rdp_curve(&events, &[3.0]);
        assert!((curve[0] - 7.0 * 3.0 / (2.0 * 0.25)).abs() < 1e-12);
    }

    #[test]
    fn integer_and_fractional_paths_agree_near_integers() {
        // The fractional series must be continuous with the exact integer sum.
        for &(q, s) in &[(0.01, 1.0), (0.2, 0.8), (0.05, 4.0)] {
            let exact = rdp_step(q, s, 5.0);
            let near = log_a_fractional(q, s, 5.0 + 1e-9) / (4.0 + 1e-9);
            assert!((exact - near).abs() <= 1e-6 * exact.abs().max(1e-12), "{q} {s}");
        }
    }

    #[test]
    fn small_q_is_quadratic_in_q() {
        // [MTZ19]: for small q, A_α ≈ 1 + C(α, 2) q² (e^{1/σ²} - 1), so the RDP is quadratic
        // in q: halving q divides it by ~4.
        let r1 = rdp_step(0.002, 2.0, 8.0);
        let r2 = rdp_step(0.001, 2.0, 8.0);
        assert!((r1 / r2 - 4.0).abs() < 0.05, "{}", r1 / r2);
    }

    #[test]
    fn vanishing_noise_has_infinite_rdp_at_every_order() {
        // σ² underflows to 0: the k = 0, 1 terms are 0/0 and must not turn into "no cost".
        for &sigma in &[1e-300, 1e-200, 1e-170] {
            for &q in &[1e-300, 1e-3, 0.5, 1.0] {
                for &a in &default_orders() {
                    let r = rdp_step(q, sigma, a);
                    assert_eq!(r, f64::INFINITY, "q={q:e} σ={sigma:e} α={a}: {r}");
                }
            }
        }
        let curve = [f64::INFINITY; 3];
        assert_eq!(epsilon_from_curve(&[2.0, 3.0, 4.0], &curve, 1e-5), (f64::INFINITY, None));
    }

    #[test]
    fn an_order_that_cannot_be_computed_is_no_bound_rather_than_zero() {
        // A NaN at an order (the fractional series failing) must not count as RDP 0 there.
        let curve = [f64::NAN, 5.0];
        let (eps, order) = epsilon_from_curve(&[2.0, 3.0], &curve, 1e-5);
        assert_eq!(order, Some(3.0));
        assert!(eps > 5.0, "{eps}");
    }

    #[test]
    fn log_erfc_is_continuous_at_the_switch() {
        let below = libm::erfc(24.999).ln();
        let above = log_erfc(25.0);
        assert!((below - above).abs() < 0.06, "{below} {above}");
        assert!((log_erfc(25.0) - libm::erfc(25.0).ln()).abs() < 1e-9);
        assert!((log_erfc(0.0)).abs() < 1e-15);
    }
}
