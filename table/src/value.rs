//! Values as text: reading numbers from cells, the same way in the engine and the report.

/// A cell as a finite number (surrounding whitespace ignored), if it is one: Rust's decimal
/// and exponent syntax, no thousands separators; `inf` and `NaN` are not numbers here.
pub fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Parses a whole number as a source writes integers: an optional sign and digits, without
/// leading zeros (a code such as `007` is not a number: writing it back would lose its zeros).
/// Schema inference reads integer columns with it.
pub fn parse_integer(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !plain || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    t.parse().ok()
}

/// Parses a decimal number as a source writes one (`-1.25`, `.5`, `3`, `1.5e-3`); not `inf`,
/// `NaN`, or leading zeros. Schema inference reads float columns with it; [`parse_number`] is
/// the lenient reading of a column already known to be numeric.
pub fn parse_float(text: &str) -> Option<f64> {
    let t = text.trim();
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
    let whole = mantissa.split('.').next().unwrap_or("");
    let starts_well = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if !starts_well || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_finite_and_trimmed() {
        assert_eq!(parse_number(" 1.5e3 "), Some(1500.0));
        assert_eq!(parse_number("-0.25"), Some(-0.25));
        for text in ["inf", "NaN", "1,000", "", "1e999", "x"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
        assert_eq!(parse_number("007"), Some(7.0));
        assert_eq!(parse_integer(" -42 "), Some(-42));
        for text in ["4.0", "007", "9223372036854775808", "1e3", ""] {
            assert_eq!(parse_integer(text), None, "{text}");
        }
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("1.5e-3"), Some(0.0015));
        for text in ["007.5", "inf", "NaN", "e5", "1,5"] {
            assert_eq!(parse_float(text), None, "{text}");
        }
    }
}
