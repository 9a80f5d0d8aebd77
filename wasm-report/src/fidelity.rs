//! Fidelity: how closely a synthetic table's distributions follow the real table's.
//!
//! The accuracy of mostlyai-qa, computed here from its published definition:
//!
//! - Every compared column maps each cell to a bin, with bins chosen from the **real** column,
//!   whose kind is decided from all its rows ([`crate::kinds`]). A numeric column gets quantile
//!   bins of the real values (see [`FidelityOptions::bins`]), a datetime column the same bins
//!   of its seconds since 1970, a categorical column one bin per frequent real value plus
//!   "other"; missing values have a bin of their own, and so do synthetic cells that are not
//!   numbers (dates) in a numeric (datetime) column.
//! - A text column's rows are binned by their length in characters, and its accuracy is the
//!   mean of three: length in characters, words per cell, and the distribution of characters
//!   (see `column_accuracy`), so that a placeholder or letter salad in place of text scores
//!   low. mostlyai-qa has no such rule; the reference tables have no text column.
//! - The total variation distance between two distributions over the same bins is
//!   `TVD = 1/2 * sum_b |p_real(b) - p_synthetic(b)|`, and accuracy is `1 - TVD`.
//! - Univariate accuracy is the mean accuracy over compared columns; bivariate accuracy is the
//!   mean over all pairs of compared columns, of the accuracy of their joint (2-D) bins; overall
//!   accuracy is the mean of the two (univariate alone with fewer than two columns).
//! - Trivariate accuracy is the mean accuracy of the joint (3-D) bins of column triples: all
//!   triples when there are at most [`FidelityOptions::triples`] of them, otherwise that many
//!   drawn at random (seeded). mostlyai-qa 1.10 folds trivariate accuracy into its overall
//!   figure; doppel keeps `overall` as the two-term mean of its earlier reports, so that
//!   overall figures stay comparable across doppel versions, and reports trivariate beside it.
//!
//! The binning follows mostlyai-qa 1.10.11 rule by rule (see [`FidelityOptions`]);
//! `tests/reference.rs` checks every column, pair and mean against figures computed by
//! mostlyai-qa itself (`reference/make_reference.py`) to within 0.005.
//!
//! Alongside, [`exact_match_share`]: the share of synthetic rows that copy a real row.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{is_missing_token, parse_number};
use crate::kinds::{datetime_seconds, format_seconds, infer, Inferred};
use crate::table::Table;

/// The largest [`FidelityOptions::bins`] and [`FidelityOptions::top_categories`] accepted; it
/// bounds the joint bins of a column pair to about a million.
pub const MAX_BINS: usize = 1000;

/// How columns are binned and which are compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FidelityOptions {
    /// Bins for numeric columns (1..=[`MAX_BINS`], default 10), chosen as mostlyai-qa's
    /// `bin_numeric` does: with at most `bins` distinct real values, one bin per value;
    /// otherwise the break points are the sorted real values at indices
    /// `floor(k (n - 1) / (i - 1))`, `k = 0..i`, for the smallest `i >= bins` that gives
    /// `bins + 1` distinct ones (up to `i = min(999, n)`). Each break but the last is then
    /// rounded down to the fewest decimals (0..20) that keep them distinct. Bins are closed
    /// below: `[break[i], break[i+1])`, the first open to the left, the last to the right.
    /// A column is numeric when every non-missing real cell is a finite number.
    pub bins: usize,
    /// Most frequent real categories that get a bin of their own (0..=[`MAX_BINS`], default
    /// 10), as in mostlyai-qa's `bin_categorical`: "missing" competes for these places like a
    /// category (and always keeps its own bin), and categories with fewer than
    /// [`FidelityOptions::min_category_rows`] real rows get none. Ties are broken by the
    /// value's text, ascending (missing last). All other values, including synthetic values
    /// never seen in the real column, share one "other" bin.
    pub top_categories: usize,
    /// Fewest real rows a category needs for a bin of its own (default 5, mostlyai-qa's
    /// `MIN_RARE_CAT_PROTECTION`, so that rare values are not singled out); rarer categories
    /// join "other".
    pub min_category_rows: usize,
    /// Cell texts that mean "missing", compared after trimming whitespace.
    pub missing_tokens: Vec<String>,
    /// Columns left out of the metric (identifiers, free text).
    pub skip_columns: Vec<String>,
    /// Most column triples compared for trivariate accuracy (default 200; 0 turns it off).
    pub triples: usize,
    /// Seed for drawing the triples when there are more than `triples`.
    pub seed: u64,
}

impl Default for FidelityOptions {
    fn default() -> Self {
        FidelityOptions {
            bins: 10,
            top_categories: 10,
            min_category_rows: 5,
            missing_tokens: doppel_table::missing::default_missing_tokens(),
            skip_columns: Vec::new(),
            triples: 200,
            seed: 0,
        }
    }
}

impl FidelityOptions {
    fn check(&self) -> Result<()> {
        let range = |option, value, min| {
            if (min..=MAX_BINS).contains(&value) {
                Ok(())
            } else {
                Err(Error::InvalidOption { option, value, min, max: MAX_BINS })
            }
        };
        range("bins", self.bins, 1)?;
        range("top_categories", self.top_categories, 0)
    }

    fn is_missing(&self, cell: &str) -> bool {
        is_missing_token(&self.missing_tokens, cell)
    }
}

/// How a column was treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Quantile bins of the real values.
    Numeric,
    /// The most frequent real values plus "other".
    Categorical,
    /// Quantile bins of the dates' seconds since 1970.
    Datetime,
    /// Free text: bins of length in characters; accuracy also compares words per cell and
    /// characters.
    Text,
    /// Left out of the metric; the note says why.
    Skipped,
}

/// One column's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnFidelity {
    /// Column name.
    pub name: String,
    /// How the column was binned, or that it was skipped.
    pub kind: ColumnKind,
    /// `1 - TVD` of the column's bins; `None` when skipped.
    pub accuracy: Option<f64>,
    /// Why a column was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The column's bins with the real and synthetic share of rows in each (empty when
    /// skipped), for charts. Empty bins for missing and unparseable cells are left out.
    #[serde(default)]
    pub bins: Vec<BinShare>,
}

/// One bin of a column: its label and the share of real and synthetic rows in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinShare {
    /// The bin in words: a category, `other`, `missing`, `not a number`, or a number range
    /// such as `(25, 37]`.
    pub label: String,
    /// Share of real rows in the bin.
    pub real: f64,
    /// Share of synthetic rows in the bin.
    pub synthetic: f64,
}

/// The fidelity of a synthetic table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidelityReport {
    /// Mean univariate accuracy over the compared columns.
    pub univariate: f64,
    /// Mean accuracy over pairs of compared columns; `None` with fewer than two columns.
    pub bivariate: Option<f64>,
    /// Mean accuracy over the compared column triples; `None` with fewer than three columns
    /// or with [`FidelityOptions::triples`] = 0.
    #[serde(default)]
    pub trivariate: Option<f64>,
    /// Number of column triples compared.
    #[serde(default)]
    pub triples: usize,
    /// Mean of univariate and bivariate accuracy (univariate alone without pairs).
    pub overall: f64,
    /// Share of synthetic rows identical to some real row (see [`exact_match_share`]).
    pub exact_row_share: f64,
    /// Number of column pairs compared.
    pub pairs: usize,
    /// Per-column results in real column order.
    pub columns: Vec<ColumnFidelity>,
    /// Each compared pair's accuracy, pairs in real column order (`(0, 1), (0, 2), ...`).
    #[serde(default)]
    pub pair_accuracies: Vec<PairAccuracy>,
}

/// The bivariate accuracy of one column pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairAccuracy {
    /// The two columns, in real column order.
    pub columns: [String; 2],
    /// `1 - TVD` of their joint bins.
    pub accuracy: f64,
}

/// How one column's cells map to bin indices.
enum Binner {
    /// Bins `0..=edges.len()` by value, bin `i` holding `[edges[i-1], edges[i])` (see
    /// [`FidelityOptions::bins`]), then a missing bin, then a bin for cells that are not
    /// numbers.
    Numeric { edges: Vec<f64> },
    /// As numeric, on the seconds of the dates read in `format`; the last bin holds cells
    /// that are not dates in that format.
    Datetime { edges: Vec<f64>, format: &'static str },
    /// One bin per top category, then "other", then missing.
    Categorical { top: HashMap<String, u16> },
    /// Rows binned by their length in characters (bins as numeric, then missing); the
    /// column's accuracy also compares words per cell and characters ([`text_accuracy`]).
    Text { edges: Vec<f64>, words: Vec<f64>, chars: HashMap<char, usize> },
}

/// Characters in a cell (Unicode scalar values).
fn char_count(cell: &str) -> f64 {
    cell.chars().count() as f64
}

/// Whitespace-separated words in a cell.
fn word_count(cell: &str) -> f64 {
    cell.split_whitespace().count() as f64
}

impl Binner {
    fn kind(&self) -> ColumnKind {
        match self {
            Binner::Numeric { .. } => ColumnKind::Numeric,
            Binner::Datetime { .. } => ColumnKind::Datetime,
            Binner::Categorical { .. } => ColumnKind::Categorical,
            Binner::Text { .. } => ColumnKind::Text,
        }
    }

    /// Bins after the value bins: missing, and for numbers and dates unreadable cells.
    fn value_bins(&self) -> usize {
        match self {
            Binner::Categorical { top } => top.len() + 1,
            _ => self.edges().len() + 1,
        }
    }

    /// The edges of a scale's bins (numbers, dates, text lengths); none for categories.
    fn edges(&self) -> &[f64] {
        match self {
            Binner::Numeric { edges }
            | Binner::Datetime { edges, .. }
            | Binner::Text { edges, .. } => edges,
            Binner::Categorical { .. } => &[],
        }
    }

    fn bins(&self) -> usize {
        match self {
            Binner::Numeric { .. } | Binner::Datetime { .. } => self.value_bins() + 2,
            Binner::Text { .. } | Binner::Categorical { .. } => self.value_bins() + 1,
        }
    }

    /// The cell's bin; below `bins()` <= `MAX_BINS + 3`, so it fits a `u16`.
    fn bin(&self, cell: &str, options: &FidelityOptions) -> u16 {
        if options.is_missing(cell) {
            return self.value_bins() as u16;
        }
        let value = match self {
            Binner::Numeric { .. } => parse_number(cell),
            Binner::Datetime { format, .. } => datetime_seconds(cell, format),
            Binner::Text { .. } => Some(char_count(cell)),
            Binner::Categorical { top } => {
                return top.get(cell).copied().unwrap_or(top.len() as u16)
            }
        };
        let edges = self.edges();
        let index = match value {
            Some(x) => edges.partition_point(|&e| e <= x),
            None => edges.len() + 2,
        };
        index as u16
    }

    /// Each bin's label, in bin order.
    fn labels(&self) -> Vec<String> {
        match self {
            Binner::Numeric { edges } => {
                let mut labels = range_labels(edges, short, "");
                labels.extend(["missing".to_string(), "not a number".to_string()]);
                labels
            }
            Binner::Datetime { edges, format } => {
                let mut labels = range_labels(edges, |x| format_seconds(x, format), "");
                labels.extend(["missing".to_string(), "not a date".to_string()]);
                labels
            }
            Binner::Text { edges, .. } => {
                let mut labels = range_labels(edges, short, " chars");
                labels.push("missing".to_string());
                labels
            }
            Binner::Categorical { top } => {
                let mut labels = vec![String::new(); top.len()];
                for (value, &i) in top {
                    labels[i as usize] = value.clone();
                }
                labels.extend(["other".to_string(), "missing".to_string()]);
                labels
            }
        }
    }
}

/// The labels of the value bins below and between `edges`, numbers written by `show`.
fn range_labels(edges: &[f64], show: impl Fn(f64) -> String, unit: &str) -> Vec<String> {
    let mut labels = Vec::with_capacity(edges.len() + 3);
    labels.push(format!("< {}{unit}", show(edges.first().copied().unwrap_or(f64::NAN))));
    for w in edges.windows(2) {
        labels.push(format!("[{}, {}){unit}", show(w[0]), show(w[1])));
    }
    if let Some(last) = edges.last() {
        labels.push(format!(">= {}{unit}", show(*last)));
    }
    labels
}

/// A number in at most 4 significant digits, for labels.
fn short(x: f64) -> String {
    if x.is_nan() {
        return "any".into();
    }
    if x == x.trunc() && x.abs() < 1e7 {
        return format!("{x}");
    }
    // Decimals that leave 4 significant digits: 3 - floor(log10 |x|), within 0..=12.
    let digits = (3.0 - libm::log10(x.abs()).floor()).clamp(0.0, 12.0) as usize;
    let text = format!("{x:.digits$}");
    text.parse::<f64>().map_or(text, |v| format!("{v}"))
}

/// The bins of a column with their real and synthetic shares; empty missing and
/// not-a-number bins are left out (they say nothing).
fn bin_shares(b: &Binner, p: &[u32], q: &[u32], n: usize, m: usize) -> Vec<BinShare> {
    let last_value_bin = b.value_bins() - 1;
    b.labels()
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| i <= last_value_bin || p[i] + q[i] > 0)
        .map(|(i, label)| BinShare {
            label,
            real: p[i] as f64 / n as f64,
            synthetic: q[i] as f64 / m as f64,
        })
        .collect()
}

/// A column's `1 - TVD` over its bins `p`, `q`; for a text column, the mean of three `1 - TVD`s, each over present cells and
/// missing ones: of the length in characters (the row bins `p`, `q`), of the number of
/// words (bins fit on the real counts as for numbers), and of the characters themselves
/// (each character of the real column a bin, all others one more; shares of all characters).
/// A placeholder or letter salad in place of text moves all three.
fn column_accuracy(
    b: &Binner,
    (p, q): (&[u32], &[u32]),
    real: &[&str],
    synthetic: &[&str],
    options: &FidelityOptions,
) -> f64 {
    let Binner::Text { words, chars, .. } = b else {
        return accuracy(p, q, real.len(), synthetic.len());
    };
    let length = accuracy(p, q, real.len(), synthetic.len());
    let word_hist = |cells: &[&str]| {
        let mut counts = vec![0u32; words.len() + 2];
        for c in cells {
            let bin = if options.is_missing(c) {
                words.len() + 1
            } else {
                words.partition_point(|&e| e <= word_count(c))
            };
            counts[bin] += 1;
        }
        counts
    };
    let words = accuracy(&word_hist(real), &word_hist(synthetic), real.len(), synthetic.len());
    let char_hist = |cells: &[&str]| {
        let mut counts = vec![0u32; chars.len() + 1];
        for c in cells.iter().filter(|c| !options.is_missing(c)) {
            for ch in c.chars() {
                counts[chars.get(&ch).copied().unwrap_or(chars.len())] += 1;
            }
        }
        counts
    };
    let (r, s) = (char_hist(real), char_hist(synthetic));
    let (nr, ns) = (r.iter().sum::<u32>() as usize, s.iter().sum::<u32>() as usize);
    let characters = match (nr, ns) {
        (0, 0) => 1.0,
        (0, _) | (_, 0) => 0.0,
        _ => accuracy(&r, &s, nr, ns),
    };
    (length + words + characters) / 3.0
}

/// The inner bin edges of sorted, non-empty `values` (see [`FidelityOptions::bins`]):
/// mostlyai-qa 1.10's `bin_numeric` and `search_bin_boundaries`, whose outer breaks (the
/// minimum and the maximum, or maximum + 1) only clip values into the first and last bins.
fn numeric_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    let mut breaks = if distinct.len() <= bins {
        let top = distinct[distinct.len() - 1] + 1.0;
        distinct.push(top);
        distinct.dedup(); // max + 1 == max for |max| >= 2^53
        distinct
    } else {
        search_breaks(sorted, bins)
    };
    floor_breaks(&mut breaks);
    breaks.get(1..breaks.len().saturating_sub(1)).unwrap_or_default().to_vec()
}

/// `bins + 1` distinct values at evenly spaced positions of `sorted` (first and last
/// included): positions `floor(k * ((n - 1) / (i - 1)))` as numpy's `linspace(0, n - 1, i)`
/// computes them, for the smallest `i` from `bins` that gives enough distinct values, up to
/// `min(999, n)`; the last try's values if none does.
fn search_breaks(sorted: &[f64], bins: usize) -> Vec<f64> {
    let n = sorted.len();
    let mut breaks = Vec::new();
    for i in bins..(bins + 1).max(1000.min(n + 1)) {
        breaks.clear();
        if i == 1 {
            breaks.push(sorted[0]); // linspace with one point is the start
        } else {
            let step = (n - 1) as f64 / (i - 1) as f64;
            // `as usize` truncates like numpy's astype(int); the last position is n - 1.
            breaks.extend((0..i - 1).map(|k| sorted[(k as f64 * step) as usize]));
            breaks.push(sorted[n - 1]);
        }
        breaks.dedup();
        if breaks.len() > bins {
            break;
        }
    }
    breaks
}

/// Rounds every break but the last down to the fewest decimals, 0 to 19, that keep all breaks
/// distinct (mostlyai-qa's `_floor(number, precision)`, computed the same way:
/// `floor(b * 10^p) / 10^p`); leaves them as they are if no such precision exists.
fn floor_breaks(breaks: &mut [f64]) {
    let mut scale = 1.0_f64; // 10^p, exact for p <= 22
    for _ in 0..20 {
        let floor = |b: f64| (b * scale).floor() / scale;
        // Flooring keeps the order, so distinct means strictly increasing.
        if breaks.windows(2).all(|w| floor(w[0]) < floor(w[1])) {
            let last = breaks.len().saturating_sub(1);
            breaks[..last].iter_mut().for_each(|b| *b = floor(*b));
            return;
        }
        scale *= 10.0;
    }
}

/// Chooses a binner for a real column from all of its cells, or says why the column is
/// skipped (the rules of [`crate::kinds`], shared with the other metrics).
fn binner(cells: &[&str], options: &FidelityOptions) -> std::result::Result<Binner, String> {
    let present: Vec<&str> = cells.iter().copied().filter(|c| !options.is_missing(c)).collect();
    let edges = |value: &dyn Fn(&str) -> Option<f64>| {
        let mut values: Vec<f64> = present.iter().filter_map(|c| value(c)).collect();
        values.sort_by(f64::total_cmp);
        numeric_edges(&values, options.bins)
    };
    match infer(cells, |c| options.is_missing(c)) {
        Inferred::Skipped(reason) => Err(reason),
        Inferred::Numeric => Ok(Binner::Numeric { edges: edges(&parse_number) }),
        Inferred::Datetime(format) => {
            let edges = edges(&|c| datetime_seconds(c, format));
            Ok(Binner::Datetime { edges, format })
        }
        Inferred::Text => {
            let mut chars = HashMap::new();
            for ch in present.iter().flat_map(|c| c.chars()) {
                let next = chars.len();
                chars.entry(ch).or_insert(next);
            }
            let (edges, words) = (edges(&|c| Some(char_count(c))), edges(&|c| Some(word_count(c))));
            Ok(Binner::Text { edges, words, chars })
        }
        Inferred::Categorical => Ok(categorical_binner(cells, &present, options)),
    }
}

/// mostlyai-qa's `bin_categorical` (see [`FidelityOptions::top_categories`]).
fn categorical_binner(cells: &[&str], present: &[&str], options: &FidelityOptions) -> Binner {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for c in present {
        *counts.entry(c).or_default() += 1;
    }
    // Missing (None) is ranked with the categories: it takes one of the top places when it
    // is frequent enough, as in mostlyai-qa, though it has a bin of its own anyway.
    let mut ranked: Vec<(Option<&str>, usize)> =
        counts.into_iter().map(|(v, k)| (Some(v), k)).collect();
    ranked.push((None, cells.len() - present.len()));
    ranked
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.is_none().cmp(&b.0.is_none())).then(a.0.cmp(&b.0)));
    let top = ranked
        .iter()
        .take(options.top_categories)
        .filter_map(|&(v, k)| v.filter(|_| k >= options.min_category_rows))
        .enumerate()
        .map(|(i, v)| (v.to_string(), i as u16))
        .collect();
    Binner::Categorical { top }
}

/// `1 - TVD` between two histograms over the same bins, with `n` and `m` samples.
fn accuracy(real: &[u32], synthetic: &[u32], n: usize, m: usize) -> f64 {
    let (n, m) = (n as f64, m as f64);
    let sum: f64 =
        real.iter().zip(synthetic).map(|(&a, &b)| (a as f64 / n - b as f64 / m).abs()).sum();
    1.0 - sum / 2.0
}

/// Counts bin indices into `counts` (cleared first).
fn histogram(bins: &[u16], counts: &mut Vec<u32>, len: usize) {
    counts.clear();
    counts.resize(len, 0);
    for &b in bins {
        counts[b as usize] += 1;
    }
}

/// Counts joint bins `a * width + b` into `counts` (cleared first).
fn joint_histogram(a: &[u16], b: &[u16], width: usize, counts: &mut Vec<u32>, len: usize) {
    counts.clear();
    counts.resize(len, 0);
    for (&x, &y) in a.iter().zip(b) {
        counts[x as usize * width + y as usize] += 1;
    }
}

/// For each real column, the index of the synthetic column of the same name.
fn align(real: &Table, synthetic: &Table) -> Result<Vec<usize>> {
    for (table, which) in [(real, "real"), (synthetic, "synthetic")] {
        let mut seen = HashSet::new();
        if let Some(twice) = table.names().iter().find(|n| !seen.insert(n.as_str())) {
            let problem = format!("named twice in the {which} table");
            return Err(Error::Columns { column: twice.clone(), problem });
        }
    }
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

/// Share of `synthetic` rows identical to some `real` row: every cell equal, text for text,
/// with columns matched by name (so column order does not matter). Synthetic columns the real
/// table lacks are ignored; if the synthetic table lacks a real column, no row can match and
/// the share is 0. Also 0 without synthetic rows.
pub fn exact_match_share(real: &Table, synthetic: &Table) -> f64 {
    let position: HashMap<&str, usize> =
        synthetic.names().iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let Some(order) =
        real.names().iter().map(|n| position.get(n.as_str()).copied()).collect::<Option<Vec<_>>>()
    else {
        return 0.0;
    };
    if synthetic.num_rows() == 0 {
        return 0.0;
    }
    let known: HashSet<Vec<&str>> =
        real.rows().iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let mut aligned: Vec<&str> = Vec::with_capacity(order.len());
    let copies = synthetic
        .rows()
        .iter()
        .filter(|row| {
            aligned.clear();
            aligned.extend(order.iter().map(|&i| row[i].as_str()));
            known.contains(&aligned)
        })
        .count();
    copies as f64 / synthetic.num_rows() as f64
}

/// Compares `synthetic` with `real` (see the module documentation).
///
/// Errors when the two tables' column names differ (or repeat), when either has no rows, when
/// an option is out of range, or when every column is skipped.
pub fn fidelity(
    real: &Table,
    synthetic: &Table,
    options: &FidelityOptions,
) -> Result<FidelityReport> {
    options.check()?;
    let order = align(real, synthetic)?;
    for (table, name) in [(real, "real"), (synthetic, "synthetic")] {
        if table.num_rows() == 0 {
            return Err(Error::NoRows { table: name });
        }
    }
    let (n, m) = (real.num_rows(), synthetic.num_rows());
    let mut columns = Vec::new();
    // Bin indices of each compared column: (real, synthetic, number of bins).
    let mut binned: Vec<(Vec<u16>, Vec<u16>, usize)> = Vec::new();
    let (mut p, mut q) = (Vec::new(), Vec::new());
    for (c, name) in real.names().iter().enumerate() {
        let cells: Vec<&str> = real.column(c).collect();
        let chosen = if options.skip_columns.contains(name) {
            Err("skipped by the options".to_string())
        } else {
            binner(&cells, options)
        };
        let b = match chosen {
            Ok(b) => b,
            Err(note) => {
                let (kind, accuracy) = (ColumnKind::Skipped, None);
                columns.push(ColumnFidelity {
                    name: name.clone(),
                    kind,
                    accuracy,
                    note: Some(note),
                    bins: Vec::new(),
                });
                continue;
            }
        };
        let synthetic_cells: Vec<&str> = synthetic.column(order[c]).collect();
        let r: Vec<u16> = cells.iter().map(|c| b.bin(c, options)).collect();
        let s: Vec<u16> = synthetic_cells.iter().map(|c| b.bin(c, options)).collect();
        histogram(&r, &mut p, b.bins());
        histogram(&s, &mut q, b.bins());
        let accuracy = Some(column_accuracy(&b, (&p, &q), &cells, &synthetic_cells, options));
        let bins = bin_shares(&b, &p, &q, n, m);
        let kind = b.kind();
        columns.push(ColumnFidelity { name: name.clone(), kind, accuracy, note: None, bins });
        binned.push((r, s, b.bins()));
    }
    if binned.is_empty() {
        let reasons: Vec<String> = columns
            .iter()
            .map(|c| format!("'{}': {}", c.name, c.note.as_deref().unwrap_or_default()))
            .collect();
        return Err(Error::NothingToCompare { reasons: reasons.join("; ") });
    }
    let univariate = mean(columns.iter().filter_map(|c| c.accuracy));
    let compared: Vec<&String> =
        columns.iter().filter(|c| c.accuracy.is_some()).map(|c| &c.name).collect();
    let mut pair_accuracies = Vec::new();
    for (i, (ri, si, bi)) in binned.iter().enumerate() {
        for (j, (rj, sj, bj)) in binned.iter().enumerate().skip(i + 1) {
            joint_histogram(ri, rj, *bj, &mut p, bi * bj);
            joint_histogram(si, sj, *bj, &mut q, bi * bj);
            pair_accuracies.push(PairAccuracy {
                columns: [compared[i].clone(), compared[j].clone()],
                accuracy: accuracy(&p, &q, n, m),
            });
        }
    }
    let bivariate =
        (!pair_accuracies.is_empty()).then(|| mean(pair_accuracies.iter().map(|p| p.accuracy)));
    let overall = bivariate.map_or(univariate, |b| (univariate + b) / 2.0);
    let triple_accuracies = trivariate(&binned, options, n, m);
    let trivariate =
        (!triple_accuracies.is_empty()).then(|| mean(triple_accuracies.iter().copied()));
    Ok(FidelityReport {
        univariate,
        bivariate,
        trivariate,
        triples: triple_accuracies.len(),
        overall,
        exact_row_share: exact_match_share(real, synthetic),
        pairs: pair_accuracies.len(),
        columns,
        pair_accuracies,
    })
}

/// The accuracy of each compared column triple: all of them, or `options.triples` drawn
/// uniformly without replacement when there are more.
fn trivariate(
    binned: &[(Vec<u16>, Vec<u16>, usize)],
    options: &FidelityOptions,
    n: usize,
    m: usize,
) -> Vec<f64> {
    let k = binned.len();
    let mut triples = Vec::new();
    // A triple's joint histogram has the product of its bin counts; with very large custom
    // bin counts that would not fit in memory, so such triples are left out.
    let fits = |t: &[usize; 3]| t.iter().map(|&c| binned[c].2).product::<usize>() <= 1 << 22;
    for a in 0..k {
        for b in a + 1..k {
            triples.extend((b + 1..k).map(|c| [a, b, c]).filter(fits));
        }
    }
    let mut rng = crate::sample::Rng::new(options.seed, 0);
    let chosen = crate::sample::sample_indices(triples.len(), options.triples, &mut rng);
    let (mut p, mut q) = (Vec::new(), Vec::new());
    let counts = |cols: [usize; 3], real: bool, out: &mut Vec<u32>| {
        let [(x, wx), (y, wy), (z, wz)] = cols.map(|c| {
            let (r, s, w) = &binned[c];
            (if real { r } else { s }, *w)
        });
        out.clear();
        out.resize(wx * wy * wz, 0);
        for i in 0..x.len() {
            out[(x[i] as usize * wy + y[i] as usize) * wz + z[i] as usize] += 1;
        }
    };
    chosen
        .into_iter()
        .map(|t| {
            counts(triples[t], true, &mut p);
            counts(triples[t], false, &mut q);
            accuracy(&p, &q, n, m)
        })
        .collect()
}

/// The mean of a non-empty sequence.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        crate::literal_table(names, rows)
    }

    fn single<S: AsRef<str>>(values: &[S]) -> Table {
        let rows: Vec<Vec<String>> = values.iter().map(|v| vec![v.as_ref().to_string()]).collect();
        Table::new(vec!["x".into()], rows).expect("table")
    }

    fn univariate<S: AsRef<str>>(real: &[S], synthetic: &[S]) -> Result<f64> {
        Ok(fidelity(&single(real), &single(synthetic), &options())?.univariate)
    }

    const CLOSE: f64 = 1e-12;

    /// The default options, but every category gets a bin (the tiny tables here have none
    /// with 5 rows).
    fn options() -> FidelityOptions {
        FidelityOptions { min_category_rows: 1, ..Default::default() }
    }

    #[test]
    fn dates_are_binned_as_time() -> Result<()> {
        // 100 days of 2020; the synthetic copy shifted by a year lands in the last bin.
        let day = |i: i64| format_seconds(1_577_836_800.0 + 86_400.0 * i as f64, "%Y-%m-%d");
        let real: Vec<String> = (0..100).map(day).collect();
        let report = univariate_report(&real, &real)?;
        assert_eq!(report.columns[0].kind, ColumnKind::Datetime);
        assert!((report.univariate - 1.0).abs() < CLOSE);
        let labels: Vec<&str> = report.columns[0].bins.iter().map(|b| b.label.as_str()).collect();
        // 11 break points (step 9.9) at days 0, 9, 19, ..., 89, 99: the first inner edge is
        // day 9, January 10th.
        assert_eq!(labels[0], "< 2020-01-10", "{labels:?}");
        let later: Vec<String> = (365..465).map(day).collect();
        // Every synthetic date falls in the top bin, which holds the 11 real days 89..=99.
        assert!((univariate(&real, &later)? - 0.11).abs() < CLOSE);
        // A synthetic cell that is no date has a bin of its own, as a non-number does.
        let mut broken = real.clone();
        broken[0] = "someday".into();
        assert!((univariate(&real, &broken)? - 0.99).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn text_is_compared_by_length_words_and_characters() -> Result<()> {
        let mut rng = crate::sample::Rng::new(5, 0);
        let real = crate::sentences(400, &mut rng);
        let fresh = crate::sentences(400, &mut rng);
        let report = univariate_report(&real, &fresh)?;
        assert_eq!(report.columns[0].kind, ColumnKind::Text);
        let fresh = report.univariate;
        assert!(fresh > 0.9, "{fresh}");
        // The rare-value placeholder everywhere: no length, word count or character in common.
        let placeholder = univariate(&real, &vec!["_RARE_".to_string(); 400])?;
        assert!(placeholder < 0.2, "{placeholder}");
        // Letter salad of the same lengths: lengths agree, words and characters do not.
        let salad: Vec<String> = real
            .iter()
            .map(|t| t.chars().map(|_| char::from(b'a' + rng.below(26) as u8)).collect())
            .collect();
        let salad = univariate(&real, &salad)?;
        assert!(salad < 0.6, "{salad}");
        Ok(())
    }

    #[test]
    fn identical_tables_score_one() -> Result<()> {
        let t = table(&["a", "b"], &[&["1", "x"], &["2", "y"], &["2", "x"]]);
        let r = fidelity(&t, &t, &options())?;
        assert!((r.univariate - 1.0).abs() < CLOSE && (r.overall - 1.0).abs() < CLOSE);
        assert_eq!(r.bivariate, Some(1.0));
        assert_eq!(r.exact_row_share, 1.0);
        Ok(())
    }

    #[test]
    fn categorical_tvd_by_hand() -> Result<()> {
        // Real a:1/2 b:1/2, synthetic a:3/4 b:1/4 -> TVD = (1/4 + 1/4) / 2 = 1/4.
        let r =
            fidelity(&single(&["a", "a", "b", "b"]), &single(&["a", "a", "a", "b"]), &options())?;
        assert_eq!(r.columns[0].kind, ColumnKind::Categorical);
        assert!((r.univariate - 0.75).abs() < CLOSE, "{}", r.univariate);
        assert_eq!(r.bivariate, None);
        assert!((r.overall - 0.75).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn numbers_fall_into_real_quantile_bins() -> Result<()> {
        // Real 1..=20, each twice (n = 40, so not an identifier): edges 2, 4, ..., 18 (see
        // columns_carry_their_bin_shares_for_charts), so the real shares are 2/40 in
        // (-inf, 2), 4/40 in each of [2, 4) .. [16, 18) and 6/40 in [18, inf).
        // Synthetic 3..=22, each twice: 0, 2/40, 4/40 (x7), 10/40.
        // Per bin |p - q|: 2/40, 2/40, 0 (x7), 4/40 -> TVD 4/40 = 0.1.
        let real: Vec<String> = (1..=20).flat_map(|i| [i.to_string(), i.to_string()]).collect();
        let synth: Vec<String> = (3..=22).flat_map(|i| [i.to_string(), i.to_string()]).collect();
        let r = fidelity(&single(&real), &single(&synth), &options())?;
        assert_eq!(r.columns[0].kind, ColumnKind::Numeric);
        assert!((r.univariate - 0.9).abs() < CLOSE, "{}", r.univariate);
        Ok(())
    }

    #[test]
    fn few_distinct_numbers_get_a_bin_each() -> Result<()> {
        // Exactly `bins` = 10 distinct numbers: one bin per value, compared as numbers.
        let real: Vec<String> = (1..=10).flat_map(|i| [i.to_string(), i.to_string()]).collect();
        let r = fidelity(&single(&real), &single(&real), &options())?;
        assert_eq!(r.columns[0].kind, ColumnKind::Numeric);
        // "1.0" is the number 1: nothing changes.
        let synth: Vec<String> =
            real.iter().map(|v| if v == "1" { "1.0".into() } else { v.clone() }).collect();
        assert!((univariate(&real, &synth)? - 1.0).abs() < CLOSE);
        // Both 1s become 11, beyond the largest real value: they join the last bin, [10, inf).
        // |2/20 - 0| for the bin of 1 and |2/20 - 4/20| for the last -> TVD 0.1.
        let synth: Vec<String> =
            real.iter().map(|v| if v == "1" { "11".into() } else { v.clone() }).collect();
        assert!((univariate(&real, &synth)? - 0.9).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn rare_categories_and_missing_take_top_places_as_in_mostlyai_qa() -> Result<()> {
        // Default options: a, b 5 rows each, c 4 rows (too rare for a bin), missing 6.
        let mut real = vec!["a"; 5];
        real.extend(["b"; 5]);
        real.extend(["c"; 4]);
        real.extend(["?"; 6]);
        // c -> d is a move within "other": accuracy 1.
        let synth: Vec<&str> = real.iter().map(|&v| if v == "c" { "d" } else { v }).collect();
        let r = fidelity(&single(&real), &single(&synth), &FidelityOptions::default())?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        // One top place only: missing (6 rows) takes it, so a and b share "other" too, and
        // a -> b costs nothing; with two places, a keeps one: moving its 5 of 20 rows to b
        // gives TVD 5/20.
        let synth: Vec<&str> = real.iter().map(|&v| if v == "a" { "b" } else { v }).collect();
        let one = FidelityOptions { top_categories: 1, ..Default::default() };
        let r = fidelity(&single(&real), &single(&synth), &one)?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        let two = FidelityOptions { top_categories: 2, ..Default::default() };
        let r = fidelity(&single(&real), &single(&synth), &two)?;
        assert!((r.univariate - 0.75).abs() < CLOSE, "{}", r.univariate);
        Ok(())
    }

    #[test]
    fn missing_values_have_their_own_bin() -> Result<()> {
        // 11 distinct numbers (numeric) plus 4 missing cells written three ways: n = 15.
        let mut real: Vec<String> = (1..=11).map(|i| i.to_string()).collect();
        real.extend(["", "NA", " ? ", "NA"].map(String::from));
        // The same numbers, but only 1 missing and 3 more 11s (the last numeric bin).
        // Missing bin: |4/15 - 1/15| = 3/15; bin of 11: |1/15 - 4/15| = 3/15 -> TVD = 3/15.
        let mut synth: Vec<String> = (1..=11).map(|i| i.to_string()).collect();
        synth.extend(["null", "11", "11", "11"].map(String::from));
        assert!((univariate(&real, &synth)? - 0.8).abs() < CLOSE);
        // Categorical too: real a a b ?, synthetic a a b b -> TVD = (1/4 + 1/4) / 2.
        assert!((univariate(&["a", "a", "b", "?"], &["a", "a", "b", "b"])? - 0.75).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn an_unparseable_synthetic_number_counts_against_accuracy() -> Result<()> {
        // 11 distinct numbers make the column numeric; one real value is missing (n = 12).
        let real = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "?"];
        // The missing one replaced by text: it leaves the missing bin (1/12) for the invalid
        // bin (1/12), where the real table has nothing -> TVD = (1/12 + 1/12) / 2 = 1/12.
        let mut synth = real;
        synth[11] = "oops";
        assert!((univariate(&real, &synth)? - (1.0 - 1.0 / 12.0)).abs() < CLOSE);
        // Another missing marker ("NA") is still missing: accuracy 1.
        synth[11] = "NA";
        assert!((univariate(&real, &synth)? - 1.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn categories_beyond_the_top_ten_share_other() -> Result<()> {
        // 12 categories: c0 x3, c1..c11 x1 (ties broken by text: c1, c10, c11, c2, ...).
        // The top 10 are c0, c1, c10, c11, c2..c7; c8 and c9 fall into "other" (n = 14).
        let mut real = vec!["c0", "c0", "c0"];
        let names: Vec<String> = (1..12).map(|i| format!("c{i}")).collect();
        real.extend(names.iter().map(String::as_str));
        // Swapping c8 for c9 (both "other") or an unseen value costs nothing.
        let mut synth = real.clone();
        let c8 = synth.iter().position(|v| *v == "c8").expect("c8");
        synth[c8] = "c9";
        assert!((univariate(&real, &synth)? - 1.0).abs() < CLOSE);
        synth[c8] = "never seen";
        assert!((univariate(&real, &synth)? - 1.0).abs() < CLOSE);
        // c8 -> c7 moves 1/14 from "other" to c7: TVD = (1/14 + 1/14) / 2.
        synth[c8] = "c7";
        assert!((univariate(&real, &synth)? - (1.0 - 1.0 / 14.0)).abs() < CLOSE);
        // c1 -> c8 moves 1/14 from a top bin to "other", with the same TVD.
        let mut synth = real.clone();
        synth[3] = "c8";
        assert!((univariate(&real, &synth)? - (1.0 - 1.0 / 14.0)).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn bivariate_accuracy_by_hand() -> Result<()> {
        // Real pairs (a,x) (a,y) (b,x) (b,y); synthetic (a,x) (a,x) (b,y) (b,y): each column's
        // marginal is identical (univariate 1), the joint differs: real 1/4 each cell,
        // synthetic 1/2 on two cells -> TVD = (1/4 * 2 + 1/4 * 2) / 2 = 1/2.
        let real = table(&["p", "q"], &[&["a", "x"], &["a", "y"], &["b", "x"], &["b", "y"]]);
        let synth = table(&["q", "p"], &[&["x", "a"], &["x", "a"], &["y", "b"], &["y", "b"]]);
        let r = fidelity(&real, &synth, &options())?;
        assert!((r.univariate - 1.0).abs() < CLOSE);
        assert_eq!(r.pairs, 1);
        assert!((r.bivariate.expect("pairs") - 0.5).abs() < CLOSE);
        assert!((r.overall - 0.75).abs() < CLOSE);
        // Matched by column name, every synthetic row is a real row.
        assert!((r.exact_row_share - 1.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn bivariate_is_the_mean_over_three_pairs() -> Result<()> {
        // Columns p, q, r. Real rows: (a,x,u) (a,y,u) (b,x,v) (b,y,v).
        // Synthetic rows: (a,x,u) (a,x,u) (b,y,v) (b,y,v). Marginals all equal.
        // Pair p-q: real uniform over 4 cells, synthetic 1/2 on (a,x), (b,y) -> accuracy 1/2.
        // Pair p-r: both 1/2 on (a,u), (b,v) -> accuracy 1.
        // Pair q-r: real 1/4 on (x,u) (y,u) (x,v) (y,v), synthetic 1/2 on (x,u) (y,v) -> 1/2.
        // Bivariate = (1/2 + 1 + 1/2) / 3 = 2/3; overall = (1 + 2/3) / 2 = 5/6.
        let names = ["p", "q", "r"];
        let real = table(
            &names,
            &[&["a", "x", "u"], &["a", "y", "u"], &["b", "x", "v"], &["b", "y", "v"]],
        );
        let synth = table(
            &names,
            &[&["a", "x", "u"], &["a", "x", "u"], &["b", "y", "v"], &["b", "y", "v"]],
        );
        let r = fidelity(&real, &synth, &options())?;
        assert_eq!(r.pairs, 3);
        assert!((r.bivariate.expect("pairs") - 2.0 / 3.0).abs() < CLOSE);
        assert!((r.overall - 5.0 / 6.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn trivariate_accuracy_by_hand() -> Result<()> {
        // Every column and every pair agrees exactly, but the triples do not: real rows are
        // aaa, aab, bba, bbb (1/4 each), synthetic aaa, aaa, bbb, bbb (1/2 each). TVD =
        // (|.25-.5| + .25 + .25 + |.25-.5|) / 2 = 0.5, so trivariate accuracy is 0.5.
        let real = table(
            &["x", "y", "z"],
            &[&["a", "a", "a"], &["a", "a", "b"], &["b", "b", "a"], &["b", "b", "b"]],
        );
        let synthetic = table(
            &["x", "y", "z"],
            &[&["a", "a", "a"], &["a", "a", "a"], &["b", "b", "b"], &["b", "b", "b"]],
        );
        let report = fidelity(&real, &synthetic, &options())?;
        assert_eq!(report.univariate, 1.0);
        assert_eq!(report.triples, 1);
        assert!((report.trivariate.unwrap() - 0.5).abs() < 1e-12, "{report:?}");
        // x and z: real (a,a) (a,b) (b,a) (b,b) = 1/4 each, synthetic aa, bb = 1/2: accuracy 0.5;
        // y and z the same; x and y agree: bivariate (1 + 0.5 + 0.5) / 3.
        assert!((report.bivariate.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let off = FidelityOptions { triples: 0, ..Default::default() };
        assert_eq!(fidelity(&real, &synthetic, &off)?.trivariate, None);
        Ok(())
    }

    #[test]
    fn columns_carry_their_bin_shares_for_charts() -> Result<()> {
        let report = univariate_report(&["a", "a", "b"], &["a", "b", "b", "?"])?;
        let bins = &report.columns[0].bins;
        let labels: Vec<&str> = bins.iter().map(|b| b.label.as_str()).collect();
        // Missing is shown because the synthetic side has one; it is empty on the real side.
        assert_eq!(labels, ["a", "b", "other", "missing"]);
        assert!(
            (bins[0].real - 2.0 / 3.0).abs() < 1e-12 && (bins[0].synthetic - 0.25).abs() < 1e-12
        );
        assert!((bins[3].synthetic - 0.25).abs() < 1e-12 && bins[3].real == 0.0);
        // Each of 1..=20 twice (all-distinct integers would be an identifier).
        let numbers: Vec<String> = (2..=41).map(|i| (i / 2).to_string()).collect();
        let report = univariate_report(&numbers, &numbers)?;
        let labels: Vec<&str> = report.columns[0].bins.iter().map(|b| b.label.as_str()).collect();
        // 11 points (step 3.9) at positions 0, 3, 7, ..., 35, 39 -> breaks 1, 2, 4, ..., 18,
        // 20; the inner ones, 2, 4, ..., 18, are the edges.
        assert_eq!(labels.first(), Some(&"< 2"));
        assert_eq!(labels[1], "[2, 4)");
        assert_eq!(labels.last(), Some(&">= 18"));
        assert_eq!(short(1234.5678), "1235");
        assert_eq!(short(0.0123456), "0.01235");
        Ok(())
    }

    fn univariate_report<S: AsRef<str>>(real: &[S], synthetic: &[S]) -> Result<FidelityReport> {
        fidelity(&single(real), &single(synthetic), &options())
    }

    #[test]
    fn exact_share_counts_copied_rows() {
        let real = table(&["a", "b"], &[&["1", "x"], &["2", "y"]]);
        let synth = table(&["a", "b"], &[&["1", "x"], &["1", "y"], &["2", "y"], &["3", "z"]]);
        assert!((exact_match_share(&real, &synth) - 0.5).abs() < CLOSE);
        // Columns are matched by name; a missing real column means nothing can match.
        let swapped = table(&["b", "a"], &[&["x", "1"], &["y", "1"], &["z", "3"]]);
        assert!((exact_match_share(&real, &swapped) - 1.0 / 3.0).abs() < CLOSE);
        let narrow = table(&["a"], &[&["1"]]);
        assert_eq!(exact_match_share(&real, &narrow), 0.0);
    }

    #[test]
    fn identifier_columns_are_skipped() -> Result<()> {
        let real = table(&["id", "v"], &[&["1", "a"], &["2", "a"], &["3", "b"]]);
        let r = fidelity(&real, &real, &options())?;
        assert_eq!(r.columns[0].kind, ColumnKind::Skipped);
        assert!(r.columns[0].note.as_deref().is_some_and(|n| n.contains("row number")));
        assert_eq!(r.columns[0].accuracy, None);
        assert_eq!(r.pairs, 0);
        // Unique fractional numbers are a measurement, not an identifier.
        let floats: Vec<String> = (0..12).map(|i| format!("{i}.5")).collect();
        let r = fidelity(&single(&floats), &single(&floats), &options())?;
        assert_eq!(r.columns[0].kind, ColumnKind::Numeric);
        // Named in the options.
        let options = FidelityOptions { skip_columns: vec!["v".into()], ..Default::default() };
        let err = fidelity(&real, &real, &options).unwrap_err();
        assert!(matches!(err, Error::NothingToCompare { .. }), "{err}");
        assert!(err.to_string().contains("'v': skipped by the options"), "{err}");
        Ok(())
    }

    #[test]
    fn mismatched_columns_are_named() {
        let real = table(&["id", "v"], &[&["1", "a"]]);
        let extra = table(&["id", "v", "w"], &[&["1", "a", "b"]]);
        let err = fidelity(&real, &extra, &options()).unwrap_err();
        assert!(matches!(&err, Error::Columns { column, .. } if column == "w"), "{err}");
        let missing = table(&["id"], &[&["1"]]);
        let err = fidelity(&real, &missing, &options()).unwrap_err();
        assert!(matches!(&err, Error::Columns { column, .. } if column == "v"), "{err}");
        assert_eq!(err.to_string(), "column 'v' is in the real table but not in the synthetic one");
        let twice = table(&["v", "v"], &[&["1", "a"]]);
        let err = fidelity(&twice, &twice, &options()).unwrap_err();
        assert!(matches!(&err, Error::Columns { column, .. } if column == "v"), "{err}");
    }

    #[test]
    fn empty_tables_and_bad_options_are_errors() {
        let real = table(&["v"], &[&["a"]]);
        let empty = table(&["v"], &[]);
        let options = FidelityOptions::default();
        let err = fidelity(&real, &empty, &options).unwrap_err();
        assert!(matches!(err, Error::NoRows { table: "synthetic" }), "{err}");
        let err = fidelity(&empty, &real, &options).unwrap_err();
        assert!(matches!(err, Error::NoRows { table: "real" }), "{err}");
        let options = FidelityOptions { bins: 0, ..Default::default() };
        let err = fidelity(&real, &real, &options).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "bins", value: 0, .. }), "{err}");
    }

    #[test]
    fn numeric_bins_are_closed_below_and_open_above() {
        // Edges 2 and 4: bins (-inf, 2), [2, 4), [4, inf), then missing, then not a number.
        let b = Binner::Numeric { edges: vec![2.0, 4.0] };
        let options = FidelityOptions::default();
        let bins: Vec<u16> = ["-7", "2", "2.5", "4", "4.1", " 9 ", "NA", "x", "inf"]
            .map(|c| b.bin(c, &options))
            .into();
        assert_eq!(bins, [0, 1, 1, 2, 2, 2, 3, 4, 4]);
        assert_eq!(b.bins(), 5);
    }

    #[test]
    fn numeric_edges_follow_mostlyai_qa() {
        // Values 1..=20, 4 bins. i = 4 points: step 19/3, positions 0, 6, 12, 19 -> values
        // 1, 7, 13, 20: only 4 breaks. i = 5: step 4.75, positions 0, 4, 9, 14, 19 -> 1, 5,
        // 10, 15, 20: 5 breaks; the inner ones are the edges.
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(numeric_edges(&values, 4), vec![5.0, 10.0, 15.0]);
        // Eight 0s then 1, 2, 3 (n = 11), 2 bins: i = 2..=5 points all land on 0s and the
        // last value; i = 6 (step 2, positions 0, 2, 4, 6, 8, 10) reaches the 1 at position
        // 8: breaks 0, 1, 3.
        let tied = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0];
        assert_eq!(numeric_edges(&tied, 2), vec![1.0]);
        // Breaks 0.5, 1.25, 2.5 (i = 3: positions 0, 2, 4) are rounded down to whole numbers,
        // which keep them distinct: 0, 1, 2.5. So 1.1 falls in [1, 2.5), not below 1.25.
        assert_eq!(numeric_edges(&[0.5, 1.1, 1.25, 1.75, 2.5], 2), vec![1.0]);
        // 0.15, 0.25, 0.35 collide at 0 decimals; at 1 decimal: 0.1, 0.2, (last kept) 0.35.
        assert_eq!(numeric_edges(&[0.15, 0.25, 0.35], 2), vec![0.2]);
        // At most `bins` distinct values: one bin each; breaks 1, 2, 3, 3 + 1.
        assert_eq!(numeric_edges(&[1.0, 2.0, 2.0, 3.0], 10), vec![2.0, 3.0]);
    }

    #[test]
    fn the_report_serializes_with_lowercase_kinds() -> Result<()> {
        let real = table(&["id", "v"], &[&["1", "a"], &["2", "a"], &["3", "b"]]);
        let r = fidelity(&real, &real, &options())?;
        let json = serde_json::to_value(&r)
            .map_err(|e| Error::Table(doppel_table::Error::Argument(e.to_string())))?;
        assert_eq!(json["columns"][0]["kind"], "skipped");
        assert_eq!(json["columns"][1]["kind"], "categorical");
        assert_eq!(json["univariate"], 1.0);
        assert!(json["bivariate"].is_null());
        Ok(())
    }
}
