//! A regular expression compiled to a deterministic automaton over bytes (`regex-automata`'s
//! dense DFA: linear time, a size limit), anchored at the start and stepped by hand: decoding
//! walks it over each candidate token's bytes to keep generated text inside a pattern (a
//! free-text column's regular expression, a LoRA model's record shape), which a regex
//! engine's match API, built for whole haystacks, cannot do token by token.

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::{primitives::StateID, start};
use regex_automata::Anchored;

/// A compiled pattern and its start state.
#[derive(Clone, Debug)]
pub(crate) struct ByteDfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl ByteDfa {
    /// Compiles `pattern` (matched from its start; its end is checked by [`ByteDfa::matches`]),
    /// refusing one whose automaton would take more than `size_limit` bytes; the error is in
    /// words.
    pub fn new(pattern: &str, size_limit: usize) -> Result<ByteDfa, String> {
        let config = dense::Config::new()
            .start_kind(StartKind::Anchored)
            .dfa_size_limit(Some(size_limit))
            .determinize_size_limit(Some(size_limit));
        let dfa = dense::Builder::new()
            .configure(config)
            .build(pattern)
            .map_err(|e| format!("regular expression '{pattern}' cannot be used: {e}"))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| format!("regular expression '{pattern}' has no start: {e}"))?;
        Ok(ByteDfa { dfa, start })
    }

    /// The state before any byte.
    pub fn start(&self) -> StateID {
        self.start
    }

    /// The state after `bytes` from `state`; `None` once no text can match.
    pub fn walk(&self, mut state: StateID, bytes: &[u8]) -> Option<StateID> {
        for &b in bytes {
            state = self.dfa.next_state(state, b);
            if self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state) {
                return None;
            }
        }
        Some(state)
    }

    /// Whether the text read into `state` matches as a whole (a dense DFA reports a match one
    /// step late: after the end of the input).
    pub fn matches(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }
}
