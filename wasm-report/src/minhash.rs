//! MinHash signatures of texts' character trigrams, so that the privacy distances can compare
//! free text at a fixed cost per pair of rows.
//!
//! A text's trigrams are the windows of three characters of the text with a start and an end
//! mark added (`"ab"` has `^ab` and `ab$`; a one-character text has one trigram). For each of
//! [`SLOTS`] hash functions `h_j`, slot `j` of the signature is the smallest `h_j` over the
//! text's trigrams. Two texts' slots agree with probability equal to the Jaccard similarity
//! of their trigram sets, `|A ∩ B| / |A ∪ B|` (Broder 1997, "On the resemblance and
//! containment of documents"), so the share of differing slots estimates `1 - Jaccard` without
//! bias (standard deviation at most `0.5 / sqrt(SLOTS)` = 0.125), and is exactly 0 for equal
//! texts.
//!
//! The trigram is hashed once with splitmix64; `h_j(x) = (a_j x + b_j) mod 2^64`, kept to its
//! top [`SLOT_BITS`] bits, with odd `a_j` and any `b_j` drawn from a fixed splitmix64 stream
//! (multiply-shift hashing, Dietzfelbinger et al. 1997). Work per text: one splitmix64 (about
//! 10 integer operations) and `SLOTS` multiply-add-shift-minimum steps per character.

use doppel_table::rng::splitmix64;

/// Slots of a signature.
pub(crate) const SLOTS: usize = 16;

/// Bits kept of each slot's hash: values below 2^23 are exact in an `f32` even after scaling
/// by `1 / SLOTS`, and two distinct trigram sets collide in a slot by chance with probability
/// 2^-23 only.
pub(crate) const SLOT_BITS: u32 = 23;

/// Marks the start and the end of a text: code points beyond Unicode's, so no character
/// equals them, below 2^21, so three fit in 63 bits.
const START: u64 = 0x11_0000;
const END: u64 = 0x11_0001;

/// The hash functions `(a_j, b_j)`.
fn coefficients() -> [(u64, u64); SLOTS] {
    let mut state = 0x6d69_6e68_6173_6821; // "minhash!"
    std::array::from_fn(|_| (splitmix64(&mut state) | 1, splitmix64(&mut state)))
}

/// The MinHash signature of `text`'s character trigrams (see the module documentation).
pub(crate) fn signature(text: &str) -> [u32; SLOTS] {
    let hashes = coefficients();
    let mut slots = [u64::MAX; SLOTS];
    let mut window = [START, START, START];
    let chars = text.chars().map(u64::from).chain([END]);
    for (i, c) in chars.enumerate() {
        window = [window[1], window[2], c];
        if i == 0 {
            continue; // the window still holds two start marks
        }
        let mut key = (window[0] << 42) | (window[1] << 21) | window[2];
        let x = splitmix64(&mut key);
        for (slot, &(a, b)) in slots.iter_mut().zip(&hashes) {
            *slot = (*slot).min(a.wrapping_mul(x).wrapping_add(b) >> (64 - SLOT_BITS));
        }
    }
    // A text without characters (never met: empty cells are missing) has no trigram.
    slots.map(|s| s.min((1 << SLOT_BITS) - 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact Jaccard similarity of two texts' trigram sets, written independently.
    fn jaccard(a: &str, b: &str) -> f64 {
        let grams = |t: &str| -> std::collections::HashSet<Vec<char>> {
            let padded: Vec<char> =
                std::iter::once('\u{2}').chain(t.chars()).chain(['\u{3}']).collect();
            padded.windows(3).map(<[char]>::to_vec).collect()
        };
        let (a, b) = (grams(a), grams(b));
        a.intersection(&b).count() as f64 / a.union(&b).count() as f64
    }

    fn agreement(a: &str, b: &str) -> f64 {
        let (x, y) = (signature(a), signature(b));
        x.iter().zip(&y).filter(|(p, q)| p == q).count() as f64 / SLOTS as f64
    }

    #[test]
    fn equal_texts_agree_everywhere_and_slots_estimate_jaccard() {
        let a = "the parcel arrived late and was damaged";
        assert_eq!(signature(a), signature(a));
        assert!(signature(a).iter().all(|&s| s < 1 << SLOT_BITS));
        assert_ne!(signature("a"), signature("b"));
        // Averaged over many pairs, agreement tracks the exact Jaccard similarity.
        let mut rng = crate::sample::Rng::new(9, 0);
        let texts = crate::sentences(400, &mut rng);
        let (mut estimated, mut exact) = (0.0, 0.0);
        for pair in texts.chunks_exact(2) {
            estimated += agreement(&pair[0], &pair[1]);
            exact += jaccard(&pair[0], &pair[1]);
        }
        let (estimated, exact) = (estimated / 200.0, exact / 200.0);
        // 200 pairs of 16 slots: the mean's standard deviation is below 0.01.
        assert!((estimated - exact).abs() < 0.03, "{estimated} vs {exact}");
        assert!(exact > 0.05 && exact < 0.6, "{exact}");
    }
}
