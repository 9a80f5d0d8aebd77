//! The privacy filter: no written row is within the distance of a training row (checked with
//! a distance computed here, independently), the dropped rows are counted and topped up, the
//! first batch keeps the unfiltered rows' order, and a DP model refuses it.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use doppel_core::filter::PrivacyFilter;
use doppel_core::generate::generate_filtered_to_file;
use doppel_core::ingest::{read_csv, read_table, ReadOptions};
use doppel_core::rng::Rng;
use doppel_core::{generate, train, GenerateOptions, Result, Table, TrainConfig, TrainedModel};

/// 600 rows over few combinations (5 colours x 5 sizes x 100 counts), so that many generated
/// rows copy a training row or come near one.
fn table() -> Result<Table> {
    let mut text = String::from("colour,size,count\n");
    let mut rng = Rng::new(99, 0);
    let mut next = |n: usize| rng.below(n);
    for _ in 0..600 {
        let colour = ["red", "green", "blue", "grey", "pink"][next(5)];
        let size = ["XS", "S", "M", "L", "XL"][next(5)];
        text += &format!("{colour},{size},{}\n", next(100));
    }
    read_csv(text.as_bytes(), Path::new("t.csv"), &ReadOptions::default())
}

fn fit(table: &Table, dp: bool) -> Result<TrainedModel> {
    let mut config = TrainConfig::default();
    config.model.hidden_size = 32;
    config.model.embedding_dim = 16;
    config.training.max_epochs = Some(if dp { 1 } else { 4 });
    config.training.batch_size = Some(64);
    config.privacy.dp = dp;
    config.privacy.noise_multiplier = dp.then_some(1.0);
    train(table, &config, &mut |_| {}, &AtomicBool::new(false))
}

/// The rows of `table` as texts.
fn cells(table: &Table) -> Vec<Vec<String>> {
    let columns = table.num_columns();
    (0..table.num_rows())
        .map(|r| (0..columns).map(|c| table.cell(r, c).unwrap_or("").to_string()).collect())
        .collect()
}

/// The filter's distance, written again: mean of (colour differs, size differs,
/// |count difference| / count range).
fn distance(a: &[String], b: &[String], range: f64) -> f64 {
    let count = |s: &String| s.parse::<f64>().unwrap_or(f64::NAN);
    let number = ((count(&a[2]) - count(&b[2])).abs() / range).min(1.0);
    (f64::from(u8::from(a[0] != b[0])) + f64::from(u8::from(a[1] != b[1])) + number) / 3.0
}

fn nearest(row: &[String], training: &[Vec<String>]) -> f64 {
    let counts = training.iter().filter_map(|t| t[2].parse::<f64>().ok());
    let (lo, hi) =
        counts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    training.iter().map(|t| distance(row, t, hi - lo)).fold(f64::INFINITY, f64::min)
}

#[test]
fn no_written_row_is_near_a_training_row_and_drops_are_counted() -> Result<()> {
    let source = table()?;
    let model = fit(&source, false)?;
    let training = cells(&source);
    let options = GenerateOptions { rows: 1500, seed: 3, ..GenerateOptions::default() };
    let mut unfiltered = Vec::new();
    generate(
        &model,
        &options,
        &mut |b| {
            unfiltered.extend(b);
            Ok(())
        },
        &mut |_| {},
    )?;
    let dir = tempfile::tempdir().map_err(|e| doppel_core::Error::io("tempdir", e))?;
    for limit in [0.0, 0.02] {
        let near = unfiltered.iter().filter(|r| nearest(r, &training) <= limit + 1e-9).count();
        assert!(near > 50, "the test needs copies to drop: {near} within {limit}");
        let path = dir.path().join(format!("filtered-{limit}.csv"));
        let filter = PrivacyFilter::new(&model, &source, limit)?;
        let report =
            generate_filtered_to_file(&model, &options, &filter, &path, None, &mut |_| {})?;
        let written = cells(&read_table(&path, &ReadOptions::default())?);
        assert_eq!((report.rows, written.len()), (1500, 1500), "topped up to the rows asked for");
        for row in &written {
            assert!(nearest(row, &training) > limit + 1e-9, "{row:?} within {limit}");
        }
        // The first batch (1,024 rows) is the unfiltered generation's: its near rows are
        // dropped, the others kept in order.
        let first = &unfiltered[..1024];
        let far: Vec<&Vec<String>> =
            first.iter().filter(|r| nearest(r, &training) > limit + 1e-9).collect();
        assert!(report.dropped >= 1024 - far.len(), "{} dropped", report.dropped);
        assert!(written.iter().zip(&far).all(|(w, f)| w == *f), "the first batch in order");
    }
    // A distance that drops nearly everything is an error naming the share, after rounds.
    let filter = PrivacyFilter::new(&model, &source, 0.9)?;
    let options = GenerateOptions { rows: 50, ..GenerateOptions::default() };
    let path = dir.path().join("never.csv");
    let error = generate_filtered_to_file(&model, &options, &filter, &path, None, &mut |_| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("lower the filter distance"), "{error}");
    assert!(!path.exists(), "nothing written");
    // Out of range, and a table without the model's columns.
    assert!(PrivacyFilter::new(&model, &source, 1.0).is_err());
    let other = read_csv(
        &b"colour,size\nred,S\nblue,M\n"[..],
        Path::new("o.csv"),
        &ReadOptions::default(),
    )?;
    let error = PrivacyFilter::new(&model, &other, 0.0).err().map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.contains("no column 'count'")));
    Ok(())
}

#[test]
fn a_dp_model_refuses_the_filter() -> Result<()> {
    let source = table()?;
    let model = fit(&source, true)?;
    let error = PrivacyFilter::new(&model, &source, 0.0).err().map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.contains("DP guarantee")));
    Ok(())
}
