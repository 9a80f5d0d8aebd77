//! LoRA through the engine's own training loop and generation, on the CPU, for a
//! 135M-parameter Llama configuration (SmolLM2-135M's shape) with random weights and a
//! byte-level BPE tokenizer trained on the table (BENCHMARKS.md, issue 16):
//!
//!     cargo run --release -p doppel-core --example lora_train -- [rows] [epochs] [records]
//!
//! Trains rank-16 adapters on every projection on the first `rows` rows of data/adult.csv
//! (one epoch by default) without DP and then with DP (epsilon 8), then generates `records`
//! records from the plain model, unsteered and under a condition. Prints tokens per second of each (tokens: the records' tokens
//! trained on; generated tokens counted by encoding the generated records) and the peak
//! resident memory.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use doppel_core::config::ModelKind;
use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::llama::text::{prompt, record_json, table_records, BaseTokenizer};
use doppel_core::llama::{write_random, LoraConfig};
use doppel_core::{Error, GenerateOptions, Result, TrainConfig};

mod shared;

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = args.first().copied().unwrap_or(256);
    let epochs = args.get(1).copied().unwrap_or(1);
    let records = args.get(2).copied().unwrap_or(64);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let table = read_table(&path, &ReadOptions::default())?;
    let table = table.take_rows(&(0..rows).collect::<Vec<_>>());
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let base = dir.path().join("smol-shape");
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    // A tokenizer of the records (its vocabulary ends where the merges run out, below the
    // configuration's 49,152: the output layer keeps the 135M shape).
    let schema =
        doppel_core::schema::infer_schema(&table, &TrainConfig::default().schema_settings())?;
    let mut texts: Vec<String> = table_records(&table, &schema);
    texts.push(prompt(&schema));
    BaseTokenizer::train_bpe(&texts, 49_152, &base.join("tokenizer.json"))?;
    let config = shared::smollm2_135m_shape();
    write_random(&base, &config, 1, 0.02)?;
    let tokenizer = BaseTokenizer::load(&base)?;
    let tokens: usize = texts[..rows]
        .iter()
        .map(|t| tokenizer.encode(t).map(|ids| ids.len()))
        .sum::<Result<usize>>()?;
    let head = tokenizer.encode(&prompt(&schema))?.len();
    println!(
        "{rows} records, {tokens} record tokens, a prompt of {head} tokens, tokenizer of {} tokens",
        tokenizer.vocab_size()
    );
    let mut train = TrainConfig::default();
    train.model.kind = ModelKind::Lora;
    train.model.base_model = Some(base.clone());
    train.model.lora = Some(LoraConfig { max_record_tokens: 192, ..LoraConfig::default() });
    train.training.max_epochs = Some(epochs);
    train.training.validation_split = 0.0;
    let mut plain_model = None;
    // DOPPEL_BENCH_ONLY=dp or =plain runs one of the two trainings (the other is skipped).
    let only = std::env::var("DOPPEL_BENCH_ONLY").unwrap_or_default();
    for dp in [false, true] {
        if (only == "dp" && !dp) || (only == "plain" && dp) {
            continue;
        }
        let mut config = train.clone();
        if dp {
            config.privacy.dp = true;
            config.privacy.epsilon = Some(8.0);
            config.training.batch_size = Some(64);
        }
        let start = Instant::now();
        let model = doppel_core::train(&table, &config, &mut |_| {}, &AtomicBool::new(false))?;
        let seconds = start.elapsed().as_secs_f64();
        let steps = model.metadata().summary.steps;
        // Records seen: steps times the (expected) batch, which under DP's plan need not be
        // one epoch's worth; their tokens counted as the table's order writes them.
        let batch = config.training.batch_size.unwrap_or(32).min(rows);
        let seen = (steps * batch) as f64 / rows as f64;
        println!(
            "{}: {steps} steps in {seconds:.1} s, {:.0} record tokens/s{}",
            if dp { "DP (epsilon 8, expected batch 64)" } else { "plain (batch 32, packed)" },
            tokens as f64 * seen / seconds,
            // Under DP every record has its own sequence, so the prompt is computed per record.
            if dp {
                let positions = (tokens + rows * head) as f64 * seen;
                format!(" ({:.0} positions/s with the prompts)", positions / seconds)
            } else {
                String::new()
            }
        );
        if !dp {
            plain_model = Some(model);
        }
    }
    let Some(model) = plain_model else { return Ok(()) };
    // Unsteered, then steered by conditions (the grammar narrows the conditioned columns,
    // written first).
    for conditions in ["", "sex = Female and age >= 40"] {
        let options = GenerateOptions {
            rows: records,
            batch_size: records,
            conditions: conditions.into(),
            ..GenerateOptions::default()
        };
        let start = Instant::now();
        let mut generated = Vec::new();
        doppel_core::generate(
            &model,
            &options,
            &mut |rows| {
                generated.extend(rows);
                Ok(())
            },
            &mut |_| {},
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let schema = model.schema();
        let written: usize = generated
            .iter()
            .map(|row| {
                let cells: Vec<Option<&str>> = row.iter().map(|c| Some(c.as_str())).collect();
                tokenizer.encode(&record_json(schema, &cells)).map(|ids| ids.len())
            })
            .sum::<Result<usize>>()?;
        println!(
            "generation{}: {} records ({written} tokens) in {seconds:.1} s, {:.0} tokens/s, \
             {:.1} records/s",
            if conditions.is_empty() { String::new() } else { format!(" where {conditions}") },
            generated.len(),
            written as f64 / seconds,
            generated.len() as f64 / seconds
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    println!("peak resident memory {}", peak.trim_start_matches("VmHWM:").trim());
    Ok(())
}
