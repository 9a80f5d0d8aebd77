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
    // Only the header is needed: a one-row prefix avoids parsing a large file twice. The
    // header ends at the first newline outside quotes, so cut there.
    let end = header_end(csv);
    let table = Table::from_csv_str(&csv[..end], b',').map_err(js_error)?;
    Ok(table.names().to_vec())
}

/// The byte offset just past the header row: the first line break outside a quoted field.
fn header_end(csv: &str) -> usize {
    let mut quoted = false;
    for (i, b) in csv.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => return i + 1,
            _ => {}
        }
    }
    csv.len()
}

/// Reads one table; a parse error names the table, since the crate's CSV errors cannot.
fn read(text: &str, role: &str) -> Result<Table, JsError> {
    Table::from_csv_str(text, b',').map_err(|e| JsError::new(&format!("the {role} CSV: {e}")))
}

fn parse_options(json: &str) -> Result<ReportOptions, JsError> {
    if json.trim().is_empty() {
        return Ok(ReportOptions::default());
    }
    serde_json::from_str(json).map_err(|e| JsError::new(&format!("report options: {e}")))
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
