//! Small checks that return `Err(String)` instead of panicking, and JSON accessors.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `actual == expected`, or an error naming `what`.
///
/// # Errors
/// A sentence with both values.
pub fn eq<T: PartialEq + Debug + ?Sized>(
    what: &str,
    actual: &T,
    expected: &T,
) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {actual:?}"))
    }
}

/// `condition`, or an error saying `what`.
///
/// # Errors
/// `what`.
pub fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

/// The value at a JSON pointer (`/units/credit/available`).
///
/// # Errors
/// When nothing is there.
pub fn at<'a>(value: &'a Value, pointer: &str) -> Result<&'a Value, String> {
    value
        .pointer(pointer)
        .ok_or_else(|| format!("no `{pointer}` in {}", compact(value)))
}

/// The string at a JSON pointer.
///
/// # Errors
/// When nothing or no string is there.
pub fn text(value: &Value, pointer: &str) -> Result<String, String> {
    at(value, pointer)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`{pointer}` is not a string in {}", compact(value)))
}

/// The array at a JSON pointer.
///
/// # Errors
/// When nothing or no array is there.
pub fn array<'a>(value: &'a Value, pointer: &str) -> Result<&'a Vec<Value>, String> {
    at(value, pointer)?
        .as_array()
        .ok_or_else(|| format!("`{pointer}` is not an array in {}", compact(value)))
}

/// The instant at a JSON pointer; `None` for `null` or absent.
///
/// # Errors
/// When something else than an RFC 3339 string or null is there.
pub fn instant_at(value: &Value, pointer: &str) -> Result<Option<DateTime<Utc>>, String> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => instant(text).map(Some),
        Some(other) => Err(format!("`{pointer}` is not an instant: {}", compact(other))),
    }
}

/// An RFC 3339 instant.
///
/// # Errors
/// When `text` is not one.
pub fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| format!("`{text}` is not an RFC 3339 instant: {error}"))
}

/// `(kind, amount)` of every draw in the array at `pointer` (`/paid_from`, `/restored_to`).
///
/// # Errors
/// When the array or a field is missing.
pub fn draws(value: &Value, pointer: &str) -> Result<Vec<(String, String)>, String> {
    array(value, pointer)?
        .iter()
        .map(|draw| Ok((text(draw, "/kind")?, text(draw, "/amount")?)))
        .collect()
}

/// `(unit, kind, amount)` of every draw in the array at `pointer`.
///
/// # Errors
/// When the array or a field is missing.
pub fn unit_draws(value: &Value, pointer: &str) -> Result<Vec<(String, String, String)>, String> {
    array(value, pointer)?
        .iter()
        .map(|draw| {
            Ok((
                text(draw, "/unit")?,
                text(draw, "/kind")?,
                text(draw, "/amount")?,
            ))
        })
        .collect()
}

/// Owned `(String, String)` pairs from string slices, for comparisons.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A JSON value on one line, shortened for messages.
pub fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 2000 {
        let cut = (0..=2000)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", text.get(..cut).unwrap_or(""))
    } else {
        text
    }
}
