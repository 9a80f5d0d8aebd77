//! `doppel privacy`: one JSON line that matches the library, and usage errors (exit code 2)
//! with a message naming the bad argument.

use std::path::Path;
use std::process::Output;

mod common;
use common::write_input;

use doppel_core::accountant::{calibrate_noise, epsilon, AccountantKind, GaussianEvent};
use serde_json::Value;

/// Runs `doppel privacy args...`.
fn doppel(args: &[&str]) -> Output {
    let args: Vec<&str> = std::iter::once("privacy").chain(args.iter().copied()).collect();
    common::doppel(&args, Path::new("."))
}

fn json_line(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}; stderr: {stderr}", out.status.code());
    assert_eq!(stdout.lines().count(), 1, "one line expected: {stdout}");
    serde_json::from_str(stdout.trim()).expect("stdout is JSON")
}

fn usage_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.contains(needle), "message lacks {needle:?}: {stderr}");
}

#[test]
fn epsilon_matches_the_library() {
    let event = GaussianEvent { sampling_rate: 0.01, noise_multiplier: 1.1, steps: 2000 };
    let args =
        ["epsilon", "--sampling-rate", "0.01", "--noise-multiplier", "1.1", "--steps", "2000"];
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        let out =
            doppel(&[&args[..], &["--delta", "1e-5", "--accountant", kind.as_str()]].concat());
        let v = json_line(&out);
        let lib = epsilon(kind, &[event], 1e-5).expect("library epsilon");
        assert_eq!(v["epsilon"].as_f64(), Some(lib.epsilon), "{v}");
        assert_eq!(v["delta"].as_f64(), Some(1e-5), "{v}");
        assert_eq!(v["accountant"].as_str(), Some(kind.as_str()), "{v}");
        assert_eq!(v["order"].as_f64(), lib.order, "{v}");
        assert_eq!(v["error_bound"].as_f64(), lib.error_bound, "{v}");
        match kind {
            AccountantKind::Rdp => assert!(v["error_bound"].is_null() && v["order"].is_f64()),
            AccountantKind::Prv => assert!(v["order"].is_null() && v["error_bound"].is_f64()),
        }
    }
    // PRV is the default.
    let v = json_line(&doppel(&[&args[..], &["--delta", "1e-5"]].concat()));
    assert_eq!(v["accountant"].as_str(), Some("prv"));
}

#[test]
fn noise_matches_the_library_and_meets_the_budget() {
    for kind in [AccountantKind::Rdp, AccountantKind::Prv] {
        let out = doppel(&[
            "noise",
            "--epsilon",
            "2",
            "--delta",
            "1e-5",
            "--sampling-rate",
            "0.02",
            "--steps",
            "500",
            "--accountant",
            kind.as_str(),
        ]);
        let v = json_line(&out);
        let sigma = calibrate_noise(kind, 2.0, 1e-5, 0.02, 500, &[]).expect("calibration");
        assert_eq!(v["noise_multiplier"].as_f64(), Some(sigma), "{v}");
        let achieved = v["epsilon"].as_f64().expect("epsilon");
        assert!(achieved <= 2.0 && achieved > 1.99, "{v}");
        assert_eq!(v["accountant"].as_str(), Some(kind.as_str()));
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    let base = ["--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5"];
    let out = doppel(&[&["epsilon", "--sampling-rate", "1.5"][..], &base].concat());
    usage_error(&out, "sampling_rate must be in (0, 1], got 1.5");
    let out = doppel(&[
        "epsilon",
        "--sampling-rate",
        "0.1",
        "--noise-multiplier",
        "1",
        "--steps",
        "10",
        "--delta",
        "2",
    ]);
    usage_error(&out, "delta must be in (0, 1), got 2");
    let out = doppel(
        &[&["epsilon", "--sampling-rate", "0.1", "--accountant", "moments"][..], &base].concat(),
    );
    usage_error(&out, "moments");
    let out = doppel(&[
        "noise",
        "--epsilon",
        "1e-9",
        "--delta",
        "1e-5",
        "--sampling-rate",
        "1",
        "--steps",
        "1000000",
        "--accountant",
        "rdp",
    ]);
    usage_error(&out, "cannot be reached");
}

// ---------------------------------------------------------------------------------------------
// No noise, no guarantee (issue 12, point 1).

/// `doppel privacy epsilon` with these flags (delta 1e-5).
fn epsilon_of(q: &str, sigma: &str, steps: &str, accountant: &str) -> Output {
    doppel(&[
        "epsilon",
        "--sampling-rate",
        q,
        "--noise-multiplier",
        sigma,
        "--steps",
        steps,
        "--delta",
        "1e-5",
        "--accountant",
        accountant,
    ])
}

#[test]
fn vanishing_noise_prints_an_infinite_epsilon_and_says_why() {
    for (q, accountant) in [("0.5", "rdp"), ("1", "rdp"), ("1", "prv")] {
        let out = epsilon_of(q, "1e-200", "1000", accountant);
        let v = json_line(&out);
        assert_eq!(v["epsilon"], "inf", "q={q} {accountant}: {v}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no differential-privacy guarantee"), "{stderr}");
        assert!(stderr.contains("noise multiplier 1e-200 is too small"), "{stderr}");
    }
    // A finite epsilon says nothing on stderr.
    let out = epsilon_of("0.01", "1.1", "100", "rdp");
    assert!(json_line(&out)["epsilon"].is_f64());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// 600 rows of three columns with a repeating pattern, as `in.csv` in `dir`.
/// `doppel train` on `in.csv` in `dir` for one epoch, with `extra` flags.
fn train(dir: &Path, model: &str, extra: &[&str]) -> Output {
    let args = ["train", "--input", "in.csv", "--model", model, "--epochs", "1", "--seed", "1"];
    common::doppel(&[&args[..], extra].concat(), dir)
}

#[test]
fn training_without_noise_is_refused_before_the_first_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    for accountant in ["rdp", "prv"] {
        let flags = ["--dp", "--noise-multiplier", "1e-300", "--accountant", accountant];
        let out = train(dir.path(), "m.doppel", &flags);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{accountant}: trained: {stderr}");
        assert!(stderr.contains("no finite epsilon"), "{accountant}: {stderr}");
        assert!(stderr.contains("raise privacy.noise_multiplier"), "{accountant}: {stderr}");
        assert!(!stderr.contains("epoch 1"), "{accountant}: a step was taken: {stderr}");
        assert!(!dir.path().join("m.doppel").exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Statements are checked where they are read (issue 12, point 6).

/// Rewrites the doppel metadata (JSON) inside a safetensors model file.
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut Value)) {
    let bytes = std::fs::read(path).expect("read model");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header JSON");
    let text = header["__metadata__"]["doppel"].as_str().expect("doppel metadata").to_string();
    let mut metadata: Value = serde_json::from_str(&text).expect("metadata JSON");
    edit(&mut metadata);
    header["__metadata__"]["doppel"] = Value::String(metadata.to_string());
    let mut new_header = serde_json::to_vec(&header).expect("header");
    while new_header.len() % 8 != 0 {
        new_header.push(b' ');
    }
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&new_header);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).expect("write model");
}

fn metadata(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("read model");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header JSON");
    serde_json::from_str(header["__metadata__"]["doppel"].as_str().expect("doppel")).expect("json")
}

/// `inspect` and `report --model` refuse `model` as an invalid model whose privacy statement
/// does not match its ledger.
fn refused_as_forged(dir: &Path, model: &str) {
    let out = common::doppel(&["inspect", "--model", model, "--json"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "inspect accepted {model}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("not a usable doppel model"), "{stderr}");
    assert!(stderr.contains("privacy statement does not match"), "{stderr}");
    let report = ["report", "--real", "in.csv", "--synthetic", "in.csv", "--model", model];
    let out = common::doppel(&report, dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "report accepted {model}");
    assert!(stderr.contains("privacy statement does not match"), "{stderr}");
}

#[test]
fn forged_privacy_statements_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    let dp = ["--dp", "--epsilon", "4", "--delta", "1e-5", "--accountant", "rdp"];
    let out = train(dir.path(), "dp.doppel", &dp);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = train(dir.path(), "plain.doppel", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Both load as they are.
    for model in ["dp.doppel", "plain.doppel"] {
        let out = common::doppel(&["inspect", "--model", model, "--json"], dir.path());
        assert!(out.status.success(), "{model}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let block = metadata(&dir.path().join("dp.doppel"))["summary"]["privacy"].clone();
    assert!(block.is_object(), "{block}");

    // A model trained without DP, with a privacy block pasted in.
    std::fs::copy(dir.path().join("plain.doppel"), dir.path().join("pasted.doppel")).expect("copy");
    edit_metadata(&dir.path().join("pasted.doppel"), |m| m["summary"]["privacy"] = block.clone());
    refused_as_forged(dir.path(), "pasted.doppel");

    // A DP model whose epsilon was edited down.
    std::fs::copy(dir.path().join("dp.doppel"), dir.path().join("edited.doppel")).expect("copy");
    edit_metadata(&dir.path().join("edited.doppel"), |m| {
        let e = m["summary"]["privacy"]["epsilon"].as_f64().expect("epsilon");
        m["summary"]["privacy"]["epsilon"] = (e / 2.0).into();
    });
    refused_as_forged(dir.path(), "edited.doppel");

    // A DP model with its privacy block removed still claims DP in its configuration.
    std::fs::copy(dir.path().join("dp.doppel"), dir.path().join("removed.doppel")).expect("copy");
    edit_metadata(&dir.path().join("removed.doppel"), |m| m["summary"]["privacy"] = Value::Null);
    refused_as_forged(dir.path(), "removed.doppel");
}

#[test]
fn report_refuses_an_impossible_stated_guarantee() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    for (model, needle) in [
        (r#"{"epsilon": -1, "delta": 5}"#, "epsilon"),
        (r#"{"epsilon": 1, "delta": 5}"#, "delta"),
        (r#"{"epsilon": "nan", "delta": 1e-5}"#, "epsilon"),
    ] {
        let options = format!(r#"{{"model": {model}}}"#);
        std::fs::write(dir.path().join("options.json"), options).expect("write options");
        let args =
            ["report", "--real", "in.csv", "--synthetic", "in.csv", "--options", "options.json"];
        let out = common::doppel(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{model} accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(stderr.contains("options.json") && stderr.contains(needle), "{model}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // "inf" is read as no guarantee and shown as such.
    let options = r#"{"model": {"epsilon": "inf", "delta": 1e-5, "accountant": "rdp"}}"#;
    std::fs::write(dir.path().join("options.json"), options).expect("write options");
    let args = ["report", "--real", "in.csv", "--synthetic", "in.csv", "--options", "options.json"];
    let out = common::doppel(&args, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("no differential-privacy guarantee"), "{stdout}");
}
