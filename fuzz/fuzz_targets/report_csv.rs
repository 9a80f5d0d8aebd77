//! The report's CSV path (doppel-table's reader, shared with the engine) as the browser page
//! runs it (`Table::from_csv_str` with `,`) and for other bytes with the delimiter detected
//! (`Table::from_csv_reader`),
//! then `build_report` with real = synthetic = that table and default options when the table
//! is small (at most 200 rows and 20 columns, to keep executions fast).
#![no_main]

use doppel_report::{build_report, ReportOptions, Table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let table = match std::str::from_utf8(data) {
        Ok(text) => Table::from_csv_str(text, Some(b',')),
        Err(_) => Table::from_csv_reader(data, None, &Default::default()),
    };
    let Ok(table) = table else {
        return;
    };
    if table.num_rows() > 200 || table.names().len() > 20 {
        return;
    }
    let _ = build_report(&table, &table, None, &ReportOptions::default(), &mut |_, _| {});
});
