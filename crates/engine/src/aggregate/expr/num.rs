//! Numbers as aggregation arithmetic sees them: four widths, promoted `int` → `long` →
//! `double` → `decimal`, with integer results widened when they overflow.
//!
//! A result is a decimal whenever an operand was. Sums, differences, products, quotients and
//! averages of decimals are exact before one rounding to 34 digits, and `$abs`, `$ceil`,
//! `$floor`, `$round` and `$trunc` exact, as in `mongod` (see [`crate::decimal`]); the other
//! operations on decimals (`$mod`, the exponential and trigonometric functions) go through the
//! nearest double.

use bson::{Bson, Decimal128};

use crate::compare::decimal_to_f64;
use crate::decimal::{self, ArithOp};

/// A numeric operand or result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// `int` (32-bit).
    Int(i32),
    /// `long` (64-bit).
    Long(i64),
    /// `double`.
    Double(f64),
    /// `decimal`.
    Decimal(Decimal128),
}

/// The width of a number; arithmetic results take the widest width of their operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) enum Width {
    /// `int`.
    #[default]
    Int,
    /// `long`.
    Long,
    /// `double`.
    Double,
    /// `decimal`.
    Decimal,
}

impl Num {
    /// The number `value` holds; `None` for non-numeric values.
    pub(crate) fn of(value: &Bson) -> Option<Num> {
        match value {
            Bson::Int32(i) => Some(Num::Int(*i)),
            Bson::Int64(i) => Some(Num::Long(*i)),
            Bson::Double(f) => Some(Num::Double(*f)),
            Bson::Decimal128(d) => Some(Num::Decimal(*d)),
            _ => None,
        }
    }

    /// The number as a BSON value of its width.
    pub(crate) fn to_bson(self) -> Bson {
        match self {
            Num::Int(i) => Bson::Int32(i),
            Num::Long(i) => Bson::Int64(i),
            Num::Double(f) => Bson::Double(f),
            Num::Decimal(d) => Bson::Decimal128(d),
        }
    }

    /// The width of the number.
    pub(crate) fn width(self) -> Width {
        match self {
            Num::Int(_) => Width::Int,
            Num::Long(_) => Width::Long,
            Num::Double(_) => Width::Double,
            Num::Decimal(_) => Width::Decimal,
        }
    }

    /// The value as a double (exact for integers up to 2^53).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => f64::from(i),
            Num::Long(i) => i as f64,
            Num::Double(f) => f,
            Num::Decimal(d) => decimal_to_f64(&d),
        }
    }

    /// The value when it is an `int` or a `long`.
    pub(crate) fn as_integer(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            Num::Double(_) | Num::Decimal(_) => None,
        }
    }

    /// Whether the number is zero (of any width).
    pub(crate) fn is_zero(self) -> bool {
        self.as_f64() == 0.0
    }

    /// The value as a whole `i64`, if it is integral and in range (`2.0` is, `2.5` is not).
    pub(crate) fn to_exact_i64(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            Num::Double(f) => f64_to_exact_i64(f),
            Num::Decimal(d) => f64_to_exact_i64(decimal_to_f64(&d)),
        }
    }

    /// A number of width `width` holding the floating-point value `value`.
    pub(crate) fn float(width: Width, value: f64) -> Num {
        if width == Width::Decimal {
            Num::Decimal(decimal_from_f64(value))
        } else {
            Num::Double(value)
        }
    }
}

impl Num {
    /// `self + other`, exactly rounded to 34 digits, as a decimal.
    pub(crate) fn decimal_sum(self, other: Num) -> Num {
        decimal_result(decimal::arithmetic(
            ArithOp::Add,
            &self.to_bson(),
            &other.to_bson(),
        ))
    }

    /// `self × other`, exactly rounded to 34 digits, as a decimal.
    pub(crate) fn decimal_product(self, other: Num) -> Num {
        decimal_result(decimal::arithmetic(
            ArithOp::Mul,
            &self.to_bson(),
            &other.to_bson(),
        ))
    }

    /// `self - other`, exactly rounded to 34 digits, as a decimal.
    pub(crate) fn decimal_difference(self, other: Num) -> Num {
        match decimal::negated(&other.to_bson()).and_then(|minus| Num::of(&minus)) {
            Some(minus) => self.decimal_sum(minus),
            None => Num::float(Width::Decimal, self.as_f64() - other.as_f64()),
        }
    }

    /// `self / other` for a non-zero `other`, exactly rounded to 34 digits, as a decimal.
    pub(crate) fn decimal_quotient(self, other: Num) -> Num {
        match decimal::divide(&self.to_bson(), &other.to_bson()) {
            Some(d) => Num::Decimal(d),
            None => Num::float(Width::Decimal, self.as_f64() / other.as_f64()),
        }
    }

    /// `-self` for a negative decimal, else `self`: the exact absolute value of a decimal.
    pub(crate) fn decimal_abs(self) -> Num {
        match self {
            // The sign is the top bit of the most significant byte.
            Num::Decimal(d) if d.bytes()[15] & 0x80 != 0 => decimal::negated(&self.to_bson())
                .and_then(|minus| Num::of(&minus))
                .unwrap_or(self),
            _ => self,
        }
    }
}

/// The decimal an exact operation produced (always one for numeric operands).
fn decimal_result(value: Option<Bson>) -> Num {
    match value {
        Some(Bson::Decimal128(d)) => Num::Decimal(d),
        _ => Num::Decimal(decimal_from_f64(f64::NAN)),
    }
}

/// `f` as an `i64` when it is a whole number in range.
pub(crate) fn f64_to_exact_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every i64 lies in [-2^63, 2^63).
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f)).then_some(f as i64)
}

/// The integer `value` at width `width` (at least `int`), widened to `long` and then to
/// `double` when it does not fit.
pub(crate) fn integer(width: Width, value: i128) -> Num {
    match width {
        Width::Int => match i32::try_from(value) {
            Ok(i) => Num::Int(i),
            Err(_) => integer(Width::Long, value),
        },
        Width::Long => match i64::try_from(value) {
            Ok(i) => Num::Long(i),
            Err(_) => Num::Double(value as f64),
        },
        Width::Double | Width::Decimal => Num::float(width, value as f64),
    }
}

/// The decimal nearest to `f`, written with the shortest digits that read back as `f`.
pub(crate) fn decimal_from_f64(f: f64) -> Decimal128 {
    let text = if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{f:e}")
    };
    text.parse()
        .unwrap_or_else(|_| Decimal128::from_bytes([0; 16]))
}

/// A compensated (Kahan–Babuška–Neumaier) sum of doubles, so that long sums keep their
/// precision the way `mongod`'s double-double summation does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FloatSum {
    sum: f64,
    compensation: f64,
}

impl FloatSum {
    /// Adds `x`.
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum so far.
    pub(crate) fn value(&self) -> f64 {
        if self.sum.is_finite() {
            self.sum + self.compensation
        } else {
            self.sum
        }
    }
}

/// A running sum of numbers of any width, exact for integers and for decimals (which are
/// summed apart, as `mongod` does, and meet the other parts at the end).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sum {
    width: Width,
    integers: i128,
    floats: FloatSum,
    decimals: Option<Num>,
}

impl Sum {
    /// Adds `n`.
    pub(crate) fn add(&mut self, n: Num) {
        self.width = self.width.max(n.width());
        match (n, n.as_integer()) {
            (Num::Decimal(_), _) => {
                self.decimals = Some(match self.decimals {
                    Some(total) => total.decimal_sum(n),
                    None => n,
                });
            }
            (_, Some(i)) => self.integers = self.integers.saturating_add(i128::from(i)),
            _ => self.floats.add(n.as_f64()),
        }
    }

    /// The total as a double.
    pub(crate) fn as_f64(&self) -> f64 {
        let mut total = self.floats;
        total.add(self.integers as f64);
        if let Some(decimals) = self.decimals {
            total.add(decimals.as_f64());
        }
        total.value()
    }

    /// The total as a decimal: the decimals' exact sum plus the integers and the doubles.
    fn decimal_total(&self) -> Num {
        let integers = match i64::try_from(self.integers) {
            Ok(i) => Num::Long(i),
            Err(_) => Num::Double(self.integers as f64),
        };
        let total = self.decimals.unwrap_or(Num::Long(0)).decimal_sum(integers);
        // Doubles join only when there were some (a NaN or an infinity is not 0.0 either).
        match self.floats.value() {
            0.0 => total,
            floats => total.decimal_sum(Num::Double(floats)),
        }
    }

    /// The mean of `count` added values, at the widest width added (at least `double`).
    pub(crate) fn mean(&self, count: u64) -> Num {
        if self.width == Width::Decimal {
            let divisor = i64::try_from(count).map_or(Num::Double(count as f64), Num::Long);
            self.decimal_total().decimal_quotient(divisor)
        } else {
            Num::Double(self.as_f64() / count as f64)
        }
    }

    /// The total at the widest width added, widened when an integer total overflows.
    pub(crate) fn result(&self) -> Num {
        match self.width {
            Width::Int | Width::Long => integer(self.width, self.integers),
            Width::Double => Num::Double(self.as_f64()),
            Width::Decimal => self.decimal_total(),
        }
    }
}

/// The product of `nums`, at their widest width; an integer product that overflows `long`
/// continues as a double.
pub(crate) fn product(nums: &[Num]) -> Num {
    let width = nums.iter().map(|n| n.width()).max().unwrap_or_default();
    let mut integer_product: Option<i64> = Some(1);
    let mut float_product = 1.0;
    for n in nums {
        float_product *= n.as_f64();
        integer_product = match (integer_product, n.as_integer()) {
            (Some(p), Some(i)) => p.checked_mul(i),
            _ => None,
        };
    }
    if width == Width::Decimal {
        return nums
            .iter()
            .fold(Num::Long(1), |product, n| product.decimal_product(*n));
    }
    match integer_product {
        Some(p) if width <= Width::Long => integer(width, i128::from(p)),
        _ if width <= Width::Long => Num::Double(float_product),
        _ => Num::float(width, float_product),
    }
}
