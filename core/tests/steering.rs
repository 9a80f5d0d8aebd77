//! Steered generation (conditions, seeds, imputation) on small trained models: every row keeps
//! to its conditions and seeds exactly, a model trained on random column orders follows a
//! conditioned column's dependants, and bad conditions or seeds are errors before anything is
//! generated.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use doppel_core::generate::{generate_seeded_batches, generate_seeded_to_file, impute_to_file};
use doppel_core::ingest::{read_csv, read_table, ReadOptions};
use doppel_core::steer::Seed;
use doppel_core::{generate, train, GenerateOptions, Result, Table, TrainConfig, TrainedModel};

fn adult(rows: usize) -> Result<Table> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| doppel_core::Error::io(&path, e))?;
    let head: String = text.lines().take(rows + 1).map(|l| format!("{l}\n")).collect();
    read_csv(head.as_bytes(), &path, &ReadOptions::default())
}

fn config(share: f64, epochs: usize) -> TrainConfig {
    let mut config = TrainConfig::default();
    config.model.hidden_size = 32;
    config.model.embedding_dim = 16;
    config.training.max_epochs = Some(epochs);
    config.training.batch_size = Some(64);
    config.training.random_order_share = Some(share);
    config
}

fn fit(table: &Table, config: &TrainConfig) -> Result<TrainedModel> {
    train(table, config, &mut |_| {}, &AtomicBool::new(false))
}

/// The rows of a generation (missing cells as the column's marker), by column name.
fn rows(model: &TrainedModel, options: &GenerateOptions) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let consume = &mut |batch: Vec<Vec<String>>| {
        out.extend(batch);
        Ok(())
    };
    generate(model, options, consume, &mut |_| {})?;
    Ok(out)
}

/// The rows of a seeded generation written to CSV and read back (`None`: an empty cell).
fn seeded(model: &TrainedModel, seed: Seed) -> Result<Vec<Vec<Option<String>>>> {
    let dir = tempfile::tempdir().map_err(|e| doppel_core::Error::io("tempdir", e))?;
    let path = dir.path().join("seeded.csv");
    let options = GenerateOptions::default();
    generate_seeded_to_file(model, &options, Some(seed), &path, None, &mut |_| {})?;
    let table = read_table(&path, &ReadOptions::default())?;
    Ok((0..table.num_rows())
        .map(|r| (0..table.num_columns()).map(|c| table.cell(r, c).map(String::from)).collect())
        .collect())
}

fn column(model: &TrainedModel, name: &str) -> usize {
    model.schema().columns.iter().position(|c| c.name == name).unwrap()
}

#[test]
fn every_row_keeps_to_its_conditions() -> Result<()> {
    let model = fit(&adult(600)?, &config(0.5, 2))?;
    let options = GenerateOptions {
        rows: 400,
        conditions:
            "age >= 50 and age < 60 and workclass in (Private, 'State-gov') and sex != Male \
                     and hours-per-week > 40"
                .into(),
        ..GenerateOptions::default()
    };
    let out = rows(&model, &options)?;
    assert_eq!(out.len(), 400);
    let (age, work, sex, hours) = (
        column(&model, "age"),
        column(&model, "workclass"),
        column(&model, "sex"),
        column(&model, "hours-per-week"),
    );
    let mut ages = std::collections::BTreeSet::new();
    for row in &out {
        let a: i64 = row[age].parse().unwrap();
        assert!((50..60).contains(&a), "{row:?}");
        ages.insert(a);
        assert!(["Private", "State-gov"].contains(&row[work].as_str()), "{row:?}");
        assert_eq!(row[sex], "Female", "{row:?}");
        assert!(row[hours].parse::<i64>().unwrap() > 40, "{row:?}");
    }
    assert!(ages.len() >= 5, "the ages spread over the range: {ages:?}");
    Ok(())
}

#[test]
fn numbers_and_dates_keep_to_ranges_inside_their_bins() -> Result<()> {
    // A float with two decimals and a date, spread so that bins are wide.
    let n = 400;
    let names = vec!["x".to_string(), "day".to_string(), "kind".to_string()];
    let x = (0..n).map(|i| Some(format!("{:.2}", (i * 37 % 1000) as f64 / 100.0))).collect();
    let day = (0..n)
        .map(|i| Some(format!("2020-{:02}-{:02}", 1 + (i / 7) % 12, 1 + (i * 11) % 28)))
        .collect();
    let kind = (0..n).map(|i| Some(["a", "b", "c"][i % 3].to_string())).collect();
    let table = Table::from_columns(names, vec![x, day, kind])?;
    let model = fit(&table, &config(0.5, 2))?;
    let options = GenerateOptions {
        rows: 300,
        conditions: "x > 2.5 and x <= 3.25 and day >= 2020-06-15 and day < 2020-07-01".into(),
        ..GenerateOptions::default()
    };
    for row in rows(&model, &options)? {
        let v: f64 = row[0].parse().unwrap();
        assert!(v > 2.5 && v <= 3.25, "{row:?}");
        assert!(row[1].as_str() >= "2020-06-15" && row[1].as_str() < "2020-07-01", "{row:?}");
    }
    Ok(())
}

#[test]
fn a_condition_nothing_passes_is_an_error_naming_it() -> Result<()> {
    let model = fit(&adult(300)?, &config(0.5, 1))?;
    for (conditions, named) in [
        ("age > 500", "age"),
        ("sex = Alien", "Alien"),
        ("nosuch = 1", "nosuch"),
        ("age = abc", "abc"),
        ("age > 30 and age < 31", "age"),
        ("workclass > 3", "workclass"),
        ("age >", "condition"),
    ] {
        let options =
            GenerateOptions { rows: 10, conditions: conditions.into(), ..Default::default() };
        let error = rows(&model, &options).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(named), "{conditions}: {error}");
    }
    Ok(())
}

#[test]
fn seeded_cells_come_out_exactly_and_the_rest_is_generated() -> Result<()> {
    let model = fit(&adult(600)?, &config(0.5, 2))?;
    // Per row, some cells given (a bin's value such as fnlwgt's exact text included), the
    // others empty or null: generated.
    let given: Vec<[Option<&str>; 4]> = vec![
        [Some("Female"), Some("39"), None, Some("123457")],
        [Some("Male"), Some(""), Some("Bachelors"), None],
        [None, None, None, None],
        [Some("Female"), Some("71"), Some("Doctorate"), Some("99999")],
    ];
    let names = ["sex", "age", "education", "fnlwgt"];
    let columns = (0..4)
        .map(|c| given.iter().map(|row| row[c].map(String::from)).collect::<Vec<_>>())
        .collect();
    let table = Table::from_columns(names.iter().map(|s| s.to_string()).collect(), columns)?;
    let cols: Vec<usize> = names.iter().map(|n| column(&model, n)).collect();
    let out = seeded(&model, Seed { table, fill_missing: false })?;
    assert_eq!(out.len(), given.len());
    for (row, seed) in out.iter().zip(&given) {
        for (&c, cell) in cols.iter().zip(seed) {
            match cell.filter(|t| !t.is_empty()) {
                Some(text) => assert_eq!(row[c].as_deref(), Some(text), "{row:?}"),
                None => assert!(row[c].as_deref().is_some_and(|t| !t.is_empty()), "{row:?}"),
            }
        }
        assert!(row.iter().all(Option::is_some), "Adult's first rows have no missing: {row:?}");
    }
    Ok(())
}

#[test]
fn imputation_fills_missing_cells_and_keeps_the_others() -> Result<()> {
    let table = adult(400)?;
    let model = fit(&table, &config(0.5, 1))?;
    // Knock out cells: `?` (Adult's marker), empty and null.
    let names: Vec<String> = table.column_names().iter().map(|s| s.to_string()).collect();
    let mut knocked = 0;
    let columns: Vec<Vec<Option<String>>> = (0..table.num_columns())
        .map(|c| {
            (0..50)
                .map(|r| match (r * 7 + c * 3) % 10 {
                    0 => {
                        knocked += 1;
                        Some("?".to_string())
                    }
                    1 => {
                        knocked += 1;
                        None
                    }
                    _ => table.cell(r, c).map(String::from),
                })
                .collect()
        })
        .collect();
    let holes = Table::from_columns(names, columns.clone())?;
    let out = seeded(&model, Seed { table: holes, fill_missing: true })?;
    assert!(knocked > 100);
    for (r, row) in out.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            match &columns[c][r] {
                Some(text) if text != "?" => assert_eq!(cell.as_ref(), Some(text)),
                _ => assert!(cell.as_ref().is_some_and(|t| !t.is_empty() && t != "?"), "{row:?}"),
            }
        }
    }
    Ok(())
}

#[test]
fn bad_seeds_are_errors_naming_the_row_and_column() -> Result<()> {
    let model = std::sync::Arc::new(fit(&adult(300)?, &config(0.5, 1))?);
    let seed = |name: &str, cells: [&str; 2]| -> Result<Seed> {
        let column = cells.iter().map(|c| Some(c.to_string())).collect();
        Ok(Seed {
            table: Table::from_columns(vec![name.into()], vec![column])?,
            fill_missing: false,
        })
    };
    let options = GenerateOptions { conditions: "age >= 40".into(), ..Default::default() };
    for (seed, named) in [
        (seed("age", ["45", "abc"])?, "seed row 2, column 'age'"),
        (seed("nosuch", ["1", "2"])?, "nosuch"),
        (seed("age", ["45", "30"])?, "seed row 2, column 'age': 30 breaks"),
    ] {
        let error = generate_seeded_batches(model.clone(), &options, Some(seed))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains(named), "{error}");
    }
    Ok(())
}

/// `b` is a function of `a` and comes after it in the table. Conditioned on `b`, a model trained
/// on random column orders generates the `a` that goes with it; one trained in the table's
/// order only cannot (it draws `a` before it meets the condition).
#[test]
fn a_model_of_random_orders_follows_a_condition_on_a_later_column() -> Result<()> {
    let n = 3000;
    let a: Vec<Option<String>> = (0..n).map(|i| Some(["x", "y", "z"][i * 7 % 3].into())).collect();
    let b = a.iter().map(|v| v.as_ref().map(|v| format!("{v}{v}"))).collect();
    let noise = (0..n).map(|i| Some(format!("{}", (i * 13) % 5))).collect();
    let names = vec!["a".to_string(), "b".to_string(), "n".to_string()];
    let table = Table::from_columns(names, vec![a, b, noise])?;
    let share_of_y = |share: f64| -> Result<f64> {
        let mut config = config(share, 15);
        // Early stopping watches the table's order, which is learnt long before the others.
        config.training.patience = 15;
        let model = fit(&table, &config)?;
        let options =
            GenerateOptions { rows: 300, conditions: "b = yy".into(), ..Default::default() };
        let out = rows(&model, &options)?;
        assert!(out.iter().all(|r| r[1] == "yy"));
        Ok(out.iter().filter(|r| r[0] == "y").count() as f64 / out.len() as f64)
    };
    let (any, fixed) = (share_of_y(0.5)?, share_of_y(0.0)?);
    assert!(any > 0.7, "random orders: {any} of a is y");
    assert!(fixed < 0.5, "the table's order: {fixed} of a is y");
    Ok(())
}

#[test]
fn rebalancing_sets_the_shares_and_fairness_evens_the_target_across_groups() -> Result<()> {
    let model = fit(&adult(800)?, &config(0.5, 2))?;
    let sex = column(&model, "sex");
    let options = GenerateOptions {
        rows: 2000,
        rebalance: "sex=Female:0.7".into(),
        ..GenerateOptions::default()
    };
    let out = rows(&model, &options)?;
    let women = out.iter().filter(|r| r[sex] == "Female").count() as f64 / out.len() as f64;
    assert!((women - 0.7).abs() < 0.01, "{women} women");
    // Fairness on a table where the target follows the group: y is 1 in 80 % of group a's
    // rows and 20 % of b's.
    let n = 3000;
    let group: Vec<Option<String>> = (0..n).map(|i| Some(["a", "b"][i % 2].into())).collect();
    let y = (0..n).map(|i| Some(if (i % 2 == 0) == (i * 7 % 10 < 8) { "1" } else { "0" }.into()));
    let noise = (0..n).map(|i| Some(format!("{}", i * 13 % 4))).collect();
    let names = vec!["g".to_string(), "n".to_string(), "y".to_string()];
    let table = Table::from_columns(names, vec![group, noise, y.collect()])?;
    let unfair = fit(&table, &config(0.5, 6))?;
    let share_of_ones = |fair: &str| -> Result<(f64, f64)> {
        let options = GenerateOptions { rows: 4000, fair: fair.into(), ..Default::default() };
        let out = rows(&unfair, &options)?;
        let ones = |g: &str| {
            let rows: Vec<_> = out.iter().filter(|r| r[0] == g).collect();
            rows.iter().filter(|r| r[2] == "1").count() as f64 / rows.len() as f64
        };
        Ok((ones("a"), ones("b")))
    };
    let (a, b) = share_of_ones("")?;
    assert!(a - b > 0.3, "the model learnt the gap: {a} against {b}");
    let (a, b) = share_of_ones("target=y sensitive=g")?;
    assert!((a - b).abs() < 0.01 && a > 0.3 && a < 0.7, "fair: {a} against {b}");
    for (rebalance, fair, named) in [
        ("sex=Alien:0.5", "", "Alien"),
        ("sex=Female:0.7,Male:0.6", "", "more than 1"),
        ("age=30:0.5", "", "categorical"),
        ("sex", "", "column=value:share"),
        ("", "target=income-per-year", "sensitive"),
        ("", "target=sex sensitive=sex", "same"),
    ] {
        let options = GenerateOptions {
            rows: 10,
            rebalance: rebalance.into(),
            fair: fair.into(),
            ..GenerateOptions::default()
        };
        let error = rows(&model, &options).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(named), "{rebalance} {fair}: {error}");
    }
    Ok(())
}

/// Imputing with several draws per cell takes their typical value: a cell that is a function of
/// the known ones is found more often than by one draw, and known cells stay as they are.
#[test]
fn typical_values_of_several_draws_are_closer_to_the_truth() -> Result<()> {
    // b is a function of a (xx, yy, zz) except in one row of ten (noise); n is unrelated.
    let n = 1500;
    let a: Vec<Option<String>> = (0..n).map(|i| Some(["x", "y", "z"][i * 7 % 3].into())).collect();
    let b: Vec<Option<String>> = a
        .iter()
        .enumerate()
        .map(|(i, v)| v.as_ref().map(|v| if i % 10 == 3 { "ww".into() } else { format!("{v}{v}") }))
        .collect();
    let noise = (0..n).map(|i| Some(format!("{}", (i * 13) % 5))).collect();
    let names = vec!["a".to_string(), "b".to_string(), "n".to_string()];
    let table = Table::from_columns(names.clone(), vec![a.clone(), b, noise])?;
    let mut config = config(0.5, 15);
    config.training.patience = 15;
    let model = fit(&table, &config)?;
    // b knocked out of 300 rows.
    let holes = Table::from_columns(
        names,
        vec![
            a[..300].to_vec(),
            vec![None; 300],
            (0..300).map(|i| Some(format!("{}", i % 5))).collect(),
        ],
    )?;
    let dir = tempfile::tempdir().map_err(|e| doppel_core::Error::io("tempdir", e))?;
    let hits = |draws: usize| -> Result<usize> {
        let path = dir.path().join(format!("filled{draws}.csv"));
        let seed = Seed { table: holes.clone(), fill_missing: true };
        let options = GenerateOptions::default();
        assert_eq!(impute_to_file(&model, &options, seed, draws, &path, None, &mut |_| {})?, 300);
        let out = read_table(&path, &ReadOptions::default())?;
        let mut hits = 0;
        for (r, known) in a[..300].iter().enumerate() {
            let known = known.as_deref().unwrap();
            assert_eq!(out.cell(r, 0), Some(known));
            assert_eq!(out.cell(r, 2), Some(format!("{}", r % 5).as_str()));
            hits += usize::from(out.cell(r, 1) == Some(format!("{known}{known}").as_str()));
        }
        Ok(hits)
    };
    let (one, many) = (hits(1)?, hits(9)?);
    assert!(many > one && many >= 270, "one draw {one}, nine {many} of 300");
    Ok(())
}
