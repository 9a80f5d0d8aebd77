//! Seeded randomness for the metrics that sample rows, split folds or pick column triples, so
//! that a report is reproducible from its seed on every platform (native and WebAssembly).

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and identical on every target. Good
/// enough for sampling rows; never used for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32
    /// for the table sizes seen here).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

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
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (the published reference values, e.g. in
        // Vigna's splitmix64.c test vectors).
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn samples_are_distinct_sorted_and_roughly_uniform() {
        let mut rng = Rng::new(7);
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
        let u = rng.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
