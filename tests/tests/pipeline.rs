//! The whole pipeline across crates, as the CLI and the C ABI run it: doppel-core reads a
//! table, trains a small model and generates rows; doppel-report scores them against the
//! training rows and a holdout. Checks the report's fields, not the model's quality (one
//! small epoch on 400 rows).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::{generate, train, GenerateOptions, TrainConfig};
use doppel_report::{build_report, ReportOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A doppel-core table as the report's text table (nulls as empty cells).

#[test]
fn a_model_trained_by_core_is_scored_by_the_report() -> TestResult {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/adult_small.csv");
    let table = read_table(&data, &ReadOptions::default())?;
    assert_eq!(table.num_rows(), 500);
    let training = table.take_rows(&(0..400).collect::<Vec<_>>());
    let holdout = table.take_rows(&(400..500).collect::<Vec<_>>());

    let config = TrainConfig::from_json(
        r#"{"model": {"hidden_size": 32, "embedding_dim": 16},
            "training": {"max_epochs": 1, "batch_size": 64, "seed": 7}}"#,
    )?;
    let model = train(&training, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let mut rows = Vec::new();
    let options = GenerateOptions { rows: 300, seed: 11, ..GenerateOptions::default() };
    let mut consume = |batch: Vec<Vec<String>>| {
        rows.extend(batch);
        Ok(())
    };
    generate(&model, &options, &mut consume, &mut |_| {})?;
    let names: Vec<String> = model.schema().columns.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, table.column_names());
    let synthetic = doppel_report::Table::new(names, rows)?;

    let options = ReportOptions {
        target: Some("income-per-year".into()),
        quasi_identifiers: vec!["age".into(), "sex".into()],
        ..ReportOptions::default()
    };
    let report = build_report(
        &training.to_text_table(),
        &synthetic,
        Some(&holdout.to_text_table()),
        &options,
        &mut |_, _| {},
    )?;
    // The JSON the CLI writes and the C ABI returns, read as a host would.
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["format"], "doppel-report");
    assert_eq!(json["version"], 1);
    let tables = &json["tables"];
    assert_eq!(
        (&tables["real_rows"], &tables["synthetic_rows"], &tables["holdout_rows"]),
        (&400.into(), &300.into(), &100.into())
    );
    assert_eq!(tables["columns"], 6);
    for score in ["quality", "privacy"] {
        let value = json["scores"][score]["value"].as_f64().ok_or(score)?;
        assert!((0.0..=100.0).contains(&value), "{score} {value}");
        assert!(json["scores"][score]["grade"].is_string(), "{score} has a grade");
    }
    let accuracy = json["fidelity"]["univariate"].as_f64().ok_or("univariate")?;
    assert!(accuracy > 0.0 && accuracy <= 1.0, "{accuracy}");
    let columns: Vec<&str> = json["columns"]
        .as_array()
        .ok_or("columns")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["age", "workclass", "education", "sex", "hours-per-week", "income-per-year"]
    );
    assert_eq!(json["utility"]["target"], "income-per-year");
    let membership = json["privacy"]["membership"]["auc"].as_f64().ok_or("membership auc")?;
    assert!((0.0..=1.0).contains(&membership), "{membership}");
    let attributes = &json["privacy"]["attribute_inference"]["quasi_identifiers"];
    assert_eq!(attributes, &serde_json::json!(["age", "sex"]));
    assert!(json["model"].is_null(), "no DP statement without a DP model");
    Ok(())
}
