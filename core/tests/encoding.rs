//! Small encoding bugs of issue 12 (point 12): signed zeros, identifiers past `i64::MAX`,
//! exponent notation, and date formats that chrono can only report by panicking.

use std::sync::atomic::AtomicBool;

use doppel_core::rng::Rng;
use doppel_core::schema::{generate_identifier, prepare, seconds_to_datetime, IdShape};
use doppel_core::tokenizer::Tokenizer;
use doppel_core::{train, Table, TrainConfig};

fn table(columns: Vec<(&str, Vec<String>)>) -> Table {
    let names = columns.iter().map(|(n, _)| n.to_string()).collect();
    let cells = columns.into_iter().map(|(_, v)| v.into_iter().map(Some).collect()).collect();
    Table::from_columns(names, cells).expect("a rectangular table")
}

#[test]
fn a_float_column_with_both_zeros_trains() {
    let n = 40;
    let zeros = (0..n).map(|i| if i % 2 == 0 { "-0.0" } else { "0.0" }.to_string()).collect();
    let other = (0..n).map(|i| ["a", "b"][i % 2].to_string()).collect();
    let table = table(vec![("x", zeros), ("y", other)]);
    let mut config = TrainConfig::default();
    config.model.hidden_size = 8;
    config.model.embedding_dim = 4;
    config.training.max_epochs = Some(1);
    let trained = train(&table, &config, &mut |_| {}, &AtomicBool::new(false));
    assert!(trained.is_ok(), "{:?}", trained.err().map(|e| e.to_string()));
}

#[test]
fn sequence_identifiers_stay_unique_past_i64_max() {
    let shape = IdShape::Sequence { start: i64::MAX - 1 };
    let ids: Vec<String> = (0..4).map(|i| generate_identifier(&shape, i)).collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "{ids:?}");
    assert_eq!(ids[2], "9223372036854775808");
    let last = IdShape::Sequence { start: i64::MAX };
    assert_eq!(generate_identifier(&last, u64::MAX), "27670116110564327422");
}

#[test]
fn exponent_notation_keeps_its_values() -> doppel_core::Result<()> {
    // 1e308 and 5e-324 are frequent (exact tokens); the rest spread over bins.
    let n = 90;
    let values = (0..n)
        .map(|i| match i % 3 {
            0 => "1e308".to_string(),
            1 => "5e-324".to_string(),
            _ => format!("{}.5e-{}", 1 + i % 9, 3 + i % 5),
        })
        .collect();
    let source = table(vec![("v", values)]);
    let config = TrainConfig::default();
    let (prepared, schema) = prepare(&source, &config.schema_settings())?;
    let tokenizer = Tokenizer::fit(&prepared, &schema, &config.tokenizer_settings())?;
    let encoded = tokenizer.encode(&prepared, &config.tokenizer_settings())?;
    let mut rng = Rng::new(3, 0);
    for r in 0..n {
        let tokens = &encoded.tokens[r * encoded.len..(r + 1) * encoded.len];
        let cell = &tokenizer.decode(tokens, r as u64, &mut rng)[0].clone().unwrap_or_default();
        let value: f64 = cell.parse().unwrap_or(f64::NAN);
        assert!(value.is_finite() && cell.contains('e') && cell.len() < 30, "row {r}: {cell}");
        match r % 3 {
            0 => assert_eq!(cell, "1e308", "row {r}"),
            1 => assert_eq!(cell, "5e-324", "row {r}"),
            _ => assert!(value > 0.0 && value < 0.01, "row {r}: {cell}"),
        }
    }
    Ok(())
}

#[test]
fn formatting_a_date_with_a_format_chrono_cannot_write_does_not_panic() {
    // `%z` needs a time zone, which a naive date-time lacks: chrono reports it only when the
    // date is written, and `to_string` panics on that report.
    let written = std::panic::catch_unwind(|| seconds_to_datetime(0, "%Y-%m-%d %z"));
    assert_eq!(written.ok().as_deref(), Some(""));
}
