//! Decoding a LoRA model's records inside the schema: the shape of a record (`{"age":39,...}`
//! then the end mark, every column once in the schema's order) is written as one regular
//! expression, compiled to a byte automaton ([`ByteDfa`]), and at each step a token is drawn
//! only when its bytes keep the record inside it. Field names and punctuation are then forced,
//! integers are digits, floats JSON numbers, categories one of the model file's domain (or its
//! rare bucket), dates the column's format, text a JSON string, and any value may be `null`.
//! The records parse by construction, unless one runs out of tokens (then it is dropped).
//!
//! The tokens a state allows are found by walking every token's bytes from it, once per state
//! met (cached as a bit set), not once per record and step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex_automata::util::primitives::StateID;

use super::shape::{Cell, Shape};
use super::text::RECORD_END;
use crate::byte_dfa::ByteDfa;
use crate::schema::ColumnKind;
use crate::tokenizer::Tokenizer;

/// Largest automaton of a record's shape. Past it (a table of many long category lists), the
/// categories are left to the parser's check instead: see [`RecordGrammar::new`].
const SIZE_LIMIT: usize = 1 << 25;
/// States whose allowed tokens are kept.
const MAX_CACHED: usize = 8192;

/// A base's tokens as the grammars see them: each token's bytes, and a trie of them, shared
/// by the grammars of one base. The tokens a state allows are found by walking the automaton
/// once per shared prefix, down the trie, and only while the record's shape stays reachable:
/// most states (inside a name, a number, a seeded value) allow a handful of tokens, which a
/// scan of every token's bytes would find at the cost of the whole vocabulary.
pub struct BaseTokens {
    /// Each token's bytes (`None`: never drawn, such as a special token).
    bytes: Vec<Option<Box<[u8]>>>,
    /// The trie; node 0 is the root.
    nodes: Vec<TrieNode>,
}

/// A node of [`BaseTokens`]' trie: its children by byte (sorted), and the tokens whose bytes
/// end at it.
#[derive(Default)]
struct TrieNode {
    children: Vec<(u8, u32)>,
    ends: Vec<u32>,
}

impl BaseTokens {
    /// The tokens of the given bytes, by id (`None`, or empty: never drawn).
    pub fn new(bytes: Vec<Option<Box<[u8]>>>) -> BaseTokens {
        let mut nodes = vec![TrieNode::default()];
        for (token, text) in bytes.iter().enumerate() {
            let Some(text) = text.as_deref().filter(|b| !b.is_empty()) else { continue };
            let mut at = 0;
            for &byte in text {
                at = match nodes[at].children.binary_search_by_key(&byte, |&(b, _)| b) {
                    Ok(i) => nodes[at].children[i].1 as usize,
                    Err(i) => {
                        nodes.push(TrieNode::default());
                        let child = nodes.len() - 1;
                        nodes[at].children.insert(i, (byte, child as u32));
                        child
                    }
                };
            }
            nodes[at].ends.push(token as u32);
        }
        BaseTokens { bytes, nodes }
    }

    /// The number of token ids.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Token `token`'s bytes (`None`: never drawn, or no such token).
    fn bytes(&self, token: u32) -> Option<&[u8]> {
        self.bytes.get(token as usize)?.as_deref()
    }
}

/// The shape of one record of a schema, over a base tokenizer's tokens.
pub struct RecordGrammar {
    dfa: ByteDfa,
    tokens: Arc<BaseTokens>,
    /// Per state met, the tokens it allows (bit `t` of word `t / 64`).
    allowed: Mutex<HashMap<StateID, Arc<[u64]>>>,
}

impl RecordGrammar {
    /// The grammar of `tokenizer`'s schema (and category domains) over tokens of the given
    /// bytes. When the category lists make the automaton too large, categories are any JSON
    /// string (the parser still checks them).
    pub fn new(tokenizer: &Tokenizer, tokens: Arc<BaseTokens>) -> Result<Self, String> {
        Self::shaped(tokenizer, tokens, &Shape::plain(tokenizer.schema()))
    }

    /// The grammar of records of `shape`: its columns in its order, some narrowed (a steered
    /// row's: see [`super::shape`]).
    pub(crate) fn shaped(
        tokenizer: &Tokenizer,
        tokens: Arc<BaseTokens>,
        shape: &Shape,
    ) -> Result<Self, String> {
        let dfa = ByteDfa::new(&record_pattern(tokenizer, true, shape), SIZE_LIMIT)
            .or_else(|_| ByteDfa::new(&record_pattern(tokenizer, false, shape), SIZE_LIMIT))
            .map_err(|e| shortened(&e))?;
        Ok(RecordGrammar { dfa, tokens, allowed: Mutex::default() })
    }

    /// The state of an empty record.
    pub fn start(&self) -> StateID {
        self.dfa.start()
    }

    /// The state after token `token` from `state`; `None` if it leaves the shape.
    pub fn advance(&self, state: StateID, token: u32) -> Option<StateID> {
        self.dfa.walk(state, self.tokens.bytes(token)?)
    }

    /// Whether token `token` writes the end mark (and so ends its record).
    pub fn ends(&self, token: u32) -> bool {
        let end = RECORD_END.as_bytes();
        let bytes = self.tokens.bytes(token);
        bytes.is_some_and(|b| b.windows(end.len()).any(|w| w == end))
    }

    /// Sets to -inf the logits of the tokens that would leave the shape from `state`; false
    /// when no token is left (the caller ends the record).
    pub fn bar(&self, state: StateID, logits: &mut [f32]) -> bool {
        let allowed = self.allowed(state);
        let mut any = false;
        for (t, logit) in logits.iter_mut().enumerate() {
            let on = allowed.get(t / 64).is_some_and(|w| w >> (t % 64) & 1 == 1);
            if on {
                any = true;
            } else {
                *logit = f32::NEG_INFINITY;
            }
        }
        any
    }

    /// The tokens `state` allows, as a bit set.
    fn allowed(&self, state: StateID) -> Arc<[u64]> {
        if let Some(set) = self.allowed.lock().ok().and_then(|c| c.get(&state).cloned()) {
            return set;
        }
        let set: Arc<[u64]> = self.walk_trie(state).into();
        if let Ok(mut cache) = self.allowed.lock() {
            if cache.len() < MAX_CACHED {
                cache.insert(state, set.clone());
            }
        }
        set
    }
}

impl RecordGrammar {
    /// The tokens whose whole bytes keep the record in its shape from `state` (bit `t` of word
    /// `t / 64`): a depth-first walk of the tokens' trie, each edge one step of the automaton,
    /// a subtree left as soon as the shape is out of reach.
    fn walk_trie(&self, state: StateID) -> Vec<u64> {
        let mut words = vec![0u64; self.tokens.len().div_ceil(64)];
        let mut stack = vec![(0usize, state)];
        while let Some((node, at)) = stack.pop() {
            for &(byte, child) in &self.tokens.nodes[node].children {
                let Some(next) = self.dfa.walk(at, &[byte]) else { continue };
                for &t in &self.tokens.nodes[child as usize].ends {
                    words[t as usize / 64] |= 1 << (t % 64);
                }
                stack.push((child as usize, next));
            }
        }
        words
    }
}

/// An error about a record's pattern with the pattern's middle left out (it can be megabytes
/// of category names): its start and its end, where the automaton's reason is.
fn shortened(error: &str) -> String {
    const KEEP: usize = 200;
    let chars: Vec<char> = error.chars().collect();
    if chars.len() <= 3 * KEEP {
        return error.to_string();
    }
    let head: String = chars[..KEEP].iter().collect();
    let tail: String = chars[chars.len() - KEEP..].iter().collect();
    format!("{head} … {tail}")
}

/// The regular expression of a record of `shape`: `{`, each of its columns as `"name":value`
/// joined by commas in its order, `}` and the end mark. A value is what the shape's [`Cell`]
/// says: its pattern, its kind's values ([`value_pattern`]), or those or `null`.
pub(crate) fn record_pattern(tokenizer: &Tokenizer, domains: bool, shape: &Shape) -> String {
    let schema = tokenizer.schema();
    let fields: Vec<String> = shape
        .order
        .iter()
        .filter_map(|&c| Some((c, schema.columns.get(c)?)))
        .map(|(c, column)| {
            let name = regex::escape(&json_string(&column.name));
            let value = match shape.cells.get(c) {
                Some(Cell::Pattern(pattern)) => pattern.clone(),
                Some(Cell::Present) => value_pattern(tokenizer, c, domains),
                Some(Cell::Any) | None => format!("{}|null", value_pattern(tokenizer, c, domains)),
            };
            format!("{name}:(?:{value})")
        })
        .collect();
    format!("\\{{{}\\}}{}", fields.join(","), regex::escape(RECORD_END))
}

/// The pattern of a value of column `c` (never `null`): with `domains`, a category is one of
/// its column's values or the rare bucket, without, any JSON string; integers have no more
/// digits than the column's range, floats as many decimals as it has, dates its format, the
/// rest any JSON string.
pub(crate) fn value_pattern(tokenizer: &Tokenizer, c: usize, domains: bool) -> String {
    let Some(column) = tokenizer.schema().columns.get(c) else { return JSON_STRING.into() };
    match (&column.kind, tokenizer.categories(c).filter(|_| domains)) {
        (_, Some((values, rare))) => one_of(values.iter().map(String::as_str).chain(rare)),
        (ColumnKind::Integer, _) => integer(tokenizer.number_range(c)),
        (ColumnKind::Float { decimals }, _) => format!(
            "{}(?:\\.[0-9]{{1,{}}})?",
            integer(tokenizer.number_range(c)),
            (*decimals).clamp(1, MAX_DECIMALS)
        ),
        (ColumnKind::Datetime { format }, _) => format!("\"{}\"", date_pattern(format)),
        _ => JSON_STRING.to_string(),
    }
}

/// One of `values`, each as a JSON string.
pub(crate) fn one_of<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut options: Vec<String> = values.map(|v| regex::escape(&json_string(v))).collect();
    options.sort();
    options.dedup();
    format!("(?:{})", options.join("|"))
}

/// The most fraction digits a float's pattern writes (an f64 holds 17 significant digits).
pub(crate) const MAX_DECIMALS: u32 = 17;

/// A JSON integer with no more digits than the column's largest magnitude (`range`, as the
/// tokenizer holds it; 18 digits without one), negative only when the range reaches below 0.
fn integer(range: Option<(f64, f64)>) -> String {
    let (digits, signed) = integer_digits(range);
    // Never `-0`: JSON reads it as a float.
    let sign = if signed { "-?" } else { "" };
    format!("(?:0|{sign}[1-9][0-9]{{0,{}}})", digits - 1)
}

/// The most digits of a number's integer part in a column of `range` (18 without one), and
/// whether it may be negative.
pub(crate) fn integer_digits(range: Option<(f64, f64)>) -> (usize, bool) {
    let (lo, hi) = range.unwrap_or((-1e18, 1e18));
    let largest = lo.abs().max(hi.abs()).max(1.0);
    ((largest.log10().floor() as usize + 1).clamp(1, 18), lo < 0.0)
}
/// A JSON string: no raw control character, escapes as JSON writes them.
const JSON_STRING: &str = r#""(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*""#;

/// `text` as a JSON string literal (quotes and escapes included).
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A pattern for the dates a chrono `format` writes: its common fields as digits in range
/// (unpadded after `%-`, as schema inference's `%-m/%-d/%Y` writes them), literal text as JSON
/// writes it, any other field as characters that need no JSON escape.
fn date_pattern(format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            let literal = json_string(&c.to_string());
            out.push_str(&regex::escape(&literal[1..literal.len() - 1]));
            continue;
        }
        let mut spec = chars.next();
        let unpadded = spec == Some('-');
        if matches!(spec, Some('-' | '_' | '0')) {
            spec = chars.next();
        }
        let field = match (spec, unpadded) {
            (Some('Y'), _) => "[0-9]{4}",
            (Some('y' | 'C'), _) => "[0-9]{2}",
            (Some('m'), false) => "(?:0[1-9]|1[0-2])",
            (Some('m'), true) => "(?:[1-9]|1[0-2])",
            (Some('d'), false) => "(?:0[1-9]|[12][0-9]|3[01])",
            (Some('d' | 'e'), true) => "(?:[1-9]|[12][0-9]|3[01])",
            (Some('e'), false) => "(?: [1-9]|[12][0-9]|3[01])",
            (Some('H'), false) => "(?:[01][0-9]|2[0-3])",
            (Some('H'), true) => "(?:[0-9]|1[0-9]|2[0-3])",
            (Some('M' | 'S'), false) => "[0-5][0-9]",
            (Some('M' | 'S'), true) => "(?:[0-9]|[1-5][0-9])",
            (Some('%'), _) => "%",
            _ => r#"[^"\\\x00-\x1f]*"#,
        };
        out.push_str(field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::table::Table;

    fn tokenizer() -> crate::Result<Tokenizer> {
        let names = ["n", "x", "c", "d", "t"].map(String::from).to_vec();
        let rows = 30;
        let columns = vec![
            (0..rows).map(|r| Some(format!("{}", r % 7))).collect(),
            (0..rows).map(|r| Some(format!("{}.5", r % 4))).collect(),
            (0..rows).map(|r| Some(["a\"b", "c d"][r % 2].to_string())).collect(),
            (0..rows).map(|r| Some(format!("2024-02-{:02}", 1 + r % 20))).collect(),
            (0..rows).map(|r| Some(format!("free text number {r} with words"))).collect(),
        ];
        let table = Table::from_columns(names, columns)?;
        let config = TrainConfig::default();
        let (table, schema) = crate::schema::prepare(&table, &config.schema_settings())?;
        Tokenizer::fit(&table, &schema, &config.tokenizer_settings())
    }

    #[test]
    fn the_record_pattern_takes_records_of_the_schema_only() -> crate::Result<()> {
        let t = tokenizer()?;
        let kinds: Vec<String> =
            t.schema().columns.iter().map(|c| format!("{:?}", c.kind)).collect();
        assert!(kinds[4] == "Text", "{kinds:?}");
        let dfa = ByteDfa::new(&record_pattern(&t, true, &Shape::plain(t.schema())), SIZE_LIMIT)
            .map_err(crate::Error::Data)?;
        let whole =
            |text: &str| dfa.walk(dfa.start(), text.as_bytes()).is_some_and(|s| dfa.matches(s));
        let good = [
            "{\"n\":3,\"x\":1.5,\"c\":\"a\\\"b\",\"d\":\"2024-02-09\",\"t\":\"hi \\u00e9\"}\n",
            "{\"n\":null,\"x\":0,\"c\":\"c d\",\"d\":null,\"t\":\"é\"}\n",
        ];
        for record in good {
            assert!(whole(record), "{record}");
        }
        let bad = [
            "{\"n\":3,\"x\":1.5,\"c\":\"a\\\"b\",\"d\":\"2024-02-09\",\"t\":\"\"}", // no end mark
            "{\"x\":1.5,\"n\":3,\"c\":\"c d\",\"d\":null,\"t\":\"\"}\n",            // order
            "{\"n\":3.5,\"x\":1,\"c\":\"c d\",\"d\":null,\"t\":\"\"}\n",            // integer
            "{\"n\":3,\"x\":1,\"c\":\"e\",\"d\":null,\"t\":\"\"}\n",                // category
            "{\"n\":3,\"x\":1,\"c\":\"c d\",\"d\":\"2024-13-01\",\"t\":\"\"}\n",    // month
            "{\"n\":3,\"x\":1,\"c\":\"c d\",\"d\":null,\"t\":\"a\nb\"}\n",          // raw newline
            "{\"n\":03,\"x\":1,\"c\":\"c d\",\"d\":null,\"t\":\"\"}\n",             // leading zero
            "{\"n\":10,\"x\":1,\"c\":\"c d\",\"d\":null,\"t\":\"\"}\n", // 2 digits of 0..6
            "{\"n\":-1,\"x\":1,\"c\":\"c d\",\"d\":null,\"t\":\"\"}\n", // below 0
        ];
        for record in bad {
            assert!(!whole(record), "{record}");
        }
        // Without domains, any string is a category.
        let loose = ByteDfa::new(&record_pattern(&t, false, &Shape::plain(t.schema())), SIZE_LIMIT)
            .map_err(crate::Error::Data)?;
        let record = "{\"n\":3,\"x\":1,\"c\":\"e\",\"d\":null,\"t\":\"\"}\n";
        assert!(loose.walk(loose.start(), record.as_bytes()).is_some_and(|s| loose.matches(s)));
        Ok(())
    }

    #[test]
    fn date_patterns_follow_the_format_and_integers_are_json_integers() -> crate::Result<()> {
        let whole = |pattern: &str, text: &str| -> crate::Result<bool> {
            let dfa = ByteDfa::new(pattern, SIZE_LIMIT).map_err(crate::Error::Data)?;
            Ok(dfa.walk(dfa.start(), text.as_bytes()).is_some_and(|s| dfa.matches(s)))
        };
        let us = date_pattern("%-m/%-d/%Y");
        assert!(whole(&us, "3/7/2001")? && whole(&us, "12/31/1999")?);
        assert!(
            !whole(&us, "03/07/2001")? && !whole(&us, "13/1/2001")? && !whole(&us, "3m/7d/2001")?
        );
        let iso = date_pattern("%Y-%m-%d %H:%M:%S");
        assert!(whole(&iso, "2024-02-09 23:59:00")? && !whole(&iso, "2024-2-9 23:59:00")?);
        assert!(whole(&date_pattern("%d\"%m"), r#"01\"02"#)?, "a quote in the format, escaped");
        let signed = integer(Some((-50.0, 50.0)));
        assert!(whole(&signed, "-12")? && whole(&signed, "0")? && !whole(&signed, "-0")?);
        assert!(!whole(&integer(Some((0.0, 9.0))), "-1")?);
        Ok(())
    }

    #[test]
    fn the_tries_walk_allows_exactly_the_tokens_a_scan_of_every_token_does() -> crate::Result<()> {
        let t = tokenizer()?;
        // Every string of 1 to 3 bytes over the bytes of records, and some longer ones.
        let alphabet: Vec<u8> = b"{}\":,0135.-nulxca d\n\\e".to_vec();
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for &a in &alphabet {
            texts.push(vec![a]);
            for &b in &alphabet {
                texts.push(vec![a, b]);
                for &c in &alphabet {
                    texts.push(vec![a, b, c]);
                }
            }
        }
        // Longer ones, one twice (two ids of the same bytes), and an empty one (never drawn).
        texts.extend(
            [&b"{\"n\":"[..], b"\"x\":1", b"null,", b"\"c d\"", b"2024-02-", b"null,", b""]
                .map(<[u8]>::to_vec),
        );
        let tokens: Vec<Option<Box<[u8]>>> =
            texts.into_iter().map(|b| Some(b.into_boxed_slice())).chain([None]).collect();
        let g = RecordGrammar::new(&t, Arc::new(BaseTokens::new(tokens.clone())))
            .map_err(crate::Error::Data)?;
        let record =
            "{\"n\":3,\"x\":1.5,\"c\":\"a\\\"b\",\"d\":\"2024-02-09\",\"t\":\"hi there\"}\n";
        let mut state = g.start();
        let mut checked = 0;
        for byte in record.bytes() {
            let trie = g.walk_trie(state);
            for (i, bytes) in tokens.iter().enumerate() {
                let scan = bytes
                    .as_deref()
                    .is_some_and(|b| !b.is_empty() && g.dfa.walk(state, b).is_some());
                assert_eq!(trie[i / 64] >> (i % 64) & 1 == 1, scan, "token {i} at byte {checked}");
            }
            checked += 1;
            state = g.dfa.walk(state, &[byte]).ok_or_else(|| crate::Error::Data("left".into()))?;
        }
        assert!(g.dfa.matches(state) && checked == record.len());
        Ok(())
    }

    #[test]
    fn tokens_are_barred_when_they_leave_the_shape() -> crate::Result<()> {
        let t = tokenizer()?;
        let texts = ["{\"n\":", "3", "33", ",", "}", "x", "{\"x\":", "\n", "null"];
        let tokens: Vec<_> =
            texts.iter().map(|s| Some(s.as_bytes().into())).chain([None]).collect();
        let g = RecordGrammar::new(&t, Arc::new(BaseTokens::new(tokens)))
            .map_err(crate::Error::Data)?;
        let open = |logits: &[f32]| -> Vec<usize> {
            (0..logits.len()).filter(|&i| logits[i].is_finite()).collect()
        };
        let mut logits = vec![0f32; texts.len() + 1];
        assert!(g.bar(g.start(), &mut logits));
        assert_eq!(open(&logits), [0], "only the first field's name opens a record");
        let s = g.advance(g.start(), 0).ok_or_else(|| crate::Error::Data("barred".into()))?;
        let mut logits = vec![0f32; texts.len() + 1];
        g.bar(s, &mut logits);
        assert_eq!(open(&logits), [1, 8], "one digit (of 0..6) or null; the special token never");
        assert!(g.advance(s, 5).is_none() && g.advance(s, 9).is_none());
        Ok(())
    }
}
