//! A small, explicit, seedable random number generator (xoshiro256++ seeded through SplitMix64).
//!
//! Every random choice in doppel takes one of these, created from the user's seed and a stream
//! number, so results never depend on a hidden global generator or on thread scheduling.

/// xoshiro256++ (Blackman and Vigna 2018, "Scrambled linear pseudorandom number generators").
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64 (Steele, Lea, Flood 2014); also used to seed [`Rng`].
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Shuffles `items` by a permutation that depends on `seed` alone and stays the same across
/// doppel versions: Fisher-Yates from the last item down, the partner of item `i` drawn from
/// SplitMix64 seeded with `seed` as `(x >> 32) · (i + 1) >> 32` (Lemire's multiply-shift on the
/// high 32 bits). `doppel run` splits off its holdout with it, so that a seed keeps its holdout
/// rows when doppel is upgraded and figures stay comparable between versions (a different 20 %
/// of Adult moves the README job's quality score by up to two points, see BENCHMARKS.md).
/// Everything else draws from [`Rng`], whose streams carry no such promise.
pub fn stable_shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        let j = ((splitmix64(&mut state) >> 32) * (i as u64 + 1)) >> 32;
        items.swap(i, j as usize);
    }
}

/// Two independent `N(0, std²)` draws from uniform draws `u1` in `(0, 1]` and `u2` in `[0, 1)`
/// (Box and Muller 1958): `r·cos(2πu2)` and `r·sin(2πu2)` with `r = std·sqrt(-2 ln u1)`.
pub fn box_muller(u1: f64, u2: f64, std: f64) -> (f64, f64) {
    let r = std * (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

impl Rng {
    /// A generator for `seed` and an independent `stream` (e.g. a batch index or a purpose).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut state = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform draw from [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        box_muller(u1, u2, 1.0).0
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference: the first outputs of SplitMix64 seeded with 0, as published with the
        // algorithm (Vigna's splitmix64.c).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut s), 0x6E78_9E6A_A1B9_65F4);
    }

    /// The permutation is fixed: reference values from an independent implementation of the
    /// same definition (Python, from the SplitMix64 constants).
    #[test]
    fn the_stable_shuffle_is_the_documented_permutation() {
        let mut items: Vec<u32> = (0..10).collect();
        stable_shuffle(&mut items, 42);
        assert_eq!(items, [8, 3, 6, 5, 4, 0, 9, 2, 1, 7]);
        let mut items: Vec<u32> = (0..6).collect();
        stable_shuffle(&mut items, 7);
        assert_eq!(items, [5, 4, 1, 3, 0, 2]);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 1).next_u64(), Rng::new(7, 2).next_u64());
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = Rng::new(1, 0);
        let n = 200_000;
        let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        let mean = u.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{m} {var}");
    }

    #[test]
    fn below_covers_the_range_evenly() {
        let mut r = Rng::new(3, 0);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[r.below(5)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    }
}
