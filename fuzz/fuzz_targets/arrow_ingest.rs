//! Parquet and Arrow IPC ingest through `ingest::read_table`, the reader `doppel train` uses.
//! It reads by path only, so each input is written to a file in one temporary directory:
//! `.parquet` when the bytes start or end with the Parquet magic `PAR1`, `.arrow` otherwise
//! (the IPC reader takes both the file format and the stream format).
//!
//! `read_table` runs the third-party decoders inside a panic boundary (`decoder_boundary`):
//! a panic there is an input error by design. libfuzzer-sys's panic hook aborts on every
//! panic, caught or not, so `init` replaces it with one that only prints; a panic that
//! escapes `read_table` still aborts (libfuzzer-sys aborts when the target unwinds), and an
//! allocation past the 4 GB cap is still a crash.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::schema::infer_schema;
use doppel_core::TrainConfig;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("doppel-fuzz-arrow").tempdir().expect("tempdir");
        // Kept for the life of the process; libFuzzer exits without running destructors.
        dir.keep()
    })
}

fuzz_target!(init: std::panic::set_hook(Box::new(|info| eprintln!("caught? {info}"))), |data: &[u8]| {
    let parquet = data.starts_with(b"PAR1") || data.ends_with(b"PAR1");
    let path = dir().join(if parquet { "input.parquet" } else { "input.arrow" });
    std::fs::write(&path, data).expect("write the input file");
    if let Ok(table) = read_table(&path, &ReadOptions::default()) {
        let _ = infer_schema(&table, &TrainConfig::default().schema_settings());
    }
});
