//! Prints the report the browser page builds, as compact JSON, for comparing the native and
//! WebAssembly builds (tests/browser): `report_json REAL SYNTHETIC [HOLDOUT] [OPTIONS_JSON]`,
//! where OPTIONS_JSON holds `ReportOptions` fields and an empty HOLDOUT means none.

use std::process::ExitCode;

use doppel_report::report::{build_report, ReportOptions};
use doppel_report::Table;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let [real, synthetic, rest @ ..] = args.as_slice() else {
        return Err("usage: report_json REAL SYNTHETIC [HOLDOUT] [OPTIONS_JSON]".into());
    };
    let read = |path: &String| -> Result<Table, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Table::from_csv_str(&text, Some(b',')).map_err(|e| format!("{path}: {e}"))
    };
    let (real, synthetic) = (read(real)?, read(synthetic)?);
    let holdout = rest.first().filter(|p| !p.is_empty()).map(read).transpose()?;
    let options: ReportOptions = match rest.get(1) {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("options: {e}"))?,
        None => ReportOptions::default(),
    };
    // Seconds per stage on stderr, to set beside the browser's (tests/browser --adult).
    let started = std::time::Instant::now();
    let mut last = ("starting".to_string(), started);
    let mut stages = Vec::new();
    let mut progress = |stage: &str, _: f64| {
        stages.push(format!("{} {:.2}", last.0, last.1.elapsed().as_secs_f64()));
        last = (stage.to_string(), std::time::Instant::now());
    };
    let report = build_report(&real, &synthetic, holdout.as_ref(), &options, &mut progress)
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("report built in {seconds:.3} s natively: {}", stages.join(", "));
    serde_json::to_string(&report).map_err(|e| e.to_string())
}
