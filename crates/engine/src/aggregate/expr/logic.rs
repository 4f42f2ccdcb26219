//! Comparison and logic: `$eq $ne $gt $gte $lt $lte $cmp $and $or $not $cond $ifNull $switch`.
//!
//! Comparisons use the BSON order across types (`"a" > 5`), missing ranking below `null`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::op::Op;
use super::{Expr, Value, compare, fixed, nullish, parse_at, truthy};
use crate::error::{CommandError, CommandResult};

/// Evaluates `$and`, `$or`, `$cond` and `$ifNull`, evaluating only the arguments they need.
pub(super) fn eval_lazy(op: Op, args: &[Expr], root: &Document) -> CommandResult<Value> {
    match op {
        Op::And => {
            for arg in args {
                if !truthy(&arg.eval(root)?) {
                    return Ok(Some(Bson::Boolean(false)));
                }
            }
            Ok(Some(Bson::Boolean(true)))
        }
        Op::Or => {
            for arg in args {
                if truthy(&arg.eval(root)?) {
                    return Ok(Some(Bson::Boolean(true)));
                }
            }
            Ok(Some(Bson::Boolean(false)))
        }
        Op::Cond => {
            let [condition, then, otherwise] = expressions(args)?;
            if truthy(&condition.eval(root)?) {
                then.eval(root)
            } else {
                otherwise.eval(root)
            }
        }
        Op::IfNull => {
            let Some((last, candidates)) = args.split_last() else {
                return Ok(Some(Bson::Null));
            };
            for candidate in candidates {
                let value = candidate.eval(root)?;
                if !nullish(&value) {
                    return Ok(value);
                }
            }
            last.eval(root)
        }
        _ => {
            let values = args
                .iter()
                .map(|arg| arg.eval(root))
                .collect::<CommandResult<Vec<Value>>>()?;
            eval_strict(op, &values)
        }
    }
}

fn expressions<const N: usize>(args: &[Expr]) -> CommandResult<&[Expr; N]> {
    args.try_into()
        .map_err(|_| CommandError::bad_value("internal error: wrong number of arguments"))
}

/// Evaluates a comparison or logic operator on evaluated arguments.
pub(super) fn eval_strict(op: Op, values: &[Value]) -> CommandResult<Value> {
    let boolean = |b: bool| Ok(Some(Bson::Boolean(b)));
    match op {
        Op::Not => {
            let [value] = fixed(values)?;
            boolean(!truthy(value))
        }
        Op::And => boolean(values.iter().all(truthy)),
        Op::Or => boolean(values.iter().any(truthy)),
        Op::Cond => {
            let [condition, then, otherwise] = fixed(values)?;
            Ok(if truthy(condition) { then } else { otherwise }.clone())
        }
        Op::IfNull => {
            let Some((last, candidates)) = values.split_last() else {
                return Ok(Some(Bson::Null));
            };
            Ok(candidates
                .iter()
                .find(|v| !nullish(v))
                .unwrap_or(last)
                .clone())
        }
        _ => {
            let [a, b] = fixed(values)?;
            let order = compare(a, b);
            match op {
                Op::Eq => boolean(order == Ordering::Equal),
                Op::Ne => boolean(order != Ordering::Equal),
                Op::Gt => boolean(order == Ordering::Greater),
                Op::Gte => boolean(order != Ordering::Less),
                Op::Lt => boolean(order == Ordering::Less),
                Op::Lte => boolean(order != Ordering::Greater),
                _ => Ok(Some(Bson::Int32(order as i32))),
            }
        }
    }
}

/// Parses `$cond`: `[if, then, else]` or `{if, then, else}`.
pub(super) fn parse_cond(arg: &Bson, depth: usize) -> CommandResult<Expr> {
    let Bson::Document(spec) = arg else {
        let args = super::operands(arg, depth)?;
        super::op::check_arity(Op::Cond, super::op::Arity::Exactly(3), args.len())?;
        return Ok(Expr::Op(Op::Cond, args));
    };
    let mut parts: [Option<Expr>; 3] = [None, None, None];
    for (name, value) in spec {
        let slot = match name.as_str() {
            "if" => 0,
            "then" => 1,
            "else" => 2,
            _ => {
                return Err(CommandError::with_code(
                    17083,
                    format!("Unrecognized parameter to $cond: {name}"),
                ));
            }
        };
        parts[slot] = Some(parse_at(value, depth + 1)?);
    }
    let [condition, then, otherwise] = parts;
    let missing = |name: &str, code: i32| {
        CommandError::with_code(code, format!("Missing '{name}' parameter to $cond"))
    };
    Ok(Expr::Op(
        Op::Cond,
        vec![
            condition.ok_or_else(|| missing("if", 17080))?,
            then.ok_or_else(|| missing("then", 17081))?,
            otherwise.ok_or_else(|| missing("else", 17082))?,
        ],
    ))
}

/// `$switch`: the `then` of the first branch whose `case` is true, else the `default`.
#[derive(Debug, Clone)]
pub(crate) struct Switch {
    branches: Vec<(Expr, Expr)>,
    default: Option<Expr>,
}

impl Switch {
    /// Parses `{branches: [{case, then}, ...], default}`, with `mongod`'s errors.
    pub(super) fn parse(arg: &Bson, depth: usize) -> CommandResult<Switch> {
        let Bson::Document(spec) = arg else {
            return Err(CommandError::with_code(
                40060,
                format!(
                    "$switch requires an object as an argument, found: {}",
                    crate::compare::type_name(arg)
                ),
            ));
        };
        let mut branches = Vec::new();
        let mut default = None;
        for (name, value) in spec {
            match name.as_str() {
                "branches" => {
                    let Bson::Array(items) = value else {
                        return Err(CommandError::with_code(
                            40061,
                            format!(
                                "$switch expected an array for 'branches', found: {}",
                                crate::compare::type_name(value)
                            ),
                        ));
                    };
                    for item in items {
                        branches.push(parse_branch(item, depth)?);
                    }
                }
                "default" => default = Some(parse_at(value, depth + 1)?),
                other => {
                    return Err(CommandError::with_code(
                        40067,
                        format!("$switch found an unknown argument: {other}"),
                    ));
                }
            }
        }
        if branches.is_empty() {
            return Err(CommandError::with_code(
                40068,
                "$switch requires at least one branch.",
            ));
        }
        Ok(Switch { branches, default })
    }

    /// Evaluates the cases in order, then the default; with neither, error 40066.
    pub(super) fn eval(&self, root: &Document) -> CommandResult<Value> {
        for (case, then) in &self.branches {
            if truthy(&case.eval(root)?) {
                return then.eval(root);
            }
        }
        match &self.default {
            Some(default) => default.eval(root),
            None => Err(CommandError::with_code(
                40066,
                "$switch could not find a matching branch for an input, and no default was \
                 specified.",
            )),
        }
    }
}

fn parse_branch(item: &Bson, depth: usize) -> CommandResult<(Expr, Expr)> {
    let Bson::Document(branch) = item else {
        return Err(CommandError::with_code(
            40062,
            format!(
                "$switch expected each branch to be an object, found: {}",
                crate::compare::type_name(item)
            ),
        ));
    };
    let (mut case, mut then) = (None, None);
    for (name, value) in branch {
        match name.as_str() {
            "case" => case = Some(parse_at(value, depth + 1)?),
            "then" => then = Some(parse_at(value, depth + 1)?),
            other => {
                return Err(CommandError::with_code(
                    40063,
                    format!("$switch found an unknown argument to a branch: {other}"),
                ));
            }
        }
    }
    let case = case.ok_or_else(|| {
        CommandError::with_code(
            40064,
            "$switch requires each branch have a 'case' expression",
        )
    })?;
    let then = then.ok_or_else(|| {
        CommandError::with_code(
            40065,
            "$switch requires each branch have a 'then' expression.",
        )
    })?;
    Ok((case, then))
}
