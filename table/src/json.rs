//! Reading configuration-like JSON (the engine's configuration, the report's options) with
//! errors that name the key at fault, the same way natively, through the C ABI and in the
//! browser.

use serde::Serialize;

/// Parses JSON text into a configuration type `T` (the training configuration, the report's
/// options): an error names the key at fault, for a value of the wrong type, an unknown key
/// (with `deny_unknown_fields`), or an array where no list belongs (see
/// [`refuse_positional_arrays`]).
pub fn from_json_object<T>(text: &str) -> std::result::Result<T, String>
where
    T: serde::de::DeserializeOwned + Serialize + Default,
{
    let shape = serde_json::to_value(T::default()).map_err(|e| e.to_string())?;
    from_json_object_shaped(text, &shape)
}

/// [`from_json_object`] with the lists found where `shape` (a value of the type, serialised)
/// has arrays: for a type whose default leaves an optional section out (`null`), a shape with
/// that section present lets its lists be lists.
pub fn from_json_object_shaped<T>(
    text: &str,
    shape: &serde_json::Value,
) -> std::result::Result<T, String>
where
    T: serde::de::DeserializeOwned,
{
    // Text that is no JSON at all gets serde_json's message, with its line and column, from
    // the typed parse below.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        check_arrays(&value, Some(shape), &mut Vec::new())?;
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    let parsed: T = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let key = e.path().to_string();
        match key.as_str() {
            "." => e.inner().to_string(),
            _ => format!("{key}: {}", e.inner()),
        }
    })?;
    reader.end().map_err(|e| e.to_string())?;
    Ok(parsed)
}

/// Refuses a JSON array anywhere in `value` but where `T::default()` serialises a list (such
/// as `missing_tokens`), naming the key: `training`, `columns.age`, or `(top level)`.
///
/// serde reads a JSON array into a struct by matching its items to the fields in order, so
/// `{"training": ["adam", 0.5]}` would silently set the optimizer and the learning rate, and a
/// top-level `[";"]` the delimiter. A configuration names its keys: a section or a value object
/// is a JSON object, a setting a single value, and only the lists are arrays. Keys the default
/// does not hold (a column under `columns`, a field of an option that is `null` by default)
/// take no array either. Works on any serialisable configuration type with a `Default` (the
/// report's options too).
pub fn refuse_positional_arrays<T: Serialize + Default>(
    value: &serde_json::Value,
) -> std::result::Result<(), String> {
    let shape = serde_json::to_value(T::default()).map_err(|e| e.to_string())?;
    refuse_positional_arrays_shaped(value, &shape)
}

/// [`refuse_positional_arrays`] with the lists where `shape` has arrays (see
/// [`from_json_object_shaped`]).
pub fn refuse_positional_arrays_shaped(
    value: &serde_json::Value,
    shape: &serde_json::Value,
) -> std::result::Result<(), String> {
    check_arrays(value, Some(shape), &mut Vec::new())
}

/// [`refuse_positional_arrays`] below the key path `path`, with `shape` the default's value
/// there (`None` where the default holds nothing).
fn check_arrays<'a>(
    value: &'a serde_json::Value,
    shape: Option<&serde_json::Value>,
    path: &mut Vec<&'a str>,
) -> std::result::Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Array(_) if matches!(shape, Some(Value::Array(_))) => Ok(()),
        Value::Array(_) => {
            let key = if path.is_empty() { "(top level)".to_owned() } else { path.join(".") };
            Err(format!(
                "{key}: an array is accepted only for a list; a section or a value object \
                 takes named keys, a setting a single value"
            ))
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                path.push(key);
                check_arrays(field, shape.and_then(|s| s.get(key)), path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
