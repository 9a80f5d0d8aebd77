//! Outputs never destroy inputs or special files, and a killed run leaves no temporary file:
//! an output that is one of the run's inputs (also through a hard or symbolic link) is refused,
//! a character device or FIFO is written through, a symlink's target is replaced (the link
//! stays), and SIGTERM/SIGINT/SIGHUP or a later run remove `.name.tmp-PID-N` files.

#![cfg(unix)]

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_refused, doppel, stderr};

/// A small two-column training table.
fn small_csv() -> String {
    let mut text = String::from("city,size\n");
    for i in 0..120 {
        let city = ["Paris", "Lyon", "Nice"][i % 3];
        text.push_str(&format!("{city},{}\n", i % 7));
    }
    text
}

/// A directory holding `in.csv` and a model `m.doppel` trained on it for one epoch.
fn trained() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.csv"), small_csv()).expect("write input");
    let out = doppel(
        &["train", "--input", "in.csv", "--model", "m.doppel", "--epochs", "1", "--seed", "1"],
        dir.path(),
    );
    assert!(out.status.success(), "training failed: {}", stderr(&out));
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in `dir` that look like doppel's temporary files.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn train_model_over_its_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.csv");
    std::fs::write(&input, small_csv()).expect("write input");
    let out =
        doppel(&["train", "--input", "in.csv", "--model", "in.csv", "--epochs", "1"], dir.path());
    assert_refused(&out, &["in.csv", "is the same file as"]);
    assert_eq!(read(&input), small_csv().as_bytes(), "the training data was overwritten");
}

#[test]
fn outputs_through_hard_and_symbolic_links_to_an_input_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.csv");
    std::fs::write(&input, small_csv()).expect("write input");
    std::fs::hard_link(&input, dir.path().join("hard.csv")).expect("hard link");
    std::os::unix::fs::symlink("in.csv", dir.path().join("soft.csv")).expect("symlink");
    for model in ["hard.csv", "soft.csv", "./in.csv"] {
        let out =
            doppel(&["train", "--input", "in.csv", "--model", model, "--epochs", "1"], dir.path());
        assert_refused(&out, &[model, "in.csv", "is the same file as"]);
        assert_eq!(read(&input), small_csv().as_bytes(), "{model} overwrote the input");
    }
    // The configuration is an input too.
    std::fs::write(dir.path().join("c.toml"), "[training]\nmax_epochs = 1\n").expect("config");
    let out = doppel(
        &["train", "--input", "in.csv", "--config", "c.toml", "--model", "c.toml"],
        dir.path(),
    );
    assert_refused(&out, &["c.toml", "is the same file as"]);
}

#[test]
fn generate_over_its_model_is_refused() {
    let dir = trained();
    let model = dir.path().join("m.doppel");
    let before = read(&model);
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "5", "--output", "m.doppel"],
        dir.path(),
    );
    assert_refused(&out, &["m.doppel", "is the same file as"]);
    assert_eq!(read(&model), before, "the model was overwritten");
}

#[test]
fn run_and_report_outputs_over_inputs_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.csv");
    std::fs::write(&input, small_csv()).expect("write input");
    let out = doppel(
        &["run", "--input", "in.csv", "--output", "in.csv", "--model", "m.doppel"],
        dir.path(),
    );
    assert_refused(&out, &["in.csv", "is the same file as"]);
    assert_eq!(read(&input), small_csv().as_bytes());

    std::fs::write(dir.path().join("syn.csv"), small_csv()).expect("write synthetic");
    for flag in ["--json", "--html"] {
        let out = doppel(
            &["report", "--real", "in.csv", "--synthetic", "syn.csv", flag, "in.csv"],
            dir.path(),
        );
        assert_refused(&out, &["in.csv", "is the same file as"]);
        assert_eq!(read(&input), small_csv().as_bytes(), "{flag} overwrote the real table");
    }
}

#[test]
fn dev_null_output_stays_a_character_device() {
    let dir = trained();
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "20", "--output", "/dev/null"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let kind = std::fs::symlink_metadata("/dev/null").expect("/dev/null").file_type();
    assert!(kind.is_char_device(), "/dev/null is no longer a character device");
    assert!(temp_files(Path::new("/dev")).is_empty(), "temporary file left in /dev");
}

#[test]
fn stdout_dash_writes_the_rows_to_standard_output() {
    let dir = trained();
    let out =
        doppel(&["generate", "--model", "m.doppel", "--rows", "7", "--output", "-"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().next(), Some("city,size"), "{text}");
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(!dir.path().join("-").exists(), "a file called '-' was written");
}

#[test]
fn fifo_output_is_written_through() {
    let dir = trained();
    let fifo = dir.path().join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).expect("read the fifo"))
    };
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "9", "--output", "pipe.csv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = reader.join().expect("reader thread");
    assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 10);
    let kind = std::fs::symlink_metadata(&fifo).expect("fifo").file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by a file");
    assert!(temp_files(dir.path()).is_empty(), "{:?}", temp_files(dir.path()));
}

#[test]
fn symlinked_output_replaces_the_target_and_the_link_stays() {
    let dir = trained();
    let target_dir = dir.path().join("real");
    std::fs::create_dir(&target_dir).expect("dir");
    let target = target_dir.join("out.csv");
    std::fs::write(&target, "old\n").expect("old output");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "6", "--output", "link.csv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
    let text = String::from_utf8_lossy(&read(&target)).into_owned();
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(temp_files(dir.path()).is_empty() && temp_files(&target_dir).is_empty());
}

#[test]
fn directory_output_is_refused() {
    let dir = trained();
    std::fs::create_dir(dir.path().join("out")).expect("dir");
    let out =
        doppel(&["generate", "--model", "m.doppel", "--rows", "5", "--output", "out"], dir.path());
    assert_refused(&out, &["out", "directory"]);
    assert!(dir.path().join("out").is_dir());
}

/// Starts `doppel generate` of many rows into `big.csv` and waits for its temporary file.
// The caller waits for the child; clippy cannot see that through the return.
#[allow(clippy::zombie_processes)]
fn start_long_generate(dir: &Path) -> (std::process::Child, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doppel"))
        .args(["generate", "--model", "m.doppel", "--rows", "50000000", "--output", "big.csv"])
        .current_dir(dir)
        .env("CANDLE_NUM_THREADS", "1")
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn doppel");
    let started = Instant::now();
    loop {
        if let Some(name) = temp_files(dir).first() {
            // Let it write a little into the file.
            std::thread::sleep(Duration::from_millis(300));
            return (child, dir.join(name));
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no temporary file appeared");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-s", name, &pid]).status().expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigterm_sigint_and_sighup_remove_the_temporary_file() {
    let dir = trained();
    for (name, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let (mut child, temp) = start_long_generate(dir.path());
        assert!(temp.exists());
        signal(&child, name);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(code), "SIG{name}");
        assert!(temp_files(dir.path()).is_empty(), "SIG{name} left {:?}", temp_files(dir.path()));
        assert!(!dir.path().join("big.csv").exists(), "SIG{name} left a partial output");
    }
}

#[test]
fn a_stale_temporary_file_is_removed_by_the_next_run() {
    let dir = trained();
    let (mut child, temp) = start_long_generate(dir.path());
    signal(&child, "KILL");
    child.wait().expect("wait");
    assert!(temp.exists(), "kill -9 cannot clean up, so the temporary file stays");
    // A temporary file of another destination, and one of a live process, are left alone.
    let other = dir.path().join(format!(".other.csv.tmp-{}-0", child.id()));
    std::fs::write(&other, "x").expect("other temp");
    let live = dir.path().join(format!(".big.csv.tmp-{}-0", std::process::id()));
    std::fs::write(&live, "x").expect("live temp");
    let out = doppel(
        &["generate", "--model", "m.doppel", "--rows", "5", "--output", "big.csv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!temp.exists(), "the stale temporary file of the killed run is still there");
    assert!(other.exists() && live.exists());
}
