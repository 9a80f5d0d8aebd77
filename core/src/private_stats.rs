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
        let kept = || ordered_buckets().filter(|&i| noisy[i] > keep);
        if let (Some(first), Some(last)) = (kept().next(), kept().next_back()) {
            // Tails too thin for any one bucket to clear the noise: blocks of buckets beyond
            // the range's ends whose summed noisy counts do (post-processing of released
            // counts). Without them a column loses its sparse ends: Adult's `fnlwgt` lost the
            // 10 % of rows below 65,716 and `age` ended near 69 at epsilon 2.5.
            let scale = |(lo, hi, n): (f64, f64, f64)| (lo * resolution, hi * resolution, n);
            let mut below = extend_tail(&noisy, first, false, self.std);
            below.reverse();
            let above = extend_tail(&noisy, last, true, self.std);
            rest = below
                .into_iter()
                .map(scale)
                .chain(rest)
                .chain(above.into_iter().map(scale))
                .collect();
        }
        exact.sort_by(f64::total_cmp);
        (exact, noisy_quantile_edges(&rest, bins))
    }
}

/// Most buckets [`extend_tail`] looks at beyond an end of a column's range.
const MAX_TAIL: usize = 256;

/// The tail beyond bucket `edge` (above it when `up`, else below): the widest window of 2, 4,
/// ... [`MAX_TAIL`] buckets next to it whose summed noisy count clears its noise, returned as
/// the window's dyadic parts (buckets 1-2, 3-4, 5-8, ...) outward, each `(lo, hi, count)` in
/// units of resolution with its noisy count floored at 0. A window of empty buckets passes
/// with chance [`SPURIOUS_BUCKET`] over the windows both sides test, so an empty tail stays
/// empty; a thin one is kept about as far as its outer buckets hold rows.
fn extend_tail(noisy: &[f64], edge: usize, up: bool, std: f64) -> Vec<(f64, f64, f64)> {
    let windows = MAX_TAIL.ilog2() as usize;
    let z = upper_normal_quantile(SPURIOUS_BUCKET / (2 * windows) as f64);
    // The buckets beyond the edge, nearest first, never across zero: a range of positive
    // values is not stretched to negative ones by noise (nor the reverse).
    let (lo, hi, _) = bucket_bounds(edge);
    let same_sign = |&i: &usize| {
        let (a, b, _) = bucket_bounds(i);
        (lo < 0.0 || a >= 0.0) && (hi > 0.0 || b <= 0.0)
    };
    let beyond: Vec<usize> = if up {
        (edge + 1..noisy.len()).take_while(same_sign).take(MAX_TAIL).collect()
    } else {
        (0..edge).rev().take_while(same_sign).take(MAX_TAIL).collect()
    };
    let sum = |r: std::ops::Range<usize>| beyond[r].iter().map(|&i| noisy[i]).sum::<f64>();
    // A window passes when its sum clears the noise and its outer half is not empty (one
    // standard deviation): otherwise a dense inner half would carry empty buckets with it.
    let passes = |&w: &usize| {
        let (all, outer) = (w as f64, (w / 2) as f64);
        w <= beyond.len() && sum(0..w) > z * std * all.sqrt() && sum(w / 2..w) > std * outer.sqrt()
    };
    let Some(widest) = (1..=windows).map(|k| 1usize << k).rfind(passes) else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let mut start = 0;
    while start < widest {
        let end = (2 * start).max(2);
        let part = &beyond[start..end];
        let count = part.iter().map(|&i| noisy[i]).sum::<f64>().max(0.0);
        let (a, b) = (bucket_bounds(part[0]), bucket_bounds(part[part.len() - 1]));
        parts.push((a.0.min(b.0), a.1.max(b.1), count));
        start = end;
    }
    parts
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
    fn thin_tails_are_kept_and_empty_ones_are_not() {
        // 20,000 values on 1,000..2,000 and a tail of 1,000 spread thinly over 100..1,000
        // (about 9 per 2 % bucket, far below one bucket's threshold of about 4.6 std = 92).
        let body = (0..20_000).map(|i| 1000.0 + (i % 1000) as f64);
        let tail = (0..1_000).map(|i| 100.0 + 0.9 * i as f64);
        let values: Vec<f64> = body.chain(tail).collect();
        let without_tail = &values[..20_000];
        for seed in 0..10 {
            let mut rng = Randomness::new(true, seed);
            let mut release = Release::new(&mut rng, 20.0, 1, 1e-6);
            let (_, edges) = release.numbers(&values, 1.0, 0.05, 8);
            // The tail's blocks reach into it (its lower part, 2 to 15 rows a bucket, may stay
            // below the noise even in blocks of 256); without them it starts at 1,000.
            assert!(edges[0] < 800.0 && edges[0] >= 0.0, "seed {seed}: {edges:?}");
            let (_, edges) = release.numbers(without_tail, 1.0, 0.05, 8);
            // No tail, no extension: the range starts within a few buckets of 1,000 and ends
            // within a few of 2,000.
            assert!(edges[0] > 900.0, "seed {seed}: {edges:?}");
            assert!(*edges.last().unwrap() < 2200.0, "seed {seed}: {edges:?}");
        }
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
