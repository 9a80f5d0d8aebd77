//! The C ABI functions that take buffers, called as a C host calls them:
//! `doppel_model_from_bytes(ptr, len, &out)` (the model freed when it loads) and
//! `doppel_config_from_json` on the bytes NUL-terminated (cut at the first NUL, as C would).
//! A panic behind the ABI's guard still aborts here (libFuzzer's panic hook), so a panic the
//! guard would turn into DOPPEL_STATUS_PANIC counts as a crash.
#![no_main]

use std::ffi::CString;
use std::ptr;

use doppel::{
    doppel_config_free, doppel_config_from_json, doppel_model_free, doppel_model_from_bytes,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut model = ptr::null_mut();
    // SAFETY: `data` is `data.len()` readable bytes; `model` is writable.
    let status = unsafe { doppel_model_from_bytes(data.as_ptr(), data.len(), &mut model) };
    if !model.is_null() {
        // SAFETY: a live model from doppel_model_from_bytes, freed once.
        unsafe { doppel_model_free(model) };
    }
    let _ = status;

    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let json = CString::new(&data[..end]).expect("no interior NUL");
    let mut config = ptr::null_mut();
    // SAFETY: a NUL-terminated string and a writable out-pointer.
    let _ = unsafe { doppel_config_from_json(json.as_ptr(), &mut config) };
    if !config.is_null() {
        // SAFETY: a live configuration from doppel_config_from_json, freed once.
        unsafe { doppel_config_free(config) };
    }
});
