//! `doppel train --dp` through the binary: the guarantee in the last lines and in
//! `doppel inspect --json`, and clear errors for inconsistent privacy flags.

mod common;
use common::{doppel, write_input};

#[test]
fn dp_training_prints_and_stores_the_guarantee() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    let args = [
        "train",
        "--input",
        "in.csv",
        "--model",
        "m.doppel",
        "--epochs",
        "2",
        "--dp",
        "--epsilon",
        "4",
        "--delta",
        "1e-5",
        "--accountant",
        "rdp",
        "--max-grad-norm",
        "0.5",
    ];
    let out = doppel(&args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("differential privacy: epsilon"), "{stderr}");
    // The losses of private batches stay out of the logs.
    assert!(!stderr.contains("loss"), "{stderr}");
    assert!(stderr.contains("clip norm 0.5") && stderr.contains("unit: row (about "), "{stderr}");

    let out = doppel(&["inspect", "--model", "m.doppel", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
    let epsilon = json["epsilon"].as_f64().expect("epsilon is a number");
    assert!(epsilon > 0.0 && epsilon <= 4.0, "{epsilon}");
    assert_eq!(json["delta"].as_f64(), Some(1e-5));
    let privacy = &json["summary"]["privacy"];
    assert_eq!(privacy["accountant"], "rdp");
    assert_eq!(privacy["max_grad_norm"].as_f64(), Some(0.5));
    assert!(
        privacy["order"].as_f64().is_some() && privacy["noise_multiplier"].as_f64() > Some(0.0)
    );
    // About 600 units (a noisy count n); the batch is unset, so the DP defaults choose the
    // largest power of two at most n / 6: 64, and its learning rate 0.01 * 64 / 1024.
    let units = privacy["units"].as_u64().expect("a unit count");
    assert!(units.abs_diff(600) < 150, "{units}");
    let training = &json["config"]["training"];
    assert_eq!(training["batch_size"].as_u64(), Some(64));
    assert_eq!(training["learning_rate"].as_f64(), Some(0.000625));
    assert_eq!(privacy["steps"].as_u64(), Some(2 * units.div_ceil(64)));
    // Without --json: the same guarantee in a line, and no exact row count.
    let out = doppel(&["inspect", "--model", "m.doppel"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line =
        format!("privacy   epsilon {epsilon:.4} at delta 1.000e-5 (rdp accountant), unit: row");
    assert!(text.contains(&line), "{text}");
    assert!(text.contains(&format!("about {units} privacy units (a noisy count)")), "{text}");

    // The report shows the guarantee as the model states it.
    let generate = ["generate", "--model", "m.doppel", "--rows", "300", "--output", "s.csv"];
    assert!(doppel(&generate, dir.path()).status.success());
    let report = [
        "report",
        "--real",
        "in.csv",
        "--synthetic",
        "s.csv",
        "--model",
        "m.doppel",
        "--json",
        "r.json",
    ];
    let out = doppel(&report, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("-differentially private for one training row"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("report"))
            .expect("report JSON");
    assert_eq!(report["model"]["epsilon"].as_f64(), Some(epsilon));
    assert_eq!(report["model"]["accountant"], "rdp");

    // Parquet input reads through doppel-core's reader (nulls become missing cells).
    let generate = ["generate", "--model", "m.doppel", "--rows", "300", "--output", "s.parquet"];
    assert!(doppel(&generate, dir.path()).status.success());
    let report = ["report", "--real", "in.csv", "--synthetic", "s.parquet", "--json", "p.json"];
    let out = doppel(&report, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("p.json")).expect("report"))
            .expect("report JSON");
    assert_eq!(report["tables"]["synthetic_rows"].as_u64(), Some(300));
}

#[test]
fn inconsistent_privacy_flags_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    for (extra, needle) in [
        (vec!["--epsilon", "2"], "add `dp = true`"),
        (vec!["--dp"], "exactly one of privacy.epsilon"),
        (vec!["--dp", "--epsilon", "2", "--delta", "often"], "--delta must be a number or auto"),
        (vec!["--dp", "--epsilon", "2", "--privacy-unit", "nope"], "'nope'"),
    ] {
        let mut args = vec!["train", "--input", "in.csv", "--model", "m.doppel"];
        args.extend(extra);
        let out = doppel(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!dir.path().join("m.doppel").exists());
    }
}
