//! What the CLI test files share: running the `doppel` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `doppel args...` in `dir` with one candle thread, and returns its output.
pub fn doppel(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doppel"))
        .args(args)
        .current_dir(dir)
        .env("CANDLE_NUM_THREADS", "1")
        .output()
        .expect("the doppel binary runs")
}
