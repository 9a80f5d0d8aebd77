//! Orders of the fields: the tokenizer's, and the random column orders of any-order training.
//!
//! The model predicts position `s` from the tokens before it plus the embedding of the field
//! `s` predicts ([`crate::model`]), so nothing ties it to one order. Training on random column
//! orders (MOSTLY AI's TabularARGN, arXiv 2501.12012, trains on random orders for the same
//! reason) teaches it the conditionals a generation needs when it fixes some columns first.
//! A column's fields (a number's bin and position, a text's slots) stay together and in their
//! order: only columns move.

use doppel_table::Rng;

use crate::tokenizer::Field;

/// Streams of the order draws start here, far from the other streams a seed drives (the
/// split, shuffles and dropout use small stream numbers).
const ORDER_STREAM: u64 = 1 << 40;

/// The columns' field groups and the share of training steps that take a random order.
pub struct Orders {
    /// Each column's fields (indices into the tokenizer's fields), in the tokenizer's order.
    groups: Vec<Vec<u32>>,
    /// Share of steps on a random column order; the rest use the tokenizer's order.
    random_share: f64,
    seed: u64,
}

impl Orders {
    /// The orders of `fields` (consecutive fields of one column form a group).
    pub fn new(fields: &[Field], random_share: f64, seed: u64) -> Orders {
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if fields[g[0] as usize].column == f.column => g.push(i as u32),
                _ => groups.push(vec![i as u32]),
            }
        }
        Orders { groups, random_share, seed }
    }

    /// The tokenizer's order: `0, 1, …`.
    pub fn fixed(&self) -> Vec<u32> {
        self.groups.concat()
    }

    /// The order of training step `step`: with probability `random_share`, a random subset of
    /// the columns first and the others after them, each part in the table's order (the order
    /// a generation conditioned on that subset takes); else the table's order. The subset's size
    /// is uniform in `1..columns`, then its members uniform. The same for a seed and step on any
    /// machine.
    ///
    /// Why a subset first and not a random permutation of every column: generation needs only
    /// `p(rest | subset)`, and on Adult full permutations in half the steps cost unconditional
    /// fidelity (overall accuracy 0.9859 -> 0.9805, discriminator AUC 0.526 -> 0.603 at seed
    /// 42) where subsets first cost less (0.9865 / 0.569 there; -0.0016 over five seeds;
    /// BENCHMARKS.md, issue 15).
    pub fn for_step(&self, step: usize) -> Vec<u32> {
        match draw_first(self.groups.len(), self.random_share, self.seed, step as u64) {
            Some(first) => self.with_first(&first),
            None => self.fixed(),
        }
    }

    /// The columns marked in `first` (by column position among the fields' columns), then the
    /// others, each part in the table's order, as field indices.
    pub fn with_first(&self, first: &[bool]) -> Vec<u32> {
        let marked = |c: &usize| first.get(*c).copied().unwrap_or(false);
        let head = (0..self.groups.len()).filter(marked);
        let tail = (0..self.groups.len()).filter(|c| !marked(c));
        head.chain(tail).flat_map(|c| self.groups[c].iter().copied()).collect()
    }
}

/// Which of `columns` columns go first in draw `draw` of `seed` (a training step's, or a
/// LoRA record's): with probability `random_share` a subset of uniform size in
/// `1..columns`, its members uniform; else `None` (the table's order). The same for a seed and
/// draw on any machine.
pub(crate) fn draw_first(
    columns: usize,
    random_share: f64,
    seed: u64,
    draw: u64,
) -> Option<Vec<bool>> {
    let mut rng = Rng::new(seed, ORDER_STREAM + draw);
    if columns < 2 || rng.uniform() >= random_share {
        return None;
    }
    let size = 1 + rng.below(columns - 1);
    let mut picks: Vec<usize> = (0..columns).collect();
    rng.shuffle(&mut picks);
    let mut first = vec![false; columns];
    picks[..size].iter().for_each(|&c| first[c] = true);
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::FieldRole;

    /// Columns 0 (one field), 1 (two: a number's bin and position), 2 (one), 3 (three slots).
    fn fields() -> Vec<Field> {
        [0, 1, 1, 2, 3, 3, 3]
            .iter()
            .enumerate()
            .map(|(i, &column)| Field {
                column,
                role: FieldRole::Category,
                offset: i as u32 * 2,
                size: 2,
            })
            .collect()
    }

    #[test]
    fn random_orders_put_a_subset_of_whole_columns_first_at_the_chosen_share() {
        let orders = Orders::new(&fields(), 0.5, 11);
        assert_eq!(orders.fixed(), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(orders.with_first(&[false, false, true, false]), [3, 0, 1, 2, 4, 5, 6]);
        assert_eq!(orders.with_first(&[false, true, false, true]), [1, 2, 4, 5, 6, 0, 3]);
        let (mut random, mut heads) = (0, std::collections::HashSet::new());
        for step in 0..400 {
            let order = orders.for_step(step);
            assert_eq!(order, orders.for_step(step), "the same step, the same order");
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, orders.fixed(), "a permutation of the fields");
            // A column's fields stay together and in order.
            let at = |f: u32| order.iter().position(|&o| o == f).unwrap();
            assert_eq!((at(2), at(5), at(6)), (at(1) + 1, at(4) + 1, at(4) + 2), "{order:?}");
            // Some columns first, then the others, each part in the table's order: the order
            // is one of `with_first`'s.
            let candidates =
                (0..16u32).map(|m| (0..4).map(|c| m >> c & 1 == 1).collect::<Vec<_>>());
            assert!(candidates.into_iter().any(|m| orders.with_first(&m) == order), "{order:?}");
            random += usize::from(order != orders.fixed());
            heads.insert(order[0]);
        }
        // Half the steps draw a subset first. Those that are already the table's first
        // columns ({0}, {0, 1}, {0, 1, 2}: probability 1/12 + 1/18 + 1/12 = 2/9) leave the
        // order as it was: 400 x 1/2 x 7/9 = 156 expected, sd 9.7.
        assert!((125..=190).contains(&random), "{random} other orders of 400");
        assert_eq!(heads.len(), 4, "every column comes first sometimes");
        let never = Orders::new(&fields(), 0.0, 11);
        assert!((0..50).all(|s| never.for_step(s) == never.fixed()));
    }
}
