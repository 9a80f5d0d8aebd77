//! `doppel privacy`: one JSON line that matches the library, and usage errors (exit code 2)
//! with a message naming the bad argument.

use std::path::Path;
use std::process::Output;

mod common;

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
