//! A small, fast, deterministic learner for mixed tabular data, and the scores used to judge it.
//!
//! [`fit`] trains histogram gradient-boosted trees (Friedman 2001, "Greedy function
//! approximation"; Newton leaf values and split gains of XGBoost, Chen & Guestrin 2016, eqs. 5
//! and 7; histograms as in LightGBM, Ke et al. 2017):
//!
//! - **Bins.** Each feature is binned once, from the training rows. A numeric column gets at most
//!   [`MAX_VALUE_BINS`] bins of about equal counts over its distinct values (a value is never
//!   split across bins, so a spike like "capital gain = 0" takes one bin and the others share the
//!   rest), cut at midpoints between neighbouring values, plus a bin for missing values. A
//!   categorical column gets one bin for each of its [`MAX_VALUE_BINS`] - 1 most frequent training
//!   levels, one "other" bin (rarer or unseen levels) and one missing bin.
//! - **Splits.** A split sends a set of bins to the left child. Numeric: bins up to a threshold,
//!   with the missing bin on whichever side gains more (on the larger side when training had no
//!   missing values). Categorical: the bins are sorted by `G / (H + 10)` (gradient over smoothed
//!   hessian) and the best prefix of that order goes left (Fisher 1958; LightGBM's categorical
//!   split); bins the node never saw go to its larger child.
//! - **Trees.** Depth-limited ([`BoostOptions::depth`]), a leaf needs
//!   [`BoostOptions::min_leaf`] rows, leaf values `-G / (H + l2)` shrunk by the learning rate,
//!   and a child's histogram is its parent's minus its sibling's, so only the smaller child is
//!   counted.
//! - **Losses.** Squared error (regression); logistic (two classes, one tree per round);
//!   softmax (more classes, one tree per class per round, hessian `K/(K-1) p (1-p)` as in
//!   LightGBM's multiclass objective).
//!
//! Cost per tree: building histograms touches about `2.5 * rows * features` bin cells at depth 4
//! (the root, then the smaller child at each of the three levels below), each a 3-number update;
//! 100 trees over 20,000 rows and 14 features are about 70 M updates.
//!
//! No randomness: the same rows give the same model on every platform.

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Values, MISSING};

/// Value bins per feature (a missing bin comes on top): numeric quantile bins, or categorical
/// top levels plus "other".
pub const MAX_VALUE_BINS: usize = 32;

/// Smoothing added to the hessian when categorical bins are ordered by `G / (H + s)`, so that a
/// rare level does not jump to an end of the order (LightGBM's `cat_smooth` default).
const CATEGORY_SMOOTHING: f64 = 10.0;

/// Smallest split gain worth a split.
const MIN_GAIN: f64 = 1e-9;

/// Class probabilities are kept in `[EPS, 1 - EPS]` for the initial log-odds.
const EPS: f64 = 1e-6;

/// How the trees are grown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoostOptions {
    /// Boosting rounds (default 100).
    pub rounds: usize,
    /// Largest tree depth (default 4: up to 16 leaves).
    pub depth: usize,
    /// Shrinkage applied to each tree's leaf values (default 0.1).
    pub learning_rate: f64,
    /// Fewest training rows in a leaf (default 20).
    pub min_leaf: usize,
    /// L2 penalty on leaf values, added to the hessian sum (default 1.0).
    pub l2: f64,
}

impl Default for BoostOptions {
    fn default() -> Self {
        BoostOptions { rounds: 100, depth: 4, learning_rate: 0.1, min_leaf: 20, l2: 1.0 }
    }
}

/// What to learn, one entry per training row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target<'a> {
    /// Class codes `0..classes` (`classes >= 2`): logistic loss for two, softmax for more.
    Classes {
        /// The class of each row.
        labels: &'a [u32],
        /// The number of classes.
        classes: usize,
    },
    /// Finite numbers: squared error.
    Regression(&'a [f64]),
}

/// A model's output for a set of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    /// Predicted numbers (regression).
    Values(Vec<f64>),
    /// Class probabilities, row-major: row `i`'s are `p[i * classes..(i + 1) * classes]`.
    Probabilities {
        /// The number of classes.
        classes: usize,
        /// The probabilities.
        p: Vec<f64>,
    },
}

impl Prediction {
    /// The most probable class of each row (ties to the lower code); empty for regression.
    pub fn labels(&self) -> Vec<u32> {
        match self {
            Prediction::Values(_) => Vec::new(),
            Prediction::Probabilities { classes, p } => p
                .chunks(*classes)
                .map(|row| {
                    let best =
                        row.iter().enumerate().fold(0, |b, (k, &q)| if q > row[b] { k } else { b });
                    best as u32
                })
                .collect(),
        }
    }

    /// Each row's probability of `class` (empty for regression).
    pub fn class_scores(&self, class: usize) -> Vec<f64> {
        match self {
            Prediction::Values(_) => Vec::new(),
            Prediction::Probabilities { classes, p } => {
                p.chunks(*classes).map(|row| row[class]).collect()
            }
        }
    }
}

/// How one feature's cells map to bins.
#[derive(Clone, Debug, PartialEq)]
enum Binning {
    /// Value bins `0..=cuts.len()` (bin `i` holds `(cuts[i-1], cuts[i]]`), then missing.
    Numeric { cuts: Vec<f64> },
    /// `map[code]` for codes seen in training, `other` for the rest, `other + 1` for missing.
    Categorical { map: Vec<u8>, other: u8 },
}

impl Binning {
    /// Bins of this feature, the missing bin included.
    fn bins(&self) -> usize {
        match self {
            Binning::Numeric { cuts } => cuts.len() + 2,
            Binning::Categorical { other, .. } => *other as usize + 2,
        }
    }

    fn ordered(&self) -> bool {
        matches!(self, Binning::Numeric { .. })
    }

    fn fit(values: &Values, rows: &[usize]) -> Binning {
        match values {
            Values::Numeric(v) => {
                let mut present: Vec<f64> =
                    rows.iter().map(|&r| v[r]).filter(|x| !x.is_nan()).collect();
                present.sort_by(f64::total_cmp);
                Binning::Numeric { cuts: numeric_cuts(&present, MAX_VALUE_BINS) }
            }
            Values::Categorical(v) => {
                let codes: Vec<u32> =
                    rows.iter().map(|&r| v[r]).filter(|&c| c != MISSING).collect();
                let (map, other) = top_levels(&codes, MAX_VALUE_BINS - 1);
                Binning::Categorical { map, other }
            }
        }
    }

    /// The bins of `rows` of `values` (which must have this binning's kind).
    fn apply(&self, values: &Values, rows: &[usize]) -> Vec<u8> {
        match (self, values) {
            (Binning::Numeric { cuts }, Values::Numeric(v)) => rows
                .iter()
                .map(|&r| {
                    let x = v[r];
                    let bin =
                        if x.is_nan() { cuts.len() + 1 } else { cuts.partition_point(|&c| c < x) };
                    bin as u8
                })
                .collect(),
            (Binning::Categorical { map, other }, Values::Categorical(v)) => rows
                .iter()
                .map(|&r| match v[r] {
                    MISSING => other + 1,
                    c => map.get(c as usize).copied().unwrap_or(*other),
                })
                .collect(),
            _ => panic!("a column's kind differs from the one the model was trained on"),
        }
    }
}

/// Cut points of at most `max_bins` bins over sorted, non-NaN `sorted`, greedily closing a bin
/// once it holds its fair share (`remaining rows / remaining bins`) of the values, never splitting
/// equal values (after LightGBM's `GreedyFindBin`). Cuts are midpoints between neighbours.
fn numeric_cuts(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &x in sorted {
        match distinct.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => distinct.push((x, 1)),
        }
    }
    let mut cuts = Vec::new();
    let (mut remaining, mut filled) = (sorted.len(), 0usize);
    for (i, w) in distinct.windows(2).enumerate() {
        if cuts.len() + 1 >= max_bins {
            break;
        }
        filled += w[0].1;
        let share = remaining as f64 / (max_bins - cuts.len()) as f64;
        // With few distinct values left, every value gets its own bin.
        let left_values = distinct.len() - i - 1;
        if filled as f64 >= share || left_values < max_bins - cuts.len() {
            cuts.push(w[0].0 + (w[1].0 - w[0].0) / 2.0);
            remaining -= filled;
            filled = 0;
        }
    }
    cuts
}

/// Bins for the `top` most frequent codes (ties to the lower code): `map[code]` is the code's
/// bin, and every other code gets the returned "other" bin (= the number of top codes).
fn top_levels(codes: &[u32], top: usize) -> (Vec<u8>, u8) {
    let size = codes.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut counts = vec![0usize; size];
    for &c in codes {
        counts[c as usize] += 1;
    }
    let mut ranked: Vec<usize> = (0..size).filter(|&c| counts[c] > 0).collect();
    ranked.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    ranked.truncate(top);
    let other = ranked.len() as u8;
    let mut map = vec![other; size];
    for (bin, &c) in ranked.iter().enumerate() {
        map[c] = bin as u8;
    }
    (map, other)
}

/// Features as bins, column-major: `columns[f][i]` is row `i`'s bin of feature `f`.
struct Binned {
    columns: Vec<Vec<u8>>,
    /// Where each feature's bins start in a node histogram; the last entry is the total.
    offsets: Vec<usize>,
    ordered: Vec<bool>,
}

/// One tree node: a split sends rows whose bin of `feature` is in `left_bins` to `left`.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Split { feature: usize, left_bins: u64, left: usize, right: usize },
    Leaf(f64),
}

/// A regression tree over bins; node 0 is the root.
#[derive(Clone, Debug, PartialEq)]
struct Tree(Vec<Node>);

impl Tree {
    fn value(&self, columns: &[Vec<u8>], row: usize) -> f64 {
        let mut at = 0;
        loop {
            match self.0[at] {
                Node::Leaf(v) => return v,
                Node::Split { feature, left_bins, left, right } => {
                    let bin = columns[feature][row];
                    at = if left_bins >> bin & 1 == 1 { left } else { right };
                }
            }
        }
    }
}

/// A trained gradient-boosted model; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    features: Vec<usize>,
    binnings: Vec<Binning>,
    /// `classes` for classification, 0 for regression.
    classes: usize,
    /// Initial raw score of each output.
    base: Vec<f64>,
    /// Round-major: round `r`'s tree for output `k` is `trees[r * outputs + k]`.
    trees: Vec<Tree>,
    importance: Vec<f64>,
}

/// Trains a model on `rows` of `frame`, using the columns `features` as inputs; `target[i]`
/// belongs to `rows[i]`. Deterministic. Panics when the target's length differs from `rows`'s,
/// or when a class code is not below `classes` or `classes < 2`.
pub fn fit(
    frame: &Frame,
    rows: &[usize],
    features: &[usize],
    target: Target<'_>,
    options: &BoostOptions,
) -> Model {
    let binnings: Vec<Binning> =
        features.iter().map(|&f| Binning::fit(&frame.columns[f], rows)).collect();
    let x = bin_rows(frame, rows, features, &binnings);
    let (classes, outputs, y) = match target {
        Target::Classes { labels, classes } => {
            assert!(classes >= 2 && labels.iter().all(|&c| (c as usize) < classes));
            (classes, if classes == 2 { 1 } else { classes }, labels.len())
        }
        Target::Regression(values) => (0, 1, values.len()),
    };
    assert_eq!(y, rows.len(), "one target value per training row");
    let base = initial_scores(target, classes);
    let mut model = Model {
        features: features.to_vec(),
        binnings,
        classes,
        base,
        trees: Vec::with_capacity(options.rounds * outputs),
        importance: vec![0.0; features.len()],
    };
    let n = rows.len();
    let mut raw: Vec<f64> = (0..n).flat_map(|_| model.base.iter().copied()).collect();
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    let mut grower = Grower::new(&x, options, n);
    for _ in 0..options.rounds {
        let p = if outputs > 1 { softmax_rows(&raw, outputs) } else { Vec::new() };
        for k in 0..outputs {
            gradients(target, &raw, &p, k, outputs, &mut g, &mut h);
            let tree = grower.grow(&g, &h, &mut model.importance);
            for (row, value) in grower.leaf_rows() {
                raw[row * outputs + k] += value;
            }
            model.trees.push(tree);
        }
    }
    model
}

fn bin_rows(frame: &Frame, rows: &[usize], features: &[usize], binnings: &[Binning]) -> Binned {
    let columns =
        features.iter().zip(binnings).map(|(&f, b)| b.apply(&frame.columns[f], rows)).collect();
    let mut offsets = vec![0];
    for b in binnings {
        offsets.push(offsets.last().unwrap() + b.bins());
    }
    Binned { columns, offsets, ordered: binnings.iter().map(Binning::ordered).collect() }
}

/// Raw scores before any tree: the mean (regression), the log-odds of class 1 (two classes),
/// or the log of each class's share (softmax), shares kept away from 0 and 1.
fn initial_scores(target: Target<'_>, classes: usize) -> Vec<f64> {
    match target {
        Target::Regression(y) => vec![y.iter().sum::<f64>() / y.len().max(1) as f64],
        Target::Classes { labels, .. } => {
            let mut counts = vec![0usize; classes];
            labels.iter().for_each(|&c| counts[c as usize] += 1);
            let share =
                |c: usize| (counts[c] as f64 / labels.len().max(1) as f64).clamp(EPS, 1.0 - EPS);
            if classes == 2 {
                vec![libm::log(share(1) / (1.0 - share(1)))]
            } else {
                (0..classes).map(|c| libm::log(share(c))).collect()
            }
        }
    }
}

// exp and log come from the pure-Rust `libm` rather than the platform's: glibc and the wasm32
// port differ in the last bit, which flips near-tied splits, and the browser report must equal
// the native one exactly.
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-z))
}

/// Softmax of each row of `raw` (`width` scores per row), shifted by the row's maximum.
fn softmax_rows(raw: &[f64], width: usize) -> Vec<f64> {
    let mut p = raw.to_vec();
    for row in p.chunks_mut(width) {
        let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.iter_mut().for_each(|z| *z = libm::exp(*z - top));
        let sum: f64 = row.iter().sum();
        row.iter_mut().for_each(|z| *z /= sum);
    }
    p
}

/// First and second derivatives of the loss in output `k`'s raw score, per row.
fn gradients(
    target: Target<'_>,
    raw: &[f64],
    p: &[f64],
    k: usize,
    outputs: usize,
    g: &mut [f64],
    h: &mut [f64],
) {
    match target {
        Target::Regression(y) => {
            for i in 0..y.len() {
                (g[i], h[i]) = (raw[i] - y[i], 1.0);
            }
        }
        Target::Classes { labels, .. } if outputs == 1 => {
            for (i, &c) in labels.iter().enumerate() {
                let q = sigmoid(raw[i]);
                (g[i], h[i]) = (q - c as f64, (q * (1.0 - q)).max(1e-16));
            }
        }
        Target::Classes { labels, classes } => {
            let factor = classes as f64 / (classes as f64 - 1.0);
            for (i, &c) in labels.iter().enumerate() {
                let q = p[i * outputs + k];
                let y = (c as usize == k) as u8 as f64;
                (g[i], h[i]) = (q - y, (factor * q * (1.0 - q)).max(1e-16));
            }
        }
    }
}

impl Model {
    /// Predicts `rows` of `frame`, which must have the training frame's column kinds (e.g. be
    /// encoded with the same [`Schema`](crate::frame::Schema)).
    pub fn predict(&self, frame: &Frame, rows: &[usize]) -> Prediction {
        let x = bin_rows(frame, rows, &self.features, &self.binnings);
        let outputs = self.base.len();
        let mut raw: Vec<f64> = (0..rows.len()).flat_map(|_| self.base.iter().copied()).collect();
        for (t, tree) in self.trees.iter().enumerate() {
            let k = t % outputs;
            for i in 0..rows.len() {
                raw[i * outputs + k] += tree.value(&x.columns, i);
            }
        }
        match self.classes {
            0 => Prediction::Values(raw),
            2 => {
                let p = raw.iter().flat_map(|&z| [1.0 - sigmoid(z), sigmoid(z)]).collect();
                Prediction::Probabilities { classes: 2, p }
            }
            classes => Prediction::Probabilities { classes, p: softmax_rows(&raw, classes) },
        }
    }

    /// Each feature's total split gain, in the order of `features` given to [`fit`], as shares
    /// summing to 1 (all zeros when no tree split).
    pub fn importance(&self) -> Vec<f64> {
        let total: f64 = self.importance.iter().sum();
        self.importance.iter().map(|g| if total > 0.0 { g / total } else { 0.0 }).collect()
    }
}

/// Gradient, hessian and row count summed over a bin or a node.
#[derive(Clone, Copy, Debug, Default)]
struct Stat {
    g: f64,
    h: f64,
    n: f64,
}

impl Stat {
    fn add(&mut self, o: Stat) {
        (self.g, self.h, self.n) = (self.g + o.g, self.h + o.h, self.n + o.n);
    }

    fn sub(self, o: Stat) -> Stat {
        Stat { g: self.g - o.g, h: self.h - o.h, n: self.n - o.n }
    }

    /// `G^2 / (H + l2)`: twice the loss reduction a leaf with these sums achieves (XGBoost eq. 7).
    fn score(self, l2: f64) -> f64 {
        self.g * self.g / (self.h + l2)
    }
}

/// The best split found for a node.
#[derive(Clone, Copy, Debug)]
struct Split {
    feature: usize,
    left_bins: u64,
    gain: f64,
    left: Stat,
    right: Stat,
}

/// Grows one tree at a time over the same binned rows, reusing its buffers.
struct Grower<'a> {
    x: &'a Binned,
    options: &'a BoostOptions,
    /// Row indices, permuted so that every node's rows are a contiguous range.
    order: Vec<u32>,
    scratch: Vec<u32>,
    /// Gradient and hessian of `order`'s rows, gathered per node.
    gh: Vec<(f64, f64)>,
    /// The last tree's leaves: a range of `order` and the (shrunk) value.
    leaves: Vec<(usize, usize, f64)>,
}

impl<'a> Grower<'a> {
    fn new(x: &'a Binned, options: &'a BoostOptions, n: usize) -> Grower<'a> {
        Grower {
            x,
            options,
            order: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            gh: Vec::with_capacity(n),
            leaves: Vec::new(),
        }
    }

    /// Rows of the last tree with the value their leaf added.
    fn leaf_rows(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.leaves
            .iter()
            .flat_map(|&(a, b, v)| self.order[a..b].iter().map(move |&r| (r as usize, v)))
    }

    fn grow(&mut self, g: &[f64], h: &[f64], importance: &mut [f64]) -> Tree {
        let n = g.len();
        self.order.clear();
        self.order.extend(0..n as u32);
        self.leaves.clear();
        let hist = self.histogram(0, n, g, h);
        let total = hist[..self.x.offsets[1]].iter().fold(Stat::default(), |mut s, b| {
            s.add(*b);
            s
        });
        let mut nodes = Vec::new();
        self.node(&mut nodes, (0, n), total, Some(hist), 0, g, h, importance);
        Tree(nodes)
    }

    /// Adds the node over `order[range]` (and its subtree) to `nodes`; returns its index.
    /// `hist` is the node's histogram, `None` at the depth limit, where no split is tried.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        nodes: &mut Vec<Node>,
        (a, b): (usize, usize),
        total: Stat,
        hist: Option<Vec<Stat>>,
        depth: usize,
        g: &[f64],
        h: &[f64],
        importance: &mut [f64],
    ) -> usize {
        let at = nodes.len();
        let split = hist.as_ref().and_then(|hist| self.best_split(hist, total));
        let (Some(split), Some(mut hist)) = (split, hist) else {
            let value = -total.g / (total.h + self.options.l2) * self.options.learning_rate;
            self.leaves.push((a, b, value));
            nodes.push(Node::Leaf(value));
            return at;
        };
        importance[split.feature] += split.gain;
        nodes.push(Node::Leaf(0.0));
        let mid = self.partition(a, b, split.feature, split.left_bins);
        let (hl, hr) = if depth + 1 < self.options.depth {
            // Count the smaller child; the larger is the parent minus it.
            let left_smaller = mid - a <= b - mid;
            let (sa, sb) = if left_smaller { (a, mid) } else { (mid, b) };
            let small = self.histogram(sa, sb, g, h);
            hist.iter_mut().zip(&small).for_each(|(p, s)| *p = p.sub(*s));
            if left_smaller {
                (Some(small), Some(hist))
            } else {
                (Some(hist), Some(small))
            }
        } else {
            (None, None)
        };
        let left = self.node(nodes, (a, mid), split.left, hl, depth + 1, g, h, importance);
        let right = self.node(nodes, (mid, b), split.right, hr, depth + 1, g, h, importance);
        nodes[at] = Node::Split { feature: split.feature, left_bins: split.left_bins, left, right };
        at
    }

    /// The histogram of `order[a..b]`: every feature's bins, laid out by `x.offsets`.
    fn histogram(&mut self, a: usize, b: usize, g: &[f64], h: &[f64]) -> Vec<Stat> {
        let rows = &self.order[a..b];
        self.gh.clear();
        self.gh.extend(rows.iter().map(|&r| (g[r as usize], h[r as usize])));
        let mut hist = vec![Stat::default(); *self.x.offsets.last().unwrap()];
        for (f, column) in self.x.columns.iter().enumerate() {
            let bins = &mut hist[self.x.offsets[f]..self.x.offsets[f + 1]];
            // The hot loop: rows ascend, so `column` is read forwards.
            for (&r, &(gi, hi)) in rows.iter().zip(&self.gh) {
                let s = &mut bins[column[r as usize] as usize];
                (s.g, s.h, s.n) = (s.g + gi, s.h + hi, s.n + 1.0);
            }
        }
        hist
    }

    /// Stable partition of `order[a..b]` by the split; returns where the right rows start.
    fn partition(&mut self, a: usize, b: usize, feature: usize, left_bins: u64) -> usize {
        let column = &self.x.columns[feature];
        self.scratch.clear();
        let mut mid = a;
        for i in a..b {
            let r = self.order[i];
            if left_bins >> column[r as usize] & 1 == 1 {
                self.order[mid] = r;
                mid += 1;
            } else {
                self.scratch.push(r);
            }
        }
        self.order[mid..b].copy_from_slice(&self.scratch);
        mid
    }

    fn best_split(&self, hist: &[Stat], total: Stat) -> Option<Split> {
        let mut best: Option<Split> = None;
        for f in 0..self.x.columns.len() {
            let bins = &hist[self.x.offsets[f]..self.x.offsets[f + 1]];
            let found = if self.x.ordered[f] {
                self.numeric_split(f, bins, total)
            } else {
                self.categorical_split(f, bins, total)
            };
            if let Some(s) = found {
                if best.is_none_or(|b| s.gain > b.gain) {
                    best = Some(s);
                }
            }
        }
        best
    }

    /// A candidate if both sides are large enough and it gains something.
    fn candidate(&self, feature: usize, left_bins: u64, left: Stat, total: Stat) -> Option<Split> {
        let right = total.sub(left);
        let min = self.options.min_leaf.max(1) as f64;
        if left.n < min || right.n < min {
            return None;
        }
        let l2 = self.options.l2;
        let gain = left.score(l2) + right.score(l2) - total.score(l2);
        (gain > MIN_GAIN).then_some(Split { feature, left_bins, gain, left, right })
    }

    /// Thresholds between value bins; the missing bin (last) tries both sides.
    fn numeric_split(&self, f: usize, bins: &[Stat], total: Stat) -> Option<Split> {
        let missing_bin = bins.len() - 1;
        let (missing, missing_mask) = (bins[missing_bin], 1u64 << missing_bin);
        let mut best: Option<Split> = None;
        let mut keep = |s: Option<Split>| {
            if let Some(s) = s.filter(|s| best.is_none_or(|b| s.gain > b.gain)) {
                best = Some(s);
            }
        };
        let mut left = Stat::default();
        // The last value bin is no threshold: nothing would be left on the right.
        for (t, &bin) in bins[..missing_bin.saturating_sub(1)].iter().enumerate() {
            left.add(bin);
            let below = (1u64 << (t + 1)) - 1;
            if missing.n > 0.0 {
                let mut with_missing = left;
                with_missing.add(missing);
                keep(self.candidate(f, below | missing_mask, with_missing, total));
                keep(self.candidate(f, below, left, total));
            } else {
                // Missing values unseen here follow the larger child.
                let mask = if 2.0 * left.n >= total.n { below | missing_mask } else { below };
                keep(self.candidate(f, mask, left, total));
            }
        }
        best
    }

    /// Bins sorted by `G / (H + smoothing)`; the best prefix goes left.
    fn categorical_split(&self, f: usize, bins: &[Stat], total: Stat) -> Option<Split> {
        let mut seen: Vec<usize> = (0..bins.len()).filter(|&i| bins[i].n > 0.0).collect();
        let ratio = |i: usize| bins[i].g / (bins[i].h + CATEGORY_SMOOTHING);
        seen.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)).then(a.cmp(&b)));
        let unseen: u64 = (0..bins.len()).filter(|&i| bins[i].n == 0.0).map(|i| 1 << i).sum();
        let mut best: Option<Split> = None;
        let (mut left, mut mask) = (Stat::default(), 0u64);
        for &i in seen.iter().take(seen.len().saturating_sub(1)) {
            left.add(bins[i]);
            mask |= 1 << i;
            let full = if 2.0 * left.n >= total.n { mask | unseen } else { mask };
            if let Some(s) = self.candidate(f, full, left, total) {
                if best.is_none_or(|b| s.gain > b.gain) {
                    best = Some(s);
                }
            }
        }
        best
    }
}

/// The area under the ROC curve of `scores` for telling `labels == true` from `false`: the
/// Mann-Whitney statistic `U / (n_pos n_neg)`, where `U = R_pos - n_pos (n_pos + 1) / 2` and
/// `R_pos` is the positives' rank sum with tied scores sharing their mean rank (so a tie
/// between a positive and a negative counts one half; Mann & Whitney 1947, Hanley & McNeil
/// 1982). `None` when a class is empty, a score is NaN or the lengths differ.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1..=j share their mean, (i + 1 + j) / 2.
        let tied_positives = order[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum += tied_positives as f64 * (i + 1 + j) as f64 / 2.0;
        i = j;
    }
    let (p, q) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * q))
}

/// Macro-averaged one-vs-rest AUC (as scikit-learn's `roc_auc_score(multi_class="ovr",
/// average="macro")`): the mean of [`roc_auc`] of each class's probability against the rest,
/// over the classes that occur in `labels` but not in all of them. `None` when there is none.
pub fn macro_auc(prediction: &Prediction, labels: &[u32]) -> Option<f64> {
    let Prediction::Probabilities { classes, .. } = prediction else { return None };
    let aucs: Vec<f64> = (0..*classes)
        .filter_map(|k| {
            let is_k: Vec<bool> = labels.iter().map(|&c| c as usize == k).collect();
            roc_auc(&prediction.class_scores(k), &is_k)
        })
        .collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// The share of `predicted` equal to `actual`; `None` when empty. Panics when lengths differ.
pub fn accuracy(predicted: &[u32], actual: &[u32]) -> Option<f64> {
    assert_eq!(predicted.len(), actual.len(), "one prediction per label");
    let hits = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    (!actual.is_empty()).then(|| hits as f64 / actual.len() as f64)
}

/// The coefficient of determination `R^2 = 1 - SS_res / SS_tot`, with `SS_res = sum (y - f)^2`
/// and `SS_tot = sum (y - mean y)^2` (scikit-learn's `r2_score`). `None` when empty, when the
/// actual values are all equal, or when the figure is not finite (a prediction that is not a
/// number). Values and predictions are scaled alike by a power of two first
/// ([`crate::moments`]), which leaves `R^2` unchanged but keeps sums near the f64 limits
/// finite. Panics when lengths differ.
pub fn r2(predicted: &[f64], actual: &[f64]) -> Option<f64> {
    assert_eq!(predicted.len(), actual.len(), "one prediction per value");
    if actual.is_empty() {
        return None;
    }
    let k = crate::moments::unit_scale(actual.iter().chain(predicted).copied());
    let mean = actual.iter().map(|y| y * k).sum::<f64>() / actual.len() as f64;
    let ss_tot: f64 = actual.iter().map(|y| (y * k - mean).powi(2)).sum();
    let ss_res: f64 = predicted.iter().zip(actual).map(|(f, y)| (y * k - f * k).powi(2)).sum();
    let r2 = 1.0 - ss_res / ss_tot;
    (ss_tot > 0.0 && r2.is_finite()).then_some(r2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Rng;

    /// `n` rows of x1 ~ U(0, 1) (5% missing), noise ~ U(0, 1) and cat uniform over "a", "b",
    /// "c" (codes 0, 1, 2; 5% missing).
    fn rows(n: usize, rng: &mut Rng) -> Frame {
        let maybe = |x: f64, rng: &mut Rng| if rng.uniform() < 0.05 { f64::NAN } else { x };
        let x1: Vec<f64> = (0..n)
            .map(|_| {
                let x = rng.uniform();
                maybe(x, rng)
            })
            .collect();
        let noise: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let cat: Vec<u32> = (0..n)
            .map(|_| if rng.uniform() < 0.05 { MISSING } else { rng.below(3) as u32 })
            .collect();
        let columns = vec![Values::Numeric(x1), Values::Numeric(noise), Values::Categorical(cat)];
        Frame { columns, rows: n, ..Frame::default() }
    }

    fn x1(frame: &Frame) -> &[f64] {
        match &frame.columns[0] {
            Values::Numeric(v) => v,
            _ => unreachable!(),
        }
    }

    fn cat(frame: &Frame) -> &[u32] {
        match &frame.columns[2] {
            Values::Categorical(v) => v,
            _ => unreachable!(),
        }
    }

    /// y = (x1 > 0.3) xor (cat == "a"), a missing x1 counting as large.
    fn xor_labels(frame: &Frame) -> Vec<u32> {
        x1(frame)
            .iter()
            .zip(cat(frame))
            .map(|(&x, &c)| ((x.is_nan() || x > 0.3) != (c == 0)) as u32)
            .collect()
    }

    #[test]
    fn boosting_recovers_a_rule_mixing_a_threshold_and_a_category() {
        let mut rng = Rng::new(1, 0);
        let (train, test) = (rows(3000, &mut rng), rows(2000, &mut rng));
        let (y, y_test) = (xor_labels(&train), xor_labels(&test));
        let all: Vec<usize> = (0..train.rows).collect();
        let target = Target::Classes { labels: &y, classes: 2 };
        let model = fit(&train, &all, &[0, 1, 2], target, &BoostOptions::default());
        let test_rows: Vec<usize> = (0..test.rows).collect();
        let prediction = model.predict(&test, &test_rows);
        let acc = accuracy(&prediction.labels(), &y_test).unwrap();
        // Only rows with x1 within a bin width of 0.3 can be misread.
        assert!(acc > 0.98, "accuracy {acc}");
        let positive: Vec<bool> = y_test.iter().map(|&c| c == 1).collect();
        let auc = roc_auc(&prediction.class_scores(1), &positive).unwrap();
        assert!(auc > 0.99, "auc {auc}");
        // The noise column earns (almost) none of the gain.
        let importance = model.importance();
        assert!(importance[1] < 0.02, "{importance:?}");
        assert!((importance.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn one_categorical_split_separates_any_set_of_levels() {
        // 8 levels, classes 1 exactly for levels {1, 4, 6}: a single depth-1 tree must put the
        // three on one side, which needs a partition rather than "level == code".
        let codes: Vec<u32> = (0..400).map(|i| (i % 8) as u32).collect();
        let y: Vec<u32> = codes.iter().map(|c| [1, 4, 6].contains(c) as u32).collect();
        let frame =
            Frame { columns: vec![Values::Categorical(codes)], rows: 400, ..Frame::default() };
        let all: Vec<usize> = (0..400).collect();
        let options = BoostOptions { rounds: 1, depth: 1, min_leaf: 1, ..BoostOptions::default() };
        let model = fit(&frame, &all, &[0], Target::Classes { labels: &y, classes: 2 }, &options);
        let positive: Vec<bool> = y.iter().map(|&c| c == 1).collect();
        let scores = model.predict(&frame, &all).class_scores(1);
        assert_eq!(roc_auc(&scores, &positive), Some(1.0));
    }

    #[test]
    fn softmax_and_squared_loss_fit_their_targets() {
        let mut rng = Rng::new(2, 0);
        let (train, test) = (rows(3000, &mut rng), rows(1000, &mut rng));
        let all: Vec<usize> = (0..train.rows).collect();
        let test_rows: Vec<usize> = (0..test.rows).collect();
        let options = BoostOptions::default();
        // Three classes: the category's code, or class 0 when missing.
        let classes =
            |f: &Frame| cat(f).iter().map(|&c| if c == MISSING { 0 } else { c }).collect();
        let (y, y_test): (Vec<u32>, Vec<u32>) = (classes(&train), classes(&test));
        let model =
            fit(&train, &all, &[0, 1, 2], Target::Classes { labels: &y, classes: 3 }, &options);
        let prediction = model.predict(&test, &test_rows);
        assert_eq!(accuracy(&prediction.labels(), &y_test), Some(1.0));
        assert!(macro_auc(&prediction, &y_test).unwrap() > 0.999);
        // y = 2 x1 + 3 [cat == a] (x1 missing as 0.5): R^2 near 1 (bins are ~0.03 wide).
        let value = |f: &Frame| -> Vec<f64> {
            x1(f)
                .iter()
                .zip(cat(f))
                .map(|(&x, &c)| {
                    2.0 * if x.is_nan() { 0.5 } else { x } + 3.0 * (c == 0) as u8 as f64
                })
                .collect()
        };
        let (y, y_test) = (value(&train), value(&test));
        let model = fit(&train, &all, &[0, 1, 2], Target::Regression(&y), &options);
        let Prediction::Values(fitted) = model.predict(&test, &test_rows) else { panic!() };
        let r2 = r2(&fitted, &y_test).unwrap();
        assert!(r2 > 0.99, "r2 {r2}");
    }

    #[test]
    fn numeric_bins_keep_a_spike_whole_and_share_the_rest() {
        // 90 zeros then 1..=10, 4 bins: the zeros fill bin 0 (90 >= 100 / 4); the other 10 values
        // get 3 bins, closed at 1+2+3+4 >= 10/3 (cut 4.5) and 5+6+7 -> 3 >= 6/2 (cut 7.5).
        let mut values = vec![0.0; 90];
        values.extend((1..=10).map(f64::from));
        assert_eq!(numeric_cuts(&values, 4), [0.5, 4.5, 7.5]);
        // Few distinct values: one bin each, cut at midpoints.
        assert_eq!(numeric_cuts(&[1.0, 1.0, 2.0, 3.0], 32), [1.5, 2.5]);
        assert!(numeric_cuts(&[], 32).is_empty());
        // Codes 5 (3 times), 2 (twice), then 0 and 1 (once; 0 wins the tie), top 3.
        let (map, other) = top_levels(&[2, 2, 0, 5, 5, 5, 1], 3);
        assert_eq!((map, other), (vec![2, 3, 1, 3, 3, 0], 3));
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Positives 0.4 and 0.8; negatives 0.1, 0.35, 0.4. Pairs won: 0.4 beats 0.1 and 0.35
        // (2) and ties 0.4 (0.5); 0.8 beats all three (3): 5.5 / (2 * 3) = 0.91666...
        // (sklearn.metrics.roc_auc_score agrees: 0.9166666666666666.)
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4];
        let labels = [false, true, false, true, false];
        assert_eq!(roc_auc(&scores, &labels), Some(5.5 / 6.0));
        assert_eq!(roc_auc(&[0.3, 0.3], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[0.3, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[f64::NAN, 0.2], &[true, false]), None);
    }

    #[test]
    fn r2_and_accuracy_match_hand_computation() {
        // scikit-learn's r2_score docstring example: mean 2.875, SS_tot = 0.015625 + 11.390625
        // + 0.765625 + 17.015625 = 29.1875, SS_res = 0.25 + 0.25 + 0 + 1 = 1.5,
        // R^2 = 1 - 1.5 / 29.1875 = 0.9486081370449679.
        let r = r2(&[2.5, 0.0, 2.0, 8.0], &[3.0, -0.5, 2.0, 7.0]).unwrap();
        assert!((r - 0.9486081370449679).abs() < 1e-15, "{r}");
        assert_eq!(r2(&[1.0, 2.0], &[3.0, 3.0]), None);
        assert_eq!(accuracy(&[1, 0, 2, 2], &[1, 1, 2, 0]), Some(0.5));
        assert_eq!(accuracy(&[], &[]), None);
    }

    /// The test rows the scikit-learn reference below was computed on: `k` of `n` by a partial
    /// Fisher-Yates shuffle driven by SplitMix64 seeded with 42 (the generator the report
    /// used then, reproduced by the reference script), sorted. Kept as a fixture so that the
    /// reference figures stay valid whatever generator the report now samples with.
    fn reference_split(n: usize, k: usize) -> Vec<usize> {
        let mut state = 42u64;
        let mut next = || doppel_table::rng::splitmix64(&mut state);
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + (((next() >> 32) * (n - i) as u64) >> 32) as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        all.sort_unstable();
        all
    }

    /// Adult, `income-per-year` from the other 14 columns, trained on a random 80% and tested
    /// on the other 20% (drawn by [`reference_split`]). On the same split
    /// (reproduced in Python), scikit-learn 1.9.1's `HistGradientBoostingClassifier(
    /// categorical_features="from_dtype", early_stopping=False, random_state=0)` (100 rounds,
    /// 31 leaves, 255 bins; '?' read as missing, text columns as pandas categories) scores
    /// accuracy 0.8732 and AUC 0.9293 (0.8715 and 0.9268 with `max_depth=4`); this learner
    /// must stay within 0.01 of both.
    #[test]
    #[ignore = "reads data/adult.csv; run with --ignored --nocapture"]
    fn adult_holdout_scores_match_scikit_learn() {
        use crate::frame::Schema;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let table = crate::Table::from_csv_str(&std::fs::read_to_string(path).unwrap(), Some(b','));
        let table = table.unwrap();
        let mut schema = Schema::infer(&table, &["?".into(), "".into()], &[]).unwrap();
        let frame = schema.encode(&table, "real").unwrap();
        let target = schema.position("income-per-year").unwrap();
        let positive = schema.columns[target].levels.iter().position(|l| l == ">50K").unwrap();
        let test = reference_split(frame.rows, frame.rows / 5);
        let mut is_test = vec![false; frame.rows];
        test.iter().for_each(|&r| is_test[r] = true);
        let train: Vec<usize> = (0..frame.rows).filter(|&r| !is_test[r]).collect();
        assert_eq!(test[..5], [1, 2, 5, 8, 26], "the split the scikit-learn script reproduces");
        let Values::Categorical(codes) = &frame.columns[target] else { panic!() };
        let label = |r: &usize| (codes[*r] as usize == positive) as u32;
        let (y, y_test): (Vec<u32>, Vec<u32>) =
            (train.iter().map(label).collect(), test.iter().map(label).collect());
        let features: Vec<usize> = (0..frame.columns.len()).filter(|&c| c != target).collect();
        let start = std::time::Instant::now();
        let target = Target::Classes { labels: &y, classes: 2 };
        let model = fit(&frame, &train, &features, target, &BoostOptions::default());
        let prediction = model.predict(&frame, &test);
        let seconds = start.elapsed().as_secs_f64();
        let acc = accuracy(&prediction.labels(), &y_test).unwrap();
        let is_positive: Vec<bool> = y_test.iter().map(|&c| c == 1).collect();
        let auc = roc_auc(&prediction.class_scores(1), &is_positive).unwrap();
        println!("adult: {} train rows, accuracy {acc:.4}, AUC {auc:.4}, {seconds:.3} s", y.len());
        assert!((acc - 0.8732).abs() < 0.01 && (auc - 0.9293).abs() < 0.01, "{acc} {auc}");
    }
}
