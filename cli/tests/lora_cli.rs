//! The LoRA model through the CLI: `train --base-model DIR` on a tiny random Llama (written by
//! the test, nothing is downloaded), `inspect` naming the base and the adapters, `generate`
//! writing records of the table's columns and domains, steered by a condition, and the
//! refusals (a rebalancing it cannot do, another base).

use std::path::Path;

mod common;
use common::{assert_refused, doppel, stderr};

/// A tiny base trained on `dir/in.csv`'s records, written to `dir/<name>`.
fn base(dir: &Path, name: &str, seed: u64) {
    let options = doppel_core::ingest::ReadOptions::default();
    let table = doppel_core::ingest::read_table(&dir.join("in.csv"), &options).expect("in.csv");
    doppel_core::llama::write_tiny_base(&dir.join(name), &table, seed).expect("a tiny base");
}

#[test]
fn train_inspect_and_generate_with_a_lora_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    common::write_input(dir);
    base(dir, "tiny", 7);
    let config = "[model.lora]\nrank = 4\nmax_record_tokens = 40\n\
                  [training]\nlearning_rate = 0.01\nbatch_size = 64\n";
    std::fs::write(dir.join("lora.toml"), config).expect("config");
    let train = [
        "train",
        "--input",
        "in.csv",
        "--model",
        "m.doppel",
        "--base-model",
        "tiny",
        "--config",
        "lora.toml",
        "--epochs",
        "2",
    ];
    let out = doppel(&train, dir);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = doppel(&["inspect", "--model", "m.doppel"], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "network   LoRA adapters of rank 4 (alpha 32, dropout 0.05) on q, k, v, o, gate, up, down",
        "base 'tiny' (2 layers, hidden 64, vocabulary ",
        "weights sha256:",
        "privacy   none",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }

    let out =
        doppel(&["generate", "--model", "m.doppel", "--rows", "30", "--output", "s.csv"], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("s.csv")).expect("s.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 31, "{csv}");
    assert_eq!(lines[0], "colour,size,count");
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 3, "{line}");
        assert!(["red", "green", "blue", ""].contains(&cells[0]), "{line}");
        assert!(["S", "M", ""].contains(&cells[1]), "{line}");
        assert!(cells[2].is_empty() || cells[2].parse::<u32>().is_ok_and(|n| n < 100), "{line}");
    }

    // Steered: every row keeps the condition.
    let steered = ["generate", "--model", "m.doppel", "--rows", "12", "--where", "colour = red"];
    let out = doppel(&[&steered[..], &["--output", "w.csv"]].concat(), dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("w.csv")).expect("w.csv");
    assert_eq!(csv.lines().count(), 13, "{csv}");
    assert!(csv.lines().skip(1).all(|line| line.starts_with("red,")), "{csv}");
    // What the LoRA model cannot do yet is refused, saying so.
    let two = ["--rebalance", "colour=red:0.5;size=S:0.5", "--output", "r.csv"];
    let out =
        doppel(&[&["generate", "--model", "m.doppel", "--rows", "5"][..], &two].concat(), dir);
    assert_refused(&out, &["LoRA model", "needs the LSTM"]);
    // Another base's weights are refused, naming the checksum.
    base(dir, "other", 8);
    let other = ["generate", "--model", "m.doppel", "--rows", "5", "--base-model", "other"];
    let out = doppel(&[&other[..], &["--output", "o.csv"]].concat(), dir);
    assert_refused(&out, &["checksum", "trained on 'tiny'"]);
    assert!(!dir.join("o.csv").exists() && !dir.join("r.csv").exists());
}
