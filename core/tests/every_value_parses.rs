//! Every generated value parses with its column's kind: no placeholder (`_RARE_`) or
//! half-formed value in a numeric, boolean or date column, ever. A property over random tables
//! of every kind (rare values, mixed decimals, whole floats, codes, clock times, long tails,
//! missing values), over the datasets of `../shared/data` where that folder exists, and under
//! DP on a table small enough that little clears the noise.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use doppel_core::config::{ColumnConfig, KindName};
use doppel_core::ingest::{read_csv, ReadOptions};
use doppel_core::rng::Rng;
use doppel_core::schema::infer_schema;
use doppel_core::{generate, train, GenerateOptions, Result, Table, TrainConfig};

fn tiny(mut config: TrainConfig) -> TrainConfig {
    config.model.hidden_size = 16;
    config.model.embedding_dim = 8;
    config.training.max_epochs = Some(1);
    config.training.batch_size = Some(64);
    config
}

/// Trains on `csv`, generates 300 rows, and reads them back with every column's kind forced
/// to the source's: inference fails on the first value its kind cannot hold.
fn assert_every_value_parses(name: &str, csv: &str, config: &TrainConfig) -> Result<()> {
    let table = read_csv(csv.as_bytes(), Path::new(name), &ReadOptions::default())?;
    let model = train(&table, config, &mut |_| {}, &AtomicBool::new(false))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let options = GenerateOptions { rows: 300, ..GenerateOptions::default() };
    let mut keep = |batch: Vec<Vec<String>>| {
        rows.extend(batch);
        Ok(())
    };
    generate(&model, &options, &mut keep, &mut |_| {})?;
    let names: Vec<String> = model.schema().columns.iter().map(|c| c.name.clone()).collect();
    let columns = (0..names.len()).map(|c| rows.iter().map(|r| Some(r[c].clone())).collect());
    let synthetic = Table::from_columns(names, columns.collect())?;
    // The source's kinds, as inference without DP finds them (under DP the model's schema is
    // a noisy release, which must not turn a number column into placeholders).
    let source = infer_schema(&table, &config.schema_settings())?;
    let mut forced = config.clone();
    for column in &source.columns {
        let kind = Some(KindName::of(&column.kind));
        forced.columns.insert(column.name.clone(), ColumnConfig { kind, ..Default::default() });
    }
    let schema = infer_schema(&synthetic, &forced.schema_settings())
        .map_err(|e| doppel_core::Error::Data(format!("{name}: {e}")))?;
    for (got, want) in schema.columns.iter().zip(&source.columns) {
        assert_eq!(KindName::of(&got.kind), KindName::of(&want.kind), "{name}: {}", want.name);
    }
    Ok(())
}

/// A random table of `rows` rows mixing the column shapes that broke typed outputs.
fn random_table(seed: u64, rows: usize) -> String {
    let mut rng = Rng::new(seed, 0);
    let mut pick = |n: usize| rng.below(n);
    let mut csv = String::from("count,code,whole,money,clock,day,flag,title,grade\n");
    for _ in 0..rows {
        let missing = pick(20) == 0;
        let count = if pick(30) == 0 { 3 + pick(40) } else { pick(2) };
        let code = [5620, 7294, 1010, 4400, 9120][pick(5)] + if pick(100) == 0 { 7 } else { 0 };
        let money = match pick(3) {
            0 => format!("{}.{}", pick(900), pick(10)),
            1 => format!("{}.{:02}", pick(900), pick(100)),
            _ => format!("{}.{:09}", pick(900), pick(1_000_000_000)),
        };
        let clock = pick(24) * 100 + pick(60);
        let day = format!("2024-{:02}-{:02}", 1 + pick(12), 1 + pick(28));
        let flag = if missing { "" } else { ["yes", "no"][pick(2)] };
        let title =
            if pick(4) == 0 { "Teacher".to_string() } else { format!("Clerk{}", pick(5000)) };
        let grade =
            if pick(50) == 0 { format!("rare{}", pick(1000)) } else { format!("g{}", pick(4)) };
        let whole = if missing { String::new() } else { format!("{}.0", pick(3000)) };
        csv.push_str(&format!(
            "{count},{code}.0,{whole},{money},{clock},{day},{flag},{title},{grade}\n"
        ));
    }
    csv
}

#[test]
fn random_tables_generate_only_values_of_their_kinds() -> Result<()> {
    for seed in 0..3 {
        let csv = random_table(seed, 1500);
        assert_every_value_parses(
            &format!("random{seed}.csv"),
            &csv,
            &tiny(TrainConfig::default()),
        )?;
    }
    Ok(())
}

#[test]
fn the_shared_datasets_generate_only_values_of_their_kinds() -> Result<()> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        eprintln!("{} is not here: only the bundled Adult data is checked", folder.display());
        let adult = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv"),
        )
        .map_err(|e| doppel_core::Error::io("adult.csv", e))?;
        let head: String = adult.lines().take(1501).map(|l| format!("{l}\n")).collect();
        return assert_every_value_parses("adult.csv", &head, &tiny(TrainConfig::default()));
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.retain(|p| p.extension().is_some_and(|x| x == "csv"));
    paths.sort();
    assert!(!paths.is_empty(), "no CSV in {}", folder.display());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| doppel_core::Error::io(&path, e))?;
        let head: String = text.lines().take(1501).map(|l| format!("{l}\n")).collect();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        assert_every_value_parses(&name, &head, &tiny(TrainConfig::default()))?;
    }
    Ok(())
}

#[test]
fn a_small_table_under_dp_generates_only_values_of_its_kinds() -> Result<()> {
    // 400 Adult rows at epsilon 2.5: too few for most categories and numeric bins to clear
    // the noise, which once made every age a placeholder.
    let adult = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv"),
    )
    .map_err(|e| doppel_core::Error::io("adult.csv", e))?;
    let head: String = adult.lines().take(401).map(|l| format!("{l}\n")).collect();
    let mut config = tiny(TrainConfig::default());
    config.privacy.dp = true;
    config.privacy.epsilon = Some(2.5);
    // Noise drawn from the seed, so that the test is the same on every run.
    config.privacy.deterministic_noise = true;
    assert_every_value_parses("adult400.csv", &head, &config)
}
