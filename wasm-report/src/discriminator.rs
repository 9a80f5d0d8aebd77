//! The discriminator: how well a classifier tells synthetic rows from real ones.
//!
//! Equal numbers of real and synthetic rows are drawn (at most [`MAX_ROWS_PER_CLASS`] of each),
//! labelled "synthetic" or not, and split into [`FOLDS`] folds with the same share of both in
//! each. For every fold, the [gradient-boosted learner](crate::learn) is trained on the other
//! folds and scores the fold's rows; the ROC AUC of these pooled out-of-fold scores is the
//! result: 0.5 when the classifier cannot tell the tables apart, 1.0 when it always can. This is
//! the "detection" metric of SDMetrics (`LogisticDetection` / `SVCDetection`, which report
//! `1 - (max(AUC, 0.5) * 2 - 1)`), here with boosted trees, which also see interactions.
//!
//! Cost on UCI Adult (10,000 rows of each table, 14 columns): three trainings on 13,333 rows of
//! 100 trees each, about 3 x 35 M histogram updates.

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Schema, Values};
use crate::learn::{self, BoostOptions, Prediction, Target};
use crate::sample::{sample_indices, Rng};

/// The most rows drawn from each table (so at most twice this many are classified).
pub const MAX_ROWS_PER_CLASS: usize = 10_000;

/// Cross-validation folds.
pub const FOLDS: usize = 3;

/// Fewest rows each table must have; below this [`discriminator`] returns `None`, since folds
/// of a few dozen rows give an AUC dominated by chance.
pub const MIN_ROWS_PER_CLASS: usize = 50;

/// Points kept on the ROC curve are at least this far apart in false- or true-positive rate.
const ROC_STEP: f64 = 0.01;

/// The result of the discriminator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discriminator {
    /// ROC AUC of the out-of-fold probabilities that a row is synthetic, pooled over folds.
    pub auc: f64,
    /// `1 - 2 * max(auc - 0.5, 0)`, in `[0, 1]`: 1 when the tables cannot be told apart (an AUC
    /// below 0.5 is chance too), 0 when every row is told apart (SDMetrics' detection score).
    pub score: f64,
    /// Out-of-fold share of rows classified correctly at probability 0.5 (0.5 is chance).
    pub accuracy: f64,
    /// Cross-validation folds.
    pub folds: usize,
    /// Rows drawn from each table.
    pub rows_per_class: usize,
    /// The ROC curve of the pooled scores, from (0, 0) to (1, 1), thinned to points at least
    /// 0.01 apart in one of the rates.
    pub roc: Vec<RocPoint>,
    /// Each column's share of the classifiers' split gain (mean over folds), largest first: the
    /// columns that give the synthetic rows away.
    pub importance: Vec<ColumnShare>,
}

/// One point of a ROC curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Share of real rows scored as synthetic at this threshold.
    pub false_positive_rate: f64,
    /// Share of synthetic rows scored as synthetic at this threshold.
    pub true_positive_rate: f64,
}

/// A column's share of something (here, of the split gain).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnShare {
    /// Column name.
    pub name: String,
    /// The share, in `[0, 1]`.
    pub share: f64,
}

/// Trains classifiers to tell `synthetic` rows from `real` ones (both encoded with `schema`,
/// every schema column a feature) and reports their cross-validated AUC; see the
/// [module documentation](self). `None` when either table has fewer than
/// [`MIN_ROWS_PER_CLASS`] rows or the schema has no column.
pub fn discriminator(
    schema: &Schema,
    real: &Frame,
    synthetic: &Frame,
    rng: &mut Rng,
) -> Option<Discriminator> {
    let per_class = real.rows.min(synthetic.rows).min(MAX_ROWS_PER_CLASS);
    if per_class < MIN_ROWS_PER_CLASS || schema.columns.is_empty() {
        return None;
    }
    let real_rows = sample_indices(real.rows, per_class, rng);
    let synthetic_rows = sample_indices(synthetic.rows, per_class, rng);
    let stacked = stack(real, &real_rows, synthetic, &synthetic_rows);
    // Rows 0..per_class are real (label 0), the rest synthetic (label 1).
    let labels: Vec<u32> = (0..2 * per_class).map(|i| (i >= per_class) as u32).collect();
    let fold = fold_of(per_class, rng);
    let features: Vec<usize> = (0..schema.columns.len()).collect();
    let mut scores = vec![0.0; 2 * per_class];
    let mut gain = vec![0.0; features.len()];
    for k in 0..FOLDS {
        let (train, test): (Vec<usize>, Vec<usize>) =
            (0..2 * per_class).partition(|&i| fold[i] != k);
        let y: Vec<u32> = train.iter().map(|&i| labels[i]).collect();
        let target = Target::Classes { labels: &y, classes: 2 };
        let model = learn::fit(&stacked, &train, &features, target, &BoostOptions::default());
        let Prediction::Probabilities { p, .. } = model.predict(&stacked, &test) else {
            unreachable!("a classifier predicts probabilities")
        };
        for (j, &i) in test.iter().enumerate() {
            scores[i] = p[2 * j + 1];
        }
        gain.iter_mut().zip(model.importance()).for_each(|(g, s)| *g += s / FOLDS as f64);
    }
    let is_synthetic: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
    let auc = learn::roc_auc(&scores, &is_synthetic)?;
    let hits = scores.iter().zip(&is_synthetic).filter(|(&s, &y)| (s > 0.5) == y).count();
    let mut importance: Vec<ColumnShare> = schema
        .columns
        .iter()
        .zip(gain)
        .map(|(c, share)| ColumnShare { name: c.name.clone(), share })
        .collect();
    importance.sort_by(|a, b| b.share.total_cmp(&a.share));
    Some(Discriminator {
        auc,
        score: 1.0 - 2.0 * (auc - 0.5).max(0.0),
        accuracy: hits as f64 / scores.len() as f64,
        folds: FOLDS,
        rows_per_class: per_class,
        roc: roc_curve(&scores, &is_synthetic),
        importance,
    })
}

/// `real_rows` of `real` followed by `synthetic_rows` of `synthetic`, as one frame.
fn stack(real: &Frame, real_rows: &[usize], synthetic: &Frame, synthetic_rows: &[usize]) -> Frame {
    let columns = real
        .columns
        .iter()
        .zip(&synthetic.columns)
        .map(|pair| match pair {
            (Values::Numeric(a), Values::Numeric(b)) => Values::Numeric(
                real_rows
                    .iter()
                    .map(|&r| a[r])
                    .chain(synthetic_rows.iter().map(|&r| b[r]))
                    .collect(),
            ),
            (Values::Categorical(a), Values::Categorical(b)) => Values::Categorical(
                real_rows
                    .iter()
                    .map(|&r| a[r])
                    .chain(synthetic_rows.iter().map(|&r| b[r]))
                    .collect(),
            ),
            _ => panic!("frames encoded with different schemas"),
        })
        .collect();
    Frame { columns, rows: real_rows.len() + synthetic_rows.len(), ..Frame::default() }
}

/// The fold of each of `2 * per_class` stacked rows: each half is shuffled and dealt round-robin,
/// so every fold holds the same number of real and of synthetic rows (give or take one).
fn fold_of(per_class: usize, rng: &mut Rng) -> Vec<usize> {
    let mut fold = Vec::with_capacity(2 * per_class);
    for _ in 0..2 {
        let mut half: Vec<usize> = (0..per_class).map(|i| i % FOLDS).collect();
        rng.shuffle(&mut half);
        fold.extend(half);
    }
    fold
}

/// The ROC curve of `scores` (higher = more likely positive), one point per distinct threshold,
/// thinned to points [`ROC_STEP`] apart; both ends are kept.
fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<RocPoint> {
    let p = positive.iter().filter(|&&y| y).count().max(1) as f64;
    let n = (positive.len() as f64 - p).max(1.0);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![RocPoint { false_positive_rate: 0.0, true_positive_rate: 0.0 }];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &k) in order.iter().enumerate() {
        if positive[k] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = i + 1 == order.len() || scores[order[i + 1]] != scores[k];
        let point = RocPoint { false_positive_rate: fp / n, true_positive_rate: tp / p };
        let prev = points.last().unwrap();
        let far = point.false_positive_rate - prev.false_positive_rate >= ROC_STEP
            || point.true_positive_rate - prev.true_positive_rate >= ROC_STEP;
        if last_of_tie && (far || i + 1 == order.len()) {
            points.push(point);
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    /// `n` rows of x ~ U(0, 1) + `shift`, y ~ U(0, 1) and a category from "a", "b", "c".
    fn table(n: usize, shift: f64, rng: &mut Rng) -> Table {
        let names = vec!["x".into(), "y".into(), "c".into()];
        let rows = (0..n)
            .map(|_| {
                let x = rng.uniform() + shift;
                let y = rng.uniform();
                vec![x.to_string(), y.to_string(), ["a", "b", "c"][rng.below(3)].to_string()]
            })
            .collect();
        Table::new(names, rows).unwrap()
    }

    fn frames(n: usize, m: usize, shift: f64, rng: &mut Rng) -> (Schema, Frame, Frame) {
        let real = table(n, 0.0, rng);
        let mut schema = Schema::infer(&real, &[], &[]).unwrap();
        let real = schema.encode(&real, "real").unwrap();
        let synthetic = schema.encode(&table(m, shift, rng), "synthetic").unwrap();
        (schema, real, synthetic)
    }

    #[test]
    fn samples_of_one_distribution_cannot_be_told_apart() {
        let mut rng = Rng::new(3, 0);
        let (schema, real, synthetic) = frames(3000, 2000, 0.0, &mut rng);
        let d = discriminator(&schema, &real, &synthetic, &mut rng).unwrap();
        assert_eq!((d.rows_per_class, d.folds), (2000, FOLDS));
        // The AUC of an uninformative score over 2000 + 2000 rows has sd sqrt((n+m+1)/(12nm))
        // = 0.0065 (Mann-Whitney null), plus some overfitting noise.
        assert!((d.auc - 0.5).abs() < 0.03, "auc {}", d.auc);
        assert!(d.score > 0.94 && (d.accuracy - 0.5).abs() < 0.03, "{d:?}");
        let ends = (d.roc.first().unwrap(), d.roc.last().unwrap());
        assert_eq!((ends.0.false_positive_rate, ends.0.true_positive_rate), (0.0, 0.0));
        assert_eq!((ends.1.false_positive_rate, ends.1.true_positive_rate), (1.0, 1.0));
        assert!(d.roc.len() > 20 && d.roc.len() < 250, "{}", d.roc.len());
    }

    #[test]
    fn a_shifted_column_gives_the_synthetic_rows_away() {
        let mut rng = Rng::new(4, 0);
        // x ~ U(0.5, 1.5) against U(0, 1): half the rows of each table lie where the other has
        // none, so the best possible AUC is 1 - 0.5 * 0.5 / 2 = 0.875 (the overlap is a coin flip).
        let (schema, real, synthetic) = frames(2000, 2000, 0.5, &mut rng);
        let d = discriminator(&schema, &real, &synthetic, &mut rng).unwrap();
        assert!((d.auc - 0.875).abs() < 0.02, "auc {}", d.auc);
        assert!((d.score - 0.25).abs() < 0.04, "score {}", d.score);
        assert_eq!(d.importance[0].name, "x");
        assert!(d.importance[0].share > 0.8, "{:?}", d.importance);
        // Shifted by 2, the tables do not overlap at all; only the one quantile bin (of 32)
        // that straddles the gap mixes the two, so AUC and accuracy stay just short of 1.
        let (schema, real, synthetic) = frames(500, 500, 2.0, &mut rng);
        let d = discriminator(&schema, &real, &synthetic, &mut rng).unwrap();
        assert!(d.auc > 0.99 && d.score < 0.02 && d.accuracy > 0.98, "{d:?}");
    }

    #[test]
    fn too_few_rows_give_none() {
        let mut rng = Rng::new(5, 0);
        let (schema, real, synthetic) = frames(500, MIN_ROWS_PER_CLASS - 1, 0.0, &mut rng);
        assert_eq!(discriminator(&schema, &real, &synthetic, &mut rng), None);
    }

    #[test]
    fn the_roc_curve_follows_the_thresholds() {
        // Scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.1 (neg): thresholds 0.9 -> (0, 1/2),
        // 0.8 (a tie, one point) -> (1/2, 1), 0.1 -> (1, 1).
        let curve = roc_curve(&[0.9, 0.8, 0.8, 0.1], &[true, false, true, false]);
        let points: Vec<(f64, f64)> =
            curve.iter().map(|p| (p.false_positive_rate, p.true_positive_rate)).collect();
        assert_eq!(points, [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    }
}
