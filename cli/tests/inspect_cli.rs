//! `doppel inspect`: a short human summary by default, everything as JSON with `--json`.

use std::path::Path;

mod common;
use common::doppel;

/// Trains a one-epoch model on the bundled small Adult sample into `dir/m.doppel`.
fn train(dir: &Path) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/adult_small.csv");
    let data = data.to_str().expect("UTF-8 path");
    let args = ["train", "--input", data, "--model", "m.doppel", "--epochs", "1"];
    let out = doppel(&args, dir);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn inspect_prints_a_summary_and_json_only_with_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    train(dir.path());

    let out = doppel(&["inspect", "--model", "m.doppel"], dir.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "JSON by default: {text}");
    let header = format!(
        "model     m.doppel: doppel-model version {}, written by doppel ",
        doppel_core::FORMAT_VERSION
    );
    for line in [
        header.as_str(),
        "columns   6\n",
        "  age              integer\n",
        "  workclass        categorical, missing values written \"?\"\n",
        "training  1 epochs (max_epochs; best epoch 1) on ",
        "privacy   none: trained without differential privacy\n",
        "details   doppel inspect --model m.doppel --json",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }

    let out = doppel(&["inspect", "--model", "m.doppel", "--json"], dir.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["format"], "doppel-model");
    assert!(json["epsilon"].is_null(), "no DP, no epsilon: {}", json["epsilon"]);
    let columns = json.pointer("/tokenizer/schema/columns").and_then(|c| c.as_array());
    assert_eq!(columns.map(Vec::len), Some(6), "{json:#}");
}

/// Printing into a pipe its reader closed ends the process quietly by SIGPIPE, as `cat` does,
/// not with a panic (`doppel inspect --json | head -1`).
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_inspect_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/golden/model_v1.doppel");
    let mut child = Command::new(env!("CARGO_BIN_EXE_doppel"))
        .args(["inspect", "--json", "--model"])
        .arg(&model)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("doppel starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("doppel ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("internal error") && !stderr.contains("panicked"), "{stderr}");
    // Killed by SIGPIPE (13) when it wrote after the close; or done before it noticed.
    assert!(out.status.signal() == Some(13) || out.status.success(), "{:?}", out.status);
}

/// A column computed from others is listed with its relation.
#[test]
fn inspect_lists_derived_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("price,quantity,total,note\n");
    for i in 0..200u32 {
        let (price, quantity) = (f64::from(i * 37 % 1009) / 100.0, i % 9 + 1);
        let total = price * f64::from(quantity);
        csv.push_str(&format!("{price:.2},{quantity},{total:.2},n{}\n", i % 4));
    }
    std::fs::write(dir.path().join("orders.csv"), csv).expect("write the table");
    let args = ["train", "--input", "orders.csv", "--model", "m.doppel", "--epochs", "1"];
    let out = doppel(&args, dir.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = doppel(&["inspect", "--model", "m.doppel"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = "  total     float, 2 decimals, derived: = price x quantity (rounded to 2 decimals)";
    assert!(text.contains(line), "lacks {line:?}:\n{text}");
}
