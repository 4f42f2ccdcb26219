//! Expressions: paths and variables, literals, comparison and logic, arrays.

use bson::{Bson, bson, doc};

use super::{eval, eval_code, eval_error, eval_value, sample, try_eval_on};

#[test]
fn field_paths_descend_into_documents_and_arrays() {
    assert_eq!(eval(bson!("$a")), Bson::Int32(5));
    assert_eq!(eval(bson!("$docs.x")), bson!([1, 2]));
    assert_eq!(eval(bson!("$arr.x")), bson!([]));
    assert_eq!(eval_value(bson!("$missing")), None);
    assert_eq!(eval_value(bson!("$a.b")), None);
    let nested = doc! {"a": [[{"b": 1}], {"b": 2}, {"c": 3}, {"b": [4, 5]}]};
    assert_eq!(
        try_eval_on(bson!("$a.b"), &nested).expect("evaluates"),
        Some(bson!([2, [4, 5]]))
    );
    // Numeric components are field names, not array positions.
    let positional = doc! {"a": [10, 20], "o": {"0": "zero"}};
    assert_eq!(
        try_eval_on(bson!("$a.0"), &positional).expect("evaluates"),
        Some(bson!([]))
    );
    assert_eq!(
        try_eval_on(bson!("$o.0"), &positional).expect("evaluates"),
        Some(bson!("zero"))
    );
}

#[test]
fn variables_name_the_document_or_nothing() {
    assert_eq!(eval(bson!("$$ROOT")), Bson::Document(sample()));
    assert_eq!(eval(bson!("$$CURRENT.a")), Bson::Int32(5));
    assert_eq!(eval(bson!("$$ROOT.docs.x")), bson!([1, 2]));
    assert_eq!(eval_value(bson!("$$REMOVE")), None);
    assert_eq!(eval_code(bson!("$$nope")), 17276);
    let error = eval_error(bson!("$$"));
    assert_eq!(
        (error.code, error.message.as_str()),
        (9, "empty variable names are not allowed")
    );
    let error = eval_error(bson!("$$$s"));
    assert_eq!(
        error.message,
        "'$s' starts with an invalid character for a user variable name"
    );
    assert_eq!(eval_code(bson!("$$a-b")), 9);
    assert_eq!(eval_code(bson!("$$ROOT.")), 40353);
    assert_eq!(eval_code(bson!("$a.")), 40353);
    assert_eq!(eval_code(bson!("$$NOW")), 2);
    assert_eq!(eval_code(bson!("$")), 16872);
    assert_eq!(eval_code(bson!("$a..b")), 15998);
    assert_eq!(eval_code(bson!("$a.$b")), 16410);
}

#[test]
fn literals_objects_and_arrays() {
    assert_eq!(eval(bson!("plain")), bson!("plain"));
    assert_eq!(eval(bson!({"$literal": "$a"})), bson!("$a"));
    assert_eq!(eval(bson!({"$literal": {"$add": 1}})), bson!({"$add": 1}));
    assert_eq!(
        eval(bson!({"x": "$a", "y": "$missing", "z": {"w": "$b"}})),
        bson!({"x": 5, "z": {"w": 2.5}})
    );
    assert_eq!(eval(bson!(["$a", "$missing", 1])), bson!([5, null, 1]));
    assert_eq!(eval(bson!({})), bson!({}));
    assert_eq!(eval_code(bson!({"x.y": 1})), 16412);
    let error = eval_error(bson!({"$add": [1], "x": 1}));
    assert_eq!(error.code, 15983);
    assert_eq!(
        error.message,
        "An object representing an expression must have exactly one field: { $add: [ 1 ], x: 1 }"
    );
}

#[test]
fn unknown_and_unsupported_operators_are_refused() {
    let error = eval_error(bson!({"$foo": 1}));
    assert_eq!(error.code, 168);
    assert_eq!(error.message, "Unrecognized expression '$foo'");
    assert_eq!(error.code_name, "InvalidPipelineOperator");
    let error = eval_error(bson!({"$map": {}}));
    assert_eq!(error.code, 2);
    assert!(error.message.contains("not supported"), "{error}");
}

#[test]
fn arity_is_checked_when_parsing() {
    let error = eval_error(bson!({"$subtract": [1]}));
    assert_eq!(error.code, 16020);
    assert_eq!(
        error.message,
        "Expression $subtract takes exactly 2 arguments. 1 were passed in."
    );
    assert_eq!(eval_code(bson!({"$size": [1, 2]})), 16020);
    assert_eq!(eval_code(bson!({"$round": [1, 2, 3]})), 28667);
    assert_eq!(eval_code(bson!({"$ifNull": ["$a"]})), 1257300);
}

#[test]
fn comparisons_use_the_bson_order() {
    assert_eq!(eval(bson!({"$eq": [1, 1.0]})), bson!(true));
    assert_eq!(eval(bson!({"$eq": ["$missing", null]})), bson!(false));
    assert_eq!(eval(bson!({"$eq": ["$missing", "$nothing"]})), bson!(true));
    assert_eq!(eval(bson!({"$ne": ["$a", 5]})), bson!(false));
    assert_eq!(eval(bson!({"$gt": ["a", 5]})), bson!(true));
    assert_eq!(eval(bson!({"$gte": [5, "$a"]})), bson!(true));
    assert_eq!(eval(bson!({"$lt": [null, 0]})), bson!(true));
    assert_eq!(eval(bson!({"$lt": ["$missing", null]})), bson!(true));
    assert_eq!(eval(bson!({"$lte": [[1, 2], [1, 3]]})), bson!(true));
    assert_eq!(eval(bson!({"$cmp": [1, 2]})), bson!(-1));
    assert_eq!(eval(bson!({"$cmp": ["b", "a"]})), bson!(1));
    assert_eq!(eval(bson!({"$cmp": [2, 2.0]})), bson!(0));
}

#[test]
fn logic_uses_truthiness_and_short_circuits() {
    assert_eq!(eval(bson!({"$and": [1, "x", [], {}]})), bson!(true));
    assert_eq!(eval(bson!({"$and": [1, 0.0]})), bson!(false));
    assert_eq!(eval(bson!({"$and": []})), bson!(true));
    assert_eq!(eval(bson!({"$or": []})), bson!(false));
    assert_eq!(
        eval(bson!({"$or": [null, 0, "$missing", false]})),
        bson!(false)
    );
    assert_eq!(eval(bson!({"$not": [0]})), bson!(true));
    assert_eq!(eval(bson!({"$not": "$a"})), bson!(false));
    assert_eq!(eval(bson!({"$not": [[]]})), bson!(false));
    // The branches not taken are not evaluated.
    let failing = bson!({"$divide": [1, 0]});
    assert_eq!(
        eval(bson!({"$and": [false, failing.clone()]})),
        bson!(false)
    );
    assert_eq!(eval(bson!({"$or": [true, failing.clone()]})), bson!(true));
    assert_eq!(eval(bson!({"$cond": [true, 1, failing.clone()]})), bson!(1));
    assert_eq!(eval(bson!({"$ifNull": ["$a", failing]})), bson!(5));
}

#[test]
fn cond_has_two_forms() {
    assert_eq!(
        eval(bson!({"$cond": [{"$gt": ["$a", 3]}, "big", "small"]})),
        bson!("big")
    );
    assert_eq!(
        eval(bson!({"$cond": {"if": "$n", "then": 1, "else": "$b"}})),
        bson!(2.5)
    );
    assert_eq!(eval_value(bson!({"$cond": [true, "$missing", 1]})), None);
    assert_eq!(eval_code(bson!({"$cond": {"if": 1, "then": 2}})), 17082);
    assert_eq!(eval_code(bson!({"$cond": {"then": 2, "else": 3}})), 17080);
    assert_eq!(
        eval_code(bson!({"$cond": {"if": 1, "then": 2, "else": 3, "x": 4}})),
        17083
    );
    assert_eq!(eval_code(bson!({"$cond": [1, 2]})), 16020);
}

#[test]
fn if_null_takes_the_first_present_value() {
    assert_eq!(eval(bson!({"$ifNull": ["$missing", "d"]})), bson!("d"));
    assert_eq!(eval(bson!({"$ifNull": ["$n", null, 3]})), bson!(3));
    assert_eq!(eval(bson!({"$ifNull": ["$a", 0]})), bson!(5));
    assert_eq!(eval(bson!({"$ifNull": ["$n", null]})), Bson::Null);
    assert_eq!(eval_value(bson!({"$ifNull": ["$n", "$missing"]})), None);
}

#[test]
fn array_operators() {
    assert_eq!(eval(bson!({"$in": [2, "$arr"]})), bson!(true));
    assert_eq!(eval(bson!({"$in": [2.0, [1, 2]]})), bson!(true));
    assert_eq!(eval(bson!({"$in": ["$missing", [null]]})), bson!(false));
    assert_eq!(eval_code(bson!({"$in": [2, "$s"]})), 40081);
    assert_eq!(eval(bson!({"$size": "$arr"})), bson!(3));
    let error = eval_error(bson!({"$size": "$missing"}));
    assert_eq!(error.code, 17124);
    assert_eq!(
        error.message,
        "The argument to $size must be an array. Type of argument is missing"
    );
    assert_eq!(eval(bson!({"$isArray": "$arr"})), bson!(true));
    assert_eq!(eval(bson!({"$isArray": ["$a"]})), bson!(false));
}

#[test]
fn element_access() {
    assert_eq!(eval(bson!({"$arrayElemAt": ["$arr", 0]})), bson!(1));
    assert_eq!(eval(bson!({"$arrayElemAt": ["$arr", -1]})), bson!(3));
    assert_eq!(eval(bson!({"$arrayElemAt": ["$arr", 2.0]})), bson!(3));
    assert_eq!(eval_value(bson!({"$arrayElemAt": ["$arr", 3]})), None);
    assert_eq!(eval_value(bson!({"$arrayElemAt": ["$arr", -4]})), None);
    assert_eq!(eval(bson!({"$arrayElemAt": ["$missing", 0]})), Bson::Null);
    assert_eq!(eval(bson!({"$arrayElemAt": ["$arr", null]})), Bson::Null);
    assert_eq!(eval_code(bson!({"$arrayElemAt": ["$s", 0]})), 28689);
    assert_eq!(eval_code(bson!({"$arrayElemAt": ["$arr", "0"]})), 28690);
    assert_eq!(eval_code(bson!({"$arrayElemAt": ["$arr", 1.5]})), 28691);
    assert_eq!(eval(bson!({"$first": "$arr"})), bson!(1));
    assert_eq!(eval(bson!({"$last": "$arr"})), bson!(3));
    assert_eq!(eval(bson!({"$first": "$missing"})), Bson::Null);
    assert_eq!(eval_value(bson!({"$last": [[]]})), None);
    let error = eval_error(bson!({"$first": "$s"}));
    assert_eq!(error.code, 28689);
    assert_eq!(
        error.message,
        "$first's argument must be an array, but is string"
    );
}

#[test]
fn folds_take_one_array_or_several_arguments() {
    assert_eq!(eval(bson!({"$max": "$arr"})), bson!(3));
    assert_eq!(eval(bson!({"$max": [1, "x", null]})), bson!("x"));
    assert_eq!(eval(bson!({"$min": [4, "$missing", 2, null]})), bson!(2));
    assert_eq!(eval(bson!({"$min": [null]})), Bson::Null);
    assert_eq!(eval(bson!({"$max": []})), Bson::Null);
    assert_eq!(eval(bson!({"$sum": "$arr"})), bson!(6));
    assert_eq!(eval(bson!({"$sum": "$a"})), bson!(5));
    assert_eq!(eval(bson!({"$sum": [1, "x", 2.5]})), bson!(3.5));
    assert_eq!(eval(bson!({"$sum": ["$arr", 1]})), bson!(1));
    assert_eq!(eval(bson!({"$sum": []})), bson!(0));
    assert_eq!(eval(bson!({"$sum": "$missing"})), bson!(0));
    assert_eq!(
        eval(bson!({"$sum": ["$big", 1]})),
        Bson::Int64(2_147_483_648)
    );
    assert_eq!(eval(bson!({"$avg": "$arr"})), bson!(2.0));
    assert_eq!(eval(bson!({"$avg": [1, 2]})), bson!(1.5));
    assert_eq!(eval(bson!({"$avg": ["x"]})), Bson::Null);
}

#[test]
fn switch_takes_the_first_true_branch_or_the_default() {
    let grade = |default: Option<Bson>| {
        let mut spec = doc! {"branches": [
            {"case": {"$gte": ["$a", 10]}, "then": "high"},
            {"case": {"$gte": ["$a", 5]}, "then": "middle"},
            {"case": {"$gte": ["$a", 0]}, "then": "never reached for a = 5"},
        ]};
        if let Some(default) = default {
            spec.insert("default", default);
        }
        bson!({"$switch": spec})
    };
    assert_eq!(eval(grade(None)), bson!("middle"));
    let below = doc! {"a": -1};
    assert_eq!(
        try_eval_on(grade(Some(bson!("low"))), &below).expect("evaluates"),
        Some(bson!("low"))
    );
    assert_eq!(
        try_eval_on(grade(None), &below)
            .expect_err("no branch")
            .code,
        40066
    );
    assert_eq!(eval_code(bson!({"$switch": 1})), 40060);
    assert_eq!(eval_code(bson!({"$switch": {"branches": {}}})), 40061);
    assert_eq!(eval_code(bson!({"$switch": {"branches": [1]}})), 40062);
    assert_eq!(
        eval_code(bson!({"$switch": {"branches": [{"case": true, "x": 1}]}})),
        40063
    );
    assert_eq!(
        eval_code(bson!({"$switch": {"branches": [{"then": 1}]}})),
        40064
    );
    assert_eq!(
        eval_code(bson!({"$switch": {"branches": [{"case": true}]}})),
        40065
    );
    assert_eq!(
        eval_code(bson!({"$switch": {"branches": [], "x": 1}})),
        40067
    );
    assert_eq!(eval_code(bson!({"$switch": {"branches": []}})), 40068);
}
