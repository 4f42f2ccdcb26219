//! Strings: `$concat $toLower $toUpper $substrCP $strLenCP`, and how values are written as
//! strings where `mongod` coerces them.

use bson::Bson;

use super::op::Op;
use super::{Num, Value, date, fixed, nullish, type_name};
use crate::error::{CommandError, CommandResult};

/// Evaluates a string operator on evaluated arguments.
pub(super) fn eval(op: Op, values: &[Value]) -> CommandResult<Value> {
    let string = |s: String| Ok(Some(Bson::String(s)));
    match op {
        Op::Concat => concat(values),
        Op::ToLower => {
            let [value] = fixed(values)?;
            string(coerce_to_string(value)?.to_ascii_lowercase())
        }
        Op::ToUpper => {
            let [value] = fixed(values)?;
            string(coerce_to_string(value)?.to_ascii_uppercase())
        }
        Op::SubstrCP => {
            let [value, start, length] = fixed(values)?;
            substr_cp(value, start, length)
        }
        _ => {
            let [value] = fixed(values)?;
            match value {
                Some(Bson::String(s)) => Ok(Some(count(s.chars().count()))),
                _ => Err(CommandError::with_code(
                    34471,
                    format!(
                        "$strLenCP requires a string argument, found: {}",
                        type_name(value)
                    ),
                )),
            }
        }
    }
}

/// A count as `mongod` returns it: an `int` when it fits.
fn count(n: usize) -> Bson {
    i32::try_from(n).map_or_else(|_| Bson::Int64(n as i64), Bson::Int32)
}

fn concat(values: &[Value]) -> CommandResult<Value> {
    let mut out = String::new();
    for value in values {
        match value {
            Some(Bson::String(s)) => out.push_str(s),
            _ if nullish(value) => return Ok(Some(Bson::Null)),
            _ => {
                return Err(CommandError::with_code(
                    16702,
                    format!("$concat only supports strings, not {}", type_name(value)),
                ));
            }
        }
    }
    Ok(Some(Bson::String(out)))
}

fn substr_cp(value: &Value, start: &Value, length: &Value) -> CommandResult<Value> {
    let text = coerce_to_string(value)?;
    let start = index_argument(start, "starting index", 34450, 34451)?;
    let length = index_argument(length, "length", 34452, 34453)?;
    if length < 0 {
        return Err(CommandError::with_code(
            34454,
            "$substrCP: length must be a nonnegative integer.",
        ));
    }
    if start < 0 {
        return Err(CommandError::with_code(
            34455,
            "$substrCP: the starting index must be nonnegative integer.",
        ));
    }
    let piece: String = text
        .chars()
        .skip(start.unsigned_abs() as usize)
        .take(length.unsigned_abs() as usize)
        .collect();
    Ok(Some(Bson::String(piece)))
}

/// A `$substrCP` bound: a number holding a 32-bit integer.
fn index_argument(value: &Value, what: &str, not_number: i32, not_int: i32) -> CommandResult<i32> {
    let n = value.as_ref().and_then(Num::of).ok_or_else(|| {
        CommandError::with_code(
            not_number,
            format!(
                "$substrCP: {what} must be a numeric type (is BSON type {})",
                type_name(value)
            ),
        )
    })?;
    n.to_exact_i64()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| {
            CommandError::with_code(
                not_int,
                format!(
                    "$substrCP: {what} cannot be represented as a 32-bit integral value: {}",
                    format_double(n.as_f64())
                ),
            )
        })
}

/// A value written as a string where `mongod` coerces one (`$toLower`, `$substrCP`):
/// numbers in decimal, dates in ISO 8601, `null` and missing as `""`.
pub(super) fn coerce_to_string(value: &Value) -> CommandResult<String> {
    match value {
        None | Some(Bson::Null | Bson::Undefined) => Ok(String::new()),
        Some(Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s)) => Ok(s.clone()),
        Some(Bson::Int32(i)) => Ok(i.to_string()),
        Some(Bson::Int64(i)) => Ok(i.to_string()),
        Some(Bson::Double(f)) => Ok(format_double(*f)),
        Some(Bson::Decimal128(d)) => Ok(d.to_string()),
        Some(Bson::DateTime(d)) => date::format_iso(d.timestamp_millis()),
        Some(Bson::Timestamp(ts)) => Ok(format!("Timestamp({}, {})", ts.time, ts.increment)),
        Some(other) => Err(CommandError::with_code(
            16007,
            format!(
                "can't convert from BSON type {} to String",
                crate::compare::type_name(other)
            ),
        )),
    }
}

/// A double written the way `mongod` streams one: six significant digits, trailing zeros
/// dropped, in exponent form below 1e-4 and from 1e6 on (`printf`'s `%g`).
pub(super) fn format_double(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let scientific = format!("{f:.5e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{}e{sign}{:02}",
            trim_fraction(mantissa),
            exponent.unsigned_abs()
        );
    }
    let decimals = (5 - exponent).unsigned_abs() as usize;
    trim_fraction(&format!("{f:.decimals$}")).to_owned()
}

/// Drops the trailing zeros of a fraction, and the point if nothing is left after it.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}
