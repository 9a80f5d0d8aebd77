//! Bad input through the `doppel` binary: each case must fail with a clear message naming the
//! problem, the exit code of its class (2 usage, 3 bad data or model, 4 I/O), no panic, and no
//! output file (or temporary file) left behind.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::doppel;

/// Exit code of a usage error (a bad flag, option or configuration value).
const USAGE: i32 = 2;
/// Exit code of bad input data or a bad model file.
const DATA: i32 = 3;
/// Exit code of a file that cannot be read or written.
const IO: i32 = 4;

/// Asserts a failure with exit `code` whose message contains every one of `needles`, and that
/// `dir` holds nothing but `keep`.
fn assert_clean_failure(out: &Output, code: i32, needles: &[&str], dir: &Path, keep: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "message lacks {needle:?}: {stderr}");
    }
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect();
    left.sort();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

fn train_on(contents: &[u8], needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), contents).expect("write input");
    let out = doppel(&["train", "--input", "in.csv", "--model", "m.doppel"], dir.path());
    assert_clean_failure(&out, DATA, needles, dir.path(), &["in.csv"]);
}

fn adult_rows(n: usize) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let text = std::fs::read_to_string(path).expect("data/adult.csv");
    text.lines().take(n + 1).map(|l| format!("{l}\n")).collect()
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = doppel(&["train", "--input", "nope.csv", "--model", "m.doppel"], dir.path());
    assert_clean_failure(&out, IO, &["nope.csv"], dir.path(), &[]);
}

#[test]
fn empty_file() {
    train_on(b"", &["in.csv", "empty"]);
}

#[test]
fn header_only() {
    train_on(b"a,b,c\n", &["in.csv", "no data rows"]);
}

#[test]
fn ragged_rows() {
    train_on(b"a,b\n1,2\n3,4\n5\n", &["in.csv", "row 3"]);
}

#[test]
fn invalid_utf8() {
    train_on(b"a,b\n1,2\n3,\xff\xfe\n", &["in.csv", "UTF-8"]);
}

#[test]
fn entirely_missing_column() {
    let mut csv = String::from("a,empty\n");
    for i in 0..30 {
        csv.push_str(&format!("{i},\n"));
    }
    train_on(csv.as_bytes(), &["'empty'", "no values"]);
}

#[test]
fn single_row() {
    train_on(b"a,b\n1,x\n", &["in.csv: only 1 data row", "at least"]);
}

#[test]
fn an_unknown_extension_is_refused_naming_the_supported_ones_unless_a_format_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("data.xyz"), adult_rows(200)).expect("write input");
    let supported = ["unknown file extension \"xyz\"", ".csv", ".tsv", ".parquet", ".feather"];
    let train = ["train", "--input", "data.xyz", "--model", "m.doppel", "--epochs", "1"];
    let out = doppel(&train, dir.path());
    let needles: Vec<&str> =
        ["data.xyz", "--format csv|parquet|arrow"].iter().chain(&supported).copied().collect();
    assert_clean_failure(&out, USAGE, &needles, dir.path(), &["data.xyz"]);
    // `run` refuses an output it could not write before it trains.
    let run = ["run", "--input", "data.xyz", "--format", "csv", "--output", "synthetic.xyz"];
    let out = doppel(&run, dir.path());
    assert_clean_failure(&out, USAGE, &["synthetic.xyz", ".parquet"], dir.path(), &["data.xyz"]);

    // With --format the file is read as said, whatever its extension.
    let out = doppel(&[&train[..], &["--format", "csv"]].concat(), dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = ["report", "--real", "data.xyz", "--synthetic", "data.xyz"];
    let out = doppel(&report, dir.path());
    let keep = ["data.xyz", "m.doppel"];
    assert_clean_failure(&out, USAGE, &["data.xyz", "--format"], dir.path(), &keep);
    let out = doppel(&[&report[..], &["--format", "csv"]].concat(), dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing is written as CSV into an output with an unknown extension.
    let generate = ["generate", "--model", "m.doppel", "--rows", "10", "--output", "out.xyz"];
    let out = doppel(&generate, dir.path());
    let needles: Vec<&str> = supported
        .iter()
        .chain(&["output's format with --format csv|parquet|arrow"])
        .copied()
        .collect();
    assert_clean_failure(&out, USAGE, &needles, dir.path(), &keep);
    // With --format the output is written as said, whatever its extension.
    let out = doppel(&[&generate[..], &["--format", "csv"]].concat(), dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("out.xyz")).expect("out.xyz written");
    assert_eq!(written.lines().count(), 11, "a header and 10 rows: {written}");
    std::fs::remove_file(dir.path().join("out.xyz")).expect("remove");
    let out = doppel(&["train", "--input", "data.xyz", "--format", "xls"], dir.path());
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(common::stderr(&out).contains("[possible values: csv, parquet, arrow]"));
}

#[test]
fn ten_megabyte_field() {
    let mut csv = b"a,b\n1,".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 10 << 20));
    csv.extend(b"\n2,y\n");
    train_on(&csv, &["in.csv", "row 1"]);
}

#[test]
fn unwritable_output_and_corrupt_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), adult_rows(200)).expect("write input");
    let train =
        doppel(&["train", "--input", "in.csv", "--model", "m.doppel", "--epochs", "1"], dir.path());
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));

    // A path under a regular file cannot be created, even by root.
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "10", "--output", "in.csv/out.csv"],
        dir.path(),
    );
    assert_clean_failure(&out, IO, &["in.csv/out.csv"], dir.path(), &["in.csv", "m.doppel"]);

    let model = std::fs::read(dir.path().join("m.doppel")).expect("model");
    for (name, bytes) in [
        ("garbage.doppel", b"definitely not a model".to_vec()),
        ("truncated.doppel", model[..model.len() / 2].to_vec()),
    ] {
        std::fs::write(dir.path().join(name), bytes).expect("write model");
        let out = doppel(
            &["generate", "--model", name, "--rows", "10", "--output", "out.csv"],
            dir.path(),
        );
        assert_clean_failure(&out, DATA, &[name], dir.path(), &["in.csv", "m.doppel", name]);
        std::fs::remove_file(dir.path().join(name)).expect("remove");
    }
}

#[test]
fn a_device_this_build_lacks_is_a_usage_error_and_cpu_trains() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), adult_rows(100)).expect("write input");
    let train = ["train", "--input", "in.csv", "--model", "m.doppel", "--epochs", "1"];
    let out = doppel(&[&train[..], &["--device", "tpu"]].concat(), dir.path());
    assert_eq!(out.status.code(), Some(USAGE), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("auto, cpu, cuda"), "{}", common::stderr(&out));
    if !cfg!(feature = "cuda") {
        let out = doppel(&[&train[..], &["--device", "cuda"]].concat(), dir.path());
        assert_clean_failure(
            &out,
            USAGE,
            &["no CUDA support", "--features cuda"],
            dir.path(),
            &["in.csv"],
        );
    }
    let out = doppel(&[&train[..], &["--device", "cpu"]].concat(), dir.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("tokens/s, cpu)"), "{}", common::stderr(&out));
}
