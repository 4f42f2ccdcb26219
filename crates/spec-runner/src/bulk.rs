//! `bulkWrite`. causeway has no bulk write API, so the runner sends what a driver's bulk
//! write sends: consecutive requests of one kind batched into one `insert`, `update` or
//! `delete` command, in order. Each batch goes through the causeway operation that sends
//! exactly that command — `insert_many` for an insert batch, `update_one`/`update_many`/
//! `replace_one`/`delete_one`/`delete_many` for a batch of one statement — so the session
//! rules of writes (`txnNumber`, `afterClusterTime`, write concern) apply as in any write.
//! An update or delete batch of several statements has no causeway operation; it is sent with
//! `run_command` (in the session or transaction), with the collection's write concern added
//! outside a transaction but, being a raw command, without retryable-write `txnNumber` or
//! causal `afterClusterTime`. Running each request as its own operation instead would send one
//! command per request, which the tests' expected events (one `update` with two statements)
//! reject for a reason that is not a causeway bug.

use bson::{Bson, Document, doc, oid::ObjectId};

use crate::entities::CollectionEntity;
use crate::expect::{Outcome, Shape};
use crate::operations::{Failure, Sess, on_collection, run_command_in};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    Update,
    Delete,
}

/// One request turned into its command statement.
struct Statement {
    kind: Kind,
    /// The position of the request in the bulk.
    index: usize,
    body: Document,
    /// The `_id` of an inserted document.
    inserted_id: Option<Bson>,
}

#[derive(Default)]
struct Totals {
    inserted: i64,
    matched: i64,
    modified: i64,
    deleted: i64,
    upserted: i64,
    inserted_ids: Document,
    upserted_ids: Document,
}

/// Runs the bulk write and returns its `BulkWriteResult` as a document.
pub async fn run(
    sess: &mut Sess<'_>,
    entity: &CollectionEntity,
    requests: &[Bson],
    ordered: bool,
) -> Result<Outcome, Failure> {
    let statements = requests
        .iter()
        .enumerate()
        .map(|(i, r)| statement(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut totals = Totals::default();
    let mut first_error = None;
    let mut start = 0;
    while start < statements.len() {
        let kind = statements[start].kind;
        let end = statements[start..]
            .iter()
            .position(|s| s.kind != kind)
            .map_or(statements.len(), |n| start + n);
        let batch = &statements[start..end];
        match send(sess, entity, batch, ordered).await {
            Ok(reply) => add(&mut totals, batch, &reply),
            Err(error) => {
                if ordered {
                    return Ok(Outcome::Error(error));
                }
                first_error.get_or_insert(error);
            }
        }
        start = end;
    }
    if let Some(error) = first_error {
        return Ok(Outcome::Error(error));
    }
    Ok(Outcome::Value(
        Some(Bson::Document(doc! {
            "deletedCount": totals.deleted,
            "insertedCount": totals.inserted,
            "insertedIds": totals.inserted_ids,
            "matchedCount": totals.matched,
            "modifiedCount": totals.modified,
            "upsertedCount": totals.upserted,
            "upsertedIds": totals.upserted_ids,
        })),
        Shape::Root,
    ))
}

/// Sends one batch; returns the counts in the shape of the command's reply (`n`,
/// `nModified`, `upserted`).
async fn send(
    sess: &mut Sess<'_>,
    entity: &CollectionEntity,
    batch: &[Statement],
    ordered: bool,
) -> Result<Document, causeway::Error> {
    let coll = &entity.collection;
    let kind = batch[0].kind;
    if kind == Kind::Insert {
        let documents: Vec<Document> = batch.iter().map(|s| s.body.clone()).collect();
        let n = documents.len() as i64;
        on_collection!(sess, coll, insert_many(documents))
            .ordered(ordered)
            .await?;
        return Ok(doc! {"n": n});
    }
    if let [single] = batch
        && let Some(reply) = send_single(sess, coll, single).await
    {
        return reply;
    }
    let bodies: Vec<Bson> = batch
        .iter()
        .map(|s| Bson::Document(s.body.clone()))
        .collect();
    let mut command = match kind {
        Kind::Update => doc! {"update": coll.name(), "updates": bodies},
        _ => doc! {"delete": coll.name(), "deletes": bodies},
    };
    command.insert("ordered", ordered);
    if let Some(wc) = coll
        .options()
        .write_concern
        .as_ref()
        .and_then(causeway::options::WriteConcern::to_document)
        && !sess.in_transaction()
    {
        command.insert("writeConcern", wc);
    }
    run_command_in(sess, &entity.database, command, None).await
}

/// Sends a one-statement update or delete batch through its causeway operation; `None` if
/// the statement uses what the operation cannot express (pipelines, collation, arrayFilters).
async fn send_single(
    sess: &mut Sess<'_>,
    coll: &causeway::Collection<Document>,
    statement: &Statement,
) -> Option<Result<Document, causeway::Error>> {
    let body = &statement.body;
    let known = ["q", "u", "multi", "upsert", "hint", "limit"];
    if body.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    let filter = body.get_document("q").ok()?.clone();
    let hint = body.get("hint").cloned();
    if statement.kind == Kind::Delete {
        let many = body.get_i32("limit").ok()? == 0;
        let mut action = if many {
            on_collection!(sess, coll, delete_many(filter))
        } else {
            on_collection!(sess, coll, delete_one(filter))
        };
        if let Some(hint) = hint {
            action = action.hint(hint);
        }
        return Some(action.await.map(|r| doc! {"n": r.deleted_count as i64}));
    }
    let update = body.get_document("u").ok()?.clone();
    let upsert = body.get_bool("upsert").unwrap_or(false);
    let multi = body.get_bool("multi").unwrap_or(false);
    let result = if update.keys().next().is_some_and(|k| k.starts_with('$')) {
        let mut action = if multi {
            on_collection!(sess, coll, update_many(filter, update))
        } else {
            on_collection!(sess, coll, update_one(filter, update))
        };
        action = action.upsert(upsert);
        if let Some(hint) = hint {
            action = action.hint(hint);
        }
        action.await
    } else {
        let mut action = on_collection!(sess, coll, replace_one(filter, update)).upsert(upsert);
        if let Some(hint) = hint {
            action = action.hint(hint);
        }
        action.await
    };
    Some(result.map(|r| {
        let mut reply = doc! {
            "n": (r.matched_count + u64::from(r.upserted_id.is_some())) as i64,
            "nModified": r.modified_count as i64,
        };
        if let Some(id) = r.upserted_id {
            reply.insert(
                "upserted",
                vec![Bson::Document(doc! {"index": 0, "_id": id})],
            );
        }
        reply
    }))
}

fn count(reply: &Document, field: &str) -> i64 {
    match reply.get(field) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

fn add(totals: &mut Totals, batch: &[Statement], reply: &Document) {
    let n = count(reply, "n");
    match batch[0].kind {
        Kind::Insert => {
            totals.inserted += n;
            for s in batch {
                if let Some(id) = &s.inserted_id {
                    totals.inserted_ids.insert(s.index.to_string(), id.clone());
                }
            }
        }
        Kind::Update => {
            let upserted = reply.get_array("upserted").cloned().unwrap_or_default();
            totals.matched += n - upserted.len() as i64;
            totals.modified += count(reply, "nModified");
            totals.upserted += upserted.len() as i64;
            for entry in upserted.iter().filter_map(Bson::as_document) {
                let position = count(entry, "index");
                let index = usize::try_from(position)
                    .ok()
                    .and_then(|p| batch.get(p))
                    .map_or(position as usize, |s| s.index);
                if let Some(id) = entry.get("_id") {
                    totals.upserted_ids.insert(index.to_string(), id.clone());
                }
            }
        }
        Kind::Delete => totals.deleted += n,
    }
}

fn statement(index: usize, request: &Bson) -> Result<Statement, Failure> {
    let Some((name, spec)) = request
        .as_document()
        .filter(|d| d.len() == 1)
        .and_then(|d| d.iter().next())
    else {
        return Err(format!(
            "bulkWrite request {index} must be a one-key document"
        ));
    };
    let Bson::Document(spec) = spec else {
        return Err(format!(
            "bulkWrite request {index} ({name}) must be a document"
        ));
    };
    let field = |key: &str| {
        spec.get(key)
            .cloned()
            .ok_or_else(|| format!("bulkWrite request {index} ({name}) needs `{key}`"))
    };
    let known = |keys: &[&str]| match spec.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "bulkWrite request {index} ({name}): unsupported argument `{k}`"
        )),
        None => Ok(()),
    };
    let update = |multi: bool, replacement: bool| -> Result<Statement, Failure> {
        let mut body = doc! {"q": field("filter")?};
        body.insert(
            "u",
            field(if replacement { "replacement" } else { "update" })?,
        );
        if multi {
            body.insert("multi", true);
        }
        for key in ["upsert", "hint", "collation", "arrayFilters"] {
            if let Some(value) = spec.get(key) {
                body.insert(key, value.clone());
            }
        }
        Ok(Statement {
            kind: Kind::Update,
            index,
            body,
            inserted_id: None,
        })
    };
    let delete = |limit: i32| -> Result<Statement, Failure> {
        let mut body = doc! {"q": field("filter")?, "limit": limit};
        for key in ["hint", "collation"] {
            if let Some(value) = spec.get(key) {
                body.insert(key, value.clone());
            }
        }
        Ok(Statement {
            kind: Kind::Delete,
            index,
            body,
            inserted_id: None,
        })
    };
    match name.as_str() {
        "insertOne" => {
            known(&["document"])?;
            let Bson::Document(mut document) = field("document")? else {
                return Err(format!(
                    "bulkWrite request {index}: document must be a document"
                ));
            };
            let id = match document.get("_id") {
                Some(id) => id.clone(),
                None => {
                    let id = Bson::ObjectId(ObjectId::new());
                    let mut with_id = doc! {"_id": id.clone()};
                    with_id.extend(document);
                    document = with_id;
                    id
                }
            };
            Ok(Statement {
                kind: Kind::Insert,
                index,
                body: document,
                inserted_id: Some(id),
            })
        }
        "updateOne" | "updateMany" => {
            known(&[
                "filter",
                "update",
                "upsert",
                "hint",
                "collation",
                "arrayFilters",
            ])?;
            update(name == "updateMany", false)
        }
        "replaceOne" => {
            known(&["filter", "replacement", "upsert", "hint", "collation"])?;
            update(false, true)
        }
        "deleteOne" => {
            known(&["filter", "hint", "collation"])?;
            delete(1)
        }
        "deleteMany" => {
            known(&["filter", "hint", "collation"])?;
            delete(0)
        }
        other => Err(format!("unsupported bulkWrite request `{other}`")),
    }
}
