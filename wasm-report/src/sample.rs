//! Seeded randomness for the metrics that sample rows, split folds or pick column triples, so
//! that a report is reproducible from its seed on every platform (native and WebAssembly):
//! doppel-table's [`Rng`], the engine's generator.

pub use doppel_table::rng::Rng;

/// `k` distinct indices from `0..n`, in increasing order (all of them when `k >= n`).
pub fn sample_indices(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if k < n {
        // Partial Fisher-Yates: the first k places get a uniform k-subset.
        for i in 0..k {
            let j = i + rng.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all.sort_unstable();
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_sorted_and_roughly_uniform() {
        let mut rng = Rng::new(7, 0);
        let mut hits = [0usize; 10];
        for _ in 0..2000 {
            let s = sample_indices(10, 3, &mut rng);
            assert_eq!(s.len(), 3);
            assert!(s.windows(2).all(|w| w[0] < w[1]));
            for i in s {
                hits[i] += 1;
            }
        }
        // Each index is drawn with probability 0.3: 600 expected, sd about 20.
        assert!(hits.iter().all(|&h| (520..680).contains(&h)), "{hits:?}");
        assert_eq!(sample_indices(4, 9, &mut rng), [0, 1, 2, 3]);
        let u = rng.uniform();
        assert!((0.0..1.0).contains(&u));
    }
}
