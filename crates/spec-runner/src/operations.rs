//! Entity operations: each test operation mapped onto the causeway API, run in the session
//! the test names (or, inside a `withTransaction` callback, through the transaction handle),
//! with its result turned into a document for `expectResult`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use causeway::action::{IndexModel, ReturnDocument};
use causeway::{ClientSession, Txn};
use futures_util::TryStreamExt;

use crate::bulk;
use crate::entities::{self, Entities, SessionEntity};
use crate::expect::{self, Outcome, Shape};
use crate::special;

/// Why a test failed (an assertion, an unsupported feature, a malformed test).
pub type Failure = String;

/// A future of an operation, boxed so operations can nest (`withTransaction`).
pub type OpFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<causeway::Error>, Failure>> + Send + 'a>>;

/// What operations run with: the entity map and, inside a `withTransaction` callback, the
/// session that runs it and its transaction handle.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub entities: &'a Entities,
    pub txn: Option<(&'a str, &'a Txn)>,
}

/// Runs one operation and checks its expectations. Returns the error the operation raised
/// (when one was expected or ignored), which a `withTransaction` callback passes on.
pub fn run_operation<'a>(scope: Scope<'a>, op: &'a Document) -> OpFuture<'a> {
    Box::pin(async move {
        let name = op
            .get_str("name")
            .map_err(|_| "an operation without a `name`".to_owned())?;
        let object = op
            .get_str("object")
            .map_err(|_| format!("operation `{name}` without an `object`"))?;
        let empty = Document::new();
        let args = match op.get("arguments") {
            None => &empty,
            Some(Bson::Document(d)) => d,
            Some(_) => return Err(format!("`{name}`: arguments must be a document")),
        };
        if object == "testRunner" {
            special::run(scope, name, args).await?;
            return Ok(None);
        }
        let outcome = entity_operation(scope, object, name, args).await?;
        expect::check(scope.entities, op, outcome)
    })
}

async fn entity_operation(
    scope: Scope<'_>,
    object: &str,
    name: &str,
    args: &Document,
) -> Result<Outcome, Failure> {
    match scope.entities.entity(object)? {
        entities::Entity::Collection(coll) => collection_operation(scope, &coll, name, args).await,
        entities::Entity::Database(db) => database_operation(scope, &db, name, args).await,
        entities::Entity::Session(session) => {
            session_operation(scope, object, &session, name, args).await
        }
        entities::Entity::Client(client) => {
            client_operation(scope, &client.client, name, args).await
        }
        entities::Entity::Value(_) => Err(format!(
            "`{object}` is a saved value; it has no operation `{name}`"
        )),
    }
}

/// Refuses arguments the operation does not know (the format requires it).
pub fn check_args(args: &Document, name: &str, known: &[&str]) -> Result<(), Failure> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("`{name}`: unsupported argument `{k}`")),
        None => Ok(()),
    }
}

pub fn doc_arg<'d>(args: &'d Document, key: &str, op: &str) -> Result<&'d Document, Failure> {
    args.get_document(key)
        .map_err(|_| format!("`{op}` needs a document `{key}`"))
}

pub fn str_arg<'d>(args: &'d Document, key: &str, op: &str) -> Result<&'d str, Failure> {
    args.get_str(key)
        .map_err(|_| format!("`{op}` needs a string `{key}`"))
}

fn u64_arg(args: &Document, key: &str, op: &str) -> Result<Option<u64>, Failure> {
    let value = match args.get(key) {
        None => return Ok(None),
        Some(Bson::Int32(n)) => u64::try_from(*n).ok(),
        Some(Bson::Int64(n)) => u64::try_from(*n).ok(),
        Some(Bson::Double(n)) if n.fract() == 0.0 && *n >= 0.0 => Some(*n as u64),
        Some(_) => None,
    };
    value
        .map(Some)
        .ok_or_else(|| format!("`{op}`: `{key}` must be a non-negative integer"))
}

fn batch_size_arg(args: &Document, op: &str) -> Result<Option<u32>, Failure> {
    u64_arg(args, "batchSize", op)?
        .map(|size| {
            u32::try_from(size).map_err(|_| format!("`{op}`: `batchSize` {size} is too large"))
        })
        .transpose()
}

fn bool_arg(args: &Document, key: &str, op: &str) -> Result<Option<bool>, Failure> {
    match args.get(key) {
        None => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("`{op}`: `{key}` must be a boolean")),
    }
}

/// The session an operation names, resolved.
pub enum Holder<'a> {
    None,
    Txn(&'a Txn),
    Entity(Arc<SessionEntity>),
}

/// A resolved session, ready to bind to an operation.
pub enum Sess<'a> {
    None,
    Txn(&'a Txn),
    Explicit(tokio::sync::MutexGuard<'a, ClientSession>),
}

impl<'a> Holder<'a> {
    /// The session named by `session` in `args`: the transaction handle if it is the session
    /// running the enclosing `withTransaction`.
    pub fn resolve(scope: Scope<'a>, args: &Document) -> Result<Holder<'a>, Failure> {
        match args.get("session") {
            None => Ok(Holder::None),
            Some(Bson::String(name)) => match scope.txn {
                Some((txn_session, txn)) if txn_session == name => Ok(Holder::Txn(txn)),
                _ => Ok(Holder::Entity(scope.entities.session(name)?)),
            },
            Some(_) => Err("`session` must name a session entity".to_owned()),
        }
    }

    pub async fn lock(&self) -> Sess<'_> {
        match self {
            Holder::None => Sess::None,
            Holder::Txn(t) => Sess::Txn(t),
            Holder::Entity(e) => Sess::Explicit(e.session.lock().await),
        }
    }
}

impl Sess<'_> {
    /// Whether a transaction is open on the session.
    pub fn in_transaction(&self) -> bool {
        match self {
            Sess::None => false,
            Sess::Txn(t) => t.is_active(),
            Sess::Explicit(s) => s.in_transaction(),
        }
    }
}

/// Builds a collection operation bound to the resolved session.
macro_rules! on_collection {
    ($sess:expr, $coll:expr, $method:ident($($arg:expr),*)) => {
        match $sess {
            Sess::None => $coll.$method($($arg),*),
            Sess::Txn(t) => t.collection($coll).$method($($arg),*),
            Sess::Explicit(s) => $coll.$method($($arg),*).session(&mut **s),
        }
    };
}

pub(crate) use on_collection;

/// Builds an operation that has no transaction binding in causeway (only `.session(..)`).
macro_rules! outside_transaction {
    ($sess:expr, $what:expr, $build:expr) => {
        match $sess {
            Sess::None => $build,
            Sess::Txn(_) => {
                return Err(format!(
                    "{} cannot run through causeway's transaction handle (Txn offers no such operation)",
                    $what
                ));
            }
            Sess::Explicit(s) => $build.session(&mut **s),
        }
    };
}

/// Runs a command on a database, bound to the resolved session.
pub async fn run_command_in(
    sess: &mut Sess<'_>,
    db: &causeway::Database,
    command: Document,
    read_preference: Option<causeway::options::ReadPreference>,
) -> Result<Document, causeway::Error> {
    let mut action = match sess {
        Sess::None => db.run_command(command),
        Sess::Txn(t) => t.run_command(db, command),
        Sess::Explicit(s) => db.run_command(command).session(s),
    };
    if let Some(rp) = read_preference {
        action = action.read_preference(rp);
    }
    action.await
}

/// Drains an opened cursor into the array a `find` or `aggregate` expects as its result.
async fn all_documents(
    opened: causeway::Result<causeway::Cursor<'_, Document>>,
) -> causeway::Result<(Bson, Shape)> {
    let docs: Vec<Document> = opened?.try_collect().await?;
    Ok((documents(docs), Shape::RootArray))
}

fn documents(docs: Vec<Document>) -> Bson {
    Bson::Array(docs.into_iter().map(Bson::Document).collect())
}

fn update_result(r: &causeway::results::UpdateResult) -> Document {
    let mut out = doc! {
        "matchedCount": r.matched_count as i64,
        "modifiedCount": r.modified_count as i64,
        "upsertedCount": i64::from(r.upserted_id.is_some()),
    };
    if let Some(id) = &r.upserted_id {
        out.insert("upsertedId", id.clone());
    }
    out
}

fn return_document(args: &Document, op: &str) -> Result<Option<ReturnDocument>, Failure> {
    match args.get("returnDocument") {
        None => Ok(None),
        Some(Bson::String(s)) if s.eq_ignore_ascii_case("before") => {
            Ok(Some(ReturnDocument::Before))
        }
        Some(Bson::String(s)) if s.eq_ignore_ascii_case("after") => Ok(Some(ReturnDocument::After)),
        Some(other) => Err(format!(
            "`{op}`: returnDocument must be Before or After, got {other}"
        )),
    }
}

/// The update document of an update operation (causeway takes operator documents only).
fn update_arg(args: &Document, op: &str) -> Result<Document, Failure> {
    match args.get("update") {
        Some(Bson::Document(d)) => Ok(d.clone()),
        Some(Bson::Array(_)) => Err(format!(
            "`{op}`: update pipelines are not supported by causeway (UpdateModifications has only Document)"
        )),
        _ => Err(format!("`{op}` needs an `update` document")),
    }
}

async fn collection_operation(
    scope: Scope<'_>,
    entity: &entities::CollectionEntity,
    name: &str,
    args: &Document,
) -> Result<Outcome, Failure> {
    let coll = &entity.collection;
    let holder = Holder::resolve(scope, args)?;
    let mut sess = holder.lock().await;
    let sess = &mut sess;
    let result = match name {
        "insertOne" => {
            check_args(args, name, &["document", "session"])?;
            let document = doc_arg(args, "document", name)?.clone();
            on_collection!(sess, coll, insert_one(document))
                .await
                .map(|r| doc! {"insertedId": r.inserted_id})
                .map(|d| (Bson::Document(d), Shape::Root))
        }
        "insertMany" => {
            check_args(args, name, &["documents", "ordered", "session"])?;
            let documents = docs_arg(args, "documents", name)?;
            let mut action = on_collection!(sess, coll, insert_many(documents));
            if let Some(ordered) = bool_arg(args, "ordered", name)? {
                action = action.ordered(ordered);
            }
            action.await.map(|r| {
                let mut ids: Vec<_> = r.inserted_ids.into_iter().collect();
                ids.sort_by_key(|(i, _)| *i);
                let ids: Document = ids.into_iter().map(|(i, id)| (i.to_string(), id)).collect();
                (Bson::Document(doc! {"insertedIds": ids}), Shape::Root)
            })
        }
        "find" => {
            check_args(
                args,
                name,
                &[
                    "filter",
                    "sort",
                    "limit",
                    "skip",
                    "batchSize",
                    "projection",
                    "session",
                ],
            )?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let mut action = on_collection!(sess, coll, find(filter));
            if let Ok(sort) = args.get_document("sort") {
                action = action.sort(sort.clone());
            }
            if let Ok(projection) = args.get_document("projection") {
                action = action.projection(projection.clone());
            }
            if let Some(limit) = u64_arg(args, "limit", name)? {
                action = action.limit(limit);
            }
            if let Some(skip) = u64_arg(args, "skip", name)? {
                action = action.skip(skip);
            }
            if let Some(size) = batch_size_arg(args, name)? {
                action = action.batch_size(size);
            }
            all_documents(action.await).await
        }
        "aggregate" => {
            check_args(args, name, &["pipeline", "batchSize", "session"])?;
            let pipeline = docs_arg(args, "pipeline", name)?;
            let mut action = on_collection!(sess, coll, aggregate(pipeline));
            if let Some(size) = batch_size_arg(args, name)? {
                action = action.batch_size(size);
            }
            all_documents(action.await).await
        }
        "distinct" => {
            check_args(args, name, &["fieldName", "filter", "session"])?;
            let field = str_arg(args, "fieldName", name)?;
            let filter = doc_arg(args, "filter", name)?.clone();
            on_collection!(sess, coll, distinct(field, filter))
                .await
                .map(|values| (Bson::Array(values), Shape::Value))
        }
        "countDocuments" => {
            check_args(args, name, &["filter", "skip", "limit", "session"])?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let mut action = on_collection!(sess, coll, count_documents(filter));
            if let Some(skip) = u64_arg(args, "skip", name)? {
                action = action.skip(skip);
            }
            if let Some(limit) = u64_arg(args, "limit", name)? {
                action = action.limit(limit);
            }
            action.await.map(|n| (Bson::Int64(n as i64), Shape::Value))
        }
        "estimatedDocumentCount" => {
            check_args(args, name, &["session"])?;
            let action = outside_transaction!(
                sess,
                "estimatedDocumentCount",
                coll.estimated_document_count()
            );
            action.await.map(|n| (Bson::Int64(n as i64), Shape::Value))
        }
        "count" => {
            // The deprecated `count` helper has no causeway equivalent; the `count` command
            // it sends goes through `run_command` (it fails in a transaction, as the tests
            // expect).
            check_args(args, name, &["filter", "session"])?;
            let mut command = doc! {"count": coll.name()};
            if let Ok(filter) = args.get_document("filter") {
                command.insert("query", filter.clone());
            }
            run_command_in(sess, &entity.database, command, None)
                .await
                .map(|reply| (reply.get("n").cloned().unwrap_or(Bson::Null), Shape::Value))
        }
        "updateOne" | "updateMany" => {
            check_args(args, name, &["filter", "update", "upsert", "session"])?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let update = update_arg(args, name)?;
            let mut action = if name == "updateOne" {
                on_collection!(sess, coll, update_one(filter, update))
            } else {
                on_collection!(sess, coll, update_many(filter, update))
            };
            if let Some(upsert) = bool_arg(args, "upsert", name)? {
                action = action.upsert(upsert);
            }
            action
                .await
                .map(|r| (Bson::Document(update_result(&r)), Shape::Root))
        }
        "replaceOne" => {
            check_args(args, name, &["filter", "replacement", "upsert", "session"])?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let replacement = doc_arg(args, "replacement", name)?.clone();
            let mut action = on_collection!(sess, coll, replace_one(filter, replacement));
            if let Some(upsert) = bool_arg(args, "upsert", name)? {
                action = action.upsert(upsert);
            }
            action
                .await
                .map(|r| (Bson::Document(update_result(&r)), Shape::Root))
        }
        "deleteOne" | "deleteMany" => {
            check_args(args, name, &["filter", "session"])?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let action = if name == "deleteOne" {
                on_collection!(sess, coll, delete_one(filter))
            } else {
                on_collection!(sess, coll, delete_many(filter))
            };
            action.await.map(|r| {
                (
                    Bson::Document(doc! {"deletedCount": r.deleted_count as i64}),
                    Shape::Root,
                )
            })
        }
        "findOneAndUpdate" | "findOneAndReplace" => {
            let change = if name == "findOneAndUpdate" {
                "update"
            } else {
                "replacement"
            };
            check_args(
                args,
                name,
                &[
                    "filter",
                    change,
                    "returnDocument",
                    "upsert",
                    "sort",
                    "projection",
                    "session",
                ],
            )?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let returned = return_document(args, name)?;
            let upsert = bool_arg(args, "upsert", name)?;
            let sort = args.get_document("sort").ok().cloned();
            let projection = args.get_document("projection").ok().cloned();
            // The two builders are different types with the same options.
            macro_rules! with_options {
                ($action:expr) => {{
                    let mut action = $action;
                    if let Some(r) = returned {
                        action = action.return_document(r);
                    }
                    if let Some(u) = upsert {
                        action = action.upsert(u);
                    }
                    if let Some(s) = sort {
                        action = action.sort(s);
                    }
                    if let Some(p) = projection {
                        action = action.projection(p);
                    }
                    action.await
                }};
            }
            let result = if name == "findOneAndUpdate" {
                let update = update_arg(args, name)?;
                with_options!(on_collection!(
                    sess,
                    coll,
                    find_one_and_update(filter, update)
                ))
            } else {
                let replacement = doc_arg(args, "replacement", name)?.clone();
                with_options!(on_collection!(
                    sess,
                    coll,
                    find_one_and_replace(filter, replacement)
                ))
            };
            result.map(|d| (d.map_or(Bson::Null, Bson::Document), Shape::Root))
        }
        "findOneAndDelete" => {
            check_args(args, name, &["filter", "sort", "projection", "session"])?;
            let filter = doc_arg(args, "filter", name)?.clone();
            let mut action = on_collection!(sess, coll, find_one_and_delete(filter));
            if let Ok(sort) = args.get_document("sort") {
                action = action.sort(sort.clone());
            }
            if let Ok(projection) = args.get_document("projection") {
                action = action.projection(projection.clone());
            }
            action
                .await
                .map(|d| (d.map_or(Bson::Null, Bson::Document), Shape::Root))
        }
        "bulkWrite" => {
            check_args(args, name, &["requests", "ordered", "session"])?;
            let requests = args
                .get_array("requests")
                .map_err(|_| "`bulkWrite` needs an array `requests`".to_owned())?;
            let ordered = bool_arg(args, "ordered", name)?.unwrap_or(true);
            return bulk::run(sess, entity, requests, ordered).await;
        }
        "createIndex" => {
            check_args(args, name, &["keys", "name", "unique", "session"])?;
            let mut model = IndexModel::new(doc_arg(args, "keys", name)?.clone());
            if let Ok(index_name) = args.get_str("name") {
                model = model.name(index_name);
            }
            if let Some(unique) = bool_arg(args, "unique", name)? {
                model = model.unique(unique);
            }
            on_collection!(sess, coll, create_index(model))
                .await
                .map(|r| (Bson::String(r.index_name), Shape::Value))
        }
        "listIndexes" => {
            check_args(args, name, &["session"])?;
            let action = outside_transaction!(sess, "listIndexes", coll.list_indexes());
            action.await.map(|indexes| {
                (
                    Bson::Array(indexes.into_iter().map(Bson::Document).collect()),
                    Shape::RootArray,
                )
            })
        }
        "listIndexNames" => {
            check_args(args, name, &["session"])?;
            let action = outside_transaction!(sess, "listIndexNames", coll.list_index_names());
            action.await.map(|names| {
                (
                    Bson::Array(names.into_iter().map(Bson::String).collect()),
                    Shape::RootArray,
                )
            })
        }
        "dropIndex" => {
            check_args(args, name, &["name", "session"])?;
            let index = str_arg(args, "name", name)?;
            let action = outside_transaction!(sess, "dropIndex", coll.drop_index(index));
            action.await.map(|()| (Bson::Null, Shape::Value))
        }
        "dropIndexes" => {
            check_args(args, name, &["session"])?;
            let action = outside_transaction!(sess, "dropIndexes", coll.drop_indexes());
            action.await.map(|()| (Bson::Null, Shape::Value))
        }
        "createIndexes" | "rename" | "drop" | "watch" | "createChangeStream"
        | "createFindCursor" | "findOne" => {
            return Err(format!(
                "operation `{name}` has no causeway API (Collection offers no `{name}`)"
            ));
        }
        other => return Err(format!("unsupported collection operation `{other}`")),
    };
    Ok(match result {
        Ok((value, shape)) => Outcome::Value(Some(value), shape),
        Err(e) => Outcome::Error(e),
    })
}

fn docs_arg(args: &Document, key: &str, op: &str) -> Result<Vec<Document>, Failure> {
    let items = args
        .get_array(key)
        .map_err(|_| format!("`{op}` needs an array `{key}`"))?;
    items
        .iter()
        .map(|item| match item {
            Bson::Document(d) => Ok(d.clone()),
            _ => Err(format!("`{op}`: `{key}` must hold documents")),
        })
        .collect()
}

async fn database_operation(
    scope: Scope<'_>,
    db: &causeway::Database,
    name: &str,
    args: &Document,
) -> Result<Outcome, Failure> {
    let holder = Holder::resolve(scope, args)?;
    let mut sess = holder.lock().await;
    let sess = &mut sess;
    let result = match name {
        "runCommand" => {
            check_args(
                args,
                name,
                &["command", "commandName", "readPreference", "session"],
            )?;
            let command = doc_arg(args, "command", name)?.clone();
            if let Ok(command_name) = args.get_str("commandName") {
                if command.keys().next().map(String::as_str) != Some(command_name) {
                    return Err(format!(
                        "`runCommand`: commandName `{command_name}` is not the first key of the command"
                    ));
                }
            }
            let read_preference = match args.get_document("readPreference") {
                Ok(rp) => Some(entities::read_preference(rp)?),
                Err(_) => None,
            };
            run_command_in(sess, db, command, read_preference)
                .await
                .map(|reply| (Bson::Document(reply), Shape::Root))
        }
        "createCollection" => {
            check_args(args, name, &["collection", "session"])?;
            let collection = str_arg(args, "collection", name)?;
            let action = match sess {
                Sess::None => db.create_collection(collection),
                Sess::Txn(t) => t.create_collection(db, collection),
                Sess::Explicit(s) => db.create_collection(collection).session(s),
            };
            action.await.map(|()| (Bson::Null, Shape::Value))
        }
        "dropDatabase" => {
            check_args(args, name, &["session"])?;
            let action = outside_transaction!(sess, "dropDatabase", db.drop());
            action.await.map(|()| (Bson::Null, Shape::Value))
        }
        "dropCollection" => {
            check_args(args, name, &["collection", "session"])?;
            let collection = db.collection::<Document>(str_arg(args, "collection", name)?);
            let action = outside_transaction!(sess, "dropCollection", collection.drop());
            action.await.map(|()| (Bson::Null, Shape::Value))
        }
        "listCollectionNames" | "listCollections" => {
            check_args(args, name, &["filter", "session"])?;
            let mut action =
                outside_transaction!(sess, name.to_owned(), db.list_collection_names());
            if let Ok(filter) = args.get_document("filter") {
                action = action.filter(filter.clone());
            }
            action.await.map(|names| {
                let value = if name == "listCollections" {
                    Bson::Array(
                        names
                            .into_iter()
                            .map(|n| Bson::Document(doc! {"name": n}))
                            .collect(),
                    )
                } else {
                    Bson::Array(names.into_iter().map(Bson::String).collect())
                };
                (value, Shape::RootArray)
            })
        }
        "aggregate"
        | "runCursorCommand"
        | "createCommandCursor"
        | "createChangeStream"
        | "watch"
        | "drop" => {
            return Err(format!(
                "operation `{name}` has no causeway API (Database offers no `{name}`)"
            ));
        }
        other => return Err(format!("unsupported database operation `{other}`")),
    };
    Ok(match result {
        Ok((value, shape)) => Outcome::Value(Some(value), shape),
        Err(e) => Outcome::Error(e),
    })
}

async fn client_operation(
    scope: Scope<'_>,
    client: &causeway::Client,
    name: &str,
    args: &Document,
) -> Result<Outcome, Failure> {
    match name {
        "listDatabases" | "listDatabaseNames" => {
            check_args(args, name, &["session", "filter"])?;
            let holder = Holder::resolve(scope, args)?;
            let mut sess = holder.lock().await;
            let sess = &mut sess;
            let result = if name == "listDatabases" {
                let action = outside_transaction!(sess, "listDatabases", client.list_databases());
                action
                    .await
                    .map(|dbs| Bson::Array(dbs.into_iter().map(Bson::Document).collect()))
            } else {
                let action =
                    outside_transaction!(sess, "listDatabaseNames", client.list_database_names());
                action
                    .await
                    .map(|names| Bson::Array(names.into_iter().map(Bson::String).collect()))
            };
            Ok(match result {
                Ok(value) => Outcome::Value(Some(value), Shape::RootArray),
                Err(e) => Outcome::Error(e),
            })
        }
        "dropDatabase" => {
            check_args(args, name, &["session", "database"])?;
            let database = client.database(str_arg(args, "database", name)?);
            let holder = Holder::resolve(scope, args)?;
            let mut sess = holder.lock().await;
            let sess = &mut sess;
            let action = outside_transaction!(sess, "dropDatabase", database.drop());
            Ok(match action.await {
                Ok(()) => Outcome::Value(None, Shape::Value),
                Err(e) => Outcome::Error(e),
            })
        }
        "createChangeStream" | "watch" | "clientBulkWrite" | "close" => Err(format!(
            "operation `{name}` has no causeway API (Client offers no `{name}`)"
        )),
        other => Err(format!("unsupported client operation `{other}`")),
    }
}

async fn session_operation(
    scope: Scope<'_>,
    object: &str,
    entity: &Arc<SessionEntity>,
    name: &str,
    args: &Document,
) -> Result<Outcome, Failure> {
    // Inside a withTransaction callback, its own session is reached through the handle.
    if let Some((txn_session, txn)) = scope.txn
        && txn_session == object
    {
        check_args(args, name, &[])?;
        let result = match name {
            "commitTransaction" => txn.commit().await,
            "abortTransaction" => txn.abort().await,
            "startTransaction" => txn.begin_transaction(entities::transaction_options(args, &[])?),
            other => {
                return Err(format!(
                    "`{other}` on `{object}` inside its withTransaction callback: causeway's transaction handle (Txn) offers no such operation"
                ));
            }
        };
        return Ok(match result {
            Ok(()) => Outcome::Value(None, Shape::Value),
            Err(e) => Outcome::Error(e),
        });
    }
    if name == "withTransaction" {
        return with_transaction(scope, object, entity, args).await;
    }
    let mut session = entity.session.lock().await;
    let result = match name {
        "startTransaction" => {
            let options = entities::transaction_options(args, &[])?;
            session.begin_transaction(options)
        }
        "commitTransaction" => {
            check_args(args, name, &[])?;
            session.commit_transaction().await
        }
        "abortTransaction" => {
            check_args(args, name, &[])?;
            session.abort_transaction().await
        }
        "endSession" => {
            check_args(args, name, &[])?;
            session.end().await;
            Ok(())
        }
        "getSnapshotTime" => {
            check_args(args, name, &[])?;
            return Ok(Outcome::Value(
                session.snapshot_time().map(Bson::Timestamp),
                Shape::Value,
            ));
        }
        other => return Err(format!("unsupported session operation `{other}`")),
    };
    Ok(match result {
        Ok(()) => Outcome::Value(None, Shape::Value),
        Err(e) => Outcome::Error(e),
    })
}

/// The error a `withTransaction` callback returns: the error an operation raised (which
/// decides retries by its labels) or an assertion that failed inside the callback.
#[derive(Debug)]
enum CallbackError {
    Driver(causeway::Error),
    Runner(Failure),
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallbackError::Driver(e) => write!(f, "{e}"),
            CallbackError::Runner(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CallbackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallbackError::Driver(e) => Some(e),
            CallbackError::Runner(_) => None,
        }
    }
}

impl From<causeway::Error> for CallbackError {
    fn from(e: causeway::Error) -> CallbackError {
        CallbackError::Driver(e)
    }
}

/// `withTransaction`: `ClientSession::with_transaction` with a body that runs the callback's
/// operations through the transaction handle, checking each one's expectations and passing
/// its error on.
async fn with_transaction(
    scope: Scope<'_>,
    object: &str,
    entity: &Arc<SessionEntity>,
    args: &Document,
) -> Result<Outcome, Failure> {
    check_args(
        args,
        "withTransaction",
        &[
            "callback",
            "readConcern",
            "writeConcern",
            "readPreference",
            "maxCommitTimeMS",
        ],
    )?;
    let callback = args
        .get_array("callback")
        .map_err(|_| "`withTransaction` needs an array `callback`".to_owned())?;
    let options = entities::transaction_options(args, &["callback"])?;
    let failure = std::sync::Mutex::new(None::<Failure>);
    let failure_ref = &failure;
    let entities = scope.entities;
    let mut session = entity.session.lock().await;
    let result = session
        .with_transaction(move |txn| async move {
            let inner = Scope {
                entities,
                txn: Some((object, txn)),
            };
            for (i, op) in callback.iter().enumerate() {
                let Bson::Document(op) = op else {
                    let msg = format!("callback operation {i} is not a document");
                    *failure_ref.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.clone());
                    return Err(CallbackError::Runner(msg));
                };
                match run_operation(inner, op).await {
                    Ok(None) => {}
                    Ok(Some(error)) => return Err(CallbackError::Driver(error)),
                    Err(f) => {
                        let msg = format!(
                            "callback operation {i} ({}): {f}",
                            op.get_str("name").unwrap_or("?")
                        );
                        *failure_ref.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.clone());
                        return Err(CallbackError::Runner(msg));
                    }
                }
            }
            Ok::<(), CallbackError>(())
        })
        .options(options)
        .await;
    drop(session);
    if let Some(f) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(f);
    }
    match result {
        Ok(()) => Ok(Outcome::Value(None, Shape::Value)),
        Err(CallbackError::Driver(e)) => Ok(Outcome::Error(e)),
        Err(CallbackError::Runner(m)) => Err(m),
    }
}

/// Sleeps (the `wait` special operation).
pub async fn wait(args: &Document) -> Result<(), Failure> {
    let ms = u64_arg(args, "ms", "wait")?.ok_or("`wait` needs `ms`")?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}
