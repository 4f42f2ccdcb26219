//! Types: `$type`, and the conversions `$toString $toInt $toLong $toDouble`, which follow
//! `$convert` without `onError`: `null` and missing give `null`, anything that cannot be
//! converted fails with `ConversionFailure` (241).

use bson::Bson;

use super::num::Num;
use super::op::Op;
use super::string::format_double;
use super::{Value, date, fixed, nullish, type_name};
use crate::error::{CommandError, CommandResult, ErrorCode};

/// Evaluates a type operator on evaluated arguments.
pub(super) fn eval(op: Op, values: &[Value]) -> CommandResult<Value> {
    let [value] = fixed(values)?;
    if op == Op::Type {
        return Ok(Some(Bson::String(type_name(value).to_owned())));
    }
    let Some(input) = value.as_ref().filter(|_| !nullish(value)) else {
        return Ok(Some(Bson::Null));
    };
    let converted = match op {
        Op::ToString => to_string(input).map(Bson::String),
        Op::ToInt => to_integer(input, Target::Int).map(|i| Bson::Int32(i as i32)),
        Op::ToLong => to_integer(input, Target::Long).map(Bson::Int64),
        _ => to_double(input).map(Bson::Double),
    };
    converted.map(Some)
}

/// The integer type a conversion aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Int,
    Long,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Int => "int",
            Target::Long => "long",
        }
    }

    fn range(self) -> (i64, i64) {
        match self {
            Target::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
            Target::Long => (i64::MIN, i64::MAX),
        }
    }
}

fn failure(message: String) -> CommandError {
    CommandError::new(
        ErrorCode::ConversionFailure,
        format!("{message} in $convert with no onError value"),
    )
}

fn unsupported(input: &Bson, target: &str) -> CommandError {
    failure(format!(
        "Unsupported conversion from {} to {target}",
        crate::compare::type_name(input)
    ))
}

fn overflow(shown: String) -> CommandError {
    CommandError::new(
        ErrorCode::ConversionFailure,
        format!("Conversion would overflow target type in $convert with no onError value: {shown}"),
    )
}

fn to_string(input: &Bson) -> CommandResult<String> {
    match input {
        Bson::String(s) => Ok(s.clone()),
        Bson::Boolean(b) => Ok(b.to_string()),
        Bson::Int32(i) => Ok(i.to_string()),
        Bson::Int64(i) => Ok(i.to_string()),
        Bson::Double(f) if f.is_nan() => Ok("NaN".to_owned()),
        Bson::Double(f) if f.is_infinite() => {
            Ok(if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
        }
        Bson::Double(f) => Ok(format_double(*f)),
        Bson::Decimal128(d) => Ok(d.to_string()),
        Bson::ObjectId(oid) => Ok(oid.to_hex()),
        Bson::DateTime(d) => date::format_iso(d.timestamp_millis()),
        other => Err(unsupported(other, "string")),
    }
}

fn to_integer(input: &Bson, target: Target) -> CommandResult<i64> {
    let (low, high) = target.range();
    match input {
        Bson::Boolean(b) => Ok(i64::from(*b)),
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) if (low..=high).contains(i) => Ok(*i),
        Bson::Int64(_) => Err(overflow(String::new())),
        Bson::Double(_) | Bson::Decimal128(_) => {
            let f = Num::of(input).map_or(f64::NAN, Num::as_f64);
            float_to_integer(f, target)
        }
        Bson::DateTime(d) if target == Target::Long => Ok(d.timestamp_millis()),
        Bson::String(s) => parse_integer(s, target),
        other => Err(unsupported(other, target.name())),
    }
}

/// Truncates `f` toward zero, refusing NaN, infinities and values outside the target's range.
fn float_to_integer(f: f64, target: Target) -> CommandResult<i64> {
    if f.is_nan() {
        return Err(failure(
            "Attempt to convert NaN value to integer type".to_owned(),
        ));
    }
    if f.is_infinite() {
        return Err(failure(
            "Attempt to convert infinity value to integer type".to_owned(),
        ));
    }
    // 2^63: every i64 is below it, and it is exactly representable.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let in_range = match target {
        Target::Int => (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&f),
        Target::Long => (-TWO_63..TWO_63).contains(&f),
    };
    if !in_range {
        return Err(overflow(format_double(f)));
    }
    Ok(f.trunc() as i64)
}

/// Parses a base-10 integer string (an optional sign, then digits only).
fn parse_integer(text: &str, target: Target) -> CommandResult<i64> {
    refuse_hex(text)?;
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let reason = if digits.is_empty() {
        Some("No digits")
    } else if !digits.bytes().all(|b| b.is_ascii_digit()) {
        Some("Did not consume whole string.")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(parse_failure(text, reason));
    }
    let (low, high) = target.range();
    text.parse::<i64>()
        .ok()
        .filter(|i| (low..=high).contains(i))
        .ok_or_else(|| parse_failure(text, "Out of range"))
}

/// Refuses `0x` input, which `mongod` does not read as a number here.
fn refuse_hex(text: &str) -> CommandResult<()> {
    if text.starts_with("0x") || text.starts_with("0X") {
        return Err(CommandError::new(
            ErrorCode::ConversionFailure,
            format!("Illegal hexadecimal input in $convert with no onError value: {text}"),
        ));
    }
    Ok(())
}

fn parse_failure(text: &str, reason: &str) -> CommandError {
    CommandError::new(
        ErrorCode::ConversionFailure,
        format!("Failed to parse number '{text}' in $convert with no onError value: {reason}"),
    )
}

fn to_double(input: &Bson) -> CommandResult<f64> {
    match input {
        Bson::Boolean(b) => Ok(f64::from(u8::from(*b))),
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            Ok(Num::of(input).map_or(f64::NAN, Num::as_f64))
        }
        Bson::DateTime(d) => Ok(d.timestamp_millis() as f64),
        Bson::String(s) => parse_double(s),
        other => Err(unsupported(other, "double")),
    }
}

/// Parses a decimal or exponent-form number, or `Infinity` / `NaN`.
fn parse_double(text: &str) -> CommandResult<f64> {
    refuse_hex(text)?;
    let well_formed = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let parsed = well_formed
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .ok_or_else(|| parse_failure(text, "Did not consume whole string."))?;
    let spelled_infinite = text.to_ascii_lowercase().contains("inf");
    if parsed.is_infinite() && !spelled_infinite {
        return Err(parse_failure(text, "Out of range"));
    }
    Ok(parsed)
}
