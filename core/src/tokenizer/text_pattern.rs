//! Regular expressions on free-text columns, kept during decoding.
//!
//! A text cell is generated one subword token per slot, so a pattern on the whole text cannot be
//! checked token by token with a regex engine's match API. Instead the pattern is compiled to a
//! deterministic automaton over bytes (`regex-automata`'s dense DFA: linear time, a size limit)
//! and stepped over each candidate token's bytes: a token is allowed when the state it leads to
//! can still reach a match within the slots left, and the end of the text only in a state that
//! matches. The fewest tokens from each reachable state to a match are found once, when the
//! condition is read, by a breadth-first search over the states the vocabulary reaches; a
//! pattern no text of the column's length can match is then an error before generation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use regex_automata::util::primitives::StateID;

use crate::byte_dfa::ByteDfa;

use super::{TEXT_BASE, TEXT_END, TEXT_MISSING};

// `reach` lists a slot's local tokens in this order: the end, missing, then the subword tokens.
const _: () = assert!(TEXT_END == 0 && TEXT_MISSING == 1 && TEXT_BASE == 2);
use crate::subword::SubwordModel;

/// Bytes the automaton may take (a pattern larger than this is refused, not built).
const SIZE_LIMIT: usize = 1 << 22;

/// States the vocabulary may reach from the start before a pattern counts as too complex for
/// the search for the fewest tokens to a match.
const MAX_STATES: usize = 20_000;

/// A regular expression on a text column: the whole text must match it.
#[derive(Clone, Debug)]
pub struct TextPattern {
    pattern: String,
    dfa: ByteDfa,
    start: StateID,
    /// Each subword token's text, by id.
    tokens: Vec<Box<[u8]>>,
    /// The fewest tokens from a state to one where the text so far matches, for every state
    /// the vocabulary reaches from the start that can reach a match in time.
    distance: HashMap<StateID, u32>,
    /// Per state met in generation, [`TextPattern::reach`]'s distances (shared by the threads
    /// of one generation: walking the vocabulary once per state, not once per row and slot).
    reach: Arc<Mutex<HashMap<StateID, Arc<[u16]>>>>,
}

/// States whose reach is kept (beyond them, it is worked out again at each use).
const MAX_CACHED: usize = 4096;

impl PartialEq for TextPattern {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.tokens == other.tokens
    }
}

impl TextPattern {
    /// Compiles `pattern` for a text column of subword `model` whose cells hold at most
    /// `max_tokens` tokens; an error in words when it does not compile, is too large, or no
    /// text of at most `max_tokens` of the model's tokens matches it.
    pub fn new(pattern: &str, model: &SubwordModel, max_tokens: usize) -> Result<Self, String> {
        let dfa = ByteDfa::new(pattern, SIZE_LIMIT)?;
        let start = dfa.start();
        let tokens = (0..model.vocab_len() as u32)
            .map(|id| model.token_text(id).as_bytes().into())
            .collect();
        let mut p = TextPattern {
            pattern: pattern.to_string(),
            dfa,
            start,
            tokens,
            distance: HashMap::new(),
            reach: Arc::default(),
        };
        p.distance = p.distances(max_tokens)?;
        if !p.distance.contains_key(&p.start) {
            return Err(format!(
                "no text of at most {max_tokens} tokens the model writes matches '{pattern}'"
            ));
        }
        Ok(p)
    }

    /// Whether all of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.walk(self.start, text.as_bytes()).is_some_and(|s| self.matches(s))
    }

    /// The state after `bytes` from `state`; `None` once no text can match.
    fn walk(&self, state: StateID, bytes: &[u8]) -> Option<StateID> {
        self.dfa.walk(state, bytes)
    }

    /// Whether the text read into `state` matches as a whole.
    fn matches(&self, state: StateID) -> bool {
        self.dfa.matches(state)
    }

    /// The fewest tokens to a match from every state the vocabulary reaches, those above
    /// `max_tokens` left out: the states and their token edges by a forward search, then a
    /// breadth-first search backwards from the states that match.
    fn distances(&self, max_tokens: usize) -> Result<HashMap<StateID, u32>, String> {
        let mut seen = HashMap::from([(self.start, 0usize)]);
        let mut states = vec![self.start];
        let mut into: Vec<Vec<usize>> = vec![Vec::new()];
        let mut next = 0;
        while next < states.len() {
            let from = states[next];
            for token in &self.tokens {
                let Some(to) = self.walk(from, token) else { continue };
                let count = states.len();
                let i = *seen.entry(to).or_insert(count);
                if i == count {
                    if count == MAX_STATES {
                        return Err(format!(
                            "regular expression '{}' is too complex for a text column",
                            self.pattern
                        ));
                    }
                    states.push(to);
                    into.push(Vec::new());
                }
                if into[i].last() != Some(&next) {
                    into[i].push(next);
                }
            }
            next += 1;
        }
        let mut distance = HashMap::new();
        let mut queue: VecDeque<usize> =
            (0..states.len()).filter(|&i| self.matches(states[i])).collect();
        queue.iter().for_each(|&i| _ = distance.insert(states[i], 0u32));
        while let Some(i) = queue.pop_front() {
            let d = distance[&states[i]] + 1;
            if d as usize > max_tokens {
                continue;
            }
            for &j in &into[i] {
                if let std::collections::hash_map::Entry::Vacant(e) = distance.entry(states[j]) {
                    e.insert(d);
                    queue.push_back(j);
                }
            }
        }
        Ok(distance)
    }

    /// Bars (sets to -inf) the logits of a text slot's local tokens (the end, missing, then
    /// each subword token) that would keep the text from matching, given the subword ids
    /// `so_far` of the cell's earlier slots and the `room` for tokens in the slots after this
    /// one. A text that has already left the pattern (a forced token) is left to the model.
    pub fn bar(&self, so_far: &[u32], room: usize, logits: &mut [f32]) {
        let state = so_far
            .iter()
            .try_fold(self.start, |s, &id| self.walk(s, self.tokens.get(id as usize)?));
        let Some(state) = state.filter(|s| self.distance.contains_key(s)) else { return };
        let reach = self.reach(state);
        for (logit, &d) in logits.iter_mut().zip(reach.iter()) {
            if d as usize > room {
                *logit = f32::NEG_INFINITY;
            }
        }
    }

    /// For each local token of a text slot (the end, missing, then each subword token), the
    /// fewest tokens to a match after drawing it in `state` (`u16::MAX`: none): 0 for the end
    /// when the text so far matches, none for missing.
    fn reach(&self, state: StateID) -> Arc<[u16]> {
        let cached = self.reach.lock().ok().and_then(|cache| cache.get(&state).cloned());
        if let Some(reach) = cached {
            return reach;
        }
        let distance = |s: Option<StateID>| {
            s.and_then(|s| self.distance.get(&s))
                .map_or(u16::MAX, |&d| d.min(u32::from(u16::MAX)) as u16)
        };
        let end = if self.matches(state) { 0 } else { u16::MAX };
        let words = self.tokens.iter().map(|bytes| distance(self.walk(state, bytes)));
        let reach: Arc<[u16]> = [end, u16::MAX].into_iter().chain(words).collect();
        if let Ok(mut cache) = self.reach.lock() {
            if cache.len() < MAX_CACHED {
                cache.insert(state, reach.clone());
            }
        }
        reach
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local tokens of a slot that `bar` leaves, as their texts (`<end>` for the end).
    fn allowed(p: &TextPattern, model: &SubwordModel, so_far: &[u32], room: usize) -> Vec<String> {
        let mut logits = vec![0f32; TEXT_BASE as usize + model.vocab_len()];
        p.bar(so_far, room, &mut logits);
        let mut out: Vec<String> = (0..logits.len() as u32)
            .filter(|&t| logits[t as usize] == 0.0)
            .map(|t| match t {
                TEXT_END => "<end>".to_string(),
                TEXT_MISSING => "<missing>".to_string(),
                t => model.token_text(t - TEXT_BASE).to_string(),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn tokens_are_barred_unless_a_match_stays_within_reach() -> Result<(), String> {
        let model = SubwordModel::learn(&["ab", "ab", "ab", "ba"], 10, 1);
        let id = |text: &str| (0..model.vocab_len() as u32).find(|&i| model.token_text(i) == text);
        let ab = id("ab").ok_or("no merged token 'ab'")?;
        let a = id("a").ok_or("no token 'a'")?;
        let p = TextPattern::new("(ab)+", &model, 3)?;
        assert!(p.is_match("abab") && !p.is_match("aba") && !p.is_match(""));
        // No room after this token: only a whole match now; the end and missing never.
        assert_eq!(allowed(&p, &model, &[], 0), ["ab"]);
        // Room for one more: 'a' (then 'b') too.
        assert_eq!(allowed(&p, &model, &[], 1), ["a", "ab"]);
        // After 'ab' the text may end, or go on with 'a' or 'ab'.
        assert_eq!(allowed(&p, &model, &[ab], 1), ["<end>", "a", "ab"]);
        // After 'a' only 'b' leads on ('ba' would leave the pattern).
        assert_eq!(allowed(&p, &model, &[a], 0), ["b"]);
        let error = TextPattern::new("(ab){3}", &model, 2).err().unwrap_or_default();
        assert!(error.contains("no text of at most 2 tokens"), "{error}");
        let error = TextPattern::new("a(", &model, 2).err().unwrap_or_default();
        assert!(error.contains("cannot be used"), "{error}");
        Ok(())
    }
}
