//! Constraints in the training configuration: every generated row keeps them (ranges,
//! regular expressions on categories, orders between number and date columns, strict or not),
//! with no row dropped, on data whose rows break the orders half the time; constraints that
//! cannot hold are errors before generation.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use doppel_core::generate::generate_seeded_to_file;
use doppel_core::ingest::{read_csv, ReadOptions};
use doppel_core::rng::Rng;
use doppel_core::steer::Seed;
use doppel_core::{generate, train, GenerateOptions, Result, Table, TrainConfig, TrainedModel};

/// 600 rows whose `start` and `end`, `price` and `cap`, `opened` and `closed` are drawn
/// independently (so each order holds in about half of them), with codes of letters or not.
fn table() -> Result<Table> {
    let mut text = String::from("start,end,price,cap,opened,closed,code,big\n");
    let mut rng = Rng::new(12345, 0);
    let mut next = |n: usize| rng.below(n);
    let codes = ["AB", "CD", "A1", "B22", "XY", "Q7"];
    for _ in 0..600 {
        let (start, end) = (next(100), next(100));
        let price = format!("{}.{:02}", next(50), next(100));
        let cap = format!("{}.{}", next(50), next(10));
        let day = |d: usize| format!("2024-{:02}-{:02}", 1 + d / 28, 1 + d % 28);
        let (opened, closed) = (day(next(336)), day(next(336)));
        let code = codes[next(6)];
        let big = 500 + next(100);
        text += &format!("{start},{end},{price},{cap},{opened},{closed},{code},{big}\n");
    }
    read_csv(text.as_bytes(), Path::new("t.csv"), &ReadOptions::default())
}

fn fit(constraints: &[&str]) -> Result<TrainedModel> {
    let mut config = TrainConfig::default();
    config.model.hidden_size = 32;
    config.model.embedding_dim = 16;
    config.training.max_epochs = Some(3);
    config.training.batch_size = Some(64);
    config.constraints = constraints.iter().map(|s| s.to_string()).collect();
    config.validate()?;
    train(&table()?, &config, &mut |_| {}, &AtomicBool::new(false))
}

fn rows(model: &TrainedModel, n: usize, seed: u64) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let options = GenerateOptions { rows: n, seed, ..GenerateOptions::default() };
    generate(
        model,
        &options,
        &mut |b| {
            out.extend(b);
            Ok(())
        },
        &mut |_| {},
    )?;
    Ok(out)
}

fn number(cell: &str) -> f64 {
    cell.parse().unwrap_or(f64::NAN)
}

#[test]
fn every_row_keeps_ranges_patterns_and_orders() -> Result<()> {
    let model = fit(&[
        "start <= end",
        "price < cap and opened <= closed",
        "code matches '[A-Z]+' and start >= 10",
    ])?;
    let out = rows(&model, 3000, 7)?;
    assert_eq!(out.len(), 3000, "no row is dropped");
    let empty: Vec<_> = out.iter().filter(|r| r.iter().any(String::is_empty)).take(5).collect();
    assert!(empty.is_empty(), "{empty:?}");
    for row in &out {
        let (start, end) = (number(&row[0]), number(&row[1]));
        assert!(start >= 10.0 && start <= end, "start {start}, end {end}");
        assert!(number(&row[2]) < number(&row[3]), "price {} cap {}", row[2], row[3]);
        assert!(row[4] <= row[5], "opened {} closed {}", row[4], row[5]);
        assert!(["AB", "CD", "XY"].contains(&row[6].as_str()), "code {}", row[6]);
        // Values keep the columns' written forms.
        assert_eq!(row[2].split('.').nth(1).map(str::len), Some(2), "price {}", row[2]);
    }
    // The orders bind: without them, about half the rows break each.
    let free = fit(&[])?;
    let broken =
        rows(&free, 3000, 7)?.iter().filter(|row| number(&row[0]) > number(&row[1])).count();
    assert!(broken > 900, "{broken} of 3000 unconstrained rows have start > end");
    Ok(())
}

#[test]
fn constraints_that_cannot_hold_are_errors_before_generation() -> Result<()> {
    let cases = [
        ("start <= code", "cannot order 'start' and 'code'"),
        ("start matches 'x'", "regular expression needs a categorical column"),
        ("code matches 'ZZZ'", "no value the model generates passes"),
        ("big <= start", "every 'big' the model generates is above every 'start'"),
        ("start <= start", "compared with itself"),
        ("start <= end and end < start", "contradict each other"),
    ];
    for (constraint, expected) in cases {
        let model = fit(&[constraint])?;
        let error = rows(&model, 10, 1).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(expected), "{constraint}: {error}");
    }
    // A constraint on a column the table lacks is refused before training.
    let error = fit(&["colour = red"]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("no column 'colour'"), "{error}");
    // A constraint that does not read is refused with the configuration.
    let mut config = TrainConfig {
        constraints: vec!["age >= 18".into(), "start <=".into()],
        ..TrainConfig::default()
    };
    let error = config.validate().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("constraints[1]"), "{error}");
    config.constraints = vec!["code matches '(unclosed'".into()];
    let error = config.validate().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("does not compile"), "{error}");
    Ok(())
}

#[test]
fn a_seed_row_that_breaks_an_order_is_named_and_others_keep_it() -> Result<()> {
    let model = fit(&["start <= end"])?;
    let dir = tempfile::tempdir().map_err(|e| doppel_core::Error::io("tempdir", e))?;
    let seed = |text: &str| -> Result<Seed> {
        let table = read_csv(text.as_bytes(), Path::new("seed.csv"), &ReadOptions::default())?;
        Ok(Seed { table, fill_missing: false })
    };
    let path = dir.path().join("out.csv");
    let options = GenerateOptions::default();
    let bad = seed("start,end\n5,50\n60,20\n")?;
    let error = generate_seeded_to_file(&model, &options, Some(bad), &path, None, &mut |_| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("seed row 2") && error.contains("'start' <= 'end'"), "{error}");
    assert!(!path.exists(), "nothing written");
    // A seeded start bounds the generated end, and a seeded end the generated start.
    let good = seed("start,end\n90,\n95,\n,3\n,1\n")?;
    generate_seeded_to_file(&model, &options, Some(good), &path, None, &mut |_| {})?;
    let out = doppel_core::ingest::read_table(&path, &ReadOptions::default())?;
    for r in 0..out.num_rows() {
        let cell = |c: usize| number(out.cell(r, c).unwrap_or("nan"));
        assert!(cell(0) <= cell(1), "row {r}: start {} end {}", cell(0), cell(1));
    }
    Ok(())
}

#[test]
fn a_chain_of_orders_holds_in_every_row() -> Result<()> {
    let mut text = String::from("x,y,z\n");
    let mut rng = Rng::new(7, 0);
    let mut next = |n: usize| rng.below(n);
    for _ in 0..600 {
        text += &format!("{},{},{}\n", next(100), next(100), next(100));
    }
    let table = read_csv(text.as_bytes(), Path::new("xyz.csv"), &ReadOptions::default())?;
    let mut config = TrainConfig::default();
    config.model.hidden_size = 32;
    config.model.embedding_dim = 16;
    config.training.max_epochs = Some(3);
    // Along the table's order, against it, and with a condition on the middle column.
    for (chain, (a, b, c)) in [("x <= y and y <= z", (0, 1, 2)), ("z < y and y < x", (2, 1, 0))] {
        config.constraints = vec![chain.into(), "y >= 20".into()];
        let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let out = rows(&model, 3000, 5)?;
        let strict = chain.contains('<') && !chain.contains("<=");
        let holds = |r: &Vec<String>| {
            let (p, q, s) = (number(&r[a]), number(&r[b]), number(&r[c]));
            q >= 20.0 && if strict { p < q && q < s } else { p <= q && q <= s }
        };
        let broken: Vec<&Vec<String>> = out.iter().filter(|r| !holds(r)).collect();
        assert!(broken.is_empty(), "{chain}: {} of 3000: {:?}", broken.len(), broken.first());
    }
    Ok(())
}

/// 600 rows of a free-text note (two to four words, then a number of one to three digits).
fn notes() -> Result<Table> {
    let words = ["red", "blue", "green", "old", "new", "box", "cart", "lamp", "door", "key"];
    let mut text = String::from("id_group,note\n");
    let mut rng = Rng::new(99, 0);
    let mut next = |n: usize| rng.below(n);
    for _ in 0..600 {
        let count = 2 + next(3);
        let note: Vec<&str> = (0..count).map(|_| words[next(10)]).collect();
        let number = [next(10), next(100), next(1000)][next(3)];
        text += &format!("g{},{} {number}\n", next(4), note.join(" "));
    }
    read_csv(text.as_bytes(), Path::new("notes.csv"), &ReadOptions::default())
}

#[test]
fn a_regular_expression_on_a_text_column_holds_in_every_row() -> Result<()> {
    let table = notes()?;
    let mut config = TrainConfig::default();
    config.model.hidden_size = 32;
    config.model.embedding_dim = 16;
    config.training.max_epochs = Some(3);
    let text = doppel_core::config::ColumnConfig {
        kind: Some(doppel_core::config::KindName::Text),
        ..Default::default()
    };
    config.columns.insert("note".into(), text);
    // One pattern on the text's start, one on its end: the end needs room left for it.
    let patterns = ["(red|blue) .*", ".* [0-9]{3}"];
    let free = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
    for pattern in patterns {
        let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| doppel_core::Error::Config(e.to_string()))?;
        let unconstrained = rows(&free, 1000, 3)?;
        let passing = unconstrained.iter().filter(|r| regex.is_match(&r[1])).count();
        assert!(passing < 700, "{pattern}: {passing} of 1000 pass without the constraint");
        config.constraints = vec![format!("note matches '{pattern}'")];
        let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let out = rows(&model, 2000, 3)?;
        assert_eq!(out.len(), 2000, "no row is dropped");
        let broken: Vec<&String> =
            out.iter().map(|r| &r[1]).filter(|n| !regex.is_match(n)).collect();
        assert!(
            broken.is_empty(),
            "{pattern}: {} of 2000 break it: {:?}",
            broken.len(),
            broken.first()
        );
    }
    // What cannot hold is an error before generation.
    for (pattern, expected) in
        [("z{400}", "no text of at most"), ("\\bred", "Unicode word boundaries")]
    {
        config.constraints = vec![format!("note matches '{pattern}'")];
        let model = train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let error = rows(&model, 10, 1).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(expected) && error.contains("'note'"), "{pattern}: {error}");
    }
    Ok(())
}
