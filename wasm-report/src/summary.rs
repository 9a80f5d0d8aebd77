//! Per-column summaries of one encoded table: counts, missing share, distinct values, and
//! either moments and quantiles (numbers) or the most frequent categories.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Kind, Schema, Values, MISSING};
use crate::moments::{scaled_mean_std, unit_scale};

/// The probabilities of the quantiles reported for numeric columns.
pub const QUANTILES: [f64; 7] = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0];

/// Most frequent categories listed per column.
pub const TOP_CATEGORIES: usize = 10;

/// One column of one table, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows, missing cells included.
    pub count: usize,
    /// Share of rows whose cell is missing.
    pub missing_share: f64,
    /// Distinct non-missing values.
    pub distinct: usize,
    /// Mean of the present numbers (numeric columns with a present value).
    pub mean: Option<f64>,
    /// Sample standard deviation (n - 1 denominator) of the present numbers; `None` with fewer
    /// than two.
    pub std: Option<f64>,
    /// `(p, value)` for each of [`QUANTILES`]: the inverse-CDF quantile `sorted[ceil(p n) - 1]`
    /// (the minimum for `p = 0`). Empty for categorical columns.
    pub quantiles: Vec<(f64, f64)>,
    /// The most frequent values with their share of all rows, most frequent first (ties by
    /// text). Empty for numeric columns.
    pub top: Vec<(String, f64)>,
}

/// A column summarised in the real and the synthetic table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// How the column was read.
    pub kind: Kind,
    /// The date format of a datetime column (whose figures are seconds since 1970-01-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The real (training) table.
    pub real: Summary,
    /// The synthetic table.
    pub synthetic: Summary,
}

/// Summarises every schema column of `real` and `synthetic`.
pub fn summaries(schema: &Schema, real: &Frame, synthetic: &Frame) -> Vec<ColumnSummary> {
    schema
        .columns
        .iter()
        .enumerate()
        .map(|(c, spec)| ColumnSummary {
            name: spec.name.clone(),
            kind: spec.kind,
            format: spec.format.map(String::from),
            real: summarise(&real.columns[c], &spec.levels),
            synthetic: summarise(&synthetic.columns[c], &spec.levels),
        })
        .collect()
}

/// Summarises one encoded column; `levels` names categorical codes.
pub fn summarise(values: &Values, levels: &[String]) -> Summary {
    match values {
        Values::Numeric(numbers) => numeric(numbers),
        Values::Categorical(codes) => categorical(codes, levels),
    }
}

fn numeric(numbers: &[f64]) -> Summary {
    let mut present: Vec<f64> = numbers.iter().copied().filter(|x| !x.is_nan()).collect();
    present.sort_by(f64::total_cmp);
    let n = present.len();
    let distinct = present.windows(2).filter(|w| w[0] != w[1]).count() + (n > 0) as usize;
    // Two-pass variance (subtracting the mean first keeps precision for large values), on
    // values scaled so that sums near the f64 limits do not overflow; a figure that is not
    // finite (e.g. a spread beyond f64::MAX) is left out.
    let scale = unit_scale(present.iter().copied());
    let finite = |v: f64| v.is_finite().then_some(v);
    let mean = scaled_mean_std(&present, scale, 0).and_then(|(m, _)| finite(m / scale));
    let std = scaled_mean_std(&present, scale, 1).and_then(|(_, s)| finite(s / scale));
    let quantiles = if n == 0 {
        Vec::new()
    } else {
        let at = |p: f64| present[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        QUANTILES.iter().map(|&p| (p, at(p))).collect()
    };
    Summary {
        count: numbers.len(),
        missing_share: share(numbers.len() - n, numbers.len()),
        distinct,
        mean,
        std,
        quantiles,
        top: Vec::new(),
    }
}

fn categorical(codes: &[u32], levels: &[String]) -> Summary {
    let mut counts = vec![0usize; levels.len()];
    let mut missing = 0;
    for &code in codes {
        match code {
            MISSING => missing += 1,
            c => counts[c as usize] += 1,
        }
    }
    let mut ranked: Vec<(usize, usize)> =
        counts.iter().copied().enumerate().filter(|&(_, k)| k > 0).collect();
    let distinct = ranked.len();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(levels[a.0].cmp(&levels[b.0])));
    let top = ranked
        .iter()
        .take(TOP_CATEGORIES)
        .map(|&(c, k)| (levels[c].clone(), share(k, codes.len())))
        .collect();
    Summary {
        count: codes.len(),
        missing_share: share(missing, codes.len()),
        distinct,
        mean: None,
        std: None,
        quantiles: Vec::new(),
        top,
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Distinct rows of a frame (numbers compared by bit pattern), for tests and callers that
/// want to know how repetitive a table is.
pub fn distinct_rows(frame: &Frame) -> usize {
    let mut seen = HashSet::new();
    for row in 0..frame.rows {
        let key: Vec<u64> = frame
            .columns
            .iter()
            .map(|c| match c {
                Values::Numeric(v) => v[row].to_bits(),
                Values::Categorical(v) => v[row] as u64,
            })
            .collect();
        seen.insert(key);
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    fn frames(real: &[[&str; 2]], synthetic: &[[&str; 2]]) -> Vec<ColumnSummary> {
        let t = |rows: &[[&str; 2]]| {
            let rows = rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
            Table::new(vec!["n".into(), "c".into()], rows).unwrap()
        };
        let (real, synthetic) = (t(real), t(synthetic));
        let mut schema = Schema::infer(&real, &["".into()], &[]).unwrap();
        let r = schema.encode(&real, "real").unwrap();
        let s = schema.encode(&synthetic, "synthetic").unwrap();
        summaries(&schema, &r, &s)
    }

    #[test]
    fn numbers_by_hand() {
        let real = [["1", "a"], ["2", "a"], ["2", "b"], ["", "b"], ["5", ""]];
        let summary = frames(&real, &real);
        let n = &summary[0].real;
        assert_eq!((n.count, n.distinct), (5, 3));
        assert!((n.missing_share - 0.2).abs() < 1e-12);
        // Mean (1 + 2 + 2 + 5) / 4 = 2.5; squares 2.25 + 0.25 + 0.25 + 6.25 = 9; 9 / 3 = 3.
        assert!((n.mean.unwrap() - 2.5).abs() < 1e-12);
        assert!((n.std.unwrap() - 3f64.sqrt()).abs() < 1e-12);
        // Sorted 1, 2, 2, 5: p = 0.25 -> ceil(1) = 1st = 1; 0.5 -> 2nd = 2; 0.75 -> 3rd = 2;
        // 0.05 -> ceil(0.2) = 1st; 0.95 -> ceil(3.8) = 4th = 5.
        let values: Vec<f64> = n.quantiles.iter().map(|q| q.1).collect();
        assert_eq!(values, [1.0, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0]);
    }

    #[test]
    fn categories_by_hand() {
        let real = [["1", "a"], ["2", "b"], ["2", "b"], ["3", "c"], ["4", ""]];
        let synthetic = [["1", "z"], ["2", "z"], ["2", "a"], ["3", "a"], ["4", "z"]];
        let summary = frames(&real, &synthetic);
        let (r, s) = (&summary[1].real, &summary[1].synthetic);
        assert_eq!(r.top, [("b".into(), 0.4), ("a".into(), 0.2), ("c".into(), 0.2)]);
        assert!((r.missing_share - 0.2).abs() < 1e-12);
        assert_eq!(r.distinct, 3);
        // "z" was never seen in the real table; it is still listed by its text.
        assert_eq!(s.top, [("z".into(), 0.6), ("a".into(), 0.4)]);
        assert_eq!((s.distinct, s.mean), (2, None));
    }
}
