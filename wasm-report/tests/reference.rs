//! doppel-report's accuracies and correlations against figures computed by established
//! packages: mostlyai-qa (accuracy), scipy and pandas (correlations), with SDMetrics'
//! CorrelationSimilarity as a cross-check of the Pearson figures.
//!
//! The reference figures are in `reference/reference.json`, written by
//! `reference/make_reference.py` (`reference/README.md` says how to install the packages;
//! the file records their versions and the date). Both sides build the same deterministic
//! "synthetic" tables from the real ones (see [`variants`]), so no random generator has to
//! agree.
//!
//! Every per-column, per-pair and mean figure must agree within `tolerance` (0.005). The
//! per-pair check runs only in optimised builds (`cargo test --release`).

use std::path::{Path, PathBuf};

use doppel_report::correlation::{correlations, Correlations};
use doppel_report::fidelity::{fidelity, FidelityOptions, FidelityReport};
use doppel_report::frame::Schema;
use doppel_report::Table;
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A dataset's name, its real table and its entry in reference.json.
type Dataset<'a> = (String, Table, &'a Value);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> Result<Value, Box<dyn std::error::Error>> {
    let path = crate_dir().join("reference/reference.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn read(path: &Path) -> Result<Table, Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Table::from_csv_reader(std::io::BufReader::new(file), Some(b','), &Default::default())?)
}

/// Column `j` moved down by `(j * step) % n` rows, wrapping around (numpy's `np.roll`):
/// `out[i][j] = rows[(i - shift) mod n][j]`.
fn rotate(
    names: &[String],
    rows: &[Vec<String>],
    step: usize,
) -> Result<Table, doppel_report::Error> {
    let n = rows.len();
    let shifts: Vec<usize> = (0..names.len()).map(|j| (j * step) % n).collect();
    let out = (0..n)
        .map(|i| {
            shifts.iter().enumerate().map(|(j, &s)| rows[(i + n - s) % n][j].clone()).collect()
        })
        .collect();
    Ok(Table::new(names.to_vec(), out)?)
}

/// The (real, synthetic) pair of a variant, as `make_reference.py`'s `variants` builds it:
/// `rotate`: all rows, and the same rows with column j rotated down by (j * 997) % n;
/// `halves`: the first n / 2 rows, and the others with column j rotated by (j * 31) % rest.
fn variants(table: &Table) -> Result<Vec<(&'static str, Table, Table)>, doppel_report::Error> {
    let (names, rows) = (table.names(), table.rows());
    let h = rows.len() / 2;
    let first = Table::new(names.to_vec(), rows[..h].to_vec())?;
    Ok(vec![
        ("rotate", table.clone(), rotate(names, rows, 997)?),
        ("halves", first, rotate(names, &rows[h..], 31)?),
    ])
}

/// The largest difference found for one metric, and every difference above the tolerance.
struct Check {
    tolerance: f64,
    largest: Vec<(String, f64)>,
    failures: Vec<String>,
}

impl Check {
    fn new(tolerance: f64) -> Check {
        Check { tolerance, largest: Vec::new(), failures: Vec::new() }
    }

    /// Records `|ours - theirs|` under `metric`; `what` names the figure in a failure.
    fn close(&mut self, metric: &str, what: &str, ours: f64, theirs: f64) {
        let d = (ours - theirs).abs();
        match self.largest.iter_mut().find(|(m, _)| m == metric) {
            Some((_, worst)) => *worst = worst.max(d),
            None => self.largest.push((metric.to_string(), d)),
        }
        if d.is_nan() || d > self.tolerance {
            self.failures.push(format!("{what}: ours {ours:.5}, reference {theirs:.5}"));
        }
    }

    /// Both undefined, or both defined and close.
    fn close_opt(&mut self, metric: &str, what: &str, ours: Option<f64>, theirs: &Value) {
        match (ours, theirs.as_f64()) {
            (Some(a), Some(b)) => self.close(metric, what, a, b),
            (None, None) => {}
            (a, _) => self.failures.push(format!("{what}: ours {a:?}, reference {theirs}")),
        }
    }

    fn finish(self, title: &str) -> TestResult {
        let summary: Vec<String> =
            self.largest.iter().map(|(m, d)| format!("  {m}: max |diff| {d:.2e}")).collect();
        println!("{title}\n{}", summary.join("\n"));
        if self.failures.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = self.failures.iter().take(40).map(String::as_str).collect();
        Err(format!(
            "{} figures differ by more than {}:\n{}",
            self.failures.len(),
            self.tolerance,
            shown.join("\n")
        )
        .into())
    }
}

/// The datasets of reference.json, read from the paths it gives (relative to the crate).
fn datasets(reference: &Value) -> Result<Vec<Dataset<'_>>, Box<dyn std::error::Error>> {
    let entries = reference["datasets"].as_object().ok_or("no datasets in reference.json")?;
    let mut out = Vec::new();
    for (name, entry) in entries {
        let path = entry["path"].as_str().ok_or("dataset without a path")?;
        out.push((name.clone(), read(&crate_dir().join(path))?, entry));
    }
    Ok(out)
}

fn options() -> FidelityOptions {
    // Triples play no part in the comparison; leave them out to save time.
    FidelityOptions { triples: 0, ..FidelityOptions::default() }
}

/// Per-column and mean accuracies against mostlyai-qa's.
fn check_accuracy(
    check: &mut Check,
    label: &str,
    real: &Table,
    synthetic: &Table,
    reference: &Value,
) -> TestResult {
    let report: FidelityReport = fidelity(real, synthetic, &options())?;
    for column in &report.columns {
        let theirs = &reference["columns"][&column.name];
        let what = format!("{label} univariate '{}'", column.name);
        check.close_opt(&format!("{label} univariate per column"), &what, column.accuracy, theirs);
    }
    let means = format!("{label} means");
    let uni = reference["univariate"].as_f64().ok_or("no univariate")?;
    check.close(&means, &format!("{label} univariate mean"), report.univariate, uni);
    let what = format!("{label} bivariate mean");
    check.close_opt(&means, &what, report.bivariate, &reference["bivariate"]);
    let pairs = reference["pairs"].as_array().ok_or("no pairs")?;
    assert_eq!(report.pairs, pairs.len(), "{label}: number of pairs");
    Ok(())
}

/// Each pair's accuracy against mostlyai-qa's.
fn check_pairs(
    check: &mut Check,
    label: &str,
    real: &Table,
    synthetic: &Table,
    reference: &Value,
) -> TestResult {
    let report = fidelity(real, synthetic, &options())?;
    let ours: std::collections::HashMap<(&str, &str), f64> = report
        .pair_accuracies
        .iter()
        .map(|p| ((p.columns[0].as_str(), p.columns[1].as_str()), p.accuracy))
        .collect();
    for pair in reference["pairs"].as_array().ok_or("no pairs")? {
        let (a, b) = (pair[0].as_str().ok_or("pair")?, pair[1].as_str().ok_or("pair")?);
        let accuracy = ours.get(&(a, b)).or_else(|| ours.get(&(b, a))).copied();
        let what = format!("{label} bivariate '{a}' x '{b}'");
        check.close_opt(&format!("{label} bivariate per pair"), &what, accuracy, &pair[2]);
    }
    Ok(())
}

/// Runs `compare` on every dataset and variant, then reports the largest differences.
fn accuracy_test(
    title: &str,
    compare: fn(&mut Check, &str, &Table, &Table, &Value) -> TestResult,
) -> TestResult {
    let reference = reference()?;
    let tolerance = reference["tolerance"].as_f64().ok_or("no tolerance")?;
    let mut check = Check::new(tolerance);
    for (name, table, entry) in datasets(&reference)? {
        for (variant, real, synthetic) in variants(&table)? {
            let expected = &entry["variants"][variant];
            assert_eq!(real.num_rows() as u64, expected["real_rows"].as_u64().ok_or("rows")?);
            let label = format!("{name}/{variant}");
            compare(&mut check, &label, &real, &synthetic, &expected["accuracy"])?;
        }
    }
    check.finish(title)
}

#[test]
fn accuracy_agrees_with_mostlyai_qa() -> TestResult {
    accuracy_test("accuracy vs mostlyai-qa", check_accuracy)
}

#[test]
fn pair_accuracy_agrees_with_mostlyai_qa() -> TestResult {
    accuracy_test("pair accuracy vs mostlyai-qa", check_pairs)
}

/// The real and synthetic matrices (off the diagonal) and their mean absolute difference.
fn check_correlations(
    check: &mut Check,
    label: &str,
    ours: &Correlations,
    reference: &Value,
) -> TestResult {
    let names: Vec<&str> =
        reference["names"].as_array().ok_or("names")?.iter().filter_map(Value::as_str).collect();
    assert_eq!(ours.names, names, "{label}: column names");
    let measures = serde_json::to_value(&ours.measures)?;
    for (side, matrix) in [("real", &ours.real), ("synthetic", &ours.synthetic)] {
        for i in 0..names.len() {
            for j in (0..names.len()).filter(|&j| j != i) {
                let measure = reference["measures"][i][j].as_str().ok_or("measure")?;
                assert_eq!(
                    measures[i][j], measure,
                    "{label}: measure of {} x {}",
                    names[i], names[j]
                );
                let what = format!("{label} {side} {measure} '{}' x '{}'", names[i], names[j]);
                let metric = format!("{label} {measure}");
                check.close_opt(&metric, &what, matrix[i][j], &reference[side][i][j]);
            }
        }
    }
    let theirs = reference["mean_abs_difference"].as_f64().ok_or("no mean difference")?;
    let what = format!("{label} mean |real - synthetic|");
    check.close(&format!("{label} mean_abs_difference"), &what, ours.mean_abs_difference, theirs);
    Ok(())
}

#[test]
fn correlations_agree_with_scipy() -> TestResult {
    let reference = reference()?;
    let tolerance = reference["tolerance"].as_f64().ok_or("no tolerance")?;
    let mut check = Check::new(tolerance);
    let missing = FidelityOptions::default().missing_tokens;
    for (name, table, entry) in datasets(&reference)? {
        for (variant, real, synthetic) in variants(&table)? {
            let mut schema = Schema::infer(&real, &missing, &[])?;
            let real_frame = schema.encode(&real, "real")?;
            let synthetic_frame = schema.encode(&synthetic, "synthetic")?;
            let ours = correlations(&schema, &real_frame, &synthetic_frame);
            let expected = &entry["variants"][variant]["correlation"];
            check_correlations(&mut check, &format!("{name}/{variant}"), &ours, expected)?;
        }
    }
    check.finish("correlations vs scipy / pandas")
}
