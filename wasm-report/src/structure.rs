//! Deep structure: how much of the synthetic table's variance lies along the real table's
//! principal components.
//!
//! Both tables are mapped to the same standardised feature space, fitted on the real table:
//!
//! - a numeric column becomes its z-score `(x - mean) / std` with the real mean and (population)
//!   standard deviation; a missing number becomes 0, the real mean;
//! - a categorical column becomes one-hot indicators for its [`TOP_LEVELS`] most frequent real
//!   levels (ties by level order), one for every other level ("other", which also takes levels
//!   first seen in the synthetic table) and one for "missing"; each indicator is standardised
//!   with its real mean `p` and standard deviation `sqrt(p (1 - p))`;
//! - features with zero real variance (a constant column, an indicator no real row or every
//!   real row has) are dropped.
//!
//! The real covariance matrix `C_r` (of all real rows) is decomposed as `C_r = V diag(w) V^T`
//! (cyclic Jacobi, see [`symmetric_eigen`]), eigenvalues descending. Component `i` explains the
//! share `w_i / trace(C_r)` of the real variance and `v_i^T C_s v_i / trace(C_s)` of the
//! synthetic variance, `C_s` being the synthetic covariance (around the synthetic mean) in the
//! same feature space. `k` is the smallest number of components explaining at least
//! [`EXPLAINED_TARGET`] of the real variance, at most [`MAX_COMPONENTS`] and the feature count:
//! the usual "80% of variance" rule (Jolliffe, Principal Component Analysis, 2nd ed. 2002,
//! section 6.1.1), capped so that a table of many weakly related columns still gives a short
//! chart. One-hot features spread the variance thinly: on Adult (72 features) ten components
//! explain only about a third of it, so there the cap decides `k`.
//!
//! Cost: the one-hot indicators are sparse before standardising, and covariance is
//! shift-invariant, so the second moments are accumulated over each row's non-zero raw values
//! only: at most `c (c + 1) / 2` products per row for `c` columns (120 for Adult's 15), against
//! `d (d + 1) / 2` (about 2,600 for Adult's 72 features) for dense standardised rows. All rows
//! are used, without sampling; the `O(d^2)` centring and scaling happen once per table.

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Schema, Values, MISSING};
use crate::moments::{scaled_mean_std, unit_scale};
use crate::sample::{sample_indices, Rng};

/// Most frequent real levels of a categorical column that get an indicator of their own.
pub const TOP_LEVELS: usize = 10;
/// Share of the real variance the kept components must explain.
pub const EXPLAINED_TARGET: f64 = 0.8;
/// Most principal components kept.
pub const MAX_COMPONENTS: usize = 10;
/// Rows per table projected onto the first two components for the scatter plot.
pub const POINTS: usize = 500;

/// How the synthetic table's variance follows the real table's principal components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Structure {
    /// Standardised features (columns of the PCA) after dropping zero-variance ones.
    pub features: usize,
    /// Principal components kept (k).
    pub components: usize,
    /// Share of the real data's total variance explained by its top k components.
    pub real_explained: f64,
    /// Share of the synthetic data's total variance (in the same standardised feature space)
    /// explained by those same real components.
    pub synthetic_explained: f64,
    /// Per-component shares of the real variance (k values, descending).
    pub real_shares: Vec<f64>,
    /// Per-component shares of the synthetic variance along the same real components.
    pub synthetic_shares: Vec<f64>,
    /// `1 - sum_i |r_i - s_i| / R`, clamped to `[0, 1]`, with `r_i`, `s_i` the shares and `R`
    /// the real explained share: the relative gap `|R - S| / R` taken component by component,
    /// so that variance moved from one component to another counts too (and the score is
    /// never more lenient than `1 - |R - S| / R`). 0 when the synthetic table has no variance.
    pub similarity: f64,
    /// Up to [`POINTS`] sampled real rows projected on components 1 and 2.
    pub real_points: Vec<[f64; 2]>,
    /// Up to [`POINTS`] sampled synthetic rows, projected the same way (in the real-centred
    /// space, so a shifted synthetic table shows as a shifted cloud).
    pub synthetic_points: Vec<[f64; 2]>,
}

/// How one column maps to features.
enum Encoder {
    /// `feature` holds the z-score; `None` when the real column is constant.
    Numeric { feature: Option<usize>, mean: f64, std: f64, scale: f64 },
    /// `slots[code]` is the code's slot (codes beyond it are "other"), `features[slot]` its
    /// kept indicator. Slots: the top levels, then "other", then "missing".
    Categorical { slots: Vec<usize>, features: Vec<Option<usize>> },
}

/// The standardised feature space fitted on the real table. Feature `j` of a row is
/// `(raw_j - offset[j]) / scale[j]`, where the raw value is the z-score for numeric features
/// (offset 0, scale 1) and the 0/1 indicator for one-hot ones (the real `p` and `sqrt(p(1-p))`).
struct Space {
    encoders: Vec<Encoder>,
    offset: Vec<f64>,
    scale: Vec<f64>,
}

impl Space {
    fn fit(real: &Frame) -> Space {
        let mut space = Space { encoders: Vec::new(), offset: Vec::new(), scale: Vec::new() };
        for values in &real.columns {
            let encoder = match values {
                Values::Numeric(x) => space.numeric(x),
                Values::Categorical(codes) => space.categorical(codes),
            };
            space.encoders.push(encoder);
        }
        space
    }

    fn push(&mut self, offset: f64, scale: f64) -> usize {
        self.offset.push(offset);
        self.scale.push(scale);
        self.offset.len() - 1
    }

    fn numeric(&mut self, x: &[f64]) -> Encoder {
        let present = || x.iter().filter(|v| !v.is_nan());
        // Mean and std of the values times `scale` (a power of two, 1 unless values near the
        // f64 limits would overflow the sums; the z-scores are the same either way).
        let scale = unit_scale(x.iter().copied());
        let (mean, std) = scaled_mean_std(x, scale, 0).unwrap_or((0.0, 0.0));
        // Constant columns exactly, not by a rounding-sized std; an infinite value leaves a
        // NaN spread, and the column out.
        let first = present().next().copied();
        let varies = present().any(|&v| Some(v) != first) && std > 0.0 && std.is_finite();
        let feature = varies.then(|| self.push(0.0, 1.0));
        Encoder::Numeric { feature, mean, std, scale }
    }

    fn categorical(&mut self, codes: &[u32]) -> Encoder {
        let mut counts: Vec<usize> = Vec::new();
        let mut missing = 0usize;
        for &c in codes {
            if c == MISSING {
                missing += 1;
                continue;
            }
            if c as usize >= counts.len() {
                counts.resize(c as usize + 1, 0);
            }
            counts[c as usize] += 1;
        }
        let mut ranked: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
        ranked.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        let top = ranked.len().min(TOP_LEVELS);
        let mut slots = vec![top; counts.len()];
        let mut slot_counts = vec![0usize; top + 2];
        for (slot, &code) in ranked.iter().enumerate() {
            slots[code] = slot.min(top);
            slot_counts[slot.min(top)] += counts[code];
        }
        slot_counts[top + 1] = missing;
        let n = codes.len().max(1) as f64;
        let features = slot_counts
            .iter()
            .map(|&k| {
                let p = k as f64 / n;
                (k > 0 && k < codes.len()).then(|| self.push(p, (p * (1.0 - p)).sqrt()))
            })
            .collect();
        Encoder::Categorical { slots, features }
    }

    fn dimension(&self) -> usize {
        self.offset.len()
    }

    /// Row `r`'s non-zero raw values as `(feature, value)`, in increasing feature order.
    fn raw_row(&self, frame: &Frame, r: usize, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (encoder, values) in self.encoders.iter().zip(&frame.columns) {
            match (encoder, values) {
                (Encoder::Numeric { feature: Some(f), mean, std, scale }, Values::Numeric(x))
                    if !x[r].is_nan() =>
                {
                    out.push((*f, (x[r] * scale - mean) / std));
                }
                (Encoder::Categorical { slots, features }, Values::Categorical(codes)) => {
                    let slot = match codes[r] {
                        MISSING => features.len() - 1,
                        c => slots.get(c as usize).copied().unwrap_or(features.len() - 2),
                    };
                    if let Some(f) = features[slot] {
                        out.push((f, 1.0));
                    }
                }
                _ => {}
            }
        }
    }

    /// The covariance matrix (row-major `d x d`, divided by `n`) of `frame`'s standardised
    /// features. Accumulates raw sums and products over non-zero raw values only, then
    /// `cov_ij = (M_ij / n - m_i m_j) / (scale_i scale_j)`: the raw values are O(1) (z-scores and
    /// indicators), so the subtraction loses little.
    fn covariance(&self, frame: &Frame) -> Vec<f64> {
        let d = self.dimension();
        let (mut sums, mut products) = (vec![0.0; d], vec![0.0; d * d]);
        let mut row = Vec::with_capacity(self.encoders.len());
        for r in 0..frame.rows {
            self.raw_row(frame, r, &mut row);
            for (a, &(i, x)) in row.iter().enumerate() {
                sums[i] += x;
                for &(j, y) in &row[a..] {
                    products[i * d + j] += x * y;
                }
            }
        }
        let n = frame.rows.max(1) as f64;
        for i in 0..d {
            for j in i..d {
                let c = (products[i * d + j] / n - sums[i] / n * (sums[j] / n))
                    / (self.scale[i] * self.scale[j]);
                products[i * d + j] = c;
                products[j * d + i] = c;
            }
        }
        products
    }

    /// Rows `rows` of `frame` projected on `axes` (two unit vectors).
    fn project(&self, frame: &Frame, axes: [&[f64]; 2], rows: &[usize]) -> Vec<[f64; 2]> {
        // Standardised projection: sum_j (raw_j - offset_j) / scale_j * v_j, split into a
        // constant part and the row's non-zero raw values.
        let weights: [Vec<f64>; 2] =
            axes.map(|v| v.iter().zip(&self.scale).map(|(v, s)| v / s).collect());
        let base =
            [0, 1].map(|c| -weights[c].iter().zip(&self.offset).map(|(u, o)| u * o).sum::<f64>());
        let mut row = Vec::new();
        rows.iter()
            .map(|&r| {
                self.raw_row(frame, r, &mut row);
                let mut point = base;
                for &(j, x) in &row {
                    point[0] += x * weights[0][j];
                    point[1] += x * weights[1][j];
                }
                point
            })
            .collect()
    }
}

/// Eigenvalues (descending) and unit eigenvectors of the symmetric `d x d` matrix `a`
/// (row-major), by the cyclic Jacobi method (Golub and Van Loan, Matrix Computations, 4th ed.,
/// section 8.5: algorithm 8.5.3, with the 2 x 2 rotation of algorithm 8.5.1). Each eigenvector's largest-magnitude entry (the first of
/// equals) is made positive, so results do not depend on rotation order.
///
/// Cost: a rotation updates two rows of `A` and two of `V^T`, `8 d` multiplies; a sweep makes
/// `d (d - 1) / 2` of them, about `4 d^3`, and 6 to 10 sweeps are typical (quadratic
/// convergence). Adult (d = 72): about 10 M multiplies; d = 200: about 250 M.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    assert_eq!(a.len(), d * d, "a d x d matrix");
    let mut a = a.to_vec();
    // V^T, so that a rotation touches two contiguous rows: row i is eigenvector i.
    let mut vt = vec![0.0; d * d];
    (0..d).for_each(|i| vt[i * d + i] = 1.0);
    let norm2: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off2: f64 =
            (0..d).map(|p| a[p * d + p + 1..(p + 1) * d].iter().map(|x| x * x).sum::<f64>()).sum();
        // Stop at an off-diagonal norm of 1e-15 of the whole: rounding keeps it near 1e-16.
        if off2 <= 1e-30 * norm2 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                if a[p * d + q] != 0.0 {
                    rotate(&mut a, &mut vt, d, p, q);
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| {
            let mut u = vt[i * d..(i + 1) * d].to_vec();
            let big = u.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            if u.iter().find(|x| x.abs() == big).is_some_and(|x| *x < 0.0) {
                u.iter_mut().for_each(|x| *x = -*x);
            }
            u
        })
        .collect();
    (values, vectors)
}

/// One Jacobi rotation zeroing `a[p][q]`: `A <- J^T A J`, `V <- V J` with `J` the rotation by
/// `c = 1 / sqrt(1 + t^2)`, `s = t c`, `t = sign(tau) / (|tau| + sqrt(1 + tau^2))`,
/// `tau = (a_qq - a_pp) / (2 a_pq)` (Golub and Van Loan, algorithm 8.5.1, the smaller root).
/// Only rows `p` and `q` are computed (`A` stays symmetric, so columns are copies), and the
/// diagonal pair by Rutishauser's `a_pp - t a_pq`, `a_qq + t a_pq`, which loses less to
/// rounding (Press et al., Numerical Recipes, 3rd ed., section 11.1).
fn rotate(a: &mut [f64], vt: &mut [f64], d: usize, p: usize, q: usize) {
    let apq = a[p * d + q];
    let tau = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
    // For huge |tau|, t ~ 1 / (2 tau) and tau^2 would overflow.
    let t = if tau.abs() > 1e150 {
        0.5 / tau
    } else {
        tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt())
    };
    let c = 1.0 / (1.0 + t * t).sqrt();
    let s = t * c;
    let (app, aqq) = (a[p * d + p] - t * apq, a[q * d + q] + t * apq);
    // Rows p and q of J^T A, which off the (p, q) block are those of J^T A J; contiguous, so
    // the loop vectorises. Then the block, and the columns as copies of the rows.
    rotate_rows(a, d, p, q, c, s);
    (a[p * d + p], a[q * d + q]) = (app, aqq);
    for k in (0..d).filter(|&k| k != p && k != q) {
        a[k * d + p] = a[p * d + k];
        a[k * d + q] = a[q * d + k];
    }
    (a[p * d + q], a[q * d + p]) = (0.0, 0.0);
    rotate_rows(vt, d, p, q, c, s);
}

/// Rows `p < q` of the row-major `m` (row length `d`) become `c row_p - s row_q` and
/// `s row_p + c row_q`.
fn rotate_rows(m: &mut [f64], d: usize, p: usize, q: usize, c: f64, s: f64) {
    let (head, tail) = m.split_at_mut(q * d);
    for (x, y) in head[p * d..(p + 1) * d].iter_mut().zip(&mut tail[..d]) {
        (*x, *y) = (c * *x - s * *y, s * *x + c * *y);
    }
}

/// `u^T M u` for a row-major `d x d` matrix.
fn quadratic_form(m: &[f64], u: &[f64]) -> f64 {
    let d = u.len();
    (0..d).map(|i| u[i] * (0..d).map(|j| m[i * d + j] * u[j]).sum::<f64>()).sum()
}

/// The smallest `k` whose cumulative share reaches [`EXPLAINED_TARGET`], capped at
/// [`MAX_COMPONENTS`] and the number of shares.
fn choose_components(shares: &[f64]) -> usize {
    let cap = shares.len().min(MAX_COMPONENTS);
    let mut total = 0.0;
    for (i, s) in shares.iter().take(cap).enumerate() {
        total += s;
        // A hair of tolerance, so that a share of exactly 0.8 computed as 0.7999.. counts.
        if total >= EXPLAINED_TARGET - 1e-12 {
            return i + 1;
        }
    }
    cap
}

/// Compares the synthetic table's variance along the real principal components with the
/// real table's (see the module documentation). `real` and `synthetic` are encoded against
/// `schema`; `rng` only chooses the rows of the scatter plot.
///
/// `None` when fewer than two features survive or either table has fewer than two rows.
pub fn structure(
    schema: &Schema,
    real: &Frame,
    synthetic: &Frame,
    rng: &mut Rng,
) -> Option<Structure> {
    debug_assert_eq!(schema.columns.len(), real.columns.len());
    let space = Space::fit(real);
    let d = space.dimension();
    if d < 2 || real.rows < 2 || synthetic.rows < 2 {
        return None;
    }
    let (real_cov, synthetic_cov) = (space.covariance(real), space.covariance(synthetic));
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let (real_total, synthetic_total) = (trace(&real_cov), trace(&synthetic_cov));
    let (values, vectors) = symmetric_eigen(&real_cov, d);
    let all_shares: Vec<f64> = values.iter().map(|w| w.max(0.0) / real_total).collect();
    let components = choose_components(&all_shares);
    let real_shares = all_shares[..components].to_vec();
    let synthetic_shares: Vec<f64> = vectors[..components]
        .iter()
        .map(|v| match synthetic_total > 0.0 {
            true => quadratic_form(&synthetic_cov, v) / synthetic_total,
            false => 0.0,
        })
        .collect();
    let (real_explained, synthetic_explained) =
        (real_shares.iter().sum::<f64>(), synthetic_shares.iter().sum::<f64>());
    let gap: f64 = real_shares.iter().zip(&synthetic_shares).map(|(r, s)| (r - s).abs()).sum();
    let similarity = (1.0 - gap / real_explained).clamp(0.0, 1.0);
    let axes = [vectors[0].as_slice(), vectors[1].as_slice()];
    let real_rows = sample_indices(real.rows, POINTS, rng);
    let synthetic_rows = sample_indices(synthetic.rows, POINTS, rng);
    Some(Structure {
        features: d,
        components,
        real_explained,
        synthetic_explained,
        real_shares,
        synthetic_shares,
        similarity,
        real_points: space.project(real, axes, &real_rows),
        synthetic_points: space.project(synthetic, axes, &synthetic_rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        crate::literal_table(names, rows)
    }

    fn encode(real: &Table, synthetic: &Table) -> (Schema, Frame, Frame) {
        let mut schema = Schema::infer(real, &["?".into()], &[]).unwrap();
        let r = schema.encode(real, "real").unwrap();
        let s = schema.encode(synthetic, "synthetic").unwrap();
        (schema, r, s)
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn jacobi_matches_numpy_eigh() {
        // numpy.linalg.eigh of this matrix (numpy 2.4.6; /tmp/corr/structure_ref.py), reversed to
        // descending order, each vector's largest-magnitude entry made positive.
        let a = [4., 1., -2., 2., 1., 2., 0., 1., -2., 0., 3., -2., 2., 1., -2., -1.];
        let (values, vectors) = symmetric_eigen(&a, 4);
        let expected =
            [6.844621107234965, 2.2685314064312423, 1.0843644637732166, -2.1975169774394243];
        assert_close(&values, &expected, 1e-12);
        let columns = [
            [0.7180459594506796, 0.2211529881551807, -0.5573513771375096, 0.3533564748939929],
            [0.20171109662094233, 0.7894499124874399, 0.5796341693167878, 0.01028099868633059],
            [0.6422600067660328, -0.5441878481946866, 0.5202218509386148, -0.14398227457619123],
            [-0.17670517062447652, -0.17810046990630077, 0.28766803431970117, 0.9242849167461132],
        ];
        for (v, e) in vectors.iter().zip(&columns) {
            assert_close(v, e, 1e-12);
        }
    }

    /// `V diag(w) V^T` rebuilt from the decomposition, and `V^T V`.
    fn check_decomposition(a: &[f64], d: usize) {
        let (w, v) = symmetric_eigen(a, d);
        assert!(w.windows(2).all(|p| p[0] >= p[1]), "descending {w:?}");
        let scale = a.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for i in 0..d {
            for j in 0..d {
                let rebuilt: f64 = (0..d).map(|k| w[k] * v[k][i] * v[k][j]).sum();
                assert!((rebuilt - a[i * d + j]).abs() < 1e-12 * scale * d as f64, "A[{i}][{j}]");
                let dot: f64 = (0..d).map(|k| v[i][k] * v[j][k]).sum();
                assert!((dot - (i == j) as u8 as f64).abs() < 1e-12, "V^T V [{i}][{j}]");
            }
        }
    }

    #[test]
    fn jacobi_rebuilds_random_and_degenerate_matrices() {
        let mut rng = Rng::new(3, 0);
        let d = 40;
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                let x = rng.uniform() * 2.0 - 1.0;
                (a[i * d + j], a[j * d + i]) = (x, x);
            }
        }
        check_decomposition(&a, d);
        // All ones (5 x 5): eigenvalues 5, 0, 0, 0, 0 and the first vector (1, ..., 1) / sqrt 5.
        let ones = vec![1.0; 25];
        check_decomposition(&ones, 5);
        let (w, v) = symmetric_eigen(&ones, 5);
        assert_close(&w, &[5.0, 0.0, 0.0, 0.0, 0.0], 1e-12);
        assert_close(&v[0], &[1.0 / 5f64.sqrt(); 5], 1e-12);
        // Already diagonal: nothing to rotate.
        assert_eq!(symmetric_eigen(&[1.0, 0.0, 0.0, 3.0], 2).0, [3.0, 1.0]);
    }

    #[test]
    fn two_proportional_columns_against_an_uncorrelated_synthetic_pair() {
        // Real y = 2x + 0.5 (fractions keep the columns from looking like identifiers): both
        // z-scores are (-3, -1, 1, 3) / sqrt 5, covariance [[1, 1], [1, 1]], eigenvalues 2 and
        // 0, so k = 1 explains everything, along v1 = (1, 1) / sqrt 2.
        let real = table(
            &["x", "y"],
            &[&["0.5", "1.5"], &["1.5", "3.5"], &["2.5", "5.5"], &["3.5", "7.5"]],
        );
        // Synthetic z-scores (real mean and std) are +-1.5 / sqrt 1.25 = +-sqrt 1.8 for both,
        // uncorrelated: covariance 1.8 I, so v1 carries (0.9 + 0.9) / 3.6 = 0.5 of it.
        let synthetic = table(
            &["x", "y"],
            &[&["0.5", "1.5"], &["3.5", "1.5"], &["0.5", "7.5"], &["3.5", "7.5"]],
        );
        let (schema, r, s) = encode(&real, &synthetic);
        let result = structure(&schema, &r, &s, &mut Rng::new(1, 0)).unwrap();
        assert_eq!((result.features, result.components), (2, 1));
        assert_close(&result.real_shares, &[1.0], 1e-12);
        assert_close(&result.synthetic_shares, &[0.5], 1e-12);
        // similarity = 1 - |1 - 0.5| / 1.
        assert!((result.similarity - 0.5).abs() < 1e-12);
        // Points: real row 0 is sqrt 1.8 * (-1, -1), on v1 -sqrt 1.8 * sqrt 2 = -sqrt 3.6 and 0
        // on v2 = (1, -1) / sqrt 2; synthetic row 1, sqrt 1.8 * (1, -1), is (0, sqrt 3.6).
        let expected = [-(3.6f64.sqrt()), -(0.4f64.sqrt()), 0.4f64.sqrt(), 3.6f64.sqrt()];
        for (p, e) in result.real_points.iter().zip(expected) {
            assert_close(p, &[e, 0.0], 1e-12);
        }
        assert_close(&result.synthetic_points[1], &[0.0, 3.6f64.sqrt()], 1e-12);
        // The real table against itself: same shares, similarity 1.
        let same = structure(&schema, &r, &r, &mut Rng::new(1, 0)).unwrap();
        assert_close(&same.real_shares, &same.synthetic_shares, 1e-12);
        assert!((same.similarity - 1.0).abs() < 1e-12);
        // One feature, or one row, is not enough.
        let one = table(&["x"], &[&["0.5"], &["1.5"]]);
        let (schema, r, s) = encode(&one, &one);
        assert_eq!(structure(&schema, &r, &s, &mut Rng::new(1, 0)), None);
    }

    #[test]
    fn one_hot_features_keep_top_levels_other_and_missing() {
        // Column c: level "l{i}" appears 20 - i times (i = 0..12), plus 3 missing rows, so the
        // top 10 levels, "other" (l10, l11) and "missing" all vary: 12 features. Column k has
        // three levels and no missing value: 3 features ("other" and "missing" never occur).
        // Column n is constant: dropped. Total 15.
        let mut rows: Vec<Vec<String>> = Vec::new();
        for i in 0..12 {
            for _ in 0..20 - i {
                rows.push(vec![format!("l{i}"), format!("k{}", rows.len() % 3), "1".into()]);
            }
        }
        for _ in 0..3 {
            rows.push(vec!["?".into(), "k0".into(), "1".into()]);
        }
        let names = vec!["c".to_string(), "k".to_string(), "n".to_string()];
        let real = Table::new(names.clone(), rows).unwrap();
        let unseen = Table::new(names, vec![vec!["new".into(), "k1".into(), "1".into()]]).unwrap();
        let (_, r, s) = encode(&real, &unseen);
        let space = Space::fit(&r);
        assert_eq!(space.dimension(), 15);
        let mut row = Vec::new();
        // A level first seen in the synthetic table is "other" (feature 10); k1 is the second
        // feature of column k (12 + 1).
        space.raw_row(&s, 0, &mut row);
        assert_eq!(row, [(10, 1.0), (13, 1.0)]);
        // Missing is feature 11; the "other" indicator has real mean (10 + 9) / 177 (the
        // rows: 20 + 19 + ... + 9 = 174 with a level, and 3 missing).
        space.raw_row(&r, r.rows - 1, &mut row);
        assert_eq!(row[0], (11, 1.0));
        assert!((space.offset[10] - 19.0 / 177.0).abs() < 1e-15);
    }

    fn adult() -> (Schema, Frame, Frame) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let text = std::fs::read_to_string(path).expect("data/adult.csv");
        let table = Table::from_csv_str(&text, Some(b',')).unwrap();
        let real = Table::new(table.names().to_vec(), table.rows()[..2000].to_vec()).unwrap();
        let mut synthetic = table.rows()[2000..4000].to_vec();
        for name in ["age", "education", "sex"] {
            let c = table.names().iter().position(|n| n == name).unwrap();
            let column: Vec<String> = synthetic.iter().rev().map(|r| r[c].clone()).collect();
            synthetic.iter_mut().zip(column).for_each(|(r, v)| r[c] = v);
        }
        let synthetic = Table::new(table.names().to_vec(), synthetic).unwrap();
        encode(&real, &synthetic)
    }

    #[test]
    fn adult_matches_numpy() {
        // /tmp/corr/structure_ref.py (numpy 2.4.6): the same features built in numpy from rows
        // 0..2000 ("real") and 2000..4000 of data/adult.csv with the age, education and sex
        // columns reversed ("synthetic"), np.cov(bias=True), np.linalg.eigh.
        let (schema, r, s) = adult();
        let result = structure(&schema, &r, &s, &mut Rng::new(5, 0)).unwrap();
        assert_eq!((result.features, result.components), (71, 10));
        let real = [
            0.0731687404102948,
            0.04141048347346821,
            0.03763423579657365,
            0.03472921818459302,
            0.03336645578944034,
            0.02698158803507396,
            0.02615656278522902,
            0.02298411479810974,
            0.02158091555329497,
            0.02087976909614295,
        ];
        let synthetic = [
            0.05209830113607657,
            0.02537271515465775,
            0.02686651545596772,
            0.03383834264701815,
            0.02843657161651408,
            0.02354379089239704,
            0.02301989685417171,
            0.01988980025380471,
            0.01836840951187345,
            0.01705044047986094,
        ];
        assert_close(&result.real_shares, &real, 1e-12);
        assert_close(&result.synthetic_shares, &synthetic, 1e-12);
        assert!((result.real_explained - 0.338892083922221).abs() < 1e-12);
        assert!((result.synthetic_explained - 0.268484784002342).abs() < 1e-12);
        assert!((result.similarity - 0.792242713063673).abs() < 1e-12);
        assert_eq!((result.real_points.len(), result.synthetic_points.len()), (500, 500));
        // Rows 0..3 on components 1 and 2 (the same sign convention in numpy).
        let space = Space::fit(&r);
        let (_, vectors) = symmetric_eigen(&space.covariance(&r), space.dimension());
        let axes = [vectors[0].as_slice(), vectors[1].as_slice()];
        let real_points = [
            [-0.6327295085649264, 1.785565913953234],
            [2.2692484997713316, 0.1555187960391575],
            [-1.3545873866580025, -1.0149695779460544],
        ];
        let synthetic_points = [
            [-1.3707845458618941, -1.8730143084124804],
            [-1.2506996411784022, -1.409398581439774],
            [1.604381818297476, -2.2419466102167567],
        ];
        for (frame, expected) in [(&r, real_points), (&s, synthetic_points)] {
            for (p, e) in space.project(frame, axes, &[0, 1, 2]).iter().zip(&expected) {
                assert_close(p, e, 1e-10);
            }
        }
    }

    /// Times the module on the whole of Adult against a copy whose columns are shuffled
    /// independently, and Jacobi at d = 200: `cargo test --release -p doppel-report --lib
    /// structure -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn time_on_adult() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let table =
            Table::from_csv_str(&std::fs::read_to_string(path).unwrap(), Some(b',')).unwrap();
        let (schema, real, _) = encode(&table, &table);
        let mut synthetic = real.clone();
        let mut rng = Rng::new(1, 0);
        for c in &mut synthetic.columns {
            match c {
                Values::Numeric(v) => rng.shuffle(v),
                Values::Categorical(v) => rng.shuffle(v),
            }
        }
        // Best of 5: the machine is shared.
        let best = |f: &mut dyn FnMut()| {
            (0..5)
                .map(|_| {
                    let start = std::time::Instant::now();
                    f();
                    start.elapsed()
                })
                .min()
                .unwrap()
        };
        let mut result = None;
        let total = best(&mut || result = structure(&schema, &real, &synthetic, &mut rng));
        let result = result.unwrap();
        let space = Space::fit(&real);
        let covariance = best(&mut || drop(space.covariance(&real)));
        let c = space.covariance(&real);
        let eigen = best(&mut || drop(symmetric_eigen(&c, space.dimension())));
        let (r, s) = (result.real_explained, result.synthetic_explained);
        println!(
            "structure on Adult: {total:?} (one covariance {covariance:?}, eigen {eigen:?}), \
             d = {}, real {r}, synthetic {s}",
            result.features
        );
        assert!(result.similarity < 0.9);
        let d = 200;
        let a: Vec<f64> =
            (0..d * d).map(|k| ((k / d) as f64 - (k % d) as f64).abs().sqrt()).collect();
        let eigen = best(&mut || drop(symmetric_eigen(&a, d)));
        println!("Jacobi, d = {d}: {eigen:?}");
    }
}
