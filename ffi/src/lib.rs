//! libdoppel: the C ABI of doppel.
//!
//! Conventions (the header `include/doppel.h` repeats them):
//! - every function returns a [`DoppelStatus`]; results go to out-parameters, written only on
//!   success; after a failure `doppel_last_error()` gives this thread's message;
//! - every pointer argument is checked for NULL (NULL_PARAMETER, naming the argument) and every
//!   body runs inside a panic boundary (PANIC): no panic crosses into the host;
//! - handles (`DoppelConfig`, `DoppelModel`) are opaque, created by the library and released
//!   with their `_free` function (`_free(NULL)` does nothing); strings and byte buffers the
//!   library returns are released with `doppel_string_free` / `doppel_bytes_free`.
//!
//! In-memory tables cross as Arrow C streams (`struct ArrowArrayStream`, the Arrow C stream
//! interface): `doppel_train_arrow` consumes one, `doppel_generate_arrow` produces one.

mod status;

use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use doppel_core::accountant::{self, AccountantKind, GaussianEvent};
use doppel_core::config::from_json_object;
use doppel_core::filter::PrivacyFilter;
use doppel_core::generate::{
    generate_batches, generate_filtered_to_file, generate_seeded_batches, generate_seeded_to_file,
    generate_to_file, impute_to_file, GenerateOptions,
};
use doppel_core::ingest::{
    collect_batches, detect_delimiter, in_file, read_table, table_from_batches_within, Format,
    ReadOptions,
};
// The Arrow tests compare a stream's table with the default-limits reader.
#[cfg(test)]
use doppel_core::ingest::table_from_batches;
use doppel_core::limits::Limits;
use doppel_core::steer::Seed;
use doppel_core::{train, Table, TrainConfig, TrainedModel};

pub use status::{doppel_last_error, DoppelStatus};
use status::{guard, non_null, out, text, Failure};

/// A training configuration. Create with `doppel_config_default` or `doppel_config_from_json`,
/// release with `doppel_config_free`. Immutable once created: safe to share between threads.
pub struct DoppelConfig(TrainConfig);

/// A trained model. Create with `doppel_train_file`, `doppel_train_arrow`, `doppel_model_load`
/// or `doppel_model_from_bytes`, release with `doppel_model_free`. Generation only reads it: one
/// model may serve `doppel_generate_file` and `doppel_generate_arrow` from many threads at once.
/// Shared with the streams generated from it, which keep it alive after `doppel_model_free`.
pub struct DoppelModel(Arc<TrainedModel>);

/// The differential-privacy accountant of the privacy calculator.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoppelAccountant {
    /// Privacy random variables (Gopi, Lee, Wutschitz 2021): tight, with an error bound.
    Prv = 0,
    /// Rényi DP of the subsampled Gaussian (Mironov, Talwar, Zhang 2019).
    Rdp = 1,
}

/// The accountant named by a `DoppelAccountant` value. Taken as an integer at the boundary: a
/// host may pass any number, and an unknown one must be an error, not undefined behaviour.
fn accountant_kind(value: i32) -> Result<AccountantKind, Failure> {
    match value {
        v if v == DoppelAccountant::Prv as i32 => Ok(AccountantKind::Prv),
        v if v == DoppelAccountant::Rdp as i32 => Ok(AccountantKind::Rdp),
        other => Err(Failure::new(
            DoppelStatus::InvalidArgument,
            format!(
                "accountant is {other}; use DOPPEL_ACCOUNTANT_PRV (0) or DOPPEL_ACCOUNTANT_RDP (1)"
            ),
        )),
    }
}

/// Training progress, passed to the callback after each step.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DoppelProgress {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Step within the epoch, from 1.
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Training loss of this step, in nats per token.
    pub loss: f64,
    /// Under DP: epsilon spent as of the last completed epoch (accounting is not free, so it
    /// is updated once per epoch; 0 during the first). Negative without DP.
    pub epsilon: f64,
}

/// The progress callback: return 0 to go on, anything else to cancel training (which then
/// returns CANCELLED, even when asked on the last step). Called on the thread that called
/// `doppel_train_file` or `doppel_train_arrow`.
pub type DoppelProgressFn =
    Option<unsafe extern "C" fn(progress: *const DoppelProgress, user_data: *mut c_void) -> i32>;

/// The library version as a NUL-terminated UTF-8 string with static lifetime; never free it.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn doppel_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Build information as JSON into `*out_json` (release with `doppel_string_free`), e.g.
/// `{"version":"0.1.0","cuda":false,"devices":["cpu"],"auto_device":"cpu"}`: `cuda` whether
/// this build has CUDA support, `devices` the devices it can use, and `auto_device` the one a
/// configuration with `training.device` = `"auto"` (the default) picks on this machine.
///
/// # Safety
/// `out_json` is NULL or points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn doppel_build_info(out_json: *mut *mut c_char) -> DoppelStatus {
    guard(|| {
        let slot = out(out_json, "out_json")?;
        let auto = doppel_core::device::select(doppel_core::DeviceChoice::Auto)?;
        let info = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "cuda": doppel_core::device::CUDA_BUILT,
            "devices": doppel_core::device::built(),
            "auto_device": doppel_core::device::name(&auto),
        });
        *slot = into_c_string(info.to_string())?;
        Ok(())
    })
}

/// The default training configuration, into `*out_config`.
///
/// # Safety
/// `out_config` is NULL or points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn doppel_config_default(out_config: *mut *mut DoppelConfig) -> DoppelStatus {
    guard(|| {
        let slot = out(out_config, "out_config")?;
        *slot = handle(DoppelConfig(TrainConfig::default()));
        Ok(())
    })
}

/// A training configuration from JSON with the keys of the CLI's configuration file (every key
/// optional), validated, into `*out_config`; INVALID_CONFIG with a message naming the bad key
/// otherwise. The text is one JSON object whose sections (`training`, `model`, `columns`, ...)
/// are objects with named keys: an array is accepted only for a list such as
/// `missing_tokens`, and anywhere else (`{"training": ["adam", 0.5]}`, or a top-level array)
/// is INVALID_CONFIG naming the key (`training`, `(top level)`).
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `out_config` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_config_from_json(
    json: *const c_char,
    out_config: *mut *mut DoppelConfig,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for `json`.
        let json = unsafe { text(json, "json") }?;
        let slot = out(out_config, "out_config")?;
        let config = TrainConfig::from_json(json)?;
        *slot = handle(DoppelConfig(config));
        Ok(())
    })
}

/// Releases a configuration; NULL does nothing.
///
/// # Safety
/// `config` is NULL or came from this library and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn doppel_config_free(config: *mut DoppelConfig) {
    // SAFETY: the caller's contract.
    unsafe { free_handle(config) }
}

/// Trains a model on a CSV, Parquet or Arrow IPC file into `*out_model`. The format follows
/// the extension: `.csv`, `.tsv`, `.txt` or none (CSV), `.parquet`, `.pq` (Parquet), `.arrow`,
/// `.arrows`, `.ipc`, `.feather` (Arrow IPC); another extension is INVALID_ARGUMENT naming the
/// supported ones. A table that cannot be learned from (too few rows, a column with no values,
/// ...) is INVALID_DATA with a message naming the file. `progress` may be NULL; `user_data` is
/// passed to it unchanged.
///
/// # Safety
/// `config` is NULL or a live configuration; `path` NULL or NUL-terminated; `out_model` NULL or
/// writable; `progress`, if given, is safe to call with `user_data` during this call.
#[no_mangle]
pub unsafe extern "C" fn doppel_train_file(
    config: *const DoppelConfig,
    path: *const c_char,
    progress: DoppelProgressFn,
    user_data: *mut c_void,
    out_model: *mut *mut DoppelModel,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let config = &unsafe { non_null(config, "config") }?.0;
        let path = Path::new(unsafe { text(path, "path") }?);
        let slot = out(out_model, "out_model")?;
        // A delimiter the configuration lacks is detected and recorded in the model's
        // configuration, so that generated CSV uses it too.
        let mut config = config.clone();
        if config.delimiter.is_none() && Format::of_path(path)? == Format::Csv {
            config.delimiter = Some(char::from(detect_delimiter(path)?));
        }
        let table = read_table(path, &ReadOptions::from_config(&config))?;
        // Training knows a table, not its file: its data errors are named after the file here.
        let model =
            train_reporting(&table, &config, progress, user_data).map_err(|e| in_file(path, e))?;
        *slot = model_handle(model);
        Ok(())
    })
}

/// Trains a model on the record batches of an Arrow C stream (`struct ArrowArrayStream`, as
/// Arrow C++, Java, Go and Python export a table without copying it) into `*out_model`.
/// Columns of any type that Arrow can render as text are read. Missing values are nulls and,
/// as in files, the texts of the configuration's `missing_tokens` (by default "", "?", "NA",
/// "N/A", "NaN", "nan", "null", "NULL", "None"). `progress` may be
/// NULL; `user_data` is passed to it unchanged.
///
/// Ownership: when `stream` is not NULL the library takes the stream over (moves it, leaving
/// `stream->release` NULL) and releases it, whatever the status, so the caller never releases
/// it after this call. A stream already released (`release` NULL, e.g. zeroed storage) is
/// INVALID_ARGUMENT. Every callback of the stream (get_schema, get_next, release) runs on the
/// calling thread, before this function returns.
///
/// # Safety
/// `config` is NULL or live; `stream` NULL or an initialised Arrow C stream; `out_model` NULL
/// or writable; `progress`, if given, is safe to call with `user_data` during this call.
#[no_mangle]
pub unsafe extern "C" fn doppel_train_arrow(
    config: *const DoppelConfig,
    stream: *mut FFI_ArrowArrayStream,
    progress: DoppelProgressFn,
    user_data: *mut c_void,
    out_model: *mut *mut DoppelModel,
) -> DoppelStatus {
    guard(|| {
        if stream.is_null() {
            return Err(Failure::new(DoppelStatus::NullParameter, "stream is NULL"));
        }
        // Taken over first, so that it is released on every path below.
        // SAFETY: the caller's contract: an initialised stream, which this moves out of.
        let stream = unsafe { FFI_ArrowArrayStream::from_raw(stream) };
        // SAFETY: the caller's contract for `config`.
        let config = &unsafe { non_null(config, "config") }?.0;
        let slot = out(out_model, "out_model")?;
        let table = stream_table(stream, &config.limits)?;
        let model = train_reporting(&table, config, progress, user_data)
            .map_err(|e| in_file(Path::new(ARROW_STREAM), e))?;
        *slot = model_handle(model);
        Ok(())
    })
}

/// How messages name an Arrow C stream, in place of a file.
const ARROW_STREAM: &str = "<arrow stream>";

/// Reads every batch of an Arrow C stream into a table, within `limits` (checked per batch).
fn stream_table(stream: FFI_ArrowArrayStream, limits: &Limits) -> Result<Table, Failure> {
    if stream.release().is_none() {
        return Err(Failure::new(DoppelStatus::InvalidArgument, "stream is already released"));
    }
    let bad =
        |e: ArrowError| Failure::new(DoppelStatus::InvalidData, format!("{ARROW_STREAM}: {e}"));
    let reader = RecordBatchStreamReader::try_new(stream).map_err(bad)?;
    let schema = reader.schema();
    let batches = collect_batches(Path::new(ARROW_STREAM), &schema, reader, limits)?;
    Ok(table_from_batches_within(Path::new(ARROW_STREAM), &schema, &batches, limits)?)
}

/// Trains on `table`, forwarding progress to the host's callback and cancelling when it
/// returns non-zero.
fn train_reporting(
    table: &Table,
    config: &TrainConfig,
    progress: DoppelProgressFn,
    user_data: *mut c_void,
) -> doppel_core::Result<TrainedModel> {
    let cancel = AtomicBool::new(false);
    let mut epsilon = if config.privacy.dp { 0.0 } else { -1.0 };
    let mut on_progress = |p: &doppel_core::Progress| {
        let Some(callback) = progress else { return };
        epsilon = p.epsilon.unwrap_or(epsilon);
        let report = DoppelProgress {
            epoch: p.epoch,
            step: p.step,
            steps_per_epoch: p.steps_per_epoch,
            loss: p.loss,
            epsilon,
        };
        // SAFETY: the caller promises the callback is safe to call with `user_data`.
        if unsafe { callback(&report, user_data) } != 0 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let model = train(table, config, &mut on_progress, &cancel)?;
    // Training checks the flag before each step: a request on the last one lands here.
    if cancel.load(Ordering::Relaxed) {
        return Err(doppel_core::Error::Cancelled);
    }
    Ok(model)
}

/// Saves a model to a file.
///
/// How the library writes a file (here and in `doppel_generate_file`): where it goes depends
/// on what is at `path`. A regular file or nothing yet gets a temporary file
/// `.{name}.tmp-{pid}-{n}` beside it, renamed over it once complete (a failure leaves the old
/// file as it was, and leftovers of killed processes for the same path are removed); a
/// symbolic link is followed and its target replaced so (a dangling link is refused); a
/// character device or FIFO (such as `/dev/null`) is written straight through; a directory,
/// block device or socket is refused with `DOPPEL_STATUS_IO`. The library installs no signal
/// handler: a host killed midway may leave the temporary file.
///
/// # Safety
/// `model` is NULL or live; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn doppel_model_save(
    model: *const DoppelModel,
    path: *const c_char,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let model = &unsafe { non_null(model, "model") }?.0;
        let path = unsafe { text(path, "path") }?;
        model.save(Path::new(path))?;
        Ok(())
    })
}

/// Loads a model from a file into `*out_model`; INVALID_MODEL for a file that is not one.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `out_model` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_model_load(
    path: *const c_char,
    out_model: *mut *mut DoppelModel,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for `path`.
        let path = unsafe { text(path, "path") }?;
        let slot = out(out_model, "out_model")?;
        *slot = model_handle(TrainedModel::load(Path::new(path))?);
        Ok(())
    })
}

/// Serialises a model into a new buffer: `*out_bytes` and `*out_len` (release with
/// `doppel_bytes_free(bytes, len)`).
///
/// # Safety
/// `model` is NULL or live; the out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_model_to_bytes(
    model: *const DoppelModel,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for `model`.
        let model = &unsafe { non_null(model, "model") }?.0;
        let (bytes_slot, len_slot) = (out(out_bytes, "out_bytes")?, out(out_len, "out_len")?);
        let bytes = model.to_bytes()?.into_boxed_slice();
        *len_slot = bytes.len();
        *bytes_slot = Box::into_raw(bytes).cast();
        Ok(())
    })
}

/// A model from a buffer made by `doppel_model_to_bytes` (copied; the buffer may be freed
/// afterwards) into `*out_model`. `bytes` may be NULL when `len` is 0 (an empty buffer, which
/// is INVALID_MODEL like any buffer that is not a model).
///
/// # Safety
/// `bytes` is NULL or points to `len` readable bytes; `out_model` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_model_from_bytes(
    bytes: *const u8,
    len: usize,
    out_model: *mut *mut DoppelModel,
) -> DoppelStatus {
    guard(|| {
        // An empty buffer may come as (NULL, 0), as many hosts pass an empty array.
        let buffer: &[u8] = if len == 0 {
            &[]
        } else {
            let start = unsafe { non_null(bytes, "bytes") }?;
            // SAFETY: the caller promises `len` readable bytes at `bytes`.
            unsafe { std::slice::from_raw_parts(start, len) }
        };
        let slot = out(out_model, "out_model")?;
        let model = TrainedModel::from_bytes(buffer, Path::new("<buffer>"))?;
        *slot = model_handle(model);
        Ok(())
    })
}

/// Releases a model; NULL does nothing.
///
/// # Safety
/// `model` is NULL or came from this library, is not used afterwards and no other thread is
/// using it.
#[no_mangle]
pub unsafe extern "C" fn doppel_model_free(model: *mut DoppelModel) {
    // SAFETY: the caller's contract.
    unsafe { free_handle(model) }
}

/// Generates `rows` records with `seed` into a file whose format follows its extension (the
/// extensions `doppel_train_file` reads; another one is INVALID_ARGUMENT naming them, and
/// nothing is written). The file appears only once complete, written as `doppel_model_save`
/// describes (a temporary file renamed into place; links, devices and FIFOs). Safe to call
/// from many threads on one model; the same seed gives the same rows. The constraints of the
/// model's configuration (`constraints`, set when training) hold in every row; one that no
/// row can keep is INVALID_CONFIG naming it.
///
/// # Safety
/// `model` is NULL or live; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn doppel_generate_file(
    model: *const DoppelModel,
    rows: usize,
    seed: u64,
    path: *const c_char,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let model = &unsafe { non_null(model, "model") }?.0;
        let path = unsafe { text(path, "path") }?;
        let options = GenerateOptions { rows, seed, ..GenerateOptions::default() };
        generate_to_file(model, &options, Path::new(path), &mut |_| {})?;
        Ok(())
    })
}

/// Generates `rows` records with `seed` into the caller-allocated Arrow C stream `*out_stream`
/// (written on success only): batches of up to 1,024 rows, made as the consumer asks for them,
/// with the training columns in order: Int64 for integer columns, Float64 for floats, Utf8
/// otherwise (the types of the Parquet output). The rows are those `doppel_generate_file`
/// writes for the same seed, with missing values as nulls (a CSV writes the source's marker,
/// such as `?`). The stream keeps its own reference to the model, which may be freed first.
/// Release it with `out_stream->release(out_stream)`; like every Arrow stream it is used from
/// one thread at a time, while one model may feed streams on many threads. A failure while
/// generating (a bug included: no panic crosses) makes `get_next` return non-zero, with the
/// message from `get_last_error`.
///
/// # Safety
/// `model` is NULL or live; `out_stream` NULL or writable storage for a stream (its old
/// content is overwritten, not released).
#[no_mangle]
pub unsafe extern "C" fn doppel_generate_arrow(
    model: *const DoppelModel,
    rows: usize,
    seed: u64,
    out_stream: *mut FFI_ArrowArrayStream,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for `model`.
        let model = &unsafe { non_null(model, "model") }?.0;
        if out_stream.is_null() {
            return Err(Failure::new(DoppelStatus::NullParameter, "out_stream is NULL"));
        }
        let options = GenerateOptions { rows, seed, ..GenerateOptions::default() };
        let batches = PanicFree::new(generate_batches(model.clone(), &options)?);
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        // SAFETY: checked non-NULL, writable by contract; `write` so that whatever the caller's
        // storage held is not dropped (it may be uninitialised).
        unsafe { out_stream.write(stream) };
        Ok(())
    })
}

/// Steered generation into a file: `doppel_generate_file` with options, and an optional seed
/// table.
///
/// `options_json` (NULL: the defaults) is a JSON object whose keys are all optional: `rows`
/// (1000), `seed` (42), `where` (conditions every row satisfies, such as
/// `"age >= 60 and workclass in (Private, State-gov)"`), `rebalance` (category shares, such
/// as `"sex=Female:0.5"`; several values joined by `,`, several columns by `;`), `fair`
/// (`"target=income sensitive=sex"`: the target independent of the sensitive column),
/// `sampling` (`temperature`, `top_k`, `top_p`) and `batch_size`; the CLI's `generate` flags
/// of the same names say more. An unknown key, a value of the wrong type or out of range, or
/// a condition or share that does not read or that no generated row can meet is
/// INVALID_CONFIG naming it, and nothing is written.
///
/// `seed` (NULL: none) is an Arrow C stream of seed rows: one record is generated per seed row,
/// with the seed's cells exactly as given and its null cells (and the model's columns the seed
/// lacks) generated given them; columns are matched by name (a column the model lacks is
/// INVALID_DATA, as is a cell its column cannot hold or a row that breaks a condition or one
/// of the model's constraints, naming the row and column), and `rows` is not read. The library takes a non-NULL seed stream over and releases it whatever the status,
/// as `doppel_train_arrow` does.
///
/// # Safety
/// `model` is NULL or live; `options_json` NULL or NUL-terminated; `seed` NULL or an
/// initialised Arrow C stream; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn doppel_generate_steered_file(
    model: *const DoppelModel,
    options_json: *const c_char,
    seed: *mut FFI_ArrowArrayStream,
    path: *const c_char,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer; the seed is taken over first, so that
        // it is released on every path.
        let seed = unsafe { take_stream(seed) };
        let model = &unsafe { non_null(model, "model") }?.0;
        let options = unsafe { generate_options(options_json) }?;
        let path = Path::new(unsafe { text(path, "path") }?);
        let seed = seed_table(seed, model, false)?;
        generate_seeded_to_file(model, &options, seed, path, None, &mut |_| {})?;
        Ok(())
    })
}

/// Steered generation into an Arrow C stream: `doppel_generate_arrow` with the options and
/// the optional seed stream of `doppel_generate_steered_file` (the same rows for the same
/// options and seed). Errors in the options or the seed come from this call, before
/// `*out_stream` is written.
///
/// # Safety
/// `model` is NULL or live; `options_json` NULL or NUL-terminated; `seed` NULL or an
/// initialised Arrow C stream (taken over); `out_stream` NULL or writable storage for a stream.
#[no_mangle]
pub unsafe extern "C" fn doppel_generate_steered_arrow(
    model: *const DoppelModel,
    options_json: *const c_char,
    seed: *mut FFI_ArrowArrayStream,
    out_stream: *mut FFI_ArrowArrayStream,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: as in `doppel_generate_steered_file`; `out_stream` is checked below.
        let seed = unsafe { take_stream(seed) };
        let model = &unsafe { non_null(model, "model") }?.0;
        let options = unsafe { generate_options(options_json) }?;
        if out_stream.is_null() {
            return Err(Failure::new(DoppelStatus::NullParameter, "out_stream is NULL"));
        }
        let seed = seed_table(seed, model, false)?;
        let batches = PanicFree::new(generate_seeded_batches(model.clone(), &options, seed)?);
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        // SAFETY: checked non-NULL, writable by contract; `write`: the old content may be
        // uninitialised and is not dropped.
        unsafe { out_stream.write(stream) };
        Ok(())
    })
}

/// Imputation into a file: the rows of the Arrow C stream `table`, in order, with their null
/// cells (and cells holding one of the model's missing-value texts, such as `?`) filled with
/// draws from the model given the row's known cells; known cells are never changed. With
/// `draws` 1 each filled cell is one draw; with more, the typical value of that many draws (the
/// median of a number's, the most frequent of any other cell's), closer to the truth on average
/// with less of the distribution's spread; 0 is INVALID_CONFIG. `options_json` is read as in
/// `doppel_generate_steered_file` (`seed` and `sampling` matter; `rows` is not read). The
/// library takes `table` over and releases it whatever the status; NULL is NULL_PARAMETER.
/// The file is written as `doppel_model_save` describes.
///
/// # Safety
/// `model` is NULL or live; `options_json` NULL or NUL-terminated; `table` NULL or an
/// initialised Arrow C stream; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn doppel_impute_file(
    model: *const DoppelModel,
    options_json: *const c_char,
    table: *mut FFI_ArrowArrayStream,
    draws: usize,
    path: *const c_char,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: as in `doppel_generate_steered_file`.
        let table = unsafe { take_stream(table) };
        let model = &unsafe { non_null(model, "model") }?.0;
        let options = unsafe { generate_options(options_json) }?;
        let path = Path::new(unsafe { text(path, "path") }?);
        let Some(seed) = seed_table(table, model, true)? else {
            return Err(Failure::new(DoppelStatus::NullParameter, "table is NULL"));
        };
        impute_to_file(model, &options, seed, draws, path, None, &mut |_| {})?;
        Ok(())
    })
}

/// Generation through the privacy filter into a file: the rows of
/// `doppel_generate_steered_file` (the same options; no seed) less those within `distance` of
/// a row of `training` (the mean over the model's columns of a per-cell distance in [0, 1]:
/// numbers and dates the difference over the column's training range, other cells 0 when
/// equal and 1 when not; 0 drops exact copies only), generation going on until `rows` are
/// written. The number of generated rows dropped goes to `*out_dropped` (written on success
/// only; NULL to ignore it). The library takes `training` (an Arrow C stream of the training
/// rows, its columns named as the model's) over and releases it whatever the status; NULL is
/// NULL_PARAMETER. A model trained with DP is INVALID_CONFIG before the stream is read (the
/// filter reads the private rows, which the guarantee does not cover); so is a distance
/// outside [0, 1). The filter guards against copies; it is no privacy guarantee of its own.
///
/// # Safety
/// `model` is NULL or live; `options_json` NULL or NUL-terminated; `training` NULL or an
/// initialised Arrow C stream; `path` NULL or NUL-terminated; `out_dropped` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_generate_filtered_file(
    model: *const DoppelModel,
    options_json: *const c_char,
    training: *mut FFI_ArrowArrayStream,
    distance: f64,
    path: *const c_char,
    out_dropped: *mut usize,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: as in `doppel_generate_steered_file`; `out_dropped` may be NULL.
        let training = unsafe { take_stream(training) };
        let model = &unsafe { non_null(model, "model") }?.0;
        let options = unsafe { generate_options(options_json) }?;
        let path = Path::new(unsafe { text(path, "path") }?);
        let Some(training) = training else {
            return Err(Failure::new(DoppelStatus::NullParameter, "training is NULL"));
        };
        PrivacyFilter::check(model, distance)?;
        let table = stream_table(training, &model.metadata().config.limits)?;
        let filter = PrivacyFilter::new(model, &table, distance)?;
        let filtered =
            generate_filtered_to_file(model, &options, &filter, path, None, &mut |_| {})?;
        // SAFETY: NULL or writable by contract.
        if let Some(slot) = unsafe { out_dropped.as_mut() } {
            *slot = filtered.dropped;
        }
        Ok(())
    })
}

/// Takes over the Arrow C stream at `stream`, if not NULL (leaving its `release` NULL), so that
/// dropping the result releases it on every path.
///
/// # Safety
/// `stream` is NULL or an initialised Arrow C stream.
unsafe fn take_stream(stream: *mut FFI_ArrowArrayStream) -> Option<FFI_ArrowArrayStream> {
    // SAFETY: the caller's contract: an initialised stream, which this moves out of.
    (!stream.is_null()).then(|| unsafe { FFI_ArrowArrayStream::from_raw(stream) })
}

/// The generation options in `json`, or the defaults for NULL.
///
/// # Safety
/// `json` is NULL or NUL-terminated.
unsafe fn generate_options(json: *const c_char) -> Result<GenerateOptions, Failure> {
    if json.is_null() {
        return Ok(GenerateOptions::default());
    }
    // SAFETY: the caller's contract.
    let json = unsafe { text(json, "options_json") }?;
    GenerateOptions::from_json(json)
        .map_err(|e| Failure::new(DoppelStatus::InvalidConfig, format!("options_json: {e}")))
}

/// A seed (or to-be-imputed) table read from a stream within the model's limits.
fn seed_table(
    stream: Option<FFI_ArrowArrayStream>,
    model: &TrainedModel,
    fill_missing: bool,
) -> Result<Option<Seed>, Failure> {
    let Some(stream) = stream else { return Ok(None) };
    let table = stream_table(stream, &model.metadata().config.limits)?;
    Ok(Some(Seed { table, fill_missing }))
}

/// A record batch reader whose batches are made inside a panic boundary. The stream's
/// callbacks are arrow-rs's own `extern "C"` functions, outside `guard`: a panic there would
/// abort the host, so it becomes the stream's error (`get_next` fails, `get_last_error` says
/// why) and the stream ends.
struct PanicFree<R> {
    reader: R,
    schema: SchemaRef,
    ended: bool,
}

impl<R: RecordBatchReader> PanicFree<R> {
    fn new(reader: R) -> PanicFree<R> {
        PanicFree { schema: reader.schema(), reader, ended: false }
    }
}

impl<R: RecordBatchReader> Iterator for PanicFree<R> {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let reader = &mut self.reader;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next())) {
            Ok(batch) => batch,
            Err(panic) => {
                self.ended = true;
                let what = status::panic_message(panic.as_ref());
                Some(Err(ArrowError::ExternalError(
                    format!("internal error (a bug in doppel, please report it): {what}").into(),
                )))
            }
        }
    }
}

impl<R: RecordBatchReader> RecordBatchReader for PanicFree<R> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// The epsilon spent by `steps` Poisson-subsampled Gaussian steps (sampling rate, noise
/// multiplier) at `delta`, into `*out_epsilon`. `accountant` is a `DoppelAccountant` value;
/// another number is INVALID_ARGUMENT.
///
/// # Safety
/// `out_epsilon` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_privacy_epsilon(
    accountant: i32,
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    delta: f64,
    out_epsilon: *mut f64,
) -> DoppelStatus {
    guard(|| {
        let slot = out(out_epsilon, "out_epsilon")?;
        let kind = accountant_kind(accountant)?;
        let event = GaussianEvent { sampling_rate, noise_multiplier, steps };
        let spent = accountant::epsilon(kind, &[event], delta).map_err(argument)?;
        *slot = spent.epsilon;
        Ok(())
    })
}

/// The smallest noise multiplier that keeps `steps` steps at `sampling_rate` within
/// (`epsilon`, `delta`), into `*out_noise_multiplier`. `accountant` is a `DoppelAccountant`
/// value; another number is INVALID_ARGUMENT.
///
/// # Safety
/// `out_noise_multiplier` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_privacy_noise(
    accountant: i32,
    epsilon: f64,
    delta: f64,
    sampling_rate: f64,
    steps: u64,
    out_noise_multiplier: *mut f64,
) -> DoppelStatus {
    guard(|| {
        let slot = out(out_noise_multiplier, "out_noise_multiplier")?;
        let kind = accountant_kind(accountant)?;
        let sigma = accountant::calibrate_noise(kind, epsilon, delta, sampling_rate, steps, &[])
            .map_err(argument)?;
        *slot = sigma;
        Ok(())
    })
}

/// The quality and privacy report of a synthetic table as JSON (the format of `doppel report
/// --json`, documented in docs/report.md) into `*out_json` (release with `doppel_string_free`).
/// `real_path` and `synthetic_path` are CSV, Parquet or Arrow IPC files (by extension, as
/// `doppel_train_file` reads them); `holdout_path` (real rows not used in training) and
/// `options_json` (a JSON object of `ReportOptions` fields, listed in docs/report.md) may be
/// NULL. Bad options are INVALID_ARGUMENT naming `options_json` and the key (an array is taken
/// only for a list). Data the report cannot compare is INVALID_DATA, naming the files.
///
/// # Safety
/// Each string is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn doppel_report_json(
    real_path: *const c_char,
    synthetic_path: *const c_char,
    holdout_path: *const c_char,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> DoppelStatus {
    guard(|| {
        // SAFETY: the caller's contract for each string.
        let real = unsafe { text(real_path, "real_path") }?;
        let synthetic = unsafe { text(synthetic_path, "synthetic_path") }?;
        let holdout_file = (!holdout_path.is_null())
            .then(|| unsafe { text(holdout_path, "holdout_path") })
            .transpose()?;
        let options = match (!options_json.is_null())
            .then(|| unsafe { text(options_json, "options_json") })
            .transpose()?
        {
            Some(json) => from_json_object(json).map_err(|e| {
                Failure::new(DoppelStatus::InvalidArgument, format!("options_json: {e}"))
            })?,
            None => doppel_report::ReportOptions::default(),
        };
        let slot = out(out_json, "out_json")?;
        let load = |path: &str| report_table(Path::new(path));
        let holdout = holdout_file.map(load).transpose()?;
        let report = doppel_report::build_report(
            &load(real)?,
            &load(synthetic)?,
            holdout.as_ref(),
            &options,
            &mut |_, _| {},
        )
        .map_err(|e| {
            // The report names a table by its role (real, synthetic, holdout): say which file.
            let holdout = holdout_file.map(|h| format!(", holdout: {h}")).unwrap_or_default();
            let files = format!("real: {real}, synthetic: {synthetic}{holdout}");
            Failure::new(DoppelStatus::InvalidData, format!("{e} ({files})"))
        })?;
        let json = serde_json::to_string(&report)
            .map_err(|e| Failure::new(DoppelStatus::Internal, e.to_string()))?;
        *slot = into_c_string(json)?;
        Ok(())
    })
}

/// A file as the report's text table, through doppel-core's reader (nulls as empty cells).
fn report_table(path: &Path) -> Result<doppel_report::Table, Failure> {
    Ok(read_table(path, &ReadOptions::default())?.to_text_table())
}

/// Releases a string returned by the library; NULL does nothing.
///
/// # Safety
/// `text` is NULL or came from this library and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn doppel_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: created by CString::into_raw in this library, freed once by contract.
        let _ = catch(|| drop(unsafe { CString::from_raw(text) }));
    }
}

/// Releases a byte buffer returned by the library (with the length it came with); NULL does
/// nothing.
///
/// # Safety
/// `bytes` is NULL or came from this library with this `len`, and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn doppel_bytes_free(bytes: *mut u8, len: usize) {
    if !bytes.is_null() {
        // SAFETY: created from a boxed slice of `len` bytes in this library, freed once.
        let _ = catch(|| {
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes, len)) })
        });
    }
}

/// A new handle owned by the caller (released by the matching `_free`).
fn handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// A new model handle (shared with the streams generated from it).
fn model_handle(model: TrainedModel) -> *mut DoppelModel {
    handle(DoppelModel(Arc::new(model)))
}

/// Releases a handle made by [`handle`]; NULL does nothing. A destructor must not unwind into
/// C, so it runs inside the panic boundary.
///
/// # Safety
/// `pointer` is NULL or came from [`handle`] and is not used afterwards.
unsafe fn free_handle<T>(pointer: *mut T) {
    if !pointer.is_null() {
        // SAFETY: created by Box::into_raw in this library, freed once by contract.
        let _ = catch(|| drop(unsafe { Box::from_raw(pointer) }));
    }
}

/// Runs a `_free` body inside the panic boundary (a destructor must not unwind into C).
fn catch(body: impl FnOnce()) -> std::thread::Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
}

/// Errors of the privacy calculator are bad arguments (a rate outside (0, 1], a budget no
/// noise can meet, ...): INVALID_ARGUMENT with the accountant's message, which names the
/// argument as the calculator's parameters are named (`sampling_rate`, `noise_multiplier`,
/// `steps`, `delta`, `epsilon`). Without the "invalid configuration:" of a configuration
/// error: these are no configuration.
fn argument(error: doppel_table::Error) -> Failure {
    match error {
        doppel_table::Error::Argument(message) => {
            Failure::new(DoppelStatus::InvalidArgument, message)
        }
        other => doppel_core::Error::from(other).into(),
    }
}

fn into_c_string(text: String) -> Result<*mut c_char, Failure> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(DoppelStatus::Internal, "a string held a NUL byte"))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod arrow_tests;
