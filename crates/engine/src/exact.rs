//! Exact values of BSON numbers, for comparisons and keys that involve `Decimal128`.
//!
//! `mongod` compares numbers by their mathematical values: `NumberDecimal("0.1")` is below the
//! double `0.1` (which is 0.1000000000000000055511151231257827…), and two decimals that differ
//! in their 34th digit differ, although both round to the same double. [`Exact`] holds any
//! `Int32`, `Int64`, `Double` or `Decimal128` without rounding: a double's binary fraction has
//! a finite decimal expansion (at most 767 significant digits), so every value is a sign, a
//! string of decimal digits and an exponent.

use std::cmp::Ordering;

use bson::{Bson, Decimal128};

/// A number held exactly. Ordered as `mongod` orders numbers: `NaN` (every `NaN` equal) below
/// `-Infinity`, below every finite value, below `Infinity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exact {
    /// Not a number.
    NaN,
    /// `-Infinity`.
    NegativeInfinity,
    /// A finite value.
    Finite(Finite),
    /// `Infinity`.
    Infinity,
}

/// A finite value: zero when `digits` is empty, otherwise
/// `(-1)^negative × 0.d₁d₂…dₙ × 10^exponent` with `digits = [d₁, …, dₙ]`, `d₁ ≠ 0` and
/// `dₙ ≠ 0`. The form is unique, so equal values are equal structures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finite {
    negative: bool,
    digits: Vec<u8>,
    exponent: i32,
}

/// The exponent bias of `Decimal128`.
const DECIMAL_BIAS: i32 = 6176;

/// The largest canonical `Decimal128` coefficient, 10^34 - 1.
const DECIMAL_MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;

impl Exact {
    /// The exact value of a number; `None` for other types.
    pub fn of(value: &Bson) -> Option<Exact> {
        match value {
            Bson::Int32(i) => Some(Exact::Finite(Finite::from_i128(i128::from(*i)))),
            Bson::Int64(i) => Some(Exact::Finite(Finite::from_i128(i128::from(*i)))),
            Bson::Double(f) => Some(Exact::from_f64(*f)),
            Bson::Decimal128(d) => Some(Exact::from_decimal(d)),
            _ => None,
        }
    }

    /// The exact value of a double.
    pub fn from_f64(f: f64) -> Exact {
        if f.is_nan() {
            return Exact::NaN;
        }
        if f.is_infinite() {
            return if f > 0.0 {
                Exact::Infinity
            } else {
                Exact::NegativeInfinity
            };
        }
        let bits = f.to_bits();
        let negative = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        // f = mantissa × 2^power.
        let (mantissa, power) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), biased - 1075)
        };
        let finite = if power >= 0 {
            Finite::from_coefficient(
                negative,
                scaled_digits(mantissa, 2, power.unsigned_abs()),
                0,
            )
        } else {
            // mantissa × 2^-k = mantissa × 5^k × 10^-k.
            Finite::from_coefficient(
                negative,
                scaled_digits(mantissa, 5, power.unsigned_abs()),
                power,
            )
        };
        Exact::Finite(finite)
    }

    /// The exact value of a `Decimal128` (IEEE 754-2008, binary integer decimal encoding). A
    /// non-canonical coefficient (above 10^34 - 1) reads as zero, as the standard says.
    pub fn from_decimal(d: &Decimal128) -> Exact {
        let bits = u128::from_le_bytes(d.bytes());
        let negative = bits >> 127 == 1;
        let combination = (bits >> 122) & 0x1f;
        if combination == 0x1f {
            return Exact::NaN;
        }
        if combination == 0x1e {
            return if negative {
                Exact::NegativeInfinity
            } else {
                Exact::Infinity
            };
        }
        let (biased, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
            // The long form: the coefficient starts with the bits 100, so it always exceeds
            // 10^34 - 1 and is non-canonical.
            (((bits >> 111) & 0x3fff) as i32, 0)
        } else {
            (((bits >> 113) & 0x3fff) as i32, bits & ((1 << 113) - 1))
        };
        let coefficient = if coefficient > DECIMAL_MAX_COEFFICIENT {
            0
        } else {
            coefficient
        };
        Exact::Finite(Finite::from_coefficient(
            negative,
            ascii_digits(&coefficient.to_string()),
            biased - DECIMAL_BIAS,
        ))
    }

    /// The double nearest to the value (ties to even), with finite values beyond the range of
    /// doubles clamped to `±f64::MAX` rather than rounded to infinity; so it is monotone and
    /// only the infinities map to infinities.
    pub fn nearest_f64(&self) -> f64 {
        match self {
            Exact::NaN => f64::NAN,
            Exact::NegativeInfinity => f64::NEG_INFINITY,
            Exact::Infinity => f64::INFINITY,
            Exact::Finite(finite) => finite.nearest_f64(),
        }
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Exact) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Exact {
    fn cmp(&self, other: &Exact) -> Ordering {
        fn rank(value: &Exact) -> u8 {
            match value {
                Exact::NaN => 0,
                Exact::NegativeInfinity => 1,
                Exact::Finite(_) => 2,
                Exact::Infinity => 3,
            }
        }
        match (self, other) {
            (Exact::Finite(a), Exact::Finite(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl Finite {
    /// Zero.
    pub fn zero() -> Finite {
        Finite {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    /// The exact value of an integer.
    pub fn from_i128(i: i128) -> Finite {
        Finite::from_coefficient(i < 0, ascii_digits(&i.unsigned_abs().to_string()), 0)
    }

    /// `(-1)^negative × coefficient × 10^power`, the coefficient's digits most significant
    /// first (leading and trailing zeros allowed).
    fn from_coefficient(negative: bool, mut digits: Vec<u8>, power: i32) -> Finite {
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        let mut power = power;
        while digits.last() == Some(&0) {
            digits.pop();
            power += 1;
        }
        if digits.is_empty() {
            return Finite::zero();
        }
        // Coefficients have at most a few thousand digits (a double's 767, or a clamped
        // difference spanning both exponent ranges), so the length fits an i32.
        let exponent = power + digits.len() as i32;
        Finite {
            negative,
            digits,
            exponent,
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// The decimal exponent `e` of the form `0.d₁d₂… × 10^e` (zero for zero).
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// The significant digits, most significant first, each `0..=9` (empty for zero).
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// The absolute value.
    pub fn magnitude(&self) -> Finite {
        Finite {
            negative: false,
            ..self.clone()
        }
    }

    /// The double nearest to the value (ties to even), clamped to `±f64::MAX` beyond the
    /// doubles' range.
    pub fn nearest_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let mut text = String::with_capacity(self.digits.len() + 16);
        if self.negative {
            text.push('-');
        }
        text.push_str("0.");
        text.extend(self.digits.iter().map(|&d| char::from(b'0' + d)));
        text.push('e');
        text.push_str(&self.exponent.to_string());
        // Rust's float parsing is correctly rounded for any number of digits.
        match text.parse::<f64>() {
            Ok(f) if f.is_infinite() => f64::MAX.copysign(f),
            Ok(f) => f,
            // The text is always a valid float literal.
            Err(_) => f64::NAN,
        }
    }

    /// `self - other`, exactly.
    pub fn minus(&self, other: &Finite) -> Finite {
        if other.is_zero() {
            return self.clone();
        }
        let negated = Finite {
            negative: !other.negative,
            ..other.clone()
        };
        if self.is_zero() {
            return negated;
        }
        // Align both coefficients on the smaller power of ten (least significant digit
        // first), then add or subtract magnitudes.
        let power = |f: &Finite| f.exponent - f.digits.len() as i32;
        let low = power(self).min(power(&negated));
        let aligned = |f: &Finite| {
            let mut lsb_first: Vec<u8> = vec![0; (power(f) - low) as usize];
            lsb_first.extend(f.digits.iter().rev());
            lsb_first
        };
        let (a, b) = (aligned(self), aligned(&negated));
        let (negative, sum) = if self.negative == negated.negative {
            (self.negative, add_lsb_first(&a, &b))
        } else if compare_lsb_first(&a, &b) == Ordering::Less {
            (negated.negative, subtract_lsb_first(&b, &a))
        } else {
            (self.negative, subtract_lsb_first(&a, &b))
        };
        let msb_first: Vec<u8> = sum.into_iter().rev().collect();
        Finite::from_coefficient(negative, msb_first, low)
    }

    /// Compares magnitudes only.
    fn cmp_magnitude(&self, other: &Finite) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // Normalized forms: a larger exponent is a larger magnitude; with equal exponents
            // the digits compare lexicographically (a shorter prefix being smaller, as if
            // padded with zeros).
            (false, false) => self
                .exponent
                .cmp(&other.exponent)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl PartialOrd for Finite {
    fn partial_cmp(&self, other: &Finite) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Finite {
    fn cmp(&self, other: &Finite) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

/// The digits of an ASCII decimal string.
fn ascii_digits(text: &str) -> Vec<u8> {
    text.bytes().map(|b| b - b'0').collect()
}

/// The decimal digits (most significant first) of `mantissa × base^times`, for base 2 or 5.
fn scaled_digits(mantissa: u64, base: u64, times: u32) -> Vec<u8> {
    const LIMB: u64 = 1_000_000_000;
    // The largest power of the base that keeps `limb × factor + carry` within u64.
    let (step, step_factor) = if base == 2 {
        (29, 1_u64 << 29)
    } else {
        (13, 5_u64.pow(13))
    };
    // Little-endian limbs of nine decimal digits.
    let mut limbs = vec![
        mantissa % LIMB,
        (mantissa / LIMB) % LIMB,
        mantissa / (LIMB * LIMB),
    ];
    let mut remaining = times;
    while remaining > 0 {
        let (count, factor) = if remaining >= step {
            (step, step_factor)
        } else {
            (remaining, base.pow(remaining))
        };
        let mut carry = 0;
        for limb in &mut limbs {
            let value = *limb * factor + carry;
            *limb = value % LIMB;
            carry = value / LIMB;
        }
        while carry > 0 {
            limbs.push(carry % LIMB);
            carry /= LIMB;
        }
        remaining -= count;
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut text = String::with_capacity(limbs.len() * 9);
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            text.push_str(&limb.to_string());
        } else {
            text.push_str(&format!("{limb:09}"));
        }
    }
    ascii_digits(&text)
}

/// `a + b`, for digit strings least significant first.
pub(crate) fn add_lsb_first(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let sum = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(sum % 10);
        carry = sum / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`, for digit strings least significant first (leading zeros kept).
pub(crate) fn subtract_lsb_first(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0;
    for (i, &digit) in a.iter().enumerate() {
        let take = b.get(i).copied().unwrap_or(0) + borrow;
        if digit >= take {
            out.push(digit - take);
            borrow = 0;
        } else {
            out.push(digit + 10 - take);
            borrow = 1;
        }
    }
    out
}

fn compare_lsb_first(a: &[u8], b: &[u8]) -> Ordering {
    let significant = |d: &[u8]| d.len() - d.iter().rev().take_while(|&&x| x == 0).count();
    let (la, lb) = (significant(a), significant(b));
    la.cmp(&lb)
        .then_with(|| a[..la].iter().rev().cmp(b[..lb].iter().rev()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(text: &str) -> Exact {
        Exact::from_decimal(&text.parse().expect("valid decimal"))
    }

    fn text(value: &Exact) -> String {
        match value {
            Exact::Finite(f) if f.is_zero() => "0".to_owned(),
            Exact::Finite(f) => format!(
                "{}0.{}e{}",
                if f.negative { "-" } else { "" },
                f.digits
                    .iter()
                    .map(|&d| char::from(b'0' + d))
                    .collect::<String>(),
                f.exponent
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn decimals_read_exactly_whatever_their_spelling() {
        assert_eq!(text(&dec("1.00")), "0.1e1");
        assert_eq!(dec("1.00"), dec("1"));
        assert_eq!(dec("-0"), dec("0.000"));
        assert_eq!(text(&dec("-12.5E-3")), "-0.125e-1");
        assert_eq!(
            text(&dec("1234567890123456789012.123456789012")),
            "0.1234567890123456789012123456789012e22"
        );
        assert_eq!(dec("NaN"), Exact::NaN);
        assert_eq!(dec("-Infinity"), Exact::NegativeInfinity);
        assert_eq!(text(&dec("1E6144")), "0.1e6145");
        assert_eq!(text(&dec("1E-6176")), "0.1e-6175");
    }

    #[test]
    fn a_non_canonical_coefficient_reads_as_zero() {
        // Exponent bits for 10^0 and a coefficient of 2^113 - 1, above 10^34 - 1.
        let bits: u128 = (6176_u128 << 113) | ((1 << 113) - 1);
        let d = Decimal128::from_bytes(bits.to_le_bytes());
        assert_eq!(Exact::from_decimal(&d), Exact::Finite(Finite::zero()));
    }

    #[test]
    fn doubles_expand_to_their_exact_binary_value() {
        assert_eq!(
            text(&Exact::from_f64(0.1)),
            "0.1000000000000000055511151231257827021181583404541015625e0"
        );
        assert_eq!(text(&Exact::from_f64(-2.5)), "-0.25e1");
        assert_eq!(text(&Exact::from_f64(1e23)), "0.99999999999999991611392e23");
        assert_eq!(text(&Exact::from_f64(0.0)), "0");
        assert_eq!(text(&Exact::from_f64(-0.0)), "0");
        let smallest = text(&Exact::from_f64(5e-324));
        assert!(smallest.starts_with("0.494065645841246544"), "{smallest}");
        assert!(smallest.ends_with("e-323"), "{smallest}");
        assert_eq!(
            Exact::from_f64(f64::MAX),
            Exact::Finite(Finite::from_coefficient(
                false,
                ascii_digits(&format!("{:.0}", f64::MAX)),
                0
            ))
        );
    }

    #[test]
    fn numbers_compare_by_value_across_types() {
        assert!(dec("0.1") < Exact::from_f64(0.1));
        assert!(dec("0.1000000000000000055511151231257828") > Exact::from_f64(0.1));
        assert_eq!(
            dec("1000000000000000055511151231257827E-34"),
            dec("0.1000000000000000055511151231257827")
        );
        assert!(
            dec("1234567890123456789012.123456789012") < dec("1234567890123456789012.123456789013")
        );
        assert_eq!(dec("5.00"), Exact::Finite(Finite::from_i128(5)));
        assert!(dec("9007199254740993") > Exact::from_f64(9_007_199_254_740_992.0));
        assert!(dec("-1E400") < Exact::from_f64(f64::MIN));
        assert!(dec("-1E400") > Exact::NegativeInfinity);
        assert!(dec("1E400") > Exact::from_f64(f64::MAX));
        assert!(Exact::NaN < Exact::NegativeInfinity);
        assert!(dec("-0.5") < dec("-0.25"));
    }

    #[test]
    fn the_nearest_double_clamps_instead_of_overflowing() {
        assert_eq!(dec("0.1").nearest_f64(), 0.1);
        assert_eq!(dec("1E400").nearest_f64(), f64::MAX);
        assert_eq!(dec("-1E400").nearest_f64(), f64::MIN);
        assert_eq!(dec("1E-400").nearest_f64(), 0.0);
        assert_eq!(dec("Infinity").nearest_f64(), f64::INFINITY);
    }

    #[test]
    fn differences_are_exact() {
        let finite = |e: Exact| match e {
            Exact::Finite(f) => f,
            other => panic!("not finite: {other:?}"),
        };
        let tenth = finite(dec("0.1"));
        let double = finite(Exact::from_f64(0.1));
        assert_eq!(
            text(&Exact::Finite(tenth.minus(&double))),
            "-0.55511151231257827021181583404541015625e-17"
        );
        assert_eq!(
            text(&Exact::Finite(
                finite(dec("2.5")).minus(&finite(dec("2.5")))
            )),
            "0"
        );
        assert_eq!(
            text(&Exact::Finite(
                finite(dec("1")).minus(&finite(dec("-1E-3")))
            )),
            "0.1001e1"
        );
    }

    fn arb_double() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1e6_f64..1e6),
            any::<i32>().prop_map(f64::from),
        ]
    }

    proptest! {
        #[test]
        fn doubles_order_like_their_exact_values(a in arb_double(), b in arb_double()) {
            let expected = match (a.is_nan(), b.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            };
            prop_assert_eq!(Exact::from_f64(a).cmp(&Exact::from_f64(b)), expected);
        }

        #[test]
        fn integers_order_like_their_exact_values(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(
                Finite::from_i128(i128::from(a)).cmp(&Finite::from_i128(i128::from(b))),
                a.cmp(&b)
            );
            prop_assert_eq!(
                Finite::from_i128(i128::from(a)).minus(&Finite::from_i128(i128::from(b))),
                Finite::from_i128(i128::from(a) - i128::from(b))
            );
        }

        #[test]
        fn a_double_and_its_shortest_spelling_as_a_decimal_round_to_each_other(f in any::<f64>()) {
            prop_assume!(f.is_finite());
            let spelled: Decimal128 = format!("{f:e}").parse().expect("a decimal");
            prop_assert_eq!(Exact::from_decimal(&spelled).nearest_f64(), f);
        }
    }
}
