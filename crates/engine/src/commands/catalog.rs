//! Collections, indexes and databases: `create`, `drop`, `dropDatabase`, `createIndexes`,
//! `dropIndexes`, `listCollections`, `listIndexes`, `listDatabases`.

use std::collections::{HashMap, VecDeque};

use bson::{Bson, Document, doc};

use super::read::{DEFAULT_FIRST_BATCH, cursor_reply};
use super::{Exec, check_fields, opt_bool, opt_count, opt_document, wrong_type};
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::query::Filter;
use crate::request::Request;
use crate::storage::{Index, decode};
use crate::unit::{StatementError, StatementResult, duplicate_key_error};

/// `{create: <coll>}`.
pub(crate) fn create(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "create",
        &[
            "capped",
            "size",
            "max",
            "validator",
            "validationLevel",
            "validationAction",
            "viewOn",
            "pipeline",
            "collation",
            "timeseries",
            "clusteredIndex",
            "expireAfterSeconds",
            "storageEngine",
            "indexOptionDefaults",
            "changeStreamPreAndPostImages",
            "autoIndexId",
            "encryptedFields",
            "idIndex",
            "flags",
        ],
    )?;
    let coll = req.collection_name()?;
    for option in req.body.keys().skip(1) {
        if matches!(
            option.as_str(),
            "capped"
                | "size"
                | "max"
                | "validator"
                | "viewOn"
                | "pipeline"
                | "timeseries"
                | "clusteredIndex"
                | "expireAfterSeconds"
                | "encryptedFields"
        ) && !matches!(req.body.get(option), Some(Bson::Boolean(false)))
        {
            return Err(CommandError::bad_value(format!(
                "create option '{option}' is not supported by this engine"
            ))
            .into());
        }
    }
    match exec.catalog.collection(req.db, coll) {
        Some(c) if c.visible_to(Some(exec.unit.id)) => {
            return Err(CommandError::new(
                ErrorCode::NamespaceExists,
                format!("Collection {}.{coll} already exists.", req.db),
            )
            .into());
        }
        Some(c) => {
            return Err(StatementError::Blocked(
                c.created_by.unwrap_or(exec.unit.id),
            ));
        }
        None => {}
    }
    let options: Document = req
        .body
        .iter()
        .skip(1)
        .filter(|(k, _)| !super::GENERIC_ARGUMENTS.contains(&k.as_str()) && !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    exec.unit
        .create_collection(exec.catalog, req.db, coll, options);
    Ok(doc! {"ok": 1.0})
}

/// `{createIndexes: <coll>, indexes: [{key, name, unique}]}`.
pub(crate) fn create_indexes(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "createIndexes",
        &["indexes", "commitQuorum", "ignoreUnknownIndexOptions"],
    )?;
    let coll = req.collection_name()?;
    let specs = match req.body.get("indexes") {
        Some(Bson::Array(specs)) if !specs.is_empty() => specs,
        Some(Bson::Array(_)) => {
            return Err(
                CommandError::bad_value("Must specify at least one index to create").into(),
            );
        }
        Some(other) => return Err(wrong_type("createIndexes", "indexes", other, "array").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'createIndexes.indexes' is missing but a required field",
            )
            .into());
        }
    };
    let mut indexes = Vec::new();
    for spec in specs {
        let Bson::Document(spec) = spec else {
            return Err(wrong_type("createIndexes", "indexes", spec, "object").into());
        };
        indexes.push(Index::from_spec(spec, Some(exec.unit.id))?);
    }
    let created_collection = match exec.catalog.collection(req.db, coll) {
        Some(c) if c.visible_to(Some(exec.unit.id)) => {
            if exec.in_transaction() && c.created_by != Some(exec.unit.id) {
                return Err(CommandError::new(
                    ErrorCode::OperationNotSupportedInTransaction,
                    format!("Cannot create new indexes on existing collection {}.{coll} in a multi-document transaction.", req.db),
                )
                .into());
            }
            false
        }
        Some(c) => {
            return Err(StatementError::Blocked(
                c.created_by.unwrap_or(exec.unit.id),
            ));
        }
        None => {
            exec.unit.ensure_collection(exec.catalog, req.db, coll)?;
            true
        }
    };
    let visible: Vec<Document> = exec
        .unit
        .scan(exec.catalog, req.db, coll)
        .into_iter()
        .map(|(_, bytes)| decode(bytes))
        .collect::<CommandResult<_>>()?;
    let Some(collection) = exec.catalog.collection_mut(req.db, coll) else {
        return Err(CommandError::new(
            ErrorCode::NamespaceNotFound,
            format!("ns does not exist: {}.{coll}", req.db),
        )
        .into());
    };
    let before = collection.indexes.len() as i32 + 1;
    let mut added = Vec::new();
    for index in indexes {
        if index.name == "_id_" || index.spec.get("key") == Some(&Bson::Document(doc! {"_id": 1})) {
            if index.name != "_id_"
                || index.spec.get("key") != Some(&Bson::Document(doc! {"_id": 1}))
            {
                return Err(CommandError::new(
                    ErrorCode::IndexOptionsConflict,
                    "the _id index cannot be redefined",
                )
                .into());
            }
            continue;
        }
        if let Some(existing) = collection.indexes.iter().find(|i| i.name == index.name) {
            if existing.spec == index.spec {
                continue;
            }
            return Err(CommandError::new(
                ErrorCode::IndexKeySpecsConflict,
                format!("An existing index has the same name as the requested index but different options. Requested index: {}, existing index: {}", index.spec, existing.spec),
            )
            .into());
        }
        if let Some(existing) = collection
            .indexes
            .iter()
            .find(|i| i.spec.get("key") == index.spec.get("key"))
        {
            if existing.unique == index.unique {
                return Err(CommandError::new(
                    ErrorCode::IndexOptionsConflict,
                    format!(
                        "Index already exists with a different name: {}",
                        existing.name
                    ),
                )
                .into());
            }
            return Err(CommandError::new(
                ErrorCode::IndexKeySpecsConflict,
                format!(
                    "An existing index has the same key pattern but different options: {}",
                    existing.spec
                ),
            )
            .into());
        }
        if index.unique {
            let mut seen: HashMap<Vec<u8>, ()> = HashMap::new();
            for doc in &visible {
                for key in index.keys_of(doc)? {
                    if seen.insert(key, ()).is_some() {
                        let pattern = match index.spec.get("key") {
                            Some(Bson::Document(k)) => k.clone(),
                            _ => Document::new(),
                        };
                        let value: Document = index
                            .pattern
                            .iter()
                            .map(|(f, _)| {
                                (
                                    f.clone(),
                                    crate::query::path::get_path(doc, f)
                                        .cloned()
                                        .unwrap_or(Bson::Null),
                                )
                            })
                            .collect();
                        return Err(
                            duplicate_key_error(req.db, coll, &index.name, pattern, value).into(),
                        );
                    }
                }
            }
        } else {
            for doc in &visible {
                index.keys_of(doc)?;
            }
        }
        let spec = index.spec.clone();
        collection.add_index(index)?;
        added.push(spec);
    }
    let after = collection.indexes.len() as i32 + 1;
    for spec in added {
        exec.unit.created_index(req.db, coll, spec);
    }
    let mut reply = doc! {"numIndexesBefore": before, "numIndexesAfter": after};
    if before == after {
        reply.insert("note", "all indexes already exist");
    }
    reply.insert("createdCollectionAutomatically", created_collection);
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// `{drop: <coll>}`; dropping a collection that does not exist succeeds, as in `mongod` 7.0.
pub(crate) fn drop(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(&req.body, "drop", &[])?;
    let coll = req.collection_name()?;
    let n = exec.unit.drop_collection(exec.catalog, req.db, coll)?;
    let mut reply = doc! {"ns": format!("{}.{coll}", req.db)};
    if let Some(n) = n {
        reply.insert("nIndexesWas", n as i32);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// `{dropDatabase: 1}`.
pub(crate) fn drop_database(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(&req.body, "dropDatabase", &[])?;
    let names: Vec<String> = exec
        .catalog
        .collections(req.db)
        .map(|(name, _)| name.clone())
        .collect();
    // Check every collection first: a drop cannot be undone if a later one had to wait.
    for name in &names {
        exec.unit.check_droppable(exec.catalog, req.db, name)?;
    }
    for name in names {
        exec.unit.drop_collection(exec.catalog, req.db, &name)?;
    }
    Ok(doc! {"dropped": req.db, "ok": 1.0})
}

/// `{dropIndexes: <coll>, index: name | key pattern | "*" | [names]}`.
pub(crate) fn drop_indexes(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(&req.body, "dropIndexes", &["index"])?;
    let coll = req.collection_name()?;
    let Some(collection) = exec.unit.collection(exec.catalog, req.db, coll) else {
        return Err(CommandError::new(
            ErrorCode::NamespaceNotFound,
            format!("ns not found {}.{coll}", req.db),
        )
        .into());
    };
    let was = collection.indexes.len() as i32 + 1;
    let names: Vec<String> = match req.body.get("index") {
        Some(Bson::String(s)) if s == "*" => {
            collection.indexes.iter().map(|i| i.name.clone()).collect()
        }
        Some(Bson::String(s)) => vec![s.clone()],
        Some(Bson::Array(items)) => items
            .iter()
            .map(|i| match i {
                Bson::String(s) => Ok(s.clone()),
                other => Err(wrong_type("dropIndexes", "index", other, "string")),
            })
            .collect::<CommandResult<_>>()?,
        Some(Bson::Document(key)) => {
            if key == &doc! {"_id": 1} {
                return Err(
                    CommandError::new(ErrorCode::InvalidOptions, "cannot drop _id index").into(),
                );
            }
            match collection
                .indexes
                .iter()
                .find(|i| i.spec.get("key") == Some(&Bson::Document(key.clone())))
            {
                Some(i) => vec![i.name.clone()],
                None => {
                    return Err(CommandError::new(
                        ErrorCode::IndexNotFound,
                        format!("can't find index with key: {key}"),
                    )
                    .into());
                }
            }
        }
        Some(other) => return Err(wrong_type("dropIndexes", "index", other, "string").into()),
        None => {
            return Err(CommandError::with_code(
                40414,
                "BSON field 'dropIndexes.index' is missing but a required field",
            )
            .into());
        }
    };
    for name in &names {
        if name == "_id_" {
            return Err(
                CommandError::new(ErrorCode::InvalidOptions, "cannot drop _id index").into(),
            );
        }
        if collection.index(name).is_none() {
            return Err(CommandError::new(
                ErrorCode::IndexNotFound,
                format!("index not found with name [{name}]"),
            )
            .into());
        }
    }
    for name in names {
        exec.unit.drop_index(exec.catalog, req.db, coll, &name)?;
    }
    Ok(doc! {"nIndexesWas": was, "ok": 1.0})
}

/// `{listCollections: 1, filter, nameOnly}`.
pub(crate) fn list_collections(
    exec: &mut Exec<'_>,
    req: &Request<'_>,
) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "listCollections",
        &[
            "filter",
            "nameOnly",
            "authorizedCollections",
            "cursor",
            "includePendingDrops",
        ],
    )?;
    let filter = Filter::parse(
        opt_document(&req.body, "listCollections", "filter")?.unwrap_or(super::empty_document()),
    )?;
    let name_only = opt_bool(&req.body, "listCollections", "nameOnly")?.unwrap_or(false);
    let batch_size = cursor_batch_size(&req.body, "listCollections")?;
    let mut out = VecDeque::new();
    for (name, collection) in exec.catalog.collections(req.db) {
        if !collection.visible_to(Some(exec.unit.id)) {
            continue;
        }
        let entry = if name_only {
            doc! {"name": name.clone(), "type": "collection"}
        } else {
            doc! {
                "name": name.clone(),
                "type": "collection",
                "options": collection.options.clone(),
                "info": {"readOnly": false, "uuid": collection.uuid},
                "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            }
        };
        if filter.matches(&entry) {
            out.push_back(entry);
        }
    }
    let ns = format!("{}.$cmd.listCollections", req.db);
    Ok(cursor_reply(exec, ns, out, batch_size, false))
}

/// `{listIndexes: <coll>}`.
pub(crate) fn list_indexes(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "listIndexes",
        &["cursor", "includeBuildUUIDs", "includeIndexBuildInfo"],
    )?;
    let coll = req.collection_name()?;
    let batch_size = cursor_batch_size(&req.body, "listIndexes")?;
    let Some(collection) = exec.unit.collection(exec.catalog, req.db, coll) else {
        return Err(CommandError::new(
            ErrorCode::NamespaceNotFound,
            format!("ns does not exist: {}.{coll}", req.db),
        )
        .into());
    };
    let mut out = VecDeque::from([doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}]);
    out.extend(
        collection
            .indexes
            .iter()
            .filter(|i| i.created_by.is_none_or(|t| t == exec.unit.id))
            .map(|i| i.spec.clone()),
    );
    let ns = format!("{}.$cmd.listIndexes.{coll}", req.db);
    Ok(cursor_reply(exec, ns, out, batch_size, false))
}

/// `{listDatabases: 1, nameOnly, filter}`.
pub(crate) fn list_databases(exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    check_fields(
        &req.body,
        "listDatabases",
        &["filter", "nameOnly", "authorizedDatabases"],
    )?;
    let filter = Filter::parse(
        opt_document(&req.body, "listDatabases", "filter")?.unwrap_or(super::empty_document()),
    )?;
    let name_only = opt_bool(&req.body, "listDatabases", "nameOnly")?.unwrap_or(false);
    let mut databases = Vec::new();
    let names: Vec<String> = exec.catalog.database_names().cloned().collect();
    for name in names {
        let visible: Vec<_> = exec
            .catalog
            .collections(&name)
            .filter(|(_, c)| c.visible_to(Some(exec.unit.id)))
            .collect();
        if visible.is_empty() {
            continue;
        }
        let entry = if name_only {
            doc! {"name": name.clone()}
        } else {
            doc! {"name": name.clone(), "sizeOnDisk": 0_i64, "empty": false}
        };
        if filter.matches(&entry) {
            databases.push(entry);
        }
    }
    let mut reply = doc! {"databases": databases};
    if !name_only {
        reply.insert("totalSize", 0_i64);
        reply.insert("totalSizeMb", 0_i64);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// `cursor.batchSize` of a catalog listing.
fn cursor_batch_size(body: &Document, command: &str) -> CommandResult<Option<usize>> {
    match opt_document(body, command, "cursor")? {
        Some(cursor) => {
            Ok(opt_count(cursor, &format!("{command}.cursor"), "batchSize")?.map(|b| b as usize))
        }
        None => Ok(Some(DEFAULT_FIRST_BATCH)),
    }
}
