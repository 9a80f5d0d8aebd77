//! Steered records of a LoRA model: what one row's record must look like under a generation's
//! plan (see [`crate::steer`]). A seeded cell is written into the record's pattern as it is,
//! a condition narrows its column's values (the categories it names; the numbers in its
//! ranges, as a regular expression of their digits), an imputed cell may not be `null`; with a
//! model trained on records with some columns first, those columns come first, as training
//! wrote them. The record grammar ([`super::RecordGrammar`]) then draws only records of that
//! shape: no record is drawn and rejected for breaking a condition.

use super::grammar::{integer_digits, one_of, MAX_DECIMALS};
use super::text::{self, json_value};
use crate::error::{Error, Result};
use crate::schema::{ColumnKind, Schema};
use crate::steer::{Plan, RowPlan};
use crate::tokenizer::{Allowed, Test, Tokenizer};

/// Which columns a record writes, in which order, and what each may hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    /// The record's columns (schema indices), in the order it writes them.
    pub order: Vec<usize>,
    /// Per schema column, what its value may be.
    pub cells: Vec<Cell>,
}

/// What one cell of a record may hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cell {
    /// Any value of its column's kind, or `null`.
    Any,
    /// Any value of its column's kind, never `null` (an imputed cell).
    Present,
    /// A value of this pattern (a seed's literal, a condition's values).
    Pattern(String),
}

impl Shape {
    /// Every column of the schema's records in its order, each any value of its kind or null.
    pub fn plain(schema: &Schema) -> Shape {
        Shape {
            order: text::record_columns(schema, None),
            cells: vec![Cell::Any; schema.columns.len()],
        }
    }
}

/// The shape of the record of `row` under `plan`: its seeded cells as they are, conditioned
/// columns narrowed, imputed cells not null; the seeded and conditioned columns first when the
/// model learned such orders. An error in words names the column a LoRA model cannot be steered
/// on (see [`narrowed`]).
pub(crate) fn row_shape(tokenizer: &Tokenizer, plan: &Plan, row: &RowPlan) -> Result<Shape> {
    let schema = tokenizer.schema();
    let mut cells = vec![Cell::Any; schema.columns.len()];
    let mut first = vec![false; schema.columns.len()];
    for c in text::record_columns(schema, None) {
        let column = &schema.columns[c];
        let fixed =
            match (row.known.get(c), plan.allowed(c)) {
                (Some(Some(cell)), _) => {
                    Some(regex::escape(&json_value(&column.kind, cell.as_deref()).to_string()))
                }
                (_, Some(allowed)) => Some(narrowed(tokenizer, c, allowed).map_err(|why| {
                    Error::Config(format!("condition on '{}': {why}", column.name))
                })?),
                _ => None,
            };
        first[c] = fixed.is_some() && plan.any_order();
        let present = row.present.get(c).copied().unwrap_or(false);
        cells[c] = match fixed {
            Some(pattern) => Cell::Pattern(pattern),
            None if present => Cell::Present,
            None => Cell::Any,
        };
    }
    Ok(Shape { order: text::record_columns(schema, Some(&first)), cells })
}

/// Refuses a plan a LoRA model cannot follow, before anything is generated: orders between
/// columns, and conditions [`narrowed`] cannot write.
pub(crate) fn check_plan(tokenizer: &Tokenizer, plan: &Plan) -> Result<()> {
    let schema = tokenizer.schema();
    if let Some(rule) = plan.rules().first() {
        return Err(Error::Config(format!(
            "an order between columns ('{}' and '{}') is not supported for a LoRA model yet; \
             the LSTM keeps such orders",
            schema.columns[rule.low].name, schema.columns[rule.high].name
        )));
    }
    for (c, column) in schema.columns.iter().enumerate() {
        if let Some(allowed) = plan.allowed(c) {
            narrowed(tokenizer, c, allowed)
                .map_err(|why| Error::Config(format!("condition on '{}': {why}", column.name)))?;
        }
    }
    Ok(())
}

/// Refuses, before training, constraints a LoRA model could not keep when generating (orders
/// between columns, ranges on dates, patterns on free text: see [`check_plan`]), so that no
/// model is trained that cannot generate.
pub(crate) fn check_constraints(schema: &Schema, constraints: &[String]) -> Result<()> {
    let column = |name: &str| {
        let exact = schema.columns.iter().position(|c| c.name == name);
        exact.or_else(|| schema.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
    };
    for text in constraints {
        for condition in crate::steer::parse_conditions(text)? {
            let Some(c) = column(&condition.column) else { continue };
            let other_column = |bound: &Option<(String, bool)>| {
                bound
                    .as_ref()
                    .is_some_and(|(b, _)| b.parse::<f64>().is_err() && column(b).is_some())
            };
            let why = match (&condition.test, &schema.columns[c].kind) {
                (Test::Range { low, high }, _) if other_column(low) || other_column(high) => {
                    "an order between columns"
                }
                (_, ColumnKind::Datetime { .. }) => "a condition on dates",
                (Test::Matches(_), ColumnKind::Text) => "a pattern on free text",
                _ => continue,
            };
            return Err(Error::Config(format!(
                "constraint '{text}': {}; a LoRA model trained with it could not generate",
                unsupported(why)
            )));
        }
    }
    Ok(())
}

/// The pattern of column `c`'s values that `allowed` keeps (never `null`): its categories, or
/// its numbers' ranges. Conditions on dates and free-text patterns are refused in words.
fn narrowed(
    tokenizer: &Tokenizer,
    c: usize,
    allowed: &Allowed,
) -> std::result::Result<String, String> {
    let kind = tokenizer.schema().columns.get(c).map(|column| &column.kind);
    let no_number = || "no number the column writes passes".to_string();
    match (allowed, kind) {
        (Allowed::Tokens(mask), _) => {
            let values = tokenizer.allowed_categories(c, mask);
            if values.is_empty() {
                return Err("no value the model generates passes".into());
            }
            Ok(one_of(values.into_iter()))
        }
        (Allowed::Numbers(intervals), Some(ColumnKind::Integer)) => {
            number_within(intervals, 0, tokenizer.number_range(c)).ok_or_else(no_number)
        }
        (Allowed::Numbers(intervals), Some(ColumnKind::Float { decimals })) => {
            let decimals = (*decimals).min(MAX_DECIMALS);
            number_within(intervals, decimals, tokenizer.number_range(c)).ok_or_else(no_number)
        }
        (Allowed::Numbers(_), _) => Err(unsupported("a condition on dates")),
        (Allowed::Text(_), _) => Err(unsupported("a pattern on free text")),
    }
}

/// The refusal of `what` for a LoRA model (the same words before training and generating).
fn unsupported(what: &str) -> String {
    format!("{what} is not supported for a LoRA model yet (the LSTM keeps it)")
}

/// A JSON number with at most `decimals` fraction digits (an integer when 0) whose value lies
/// in one of `intervals` (closed; an infinite end stands for the most digits a column of
/// `range` writes, and for 0 below when the range has no negative values); `None` when no
/// such number exists.
///
/// Written as digits: the value times `10^decimals` is an integer `N`, so a range of values is
/// a range of `N`, split into its integer part and its fraction (see [`positive`]).
fn number_within(
    intervals: &[(f64, f64)],
    decimals: u32,
    range: Option<(f64, f64)>,
) -> Option<String> {
    let (digits, signed) = integer_digits(range);
    let unit = 10i128.pow(decimals);
    let largest = 10i128.pow(digits as u32) * unit - 1;
    let lowest = if signed { -largest } else { 0 };
    // An end the column writes is a whole number of units up to the product's rounding (a few
    // units in the last place: 635855290.08 x 100 is 63585529008.00001); another is rounded
    // inwards. Saturating at i128's bounds.
    let scaled = |x: f64, up: bool| -> i128 {
        let s = x * unit as f64;
        let near = s.round();
        let n = if (s - near).abs() <= 1e-6_f64.max(4.0 * f64::EPSILON * s.abs()) {
            near
        } else if up {
            s.ceil()
        } else {
            s.floor()
        };
        n as i128
    };
    let mut pieces = Vec::new();
    for &(a, b) in intervals {
        // Cut to what the column writes; an interval wholly outside it allows nothing (never
        // its nearest bound).
        let (low, high) = (scaled(a, true).max(lowest), scaled(b, false).min(largest));
        if low > high {
            continue;
        }
        if low < 0 {
            let magnitudes = positive((-high.min(-1)) as u128, (-low) as u128, decimals);
            pieces.push(format!("-(?:{magnitudes})"));
        }
        if high >= 0 {
            pieces.push(positive(low.max(0) as u128, high as u128, decimals));
        }
    }
    (!pieces.is_empty()).then(|| format!("(?:{})", pieces.join("|")))
}

/// The numbers `n / 10^decimals` for `n` in `low..=high` (both at least 0), written with an
/// integer part without leading zeros and, when `decimals` > 0, an optional fraction of 1 to
/// `decimals` digits.
fn positive(low: u128, high: u128, decimals: u32) -> String {
    if decimals == 0 {
        return integers(low, high);
    }
    let unit = 10u128.pow(decimals);
    let (whole_low, frac_low) = (low / unit, low % unit);
    let (whole_high, frac_high) = (high / unit, high % unit);
    if whole_low == whole_high {
        return format!("{whole_low}{}", fraction(frac_low, frac_high, decimals));
    }
    let mut parts = vec![format!("{whole_low}{}", fraction(frac_low, unit - 1, decimals))];
    if whole_low + 1 < whole_high {
        let middle = integers(whole_low + 1, whole_high - 1);
        parts.push(format!("(?:{middle}){}", fraction(0, unit - 1, decimals)));
    }
    parts.push(format!("{whole_high}{}", fraction(0, frac_high, decimals)));
    parts.join("|")
}

/// A fraction `.d…` of 1 to `decimals` digits whose digits, padded with zeros to `decimals`,
/// read as a number in `low..=high`; none at all is allowed too when `low` is 0.
fn fraction(low: u128, high: u128, decimals: u32) -> String {
    let unit = 10u128.pow(decimals);
    if low == 0 && high == unit - 1 {
        return format!("(?:\\.[0-9]{{1,{decimals}}})?");
    }
    let mut options = Vec::new();
    for len in 1..=decimals {
        let step = 10u128.pow(decimals - len);
        let (a, b) = (low.div_ceil(step), high / step);
        if a <= b {
            let width = len as usize;
            options.push(digits_between(
                format!("{a:0width$}").as_bytes(),
                format!("{b:0width$}").as_bytes(),
            ));
        }
    }
    let body = format!("\\.(?:{})", options.join("|"));
    if low == 0 {
        format!("(?:{body})?")
    } else {
        body
    }
}

/// Integers in `low..=high` without leading zeros.
fn integers(low: u128, high: u128) -> String {
    let width = |n: u128| n.to_string().len();
    let mut options = Vec::new();
    for len in width(low)..=width(high) {
        let start = if len == 1 { 0 } else { 10u128.pow(len as u32 - 1) };
        let end = 10u128.pow(len as u32) - 1;
        let (a, b) = (low.max(start), high.min(end));
        if a <= b {
            options.push(digits_between(a.to_string().as_bytes(), b.to_string().as_bytes()));
        }
    }
    options.join("|")
}

/// Digit strings of the length of `low` and `high` (equal) between them, in order.
fn digits_between(low: &[u8], high: &[u8]) -> String {
    let (Some(&l), Some(&h)) = (low.first(), high.first()) else { return String::new() };
    let rest = low.len() - 1;
    let any = |n: usize| if n == 0 { String::new() } else { format!("[0-9]{{{n}}}") };
    let class = |a: u8, b: u8| {
        if a == b {
            (a as char).to_string()
        } else {
            format!("[{}-{}]", a as char, b as char)
        }
    };
    if low[1..].iter().all(|&d| d == b'0') && high[1..].iter().all(|&d| d == b'9') {
        return format!("{}{}", class(l, h), any(rest));
    }
    if l == h {
        return format!("{}(?:{})", l as char, digits_between(&low[1..], &high[1..]));
    }
    let (nines, zeros) = (vec![b'9'; rest], vec![b'0'; rest]);
    let mut options = vec![format!("{}(?:{})", l as char, digits_between(&low[1..], &nines))];
    if l + 1 < h {
        options.push(format!("{}{}", class(l + 1, h - 1), any(rest)));
    }
    options.push(format!("{}(?:{})", h as char, digits_between(&zeros, &high[1..])));
    options.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text` is a whole match of `pattern`.
    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(text))
    }

    /// Every number of the grammar's shape with an integer part below 140 and at most
    /// `decimals` fraction digits, with its value times `10^decimals`.
    fn numbers(decimals: u32) -> Vec<(String, i128)> {
        let unit = 10i128.pow(decimals);
        let mut fractions = vec![(String::new(), 0i128)];
        for len in 1..=decimals {
            for f in 0..10i128.pow(len) {
                let width = len as usize;
                fractions.push((format!(".{f:0width$}"), f * 10i128.pow(decimals - len)));
            }
        }
        let mut out = Vec::new();
        for whole in 0..140i128 {
            for (text, f) in &fractions {
                let n = whole * unit + f;
                out.push((format!("{whole}{text}"), n));
                if n != 0 {
                    out.push((format!("-{whole}{text}"), -n));
                }
            }
        }
        out
    }

    #[test]
    fn number_ranges_match_exactly_the_numbers_inside() -> std::result::Result<(), String> {
        let range = Some((-150.0, 150.0));
        let cases: [(&[(f64, f64)], u32); 9] = [
            (&[(60.0, f64::INFINITY)], 0),
            (&[(f64::NEG_INFINITY, -3.0)], 0),
            (&[(-12.0, 7.0), (19.0, 19.0), (98.0, 131.0)], 0),
            (&[(1.5, 12.25)], 2),
            (&[(-0.75, 0.3)], 2),
            (&[(0.01, 0.09)], 2),
            (&[(-100.5, -99.9)], 1),
            (&[(2.0, 2.0)], 1),
            (&[(10.05, 130.0)], 2),
        ];
        for (intervals, decimals) in cases {
            let pattern = number_within(intervals, decimals, range).ok_or("empty")?;
            let unit = 10f64.powi(decimals as i32);
            for (text, n) in numbers(decimals) {
                let x = n as f64 / unit;
                let inside = intervals.iter().any(|&(a, b)| a - 1e-9 <= x && x <= b + 1e-9);
                assert_eq!(matches(&pattern, &text), inside, "{text} in {intervals:?}: {pattern}");
            }
        }
        // An interval outside the column's digits allows nothing (not its nearest bound).
        let pattern = number_within(&[(30.0, 30.0), (150.0, 150.0)], 0, Some((0.0, 90.0)));
        assert_eq!(pattern.as_deref(), Some("(?:3(?:0))"));
        assert_eq!(number_within(&[(-5.0, -5.0), (150.0, 150.0)], 0, Some((0.0, 90.0))), None);
        // 18 digits: the widest integer part, and no 19-digit number above it.
        let pattern = number_within(&[(5.0, f64::INFINITY)], 0, Some((0.0, 1e17)));
        let pattern = pattern.ok_or("empty")?;
        assert!(
            matches(&pattern, "999999999999999999") && !matches(&pattern, "1000000000000000000")
        );
        // An end with many significant digits is kept (x 100 is not exactly whole in f64).
        let pattern = number_within(&[(635855290.08, 635855290.08)], 2, Some((0.0, 1e9)));
        assert!(
            pattern.is_some_and(|p| matches(&p, "635855290.08") && !matches(&p, "635855290.09"))
        );
        // Nothing of the column's shape inside: none; no negatives in a column without them.
        assert_eq!(number_within(&[(0.2, 0.8)], 0, range), None);
        let pattern = number_within(&[(f64::NEG_INFINITY, 5.0)], 0, Some((0.0, 90.0)));
        let pattern = pattern.ok_or("empty")?;
        assert!(matches(&pattern, "5") && matches(&pattern, "0") && !matches(&pattern, "-1"));
        // An open end stops at the column's digits: 2 for a range to 90.
        let pattern = number_within(&[(60.0, f64::INFINITY)], 0, Some((0.0, 90.0)));
        let pattern = pattern.ok_or("empty")?;
        assert!(matches(&pattern, "99") && !matches(&pattern, "100") && !matches(&pattern, "59"));
        Ok(())
    }

    #[test]
    fn a_steered_rows_shape_puts_its_fixed_columns_first_and_narrows_them() -> crate::Result<()> {
        use crate::steer::{Seed, Steering};
        let names = ["n", "c", "x"].map(String::from).to_vec();
        let rows = 60;
        let columns = vec![
            (0..rows).map(|r| Some(format!("{}", r % 50))).collect(),
            (0..rows).map(|r| Some(["red", "blue", "green"][r % 3].to_string())).collect(),
            (0..rows).map(|r| Some(format!("{}.{}", r % 7, r % 10))).collect(),
        ];
        let table = crate::Table::from_columns(names.clone(), columns)?;
        let mut config = crate::TrainConfig::default();
        config.model.hidden_size = 8;
        config.model.embedding_dim = 4;
        config.training.max_epochs = Some(1);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let model = crate::train(&table, &config, &mut |_| {}, &stop)?;
        let t = model.tokenizer();
        let steering = |conditions| Steering { conditions, rebalance: "", fair: "" };
        let plan = Plan::new(&model, &steering("c in (red, blue) and x > 2.5"), None)?;
        let row = plan.row(t, 0, &mut Default::default())?;
        let shape = row_shape(t, &plan, &row)?;
        assert_eq!(shape.order, [1, 2, 0], "the conditioned columns first, in the table's order");
        assert_eq!(shape.cells[1], Cell::Pattern(r#"(?:"blue"|"red")"#.into()));
        let Cell::Pattern(x) = &shape.cells[2] else {
            return Err(crate::Error::Data(format!("{:?}", shape.cells[2])));
        };
        let x = regex::Regex::new(&format!("^(?:{x})$"))
            .map_err(|e| crate::Error::Data(e.to_string()))?;
        assert!(x.is_match("2.6") && x.is_match("6") && !x.is_match("2.5") && !x.is_match("null"));
        assert_eq!(shape.cells[0], Cell::Any, "an unconditioned column: its kind's values or null");
        // A seed row: its cells as they are, first; an imputed cell not null.
        let seed = crate::Table::from_columns(
            vec!["x".into(), "n".into()],
            vec![vec![Some("1.5".into())], vec![None]],
        )?;
        let plan =
            Plan::new(&model, &steering(""), Some(Seed { table: seed, fill_missing: true }))?;
        let row = plan.row(t, 0, &mut Default::default())?;
        let shape = row_shape(t, &plan, &row)?;
        assert_eq!(shape.order, [2, 0, 1]);
        assert_eq!(shape.cells[2], Cell::Pattern(r"1\.5".into()));
        assert_eq!(shape.cells[0], Cell::Present, "an imputed cell");
        Ok(())
    }

    #[test]
    fn digit_strings_between_two_of_one_length() {
        for (low, high) in [("000", "999"), ("047", "503"), ("5", "5"), ("19", "20"), ("00", "09")]
        {
            let pattern = digits_between(low.as_bytes(), high.as_bytes());
            let width = low.len();
            for n in 0..10u32.pow(width as u32) {
                let text = format!("{n:0width$}");
                let inside = low <= text.as_str() && text.as_str() <= high;
                assert_eq!(matches(&pattern, &text), inside, "{text} in {low}..{high}: {pattern}");
            }
        }
    }
}
