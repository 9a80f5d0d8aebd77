//! CSV ingest and schema inference, as `doppel train` runs them on a CSV source: the
//! delimiter detected, the default limits, then the default configuration's inference.
#![no_main]

use std::path::Path;

use doppel_core::ingest::{read_csv, ReadOptions};
use doppel_core::schema::infer_schema;
use doppel_core::TrainConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = read_csv(data, Path::new("fuzz.csv"), &ReadOptions::default()) else {
        return;
    };
    let _ = infer_schema(&table, &TrainConfig::default().schema_settings());
});
