//! `find`, `getMore`, `killCursors`, `aggregate`, `distinct` and `count`.

use std::collections::{BTreeMap, VecDeque};

use bson::{Bson, Document, doc};

use super::{
    Exec, check_fields, matching, opt_bool, opt_count, opt_document, sort_documents, wrong_type,
};
use crate::aggregate::Pipeline;
use crate::cursor::{Cursor, next_batch};
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::keystring;
use crate::query::{Filter, Projection, SortSpec};
use crate::request::Request;
use crate::unit::StatementResult;

/// The first batch when the client names no size, as in `mongod`.
pub(crate) const DEFAULT_FIRST_BATCH: usize = 101;

const FIND_FIELDS: &[&str] = &[
    "filter",
    "sort",
    "projection",
    "skip",
    "limit",
    "batchSize",
    "singleBatch",
    "hint",
    "collation",
    "allowDiskUse",
    "noCursorTimeout",
    "allowPartialResults",
    "let",
    "returnKey",
    "showRecordId",
    "tailable",
    "awaitData",
    "min",
    "max",
    "oplogReplay",
    "readOnce",
];

/// `{find: <coll>, filter, sort, projection, skip, limit, batchSize, singleBatch}`.
pub(crate) fn find(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let body = &req.body;
    check_fields(body, "find", FIND_FIELDS)?;
    for flag in ["returnKey", "showRecordId", "tailable", "awaitData"] {
        if opt_bool(body, "find", flag)? == Some(true) {
            return Err(CommandError::bad_value(format!(
                "find option '{flag}' is not supported by this engine"
            ))
            .into());
        }
    }
    for bound in ["min", "max"] {
        if body.contains_key(bound) {
            return Err(CommandError::bad_value(format!(
                "find option '{bound}' is not supported by this engine"
            ))
            .into());
        }
    }
    check_collation(body, "find")?;
    let coll = req.collection_name()?;
    let filter =
        Filter::parse(opt_document(body, "find", "filter")?.unwrap_or(super::empty_document()))?;
    let sort = opt_document(body, "find", "sort")?
        .map(SortSpec::parse)
        .transpose()?;
    let projection = opt_document(body, "find", "projection")?
        .map(Projection::parse)
        .transpose()?;
    let skip = opt_count(body, "find", "skip")?.unwrap_or(0) as usize;
    let limit = opt_count(body, "find", "limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let batch_size = opt_count(body, "find", "batchSize")?.map(|b| b as usize);
    let single_batch = opt_bool(body, "find", "singleBatch")?.unwrap_or(false);
    check_hint(exec, req, coll, body.get("hint"))?;

    // Without a sort the first skip + limit matches are enough.
    let wanted = match (&sort, limit) {
        (None, Some(l)) => Some(skip + l),
        _ => None,
    };
    let mut docs: Vec<Document> = matching(exec, req.db, coll, &filter, wanted)?
        .into_iter()
        .map(|m| m.doc)
        .collect();
    if let Some(sort) = &sort {
        docs = sort_documents(sort, docs, |d| d)?;
    }
    let docs = docs
        .into_iter()
        .skip(skip)
        .take(limit.unwrap_or(usize::MAX));
    let results: VecDeque<Document> = match &projection {
        Some(p) if p.is_positional() => docs
            .map(|d| p.apply_at(&d, filter.matched_position(&d)))
            .collect::<CommandResult<_>>()?,
        Some(p) => docs.map(|d| p.apply(&d)).collect(),
        None => docs.collect(),
    };
    let ns = format!("{}.{coll}", req.db);
    Ok(cursor_reply(
        exec,
        ns,
        results,
        batch_size.or(Some(DEFAULT_FIRST_BATCH)),
        single_batch,
    ))
}

/// Answers with the first batch, keeping the rest in a cursor.
pub(crate) fn cursor_reply(
    exec: &mut Exec<'_>,
    ns: String,
    mut results: VecDeque<Document>,
    first_batch: Option<usize>,
    single_batch: bool,
) -> Document {
    let batch = next_batch(&mut results, first_batch);
    let id = if results.is_empty() || single_batch {
        0
    } else {
        let id = exec.cursors.open(Cursor {
            ns: ns.clone(),
            remaining: results,
            session: exec.lsid.clone(),
            txn_number: exec.txn.as_ref().map(|t| t.number),
        });
        if let Some(txn) = &mut exec.txn {
            txn.opened_cursors.push(id);
        }
        id
    };
    crate::reply::of(
        exec.reply_gets_times,
        [
            (
                "cursor",
                doc! {"firstBatch": batch, "id": id, "ns": ns}.into(),
            ),
            ("ok", 1.0.into()),
        ],
    )
}

fn check_collation(body: &Document, command: &str) -> CommandResult<()> {
    match opt_document(body, command, "collation")? {
        Some(c) if !(c.len() == 1 && c.get_str("locale").ok() == Some("simple")) => {
            Err(CommandError::bad_value(format!(
                "{command}: only the simple collation is supported by this engine"
            )))
        }
        _ => Ok(()),
    }
}

/// A hint must name an index that exists (by name or key pattern).
fn check_hint(
    exec: &Exec<'_>,
    req: &Request<'_>,
    coll: &str,
    hint: Option<&Bson>,
) -> CommandResult<()> {
    let Some(hint) = hint else { return Ok(()) };
    let collection = exec.unit.collection(exec.catalog, req.db, coll);
    let exists = match hint {
        Bson::String(name) => name == "_id_" || collection.is_some_and(|c| c.index(name).is_some()),
        Bson::Document(key) if key.is_empty() => true,
        Bson::Document(key) => {
            (key.len() == 1 && key.contains_key("_id"))
                || collection.is_some_and(|c| {
                    c.indexes
                        .iter()
                        .any(|i| i.spec.get("key") == Some(&Bson::Document(key.clone())))
                })
        }
        other => return Err(wrong_type(req.name(), "hint", other, "object")),
    };
    if exists || collection.is_none() {
        Ok(())
    } else {
        Err(CommandError::bad_value(
            "hint provided does not correspond to an existing index",
        ))
    }
}

/// `{getMore: <cursor id>, collection, batchSize}`.
pub(crate) fn get_more(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "getMore",
        &[
            "collection",
            "batchSize",
            "term",
            "lastKnownCommittedOpTime",
        ],
    )?;
    let id = match req.target() {
        Bson::Int64(id) => *id,
        other => return Err(wrong_type("getMore", "getMore", other, "long").into()),
    };
    let coll = match req.body.get("collection") {
        Some(Bson::String(c)) => c.clone(),
        Some(other) => return Err(wrong_type("getMore", "collection", other, "string").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'getMore.collection' is missing but a required field",
            )
            .into());
        }
    };
    let batch_size = opt_count(&req.body, "getMore", "batchSize")?
        .filter(|b| *b > 0)
        .map(|b| b as usize);
    let ns = format!("{}.{coll}", req.db);
    let txn_number = exec.txn.as_ref().map(|t| t.number);
    let lsid = exec.lsid.clone();
    let Some(cursor) = exec.cursors.get_mut(id) else {
        return Err(CommandError::new(
            ErrorCode::CursorNotFound,
            format!("cursor id {id} not found"),
        )
        .into());
    };
    if cursor.ns != ns {
        return Err(CommandError::new(
            ErrorCode::Unauthorized,
            format!("Requested getMore on namespace '{ns}', but cursor belongs to a different namespace {}", cursor.ns),
        )
        .into());
    }
    if cursor.session.is_some() && cursor.session != lsid {
        return Err(CommandError::with_code(
            50738,
            format!("Cannot run getMore on cursor {id}, which was created in a different session"),
        )
        .into());
    }
    if cursor.txn_number.is_some() && cursor.txn_number != txn_number {
        return Err(CommandError::with_code(
            50740,
            format!("Cannot run getMore on cursor {id}, which was created in a transaction, outside that transaction"),
        )
        .into());
    }
    let batch = next_batch(&mut cursor.remaining, batch_size);
    let exhausted = cursor.remaining.is_empty();
    if exhausted {
        exec.cursors.close(id);
    }
    Ok(crate::reply::of(
        req.reply_gets_times,
        [
            (
                "cursor",
                doc! {"nextBatch": batch, "id": if exhausted { 0 } else { id }, "ns": ns}.into(),
            ),
            ("ok", 1.0.into()),
        ],
    ))
}

/// `{killCursors: <coll>, cursors: [ids]}`.
pub(crate) fn kill_cursors(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(&req.body, "killCursors", &["cursors"])?;
    req.collection_name()?;
    let ids = match req.body.get("cursors") {
        Some(Bson::Array(ids)) => ids,
        Some(other) => return Err(wrong_type("killCursors", "cursors", other, "array").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'killCursors.cursors' is missing but a required field",
            )
            .into());
        }
    };
    let (mut killed, mut not_found) = (Vec::new(), Vec::new());
    for id in ids {
        let Bson::Int64(n) = id else {
            return Err(wrong_type("killCursors", "cursors", id, "long").into());
        };
        if exec.cursors.close(*n) {
            killed.push(Bson::Int64(*n));
        } else {
            not_found.push(Bson::Int64(*n));
        }
    }
    Ok(doc! {
        "cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0,
    })
}

/// `{aggregate: <coll>, pipeline: [...], cursor: {batchSize}}`.
pub(crate) fn aggregate(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let body = &req.body;
    check_fields(
        body,
        "aggregate",
        &[
            "pipeline",
            "cursor",
            "explain",
            "allowDiskUse",
            "collation",
            "hint",
            "let",
            "bypassDocumentValidation",
        ],
    )?;
    check_collation(body, "aggregate")?;
    if opt_bool(body, "aggregate", "explain")?.unwrap_or(false) {
        return Err(CommandError::bad_value(
            "aggregate with explain is not supported by this engine",
        )
        .into());
    }
    let coll = match req.target() {
        Bson::String(_) => req.collection_name()?,
        Bson::Int32(1) | Bson::Int64(1) | Bson::Double(1.0) => {
            return Err(CommandError::bad_value(
                "collection-less aggregation ({aggregate: 1}) is not supported by this engine",
            )
            .into());
        }
        other => {
            return Err(CommandError::new(
                ErrorCode::InvalidNamespace,
                format!(
                    "collection name has invalid type {}",
                    crate::compare::type_name(other)
                ),
            )
            .into());
        }
    };
    let stages = match body.get("pipeline") {
        Some(Bson::Array(stages)) => stages,
        Some(other) => return Err(wrong_type("aggregate", "pipeline", other, "array").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'aggregate.pipeline' is missing but a required field",
            )
            .into());
        }
    };
    let batch_size = match body.get("cursor") {
        Some(Bson::Document(cursor)) => {
            opt_count(cursor, "aggregate.cursor", "batchSize")?.map(|b| b as usize)
        }
        Some(other) => return Err(wrong_type("aggregate", "cursor", other, "object").into()),
        None => {
            return Err(CommandError::failed_to_parse(
                "The 'cursor' option is required, except for aggregate with the explain argument",
            )
            .into());
        }
    };
    check_hint(exec, req, coll, body.get("hint"))?;
    let pipeline = Pipeline::parse(stages)?;
    let all = Filter::parse(super::empty_document())?;
    let filter = pipeline.leading_filter().unwrap_or(&all);
    let input: Vec<Document> = matching(exec, req.db, coll, filter, None)?
        .into_iter()
        .map(|m| m.doc)
        .collect();
    let mut foreign = crate::aggregate::Foreign::new();
    for name in pipeline.collections_read() {
        if !foreign.contains_key(name) {
            let documents = matching(exec, req.db, name, &all, None)?
                .into_iter()
                .map(|m| m.doc)
                .collect();
            foreign.insert(name.to_owned(), documents);
        }
    }
    let output = pipeline.run(input, &foreign)?;
    let ns = format!("{}.{coll}", req.db);
    Ok(cursor_reply(
        exec,
        ns,
        output.into(),
        batch_size.or(Some(DEFAULT_FIRST_BATCH)),
        false,
    ))
}

/// `{distinct: <coll>, key, query}`: the distinct values at `key`, arrays unwound, in BSON
/// order.
pub(crate) fn distinct(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let body = &req.body;
    check_fields(body, "distinct", &["key", "query", "collation", "hint"])?;
    check_collation(body, "distinct")?;
    let coll = req.collection_name()?;
    let key = match body.get("key") {
        Some(Bson::String(k)) => k.clone(),
        Some(other) => return Err(wrong_type("distinct", "key", other, "string").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'distinct.key' is missing but a required field",
            )
            .into());
        }
    };
    let filter =
        Filter::parse(opt_document(body, "distinct", "query")?.unwrap_or(super::empty_document()))?;
    let mut values: BTreeMap<Vec<u8>, Bson> = BTreeMap::new();
    for matched in matching(exec, req.db, coll, &filter, None)? {
        let mut found = Vec::new();
        values_at(&Bson::Document(matched.doc), &key, &mut found);
        for value in found {
            values.entry(keystring::key_of(&value)).or_insert(value);
        }
    }
    Ok(crate::reply::of(
        req.reply_gets_times,
        [
            ("values", values.into_values().collect::<Vec<_>>().into()),
            ("ok", 1.0.into()),
        ],
    ))
}

/// The values at a dotted path, descending into arrays of documents and unwinding arrays
/// found at the end of the path, as `distinct` does.
fn values_at(value: &Bson, path: &str, out: &mut Vec<Bson>) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    match value {
        Bson::Document(doc) => match (doc.get(head), rest) {
            (None, _) => {}
            (Some(Bson::Array(items)), None) => out.extend(items.iter().cloned()),
            (Some(v), None) => out.push(v.clone()),
            (Some(v), Some(rest)) => values_at(v, rest, out),
        },
        Bson::Array(items) => {
            if let Ok(i) = head.parse::<usize>() {
                if let Some(item) = items.get(i) {
                    match rest {
                        None => out.push(item.clone()),
                        Some(rest) => values_at(item, rest, out),
                    }
                }
            } else {
                for item in items {
                    values_at(item, path, out);
                }
            }
        }
        _ => {}
    }
}

/// `{count: <coll>, query, skip, limit}`.
pub(crate) fn count(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let body = &req.body;
    check_fields(
        body,
        "count",
        &["query", "skip", "limit", "hint", "collation", "fields"],
    )?;
    check_collation(body, "count")?;
    let coll = req.collection_name()?;
    let filter =
        Filter::parse(opt_document(body, "count", "query")?.unwrap_or(super::empty_document()))?;
    let skip = opt_count(body, "count", "skip")?.unwrap_or(0) as usize;
    // A negative limit counts like its absolute value, as in mongod.
    let limit = match body
        .get("limit")
        .and_then(crate::compare::Number::from_bson)
    {
        Some(n) if n.as_f64() != 0.0 => Some(n.as_f64().abs() as usize),
        _ => None,
    };
    let n = if filter.is_match_all() && exec.unit.collection(exec.catalog, req.db, coll).is_none() {
        0
    } else {
        matching(exec, req.db, coll, &filter, None)?.len()
    };
    let n = n.saturating_sub(skip).min(limit.unwrap_or(usize::MAX));
    Ok(crate::reply::of(
        req.reply_gets_times,
        [("n", (n as i32).into()), ("ok", 1.0.into())],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_at_unwinds_arrays_and_descends_into_documents() {
        let doc = Bson::Document(doc! {"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}], "x": {"y": 5}});
        let mut out = Vec::new();
        values_at(&doc, "a.b", &mut out);
        assert_eq!(out, vec![Bson::Int32(1), Bson::Int32(2), Bson::Int32(3)]);
        out.clear();
        values_at(&doc, "x.y", &mut out);
        assert_eq!(out, vec![Bson::Int32(5)]);
        out.clear();
        values_at(&doc, "a.1.b", &mut out);
        assert_eq!(out, vec![Bson::Int32(2), Bson::Int32(3)]);
    }
}
