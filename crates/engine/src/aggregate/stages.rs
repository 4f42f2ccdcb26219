//! The stages of a pipeline other than projections and `$group`: parsing their specifications
//! and running them over a batch of documents.

use bson::{Bson, Document};
use rand::seq::SliceRandom;

use crate::aggregate::expr::{Expr, Num};
use crate::aggregate::group::{Accumulator, Group};
use crate::aggregate::lookup::Lookup;
use crate::aggregate::project::{self, Projection};
use crate::aggregate::replace::ReplaceRoot;
use crate::aggregate::unwind::Unwind;
use crate::aggregate::{Foreign, Pipeline};
use crate::error::{CommandError, CommandResult};
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
    /// `$lookup` (the equality form).
    Lookup(Lookup),
    /// `$facet`: named sub-pipelines over the same input, giving one document.
    Facet(Vec<(String, Pipeline)>),
    /// `$unionWith`: the input, then another collection's documents through a pipeline.
    UnionWith(String, Pipeline),
    /// `$sample`: this many documents picked at random.
    Sample(u64),
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
    "$fill",
    "$geoNear",
    "$graphLookup",
    "$indexStats",
    "$listLocalSessions",
    "$listSampledQueries",
    "$listSearchIndexes",
    "$listSessions",
    "$merge",
    "$out",
    "$planCacheStats",
    "$querySettings",
    "$queryStats",
    "$redact",
    "$search",
    "$searchMeta",
    "$setWindowFields",
    "$shardedDataDistribution",
    "$vectorSearch",
];

/// Parses the stage `name: spec`, appending what it stands for to `out` (`$sortByCount` is a
/// `$group` then a `$sort`).
pub(crate) fn parse_stage(name: &str, spec: &Bson, out: &mut Vec<Stage>) -> CommandResult<()> {
    let stage = match name {
        "$match" => Stage::Match(Filter::parse(object(spec, 15959, || {
            "the match filter must be an expression in an object".to_owned()
        })?)?),
        "$project" => {
            let spec = object(spec, 15969, || {
                "$project specification must be an object".to_owned()
            })?;
            Stage::Project(within(name, Projection::project(spec))?)
        }
        "$addFields" | "$set" => {
            let spec = object(spec, 40272, || {
                format!(
                    "{name} specification stage must be an object, got {}",
                    crate::compare::type_name(spec)
                )
            })?;
            Stage::Project(within(name, Projection::add_fields(spec))?)
        }
        "$unset" => {
            let paths = project::unset_paths(spec)?;
            Stage::Project(within(name, Projection::unset(&paths))?)
        }
        "$group" => Stage::Group(Group::parse(object(spec, 15947, || {
            "a group's fields must be specified in an object".to_owned()
        })?)?),
        "$sort" => Stage::Sort(parse_sort(spec)?),
        "$limit" => Stage::Limit(parse_limit(spec)?),
        "$skip" => Stage::Skip(parse_skip(spec)?),
        "$count" => Stage::Count(parse_count(spec)?),
        "$unwind" => Stage::Unwind(Unwind::parse(spec)?),
        "$lookup" => Stage::Lookup(Lookup::parse(spec)?),
        "$facet" => Stage::Facet(parse_facet(spec)?),
        "$unionWith" => {
            let (coll, pipeline) = parse_union_with(spec)?;
            Stage::UnionWith(coll, pipeline)
        }
        "$sample" => Stage::Sample(parse_sample(spec)?),
        "$replaceRoot" => Stage::ReplaceRoot(ReplaceRoot::parse_replace_root(spec)?),
        "$replaceWith" => Stage::ReplaceRoot(ReplaceRoot::replace_with(spec)?),
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

/// Words an error in parsing the specification of `stage` as `mongod` does.
fn within<T>(stage: &str, result: CommandResult<T>) -> CommandResult<T> {
    result.map_err(|mut error| {
        error.message = format!("Invalid {stage} :: caused by :: {}", error.message);
        error
    })
}

/// The document a stage's specification must be.
fn object(spec: &Bson, code: i32, message: impl FnOnce() -> String) -> CommandResult<&Document> {
    match spec {
        Bson::Document(doc) => Ok(doc),
        _ => Err(CommandError::with_code(code, message())),
    }
}

impl Stage {
    /// Runs the stage over a batch of documents; `foreign` holds the collections `$lookup`
    /// stages read.
    pub(crate) fn run(
        &self,
        input: Vec<Document>,
        foreign: &Foreign,
    ) -> CommandResult<Vec<Document>> {
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
            Stage::Lookup(lookup) => {
                let from = foreign.get(lookup.from()).map_or(&[][..], Vec::as_slice);
                input.into_iter().map(|d| lookup.apply(d, from)).collect()
            }
            Stage::Facet(facets) => {
                let mut out = Document::new();
                for (name, pipeline) in facets {
                    let results = pipeline.run(input.clone(), foreign)?;
                    out.insert(
                        name.clone(),
                        results.into_iter().map(Bson::Document).collect::<Vec<_>>(),
                    );
                }
                Ok(vec![out])
            }
            Stage::UnionWith(coll, pipeline) => {
                let other = foreign.get(coll).cloned().unwrap_or_default();
                let mut output = input;
                output.extend(pipeline.run(other, foreign)?);
                Ok(output)
            }
            Stage::Sample(size) => {
                let mut input = input;
                let size = saturating_usize(*size).min(input.len());
                let (picked, _) = input.partial_shuffle(&mut rand::rng(), size);
                Ok(picked.to_vec())
            }
        }
    }
}

/// Stages a `$facet` sub-pipeline may not hold.
const NOT_IN_FACET: &[&str] = &[
    "$facet",
    "$out",
    "$merge",
    "$changeStream",
    "$collStats",
    "$indexStats",
    "$geoNear",
];

/// Parses `{$facet: {name: [stages], ...}}`.
fn parse_facet(spec: &Bson) -> CommandResult<Vec<(String, Pipeline)>> {
    let spec = match spec {
        Bson::Document(spec) if !spec.is_empty() => spec,
        other => {
            return Err(CommandError::with_code(
                40169,
                format!(
                    "the $facet specification must be a non-empty object, but found: {}",
                    crate::query::filter::describe("$facet", other)
                ),
            ));
        }
    };
    let mut facets = Vec::with_capacity(spec.len());
    for (name, stages) in spec {
        if name.is_empty() || name.starts_with('$') || name.contains('.') {
            return Err(CommandError::with_code(
                40173,
                format!(
                    "facet pipeline name '{name}' must be a non-empty field name without '$' or '.'"
                ),
            ));
        }
        let Bson::Array(stages) = stages else {
            return Err(CommandError::with_code(
                40170,
                format!(
                    "arguments to $facet must be arrays, {name} is type {}",
                    crate::compare::type_name(stages)
                ),
            ));
        };
        refuse_stages(stages, NOT_IN_FACET, |inner| {
            CommandError::with_code(
                40600,
                format!("{inner} is not allowed to be used within a $facet stage"),
            )
        })?;
        facets.push((name.clone(), Pipeline::parse(stages)?));
    }
    Ok(facets)
}

/// Parses `{$unionWith: "coll"}` or `{$unionWith: {coll, pipeline}}`.
fn parse_union_with(spec: &Bson) -> CommandResult<(String, Pipeline)> {
    let (coll, stages) = match spec {
        Bson::String(coll) => (coll.clone(), &[][..]),
        Bson::Document(spec) => {
            let mut coll = None;
            let mut stages: &[Bson] = &[];
            for (name, value) in spec {
                match (name.as_str(), value) {
                    ("coll", Bson::String(c)) => coll = Some(c.clone()),
                    ("pipeline", Bson::Array(s)) => stages = s,
                    ("coll" | "pipeline", other) => {
                        return Err(CommandError::type_mismatch(format!(
                            "BSON field '$unionWith.{name}' is the wrong type '{}', expected type '{}'",
                            crate::compare::type_name(other),
                            if name == "coll" { "string" } else { "array" }
                        )));
                    }
                    _ => {
                        return Err(CommandError::with_code(
                            40415,
                            format!("BSON field '$unionWith.{name}' is an unknown field."),
                        ));
                    }
                }
            }
            let coll = coll.ok_or_else(|| {
                CommandError::with_code(
                    40414,
                    "BSON field '$unionWith.coll' is missing but a required field",
                )
            })?;
            (coll, stages)
        }
        other => {
            return Err(CommandError::failed_to_parse(format!(
                "the $unionWith stage specification must be an object or string, but found {}",
                crate::compare::type_name(other)
            )));
        }
    };
    refuse_stages(stages, &["$out", "$merge"], |inner| {
        CommandError::with_code(
            31441,
            format!("{inner} is not allowed within a $unionWith's sub-pipeline"),
        )
    })?;
    Ok((coll, Pipeline::parse(stages)?))
}

/// Refuses a sub-pipeline holding one of the `forbidden` stages, with `error(stage name)`.
fn refuse_stages(
    stages: &[Bson],
    forbidden: &[&str],
    error: impl Fn(&str) -> CommandError,
) -> CommandResult<()> {
    for stage in stages {
        if let Some(name) = stage
            .as_document()
            .and_then(|d| d.keys().next())
            .filter(|name| forbidden.contains(&name.as_str()))
        {
            return Err(error(name));
        }
    }
    Ok(())
}

/// Parses `{$sample: {size: n}}`.
fn parse_sample(spec: &Bson) -> CommandResult<u64> {
    let Bson::Document(spec) = spec else {
        return Err(CommandError::with_code(
            28745,
            "the $sample stage specification must be an object",
        ));
    };
    let mut size = None;
    for (name, value) in spec {
        if name != "size" {
            return Err(CommandError::with_code(
                28748,
                format!("unrecognized option to $sample: {name}"),
            ));
        }
        let n = Num::of(value).ok_or_else(|| {
            CommandError::with_code(28746, "size argument to $sample must be a number")
        })?;
        let f = n.as_f64();
        if f < 0.0 {
            return Err(CommandError::with_code(
                28747,
                "size argument to $sample must not be negative",
            ));
        }
        // A fractional size counts its whole part, as `mongod` reads it as a long.
        size = Some(n.to_exact_i64().map_or(f as u64, |i| i as u64));
    }
    size.ok_or_else(|| CommandError::with_code(28749, "$sample stage must specify a size"))
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

/// The non-negative whole number a `$limit` or `$skip` argument holds; anything else fails
/// with `code` and `mongod`'s wording.
fn stage_count(spec: &Bson, stage: &str, code: i32) -> CommandResult<u64> {
    let shown = crate::query::filter::describe(stage, spec);
    let invalid = |reason: &str| {
        CommandError::with_code(
            code,
            format!("invalid argument to {stage} stage: {reason}{shown}"),
        )
    };
    let n = Num::of(spec).ok_or_else(|| invalid("Expected a number in: "))?;
    let whole = match n {
        Num::Double(_) | Num::Decimal(_)
            if n.as_f64().fract() != 0.0 || !n.as_f64().is_finite() =>
        {
            return Err(invalid("Expected an integer: "));
        }
        _ => n
            .to_exact_i64()
            .ok_or_else(|| invalid("Cannot represent as a 64-bit integer: "))?,
    };
    u64::try_from(whole).map_err(|_| invalid("Expected a non-negative number in: "))
}

fn parse_limit(spec: &Bson) -> CommandResult<u64> {
    let limit = stage_count(spec, "$limit", 5_107_201)?;
    if limit == 0 {
        return Err(CommandError::with_code(15958, "the limit must be positive"));
    }
    Ok(limit)
}

fn parse_skip(spec: &Bson) -> CommandResult<u64> {
    stage_count(spec, "$skip", 5_107_200)
}

fn parse_count(spec: &Bson) -> CommandResult<String> {
    let Bson::String(name) = spec else {
        return Err(CommandError::with_code(
            40156,
            "the count field must be a non-empty string",
        ));
    };
    let refusal = if name.is_empty() {
        Some((40157, "the count field must be a non-empty string"))
    } else if name.starts_with('$') {
        Some((40158, "the count field cannot be a $-prefixed path"))
    } else if name.contains('\0') {
        Some((40159, "the count field cannot contain a null byte"))
    } else if name.contains('.') {
        Some((40160, "the count field cannot contain '.'"))
    } else if name == "_id" {
        Some((15948, "a group's _id may only be specified once"))
    } else {
        None
    };
    match refusal {
        Some((code, message)) => Err(CommandError::with_code(code, message)),
        None => Ok(name.clone()),
    }
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
    const WANTED: &str = "the sortByCount field must be defined as a $-prefixed path or an expression inside an \
         object";
    match spec {
        Bson::String(path) if !path.starts_with('$') => {
            return Err(CommandError::with_code(40148, WANTED));
        }
        Bson::Document(doc) if !doc.keys().next().is_some_and(|k| k.starts_with('$')) => {
            return Err(CommandError::with_code(40147, WANTED));
        }
        Bson::String(_) | Bson::Document(_) => {}
        _ => {
            return Err(CommandError::with_code(
                40149,
                "the sortByCount field must be specified as a string or as an object",
            ));
        }
    }
    let group = Group::new(
        Expr::parse(spec)?,
        vec![("count".to_owned(), Accumulator::count())],
    );
    let mut sort = Document::new();
    sort.insert("count", -1);
    Ok((group, SortSpec::parse(&sort)?))
}
