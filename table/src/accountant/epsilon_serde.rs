//! Serde for epsilon values, for `#[serde(with = "epsilon_serde")]`.
//!
//! JSON has no infinity, and serde_json writes a non-finite number as `null`, which then
//! fails to read back (or reads as "no value"). An infinite epsilon means "no guarantee", a
//! statement that must survive a round trip, so it is written as the string `"inf"` and read
//! back as `f64::INFINITY`. Finite values are written as JSON numbers (bit for bit, with
//! serde_json's `float_roundtrip`). NaN is refused on write: an epsilon is never NaN, and a
//! NaN written as `null` would read as something else. Reading accepts a number or `"inf"`
//! only; ranges (e.g. epsilon >= 0) are checked where a statement is used.

use serde::de::{self, Deserializer};
use serde::ser::{self, Serializer};
use serde::Deserialize;

/// The JSON spelling of an infinite epsilon.
pub const INFINITY: &str = "inf";

/// Writes `value`: a number, or `"inf"` for `+∞`; NaN and `-∞` are errors.
pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(*value)
    } else if *value == f64::INFINITY {
        s.serialize_str(INFINITY)
    } else {
        Err(ser::Error::custom(format!("an epsilon cannot be {value} (NaN or -inf)")))
    }
}

/// Reads a number or `"inf"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Repr::deserialize(d)? {
        Repr::Number(v) if !v.is_nan() => Ok(v),
        Repr::Text(t) if t == INFINITY => Ok(f64::INFINITY),
        Repr::Number(v) => Err(de::Error::custom(format!("an epsilon cannot be {v}"))),
        Repr::Text(t) => Err(de::Error::custom(format!(
            "an epsilon must be a number or \"{INFINITY}\", got {t:?}"
        ))),
    }
}

/// A number, or text (only `"inf"` is accepted).
#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Number(f64),
    Text(String),
}

/// The same for `Option<f64>` (`None` is `null`), for `#[serde(with = "epsilon_serde::option")]`.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `None` as `null`, a value as [`super::serialize`] does.
    pub fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` (or a missing field, with `#[serde(default)]`) as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] f64);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(v)| v))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Both {
        #[serde(with = "super")]
        e: f64,
        #[serde(with = "super::option", default)]
        o: Option<f64>,
    }

    fn write(e: f64, o: Option<f64>) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Both { e, o })
    }

    #[test]
    fn finite_values_round_trip_bit_for_bit() -> Result<(), serde_json::Error> {
        let values = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 0.1, 1.0 / 3.0, 1e308, f64::MAX];
        for v in values {
            let back: Both = serde_json::from_str(&write(v, Some(v))?)?;
            assert_eq!(back.e.to_bits(), v.to_bits(), "{v:e}");
            assert_eq!(back.o.map(f64::to_bits), Some(v.to_bits()), "{v:e}");
        }
        Ok(())
    }

    #[test]
    fn infinity_is_the_string_inf() -> Result<(), serde_json::Error> {
        let json = write(f64::INFINITY, Some(f64::INFINITY))?;
        assert_eq!(json, r#"{"e":"inf","o":"inf"}"#);
        let back: Both = serde_json::from_str(&json)?;
        assert_eq!(back, Both { e: f64::INFINITY, o: Some(f64::INFINITY) });
        let back: Both = serde_json::from_str(r#"{"e":1.5,"o":null}"#)?;
        assert_eq!(back, Both { e: 1.5, o: None });
        let back: Both = serde_json::from_str(r#"{"e":2}"#)?;
        assert_eq!(back, Both { e: 2.0, o: None });
        Ok(())
    }

    #[test]
    fn nan_and_other_spellings_are_refused() {
        for (e, o) in [(f64::NAN, None), (1.0, Some(f64::NAN)), (f64::NEG_INFINITY, None)] {
            let err = write(e, o).expect_err("refused");
            assert!(err.to_string().contains("an epsilon cannot be"), "{err}");
        }
        for json in [
            r#"{"e":null}"#,
            r#"{"e":"Infinity"}"#,
            r#"{"e":"nan"}"#,
            r#"{"e":"-inf"}"#,
            r#"{"e":"1.5"}"#,
            r#"{"e":1e999}"#,
            r#"{"e":1,"o":"NaN"}"#,
        ] {
            assert!(serde_json::from_str::<Both>(json).is_err(), "{json} accepted");
        }
    }
}
