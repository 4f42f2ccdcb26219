//! The expression operators this engine evaluates: their names, how many arguments they take,
//! and which family module evaluates them.

use bson::Document;

use super::{Expr, Value, arith, array, convert, date, logic, string};
use crate::error::{CommandError, CommandResult};

/// An expression operator (`$add`, `$concat`, ...), without its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    // Arithmetic.
    Add,
    Subtract,
    Multiply,
    Divide,
    Mod,
    Abs,
    Ceil,
    Floor,
    Round,
    Trunc,
    // Strings.
    Concat,
    ToLower,
    ToUpper,
    SubstrCP,
    StrLenCP,
    // Comparison and logic.
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Cmp,
    And,
    Or,
    Not,
    Cond,
    IfNull,
    // Arrays and their folds.
    In,
    Size,
    ArrayElemAt,
    First,
    Last,
    IsArray,
    Max,
    Min,
    Sum,
    Avg,
    // Types.
    Type,
    ToString,
    ToInt,
    ToLong,
    ToDouble,
    // Dates.
    Year,
    Month,
    DayOfMonth,
    Hour,
    Minute,
    Second,
    Millisecond,
    DayOfWeek,
    DayOfYear,
    Week,
    IsoWeek,
    IsoWeekYear,
    IsoDayOfWeek,
}

/// How many arguments an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// This many or more.
    AtLeast(usize),
    /// Between the two, inclusive.
    Between(usize, usize),
}

const TABLE: &[(&str, Op, Arity)] = &[
    ("$add", Op::Add, Arity::AtLeast(0)),
    ("$subtract", Op::Subtract, Arity::Exactly(2)),
    ("$multiply", Op::Multiply, Arity::AtLeast(0)),
    ("$divide", Op::Divide, Arity::Exactly(2)),
    ("$mod", Op::Mod, Arity::Exactly(2)),
    ("$abs", Op::Abs, Arity::Exactly(1)),
    ("$ceil", Op::Ceil, Arity::Exactly(1)),
    ("$floor", Op::Floor, Arity::Exactly(1)),
    ("$round", Op::Round, Arity::Between(1, 2)),
    ("$trunc", Op::Trunc, Arity::Between(1, 2)),
    ("$concat", Op::Concat, Arity::AtLeast(0)),
    ("$toLower", Op::ToLower, Arity::Exactly(1)),
    ("$toUpper", Op::ToUpper, Arity::Exactly(1)),
    ("$substrCP", Op::SubstrCP, Arity::Exactly(3)),
    ("$strLenCP", Op::StrLenCP, Arity::Exactly(1)),
    ("$eq", Op::Eq, Arity::Exactly(2)),
    ("$ne", Op::Ne, Arity::Exactly(2)),
    ("$gt", Op::Gt, Arity::Exactly(2)),
    ("$gte", Op::Gte, Arity::Exactly(2)),
    ("$lt", Op::Lt, Arity::Exactly(2)),
    ("$lte", Op::Lte, Arity::Exactly(2)),
    ("$cmp", Op::Cmp, Arity::Exactly(2)),
    ("$and", Op::And, Arity::AtLeast(0)),
    ("$or", Op::Or, Arity::AtLeast(0)),
    ("$not", Op::Not, Arity::Exactly(1)),
    ("$cond", Op::Cond, Arity::Exactly(3)),
    ("$ifNull", Op::IfNull, Arity::AtLeast(2)),
    ("$in", Op::In, Arity::Exactly(2)),
    ("$size", Op::Size, Arity::Exactly(1)),
    ("$arrayElemAt", Op::ArrayElemAt, Arity::Exactly(2)),
    ("$first", Op::First, Arity::Exactly(1)),
    ("$last", Op::Last, Arity::Exactly(1)),
    ("$isArray", Op::IsArray, Arity::Exactly(1)),
    ("$max", Op::Max, Arity::AtLeast(0)),
    ("$min", Op::Min, Arity::AtLeast(0)),
    ("$sum", Op::Sum, Arity::AtLeast(0)),
    ("$avg", Op::Avg, Arity::AtLeast(0)),
    ("$type", Op::Type, Arity::Exactly(1)),
    ("$toString", Op::ToString, Arity::Exactly(1)),
    ("$toInt", Op::ToInt, Arity::Exactly(1)),
    ("$toLong", Op::ToLong, Arity::Exactly(1)),
    ("$toDouble", Op::ToDouble, Arity::Exactly(1)),
    ("$year", Op::Year, Arity::Exactly(1)),
    ("$month", Op::Month, Arity::Exactly(1)),
    ("$dayOfMonth", Op::DayOfMonth, Arity::Exactly(1)),
    ("$hour", Op::Hour, Arity::Exactly(1)),
    ("$minute", Op::Minute, Arity::Exactly(1)),
    ("$second", Op::Second, Arity::Exactly(1)),
    ("$millisecond", Op::Millisecond, Arity::Exactly(1)),
    ("$dayOfWeek", Op::DayOfWeek, Arity::Exactly(1)),
    ("$dayOfYear", Op::DayOfYear, Arity::Exactly(1)),
    ("$week", Op::Week, Arity::Exactly(1)),
    ("$isoWeek", Op::IsoWeek, Arity::Exactly(1)),
    ("$isoWeekYear", Op::IsoWeekYear, Arity::Exactly(1)),
    ("$isoDayOfWeek", Op::IsoDayOfWeek, Arity::Exactly(1)),
];

/// Operators `mongod` has that this engine does not evaluate; they are refused by name rather
/// than reported as unknown.
const UNSUPPORTED: &[&str] = &[
    "$accumulator",
    "$acos",
    "$allElementsTrue",
    "$anyElementTrue",
    "$arrayToObject",
    "$asin",
    "$atan",
    "$atan2",
    "$binarySize",
    "$bitAnd",
    "$bitNot",
    "$bitOr",
    "$bitXor",
    "$bsonSize",
    "$concatArrays",
    "$convert",
    "$cos",
    "$dateAdd",
    "$dateDiff",
    "$dateFromParts",
    "$dateFromString",
    "$dateSubtract",
    "$dateToParts",
    "$dateTrunc",
    "$degreesToRadians",
    "$exp",
    "$filter",
    "$firstN",
    "$function",
    "$getField",
    "$indexOfArray",
    "$indexOfBytes",
    "$indexOfCP",
    "$isNumber",
    "$lastN",
    "$let",
    "$ln",
    "$log",
    "$log10",
    "$ltrim",
    "$map",
    "$maxN",
    "$median",
    "$mergeObjects",
    "$meta",
    "$minN",
    "$objectToArray",
    "$percentile",
    "$pow",
    "$radiansToDegrees",
    "$rand",
    "$range",
    "$reduce",
    "$regexFind",
    "$regexFindAll",
    "$regexMatch",
    "$replaceAll",
    "$replaceOne",
    "$reverseArray",
    "$rtrim",
    "$sampleRate",
    "$setDifference",
    "$setEquals",
    "$setField",
    "$setIntersection",
    "$setIsSubset",
    "$setUnion",
    "$sin",
    "$slice",
    "$sortArray",
    "$split",
    "$sqrt",
    "$stdDevPop",
    "$stdDevSamp",
    "$strcasecmp",
    "$strLenBytes",
    "$substr",
    "$substrBytes",
    "$tan",
    "$toBool",
    "$toDate",
    "$toDecimal",
    "$toObjectId",
    "$toUUID",
    "$trim",
    "$tsIncrement",
    "$tsSecond",
    "$unsetField",
    "$zip",
];

impl Op {
    /// The operator named `name` and its arity; `None` if this engine has no such operator.
    pub(crate) fn named(name: &str) -> Option<(Op, Arity)> {
        TABLE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, op, arity)| (op, arity))
    }

    /// The operator's name, `$` included.
    pub(crate) fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, op, _)| *op == self)
            .map_or("$unknown", |(name, _, _)| name)
    }

    /// Whether the operator reads a date (and accepts `{date, timezone}`).
    pub(crate) fn is_date_part(self) -> bool {
        matches!(
            self,
            Op::Year
                | Op::Month
                | Op::DayOfMonth
                | Op::Hour
                | Op::Minute
                | Op::Second
                | Op::Millisecond
                | Op::DayOfWeek
                | Op::DayOfYear
                | Op::Week
                | Op::IsoWeek
                | Op::IsoWeekYear
                | Op::IsoDayOfWeek
        )
    }
}

/// Whether `name` is an expression operator `mongod` knows, evaluated here or not.
pub(crate) fn is_known(name: &str) -> bool {
    matches!(name, "$literal" | "$cond" | "$dateToString")
        || Op::named(name).is_some()
        || UNSUPPORTED.contains(&name)
}

/// The error for an operator name this engine does not evaluate.
pub(crate) fn unknown_operator(name: &str) -> CommandError {
    if UNSUPPORTED.contains(&name) {
        CommandError::bad_value(format!(
            "the expression operator {name} is not supported by this engine"
        ))
    } else {
        CommandError::with_code(168, format!("Unrecognized expression '{name}'"))
    }
}

/// Checks the number of arguments given to `op`.
pub(crate) fn check_arity(op: Op, arity: Arity, count: usize) -> CommandResult<()> {
    let name = op.name();
    match arity {
        Arity::Exactly(n) if count != n => Err(CommandError::with_code(
            16020,
            format!("Expression {name} takes exactly {n} arguments. {count} were passed in."),
        )),
        Arity::AtLeast(n) if count < n => Err(match op {
            Op::IfNull => CommandError::with_code(
                1257300,
                format!("{name} needs at least two arguments, had: {count}"),
            ),
            _ => CommandError::with_code(
                16021,
                format!("Expression {name} takes at least {n} arguments. {count} were passed in."),
            ),
        }),
        Arity::Between(low, high) if count < low || count > high => Err(CommandError::with_code(
            28667,
            format!(
                "Expression {name} takes at least {low} arguments, and at most {high}, but \
                 {count} were passed in."
            ),
        )),
        _ => Ok(()),
    }
}

/// Evaluates `op` applied to `args` against `root`.
pub(crate) fn eval(op: Op, args: &[Expr], root: &Document) -> CommandResult<Value> {
    match op {
        Op::And | Op::Or | Op::Cond | Op::IfNull => logic::eval_lazy(op, args, root),
        _ => {
            let values = args
                .iter()
                .map(|arg| arg.eval(root))
                .collect::<CommandResult<Vec<Value>>>()?;
            eval_strict(op, &values)
        }
    }
}

/// Evaluates an operator whose arguments are all evaluated first.
fn eval_strict(op: Op, values: &[Value]) -> CommandResult<Value> {
    match op {
        Op::Add
        | Op::Subtract
        | Op::Multiply
        | Op::Divide
        | Op::Mod
        | Op::Abs
        | Op::Ceil
        | Op::Floor
        | Op::Round
        | Op::Trunc => arith::eval(op, values),
        Op::Concat | Op::ToLower | Op::ToUpper | Op::SubstrCP | Op::StrLenCP => {
            string::eval(op, values)
        }
        Op::Eq
        | Op::Ne
        | Op::Gt
        | Op::Gte
        | Op::Lt
        | Op::Lte
        | Op::Cmp
        | Op::Not
        | Op::And
        | Op::Or
        | Op::Cond
        | Op::IfNull => logic::eval_strict(op, values),
        Op::In
        | Op::Size
        | Op::ArrayElemAt
        | Op::First
        | Op::Last
        | Op::IsArray
        | Op::Max
        | Op::Min
        | Op::Sum
        | Op::Avg => array::eval(op, values),
        Op::Type | Op::ToString | Op::ToInt | Op::ToLong | Op::ToDouble => {
            convert::eval(op, values)
        }
        Op::Year
        | Op::Month
        | Op::DayOfMonth
        | Op::Hour
        | Op::Minute
        | Op::Second
        | Op::Millisecond
        | Op::DayOfWeek
        | Op::DayOfYear
        | Op::Week
        | Op::IsoWeek
        | Op::IsoWeekYear
        | Op::IsoDayOfWeek => date::eval_part(op, values),
    }
}
