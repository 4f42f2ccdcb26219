//! Arithmetic: `$add $subtract $multiply $divide $mod $abs $ceil $floor $round`.
//!
//! `null`, `undefined` and missing operands make the result `null`; integer results widen
//! from `int` to `long` to `double` rather than overflow.

use bson::{Bson, DateTime};

use super::num::{self, Num, Width};
use super::op::Op;
use super::{Value, fixed, nullish, type_name};
use crate::decimal::{self, Rounding};
use crate::error::{CommandError, CommandResult, ErrorCode};

/// Evaluates an arithmetic operator on evaluated arguments.
pub(super) fn eval(op: Op, values: &[Value]) -> CommandResult<Value> {
    match op {
        Op::Add => super::add::add(values),
        Op::Multiply => multiply(values),
        Op::Subtract => {
            let [a, b] = fixed(values)?;
            subtract(a, b)
        }
        Op::Divide => {
            let [a, b] = fixed(values)?;
            divide(a, b)
        }
        Op::Mod => {
            let [a, b] = fixed(values)?;
            modulo(a, b)
        }
        Op::Round => to_place(Op::Round, values),
        Op::Trunc => to_place(Op::Trunc, values),
        _ => {
            let [value] = fixed(values)?;
            unary(op, value)
        }
    }
}

fn null() -> Value {
    Some(Bson::Null)
}

fn date(millis: i64) -> Value {
    Some(Bson::DateTime(DateTime::from_millis(millis)))
}

/// The number a present, numeric value holds.
fn number(value: &Value) -> Option<Num> {
    value.as_ref().and_then(Num::of)
}

fn multiply(values: &[Value]) -> CommandResult<Value> {
    let mut nums = Vec::with_capacity(values.len());
    for value in values {
        if nullish(value) {
            return Ok(null());
        }
        match number(value) {
            Some(n) => nums.push(n),
            None => {
                return Err(CommandError::type_mismatch(format!(
                    "$multiply only supports numeric types, not {}",
                    type_name(value)
                )));
            }
        }
    }
    Ok(Some(num::product(&nums).to_bson()))
}

fn subtract(a: &Value, b: &Value) -> CommandResult<Value> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Ok(Some(difference(x, y).to_bson()));
    }
    if nullish(a) || nullish(b) {
        return Ok(null());
    }
    let overflow = || CommandError::new(ErrorCode::Overflow, "date overflow");
    match (a, b) {
        (Some(Bson::DateTime(x)), Some(Bson::DateTime(y))) => x
            .timestamp_millis()
            .checked_sub(y.timestamp_millis())
            .map(|diff| Some(Bson::Int64(diff)))
            .ok_or_else(overflow),
        (Some(Bson::DateTime(x)), _) => {
            let millis = number(b).ok_or_else(|| {
                CommandError::type_mismatch(format!("can't $subtract {} from Date", type_name(b)))
            })?;
            whole_millis(millis)
                .and_then(|m| x.timestamp_millis().checked_sub(m))
                .map(date)
                .ok_or_else(overflow)
        }
        _ => Err(CommandError::type_mismatch(format!(
            "can't $subtract {} from {}",
            type_name(b),
            type_name(a)
        ))),
    }
}

/// A number of milliseconds as a whole `i64`, a fraction rounded to the nearest; `None` out of
/// range.
fn whole_millis(n: Num) -> Option<i64> {
    // 2^63: every i64 is below it, and it is exactly representable.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    match n {
        Num::Int(i) => Some(i64::from(i)),
        Num::Long(i) => Some(i),
        Num::Double(_) | Num::Decimal(_) => {
            let rounded = n.as_f64().round();
            (-TWO_63..TWO_63)
                .contains(&rounded)
                .then_some(rounded as i64)
        }
    }
}

/// `x - y` at the wider of their widths.
fn difference(x: Num, y: Num) -> Num {
    let width = x.width().max(y.width());
    match (x.as_integer(), y.as_integer()) {
        (Some(i), Some(j)) => num::integer(width, i128::from(i) - i128::from(j)),
        _ if width == Width::Decimal => x.decimal_difference(y),
        _ => Num::float(width, x.as_f64() - y.as_f64()),
    }
}

fn divide(a: &Value, b: &Value) -> CommandResult<Value> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        if y.is_zero() {
            return Err(CommandError::new(
                ErrorCode::BadValue,
                "can't $divide by zero",
            ));
        }
        let width = x.width().max(y.width()).max(Width::Double);
        let quotient = if width == Width::Decimal {
            x.decimal_quotient(y)
        } else {
            Num::Double(x.as_f64() / y.as_f64())
        };
        return Ok(Some(quotient.to_bson()));
    }
    if nullish(a) || nullish(b) {
        return Ok(null());
    }
    Err(CommandError::type_mismatch(format!(
        "$divide only supports numeric types, not {} and {}",
        type_name(a),
        type_name(b)
    )))
}

fn modulo(a: &Value, b: &Value) -> CommandResult<Value> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        if y.is_zero() {
            return Err(CommandError::with_code(16610, "can't $mod by zero"));
        }
        let width = x.width().max(y.width());
        let result = match (x.as_integer(), y.as_integer()) {
            (Some(i), Some(j)) => num::integer(width, i128::from(i) % i128::from(j)),
            _ => Num::float(width, x.as_f64() % y.as_f64()),
        };
        return Ok(Some(result.to_bson()));
    }
    if nullish(a) || nullish(b) {
        return Ok(null());
    }
    Err(CommandError::with_code(
        16611,
        format!(
            "$mod only supports numeric types, not {} and {}",
            type_name(a),
            type_name(b)
        ),
    ))
}

/// `$abs`, `$ceil` and `$floor`.
fn unary(op: Op, value: &Value) -> CommandResult<Value> {
    if nullish(value) {
        return Ok(null());
    }
    let n = number(value).ok_or_else(|| {
        CommandError::with_code(
            28765,
            format!(
                "{} only supports numeric types, not {}",
                op.name(),
                type_name(value)
            ),
        )
    })?;
    let result = match (op, n) {
        (Op::Abs, Num::Long(i64::MIN)) => {
            return Err(CommandError::with_code(
                28680,
                "can't take $abs of long long min",
            ));
        }
        (Op::Abs, Num::Int(i)) => num::integer(Width::Int, i128::from(i).abs()),
        (Op::Abs, Num::Long(i)) => Num::Long(i.abs()),
        (Op::Abs, Num::Decimal(_)) => n.decimal_abs(),
        (Op::Abs, _) => Num::float(n.width(), n.as_f64().abs()),
        (Op::Ceil, Num::Decimal(d)) => Num::Decimal(decimal::to_place(&d, 0, Rounding::Ceil)),
        (Op::Floor, Num::Decimal(d)) => Num::Decimal(decimal::to_place(&d, 0, Rounding::Floor)),
        (Op::Ceil, Num::Double(f)) => Num::Double(f.ceil()),
        (Op::Floor, Num::Double(f)) => Num::Double(f.floor()),
        _ => n,
    };
    Ok(Some(result.to_bson()))
}

/// `$round` (half to even) and `$trunc` (toward zero) to a number of decimal places.
fn to_place(op: Op, values: &[Value]) -> CommandResult<Value> {
    let name = op.name();
    let truncate = op == Op::Trunc;
    let (value, place) = match values {
        [value] => (value, None),
        [value, place] => (value, Some(place)),
        _ => {
            return Err(CommandError::bad_value(format!(
                "{name} takes one or two arguments"
            )));
        }
    };
    if nullish(value) {
        return Ok(null());
    }
    let n = number(value).ok_or_else(|| {
        CommandError::with_code(
            51081,
            format!(
                "{name} only supports numeric types, not {}",
                type_name(value)
            ),
        )
    })?;
    let place = match place {
        None => 0,
        Some(p) if nullish(p) => return Ok(null()),
        Some(p) => round_place(name, p)?,
    };
    // The range check above keeps `place` well inside i32.
    let place = place as i32;
    let result = match n.as_integer() {
        Some(i) if place >= 0 => num::integer(n.width(), i128::from(i)),
        Some(i) => num::integer(
            n.width(),
            round_integer(i128::from(i), place.unsigned_abs(), truncate),
        ),
        None => match n {
            Num::Decimal(d) => {
                let rounding = if truncate {
                    Rounding::TowardZero
                } else {
                    Rounding::HalfEven
                };
                Num::Decimal(decimal::to_place(&d, place, rounding))
            }
            _ => Num::float(n.width(), round_float(n.as_f64(), place, truncate)),
        },
    };
    Ok(Some(result.to_bson()))
}

/// The number of decimal places `$round` or `$trunc` (`name`) is asked for: a whole number in
/// [-20, 100].
fn round_place(name: &str, place: &Value) -> CommandResult<i64> {
    let place = number(place)
        .and_then(Num::to_exact_i64)
        .filter(|p| i32::try_from(*p).is_ok())
        .ok_or_else(|| {
            CommandError::with_code(
                51082,
                format!("precision argument to  {name} must be a integral value"),
            )
        })?;
    if !(-20..=100).contains(&place) {
        return Err(CommandError::with_code(
            51083,
            format!("cannot apply {name} with precision value {place} value must be in [-20, 100]"),
        ));
    }
    Ok(place)
}

/// Rounds `value` to a multiple of `10^digits`: ties to even, or toward zero when
/// `truncate`.
fn round_integer(value: i128, digits: u32, truncate: bool) -> i128 {
    let unit = 10i128.pow(digits);
    let quotient = value / unit;
    let remainder = (value % unit).abs() * 2;
    let away = !truncate && (remainder > unit || (remainder == unit && quotient % 2 != 0));
    let rounded = if away {
        quotient + value.signum()
    } else {
        quotient
    };
    rounded * unit
}

/// Rounds `x` to `place` decimal places (negative: to tens, hundreds, ...), ties to even or
/// toward zero when `truncate`, working on its 34-significant-digit decimal form as `mongod`
/// does.
pub(super) fn round_float(x: f64, place: i32, truncate: bool) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let text = format!("{:.33e}", x.abs());
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return x;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return x;
    };
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The value is 0.d1d2...d34 × 10^(exponent + 1); keep this many digits.
    let keep = exponent + 1 + place;
    if keep >= digits.len() as i32 {
        return x;
    }
    if keep < 0 {
        return 0.0f64.copysign(x);
    }
    let (kept, dropped) = digits.split_at(keep as usize);
    let round_up = match dropped.first().copied().unwrap_or(0) {
        _ if truncate => false,
        d if d > 5 => true,
        5 => dropped[1..].iter().any(|&d| d != 0) || kept.last().is_some_and(|d| d % 2 == 1),
        _ => false,
    };
    let mut whole = kept.iter().fold(0u128, |acc, &d| acc * 10 + u128::from(d));
    if round_up {
        whole += 1;
    }
    let scale = exponent + 1 - keep;
    format!("{whole}e{scale}")
        .parse::<f64>()
        .map_or(x, |r| r.copysign(x))
}
