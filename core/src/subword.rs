//! A small learned subword tokenizer (byte-pair encoding over characters) for free-text columns.
//!
//! [`SubwordModel::learn`] starts from an alphabet of the characters seen in the training text and
//! then learns merges of adjacent tokens greedily by pair frequency (Sennrich et al., 2016, "Neural
//! Machine Translation of Rare Words with Subword Units", Algorithm 1). Text is first cut into
//! pieces so that merges never cross words: a piece is a run of non-space characters together with
//! the one space before it, if any, so `" hello"` and `"hello"` are different pieces as in GPT-2;
//! in a run of several spaces every space but the last is a piece of its own.
//!
//! Only the ASCII space `' '` separates pieces; tabs, newlines and other characters belong to words.
//! Characters outside the alphabet become [`SubwordModel::UNKNOWN`], which decodes as U+FFFD, and
//! are never merged with anything.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The text the unknown token decodes to (U+FFFD REPLACEMENT CHARACTER).
const UNKNOWN_TEXT: &str = "\u{FFFD}";

/// Longest token text read from a model file, in bytes: a token is part of one cell, and no
/// cell is longer than the default `limits.max_field_bytes`.
const MAX_TOKEN_BYTES: usize = 1 << 20;

/// Most bytes of token text one subword vocabulary read from a model file may hold.
const MAX_TOKENS_BYTES: usize = 1 << 28;

/// A learned subword vocabulary: token 0 is the unknown token, then one token per alphabet
/// character in code point order, then one token per learned merge in the order learned.
///
/// Serialised compactly and deterministically as the alphabet and the merge list; the lookup
/// tables are rebuilt (and the merge list validated) when deserialising.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SubwordModelRepr", into = "SubwordModelRepr")]
pub struct SubwordModel {
    /// The alphabet in code point order; `alphabet[i]` has id `i + 1`.
    alphabet: Vec<char>,
    /// The learned merges in rank order; merge `k` makes token `1 + alphabet.len() + k`.
    merges: Vec<(u32, u32)>,
    /// The text of every token, indexed by id.
    tokens: Vec<String>,
    /// Alphabet character to id.
    char_ids: HashMap<char, u32>,
    /// Merge pair to its rank (index in `merges`).
    ranks: HashMap<(u32, u32), u32>,
}

/// The serialised form of a [`SubwordModel`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SubwordModelRepr {
    /// The alphabet characters in code point order.
    alphabet: String,
    /// The merges in rank order, as pairs of token ids.
    merges: Vec<[u32; 2]>,
}

impl From<SubwordModel> for SubwordModelRepr {
    fn from(model: SubwordModel) -> Self {
        SubwordModelRepr {
            alphabet: model.alphabet.into_iter().collect(),
            merges: model.merges.into_iter().map(|(l, r)| [l, r]).collect(),
        }
    }
}

impl TryFrom<SubwordModelRepr> for SubwordModel {
    type Error = String;

    fn try_from(repr: SubwordModelRepr) -> Result<Self, Self::Error> {
        let alphabet: Vec<char> = repr.alphabet.chars().collect();
        if let Some(w) = alphabet.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "subword alphabet is not in strictly increasing order at {:?}, {:?}",
                w[0], w[1]
            ));
        }
        let mut model = SubwordModel::with_alphabet(alphabet);
        let mut total: usize = model.tokens.iter().map(String::len).sum();
        for (rank, [left, right]) in repr.merges.into_iter().enumerate() {
            let len = model.tokens.len();
            if left as usize >= len || right as usize >= len {
                return Err(format!(
                    "subword merge {rank} ({left}, {right}) refers to a token at or after its own id {len}"
                ));
            }
            // A merge joins two earlier tokens, so a hand-made list can double a token's text
            // with every merge: bound the texts before building them.
            let bytes = model.tokens[left as usize].len() + model.tokens[right as usize].len();
            total = total.saturating_add(bytes);
            if bytes > MAX_TOKEN_BYTES || total > MAX_TOKENS_BYTES {
                return Err(format!(
                    "subword merge {rank} makes a token of {bytes} bytes ({total} in all; at most \
                     {MAX_TOKEN_BYTES} per token and {MAX_TOKENS_BYTES} in all)"
                ));
            }
            model.push_merge((left, right));
        }
        Ok(model)
    }
}

impl SubwordModel {
    /// The id of the unknown token, used for characters outside the alphabet; it decodes as U+FFFD.
    pub const UNKNOWN: u32 = 0;

    /// Learns a vocabulary of at most `vocab_size` tokens (at least 1: the unknown token) from `texts`.
    ///
    /// The alphabet is every character seen at least `min_count` times; if it would not fit
    /// in `vocab_size - 1` tokens, the most frequent characters are kept (ties: lowest code point).
    /// Merges are then learned greedily: the adjacent pair seen most often (ties: the lowest
    /// `(left id, right id)`) becomes a new token, until the vocabulary holds `vocab_size` tokens
    /// or no pair occurs at least `min_count` times (and twice): like a category, a token is a
    /// string the training text holds often, never one rare word (a word seen twice made a
    /// token let the model copy it whole). A pair whose text is already a token is not merged,
    /// so every token text is unique. Identical pieces are counted once with a weight.
    pub fn learn(texts: &[&str], vocab_size: usize, min_count: usize) -> SubwordModel {
        let mut piece_counts: HashMap<&str, u64> = HashMap::new();
        for text in texts {
            for piece in pieces(text) {
                *piece_counts.entry(piece).or_insert(0) += 1;
            }
        }
        // Sorted so that every later step visits pieces in the same order on every run.
        let mut pieces: Vec<(&str, u64)> = piece_counts.into_iter().collect();
        pieces.sort_unstable();

        let mut char_counts: HashMap<char, u64> = HashMap::new();
        for &(piece, weight) in &pieces {
            for c in piece.chars() {
                *char_counts.entry(c).or_insert(0) += weight;
            }
        }
        let min_count = min_count.max(1) as u64;
        let mut alphabet: Vec<(char, u64)> =
            char_counts.into_iter().filter(|&(_, n)| n >= min_count).collect();
        alphabet.sort_unstable_by_key(|&(c, n)| (Reverse(n), c));
        alphabet.truncate(vocab_size.saturating_sub(1));
        let mut alphabet: Vec<char> = alphabet.into_iter().map(|(c, _)| c).collect();
        alphabet.sort_unstable();

        let mut model = SubwordModel::with_alphabet(alphabet);
        let words: Vec<Vec<u32>> = pieces
            .iter()
            .map(|(piece, _)| piece.chars().map(|c| model.char_id(c)).collect())
            .collect();
        let weights: Vec<u64> = pieces.iter().map(|&(_, w)| w).collect();
        MergeLearner::new(words, weights, min_count.max(2)).run(&mut model, vocab_size);
        model
    }

    /// The number of tokens (unknown token, alphabet and merges); ids run from 0 to `vocab_len() - 1`.
    pub fn vocab_len(&self) -> usize {
        self.tokens.len()
    }

    /// Encodes `text` as token ids: each piece is split into characters and merges are applied in
    /// the order they were learned (standard BPE by merge rank). `decode(encode(t)) == t` for
    /// every `t` whose characters are all in the alphabet.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len());
        for piece in pieces(text) {
            self.encode_piece(piece, &mut ids);
        }
        ids
    }

    /// Decodes token ids back to text; ids at or beyond [`vocab_len`](Self::vocab_len) are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut text = String::new();
        for &id in ids {
            if let Some(token) = self.tokens.get(id as usize) {
                text.push_str(token);
            }
        }
        text
    }

    /// The text of token `id` (U+FFFD for [`UNKNOWN`](Self::UNKNOWN)).
    ///
    /// # Panics
    ///
    /// If `id >= vocab_len()`.
    pub fn token_text(&self, id: u32) -> &str {
        &self.tokens[id as usize]
    }

    /// A model with the unknown token and `alphabet` (sorted, no duplicates) and no merges.
    fn with_alphabet(alphabet: Vec<char>) -> SubwordModel {
        let mut tokens = Vec::with_capacity(alphabet.len() + 1);
        tokens.push(UNKNOWN_TEXT.to_string());
        tokens.extend(alphabet.iter().map(|c| c.to_string()));
        let char_ids = alphabet.iter().zip(1..).map(|(&c, id)| (c, id)).collect();
        SubwordModel { alphabet, merges: Vec::new(), tokens, char_ids, ranks: HashMap::new() }
    }

    /// Appends a merge of two existing tokens, returning the id of the new token.
    fn push_merge(&mut self, pair: (u32, u32)) -> u32 {
        let id = self.tokens.len() as u32;
        let rank = self.merges.len() as u32;
        let text = format!("{}{}", self.tokens[pair.0 as usize], self.tokens[pair.1 as usize]);
        self.tokens.push(text);
        self.merges.push(pair);
        // A duplicate pair (only possible in a hand-edited file) keeps its first, lowest rank.
        self.ranks.entry(pair).or_insert(rank);
        id
    }

    /// The id of the token a merge of `rank` produces.
    fn merged_id(&self, rank: u32) -> u32 {
        1 + self.alphabet.len() as u32 + rank
    }

    /// The id of character `c`, or [`UNKNOWN`](Self::UNKNOWN).
    fn char_id(&self, c: char) -> u32 {
        self.char_ids.get(&c).copied().unwrap_or(Self::UNKNOWN)
    }

    /// Encodes one piece onto `out`: repeatedly merges the adjacent pair of lowest rank, leftmost
    /// first, over a linked list of symbols with a heap of candidate merges (O(n log n) in the
    /// piece's length). This equals applying every merge in rank order to all of its occurrences
    /// left to right, as training did, because a merge only creates pairs that involve its new
    /// token, whose own merges have higher ranks.
    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        const NONE: usize = usize::MAX;
        let mut ids: Vec<u32> = piece.chars().map(|c| self.char_id(c)).collect();
        let n = ids.len();
        if n < 2 || self.ranks.is_empty() {
            out.extend_from_slice(&ids);
            return;
        }
        let mut next: Vec<usize> = (1..n).chain([NONE]).collect();
        let mut prev: Vec<usize> = [NONE].into_iter().chain(0..n - 1).collect();
        let mut alive = vec![true; n];
        let mut heap: BinaryHeap<Reverse<(u32, usize)>> = (0..n - 1)
            .filter_map(|i| self.ranks.get(&(ids[i], ids[i + 1])).map(|&r| Reverse((r, i))))
            .collect();
        while let Some(Reverse((rank, i))) = heap.pop() {
            let j = next[i];
            // Stale entry: the left symbol was merged away, or the pair at `i` has changed.
            if !alive[i] || j == NONE || self.ranks.get(&(ids[i], ids[j])) != Some(&rank) {
                continue;
            }
            ids[i] = self.merged_id(rank);
            alive[j] = false;
            next[i] = next[j];
            if next[i] != NONE {
                prev[next[i]] = i;
                if let Some(&r) = self.ranks.get(&(ids[i], ids[next[i]])) {
                    heap.push(Reverse((r, i)));
                }
            }
            if prev[i] != NONE {
                if let Some(&r) = self.ranks.get(&(ids[prev[i]], ids[i])) {
                    heap.push(Reverse((r, prev[i])));
                }
            }
        }
        let mut i = 0;
        while i != NONE {
            out.push(ids[i]);
            i = next[i];
        }
    }
}

/// Splits `text` into pieces: a new piece starts at every space, so each piece is an optional
/// single leading space followed by non-space characters (a lone space in a run of spaces).
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let skip = usize::from(rest.starts_with(' '));
        let end = rest[skip..].find(' ').map_or(rest.len(), |i| i + skip);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// The state of merge learning: the distinct pieces as token sequences, the weighted count of
/// every adjacent pair, which pieces hold each pair, and a max-heap of candidate pairs.
///
/// Heap entries are `(count, Reverse(pair))`, so the top is the highest count and then the lowest
/// pair. Entries may be stale: merging can only lower the count of a pair that does not involve
/// the new token, and every pair involving it is pushed with its count once the merge is
/// applied, so every pair has an entry at least as large as its count. A popped entry larger than
/// the current count is pushed back with the current count; an entry equal to it is the best pair.
struct MergeLearner {
    /// Each distinct piece as token ids.
    words: Vec<Vec<u32>>,
    /// How often each piece occurs.
    weights: Vec<u64>,
    /// Weighted occurrence count of each adjacent pair.
    counts: HashMap<(u32, u32), u64>,
    /// Indices of the words that contain (or once contained) each pair.
    holders: HashMap<(u32, u32), Vec<usize>>,
    /// Candidate pairs; see the type's documentation.
    heap: BinaryHeap<(u64, Reverse<(u32, u32)>)>,
    /// Fewest occurrences of a pair that is merged.
    min_count: u64,
}

impl MergeLearner {
    /// Counts the pairs of `words`, each occurring `weights[i]` times.
    fn new(words: Vec<Vec<u32>>, weights: Vec<u64>, min_count: u64) -> Self {
        let mut counts: HashMap<(u32, u32), u64> = HashMap::new();
        let mut holders: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
        for (i, (word, &weight)) in words.iter().zip(&weights).enumerate() {
            for pair in pairs(word) {
                *counts.entry(pair).or_insert(0) += weight;
                let list = holders.entry(pair).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        let heap = counts
            .iter()
            .filter(|&(_, &n)| n >= min_count)
            .map(|(&p, &n)| (n, Reverse(p)))
            .collect();
        MergeLearner { words, weights, counts, holders, heap, min_count }
    }

    /// Learns merges into `model` until it holds `vocab_size` tokens or no pair occurs
    /// `min_count` times.
    fn run(mut self, model: &mut SubwordModel, vocab_size: usize) {
        let mut merged_texts: HashSet<String> = HashSet::new();
        while model.vocab_len() < vocab_size {
            let Some((stored, Reverse(pair))) = self.heap.pop() else {
                break;
            };
            let count = self.counts.get(&pair).copied().unwrap_or(0);
            if stored != count {
                if count >= self.min_count {
                    self.heap.push((count, Reverse(pair)));
                }
                continue;
            }
            // The text of a new token must be new: "a"+"ab" is not learned once "aa"+"b" is.
            // (Merged texts have two or more characters, so they never equal a base token.)
            let text = format!("{}{}", model.token_text(pair.0), model.token_text(pair.1));
            if !merged_texts.insert(text) {
                continue;
            }
            let id = model.push_merge(pair);
            self.apply(pair, id);
        }
    }

    /// Replaces every occurrence of `pair` by `id` in the words holding it, updating the counts,
    /// and pushes every pair that involves `id`.
    fn apply(&mut self, pair: (u32, u32), id: u32) {
        let mut created: Vec<(u32, u32)> = Vec::new();
        for i in self.holders.remove(&pair).unwrap_or_default() {
            let word = &self.words[i];
            if !word.windows(2).any(|w| (w[0], w[1]) == pair) {
                continue;
            }
            let weight = self.weights[i];
            for p in pairs(word) {
                if let Some(n) = self.counts.get_mut(&p) {
                    *n -= weight;
                }
            }
            let mut merged = Vec::with_capacity(word.len());
            let mut k = 0;
            while k < word.len() {
                if k + 1 < word.len() && (word[k], word[k + 1]) == pair {
                    merged.push(id);
                    k += 2;
                } else {
                    merged.push(word[k]);
                    k += 1;
                }
            }
            for p in pairs(&merged) {
                *self.counts.entry(p).or_insert(0) += weight;
                if p.0 == id || p.1 == id {
                    let list = self.holders.entry(p).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                    created.push(p);
                }
            }
            self.words[i] = merged;
        }
        created.sort_unstable();
        created.dedup();
        for p in created {
            let n = self.counts[&p];
            if n >= self.min_count {
                self.heap.push((n, Reverse(p)));
            }
        }
    }
}

/// The adjacent pairs of `word` that may be merged (none involving the unknown token).
fn pairs(word: &[u32]) -> impl Iterator<Item = (u32, u32)> + '_ {
    word.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(l, r)| l != SubwordModel::UNKNOWN && r != SubwordModel::UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts covering accents, CJK, emoji, odd spacing and the empty string.
    const ROUND_TRIP: &[&str] = &[
        "",
        " ",
        "   ",
        "hello world",
        " hello world",
        "hello world ",
        "  leading and trailing  ",
        "several    spaces   between",
        "café crème brûlée",
        "naïve façade Ærøskøbing",
        "東京都 渋谷区",
        "日本語のテキスト",
        "emoji 🎉🚀 party 👍🏽",
        "tab\tand\nnewline",
        "a",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
    ];

    /// Synthetic titles in which a few words are frequent.
    fn titles() -> Vec<String> {
        let adjectives = ["Great", "Small", "Red", "Quiet", "Modern", "Old"];
        let nouns = ["House", "Garden", "River", "Window", "Kitchen", "Station"];
        (0..600)
            .map(|i| {
                let a = adjectives[i % adjectives.len()];
                let n = nouns[(i / adjectives.len()) % nouns.len()];
                format!("The {a} {n} of the city number {}", i % 37)
            })
            .collect()
    }

    fn refs(texts: &[String]) -> Vec<&str> {
        texts.iter().map(String::as_str).collect()
    }

    #[test]
    fn pieces_keep_one_leading_space() {
        let split = |t| pieces(t).collect::<Vec<_>>();
        assert_eq!(split("hello world"), ["hello", " world"]);
        assert_eq!(split("  a  b "), [" ", " a", " ", " b", " "]);
        assert_eq!(split(" x"), [" x"]);
        assert!(split("").is_empty());
        assert_eq!(split("日本 語"), ["日本", " 語"]);
    }

    #[test]
    fn round_trip_over_unicode_and_spaces() {
        let model = SubwordModel::learn(ROUND_TRIP, 200, 1);
        assert!(model.vocab_len() > 1 + 20, "merges were learned");
        for text in ROUND_TRIP {
            let ids = model.encode(text);
            assert!(ids.iter().all(|&id| (id as usize) < model.vocab_len()));
            assert!(!ids.contains(&SubwordModel::UNKNOWN), "{text:?} is all in the alphabet");
            assert_eq!(model.decode(&ids), *text);
        }
        // Text never seen in training but made of known characters also round trips.
        let unseen = "  world café 東京 🎉 ";
        assert_eq!(model.decode(&model.encode(unseen)), unseen);
    }

    #[test]
    fn pairs_rarer_than_the_minimum_are_not_merged() {
        // 'x' and 'y' occur 4 times each, as the pair "xy" 3 times; " ab" 6 times.
        let texts = ["xy ab ab", "xy ab ab", "xy ab ab", "x y"];
        let has =
            |m: &SubwordModel, t: &str| (0..m.vocab_len() as u32).any(|i| m.token_text(i) == t);
        let strict = SubwordModel::learn(&texts, 100, 4);
        assert!(has(&strict, " ab") && !has(&strict, "xy"));
        let loose = SubwordModel::learn(&texts, 100, 3);
        assert!(has(&loose, " ab") && has(&loose, "xy"));
    }

    #[test]
    fn unknown_chars_decode_to_replacement() {
        // 'z' occurs once, below min_char_count = 2, so it is outside the alphabet like 'Q'.
        let model = SubwordModel::learn(&["abab", "baba", "z"], 10, 2);
        let ids = model.encode("aQbz");
        assert_eq!(ids.iter().filter(|&&id| id == SubwordModel::UNKNOWN).count(), 2);
        assert_eq!(model.decode(&ids), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(model.token_text(SubwordModel::UNKNOWN), "\u{FFFD}");
        // Ids outside the vocabulary are skipped.
        assert_eq!(model.decode(&[u32::MAX, ids[0]]), "a");
    }

    #[test]
    fn merges_compress_and_frequent_words_become_tokens() {
        let titles = titles();
        let texts = refs(&titles);
        let model = SubwordModel::learn(&texts, 300, 1);
        let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
        let encoded: usize = texts.iter().map(|t| model.encode(t).len()).sum();
        assert!(encoded * 3 < chars, "{encoded} tokens for {chars} chars");
        for word in ["The", " the", " city", " number", " Garden", " Kitchen"] {
            let ids = model.encode(word);
            assert_eq!(ids.len(), 1, "{word:?} is one token, got {ids:?}");
            assert_eq!(model.token_text(ids[0]), word);
        }
    }

    #[test]
    fn vocab_len_never_exceeds_vocab_size() {
        let titles = titles();
        let mut texts = refs(&titles);
        texts.extend_from_slice(ROUND_TRIP);
        for vocab_size in [1, 2, 5, 20, 50, 51, 100, 1000, 100_000] {
            let model = SubwordModel::learn(&texts, vocab_size, 1);
            assert!(model.vocab_len() <= vocab_size, "{} > {vocab_size}", model.vocab_len());
            for text in &texts {
                let ids = model.encode(text);
                assert!(ids.iter().all(|&id| (id as usize) < model.vocab_len()));
            }
        }
        // A tiny vocabulary keeps only the most frequent characters.
        let model = SubwordModel::learn(&["aaab"], 2, 1);
        assert_eq!(model.vocab_len(), 2);
        assert_eq!(model.decode(&model.encode("ab")), "a\u{FFFD}");
        // With a large budget, learning stops when no pair occurs twice.
        let model = SubwordModel::learn(&["abcd"], 1000, 1);
        assert_eq!(model.vocab_len(), 5);
    }

    #[test]
    fn every_token_text_is_unique() {
        let titles = titles();
        let model = SubwordModel::learn(&refs(&titles), 1000, 1);
        let mut texts: Vec<&str> =
            (0..model.vocab_len() as u32).map(|id| model.token_text(id)).collect();
        texts.sort_unstable();
        let len = texts.len();
        texts.dedup();
        assert_eq!(texts.len(), len);
    }

    #[test]
    fn learning_is_deterministic() {
        let titles = titles();
        let texts = refs(&titles);
        let a = SubwordModel::learn(&texts, 250, 1);
        let b = SubwordModel::learn(&texts, 250, 1);
        assert_eq!(a, b);
        assert_eq!(a.merges, b.merges);
    }

    #[test]
    fn serde_json_round_trip() -> Result<(), serde_json::Error> {
        let titles = titles();
        let mut texts = refs(&titles);
        texts.extend_from_slice(ROUND_TRIP);
        let model = SubwordModel::learn(&texts, 300, 1);
        let json = serde_json::to_string(&model)?;
        let back: SubwordModel = serde_json::from_str(&json)?;
        assert_eq!(back, model);
        assert_eq!(serde_json::to_string(&back)?, json, "serialisation is deterministic");
        for text in &texts {
            assert_eq!(back.encode(text), model.encode(text));
        }
        // The form is the alphabet and the merge list only.
        let value: serde_json::Value = serde_json::from_str(&json)?;
        let keys: Vec<&String> = value.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["alphabet", "merges"]);
        Ok(())
    }

    #[test]
    fn corrupt_serde_form_is_rejected() {
        let bad = [
            r#"{"alphabet":"ba","merges":[]}"#,
            r#"{"alphabet":"aa","merges":[]}"#,
            r#"{"alphabet":"ab","merges":[[1,3]]}"#,
            r#"{"alphabet":"ab","merges":[[1,2],[4,1]]}"#,
        ];
        for json in bad {
            assert!(serde_json::from_str::<SubwordModel>(json).is_err(), "{json} accepted");
        }
        let ok: Result<SubwordModel, _> =
            serde_json::from_str(r#"{"alphabet":"ab","merges":[[1,2],[3,1]]}"#);
        assert!(ok.is_ok_and(|m| m.token_text(4) == "aba"));
    }

    #[test]
    fn a_merge_list_that_doubles_its_tokens_is_refused() {
        // Merge k joins token k+1 with itself: token texts double with every merge, 2^64 bytes
        // after 64 merges, unless the lengths are bounded while reading.
        let merges: Vec<String> = (1..=64).map(|k| format!("[{k},{k}]")).collect();
        let json = format!(r#"{{"alphabet":"a","merges":[{}]}}"#, merges.join(","));
        let err = serde_json::from_str::<SubwordModel>(&json).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("bytes")), "accepted");
    }

    #[test]
    fn tiny_example_learns_aa() {
        let model = SubwordModel::learn(&["aaab", "aab"], 0, 1);
        assert_eq!(model.vocab_len(), 1, "vocab_size 0 still holds the unknown token");
        // Alphabet {a, b} plus the unknown token: 3 base tokens, room for exactly one merge.
        let base = 1 + 2;
        let model = SubwordModel::learn(&["aaab", "aab"], base + 1, 1);
        assert_eq!(model.vocab_len(), base + 1);
        // Pair counts, overlapping occurrences included: (a,a) occurs twice in "aaab" and once in
        // "aab" = 3; (a,b) once in each = 2. The most frequent pair, (a,a), is the one merge (it
        // would also win a tie, as "a" has a lower id than "b").
        let (l, r) = model.merges[0];
        assert_eq!((model.token_text(l), model.token_text(r)), ("a", "a"));
        assert_eq!(model.token_text(base as u32), "aa");
        // Merging left to right: "aaab" -> [aa, a, b], "aab" -> [aa, b].
        assert_eq!(model.encode("aaab"), [3, 1, 2]);
        assert_eq!(model.encode("aab"), [3, 2]);
    }

    #[test]
    fn encode_matches_training_segmentation() {
        // Applying the merges to the training pieces during learning and encoding them afterwards
        // must give the same split; check it through compression of a text with overlaps.
        let model = SubwordModel::learn(&["aaaaaaa", "aaaaaaa", "abababab", "abababab"], 100, 1);
        for text in ["aaaaaaa", "abababab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
            assert_eq!(model.decode(&model.encode(text)), text);
        }
        assert_eq!(model.encode("aaaaaaa").len(), 1);
        assert_eq!(model.encode("abababab").len(), 1);
    }

    #[test]
    fn learns_five_thousand_titles() {
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"];
        let titles: Vec<String> = (0..5000)
            .map(|i| {
                let w = |k: usize| words[(i * k + i / 7) % words.len()];
                format!("{} {} of {} #{}", w(1), w(3), w(5), i % 101)
            })
            .collect();
        let texts = refs(&titles);
        let start = std::time::Instant::now();
        let model = SubwordModel::learn(&texts, 2000, 1);
        let elapsed = start.elapsed();
        eprintln!("learned {} tokens from 5000 titles in {elapsed:?}", model.vocab_len());
        for text in &texts {
            assert_eq!(model.decode(&model.encode(text)), *text);
        }
    }
}
