//! libdoppel: the C ABI of doppel.
//!
//! This crate grows into the full C ABI (handles, status codes, Arrow C Data Interface) in its own
//! issue. For now it exports the library's version, so hosts can check what they linked.

use std::ffi::c_char;

/// The library version as a NUL-terminated UTF-8 string with static lifetime; never free it.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn doppel_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: doppel_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(doppel_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
