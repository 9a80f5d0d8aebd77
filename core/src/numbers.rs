//! How the numbers of a column are read from and written to text: integers, floats with their
//! decimals, exponent notation, date-times with their step, and clock times `HHMM`; and how each
//! float value is written ([`Written`]: `41.0`, `56.9` and `84.48` in one column).

use serde::{Deserialize, Serialize};

use crate::schema::{self, ColumnKind};

/// How a number is read from and written to text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum NumberFormat {
    Integer,
    Float {
        decimals: u32,
    },
    /// Exponent notation (`1.5e-3`) with `digits` after the mantissa's point: for columns whose
    /// source writes exponents, where a fixed number of decimals cannot hold `1e308` or
    /// `5e-324`.
    Scientific {
        digits: u32,
    },
    Datetime {
        format: String,
        step_seconds: i64,
    },
    /// A clock time written as the integer `HHMM` (`930` for 09:30, `2400` for midnight at
    /// the end of a day), held as minutes since midnight so that no value generated between
    /// two times has minutes above 59. (A source that pads, `0930`, is read as categorical:
    /// integers have no leading zeros.)
    Clock,
}

/// The number format of a column's source values: [`number_format`], refined by what the
/// values show (not under DP, where the format comes from the released schema alone):
/// - a float column whose source writes exponents keeps exponent notation (with the most
///   mantissa digits seen);
/// - an integer column whose values are all clock times `HHMM` (at least
///   [`MIN_CLOCK_VALUES`] of them past 01:00, none with minutes above 59) is a clock;
/// - a date-time column steps by the largest divisor of a day that every value is a multiple
///   of (timestamps always on the hour step by an hour, not a second).
pub(crate) fn source_number_format(kind: &ColumnKind, cells: &[(usize, &str)]) -> NumberFormat {
    let format = number_format(kind);
    match format {
        NumberFormat::Float { .. } => scientific_of(cells).unwrap_or(format),
        NumberFormat::Integer => clock_of(cells).unwrap_or(format),
        NumberFormat::Datetime { format, step_seconds } => {
            let step_seconds = datetime_step(&format, cells).unwrap_or(step_seconds);
            NumberFormat::Datetime { format, step_seconds }
        }
        other => other,
    }
}

/// Exponent notation with the most mantissa digits shown, when any value is so written.
fn scientific_of(cells: &[(usize, &str)]) -> Option<NumberFormat> {
    let mut exponent = false;
    let mut digits = 0;
    for (_, text) in cells {
        if let Some((mantissa, _)) = text.trim().split_once(['e', 'E']) {
            exponent = true;
            let shown = mantissa.split_once('.').map_or(0, |(_, d)| d.len());
            digits = digits.max(shown.min(MAX_SCIENTIFIC_DIGITS as usize) as u32);
        }
    }
    exponent.then_some(NumberFormat::Scientific { digits })
}

/// Fewest values at or past 01:00 (`100`) before an integer column is taken for clock times:
/// a column of other integers in `0..=2400` has a value with "minutes" of 60 to 99 with
/// probability about 0.4 each, so 50 such values without one are no accident.
pub(crate) const MIN_CLOCK_VALUES: usize = 50;

/// The clock format of integer cells that are all `HHMM` times, else `None`.
fn clock_of(cells: &[(usize, &str)]) -> Option<NumberFormat> {
    let mut past_one = 0;
    for (_, text) in cells {
        let v = schema::parse_integer(text)?;
        clock_minutes(v)?;
        past_one += usize::from(v >= 100);
    }
    (past_one >= MIN_CLOCK_VALUES).then_some(NumberFormat::Clock)
}

/// Minutes since midnight of the clock time `HHMM`, `None` for anything else.
fn clock_minutes(hhmm: i64) -> Option<i64> {
    let (hours, minutes) = (hhmm.div_euclid(100), hhmm.rem_euclid(100));
    let valid = (0..=24).contains(&hours) && minutes < 60 && (hours < 24 || minutes == 0);
    (hhmm >= 0 && valid).then_some(hours * 60 + minutes)
}

/// The step of a date-time column: the greatest common divisor of one day and every value's
/// seconds into its day, when every value parses.
fn datetime_step(format: &str, cells: &[(usize, &str)]) -> Option<i64> {
    let mut step = DAY_SECONDS;
    for (_, text) in cells {
        let seconds = schema::datetime_to_seconds(text.trim(), format)?;
        step = gcd(step, seconds.rem_euclid(DAY_SECONDS));
    }
    Some(step.max(1))
}

const DAY_SECONDS: i64 = 86_400;

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Most mantissa digits written in exponent notation (an f64 holds 17 significant digits).
const MAX_SCIENTIFIC_DIGITS: u32 = 16;

/// The number format a column's kind implies, from the kind alone (under DP, everything).
pub(crate) fn number_format(kind: &ColumnKind) -> NumberFormat {
    match kind {
        ColumnKind::Float { decimals } => NumberFormat::Float { decimals: *decimals },
        ColumnKind::Datetime { format } => {
            let step_seconds = if format.contains("%S") {
                1
            } else if format.contains("%M") {
                60
            } else {
                DAY_SECONDS
            };
            NumberFormat::Datetime { format: format.clone(), step_seconds }
        }
        _ => NumberFormat::Integer,
    }
}

/// Reads a cell as a number. `-0.0` reads as `0.0`: fitting groups equal values with `==` and
/// encoding looks them up with `total_cmp`, which tells the two zeros apart.
pub(crate) fn parse_number(text: &str, format: &NumberFormat) -> Option<f64> {
    let text = text.trim();
    let value = match format {
        NumberFormat::Integer => schema::parse_integer(text).map(|v| v as f64),
        NumberFormat::Float { .. } | NumberFormat::Scientific { .. } => schema::parse_float(text),
        NumberFormat::Datetime { format, .. } => {
            schema::datetime_to_seconds(text, format).map(|v| v as f64)
        }
        NumberFormat::Clock => {
            schema::parse_integer(text).and_then(clock_minutes).map(|v| v as f64)
        }
    };
    value.map(|v| v + 0.0)
}

impl NumberFormat {
    pub(crate) fn describe(&self) -> String {
        match self {
            NumberFormat::Integer => "an integer".into(),
            NumberFormat::Float { .. } | NumberFormat::Scientific { .. } => "a number".into(),
            NumberFormat::Datetime { format, .. } => format!("a date in the form {format}"),
            NumberFormat::Clock => "a clock time written HHMM".into(),
        }
    }

    /// The smallest difference between two values the source can write.
    pub(crate) fn resolution(&self) -> f64 {
        match self {
            NumberFormat::Integer => 1.0,
            NumberFormat::Float { decimals } => 10f64.powi(-(*decimals as i32)),
            // Exponent notation has a relative resolution; DP training never uses it.
            NumberFormat::Scientific { .. } => f64::MIN_POSITIVE,
            NumberFormat::Datetime { step_seconds, .. } => *step_seconds as f64,
            NumberFormat::Clock => 1.0,
        }
    }

    /// Checks a format read from a model file.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        match self {
            NumberFormat::Integer => Ok(()),
            NumberFormat::Clock => Ok(()),
            NumberFormat::Float { decimals } if *decimals > schema::MAX_DECIMALS => {
                Err(format!("decimals {decimals} (at most {})", schema::MAX_DECIMALS))
            }
            NumberFormat::Float { .. } => Ok(()),
            NumberFormat::Scientific { digits } if *digits > MAX_SCIENTIFIC_DIGITS => {
                Err(format!("{digits} mantissa digits (at most {MAX_SCIENTIFIC_DIGITS})"))
            }
            NumberFormat::Scientific { .. } => Ok(()),
            NumberFormat::Datetime { format, step_seconds } => {
                if !(1..=86_400).contains(step_seconds) {
                    return Err(format!("date step of {step_seconds} s (1 to 86400)"));
                }
                schema::check_datetime_format(format)
            }
        }
    }

    /// Whether this codec format can write a column of `kind`.
    pub(crate) fn fits(&self, kind: &ColumnKind) -> bool {
        match (self, kind) {
            (NumberFormat::Integer | NumberFormat::Clock, ColumnKind::Integer) => true,
            (NumberFormat::Float { decimals: a }, ColumnKind::Float { decimals: b }) => a == b,
            (NumberFormat::Scientific { .. }, ColumnKind::Float { .. }) => true,
            (NumberFormat::Datetime { format: a, .. }, ColumnKind::Datetime { format: b }) => {
                a == b
            }
            _ => false,
        }
    }

    /// Rounds `value` to what the source can write, with `round` = `f64::round`, `ceil` or `floor`.
    pub(crate) fn snap(&self, value: f64, round: fn(f64) -> f64) -> f64 {
        if let NumberFormat::Scientific { digits } = self {
            // Rounds to the written digits (up or down alike: callers check the result's bin).
            let text = format!("{value:.prec$e}", prec = *digits as usize);
            return text.parse().unwrap_or(value);
        }
        let r = self.resolution();
        // Dividing by a power of ten's reciprocal loses less than multiplying by it.
        let scaled = if r < 1.0 { value * (1.0 / r).round() } else { value / r };
        let snapped = round(scaled);
        if r < 1.0 {
            snapped / (1.0 / r).round()
        } else {
            snapped * r
        }
    }

    pub(crate) fn write(&self, value: f64) -> String {
        match self {
            NumberFormat::Integer => format!("{}", value.round() as i64),
            NumberFormat::Clock => {
                // Whole minutes within the day (decoding draws within the source's range).
                let minutes = (value.round() as i64).clamp(0, 24 * 60);
                format!("{}", minutes / 60 * 100 + minutes % 60)
            }
            NumberFormat::Float { decimals } => schema::format_float(value, *decimals),
            NumberFormat::Scientific { digits } => {
                // The shortest form that reads back as `value` (`5e-324`, not `4.9e-324`),
                // unless it shows more digits than the source.
                let value = value + 0.0;
                let shortest = format!("{value:e}");
                let (mantissa, _) = shortest.split_once('e').unwrap_or((&shortest, ""));
                let shown = mantissa.split_once('.').map_or(0, |(_, d)| d.len());
                if shown <= *digits as usize {
                    shortest
                } else {
                    format!("{value:.prec$e}", prec = *digits as usize)
                }
            }
            NumberFormat::Datetime { format, .. } => {
                schema::seconds_to_datetime(value.round() as i64, format)
            }
        }
    }
}

/// How one number is written: `decimals` digits after the point, of which the first
/// `precision` carry the value and the rest are zeros (`41.0`: precision 0, decimals 1;
/// `12.50`: precision 1, decimals 2); a negative precision counts the zeros that end a whole
/// number (`1500`: precision -2, for amounts rounded to hundreds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Written {
    pub(crate) precision: i32,
    pub(crate) decimals: u32,
}

/// Most zeros ending a whole number that a written form records.
const MAX_ROUNDING_ZEROS: i32 = 15;

impl Written {
    /// How `text` writes its number, for plain decimals (no exponent) of at most
    /// [`schema::MAX_DECIMALS`] digits after the point.
    pub(crate) fn of(text: &str) -> Option<Written> {
        let t = text.trim();
        if t.contains(['e', 'E']) {
            return None;
        }
        let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
        let (whole, digits) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if !(whole.bytes().chain(digits.bytes())).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let decimals = u32::try_from(digits.len()).ok()?;
        let significant = digits.trim_end_matches('0').len() as i32;
        let zeros = whole.len() - whole.trim_end_matches('0').len();
        let precision = if significant > 0 || whole.trim_start_matches('0').is_empty() {
            significant
        } else {
            -(zeros as i32).min(MAX_ROUNDING_ZEROS)
        };
        (decimals <= schema::MAX_DECIMALS).then_some(Written { precision, decimals })
    }

    /// Checks a form read from a model file.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        let decimals = self.decimals as i32;
        if !(-MAX_ROUNDING_ZEROS..=decimals).contains(&self.precision)
            || self.decimals > schema::MAX_DECIMALS
        {
            return Err(format!(
                "a written form with precision {} and decimals {} (-{MAX_ROUNDING_ZEROS} <= \
                 precision <= decimals <= {})",
                self.precision,
                self.decimals,
                schema::MAX_DECIMALS
            ));
        }
        Ok(())
    }

    /// `value` on this form's precision, rounded with `round` (`f64::round`, `ceil`, `floor`).
    pub(crate) fn snap(&self, value: f64, round: fn(f64) -> f64) -> f64 {
        if self.precision >= 0 {
            return NumberFormat::Float { decimals: self.precision as u32 }.snap(value, round);
        }
        let step = 10f64.powi(-self.precision);
        round(value / step) * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(texts: &[String]) -> Vec<(usize, &str)> {
        texts.iter().enumerate().map(|(i, t)| (i, t.as_str())).collect()
    }

    #[test]
    fn written_forms_separate_precision_from_shown_decimals() {
        let form = |text| Written::of(text).map(|w| (w.precision, w.decimals));
        assert_eq!(form("41.0"), Some((0, 1)));
        assert_eq!(form("41"), Some((0, 0)));
        assert_eq!(form("-12.50"), Some((1, 2)));
        assert_eq!(form("1797.1097615708"), Some((10, 10)));
        assert_eq!(form("1500"), Some((-2, 0)));
        assert_eq!(form("-1500.0"), Some((-2, 1)));
        assert_eq!(form("0"), Some((0, 0)));
        assert_eq!(form("1.5e-3"), None);
        assert_eq!(form("1.2.3"), None);
        assert!(Written { precision: 2, decimals: 1 }.check().is_err());
        assert!(Written { precision: -16, decimals: 0 }.check().is_err());
        assert_eq!(Written { precision: -2, decimals: 0 }.snap(1249.0, f64::round), 1200.0);
        assert_eq!(Written { precision: 1, decimals: 2 }.snap(4.56789, f64::floor), 4.5);
    }

    #[test]
    fn clock_times_are_told_from_other_integers() {
        let times: Vec<String> =
            (0..200).map(|i| format!("{}", (i * 7 % 24) * 100 + i % 60)).collect();
        assert_eq!(clock_of(&cells(&times)), Some(NumberFormat::Clock));
        // Years of the last century have "minutes" above 59; small counts are below 01:00.
        let years: Vec<String> = (0..200).map(|i| (1950 + i % 50).to_string()).collect();
        assert_eq!(clock_of(&cells(&years)), None);
        let counts: Vec<String> = (0..200).map(|i| (i % 60).to_string()).collect();
        assert_eq!(clock_of(&cells(&counts)), None);
        // Minutes since midnight and back, with 24:00 kept.
        let clock = NumberFormat::Clock;
        for (text, minutes) in [("930", 570.0), ("2359", 1439.0), ("2400", 1440.0), ("0", 0.0)] {
            assert_eq!(parse_number(text, &clock), Some(minutes), "{text}");
            assert_eq!(clock.write(minutes), text);
        }
        for text in ["1860", "2430", "-5", "0930"] {
            assert_eq!(parse_number(text, &clock), None, "{text}");
        }
        assert_eq!(clock.write(65.4), "105");
    }

    #[test]
    fn a_date_time_column_steps_by_what_its_values_share() {
        let format = "%Y-%m-%d %H:%M:%S";
        let hours: Vec<String> =
            (0..48).map(|i| format!("2024-03-{:02} {:02}:00:00", 1 + i / 24, i % 24)).collect();
        assert_eq!(datetime_step(format, &cells(&hours)), Some(3600));
        let kind = ColumnKind::Datetime { format: format.into() };
        let found = source_number_format(&kind, &cells(&hours));
        assert_eq!(found, NumberFormat::Datetime { format: format.into(), step_seconds: 3600 });
        let mut mixed = hours.clone();
        mixed.push("2024-03-05 10:30:15".into());
        assert_eq!(datetime_step(format, &cells(&mixed)), Some(15));
        let days: Vec<String> = (1..20).map(|d| format!("2024-03-{d:02} 00:00:00")).collect();
        assert_eq!(datetime_step(format, &cells(&days)), Some(86_400));
    }
}
