//! `insert`, `update`, `delete` and `findAndModify`.
//!
//! Statements run in order; a statement that fails becomes a `writeErrors` entry and, if the
//! batch is ordered, stops it. Each statement's writes go through the command's unit, which
//! refuses a write whole, so a failed statement leaves nothing behind.

use std::borrow::Cow;

use bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use smallvec::SmallVec;

use super::plan::Matched;
use super::{
    Exec, bool_value, check_fields, matching, opt_bool, opt_document, sort_documents, wrong_type,
};
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::keystring;
use crate::query::{ApplyOptions, Filter, Projection, SortSpec, Update, update::upsert_seed};
use crate::reply::Reply;
use crate::request::Request;
use crate::unit::{StatementError, StatementResult, duplicate_key_error};

/// The largest document `mongod` stores.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The fields of the write commands besides the generic arguments (the statements' field
/// last).
const INSERT_FIELDS: &[&str] = &["ordered", "bypassDocumentValidation", "let", "documents"];
const UPDATE_FIELDS: &[&str] = &["ordered", "bypassDocumentValidation", "let", "updates"];
const DELETE_FIELDS: &[&str] = &["ordered", "bypassDocumentValidation", "let", "deletes"];

/// `{insert: <coll>, documents: [...], ordered}`.
pub(crate) fn insert(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Reply> {
    check_fields(&req.body, "insert", INSERT_FIELDS)?;
    let coll = req.collection_name()?;
    let docs = statements(&req.body, "insert", "documents")?;
    let ordered = opt_bool(&req.body, "insert", "ordered")?.unwrap_or(true);
    let mut n = 0;
    let mut errors = Vec::new();
    for (index, value) in docs.iter().enumerate() {
        let result = match value {
            Bson::Document(doc) => insert_one(exec, req.db, coll, doc),
            other => {
                Err(wrong_type("insert", &format!("documents.{index}"), other, "object").into())
            }
        };
        match result {
            Ok(()) => n += 1,
            Err(e) => {
                errors.push(statement_failure(exec, index, e)?);
                if ordered {
                    break;
                }
            }
        }
    }
    Ok(write_reply(req.reply_gets_times, n, None, errors))
}

fn insert_one(exec: &mut Exec<'_>, db: &str, coll: &str, doc: &Document) -> StatementResult<()> {
    let (id, bytes) = encode_for_insert(doc)?;
    store_new(exec, db, coll, id, bytes)
}

/// Stores a document that does not exist yet (insert or upsert): its `_id` and encoding.
fn store_new(
    exec: &mut Exec<'_>,
    db: &str,
    coll: &str,
    id: Bson,
    bytes: Box<[u8]>,
) -> StatementResult<()> {
    let key = keystring::key_of(&id);
    exec.unit.ensure_collection(exec.catalog, db, coll)?;
    if exec.unit.get(exec.catalog, db, coll, &key).is_some() {
        return Err(
            duplicate_key_error(db, coll, "_id_", doc! {"_id": 1}, doc! {"_id": id}).into(),
        );
    }
    exec.unit.write(exec.catalog, db, coll, &key, Some(bytes))
}

/// Checks a document for insertion and encodes it with `_id` first, generating an
/// `ObjectId` if it has none; returns the `_id` and the encoding. A document without `_id`
/// is encoded as it is and the `_id` element put in front of its fields, instead of copying
/// every field into a new document.
fn encode_for_insert(doc: &Document) -> CommandResult<(Bson, Box<[u8]>)> {
    if doc.contains_key("_id") {
        let doc = prepare_insert(doc)?;
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        return Ok((id, encode_checked(&doc)?));
    }
    check_field_names(doc)?;
    let id = ObjectId::new();
    // The `_id` element: its type byte, "_id" and its terminating NUL, the twelve bytes.
    const ID_ELEMENT: usize = 1 + 4 + 12;
    let Some(fields_len) = crate::encoding::encoded_len(doc) else {
        // What only `bson` encodes (or refuses): copy the fields after a new `_id`.
        let mut with_id = doc! {"_id": id};
        with_id.extend(doc.clone());
        return Ok((Bson::ObjectId(id), encode_checked(&with_id)?));
    };
    let len = fields_len + ID_ELEMENT;
    let length = check_size(len)?;
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.push(bson::spec::ElementType::ObjectId as u8);
    bytes.extend_from_slice(b"_id\0");
    bytes.extend_from_slice(&id.bytes());
    crate::encoding::write_elements(doc, &mut bytes);
    bytes.push(0);
    debug_assert_eq!(bytes.len(), len);
    Ok((Bson::ObjectId(id), bytes.into_boxed_slice()))
}

/// Checks a document for insertion and puts `_id` first, generating an `ObjectId` if absent.
fn prepare_insert(doc: &Document) -> CommandResult<Cow<'_, Document>> {
    check_field_names(doc)?;
    let id = match doc.get("_id") {
        Some(id) => {
            check_id(id)?;
            if doc.keys().next().is_some_and(|k| k == "_id") {
                return Ok(Cow::Borrowed(doc));
            }
            id.clone()
        }
        None => Bson::ObjectId(ObjectId::new()),
    };
    let mut out = Document::new();
    out.insert("_id", id);
    for (k, v) in doc {
        if k != "_id" {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Cow::Owned(out))
}

fn check_id(id: &Bson) -> CommandResult<()> {
    let what = match id {
        Bson::Array(_) => "an array",
        Bson::RegularExpression(_) => "a regex",
        Bson::Undefined => "undefined",
        Bson::Document(d) if d.keys().any(|k| k.starts_with('$')) => {
            return Err(CommandError::new(
                ErrorCode::DollarPrefixedFieldName,
                "_id fields may not contain '$'-prefixed fields",
            ));
        }
        _ => return Ok(()),
    };
    Err(CommandError::new(
        ErrorCode::InvalidIdField,
        format!("can't use {what} for _id"),
    ))
}

/// Serializes a document, refusing one over 16 MiB.
/// Refuses top-level field names a stored document may not have.
fn check_field_names(doc: &Document) -> CommandResult<()> {
    match doc.keys().find(|key| key.starts_with('$')) {
        Some(key) => Err(CommandError::bad_value(format!(
            "Document can't have $ prefixed field names: {key}"
        ))),
        None => Ok(()),
    }
}

/// `doc` encoded, in a buffer of its exact size when the engine's own encoder can write it.
fn encode(doc: &Document) -> CommandResult<Vec<u8>> {
    if let Some(bytes) = crate::encoding::encode(doc) {
        return Ok(bytes);
    }
    doc.to_vec()
        .map_err(|e| CommandError::bad_value(format!("document cannot be encoded as BSON: {e}")))
}

/// Refuses a document of `len` bytes if it is over the limit; its length field otherwise.
fn check_size(len: usize) -> CommandResult<i32> {
    match i32::try_from(len) {
        Ok(length) if len <= MAX_DOCUMENT_BYTES => Ok(length),
        _ => Err(CommandError::new(
            ErrorCode::BSONObjectTooLarge,
            format!(
                "object to insert too large. size in bytes: {len}, max size: {MAX_DOCUMENT_BYTES}"
            ),
        )),
    }
}

fn encode_checked(doc: &Document) -> CommandResult<Box<[u8]>> {
    let bytes = encode(doc)?;
    check_size(bytes.len())?;
    // Kept only at the exact size. `bson`'s buffer (for what only it encodes) is copied out
    // rather than shrunk in place: shrinking leaves a small free fragment beside every stored
    // document that nothing reuses (about 30 bytes per 100-byte document).
    Ok(if bytes.capacity() == bytes.len() {
        bytes.into_boxed_slice()
    } else {
        Box::from(bytes.as_slice())
    })
}

/// One update statement, parsed.
struct UpdateStatement {
    filter: Filter,
    update: Update,
    upsert: bool,
    multi: bool,
}

/// The fields of one update statement, found in one pass and checked for shape, as
/// `mongod`'s command parser does before anything runs: a malformed statement fails the
/// whole command.
struct StatementFields<'a> {
    q: &'a Document,
    u: &'a Bson,
    upsert: bool,
    multi: bool,
    array_filters: &'a [Bson],
}

impl<'a> StatementFields<'a> {
    fn check(statement: &'a Bson, index: usize) -> CommandResult<StatementFields<'a>> {
        const CONTEXT: &str = "update.updates";
        let Bson::Document(statement) = statement else {
            return Err(wrong_type(
                "update",
                &format!("updates.{index}"),
                statement,
                "object",
            ));
        };
        let (mut q, mut u, mut upsert, mut multi) = (None, None, None, None);
        let (mut array_filters, mut collation) = (None, None);
        for (key, value) in statement {
            let slot = match key.as_str() {
                "q" => &mut q,
                "u" => &mut u,
                "upsert" => &mut upsert,
                "multi" => &mut multi,
                "arrayFilters" => &mut array_filters,
                "collation" => &mut collation,
                "hint" | "c" | "sort" => continue,
                _ => {
                    return Err(CommandError::with_code(
                        40415,
                        format!("BSON field 'update.updates.{key}' is an unknown field."),
                    ));
                }
            };
            *slot = Some(value);
        }
        let q = match q {
            Some(Bson::Document(q)) => q,
            Some(other) => return Err(wrong_type(CONTEXT, "q", other, "object")),
            None => {
                return Err(CommandError::with_code(
                    40414,
                    "BSON field 'update.updates.q' is missing but a required field",
                ));
            }
        };
        let Some(u) = u else {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'update.updates.u' is missing but a required field",
            ));
        };
        let upsert = bool_value(upsert, CONTEXT, "upsert")?.unwrap_or(false);
        let multi = bool_value(multi, CONTEXT, "multi")?.unwrap_or(false);
        let array_filters = array_filters_value(array_filters, CONTEXT)?;
        check_collation(collation, CONTEXT)?;
        Ok(StatementFields {
            q,
            u,
            upsert,
            multi,
            array_filters,
        })
    }
}

impl UpdateStatement {
    /// Parses a statement whose shape was checked; errors here are the statement's own.
    fn parse(fields: &StatementFields<'_>) -> CommandResult<UpdateStatement> {
        let filter = Filter::parse(fields.q)?;
        let update = Update::parse_with_array_filters(fields.u, fields.array_filters)?;
        if fields.multi && update.is_replacement() {
            return Err(CommandError::failed_to_parse(
                "multi update is not supported for replacement-style update",
            ));
        }
        Ok(UpdateStatement {
            filter,
            update,
            upsert: fields.upsert,
            multi: fields.multi,
        })
    }
}

/// Refuses statement options this engine does not implement instead of ignoring them.
fn unsupported_options(statement: &Document, context: &str) -> CommandResult<()> {
    check_collation(statement.get("collation"), context)
}

/// Refuses any collation but the simple one.
fn check_collation(collation: Option<&Bson>, context: &str) -> CommandResult<()> {
    if let Some(Bson::Document(collation)) = collation
        && !(collation.len() == 1 && collation.get_str("locale").ok() == Some("simple"))
    {
        return Err(CommandError::bad_value(format!(
            "{context}.collation: only the simple collation is supported by this engine"
        )));
    }
    Ok(())
}

/// The `arrayFilters` of an update statement or a `findAndModify` (none when absent).
fn array_filters<'a>(statement: &'a Document, context: &str) -> CommandResult<&'a [Bson]> {
    array_filters_value(statement.get("arrayFilters"), context)
}

fn array_filters_value<'a>(value: Option<&'a Bson>, context: &str) -> CommandResult<&'a [Bson]> {
    match value {
        None => Ok(&[]),
        Some(Bson::Array(filters)) => Ok(filters),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field '{context}.arrayFilters' is the wrong type '{}', expected type 'array'",
            crate::compare::type_name(other)
        ))),
    }
}

/// What one update statement did.
#[derive(Default)]
struct UpdateCounts {
    matched: i64,
    modified: i64,
    upserted: Option<Bson>,
}

/// `{update: <coll>, updates: [{q, u, upsert, multi}], ordered}`.
pub(crate) fn update(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Reply> {
    check_fields(&req.body, "update", UPDATE_FIELDS)?;
    let coll = req.collection_name()?;
    let statements = statements(&req.body, "update", "updates")?;
    let ordered = opt_bool(&req.body, "update", "ordered")?.unwrap_or(true);
    let (mut n, mut modified) = (0, 0);
    let mut upserted = Vec::new();
    let mut errors = Vec::new();
    let checked = statements
        .iter()
        .enumerate()
        .map(|(index, statement)| StatementFields::check(statement, index))
        // Inline for the usual single statement.
        .collect::<CommandResult<SmallVec<[_; 1]>>>()?;
    for (index, fields) in checked.iter().enumerate() {
        let result = UpdateStatement::parse(fields)
            .map_err(StatementError::from)
            .and_then(|s| update_one_statement(exec, req.db, coll, &s));
        match result {
            Ok(counts) => {
                n += counts.matched;
                modified += counts.modified;
                if let Some(id) = counts.upserted {
                    n += 1;
                    upserted.push(Bson::Document(doc! {"index": index as i32, "_id": id}));
                }
            }
            Err(e) => {
                errors.push(statement_failure(exec, index, e)?);
                if ordered {
                    break;
                }
            }
        }
    }
    Ok(write_reply(
        req.reply_gets_times,
        n as i32,
        Some((modified as i32, upserted)),
        errors,
    ))
}

fn update_one_statement(
    exec: &mut Exec<'_>,
    db: &str,
    coll: &str,
    s: &UpdateStatement,
) -> StatementResult<UpdateCounts> {
    let limit = if s.multi { None } else { Some(1) };
    let found = matching(exec, db, coll, &s.filter, limit)?;
    let mut counts = UpdateCounts::default();
    if found.is_empty() {
        if s.upsert {
            let doc = upsert_document(&s.filter, &s.update)?;
            let (id, bytes) = encode_for_insert(&doc)?;
            counts.upserted = Some(id.clone());
            store_new(exec, db, coll, id, bytes)?;
        }
        return Ok(counts);
    }
    // Reading the clock costs a system call on some machines: only `$currentDate` needs it.
    let now = if s.update.uses_current_date() {
        DateTime::now()
    } else {
        DateTime::MIN
    };
    for Matched { id, doc } in found {
        counts.matched += 1;
        let options = ApplyOptions {
            is_insert: false,
            now,
            position: position_for(&s.update, &s.filter, &doc),
        };
        if let Some(doc) = s.update.apply_owned(doc, &options)? {
            let bytes = encode_checked(&doc)?;
            exec.unit.write(exec.catalog, db, coll, &id, Some(bytes))?;
            counts.modified += 1;
        }
    }
    Ok(counts)
}

/// The array position the query matched in `doc`, when the update needs it for `$`.
fn position_for(update: &Update, filter: &Filter, doc: &Document) -> Option<usize> {
    if update.uses_position() {
        filter.matched_position(doc)
    } else {
        None
    }
}

/// The document an upsert inserts: the filter's equality fields, then the update applied as
/// an insert (or the replacement, keeping the filter's `_id`).
fn upsert_document(filter: &Filter, update: &Update) -> CommandResult<Document> {
    let equalities: Vec<(&str, &Bson)> = filter
        .equalities()
        .into_iter()
        .filter(|(_, v)| !matches!(v, Bson::Document(d) if d.keys().any(|k| k.starts_with('$'))))
        .collect();
    let mut doc = if update.is_replacement() {
        let mut seed = Document::new();
        if let Some((_, id)) = equalities.iter().find(|(p, _)| *p == "_id") {
            seed.insert("_id", (*id).clone());
        }
        seed
    } else {
        upsert_seed(&equalities)?
    };
    update.apply(
        &mut doc,
        &ApplyOptions {
            is_insert: true,
            now: DateTime::now(),
            // An inserted document matched no array.
            position: None,
        },
    )?;
    prepare_insert(&doc).map(Cow::into_owned)
}

/// `{delete: <coll>, deletes: [{q, limit}], ordered}`.
pub(crate) fn delete(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Reply> {
    check_fields(&req.body, "delete", DELETE_FIELDS)?;
    let coll = req.collection_name()?;
    let statements = statements(&req.body, "delete", "deletes")?;
    let ordered = opt_bool(&req.body, "delete", "ordered")?.unwrap_or(true);
    let mut n = 0;
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(statements.len());
    for (index, statement) in statements.iter().enumerate() {
        parsed.push(delete_shape(statement, index)?);
    }
    for (index, (filter, limit)) in parsed.into_iter().enumerate() {
        let result = Filter::parse(filter)
            .map_err(StatementError::from)
            .and_then(|filter| delete_statement(exec, req.db, coll, &filter, limit));
        match result {
            Ok(count) => n += count,
            Err(e) => {
                errors.push(statement_failure(exec, index, e)?);
                if ordered {
                    break;
                }
            }
        }
    }
    Ok(write_reply(req.reply_gets_times, n, None, errors))
}

/// Checks the shape of a delete statement; returns its filter document and limit.
fn delete_shape(statement: &Bson, index: usize) -> CommandResult<(&Document, Option<usize>)> {
    let Bson::Document(statement) = statement else {
        return Err(wrong_type(
            "delete",
            &format!("deletes.{index}"),
            statement,
            "object",
        ));
    };
    for key in statement.keys() {
        if !matches!(key.as_str(), "q" | "limit" | "hint" | "collation") {
            return Err(CommandError::with_code(
                40415,
                format!("BSON field 'delete.deletes.{key}' is an unknown field."),
            ));
        }
    }
    unsupported_options(statement, "delete.deletes")?;
    let filter = match statement.get("q") {
        Some(Bson::Document(q)) => q,
        Some(other) => return Err(wrong_type("delete.deletes", "q", other, "object")),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'delete.deletes.q' is missing but a required field",
            ));
        }
    };
    let limit = match statement
        .get("limit")
        .and_then(crate::compare::Number::from_bson)
        .map(|n| n.as_f64())
    {
        Some(0.0) => None,
        Some(1.0) => Some(1),
        Some(_) => {
            return Err(CommandError::failed_to_parse(
                "The limit field in delete objects must be 0 or 1.",
            ));
        }
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'delete.deletes.limit' is missing but a required field",
            ));
        }
    };
    Ok((filter, limit))
}

fn delete_statement(
    exec: &mut Exec<'_>,
    db: &str,
    coll: &str,
    filter: &Filter,
    limit: Option<usize>,
) -> StatementResult<i32> {
    let found = matching(exec, db, coll, filter, limit)?;
    let mut n = 0;
    for Matched { id, .. } in found {
        exec.unit.write(exec.catalog, db, coll, &id, None)?;
        n += 1;
    }
    Ok(n)
}

/// `{findAndModify: <coll>, query, sort, remove | update, new, fields, upsert}`.
pub(crate) fn find_and_modify(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    let body = &req.body;
    const CMD: &str = "findAndModify";
    check_fields(
        body,
        CMD,
        &[
            "query",
            "sort",
            "remove",
            "update",
            "new",
            "fields",
            "upsert",
            "bypassDocumentValidation",
            "arrayFilters",
            "hint",
            "collation",
            "let",
        ],
    )?;
    unsupported_options(body, CMD)?;
    let coll = req.collection_name()?;
    let filter =
        Filter::parse(opt_document(body, CMD, "query")?.unwrap_or(super::empty_document()))?;
    let sort = opt_document(body, CMD, "sort")?
        .map(SortSpec::parse)
        .transpose()?;
    let fields = opt_document(body, CMD, "fields")?
        .map(Projection::parse)
        .transpose()?;
    let remove = opt_bool(body, CMD, "remove")?.unwrap_or(false);
    let return_new = opt_bool(body, CMD, "new")?.unwrap_or(false);
    let upsert = opt_bool(body, CMD, "upsert")?.unwrap_or(false);
    let filters = array_filters(body, CMD)?;
    if remove && body.contains_key("arrayFilters") {
        return Err(
            CommandError::failed_to_parse("Cannot specify arrayFilters and remove=true").into(),
        );
    }
    let update = body
        .get("update")
        .map(|u| Update::parse_with_array_filters(u, filters))
        .transpose()?;
    match (&update, remove) {
        (Some(_), true) => return Err(CommandError::failed_to_parse("Cannot specify both an update and remove=true").into()),
        (None, false) => return Err(CommandError::failed_to_parse("Either an update or remove=true must be specified").into()),
        (None, true) if upsert => return Err(CommandError::failed_to_parse("Cannot specify both upsert=true and remove=true").into()),
        (None, true) if return_new => return Err(CommandError::failed_to_parse("Cannot specify both new=true and remove=true; 'remove' always returns the deleted document").into()),
        _ => {}
    }
    let target = match &sort {
        Some(sort) => {
            let all = matching(exec, req.db, coll, &filter, None)?;
            sort_documents(sort, all.into_vec(), |m| &m.doc)?
                .into_iter()
                .next()
        }
        None => matching(exec, req.db, coll, &filter, Some(1))?
            .into_iter()
            .next(),
    };
    // A positional projection keeps the element the query matched in the document as found.
    let positional = fields.as_ref().is_some_and(Projection::is_positional);
    let position_in = |found: &Document| {
        if positional {
            filter.matched_position(found)
        } else {
            None
        }
    };
    let project = |doc: Document, position: Option<usize>| -> CommandResult<Bson> {
        Ok(Bson::Document(match &fields {
            Some(p) if positional => p.apply_at(&doc, position)?,
            Some(p) => p.apply(&doc),
            None => doc,
        }))
    };
    let (last_error, value) = match (target, update) {
        (Some(Matched { id, doc }), None) => {
            let position = position_in(&doc);
            let value = project(doc, position)?;
            exec.unit.write(exec.catalog, req.db, coll, &id, None)?;
            (doc! {"n": 1}, value)
        }
        (Some(Matched { id, doc }), Some(update)) => {
            let position = position_in(&doc);
            let mut new_doc = doc.clone();
            if update.apply(
                &mut new_doc,
                &ApplyOptions {
                    is_insert: false,
                    now: DateTime::now(),
                    position: position_for(&update, &filter, &doc),
                },
            )? {
                let bytes = encode_checked(&new_doc)?;
                exec.unit
                    .write(exec.catalog, req.db, coll, &id, Some(bytes))?;
            }
            let shown = if return_new { new_doc } else { doc };
            (
                doc! {"n": 1, "updatedExisting": true},
                project(shown, position)?,
            )
        }
        (None, Some(update)) if upsert => {
            let doc = upsert_document(&filter, &update)?;
            let (id, bytes) = encode_for_insert(&doc)?;
            store_new(exec, req.db, coll, id.clone(), bytes)?;
            let value = if return_new {
                project(doc, None)?
            } else {
                Bson::Null
            };
            (
                doc! {"n": 1, "updatedExisting": false, "upserted": id},
                value,
            )
        }
        (None, Some(_)) => (doc! {"n": 0, "updatedExisting": false}, Bson::Null),
        (None, None) => (doc! {"n": 0}, Bson::Null),
    };
    Ok(crate::reply::of(
        req.reply_gets_times,
        [
            ("lastErrorObject", last_error.into()),
            ("value", value),
            ("ok", 1.0.into()),
        ],
    ))
}

/// The statements array of a write command (non-empty, at most 100,000).
fn statements<'d>(body: &'d Document, command: &str, field: &str) -> CommandResult<&'d Vec<Bson>> {
    match body.get(field) {
        Some(Bson::Array(items)) if !items.is_empty() && items.len() <= 100_000 => Ok(items),
        Some(Bson::Array(items)) => Err(CommandError::new(
            ErrorCode::InvalidLength,
            format!(
                "Write batch sizes must be between 1 and 100000. Got {} operations.",
                items.len()
            ),
        )),
        Some(other) => Err(wrong_type(command, field, other, "array")),
        None => Err(CommandError::with_code(
            40414,
            format!("BSON field '{command}.{field}' is missing but a required field"),
        )),
    }
}

/// Turns a failed statement into a `writeErrors` entry, or passes the failure on: a blocked
/// statement waits or conflicts, and inside a transaction an error that makes the transaction
/// retryable (a write conflict) fails the whole command, as in `mongod`.
fn statement_failure(exec: &Exec<'_>, index: usize, e: StatementError) -> StatementResult<Bson> {
    match e {
        StatementError::Failed(e)
            if exec.in_transaction()
                && ErrorCode::is_transient_transaction_error(e.code, false, false) =>
        {
            Err(StatementError::Failed(e))
        }
        StatementError::Failed(e) => Ok(write_error(index, &e)),
        blocked @ StatementError::Blocked(_) => Err(blocked),
    }
}

/// A `writeErrors` entry.
fn write_error(index: usize, e: &CommandError) -> Bson {
    let mut entry = doc! {"index": index as i32, "code": e.code, "codeName": e.code_name.clone(), "errmsg": e.message.clone()};
    for (k, v) in e.extra.iter().flat_map(|x| x.iter()) {
        entry.insert(k.clone(), v.clone());
    }
    Bson::Document(entry)
}

/// A write command's reply, in `mongod`'s order: `n`, an update's `nModified` and
/// `upserted` (when there are any), `writeErrors` (when there are any), `ok`.
/// A write's reply: `{n, nModified (updates), upserted, writeErrors, ok}`, the last three
/// only when they are not empty — kept as values when none of them is there.
fn write_reply(room: bool, n: i32, update: Option<(i32, Vec<Bson>)>, errors: Vec<Bson>) -> Reply {
    let modified = update.as_ref().map(|(modified, _)| *modified);
    let upserts = update
        .as_ref()
        .is_some_and(|(_, upserted)| !upserted.is_empty());
    if !upserts && errors.is_empty() {
        return Reply::Written { n, modified };
    }
    let mut reply = crate::reply::document(room);
    reply.insert("n", n);
    if let Some((modified, upserted)) = update {
        reply.insert("nModified", modified);
        if !upserted.is_empty() {
            reply.insert("upserted", upserted);
        }
    }
    if !errors.is_empty() {
        reply.insert("writeErrors", errors);
    }
    reply.insert("ok", 1.0);
    Reply::Document(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(doc: &Document) -> (Bson, Document) {
        let (id, bytes) = encode_for_insert(doc).expect("insertable");
        (id, crate::storage::decode(&bytes).expect("valid BSON"))
    }

    #[test]
    fn a_document_without_an_id_is_stored_with_a_new_object_id_first() {
        let (id, doc) = stored(&doc! {"sku": "abc123", "qty": 100, "tags": ["a", {"b": 1}]});
        assert!(matches!(id, Bson::ObjectId(_)));
        let mut expected = doc! {"_id": id};
        expected.extend(doc! {"sku": "abc123", "qty": 100, "tags": ["a", {"b": 1}]});
        assert_eq!(doc, expected);
        assert_eq!(doc.keys().next().map(String::as_str), Some("_id"));
    }

    #[test]
    fn an_id_is_kept_and_moved_first() {
        assert_eq!(
            stored(&doc! {"_id": 7, "a": 1}),
            (Bson::Int32(7), doc! {"_id": 7, "a": 1})
        );
        assert_eq!(
            stored(&doc! {"a": 1, "_id": 7}),
            (Bson::Int32(7), doc! {"_id": 7, "a": 1})
        );
        assert_eq!(stored(&doc! {}).1.len(), 1);
    }

    #[test]
    fn bad_documents_are_refused_with_or_without_an_id() {
        for doc in [doc! {"$set": 1}, doc! {"_id": 1, "$set": 1}] {
            let e = encode_for_insert(&doc).expect_err("a $-prefixed field");
            assert_eq!(e.code, 2, "BadValue: {e}");
        }
        let big = "x".repeat(MAX_DOCUMENT_BYTES);
        for doc in [doc! {"big": big.clone()}, doc! {"_id": 1, "big": big}] {
            let e = encode_for_insert(&doc).expect_err("too large");
            assert_eq!(e.code, 10334, "BSONObjectTooLarge: {e}");
        }
    }
}
