//! Arrays: `$in $size $arrayElemAt $first $last $isArray`, and the folds `$max $min $sum
//! $avg`, which take either several arguments or one array.

use std::cmp::Ordering;

use bson::Bson;

use super::num::{Num, Sum};
use super::op::Op;
use super::{Value, fixed, nullish, type_name};
use crate::compare::{compare_values, values_equal};
use crate::error::{CommandError, CommandResult};

/// Evaluates an array operator on evaluated arguments.
pub(super) fn eval(op: Op, values: &[Value]) -> CommandResult<Value> {
    match op {
        Op::In => {
            let [needle, haystack] = fixed(values)?;
            contains(needle, haystack)
        }
        Op::Size => {
            let [value] = fixed(values)?;
            match value {
                Some(Bson::Array(items)) => Ok(Some(Bson::Int32(
                    i32::try_from(items.len()).unwrap_or(i32::MAX),
                ))),
                _ => Err(CommandError::with_code(
                    17124,
                    format!(
                        "The argument to $size must be an array. Type of argument is {}",
                        type_name(value)
                    ),
                )),
            }
        }
        Op::ArrayElemAt => {
            let [array, index] = fixed(values)?;
            element_at(op, array, index)
        }
        Op::First => {
            let [array] = fixed(values)?;
            element_at(op, array, &Some(Bson::Int32(0)))
        }
        Op::Last => {
            let [array] = fixed(values)?;
            element_at(op, array, &Some(Bson::Int32(-1)))
        }
        Op::IsArray => {
            let [value] = fixed(values)?;
            Ok(Some(Bson::Boolean(matches!(value, Some(Bson::Array(_))))))
        }
        Op::Max => Ok(extreme(fold_inputs(values), Ordering::Greater)),
        Op::Min => Ok(extreme(fold_inputs(values), Ordering::Less)),
        Op::Sum => Ok(Some(sum(fold_inputs(values)).result().to_bson())),
        _ => Ok(average(fold_inputs(values))),
    }
}

fn contains(needle: &Value, haystack: &Value) -> CommandResult<Value> {
    let Some(Bson::Array(items)) = haystack else {
        return Err(CommandError::with_code(
            40081,
            format!(
                "$in requires an array as a second argument, found: {}",
                type_name(haystack)
            ),
        ));
    };
    let found = match needle {
        Some(needle) => items.iter().any(|item| values_equal(item, needle)),
        None => items.iter().any(|item| matches!(item, Bson::Undefined)),
    };
    Ok(Some(Bson::Boolean(found)))
}

/// `$arrayElemAt` (and `$first` / `$last`, which share its rules and messages).
fn element_at(op: Op, array: &Value, index: &Value) -> CommandResult<Value> {
    if nullish(array) || nullish(index) {
        return Ok(Some(Bson::Null));
    }
    let subject = match op {
        Op::ArrayElemAt => "$arrayElemAt's first argument".to_owned(),
        _ => format!("{}'s argument", op.name()),
    };
    let Some(Bson::Array(items)) = array else {
        return Err(CommandError::with_code(
            28689,
            format!("{subject} must be an array, but is {}", type_name(array)),
        ));
    };
    let n = index.as_ref().and_then(Num::of).ok_or_else(|| {
        CommandError::with_code(
            28690,
            format!(
                "$arrayElemAt's second argument must be a numeric value, but is {}",
                type_name(index)
            ),
        )
    })?;
    let position = n
        .to_exact_i64()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| {
            CommandError::with_code(
                28691,
                format!(
                    "$arrayElemAt's second argument must be representable as a 32-bit \
                     integer: {}",
                    super::string::format_double(n.as_f64())
                ),
            )
        })?;
    let position = if position < 0 {
        items.len().checked_sub(position.unsigned_abs() as usize)
    } else {
        Some(position.unsigned_abs() as usize)
    };
    Ok(position.and_then(|i| items.get(i)).cloned())
}

/// What `$max`, `$min`, `$sum` and `$avg` fold over: the elements of a lone array argument,
/// or else the arguments themselves.
fn fold_inputs(values: &[Value]) -> Vec<&Bson> {
    match values {
        [Some(Bson::Array(items))] => items.iter().collect(),
        _ => values.iter().flatten().collect(),
    }
}

/// The greatest (`Greater`) or least (`Less`) input that is not `null` or `undefined`;
/// `null` when there is none.
fn extreme(inputs: Vec<&Bson>, wanted: Ordering) -> Value {
    let mut best: Option<&Bson> = None;
    for input in inputs {
        if matches!(input, Bson::Null | Bson::Undefined) {
            continue;
        }
        if best.is_none_or(|b| compare_values(input, b) == wanted) {
            best = Some(input);
        }
    }
    Some(best.cloned().unwrap_or(Bson::Null))
}

/// The sum of the numeric inputs; others are ignored.
fn sum(inputs: Vec<&Bson>) -> Sum {
    let mut total = Sum::default();
    for n in inputs.into_iter().filter_map(Num::of) {
        total.add(n);
    }
    total
}

/// The mean of the numeric inputs, `null` when there are none.
fn average(inputs: Vec<&Bson>) -> Value {
    let numbers: Vec<Num> = inputs.into_iter().filter_map(Num::of).collect();
    if numbers.is_empty() {
        return Some(Bson::Null);
    }
    let mut total = Sum::default();
    numbers.iter().for_each(|n| total.add(*n));
    Some(total.mean(numbers.len() as u64).to_bson())
}
