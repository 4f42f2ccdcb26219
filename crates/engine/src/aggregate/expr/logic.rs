//! Comparison and logic: `$eq $ne $gt $gte $lt $lte $cmp $and $or $not $cond $ifNull`.
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
