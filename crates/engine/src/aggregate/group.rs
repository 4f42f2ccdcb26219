//! `$group`: documents grouped by the value of an `_id` expression, each group folded by
//! accumulators (`$sum $avg $min $max $first $last $push $addToSet $count`).
//!
//! Groups come out in the order their first document came in. `_id` values are grouped by BSON
//! equality (`1`, `1.0` and `NumberLong(1)` are one group; the first one seen is output).

use std::collections::{HashMap, HashSet};

use bson::{Bson, Document};

use crate::aggregate::expr::{Expr, Num, Sum, Value, nullish};
use crate::compare::compare_values;
use crate::error::{CommandError, CommandResult};
use crate::keystring::key_of;

/// A parsed `$group` stage.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    id: GroupId,
    fields: Vec<(String, Accumulator)>,
}

/// What documents are grouped by.
#[derive(Debug, Clone)]
enum GroupId {
    /// One expression (`"$a"`, `{$year: "$d"}`, `null`); missing groups as `null`.
    Expr(Expr),
    /// A document of expressions (`{y: "$year", m: "$month"}`). With one field, a missing value
    /// is `null`; with several, missing values are left out of the key, as in `mongod`.
    Fields(Vec<(String, Expr)>),
}

impl GroupId {
    fn parse(value: &Bson) -> CommandResult<GroupId> {
        match value {
            Bson::Document(spec) if spec.keys().next().is_some_and(|k| !k.starts_with('$')) => {
                let fields = spec
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), Expr::parse(value)?)))
                    .collect::<CommandResult<_>>()?;
                Ok(GroupId::Fields(fields))
            }
            _ => Ok(GroupId::Expr(Expr::parse(value)?)),
        }
    }

    fn eval(&self, doc: &Document) -> CommandResult<Bson> {
        match self {
            GroupId::Expr(expr) => Ok(expr.eval(doc)?.unwrap_or(Bson::Null)),
            GroupId::Fields(fields) => {
                let mut id = Document::new();
                for (name, expr) in fields {
                    match expr.eval(doc)? {
                        Some(value) => {
                            id.insert(name.clone(), value);
                        }
                        None if fields.len() == 1 => {
                            id.insert(name.clone(), Bson::Null);
                        }
                        None => {}
                    }
                }
                Ok(Bson::Document(id))
            }
        }
    }
}

/// One output field: an accumulator and the expression it folds.
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    kind: AccumulatorKind,
    arg: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccumulatorKind {
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Push,
    AddToSet,
    Count,
}

/// Accumulators `mongod` has that this engine does not evaluate.
const UNSUPPORTED: &[&str] = &[
    "$accumulator",
    "$bottom",
    "$bottomN",
    "$concatArrays",
    "$firstN",
    "$lastN",
    "$maxN",
    "$median",
    "$mergeObjects",
    "$minN",
    "$percentile",
    "$setUnion",
    "$stdDevPop",
    "$stdDevSamp",
    "$top",
    "$topN",
];

/// The error for an accumulator name this engine does not evaluate.
fn unknown_accumulator(name: &str) -> CommandError {
    if UNSUPPORTED.contains(&name) {
        CommandError::bad_value(format!(
            "the {name} accumulator is not supported by this engine"
        ))
    } else {
        CommandError::with_code(15952, format!("unknown group operator '{name}'"))
    }
}

impl AccumulatorKind {
    fn named(name: &str) -> Option<AccumulatorKind> {
        Some(match name {
            "$sum" => AccumulatorKind::Sum,
            "$avg" => AccumulatorKind::Avg,
            "$min" => AccumulatorKind::Min,
            "$max" => AccumulatorKind::Max,
            "$first" => AccumulatorKind::First,
            "$last" => AccumulatorKind::Last,
            "$push" => AccumulatorKind::Push,
            "$addToSet" => AccumulatorKind::AddToSet,
            "$count" => AccumulatorKind::Count,
            _ => return None,
        })
    }
}

impl Accumulator {
    /// An accumulator counting documents (`{$count: {}}`, or `{$sum: 1}`).
    pub(crate) fn count() -> Accumulator {
        Accumulator {
            kind: AccumulatorKind::Count,
            arg: Expr::Const(Bson::Null),
        }
    }

    /// Parses `{$op: <expression>}`, the value of output field `field`.
    fn parse(field: &str, value: &Bson) -> CommandResult<Accumulator> {
        let spec = match value {
            Bson::Document(spec) if spec.keys().next().is_some_and(|k| k.starts_with('$')) => spec,
            _ => {
                return Err(CommandError::with_code(
                    40234,
                    format!("The field '{field}' must be an accumulator object"),
                ));
            }
        };
        if field.contains('.') {
            return Err(CommandError::with_code(
                40235,
                format!("The field name '{field}' cannot contain '.'"),
            ));
        }
        if field.starts_with('$') {
            return Err(CommandError::with_code(
                40236,
                format!("The field name '{field}' cannot be an operator name"),
            ));
        }
        let (name, arg) = match spec.iter().next() {
            Some(entry) if spec.len() == 1 => entry,
            _ => {
                return Err(CommandError::with_code(
                    40238,
                    format!("The field '{field}' must specify one accumulator"),
                ));
            }
        };
        let kind = AccumulatorKind::named(name).ok_or_else(|| unknown_accumulator(name))?;
        if matches!(arg, Bson::Array(_)) {
            return Err(CommandError::with_code(
                40237,
                format!("The {name} accumulator is a unary operator"),
            ));
        }
        if kind == AccumulatorKind::Count {
            return match arg {
                Bson::Document(empty) if empty.is_empty() => Ok(Accumulator::count()),
                _ => Err(CommandError::type_mismatch(
                    "$count takes no arguments, i.e. $count:{}",
                )),
            };
        }
        Ok(Accumulator {
            kind,
            arg: Expr::parse(arg)?,
        })
    }

    fn start(&self) -> State {
        match self.kind {
            AccumulatorKind::Sum | AccumulatorKind::Count => State::Sum(Sum::default()),
            AccumulatorKind::Avg => State::Avg(Sum::default(), 0),
            AccumulatorKind::Min => State::Extreme(None, std::cmp::Ordering::Less),
            AccumulatorKind::Max => State::Extreme(None, std::cmp::Ordering::Greater),
            AccumulatorKind::First => State::First(None),
            AccumulatorKind::Last => State::Last(Bson::Null),
            AccumulatorKind::Push => State::Push(Vec::new()),
            AccumulatorKind::AddToSet => State::Set(Vec::new(), HashSet::new()),
        }
    }

    /// The value this accumulator folds for `doc`.
    fn input(&self, doc: &Document) -> CommandResult<Value> {
        match self.kind {
            AccumulatorKind::Count => Ok(Some(Bson::Int32(1))),
            _ => self.arg.eval(doc),
        }
    }
}

/// The running fold of one accumulator over one group.
#[derive(Debug, Clone)]
enum State {
    Sum(Sum),
    Avg(Sum, u64),
    /// The least (`Less`) or greatest (`Greater`) value seen that is not `null`.
    Extreme(Option<Bson>, std::cmp::Ordering),
    First(Option<Bson>),
    Last(Bson),
    Push(Vec<Bson>),
    Set(Vec<Bson>, HashSet<Vec<u8>>),
}

impl State {
    fn add(&mut self, value: Value) {
        match self {
            State::Sum(sum) => {
                if let Some(n) = value.as_ref().and_then(Num::of) {
                    sum.add(n);
                }
            }
            State::Avg(sum, count) => {
                if let Some(n) = value.as_ref().and_then(Num::of) {
                    sum.add(n);
                    *count += 1;
                }
            }
            State::Extreme(best, wanted) => {
                if nullish(&value) {
                    return;
                }
                if let Some(value) = value {
                    if best
                        .as_ref()
                        .is_none_or(|b| compare_values(&value, b) == *wanted)
                    {
                        *best = Some(value);
                    }
                }
            }
            State::First(first) => {
                if first.is_none() {
                    *first = Some(value.unwrap_or(Bson::Null));
                }
            }
            State::Last(last) => *last = value.unwrap_or(Bson::Null),
            State::Push(items) => items.extend(value),
            State::Set(items, seen) => {
                if let Some(value) = value {
                    if seen.insert(key_of(&value)) {
                        items.push(value);
                    }
                }
            }
        }
    }

    fn finish(self) -> Bson {
        match self {
            State::Sum(sum) => sum.result().to_bson(),
            State::Avg(_, 0) => Bson::Null,
            State::Avg(sum, count) => sum.mean(count).to_bson(),
            State::Extreme(best, _) => best.unwrap_or(Bson::Null),
            State::First(first) => first.unwrap_or(Bson::Null),
            State::Last(last) => last,
            State::Push(items) | State::Set(items, _) => Bson::Array(items),
        }
    }
}

impl Group {
    /// Parses the specification of `$group`.
    pub(crate) fn parse(spec: &Document) -> CommandResult<Group> {
        let mut id = None;
        let mut fields = Vec::with_capacity(spec.len());
        for (name, value) in spec {
            if name == "_id" {
                id = Some(GroupId::parse(value)?);
                continue;
            }
            fields.push((name.clone(), Accumulator::parse(name, value)?));
        }
        let id = id.ok_or_else(|| {
            CommandError::with_code(15955, "a group specification must include an _id")
        })?;
        Ok(Group { id, fields })
    }

    /// A group by `id` with the given output fields.
    pub(crate) fn new(id: Expr, fields: Vec<(String, Accumulator)>) -> Group {
        Group {
            id: GroupId::Expr(id),
            fields,
        }
    }

    /// Groups `input`, one output document per group, in order of first appearance.
    pub(crate) fn run(&self, input: Vec<Document>) -> CommandResult<Vec<Document>> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut groups: Vec<(Bson, Vec<State>)> = Vec::new();
        for doc in &input {
            let id = self.id.eval(doc)?;
            let key = key_of(&id);
            let slot = match index.get(&key) {
                Some(&slot) => slot,
                None => {
                    let states = self.fields.iter().map(|(_, acc)| acc.start()).collect();
                    groups.push((id, states));
                    index.insert(key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            for ((_, acc), state) in self.fields.iter().zip(&mut groups[slot].1) {
                state.add(acc.input(doc)?);
            }
        }
        Ok(groups
            .into_iter()
            .map(|(id, states)| {
                let mut out = Document::new();
                out.insert("_id", id);
                for ((name, _), state) in self.fields.iter().zip(states) {
                    out.insert(name.clone(), state.finish());
                }
                out
            })
            .collect())
    }
}
