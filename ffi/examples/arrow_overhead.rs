//! What the C ABI adds to generation into Arrow: `doppel_generate_arrow` read through the Arrow
//! C stream interface (as a host reads it: get_schema, get_next, importing each array, release)
//! against `doppel_core::generate_batches` iterated in Rust, same model, rows and seed.
//!
//! `cargo run --release -p doppel-ffi --example arrow_overhead -- [rows] [repeats]`
//! (defaults 100000 and 7). Runs alternate between the two paths; the medians are compared.
//! The model is trained on `tests/data/adult_small.csv` with the default architecture (one
//! epoch: generation cost depends on the architecture, not on how long it trained).

use std::ffi::CString;
use std::path::Path;
use std::ptr::null_mut;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use doppel::{doppel_generate_arrow, doppel_model_free, doppel_model_load, DoppelStatus};
use doppel_core::generate::{generate_batches, GenerateOptions};
use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::{train, TrainConfig, TrainedModel};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let repeats: usize = args.next().map_or(Ok(7), |a| a.parse())?;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/adult_small.csv");
    let table = read_table(&data, &ReadOptions::default())?;
    let mut config = TrainConfig::default();
    config.training.max_epochs = Some(1);
    let model = train(&table, &config, &mut |_| {}, &Default::default())?;
    let dir = tempfile::tempdir()?;
    let saved = dir.path().join("m.doppel");
    model.save(&saved)?;
    let model = Arc::new(TrainedModel::load(&saved)?);
    let path = CString::new(saved.to_str().ok_or("non-UTF-8 temp path")?)?;
    let mut handle = null_mut();
    // SAFETY: a valid path and out-pointer.
    let status = unsafe { doppel_model_load(path.as_ptr(), &mut handle) };
    if status != DoppelStatus::Ok {
        return Err(format!("doppel_model_load: {status:?}").into());
    }
    let threads = rayon::current_num_threads();
    println!("{rows} rows, {repeats} runs each, {threads} generation thread(s)");
    let (mut rust, mut abi) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let options = GenerateOptions { rows, seed: 7, ..GenerateOptions::default() };
        let start = Instant::now();
        let mut seen = 0;
        for batch in generate_batches(model.clone(), &options)? {
            seen += batch?.num_rows();
        }
        rust.push(start.elapsed().as_secs_f64());
        assert_eq!(seen, rows);

        let start = Instant::now();
        let mut stream = FFI_ArrowArrayStream::empty();
        // SAFETY: a live model and writable stream storage.
        let status = unsafe { doppel_generate_arrow(handle, rows, 7, &mut stream) };
        if status != DoppelStatus::Ok {
            return Err(format!("doppel_generate_arrow: {status:?}").into());
        }
        // SAFETY: the library filled the stream; the reader moves it out and releases it.
        let reader = unsafe { RecordBatchStreamReader::from_raw(&mut stream) }?;
        let mut seen = 0;
        for batch in reader {
            seen += batch?.num_rows();
        }
        abi.push(start.elapsed().as_secs_f64());
        assert_eq!(seen, rows);
    }
    // SAFETY: loaded above, freed once.
    unsafe { doppel_model_free(handle) };
    let (r, a) = (median(&mut rust), median(&mut abi));
    println!("rust (generate_batches):          median {r:.3} s  runs {rust:.3?}");
    println!("C ABI (doppel_generate_arrow):    median {a:.3} s  runs {abi:.3?}");
    println!("overhead: {:+.2}%", (a / r - 1.0) * 100.0);
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
