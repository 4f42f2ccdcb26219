//! Command handlers, one module per family, and the table that routes a command name to its
//! handler and its rules (allowed in a transaction, honours a write concern, retryable).

mod admin;
mod catalog;
mod plan;
mod read;
mod write;

use bson::{Bson, Document};

use crate::compare::Number;
use crate::compare::type_name;
use crate::cursor::Cursors;
use crate::error::{CommandError, CommandResult};
use crate::reply::Reply;
use crate::request::Request;
use crate::session::SessionKey;
use crate::storage::Catalog;
use crate::unit::{StatementResult, WriteUnit};

pub(crate) use plan::{matching, sort_documents};

/// What a handler works with: the catalog, the cursors, and the unit its reads and writes go
/// through (a transaction's, or the statement's own).
pub(crate) struct Exec<'a> {
    pub catalog: &'a mut Catalog,
    pub cursors: &'a mut Cursors,
    pub unit: &'a mut WriteUnit,
    /// Set inside a multi-document transaction.
    pub txn: Option<TxnContext>,
    /// The session the command runs in.
    pub lsid: Option<SessionKey>,
    /// Counts the documents queries examine (`metrics.queryExecutor.scannedObjects`).
    pub scanned_objects: &'a std::sync::atomic::AtomicU64,
    /// The request's `reply_gets_times`.
    pub reply_gets_times: bool,
}

/// The transaction a command runs in.
pub(crate) struct TxnContext {
    /// Its number.
    pub number: i64,
    /// Cursors the command opened; they close when the transaction ends.
    pub opened_cursors: Vec<i64>,
}

impl Exec<'_> {
    /// Whether the command runs inside a multi-document transaction.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }
}

/// A statement handler: most reply with a document, the writes with a [`Reply`] that keeps
/// their counts as values.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// Replies with a document.
    Document(fn(&mut Exec<'_>, &Request<'_>) -> StatementResult<Document>),
    /// Replies with a [`Reply`].
    Reply(fn(&mut Exec<'_>, &Request<'_>) -> StatementResult<Reply>),
}

impl Handler {
    /// Runs the statement.
    pub(crate) fn run(self, exec: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Reply> {
        match self {
            Handler::Document(handler) => handler(exec, req).map(Reply::Document),
            Handler::Reply(handler) => handler(exec, req),
        }
    }
}

/// How a command is routed and what rules apply to it.
pub(crate) struct CommandSpec {
    /// The canonical name.
    pub name: &'static str,
    /// The handler (commands the engine runs itself have a handler that refuses).
    pub handler: Handler,
    /// Allowed inside a multi-document transaction.
    pub in_transaction: bool,
    /// Writes, so it honours `writeConcern`.
    pub writes: bool,
    /// A retryable write when sent with a `txnNumber` outside a transaction.
    pub retryable: bool,
    /// Runs only on the `admin` database.
    pub admin_only: bool,
    /// Accepts `readConcern: {level: "snapshot"}` outside a transaction.
    pub snapshot_reads: bool,
}

const fn spec(
    name: &'static str,
    handler: fn(&mut Exec<'_>, &Request<'_>) -> StatementResult<Document>,
) -> CommandSpec {
    spec_of(name, Handler::Document(handler))
}

/// The spec of a command whose handler replies with a [`Reply`].
const fn write_spec(
    name: &'static str,
    handler: fn(&mut Exec<'_>, &Request<'_>) -> StatementResult<Reply>,
) -> CommandSpec {
    spec_of(name, Handler::Reply(handler))
}

const fn spec_of(name: &'static str, handler: Handler) -> CommandSpec {
    CommandSpec {
        name,
        handler,
        in_transaction: false,
        writes: false,
        retryable: false,
        admin_only: false,
        snapshot_reads: false,
    }
}

const fn in_txn(mut s: CommandSpec) -> CommandSpec {
    s.in_transaction = true;
    s
}

const fn writes(mut s: CommandSpec) -> CommandSpec {
    s.writes = true;
    s
}

const fn retryable(mut s: CommandSpec) -> CommandSpec {
    s.retryable = true;
    s
}

const fn snapshot(mut s: CommandSpec) -> CommandSpec {
    s.snapshot_reads = true;
    s
}

const fn admin(mut s: CommandSpec) -> CommandSpec {
    s.admin_only = true;
    s
}

fn run_by_engine(_: &mut Exec<'_>, req: &Request<'_>) -> StatementResult<Document> {
    Err(CommandError::new(
        crate::ErrorCode::InternalError,
        format!("'{}' is run by the engine itself", req.name()),
    )
    .into())
}

static COMMANDS: &[CommandSpec] = &[
    in_txn(spec("hello", run_by_engine)),
    in_txn(spec("isMaster", run_by_engine)),
    spec("ping", admin::ping),
    spec("buildInfo", admin::build_info),
    spec("connectionStatus", admin::connection_status),
    spec("getParameter", admin::get_parameter),
    spec("serverStatus", admin::server_status),
    spec("listCommands", admin::list_commands),
    admin(spec("configureFailPoint", run_by_engine)),
    spec("endSessions", run_by_engine),
    admin(spec("replSetGetStatus", run_by_engine)),
    admin(writes(in_txn(spec("commitTransaction", run_by_engine)))),
    admin(writes(in_txn(spec("abortTransaction", run_by_engine)))),
    retryable(writes(in_txn(write_spec("insert", write::insert)))),
    retryable(writes(in_txn(write_spec("update", write::update)))),
    retryable(writes(in_txn(write_spec("delete", write::delete)))),
    retryable(writes(in_txn(spec(
        "findAndModify",
        write::find_and_modify,
    )))),
    snapshot(in_txn(spec("find", read::find))),
    snapshot(in_txn(spec("getMore", read::get_more))),
    in_txn(spec("killCursors", read::kill_cursors)),
    snapshot(in_txn(spec("aggregate", read::aggregate))),
    snapshot(in_txn(spec("distinct", read::distinct))),
    spec("count", read::count),
    writes(in_txn(spec("create", catalog::create))),
    writes(in_txn(spec("createIndexes", catalog::create_indexes))),
    writes(spec("drop", catalog::drop)),
    writes(spec("dropDatabase", catalog::drop_database)),
    writes(spec("dropIndexes", catalog::drop_indexes)),
    spec("listCollections", catalog::list_collections),
    spec("listIndexes", catalog::list_indexes),
    admin(spec("listDatabases", catalog::list_databases)),
];

/// The spec of a command, by the name (or an alias) it is sent under.
pub(crate) fn lookup(name: &str) -> Option<&'static CommandSpec> {
    let canonical = match name {
        "ismaster" => "isMaster",
        "buildinfo" => "buildInfo",
        "findandmodify" => "findAndModify",
        other => other,
    };
    COMMANDS.iter().find(|c| c.name == canonical)
}

/// The names of every command, for `listCommands`.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// Reads an optional document argument.
/// An empty document to stand for an absent filter or statement; a new `Document` draws a
/// fresh random hasher seed each time it is made.
pub(crate) fn empty_document() -> &'static Document {
    static EMPTY: std::sync::LazyLock<Document> = std::sync::LazyLock::new(Document::new);
    &EMPTY
}

pub(crate) fn opt_document<'d>(
    body: &'d Document,
    command: &str,
    field: &str,
) -> CommandResult<Option<&'d Document>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(other) => Err(wrong_type(command, field, other, "object")),
    }
}

/// Reads an optional boolean argument (numbers count as their truth).
pub(crate) fn opt_bool(body: &Document, command: &str, field: &str) -> CommandResult<Option<bool>> {
    bool_value(body.get(field), command, field)
}

/// Reads an optional boolean argument found apart: as [`opt_bool`].
pub(crate) fn bool_value(
    value: Option<&Bson>,
    command: &str,
    field: &str,
) -> CommandResult<Option<bool>> {
    match value {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        Some(other) => match Number::from_bson(other) {
            Some(n) => Ok(Some(n.as_f64() != 0.0)),
            None => Err(wrong_type(command, field, other, "bool")),
        },
    }
}

/// Reads an optional non-negative integer argument.
pub(crate) fn opt_count(body: &Document, command: &str, field: &str) -> CommandResult<Option<i64>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(v) => match Number::from_bson(v) {
            Some(Number::Int(n)) if n >= 0 => Ok(Some(n)),
            Some(Number::Float(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9.2e18 => {
                Ok(Some(f as i64))
            }
            Some(_) => Err(CommandError::bad_value(format!(
                "BSON field '{command}.{field}' value must be >= 0, actual value '{v}'"
            ))),
            None => Err(wrong_type(command, field, v, "long")),
        },
    }
}

/// The `TypeMismatch` for an argument of the wrong type, worded as `mongod` words it.
pub(crate) fn wrong_type(command: &str, field: &str, value: &Bson, expected: &str) -> CommandError {
    CommandError::type_mismatch(format!(
        "BSON field '{command}.{field}' is the wrong type '{}', expected type '{expected}'",
        type_name(value)
    ))
}

/// Refuses arguments the command does not know, as `mongod`'s parser does (code 40415).
pub(crate) fn check_fields(body: &Document, command: &str, known: &[&str]) -> CommandResult<()> {
    for field in body.keys().skip(1) {
        if !known.contains(&field.as_str())
            && !GENERIC_ARGUMENTS.contains(&field.as_str())
            && !field.starts_with('$')
        {
            return Err(CommandError::with_code(
                40415,
                format!("BSON field '{command}.{field}' is an unknown field."),
            ));
        }
    }
    Ok(())
}

/// Arguments any command may carry.
const GENERIC_ARGUMENTS: &[&str] = &[
    "lsid",
    "txnNumber",
    "autocommit",
    "startTransaction",
    "readConcern",
    "writeConcern",
    "maxTimeMS",
    "comment",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
    "readPreference",
    "clientOperationKey",
    "mayBypassWriteBlocking",
    "stmtId",
    "stmtIds",
];
