//! The stages of a pipeline other than projections and `$group`: parsing their specifications
//! and running them over a batch of documents.

use bson::{Bson, Document};

use crate::aggregate::expr::{Expr, Num, Value, split_path, type_name};
use crate::aggregate::group::{Accumulator, Group};
use crate::aggregate::project::Projection;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::query::{Filter, SortSpec};

/// One parsed stage.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// `$match`.
    Match(Filter),
    /// `$project`, `$addFields` / `$set` and `$unset`.
    Project(Projection),
    /// `$group`.
    Group(Group),
    /// `$sort`.
    Sort(SortSpec),
    /// `$limit`.
    Limit(u64),
    /// `$skip`.
    Skip(u64),
    /// `$count`: the name of the output field.
    Count(String),
    /// `$unwind`.
    Unwind(Unwind),
    /// `$replaceRoot` / `$replaceWith`.
    ReplaceRoot(ReplaceRoot),
}

/// Stages `mongod` has that this engine does not run.
const UNSUPPORTED: &[&str] = &[
    "$bucket",
    "$bucketAuto",
    "$changeStream",
    "$changeStreamSplitLargeEvent",
    "$collStats",
    "$currentOp",
    "$densify",
    "$documents",
    "$facet",
    "$fill",
    "$geoNear",
    "$graphLookup",
    "$indexStats",
    "$listLocalSessions",
    "$listSampledQueries",
    "$listSearchIndexes",
    "$listSessions",
    "$lookup",
    "$merge",
    "$out",
    "$planCacheStats",
    "$querySettings",
    "$queryStats",
    "$redact",
    "$sample",
    "$search",
    "$searchMeta",
    "$setWindowFields",
    "$shardedDataDistribution",
    "$unionWith",
    "$vectorSearch",
];

/// Parses the stage `name: spec`, appending what it stands for to `out` (`$sortByCount` is a
/// `$group` then a `$sort`).
pub(crate) fn parse_stage(name: &str, spec: &Bson, out: &mut Vec<Stage>) -> CommandResult<()> {
    let stage = match name {
        "$match" => Stage::Match(Filter::parse(object(spec, 15959, || {
            "the match filter must be an expression in an object".to_owned()
        })?)?),
        "$project" => Stage::Project(Projection::project(object(spec, 15969, || {
            "$project specification must be an object".to_owned()
        })?)?),
        "$addFields" | "$set" => {
            Stage::Project(Projection::add_fields(object(spec, 40272, || {
                format!(
                    "{name} specification stage must be an object, got {}",
                    type_name(&Some(spec.clone()))
                )
            })?)?)
        }
        "$unset" => Stage::Project(Projection::unset(spec)?),
        "$group" => Stage::Group(Group::parse(object(spec, 15947, || {
            "a group's fields must be specified in an object".to_owned()
        })?)?),
        "$sort" => Stage::Sort(parse_sort(spec)?),
        "$limit" => Stage::Limit(parse_limit(spec)?),
        "$skip" => Stage::Skip(parse_skip(spec)?),
        "$count" => Stage::Count(parse_count(spec)?),
        "$unwind" => Stage::Unwind(Unwind::parse(spec)?),
        "$replaceRoot" => Stage::ReplaceRoot(ReplaceRoot::parse_replace_root(spec)?),
        "$replaceWith" => Stage::ReplaceRoot(ReplaceRoot {
            expr: Expr::parse(spec)?,
            what: "'replacement document'",
        }),
        "$sortByCount" => {
            let (group, sort) = parse_sort_by_count(spec)?;
            out.push(Stage::Group(group));
            Stage::Sort(sort)
        }
        _ if UNSUPPORTED.contains(&name) => {
            return Err(CommandError::bad_value(format!(
                "the {name} stage is not supported by this engine"
            )));
        }
        _ => {
            return Err(CommandError::with_code(
                40324,
                format!("Unrecognized pipeline stage name: '{name}'"),
            ));
        }
    };
    out.push(stage);
    Ok(())
}

/// The document a stage's specification must be.
fn object(spec: &Bson, code: i32, message: impl FnOnce() -> String) -> CommandResult<&Document> {
    match spec {
        Bson::Document(doc) => Ok(doc),
        _ => Err(CommandError::with_code(code, message())),
    }
}

impl Stage {
    /// Runs the stage over a batch of documents.
    pub(crate) fn run(&self, input: Vec<Document>) -> CommandResult<Vec<Document>> {
        match self {
            Stage::Match(filter) => Ok(input.into_iter().filter(|d| filter.matches(d)).collect()),
            Stage::Project(projection) => input.iter().map(|d| projection.apply(d)).collect(),
            Stage::Group(group) => group.run(input),
            Stage::Sort(sort) => sort_documents(sort, input),
            Stage::Limit(n) => Ok(input.into_iter().take(saturating_usize(*n)).collect()),
            Stage::Skip(n) => Ok(input.into_iter().skip(saturating_usize(*n)).collect()),
            Stage::Count(name) => Ok(count_documents(name, input.len())),
            Stage::Unwind(unwind) => Ok(input.into_iter().flat_map(|d| unwind.apply(d)).collect()),
            Stage::ReplaceRoot(replace) => input.iter().map(|d| replace.apply(d)).collect(),
        }
    }
}

fn saturating_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn parse_sort(spec: &Bson) -> CommandResult<SortSpec> {
    let Bson::Document(doc) = spec else {
        return Err(CommandError::with_code(
            15973,
            "the $sort key specification must be an object",
        ));
    };
    if doc.is_empty() {
        return Err(CommandError::with_code(
            15976,
            "$sort stage must have at least one sort key",
        ));
    }
    SortSpec::parse(doc)
}

/// Sorts stably: documents that compare equal keep their input order.
fn sort_documents(sort: &SortSpec, input: Vec<Document>) -> CommandResult<Vec<Document>> {
    let mut keyed = input
        .into_iter()
        .map(|doc| Ok((sort.key(&doc)?, doc)))
        .collect::<CommandResult<Vec<_>>>()?;
    keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
    Ok(keyed.into_iter().map(|(_, doc)| doc).collect())
}

/// The whole number a `$limit` or `$skip` argument holds.
fn stage_integer(spec: &Bson, stage: &str, not_number: CommandError) -> CommandResult<i64> {
    let n = Num::of(spec).ok_or(not_number)?;
    n.to_exact_i64().ok_or_else(|| {
        CommandError::new(
            ErrorCode::BadValue,
            format!(
                "invalid argument to {stage} stage: Expected an integer: {}",
                crate::query::filter::describe(stage, spec)
            ),
        )
    })
}

fn parse_limit(spec: &Bson) -> CommandResult<u64> {
    let not_number = CommandError::with_code(15957, "the limit must be specified as a number");
    let limit = stage_integer(spec, "$limit", not_number)?;
    u64::try_from(limit)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CommandError::with_code(15958, "the limit must be positive"))
}

fn parse_skip(spec: &Bson) -> CommandResult<u64> {
    let not_number = CommandError::with_code(15972, "Argument to $skip must be a number");
    let skip = stage_integer(spec, "$skip", not_number)?;
    u64::try_from(skip)
        .map_err(|_| CommandError::with_code(15956, "Argument to $skip cannot be negative"))
}

fn parse_count(spec: &Bson) -> CommandResult<String> {
    let name = match spec {
        Bson::String(name) if !name.is_empty() => name,
        _ => {
            return Err(CommandError::with_code(
                40156,
                "the count field must be a non-empty string",
            ));
        }
    };
    if name.starts_with('$') {
        return Err(CommandError::with_code(
            40158,
            "the count field cannot be a $-prefixed path",
        ));
    }
    if name.contains('\0') {
        return Err(CommandError::with_code(
            40159,
            "the count field cannot contain a null byte",
        ));
    }
    if name.contains('.') {
        return Err(CommandError::with_code(
            40160,
            "the count field cannot contain '.'",
        ));
    }
    Ok(name.clone())
}

/// `{name: n}`, or nothing for an empty input.
fn count_documents(name: &str, n: usize) -> Vec<Document> {
    if n == 0 {
        return Vec::new();
    }
    let count = i32::try_from(n).map_or_else(|_| Bson::Int64(n as i64), Bson::Int32);
    let mut doc = Document::new();
    doc.insert(name, count);
    vec![doc]
}

fn parse_sort_by_count(spec: &Bson) -> CommandResult<(Group, SortSpec)> {
    let is_expression = match spec {
        Bson::String(path) => path.starts_with('$'),
        Bson::Document(doc) => doc.len() == 1 && doc.keys().all(|k| k.starts_with('$')),
        _ => false,
    };
    if !is_expression {
        return Err(CommandError::with_code(
            40148,
            "the sortByCount field must be defined as a $-prefixed path or an expression",
        ));
    }
    let group = Group::new(
        Expr::parse(spec)?,
        vec![("count".to_owned(), Accumulator::count())],
    );
    let mut sort = Document::new();
    sort.insert("count", -1);
    Ok((group, SortSpec::parse(&sort)?))
}

/// A parsed `$unwind` stage.
#[derive(Debug, Clone)]
pub(crate) struct Unwind {
    path: Vec<String>,
    index_field: Option<Vec<String>>,
    preserve: bool,
}

impl Unwind {
    /// Parses `"$path"` or `{path, includeArrayIndex, preserveNullAndEmptyArrays}`.
    fn parse(spec: &Bson) -> CommandResult<Unwind> {
        match spec {
            Bson::String(path) => Ok(Unwind {
                path: unwind_path(path)?,
                index_field: None,
                preserve: false,
            }),
            Bson::Document(options) => Unwind::parse_options(options),
            other => Err(CommandError::with_code(
                15981,
                format!(
                    "expected either a string or an object as specification for $unwind stage, \
                     got {}",
                    crate::session::type_name(other)
                ),
            )),
        }
    }

    fn parse_options(options: &Document) -> CommandResult<Unwind> {
        let mut path = None;
        let mut index_field = None;
        let mut preserve = false;
        for (name, value) in options {
            match (name.as_str(), value) {
                ("path", Bson::String(p)) => path = Some(unwind_path(p)?),
                ("path", other) => {
                    return Err(CommandError::with_code(
                        28808,
                        format!(
                            "expected a string as the path for $unwind stage, got {}",
                            crate::session::type_name(other)
                        ),
                    ));
                }
                ("includeArrayIndex", Bson::String(field)) if !field.is_empty() => {
                    if field.starts_with('$') {
                        return Err(CommandError::with_code(
                            28822,
                            format!(
                                "includeArrayIndex option to $unwind stage should not be \
                                 prefixed with a '$': {field}"
                            ),
                        ));
                    }
                    index_field = Some(split_path(field)?);
                }
                ("includeArrayIndex", other) => {
                    return Err(CommandError::with_code(
                        28810,
                        format!(
                            "expected a non-empty string for the includeArrayIndex option to \
                             $unwind stage, got {}",
                            crate::session::type_name(other)
                        ),
                    ));
                }
                ("preserveNullAndEmptyArrays", Bson::Boolean(b)) => preserve = *b,
                ("preserveNullAndEmptyArrays", other) => {
                    return Err(CommandError::with_code(
                        28809,
                        format!(
                            "expected a boolean for the preserveNullAndEmptyArrays option to \
                             $unwind stage, got {}",
                            crate::session::type_name(other)
                        ),
                    ));
                }
                _ => {
                    return Err(CommandError::with_code(
                        28811,
                        format!("unrecognized option to $unwind stage: {name}"),
                    ));
                }
            }
        }
        let path = path
            .ok_or_else(|| CommandError::with_code(28812, "no path specified to $unwind stage"))?;
        Ok(Unwind {
            path,
            index_field,
            preserve,
        })
    }

    /// The documents `doc` unwinds into.
    fn apply(&self, doc: Document) -> Vec<Document> {
        match nested(&doc, &self.path) {
            Some(Bson::Array(items)) if !items.is_empty() => {
                let items = items.clone();
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let mut out = doc.clone();
                        set_nested(&mut out, &self.path, item);
                        self.set_index(&mut out, Bson::Int64(i as i64));
                        out
                    })
                    .collect()
            }
            Some(Bson::Array(_)) if self.preserve => {
                let mut out = doc;
                remove_nested(&mut out, &self.path);
                self.set_index(&mut out, Bson::Null);
                vec![out]
            }
            Some(Bson::Array(_)) | None | Some(Bson::Null) if !self.preserve => Vec::new(),
            _ => {
                let mut out = doc;
                self.set_index(&mut out, Bson::Null);
                vec![out]
            }
        }
    }

    fn set_index(&self, doc: &mut Document, index: Bson) {
        if let Some(field) = &self.index_field {
            set_nested(doc, field, index);
        }
    }
}

fn unwind_path(path: &str) -> CommandResult<Vec<String>> {
    match path.strip_prefix('$') {
        Some(rest) if !rest.is_empty() => split_path(rest),
        _ => Err(CommandError::with_code(
            28818,
            format!("path option to $unwind stage should be prefixed with a '$': {path}"),
        )),
    }
}

/// The value at `path`, through sub-documents only.
fn nested<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let value = doc.get(first)?;
    match (rest.is_empty(), value) {
        (true, _) => Some(value),
        (false, Bson::Document(sub)) => nested(sub, rest),
        _ => None,
    }
}

/// Sets the value at `path`, making sub-documents where there are none.
fn set_nested(doc: &mut Document, path: &[String], value: Bson) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return;
    }
    if !matches!(doc.get(first), Some(Bson::Document(_))) {
        doc.insert(first.clone(), Document::new());
    }
    if let Some(Bson::Document(sub)) = doc.get_mut(first) {
        set_nested(sub, rest, value);
    }
}

fn remove_nested(doc: &mut Document, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            doc.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Bson::Document(sub)) = doc.get_mut(first) {
                remove_nested(sub, rest);
            }
        }
    }
}

/// A parsed `$replaceRoot` / `$replaceWith` stage.
#[derive(Debug, Clone)]
pub(crate) struct ReplaceRoot {
    expr: Expr,
    /// How error messages name the expression.
    what: &'static str,
}

impl ReplaceRoot {
    fn parse_replace_root(spec: &Bson) -> CommandResult<ReplaceRoot> {
        let Bson::Document(options) = spec else {
            return Err(CommandError::with_code(
                40229,
                format!(
                    "expected an object as specification for $replaceRoot stage, got {}",
                    crate::session::type_name(spec)
                ),
            ));
        };
        let mut new_root = None;
        for (name, value) in options {
            if name != "newRoot" {
                return Err(CommandError::with_code(
                    40415,
                    format!("BSON field '$replaceRoot.{name}' is an unknown field."),
                ));
            }
            new_root = Some(Expr::parse(value)?);
        }
        let expr = new_root.ok_or_else(|| {
            CommandError::with_code(
                40414,
                "BSON field '$replaceRoot.newRoot' is missing but a required field",
            )
        })?;
        Ok(ReplaceRoot {
            expr,
            what: "'newRoot'",
        })
    }

    fn apply(&self, doc: &Document) -> CommandResult<Document> {
        match self.expr.eval(doc)? {
            Some(Bson::Document(root)) => Ok(root),
            other => Err(CommandError::with_code(
                40228,
                format!(
                    "{} expression must evaluate to an object, but resulting value was: {}. \
                     Type of resulting value: '{}'. Input document: {doc}",
                    self.what,
                    shown(&other),
                    type_name(&other)
                ),
            )),
        }
    }
}

fn shown(value: &Value) -> String {
    value
        .as_ref()
        .map_or_else(|| "MISSING".to_owned(), ToString::to_string)
}
