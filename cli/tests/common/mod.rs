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

/// The standard error of a run, as text.
#[allow(dead_code)] // not every test file that shares this module uses it
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a run failed without a panic, with every one of `needles` in its message.
#[allow(dead_code)]
pub fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected a refusal, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for needle in needles {
        assert!(err.contains(needle), "message lacks {needle:?}: {err}");
    }
}

/// Writes `dir/in.csv`: 600 rows of three columns (colour, size, count) with a repeating
/// pattern, a small table that trains in a moment.
#[allow(dead_code)]
pub fn write_input(dir: &Path) {
    let mut csv = String::from("colour,size,count\n");
    for i in 0..600 {
        csv += &format!("{},{},{}\n", ["red", "green", "blue"][i % 3], ["S", "M"][i % 2], i % 40);
    }
    std::fs::write(dir.join("in.csv"), csv).expect("write input");
}
