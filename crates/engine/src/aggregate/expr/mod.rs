//! Aggregation expressions (`"$a.b"`, `{$add: ["$x", 1]}`, `{total: "$sum"}`): parsing and
//! evaluation against a document, with `mongod`'s semantics.
//!
//! An expression evaluates to a [`Value`]: a BSON value, or *missing* (`None`), which is what a
//! path to a field that does not exist gives. Missing differs from `null`: computed fields that
//! evaluate to missing are left out of the output, and missing compares below `null`.

mod add;
mod arith;
mod array;
mod convert;
mod date;
mod logic;
mod num;
mod op;
mod string;

use std::cmp::Ordering;

use bson::{Bson, Document};

pub(crate) use num::{Num, Sum};
use op::Op;

use crate::aggregate::show::{self, Style};
use crate::compare::compare_values;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::query::path::{check_field_path, check_path_component};

/// The result of an expression: a value, or `None` for a missing one.
pub(crate) type Value = Option<Bson>;

/// How deeply expressions may nest.
const MAX_DEPTH: usize = 150;

/// A parsed expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A constant (a literal, or a `$literal`).
    Const(Bson),
    /// A path from the current document (`"$a.b"`).
    Field(Vec<String>),
    /// A variable with an optional path after it (`"$$ROOT"`, `"$$CURRENT.a"`, `"$$REMOVE"`).
    Var(Var, Vec<String>),
    /// A document of expressions; fields that evaluate to missing are left out.
    Object(Vec<(String, Expr)>),
    /// An array of expressions; elements that evaluate to missing become `null`.
    Array(Vec<Expr>),
    /// An operator applied to its arguments.
    Op(Op, Vec<Expr>),
    /// `$dateToString`.
    DateToString(Box<date::DateToString>),
    /// `$switch`.
    Switch(Box<logic::Switch>),
}

/// The variables an expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// `$$ROOT`: the document the stage is looking at.
    Root,
    /// `$$CURRENT`: the same document (no stage here rebinds it).
    Current,
    /// `$$REMOVE`: missing.
    Remove,
}

impl Expr {
    /// Parses an expression.
    pub(crate) fn parse(value: &Bson) -> CommandResult<Expr> {
        parse_at(value, 0)
    }

    /// Evaluates the expression with `root` as `$$ROOT` and `$$CURRENT`.
    pub(crate) fn eval(&self, root: &Document) -> CommandResult<Value> {
        match self {
            Expr::Const(value) => Ok(Some(value.clone())),
            Expr::Field(path) => Ok(document_path(root, path)),
            Expr::Var(Var::Remove, _) => Ok(None),
            Expr::Var(Var::Root | Var::Current, path) if path.is_empty() => {
                Ok(Some(Bson::Document(root.clone())))
            }
            Expr::Var(Var::Root | Var::Current, path) => Ok(document_path(root, path)),
            Expr::Object(fields) => {
                let mut out = Document::new();
                for (name, expr) in fields {
                    if let Some(value) = expr.eval(root)? {
                        out.insert(name.clone(), value);
                    }
                }
                Ok(Some(Bson::Document(out)))
            }
            Expr::Array(items) => {
                let values = items
                    .iter()
                    .map(|item| Ok(item.eval(root)?.unwrap_or(Bson::Null)))
                    .collect::<CommandResult<Vec<Bson>>>()?;
                Ok(Some(Bson::Array(values)))
            }
            Expr::Op(op, args) => op::eval(*op, args, root),
            Expr::DateToString(spec) => spec.eval(root),
            Expr::Switch(switch) => switch.eval(root),
        }
    }
}

fn parse_at(value: &Bson, depth: usize) -> CommandResult<Expr> {
    if depth > MAX_DEPTH {
        return Err(CommandError::bad_value(format!(
            "expression nesting exceeds the depth limit of {MAX_DEPTH}"
        )));
    }
    match value {
        Bson::String(text) if text.starts_with('$') => parse_path(text),
        Bson::Document(doc) => parse_document(doc, depth),
        Bson::Array(items) => Ok(Expr::Array(
            items
                .iter()
                .map(|item| parse_at(item, depth + 1))
                .collect::<CommandResult<_>>()?,
        )),
        other => Ok(Expr::Const(other.clone())),
    }
}

fn operands(value: &Bson, depth: usize) -> CommandResult<Vec<Expr>> {
    match value {
        Bson::Array(items) => items.iter().map(|item| parse_at(item, depth + 1)).collect(),
        single => Ok(vec![parse_at(single, depth + 1)?]),
    }
}

fn parse_document(doc: &Document, depth: usize) -> CommandResult<Expr> {
    let Some(first) = doc.keys().next() else {
        return Ok(Expr::Object(Vec::new()));
    };
    if first.starts_with('$') {
        if doc.len() != 1 {
            return Err(CommandError::with_code(
                15983,
                format!(
                    "An object representing an expression must have exactly one field: {}",
                    show::document(doc, Style::Bson)
                ),
            ));
        }
        let arg = doc.get(first).unwrap_or(&Bson::Null);
        return parse_operator(first, arg, depth);
    }
    let mut fields = Vec::with_capacity(doc.len());
    for (name, value) in doc {
        check_field_name(name)?;
        fields.push((name.clone(), parse_at(value, depth + 1)?));
    }
    Ok(Expr::Object(fields))
}

fn parse_operator(name: &str, arg: &Bson, depth: usize) -> CommandResult<Expr> {
    match name {
        "$literal" => return Ok(Expr::Const(arg.clone())),
        "$cond" => return logic::parse_cond(arg, depth),
        "$switch" => return Ok(Expr::Switch(Box::new(logic::Switch::parse(arg, depth)?))),
        "$dateToString" => {
            return Ok(Expr::DateToString(Box::new(date::DateToString::parse(
                arg, depth,
            )?)));
        }
        _ => {}
    }
    let (op, arity) = Op::named(name).ok_or_else(|| op::unknown_operator(name))?;
    if let Bson::Document(spec) = arg {
        if op.is_date_part() && date::is_part_object(spec) {
            return Ok(Expr::Op(op, date::parse_part_object(op, spec, depth)?));
        }
    }
    let args = operands(arg, depth)?;
    op::check_arity(op, arity, args.len())?;
    Ok(Expr::Op(op, args))
}

/// Parses `"$a.b"`, `"$$ROOT"` or `"$$CURRENT.a"`.
fn parse_path(text: &str) -> CommandResult<Expr> {
    let Some(variable) = text.strip_prefix("$$") else {
        let path = text.strip_prefix('$').unwrap_or(text);
        if path.is_empty() {
            return Err(CommandError::with_code(
                16872,
                "'$' by itself is not a valid FieldPath",
            ));
        }
        return Ok(Expr::Field(split_path(path)?));
    };
    let name = variable.split('.').next().unwrap_or_default();
    check_variable_name(name)?;
    let var = match name {
        "ROOT" => Var::Root,
        "CURRENT" => Var::Current,
        "REMOVE" => Var::Remove,
        "NOW" | "CLUSTER_TIME" | "USER_ROLES" | "SEARCH_META" | "DESCEND" | "PRUNE" | "KEEP" => {
            return Err(CommandError::bad_value(format!(
                "the variable $${name} is not supported by this engine"
            )));
        }
        _ => {
            return Err(CommandError::with_code(
                17276,
                format!("Use of undefined variable: {name}"),
            ));
        }
    };
    let mut path = split_path(variable)?;
    path.remove(0);
    Ok(Expr::Var(var, path))
}

/// Refuses a variable name `mongod` refuses to read.
fn check_variable_name(name: &str) -> CommandResult<()> {
    let invalid = |message: String| Err(CommandError::new(ErrorCode::FailedToParse, message));
    let Some(first) = name.chars().next() else {
        return invalid("empty variable names are not allowed".to_owned());
    };
    if first.is_ascii() && !first.is_ascii_alphabetic() {
        return invalid(format!(
            "'{name}' starts with an invalid character for a user variable name"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || !c.is_ascii()))
    {
        return invalid(format!(
            "'{name}' contains an invalid character for a variable name: '{bad}'"
        ));
    }
    Ok(())
}

/// Splits a dotted path as `mongod` builds a field path (see [`check_field_path`]).
pub(crate) fn split_path(path: &str) -> CommandResult<Vec<String>> {
    check_field_path(path)?;
    Ok(path.split('.').map(str::to_owned).collect())
}

/// Refuses a field name of an object expression that `mongod` refuses.
fn check_field_name(name: &str) -> CommandResult<()> {
    check_path_component(name)?;
    if name.contains('.') {
        return Err(CommandError::with_code(
            16412,
            "FieldPath field names may not contain '.'.",
        ));
    }
    Ok(())
}

/// The value at `path` in `doc`, descending into the documents of arrays: `"a.b"` of
/// `{a: [{b: 1}, {b: 2}, 3]}` is `[1, 2]`. An empty path gives nothing.
pub(crate) fn document_path(doc: &Document, path: &[String]) -> Value {
    let (first, rest) = path.split_first()?;
    value_path(doc.get(first)?, rest)
}

fn value_path(value: &Bson, path: &[String]) -> Value {
    if path.is_empty() {
        return Some(value.clone());
    }
    match value {
        Bson::Document(doc) => document_path(doc, path),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter(|item| matches!(item, Bson::Document(_)))
                .filter_map(|item| value_path(item, path))
                .collect(),
        )),
        _ => None,
    }
}

/// The evaluated arguments of an operator whose number of arguments parsing checked.
fn fixed<const N: usize>(values: &[Value]) -> CommandResult<&[Value; N]> {
    values.try_into().map_err(|_| {
        CommandError::bad_value("internal error: an operator got the wrong number of arguments")
    })
}

/// Whether `name` is an expression operator `mongod` knows (`$add`, ...).
pub(crate) fn is_operator(name: &str) -> bool {
    op::is_known(name)
}

/// Whether a value counts as true: everything but `false`, `null`, `undefined`, missing and
/// numeric zeros.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        None | Some(Bson::Null | Bson::Undefined | Bson::Boolean(false)) => false,
        Some(other) => Num::of(other).is_none_or(|n| !n.is_zero()),
    }
}

/// Whether a value is `null`, `undefined` or missing.
pub(crate) fn nullish(value: &Value) -> bool {
    matches!(value, None | Some(Bson::Null | Bson::Undefined))
}

/// Compares two values in the BSON order, missing ranking with `undefined` below `null`.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    const MISSING: Bson = Bson::Undefined;
    compare_values(
        a.as_ref().unwrap_or(&MISSING),
        b.as_ref().unwrap_or(&MISSING),
    )
}

/// The name `mongod` gives a value's type in messages (`missing` for a missing value).
pub(crate) fn type_name(value: &Value) -> &'static str {
    value.as_ref().map_or("missing", crate::compare::type_name)
}
