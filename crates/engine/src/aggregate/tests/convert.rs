//! Type expressions: `$type` and conversions.

use bson::{Bson, bson, oid::ObjectId};

use super::{eval, eval_code, eval_error};

#[test]
fn type_names_values_and_missing() {
    assert_eq!(eval(bson!({"$type": "$a"})), bson!("int"));
    assert_eq!(eval(bson!({"$type": "$b"})), bson!("double"));
    assert_eq!(eval(bson!({"$type": "$long"})), bson!("long"));
    assert_eq!(eval(bson!({"$type": "$n"})), bson!("null"));
    assert_eq!(eval(bson!({"$type": "$docs"})), bson!("array"));
    assert_eq!(eval(bson!({"$type": "$d"})), bson!("date"));
    assert_eq!(eval(bson!({"$type": "$missing"})), bson!("missing"));
    assert_eq!(eval(bson!({"$type": [{"x": 1}]})), bson!("object"));
}

#[test]
fn to_string_writes_values() {
    assert_eq!(eval(bson!({"$toString": 5})), bson!("5"));
    assert_eq!(
        eval(bson!({"$toString": "$long"})),
        bson!("9223372036854775807")
    );
    assert_eq!(eval(bson!({"$toString": 2.5})), bson!("2.5"));
    assert_eq!(eval(bson!({"$toString": 1e20})), bson!("1e+20"));
    assert_eq!(eval(bson!({"$toString": 0.0001})), bson!("0.0001"));
    assert_eq!(eval(bson!({"$toString": 0.00001})), bson!("1e-05"));
    assert_eq!(eval(bson!({"$toString": f64::INFINITY})), bson!("Infinity"));
    assert_eq!(eval(bson!({"$toString": f64::NAN})), bson!("NaN"));
    assert_eq!(eval(bson!({"$toString": -0.0})), bson!("-0"));
    assert_eq!(eval(bson!({"$toString": true})), bson!("true"));
    assert_eq!(
        eval(bson!({"$toString": "$d"})),
        bson!("2024-02-29T13:45:30.123Z")
    );
    let oid = ObjectId::parse_str("65e08a1a0000000000000000").expect("object id");
    assert_eq!(
        eval(bson!({"$toString": oid})),
        bson!("65e08a1a0000000000000000")
    );
    assert_eq!(eval(bson!({"$toString": "$missing"})), Bson::Null);
    let error = eval_error(bson!({"$toString": "$arr"}));
    assert_eq!(error.code, 241);
    assert_eq!(error.code_name, "ConversionFailure");
    assert_eq!(
        error.message,
        "Unsupported conversion from array to string in $convert with no onError value"
    );
}

#[test]
fn to_int_and_to_long() {
    assert_eq!(eval(bson!({"$toInt": "42"})), Bson::Int32(42));
    assert_eq!(eval(bson!({"$toInt": "-7"})), Bson::Int32(-7));
    assert_eq!(eval(bson!({"$toInt": 3.9})), Bson::Int32(3));
    assert_eq!(eval(bson!({"$toInt": -3.9})), Bson::Int32(-3));
    assert_eq!(eval(bson!({"$toInt": true})), Bson::Int32(1));
    assert_eq!(eval(bson!({"$toInt": 5_i64})), Bson::Int32(5));
    assert_eq!(eval(bson!({"$toInt": null})), Bson::Null);
    assert_eq!(eval_code(bson!({"$toInt": "4.5"})), 241);
    assert_eq!(eval_code(bson!({"$toInt": "99999999999"})), 241);
    assert_eq!(eval_code(bson!({"$toInt": 1e10})), 241);
    let error = eval_error(bson!({"$toInt": "$long"}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            241,
            "Conversion would overflow target type in $convert with no onError value: "
        )
    );
    let error = eval_error(bson!({"$toInt": 2_147_483_647.5}));
    assert_eq!(
        error.message,
        "Conversion would overflow target type in $convert with no onError value: 2.14748e+09"
    );
    assert_eq!(
        eval(bson!({"$toInt": -2_147_483_648.0})),
        Bson::Int32(i32::MIN)
    );
    let error = eval_error(bson!({"$toLong": f64::INFINITY}));
    assert_eq!(
        error.message,
        "Attempt to convert infinity value to integer type in $convert with no onError value"
    );
    let error = eval_error(bson!({"$toInt": "0x1A"}));
    assert_eq!(
        error.message,
        "Illegal hexadecimal input in $convert with no onError value: 0x1A"
    );
    assert_eq!(eval_code(bson!({"$toInt": f64::NAN})), 241);
    assert_eq!(eval_code(bson!({"$toInt": "$d"})), 241);
    assert_eq!(
        eval(bson!({"$toLong": "$d"})),
        Bson::Int64(1_709_214_330_123)
    );
    assert_eq!(eval(bson!({"$toLong": "123"})), Bson::Int64(123));
    assert_eq!(eval(bson!({"$toLong": 1e10})), Bson::Int64(10_000_000_000));
    assert_eq!(eval_code(bson!({"$toLong": 1e19})), 241);
    let error = eval_error(bson!({"$toLong": "12x"}));
    assert_eq!(
        error.message,
        "Failed to parse number '12x' in $convert with no onError value: Did not consume whole \
         string."
    );
}

#[test]
fn to_double() {
    assert_eq!(eval(bson!({"$toDouble": "2.5"})), Bson::Double(2.5));
    assert_eq!(eval(bson!({"$toDouble": "-1e3"})), Bson::Double(-1000.0));
    assert_eq!(eval(bson!({"$toDouble": 5})), Bson::Double(5.0));
    assert_eq!(eval(bson!({"$toDouble": false})), Bson::Double(0.0));
    assert_eq!(
        eval(bson!({"$toDouble": "$d"})),
        Bson::Double(1_709_214_330_123.0)
    );
    assert_eq!(eval(bson!({"$toDouble": "$missing"})), Bson::Null);
    assert_eq!(eval_code(bson!({"$toDouble": "abc"})), 241);
    assert_eq!(
        eval(bson!({"$toDouble": "-Infinity"})),
        Bson::Double(f64::NEG_INFINITY)
    );
    let error = eval_error(bson!({"$toDouble": "1e400"}));
    assert_eq!(
        error.message,
        "Failed to parse number '1e400' in $convert with no onError value: Out of range"
    );
    assert_eq!(eval_code(bson!({"$toDouble": " 1"})), 241);
    assert_eq!(eval_code(bson!({"$toDouble": {"x": 1}})), 241);
}
