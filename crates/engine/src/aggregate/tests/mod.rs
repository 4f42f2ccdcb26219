//! Tests of the aggregation pipeline: stages, expressions by family, `$group`, a realistic
//! pipeline and properties.

mod arith;
mod convert;
mod dates;
mod exprs;
mod group;
mod pipeline;
mod project;
mod properties;
mod stages;
mod strings;

use bson::{Bson, Document, doc};

use super::expr::{Expr, Value};
use super::{Foreign, Pipeline};
use crate::error::CommandError;

/// Parses a pipeline that must be valid.
fn pipeline(stages: Vec<Document>) -> Pipeline {
    let stages: Vec<Bson> = stages.into_iter().map(Bson::Document).collect();
    Pipeline::parse(&stages).unwrap_or_else(|e| panic!("pipeline should parse: {e}"))
}

/// Runs a pipeline that must parse and succeed.
fn run(stages: Vec<Document>, input: Vec<Document>) -> Vec<Document> {
    pipeline(stages)
        .run(input, &Foreign::new())
        .unwrap_or_else(|e| panic!("pipeline should run: {e}"))
}

/// The error of a pipeline that must fail to parse.
fn parse_error(stages: Vec<Document>) -> CommandError {
    let stages: Vec<Bson> = stages.into_iter().map(Bson::Document).collect();
    match Pipeline::parse(&stages) {
        Ok(p) => panic!("pipeline should not parse: {p:?}"),
        Err(e) => e,
    }
}

/// The error of a pipeline that parses but fails when run.
fn run_error(stages: Vec<Document>, input: Vec<Document>) -> CommandError {
    match pipeline(stages).run(input, &Foreign::new()) {
        Ok(out) => panic!("pipeline should fail, gave {out:?}"),
        Err(e) => e,
    }
}

/// The document expressions are evaluated against.
fn sample() -> Document {
    doc! {
        "_id": 1,
        "a": 5,
        "b": 2.5,
        "s": "Hello",
        "n": null,
        "arr": [1, 2, 3],
        "docs": [{"x": 1}, {"x": 2}, {"y": 3}],
        "d": bson::DateTime::from_millis(1_709_214_330_123),
        "big": i32::MAX,
        "long": i64::MAX,
    }
}

/// Evaluates an expression against `doc`; parse and evaluation errors are returned.
fn try_eval_on(expr: Bson, doc: &Document) -> Result<Value, CommandError> {
    Expr::parse(&expr)?.eval(doc)
}

/// Evaluates an expression against [`sample`]; it must succeed and not be missing.
fn eval(expr: Bson) -> Bson {
    match try_eval_on(expr.clone(), &sample()) {
        Ok(Some(value)) => value,
        Ok(None) => panic!("{expr} evaluated to missing"),
        Err(e) => panic!("{expr} failed: {e}"),
    }
}

/// Evaluates an expression against [`sample`]; it must succeed.
fn eval_value(expr: Bson) -> Value {
    try_eval_on(expr.clone(), &sample()).unwrap_or_else(|e| panic!("{expr} failed: {e}"))
}

/// The error code of an expression that must fail (when parsed or evaluated).
fn eval_code(expr: Bson) -> i32 {
    match try_eval_on(expr.clone(), &sample()) {
        Ok(value) => panic!("{expr} should fail, gave {value:?}"),
        Err(e) => e.code,
    }
}

/// The error of an expression that must fail.
fn eval_error(expr: Bson) -> CommandError {
    match try_eval_on(expr.clone(), &sample()) {
        Ok(value) => panic!("{expr} should fail, gave {value:?}"),
        Err(e) => e,
    }
}
