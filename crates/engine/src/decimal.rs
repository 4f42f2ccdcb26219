//! `Decimal128` arithmetic, exact while the digits fit: sums and products are computed on
//! decimal digit strings and rounded once to 34 significant digits (half to even), as
//! `mongod` does; a `double` operand is first converted to a decimal rounded to 15 significant
//! digits, as `mongod` converts it. NaN and infinities go through doubles.

use std::cmp::Ordering;

use bson::{Bson, Decimal128};

use crate::compare::Number;
use crate::exact::{add_lsb_first, subtract_lsb_first};

/// The operations done exactly on decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    /// Addition.
    Add,
    /// Multiplication.
    Mul,
}

impl ArithOp {
    /// The operation on doubles.
    pub(crate) fn floats(self, a: f64, b: f64) -> f64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Mul => a * b,
        }
    }
}

/// `a / b` as a decimal, exact and then rounded to 34 significant digits (half to even);
/// `None` when `b` is zero. NaN and infinities go through doubles.
pub(crate) fn divide(a: &Bson, b: &Bson) -> Option<Decimal128> {
    let exact = match (to_finite(a), to_finite(b)) {
        (Some(_), Some(y)) if y.digits.is_empty() => return None,
        (Some(x), Some(y)) => quotient(x, y).and_then(pack),
        _ => None,
    };
    exact.or_else(|| {
        let x = Number::from_bson(a)?.as_f64();
        let y = Number::from_bson(b)?.as_f64();
        if y == 0.0 {
            return None;
        }
        from_f64(x / y)
    })
}

/// `-value`, exactly, for any number (an `Int64` of `i64::MIN` becomes a decimal).
pub(crate) fn negated(value: &Bson) -> Option<Bson> {
    Some(match value {
        Bson::Int32(i) => Bson::Int64(-i64::from(*i)),
        Bson::Int64(i) => match i.checked_neg() {
            Some(n) => Bson::Int64(n),
            None => Bson::Decimal128(i128::from(*i).unsigned_abs().to_string().parse().ok()?),
        },
        Bson::Double(f) => Bson::Double(-f),
        Bson::Decimal128(d) => {
            let mut bytes = d.bytes();
            // The sign is the top bit of the last (most significant) byte.
            bytes[15] ^= 0x80;
            Bson::Decimal128(Decimal128::from_bytes(bytes))
        }
        _ => return None,
    })
}

/// `x / y` for `y != 0`, with at least 35 significant digits and a final digit that is
/// non-zero when the division was inexact, so that [`pack`] rounds it correctly.
fn quotient(x: Finite, y: Finite) -> Option<Finite> {
    if x.digits.is_empty() {
        return Some(Finite {
            negative: x.negative != y.negative,
            digits: Vec::new(),
            exponent: 0,
        });
    }
    // Scale the dividend so that the integer quotient has more digits than a decimal holds.
    let scale = (y.digits.len() + PRECISION + 1).saturating_sub(x.digits.len());
    let dividend = shifted(&x.digits, i32::try_from(scale).ok()?)?;
    let mut quotient = Vec::with_capacity(dividend.len());
    let mut remainder: Vec<u8> = Vec::new();
    for &digit in dividend.iter().rev() {
        remainder.insert(0, digit);
        remainder = trimmed(remainder);
        let mut q = 0;
        while compare_digits(&remainder, &y.digits) != Ordering::Less {
            remainder = subtract_digits(&remainder, &y.digits);
            q += 1;
        }
        quotient.push(q);
    }
    quotient.reverse();
    let mut exponent = x
        .exponent
        .checked_sub(y.exponent)?
        .checked_sub(i32::try_from(scale).ok()?)?;
    if remainder.is_empty() {
        // An exact quotient takes the exponent closest to the operands' difference of
        // exponents, as IEEE 754 prescribes (0.3 / 3 is 0.1, not 0.1000…).
        let preferred = x.exponent.checked_sub(y.exponent)?;
        let zeros = quotient.iter().take_while(|&&d| d == 0).count();
        let drop = zeros.min(usize::try_from(preferred.saturating_sub(exponent)).unwrap_or(0));
        quotient.drain(..drop);
        exponent = exponent.checked_add(i32::try_from(drop).ok()?)?;
    } else {
        // A sticky digit below the rounding position.
        quotient.insert(0, 1);
        exponent = exponent.checked_sub(1)?;
    }
    Some(Finite {
        negative: x.negative != y.negative,
        digits: trimmed(quotient),
        exponent,
    })
}

/// How [`to_place`] rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounding {
    /// Toward negative infinity (`$floor`).
    Floor,
    /// Toward positive infinity (`$ceil`).
    Ceil,
    /// To nearest, ties to even (`$round`).
    HalfEven,
    /// Toward zero (`$trunc`).
    TowardZero,
}

/// `value` rounded exactly to `place` decimal places (a negative `place` rounds to tens,
/// hundreds, …); a value with no more places than that, NaN and the infinities are returned
/// as they are.
pub(crate) fn to_place(value: &Decimal128, place: i32, rounding: Rounding) -> Decimal128 {
    let Some(f) = to_finite(&Bson::Decimal128(*value)) else {
        return *value;
    };
    let Some(target) = place.checked_neg() else {
        return *value;
    };
    let Ok(drop) = usize::try_from(i64::from(target) - i64::from(f.exponent)) else {
        // Already at or above the place asked for.
        return *value;
    };
    if drop == 0 {
        return *value;
    }
    let (dropped, kept) = f.digits.split_at(drop.min(f.digits.len()));
    let inexact = dropped.iter().any(|&d| d != 0);
    let increment = match rounding {
        Rounding::TowardZero => false,
        Rounding::Floor => f.negative && inexact,
        Rounding::Ceil => !f.negative && inexact,
        Rounding::HalfEven => {
            // The first dropped digit is beyond the coefficient when all of it is dropped
            // with room to spare: then the value is below half a unit.
            let first = if drop <= f.digits.len() {
                dropped[drop - 1]
            } else {
                0
            };
            let below = dropped[..dropped.len().saturating_sub(1)]
                .iter()
                .any(|&d| d != 0)
                || drop > f.digits.len() && inexact;
            let odd = kept.first().is_some_and(|d| d % 2 == 1);
            first > 5 || (first == 5 && (below || odd))
        }
    };
    let digits = if increment {
        add_lsb_first(kept, &[1])
    } else {
        kept.to_vec()
    };
    let rounded = Finite {
        negative: f.negative,
        digits: trimmed(digits),
        exponent: target,
    };
    pack(rounded).unwrap_or(*value)
}

/// The most significant digits a `Decimal128` holds.
const PRECISION: usize = 34;

/// A finite decimal: `(-1)^negative * digits * 10^exponent`, with the coefficient's digits
/// least significant first and no leading zeros (zero has none).
#[derive(Debug, Clone)]
struct Finite {
    negative: bool,
    digits: Vec<u8>,
    exponent: i32,
}

pub(crate) fn arithmetic(op: ArithOp, a: &Bson, b: &Bson) -> Option<Bson> {
    let exact = match (to_finite(a), to_finite(b)) {
        (Some(x), Some(y)) => combine(op, x, y).and_then(pack),
        _ => None,
    };
    // NaN and infinities (and exponents out of range) go through doubles.
    let result = exact.or_else(|| {
        let x = Number::from_bson(a)?.as_f64();
        let y = Number::from_bson(b)?.as_f64();
        from_f64(op.floats(x, y))
    })?;
    Some(Bson::Decimal128(result))
}

fn combine(op: ArithOp, x: Finite, y: Finite) -> Option<Finite> {
    match op {
        ArithOp::Add => add(x, y),
        ArithOp::Mul => Some(Finite {
            negative: x.negative != y.negative,
            digits: multiply(&x.digits, &y.digits),
            exponent: x.exponent.checked_add(y.exponent)?,
        }),
    }
}

fn add(x: Finite, y: Finite) -> Option<Finite> {
    let exponent = x.exponent.min(y.exponent);
    let a = shifted(&x.digits, x.exponent.checked_sub(exponent)?)?;
    let b = shifted(&y.digits, y.exponent.checked_sub(exponent)?)?;
    let (negative, digits) = if x.negative == y.negative {
        (x.negative, add_lsb_first(&a, &b))
    } else {
        match compare_digits(&a, &b) {
            Ordering::Less => (y.negative, subtract_digits(&b, &a)),
            _ => (x.negative, subtract_digits(&a, &b)),
        }
    };
    let negative = if digits.is_empty() {
        x.negative && y.negative
    } else {
        negative
    };
    Some(Finite {
        negative,
        digits,
        exponent,
    })
}

/// `digits * 10^by`.
fn shifted(digits: &[u8], by: i32) -> Option<Vec<u8>> {
    if digits.is_empty() {
        return Some(Vec::new());
    }
    let mut out = vec![0; usize::try_from(by).ok()?];
    out.extend_from_slice(digits);
    Some(out)
}

fn trimmed(mut digits: Vec<u8>) -> Vec<u8> {
    while digits.last() == Some(&0) {
        digits.pop();
    }
    digits
}

fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// `a - b` for `a >= b`.
fn subtract_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    trimmed(subtract_lsb_first(a, b))
}

fn multiply(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        for (j, &y) in b.iter().enumerate() {
            acc[i + j] += u32::from(x) * u32::from(y);
        }
    }
    let mut carry = 0;
    let digits = acc
        .into_iter()
        .map(|v| {
            let total = v + carry;
            carry = total / 10;
            // A remainder of 10 is a digit.
            (total % 10) as u8
        })
        .collect();
    trimmed(digits)
}

/// Rounds to 34 significant digits (half to even) and encodes.
fn pack(mut f: Finite) -> Option<Decimal128> {
    if f.digits.len() > PRECISION {
        let drop = f.digits.len() - PRECISION;
        let first_dropped = f.digits[drop - 1];
        let sticky = f.digits[..drop - 1].iter().any(|&d| d != 0);
        let mut kept = f.digits.split_off(drop);
        let odd = kept.first().is_some_and(|d| d % 2 == 1);
        f.exponent = f.exponent.checked_add(i32::try_from(drop).ok()?)?;
        if first_dropped > 5 || (first_dropped == 5 && (sticky || odd)) {
            kept = add_lsb_first(&kept, &[1]);
            if kept.len() > PRECISION {
                kept.remove(0);
                f.exponent = f.exponent.checked_add(1)?;
            }
        }
        f.digits = kept;
    }
    let coefficient: String = if f.digits.is_empty() {
        "0".to_owned()
    } else {
        f.digits
            .iter()
            .rev()
            .map(|d| char::from(b'0' + d))
            .collect()
    };
    let sign = if f.negative { "-" } else { "" };
    format!("{sign}{coefficient}E{}", f.exponent).parse().ok()
}

fn to_finite(value: &Bson) -> Option<Finite> {
    match value {
        Bson::Int32(i) => parse(&i.to_string()),
        Bson::Int64(i) => parse(&i.to_string()),
        // `mongod` converts a double to a decimal rounded to 15 significant digits.
        Bson::Double(d) if d.is_finite() => parse(&format!("{d:.14e}")),
        Bson::Decimal128(d) => parse(&d.to_string()),
        _ => None,
    }
}

/// Reads `[-]digits[.digits][E[+-]exp]`; `None` for NaN and infinities.
fn parse(text: &str) -> Option<Finite> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (lower.as_str(), 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .rev()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect::<Option<_>>()?;
    if digits.is_empty() {
        return None;
    }
    Some(Finite {
        negative,
        digits: trimmed(digits),
        exponent: exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?,
    })
}

/// A double as a decimal (15 significant digits, as `mongod` converts).
fn from_f64(d: f64) -> Option<Decimal128> {
    if d.is_nan() {
        return "NaN".parse().ok();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.parse().ok();
    }
    parse(&format!("{d:.14e}")).and_then(pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse().expect("valid decimal"))
    }

    fn text(v: Option<Bson>) -> String {
        match v {
            Some(Bson::Decimal128(d)) => d.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn quotients_round_to_34_digits_half_even() {
        let div = |a: &str, b: &str| match divide(&dec(a), &dec(b)) {
            Some(d) => d.to_string(),
            None => "none".to_owned(),
        };
        assert_eq!(div("1", "3"), "0.3333333333333333333333333333333333");
        assert_eq!(div("2", "3"), "0.6666666666666666666666666666666667");
        assert_eq!(div("0.3", "3"), "0.1");
        assert_eq!(div("-7.5", "2.5"), "-3");
        assert_eq!(div("1", "8"), "0.125");
        assert_eq!(div("0", "5"), "0");
        assert_eq!(div("1", "0"), "none");
        assert_eq!(
            divide(&dec("1"), &Bson::Int32(4)).map(|d| d.to_string()),
            Some("0.25".to_owned())
        );
    }

    #[test]
    fn rounding_to_a_place_is_exact() {
        let at = |v: &str, place: i32, rounding: Rounding| {
            to_place(&v.parse().expect("a decimal"), place, rounding).to_string()
        };
        assert_eq!(at("2.5", 0, Rounding::Floor), "2");
        assert_eq!(at("-2.5", 0, Rounding::Floor), "-3");
        assert_eq!(at("2.1", 0, Rounding::Ceil), "3");
        assert_eq!(at("-2.9", 0, Rounding::Ceil), "-2");
        assert_eq!(at("2.5", 0, Rounding::HalfEven), "2");
        assert_eq!(at("3.5", 0, Rounding::HalfEven), "4");
        assert_eq!(
            at("2.5000000000000000000000000000001", 0, Rounding::HalfEven),
            "3"
        );
        assert_eq!(at("1.2345", 2, Rounding::HalfEven), "1.23");
        assert_eq!(at("1.2355", 3, Rounding::HalfEven), "1.236");
        assert_eq!(at("1234.5678", -2, Rounding::HalfEven), "1.2E+3");
        assert_eq!(at("0.004", 2, Rounding::HalfEven), "0.00");
        assert_eq!(at("0.006", 2, Rounding::HalfEven), "0.01");
        assert_eq!(at("0.0000001", 2, Rounding::Ceil), "0.01");
        assert_eq!(at("7", 2, Rounding::Floor), "7");
        assert_eq!(at("-2.99", 0, Rounding::TowardZero), "-2");
        assert_eq!(at("1234.5678", 2, Rounding::TowardZero), "1234.56");
        assert_eq!(at("1E+5", 0, Rounding::Floor), "1E+5");
        assert_eq!(at("NaN", 0, Rounding::Floor), "NaN");
        assert_eq!(
            at("1234567890123456789.123456789012345", 0, Rounding::Floor),
            "1234567890123456789"
        );
    }

    #[test]
    fn negation_is_exact() {
        assert_eq!(negated(&dec("0.1")), Some(dec("-0.1")));
        assert_eq!(
            negated(&Bson::Int32(i32::MIN)),
            Some(Bson::Int64(2_147_483_648))
        );
        assert_eq!(
            negated(&Bson::Int64(i64::MIN)),
            Some(dec("9223372036854775808"))
        );
        assert_eq!(negated(&Bson::String("x".into())), None);
    }

    #[test]
    fn sums_and_differences_are_exact() {
        let add = |a: &str, b: &str| text(arithmetic(ArithOp::Add, &dec(a), &dec(b)));
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("1.00", "-1"), "0.00");
        assert_eq!(add("-5", "3.5"), "-1.5");
        assert_eq!(add("1E+40", "1"), "1.000000000000000000000000000000000E+40");
        assert_eq!(
            add("9999999999999999999999999999999999", "1"),
            "1.000000000000000000000000000000000E+34"
        );
    }

    #[test]
    fn products_are_exact_and_round_half_even() {
        let mul = |a: &str, b: &str| text(arithmetic(ArithOp::Mul, &dec(a), &dec(b)));
        assert_eq!(mul("1.10", "3"), "3.30");
        assert_eq!(
            mul("12345678901234567890.123", "98765432109876543210.987"),
            "1.219326311370217952261797134336297E+39"
        );
        // Ties round to the even neighbour.
        assert_eq!(
            mul("5000000000000000000000000000000001", "0.5"),
            "2500000000000000000000000000000000"
        );
        assert_eq!(
            mul("5000000000000000000000000000000003", "0.5"),
            "2500000000000000000000000000000002"
        );
        assert_eq!(mul("-2", "0"), "-0");
    }

    #[test]
    fn specials_go_through_doubles() {
        let nan = dec("NaN");
        assert_eq!(text(arithmetic(ArithOp::Add, &nan, &Bson::Int32(1))), "NaN");
        let inf = Bson::Double(f64::INFINITY);
        assert_eq!(text(arithmetic(ArithOp::Add, &dec("1"), &inf)), "Infinity");
    }
}
