//! The browser facade: one `#[wasm_bindgen]` entry point over the pure crate, so that a page
//! can build the report from files the user picks without the data leaving the machine.
//!
//! Everything crosses the boundary as text: CSV in, options as JSON, the report out as JSON and
//! as a self-contained HTML document. Errors become a `JsError` whose message is the crate
//! error's (the cell, row and column to fix). The page runs this in a Web Worker (see
//! `www/worker.js`), which turns a panic (a wasm trap) into a failure message instead of a
//! hang; [`start`] installs the hook that hands it the panic's text.

use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::html::render_html;
use crate::report::{build_report, ReportOptions};
use crate::Table;
use doppel_table::accountant::{self, AccountantKind, GaussianEvent};
use doppel_table::{read_header, ReadLimits};

/// The report in both forms the page shows and offers for download.
#[wasm_bindgen(getter_with_clone)]
pub struct ReportOutput {
    /// The report as JSON, identical to the native CLI's `--json` output.
    pub json: String,
    /// The report as a complete HTML document (inline CSS and SVG, no scripts).
    pub html: String,
}

/// Installs the panic hook when the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| report_panic(&info.to_string())));
}

/// Hands a panic's message to JavaScript before the trap: to `console.error`, and to
/// `globalThis.onDoppelPanic(message)` when the host defines it (the worker does, so that it
/// can tell the page what went wrong; a trap alone only says "unreachable").
fn report_panic(message: &str) {
    let text = JsValue::from_str(&format!("doppel-report panicked: {message}"));
    let global = js_sys::global();
    if let Ok(console) = js_sys::Reflect::get(&global, &"console".into()) {
        if let Ok(error) = js_sys::Reflect::get(&console, &"error".into()) {
            if let Some(error) = error.dyn_ref::<js_sys::Function>() {
                let _ = error.call1(&console, &text);
            }
        }
    }
    if let Ok(hook) = js_sys::Reflect::get(&global, &"onDoppelPanic".into()) {
        if let Some(hook) = hook.dyn_ref::<js_sys::Function>() {
            let _ = hook.call1(&JsValue::NULL, &text);
        }
    }
}

/// Builds the report from CSV text (comma-separated, with a header row).
///
/// `real_csv` is the training table, `synthetic_csv` the table to judge, `holdout_csv` real
/// rows kept out of training (optional). `options_json` is a JSON object of [`ReportOptions`]
/// fields (missing fields take their defaults, unknown ones are an error; an empty string
/// means all defaults). `progress` is called as `progress(stage, fraction)` with a label and
/// a number in `0..=1`.
#[wasm_bindgen]
pub fn report(
    real_csv: &str,
    synthetic_csv: &str,
    holdout_csv: Option<String>,
    options_json: &str,
    progress: &js_sys::Function,
) -> Result<ReportOutput, JsError> {
    let mut tell = |stage: &str, fraction: f64| {
        // A failing progress callback must not abort the report; it only loses a bar update.
        let _ = progress.call2(&JsValue::NULL, &stage.into(), &fraction.into());
    };
    let options = parse_options(options_json)?;
    tell("reading the real table", 0.0);
    let real = read(real_csv, "real")?;
    tell("reading the synthetic table", 0.0);
    let synthetic = read(synthetic_csv, "synthetic")?;
    let holdout = match holdout_csv.as_deref() {
        Some(text) if !text.trim().is_empty() => {
            tell("reading the holdout table", 0.0);
            Some(read(text, "holdout")?)
        }
        _ => None,
    };
    build(&real, &synthetic, holdout.as_ref(), &options, &mut tell)
}

/// The column names in the header of `csv`, for filling the page's column pickers.
#[wasm_bindgen(js_name = columnNames)]
pub fn column_names(csv: &str) -> Result<Vec<String>, JsError> {
    // Only the header is read: the reader stops after it.
    let limits = ReadLimits::default();
    read_header(csv.as_bytes(), Some(b','), &limits).map_err(|e| js_error(e.into()))
}

/// Reads one table; a parse error names the table, since the crate's CSV errors cannot.
fn read(text: &str, role: &str) -> Result<Table, JsError> {
    Table::from_csv_str(text, Some(b',')).map_err(|e| JsError::new(&format!("the {role} CSV: {e}")))
}

fn parse_options(json: &str) -> Result<ReportOptions, JsError> {
    if json.trim().is_empty() {
        return Ok(ReportOptions::default());
    }
    // As the CLI and the C ABI read them: an error names the key, and an array is refused
    // where a section or a value object belongs.
    doppel_table::json::from_json_object(json)
        .map_err(|e| JsError::new(&format!("report options: {e}")))
}

/// The report, serialised exactly as the CLI's `--json` (which pretty-prints the same value).
fn build(
    real: &Table,
    synthetic: &Table,
    holdout: Option<&Table>,
    options: &ReportOptions,
    tell: &mut dyn FnMut(&str, f64),
) -> Result<ReportOutput, JsError> {
    let report = build_report(real, synthetic, holdout, options, tell).map_err(js_error)?;
    let json = serde_json::to_string(&report).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(ReportOutput { json, html: render_html(&report) })
}

fn js_error(error: Error) -> JsError {
    JsError::new(&error.to_string())
}

/// The privacy calculator: the epsilon spent by `steps` steps of the Poisson-subsampled
/// Gaussian mechanism, as JSON: the same object as `doppel privacy epsilon` prints
/// (`epsilon`, `"inf"` when there is no finite bound; `delta`, `accountant`, `order`,
/// `error_bound`). `accountant` is `prv` or `rdp`; `steps` a whole number (JavaScript has no
/// integers). An argument out of range is an error naming it.
#[wasm_bindgen(js_name = privacyEpsilon)]
pub fn privacy_epsilon(
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: f64,
    delta: f64,
    accountant: &str,
) -> Result<String, JsError> {
    let kind = accountant_kind(accountant)?;
    let event = GaussianEvent { sampling_rate, noise_multiplier, steps: whole_steps(steps)? };
    let spent =
        accountant::epsilon(kind, &[event], delta).map_err(|e| JsError::new(&e.to_string()))?;
    serde_json::to_string(&spent).map_err(|e| JsError::new(&e.to_string()))
}

/// The privacy calculator: the smallest noise multiplier for which `steps` steps at
/// `sampling_rate` spend at most `epsilon` at `delta`, as JSON: the same object as `doppel
/// privacy noise` prints (`noise_multiplier`, `epsilon` spent, `accountant`).
#[wasm_bindgen(js_name = privacyNoise)]
pub fn privacy_noise(
    epsilon: f64,
    delta: f64,
    sampling_rate: f64,
    steps: f64,
    accountant: &str,
) -> Result<String, JsError> {
    let kind = accountant_kind(accountant)?;
    let steps = whole_steps(steps)?;
    let calibration = accountant::noise_for(kind, epsilon, delta, sampling_rate, steps)
        .map_err(|e| JsError::new(&e.to_string()))?;
    serde_json::to_string(&calibration).map_err(|e| JsError::new(&e.to_string()))
}

fn accountant_kind(name: &str) -> Result<AccountantKind, JsError> {
    name.parse().map_err(|e: doppel_table::Error| JsError::new(&e.to_string()))
}

/// `steps` as a count: a whole number from 0 to 2^53 (the integers a JavaScript number holds
/// exactly); the accountant refuses 0 itself.
fn whole_steps(steps: f64) -> Result<u64, JsError> {
    if steps.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&steps) {
        Ok(steps as u64)
    } else {
        Err(JsError::new(&format!("steps must be a whole number from 1 to 2^53, got {steps}")))
    }
}
