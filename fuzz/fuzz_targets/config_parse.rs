//! The configuration parser: the text as JSON (`--config x.json`, `doppel_config_from_json`)
//! and as TOML (`--config x.toml`), each validated. Both readers first look for arrays where
//! no list belongs (`config::refuse_positional_arrays`).
#![no_main]

use doppel_core::TrainConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = TrainConfig::from_json(text) {
        let _ = config.validate();
    }
    if let Ok(config) = TrainConfig::from_toml(text) {
        let _ = config.validate();
    }
});
