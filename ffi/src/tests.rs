//! The C ABI called as C would call it: NULL arguments, errors with messages, a full round trip.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use super::*;

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}

fn last_error() -> String {
    // SAFETY: doppel_last_error returns NULL or a live NUL-terminated string.
    let message = doppel_last_error();
    assert!(!message.is_null(), "a failed call leaves a message");
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

/// 300 rows of a small table with a pattern to learn.
fn write_csv(dir: &Path) -> CString {
    let mut csv = String::from("colour,size,count\n");
    for i in 0..300 {
        csv += &format!("{},{},{}\n", ["red", "green", "blue"][i % 3], ["S", "M"][i % 2], i % 17);
    }
    let path = dir.join("in.csv");
    std::fs::write(&path, csv).expect("write");
    c(path.to_str().expect("utf-8 path"))
}

fn small_config() -> *mut DoppelConfig {
    let mut config = null_mut();
    let json = c(r#"{"training": {"max_epochs": 2, "batch_size": 64}}"#);
    // SAFETY: valid string and out-pointer.
    assert_eq!(unsafe { doppel_config_from_json(json.as_ptr(), &mut config) }, DoppelStatus::Ok);
    config
}

#[test]
fn every_pointer_argument_is_checked_for_null() {
    let path = c("/nonexistent");
    let mut config = null_mut();
    let mut model = null_mut();
    let (mut bytes, mut len, mut value) = (null_mut(), 0usize, 0.0f64);
    let mut text: *mut c_char = null_mut();
    // Each call fails with NULL_PARAMETER and a message naming the argument.
    let refused = |status: DoppelStatus, name: &str| {
        assert_eq!(status, DoppelStatus::NullParameter, "{name}");
        assert_eq!(last_error(), format!("{name} is NULL"));
    };
    // SAFETY: every non-NULL argument is valid; the NULL ones are the point.
    unsafe {
        refused(doppel_build_info(null_mut()), "out_json");
        refused(doppel_config_default(null_mut()), "out_config");
        refused(doppel_config_from_json(null(), &mut config), "json");
        refused(doppel_config_from_json(path.as_ptr(), null_mut()), "out_config");
        refused(doppel_train_file(null(), path.as_ptr(), None, null_mut(), &mut model), "config");
        refused(doppel_model_save(null(), path.as_ptr()), "model");
        refused(doppel_model_load(null(), &mut model), "path");
        refused(doppel_model_load(path.as_ptr(), null_mut()), "out_model");
        refused(doppel_model_to_bytes(null(), &mut bytes, &mut len), "model");
        refused(doppel_model_from_bytes(null(), 1, &mut model), "bytes");
        refused(doppel_generate_file(null(), 10, 1, path.as_ptr()), "model");
        let mut json: *mut c_char = null_mut();
        refused(doppel_report_json(null(), path.as_ptr(), null(), null(), &mut json), "real_path");
        let p = path.as_ptr();
        refused(doppel_report_json(p, null(), null(), null(), &mut json), "synthetic_path");
        refused(doppel_report_json(p, p, null(), null(), null_mut()), "out_json");
        let rdp = DoppelAccountant::Rdp as i32;
        refused(doppel_privacy_epsilon(rdp, 0.01, 1.0, 10, 1e-5, null_mut()), "out_epsilon");
        refused(doppel_privacy_noise(rdp, 1.0, 1e-5, 0.01, 10, null_mut()), "out_noise_multiplier");
    }
    // Out-parameters stay untouched on failure.
    assert!(config.is_null() && model.is_null() && bytes.is_null() && text.is_null());
    assert_eq!((len, value), (0, 0.0));
    // The second pointer of a pair is checked too.
    let config = small_config();
    unsafe {
        assert_eq!(
            doppel_train_file(config, null(), None, null_mut(), &mut model),
            DoppelStatus::NullParameter
        );
        assert_eq!(
            doppel_train_file(config, path.as_ptr(), None, null_mut(), null_mut()),
            DoppelStatus::NullParameter
        );
        assert_eq!(doppel_build_info(&mut text), DoppelStatus::Ok);
        let info = CStr::from_ptr(text).to_str().unwrap().to_string();
        assert!(
            info.contains("\"cuda\":false")
                && info.contains(env!("CARGO_PKG_VERSION"))
                && info.contains("\"devices\":[\"cpu\"]")
                && info.contains("\"auto_device\":\"cpu\""),
            "{info}"
        );
        doppel_string_free(text);
        assert_eq!(doppel_privacy_epsilon(RDP, 0.01, 1.0, 10, 1e-5, &mut value), DoppelStatus::Ok);
        doppel_config_free(config);
        // Freeing NULL does nothing.
        doppel_config_free(null_mut());
        doppel_model_free(null_mut());
        doppel_string_free(null_mut());
        doppel_bytes_free(null_mut(), 0);
    }
}

#[test]
fn a_bad_config_key_is_named() {
    let mut config = null_mut();
    let json = c(r#"{"training": {"learning_rate": -1}}"#);
    // SAFETY: valid arguments.
    let status = unsafe { doppel_config_from_json(json.as_ptr(), &mut config) };
    assert_eq!(status, DoppelStatus::InvalidConfig);
    assert!(last_error().contains("learning_rate"), "{}", last_error());
    assert!(config.is_null());
    let json = c(r#"{"trainin": {}}"#);
    let status = unsafe { doppel_config_from_json(json.as_ptr(), &mut config) };
    assert_eq!(status, DoppelStatus::InvalidConfig);
    assert!(last_error().contains("trainin"), "{}", last_error());
}

#[test]
fn an_array_for_a_section_or_the_whole_config_is_invalid_config_naming_the_key() {
    // serde alone reads these by position: optimizer "adam" and learning rate 0.5; the
    // delimiter ';' (after which a comma CSV trains as one column). Every position where
    // an array is refused is covered in core's config tests; here, the status and message.
    for (json, key) in
        [(r#"{"training": ["adam", 0.5]}"#, "training: "), (r#"[";"]"#, "(top level): ")]
    {
        let mut config = null_mut();
        let text = c(json);
        // SAFETY: valid arguments.
        let status = unsafe { doppel_config_from_json(text.as_ptr(), &mut config) };
        assert_eq!(status, DoppelStatus::InvalidConfig, "{json}");
        let message = last_error();
        assert!(message.starts_with(&format!("invalid configuration: {key}an array")), "{message}");
        assert!(config.is_null());
    }
    // A list still takes an array.
    let mut config = null_mut();
    let text = c(r#"{"missing_tokens": ["", "-"], "training": {"max_epochs": 1}}"#);
    // SAFETY: valid arguments; the handle is freed once.
    unsafe {
        assert_eq!(doppel_config_from_json(text.as_ptr(), &mut config), DoppelStatus::Ok);
        doppel_config_free(config);
    }
}

#[test]
fn the_report_options_take_no_array_for_an_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_csv(dir.path());
    let mut json = null_mut();
    for (options, key) in [(r#"{"fidelity": [10, 10]}"#, "fidelity: "), ("[0]", "(top level): ")] {
        let options = c(options);
        // SAFETY: valid arguments; nothing is returned on failure.
        let status = unsafe {
            doppel_report_json(input.as_ptr(), input.as_ptr(), null(), options.as_ptr(), &mut json)
        };
        assert_eq!(status, DoppelStatus::InvalidArgument);
        let message = last_error();
        assert!(message.starts_with(&format!("options_json: {key}an array")), "{message}");
        assert!(json.is_null());
    }
}

#[test]
fn a_file_too_short_to_learn_from_is_invalid_data_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("three-rows.csv");
    std::fs::write(&path, "colour,count\nred,1\nblue,2\nred,3\n").expect("write");
    let input = c(path.to_str().expect("utf-8 path"));
    let config = small_config();
    let mut model = null_mut();
    // SAFETY: valid arguments; the config is freed once.
    unsafe {
        let status = doppel_train_file(config, input.as_ptr(), None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::InvalidData);
        let message = last_error();
        assert!(message.starts_with(path.to_str().unwrap()), "{message}");
        assert!(message.contains("only 3 data row(s)"), "{message}");
        assert!(model.is_null());
        doppel_config_free(config);
    }
}

#[test]
fn an_unknown_extension_is_invalid_argument_naming_the_supported_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_csv(dir.path());
    let xyz = dir.path().join("data.xyz");
    std::fs::copy(csv.to_str().unwrap(), &xyz).expect("copy");
    let xyz = c(xyz.to_str().unwrap());
    let config = small_config();
    let mut model = null_mut();
    let refused = |status: DoppelStatus, file: &str| {
        assert_eq!(status, DoppelStatus::InvalidArgument, "{file}");
        let message = last_error();
        for needle in [file, "unknown file extension", ".csv", ".parquet", ".arrow"] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
    };
    // SAFETY: valid arguments; handles freed once.
    unsafe {
        refused(doppel_train_file(config, xyz.as_ptr(), None, null_mut(), &mut model), "data.xyz");
        assert!(model.is_null());
        let mut json = null_mut();
        let p = csv.as_ptr();
        refused(doppel_report_json(p, xyz.as_ptr(), null(), null(), &mut json), "data.xyz");
        let status = doppel_train_file(config, csv.as_ptr(), None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        let out = dir.path().join("synthetic.xyz");
        let cout = c(out.to_str().unwrap());
        refused(doppel_generate_file(model, 10, 1, cout.as_ptr()), "synthetic.xyz");
        assert!(!out.exists(), "nothing is written as CSV by guess");
        doppel_model_free(model);
        doppel_config_free(config);
    }
}

#[test]
fn train_save_load_generate_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_csv(dir.path());
    let config = small_config();
    let mut model = null_mut();
    unsafe extern "C" fn count(progress: *const DoppelProgress, calls: *mut c_void) -> i32 {
        // SAFETY: the test passes a live usize and the library a live progress record.
        unsafe {
            *calls.cast::<usize>() += 1;
            assert!((*progress).epoch >= 1 && (*progress).epsilon < 0.0);
        }
        0
    }
    let mut calls = 0usize;
    let user = (&mut calls as *mut usize).cast();
    // SAFETY: valid arguments throughout; handles freed once at the end.
    unsafe {
        let status = doppel_train_file(config, input.as_ptr(), Some(count), user, &mut model);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        assert!(calls >= 2, "progress called per step: {calls}");

        // The pointer arguments that follow a live model are checked too.
        let (mut bytes, mut len) = (null_mut::<u8>(), 0usize);
        let refused = |status: DoppelStatus, name: &str| {
            assert_eq!(status, DoppelStatus::NullParameter, "{name}");
            assert_eq!(last_error(), format!("{name} is NULL"));
        };
        refused(doppel_model_save(model, null()), "path");
        refused(doppel_model_to_bytes(model, null_mut(), &mut len), "out_bytes");
        refused(doppel_model_to_bytes(model, &mut bytes, null_mut()), "out_len");
        refused(doppel_generate_file(model, 10, 1, null()), "path");
        refused(doppel_model_from_bytes([0u8].as_ptr(), 1, null_mut()), "out_model");
        let p = input.as_ptr();
        refused(doppel_report_json(p, p, null(), null(), null_mut()), "out_json");
        assert!(bytes.is_null() && len == 0, "out-parameters untouched on failure");

        let saved = c(dir.path().join("m.doppel").to_str().unwrap());
        assert_eq!(doppel_model_save(model, saved.as_ptr()), DoppelStatus::Ok);
        let mut loaded = null_mut();
        assert_eq!(doppel_model_load(saved.as_ptr(), &mut loaded), DoppelStatus::Ok);
        assert_eq!(doppel_model_to_bytes(loaded, &mut bytes, &mut len), DoppelStatus::Ok);
        let mut copy = null_mut();
        assert_eq!(doppel_model_from_bytes(bytes, len, &mut copy), DoppelStatus::Ok);
        doppel_bytes_free(bytes, len);

        // The original, the loaded and the copied model generate the same rows.
        let mut outputs = Vec::new();
        for (i, m) in [model, loaded, copy].into_iter().enumerate() {
            let path = dir.path().join(format!("s{i}.csv"));
            let cpath = c(path.to_str().unwrap());
            assert_eq!(doppel_generate_file(m, 1000, 7, cpath.as_ptr()), DoppelStatus::Ok);
            outputs.push(std::fs::read_to_string(path).unwrap());
        }
        assert_eq!(outputs[0].lines().count(), 1001);
        assert!(outputs[0].starts_with("colour,size,count\n"));
        assert!(outputs.iter().all(|o| *o == outputs[0]));

        // The report of the generated rows against the training data, through the ABI.
        let mut json = null_mut();
        let first = c(dir.path().join("s0.csv").to_str().unwrap());
        let status = doppel_report_json(input.as_ptr(), first.as_ptr(), null(), null(), &mut json);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        let report = CStr::from_ptr(json).to_str().unwrap().to_string();
        doppel_string_free(json);
        assert!(report.starts_with(r#"{"format":"doppel-report","version":1"#), "{report:.80}");
        let options = c(r#"{"target": "nope"}"#);
        let status =
            doppel_report_json(input.as_ptr(), first.as_ptr(), null(), options.as_ptr(), &mut json);
        assert_eq!(status, DoppelStatus::InvalidData);
        assert!(last_error().contains("no column 'nope'"), "{}", last_error());

        // A file that is not a model, and a missing input, are errors with messages.
        let not_model = c(dir.path().join("s0.csv").to_str().unwrap());
        let mut bad = null_mut();
        assert_eq!(doppel_model_load(not_model.as_ptr(), &mut bad), DoppelStatus::InvalidModel);
        // An empty buffer may come as (NULL, 0): not a model either.
        assert_eq!(doppel_model_from_bytes(null(), 0, &mut bad), DoppelStatus::InvalidModel);
        assert!(bad.is_null());
        let missing = c(dir.path().join("nope.csv").to_str().unwrap());
        let status = doppel_train_file(config, missing.as_ptr(), None, null_mut(), &mut bad);
        assert_eq!(status, DoppelStatus::Io);
        assert!(last_error().contains("nope.csv"), "{}", last_error());

        doppel_model_free(model);
        doppel_model_free(loaded);
        doppel_model_free(copy);
        doppel_config_free(config);
    }
}

/// Eight threads generating from one model at once (to files and into Arrow streams) get what
/// one thread gets with the same seeds. `.ci/tsan` runs this test under ThreadSanitizer.
#[test]
fn eight_threads_generate_from_one_model_as_one_thread_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_csv(dir.path());
    let config = small_config();
    let mut model = null_mut();
    // SAFETY: valid arguments; the model outlives the threads (scoped) and is freed once.
    unsafe {
        let status = doppel_train_file(config, input.as_ptr(), None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
    }
    let shared = model as usize;
    let generate = |seed: u64, name: String| {
        let model = shared as *const DoppelModel;
        let path = dir.path().join(name);
        let cpath = c(path.to_str().unwrap());
        // SAFETY: a live model, a valid path and stream storage.
        let (status, mut stream) = unsafe {
            assert_eq!(doppel_generate_file(model, 300, seed, cpath.as_ptr()), DoppelStatus::Ok);
            let mut stream = FFI_ArrowArrayStream::empty();
            (doppel_generate_arrow(model, 300, seed, &mut stream), stream)
        };
        assert_eq!(status, DoppelStatus::Ok);
        // SAFETY: filled by the library; the reader moves it out and releases it.
        let reader = unsafe { RecordBatchStreamReader::from_raw(&mut stream) }.unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        (std::fs::read_to_string(path).unwrap(), batches)
    };
    let alone: Vec<_> = (0..8).map(|seed| generate(seed, format!("a{seed}.csv"))).collect();
    let together: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|seed| scope.spawn(move || generate(seed, format!("t{seed}.csv"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
    assert_eq!(alone[0].0.lines().count(), 301);
    assert_ne!(alone[0].0, alone[1].0, "different seeds give different rows");
    // SAFETY: freed once, after every thread ended.
    unsafe {
        doppel_model_free(model);
        doppel_config_free(config);
    }
}

#[test]
fn the_callback_cancels_training() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_csv(dir.path());
    let config = small_config();
    unsafe extern "C" fn stop(_: *const DoppelProgress, _: *mut c_void) -> i32 {
        1
    }
    let mut model = null_mut();
    // SAFETY: valid arguments.
    unsafe {
        let status = doppel_train_file(config, input.as_ptr(), Some(stop), null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::Cancelled, "{}", last_error());
        assert!(model.is_null());
        // Cancelling on the very last step still cancels (training has checked the flag for
        // the last time by then).
        unsafe extern "C" fn stop_last(p: *const DoppelProgress, _: *mut c_void) -> i32 {
            // SAFETY: the library passes a live progress record.
            let p = unsafe { &*p };
            i32::from(p.epoch == 2 && p.step == p.steps_per_epoch)
        }
        let status =
            doppel_train_file(config, input.as_ptr(), Some(stop_last), null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::Cancelled, "{}", last_error());
        assert!(model.is_null());
        doppel_config_free(config);
    }
}

#[test]
fn progress_reports_the_epsilon_of_the_last_completed_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_csv(dir.path());
    let json = c(r#"{"training": {"max_epochs": 2, "batch_size": 64},
        "privacy": {"dp": true, "noise_multiplier": 1.0, "deterministic_noise": true}}"#);
    let mut config = null_mut();
    unsafe extern "C" fn record(p: *const DoppelProgress, seen: *mut c_void) -> i32 {
        // SAFETY: the test passes a live Vec and the library a live progress record.
        unsafe { (*seen.cast::<Vec<DoppelProgress>>()).push(*p) };
        0
    }
    let mut seen: Vec<DoppelProgress> = Vec::new();
    let user = (&mut seen as *mut Vec<DoppelProgress>).cast();
    let mut model = null_mut();
    // SAFETY: valid arguments; handles freed once.
    unsafe {
        assert_eq!(doppel_config_from_json(json.as_ptr(), &mut config), DoppelStatus::Ok);
        let status = doppel_train_file(config, input.as_ptr(), Some(record), user, &mut model);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        doppel_model_free(model);
        doppel_config_free(config);
    }
    let per_epoch = seen[0].steps_per_epoch;
    assert!(per_epoch >= 2 && seen.len() == 2 * per_epoch, "{} steps", seen.len());
    let (first, second) = seen.split_at(per_epoch);
    // 0 during the first epoch, set at its last step, carried through the second, which
    // ends higher.
    assert!(first[..per_epoch - 1].iter().all(|p| p.epsilon == 0.0));
    let after_one = first[per_epoch - 1].epsilon;
    assert!(after_one > 0.0);
    assert!(second[..per_epoch - 1].iter().all(|p| p.epsilon == after_one));
    assert!(second[per_epoch - 1].epsilon > after_one);
}

const RDP: i32 = DoppelAccountant::Rdp as i32;

#[test]
fn the_privacy_calculator_agrees_with_the_accountants() {
    let (mut epsilon, mut sigma) = (0.0, 0.0);
    // SAFETY: valid out-pointers.
    unsafe {
        let status = doppel_privacy_epsilon(RDP, 0.01, 1.0, 1000, 1e-5, &mut epsilon);
        assert_eq!(status, DoppelStatus::Ok);
        let status = doppel_privacy_noise(RDP, epsilon, 1e-5, 0.01, 1000, &mut sigma);
        assert_eq!(status, DoppelStatus::Ok);
        let status = doppel_privacy_epsilon(RDP, 1.5, 1.0, 10, 1e-5, &mut epsilon);
        assert_eq!(status, DoppelStatus::InvalidArgument);
        assert!(last_error().starts_with("sampling_rate must be in (0, 1]"), "{}", last_error());
        // Messages name this function's own arguments, with no "invalid configuration:" (the
        // status says INVALID_ARGUMENT).
        let calibrated = sigma;
        let refused = |status: DoppelStatus, argument: &str| {
            let message = last_error();
            assert_eq!(status, DoppelStatus::InvalidArgument, "{message}");
            assert!(message.starts_with(argument), "{argument}: {message}");
            assert!(!message.contains("target_epsilon") && !message.contains("configuration"));
        };
        refused(doppel_privacy_noise(RDP, -1.0, 1e-5, 0.01, 10, &mut sigma), "epsilon must be");
        let status = doppel_privacy_noise(RDP, 1e-6, 1e-5, 1.0, 10_000, &mut sigma);
        refused(status, "epsilon 0.000001 cannot be reached");
        refused(doppel_privacy_noise(RDP, 1.0, 2.0, 0.01, 10, &mut sigma), "delta must be");
        refused(doppel_privacy_noise(RDP, 1.0, 1e-5, 0.01, 0, &mut sigma), "steps must be");
        let status = doppel_privacy_epsilon(RDP, 0.01, 0.0, 10, 1e-5, &mut epsilon);
        refused(status, "noise_multiplier must be");
        assert_eq!(sigma, calibrated, "untouched on failure");
        // An accountant number outside the enum is refused, not undefined behaviour.
        let status = doppel_privacy_noise(7, 1.0, 1e-5, 0.01, 10, &mut epsilon);
        assert_eq!(status, DoppelStatus::InvalidArgument);
        assert!(last_error().starts_with("accountant is 7;"), "{}", last_error());
    }
    let event = GaussianEvent { sampling_rate: 0.01, noise_multiplier: 1.0, steps: 1000 };
    let direct = accountant::epsilon(AccountantKind::Rdp, &[event], 1e-5).unwrap().epsilon;
    // Calibrating to the epsilon of sigma = 1 must give sigma = 1 back (to the search's
    // tolerance); the rate-1.5 call above failed and left `epsilon` as it was.
    assert_eq!(epsilon, direct);
    assert!((sigma - 1.0).abs() < 1e-3, "{sigma}");
}
