//! Progress of `doppel train` when standard error is not a terminal (a pipe here, as in CI or
//! a service): plain lines with the time left, no ANSI escape codes and no carriage returns;
//! and the warning when training stops at max_epochs while the validation loss still falls.

mod common;
use common::{doppel, stderr, write_input};

#[test]
fn training_into_a_pipe_prints_plain_progress_lines_with_an_eta() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    let args = ["train", "--input", "in.csv", "--model", "m.doppel", "--epochs", "3"];
    let out = doppel(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\r'), "terminal codes in {err:?}");
    // One line at the end of each epoch at least (540 training rows: 3 steps of 256).
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("epoch ")).collect();
    for epoch in 1..=3 {
        let end = format!("epoch {epoch}/3, step 3/3 (100%), train loss ");
        let line = lines.iter().find(|l| l.starts_with(&end));
        let line = line.unwrap_or_else(|| panic!("no line for the end of epoch {epoch}: {err}"));
        assert!(line.contains(", val loss ") && line.contains(" tokens/s, elapsed "), "{line}");
        assert!(line.contains(", ETA "), "{line}");
    }
    assert!(lines.last().is_some_and(|l| l.ends_with(", ETA 0s")), "{lines:?}");
}

#[test]
fn stopping_at_max_epochs_while_the_loss_falls_is_a_warning_and_in_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    let args = ["train", "--input", "in.csv", "--model", "m.doppel", "--epochs", "2"];
    let out = doppel(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let warning = "warning: training stopped at max_epochs = 2 while the validation loss was \
                   still falling (";
    assert!(err.contains(warning), "{err}");
    assert!(err.contains("over the last epoch); raise training.max_epochs (--epochs)"), "{err}");

    let out = doppel(&["inspect", "--model", "m.doppel"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = "training  2 epochs (max_epochs, validation loss still falling; best epoch 2) on ";
    assert!(text.contains(line), "{text}");
    let out = doppel(&["inspect", "--model", "m.doppel", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
    assert_eq!(json["summary"]["stop_reason"], "max_epochs");
    assert_eq!(json["summary"]["still_improving"], true);
}

#[test]
fn a_time_budget_that_cannot_hold_the_plan_shortens_it_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    std::fs::write(
        dir.path().join("budget.toml"),
        "[training]\nmax_epochs = 100000\nvalidation_split = 0.0\nmax_training_seconds = 1\n",
    )
    .expect("config");
    let args = ["train", "--input", "in.csv", "--model", "m.doppel", "--config", "budget.toml"];
    let out = doppel(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("the time budget of 1s (training.max_training_seconds) fits ")
            && err.contains(" of the 100000 planned epochs at this pace"),
        "{err}"
    );
    let out = doppel(&["inspect", "--model", "m.doppel", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
    assert_eq!(json["summary"]["time_bound"], true);
    assert_eq!(json["summary"]["planned_epochs"], 100000);
    assert!(json["summary"]["epochs"].as_u64().is_some_and(|e| e < 100000), "{json}");
}
