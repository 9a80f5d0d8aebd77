//! Pairwise associations between columns, in the real and in the synthetic table.
//!
//! Each pair of kept columns gets one measure, chosen by the columns' kinds:
//!
//! - numeric with numeric: Pearson's r (signed, in `[-1, 1]`) over the rows where both are
//!   present;
//! - categorical with categorical: Cramér's V without bias correction (Cramér 1946,
//!   *Mathematical Methods of Statistics*; as `scipy.stats.contingency.association(...,
//!   method="cramer", correction=False)`), `V = sqrt(chi2 / (n * (min(r, c) - 1)))`, over the
//!   contingency table of the levels present in the table, with "missing" a level of its own;
//! - numeric with categorical: the correlation ratio `eta = sqrt(SS_between / SS_total)`
//!   (K. Pearson 1905, "On the general theory of skew correlation and non-linear regression")
//!   of the numbers grouped by category, "missing" being a group of
//!   its own and rows with a missing number dropped.
//!
//! A measure is `None` where it is undefined: fewer than two rows, a constant number, a single
//! level or group. The two categorical measures lie in `[0, 1]`. The summary is the mean
//! absolute difference between the real and the synthetic matrix over pairs defined in both.

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Schema, Values, MISSING};
use crate::moments::unit_scale;

/// Contingency tables up to this many cells are counted in a flat array; larger ones (two
/// columns with thousands of levels each) by sorting the rows' cell keys, which needs no more
/// memory than the rows themselves.
const FLAT_CELLS: usize = 1 << 20;

/// The association measure of a column pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Pearson's r, two numeric columns.
    Pearson,
    /// Cramér's V, two categorical columns.
    CramersV,
    /// The correlation ratio eta, a numeric and a categorical column.
    CorrelationRatio,
}

/// Association matrices of the real and the synthetic table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlations {
    /// Names of the kept schema columns, in schema order.
    pub names: Vec<String>,
    /// `measures[i][j]`: the measure used for columns `i` and `j` (the diagonal holds the
    /// measure of a column with itself).
    pub measures: Vec<Vec<Measure>>,
    /// Association between columns `i` and `j` of the real table (symmetric, diagonal
    /// `Some(1.0)`); `None` when undefined.
    pub real: Vec<Vec<Option<f64>>>,
    /// The same for the synthetic table.
    pub synthetic: Vec<Vec<Option<f64>>>,
    /// Pairs `i < j` defined in both tables.
    pub compared_pairs: usize,
    /// Mean `|real - synthetic|` over the compared pairs (0 when there are none).
    pub mean_abs_difference: f64,
}

/// A column ready for the measures: numbers as they are, categories as dense codes.
enum Column<'a> {
    Numeric(&'a [f64]),
    /// Codes `0..levels`, numbered in order of first appearance; only levels (missing
    /// included) that occur in this table get a code.
    Categorical {
        codes: Vec<u32>,
        levels: usize,
    },
}

fn prepare(values: &Values) -> Column<'_> {
    match values {
        Values::Numeric(x) => Column::Numeric(x),
        Values::Categorical(raw) => {
            let mut dense: Vec<u32> = Vec::new();
            let mut missing = None;
            let mut levels = 0u32;
            let mut fresh = || {
                levels += 1;
                levels - 1
            };
            let codes = raw
                .iter()
                .map(|&c| {
                    if c == MISSING {
                        return *missing.get_or_insert_with(&mut fresh);
                    }
                    let c = c as usize;
                    if c >= dense.len() {
                        dense.resize(c + 1, MISSING);
                    }
                    if dense[c] == MISSING {
                        dense[c] = fresh();
                    }
                    dense[c]
                })
                .collect();
            Column::Categorical { codes, levels: levels as usize }
        }
    }
}

fn measure(a: &Values, b: &Values) -> Measure {
    match (a, b) {
        (Values::Numeric(_), Values::Numeric(_)) => Measure::Pearson,
        (Values::Categorical(_), Values::Categorical(_)) => Measure::CramersV,
        _ => Measure::CorrelationRatio,
    }
}

fn association(a: &Column, b: &Column) -> Option<f64> {
    match (a, b) {
        (Column::Numeric(x), Column::Numeric(y)) => pearson(x, y),
        (
            Column::Categorical { codes: a, levels: r },
            Column::Categorical { codes: b, levels: c },
        ) => cramers_v(a, *r, b, *c, FLAT_CELLS),
        (Column::Numeric(x), Column::Categorical { codes, levels })
        | (Column::Categorical { codes, levels }, Column::Numeric(x)) => {
            correlation_ratio(x, codes, *levels)
        }
    }
}

/// Pearson's r over rows where both numbers are present, by two passes (means first, then
/// centred sums of products) so that large offsets such as Adult's fnlwgt (~1e5) lose no
/// precision. `None` with fewer than two such rows or when either side is constant.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    // r does not change when either side is multiplied by a constant: near ±1e308 the sums
    // below would overflow (see `moments`).
    let (kx, ky) = (unit_scale(x.iter().copied()), unit_scale(y.iter().copied()));
    let pairs = || {
        x.iter()
            .zip(y)
            .filter(|(a, b)| !a.is_nan() && !b.is_nan())
            .map(move |(a, b)| (a * kx, b * ky))
    };
    let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
    let mut first = None;
    let (mut x_varies, mut y_varies) = (false, false);
    for (a, b) in pairs() {
        let (a0, b0) = *first.get_or_insert((a, b));
        x_varies |= a != a0;
        y_varies |= b != b0;
        n += 1;
        sx += a;
        sy += b;
    }
    if n < 2 || !x_varies || !y_varies {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (a, b) in pairs() {
        let (dx, dy) = (a - mx, b - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    // Two square roots: sxx * syy could overflow for huge values.
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    // An infinite value in the data leaves no figure (NaN.clamp would stay NaN).
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}

/// Cramér's V without bias correction of two code columns (`a` in `0..r`, `b` in `0..c`,
/// every code occurring). Pearson's chi2 is `sum (O - E)^2 / E` with `E = R_i C_j / n`, which
/// expands to `n * (sum O^2 / (R_i C_j) - 1)`: only non-empty cells contribute, so the table can
/// be counted flat (`r * c <= flat_cells`) or, for huge tables, as sorted cell keys.
/// `None` when `min(r, c) < 2`.
fn cramers_v(a: &[u32], r: usize, b: &[u32], c: usize, flat_cells: usize) -> Option<f64> {
    if r.min(c) < 2 || a.is_empty() {
        return None;
    }
    let n = a.len() as f64;
    let (mut rows, mut cols) = (vec![0u32; r], vec![0u32; c]);
    for (&i, &j) in a.iter().zip(b) {
        rows[i as usize] += 1;
        cols[j as usize] += 1;
    }
    let term = |i: usize, j: usize, o: u32| {
        let o = o as f64;
        o * o / (rows[i] as f64 * cols[j] as f64)
    };
    let mut sum = 0.0;
    if r * c <= flat_cells {
        let mut cells = vec![0u32; r * c];
        for (&i, &j) in a.iter().zip(b) {
            cells[i as usize * c + j as usize] += 1;
        }
        for (k, &o) in cells.iter().enumerate().filter(|(_, &o)| o > 0) {
            sum += term(k / c, k % c, o);
        }
    } else {
        let mut keys: Vec<u64> =
            a.iter().zip(b).map(|(&i, &j)| (i as u64) << 32 | j as u64).collect();
        keys.sort_unstable();
        for run in keys.chunk_by(|x, y| x == y) {
            let (i, j) = ((run[0] >> 32) as usize, (run[0] & 0xffff_ffff) as usize);
            sum += term(i, j, run.len() as u32);
        }
    }
    let chi2 = (n * (sum - 1.0)).max(0.0);
    Some((chi2 / (n * (r.min(c) - 1) as f64)).sqrt().min(1.0))
}

/// The correlation ratio of numbers `x` grouped by codes `g` (in `0..groups`): rows with a
/// missing number are dropped, then `SS_total = sum (x - mean)^2` and `SS_between = sum_g
/// n_g (mean_g - mean)^2 = sum_g S_g^2 / n_g`, with `S_g` the group's sum of deviations from
/// the overall mean (two passes, for precision). `None` when the numbers are constant or fall
/// in fewer than two groups.
fn correlation_ratio(x: &[f64], g: &[u32], groups: usize) -> Option<f64> {
    // Scale-free too (see `pearson`).
    let scale = unit_scale(x.iter().copied());
    let present = || x.iter().zip(g).filter(|(v, _)| !v.is_nan()).map(move |(v, g)| (v * scale, g));
    let (mut n, mut sum) = (0usize, 0.0);
    let mut first = None;
    let mut varies = false;
    for (v, _) in present() {
        varies |= v != *first.get_or_insert(v);
        n += 1;
        sum += v;
    }
    if !varies {
        return None;
    }
    let mean = sum / n as f64;
    let (mut sums, mut counts) = (vec![0.0; groups], vec![0usize; groups]);
    let mut total = 0.0;
    for (v, &k) in present() {
        let d = v - mean;
        total += d * d;
        sums[k as usize] += d;
        counts[k as usize] += 1;
    }
    if counts.iter().filter(|&&k| k > 0).count() < 2 {
        return None;
    }
    let between: f64 =
        sums.iter().zip(&counts).filter(|(_, &k)| k > 0).map(|(s, &k)| s * s / k as f64).sum();
    // NaN (an infinite value in the data) is no figure; `NaN.min(1.0)` would be 1.
    let eta = (between / total).sqrt();
    eta.is_finite().then(|| eta.min(1.0))
}

/// The association matrix of one frame (symmetric, diagonal `Some(1.0)`).
fn matrix(frame: &Frame) -> Vec<Vec<Option<f64>>> {
    let columns: Vec<Column> = frame.columns.iter().map(prepare).collect();
    let k = columns.len();
    let mut m = vec![vec![None; k]; k];
    for i in 0..k {
        m[i][i] = Some(1.0);
        for j in i + 1..k {
            let value = association(&columns[i], &columns[j]);
            m[i][j] = value;
            m[j][i] = value;
        }
    }
    m
}

/// Associations between every pair of kept columns, in `real` and in `synthetic` (frames
/// encoded against `schema`; see the module documentation for the measures).
///
/// Cost: one or two passes over the rows per pair and table, about 105 pairs x 2 x 32,561
/// rows on Adult (15 columns), plus one contingency table of at most `r * c` counts per pair
/// of categorical columns.
pub fn correlations(schema: &Schema, real: &Frame, synthetic: &Frame) -> Correlations {
    let names: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let measures =
        real.columns.iter().map(|a| real.columns.iter().map(|b| measure(a, b)).collect()).collect();
    let (real, synthetic) = (matrix(real), matrix(synthetic));
    let (mut compared_pairs, mut total) = (0usize, 0.0);
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            if let (Some(r), Some(s)) = (real[i][j], synthetic[i][j]) {
                compared_pairs += 1;
                total += (r - s).abs();
            }
        }
    }
    let mean_abs_difference = if compared_pairs == 0 { 0.0 } else { total / compared_pairs as f64 };
    Correlations { names, measures, real, synthetic, compared_pairs, mean_abs_difference }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    const TOL: f64 = 1e-12;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < TOL)
    }

    fn dense(values: Values) -> (Vec<u32>, usize) {
        match prepare(&values) {
            Column::Categorical { codes, levels } => (codes, levels),
            Column::Numeric(_) => unreachable!(),
        }
    }

    #[test]
    fn pearson_matches_hand_arithmetic_and_drops_missing_rows() {
        // x = 1 2 3 4, y = 2 4 5 9: means 2.5 and 5, deviations (-1.5 -0.5 0.5 1.5) and
        // (-3 -1 0 4); Sxy = 4.5 + 0.5 + 0 + 6 = 11, Sxx = 5, Syy = 26, r = 11 / sqrt(130).
        // The fifth and sixth rows have a missing number and must not count.
        let x = [1.0, 2.0, 3.0, 4.0, f64::NAN, 100.0];
        let y = [2.0, 4.0, 5.0, 9.0, 7.0, f64::NAN];
        assert!(close(pearson(&x, &y), 11.0 / 130f64.sqrt()));
        let negated: Vec<f64> = y.iter().map(|v| -v).collect();
        assert!(close(pearson(&x, &negated), -11.0 / 130f64.sqrt()));
        // A constant side, or fewer than two complete rows, is undefined.
        assert_eq!(pearson(&x, &[3.0, 3.0, 3.0, 3.0, 1.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, f64::NAN], &[f64::NAN, 2.0]), None);
        // A huge offset (fnlwgt-like) changes nothing: r is shift-invariant.
        let shifted: Vec<f64> = x.iter().map(|v| v + 1e9).collect();
        assert!(close(pearson(&shifted, &y), 11.0 / 130f64.sqrt()));
    }

    #[test]
    fn cramers_v_matches_hand_arithmetic() {
        // Table [[3, 1], [1, 3]], n = 8: every E = 4 * 4 / 8 = 2, chi2 = 4 * (1^2 / 2) = 2,
        // V = sqrt(2 / (8 * 1)) = 0.5.
        let a = [0, 0, 0, 0, 1, 1, 1, 1];
        let b = [0, 0, 0, 1, 0, 1, 1, 1];
        assert!(close(cramers_v(&a, 2, &b, 2, FLAT_CELLS), 0.5));
        // Missing is a level of its own and an absent level (code 5) is dropped: a = 0 0 0 M,
        // b = 5 7 5 7 gives the table [[2, 1], [0, 1]], R = (3, 1), C = (2, 2), E = 1.5 1.5
        // 0.5 0.5, chi2 = 0.25/1.5 * 2 + 0.25/0.5 * 2 = 4/3, V = sqrt(4/3 / 4) = sqrt(1/3).
        let (a, r) = dense(Values::Categorical(vec![0, 0, 0, MISSING]));
        let (b, c) = dense(Values::Categorical(vec![5, 7, 5, 7]));
        assert_eq!((r, c), (2, 2));
        assert!(close(cramers_v(&a, r, &b, c, FLAT_CELLS), (1.0f64 / 3.0).sqrt()));
        // The sorted-key path for huge tables agrees with the flat count.
        assert!(close(cramers_v(&a, r, &b, c, 0), (1.0f64 / 3.0).sqrt()));
        // A single level on one side leaves V undefined.
        assert_eq!(cramers_v(&[0, 0, 0], 1, &[0, 1, 2], 3, FLAT_CELLS), None);
    }

    #[test]
    fn correlation_ratio_matches_hand_arithmetic() {
        // x = 1..6 in groups {1,2} {3,4} {5,6} (the middle group is "missing"): mean 3.5, group
        // means 1.5 3.5 5.5, SS_between = 2 * (4 + 0 + 4) = 16, SS_total = 2 * (6.25 + 2.25 +
        // 0.25) = 17.5, eta = sqrt(16 / 17.5). The last row has no number and is dropped.
        let (g, levels) = dense(Values::Categorical(vec![0, 0, MISSING, MISSING, 2, 2, 0]));
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, f64::NAN];
        assert!(close(correlation_ratio(&x, &g, levels), (16.0f64 / 17.5).sqrt()));
        // Constant numbers, or a single group, are undefined.
        assert_eq!(correlation_ratio(&[2.0; 7], &g, levels), None);
        assert_eq!(correlation_ratio(&x[..2], &g[..2], levels), None);
    }

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        crate::literal_table(names, rows)
    }

    #[test]
    fn matrices_are_symmetric_with_measures_and_a_mean_difference() {
        let real = table(
            &["x", "y", "c"],
            &[
                &["0.5", "2.5", "a"],
                &["1.5", "4.5", "a"],
                &["2.5", "5.5", "b"],
                &["3.5", "9.5", "b"],
            ],
        );
        let synthetic = table(
            &["x", "y", "c"],
            &[
                &["0.5", "9.5", "a"],
                &["1.5", "5.5", "a"],
                &["2.5", "4.5", "a"],
                &["3.5", "2.5", "a"],
            ],
        );
        let mut schema = Schema::infer(&real, &["?".into()], &[]).unwrap();
        let (r, s) =
            (schema.encode(&real, "real").unwrap(), schema.encode(&synthetic, "s").unwrap());
        let result = correlations(&schema, &r, &s);
        assert_eq!(result.names, ["x", "y", "c"]);
        assert_eq!(result.measures[0][1], Measure::Pearson);
        assert_eq!(result.measures[2][0], Measure::CorrelationRatio);
        assert_eq!(result.measures[2][2], Measure::CramersV);
        for m in [&result.real, &result.synthetic] {
            assert!((0..3).all(|i| m[i][i] == Some(1.0)));
            assert!((0..3).all(|i| (0..3).all(|j| m[i][j] == m[j][i])));
        }
        // Fractions keep the columns from looking like identifiers; the shift by 0.5 changes
        // no measure. Real: r(x, y) = 11 / sqrt(130) (as above). Synthetic y is the real y
        // reversed, so r = -11 / sqrt(130). The synthetic c has one level, so both eta are
        // undefined and only the pair (x, y) is compared: |diff| = 22 / sqrt(130).
        assert!(close(result.real[0][1], 11.0 / 130f64.sqrt()));
        assert!(close(result.synthetic[0][1], -11.0 / 130f64.sqrt()));
        assert_eq!(result.synthetic[0][2], None);
        assert_eq!(result.compared_pairs, 1);
        assert!((result.mean_abs_difference - 22.0 / 130f64.sqrt()).abs() < TOL);
        // eta of x by c: groups {0.5, 1.5} {2.5, 3.5}, means 1 3 around 2: SS_between = 4,
        // SS_total = 5, eta = sqrt(0.8).
        assert!(close(result.real[0][2], 0.8f64.sqrt()));
    }

    fn adult() -> (Schema, Table) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let text = std::fs::read_to_string(path).expect("data/adult.csv");
        let table = Table::from_csv_str(&text, Some(b',')).unwrap();
        let schema = Schema::infer(&table, &["?".into()], &[]).unwrap();
        (schema, table)
    }

    fn slice(table: &Table, rows: std::ops::Range<usize>) -> Table {
        Table::new(table.names().to_vec(), table.rows()[rows].to_vec()).unwrap()
    }

    #[test]
    fn adult_matches_scipy() {
        // Expected values from /tmp/corr/corr_ref.py (numpy 2.4.6, scipy 1.17.1) on rows
        // 0..300 ("real") and 300..600 ("synthetic") of data/adult.csv, '?' kept as a level:
        // scipy.stats.pearsonr(x, y).statistic; scipy.stats.contingency.association(
        // crosstab(a, b).count, method="cramer", correction=False); eta in numpy as
        // sqrt(sum_g n_g (mean_g - mean)^2 / sum (x - mean)^2); the mean over all 105 pairs of
        // |real - synthetic|.
        let (mut schema, table) = adult();
        let real = schema.encode(&slice(&table, 0..300), "real").unwrap();
        let synthetic = schema.encode(&slice(&table, 300..600), "synthetic").unwrap();
        let result = correlations(&schema, &real, &synthetic);
        let expected = [
            ("age", "fnlwgt", -0.086582733607016, -0.090819027877467),
            ("fnlwgt", "hours-per-week", -0.016784480516819, -0.042613034182522),
            ("capital-gain", "education-num", 0.032408997567483, 0.236029929397960),
            ("workclass", "education", 0.282269350865764, 0.205713945346714),
            ("occupation", "native-country", 0.258608272476007, 0.210847347903874),
            ("sex", "income-per-year", 0.169283279701850, 0.167645693959863),
            ("fnlwgt", "occupation", 0.167444814130616, 0.135534645159627),
            ("workclass", "age", 0.226767721618334, 0.235861062196379),
            ("hours-per-week", "native-country", 0.290236533490797, 0.196106214297992),
        ];
        for (a, b, r, s) in expected {
            let (i, j) = (schema.position(a).unwrap(), schema.position(b).unwrap());
            assert!((result.real[i][j].unwrap() - r).abs() < 1e-12, "{a} {b} real");
            assert!((result.synthetic[i][j].unwrap() - s).abs() < 1e-12, "{a} {b} synthetic");
        }
        assert_eq!(result.compared_pairs, 105);
        assert!((result.mean_abs_difference - 0.056078716944725).abs() < 1e-12);
        // Both contingency paths agree on every categorical pair of the full table.
        let full = schema.encode(&table, "real").unwrap();
        let columns: Vec<Column> = full.columns.iter().map(prepare).collect();
        for (a, b) in columns.iter().zip(columns.iter().skip(1)) {
            if let (
                Column::Categorical { codes: a, levels: r },
                Column::Categorical { codes: b, levels: c },
            ) = (a, b)
            {
                let (flat, sorted) =
                    (cramers_v(a, *r, b, *c, FLAT_CELLS), cramers_v(a, *r, b, *c, 0));
                assert!((flat.unwrap() - sorted.unwrap()).abs() < 1e-12);
            }
        }
    }

    /// Times the whole module on Adult against a copy whose columns are shuffled
    /// independently: `cargo test --release -p doppel-report --lib correlation -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn time_on_adult() {
        let (mut schema, table) = adult();
        let real = schema.encode(&table, "real").unwrap();
        let mut synthetic = real.clone();
        let mut rng = crate::sample::Rng::new(1, 0);
        for c in &mut synthetic.columns {
            match c {
                Values::Numeric(v) => rng.shuffle(v),
                Values::Categorical(v) => rng.shuffle(v),
            }
        }
        // Best of 5: the machine is shared.
        let mut result = None;
        let elapsed = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                result = Some(correlations(&schema, &real, &synthetic));
                start.elapsed()
            })
            .min()
            .unwrap();
        let result = result.unwrap();
        println!("correlations on Adult: {elapsed:?}, mean |diff| {}", result.mean_abs_difference);
        assert!(result.mean_abs_difference > 0.05);
    }
}
