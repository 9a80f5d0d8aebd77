//! Hostile inputs through the `doppel` binary: files that never end, a FIFO without a writer,
//! tables past the limits, a delimiter that is not given or that cannot be one. Each must fail
//! quickly with a message naming the file and the limit, flag or key, or (for the delimiter)
//! be detected and said.

#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_refused, doppel, stderr};

/// Runs doppel and kills it after `limit`; fails the test if it had to be killed.
fn doppel_within(args: &[&str], dir: &Path, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doppel"))
        .args(args)
        .current_dir(dir)
        .env("CANDLE_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn doppel");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("doppel {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn fifo_input_without_a_writer_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = Command::new("mkfifo").arg(dir.path().join("in.csv")).status().expect("mkfifo");
    assert!(made.success());
    let out = doppel_within(
        &["train", "--input", "in.csv", "--model", "m.doppel"],
        dir.path(),
        Duration::from_secs(20),
    );
    assert_refused(&out, &["in.csv", "not a regular file"]);
}

#[test]
fn directory_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("in.csv")).expect("dir");
    let out = doppel(&["train", "--input", "in.csv", "--model", "m.doppel"], dir.path());
    assert_refused(&out, &["in.csv", "not a regular file"]);
}

#[test]
fn endless_config_and_model_files_are_refused_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,2\n").expect("input");
    let out = doppel_within(
        &["train", "--input", "in.csv", "--model", "m.doppel", "--config", "/dev/zero"],
        dir.path(),
        Duration::from_secs(20),
    );
    assert_refused(&out, &["/dev/zero", "not a regular file"]);
    let out =
        doppel_within(&["inspect", "--model", "/dev/zero"], dir.path(), Duration::from_secs(20));
    assert_refused(&out, &["/dev/zero", "not a regular file"]);
}

#[test]
fn config_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,2\n").expect("input");
    let mut big = String::from("# padding\n");
    while big.len() <= 1 << 20 {
        big.push_str("# ................................................................\n");
    }
    std::fs::write(dir.path().join("c.toml"), big).expect("config");
    let out = doppel(
        &["train", "--input", "in.csv", "--model", "m.doppel", "--config", "c.toml"],
        dir.path(),
    );
    assert_refused(&out, &["c.toml", "1048576 bytes"]);
}

#[test]
fn a_hundred_thousand_columns_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let row = vec!["1"; 100_000].join(",");
    std::fs::write(dir.path().join("wide.csv"), format!("{}\n{row}\n", header.join(",")))
        .expect("input");
    let out = doppel_within(
        &["train", "--input", "wide.csv", "--model", "m.doppel"],
        dir.path(),
        Duration::from_secs(60),
    );
    assert_refused(&out, &["wide.csv", "100000", "limits.max_columns"]);
}

#[test]
fn wide_header_and_unbalanced_quote_fail_fast() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header: Vec<String> = (0..3_000).map(|i| format!("c{i}")).collect();
    let mut text = format!("{}\n\"", header.join(","));
    // 40 MB after an opening quote that never closes: one field far over max_field_bytes.
    text.push_str(&"y".repeat(40 << 20));
    std::fs::write(dir.path().join("q.csv"), text).expect("input");
    let out = doppel_within(
        &["train", "--input", "q.csv", "--model", "m.doppel"],
        dir.path(),
        Duration::from_secs(30),
    );
    assert_refused(&out, &["q.csv", "max_field_bytes", "unbalanced quote"]);
}

#[test]
fn a_tab_separated_file_is_detected_and_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("city\tsize\tnote\n");
    for i in 0..60 {
        text.push_str(&format!("{}\t{}\tx, y\n", ["Paris", "Lyon"][i % 2], i % 5));
    }
    std::fs::write(dir.path().join("in.tsv"), text).expect("input");
    let out =
        doppel(&["train", "--input", "in.tsv", "--model", "m.doppel", "--epochs", "1"], dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("delimiter") && err.contains("tab"), "{err}");
    assert!(err.contains("x 3 columns"), "{err}");
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "5", "--output", "out.tsv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let generated = std::fs::read_to_string(dir.path().join("out.tsv")).expect("output");
    assert_eq!(generated.lines().next(), Some("city\tsize\tnote"), "{generated}");
    // The report detects it too, in each file.
    let out = doppel(
        &["report", "--real", "in.tsv", "--synthetic", "out.tsv", "--json", "r.json"],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("delimiter of in.tsv: tab") && err.contains("delimiter of out.tsv: tab"),
        "{err}"
    );
    let json = std::fs::read_to_string(dir.path().join("r.json")).expect("report");
    assert!(json.contains("\"note\""), "{json:.400}");
}

#[test]
fn quote_and_line_ends_are_refused_as_delimiters() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,2\n").expect("input");
    for bad in ["\"", "\n", "\r", "\u{1}"] {
        let out = doppel(
            &["train", "--input", "in.csv", "--model", "m.doppel", "--delimiter", bad],
            dir.path(),
        );
        assert_refused(&out, &["delimiter"]);
        let out = doppel(
            &["report", "--real", "in.csv", "--synthetic", "in.csv", "--delimiter", bad],
            dir.path(),
        );
        assert_refused(&out, &["--delimiter"]);
    }
    std::fs::write(dir.path().join("c.toml"), "delimiter = \"\\\"\"\n").expect("config");
    let out = doppel(
        &["train", "--input", "in.csv", "--model", "m.doppel", "--config", "c.toml"],
        dir.path(),
    );
    assert_refused(&out, &["delimiter"]);
}

/// Arrow IPC files that make arrow-ipc panic (found by fuzzing) are refused with the file named
/// and without a panic message: the decoder's panic is caught in the library, and the CLI's
/// panic hook prints only a panic that escapes. The first of them printed "thread 'main'
/// panicked at .../arrow-ipc/..." before the error.
#[test]
fn a_file_that_panics_the_decoder_is_refused_without_a_panic_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/crashes/arrow_ingest");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crashes).expect("the reproducers are committed") {
        let path = dir.path().join("crash.arrow");
        std::fs::copy(entry.expect("entry").path(), &path).expect("copy");
        let out = doppel(&["train", "--input", "crash.arrow", "--model", "m.doppel"], dir.path());
        assert_refused(&out, &["crash.arrow", "not a readable Arrow IPC file"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        checked += 1;
    }
    assert!(checked >= 1);
}
