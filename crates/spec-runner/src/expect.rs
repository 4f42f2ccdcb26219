//! The assertions on one operation's outcome: `expectResult`, `expectError`,
//! `ignoreResultAndError` and `saveResultAsEntity`.

use bson::{Bson, Document};
use causeway::ErrorKind;

use crate::entities::{Entities, Entity};
use crate::matching::{match_root_array, match_value, show};
use crate::operations::Failure;

/// How a result is matched against `expectResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A value (scalar, or an array of values such as `distinct`'s): no extra fields.
    Value,
    /// A root-level document (extra fields allowed).
    Root,
    /// An iterated result (find, aggregate): each element a root-level document.
    RootArray,
}

/// What an entity operation produced.
#[derive(Debug)]
pub enum Outcome {
    /// A result (`None` for operations that return nothing).
    Value(Option<Bson>, Shape),
    /// An error raised by causeway.
    Error(causeway::Error),
}

/// Checks an operation's outcome against its expectations; returns the operation's error,
/// if it raised one (a `withTransaction` callback passes it on).
pub fn check(
    entities: &Entities,
    op: &Document,
    outcome: Outcome,
) -> Result<Option<causeway::Error>, Failure> {
    if op.get_bool("ignoreResultAndError").unwrap_or(false) {
        return Ok(match outcome {
            Outcome::Error(e) => Some(e),
            Outcome::Value(..) => None,
        });
    }
    let expected_error = op.get_document("expectError").ok();
    match (outcome, expected_error) {
        (Outcome::Error(error), Some(expected)) => {
            check_error(expected, &error)?;
            Ok(Some(error))
        }
        (Outcome::Error(error), None) => Err(format!("unexpected error: {}", describe(&error))),
        (Outcome::Value(value, _), Some(_)) => Err(format!(
            "expected an error, got success{}",
            value
                .map(|v| format!(" with result {}", show(&v)))
                .unwrap_or_default()
        )),
        (Outcome::Value(value, shape), None) => {
            if let Some(expected) = op.get("expectResult") {
                check_result(entities, expected, value.as_ref(), shape)?;
            }
            if let Ok(name) = op.get_str("saveResultAsEntity") {
                let value = value.ok_or_else(|| {
                    format!("saveResultAsEntity `{name}`: the operation returned nothing")
                })?;
                entities.insert(name, Entity::Value(value))?;
            }
            Ok(None)
        }
    }
}

fn check_result(
    entities: &Entities,
    expected: &Bson,
    actual: Option<&Bson>,
    shape: Shape,
) -> Result<(), Failure> {
    let prefix = |e: String| format!("expectResult: {e}");
    match (shape, actual) {
        (Shape::RootArray, Some(Bson::Array(items))) => {
            match_root_array(expected, items, entities, "result").map_err(prefix)
        }
        (Shape::Root, _) => match_value(expected, actual, true, entities, "result").map_err(prefix),
        _ => match_value(expected, actual, false, entities, "result").map_err(prefix),
    }
}

/// An error for a message: its text, kind, code and labels.
pub fn describe(error: &causeway::Error) -> String {
    let labels: Vec<&str> = error.labels().iter().map(|l| l.as_str()).collect();
    format!(
        "\"{}\" (kind {}, code {}, labels [{}])",
        error,
        kind_name(error.kind()),
        error
            .code()
            .map_or_else(|| "none".to_owned(), |c| c.to_string()),
        labels.join(", ")
    )
}

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Command(_) => "Command",
        ErrorKind::Write { .. } => "Write",
        ErrorKind::WriteConcern(_) => "WriteConcern",
        ErrorKind::Network { .. } => "Network",
        ErrorKind::CommitOutcomeUnknown => "CommitOutcomeUnknown",
        ErrorKind::TransactionState { .. } => "TransactionState",
        ErrorKind::InvalidArgument { .. } => "InvalidArgument",
        ErrorKind::Serialization { .. } => "Serialization",
        ErrorKind::InvalidResponse { .. } => "InvalidResponse",
        ErrorKind::Timeout { .. } => "Timeout",
        ErrorKind::SwallowedError => "SwallowedError",
        ErrorKind::SessionEnded => "SessionEnded",
        _ => "other",
    }
}

/// The causeway error an error wraps (the source of a timeout or unknown commit outcome).
fn wrapped(error: &causeway::Error) -> Option<&causeway::Error> {
    std::error::Error::source(error).and_then(|s| s.downcast_ref::<causeway::Error>())
}

/// Whether the error was raised by the client rather than derived from a server reply:
/// errors raised before sending (state, arguments) and network errors are the client's;
/// command, write and write-concern errors are the server's; wrappers take their source's side.
pub fn is_client_error(error: &causeway::Error) -> bool {
    match error.kind() {
        ErrorKind::Command(_) | ErrorKind::Write { .. } | ErrorKind::WriteConcern(_) => false,
        ErrorKind::CommitOutcomeUnknown | ErrorKind::Timeout { .. } | ErrorKind::SwallowedError => {
            wrapped(error).is_none_or(is_client_error)
        }
        _ => true,
    }
}

/// The server code names an error carries (command, write errors, write-concern error).
fn code_names(error: &causeway::Error) -> Vec<String> {
    let mut names: Vec<String> = error.code_name().map(str::to_owned).into_iter().collect();
    for w in error.write_errors() {
        names.extend(w.code_name.clone());
    }
    if let Some(wce) = error.write_concern_error() {
        names.extend(wce.code_name.clone());
    }
    if let Some(inner) = wrapped(error) {
        names.extend(code_names(inner));
    }
    names
}

fn check_error(expected: &Document, error: &causeway::Error) -> Result<(), Failure> {
    let labels: Vec<&str> = error.labels().iter().map(|l| l.as_str()).collect();
    let what = || describe(error);
    for (key, value) in expected {
        match key.as_str() {
            "isError" => {}
            "isClientError" => {
                let want = value.as_bool().unwrap_or(true);
                if want != is_client_error(error) {
                    return Err(format!(
                        "expected a {} error, got {}",
                        if want { "client" } else { "server" },
                        what()
                    ));
                }
            }
            "isTimeoutError" => {
                let want = value.as_bool().unwrap_or(true);
                let got = matches!(error.kind(), ErrorKind::Timeout { .. });
                if want != got {
                    return Err(format!(
                        "expected {}a timeout error, got {}",
                        if want { "" } else { "not " },
                        what()
                    ));
                }
            }
            "errorContains" => {
                let want = value.as_str().unwrap_or_default();
                if !error
                    .to_string()
                    .to_lowercase()
                    .contains(&want.to_lowercase())
                {
                    return Err(format!(
                        "expected an error containing \"{want}\", got {}",
                        what()
                    ));
                }
            }
            "errorCode" => {
                let want = match value {
                    Bson::Int32(n) => i64::from(*n),
                    Bson::Int64(n) => *n,
                    _ => return Err("errorCode must be an integer".to_owned()),
                };
                if error.code().map(i64::from) != Some(want) {
                    return Err(format!("expected error code {want}, got {}", what()));
                }
            }
            "errorCodeName" => {
                let want = value.as_str().unwrap_or_default();
                if !code_names(error)
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(want))
                {
                    return Err(format!(
                        "expected error code name {want}, got {} (code names {:?})",
                        what(),
                        code_names(error)
                    ));
                }
            }
            "errorLabelsContain" => {
                for label in value.as_array().into_iter().flatten() {
                    let label = label.as_str().unwrap_or_default();
                    if !labels.contains(&label) {
                        return Err(format!("expected error label {label}, got {}", what()));
                    }
                }
            }
            "errorLabelsOmit" => {
                for label in value.as_array().into_iter().flatten() {
                    let label = label.as_str().unwrap_or_default();
                    if labels.contains(&label) {
                        return Err(format!("expected no error label {label}, got {}", what()));
                    }
                }
            }
            "expectResult" => {
                // causeway's errors carry no partial result (a BulkWriteException's
                // `writeResult`); only an optional result can match.
                let optional = matches!(value, Bson::Document(d)
                    if d.len() == 1 && d.contains_key("$$unsetOrMatches"));
                if !optional {
                    return Err(format!(
                        "expectError.expectResult {}: causeway's errors carry no partial result",
                        show(value)
                    ));
                }
            }
            "errorResponse" => {
                return Err(format!(
                    "expectError.errorResponse {}: causeway's Error keeps no server reply to match",
                    show(value)
                ));
            }
            other => return Err(format!("unsupported expectError assertion `{other}`")),
        }
    }
    Ok(())
}
