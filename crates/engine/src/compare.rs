//! The total order of BSON values, as `mongod` sorts and compares them.
//!
//! Values of different types compare by their *canonical type* (numbers of every width are one
//! type, strings and symbols are one type), then within a type by value: numbers numerically
//! (an `Int64` and a `Double` compare exactly, `NaN` below every other number), strings
//! byte-wise, documents field by field (type, then name, then value), arrays element by
//! element, binary data by length, then subtype, then bytes.

use std::cmp::Ordering;

use bson::{Bson, Decimal128, Document};

use crate::exact::Exact;

/// The rank of a value's type in the BSON sort order (`MinKey` lowest, `MaxKey` highest).
///
/// Values whose canonical types differ compare by this rank alone.
pub fn canonical_type(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 0,
        Bson::Undefined => 1,
        Bson::Null => 5,
        Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Decimal128(_) => 10,
        Bson::String(_) | Bson::Symbol(_) => 15,
        Bson::Document(_) => 20,
        Bson::Array(_) => 25,
        Bson::Binary(_) => 30,
        Bson::ObjectId(_) => 35,
        Bson::Boolean(_) => 40,
        Bson::DateTime(_) => 45,
        Bson::Timestamp(_) => 47,
        Bson::RegularExpression(_) => 50,
        Bson::DbPointer(_) => 55,
        Bson::JavaScriptCode(_) => 60,
        Bson::JavaScriptCodeWithScope(_) => 65,
        Bson::MaxKey => 127,
    }
}

/// The name `mongod` gives a value's type (`$type` aliases, error messages).
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// Compares two values in the BSON sort order.
pub fn compare_values(a: &Bson, b: &Bson) -> Ordering {
    let (ta, tb) = (canonical_type(a), canonical_type(b));
    if ta != tb {
        return ta.cmp(&tb);
    }
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_str()
            .cmp(y.pattern.as_str())
            .then_with(|| x.options.as_str().cmp(y.options.as_str())),
        (Bson::DbPointer(_), Bson::DbPointer(_)) => {
            // The driver types keep their fields private; compare their encodings.
            bson_bytes(a).cmp(&bson_bytes(b))
        }
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .cmp(&y.code)
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        _ if ta == 10 => compare_number_values(a, b),
        // MinKey, MaxKey, Null and Undefined are each equal to themselves.
        _ => Ordering::Equal,
    }
}

/// Whether two values are equal in the BSON order (`1`, `1.0` and `NumberLong(1)` are).
pub fn values_equal(a: &Bson, b: &Bson) -> bool {
    compare_values(a, b) == Ordering::Equal
}

/// Compares two documents field by field: each pair by canonical type, then by field name,
/// then by value; a document that runs out of fields first is the smaller.
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    let mut ai = a.iter();
    let mut bi = b.iter();
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let ord = canonical_type(va)
                    .cmp(&canonical_type(vb))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| compare_values(va, vb));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares two arrays element by element; a prefix is the smaller.
pub fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = compare_values(x, y);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

fn bson_bytes(value: &Bson) -> Vec<u8> {
    let mut doc = Document::new();
    doc.insert("v", value.clone());
    doc.to_vec().unwrap_or_default()
}

/// A BSON number, widened for comparison.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    /// `Int32` and `Int64`.
    Int(i64),
    /// `Double`, and `Decimal128` converted to the nearest double (comparisons do not use
    /// this for decimals; see [`Exact`]).
    Float(f64),
}

impl Number {
    /// The number a numeric value holds; `None` for other types.
    pub fn from_bson(value: &Bson) -> Option<Number> {
        match value {
            Bson::Int32(i) => Some(Number::Int(i64::from(*i))),
            Bson::Int64(i) => Some(Number::Int(*i)),
            Bson::Double(f) => Some(Number::Float(*f)),
            Bson::Decimal128(d) => Some(Number::Float(decimal_to_f64(d))),
            _ => None,
        }
    }

    fn of(value: &Bson) -> Number {
        Number::from_bson(value).unwrap_or(Number::Float(f64::NAN))
    }

    /// The value as a double (exact for integers up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A `Decimal128` as the nearest `f64` (`NaN` if it cannot be read).
pub fn decimal_to_f64(d: &Decimal128) -> f64 {
    d.to_string().parse::<f64>().unwrap_or(f64::NAN)
}

/// Compares two numeric values by their exact values, as `mongod` does: `NaN` is equal to
/// itself and below every other number, and a `Decimal128` is never rounded (it is below the
/// double `0.1` when it holds `0.1`).
fn compare_number_values(a: &Bson, b: &Bson) -> Ordering {
    match (a, b) {
        (Bson::Decimal128(d), Bson::Double(f)) => compare_decimal_with_double(d, *f),
        (Bson::Double(f), Bson::Decimal128(d)) => compare_decimal_with_double(d, *f).reverse(),
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => Exact::of(a).cmp(&Exact::of(b)),
        _ => compare_numbers(Number::of(a), Number::of(b)),
    }
}

/// Compares a decimal with a double exactly, expanding the double's binary value only when
/// the decimal rounds to that very double (rounding is monotone, so otherwise the rounded
/// value decides).
fn compare_decimal_with_double(d: &Decimal128, f: f64) -> Ordering {
    let exact = Exact::from_decimal(d);
    let nearest = exact.nearest_f64();
    if !nearest.is_nan() && !f.is_nan() && nearest != f {
        return compare_f64(nearest, f);
    }
    exact.cmp(&Exact::from_f64(f))
}

/// Compares two numbers exactly; `NaN` is equal to itself and below every other number.
pub fn compare_numbers(a: Number, b: Number) -> Ordering {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x.cmp(&y),
        (Number::Float(x), Number::Float(y)) => compare_f64(x, y),
        (Number::Int(x), Number::Float(y)) => compare_int_float(x, y),
        (Number::Float(x), Number::Int(y)) => compare_int_float(y, x).reverse(),
    }
}

fn compare_f64(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // Neither is NaN, so partial_cmp is total here; -0.0 == 0.0 as in mongod.
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Compares an integer with a double without rounding the integer.
fn compare_int_float(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    // 2^63 is exactly representable; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // `whole` lies in [-2^63, 2^63), so the cast is exact.
    let whole_int = whole as i64;
    i.cmp(&whole_int).then_with(|| {
        let frac = f - whole;
        if frac > 0.0 {
            Ordering::Less
        } else if frac < 0.0 {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn types_order_as_mongod_sorts_them() {
        let ascending = [
            Bson::MinKey,
            Bson::Null,
            Bson::Int32(5),
            Bson::String("a".into()),
            Bson::Document(doc! {}),
            Bson::Array(vec![]),
            Bson::Binary(bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: vec![],
            }),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::Boolean(false),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Bson::Timestamp(bson::Timestamp {
                time: 0,
                increment: 0,
            }),
            Bson::MaxKey,
        ];
        for pair in ascending.windows(2) {
            assert_eq!(
                compare_values(&pair[0], &pair[1]),
                Ordering::Less,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn numbers_compare_across_widths() {
        assert!(values_equal(&Bson::Int32(1), &Bson::Double(1.0)));
        assert!(values_equal(&Bson::Int64(1), &Bson::Int32(1)));
        assert_eq!(
            compare_values(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Int64(3), &Bson::Double(2.5)),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&Bson::Int64(-3), &Bson::Double(-2.5)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Double(f64::NAN), &Bson::Int32(i32::MIN)),
            Ordering::Less
        );
        assert!(values_equal(
            &Bson::Double(f64::NAN),
            &Bson::Double(f64::NAN)
        ));
        // 2^53 + 1 is not representable as a double; the long is greater.
        assert_eq!(
            compare_values(
                &Bson::Int64((1 << 53) + 1),
                &Bson::Double(9_007_199_254_740_992.0)
            ),
            Ordering::Greater
        );
        let dec: Decimal128 = "2.5".parse().expect("valid decimal");
        assert_eq!(
            compare_values(&Bson::Decimal128(dec), &Bson::Int32(2)),
            Ordering::Greater
        );
    }

    #[test]
    fn documents_compare_by_type_then_name_then_value() {
        assert_eq!(
            compare_values(
                &Bson::Document(doc! {"a": 1}),
                &Bson::Document(doc! {"b": 0})
            ),
            Ordering::Less
        );
        assert_eq!(
            compare_values(
                &Bson::Document(doc! {"b": 1}),
                &Bson::Document(doc! {"a": "x"})
            ),
            Ordering::Less
        );
        assert_eq!(
            compare_values(
                &Bson::Document(doc! {"a": 1}),
                &Bson::Document(doc! {"a": 1, "b": 1})
            ),
            Ordering::Less
        );
    }

    #[test]
    fn arrays_compare_element_wise_and_prefixes_first() {
        let a = Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)]);
        let b = Bson::Array(vec![Bson::Int32(1), Bson::Int32(3)]);
        let c = Bson::Array(vec![Bson::Int32(1)]);
        assert_eq!(compare_values(&a, &b), Ordering::Less);
        assert_eq!(compare_values(&c, &a), Ordering::Less);
    }
}
