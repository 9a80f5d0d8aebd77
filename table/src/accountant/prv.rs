//! Numerical composition of privacy loss random variables (PRVs).
//!
//! References:
//! - \[GLW21\] S. Gopi, Y. T. Lee, L. Wutschitz, "Numerical Composition of Differential Privacy",
//!   NeurIPS 2021, arXiv:2106.02848.
//! - \[BW18\] B. Balle, Y.-X. Wang, "Improving the Gaussian Mechanism for Differential Privacy:
//!   Analytical Calibration and Optimal Denoising", ICML 2018.
//! - \[DRS22\] J. Dong, A. Roth, W. Su, "Gaussian Differential Privacy", JRSS-B 2022.
//! - \[Hoe63\] W. Hoeffding, "Probability Inequalities for Sums of Bounded Random Variables", 1963.
//! - \[ZDW22\] Y. Zhu, J. Dong, Y.-X. Wang, "Optimal Accounting of Differential Privacy via
//!   Characteristic Function", AISTATS 2022 (dominating pairs of Poisson subsampling).
//! - \[PDK83\] R. Piessens, E. de Doncker-Kapenga, C. Überhuber, D. Kahaner, "QUADPACK",
//!   Springer 1983 (the Gauss–Kronrod rule).
//!
//! # The method
//! A mechanism with neighbouring output distributions `P` (with the record) and `Q` (without)
//! has privacy loss random variable `Y = ln(P(ω)/Q(ω))`, `ω ∼ P`, and its privacy curve is
//! `δ(ε) = E[(1 - e^{ε - Y})₊]` (\[GLW21\], Section 2). Composition adds independent PRVs.
//! For the Poisson-subsampled Gaussian with rate `q` and noise `σ`, `Q = N(0, σ²)` and
//! `P = (1 - q) N(0, σ²) + q N(1, σ²)`. Under add/remove adjacency both orders of the pair occur
//! (\[ZDW22\]): "remove" `(P, Q)` and "add" `(Q, P)`. A fixed pair of neighbouring
//! data sets is the same at every step, so the composed curve is
//! `max(δ_remove^⊗(ε), δ_add^⊗(ε))`: we compose both directions and keep the larger epsilon
//! (Google's `dp_accounting` PLD accountant does the same; Opacus's PRV accountant composes
//! the remove direction only).
//!
//! With `L(x) = ln(1 - q + q e^{(2x - 1)/(2σ²)})` (increasing in `x`) and its inverse
//! `x(t) = σ² z(t) + 1/2`, `z(t) = ln((e^t - 1 + q)/q)` for `t > ln(1 - q)`:
//! - remove: `Y = L(X)`, `X ∼ P`: `F(t) = (1 - q) Φ(x(t)/σ) + q Φ((x(t) - 1)/σ)`;
//! - add: `Y = -L(X)`, `X ∼ Q`: `F(t) = Φ̄(x(-t)/σ)` for `t < -ln(1 - q)`;
//! - `q = 1` (plain Gaussian, in either direction): `Y ∼ N(μ²/2, μ²)` with `μ = 1/σ`
//!   (\[BW18\], Lemma 3), and Gaussian PRVs compose in closed form, `μ² = Σ kᵢ/σᵢ²`
//!   (\[DRS22\], Corollary 3.3); their exact curve is \[BW18\], Theorem 8.
//!
//! Following \[GLW21\], Algorithm 1, each PRV is truncated to `[ℓ, u]`, rounded to the lattice
//! `hℤ` (mass of the cell `[gh - h/2, gh + h/2]` to `gh`), and shifted by the constant `μ_j`
//! that restores the mean of the truncated variable (computed by adaptive Gauss–Kronrod
//! quadrature in the mechanism's output space), so the rounding errors `D = Y - Z` are
//! independent, zero-mean and confined to an interval of width `h`. The lattice PMFs are
//! composed by FFT (circular convolution of length `N`; self-composition by raising the
//! transform to the power `k`), and `δ̃(ε)` is evaluated exactly on the result. The mesh is
//! chosen so that `t` below is `eps_error` ([`PrvOptions`]); all `q = 1` events are merged
//! into one Gaussian PRV first, and a composition of Gaussians alone is computed in closed
//! form.
//!
//! # Error bound
//! Coupling the true sum `S` with the discrete sum `Z` (the argument of \[GLW21\], Section 5,
//! with the truncation and wrap-around terms made explicit):
//! - truncation: `P(some Yᵢ ∉ [ℓ, u]) ≤ τ_trunc` (computed from the exact CDFs);
//! - rounding: by Hoeffding's inequality (\[Hoe63\], Theorem 2), `P(S - Z ≥ t) ≤ δ_H` and
//!   `P(Z - S ≥ t) ≤ δ_H` for `t = h √(K ln(1/δ_H)/2)`, `K` the number of composed PRVs;
//! - wrap-around of the circular convolution: `P(Z ∉ window) ≤ τ_alias`, bounded by Chernoff's
//!   inequality on the exact moment generating function of the discrete PMFs;
//! - floating point: the FFT's round-off, estimated from the output (an estimate, not a
//!   proof), `δ_fft`.
//!
//! With `δ_e = τ_trunc + δ_H + τ_alias + δ_fft`: `ε̃(δ + δ_e) - t ≤ ε(δ) ≤ ε̃(δ - δ_e) + t`.
//! We report the upper end as epsilon and the width of the interval as its error bound.
//! A `δ` so small that `δ_e` reaches `δ/2` (round-off dominates), or more than `10^9` steps,
//! is refused with [`Error::Argument`]: use the RDP accountant there.

use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

use super::{rdp::log_erfc, GaussianEvent};
use crate::error::{Error, Result};

/// Settings of the PRV accountant.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PrvOptions {
    /// Target for the rounding term `t` of the error bound (the reported interval
    /// `[eps_lower, eps_upper]` is about `2 * eps_error` wide). The mesh is `h = eps_error /
    /// √(K ln(1/δ_H)/2)`; when that would need more than `2^max_grid_log2` points the mesh is
    /// coarsened and the (honest, larger) error bound reported.
    pub eps_error: f64,
    /// The delta slack `δ_e` of the error bound; `None` means `delta / 1000`.
    pub delta_error: Option<f64>,
    /// Log2 of the largest FFT length (memory is about 48 bytes times the length).
    pub max_grid_log2: u32,
}

impl Default for PrvOptions {
    fn default() -> Self {
        PrvOptions { eps_error: 0.01, delta_error: None, max_grid_log2: 22 }
    }
}

/// Epsilon bounds from the PRV accountant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrvBounds {
    /// A guaranteed upper bound on the true epsilon (up to floating-point round-off).
    pub upper: f64,
    /// A lower bound on the true epsilon.
    pub lower: f64,
    /// The point estimate `ε̃(δ)` of the discretised composition (no error terms).
    pub estimate: f64,
    /// The lattice spacing used.
    pub mesh: f64,
    /// The FFT length used (0 for the closed-form Gaussian path).
    pub grid: usize,
}

/// `ln 2`.
const LN_2: f64 = std::f64::consts::LN_2;
/// Smallest FFT length: small compositions get a finer mesh for free.
const MIN_GRID_LOG2: u32 = 14;
/// The most steps (summed over all events) the PRV accountant composes: the rounding error of
/// its discretised composition grows like √steps, so beyond this the RDP accountant is asked
/// for instead. Not [`super::calibrate::MAX_REPORTED_STEPS`], where a step search saturates.
pub const MAX_COMPOSED_STEPS: f64 = 1e9;
/// Buckets per PRV in the coarse pass that sizes the window.
const COARSE_BUCKETS: f64 = 4096.0;

/// `Φ(v)`, the standard normal CDF.
fn phi(v: f64) -> f64 {
    0.5 * libm::erfc(-v / std::f64::consts::SQRT_2)
}

/// `1 - Φ(v)`, accurate in the upper tail.
fn phi_c(v: f64) -> f64 {
    0.5 * libm::erfc(v / std::f64::consts::SQRT_2)
}

/// The two orders of the neighbouring pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Remove,
    Add,
}

/// One (self-)composable PRV.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Prv {
    /// The Gaussian mechanism with privacy parameter `mu = Δ/σ`: `Y ∼ N(μ²/2, μ²)`.
    Gaussian { mu: f64 },
    /// The Poisson-subsampled Gaussian, `0 < q < 1`.
    Subsampled { q: f64, sigma: f64 },
}

/// `z(t) = ln((e^t - 1 + q)/q)`, the inverse of `t = ln(1 - q + q e^z)`; `-∞` at or below
/// `ln(1 - q)`.
fn z_of(t: f64, q: f64) -> f64 {
    if t > 1.0 {
        t + (-(1.0 - q) * (-t).exp()).ln_1p() - q.ln()
    } else {
        let r = t.exp_m1() / q;
        if r <= -1.0 {
            f64::NEG_INFINITY
        } else {
            r.ln_1p()
        }
    }
}

impl Prv {
    /// `(F(t), 1 - F(t))` of the PRV in direction `d`, each accurate in its own tail; only
    /// the one asked for is computed (`want_sf`).
    fn tail(&self, d: Dir, t: f64, want_sf: bool) -> f64 {
        match *self {
            Prv::Gaussian { mu } => {
                let u = (t - mu * mu / 2.0) / mu;
                if want_sf {
                    phi_c(u)
                } else {
                    phi(u)
                }
            }
            // `z = -∞` is tested before it meets σ², which may have underflowed to 0 (0·∞).
            Prv::Subsampled { q, sigma } => match d {
                Dir::Remove => {
                    let z = z_of(t, q);
                    if z == f64::NEG_INFINITY {
                        return if want_sf { 1.0 } else { 0.0 };
                    }
                    let x = sigma * sigma * z + 0.5;
                    let (a, b) = (x / sigma, (x - 1.0) / sigma);
                    if want_sf {
                        (1.0 - q) * phi_c(a) + q * phi_c(b)
                    } else {
                        (1.0 - q) * phi(a) + q * phi(b)
                    }
                }
                Dir::Add => {
                    let z = z_of(-t, q);
                    if z == f64::NEG_INFINITY {
                        return if want_sf { 0.0 } else { 1.0 };
                    }
                    let x = sigma * sigma * z + 0.5;
                    let a = x / sigma;
                    if want_sf {
                        phi(a)
                    } else {
                        phi_c(a)
                    }
                }
            },
        }
    }

    fn cdf(&self, d: Dir, t: f64) -> f64 {
        self.tail(d, t, false)
    }

    fn sf(&self, d: Dir, t: f64) -> f64 {
        self.tail(d, t, true)
    }

    /// `E[clamp(Y, l, u)]`, exactly for the Gaussian and by quadrature in the mechanism's
    /// output space otherwise: `Y = ±L(X)` with `L(x) = ln(1 - q + q e^{(2x-1)/(2σ²)})` and
    /// `X ∼ P = (1-q)N(0,σ²) + qN(1,σ²)` (remove) or `X ∼ Q = N(0,σ²)` (add). The integrand
    /// is smooth between the clamping points and the densities vanish (< e^{-700}) beyond
    /// 38σ, so adaptive Gauss–Kronrod reaches ~1e-14 absolute accuracy.
    fn clamped_mean(&self, d: Dir, l: f64, u: f64) -> f64 {
        match *self {
            Prv::Gaussian { mu } => {
                // Y ∼ N(m, s²): E[clamp] = m + E[(l - Y)₊] - E[(Y - u)₊] with
                // E[(Y - u)₊] = s φ(α) - (u - m) Φ̄(α), α = (u - m)/s, and symmetrically.
                let (m, s) = (mu * mu / 2.0, mu);
                let pdf = |v: f64| (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let (alpha, beta) = ((u - m) / s, (l - m) / s);
                let above = s * pdf(alpha) - (u - m) * phi_c(alpha);
                let below = s * pdf(beta) + (l - m) * phi(beta);
                m + below.max(0.0) - above.max(0.0)
            }
            Prv::Subsampled { q, sigma } => {
                let s2 = sigma * sigma;
                if s2 == 0.0 {
                    // σ² underflows: the densities are point masses at 0 and 1, where the
                    // loss is ln(1 - q) and +∞.
                    let at_zero = (-q).ln_1p();
                    return match d {
                        Dir::Remove => (1.0 - q) * at_zero.clamp(l, u) + q * u,
                        Dir::Add => (-at_zero).clamp(l, u),
                    };
                }
                let loss = |x: f64| -> f64 {
                    let v = (2.0 * x - 1.0) / (2.0 * s2);
                    if v > 0.0 {
                        v + (q + (1.0 - q) * (-v).exp()).ln()
                    } else {
                        (q * v.exp_m1()).ln_1p()
                    }
                };
                let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
                let gauss = |x: f64| (-0.5 * x * x / s2).exp();
                let f = |x: f64| -> f64 {
                    match d {
                        Dir::Remove => {
                            let p = (1.0 - q) * gauss(x) + q * gauss(x - 1.0);
                            loss(x).clamp(l, u) * p * norm
                        }
                        Dir::Add => (-loss(x)).clamp(l, u) * gauss(x) * norm,
                    }
                };
                // Break points: the range, the kinks of the clamp, the centre of the softplus
                // in L and the two Gaussian centres with their 38σ reaches (so that a narrow
                // bump is cut into pieces of width σ even when σ is far below 1e-4); then
                // pieces no wider than σ.
                let (lo, hi) = (-38.0 * sigma, 1.0 + 38.0 * sigma);
                let x_of = |t: f64| s2 * z_of(t, q) + 0.5;
                let mut pts = vec![
                    lo,
                    hi,
                    0.0,
                    1.0,
                    38.0 * sigma,
                    1.0 - 38.0 * sigma,
                    0.5 + s2 * ((1.0 - q) / q).ln(),
                ];
                let kinks = match d {
                    Dir::Remove => [x_of(l), x_of(u)],
                    Dir::Add => [x_of(-u), x_of(-l)],
                };
                pts.extend(kinks);
                pts.retain(|x| x.is_finite() && *x >= lo && *x <= hi);
                pts.sort_by(f64::total_cmp);
                let mut breaks = Vec::new();
                for w in pts.windows(2) {
                    let pieces = ((w[1] - w[0]) / sigma).ceil().clamp(1.0, 1e4) as usize;
                    for i in 0..pieces {
                        breaks.push(w[0] + (w[1] - w[0]) * i as f64 / pieces as f64);
                    }
                }
                breaks.push(hi);
                // Absolute tolerance: 1e-15 times the clamp range (capped), far below what the
                // shift needs (its error is multiplied by the step count, ≤ 1e9).
                let range = l.abs().max(u.abs());
                let tol = 1e-15 * if range > 1e3 { 1e3 } else { range.max(1.0) };
                integrate(&f, &breaks, tol)
            }
        }
    }

    /// A scale for the search steps.
    fn scale(&self) -> f64 {
        match *self {
            Prv::Gaussian { mu } => mu,
            Prv::Subsampled { q, .. } => q.max(1e-3),
        }
    }

    /// Where the monotone predicate switches from true (left) to false (right), searched from
    /// `start` by doubling steps and bisection; `±∞` if it never switches.
    fn crossing(&self, start: f64, pred: impl Fn(f64) -> bool) -> f64 {
        let mut step = self.scale();
        if pred(start) {
            let (mut lo, mut hi) = (start, start + step);
            while pred(hi) {
                lo = hi;
                step *= 2.0;
                hi += step;
                if !hi.is_finite() {
                    return f64::INFINITY;
                }
            }
            bisect(lo, hi, pred)
        } else {
            let (mut lo, mut hi) = (start - step, start);
            while !pred(lo) {
                hi = lo;
                step *= 2.0;
                lo -= step;
                if !lo.is_finite() {
                    return f64::NEG_INFINITY;
                }
            }
            bisect(lo, hi, pred)
        }
    }

    /// The median of the PRV in direction `d`.
    fn median(&self, d: Dir) -> f64 {
        let start = match *self {
            Prv::Gaussian { mu } => mu * mu / 2.0,
            Prv::Subsampled { .. } => 0.0,
        };
        self.crossing(start, |t| self.cdf(d, t) < 0.5)
    }

    /// The smallest `u` (to round-off) with `1 - F(u) ≤ tail`, searched from `median`.
    fn upper_cut(&self, d: Dir, tail: f64, median: f64) -> f64 {
        self.crossing(median, |t| self.sf(d, t) > tail)
    }

    /// The largest `l` (to round-off) with `F(l) ≤ tail`, searched from `median`.
    fn lower_cut(&self, d: Dir, tail: f64, median: f64) -> f64 {
        self.crossing(median, |t| self.cdf(d, t) <= tail)
    }
}

/// Bisection for the boundary between `pred == true` (at `lo`) and `pred == false` (at `hi`);
/// returns the `hi` end.
fn bisect(mut lo: f64, mut hi: f64, pred: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if pred(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// A PRV of one direction rounded to the lattice `hℤ`, plus its mean-restoring shift.
#[derive(Clone, Debug)]
struct Lattice {
    /// Lattice index of `mass[0]`.
    g_lo: i64,
    /// Probability of each lattice point (truncated tails folded into the end points).
    mass: Vec<f64>,
    /// Mean-restoring shift `μ_j` (the values are `g h + shift`).
    shift: f64,
    /// Probability mass outside the truncation interval (both tails).
    truncated: f64,
}

/// Discretises `prv` (direction `d`) on `hℤ` over the truncation interval `[l, u]`
/// (\[GLW21\], Algorithm 1): cell `[gh - h/2, gh + h/2]` goes to `gh`, and the mass beyond the
/// end cells is clamped onto them. The shift is `μ = E[C] - E[round(C)]` for the clamped
/// variable `C`: `E[C]` by quadrature ([`Prv::clamped_mean`]), `E[round(C)] = Σ g h m_g`.
fn discretise(prv: &Prv, d: Dir, h: f64, l: f64, u: f64, split: f64) -> Lattice {
    let g_lo = (l / h).round() as i64;
    let g_hi = ((u / h).round() as i64).max(g_lo);
    let n = (g_hi - g_lo + 1) as usize;
    // G at the n + 1 cell edges: the CDF below `split` (the median), the survival function
    // above, so that every tail mass is a difference of small numbers (no cancellation
    // against 1).
    let edge = |i: usize| (g_lo as f64 - 0.5 + i as f64) * h;
    let tail_at = |i: usize| {
        let t = edge(i);
        prv.tail(d, t, t >= split)
    };
    // In parallel where threads exist (the browser has none); each value is computed alone,
    // so the result is the same either way.
    #[cfg(not(target_arch = "wasm32"))]
    let g: Vec<f64> = {
        use rayon::prelude::*;
        (0..n + 1).into_par_iter().with_min_len(4096).map(tail_at).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let g: Vec<f64> = (0..n + 1).map(tail_at).collect();
    let below = |i: usize| edge(i) < split;
    let tail_lo = if below(0) { g[0] } else { 1.0 - g[0] };
    let tail_hi = if below(n) { 1.0 - g[n] } else { g[n] };
    let mut mass: Vec<f64> = (0..n)
        .map(|i| {
            let m = match (below(i), below(i + 1)) {
                (true, true) => g[i + 1] - g[i],
                (false, false) => g[i] - g[i + 1],
                // The edges increase, so (false, true) cannot occur.
                _ => 1.0 - g[i] - g[i + 1],
            };
            m.max(0.0)
        })
        .collect();
    mass[0] += tail_lo;
    mass[n - 1] += tail_hi;
    // E[round(C)] relative to the first cell, to keep the subtraction well conditioned.
    let rounded: f64 = mass.iter().enumerate().map(|(k, m)| k as f64 * h * m).sum();
    let base = g_lo as f64 * h;
    let mean = prv.clamped_mean(d, edge(0), edge(n));
    Lattice { g_lo, mass, shift: (mean - base) - rounded, truncated: tail_lo + tail_hi }
}

/// Nodes (non-negative half) of the 15-point Kronrod rule; the odd entries are the 7-point
/// Gauss nodes (\[PDK83\], routine QK15).
const GK15_X: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights for [`GK15_X`].
const GK15_W: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
/// Gauss weights for the nodes `GK15_X[1], [3], [5], [7]`.
const G7_W: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// `(K15, |K15 - G7|, K15 of |f|)` on `[a, b]`.
fn gk15(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64, f64) {
    let (c, r) = (0.5 * (a + b), 0.5 * (b - a));
    let mid = f(c);
    let (mut k, mut g, mut abs) = (GK15_W[7] * mid, G7_W[3] * mid, GK15_W[7] * mid.abs());
    for i in 0..7 {
        let (lo, hi) = (f(c - r * GK15_X[i]), f(c + r * GK15_X[i]));
        k += GK15_W[i] * (lo + hi);
        abs += GK15_W[i] * (lo.abs() + hi.abs());
        if i % 2 == 1 {
            g += G7_W[i / 2] * (lo + hi);
        }
    }
    (k * r, ((k - g) * r).abs(), abs * r)
}

/// `∫ f` over `[breaks[0], breaks[last]]` by adaptive Gauss–Kronrod bisection. A piece is
/// accepted when its error estimate is below its share of `abs_tol`, or at the round-off
/// floor (1e-14 of `∫|f|` over it), or after 50 halvings; at most 20,000 pieces are refined.
fn integrate(f: &impl Fn(f64) -> f64, breaks: &[f64], abs_tol: f64) -> f64 {
    let total = breaks[breaks.len() - 1] - breaks[0];
    let mut sum = 0.0;
    let mut refined = 0usize;
    let mut stack: Vec<(f64, f64, u32)> =
        breaks.windows(2).filter(|w| w[1] > w[0]).map(|w| (w[0], w[1], 0)).collect();
    while let Some((a, b, depth)) = stack.pop() {
        let (value, err, abs) = gk15(f, a, b);
        let settled = err <= abs_tol * (b - a) / total || err <= 1e-14 * abs || !err.is_finite();
        if settled || depth >= 50 || refined >= 20_000 {
            sum += value;
        } else {
            refined += 1;
            let m = 0.5 * (a + b);
            stack.push((a, m, depth + 1));
            stack.push((m, b, depth + 1));
        }
    }
    sum
}

/// `ln E[e^{λ Z}]` of a lattice PMF (values `g h + shift`), in log space.
fn log_mgf(lat: &Lattice, h: f64, lambda: f64) -> f64 {
    // Only the support with positive mass counts.
    let Some(first) = lat.mass.iter().position(|&m| m > 0.0) else {
        return f64::NEG_INFINITY;
    };
    let last = lat.mass.iter().rposition(|&m| m > 0.0).unwrap_or(first);
    let mass = &lat.mass[first..=last];
    let base = (lat.g_lo + first as i64) as f64 * h + lat.shift;
    // The exponent λ z is monotone in z: take the end where it is largest as the reference,
    // and walk away from it with the factor e^{-|λ| h} ≤ 1 (no overflow; terms that underflow
    // are negligible next to the reference term).
    let top = (mass.len() - 1) as f64 * h;
    let reference = if lambda >= 0.0 { lambda * (base + top) } else { lambda * base };
    let decay = (-(lambda.abs()) * h).exp();
    let mut sum = 0.0;
    let mut factor = 1.0;
    if lambda >= 0.0 {
        for &m in mass.iter().rev() {
            sum += m * factor;
            factor *= decay;
        }
    } else {
        for &m in mass {
            sum += m * factor;
            factor *= decay;
        }
    }
    reference + sum.ln()
}

/// Chernoff bounds for the sum of `count`-fold compositions: the `(lo, hi)` such that
/// `P(Z < lo) ≤ tau` and `P(Z > hi) ≤ tau`, minimised over a grid of `λ`, with the minimising
/// `λ`s.
fn chernoff_window(parts: &[(&Lattice, f64, f64)], tau: f64) -> ((f64, f64), (f64, f64)) {
    // parts: (lattice, mesh, count)
    let ln_inv_tau = -tau.ln();
    let (mut hi, mut lam_hi) = (f64::INFINITY, 1.0);
    let (mut lo, mut lam_lo) = (f64::NEG_INFINITY, -1.0);
    for k in -28..=28 {
        let lambda = 2f64.powf(f64::from(k) / 2.0);
        for sign in [1.0, -1.0] {
            let l = sign * lambda;
            let m: f64 = parts.iter().map(|(lat, h, c)| c * log_mgf(lat, *h, l)).sum();
            let bound = (m + ln_inv_tau) / l;
            if !bound.is_finite() {
                continue;
            }
            if sign > 0.0 && bound < hi {
                (hi, lam_hi) = (bound, l);
            }
            if sign < 0.0 && bound > lo {
                (lo, lam_lo) = (bound, l);
            }
        }
    }
    ((lo, hi), (lam_lo, lam_hi))
}

/// `ε` with `δ̃(ε) = delta` for the PMF `w` on the points `z0 + m h`, where
/// `δ̃(ε) = Σ w_m (1 - e^{ε - z_m})₊` (\[GLW21\], Section 2), clamped at 0. Exact for the PMF:
/// between lattice points `δ̃` is `A - e^{ε} B` with suffix sums `A`, `B`.
fn epsilon_for_delta(w: &[f64], z0: f64, h: f64, delta: f64) -> f64 {
    // A NaN anywhere proves nothing; the `max`es below would turn it into a number.
    if !(z0.is_finite() && h.is_finite() && delta >= 0.0) || w.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let n = w.len();
    let decay = (-h).exp();
    // Over m' > m: a = Σ w, b = Σ w e^{z_{m+1} - z_{m'}} (relative to z_{m+1}).
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for m in (0..n).rev() {
        let z_m = z0 + m as f64 * h;
        let z_next = z_m + h;
        if z_m <= 0.0 {
            // The answer is at most z_next; check whether it is positive.
            let d0 = a - (-z_next).exp() * b;
            if d0 <= delta || b <= 0.0 {
                return 0.0;
            }
            return (z_next + ((a - delta) / b).ln()).max(0.0);
        }
        if a - decay * b >= delta && b > 0.0 {
            return (z_next + ((a - delta) / b).ln()).max(z_m);
        }
        a += w[m];
        b = w[m] + decay * b;
    }
    // Below the window: δ̃(ε) = a - e^{ε - z0} b for ε < z0.
    if a <= delta || b <= 0.0 {
        return 0.0;
    }
    (z0 + ((a - delta) / b).ln()).max(0.0)
}

/// The larger of two epsilons, NaN if either is (`f64::max` would drop the NaN, and with it
/// the news that nothing was proven).
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `w^k` for a complex number and a positive integer `k` (polar form; exact for `k = 1`).
/// Returns 0 when `|w|^k` underflows, which skips the transcendental functions for the high
/// frequencies of a many-fold composition (a characteristic function decays there).
fn cpow(w: Complex64, k: f64) -> Complex64 {
    if k == 1.0 {
        return w;
    }
    let r2 = w.norm_sqr();
    let log_r = 0.5 * r2.ln();
    if r2 == 0.0 || k * log_r < -745.0 {
        return Complex64::new(0.0, 0.0);
    }
    Complex64::from_polar((k * log_r).exp(), k * w.arg())
}

/// The smallest FFT length `>= min` of the form `2^a 3^b 5^c` with `a >= 4` (fast for
/// rustfft's mixed-radix algorithms; at most ~1.2 times `min` instead of 2 for powers of 2).
fn fft_len(min: usize) -> usize {
    let mut best = min.next_power_of_two();
    let mut p5 = 16usize;
    while p5 < best {
        let mut p3 = p5;
        while p3 < best {
            let mut p = p3;
            while p < min {
                p *= 2;
            }
            best = best.min(p);
            p3 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// The exact privacy curve of the `μ`-Gaussian mechanism (\[BW18\], Theorem 8; \[DRS22\],
/// Corollary 2.13): `δ(ε) = Φ(μ/2 - ε/μ) - e^ε Φ(-μ/2 - ε/μ)`.
fn gaussian_delta(mu: f64, eps: f64) -> f64 {
    let t1 = phi(mu / 2.0 - eps / mu);
    // e^ε Φ(-μ/2 - ε/μ) in log space: Φ(-v) = erfc(v/√2)/2.
    let v = mu / 2.0 + eps / mu;
    let t2 = (eps - LN_2 + log_erfc(v / std::f64::consts::SQRT_2)).exp();
    (t1 - t2).max(0.0)
}

/// Exact `ε(δ)` of the `μ`-Gaussian mechanism by bisection: `(upper, lower)` bracket ends.
pub(crate) fn gaussian_epsilon(mu: f64, delta: f64) -> (f64, f64) {
    if gaussian_delta(mu, 0.0) <= delta {
        return (0.0, 0.0);
    }
    let mut hi = 1.0;
    while gaussian_delta(mu, hi) > delta {
        hi *= 2.0;
        if !hi.is_finite() {
            return (f64::INFINITY, f64::INFINITY);
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi || hi - lo <= 1e-13 * hi {
            break;
        }
        if gaussian_delta(mu, mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (hi, lo)
}

/// Groups events into PRVs with counts: every `q = 1` event merges into one Gaussian
/// (`μ² = Σ steps/σ²`, \[DRS22\], Corollary 3.3) counted once; equal subsampled events merge.
fn components(events: &[GaussianEvent]) -> Vec<(Prv, f64)> {
    let mut out: Vec<(Prv, f64)> = Vec::new();
    let mut mu2 = 0.0;
    for e in events {
        if e.sampling_rate >= 1.0 {
            mu2 += e.steps as f64 / (e.noise_multiplier * e.noise_multiplier);
            continue;
        }
        if !(e.noise_multiplier * e.noise_multiplier).is_finite() {
            // σ > 1.3e154: within ±100σ of the means (all but e^-5000 of the mass) each
            // step's privacy loss is below 1e-140 in absolute value, far below the mesh;
            // the numerics below would meet ∞·0 in σ² z.
            continue;
        }
        let prv = Prv::Subsampled { q: e.sampling_rate, sigma: e.noise_multiplier };
        match out.iter_mut().find(|(p, _)| *p == prv) {
            Some((_, c)) => *c += e.steps as f64,
            None => out.push((prv, e.steps as f64)),
        }
    }
    if mu2 > 0.0 {
        out.push((Prv::Gaussian { mu: mu2.sqrt() }, 1.0));
    }
    out
}

/// The PRV accountant's epsilon bounds for composing all `events` at `delta`, with the
/// discretisation details ([`super::epsilon_prv`] reports `upper` and `upper - lower`).
///
/// Errors: [`Error::Argument`] for invalid events, `delta` or options, or a composition the
/// method cannot resolve (see the module documentation).
pub fn epsilon_bounds(
    events: &[GaussianEvent],
    delta: f64,
    options: &PrvOptions,
) -> Result<PrvBounds> {
    super::check_delta(delta)?;
    super::check_events(events)?;
    let parts = components(events);
    if parts.is_empty() {
        return Ok(PrvBounds { upper: 0.0, lower: 0.0, estimate: 0.0, mesh: 0.0, grid: 0 });
    }
    if let [(Prv::Gaussian { mu }, _)] = parts[..] {
        let (upper, lower) = gaussian_epsilon(mu, delta);
        return Ok(PrvBounds { upper, lower, estimate: upper, mesh: 0.0, grid: 0 });
    }
    // Composition never lowers epsilon: a Gaussian part that alone has no finite bound (μ = ∞
    // when σ² underflows) leaves none for the whole.
    for (prv, _) in &parts {
        if let Prv::Gaussian { mu } = *prv {
            if gaussian_epsilon(mu, delta).1 == f64::INFINITY {
                return Ok(no_guarantee(f64::INFINITY));
            }
        }
    }
    compose_numeric(&parts, delta, options)
}

/// Bounds saying that no finite epsilon was proven; `lower` is what is known below (`+∞`
/// when epsilon is infinite for certain, 0 when nothing is known).
fn no_guarantee(lower: f64) -> PrvBounds {
    PrvBounds { upper: f64::INFINITY, lower, estimate: f64::INFINITY, mesh: 0.0, grid: 0 }
}

/// True when `count` compositions of `prv` release a record outright with probability above
/// `delta`: its survival function does not vanish at `t = 1e300` (with too little noise a
/// sampled step's privacy loss is beyond any float), so some step has a loss above `1e300`
/// with probability `1 - (1 - m)^count` where `m = P(Y > 1e300)`. Then `δ(ε) > delta` for
/// every representable `ε`: no finite bound holds. Only the remove direction has such a tail
/// (the add direction's loss is at most `-ln(1 - q)`).
fn releases_outright(prv: &Prv, count: f64, delta: f64) -> bool {
    let atom = prv.sf(Dir::Remove, 1e300);
    let leak = -((-atom).ln_1p() * count).exp_m1();
    leak > delta
}

/// The numerical composition (\[GLW21\], Algorithm 1, with both directions); see the module
/// documentation for the error analysis.
fn compose_numeric(parts: &[(Prv, f64)], delta: f64, options: &PrvOptions) -> Result<PrvBounds> {
    if !(options.eps_error > 0.0 && options.eps_error.is_finite()) {
        return Err(Error::Argument(format!(
            "eps_error must be positive and finite, got {}",
            options.eps_error
        )));
    }
    let delta_error = options.delta_error.unwrap_or(delta / 1000.0);
    if !(delta_error > 0.0 && delta_error < delta / 2.0) {
        return Err(Error::Argument(format!(
            "delta_error must be in (0, delta/2) = (0, {}), got {delta_error}",
            delta / 2.0
        )));
    }
    if !(MIN_GRID_LOG2..=26).contains(&options.max_grid_log2) {
        return Err(Error::Argument(format!(
            "max_grid_log2 must be in [{MIN_GRID_LOG2}, 26], got {}",
            options.max_grid_log2
        )));
    }
    let k_total: f64 = parts.iter().map(|(_, c)| c).sum();
    if k_total > MAX_COMPOSED_STEPS {
        return Err(Error::Argument(format!(
            "the PRV accountant composes at most {MAX_COMPOSED_STEPS:e} steps, got {k_total:e}; use the \
             RDP accountant"
        )));
    }
    let n_max = 1usize << options.max_grid_log2;
    let n_min = 1usize << MIN_GRID_LOG2;
    // Budget: δ_H = δ_e/4, truncation ≤ δ_e/8 (both tails of every PRV), wrap-around
    // ≤ δ_e/8 per side of the window.
    let delta_h = delta_error / 4.0;
    let tail_each = delta_error / (16.0 * k_total);
    let tau_side = delta_error / 8.0;
    let hoeffding = (k_total * (1.0 / delta_h).ln() / 2.0).sqrt();

    let dirs = [Dir::Remove, Dir::Add];
    // Median and truncation interval per part and direction.
    let mut cuts = Vec::with_capacity(parts.len());
    for (prv, count) in parts {
        let mut per_dir = [(0.0, 0.0, 0.0); 2];
        for (slot, &d) in per_dir.iter_mut().zip(&dirs) {
            let m = prv.median(d);
            let (l, u) = (prv.lower_cut(d, tail_each, m), prv.upper_cut(d, tail_each, m));
            if !(l.is_finite() && u.is_finite() && m.is_finite()) {
                if releases_outright(prv, *count, delta) {
                    return Ok(no_guarantee(f64::INFINITY));
                }
                return Err(Error::Argument(format!(
                    "the PRV accountant cannot truncate {prv:?}; use the RDP accountant"
                )));
            }
            *slot = (l, u, m);
        }
        cuts.push(per_dir);
    }

    // Coarse pass: size the window of the composed sum per direction.
    let mut spans = [(0.0, 0.0); 2];
    let mut lambdas = [(0.0, 0.0); 2];
    for (di, &d) in dirs.iter().enumerate() {
        let coarse: Vec<(Lattice, f64, f64)> = parts
            .iter()
            .zip(&cuts)
            .map(|((prv, count), cut)| {
                let (l, u, m) = cut[di];
                let hc = ((u - l) / COARSE_BUCKETS).max(f64::MIN_POSITIVE);
                (discretise(prv, d, hc, l, u, m), hc, *count)
            })
            .collect();
        let refs: Vec<(&Lattice, f64, f64)> = coarse.iter().map(|(l, h, c)| (l, *h, *c)).collect();
        let (window, lams) = chernoff_window(&refs, tau_side);
        spans[di] = window;
        lambdas[di] = lams;
    }
    let margin = |(lo, hi): (f64, f64)| {
        let pad = 0.05 * (hi - lo) + 2.0 * options.eps_error;
        (lo - pad, hi + pad)
    };
    let mut spans = [margin(spans[0]), margin(spans[1])];
    let h_target = options.eps_error / hoeffding;

    for _attempt in 0..6 {
        let span = spans.iter().map(|(lo, hi)| hi - lo).fold(0.0, f64::max);
        if !span.is_finite() || span <= 0.0 {
            break;
        }
        // Mesh and FFT length; never fewer than `n_min` points (small compositions get a
        // finer mesh for free), never more than `n_max` (then the mesh is coarsened and the
        // error bound grows with it).
        let h = h_target.min(span / (n_min as f64 - 2.0));
        let needed = (span / h).ceil() + 1.0;
        let (h, n) = if needed <= n_max as f64 {
            (h, fft_len(needed as usize).max(n_min))
        } else {
            (span / (n_max as f64 - 1.0), n_max)
        };
        // Fine pass. A single step's lattice spans at most one period `n h` on either side of
        // its median (beyond that it would wrap around by itself; the mass cut there is
        // counted as truncated), which bounds the memory.
        let period = n as f64 * h;
        let lattices: Vec<[Lattice; 2]> = parts
            .iter()
            .zip(&cuts)
            .map(|((prv, _), cut)| {
                let lattice = |di: usize, d: Dir| {
                    let (l, u, m) = cut[di];
                    let (l, u) = (l.max(m - period), u.min(m + period));
                    discretise(prv, d, h, l, u, m)
                };
                [lattice(0, Dir::Remove), lattice(1, Dir::Add)]
            })
            .collect();
        // A NaN in a lattice (a failed quadrature or tail) would be hidden by the `max`es
        // below and could end as a small epsilon: nothing is proven then.
        let broken = |lat: &Lattice| {
            !lat.shift.is_finite() || lat.truncated.is_nan() || lat.mass.iter().any(|m| m.is_nan())
        };
        if lattices.iter().flatten().any(broken) {
            return Ok(no_guarantee(0.0));
        }
        let truncated: f64 = parts
            .iter()
            .zip(&lattices)
            .map(|((_, c), l)| c * l[0].truncated.max(l[1].truncated))
            .sum();

        // Window placement and its wrap-around bound per direction.
        let mut bases = [0i64; 2];
        let mut offsets = [0.0; 2];
        let mut tau_alias = [0.0f64; 2];
        for di in 0..2 {
            let off: f64 = parts.iter().zip(&lattices).map(|((_, c), l)| c * l[di].shift).sum();
            let (lo, hi) = spans[di];
            let slack = n as f64 * h - (hi - lo);
            let base = ((lo - slack / 2.0 - off) / h).floor() as i64;
            let top = off + (base + n as i64) as f64 * h; // first value above the window
            let bottom = off + (base - 1) as f64 * h; // last value below the window
            let (lam_lo, lam_hi) = lambdas[di];
            let mgf = |l: f64| -> f64 {
                parts.iter().zip(&lattices).map(|((_, c), lat)| c * log_mgf(&lat[di], h, l)).sum()
            };
            let up = [lam_hi / 1.5, lam_hi, lam_hi * 1.5]
                .iter()
                .map(|&l| (mgf(l) - l * top).exp())
                .fold(f64::INFINITY, f64::min);
            let down = [lam_lo / 1.5, lam_lo, lam_lo * 1.5]
                .iter()
                .map(|&l| (mgf(l) - l * bottom).exp())
                .fold(f64::INFINITY, f64::min);
            bases[di] = base;
            offsets[di] = off;
            tau_alias[di] = up.min(1.0) + down.min(1.0);
        }
        let delta_used = delta_h + truncated + tau_alias[0].max(tau_alias[1]);
        if delta_used.is_nan() || delta_used > delta_error {
            // The window was too small: widen it by half its width on each side and retry.
            for (lo, hi) in spans.iter_mut() {
                let w = *hi - *lo;
                (*lo, *hi) = (*lo - 0.5 * w, *hi + 0.5 * w);
            }
            continue;
        }

        // Compose: pack remove (real) and add (imaginary) into one complex FFT per part;
        // both spectra are Hermitian, so only frequencies 0..=n/2 are composed.
        let (forward, inverse) = {
            let mut planner = FftPlanner::<f64>::new();
            (planner.plan_fft_forward(n), planner.plan_fft_inverse(n))
        };
        let zero = Complex64::new(0.0, 0.0);
        let mut scratch =
            vec![zero; forward.get_inplace_scratch_len().max(inverse.get_inplace_scratch_len())];
        let half = n / 2;
        let mut acc_r = vec![Complex64::new(1.0, 0.0); half + 1];
        let mut acc_a = vec![Complex64::new(1.0, 0.0); half + 1];
        let mut buf = vec![zero; n];
        let modn = |g: i64| g.rem_euclid(n as i64) as usize;
        for ((_, count), lat) in parts.iter().zip(&lattices) {
            buf.iter_mut().for_each(|c| *c = zero);
            for (k, &m) in lat[0].mass.iter().enumerate() {
                buf[modn(lat[0].g_lo + k as i64)].re += m;
            }
            for (k, &m) in lat[1].mass.iter().enumerate() {
                buf[modn(lat[1].g_lo + k as i64)].im += m;
            }
            forward.process_with_scratch(&mut buf, &mut scratch);
            for k in 0..=half {
                let x = buf[k];
                let y = buf[(n - k) % n].conj();
                let pr = (x + y) * 0.5;
                let pa = (x - y) * Complex64::new(0.0, -0.5);
                acc_r[k] *= cpow(pr, *count);
                acc_a[k] *= cpow(pa, *count);
            }
        }
        let i = Complex64::new(0.0, 1.0);
        for k in 0..n {
            buf[k] = if k <= half {
                acc_r[k] + i * acc_a[k]
            } else {
                acc_r[n - k].conj() + i * acc_a[n - k].conj()
            };
        }
        drop(acc_r);
        drop(acc_a);
        inverse.process_with_scratch(&mut buf, &mut scratch);
        let scale = 1.0 / n as f64;

        // Floating-point noise of the FFT composition: the K-th power multiplies the relative
        // round-off of the transform (~ε log2 N ‖p‖₂) by K, so each output entry carries an
        // absolute error of about K ε log2(N) ‖p‖₂ max(c); entries that come out negative (the
        // true PMF is not) measure it directly. The larger of the two, over every entry that
        // can contribute to δ(ε ≥ 0), is added to the δ slack (an estimate, not a proof).
        let l2 = lattices
            .iter()
            .flat_map(|l| l.iter())
            .map(|lat| lat.mass.iter().map(|m| m * m).sum::<f64>().sqrt())
            .fold(0.0, f64::max);
        let t = h * hoeffding;
        let mut upper = 0.0f64;
        let mut lower = 0.0f64;
        let mut estimate = 0.0f64;
        let mut w = vec![0.0; n];
        for di in 0..2 {
            let z0 = offsets[di] + bases[di] as f64 * h;
            let (mut max_w, mut max_neg, mut positive) = (0.0f64, 0.0f64, 0usize);
            for (m, slot) in w.iter_mut().enumerate() {
                let c = buf[modn(bases[di] + m as i64)];
                let v = (if di == 0 { c.re } else { c.im }) * scale;
                if v.is_nan() {
                    return Ok(no_guarantee(0.0));
                }
                max_w = max_w.max(v);
                max_neg = max_neg.max(-v);
                if z0 + m as f64 * h > 0.0 {
                    positive += 1;
                }
                *slot = v.max(0.0);
            }
            let per_entry =
                max_neg.max(4.0 * f64::EPSILON * k_total * (n as f64).log2() * l2 * max_w);
            let slack = delta_used + positive as f64 * per_entry;
            if slack.is_nan() || slack >= delta / 2.0 {
                return Err(Error::Argument(format!(
                    "delta {delta:e} is too small for the PRV accountant on this composition \
                     (its numerical error is about {slack:.1e}); use a larger delta or the RDP \
                     accountant"
                )));
            }
            upper = worse(upper, epsilon_for_delta(&w, z0, h, delta - slack) + t);
            lower = worse(lower, epsilon_for_delta(&w, z0, h, delta + slack) - t);
            estimate = worse(estimate, epsilon_for_delta(&w, z0, h, delta));
        }
        return Ok(PrvBounds { upper, lower: lower.max(0.0), estimate, mesh: h, grid: n });
    }
    Err(Error::Argument(
        "the PRV accountant could not bound the wrap-around error of this composition; use the \
         RDP accountant"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(q: f64, s: f64, k: u64) -> GaussianEvent {
        GaussianEvent { sampling_rate: q, noise_multiplier: s, steps: k }
    }

    #[test]
    fn cdf_and_survival_are_complementary() {
        let prvs = [
            Prv::Subsampled { q: 0.01, sigma: 1.0 },
            Prv::Subsampled { q: 0.3, sigma: 0.7 },
            Prv::Gaussian { mu: 0.8 },
        ];
        for p in prvs {
            for d in [Dir::Remove, Dir::Add] {
                for &t in &[-2.0, -0.3, -0.001, 0.0, 0.002, 0.5, 3.0] {
                    let s = p.cdf(d, t) + p.sf(d, t);
                    assert!((s - 1.0).abs() < 1e-14, "{p:?} {d:?} {t}: {s}");
                }
            }
        }
    }

    #[test]
    fn subsampled_prv_tends_to_gaussian_at_q_one() {
        // F_remove at q → 1 equals the N(μ²/2, μ²) CDF with μ = 1/σ.
        let s = Prv::Subsampled { q: 1.0 - 1e-12, sigma: 1.3 };
        let g = Prv::Gaussian { mu: 1.0 / 1.3 };
        for &t in &[-1.0, 0.0, 0.3, 1.0, 2.0] {
            assert!((s.cdf(Dir::Remove, t) - g.cdf(Dir::Remove, t)).abs() < 1e-9, "{t}");
        }
    }

    #[test]
    fn lattice_means_are_kl_divergences() {
        // E[Y] = KL(P||Q) for the remove direction and KL(Q||P) for add; the mean-restoring
        // shift must reproduce them. References: scipy.integrate.quad of p ln(p/q) over
        // [-30, 30] (abs. error < 1e-14) for q = 0.2, σ = 1.
        let kl = [(Dir::Remove, 0.026299345791972177), (Dir::Add, 0.021965484103774732)];
        let p = Prv::Subsampled { q: 0.2, sigma: 1.0 };
        for (d, reference) in kl {
            let m = p.median(d);
            let (l, u) = (p.lower_cut(d, 1e-16, m), p.upper_cut(d, 1e-16, m));
            let mean = |h: f64| -> f64 {
                let lat = discretise(&p, d, h, l, u, m);
                let total: f64 = lat.mass.iter().sum();
                assert!((total - 1.0).abs() < 1e-12, "{d:?} {h}: total {total}");
                lat.mass
                    .iter()
                    .enumerate()
                    .map(|(k, m)| m * ((lat.g_lo + k as i64) as f64 * h + lat.shift))
                    .sum()
            };
            let (coarse, fine) = (mean(1e-2), mean(1e-4));
            assert!((fine - reference).abs() < 1e-12, "{d:?}: {fine} vs {reference}");
            assert!((coarse - reference).abs() < 1e-7, "{d:?}: {coarse} vs {reference}");
        }
    }

    #[test]
    fn single_gaussian_numeric_matches_closed_form() -> Result<()> {
        // [BW18], Theorem 8: the analytic Gaussian mechanism. Force the numerical path.
        for &(sigma, delta) in &[(1.0, 1e-5), (0.7, 1e-6), (4.0, 1e-5), (0.5, 1e-5)] {
            let mu = 1.0 / sigma;
            let (exact, _) = gaussian_epsilon(mu, delta);
            let b = compose_numeric(&[(Prv::Gaussian { mu }, 1.0)], delta, &PrvOptions::default())?;
            assert!(
                b.lower <= exact + 1e-9 && exact <= b.upper + 1e-9,
                "{sigma}: {b:?} vs {exact}"
            );
            assert!((b.estimate - exact).abs() < 1e-4, "{sigma}: {b:?} vs {exact}");
        }
        Ok(())
    }

    #[test]
    fn gaussian_self_composition_numeric_matches_closed_form() -> Result<()> {
        // 100 compositions of σ = 8 as 100 separate PRVs == one μ = √100/8 Gaussian.
        let delta = 1e-5;
        let (exact, _) = gaussian_epsilon(10.0 / 8.0, delta);
        let b = compose_numeric(
            &[(Prv::Gaussian { mu: 1.0 / 8.0 }, 100.0)],
            delta,
            &PrvOptions::default(),
        )?;
        assert!(b.lower <= exact && exact <= b.upper, "{b:?} vs {exact}");
        assert!((b.estimate - exact).abs() < 1e-3, "{b:?} vs {exact}");
        Ok(())
    }

    #[test]
    fn closed_form_gaussian_known_value() {
        // σ = 1, δ = 1e-5: the analytic Gaussian mechanism gives ε ≈ 4.4 (vs the classical
        // bound √(2 ln(1.25/δ)) ≈ 4.84); check δ(ε) round-trips.
        let (eps, lo) = gaussian_epsilon(1.0, 1e-5);
        assert!(eps - lo < 1e-10);
        assert!((gaussian_delta(1.0, eps) - 1e-5).abs() < 1e-12);
        assert!(eps > 4.0 && eps < 4.84, "{eps}");
    }

    #[test]
    fn epsilon_for_delta_on_a_two_point_pmf() {
        // Y = 1 w.p. 0.1, Y = 0 otherwise: δ(ε) = 0.1 (1 - e^{ε - 1}) for ε < 1.
        let w = [0.9, 0.1];
        let eps = epsilon_for_delta(&w, 0.0, 1.0, 0.05);
        assert!((eps - (1.0 + 0.5f64.ln())).abs() < 1e-12, "{eps}");
        assert_eq!(epsilon_for_delta(&w, 0.0, 1.0, 0.2), 0.0);
    }

    #[test]
    fn fft_lengths_are_small_smooth_numbers() {
        for (min, expect) in [(17, 32), (40, 48), (590_000, 600_000), (1 << 20, 1 << 20)] {
            assert_eq!(fft_len(min), expect, "{min}");
        }
        for min in [100, 1000, 12_345, 999_999] {
            let n = fft_len(min);
            assert!(n >= min && (n as f64) < 1.25 * min as f64 + 16.0, "{min} -> {n}");
        }
    }

    #[test]
    fn gauss_kronrod_is_exact_for_polynomials() {
        // K15 integrates degree ≤ 22 exactly and G7 degree ≤ 13, so for x^13 both agree.
        for k in [0, 5, 13, 22] {
            let (value, _, _) = gk15(&|x: f64| x.powi(k), 0.0, 1.0);
            assert!((value - 1.0 / f64::from(k + 1)).abs() < 1e-15, "x^{k}: {value}");
        }
        let (_, err, _) = gk15(&|x: f64| x.powi(13), 0.0, 1.0);
        assert!(err < 1e-15, "{err}");
        // A narrow Gaussian bump at a break point (as `clamped_mean` places them), resolved by
        // the adaptive refinement.
        let s = 1e-3;
        let pdf =
            |x: f64| (-0.5 * (x / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt());
        let total = integrate(&pdf, &[-1.0, 0.0, 1.0], 1e-14);
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn tiny_delta_and_huge_step_counts_are_refused() {
        let err = epsilon_bounds(&[ev(0.01, 1.0, 100)], 1e-300, &PrvOptions::default());
        match err {
            Err(Error::Argument(m)) => assert!(m.contains("too small"), "{m}"),
            other => panic!("{other:?}"),
        }
        let err = epsilon_bounds(&[ev(0.01, 1.0, 2_000_000_000)], 1e-5, &PrvOptions::default());
        match err {
            Err(Error::Argument(m)) => assert!(m.contains("at most"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_direction_is_composed_too() -> Result<()> {
        let b = epsilon_bounds(&[ev(0.01, 1.0, 100)], 1e-5, &PrvOptions::default())?;
        assert!(b.upper > b.lower && b.upper - b.lower < 0.05, "{b:?}");
        Ok(())
    }
}
