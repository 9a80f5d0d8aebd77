//! The C ABI's inputs within their limits, called as a host would: a FIFO path fails at once
//! instead of blocking the host's thread, and an Arrow C stream is held to the
//! configuration's limits batch by batch.

use std::ffi::{CStr, CString};
use std::ptr::null_mut;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator, StringArray};
use arrow_schema::{DataType, Field, Schema};
use doppel::*;

fn last_error() -> String {
    let message = doppel_last_error();
    assert!(!message.is_null(), "a failed call leaves a message");
    // SAFETY: doppel_last_error returns NULL or a live NUL-terminated string.
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

fn config(json: &str) -> *mut DoppelConfig {
    let mut config = null_mut();
    let json = CString::new(json).expect("no NUL");
    // SAFETY: valid string and out-pointer.
    assert_eq!(unsafe { doppel_config_from_json(json.as_ptr(), &mut config) }, DoppelStatus::Ok);
    config
}

#[cfg(unix)]
#[test]
fn a_fifo_path_fails_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("in.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()));
    let config = config("{}");
    let path = CString::new(fifo.to_string_lossy().as_bytes()).expect("no NUL");
    let (tx, rx) = std::sync::mpsc::channel();
    let config_addr = config as usize;
    std::thread::spawn(move || {
        let mut model = null_mut();
        // SAFETY: a live configuration, a NUL-terminated path and a writable out-pointer.
        let status = unsafe {
            doppel_train_file(
                config_addr as *const DoppelConfig,
                path.as_ptr(),
                None,
                null_mut(),
                &mut model,
            )
        };
        let _ = tx.send((status, last_error()));
    });
    let (status, message) =
        rx.recv_timeout(std::time::Duration::from_secs(20)).expect("blocked on the FIFO");
    assert_ne!(status, DoppelStatus::Ok);
    assert!(message.contains("not a regular file"), "{message}");
    // SAFETY: created above, freed once, no other user left.
    unsafe { doppel_config_free(config) };
}

#[test]
fn an_arrow_stream_is_held_to_the_limits() {
    let config = config(r#"{"limits": {"max_field_bytes": 4}}"#);
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(
            vec!["ok"; 50].into_iter().chain(["too long"]).collect::<Vec<_>>(),
        ))],
    )
    .expect("batch");
    let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    let mut stream = FFI_ArrowArrayStream::new(Box::new(reader));
    let mut model = null_mut();
    // SAFETY: a live configuration, an initialised stream and a writable out-pointer.
    let status = unsafe { doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model) };
    assert_ne!(status, DoppelStatus::Ok);
    let message = last_error();
    assert!(message.contains("row 51, column 's': field is 8 bytes"), "{message}");
    assert!(message.contains("limits.max_field_bytes"), "{message}");
    assert!(model.is_null());
    // SAFETY: created above, freed once.
    unsafe { doppel_config_free(config) };
}
