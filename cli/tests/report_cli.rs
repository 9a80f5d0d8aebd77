//! `doppel report` end to end: the files it writes, and a clear message (no panic, no output
//! file) for every kind of bad input the report can meet.

use std::path::Path;

mod common;
use common::doppel;

/// Rows of a small mixed table: an age, a job and an income class that depends on both.
fn rows(n: usize, offset: usize) -> String {
    let mut text = String::from("age,job,hours,income\n");
    for i in offset..offset + n {
        let age = 20 + (i * 7) % 45;
        let job = ["clerk", "nurse", "farmer", "driver"][(i * 3) % 4];
        let hours = 20 + (i * 13) % 40;
        let income = if age > 40 && job != "farmer" { ">50K" } else { "<=50K" };
        text.push_str(&format!("{age},{job},{hours},{income}\n"));
    }
    text
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).expect("write");
}

#[test]
fn writes_json_and_html_with_both_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", &rows(400, 0));
    write(dir.path(), "synthetic.csv", &rows(400, 1000));
    write(dir.path(), "holdout.csv", &rows(100, 5000));
    let args = [
        "report",
        "--real",
        "real.csv",
        "--synthetic",
        "synthetic.csv",
        "--holdout",
        "holdout.csv",
        "--target",
        "income",
        "--quasi-identifiers",
        "age,job",
        "--json",
        "r.json",
        "--html",
        "r.html",
    ];
    let out = doppel(&args, dir.path());
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("quality score") && stdout.contains("privacy score"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
            .expect("valid JSON");
    assert_eq!(json["format"], "doppel-report");
    assert_eq!(json["version"], 1);
    assert_eq!(json["tables"]["holdout_rows"], 100);
    let quality = json["scores"]["quality"]["value"].as_f64().expect("quality score");
    let privacy = json["scores"]["privacy"]["value"].as_f64().expect("privacy score");
    assert!((0.0..=100.0).contains(&quality) && (0.0..=100.0).contains(&privacy), "{json}");
    assert!(json["utility"].is_object(), "utility computed with target and holdout");
    let html = std::fs::read_to_string(dir.path().join("r.html")).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.contains("<svg"), "charts are inline SVG");
}

#[test]
fn reads_tables_with_another_delimiter() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", &rows(200, 0).replace(',', ";"));
    write(dir.path(), "synthetic.csv", &rows(200, 1000).replace(',', ";"));
    let args = ["report", "--real", "real.csv", "--synthetic", "synthetic.csv", "--json", "r.json"];
    let with = |extra: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        doppel(&all, dir.path())
    };
    let out = with(&["--delimiter", ";"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
            .expect("valid JSON");
    let columns: Vec<&str> = json["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["age", "job", "hours", "income"], "{json:.300}");
    let out = with(&["--delimiter", "é"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(USAGE), "{stderr}");
    assert!(stderr.contains("--delimiter 'é' must be a single ASCII character"), "{stderr}");
}

/// Exit code of a usage error (here: a report option naming what does not exist).
const USAGE: i32 = 2;
/// Exit code of bad input data.
const DATA: i32 = 3;
/// Exit code of a file that cannot be read.
const IO: i32 = 4;

/// Runs a report expected to fail with exit `code` and checks the message and that nothing
/// was written.
fn fails_with(code: i32, real: &str, synthetic: &str, extra: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", real);
    write(dir.path(), "synthetic.csv", synthetic);
    let mut args =
        vec!["report", "--real", "real.csv", "--synthetic", "synthetic.csv", "--json", "r.json"];
    args.extend_from_slice(extra);
    let out = doppel(&args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "message lacks {needle:?}: {stderr}");
    }
    assert!(!dir.path().join("r.json").exists(), "no report on failure");
}

#[test]
fn mismatched_columns_name_the_column() {
    let synthetic = rows(50, 0).replace("hours", "weekly_hours");
    let needles = ["'weekly_hours'", "in the synthetic table but not in the real one"];
    fails_with(DATA, &rows(50, 0), &synthetic, &[], &needles);
    let fewer: String =
        rows(50, 0).lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
    fails_with(DATA, &rows(50, 0), &fewer, &[], &["'income'", "not in the synthetic"]);
}

#[test]
fn empty_files_are_named() {
    fails_with(DATA, &rows(50, 0), "", &[], &["synthetic.csv", "empty"]);
    fails_with(DATA, "age,job,hours,income\n", &rows(50, 0), &[], &["real", "row"]);
}

#[test]
fn a_non_numeric_synthetic_value_is_invalid_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", &rows(50, 0));
    // Row 1 has age 20.
    write(dir.path(), "synthetic.csv", &rows(50, 0).replacen("\n20,", "\ntwenty,", 1));
    let args = ["report", "--real", "real.csv", "--synthetic", "synthetic.csv", "--json", "r.json"];
    let out = doppel(&args, dir.path());
    let stderr = common::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    let warning = "column 'age': 1 synthetic cell(s) (2.00%) are invalid, the first in row 1: \
                   'twenty' (not a number)";
    assert!(stderr.contains(warning), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
            .expect("valid JSON");
    let age = &json["validity"]["columns"][0];
    assert_eq!((age["name"].as_str(), age["out_of_domain"].as_u64()), (Some("age"), Some(1)));
    assert_eq!(age["validity"].as_f64(), Some(0.98), "{age}");
}

#[test]
fn a_one_row_table_is_refused() {
    let one = rows(1, 0);
    fails_with(DATA, &rows(50, 0), &one, &[], &["synthetic table has 1 row", "at least 2"]);
}

#[test]
fn an_unknown_target_lists_the_columns() {
    let needles = ["target", "no column 'salary'", "age, job, hours, income"];
    fails_with(USAGE, &rows(50, 0), &rows(50, 9), &["--target", "salary"], &needles);
}

#[test]
fn an_all_missing_column_is_left_out_with_a_warning() {
    let blank = |text: String| {
        text.lines()
            .enumerate()
            .map(|(i, l)| if i == 0 { format!("{l},note\n") } else { format!("{l},\n") })
            .collect::<String>()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", &blank(rows(60, 0)));
    write(dir.path(), "synthetic.csv", &blank(rows(60, 100)));
    let args = ["report", "--real", "real.csv", "--synthetic", "synthetic.csv"];
    let out = doppel(&args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("'note'") && stderr.contains("every real value is missing"),
        "{stderr}"
    );
}

#[test]
fn an_options_file_takes_no_array_for_an_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    // serde alone would read this as bins 10, top categories 10.
    write(dir.path(), "options.json", r#"{"fidelity": [10, 10]}"#);
    let options = dir.path().join("options.json");
    let options = options.to_str().expect("UTF-8 path");
    let needles = ["options.json: fidelity: an array is accepted only for a list"];
    fails_with(USAGE, &rows(50, 0), &rows(50, 9), &["--options", options], &needles);
    write(dir.path(), "lists.json", r#"{"quasi_identifiers": ["age", "job"]}"#);
    let args = ["report", "--real", "real.csv", "--synthetic", "synthetic.csv"];
    write(dir.path(), "real.csv", &rows(60, 0));
    write(dir.path(), "synthetic.csv", &rows(60, 100));
    let out = doppel(&[&args[..], &["--options", "lists.json"]].concat(), dir.path());
    assert!(out.status.success(), "a list takes an array: {}", common::stderr(&out));
}

#[test]
fn options_are_read_inline_or_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real.csv", &rows(60, 0));
    // Every synthetic job written as the placeholder "N/A!", which the options name.
    let synthetic: String = rows(60, 100)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<&str> = l.split(',').collect();
            if i > 0 {
                cells[1] = "N/A!";
            }
            cells.join(",") + "\n"
        })
        .collect();
    write(dir.path(), "synthetic.csv", &synthetic);
    let inline = r#"  {"placeholders": ["N/A!"], "seed": 3}"#;
    write(dir.path(), "options.json", inline);
    for options in [inline, "options.json"] {
        let args = [
            "report",
            "--real",
            "real.csv",
            "--synthetic",
            "synthetic.csv",
            "--json",
            "r.json",
            "--options",
            options,
        ];
        let out = doppel(&args, dir.path());
        assert!(out.status.success(), "{options}: {}", common::stderr(&out));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
                .expect("valid JSON");
        assert_eq!(json["options"]["seed"], 3, "{options}");
        let job = &json["validity"]["columns"][1];
        assert_eq!((job["name"].as_str(), job["placeholders"].as_u64()), (Some("job"), Some(60)));
    }
    // A wrong value names the key, inline as from a file.
    let needles = ["--options: max_distance_rows: invalid type"];
    let bad = r#"{"max_distance_rows": "many"}"#;
    fails_with(USAGE, &rows(50, 0), &rows(50, 9), &["--options", bad], &needles);
    // Anything else is a path: a file that is not there is an I/O error naming it.
    let needles = ["missing.json", "No such file"];
    fails_with(IO, &rows(50, 0), &rows(50, 9), &["--options", "missing.json"], &needles);
}

/// A model's identifier columns are regenerated, not learned: `doppel run` (and `report
/// --model`) leave them out of the metrics, so a run of ids past the source's cannot make the
/// synthetic rows look unlike the real ones.
#[test]
fn identifier_columns_of_the_model_are_left_out_of_the_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("id,age,job,hours,income\n");
    for (i, line) in rows(400, 0).lines().skip(1).enumerate() {
        text.push_str(&format!("{},{line}\n", 1000 + i));
    }
    write(dir.path(), "in.csv", &text);
    let args = [
        "run", "--input", "in.csv", "--model", "m.doppel", "--output", "s.csv", "--json", "r.json",
        "--html", "r.html", "--config", "c.toml",
    ];
    write(dir.path(), "c.toml", "[training]\nmax_epochs = 2\n");
    let out = doppel(&args, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("note: column 'id' is an identifier the model regenerates"), "{err}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
            .expect("the report is JSON");
    let skipped = json["skipped"].as_array().expect("skipped columns");
    assert!(skipped.iter().any(|s| s["name"] == "id"), "{skipped:?}");
    assert_eq!(json["tables"]["compared_columns"], 4, "{}", json["tables"]);
}

#[test]
fn the_page_shows_how_the_rows_were_steered() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.csv", &rows(400, 0));
    write(dir.path(), "c.toml", "constraints = [\"hours <= 55\"]\n[training]\nmax_epochs = 2\n");
    let train = ["train", "--input", "in.csv", "--model", "m.doppel", "--config", "c.toml"];
    let out = doppel(&train, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generate = [
        "generate",
        "--model",
        "m.doppel",
        "--rows",
        "300",
        "--output",
        "s.csv",
        "--where",
        "age >= 40",
    ];
    assert!(doppel(&generate, dir.path()).status.success());
    let report = [
        "report",
        "--real",
        "in.csv",
        "--synthetic",
        "s.csv",
        "--model",
        "m.doppel",
        "--where",
        "age >= 40",
        "--json",
        "r.json",
        "--html",
        "r.html",
    ];
    let out = doppel(&report, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("r.html")).expect("html");
    let line = html.lines().find(|l| l.contains("id=\"model-steering\"")).unwrap_or_default();
    assert!(
        line.contains("age &gt;= 40")
            && line.contains("hours &lt;= 55")
            && line.contains("by design"),
        "{line}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("json"))
            .expect("the report is JSON");
    assert_eq!(json["options"]["steering"]["where"], "age >= 40");
    assert_eq!(json["options"]["steering"]["constraints"][0], "hours <= 55");
    // Without steering and without constraints the page says nothing of it.
    let plain = ["report", "--real", "in.csv", "--synthetic", "s.csv", "--html", "p.html"];
    assert!(doppel(&plain, dir.path()).status.success());
    let page = std::fs::read_to_string(dir.path().join("p.html")).expect("html");
    assert!(!page.contains("id=\"model-steering\""));
}
