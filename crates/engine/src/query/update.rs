//! Update documents: replacements and update operators (`{$inc: {qty: -100}}`).
//!
//! [`Update::parse`] reads the `u` of an update statement as `mongod` does: a document whose
//! first field starts with `$` is a set of update operators, any other document (`{}` too) is a
//! replacement. [`Update::apply`] changes one document, all or nothing, and says whether it
//! changed (what `nModified` counts).
//!
//! Operators: `$set`, `$unset`, `$inc`, `$mul`, `$min`, `$max`, `$rename`, `$setOnInsert`,
//! `$currentDate`, `$bit`, `$push` (with `$each`, `$position`, `$slice`, `$sort`),
//! `$addToSet` (with `$each`), `$pop`, `$pull` and `$pullAll`. Paths may use the all-elements
//! operator `$[]`, the filtered `$[<identifier>]` (the elements its array filter accepts; see
//! [`Update::parse_with_array_filters`]) and the positional `$`, which stands for the array
//! position the query matched ([`ApplyOptions::position`], from
//! [`Filter::matched_position`]). Pipeline updates are refused with `BadValue`.
//!
//! [`Filter::matched_position`]: crate::query::filter::Filter::matched_position
//!
//! As in `mongod` 5.0+, the operators of one update are applied in the order of their paths
//! (field names compare byte-wise, array indexes numerically), so new fields are appended in that
//! order whatever the order of the update document.
//!
//! `$pull` conditions are equality (`{$pull: {a: 5}}`), a regular expression, operators on the
//! elements themselves (`{$pull: {a: {$gte: 6}}}`) or a query on document elements
//! (`{$pull: {a: {b: 1, c: {$lt: 2}}}}`), with every operator of the query language (they are
//! [`ElementFilter`]s, as the argument of `$elemMatch` is).
//!
//! Arithmetic keeps `mongod`'s types: `int` overflows to `long`, `long` overflow is an error,
//! a `double` operand makes a `double`, a `decimal` one a `decimal`. `Decimal128` sums and
//! products are exact, rounded half-even to 34 digits; NaN and infinities go through `f64`.

use std::cmp::Ordering;
use std::fmt::Write as _;

use bson::{Bson, DateTime, Document, Timestamp};
use smallvec::SmallVec;

use crate::compare::{Number, compare_values, values_equal};
use crate::decimal::{self, ArithOp};
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::query::array_filters::{ArrayFilter, parse_array_filters};
use crate::query::filter::ElementFilter;

/// The name of the immutable identity field.
const ID: &str = "_id";
/// The all-elements positional operator.
const ALL_POSITIONAL: &str = "$[]";

/// The positional operator: the array position the query matched.
const POSITIONAL: &str = "$";

/// The identifier of a `$[<identifier>]` path component.
fn filter_identifier(part: &str) -> Option<&str> {
    part.strip_prefix("$[")?
        .strip_suffix(']')
        .filter(|id| !id.is_empty())
}

/// Whether a path component updates elements of an array: `$[]` or `$[<identifier>]`.
fn is_array_update(part: &str) -> bool {
    part == ALL_POSITIONAL || filter_identifier(part).is_some()
}
/// The most nulls an update may add to an array to reach an index (`mongod`'s limit).
const MAX_PADDING: usize = 1_500_000;

/// How an update is applied.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The document is being inserted by an upsert (`$setOnInsert` applies).
    pub is_insert: bool,
    /// The time `$currentDate` writes.
    pub now: DateTime,
    /// The array position the query matched, which the positional `$` stands for (`None`:
    /// the query matched no array element, and an update using `$` fails).
    pub position: Option<usize>,
}

impl ApplyOptions {
    /// What `$currentDate: {$type: "timestamp"}` writes: `now` in whole seconds, increment 1.
    pub fn timestamp(&self) -> Timestamp {
        let seconds = self.now.timestamp_millis().div_euclid(1000);
        let time = u32::try_from(seconds).unwrap_or(if seconds < 0 { 0 } else { u32::MAX });
        Timestamp { time, increment: 1 }
    }
}

/// A parsed update: a replacement document or a set of update operators.
#[derive(Debug, Clone)]
pub struct Update {
    kind: Kind,
    /// The `arrayFilters` that `$[<identifier>]` paths name.
    array_filters: Vec<ArrayFilter>,
}

#[derive(Debug, Clone)]
enum Kind {
    Replacement(Document),
    /// Field updates sorted in the order they apply.
    Operators(Vec<FieldUpdate>),
}

impl Update {
    /// Parses the `u` of an update statement (a document; a pipeline is refused).
    pub fn parse(spec: &Bson) -> CommandResult<Update> {
        Self::parse_with_array_filters(spec, &[])
    }

    /// Parses the `u` of an update statement with its `arrayFilters`; every filter must be
    /// used by a `$[<identifier>]` path and every such path must have its filter.
    pub fn parse_with_array_filters(spec: &Bson, array_filters: &[Bson]) -> CommandResult<Update> {
        let array_filters = parse_array_filters(array_filters)?;
        let update = match spec {
            Bson::Document(doc) => Self::parse_document(doc, &array_filters)?,
            Bson::Array(_) => {
                return Err(bad_value(
                    "aggregation pipeline updates are not supported by this engine",
                ));
            }
            _ => {
                return Err(CommandError::failed_to_parse(
                    "Update argument must be either an object or an array",
                ));
            }
        };
        Ok(update)
    }

    fn parse_document(doc: &Document, array_filters: &[ArrayFilter]) -> CommandResult<Update> {
        let operators = doc.keys().next().is_some_and(|k| k.starts_with('$'));
        let kind = if operators {
            Kind::Operators(parse_operators(doc, array_filters)?)
        } else {
            Kind::Replacement(doc.clone())
        };
        for filter in array_filters {
            let used = match &kind {
                Kind::Operators(updates) => updates.iter().any(|u| {
                    u.path
                        .filter_identifiers()
                        .any(|id| id == filter.identifier())
                }),
                Kind::Replacement(_) => false,
            };
            if !used {
                return Err(CommandError::failed_to_parse(format!(
                    "The array filter for identifier '{}' was not used in the update {}",
                    filter.identifier(),
                    display_value(&Bson::Document(doc.clone()))
                )));
            }
        }
        Ok(Update {
            kind,
            array_filters: array_filters.to_vec(),
        })
    }

    /// Whether this is a replacement document rather than update operators.
    pub fn is_replacement(&self) -> bool {
        matches!(self.kind, Kind::Replacement(_))
    }

    /// Whether a path uses the positional `$` (the caller must then find the position the
    /// query matched; see [`ApplyOptions::position`]).
    pub fn uses_position(&self) -> bool {
        match &self.kind {
            Kind::Replacement(_) => false,
            Kind::Operators(updates) => updates.iter().any(|u| u.path.positional().is_some()),
        }
    }

    /// Whether the update writes the current time (`$currentDate`): only then does
    /// [`ApplyOptions::now`] matter, and the caller need not read the clock otherwise.
    pub fn uses_current_date(&self) -> bool {
        match &self.kind {
            Kind::Replacement(_) => false,
            Kind::Operators(updates) => updates
                .iter()
                .any(|u| matches!(u.action, Action::CurrentDate(_))),
        }
    }

    /// Applies the update to `doc`; returns whether the document changed.
    ///
    /// On error `doc` is left as it was.
    pub fn apply(&self, doc: &mut Document, options: &ApplyOptions) -> CommandResult<bool> {
        match self.apply_owned(doc.clone(), options)? {
            Some(updated) => {
                *doc = updated;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Applies the update to a document the caller gives up: the updated document if it
    /// changed, `None` if the update changed nothing. Saves [`Update::apply`]'s copy when
    /// the original is not needed afterwards (on error it is gone).
    pub fn apply_owned(
        &self,
        doc: Document,
        options: &ApplyOptions,
    ) -> CommandResult<Option<Document>> {
        match &self.kind {
            Kind::Replacement(replacement) => {
                let updated = replace(&doc, replacement)?;
                Ok((!documents_identical(&doc, &updated)).then_some(updated))
            }
            Kind::Operators(updates) => {
                apply_operators_owned(doc, updates, options, &self.array_filters)
            }
        }
    }
}

/// The document an upsert starts from: the filter's equality fields, dotted paths expanded.
///
/// As in `mongod`, fields are set in the byte order of their paths (the caller moves `_id`
/// first), and two paths of which one is a prefix of the other are `NotSingleValueField`.
pub fn upsert_seed(equalities: &[(&str, &Bson)]) -> CommandResult<Document> {
    check_seed_paths(equalities)?;
    let mut sorted = equalities.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut seed = Document::new();
    for (path, value) in sorted {
        let parts: Vec<&str> = path.split('.').collect();
        set_seed_value(&mut seed, &parts, value);
    }
    Ok(seed)
}

fn check_seed_paths(equalities: &[(&str, &Bson)]) -> CommandResult<()> {
    for (i, (path, _)) in equalities.iter().enumerate() {
        if let Some(message) = equalities[..i]
            .iter()
            .find_map(|(earlier, _)| seed_conflict(path, earlier))
        {
            return Err(CommandError::new(ErrorCode::NotSingleValueField, message));
        }
    }
    Ok(())
}

/// Why two equality paths cannot both seed a document, if they cannot.
fn seed_conflict(path: &str, earlier: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let other: Vec<&str> = earlier.split('.').collect();
    let common = parts.len().min(other.len());
    if parts[..common] != other[..common] {
        return None;
    }
    let (longer, shorter) = match parts.len().cmp(&other.len()) {
        Ordering::Equal => {
            return Some(format!(
                "cannot infer query fields to set, path '{path}' is matched twice"
            ));
        }
        Ordering::Greater => (path, earlier),
        Ordering::Less => (earlier, path),
    };
    Some(format!(
        "cannot infer query fields to set, both paths '{longer}' and '{shorter}' are matched"
    ))
}

/// Sets `value` at `parts` below `doc`, creating sub-documents (paths were checked not to
/// overlap, so nothing in the way is a scalar).
fn set_seed_value(doc: &mut Document, parts: &[&str], value: &Bson) {
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut current = doc;
    for part in parents {
        let entry = current
            .entry((*part).to_owned())
            .or_insert_with(|| Bson::Document(Document::new()));
        let Bson::Document(next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(*last, value.clone());
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A dotted update path.
#[derive(Debug, Clone)]
struct FieldPath {
    /// Inline up to two components, as in the query language's paths.
    parts: SmallVec<[String; 2]>,
    /// The path as written, kept only when it has several components (otherwise it is the
    /// one component).
    joined: Option<String>,
}

impl FieldPath {
    fn parse(dotted: &str) -> CommandResult<FieldPath> {
        if dotted.is_empty() {
            return Err(CommandError::new(
                ErrorCode::EmptyFieldName,
                "An empty update path is not valid.",
            ));
        }
        let parts: SmallVec<[String; 2]> = dotted.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(CommandError::new(
                ErrorCode::EmptyFieldName,
                format!(
                    "The update path '{dotted}' contains an empty field name, which is not allowed."
                ),
            ));
        }
        Ok(FieldPath {
            joined: (parts.len() > 1).then(|| dotted.to_owned()),
            parts,
        })
    }

    /// The path as written.
    fn dotted(&self) -> &str {
        self.joined.as_deref().unwrap_or(&self.parts[0])
    }

    /// Whether one path is a prefix of (or equal to) the other, component-wise.
    fn overlaps(&self, other: &FieldPath) -> bool {
        let common = self.parts.len().min(other.parts.len());
        self.parts[..common] == other.parts[..common]
    }

    fn starts_at_id(&self) -> bool {
        self.parts.first().is_some_and(|p| p == ID)
    }

    /// Whether a component is `$`, `$[]` or `$[<id>]`.
    fn is_dynamic(&self) -> bool {
        self.parts
            .iter()
            .any(|p| p == "$" || (p.starts_with("$[") && p.ends_with(']')))
    }

    /// The index of the path's positional `$` component, if it has one.
    fn positional(&self) -> Option<usize> {
        self.parts.iter().position(|p| p == POSITIONAL)
    }

    /// The path with its positional `$` replaced by `position`.
    fn resolved(&self, position: usize) -> FieldPath {
        let parts: SmallVec<[String; 2]> = self
            .parts
            .iter()
            .map(|p| {
                if p == POSITIONAL {
                    position.to_string()
                } else {
                    p.clone()
                }
            })
            .collect();
        FieldPath {
            joined: (parts.len() > 1).then(|| parts.join(".")),
            parts,
        }
    }

    /// The identifiers of the path's `$[<identifier>]` components.
    fn filter_identifiers(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| filter_identifier(p))
    }

    /// Refuses misplaced positional operators, and `$[<identifier>]` without its filter.
    fn check_positional(&self, array_filters: &[ArrayFilter]) -> CommandResult<()> {
        let positional = self.parts.iter().filter(|p| *p == POSITIONAL).count();
        if positional > 1 {
            return Err(bad_value(format!(
                "Too many positional (i.e. '$') elements found in path '{}'",
                self.dotted()
            )));
        }
        for (i, part) in self.parts.iter().enumerate() {
            if part == POSITIONAL && i == 0 {
                return Err(bad_value(format!(
                    "Cannot have positional (i.e. '$') element in the first position in path \
                     '{}'",
                    self.dotted()
                )));
            }
            if is_array_update(part) && i == 0 {
                return Err(bad_value(format!(
                    "Cannot have array filter identifier (i.e. '$[<id>]') element in the first \
                     position in path '{}'",
                    self.dotted()
                )));
            }
            if let Some(identifier) = filter_identifier(part)
                && !array_filters.iter().any(|f| f.identifier() == identifier)
            {
                return Err(bad_value(format!(
                    "No array filter found for identifier '{identifier}' in path '{}'",
                    self.dotted()
                )));
            }
        }
        Ok(())
    }
}

/// The paths an update touches, to refuse two operators on overlapping paths.
#[derive(Default)]
struct PathRegistry {
    paths: Vec<FieldPath>,
}

impl PathRegistry {
    fn register(&mut self, path: &FieldPath) -> CommandResult<()> {
        if let Some(existing) = self.paths.iter().find(|p| p.overlaps(path)) {
            let common = existing.parts.len().min(path.parts.len());
            return Err(CommandError::new(
                ErrorCode::ConflictingUpdateOperators,
                format!(
                    "Updating the path '{}' would create a conflict at '{}'",
                    path.dotted(),
                    path.parts[..common].join(".")
                ),
            ));
        }
        self.paths.push(path.clone());
        Ok(())
    }
}

/// An update operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Set,
    SetOnInsert,
    Unset,
    Inc,
    Mul,
    Min,
    Max,
    CurrentDate,
    Bit,
    Rename,
    Push,
    AddToSet,
    Pop,
    Pull,
    PullAll,
}

impl Operator {
    fn from_name(name: &str) -> Option<Operator> {
        Some(match name {
            "$set" => Operator::Set,
            "$setOnInsert" => Operator::SetOnInsert,
            "$unset" => Operator::Unset,
            "$inc" => Operator::Inc,
            "$mul" => Operator::Mul,
            "$min" => Operator::Min,
            "$max" => Operator::Max,
            "$currentDate" => Operator::CurrentDate,
            "$bit" => Operator::Bit,
            "$rename" => Operator::Rename,
            "$push" => Operator::Push,
            "$addToSet" => Operator::AddToSet,
            "$pop" => Operator::Pop,
            "$pull" => Operator::Pull,
            "$pullAll" => Operator::PullAll,
            _ => return None,
        })
    }
}

/// One operator applied at one path.
#[derive(Debug, Clone)]
struct FieldUpdate {
    /// Where the operator applies (a `$rename`'s destination).
    path: FieldPath,
    action: Action,
}

/// What an operator does at its path.
#[derive(Debug, Clone)]
enum Action {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Inc(Bson),
    Mul(Bson),
    Min(Bson),
    Max(Bson),
    CurrentDate(DateKind),
    Bit(Vec<(BitOp, Bson)>),
    /// Moves the value at the source path here.
    Rename(FieldPath),
    Push(PushSpec),
    /// The distinct values to add.
    AddToSet(Vec<Bson>),
    Pop {
        first: bool,
    },
    Pull(PullCondition),
    PullAll(Vec<Bson>),
}

/// What `$currentDate` writes.
#[derive(Debug, Clone, Copy)]
enum DateKind {
    Date,
    Timestamp,
}

impl DateKind {
    fn value(self, options: &ApplyOptions) -> Bson {
        match self {
            DateKind::Date => Bson::DateTime(options.now),
            DateKind::Timestamp => Bson::Timestamp(options.timestamp()),
        }
    }
}

/// A `$bit` operation.
#[derive(Debug, Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
}

/// A `$push`: values, where they go, and how the array is sorted and trimmed.
#[derive(Debug, Clone)]
struct PushSpec {
    values: Vec<Bson>,
    position: Option<i64>,
    slice: Option<i64>,
    sort: Option<PushSort>,
}

/// A `$push` `$sort`.
#[derive(Debug, Clone)]
enum PushSort {
    /// Sort whole elements, descending if true.
    Whole(bool),
    /// Sort by fields of document elements: (path, descending).
    Fields(Vec<(Vec<String>, bool)>),
}

fn parse_operators(
    doc: &Document,
    array_filters: &[ArrayFilter],
) -> CommandResult<Vec<FieldUpdate>> {
    let mut registry = PathRegistry::default();
    let mut updates = Vec::new();
    for (name, operand) in doc {
        if name == "$v" {
            return Err(CommandError::failed_to_parse(
                "The $v update field is only recognized internally",
            ));
        }
        let operator = Operator::from_name(name).ok_or_else(|| {
            CommandError::failed_to_parse(format!(
                "Unknown modifier: {name}. Expected a valid update modifier or pipeline-style \
                 update specified as an array"
            ))
        })?;
        let Bson::Document(fields) = operand else {
            return Err(CommandError::failed_to_parse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: {{$mod: \
                 {{<field>: ...}}}} not {{{}}}",
                type_name(operand),
                display_element(name, operand)
            )));
        };
        for (field, value) in fields {
            let update = if operator == Operator::Rename {
                parse_rename(field, value, &mut registry)?
            } else {
                parse_field(operator, field, value, &mut registry, array_filters)?
            };
            updates.push(update);
        }
    }
    updates.sort_by(|a, b| compare_paths(&a.path.parts, &b.path.parts));
    Ok(updates)
}

fn parse_field(
    operator: Operator,
    field: &str,
    value: &Bson,
    registry: &mut PathRegistry,
    array_filters: &[ArrayFilter],
) -> CommandResult<FieldUpdate> {
    let path = FieldPath::parse(field)?;
    path.check_positional(array_filters)?;
    let action = parse_action(operator, field, value)?;
    registry.register(&path)?;
    Ok(FieldUpdate { path, action })
}

fn parse_action(operator: Operator, field: &str, value: &Bson) -> CommandResult<Action> {
    Ok(match operator {
        Operator::Set => Action::Set(value.clone()),
        Operator::SetOnInsert => Action::SetOnInsert(value.clone()),
        Operator::Unset => Action::Unset,
        Operator::Min => Action::Min(value.clone()),
        Operator::Max => Action::Max(value.clone()),
        Operator::Inc => Action::Inc(numeric_operand("increment", field, value)?),
        Operator::Mul => Action::Mul(numeric_operand("multiply", field, value)?),
        Operator::CurrentDate => Action::CurrentDate(parse_current_date(value)?),
        Operator::Bit => Action::Bit(parse_bit(value)?),
        Operator::Push => Action::Push(parse_push(value)?),
        Operator::AddToSet => Action::AddToSet(parse_add_to_set(value)?),
        Operator::Pop => Action::Pop {
            first: parse_pop(field, value)?,
        },
        Operator::Pull => Action::Pull(PullCondition::parse(value)?),
        Operator::PullAll => match value {
            Bson::Array(values) => Action::PullAll(values.clone()),
            other => {
                return Err(bad_value(format!(
                    "$pullAll requires an array argument but was given a {}",
                    type_name(other)
                )));
            }
        },
        Operator::Rename => {
            return Err(CommandError::new(
                ErrorCode::InternalError,
                "$rename is parsed with both of its paths",
            ));
        }
    })
}

fn numeric_operand(verb: &str, field: &str, value: &Bson) -> CommandResult<Bson> {
    if is_number(value) {
        Ok(value.clone())
    } else {
        Err(CommandError::type_mismatch(format!(
            "Cannot {verb} with non-numeric argument: {{{}}}",
            display_element(field, value)
        )))
    }
}

fn parse_current_date(value: &Bson) -> CommandResult<DateKind> {
    match value {
        Bson::Boolean(_) => Ok(DateKind::Date),
        Bson::Document(spec) => {
            let mut kind = None;
            for (key, option) in spec {
                if key != "$type" {
                    return Err(bad_value(format!(
                        "Unrecognized $currentDate option: {key}"
                    )));
                }
                kind = match option {
                    Bson::String(s) if s == "date" => Some(DateKind::Date),
                    Bson::String(s) if s == "timestamp" => Some(DateKind::Timestamp),
                    _ => kind,
                };
            }
            kind.ok_or_else(|| {
                bad_value(
                    "The '$type' string field is required to be 'date' or 'timestamp': \
                     {$currentDate: {field : {$type: 'date'}}}",
                )
            })
        }
        other => Err(bad_value(format!(
            "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type \
             expression ({{$type: 'timestamp/date'}}).",
            type_name(other)
        ))),
    }
}

fn parse_bit(value: &Bson) -> CommandResult<Vec<(BitOp, Bson)>> {
    let Bson::Document(spec) = value else {
        return Err(bad_value(format!(
            "The $bit modifier is not compatible with a {}. You must pass in an embedded \
             document: {{$bit: {{field: {{and/or/xor: #}}}}}}",
            type_name(value)
        )));
    };
    if spec.is_empty() {
        return Err(bad_value(
            "You must pass in at least one bitwise operation. The format is: {$bit: {field: \
             {and/or/xor: #}}}",
        ));
    }
    let mut ops = Vec::new();
    for (name, operand) in spec {
        let op = match name.as_str() {
            "and" => BitOp::And,
            "or" => BitOp::Or,
            "xor" => BitOp::Xor,
            _ => {
                return Err(bad_value(format!(
                    "The $bit modifier only supports 'and', 'or', and 'xor', not '{name}' which \
                     is an unknown operator: {{{}}}",
                    display_element(name, operand)
                )));
            }
        };
        if !matches!(operand, Bson::Int32(_) | Bson::Int64(_)) {
            return Err(bad_value(format!(
                "The $bit modifier field must be an Integer(32/64 bit); a '{}' is not supported \
                 here: {{{}}}",
                type_name(operand),
                display_element(name, operand)
            )));
        }
        ops.push((op, operand.clone()));
    }
    Ok(ops)
}

fn parse_push(value: &Bson) -> CommandResult<PushSpec> {
    let mut spec = PushSpec {
        values: vec![value.clone()],
        position: None,
        slice: None,
        sort: None,
    };
    // Without `$each` (anywhere in it) the operand is the value to push, as it is.
    if let Bson::Document(clauses) = value {
        if clauses.contains_key("$each") {
            for (clause, argument) in clauses {
                spec.set_clause(clause, argument)?;
            }
        }
    }
    Ok(spec)
}

impl PushSpec {
    fn set_clause(&mut self, clause: &str, argument: &Bson) -> CommandResult<()> {
        match clause {
            "$each" => match argument {
                Bson::Array(values) => self.values = values.clone(),
                other => {
                    return Err(bad_value(format!(
                        "The argument to $each in $push must be an array but it was of type: {}",
                        type_name(other)
                    )));
                }
            },
            "$slice" => {
                let slice = integer_argument(clause, argument).map_err(|_| {
                    bad_value(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(argument)
                    ))
                })?;
                self.slice = Some(slice);
            }
            "$position" => {
                let position = integer_argument(clause, argument).map_err(|_| {
                    bad_value(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(argument)
                    ))
                })?;
                self.position = Some(position);
            }
            "$sort" => self.sort = Some(parse_push_sort(argument)?),
            other => return Err(bad_value(format!("Unrecognized clause in $push: {other}"))),
        }
        Ok(())
    }
}

fn parse_push_sort(argument: &Bson) -> CommandResult<PushSort> {
    let direction = |v: &Bson| -> CommandResult<bool> {
        match Number::from_bson(v).map(Number::as_f64) {
            Some(1.0) => Ok(false),
            Some(-1.0) => Ok(true),
            _ => Err(bad_value("The $sort element value must be either 1 or -1")),
        }
    };
    match argument {
        Bson::Document(pattern) => {
            if pattern.is_empty() {
                return Err(bad_value(
                    "The $sort pattern is empty when it should be a set of fields.",
                ));
            }
            let mut fields = Vec::new();
            for (field, order) in pattern {
                let descending = direction(order)?;
                if field.is_empty() {
                    return Err(bad_value("The $sort field cannot be empty"));
                }
                let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(bad_value(format!(
                        "The $sort field is a dotted field but has an empty part: {field}"
                    )));
                }
                fields.push((parts, descending));
            }
            Ok(PushSort::Fields(fields))
        }
        v if is_number(v) => Ok(PushSort::Whole(direction(v)?)),
        _ => Err(bad_value(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort \
             embedded fields",
        )),
    }
}

fn parse_add_to_set(value: &Bson) -> CommandResult<Vec<Bson>> {
    let each = match value {
        Bson::Document(spec) => spec.iter().next().filter(|(k, _)| *k == "$each"),
        _ => None,
    };
    let Some((_, argument)) = each else {
        return Ok(vec![value.clone()]);
    };
    let Bson::Array(values) = argument else {
        return Err(CommandError::type_mismatch(format!(
            "The argument to $each in $addToSet must be an array but it was of type {}",
            type_name(argument)
        )));
    };
    if let Bson::Document(spec) = value {
        if spec.len() > 1 {
            return Err(bad_value(format!(
                "Found unexpected fields after $each in $addToSet: {}",
                display_value(value)
            )));
        }
    }
    let mut distinct: Vec<Bson> = Vec::new();
    for v in values {
        if !distinct.iter().any(|d| values_equal(d, v)) {
            distinct.push(v.clone());
        }
    }
    Ok(distinct)
}

fn parse_pop(field: &str, value: &Bson) -> CommandResult<bool> {
    match integer_argument(field, value)? {
        1 => Ok(false),
        -1 => Ok(true),
        n => Err(CommandError::failed_to_parse(format!(
            "$pop expects 1 or -1, found: {n}"
        ))),
    }
}

/// An integral number argument, as `mongod` reads `$pop`, `$slice` and `$position`.
fn integer_argument(field: &str, value: &Bson) -> CommandResult<i64> {
    let shown = || display_element(field, value);
    match value {
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) => Ok(*i),
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = Number::from_bson(value).map_or(f64::NAN, Number::as_f64);
            if !d.is_finite() || d.trunc() != d {
                return Err(CommandError::failed_to_parse(format!(
                    "Expected an integer: {}",
                    shown()
                )));
            }
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d) {
                return Err(CommandError::failed_to_parse(format!(
                    "Cannot represent as a 64-bit integer: {}",
                    shown()
                )));
            }
            // Finite, integral and in range, so the conversion is exact.
            Ok(d as i64)
        }
        _ => Err(CommandError::failed_to_parse(format!(
            "Expected a number in: {}",
            shown()
        ))),
    }
}

fn parse_rename(
    field: &str,
    value: &Bson,
    registry: &mut PathRegistry,
) -> CommandResult<FieldUpdate> {
    let Bson::String(to) = value else {
        return Err(bad_value(format!(
            "The 'to' field for $rename must be a string: {}",
            display_element(field, value)
        )));
    };
    let from = FieldPath::parse(field)?;
    let to = FieldPath::parse(to)?;
    if from.parts == to.parts {
        return Err(bad_value(format!(
            "The source and target field for $rename must differ: {}",
            display_element(field, value)
        )));
    }
    if from.overlaps(&to) {
        return Err(bad_value(format!(
            "The source and target field for $rename must not be on the same path: {}",
            display_element(field, value)
        )));
    }
    if from.is_dynamic() {
        return Err(bad_value(format!(
            "The source field for $rename may not be dynamic: {}",
            from.dotted()
        )));
    }
    if to.is_dynamic() {
        return Err(bad_value(format!(
            "The destination field for $rename may not be dynamic: {}",
            to.dotted()
        )));
    }
    registry.register(&from)?;
    registry.register(&to)?;
    Ok(FieldUpdate {
        path: to,
        action: Action::Rename(from),
    })
}

/// Orders paths as `mongod` 5.0+ applies them: component by component, numeric components
/// (no leading zero) numerically, others byte-wise.
fn compare_paths(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_components(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

fn compare_components(x: &str, y: &str) -> Ordering {
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    if numeric(x) && numeric(y) {
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    } else {
        x.as_bytes().cmp(y.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// Applying operators
// ---------------------------------------------------------------------------------------------

/// What every field update of one `apply` shares.
struct Ctx<'a> {
    options: &'a ApplyOptions,
    /// The filters `$[<identifier>]` components select elements by.
    array_filters: &'a [ArrayFilter],
    /// The document's `_id` before the update; if it has one, it may not change.
    id: Option<&'a Bson>,
}

impl Ctx<'_> {
    /// The document's `_id` element as messages show it (`_id: 1`), or `no id`.
    fn id_text(&self) -> String {
        self.id
            .map_or_else(|| "no id".to_owned(), |id| display_element(ID, id))
    }
}

/// What a `$pull` removes: the elements equal to a value, or those an element filter accepts
/// (operators on the element, a query on document elements; a regular expression stands for
/// `{$regex: …}`).
#[derive(Debug, Clone)]
enum PullCondition {
    Equals(Bson),
    Element(ElementFilter),
}

impl PullCondition {
    fn parse(value: &Bson) -> CommandResult<PullCondition> {
        Ok(match value {
            Bson::Document(spec) => PullCondition::Element(ElementFilter::for_pull(spec)?),
            Bson::RegularExpression(re) => {
                let mut spec = Document::new();
                spec.insert("$regex", re.pattern.as_str());
                spec.insert("$options", re.options.as_str());
                PullCondition::Element(ElementFilter::for_pull(&spec)?)
            }
            other => PullCondition::Equals(other.clone()),
        })
    }

    fn matches(&self, element: &Bson) -> bool {
        match self {
            PullCondition::Equals(value) => values_equal(element, value),
            PullCondition::Element(filter) => filter.matches(element),
        }
    }
}

/// What is done where a path ends.
enum Leaf<'a> {
    /// An operator's action.
    Op(&'a Action),
    /// The value a `$rename` moves to its destination.
    Moved(Bson),
}

impl Leaf<'_> {
    /// Whether the leaf creates a missing field (rather than ignoring it).
    fn creates(&self) -> bool {
        match self {
            Leaf::Moved(_) => true,
            Leaf::Op(action) => !matches!(
                action,
                Action::Unset
                    | Action::Rename(_)
                    | Action::Pop { .. }
                    | Action::Pull(_)
                    | Action::PullAll(_)
            ),
        }
    }

    fn is_unset(&self) -> bool {
        matches!(self, Leaf::Op(Action::Unset))
    }

    fn immutable_error(&self, path: &str) -> CommandError {
        let what = match self {
            Leaf::Op(Action::Pop { .. }) => "a $pop",
            _ => "an update",
        };
        CommandError::new(
            ErrorCode::ImmutableField,
            format!(
                "Performing {what} on the path '{path}' would modify the immutable field '_id'"
            ),
        )
    }
}

/// One path being followed through the document.
struct Walk<'a> {
    path: &'a FieldPath,
    leaf: &'a Leaf<'a>,
    ctx: &'a Ctx<'a>,
    /// The path is `_id` or below it, and `_id` may not change.
    guards_id: bool,
}

impl<'a> Walk<'a> {
    fn new(path: &'a FieldPath, leaf: &'a Leaf<'a>, ctx: &'a Ctx<'a>) -> Walk<'a> {
        Walk {
            path,
            leaf,
            ctx,
            guards_id: ctx.id.is_some() && path.starts_at_id(),
        }
    }
}

/// Applies operator updates to an owned document. Only the top-level fields the updates'
/// paths start with can change, so only those are copied beforehand to tell whether the
/// document changed and to validate what did.
fn apply_operators_owned(
    original: Document,
    updates: &[FieldUpdate],
    options: &ApplyOptions,
    array_filters: &[ArrayFilter],
) -> CommandResult<Option<Document>> {
    if updates.iter().any(|u| u.path.positional().is_some()) {
        let Some(position) = options.position else {
            return Err(bad_value(
                "The positional operator did not find the match needed from the query.",
            ));
        };
        let resolved: Vec<FieldUpdate> = updates
            .iter()
            .map(|u| FieldUpdate {
                path: match u.path.positional() {
                    Some(_) => u.path.resolved(position),
                    None => u.path.clone(),
                },
                action: u.action.clone(),
            })
            .collect();
        return apply_operators_owned(original, &resolved, options, array_filters);
    }
    // An update names a few top-level fields: kept inline, they cost no allocation.
    let mut touched: SmallVec<[&str; 4]> = SmallVec::new();
    for update in updates {
        let renamed_from = match &update.action {
            Action::Rename(from) => Some(from),
            _ => None,
        };
        for path in std::iter::once(&update.path).chain(renamed_from) {
            if let Some(first) = path.parts.first()
                && !touched.contains(&first.as_str())
            {
                touched.push(first);
            }
        }
    }
    let before: SmallVec<[Option<Bson>; 4]> = touched
        .iter()
        .map(|name| original.get(*name).cloned())
        .collect();
    let id = original.get(ID).cloned();
    let ctx = Ctx {
        options,
        id: id.as_ref(),
        array_filters,
    };
    let mut root = Bson::Document(original);
    for update in updates {
        apply_one(&mut root, update, &ctx)?;
    }
    let Bson::Document(updated) = root else {
        return Err(CommandError::new(
            ErrorCode::InternalError,
            "an update replaced the document root",
        ));
    };
    let changed_at = |name: &str| -> bool {
        match touched.iter().position(|t| *t == name) {
            Some(i) => match (&before[i], updated.get(name)) {
                (Some(old), Some(new)) => !identical(old, new),
                (None, None) => false,
                _ => true,
            },
            None => false,
        }
    };
    if !touched.iter().any(|name| changed_at(name)) {
        return Ok(None);
    }
    validate_top_level(&updated, |name, _| changed_at(name))?;
    Ok(Some(updated))
}

fn apply_one(root: &mut Bson, update: &FieldUpdate, ctx: &Ctx<'_>) -> CommandResult<()> {
    match &update.action {
        Action::SetOnInsert(_) if !ctx.options.is_insert => Ok(()),
        Action::Rename(from) => apply_rename(root, from, &update.path, ctx),
        action => {
            let leaf = Leaf::Op(action);
            walk(root, &mut Vec::new(), &Walk::new(&update.path, &leaf, ctx))
        }
    }
}

/// What a path component finds in a value.
enum Found {
    Present,
    Missing,
    /// The value is a scalar, or an array and the component is not an index.
    NotViable,
}

fn probe(value: &Bson, part: &str) -> Found {
    match value {
        Bson::Document(doc) if doc.contains_key(part) => Found::Present,
        Bson::Document(_) => Found::Missing,
        Bson::Array(array) => match array_index(part) {
            Some(i) if i < array.len() => Found::Present,
            Some(_) => Found::Missing,
            None => Found::NotViable,
        },
        _ => Found::NotViable,
    }
}

/// An array index path component (digits only; too large to address anything is `usize::MAX`).
fn array_index(part: &str) -> Option<usize> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(part.parse().unwrap_or(usize::MAX))
}

fn child_mut<'v>(value: &'v mut Bson, part: &str) -> Option<&'v mut Bson> {
    match value {
        Bson::Document(doc) => doc.get_mut(part),
        Bson::Array(array) => array_index(part).and_then(|i| array.get_mut(i)),
        _ => None,
    }
}

/// Follows the rest of the walk's path below `current`, whose own path is `taken`.
fn walk(current: &mut Bson, taken: &mut Vec<String>, w: &Walk<'_>) -> CommandResult<()> {
    let depth = taken.len();
    let Some(part) = w.path.parts.get(depth) else {
        return Ok(());
    };
    if part == ALL_POSITIONAL {
        return walk_elements(current, taken, w, None);
    }
    if let Some(identifier) = filter_identifier(part) {
        // Parsing checked that every identifier has its filter.
        let filter = w
            .ctx
            .array_filters
            .iter()
            .find(|f| f.identifier() == identifier);
        return walk_elements(current, taken, w, filter);
    }
    match probe(current, part) {
        Found::NotViable => not_viable(current, part, taken, w),
        Found::Missing => create_missing(current, part, taken, w),
        Found::Present if depth + 1 == w.path.parts.len() => {
            update_existing(current, part, taken, w)
        }
        Found::Present => match child_mut(current, part) {
            Some(child) => {
                taken.push(part.clone());
                walk(child, taken, w)?;
                taken.pop();
                Ok(())
            }
            None => Ok(()),
        },
    }
}

/// Applies the rest of the path to every element of the array `current` (`$[]`), or to
/// those `filter` accepts (`$[<identifier>]`).
fn walk_elements(
    current: &mut Bson,
    taken: &mut Vec<String>,
    w: &Walk<'_>,
    filter: Option<&ArrayFilter>,
) -> CommandResult<()> {
    let selected: Vec<usize> = match current {
        Bson::Array(array) => (0..array.len())
            .filter(|&i| filter.is_none_or(|f| f.accepts(&array[i])))
            .collect(),
        other => {
            let name = taken.last().map_or("", String::as_str);
            return Err(bad_value(format!(
                "Cannot apply array updates to non-array element {}",
                display_element(name, other)
            )));
        }
    };
    let last = taken.len() + 1 == w.path.parts.len();
    for i in selected {
        let key = i.to_string();
        if last {
            update_existing(current, &key, taken, w)?;
        } else if let Some(child) = child_mut(current, &key) {
            taken.push(key);
            walk(child, taken, w)?;
            taken.pop();
        }
    }
    Ok(())
}

fn joined(taken: &[String], part: &str) -> String {
    let mut path = taken.join(".");
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(part);
    path
}

/// Applies the leaf to the existing field `part` of `container`.
fn update_existing(
    container: &mut Bson,
    part: &str,
    taken: &[String],
    w: &Walk<'_>,
) -> CommandResult<()> {
    if w.leaf.is_unset() {
        if w.guards_id {
            return Err(w.leaf.immutable_error(&joined(taken, part)));
        }
        match container {
            Bson::Document(doc) => {
                doc.remove(part);
            }
            Bson::Array(_) => {
                if let Some(element) = child_mut(container, part) {
                    *element = Bson::Null;
                }
            }
            _ => {}
        }
        return Ok(());
    }
    let Some(value) = child_mut(container, part) else {
        return Ok(());
    };
    let before = w.guards_id.then(|| value.clone());
    apply_to_existing(w.leaf, value, part, taken, w.ctx)?;
    match before {
        Some(before) if !identical(&before, value) => {
            Err(w.leaf.immutable_error(&joined(taken, part)))
        }
        _ => Ok(()),
    }
}

/// Creates the rest of the path below `container`, where `part` is missing.
fn create_missing(
    container: &mut Bson,
    part: &str,
    taken: &[String],
    w: &Walk<'_>,
) -> CommandResult<()> {
    let depth = taken.len();
    let rest = &w.path.parts[depth..];
    if let Some(offset) = rest.iter().position(|p| is_array_update(p)) {
        let mut prefix = taken.to_vec();
        prefix.extend(rest[..offset].iter().cloned());
        return Err(bad_value(format!(
            "The path '{}' must exist in the document in order to apply array updates.",
            prefix.join(".")
        )));
    }
    if !w.leaf.creates() {
        return Ok(());
    }
    let value = nest(&rest[1..], new_value(w.leaf, w.ctx));
    match container {
        Bson::Document(doc) => {
            doc.insert(part, value);
        }
        Bson::Array(array) => {
            let index = array_index(part).unwrap_or(usize::MAX);
            pad(array, index)?;
            array.push(value);
        }
        _ => return Ok(()),
    }
    if w.guards_id && depth > 0 {
        let name = taken.last().map_or("", String::as_str);
        return Err(CommandError::new(
            ErrorCode::ImmutableField,
            format!(
                "Updating the path '{}' to {} would modify the immutable field '_id'",
                taken.join("."),
                display_element(name, container)
            ),
        ));
    }
    Ok(())
}

/// `value` wrapped in one sub-document per component of `parts`.
fn nest(parts: &[String], value: Bson) -> Bson {
    parts.iter().rev().fold(value, |inner, part| {
        let mut doc = Document::new();
        doc.insert(part.clone(), inner);
        Bson::Document(doc)
    })
}

/// Appends nulls to `array` until it has `len` elements.
fn pad(array: &mut Vec<Bson>, len: usize) -> CommandResult<()> {
    if len > array.len() {
        if len - array.len() > MAX_PADDING {
            return Err(CommandError::new(
                ErrorCode::CannotBackfillArray,
                format!("can't backfill more than {MAX_PADDING} elements"),
            ));
        }
        array.resize(len, Bson::Null);
    }
    Ok(())
}

fn not_viable(current: &Bson, part: &str, taken: &[String], w: &Walk<'_>) -> CommandResult<()> {
    if !w.leaf.creates() {
        return Ok(());
    }
    let name = taken.last().map_or("", String::as_str);
    Err(CommandError::new(
        ErrorCode::PathNotViable,
        format!(
            "Cannot create field '{part}' in element {{{}}}",
            display_element(name, current)
        ),
    ))
}

/// The value a creating leaf writes where its field is missing.
fn new_value(leaf: &Leaf<'_>, ctx: &Ctx<'_>) -> Bson {
    let action = match leaf {
        Leaf::Moved(v) => return v.clone(),
        Leaf::Op(action) => action,
    };
    match action {
        Action::Set(v)
        | Action::SetOnInsert(v)
        | Action::Inc(v)
        | Action::Min(v)
        | Action::Max(v) => v.clone(),
        // `mongod` multiplies a zero of type int by the operand: a zero of the operand's type.
        Action::Mul(v) => arithmetic(ArithOp::Mul, v, &Bson::Int32(0)).unwrap_or(Bson::Int32(0)),
        Action::CurrentDate(kind) => kind.value(ctx.options),
        Action::Bit(ops) => bitwise(&Bson::Int32(0), ops),
        Action::Push(spec) => {
            let mut array = Vec::new();
            spec.apply(&mut array);
            Bson::Array(array)
        }
        Action::AddToSet(values) => Bson::Array(values.clone()),
        Action::Unset
        | Action::Rename(_)
        | Action::Pop { .. }
        | Action::Pull(_)
        | Action::PullAll(_) => Bson::Null,
    }
}

/// Applies a leaf to a field that exists; `name` is its field name, `taken` the path to the
/// document holding it (joined into the full path only where a message needs it).
fn apply_to_existing(
    leaf: &Leaf<'_>,
    value: &mut Bson,
    name: &str,
    taken: &[String],
    ctx: &Ctx<'_>,
) -> CommandResult<()> {
    let action = match leaf {
        Leaf::Moved(v) => {
            if !values_equal(value, v) {
                *value = v.clone();
            }
            return Ok(());
        }
        Leaf::Op(action) => action,
    };
    match action {
        Action::Set(v) | Action::SetOnInsert(v) => {
            if !identical(value, v) {
                *value = v.clone();
            }
        }
        Action::Unset | Action::Rename(_) => {}
        Action::Inc(v) => arithmetic_update(ArithOp::Add, value, v, name, ctx)?,
        Action::Mul(v) => arithmetic_update(ArithOp::Mul, value, v, name, ctx)?,
        Action::Min(v) => {
            if compare_values(value, v) == Ordering::Greater {
                *value = v.clone();
            }
        }
        Action::Max(v) => {
            if compare_values(value, v) == Ordering::Less {
                *value = v.clone();
            }
        }
        Action::CurrentDate(kind) => *value = kind.value(ctx.options),
        Action::Bit(ops) => bit_update(value, ops, name, ctx)?,
        Action::Push(spec) => spec.apply(array_for_push(value, &joined(taken, name), ctx)?),
        Action::AddToSet(values) => add_to_set(value, values, name)?,
        Action::Pop { first } => pop(value, *first, &joined(taken, name))?,
        Action::Pull(condition) => pull_array(value)?.retain(|e| !condition.matches(e)),
        Action::PullAll(values) => {
            pull_array(value)?.retain(|e| !values.iter().any(|v| values_equal(e, v)));
        }
    }
    Ok(())
}

fn array_for_push<'v>(
    value: &'v mut Bson,
    path: &str,
    ctx: &Ctx<'_>,
) -> CommandResult<&'v mut Vec<Bson>> {
    match value {
        Bson::Array(array) => Ok(array),
        other => Err(bad_value(format!(
            "The field '{path}' must be an array but is of type {} in document {{{}}}",
            type_name(other),
            ctx.id_text()
        ))),
    }
}

fn add_to_set(value: &mut Bson, values: &[Bson], name: &str) -> CommandResult<()> {
    let Bson::Array(array) = value else {
        return Err(bad_value(format!(
            "Cannot apply $addToSet to non-array field. Field named '{name}' has non-array type {}",
            type_name(value)
        )));
    };
    for v in values {
        if !array.iter().any(|e| values_equal(e, v)) {
            array.push(v.clone());
        }
    }
    Ok(())
}

fn pop(value: &mut Bson, first: bool, path: &str) -> CommandResult<()> {
    let Bson::Array(array) = value else {
        return Err(CommandError::type_mismatch(format!(
            "Path '{path}' contains an element of non-array type '{}'",
            type_name(value)
        )));
    };
    if first && !array.is_empty() {
        array.remove(0);
    } else if !first {
        array.pop();
    }
    Ok(())
}

fn pull_array(value: &mut Bson) -> CommandResult<&mut Vec<Bson>> {
    match value {
        Bson::Array(array) => Ok(array),
        _ => Err(bad_value("Cannot apply $pull to a non-array value")),
    }
}

impl PushSpec {
    /// Inserts the values, then sorts and trims the array.
    fn apply(&self, array: &mut Vec<Bson>) {
        let len = i64::try_from(array.len()).unwrap_or(i64::MAX);
        let position = self.position.unwrap_or(i64::MAX);
        let at = if position >= len {
            len
        } else if position >= 0 {
            position
        } else {
            (len + position).max(0)
        };
        let at = usize::try_from(at).unwrap_or(array.len()).min(array.len());
        array.splice(at..at, self.values.iter().cloned());
        if let Some(sort) = &self.sort {
            array.sort_by(|a, b| sort.compare(a, b));
        }
        if let Some(slice) = self.slice {
            let keep = usize::try_from(slice.unsigned_abs()).unwrap_or(usize::MAX);
            if keep < array.len() {
                if slice >= 0 {
                    array.truncate(keep);
                } else {
                    array.drain(..array.len() - keep);
                }
            }
        }
    }
}

impl PushSort {
    fn compare(&self, a: &Bson, b: &Bson) -> Ordering {
        match self {
            PushSort::Whole(descending) => directed(compare_values(a, b), *descending),
            PushSort::Fields(fields) => fields
                .iter()
                .map(|(path, descending)| {
                    let x = sort_key(a, path);
                    let y = sort_key(b, path);
                    directed(compare_values(&x, &y), *descending)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
        }
    }
}

fn directed(order: Ordering, descending: bool) -> Ordering {
    if descending { order.reverse() } else { order }
}

/// The value at `path` in a document element (arrays indexed by position); null if missing.
fn sort_key(element: &Bson, path: &[String]) -> Bson {
    if !matches!(element, Bson::Document(_)) {
        return Bson::Null;
    }
    let mut current = element;
    for part in path {
        let next = match current {
            Bson::Document(doc) => doc.get(part),
            Bson::Array(array) => array_index(part).and_then(|i| array.get(i)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Bson::Null,
        }
    }
    current.clone()
}

// ---------------------------------------------------------------------------------------------
// $rename
// ---------------------------------------------------------------------------------------------

fn apply_rename(
    root: &mut Bson,
    from: &FieldPath,
    to: &FieldPath,
    ctx: &Ctx<'_>,
) -> CommandResult<()> {
    let Some(value) = rename_source(root, from, ctx)? else {
        return Ok(());
    };
    check_rename_destination(root, to, ctx)?;
    let leaf = Leaf::Moved(value);
    walk(root, &mut Vec::new(), &Walk::new(to, &leaf, ctx))?;
    remove_path(root, &from.parts);
    if ctx.id.is_some() && from.starts_at_id() {
        return Err(CommandError::new(
            ErrorCode::ImmutableField,
            format!(
                "Unsetting the path '{}' using $rename would modify the immutable field '_id'",
                from.dotted()
            ),
        ));
    }
    Ok(())
}

/// The value a `$rename` moves, `None` if its source is missing.
fn rename_source(root: &Bson, from: &FieldPath, ctx: &Ctx<'_>) -> CommandResult<Option<Bson>> {
    let mut current = root;
    let mut name = "";
    let mut array_field: Option<&str> = None;
    for part in &from.parts {
        let next = match current {
            Bson::Document(doc) => doc.get(part),
            Bson::Array(array) if array_index(part).is_some() => {
                array_field = Some(name);
                array_index(part).and_then(|i| array.get(i))
            }
            other => {
                return Err(CommandError::new(
                    ErrorCode::PathNotViable,
                    format!(
                        "cannot use the part ({name} of {}) to traverse the element ({{{}}})",
                        from.dotted(),
                        display_element(name, other)
                    ),
                ));
            }
        };
        let Some(next) = next else {
            return Ok(None);
        };
        current = next;
        name = part;
    }
    if let Some(array) = array_field {
        return Err(bad_value(format!(
            "The source field cannot be an array element, '{}' in doc with {} has an array \
             field called '{array}'",
            from.dotted(),
            ctx.id_text()
        )));
    }
    Ok(Some(current.clone()))
}

/// Refuses a `$rename` destination below an array.
fn check_rename_destination(root: &Bson, to: &FieldPath, ctx: &Ctx<'_>) -> CommandResult<()> {
    let mut current = root;
    for (i, part) in to.parts.iter().enumerate() {
        let Bson::Document(doc) = current else {
            return Ok(());
        };
        let Some(next) = doc.get(part) else {
            return Ok(());
        };
        if i + 1 < to.parts.len() && matches!(next, Bson::Array(_)) {
            return Err(bad_value(format!(
                "The destination field cannot be an array element, '{}' in doc with {} has an \
                 array field called '{part}'",
                to.dotted(),
                ctx.id_text()
            )));
        }
        current = next;
    }
    Ok(())
}

/// Removes the field at `parts` (through sub-documents only).
fn remove_path(root: &mut Bson, parts: &[String]) {
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut current = root;
    for part in parents {
        match current {
            Bson::Document(doc) => match doc.get_mut(part) {
                Some(next) => current = next,
                None => return,
            },
            _ => return,
        }
    }
    if let Bson::Document(doc) = current {
        doc.remove(last);
    }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------------------------

impl ArithOp {
    fn modifier(self) -> &'static str {
        match self {
            ArithOp::Add => "$inc",
            ArithOp::Mul => "$mul",
        }
    }

    fn ints(self, a: i64, b: i64) -> Option<i64> {
        match self {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Mul => a.checked_mul(b),
        }
    }
}

fn is_number(value: &Bson) -> bool {
    Number::from_bson(value).is_some()
}

fn arithmetic_update(
    op: ArithOp,
    value: &mut Bson,
    operand: &Bson,
    name: &str,
    ctx: &Ctx<'_>,
) -> CommandResult<()> {
    if !is_number(value) {
        return Err(CommandError::type_mismatch(format!(
            "Cannot apply {} to a value of non-numeric type. {{{}}} has the field '{name}' of \
             non-numeric type {}",
            op.modifier(),
            ctx.id_text(),
            type_name(value)
        )));
    }
    match arithmetic(op, value, operand) {
        Some(result) => {
            if !identical(&result, value) {
                *value = result;
            }
            Ok(())
        }
        None => Err(bad_value(format!(
            "Failed to apply {} operations to current value ({}) for document {{{}}}",
            op.modifier(),
            debug_number(value),
            ctx.id_text()
        ))),
    }
}

/// `a op b` with `mongod`'s type promotion; `None` if a 64-bit integer overflows.
fn arithmetic(op: ArithOp, a: &Bson, b: &Bson) -> Option<Bson> {
    match (a, b) {
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => decimal::arithmetic(op, a, b),
        (Bson::Double(_), _) | (_, Bson::Double(_)) => {
            let x = Number::from_bson(a)?.as_f64();
            let y = Number::from_bson(b)?.as_f64();
            Some(Bson::Double(op.floats(x, y)))
        }
        (Bson::Int32(x), Bson::Int32(y)) => {
            // Two 32-bit operands never overflow 64 bits.
            let r = op.ints(i64::from(*x), i64::from(*y))?;
            Some(i32::try_from(r).map_or(Bson::Int64(r), Bson::Int32))
        }
        _ => match (Number::from_bson(a)?, Number::from_bson(b)?) {
            (Number::Int(x), Number::Int(y)) => op.ints(x, y).map(Bson::Int64),
            _ => None,
        },
    }
}

/// A number as `mongod`'s messages show it (`(NumberInt)42`).
fn debug_number(value: &Bson) -> String {
    match value {
        Bson::Int32(i) => format!("(NumberInt){i}"),
        Bson::Int64(i) => format!("(NumberLong){i}"),
        Bson::Double(d) => format!("(NumberDouble){d:?}"),
        Bson::Decimal128(d) => format!("(NumberDecimal){d}"),
        other => display_value(other),
    }
}

fn bit_update(
    value: &mut Bson,
    ops: &[(BitOp, Bson)],
    name: &str,
    ctx: &Ctx<'_>,
) -> CommandResult<()> {
    if !matches!(value, Bson::Int32(_) | Bson::Int64(_)) {
        return Err(bad_value(format!(
            "Cannot apply $bit to a value of non-integral type.{} has the field {name} of \
             non-integral type {}",
            ctx.id_text(),
            type_name(value)
        )));
    }
    let result = bitwise(value, ops);
    if !identical(&result, value) {
        *value = result;
    }
    Ok(())
}

/// Applies `$bit` operations; an `Int64` on either side makes the result an `Int64`.
fn bitwise(start: &Bson, ops: &[(BitOp, Bson)]) -> Bson {
    ops.iter().fold(start.clone(), |acc, (op, operand)| {
        let apply64 = |x: i64, y: i64| match op {
            BitOp::And => x & y,
            BitOp::Or => x | y,
            BitOp::Xor => x ^ y,
        };
        match (&acc, operand) {
            (Bson::Int32(x), Bson::Int32(y)) => {
                // The result of a bitwise op on two sign-extended 32-bit values fits 32 bits.
                let r = apply64(i64::from(*x), i64::from(*y));
                i32::try_from(r).map_or(Bson::Int64(r), Bson::Int32)
            }
            _ => {
                let as_i64 = |v: &Bson| match v {
                    Bson::Int32(i) => i64::from(*i),
                    Bson::Int64(i) => *i,
                    _ => 0,
                };
                Bson::Int64(apply64(as_i64(&acc), as_i64(operand)))
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Replacement and storage validation
// ---------------------------------------------------------------------------------------------

/// The document a replacement produces: the replacement, keeping the original `_id` if it has
/// none.
fn replace(original: &Document, replacement: &Document) -> CommandResult<Document> {
    if documents_identical(original, replacement) {
        return Ok(original.clone());
    }
    let mut updated = Document::new();
    if !replacement.contains_key(ID) {
        if let Some(id) = original.get(ID) {
            updated.insert(ID, id.clone());
        }
    }
    for (k, v) in replacement {
        updated.insert(k.clone(), v.clone());
    }
    validate_top_level(&updated, |_, _| true)?;
    if let (Some(old), Some(new)) = (original.get(ID), updated.get(ID)) {
        if !values_equal(old, new) {
            return Err(CommandError::new(
                ErrorCode::ImmutableField,
                format!(
                    "After applying the update, the (immutable) field '_id' was found to have \
                     been altered to {}",
                    display_element(ID, new)
                ),
            ));
        }
    }
    Ok(updated)
}

/// Checks the `_id` and `$`-prefixed top-level fields for which `check` is true.
fn validate_top_level(doc: &Document, check: impl Fn(&str, &Bson) -> bool) -> CommandResult<()> {
    for (i, (name, value)) in doc.iter().enumerate() {
        if !check(name, value) {
            continue;
        }
        if name.as_str() == ID {
            validate_id(value)?;
        }
        if name.starts_with('$') {
            // Rare: only then are the fields listed, for the check to look at the others.
            let fields: Vec<(&String, &Bson)> = doc.iter().collect();
            validate_dollar_field(&fields, i)?;
        }
    }
    Ok(())
}

fn validate_id(value: &Bson) -> CommandResult<()> {
    match value {
        Bson::RegularExpression(_) | Bson::Array(_) | Bson::Undefined => Err(CommandError::new(
            ErrorCode::InvalidIdField,
            format!("The '_id' value cannot be of type {}", type_name(value)),
        )),
        Bson::Document(doc) => match first_dollar_field(doc) {
            Some(name) => Err(CommandError::new(
                ErrorCode::DollarPrefixedFieldName,
                format!(
                    "_id fields may not contain '$'-prefixed fields: {name} is not valid for \
                     storage."
                ),
            )),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

fn first_dollar_field(doc: &Document) -> Option<String> {
    doc.iter().find_map(|(k, v)| {
        if k.starts_with('$') {
            return Some(k.clone());
        }
        match v {
            Bson::Document(inner) => first_dollar_field(inner),
            Bson::Array(items) => items.iter().find_map(|item| match item {
                Bson::Document(inner) => first_dollar_field(inner),
                _ => None,
            }),
            _ => None,
        }
    })
}

/// A top-level `$`-prefixed field is refused unless it is part of a DBRef
/// (`$ref`, `$id`, optional `$db`, in that order).
fn validate_dollar_field(fields: &[(&String, &Bson)], index: usize) -> CommandResult<()> {
    let dbref_error = |message: String| CommandError::new(ErrorCode::InvalidDBRef, message);
    let name_at = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|(n, _)| n.as_str());
    let (name, value) = fields[index];
    let mut at = index;
    let mut current = name.as_str();
    if current == "$db" {
        if !matches!(value, Bson::String(_)) {
            return Err(dbref_error(format!(
                "The DBRef $db field must be a String, not a {}",
                type_name(value)
            )));
        }
        if name_at(at.checked_sub(1)) != Some("$id") {
            return Err(dbref_error(
                "Found $db field without a $id before it, which is invalid.".to_owned(),
            ));
        }
        at -= 1;
        current = "$id";
    }
    if current == "$id" {
        if name_at(at.checked_sub(1)) != Some("$ref") {
            return Err(dbref_error(
                "Found $id field without a $ref before it, which is invalid.".to_owned(),
            ));
        }
        at -= 1;
        current = "$ref";
    }
    if current != "$ref" {
        return Err(CommandError::new(
            ErrorCode::DollarPrefixedFieldName,
            format!(
                "The dollar ($) prefixed field '{name}' in '{name}' is not allowed in the context \
                 of an update's replacement document. Consider using an aggregation pipeline \
                 with $replaceWith."
            ),
        ));
    }
    let ref_value = fields[at].1;
    if !matches!(ref_value, Bson::String(_)) {
        return Err(dbref_error(format!(
            "The DBRef $ref field must be a String, not a {}",
            type_name(ref_value)
        )));
    }
    if name_at(Some(at + 1)) != Some("$id") {
        return Err(dbref_error(
            "The DBRef $ref field must be followed by a $id field".to_owned(),
        ));
    }
    Ok(())
}

/// Whether two values are the same type and bytes (`1` and `1.0` are not).
fn identical(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        (Bson::Document(x), Bson::Document(y)) => documents_identical(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
        }
        _ => a == b,
    }
}

/// Whether two documents have the same fields in the same order with identical values.
fn documents_identical(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

fn bad_value(message: impl Into<String>) -> CommandError {
    CommandError::bad_value(message)
}

pub(crate) use crate::compare::type_name;

/// `name: value` as `mongod` prints an element in messages.
fn display_element(name: &str, value: &Bson) -> String {
    format!("{name}: {}", display_value(value))
}

/// A value as `mongod` prints it in messages (`{ a: 1 }`, `[ 1, 2 ]`, `"x"`).
pub(crate) fn display_value(value: &Bson) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Bson) {
    // Writing to a String cannot fail.
    let _ = match value {
        Bson::Double(d) => write!(out, "{d:?}"),
        Bson::String(s) | Bson::Symbol(s) => write!(out, "\"{s}\""),
        Bson::Document(doc) => {
            write_fields(
                out,
                '{',
                '}',
                doc.iter().map(|(k, v)| (Some(k.as_str()), v)),
            );
            Ok(())
        }
        Bson::Array(items) => {
            write_fields(out, '[', ']', items.iter().map(|v| (None, v)));
            Ok(())
        }
        Bson::Boolean(b) => write!(out, "{b}"),
        Bson::Null => write!(out, "null"),
        Bson::Undefined => write!(out, "undefined"),
        Bson::Int32(i) => write!(out, "{i}"),
        Bson::Int64(i) => write!(out, "{i}"),
        Bson::Decimal128(d) => write!(out, "{d}"),
        Bson::ObjectId(id) => write!(out, "ObjectId('{id}')"),
        Bson::DateTime(dt) => write!(out, "new Date({})", dt.timestamp_millis()),
        Bson::Timestamp(ts) => write!(out, "Timestamp({}, {})", ts.time, ts.increment),
        Bson::RegularExpression(re) => write!(out, "/{}/{}", re.pattern, re.options),
        Bson::MinKey => write!(out, "MinKey"),
        Bson::MaxKey => write!(out, "MaxKey"),
        Bson::Binary(bin) => {
            let hex: String = bin.bytes.iter().map(|b| format!("{b:02X}")).collect();
            write!(out, "BinData({}, {hex})", u8::from(bin.subtype))
        }
        Bson::JavaScriptCode(code) => write!(out, "{code}"),
        other => write!(out, "{other}"),
    };
}

fn write_fields<'v>(
    out: &mut String,
    open: char,
    close: char,
    fields: impl Iterator<Item = (Option<&'v str>, &'v Bson)>,
) {
    out.push(open);
    let mut empty = true;
    for (name, value) in fields {
        out.push_str(if empty { " " } else { ", " });
        empty = false;
        if let Some(name) = name {
            out.push_str(name);
            out.push_str(": ");
        }
        write_value(out, value);
    }
    if !empty {
        out.push(' ');
    }
    out.push(close);
}

#[cfg(test)]
mod tests {
    use bson::{Decimal128, doc};

    use super::*;

    fn options() -> ApplyOptions {
        ApplyOptions {
            is_insert: false,
            now: DateTime::from_millis(1_700_000_000_123),
            position: None,
        }
    }

    /// Applies `update` to `doc`; the document afterwards and whether it changed.
    fn run(
        doc: &Document,
        update: Document,
        opts: &ApplyOptions,
    ) -> CommandResult<(Document, bool)> {
        let parsed = Update::parse(&Bson::Document(update))?;
        let mut target = doc.clone();
        match parsed.apply(&mut target, opts) {
            Ok(changed) => Ok((target, changed)),
            Err(e) => {
                assert_same(&target, doc);
                Err(e)
            }
        }
    }

    fn applied(doc: Document, update: Document) -> Document {
        match run(&doc, update.clone(), &options()) {
            Ok((result, _)) => result,
            Err(e) => panic!("{update} on {doc} failed: {e}"),
        }
    }

    fn changed(doc: Document, update: Document) -> bool {
        match run(&doc, update.clone(), &options()) {
            Ok((_, changed)) => changed,
            Err(e) => panic!("{update} on {doc} failed: {e}"),
        }
    }

    fn error(doc: Document, update: Document) -> CommandError {
        match run(&doc, update.clone(), &options()) {
            Ok((result, _)) => panic!("{update} on {doc} gave {result}, expected an error"),
            Err(e) => e,
        }
    }

    fn parse_error(update: Document) -> CommandError {
        match Update::parse(&Bson::Document(update.clone())) {
            Ok(u) => panic!("{update} parsed as {u:?}"),
            Err(e) => e,
        }
    }

    /// Asserts two documents have the same fields, in the same order, with identical values.
    fn assert_same(actual: &Document, expected: &Document) {
        assert!(
            documents_identical(actual, expected),
            "\n  actual: {actual}\nexpected: {expected}"
        );
    }

    fn keys(doc: &Document) -> Vec<&str> {
        doc.keys().map(String::as_str).collect()
    }

    fn decimal(s: &str) -> Bson {
        Bson::Decimal128(s.parse::<Decimal128>().expect("valid decimal"))
    }

    // --- parsing ---------------------------------------------------------------------------

    #[test]
    fn first_field_decides_between_operators_and_replacement() {
        let parse = |d: Document| Update::parse(&Bson::Document(d)).expect("parses");
        assert!(!parse(doc! {"$set": {"a": 1}}).is_replacement());
        assert!(parse(doc! {"a": 1}).is_replacement());
        assert!(parse(doc! {}).is_replacement());
    }

    #[test]
    fn pipelines_and_other_types_are_refused() {
        let e = Update::parse(&Bson::Array(vec![])).expect_err("pipeline");
        assert!(e.is(ErrorCode::BadValue));
        assert!(e.message.contains("pipeline"), "{e}");
        let e = Update::parse(&Bson::Int32(1)).expect_err("int");
        assert!(e.is(ErrorCode::FailedToParse));
    }

    #[test]
    fn unknown_modifiers_are_failed_to_parse() {
        let e = parse_error(doc! {"$foo": {"a": 1}});
        assert!(e.is(ErrorCode::FailedToParse));
        assert_eq!(
            e.message,
            "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update \
             specified as an array"
        );
        let e = parse_error(doc! {"$set": {"a": 1}, "b": 2});
        assert_eq!(
            e.message,
            "Unknown modifier: b. Expected a valid update modifier or pipeline-style update \
             specified as an array"
        );
    }

    #[test]
    fn replacement_with_operator_fields_is_refused() {
        let e = error(doc! {"_id": 1}, doc! {"b": 2, "$set": {"a": 1}});
        assert!(e.is(ErrorCode::DollarPrefixedFieldName), "{e}");
        assert!(
            e.message
                .starts_with("The dollar ($) prefixed field '$set' in '$set'"),
            "{e}"
        );
    }

    #[test]
    fn operands_must_be_documents() {
        let e = parse_error(doc! {"$set": 1});
        assert!(e.is(ErrorCode::FailedToParse));
        assert_eq!(
            e.message,
            "Modifiers operate on fields but we found type int instead. For example: {$mod: \
             {<field>: ...}} not {$set: 1}"
        );
    }

    #[test]
    fn empty_operands_are_no_ops() {
        let original = doc! {"_id": 1, "a": 1};
        assert!(!changed(original.clone(), doc! {"$set": {}, "$unset": {}}));
        assert_same(&applied(original.clone(), doc! {"$set": {}}), &original);
    }

    #[test]
    fn overlapping_paths_conflict() {
        let e = parse_error(doc! {"$set": {"a": 1}, "$inc": {"a": 1}});
        assert!(e.is(ErrorCode::ConflictingUpdateOperators));
        assert_eq!(
            e.message,
            "Updating the path 'a' would create a conflict at 'a'"
        );
        let e = parse_error(doc! {"$set": {"a": 1, "a.b": 2}});
        assert_eq!(
            e.message,
            "Updating the path 'a.b' would create a conflict at 'a'"
        );
        let e = parse_error(doc! {"$set": {"a.b.c": 1}, "$unset": {"a.b": 1}});
        assert_eq!(
            e.message,
            "Updating the path 'a.b' would create a conflict at 'a.b'"
        );
        let e = parse_error(doc! {"$rename": {"a": "b"}, "$set": {"b.c": 1}});
        assert_eq!(
            e.message,
            "Updating the path 'b.c' would create a conflict at 'b'"
        );
        // Siblings and $setOnInsert paths are registered too.
        Update::parse(&Bson::Document(doc! {"$set": {"a.b": 1, "a.c": 1}})).expect("siblings");
        let e = parse_error(doc! {"$set": {"a": 1}, "$setOnInsert": {"a": 2}});
        assert!(e.is(ErrorCode::ConflictingUpdateOperators));
    }

    #[test]
    fn empty_paths_and_misplaced_positional_operators_are_refused() {
        let e = parse_error(doc! {"$set": {"": 1}});
        assert!(e.is(ErrorCode::EmptyFieldName));
        assert_eq!(e.message, "An empty update path is not valid.");
        let e = parse_error(doc! {"$set": {"a..b": 1}});
        assert_eq!(
            e.message,
            "The update path 'a..b' contains an empty field name, which is not allowed."
        );
        let e = parse_error(doc! {"$set": {"$.a": 1}});
        assert_eq!(
            e.message,
            "Cannot have positional (i.e. '$') element in the first position in path '$.a'"
        );
        let e = parse_error(doc! {"$set": {"a.$.b.$": 1}});
        assert_eq!(
            e.message,
            "Too many positional (i.e. '$') elements found in path 'a.$.b.$'"
        );
        let e = parse_error(doc! {"$set": {"a.$[x]": 1}});
        assert_eq!(
            e.message,
            "No array filter found for identifier 'x' in path 'a.$[x]'"
        );
        assert!(parse_error(doc! {"$set": {"$[]": 1}}).is(ErrorCode::BadValue));
    }

    #[test]
    fn the_positional_operator_stands_for_the_matched_position() {
        let at = |position| ApplyOptions {
            position,
            ..options()
        };
        let update = Update::parse(&Bson::Document(
            doc! {"$set": {"items.$.qty": 0}, "$inc": {"n": 1}},
        ))
        .expect("parses");
        assert!(update.uses_position());
        let mut doc = doc! {"items": [{"qty": 1}, {"qty": 2}], "n": 0};
        assert!(update.apply(&mut doc, &at(Some(1))).expect("applies"));
        assert_same(&doc, &doc! {"items": [{"qty": 1}, {"qty": 0}], "n": 1});
        let before = doc.clone();
        let e = update.apply(&mut doc, &at(None)).expect_err("no position");
        assert!(e.is(ErrorCode::BadValue));
        assert_eq!(
            e.message,
            "The positional operator did not find the match needed from the query."
        );
        assert_same(&doc, &before);
        let plain = Update::parse(&Bson::Document(doc! {"$set": {"a.0": 1}})).expect("parses");
        assert!(!plain.uses_position());
    }

    // --- $set and paths ----------------------------------------------------------------------

    #[test]
    fn set_replaces_and_adds_fields() {
        let result = applied(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 2, "b": "x"}});
        assert_same(&result, &doc! {"_id": 1, "a": 2, "b": "x"});
    }

    #[test]
    fn set_to_the_same_value_is_not_a_modification() {
        assert!(!changed(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 1}}));
        assert!(!changed(
            doc! {"_id": 1, "a": {"b": [1, 2]}},
            doc! {"$set": {"a": {"b": [1, 2]}}}
        ));
        // A different type is a modification even when the values compare equal.
        let result = applied(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 1.0}});
        assert_same(&result, &doc! {"_id": 1, "a": 1.0});
        // So is a different field order.
        assert!(changed(
            doc! {"_id": 1, "a": {"x": 1, "y": 2}},
            doc! {"$set": {"a": {"y": 2, "x": 1}}}
        ));
    }

    #[test]
    fn dotted_paths_create_sub_documents() {
        let result = applied(doc! {"_id": 1}, doc! {"$set": {"a.b.c": 1}});
        assert_same(&result, &doc! {"_id": 1, "a": {"b": {"c": 1}}});
        let result = applied(doc! {"_id": 1, "a": {"x": 1}}, doc! {"$set": {"a.b": 2}});
        assert_same(&result, &doc! {"_id": 1, "a": {"x": 1, "b": 2}});
        // A numeric component below a missing field names a field, not an index.
        let result = applied(doc! {"_id": 1}, doc! {"$set": {"a.0": 1}});
        assert_same(&result, &doc! {"_id": 1, "a": {"0": 1}});
    }

    #[test]
    fn numeric_components_index_arrays_and_pad_with_nulls() {
        let result = applied(doc! {"a": [1, 2]}, doc! {"$set": {"a.1": 5}});
        assert_same(&result, &doc! {"a": [1, 5]});
        let result = applied(doc! {"a": [1]}, doc! {"$set": {"a.3": 4}});
        assert_same(&result, &doc! {"a": [1, null, null, 4]});
        let result = applied(
            doc! {"a": [{"b": 1}]},
            doc! {"$set": {"a.0.c": 2, "a.2.d": 3}},
        );
        assert_same(&result, &doc! {"a": [{"b": 1, "c": 2}, null, {"d": 3}]});
        let e = error(doc! {"a": []}, doc! {"$set": {"a.1500001": 1}});
        assert!(e.is(ErrorCode::CannotBackfillArray), "{e}");
    }

    #[test]
    fn traversing_a_scalar_is_path_not_viable() {
        let e = error(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.b": 1}});
        assert!(e.is(ErrorCode::PathNotViable));
        assert_eq!(e.message, "Cannot create field 'b' in element {a: 1}");
        let e = error(doc! {"a": [1, 2]}, doc! {"$set": {"a.b": 1}});
        assert_eq!(
            e.message,
            "Cannot create field 'b' in element {a: [ 1, 2 ]}"
        );
        let e = error(doc! {"a": {"b": "x"}}, doc! {"$inc": {"a.b.c": 1}});
        assert_eq!(e.message, "Cannot create field 'c' in element {b: \"x\"}");
    }

    #[test]
    fn new_fields_are_added_in_path_order() {
        let result = applied(
            doc! {"_id": 1},
            doc! {"$set": {"b": 1, "a": 1}, "$inc": {"Z": 1}},
        );
        assert_eq!(keys(&result), ["_id", "Z", "a", "b"]);
        let result = applied(doc! {}, doc! {"$set": {"x.10": 1, "x.9": 1, "x.a": 1}});
        let x = result.get_document("x").expect("x");
        assert_eq!(keys(x), ["9", "10", "a"]);
    }

    #[test]
    fn all_positional_applies_to_every_element() {
        let result = applied(doc! {"a": [1, 2, 3]}, doc! {"$inc": {"a.$[]": 10}});
        assert_same(&result, &doc! {"a": [11, 12, 13]});
        let result = applied(doc! {"a": [{"b": 1}, {}]}, doc! {"$set": {"a.$[].c": 0}});
        assert_same(&result, &doc! {"a": [{"b": 1, "c": 0}, {"c": 0}]});
        let e = error(doc! {"_id": 1}, doc! {"$set": {"a.$[]": 0}});
        assert_eq!(
            e.message,
            "The path 'a' must exist in the document in order to apply array updates."
        );
        assert!(error(doc! {"a": 1}, doc! {"$set": {"a.$[]": 0}}).is(ErrorCode::BadValue));
        let e = error(doc! {"a": [1, {}]}, doc! {"$set": {"a.$[].b": 0}});
        assert!(e.is(ErrorCode::PathNotViable));
    }

    // --- $unset ------------------------------------------------------------------------------

    #[test]
    fn unset_removes_fields_and_nulls_array_elements() {
        let result = applied(
            doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}},
            doc! {"$unset": {"a": "", "b.c": 1}},
        );
        assert_same(&result, &doc! {"_id": 1, "b": {"d": 2}});
        let result = applied(doc! {"a": [1, 2]}, doc! {"$unset": {"a.0": 1}});
        assert_same(&result, &doc! {"a": [null, 2]});
    }

    #[test]
    fn unset_of_missing_or_unreachable_paths_is_a_no_op() {
        assert!(!changed(doc! {"a": 1}, doc! {"$unset": {"b": 1, "a.c": 1}}));
        assert!(!changed(
            doc! {"a": [1]},
            doc! {"$unset": {"a.x": 1, "a.5": 1}}
        ));
    }

    // --- arithmetic --------------------------------------------------------------------------

    #[test]
    fn inc_promotes_types_as_mongod() {
        let inc = |value: Bson, by: Bson| {
            let result = applied(doc! {"a": value}, doc! {"$inc": {"a": by}});
            result.get("a").cloned().expect("a")
        };
        assert_eq!(inc(Bson::Int32(1), Bson::Int32(2)), Bson::Int32(3));
        assert_eq!(
            inc(Bson::Int32(i32::MAX), Bson::Int32(1)),
            Bson::Int64(i64::from(i32::MAX) + 1)
        );
        assert_eq!(
            inc(Bson::Int32(i32::MIN), Bson::Int32(-1)),
            Bson::Int64(i64::from(i32::MIN) - 1)
        );
        assert_eq!(inc(Bson::Int64(1), Bson::Int32(1)), Bson::Int64(2));
        assert_eq!(inc(Bson::Int32(1), Bson::Int64(1)), Bson::Int64(2));
        assert_eq!(inc(Bson::Int32(1), Bson::Double(0.5)), Bson::Double(1.5));
        assert_eq!(inc(Bson::Double(1.5), Bson::Int64(1)), Bson::Double(2.5));
        assert_eq!(inc(decimal("1.5"), Bson::Int32(1)), decimal("2.5"));
    }

    #[test]
    fn inc_on_a_missing_field_sets_the_operand() {
        let result = applied(doc! {"_id": 1}, doc! {"$inc": {"a": 5_i64, "b.c": 1.5}});
        assert_same(&result, &doc! {"_id": 1, "a": 5_i64, "b": {"c": 1.5}});
    }

    #[test]
    fn inc_by_zero_is_not_a_modification() {
        assert!(!changed(doc! {"a": 5}, doc! {"$inc": {"a": 0}}));
        // Promoting the type is.
        assert!(changed(doc! {"a": 5}, doc! {"$inc": {"a": 0_i64}}));
    }

    #[test]
    fn inc_overflowing_a_long_fails() {
        let e = error(doc! {"_id": 1, "a": i64::MAX}, doc! {"$inc": {"a": 1}});
        assert!(e.is(ErrorCode::BadValue));
        assert_eq!(
            e.message,
            "Failed to apply $inc operations to current value ((NumberLong)9223372036854775807) \
             for document {_id: 1}"
        );
        let e = error(doc! {"_id": "x", "a": 42}, doc! {"$mul": {"a": i64::MAX}});
        assert_eq!(
            e.message,
            "Failed to apply $mul operations to current value ((NumberInt)42) for document {_id: \"x\"}"
        );
    }

    #[test]
    fn arithmetic_on_non_numbers_is_a_type_mismatch() {
        let e = error(doc! {"_id": 1, "a": "x"}, doc! {"$inc": {"a": 1}});
        assert!(e.is(ErrorCode::TypeMismatch));
        assert_eq!(
            e.message,
            "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of \
             non-numeric type string"
        );
        let e = error(doc! {"a": null}, doc! {"$mul": {"a": 2}});
        assert_eq!(
            e.message,
            "Cannot apply $mul to a value of non-numeric type. {no id} has the field 'a' of \
             non-numeric type null"
        );
        let e = parse_error(doc! {"$inc": {"a": "1"}});
        assert!(e.is(ErrorCode::TypeMismatch));
        assert_eq!(
            e.message,
            "Cannot increment with non-numeric argument: {a: \"1\"}"
        );
        let e = parse_error(doc! {"$mul": {"a": null}});
        assert_eq!(
            e.message,
            "Cannot multiply with non-numeric argument: {a: null}"
        );
    }

    #[test]
    fn mul_multiplies_and_sets_a_typed_zero_when_missing() {
        let result = applied(doc! {"a": 3, "b": 2.5}, doc! {"$mul": {"a": 4, "b": 2}});
        assert_same(&result, &doc! {"a": 12, "b": 5.0});
        let result = applied(doc! {"a": 70000}, doc! {"$mul": {"a": 70000}});
        assert_same(&result, &doc! {"a": 4_900_000_000_i64});
        let result = applied(
            doc! {},
            doc! {"$mul": {"i": 5, "l": 5_i64, "d": 2.5, "m": decimal("1.5")}},
        );
        assert_same(
            &result,
            &doc! {"d": 0.0, "i": 0, "l": 0_i64, "m": decimal("0.0")},
        );
    }

    #[test]
    fn decimal_arithmetic_is_exact() {
        let result = applied(
            doc! {"a": decimal("0.1")},
            doc! {"$inc": {"a": decimal("0.2")}},
        );
        assert_same(&result, &doc! {"a": decimal("0.3")});
        let result = applied(
            doc! {"a": decimal("1.10")},
            doc! {"$mul": {"a": decimal("3")}},
        );
        assert_same(&result, &doc! {"a": decimal("3.30")});
        let result = applied(doc! {"a": 10_i64}, doc! {"$inc": {"a": decimal("-0.5")}});
        assert_same(&result, &doc! {"a": decimal("9.5")});
        // A double is read with 15 significant digits, as mongod converts it.
        let result = applied(doc! {"a": decimal("1")}, doc! {"$inc": {"a": 0.1}});
        assert_same(&result, &doc! {"a": decimal("1.100000000000000")});
    }

    #[test]
    fn bit_applies_and_or_xor() {
        let result = applied(
            doc! {"a": 0b1100, "b": 0b1100, "c": 0b1100_i64},
            doc! {"$bit": {"a": {"and": 0b1010}, "b": {"or": 0b0011}, "c": {"xor": 0b1111}}},
        );
        assert_same(&result, &doc! {"a": 0b1000, "b": 0b1111, "c": 0b0011_i64});
        let result = applied(doc! {}, doc! {"$bit": {"a": {"or": 5_i64}}});
        assert_same(&result, &doc! {"a": 5_i64});
        assert!(error(doc! {"a": 1.0}, doc! {"$bit": {"a": {"and": 1}}}).is(ErrorCode::BadValue));
        assert!(parse_error(doc! {"$bit": {"a": {"and": 1.0}}}).is(ErrorCode::BadValue));
        assert!(parse_error(doc! {"$bit": {"a": {"nand": 1}}}).is(ErrorCode::BadValue));
    }

    // --- $min, $max, $currentDate, $setOnInsert ----------------------------------------------

    #[test]
    fn min_and_max_compare_in_bson_order() {
        let doc = doc! {"lo": 5, "hi": 5, "s": "b"};
        let result = applied(
            doc.clone(),
            doc! {"$min": {"lo": 3, "hi": 9}, "$max": {"s": 1}},
        );
        assert_same(&result, &doc! {"lo": 3, "hi": 5, "s": "b"});
        let result = applied(doc.clone(), doc! {"$max": {"hi": 9.5, "new": 1}});
        assert_same(&result, &doc! {"lo": 5, "hi": 9.5, "s": "b", "new": 1});
        // An equal value of another type does not replace the field.
        assert!(!changed(doc, doc! {"$min": {"lo": 5.0}}));
    }

    #[test]
    fn current_date_writes_now() {
        let opts = options();
        let (result, _) = run(
            &doc! {"a": 1},
            doc! {"$currentDate": {"a": true, "b": {"$type": "timestamp"}, "c": {"$type": "date"}}},
            &opts,
        )
        .expect("applies");
        let ts = Timestamp {
            time: 1_700_000_000,
            increment: 1,
        };
        assert_same(
            &result,
            &doc! {"a": opts.now, "b": Bson::Timestamp(ts), "c": opts.now},
        );
        assert!(parse_error(doc! {"$currentDate": {"a": 1}}).is(ErrorCode::BadValue));
        assert!(parse_error(doc! {"$currentDate": {"a": {"$type": "x"}}}).is(ErrorCode::BadValue));
        assert!(parse_error(doc! {"$currentDate": {"a": {"b": 1}}}).is(ErrorCode::BadValue));
    }

    #[test]
    fn set_on_insert_applies_only_to_inserts() {
        let update = doc! {"$set": {"a": 1}, "$setOnInsert": {"b": 2}};
        let result = applied(doc! {"_id": 1}, update.clone());
        assert_same(&result, &doc! {"_id": 1, "a": 1});
        let insert = ApplyOptions {
            is_insert: true,
            ..options()
        };
        let (result, _) = run(&doc! {"_id": 1}, update, &insert).expect("applies");
        assert_same(&result, &doc! {"_id": 1, "a": 1, "b": 2});
    }

    // --- $rename -----------------------------------------------------------------------------

    #[test]
    fn rename_moves_a_value() {
        let result = applied(
            doc! {"_id": 1, "a": 1, "b": 2},
            doc! {"$rename": {"a": "c"}},
        );
        assert_same(&result, &doc! {"_id": 1, "b": 2, "c": 1});
        let result = applied(
            doc! {"a": {"b": 1, "x": 0}},
            doc! {"$rename": {"a.b": "c.d"}},
        );
        assert_same(&result, &doc! {"a": {"x": 0}, "c": {"d": 1}});
        // An existing destination is overwritten in place.
        let result = applied(doc! {"a": 1, "b": 2, "c": 3}, doc! {"$rename": {"c": "a"}});
        assert_same(&result, &doc! {"a": 3, "b": 2});
        assert!(!changed(doc! {"a": 1}, doc! {"$rename": {"x": "y"}}));
    }

    #[test]
    fn rename_refuses_bad_paths() {
        let e = parse_error(doc! {"$rename": {"a": "a"}});
        assert_eq!(
            e.message,
            "The source and target field for $rename must differ: a: \"a\""
        );
        let e = parse_error(doc! {"$rename": {"a": "a.b"}});
        assert_eq!(
            e.message,
            "The source and target field for $rename must not be on the same path: a: \"a.b\""
        );
        let e = parse_error(doc! {"$rename": {"a": 1}});
        assert_eq!(
            e.message,
            "The 'to' field for $rename must be a string: a: 1"
        );
        assert!(parse_error(doc! {"$rename": {"a.$[]": "b"}}).is(ErrorCode::BadValue));
        let e = error(
            doc! {"_id": 1, "a": [{"b": 1}]},
            doc! {"$rename": {"a.0.b": "c"}},
        );
        assert!(e.is(ErrorCode::BadValue));
        assert!(
            e.message
                .starts_with("The source field cannot be an array element"),
            "{e}"
        );
        let e = error(
            doc! {"_id": 1, "a": 1, "b": [{}]},
            doc! {"$rename": {"a": "b.0.c"}},
        );
        assert!(
            e.message
                .starts_with("The destination field cannot be an array element"),
            "{e}"
        );
        let e = error(doc! {"a": 1, "b": 5}, doc! {"$rename": {"a": "b.c"}});
        assert!(e.is(ErrorCode::PathNotViable));
    }

    #[test]
    fn rename_cannot_touch_the_id() {
        let e = error(doc! {"_id": 1, "a": 2}, doc! {"$rename": {"_id": "b"}});
        assert!(e.is(ErrorCode::ImmutableField));
        let e = error(doc! {"_id": 1, "a": 2}, doc! {"$rename": {"a": "_id"}});
        assert!(e.is(ErrorCode::ImmutableField));
        assert_eq!(
            e.message,
            "Performing an update on the path '_id' would modify the immutable field '_id'"
        );
    }

    // --- array operators ---------------------------------------------------------------------

    #[test]
    fn push_appends_and_creates_arrays() {
        let result = applied(doc! {"a": [1]}, doc! {"$push": {"a": 2, "b": [3]}});
        assert_same(&result, &doc! {"a": [1, 2], "b": [[3]]});
        let e = error(doc! {"_id": 1, "a": 1}, doc! {"$push": {"a": 2}});
        assert!(e.is(ErrorCode::BadValue));
        assert_eq!(
            e.message,
            "The field 'a' must be an array but is of type int in document {_id: 1}"
        );
    }

    #[test]
    fn push_modifiers_position_sort_and_slice() {
        let push = |each: Document| {
            let result = applied(doc! {"a": [1, 2, 3]}, doc! {"$push": {"a": each}});
            result.get("a").cloned().expect("a")
        };
        assert_eq!(
            push(doc! {"$each": [8, 9]}),
            Bson::from(vec![1, 2, 3, 8, 9])
        );
        assert_eq!(
            push(doc! {"$each": [9], "$position": 0}),
            Bson::from(vec![9, 1, 2, 3])
        );
        assert_eq!(
            push(doc! {"$each": [9], "$position": -1}),
            Bson::from(vec![1, 2, 9, 3])
        );
        assert_eq!(
            push(doc! {"$each": [9], "$position": -10}),
            Bson::from(vec![9, 1, 2, 3])
        );
        assert_eq!(
            push(doc! {"$each": [9], "$position": 10}),
            Bson::from(vec![1, 2, 3, 9])
        );
        assert_eq!(
            push(doc! {"$each": [0], "$slice": 2}),
            Bson::from(vec![1, 2])
        );
        assert_eq!(
            push(doc! {"$each": [0], "$slice": -2}),
            Bson::from(vec![3, 0])
        );
        assert_eq!(
            push(doc! {"$each": [], "$slice": 0}),
            Bson::from(Vec::<i32>::new())
        );
        assert_eq!(
            push(doc! {"$each": [0, 5], "$sort": -1}),
            Bson::from(vec![5, 3, 2, 1, 0])
        );
        assert_eq!(
            push(doc! {"$each": [0], "$sort": 1, "$slice": -2}),
            Bson::from(vec![2, 3])
        );
        // An object without $each is pushed as it is.
        let result = applied(doc! {"a": []}, doc! {"$push": {"a": {"b": 1}}});
        assert_same(&result, &doc! {"a": [{"b": 1}]});
    }

    #[test]
    fn push_sorts_documents_by_fields() {
        let result = applied(
            doc! {"a": [{"s": 2, "n": "x"}, {"s": 1, "n": "y"}]},
            doc! {"$push": {"a": {"$each": [{"s": 3, "n": "z"}, 7], "$sort": {"s": -1}}}},
        );
        assert_same(
            &result,
            &doc! {"a": [{"s": 3, "n": "z"}, {"s": 2, "n": "x"}, {"s": 1, "n": "y"}, 7]},
        );
    }

    #[test]
    fn push_refuses_bad_modifiers() {
        let e = parse_error(doc! {"$push": {"a": {"$each": 1}}});
        assert_eq!(
            e.message,
            "The argument to $each in $push must be an array but it was of type: int"
        );
        let e = parse_error(doc! {"$push": {"a": {"$each": [], "$foo": 1}}});
        assert_eq!(e.message, "Unrecognized clause in $push: $foo");
        let e = parse_error(doc! {"$push": {"a": {"$each": [], "$slice": 1.5}}});
        assert_eq!(
            e.message,
            "The value for $slice must be an integer value but was given type: double"
        );
        let e = parse_error(doc! {"$push": {"a": {"$each": [], "$sort": 2}}});
        assert_eq!(e.message, "The $sort element value must be either 1 or -1");
        let e = parse_error(doc! {"$push": {"a": {"$each": [], "$position": "x"}}});
        assert!(e.is(ErrorCode::BadValue));
    }

    #[test]
    fn add_to_set_adds_missing_values_only() {
        let result = applied(doc! {"a": [1, 2]}, doc! {"$addToSet": {"a": 2.0}});
        assert_same(&result, &doc! {"a": [1, 2]});
        let result = applied(
            doc! {"a": [1]},
            doc! {"$addToSet": {"a": {"$each": [1, 3, 3, {"x": 1}]}, "b": {"$each": [4, 4]}}},
        );
        assert_same(&result, &doc! {"a": [1, 3, {"x": 1}], "b": [4]});
        let e = error(doc! {"a": 1}, doc! {"$addToSet": {"a": 2}});
        assert_eq!(
            e.message,
            "Cannot apply $addToSet to non-array field. Field named 'a' has non-array type int"
        );
        assert!(parse_error(doc! {"$addToSet": {"a": {"$each": 1}}}).is(ErrorCode::TypeMismatch));
    }

    #[test]
    fn pop_removes_the_first_or_last_element() {
        let result = applied(
            doc! {"a": [1, 2, 3], "b": [1, 2, 3]},
            doc! {"$pop": {"a": 1, "b": -1}},
        );
        assert_same(&result, &doc! {"a": [1, 2], "b": [2, 3]});
        assert!(!changed(doc! {"a": []}, doc! {"$pop": {"a": 1, "x": -1}}));
        let e = error(doc! {"a": 1}, doc! {"$pop": {"a": 1}});
        assert!(e.is(ErrorCode::TypeMismatch));
        assert_eq!(
            e.message,
            "Path 'a' contains an element of non-array type 'int'"
        );
        let e = parse_error(doc! {"$pop": {"a": 2}});
        assert_eq!(e.message, "$pop expects 1 or -1, found: 2");
        let e = parse_error(doc! {"$pop": {"a": "x"}});
        assert!(e.is(ErrorCode::FailedToParse));
        assert_eq!(e.message, "Expected a number in: a: \"x\"");
    }

    #[test]
    fn pull_removes_matching_elements() {
        let pull = |array: Bson, condition: Bson| {
            let result = applied(doc! {"a": array}, doc! {"$pull": {"a": condition}});
            result.get("a").cloned().expect("a")
        };
        let numbers = Bson::from(vec![1, 5, 6, 7, 5]);
        assert_eq!(
            pull(numbers.clone(), Bson::Int32(5)),
            Bson::from(vec![1, 6, 7])
        );
        assert_eq!(
            pull(numbers.clone(), Bson::Double(5.0)),
            Bson::from(vec![1, 6, 7])
        );
        assert_eq!(
            pull(numbers.clone(), Bson::Document(doc! {"$gte": 6})),
            Bson::from(vec![1, 5, 5])
        );
        assert_eq!(
            pull(numbers, Bson::Document(doc! {"$in": [1, 7]})),
            Bson::from(vec![5, 6, 5])
        );
        let words = Bson::from(vec!["apple", "banana", "avocado"]);
        let regex = Bson::RegularExpression(bson::Regex {
            pattern: "^a".try_into().expect("pattern"),
            options: "".try_into().expect("options"),
        });
        assert_eq!(pull(words, regex), Bson::from(vec!["banana"]));
        let docs = bson::bson!([{"b": 1, "c": 1}, {"b": 2}, 3, {"b": [1, 5]}]);
        assert_eq!(
            pull(docs.clone(), Bson::Document(doc! {"b": 1})),
            bson::bson!([{"b": 2}, 3])
        );
        assert_eq!(
            pull(
                docs.clone(),
                Bson::Document(doc! {"b": {"$gt": 1}, "c": {"$exists": false}})
            ),
            bson::bson!([{"b": 1, "c": 1}, 3])
        );
        // An empty condition matches every document element.
        assert_eq!(pull(docs, Bson::Document(doc! {})), bson::bson!([3]));
    }

    #[test]
    fn pull_errors_and_no_ops() {
        assert!(!changed(doc! {"a": [1]}, doc! {"$pull": {"b": 1, "a": 2}}));
        let e = error(doc! {"a": 1}, doc! {"$pull": {"a": 1}});
        assert!(e.is(ErrorCode::BadValue));
        assert_eq!(e.message, "Cannot apply $pull to a non-array value");
        assert!(parse_error(doc! {"$pull": {"a": {"$foo": 1}}}).is(ErrorCode::BadValue));
    }

    #[test]
    fn pull_takes_every_query_operator() {
        let result = applied(
            doc! {"a": [1, 2, 3, 4, "x"]},
            doc! {"$pull": {"a": {"$mod": [2, 0]}}},
        );
        assert_same(&result, &doc! {"a": [1, 3, "x"]});
        let result = applied(
            doc! {"a": [1, "two", 3.5, null]},
            doc! {"$pull": {"a": {"$type": ["string", "null"]}}},
        );
        assert_same(&result, &doc! {"a": [1, 3.5]});
        let result = applied(
            doc! {"a": [{"tags": ["x", "y"]}, {"tags": ["x"]}, [{"tags": ["x", "y"]}]]},
            doc! {"$pull": {"a": {"tags": {"$all": ["x", "y"]}}}},
        );
        assert_same(
            &result,
            &doc! {"a": [{"tags": ["x"]}, [{"tags": ["x", "y"]}]]},
        );
    }

    #[test]
    fn pull_all_removes_every_listed_value() {
        let result = applied(
            doc! {"a": [1, 2, 3, 2, "x"]},
            doc! {"$pullAll": {"a": [2, "x"]}},
        );
        assert_same(&result, &doc! {"a": [1, 3]});
        let e = parse_error(doc! {"$pullAll": {"a": 1}});
        assert_eq!(
            e.message,
            "$pullAll requires an array argument but was given a int"
        );
    }

    // --- _id, storage rules, atomicity -------------------------------------------------------

    #[test]
    fn the_id_is_immutable() {
        let e = error(doc! {"_id": 1, "a": 1}, doc! {"$set": {"_id": 2}});
        assert!(e.is(ErrorCode::ImmutableField));
        assert_eq!(
            e.message,
            "Performing an update on the path '_id' would modify the immutable field '_id'"
        );
        assert!(!changed(doc! {"_id": 1, "a": 1}, doc! {"$set": {"_id": 1}}));
        assert!(error(doc! {"_id": 1}, doc! {"$unset": {"_id": 1}}).is(ErrorCode::ImmutableField));
        assert!(
            error(doc! {"_id": {"a": 1}}, doc! {"$inc": {"_id.a": 1}})
                .is(ErrorCode::ImmutableField)
        );
        assert!(
            error(doc! {"_id": {"a": 1}}, doc! {"$set": {"_id.b": 1}})
                .is(ErrorCode::ImmutableField)
        );
        // A document without an _id (an upsert's seed) may get one.
        let result = applied(doc! {"a": 1}, doc! {"$set": {"_id": 7}});
        assert_same(&result, &doc! {"a": 1, "_id": 7});
        let e = error(doc! {"a": 1}, doc! {"$set": {"_id": [1]}});
        assert!(e.is(ErrorCode::InvalidIdField));
        assert_eq!(e.message, "The '_id' value cannot be of type array");
    }

    #[test]
    fn top_level_dollar_fields_are_refused() {
        let e = error(doc! {"_id": 1}, doc! {"$set": {"$a": 1}});
        assert!(e.is(ErrorCode::DollarPrefixedFieldName));
        assert!(e.message.contains("'$a'"), "{e}");
        // Nested ones are allowed (5.0+), and so are DBRefs.
        applied(doc! {"_id": 1}, doc! {"$set": {"a.$b": 1}});
        applied(
            doc! {"_id": 1},
            doc! {"_id": 1, "$ref": "c", "$id": 1, "$db": "d"},
        );
        // `$set` adds `$id` before `$ref` (path order), which is not a DBRef.
        let e = error(doc! {"_id": 1}, doc! {"$set": {"$ref": "c", "$id": 1}});
        assert!(e.is(ErrorCode::InvalidDBRef), "{e}");
        let e = error(doc! {"_id": 1}, doc! {"_id": 1, "$ref": 1, "$id": 1});
        assert!(e.is(ErrorCode::InvalidDBRef), "{e}");
        // Pre-existing fields are not re-validated.
        applied(doc! {"_id": 1, "$x": 1}, doc! {"$set": {"a": 1}});
    }

    #[test]
    fn a_failed_update_leaves_the_document_unchanged() {
        // `a` applies first (path order), then `b` fails.
        let original = doc! {"_id": 1, "a": 1, "b": "x", "c": [1]};
        let update = doc! {"$set": {"a": 5}, "$inc": {"b": 1}, "$push": {"c": 2}};
        let parsed = Update::parse(&Bson::Document(update)).expect("parses");
        let mut target = original.clone();
        assert!(parsed.apply(&mut target, &options()).is_err());
        assert_same(&target, &original);
    }

    // --- replacement -------------------------------------------------------------------------

    #[test]
    fn replacement_keeps_the_original_id_first() {
        let result = applied(doc! {"_id": 1, "a": 1}, doc! {"b": 2});
        assert_same(&result, &doc! {"_id": 1, "b": 2});
        let result = applied(doc! {"a": 0, "_id": 1}, doc! {});
        assert_same(&result, &doc! {"_id": 1});
        let result = applied(doc! {"_id": 1, "a": 1}, doc! {"b": 2, "_id": 1});
        assert_same(&result, &doc! {"b": 2, "_id": 1});
        assert!(!changed(doc! {"_id": 1, "a": 1}, doc! {"_id": 1, "a": 1}));
    }

    #[test]
    fn replacement_may_not_change_the_id() {
        let e = error(doc! {"_id": 1, "a": 1}, doc! {"_id": 2});
        assert!(e.is(ErrorCode::ImmutableField));
        assert_eq!(
            e.message,
            "After applying the update, the (immutable) field '_id' was found to have been \
             altered to _id: 2"
        );
        // An equal value of another numeric type is the same _id.
        applied(doc! {"_id": 1, "a": 1}, doc! {"_id": 1.0});
        // A new document may take any _id.
        let result = applied(doc! {}, doc! {"_id": 3, "x": 1});
        assert_same(&result, &doc! {"_id": 3, "x": 1});
    }

    // --- upsert seeds ------------------------------------------------------------------------

    #[test]
    fn upsert_seed_expands_dotted_paths() {
        let one = Bson::Int32(1);
        let five = Bson::Int32(5);
        let two = Bson::String("x".into());
        let seed = upsert_seed(&[("a.b", &one), ("_id", &five), ("a.c", &two)]).expect("seed");
        assert_same(&seed, &doc! {"_id": 5, "a": {"b": 1, "c": "x"}});
        assert_same(&upsert_seed(&[]).expect("seed"), &doc! {});
    }

    #[test]
    fn upsert_seed_refuses_overlapping_paths() {
        let one = Bson::Int32(1);
        let e = upsert_seed(&[("a", &one), ("a.b", &one)]).expect_err("conflict");
        assert!(e.is(ErrorCode::NotSingleValueField));
        assert_eq!(
            e.message,
            "cannot infer query fields to set, both paths 'a.b' and 'a' are matched"
        );
        let e = upsert_seed(&[("a.b", &one), ("a", &one)]).expect_err("conflict");
        assert!(e.is(ErrorCode::NotSingleValueField));
        let e = upsert_seed(&[("a", &one), ("a", &one)]).expect_err("twice");
        assert_eq!(
            e.message,
            "cannot infer query fields to set, path 'a' is matched twice"
        );
    }

    // --- messages ----------------------------------------------------------------------------

    #[test]
    fn values_display_as_mongod_prints_them() {
        let value = Bson::Document(doc! {"a": [1, "x", {"b": null}], "c": {}, "d": [], "e": 1.5});
        assert_eq!(
            display_value(&value),
            "{ a: [ 1, \"x\", { b: null } ], c: {}, d: [], e: 1.5 }"
        );
    }

    // --- properties --------------------------------------------------------------------------

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn leaf() -> impl Strategy<Value = Bson> {
            prop_oneof![
                any::<i32>().prop_map(Bson::Int32),
                (-3i64..3).prop_map(Bson::Int64),
                any::<i64>().prop_map(Bson::Int64),
                (-100.0f64..100.0).prop_map(Bson::Double),
                "[ab]{0,2}".prop_map(Bson::String),
                any::<bool>().prop_map(Bson::Boolean),
                Just(Bson::Null),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["a", "b", "c", "0", "1", "_id", "$x"]).prop_map(str::to_owned)
        }

        fn value() -> impl Strategy<Value = Bson> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                    prop::collection::vec((key(), inner), 0..4)
                        .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
                ]
            })
        }

        fn document() -> impl Strategy<Value = Document> {
            prop::collection::vec((key(), value()), 0..5).prop_map(|f| f.into_iter().collect())
        }

        fn path() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop::sample::select(vec!["a", "b", "0", "1", "5", "$[]", "_id", "$x", ""]),
                1..4,
            )
            .prop_map(|parts| parts.join("."))
        }

        fn operand() -> impl Strategy<Value = Bson> {
            prop_oneof![
                4 => value(),
                1 => (prop::collection::vec(value(), 0..3), -3i32..3, -3i32..3, prop::bool::ANY)
                    .prop_map(|(each, slice, position, sort)| {
                        let mut spec = doc! {"$each": each, "$slice": slice, "$position": position};
                        if sort {
                            spec.insert("$sort", doc! {"a": -1});
                        }
                        Bson::Document(spec)
                    }),
                1 => prop::sample::select(vec!["a", "b.c", "0", "_id"])
                    .prop_map(|s| Bson::String(s.to_owned())),
                1 => (-2i32..3).prop_map(|n| Bson::Document(doc! {"$gte": n})),
            ]
        }

        fn operator() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "$set",
                "$unset",
                "$inc",
                "$mul",
                "$min",
                "$max",
                "$rename",
                "$push",
                "$pull",
                "$pullAll",
                "$addToSet",
                "$pop",
                "$setOnInsert",
                "$currentDate",
                "$bit",
                "$foo",
            ])
            .prop_map(str::to_owned)
        }

        fn update_spec() -> impl Strategy<Value = Document> {
            prop_oneof![
                4 => prop::collection::vec(
                    (operator(), prop::collection::vec((path(), operand()), 0..3)),
                    1..3,
                )
                .prop_map(|ops| {
                    ops.into_iter()
                        .map(|(op, fields)| {
                            let fields: Document = fields.into_iter().collect();
                            (op, Bson::Document(fields))
                        })
                        .collect()
                }),
                1 => document(),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn set_then_unset_of_a_new_field_restores_the_document(
                doc in document(),
                v in value(),
            ) {
                let set = Update::parse(&Bson::Document(doc! {"$set": {"newField": v}}))
                    .expect("parses");
                let unset = Update::parse(&Bson::Document(doc! {"$unset": {"newField": 1}}))
                    .expect("parses");
                let mut target = doc.clone();
                let opts = options();
                // Documents with top-level `$x` fields are still valid targets.
                prop_assert!(set.apply(&mut target, &opts).expect("set applies"));
                prop_assert!(unset.apply(&mut target, &opts).expect("unset applies"));
                prop_assert!(documents_identical(&target, &doc), "{} vs {}", target, doc);
            }

            #[test]
            fn apply_never_panics_and_failures_change_nothing(
                doc in document(),
                spec in update_spec(),
                is_insert in any::<bool>(),
            ) {
                if let Ok(update) = Update::parse(&Bson::Document(spec)) {
                    let opts = ApplyOptions { is_insert, ..options() };
                    let mut target = doc.clone();
                    match update.apply(&mut target, &opts) {
                        Ok(true) => {
                            prop_assert!(!documents_identical(&target, &doc), "reported a change that is not one");
                        }
                        Ok(false) | Err(_) => {
                            prop_assert!(documents_identical(&target, &doc));
                        }
                    }
                }
            }

            #[test]
            fn a_reported_change_is_a_real_change(
                doc in document(),
                spec in update_spec(),
            ) {
                // Applied again to its own result, an update either changes the document or
                // says it did not (only the touched fields are compared).
                if let Ok(update) = Update::parse(&Bson::Document(spec)) {
                    let opts = options();
                    if let Ok(Some(once)) = update.apply_owned(doc.clone(), &opts)
                        && let Ok(again) = update.apply_owned(once.clone(), &opts)
                    {
                        if let Some(twice) = again {
                            prop_assert!(!documents_identical(&once, &twice));
                        }
                    }
                }
            }
        }
    }
}
