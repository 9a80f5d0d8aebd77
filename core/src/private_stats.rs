//! Differentially private statistics for the tokenizer under DP: category vocabularies, numeric
//! ranges, quantile bin edges, frequent exact values and whether a column has missing values.
//!
//! Everything the tokenizer learns from the data would otherwise bypass the accountant (a rare
//! category in the vocabulary reveals that someone has it). Under DP each privacy unit
//! contributes one row, and that row one count per column: to its category, to its bucket of a
//! fixed, data-independent numeric grid, or to the column's missing cell. The counts of all
//! columns together have L2 sensitivity `sqrt(k)` for `k` columns, so one Gaussian mechanism
//! with standard deviation `σ·sqrt(k)` releases them all; the accountant composes it with
//! DP-SGD as one event of noise multiplier `σ` and sampling rate 1.
//!
//! Categories are keys taken from the data, so a category is kept only when its noisy count
//! clears a threshold that a category held by a single unit passes with probability at most
//! `δ_sel / k` (Gaussian partition selection: Korolova et al. 2009, "Releasing search queries and
//! clicks privately"; Gopi et al. 2020, "Differentially private set union", Section 3). That
//! adds `δ_sel` to the guarantee's delta. Numeric buckets come from a fixed grid, so all their
//! noisy counts are released in principle; keeping the large ones is post-processing.

use crate::dp::Randomness;

/// Width of the linear part of the numeric grid, in units of the column's resolution: values
/// below it get one bucket per representable value (so ages or small counts stay exact).
const LINEAR_UNITS: f64 = 50.0;
/// Ratio between consecutive bucket bounds beyond the linear part (2 % relative width).
const GROWTH: f64 = 1.02;
/// Largest magnitude the grid resolves, in units of resolution; larger values share the last
/// bucket.
const MAX_UNITS: f64 = 1e18;
/// Missing values are kept when their noisy count exceeds this many noise standard deviations.
const KEEP_SIGMAS: f64 = 3.0;
/// Chance that any empty bucket of a column's grid is kept because of its noise alone (an
/// empty bucket far out would stretch the column's range).
const SPURIOUS_BUCKET: f64 = 0.01;

/// The Gaussian noise and thresholds of one statistics release.
pub struct Release<'a> {
    rng: &'a mut Randomness,
    /// Noise standard deviation of every count.
    pub std: f64,
    /// Noisy count a category needs to be kept.
    pub selection_threshold: f64,
}

impl<'a> Release<'a> {
    /// A release over `columns` columns with noise multiplier `sigma` and partition-selection
    /// budget `selection_delta`.
    pub fn new(rng: &'a mut Randomness, sigma: f64, columns: usize, selection_delta: f64) -> Self {
        let std = sigma * (columns.max(1) as f64).sqrt();
        let z = upper_normal_quantile(selection_delta / columns.max(1) as f64);
        Release { rng, std, selection_threshold: 1.0 + std * z }
    }

    fn noisy(&mut self, count: usize) -> f64 {
        let mut n = [0f32; 1];
        self.rng.fill_normal(&mut n, self.std);
        count as f64 + f64::from(n[0])
    }

    /// The categories whose noisy count clears the selection threshold, most frequent first.
    pub fn categories(&mut self, counts: Vec<(String, usize)>) -> Vec<String> {
        let threshold = self.selection_threshold;
        let mut kept: Vec<(String, f64)> = counts
            .into_iter()
            .map(|(value, n)| {
                let noisy = self.noisy(n);
                (value, noisy)
            })
            .filter(|(_, noisy)| *noisy >= threshold)
            .collect();
        kept.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.into_iter().map(|(v, _)| v).collect()
    }

    /// A column's noisy count of missing values, or 0 when it does not clear the noise (then
    /// generation never writes a missing value there).
    pub fn noisy_missing(&mut self, missing: usize) -> usize {
        let noisy = self.noisy(missing);
        if noisy > KEEP_SIGMAS * self.std {
            noisy.round() as usize
        } else {
            0
        }
    }

    /// Exact values and bin edges of a numeric column from a noisy histogram on the fixed grid.
    /// `values` are in the column's units of `resolution`; `exact_share` is the share of the
    /// noisy total a representable value needs to get its own token; `bins` bounds the bins.
    pub fn numbers(
        &mut self,
        values: &[f64],
        resolution: f64,
        exact_share: f64,
        bins: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let buckets = ordered_buckets().len();
        let mut counts = vec![0usize; buckets];
        for &v in values {
            counts[bucket_of(v / resolution)] += 1;
        }
        // Union bound over the grid: each empty bucket passes with chance SPURIOUS_BUCKET / n.
        let keep = self.std * upper_normal_quantile(SPURIOUS_BUCKET / buckets as f64);
        let noisy: Vec<f64> = counts.iter().map(|&n| self.noisy(n)).collect();
        let total: f64 = noisy.iter().filter(|&&n| n > keep).sum();
        let exact_min = keep.max(exact_share * total);
        let mut exact = Vec::new();
        let mut rest: Vec<(f64, f64, f64)> = Vec::new(); // (lo, hi, count) in value order
        for index in ordered_buckets() {
            let n = noisy[index];
            if n <= keep {
                continue;
            }
            let (lo, hi, single) = bucket_bounds(index);
            if single && n >= exact_min {
                exact.push(lo * resolution);
            } else {
                rest.push((lo * resolution, hi * resolution, n));
            }
        }
        exact.sort_by(f64::total_cmp);
        (exact, noisy_quantile_edges(&rest, bins))
    }
}

/// Quantile edges of a histogram of `(lo, hi, count)` buckets in value order, interpolating
/// linearly within a bucket; `bins + 1` edges at most (duplicates removed).
fn noisy_quantile_edges(buckets: &[(f64, f64, f64)], bins: usize) -> Vec<f64> {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else { return Vec::new() };
    let total: f64 = buckets.iter().map(|b| b.2).sum();
    let mut edges = vec![first.0];
    let (mut cumulative, mut i) = (0.0, 0);
    for k in 1..bins.max(1) {
        let target = total * k as f64 / bins as f64;
        while i < buckets.len() && cumulative + buckets[i].2 < target {
            cumulative += buckets[i].2;
            i += 1;
        }
        let Some(&(lo, hi, n)) = buckets.get(i) else { break };
        edges.push(lo + (hi - lo) * ((target - cumulative) / n).clamp(0.0, 1.0));
    }
    edges.push(last.1);
    edges.dedup();
    if edges.len() == 1 {
        edges.push(edges[0]);
    }
    edges
}

/// Where the geometric buckets start, in units: the linear buckets hold the whole numbers below.
const GEOMETRIC_BASE: f64 = LINEAR_UNITS - 0.5;

/// Buckets per sign: the linear part, then geometric buckets up to [`MAX_UNITS`].
/// Computed once: `bucket_of` runs for every row of every numeric column.
fn grid_size() -> usize {
    static SIZE: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        LINEAR_UNITS as usize + ((MAX_UNITS / GEOMETRIC_BASE).ln() / GROWTH.ln()).ceil() as usize
    });
    *SIZE
}

/// The bucket of a value `t` in units of resolution. Index `grid_size() + 1 + j` holds
/// non-negative values, index `grid_size() - j` negative ones, so that index order is value
/// order. Values below [`GEOMETRIC_BASE`] are whole numbers of units (rounded, as `t` comes
/// from a division that may leave 12.999...).
fn bucket_of(t: f64) -> usize {
    let g = grid_size();
    let magnitude = t.abs().min(MAX_UNITS);
    let (j, negative) = if magnitude < GEOMETRIC_BASE {
        let m = magnitude.round() as usize;
        // Negative linear bucket j holds -j (j >= 1; -0 is 0, its bucket stays empty).
        if t < 0.0 && m > 0 {
            (m, true)
        } else {
            (m, false)
        }
    } else {
        let k = ((magnitude / GEOMETRIC_BASE).ln() / GROWTH.ln()).floor().max(0.0) as usize;
        (LINEAR_UNITS as usize + k, t < 0.0)
    };
    let j = j.min(g);
    if negative {
        g - j
    } else {
        g + 1 + j
    }
}

/// The value range `[lo, hi]` of a bucket, in units, and whether it holds one representable
/// value only (a linear bucket: its values are whole multiples of the resolution).
fn bucket_bounds(index: usize) -> (f64, f64, bool) {
    let g = grid_size();
    let (j, negative) = if index > g { (index - g - 1, false) } else { (g - index, true) };
    let (lo, hi, single) = if j < LINEAR_UNITS as usize {
        (j as f64, j as f64, true)
    } else {
        let k = (j - LINEAR_UNITS as usize) as f64;
        (GEOMETRIC_BASE * GROWTH.powf(k), GEOMETRIC_BASE * GROWTH.powf(k + 1.0), false)
    };
    if negative {
        (-hi, -lo, single)
    } else {
        (lo, hi, single)
    }
}

fn ordered_buckets() -> std::ops::Range<usize> {
    0..2 * (grid_size() + 1)
}

/// `z` with `P(N(0, 1) > z) = p`, by bisection on the complementary error function.
pub fn upper_normal_quantile(p: f64) -> f64 {
    let tail = |z: f64| 0.5 * libm::erfc(z / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (-40.0, 40.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if tail(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_tables() {
        // Standard normal table: P(Z > 1.959964) = 0.025, P(Z > 4.264891) = 1e-5.
        assert!((upper_normal_quantile(0.025) - 1.959964).abs() < 1e-5);
        assert!((upper_normal_quantile(1e-5) - 4.264891).abs() < 1e-5);
    }

    #[test]
    fn grid_buckets_are_ordered_and_contain_their_values() {
        let mut previous = f64::NEG_INFINITY;
        for index in ordered_buckets() {
            let (lo, hi, _) = bucket_bounds(index);
            assert!(lo <= hi && lo >= previous, "bucket {index}: [{lo}, {hi}] after {previous}");
            previous = hi;
        }
        for t in [0.0, 1.0, 17.0, 49.0, 50.0, 51.5, 1234.5, 9.9e6, -1.0, -49.0, -50.0, -777.0] {
            let (lo, hi, single) = bucket_bounds(bucket_of(t));
            assert!(
                lo - 1e-12 * lo.abs() <= t && t <= hi + 1e-12 * hi.abs(),
                "{t} not in [{lo}, {hi}]"
            );
            assert_eq!(single, t.abs() < 50.0, "{t}");
        }
    }

    #[test]
    fn selection_threshold_lets_a_single_unit_through_rarely() {
        let mut rng = Randomness::new(true, 9);
        let release = Release::new(&mut rng, 2.0, 4, 1e-3);
        // std = 2 * sqrt(4) = 4; z = upper quantile of 1e-3 / 4 = 3.4808.
        assert!((release.std - 4.0).abs() < 1e-12);
        assert!((release.selection_threshold - (1.0 + 4.0 * 3.4808)).abs() < 1e-3);
        let mut release = release;
        let mut passed = 0;
        for _ in 0..20_000 {
            passed += release.categories(vec![("once".into(), 1)]).len();
        }
        // Expected 20,000 * 2.5e-4 = 5.
        assert!(passed <= 20, "{passed}");
        let kept = release.categories(vec![("big".into(), 500), ("small".into(), 3)]);
        assert_eq!(kept, vec!["big".to_string()]);
    }

    #[test]
    fn noisy_numbers_recover_range_quantiles_and_exact_values() {
        let mut rng = Randomness::new(true, 4);
        let mut release = Release::new(&mut rng, 1.0, 1, 1e-6);
        // 20,000 values: 0 for half of them (an exact value), the rest uniform on 100..200.
        let values: Vec<f64> = (0..20_000)
            .map(|i| if i % 2 == 0 { 0.0 } else { 100.0 + (i % 1000) as f64 / 10.0 })
            .collect();
        let (exact, edges) = release.numbers(&values, 0.1, 0.05, 4);
        assert_eq!(exact, vec![0.0]);
        assert_eq!(edges.len(), 5, "{edges:?}");
        let want = [100.0, 125.0, 150.0, 175.0, 200.0];
        for (e, w) in edges.iter().zip(want) {
            // The grid's 2 % buckets bound the error of an edge.
            assert!((e - w).abs() <= 0.02 * w + 1.0, "{edges:?}");
        }
    }
}
