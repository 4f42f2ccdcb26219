//! Arithmetic expressions: type promotion, null propagation and errors.

use bson::{Bson, DateTime, bson};

use super::{eval, eval_code, eval_error};

fn date(millis: i64) -> Bson {
    Bson::DateTime(DateTime::from_millis(millis))
}

#[test]
fn add_promotes_and_widens_on_overflow() {
    assert_eq!(eval(bson!({"$add": [1, 2]})), Bson::Int32(3));
    assert_eq!(eval(bson!({"$add": [1, 2_i64]})), Bson::Int64(3));
    assert_eq!(eval(bson!({"$add": [1, 2.5]})), Bson::Double(3.5));
    assert_eq!(eval(bson!({"$add": []})), Bson::Int32(0));
    assert_eq!(
        eval(bson!({"$add": ["$big", 1]})),
        Bson::Int64(2_147_483_648)
    );
    assert_eq!(
        eval(bson!({"$add": ["$big", 1, -1]})),
        Bson::Int32(i32::MAX)
    );
    assert_eq!(
        eval(bson!({"$add": ["$long", 1]})),
        Bson::Double(9_223_372_036_854_775_808.0)
    );
    // Doubles are summed left to right, without compensation.
    assert_eq!(
        eval(bson!({"$add": [0.1, 0.2, -0.3]})),
        Bson::Double(5.551115123125783e-17)
    );
    // Once the long sum overflows, the result stays a double.
    assert_eq!(
        eval(bson!({"$add": ["$long", 1, -1]})),
        Bson::Double(9_223_372_036_854_775_808.0)
    );
}

#[test]
fn add_with_null_missing_and_dates() {
    assert_eq!(eval(bson!({"$add": [1, null]})), Bson::Null);
    assert_eq!(eval(bson!({"$add": [1, "$missing"]})), Bson::Null);
    assert_eq!(eval(bson!({"$add": ["$d", 1000]})), date(1_709_214_331_123));
    assert_eq!(eval(bson!({"$add": [1.4, "$d"]})), date(1_709_214_330_124));
    // After the date, each fraction is rounded on its own.
    assert_eq!(
        eval(bson!({"$add": ["$d", 1.4, 1.4]})),
        date(1_709_214_330_125)
    );
    assert_eq!(eval_code(bson!({"$add": ["$d", 1e300]})), 15);
    let error = eval_error(bson!({"$add": [1, "x"]}));
    assert_eq!(error.code, 14);
    assert_eq!(
        error.message,
        "$add only supports numeric or date types, not string"
    );
    assert_eq!(eval_code(bson!({"$add": ["$d", "$d"]})), 16612);
}

#[test]
fn subtract_numbers_and_dates() {
    assert_eq!(eval(bson!({"$subtract": [5, 3]})), Bson::Int32(2));
    assert_eq!(
        eval(bson!({"$subtract": [i32::MIN, 1]})),
        Bson::Int64(-2_147_483_649)
    );
    assert_eq!(eval(bson!({"$subtract": [5, 0.5]})), Bson::Double(4.5));
    assert_eq!(
        eval(bson!({"$subtract": ["$d", 123]})),
        date(1_709_214_330_000)
    );
    assert_eq!(
        eval(bson!({"$subtract": ["$d", {"$add": ["$d", -5000]}]})),
        Bson::Int64(5000)
    );
    assert_eq!(eval(bson!({"$subtract": ["$n", 1]})), Bson::Null);
    assert_eq!(eval(bson!({"$subtract": [1, "$missing"]})), Bson::Null);
    let error = eval_error(bson!({"$subtract": [1, "$d"]}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (14, "can't $subtract date from int")
    );
    let error = eval_error(bson!({"$subtract": ["$d", "x"]}));
    assert_eq!(error.message, "can't $subtract string from Date");
    assert_eq!(eval_code(bson!({"$subtract": ["x", 1]})), 14);
}

#[test]
fn multiply_promotes() {
    assert_eq!(eval(bson!({"$multiply": [2, 3]})), Bson::Int32(6));
    assert_eq!(
        eval(bson!({"$multiply": ["$big", 2]})),
        Bson::Int64(4_294_967_294)
    );
    assert_eq!(
        eval(bson!({"$multiply": ["$long", 2]})),
        Bson::Double(1.8446744073709552e19)
    );
    assert_eq!(eval(bson!({"$multiply": [2, 1.5]})), Bson::Double(3.0));
    assert_eq!(eval(bson!({"$multiply": []})), Bson::Int32(1));
    assert_eq!(eval(bson!({"$multiply": [2, null]})), Bson::Null);
    assert_eq!(eval_code(bson!({"$multiply": [2, "x"]})), 14);
    assert_eq!(eval(bson!({"$multiply": [null, "x"]})), Bson::Null);
}

#[test]
fn divide_gives_doubles_and_refuses_zero() {
    assert_eq!(eval(bson!({"$divide": [10, 4]})), Bson::Double(2.5));
    assert_eq!(eval(bson!({"$divide": [10, 5]})), Bson::Double(2.0));
    assert_eq!(eval(bson!({"$divide": [null, 0]})), Bson::Null);
    assert_eq!(eval(bson!({"$divide": ["$missing", 2]})), Bson::Null);
    let error = eval_error(bson!({"$divide": [1, 0]}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (2, "can't $divide by zero")
    );
    assert_eq!(eval_code(bson!({"$divide": [1, 0.0]})), 2);
    let error = eval_error(bson!({"$divide": [1, "x"]}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            14,
            "$divide only supports numeric types, not int and string"
        )
    );
}

#[test]
fn modulo_keeps_the_operand_type() {
    assert_eq!(eval(bson!({"$mod": [10, 3]})), Bson::Int32(1));
    assert_eq!(eval(bson!({"$mod": [-7, 2]})), Bson::Int32(-1));
    assert_eq!(eval(bson!({"$mod": [10_i64, 3]})), Bson::Int64(1));
    assert_eq!(eval(bson!({"$mod": [10.5, 3]})), Bson::Double(1.5));
    assert_eq!(eval(bson!({"$mod": [i32::MIN, -1]})), Bson::Int32(0));
    assert_eq!(eval(bson!({"$mod": [null, 0]})), Bson::Null);
    assert_eq!(eval_code(bson!({"$mod": [5, 0]})), 16610);
    assert_eq!(eval_code(bson!({"$mod": [5, "x"]})), 16611);
}

#[test]
fn abs_ceil_floor() {
    assert_eq!(eval(bson!({"$abs": -5})), Bson::Int32(5));
    assert_eq!(eval(bson!({"$abs": i32::MIN})), Bson::Int64(2_147_483_648));
    assert_eq!(eval(bson!({"$abs": -2.5})), Bson::Double(2.5));
    assert_eq!(eval(bson!({"$abs": "$missing"})), Bson::Null);
    assert_eq!(eval_code(bson!({"$abs": i64::MIN})), 28680);
    let error = eval_error(bson!({"$abs": "x"}));
    assert_eq!(error.code, 28765);
    assert_eq!(
        error.message,
        "$abs only supports numeric types, not string"
    );
    assert_eq!(eval(bson!({"$ceil": 2.1})), Bson::Double(3.0));
    assert_eq!(eval(bson!({"$floor": -2.1})), Bson::Double(-3.0));
    assert_eq!(eval(bson!({"$ceil": 5})), Bson::Int32(5));
    assert_eq!(eval(bson!({"$floor": null})), Bson::Null);
    assert_eq!(eval_code(bson!({"$floor": [[1]]})), 28765);
}

#[test]
fn round_is_half_to_even() {
    assert_eq!(eval(bson!({"$round": [2.5]})), Bson::Double(2.0));
    assert_eq!(eval(bson!({"$round": 3.5})), Bson::Double(4.0));
    assert_eq!(eval(bson!({"$round": [-2.5, 0]})), Bson::Double(-2.0));
    // 2.675 is 2.67499999999999982236431605997495353221893310546875 as a double.
    assert_eq!(eval(bson!({"$round": [2.675, 2]})), Bson::Double(2.67));
    assert_eq!(eval(bson!({"$round": [0.125, 2]})), Bson::Double(0.12));
    assert_eq!(eval(bson!({"$round": [1.234_567, 3]})), Bson::Double(1.235));
    assert_eq!(eval(bson!({"$round": [1234.5, -2]})), Bson::Double(1200.0));
    assert_eq!(eval(bson!({"$round": [1234, -2]})), Bson::Int32(1200));
    assert_eq!(eval(bson!({"$round": [1250, -2]})), Bson::Int32(1200));
    assert_eq!(eval(bson!({"$round": [1350, -2]})), Bson::Int32(1400));
    assert_eq!(eval(bson!({"$round": [-1350_i64, -2]})), Bson::Int64(-1400));
    assert_eq!(eval(bson!({"$round": [7, 2]})), Bson::Int32(7));
    assert_eq!(eval(bson!({"$round": [0.004, 1]})), Bson::Double(0.0));
    assert_eq!(eval(bson!({"$round": [null, 1]})), Bson::Null);
    assert_eq!(eval(bson!({"$round": [1.5, null]})), Bson::Null);
    assert_eq!(eval(bson!({"$round": [1.5, "$missing"]})), Bson::Null);
    let error = eval_error(bson!({"$round": [5, 200]}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            51083,
            "cannot apply $round with precision value 200 value must be in [-20, 100]"
        )
    );
    assert_eq!(eval_code(bson!({"$round": [5, 1.5]})), 51082);
    assert_eq!(eval_code(bson!({"$round": ["x"]})), 51081);
}

#[test]
fn trunc_cuts_toward_zero() {
    let dec = |s: &str| Bson::Decimal128(s.parse().expect("decimal"));
    assert_eq!(eval(bson!({"$trunc": [2.7]})), Bson::Double(2.0));
    assert_eq!(eval(bson!({"$trunc": -2.7})), Bson::Double(-2.0));
    assert_eq!(eval(bson!({"$trunc": [1.239, 2]})), Bson::Double(1.23));
    assert_eq!(eval(bson!({"$trunc": [1299, -2]})), Bson::Int32(1200));
    assert_eq!(eval(bson!({"$trunc": [-1299_i64, -2]})), Bson::Int64(-1200));
    assert_eq!(
        eval(bson!({"$trunc": [dec("-1234.5678"), 1]})),
        dec("-1234.5")
    );
    assert_eq!(eval(bson!({"$trunc": [null]})), Bson::Null);
    let error = eval_error(bson!({"$trunc": [5, -21]}));
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            51083,
            "cannot apply $trunc with precision value -21 value must be in [-20, 100]"
        )
    );
    assert_eq!(eval_code(bson!({"$trunc": ["x"]})), 51081);
}

#[test]
fn decimals_stay_decimals() {
    let dec = |s: &str| Bson::Decimal128(s.parse().expect("decimal"));
    let sum = eval(bson!({"$add": [dec("1.5"), 1]}));
    assert_eq!(sum, dec("2.5"));
    assert_eq!(eval(bson!({"$divide": [dec("1"), 4]})), dec("0.25"));
}
