//! String expressions.

use bson::{Bson, bson};

use super::{eval, eval_code, eval_error};

#[test]
fn concat_joins_strings_and_propagates_null() {
    assert_eq!(
        eval(bson!({"$concat": ["$s", ", ", "world"]})),
        bson!("Hello, world")
    );
    assert_eq!(eval(bson!({"$concat": []})), bson!(""));
    assert_eq!(eval(bson!({"$concat": ["a", null]})), Bson::Null);
    assert_eq!(eval(bson!({"$concat": ["a", "$missing"]})), Bson::Null);
    let error = eval_error(bson!({"$concat": ["a", 1]}));
    assert_eq!(error.code, 16702);
    assert_eq!(error.message, "$concat only supports strings, not int");
}

#[test]
fn case_changes_coerce_their_argument() {
    assert_eq!(eval(bson!({"$toLower": "$s"})), bson!("hello"));
    assert_eq!(eval(bson!({"$toUpper": ["$s"]})), bson!("HELLO"));
    assert_eq!(eval(bson!({"$toUpper": "é"})), bson!("é"));
    assert_eq!(eval(bson!({"$toLower": "$missing"})), bson!(""));
    assert_eq!(eval(bson!({"$toLower": null})), bson!(""));
    assert_eq!(eval(bson!({"$toLower": 5})), bson!("5"));
    assert_eq!(eval(bson!({"$toLower": 2.5})), bson!("2.5"));
    assert_eq!(eval(bson!({"$toLower": 1_234_567.0})), bson!("1.23457e+06"));
    assert_eq!(
        eval(bson!({"$toUpper": "$d"})),
        bson!("2024-02-29T13:45:30.123Z")
    );
    let error = eval_error(bson!({"$toLower": [[1]]}));
    assert_eq!(error.code, 16007);
    assert_eq!(
        error.message,
        "can't convert from BSON type array to String"
    );
}

#[test]
fn substr_counts_code_points() {
    assert_eq!(eval(bson!({"$substrCP": ["héllo", 1, 3]})), bson!("éll"));
    assert_eq!(eval(bson!({"$substrCP": ["abc", 5, 1]})), bson!(""));
    assert_eq!(eval(bson!({"$substrCP": ["abc", 1, 100]})), bson!("bc"));
    assert_eq!(eval(bson!({"$substrCP": ["$missing", 0, 1]})), bson!(""));
    assert_eq!(eval(bson!({"$substrCP": [12345, 1, 2.0]})), bson!("23"));
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", -1, 1]})), 34455);
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", 0, -1]})), 34454);
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", "x", 1]})), 34450);
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", 1.5, 1]})), 34451);
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", 0, null]})), 34452);
    assert_eq!(eval_code(bson!({"$substrCP": ["abc", 0, 0.5]})), 34453);
}

#[test]
fn string_length_counts_code_points() {
    assert_eq!(eval(bson!({"$strLenCP": "héllo"})), bson!(5));
    assert_eq!(eval(bson!({"$strLenCP": ""})), bson!(0));
    let error = eval_error(bson!({"$strLenCP": "$missing"}));
    assert_eq!(error.code, 34471);
    assert_eq!(
        error.message,
        "$strLenCP requires a string argument, found: missing"
    );
}
