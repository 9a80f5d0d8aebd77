//! Status codes, the per-thread last error message, and the guard every exported function runs
//! its body in: argument checks, error translation and the panic boundary in one place.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call did. The values are part of the ABI: never renumbered, only appended.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoppelStatus {
    /// Success; out-parameters are written.
    Ok = 0,
    /// A required pointer argument was NULL (the message names it).
    NullParameter = 1,
    /// An argument is out of range or not valid UTF-8, or a path's extension names no format
    /// (the message names the argument, or the path and the supported extensions).
    InvalidArgument = 2,
    /// The training configuration or a generation's options are invalid (the message names
    /// the key, condition or share at fault).
    InvalidConfig = 3,
    /// A file could not be read or written.
    Io = 4,
    /// The input data is malformed or cannot be learned from (the message names the file, and
    /// the row and column where one is at fault; an Arrow stream is named `<arrow stream>`).
    InvalidData = 5,
    /// A model file or buffer is not a usable doppel model.
    InvalidModel = 6,
    /// The progress callback asked to stop.
    Cancelled = 7,
    /// Anything else that went wrong inside the library.
    Internal = 8,
    /// A bug: the library panicked. The message says where; please report it.
    Panic = 9,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// A failure on its way out: the status and the message stored for `doppel_last_error`.
pub struct Failure {
    status: DoppelStatus,
    message: String,
}

impl Failure {
    /// A failure with a status and a message.
    pub fn new(status: DoppelStatus, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }
}

impl From<doppel_core::Error> for Failure {
    fn from(error: doppel_core::Error) -> Failure {
        use doppel_core::Error as E;
        let status = match &error {
            E::Io { .. } => DoppelStatus::Io,
            // The path argument names no format: the argument is at fault, not the data.
            E::UnknownFormat { .. } => DoppelStatus::InvalidArgument,
            E::Input { .. } | E::Table { .. } | E::Data(_) => DoppelStatus::InvalidData,
            E::Config(_) => DoppelStatus::InvalidConfig,
            E::Model { .. } | E::BaseModel { .. } => DoppelStatus::InvalidModel,
            E::Cancelled => DoppelStatus::Cancelled,
            _ => DoppelStatus::Internal,
        };
        Failure::new(status, error.to_string())
    }
}

fn remember(message: String) {
    // A NUL inside a message would truncate it in C; show it instead.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(message));
}

/// Runs `body` inside the panic boundary: `Ok` clears nothing and returns [`DoppelStatus::Ok`];
/// an error or a panic stores its message for this thread and returns its status.
pub fn guard(body: impl FnOnce() -> Result<(), Failure>) -> DoppelStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => DoppelStatus::Ok,
        Ok(Err(failure)) => {
            remember(failure.message);
            failure.status
        }
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            remember(format!("internal error (a bug in doppel, please report it): {what}"));
            DoppelStatus::Panic
        }
    }
}

/// The message a panic carried, if it was text.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `pointer` as a reference, or NULL_PARAMETER naming `name`.
///
/// # Safety
/// `pointer` is NULL or points to a live `T` for the call's duration.
pub unsafe fn non_null<'a, T>(pointer: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller promises a NULL or valid pointer.
    unsafe { pointer.as_ref() }
        .ok_or_else(|| Failure::new(DoppelStatus::NullParameter, format!("{name} is NULL")))
}

/// A NUL-terminated UTF-8 argument as `&str`.
///
/// # Safety
/// `pointer` is NULL or points to a NUL-terminated string live for the call's duration.
pub unsafe fn text<'a>(pointer: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: checked for NULL; the caller promises NUL termination.
    let c = unsafe { CStr::from_ptr(non_null(pointer, name)?) };
    c.to_str().map_err(|_| {
        Failure::new(DoppelStatus::InvalidArgument, format!("{name} is not valid UTF-8"))
    })
}

/// Checks an out-parameter before any work is done, so that a NULL one fails fast.
pub fn out<'a, T>(pointer: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: a non-NULL out-parameter points to writable storage by the ABI's contract.
    unsafe { pointer.as_mut() }
        .ok_or_else(|| Failure::new(DoppelStatus::NullParameter, format!("{name} is NULL")))
}

/// The message of the last failed call on this thread, or NULL if none failed yet. The string
/// belongs to the library and stays valid until the next failing call on the same thread; copy
/// it to keep it. Thread-safe (each thread has its own).
#[no_mangle]
pub extern "C" fn doppel_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ref().map_or(std::ptr::null(), |m| m.as_ptr()))
}
