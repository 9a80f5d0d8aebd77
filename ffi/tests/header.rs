//! The checked-in C header equals what cbindgen generates from the source: CI fails on drift.
//! Regenerate with `DOPPEL_BLESS=1 cargo test -p doppel-ffi --test header`.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = Path::new(crate_dir).join("../include/doppel.h");
    if std::env::var_os("DOPPEL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/doppel.h");
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "include/doppel.h is out of date; regenerate it with \
         DOPPEL_BLESS=1 cargo test -p doppel-ffi --test header"
    );
}
