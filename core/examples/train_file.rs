//! Trains on a file and generates rows, printing per-epoch throughput: the benchmark behind
//! BENCHMARKS.md's training figures.
//!
//! `cargo run --release -p doppel-core --example train_file -- data/adult.csv out.csv [rows] [config]`

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::{generate_to_file, train, GenerateOptions, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = args.get(1).ok_or("usage: train_file INPUT OUTPUT [ROWS] [CONFIG]")?;
    let output = args.get(2).ok_or("usage: train_file INPUT OUTPUT [ROWS] [CONFIG]")?;
    let config = match args.get(4) {
        Some(path) => TrainConfig::from_file(Path::new(path))?,
        None => TrainConfig::default(),
    };
    let started = Instant::now();
    let table = read_table(Path::new(input), &ReadOptions::default())?;
    let mut epoch_started = Instant::now();
    let model = train(
        &table,
        &config,
        &mut |p| {
            if p.step == p.steps_per_epoch {
                let seconds = epoch_started.elapsed().as_secs_f64();
                eprintln!(
                    "epoch {:>2}: train loss {:.4}, validation {:.4?}, {:.1} s",
                    p.epoch, p.loss, p.validation_loss, seconds
                );
                epoch_started = Instant::now();
            }
        },
        &AtomicBool::new(false),
    )?;
    let summary = &model.metadata().summary;
    let train_seconds = started.elapsed().as_secs_f64();
    let tokens = (summary.training_rows * summary.tokens_per_row * summary.epochs) as f64;
    eprintln!(
        "trained {} epochs ({}) in {train_seconds:.1} s: {:.0} training tokens/s, {} parameters",
        summary.epochs,
        summary.stop_reason,
        tokens / train_seconds,
        summary.parameters
    );
    let rows = match args.get(3) {
        Some(r) => r.parse()?,
        None => table.num_rows(),
    };
    let generate_started = Instant::now();
    let options = GenerateOptions { rows, ..GenerateOptions::default() };
    generate_to_file(&model, &options, Path::new(output), &mut |_| {})?;
    eprintln!(
        "generated {rows} rows in {:.1} s; total {:.1} s",
        generate_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
