//! Fidelity: how closely a synthetic table's distributions follow the real table's.
//!
//! Univariate accuracy is the mean over columns of `1 - TVD` between the real and synthetic
//! distributions of the column's bins; bivariate accuracy is the same over all column pairs with
//! 2-D bins; overall accuracy is their mean (the accuracy of mostlyai-qa, computed here from its
//! published definition). Numbers fall into 10 quantile bins of the real data, categories into
//! the 10 most frequent real values plus "other", and missing values into a bin of their own.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::Table;

/// How columns are binned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FidelityOptions {
    /// Quantile bins for numeric columns.
    pub bins: usize,
    /// Most frequent real categories that get a bin of their own; the rest share "other".
    pub top_categories: usize,
    /// Cell texts (compared after trimming) that mean "missing".
    pub missing_tokens: Vec<String>,
    /// Columns left out of the metric.
    pub skip_columns: Vec<String>,
}

impl Default for FidelityOptions {
    fn default() -> Self {
        let missing = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"];
        FidelityOptions {
            bins: 10,
            top_categories: 10,
            missing_tokens: missing.map(String::from).to_vec(),
            skip_columns: Vec::new(),
        }
    }
}

/// One column's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnFidelity {
    /// Column name.
    pub name: String,
    /// `numeric`, `categorical` or `skipped`.
    pub kind: String,
    /// `1 - TVD` of the column's bins; `None` when skipped.
    pub accuracy: Option<f64>,
    /// Why a column was skipped.
    pub note: Option<String>,
}

/// The fidelity of a synthetic table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidelityReport {
    /// Mean univariate accuracy over the compared columns.
    pub univariate: f64,
    /// Mean accuracy over pairs of compared columns; `None` with fewer than two columns.
    pub bivariate: Option<f64>,
    /// Mean of univariate and bivariate accuracy (univariate alone without pairs).
    pub overall: f64,
    /// Share of synthetic rows identical to some real row.
    pub exact_row_share: f64,
    /// Number of column pairs compared.
    pub pairs: usize,
    /// Per-column results in real column order.
    pub columns: Vec<ColumnFidelity>,
}

/// How one column's cells map to bin indices.
enum Binner {
    /// Bin `i` holds `(cuts[i-1], cuts[i]]`; then a missing bin and an unparseable-value bin.
    Numeric { cuts: Vec<f64> },
    /// One bin per top category, then "other", then missing.
    Categorical { top: HashMap<String, usize> },
}

impl Binner {
    fn bins(&self) -> usize {
        match self {
            Binner::Numeric { cuts } => cuts.len() + 3,
            Binner::Categorical { top } => top.len() + 2,
        }
    }

    fn bin(&self, cell: &str, missing: &dyn Fn(&str) -> bool) -> usize {
        match self {
            Binner::Numeric { cuts } if missing(cell) => cuts.len() + 1,
            Binner::Numeric { cuts } => match parse_number(cell) {
                Some(x) => cuts.partition_point(|&c| c < x),
                None => cuts.len() + 2,
            },
            Binner::Categorical { top } if missing(cell) => top.len() + 1,
            Binner::Categorical { top } => top.get(cell).copied().unwrap_or(top.len()),
        }
    }
}

fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The cut points of `bins` quantile bins: the inverse-CDF quantile `sorted[ceil(p n) - 1]` at
/// `p = k / bins` for `k = 1..bins`, without repeats.
fn quantile_cuts(mut values: Vec<f64>, bins: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut cuts: Vec<f64> =
        (1..bins).map(|k| values[((k * n).div_ceil(bins)).saturating_sub(1).min(n - 1)]).collect();
    cuts.dedup();
    cuts
}

/// Chooses a binner for a real column, or says why the column is skipped.
fn binner(
    cells: &[&str],
    options: &FidelityOptions,
    missing: &dyn Fn(&str) -> bool,
) -> std::result::Result<(Binner, &'static str), String> {
    let present: Vec<&str> = cells.iter().copied().filter(|c| !missing(c)).collect();
    if present.is_empty() {
        return Err("no real values".into());
    }
    let distinct: HashSet<&str> = present.iter().copied().collect();
    if present.len() == cells.len() && distinct.len() == cells.len() && cells.len() > 1 {
        return Err("unique per row (an identifier)".into());
    }
    let numbers: Option<Vec<f64>> = present.iter().map(|c| parse_number(c)).collect();
    match numbers {
        Some(values) if distinct.len() > options.bins => {
            Ok((Binner::Numeric { cuts: quantile_cuts(values, options.bins) }, "numeric"))
        }
        _ => {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for c in &present {
                *counts.entry(c).or_default() += 1;
            }
            let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let top = ranked
                .iter()
                .take(options.top_categories)
                .enumerate()
                .map(|(i, (v, _))| (v.to_string(), i))
                .collect();
            Ok((Binner::Categorical { top }, "categorical"))
        }
    }
}

/// `1 - TVD` between two samples of bin indices (`bins` possible values, flattened pairs ok).
fn accuracy(real: &[usize], synthetic: &[usize], bins: usize) -> f64 {
    let mut p = vec![0f64; bins];
    let mut q = vec![0f64; bins];
    real.iter().for_each(|&b| p[b] += 1.0);
    synthetic.iter().for_each(|&b| q[b] += 1.0);
    let (n, m) = (real.len().max(1) as f64, synthetic.len().max(1) as f64);
    let tvd: f64 = p.iter().zip(&q).map(|(a, b)| (a / n - b / m).abs()).sum::<f64>() / 2.0;
    1.0 - tvd
}

/// For each real column, the index of the synthetic column of the same name.
fn align(real: &Table, synthetic: &Table) -> Result<Vec<usize>> {
    let position: HashMap<&str, usize> =
        synthetic.names().iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    if let Some(extra) = synthetic.names().iter().find(|n| !real.names().contains(n)) {
        let problem = "in the synthetic table but not in the real one".into();
        return Err(Error::Columns { column: extra.clone(), problem });
    }
    real.names()
        .iter()
        .map(|n| {
            position.get(n.as_str()).copied().ok_or_else(|| Error::Columns {
                column: n.clone(),
                problem: "in the real table but not in the synthetic one".into(),
            })
        })
        .collect()
}

/// Share of `synthetic` rows identical to some `real` row (columns matched by name).
pub fn exact_match_share(real: &Table, synthetic: &Table) -> Result<f64> {
    let order = align(real, synthetic)?;
    let known: HashSet<&[String]> = real.rows().iter().map(Vec::as_slice).collect();
    let copies = synthetic
        .rows()
        .iter()
        .filter(|row| {
            let aligned: Vec<String> = order.iter().map(|&i| row[i].clone()).collect();
            known.contains(aligned.as_slice())
        })
        .count();
    Ok(copies as f64 / synthetic.num_rows().max(1) as f64)
}

/// Compares `synthetic` with `real` (see the module documentation).
pub fn fidelity(
    real: &Table,
    synthetic: &Table,
    options: &FidelityOptions,
) -> Result<FidelityReport> {
    let order = align(real, synthetic)?;
    let missing = |c: &str| options.missing_tokens.iter().any(|m| m == c.trim());
    let mut columns = Vec::new();
    // Bin indices of each compared column: (real, synthetic, number of bins).
    let mut binned: Vec<(Vec<usize>, Vec<usize>, usize)> = Vec::new();
    for (c, name) in real.names().iter().enumerate() {
        let cells: Vec<&str> = real.column(c).collect();
        let chosen = if options.skip_columns.contains(name) {
            Err("skipped by the options".to_string())
        } else {
            binner(&cells, options, &missing)
        };
        match chosen {
            Err(note) => columns.push(ColumnFidelity {
                name: name.clone(),
                kind: "skipped".into(),
                accuracy: None,
                note: Some(note),
            }),
            Ok((b, kind)) => {
                let r: Vec<usize> = cells.iter().map(|c| b.bin(c, &missing)).collect();
                let s: Vec<usize> =
                    synthetic.column(order[c]).map(|c| b.bin(c, &missing)).collect();
                let acc = accuracy(&r, &s, b.bins());
                columns.push(ColumnFidelity {
                    name: name.clone(),
                    kind: kind.into(),
                    accuracy: Some(acc),
                    note: None,
                });
                binned.push((r, s, b.bins()));
            }
        }
    }
    let univariate = mean(columns.iter().filter_map(|c| c.accuracy));
    let mut pair_accuracies = Vec::new();
    for i in 0..binned.len() {
        for j in i + 1..binned.len() {
            let (ri, si, bi) = &binned[i];
            let (rj, sj, bj) = &binned[j];
            let joint = |a: &[usize], b: &[usize]| -> Vec<usize> {
                a.iter().zip(b).map(|(x, y)| x * bj + y).collect()
            };
            pair_accuracies.push(accuracy(&joint(ri, rj), &joint(si, sj), bi * bj));
        }
    }
    let bivariate = (!pair_accuracies.is_empty()).then(|| mean(pair_accuracies.iter().copied()));
    let overall = bivariate.map_or(univariate, |b| (univariate + b) / 2.0);
    Ok(FidelityReport {
        univariate,
        bivariate,
        overall,
        exact_row_share: exact_match_share(real, synthetic)?,
        pairs: pair_accuracies.len(),
        columns,
    })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        let names = names.iter().map(|s| s.to_string()).collect();
        let rows = rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
        Table::new(names, rows).expect("table")
    }

    fn single(values: &[&str]) -> Table {
        let rows: Vec<&[&str]> = values.iter().map(std::slice::from_ref).collect();
        table(&["x"], &rows)
    }

    const CLOSE: f64 = 1e-12;

    #[test]
    fn identical_tables_score_one() -> Result<()> {
        let t = table(&["a", "b"], &[&["1", "x"], &["2", "y"], &["2", "x"]]);
        let r = fidelity(&t, &t, &FidelityOptions::default())?;
        assert!((r.univariate - 1.0).abs() < CLOSE && (r.overall - 1.0).abs() < CLOSE);
        assert_eq!(r.bivariate, Some(1.0));
        assert_eq!(r.exact_row_share, 1.0);
        Ok(())
    }

    #[test]
    fn categorical_tvd_by_hand() -> Result<()> {
        // Real a:1/2 b:1/2, synthetic a:3/4 b:1/4 -> TVD = (1/4 + 1/4) / 2 = 1/4.
        let r = fidelity(
            &single(&["a", "a", "b", "b"]),
            &single(&["a", "a", "a", "b"]),
            &FidelityOptions::default(),
        )?;
        assert!((r.univariate - 0.75).abs() < CLOSE, "{}", r.univariate);
        assert_eq!(r.bivariate, None);
        assert!((r.overall - 0.75).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn numbers_fall_into_real_quantile_bins() -> Result<()> {
        // Real 1..=20: cuts at 2, 4, ..., 18, so each of the 10 bins holds 2 real values (1/10).
        // Synthetic 3..=22: bin 0 ((-inf, 2]) gets none, bins 1..8 get 2 each, bin 9 ((18, inf))
        // gets 4 of 20. Per bin |p - q|: 0.1, 0 (x8), 0.1 -> TVD 0.1, accuracy 0.9.
        // Each value twice, so the column is not taken for an identifier; proportions as above.
        let real: Vec<String> = (1..=20).flat_map(|i| [i.to_string(), i.to_string()]).collect();
        let synth: Vec<String> = (3..=22).flat_map(|i| [i.to_string(), i.to_string()]).collect();
        let (real, synth): (Vec<&str>, Vec<&str>) =
            (real.iter().map(String::as_str).collect(), synth.iter().map(String::as_str).collect());
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert_eq!(r.columns[0].kind, "numeric");
        assert!((r.univariate - 0.9).abs() < CLOSE, "{}", r.univariate);
        Ok(())
    }

    #[test]
    fn missing_and_invalid_values_have_their_own_bins() -> Result<()> {
        // 11 distinct numbers make the column numeric; one real value is missing.
        let real = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "?"];
        // Synthetic: the same, but the missing one is replaced by an unparseable text (its own
        // bin, 1/12) -> TVD = (1/12 + 1/12) / 2 = 1/12.
        let mut synth = real;
        synth[11] = "oops";
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert!((r.univariate - (1.0 - 1.0 / 12.0)).abs() < CLOSE, "{}", r.univariate);
        // Writing the missing value as another marker ("NA") is still missing: accuracy 1.
        synth[11] = "NA";
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn categories_beyond_the_top_ten_share_other() -> Result<()> {
        // 12 categories: c0 x3, c1..c11 x1 (ties broken by text: c1, c10, c11, c2, ...).
        // The top 10 are c0, c1, c10, c11, c2..c7; c8 and c9 fall into "other".
        let mut real = vec!["c0", "c0", "c0"];
        let names: Vec<String> = (1..12).map(|i| format!("c{i}")).collect();
        real.extend(names.iter().map(String::as_str));
        // Swapping c8 for c9 (both "other") costs nothing; c8 for c7 costs 1/14.
        let mut synth = real.clone();
        let c8 = synth.iter().position(|v| *v == "c8").expect("c8");
        synth[c8] = "c9";
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        synth[c8] = "c7";
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert!((r.univariate - (1.0 - 1.0 / 14.0)).abs() < CLOSE, "{}", r.univariate);
        Ok(())
    }

    #[test]
    fn bivariate_accuracy_by_hand() -> Result<()> {
        // Real pairs (a,x) (a,y) (b,x) (b,y); synthetic (a,x) (a,x) (b,y) (b,y): each column's
        // marginal is identical (univariate 1), the joint differs: real 1/4 each cell,
        // synthetic 1/2 on two cells -> TVD = (1/4 * 2 + 1/4 * 2) / 2 = 1/2.
        let real = table(&["p", "q"], &[&["a", "x"], &["a", "y"], &["b", "x"], &["b", "y"]]);
        let synth = table(&["q", "p"], &[&["x", "a"], &["x", "a"], &["y", "b"], &["y", "b"]]);
        let r = fidelity(&real, &synth, &FidelityOptions::default())?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        assert_eq!(r.pairs, 1);
        assert!((r.bivariate.expect("pairs") - 0.5).abs() < CLOSE);
        assert!((r.overall - 0.75).abs() < CLOSE);
        // Matched by column name, every synthetic row is a real row.
        assert!((r.exact_row_share - 1.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn exact_share_counts_copied_rows() -> Result<()> {
        let real = table(&["a", "b"], &[&["1", "x"], &["2", "y"]]);
        let synth = table(&["a", "b"], &[&["1", "x"], &["1", "y"], &["2", "y"], &["3", "z"]]);
        assert!((exact_match_share(&real, &synth)? - 0.5).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn identifier_columns_are_skipped_and_columns_must_match() -> Result<()> {
        let real = table(&["id", "v"], &[&["1", "a"], &["2", "a"], &["3", "b"]]);
        let r = fidelity(&real, &real, &FidelityOptions::default())?;
        assert_eq!(r.columns[0].kind, "skipped");
        assert_eq!(r.pairs, 0);
        let other = table(&["id", "w"], &[&["1", "a"]]);
        let err = fidelity(&real, &other, &FidelityOptions::default()).unwrap_err();
        assert!(err.to_string().contains("'w'"), "{err}");
        Ok(())
    }

    #[test]
    fn quantile_cuts_follow_the_inverse_cdf() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile_cuts(values, 4), vec![5.0, 10.0, 15.0]);
        assert_eq!(quantile_cuts(vec![1.0, 1.0, 1.0, 2.0], 4), vec![1.0]);
    }
}
