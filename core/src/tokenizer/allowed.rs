//! What a steered generation may draw in a column: the tokens and values a condition allows
//! (see [`crate::steer`]), as masks over a field's tokens and as intervals a number's decoding
//! keeps to.

use super::{Codec, FieldRole, TextPattern, Tokenizer, CATEGORY_BASE, MISSING, NOT_APPLICABLE};
use crate::numbers::{parse_number, NumberFormat};

/// One test of a condition on a column, as written (the values are the text of the source's
/// cells, or numbers and dates as the column writes them).
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// One of `values` (`=`, `in (…)`), or with `negate`, a value that is none of them (`!=`,
    /// `not in (…)`). Either way not a missing value.
    Values {
        /// The values named.
        values: Vec<String>,
        /// Whether the test is that the value is none of them.
        negate: bool,
    },
    /// A category or free text whose whole text matches a regular expression (not a missing
    /// value); see [`TextPattern`] for free text.
    Matches(String),
    /// A number or date within bounds: each `(value, inclusive)`; `None` leaves a side open.
    Range {
        /// The lower bound and whether it is allowed itself.
        low: Option<(String, bool)>,
        /// The upper bound and whether it is allowed itself.
        high: Option<(String, bool)>,
    },
}

/// What a column may take in a steered generation.
#[derive(Clone, Debug, PartialEq)]
pub enum Allowed {
    /// The local tokens of a categorical column's field that may be drawn.
    Tokens(Vec<bool>),
    /// A number's values: sorted, disjoint, closed intervals whose ends the column can write.
    Numbers(Vec<(f64, f64)>),
    /// A text column's whole text matches a regular expression.
    Text(Box<TextPattern>),
}

impl Tokenizer {
    /// What the tests `tests` (all must hold) allow in `column`; an error in words when the
    /// column cannot be steered so, when a value does not read as the column's, or when no
    /// value the model can generate passes.
    pub fn allowed(&self, column: usize, tests: &[Test]) -> Result<Allowed, String> {
        let kind_error = |what: &str| Err(format!("a condition on {what} is not supported"));
        match self.codecs.get(column) {
            Some(Codec::Categorical { values, .. }) => {
                let mut mask = vec![true; CATEGORY_BASE as usize + values.len()];
                mask[..CATEGORY_BASE as usize].iter_mut().for_each(|m| *m = false);
                for test in tests {
                    let (wanted, negate) = match test {
                        Test::Values { values, negate } => (values, negate),
                        Test::Matches(pattern) => {
                            let regex = whole_match(pattern)?;
                            for (i, value) in values.iter().enumerate() {
                                mask[CATEGORY_BASE as usize + i] &= regex.is_match(value);
                            }
                            continue;
                        }
                        Test::Range { .. } => {
                            return Err("a range needs a number or date column".into())
                        }
                    };
                    for v in wanted {
                        if !*negate && !values.contains(v) {
                            return Err(format!("'{v}' is not a value the model generates{}", {
                                let some: Vec<&str> =
                                    values.iter().take(8).map(String::as_str).collect();
                                format!(" (its values include {})", some.join(", "))
                            }));
                        }
                    }
                    for (i, value) in values.iter().enumerate() {
                        let named = wanted.contains(value);
                        mask[CATEGORY_BASE as usize + i] &= named != *negate;
                    }
                }
                if !mask.contains(&true) {
                    return Err("no value the model generates passes".into());
                }
                Ok(Allowed::Tokens(mask))
            }
            Some(Codec::Number { after: Some(_), .. }) => {
                kind_error("a column generated as a distance from another (an end after its start)")
            }
            Some(codec @ Codec::Number { format, .. }) => {
                let mut allowed = vec![(f64::NEG_INFINITY, f64::INFINITY)];
                for test in tests {
                    allowed = intersect(&allowed, &number_intervals(format, test)?);
                }
                let (lo, hi) = number_span(codec);
                let any = (1..=codec.value_tokens() as u32)
                    .any(|t| number_token_allowed(codec, t, &allowed));
                if !any {
                    return Err(format!(
                        "no value the model generates passes (its values span {} to {})",
                        format.write(lo),
                        format.write(hi)
                    ));
                }
                Ok(Allowed::Numbers(allowed))
            }
            Some(Codec::Text { model, slots }) => match tests {
                [Test::Matches(pattern)] => {
                    let max_tokens = slots.saturating_sub(1);
                    Ok(Allowed::Text(Box::new(TextPattern::new(pattern, model, max_tokens)?)))
                }
                [_] => kind_error("a text column other than '=' and 'matches'"),
                _ => Err("a text column takes one test; join the patterns into one".into()),
            },
            Some(Codec::Identifier) => kind_error("an identifier column"),
            Some(Codec::Derived { .. }) => {
                kind_error("a column computed from others (condition on those instead)")
            }
            None => Err(format!("there is no column {column}")),
        }
    }

    /// Bars (sets to -inf) the logits of field `field`'s tokens that `allowed` rules out, given
    /// the record's earlier tokens `previous` (in field order: a number's position field reads
    /// its value field's token).
    pub fn bar(&self, field: usize, allowed: &Allowed, previous: &[u32], logits: &mut [f32]) {
        let Some(f) = self.fields.get(field) else { return };
        if let (Allowed::Text(pattern), FieldRole::TextSlot) = (allowed, f.role) {
            return self.bar_text(field, pattern, previous, logits);
        }
        let codec = self.codecs.get(f.column);
        for (token, logit) in logits.iter_mut().enumerate() {
            let token = token as u32;
            let ok = match (allowed, f.role, codec) {
                (Allowed::Tokens(mask), FieldRole::Category, _) => {
                    mask.get(token as usize).copied().unwrap_or(false)
                }
                (Allowed::Numbers(iv), FieldRole::NumberValue, Some(c)) => {
                    number_token_allowed(c, token, iv)
                }
                (Allowed::Numbers(iv), FieldRole::NumberPosition, Some(c)) => {
                    let value = previous.get(field.wrapping_sub(1)).copied().unwrap_or(MISSING);
                    position_allowed(c, value, token, iv)
                }
                _ => true,
            };
            if !ok {
                *logit = f32::NEG_INFINITY;
            }
        }
    }

    /// [`Tokenizer::bar`] on a text slot: the cell's earlier slots give the text so far, and
    /// the slots after this one but the last (which always ends the text) the room left.
    fn bar_text(&self, field: usize, pattern: &TextPattern, previous: &[u32], logits: &mut [f32]) {
        let column = self.fields[field].column;
        let in_cell = |i: &usize| self.fields[*i].column == column;
        let first = (0..field).rev().take_while(in_cell).last().unwrap_or(field);
        let slots = (first..self.fields.len()).take_while(in_cell).count();
        let so_far: Vec<u32> = (first..field)
            .map(|i| previous.get(i).copied().unwrap_or(super::TEXT_END))
            .take_while(|&t| t >= super::TEXT_BASE)
            .map(|t| t - super::TEXT_BASE)
            .collect();
        let room = slots.saturating_sub(2 + (field - first));
        pattern.bar(&so_far, room, logits);
    }

    /// The local tokens of one cell of `column` (`None`: missing) as training would encode
    /// it; `base` is the value of the column it is measured from, for such a column. An
    /// error in words when the cell does not read as the column's values.
    pub fn encode_cell(
        &self,
        column: usize,
        cell: Option<&str>,
        base: Option<Option<f64>>,
    ) -> Result<Vec<u32>, String> {
        let codec =
            self.codecs.get(column).ok_or_else(|| format!("there is no column {column}"))?;
        let mut out = Vec::new();
        codec.encode(cell, base, &mut out)?;
        Ok(out)
    }

    /// The local token of field `field` that stands for a missing value, when the field is
    /// its column's first (the one that says whether the cell is missing).
    pub fn missing_token(&self, field: usize) -> Option<u32> {
        let f = self.fields.get(field)?;
        let first = field == 0 || self.fields[field - 1].column != f.column;
        match f.role {
            FieldRole::Category | FieldRole::NumberValue if first => Some(MISSING),
            FieldRole::TextSlot if first => Some(super::TEXT_MISSING),
            _ => None,
        }
    }

    /// The column whose value `column`'s number is measured from (an end after its start).
    pub fn measured_from(&self, column: usize) -> Option<usize> {
        match self.codecs.get(column) {
            Some(Codec::Number { after, .. }) => *after,
            _ => None,
        }
    }

    /// `column`'s value read as its number codec reads it (`None`: another codec, or
    /// unreadable).
    pub fn read_number(&self, column: usize, cell: &str) -> Option<f64> {
        match self.codecs.get(column) {
            Some(Codec::Number { format, .. }) => parse_number(cell, format),
            _ => None,
        }
    }
}

/// An order between two number or date columns that every generated row keeps (`low <= high`,
/// or `low < high` when strict) when both are present: a missing value breaks no order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRule {
    /// The column that is at most the other.
    pub low: usize,
    /// The column that is at least the other.
    pub high: usize,
    /// Whether equal values break it.
    pub strict: bool,
}

impl OrderRule {
    /// The other column of a rule on `column`, and whether `column` is its high side.
    pub fn other(&self, column: usize) -> Option<(usize, bool)> {
        match column {
            c if c == self.high => Some((self.low, true)),
            c if c == self.low => Some((self.high, false)),
            _ => None,
        }
    }
}

impl Tokenizer {
    /// Whether columns `a` and `b` can be ordered: both numbers or both dates, each decoded
    /// on its own (not as a distance from another column); an error in words otherwise.
    pub fn comparable(&self, a: usize, b: usize) -> Result<(), String> {
        let family = |c: usize| match self.codecs.get(c) {
            Some(Codec::Number { after: None, format, .. }) => match format {
                NumberFormat::Datetime { .. } => Ok("a date"),
                NumberFormat::Clock => Ok("a clock time"),
                // Its values round to digits, not to a step: bounds could land a digit off.
                NumberFormat::Scientific { .. } => {
                    Err("its numbers are written in exponent notation".to_string())
                }
                _ => Ok("a number"),
            },
            Some(Codec::Number { .. }) => {
                Err("it is generated as a distance from another column".to_string())
            }
            _ => Err("it is not a number or date column".to_string()),
        };
        let (fa, fb) = (family(a)?, family(b)?);
        if fa != fb {
            return Err(format!("{fa} cannot be compared with {fb}"));
        }
        Ok(())
    }

    /// The values a number column's tokens so far stand for, as an interval (a bin, a step in
    /// it, or one value) with its ends rounded inwards to values the column writes (as drawn
    /// when decoding), from a record's local tokens `tokens` of which `done` are drawn; `None`
    /// when its value token is not drawn yet or is missing.
    pub fn span_so_far(&self, column: usize, tokens: &[u32], done: &[bool]) -> Option<(f64, f64)> {
        let Some(Codec::Number { exact, edges, positions, format, .. }) = self.codecs.get(column)
        else {
            return None;
        };
        let first = self.fields.iter().position(|f| f.column == column)?;
        if !done.get(first).copied().unwrap_or(true) {
            return None;
        }
        let value = *tokens.get(first)?;
        let i = (value as usize).checked_sub(1)?;
        if let Some(&v) = exact.get(i) {
            return Some((v, v));
        }
        let bin = i - exact.len();
        let (lo, hi) = (*edges.get(bin)?, *edges.get(bin + 1)?);
        let position = (self.fields.get(first + 1).is_some_and(|f| f.column == column)
            && done.get(first + 1).copied().unwrap_or(true))
        .then(|| tokens.get(first + 1).copied())
        .flatten();
        let (lo, hi) = match position {
            Some(p) if p != NOT_APPLICABLE => step_span(lo, hi, p - 1, *positions),
            _ => (lo, hi),
        };
        // A step narrower than the column's resolution holds no written value: its value is
        // rounded to a neighbour, so the raw span stands.
        let (a, b) = (round_up(format, lo, false), round_down(format, hi, false));
        Some(if a <= b { (a, b) } else { (lo, hi) })
    }

    /// Whether number column `column`'s value token is drawn in a record whose drawn fields
    /// are `done`.
    pub fn drawn(&self, column: usize, done: &[bool]) -> bool {
        let first = self.fields.iter().position(|f| f.column == column);
        first.is_some_and(|f| done.get(f).copied().unwrap_or(true))
    }

    /// The values `column` may take given that the other column of `rule` lies in `other`
    /// (an interval of its values), rounded inwards to what `column` writes.
    pub fn order_bound(
        &self,
        column: usize,
        rule: &OrderRule,
        other: (f64, f64),
    ) -> Vec<(f64, f64)> {
        let Some(Codec::Number { format, .. }) = self.codecs.get(column) else {
            return vec![(f64::NEG_INFINITY, f64::INFINITY)];
        };
        let bound = match rule.other(column) {
            Some((_, true)) => (round_up(format, other.0, rule.strict), f64::INFINITY),
            Some((_, false)) => (f64::NEG_INFINITY, round_down(format, other.1, rule.strict)),
            None => (f64::NEG_INFINITY, f64::INFINITY),
        };
        if bound.0 <= bound.1 {
            vec![bound]
        } else {
            Vec::new()
        }
    }

    /// Bars the tokens of number field `field` (a value or a position) that stand for no value
    /// in `allowed`, as [`Tokenizer::bar`] does, but leaves a missing value allowed.
    pub fn bar_values(
        &self,
        field: usize,
        allowed: &[(f64, f64)],
        previous: &[u32],
        logits: &mut [f32],
    ) {
        let keep = match self.fields.get(field).map(|f| f.role) {
            Some(FieldRole::NumberValue) => logits.get(MISSING as usize).copied(),
            _ => None,
        };
        self.bar(field, &Allowed::Numbers(allowed.to_vec()), previous, logits);
        if let (Some(logit), Some(slot)) = (keep, logits.get_mut(MISSING as usize)) {
            *slot = logit;
        }
    }

    /// The values of categorical column `column` that `mask` (an [`Allowed::Tokens`] of it)
    /// allows, in the domain's order.
    pub(crate) fn allowed_categories(&self, column: usize, mask: &[bool]) -> Vec<&str> {
        let Some(Codec::Categorical { values, .. }) = self.codecs.get(column) else {
            return Vec::new();
        };
        let on = |i: usize| mask.get(CATEGORY_BASE as usize + i).copied().unwrap_or(false);
        values.iter().enumerate().filter(|(i, _)| on(*i)).map(|(_, v)| v.as_str()).collect()
    }

    /// The lowest and highest value number column `column` generates (`None`: not a number).
    pub fn value_range(&self, column: usize) -> Option<(f64, f64)> {
        let codec @ Codec::Number { .. } = self.codecs.get(column)? else { return None };
        Some(number_span(codec))
    }

    /// The text of the value in `allowed` (sorted intervals with ends the column writes)
    /// nearest to the middle of what number column `column`'s tokens in `tokens` stand for.
    pub(crate) fn nearest_value(
        &self,
        column: usize,
        allowed: &[(f64, f64)],
        tokens: &[u32],
    ) -> Option<String> {
        let Some(Codec::Number { format, .. }) = self.codecs.get(column) else { return None };
        let (lo, hi) = self.span_so_far(column, tokens, &[])?;
        let middle = (lo + hi) / 2.0;
        let nearest = allowed
            .iter()
            .map(|&(a, b)| middle.clamp(a, b))
            .min_by(|x, y| (x - middle).abs().total_cmp(&(y - middle).abs()))?;
        Some(format.write(nearest))
    }
}

/// The lowest and highest value a number codec generates.
fn number_span(codec: &Codec) -> (f64, f64) {
    let Codec::Number { exact, edges, .. } = codec else { return (0.0, 0.0) };
    let values = exact.iter().chain(edges.first()).chain(edges.last()).copied();
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Whether value token `token` (local: 0 missing, then exact values, then bins) of a number
/// codec can stand for a value in `allowed`.
fn number_token_allowed(codec: &Codec, token: u32, allowed: &[(f64, f64)]) -> bool {
    let Codec::Number { exact, edges, .. } = codec else { return true };
    if token == MISSING {
        return false;
    }
    let i = token as usize - 1;
    if let Some(&value) = exact.get(i) {
        return allowed.iter().any(|&(a, b)| a <= value && value <= b);
    }
    let bin = i - exact.len();
    match (edges.get(bin), edges.get(bin + 1)) {
        (Some(&lo), Some(&hi)) => overlaps(allowed, lo, hi),
        _ => false,
    }
}

/// Whether position token `position` of a number whose value token is `value` can stand for
/// a value in `allowed`.
fn position_allowed(codec: &Codec, value: u32, position: u32, allowed: &[(f64, f64)]) -> bool {
    let Codec::Number { exact, edges, positions, .. } = codec else { return true };
    let Some(bin) = (value as usize).checked_sub(1 + exact.len()) else {
        // An exact or missing value: its position is forced to "not applicable".
        return position == NOT_APPLICABLE;
    };
    if position == NOT_APPLICABLE {
        return false;
    }
    let (Some(&lo), Some(&hi)) = (edges.get(bin), edges.get(bin + 1)) else { return false };
    let (lo, hi) = step_span(lo, hi, position - 1, *positions);
    overlaps(allowed, lo, hi)
}

/// The interval of step `step` (0-based) of `positions` in the bin `[lo, hi]`.
pub(super) fn step_span(lo: f64, hi: f64, step: u32, positions: u32) -> (f64, f64) {
    let width = (hi - lo) / f64::from(positions.max(1));
    (lo + f64::from(step) * width, lo + f64::from(step + 1) * width)
}

/// Whether any interval of `allowed` meets `[lo, hi]`.
fn overlaps(allowed: &[(f64, f64)], lo: f64, hi: f64) -> bool {
    allowed.iter().any(|&(a, b)| a <= hi && lo <= b)
}

/// The intervals a test allows, their ends rounded inwards to values `format` writes (so
/// that `> 60` on integers is `[61, inf)`).
fn number_intervals(format: &NumberFormat, test: &Test) -> Result<Vec<(f64, f64)>, String> {
    // A bound of an integer column may have decimals (`age > 59.5`).
    let read = |text: &str| {
        parse_number(text, format)
            .or_else(|| match format {
                NumberFormat::Integer => doppel_table::value::parse_float(text.trim()),
                _ => None,
            })
            .ok_or_else(|| format!("'{text}' is not {}", format.describe()))
    };
    let up = |v: f64, strict: bool| round_up(format, v, strict);
    let down = |v: f64, strict: bool| round_down(format, v, strict);
    let mut out = Vec::new();
    match test {
        Test::Values { values, negate: false } => {
            for v in values {
                let x = read(v)?;
                if format.snap(x, f64::round) == x {
                    out.push((x, x));
                }
            }
            out.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.dedup();
        }
        Test::Values { values, negate: true } => {
            out.push((f64::NEG_INFINITY, f64::INFINITY));
            for v in values {
                let x = read(v)?;
                let gap = [(f64::NEG_INFINITY, down(x, true)), (up(x, true), f64::INFINITY)];
                out = intersect(&out, &gap);
            }
        }
        Test::Matches(_) => return Err("a regular expression needs a categorical column".into()),
        Test::Range { low, high } => {
            let lo = match low {
                Some((text, inclusive)) => up(read(text)?, !inclusive),
                None => f64::NEG_INFINITY,
            };
            let hi = match high {
                Some((text, inclusive)) => down(read(text)?, !inclusive),
                None => f64::INFINITY,
            };
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    Ok(out)
}

/// The least value `format` writes at or above `v` (above it, with `strict`).
fn round_up(format: &NumberFormat, v: f64, strict: bool) -> f64 {
    let s = format.snap(v, f64::ceil);
    if strict && s <= v {
        format.snap(v + format.resolution().max(v.abs() * f64::EPSILON), f64::ceil)
    } else {
        s
    }
}

/// The greatest value `format` writes at or below `v` (below it, with `strict`).
fn round_down(format: &NumberFormat, v: f64, strict: bool) -> f64 {
    let s = format.snap(v, f64::floor);
    if strict && s >= v {
        format.snap(v - format.resolution().max(v.abs() * f64::EPSILON), f64::floor)
    } else {
        s
    }
}

/// The most compiled size of a constraint's regular expression: a configuration is input, and
/// a pattern such as `(a{1000}){1000}` must be an error, not gigabytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `pattern` compiled to match a whole text (as if between `^` and `$`); an error in words.
pub(crate) fn whole_match(pattern: &str) -> Result<regex::Regex, String> {
    let build = |text: &str| {
        regex::RegexBuilder::new(text)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("the regular expression '{pattern}' does not compile: {e}"))
    };
    // On its own first: a pattern such as `a)|(.*` would otherwise close the group below and
    // match anything.
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}

/// The intersection of two sorted lists of disjoint closed intervals.
pub(crate) fn intersect(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Keeps `x` (a value drawn in a bin's step `[lo, hi]`) within `allowed`: a value in an
/// interval that meets the step, drawn in proportion to the overlap (a single value counts
/// as one of the format's steps), with `u` in `[0, 1)` placing it.
pub(super) fn draw_within(
    allowed: &[(f64, f64)],
    (lo, hi): (f64, f64),
    resolution: f64,
    pick: f64,
    u: f64,
) -> Option<(f64, (f64, f64))> {
    let parts: Vec<(f64, f64)> = intersect(allowed, &[(lo, hi)]);
    let weight = |&(a, b): &(f64, f64)| (b - a) + resolution;
    let total: f64 = parts.iter().map(weight).sum();
    let mut target = pick * total;
    let part = parts
        .iter()
        .find(|p| {
            target -= weight(p);
            target < 0.0
        })
        .or(parts.last())?;
    Some((part.0 + u * (part.1 - part.0), *part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_intersect_and_round_inwards() {
        let a = [(0.0, 10.0), (20.0, 30.0)];
        let b = [(5.0, 25.0)];
        assert_eq!(intersect(&a, &b), vec![(5.0, 10.0), (20.0, 25.0)]);
        assert_eq!(intersect(&a, &[(11.0, 19.0)]), vec![]);
        let int = NumberFormat::Integer;
        let range = |lo: &str, li, hi: &str, hi_in| Test::Range {
            low: Some((lo.into(), li)),
            high: Some((hi.into(), hi_in)),
        };
        assert_eq!(number_intervals(&int, &range("60", false, "70", true)), Ok(vec![(61.0, 70.0)]));
        assert_eq!(
            number_intervals(&int, &range("59.5", true, "70", false)),
            Ok(vec![(60.0, 69.0)])
        );
        assert_eq!(number_intervals(&int, &range("60", false, "61", false)), Ok(vec![]));
        let two = NumberFormat::Float { decimals: 2 };
        assert_eq!(number_intervals(&two, &range("0.5", false, "1", true)), Ok(vec![(0.51, 1.0)]));
        let not = Test::Values { values: vec!["3".into(), "5".into()], negate: true };
        let inf = f64::INFINITY;
        assert_eq!(number_intervals(&int, &not), Ok(vec![(-inf, 2.0), (4.0, 4.0), (6.0, inf)]));
        let is = Test::Values { values: vec!["5".into(), "3".into(), "3.5".into()], negate: false };
        assert_eq!(number_intervals(&int, &is), Ok(vec![(3.0, 3.0), (5.0, 5.0)]));
        assert!(number_intervals(&int, &Test::Values { values: vec!["x".into()], negate: false })
            .is_err());
    }

    #[test]
    fn a_draw_within_stays_in_the_allowed_part_of_its_step() {
        let allowed = [(2.0, 3.0), (7.0, 7.0)];
        for k in 0..100 {
            let (pick, u) = (f64::from(k) / 100.0, f64::from(99 - k) / 100.0);
            let (x, part) = draw_within(&allowed, (0.0, 10.0), 1.0, pick, u).unwrap();
            assert!(allowed.contains(&part));
            assert!(part.0 <= x && x <= part.1, "{x} outside {part:?}");
        }
        // [2, 3] weighs 1 + 1, the single value 7 weighs 1: a pick below 2/3 takes [2, 3].
        assert_eq!(draw_within(&allowed, (0.0, 10.0), 1.0, 0.6, 0.5).unwrap().1, (2.0, 3.0));
        assert_eq!(draw_within(&allowed, (0.0, 10.0), 1.0, 0.7, 0.5).unwrap().1, (7.0, 7.0));
        assert_eq!(draw_within(&allowed, (4.0, 6.0), 1.0, 0.5, 0.5), None);
    }
}
