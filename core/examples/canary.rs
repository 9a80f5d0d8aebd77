//! The canary experiment behind BENCHMARKS.md's privacy figures: a unique made-up record is
//! added 1 and 10 times to the training data, a model is trained with and without DP, 100,000
//! rows are generated, and the rows that replay the canary are counted.
//!
//! `cargo run --release -p doppel-core --example canary -- data/adult.csv [epochs] [rows]`
//!
//! Two counts per run: exact replays (every column equal) and replays of every column but
//! `fnlwgt` (a continuous census weight that the tokenizer writes as a bin plus a position, so
//! even a memorised record rarely comes back with its exact weight).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::{generate, train, GenerateOptions, Table, TrainConfig};

/// A record that is not in Adult: every value is common, the combination is unique.
const CANARY: [&str; 15] = [
    "67",
    "Local-gov",
    "123456",
    "Doctorate",
    "16",
    "Widowed",
    "Farming-fishing",
    "Unmarried",
    "Asian-Pac-Islander",
    "Female",
    "0",
    "0",
    "40",
    "Canada",
    ">50K",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = args.get(1).ok_or("usage: canary INPUT [EPOCHS] [ROWS]")?;
    let epochs: usize = args.get(2).map_or(Ok(20), |a| a.parse())?;
    let rows: usize = args.get(3).map_or(Ok(100_000), |a| a.parse())?;
    let table = read_table(Path::new(input), &ReadOptions::default())?;
    let names: Vec<String> = table.column_names().iter().map(|s| s.to_string()).collect();
    let skip = names.iter().position(|n| n == "fnlwgt");
    let already = (0..table.num_rows())
        .filter(|&r| (0..names.len()).all(|c| table.cell(r, c) == Some(CANARY[c])))
        .count();
    println!("canary rows already in the data: {already}");
    for copies in [1, 10] {
        let data = with_canary(&table, copies)?;
        for dp in [false, true] {
            let mut config = TrainConfig::default();
            config.training.max_epochs = Some(epochs);
            config.training.batch_size = Some(1024);
            config.training.learning_rate = Some(0.01);
            if dp {
                config.privacy.dp = true;
                config.privacy.epsilon = Some(2.5);
                config.privacy.delta = doppel_core::config::Delta::Value(1e-5);
            }
            let started = Instant::now();
            let model = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))?;
            let trained = started.elapsed().as_secs_f64();
            let (mut exact, mut near) = (0usize, 0usize);
            let options = GenerateOptions { rows, seed: 7, ..GenerateOptions::default() };
            generate(
                &model,
                &options,
                &mut |batch| {
                    for row in batch {
                        let same = |c: usize| row[c] == CANARY[c];
                        if (0..CANARY.len()).all(same) {
                            exact += 1;
                        }
                        if (0..CANARY.len()).filter(|&c| Some(c) != skip).all(same) {
                            near += 1;
                        }
                    }
                    Ok(())
                },
                &mut |_| {},
            )?;
            let epsilon = model.metadata().summary.privacy.as_ref().map(|p| p.epsilon);
            println!(
                "copies {copies:>2}, dp {dp:>5} (epsilon {epsilon:?}): {exact} exact replays, \
                 {near} replays of all columns but fnlwgt, in {rows} rows (trained in {trained:.0} s)"
            );
        }
    }
    Ok(())
}

/// `table` with `copies` canary rows appended.
fn with_canary(table: &Table, copies: usize) -> Result<Table, Box<dyn std::error::Error>> {
    let names: Vec<String> = table.column_names().iter().map(|s| s.to_string()).collect();
    let columns = (0..names.len())
        .map(|c| {
            let mut cells: Vec<Option<String>> =
                (0..table.num_rows()).map(|r| table.cell(r, c).map(String::from)).collect();
            cells.extend(std::iter::repeat_n(Some(CANARY[c].to_string()), copies));
            cells
        })
        .collect();
    Ok(Table::from_columns(names, columns)?)
}
