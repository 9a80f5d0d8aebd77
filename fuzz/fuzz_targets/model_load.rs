//! The model file loader, as `doppel generate` / `doppel inspect` use it: the bytes of a
//! model file through `TrainedModel::from_bytes`, then a few rows from whatever loads.
#![no_main]

use std::path::Path;

use doppel_core::{generate, GenerateOptions, TrainedModel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = TrainedModel::from_bytes(data, Path::new("fuzz.doppel")) else {
        return;
    };
    let _ = model.schema();
    let options = GenerateOptions { rows: 5, batch_size: 5, ..GenerateOptions::default() };
    let mut rows = 0usize;
    let _ = generate(
        &model,
        &options,
        &mut |batch| {
            rows += batch.len();
            Ok(())
        },
        &mut |_| {},
    );
});
