//! Draws that hold a group of rows to a target distribution: rebalancing (`sex = Female` in
//! half the rows) and fairness (the target's distribution the same in every group of the
//! sensitive column). Each row keeps its own conditional distribution up to one factor per
//! category and group, found by iterative proportional fitting, and the counts of each
//! category are fixed before the rows are drawn, so a batch hits the target up to rounding
//! (a row or so) instead of up to sampling noise.

use crate::rng::Rng;

/// Factors per category that bring the mean of the rows' distributions `probs` (each row's
/// probabilities over the same categories, summing to 1), each row reweighted by them and
/// renormalised, to `target` (summing to 1). A category no row can take stays at 0: the
/// closest reachable mean. Iterative proportional fitting (Deming and Stephan 1940), which
/// converges here in a few dozen rounds.
pub(crate) fn factors(probs: &[Vec<f64>], target: &[f64]) -> Vec<f64> {
    let k = target.len();
    let mut w = vec![1.0; k];
    for _ in 0..200 {
        let mean = reweighted_mean(probs, &w);
        let mut moved = 0f64;
        for c in 0..k {
            if mean[c] > 0.0 {
                let ratio = target[c] / mean[c];
                w[c] *= ratio;
                moved = moved.max((ratio - 1.0).abs());
            }
        }
        if moved < 1e-9 {
            break;
        }
    }
    w
}

/// The mean over rows of each row's distribution reweighted by `w` and renormalised.
fn reweighted_mean(probs: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let mut mean = vec![0.0; w.len()];
    for row in probs {
        let total: f64 = row.iter().zip(w).map(|(p, w)| p * w).sum();
        if total > 0.0 {
            for (m, (p, w)) in mean.iter_mut().zip(row.iter().zip(w)) {
                *m += p * w / total;
            }
        }
    }
    let n = probs.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}

/// Each row's distribution reweighted by `w` and renormalised.
pub(crate) fn reweight(probs: &[Vec<f64>], w: &[f64]) -> Vec<Vec<f64>> {
    probs
        .iter()
        .map(|row| {
            let total: f64 = row.iter().zip(w).map(|(p, w)| p * w).sum();
            row.iter().zip(w).map(|(p, w)| if total > 0.0 { p * w / total } else { *p }).collect()
        })
        .collect()
}

/// One category per row, with the count of each category fixed first (the sums of the rows'
/// probabilities, rounded so that they add up to the rows), then the rows of each category
/// chosen among those left by systematic sampling in a random order, each in proportion to
/// its probability of the category. Choosing category by category can leave a row that only
/// a full category could take: it takes its most likely one, a row off the count. Rows whose
/// probabilities are all zero take category 0.
pub(crate) fn draw_counts(probs: &[Vec<f64>], rng: &mut Rng) -> Vec<usize> {
    let n = probs.len();
    let k = probs.first().map_or(0, Vec::len);
    let mut chosen = vec![usize::MAX; n];
    let counts = rounded_counts(probs, k, rng);
    let mut need = vec![0usize; k];
    let mut left: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut left);
    for (c, &count) in counts.iter().enumerate() {
        if count == 0 || left.is_empty() {
            continue;
        }
        // Inclusion probabilities proportional to each row's chance of `c` given that it was
        // not given an earlier category, scaled to sum to `count` and capped at 1.
        let weight: Vec<f64> = left
            .iter()
            .map(|&r| {
                let rest: f64 = probs[r][c..].iter().sum();
                if rest > 0.0 {
                    probs[r][c] / rest
                } else {
                    0.0
                }
            })
            .collect();
        let pi = inclusion(&weight, count.min(left.len()));
        let u = rng.uniform();
        let (mut cumulative, mut taken) = (0.0, Vec::new());
        for (i, &p) in pi.iter().enumerate() {
            // A row certain to be taken is taken whatever the rounding of the sums.
            if p >= 1.0 - 1e-9 {
                taken.push(i);
                continue;
            }
            let before = cumulative;
            cumulative += p;
            // Row i is taken when a point u, u + 1, u + 2, … falls in its stretch.
            if (cumulative - u).floor() > (before - u).floor() {
                taken.push(i);
            }
        }
        taken.truncate(count);
        need[c] = count - taken.len();
        for &i in &taken {
            chosen[left[i]] = c;
        }
        let mut i = 0;
        left.retain(|_| {
            let keep = !taken.contains(&i);
            i += 1;
            keep
        });
    }
    for r in left {
        // Rounding left a row without a category: the most likely of those still short of
        // their count, else its most likely one.
        let likely = |&a: &usize, &b: &usize| probs[r][a].total_cmp(&probs[r][b]);
        let short = (0..k).filter(|&c| need[c] > 0 && probs[r][c] > 0.0).max_by(likely);
        let best = short.or_else(|| (0..k).max_by(likely)).unwrap_or(0);
        need[best] = need[best].saturating_sub(1);
        chosen[r] = best;
    }
    chosen.iter().map(|&c| if c == usize::MAX { 0 } else { c }).collect()
}

/// Counts per category summing to the number of rows: the expected counts, rounded down,
/// and the rows left over given to the categories with the largest remainders (ties broken
/// at random).
fn rounded_counts(probs: &[Vec<f64>], k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut expected = vec![0.0; k];
    for row in probs {
        let total: f64 = row.iter().sum();
        if total > 0.0 {
            expected.iter_mut().zip(row).for_each(|(e, p)| *e += p / total);
        }
    }
    let mut counts: Vec<usize> = expected.iter().map(|e| e.floor() as usize).collect();
    let mut left = probs.len().saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..k).collect();
    rng.shuffle(&mut order);
    order.sort_by(|&a, &b| {
        let frac = |c: usize| expected[c] - expected[c].floor();
        frac(b).total_cmp(&frac(a))
    });
    for &c in order.iter().cycle().take(k * 2) {
        if left == 0 {
            break;
        }
        if expected[c] > counts[c] as f64 {
            counts[c] += 1;
            left -= 1;
        }
    }
    counts
}

/// Inclusion probabilities proportional to `weight`, summing to `count` (when the weights
/// allow), none above 1: the largest are capped and the rest rescaled until none exceeds 1.
fn inclusion(weight: &[f64], count: usize) -> Vec<f64> {
    let mut pi = vec![0.0; weight.len()];
    let mut capped = vec![false; weight.len()];
    loop {
        let fixed = capped.iter().filter(|&&c| c).count() as f64;
        let free: f64 = weight.iter().zip(&capped).filter(|(_, &c)| !c).map(|(w, _)| w).sum();
        if free <= 0.0 {
            for (p, &c) in pi.iter_mut().zip(&capped) {
                *p = if c { 1.0 } else { 0.0 };
            }
            return pi;
        }
        let scale = (count as f64 - fixed).max(0.0) / free;
        let mut changed = false;
        for i in 0..weight.len() {
            if capped[i] {
                pi[i] = 1.0;
            } else {
                pi[i] = weight[i] * scale;
                if pi[i] > 1.0 {
                    capped[i] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            return pi;
        }
    }
}

/// Rebalancing (or fairness) by selection: of rows generated without steering (each whole
/// row from the model's joint distribution, so each category's rows keep exactly their
/// conditional distribution), keeps as many of each category (or pair of categories) as its
/// share of the output asks, in the order they come. Used when the model generates every
/// named category often enough that a few times the rows suffice (see
/// [`SELECTION_MOST_OVERSAMPLING`]); otherwise the category is drawn first and the rest given
/// it ([`factors`]).
pub(crate) struct Quota {
    /// The columns whose cells make a row's class.
    columns: Vec<usize>,
    /// Each named class (the cells of `columns`) and its share; the rows of other cells (and
    /// missing ones) share the rest.
    named: Vec<(Vec<String>, f64)>,
    /// Rows kept per class: each named value, then the rest.
    kept: Vec<usize>,
    /// The output size whose class counts `kept` are (see [`Quota::cumulative`]), and the
    /// rows to keep.
    reached: usize,
    target: usize,
}

/// Selection is used when the model's share of every named value is at least its target
/// share over this factor (estimated on one batch).
pub(crate) const SELECTION_MOST_OVERSAMPLING: f64 = 4.0;

impl Quota {
    /// A quota of `target` rows whose cells in `columns` take the `named` shares.
    pub fn new(columns: Vec<usize>, named: Vec<(Vec<String>, f64)>, target: usize) -> Quota {
        let kept = vec![0; named.len() + 1];
        Quota { columns, named, kept, reached: 0, target }
    }

    /// The class of a row: the index of its named cells, or the rest's.
    fn class(&self, row: &[Option<String>]) -> usize {
        let cells: Vec<Option<&str>> =
            self.columns.iter().map(|&c| row.get(c).and_then(|c| c.as_deref())).collect();
        let same = |named: &[String]| named.iter().zip(&cells).all(|(n, c)| Some(n.as_str()) == *c);
        self.named.iter().position(|(named, _)| same(named)).unwrap_or(self.named.len())
    }

    /// Each class's share: the named values', then the rest's.
    fn shares(&self) -> Vec<f64> {
        let mut shares: Vec<f64> = self.named.iter().map(|(_, s)| *s).collect();
        shares.push((1.0 - shares.iter().sum::<f64>()).max(0.0));
        shares
    }

    /// Rows of each class for an output of `size` rows: each share of it rounded down, so
    /// that every class's count grows with the size; at the target, the rows rounding left
    /// go to the largest remainders, so that the counts add up to it.
    fn cumulative(&self, size: usize) -> Vec<usize> {
        let exact: Vec<f64> = self.shares().iter().map(|s| s * size as f64 + 1e-9).collect();
        let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
        if size == self.target {
            let remainder = |c: usize| exact[c] - exact[c].floor();
            let mut order: Vec<usize> = (0..counts.len()).collect();
            order.sort_by(|&a, &b| remainder(b).total_cmp(&remainder(a)));
            let short = size.saturating_sub(counts.iter().sum());
            order.iter().take(short).for_each(|&c| counts[c] += 1);
        }
        counts
    }

    /// The rows kept so far.
    pub fn total(&self) -> usize {
        self.kept.iter().sum()
    }

    /// The rows to keep.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Whether every row asked for is kept.
    pub fn done(&self) -> bool {
        self.reached == self.target
    }

    /// Each class's share of `rows` over its target share: how many times the rows the
    /// scarcest named value needs (`f64::INFINITY` when one never comes).
    pub fn oversampling(&self, rows: &[Vec<Option<String>>]) -> f64 {
        let mut seen = vec![0usize; self.kept.len()];
        rows.iter().for_each(|row| seen[self.class(row)] += 1);
        let n = rows.len().max(1) as f64;
        let named = self.named.iter().zip(&seen).map(|((_, s), &c)| s / (c as f64 / n));
        named.fold(1.0, f64::max)
    }

    /// The rows of `rows` to keep, in order: as many as keep every class at its share (up to
    /// a row), and no more than the rows still to keep.
    pub fn select(&mut self, rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
        let classes: Vec<usize> = rows.iter().map(|row| self.class(row)).collect();
        let mut available = vec![0usize; self.kept.len()];
        classes.iter().for_each(|&c| available[c] += 1);
        // The largest output size the kept and available rows can fill at the shares (every
        // class's count grows with the size, so the sizes that fit come first).
        let fits = |size: usize| {
            let want = self.cumulative(size);
            want.iter().zip(&self.kept).zip(&available).all(|((&w, &k), &a)| w >= k && w - k <= a)
        };
        let most = self.target.min(self.reached + rows.len() + self.kept.len());
        let Some(size) = (self.reached..=most).rev().find(|&s| fits(s)) else {
            return Vec::new();
        };
        let want = self.cumulative(size);
        let mut need: Vec<usize> = want.iter().zip(&self.kept).map(|(w, k)| w - k).collect();
        let mut out = Vec::with_capacity(need.iter().sum());
        for (row, class) in rows.into_iter().zip(classes) {
            if need[class] > 0 {
                need[class] -= 1;
                out.push(row);
            }
        }
        self.kept = want;
        self.reached = size;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows whose column 0 is `a` (a third), `b` (a half) or missing, numbered in column 1.
    fn rows(from: usize, n: usize) -> Vec<Vec<Option<String>>> {
        (from..from + n)
            .map(|i| {
                let class = [Some("a"), Some("b"), Some("b"), None, Some("a"), Some("b")][i % 6];
                vec![class.map(String::from), Some(i.to_string())]
            })
            .collect()
    }

    #[test]
    fn a_quota_keeps_exact_shares_in_the_order_rows_come() {
        // a: 0.6 of 500 rows (the rows give a third: 1.8 times as many rows needed), b: 0.3,
        // the rest (missing) 0.1.
        let named = vec![(vec!["a".to_string()], 0.6), (vec!["b".to_string()], 0.3)];
        let mut quota = Quota::new(vec![0], named, 500);
        assert!((quota.oversampling(&rows(0, 600)) - 1.8).abs() < 1e-9);
        let (mut kept, mut from) = (Vec::new(), 0);
        while !quota.done() {
            kept.extend(quota.select(rows(from, 64)));
            from += 64;
            assert!(from < 2000, "the quota fills");
        }
        assert_eq!(kept.len(), 500);
        let count = |v: Option<&str>| kept.iter().filter(|r| r[0].as_deref() == v).count();
        assert_eq!((count(Some("a")), count(Some("b")), count(None)), (300, 150, 50));
        // In the order they came, each row once.
        let numbers: Vec<usize> =
            kept.iter().map(|r| r[1].as_deref().unwrap().parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        // Every prefix the selection handed out keeps the shares within a row per class.
        assert!(quota.select(rows(from, 64)).is_empty(), "nothing after the target");
    }

    #[test]
    fn factors_bring_the_mean_to_the_target() {
        // Two kinds of rows: one leaning to category 0, one to category 2.
        let probs: Vec<Vec<f64>> = (0..10)
            .map(|i| if i % 2 == 0 { vec![0.7, 0.2, 0.1] } else { vec![0.1, 0.3, 0.6] })
            .collect();
        let target = [0.5, 0.3, 0.2];
        let w = factors(&probs, &target);
        let mean = reweighted_mean(&probs, &w);
        for (m, t) in mean.iter().zip(target) {
            assert!((m - t).abs() < 1e-6, "{mean:?}");
        }
        // One row kind alone: the factors are target / probs up to scale.
        let w = factors(&[vec![0.8, 0.2]], &[0.5, 0.5]);
        assert!((w[1] / w[0] - 4.0).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn drawn_counts_are_the_expected_counts_and_rows_follow_their_probabilities() {
        let mut rng = Rng::new(3, 1);
        let probs: Vec<Vec<f64>> = (0..1000)
            .map(|i| if i % 4 == 0 { vec![0.9, 0.1, 0.0] } else { vec![0.2, 0.3, 0.5] })
            .collect();
        // Expected counts: 250·0.9 + 750·0.2 = 375, 250·0.1 + 750·0.3 = 250, 750·0.5 = 375.
        let mut by_kind = [[0usize; 3]; 2];
        for _ in 0..20 {
            let drawn = draw_counts(&probs, &mut rng);
            let mut counts = [0usize; 3];
            for (r, &c) in drawn.iter().enumerate() {
                counts[c] += 1;
                by_kind[usize::from(r % 4 != 0)][c] += 1;
            }
            // Exact, or a row off where the greedy order left a row no category it could
            // take still needed.
            for (got, want) in counts.iter().zip([375, 250, 375]) {
                assert!(got.abs_diff(want) <= 1, "{counts:?}");
            }
            // A category a row cannot take is never drawn for it.
            assert!(drawn.iter().step_by(4).all(|&c| c != 2));
        }
        // Over draws, each kind of row takes its categories about as its probabilities say.
        let share =
            |k: usize, c: usize| by_kind[k][c] as f64 / by_kind[k].iter().sum::<usize>() as f64;
        assert!((share(0, 0) - 0.9).abs() < 0.03, "{by_kind:?}");
        assert!((share(1, 2) - 0.5).abs() < 0.03, "{by_kind:?}");
    }

    #[test]
    fn inclusion_caps_at_one_and_sums_to_the_count() {
        let pi = inclusion(&[10.0, 1.0, 1.0, 1.0], 2);
        assert_eq!(pi[0], 1.0);
        assert!((pi.iter().sum::<f64>() - 2.0).abs() < 1e-12);
        assert!((pi[1] - 1.0 / 3.0).abs() < 1e-12);
    }
}
