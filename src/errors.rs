//! The error type of every causeway operation.
//!
//! [`Error`] is one type a caller can question: [`Error::labels`] and
//! [`Error::contains_label`] for the retry labels, [`Error::code`] for the server's code,
//! [`Error::is_transient`], and [`Error::kind`] for what went wrong: a server error, write
//! errors, a write-concern error, a closed connection, a commit whose outcome is unknown, an
//! illegal move of the transaction state machine, a timeout carrying the last real error as its
//! [`source`](std::error::Error::source).

use std::fmt;

use bson::{Bson, Document};

pub use causeway_engine::ErrorCode;

/// The result of a causeway operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error label: a server's (or the client's own) statement about how an error may be
/// retried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Label {
    /// The whole transaction may be retried from the start.
    TransientTransactionError,
    /// The commit may or may not have happened; committing again is safe.
    UnknownTransactionCommitResult,
    /// The write may be sent again with the same transaction number.
    RetryableWriteError,
    /// The write was not performed.
    NoWritesPerformed,
    /// A label this version does not know.
    Other(String),
}

impl Label {
    /// The label as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Label::TransientTransactionError => "TransientTransactionError",
            Label::UnknownTransactionCommitResult => "UnknownTransactionCommitResult",
            Label::RetryableWriteError => "RetryableWriteError",
            Label::NoWritesPerformed => "NoWritesPerformed",
            Label::Other(other) => other,
        }
    }

    /// The label with this spelling.
    pub fn parse(label: &str) -> Label {
        match label {
            "TransientTransactionError" => Label::TransientTransactionError,
            "UnknownTransactionCommitResult" => Label::UnknownTransactionCommitResult,
            "RetryableWriteError" => Label::RetryableWriteError,
            "NoWritesPerformed" => Label::NoWritesPerformed,
            other => Label::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the server reported for a whole command (`ok: 0`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// The server's code.
    pub code: i32,
    /// The code's name.
    pub code_name: String,
    /// The server's message.
    pub message: String,
}

/// The failure of one statement of a write command (`writeErrors`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteError {
    /// The position of the statement in the batch.
    pub index: usize,
    /// The server's code.
    pub code: i32,
    /// The code's name, if the server gave one.
    pub code_name: Option<String>,
    /// The server's message.
    pub message: String,
    /// Further details (`keyPattern`, `keyValue`, `errInfo`, ...).
    pub details: Document,
}

/// A write that applied but did not reach its write concern (`writeConcernError`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteConcernError {
    /// The server's code (`64` for a timeout).
    pub code: i32,
    /// The code's name, if the server gave one.
    pub code_name: Option<String>,
    /// The server's message.
    pub message: String,
    /// `errInfo` (`{wtimeout: true}` for a timeout).
    pub details: Document,
}

impl WriteConcernError {
    /// Whether the write concern timed out (`wtimeout`).
    pub fn is_timeout(&self) -> bool {
        self.code == ErrorCode::WriteConcernTimeout.code()
            || self.details.get_bool("wtimeout").unwrap_or(false)
    }
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server refused the command.
    Command(CommandError),
    /// Statements of a write failed; the others may have applied. May also carry a
    /// write-concern error.
    Write {
        /// The failed statements.
        write_errors: Vec<WriteError>,
        /// The write concern error, if the applied writes also missed their write concern.
        write_concern_error: Option<WriteConcernError>,
    },
    /// The writes applied but their write concern was not satisfied.
    WriteConcern(WriteConcernError),
    /// The connection closed without a reply: the command may or may not have run.
    Network {
        /// What happened.
        message: String,
    },
    /// The commit may or may not have happened (the commit failed with the
    /// `UnknownTransactionCommitResult` label). Committing again is safe; the underlying
    /// error is the [`source`](std::error::Error::source).
    CommitOutcomeUnknown,
    /// An operation not allowed in the session's current state ("transaction already in
    /// progress", commit after abort, ...). Nothing was sent.
    TransactionState {
        /// What was attempted and why it is not allowed.
        message: String,
    },
    /// The operation or its options are invalid; nothing was sent.
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
    /// A document could not be converted to or from the caller's type.
    Serialization {
        /// What failed.
        message: String,
    },
    /// The server's reply was not what the protocol promises.
    InvalidResponse {
        /// What was wrong.
        message: String,
    },
    /// A time limit was reached; the last real error is the
    /// [`source`](std::error::Error::source) and its labels are copied.
    Timeout {
        /// What timed out.
        message: String,
    },
    /// A command failed and aborted the transaction on the server, but the transaction body
    /// went on and returned `Ok`. The swallowed error is the
    /// [`source`](std::error::Error::source).
    SwallowedError,
    /// The session has ended, or the client has shut down.
    SessionEnded,
    /// No member of the deployment can take the operation (for example a `secondary` read
    /// preference on a set without secondaries).
    ServerSelection {
        /// Why.
        message: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Command(e) => write!(f, "{} ({}): {}", e.code_name, e.code, e.message),
            ErrorKind::Write {
                write_errors,
                write_concern_error,
            } => {
                write!(f, "write failed")?;
                for e in write_errors {
                    write!(f, "; statement {}: {} ({})", e.index, e.message, e.code)?;
                }
                if let Some(wce) = write_concern_error {
                    write!(f, "; write concern: {} ({})", wce.message, wce.code)?;
                }
                Ok(())
            }
            ErrorKind::WriteConcern(e) => {
                write!(f, "write concern error {}: {}", e.code, e.message)
            }
            ErrorKind::Network { message } => write!(f, "network error: {message}"),
            ErrorKind::CommitOutcomeUnknown => write!(
                f,
                "the outcome of the commit is unknown; committing again is safe"
            ),
            ErrorKind::TransactionState { message } => write!(f, "{message}"),
            ErrorKind::InvalidArgument { message } => write!(f, "invalid argument: {message}"),
            ErrorKind::Serialization { message } => write!(f, "serialization error: {message}"),
            ErrorKind::InvalidResponse { message } => {
                write!(f, "invalid response from the server: {message}")
            }
            ErrorKind::Timeout { message } => write!(f, "timed out: {message}"),
            ErrorKind::SwallowedError => write!(
                f,
                "a command in the transaction failed and aborted it on the server, but the transaction body returned Ok; do not swallow command errors inside a transaction"
            ),
            ErrorKind::SessionEnded => write!(f, "the session has ended"),
            ErrorKind::ServerSelection { message } => {
                write!(f, "server selection failed: {message}")
            }
        }
    }
}

/// The error of a causeway operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: Box<ErrorKind>,
    labels: Vec<Label>,
    source: Option<Box<Error>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// An error of this kind, without labels.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            kind: Box::new(kind),
            labels: Vec::new(),
            source: None,
        }
    }

    pub(crate) fn transaction_state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::TransactionState {
            message: message.into(),
        })
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument {
            message: message.into(),
        })
    }

    pub(crate) fn invalid_response(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidResponse {
            message: message.into(),
        })
    }

    pub(crate) fn network(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Network {
            message: message.into(),
        })
    }

    pub(crate) fn serialization(message: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Serialization {
            message: message.to_string(),
        })
    }

    /// A timeout that keeps `last` as its source and copies its labels.
    pub(crate) fn timeout(message: impl Into<String>, last: Error) -> Error {
        let labels = last.labels.clone();
        Error {
            kind: Box::new(ErrorKind::Timeout {
                message: message.into(),
            }),
            labels,
            source: Some(Box::new(last)),
        }
    }

    /// An error of `kind` wrapping `source`, with the source's labels.
    pub(crate) fn wrapping(kind: ErrorKind, source: Error) -> Error {
        let labels = source.labels.clone();
        Error {
            kind: Box::new(kind),
            labels,
            source: Some(Box::new(source)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The error labels, the server's and those the client added.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Whether the error carries `label`.
    pub fn contains_label(&self, label: &Label) -> bool {
        self.labels.contains(label)
    }

    /// Adds a label (once).
    pub(crate) fn add_label(&mut self, label: Label) {
        if !self.labels.contains(&label) {
            self.labels.push(label);
        }
    }

    /// Removes a label.
    pub(crate) fn remove_label(&mut self, label: &Label) {
        self.labels.retain(|l| l != label);
    }

    /// Whether retrying the whole transaction may succeed (`TransientTransactionError`).
    pub fn is_transient(&self) -> bool {
        self.contains_label(&Label::TransientTransactionError)
    }

    /// Whether the commit may or may not have happened (`UnknownTransactionCommitResult`).
    pub fn is_commit_outcome_unknown(&self) -> bool {
        self.contains_label(&Label::UnknownTransactionCommitResult)
    }

    /// The server's error code: of the command, else of the first write error, else of the
    /// write-concern error; for errors that wrap another (timeouts, unknown commit outcomes),
    /// the wrapped error's code.
    pub fn code(&self) -> Option<i32> {
        match &*self.kind {
            ErrorKind::Command(e) => Some(e.code),
            ErrorKind::Write {
                write_errors,
                write_concern_error,
            } => write_errors
                .first()
                .map(|e| e.code)
                .or(write_concern_error.as_ref().map(|e| e.code)),
            ErrorKind::WriteConcern(e) => Some(e.code),
            _ => self.source.as_ref().and_then(|s| s.code()),
        }
    }

    /// The name of [`Error::code`], where the server gave one.
    pub fn code_name(&self) -> Option<&str> {
        match &*self.kind {
            ErrorKind::Command(e) => Some(&e.code_name),
            ErrorKind::Write {
                write_errors,
                write_concern_error,
            } => write_errors
                .first()
                .and_then(|e| e.code_name.as_deref())
                .or(write_concern_error
                    .as_ref()
                    .and_then(|e| e.code_name.as_deref())),
            ErrorKind::WriteConcern(e) => e.code_name.as_deref(),
            _ => self.source.as_ref().and_then(|s| s.code_name()),
        }
    }

    /// Whether the error has this server code.
    pub fn has_code(&self, code: ErrorCode) -> bool {
        self.code() == Some(code.code())
    }

    /// The write errors, if statements of a write failed.
    pub fn write_errors(&self) -> &[WriteError] {
        match &*self.kind {
            ErrorKind::Write { write_errors, .. } => write_errors,
            _ => &[],
        }
    }

    /// The write-concern error, if the write missed its write concern.
    pub fn write_concern_error(&self) -> Option<&WriteConcernError> {
        match &*self.kind {
            ErrorKind::WriteConcern(e) => Some(e),
            ErrorKind::Write {
                write_concern_error,
                ..
            } => write_concern_error.as_ref(),
            _ => self.source.as_ref().and_then(|s| s.write_concern_error()),
        }
    }

    /// Whether the connection closed without a reply.
    pub fn is_network_error(&self) -> bool {
        matches!(&*self.kind, ErrorKind::Network { .. })
    }

    /// Whether `mongod` classes the error as retryable (a retryable code, or a network error).
    pub(crate) fn is_retryable_code(&self) -> bool {
        self.is_network_error()
            || self.code().is_some_and(ErrorCode::is_retriable)
            || self
                .write_concern_error()
                .is_some_and(|w| ErrorCode::is_retriable(w.code))
    }

    /// Whether this is `MaxTimeMSExpired`, as a command error or a write-concern error.
    pub(crate) fn is_max_time_expired(&self) -> bool {
        let code = ErrorCode::MaxTimeMSExpired.code();
        self.code() == Some(code) || self.write_concern_error().is_some_and(|w| w.code == code)
    }

    /// Reads the error out of a reply: `ok: 0`, `writeErrors` or `writeConcernError`, with the
    /// reply's `errorLabels`. `None` for a successful reply.
    pub(crate) fn from_reply(reply: &Document) -> Option<Error> {
        let ok = match reply.get("ok") {
            Some(Bson::Double(v)) => *v == 1.0,
            Some(Bson::Int32(v)) => *v == 1,
            Some(Bson::Int64(v)) => *v == 1,
            Some(Bson::Boolean(v)) => *v,
            _ => false,
        };
        let kind = if !ok {
            ErrorKind::Command(CommandError {
                code: reply
                    .get("code")
                    .and_then(as_i32)
                    .unwrap_or(ErrorCode::UnknownError.code()),
                code_name: reply
                    .get_str("codeName")
                    .unwrap_or("UnknownError")
                    .to_owned(),
                message: reply
                    .get_str("errmsg")
                    .unwrap_or("the server reported an error without a message")
                    .to_owned(),
            })
        } else {
            let write_errors: Vec<WriteError> = match reply.get("writeErrors") {
                Some(Bson::Array(items)) => items
                    .iter()
                    .filter_map(Bson::as_document)
                    .map(parse_write_error)
                    .collect(),
                _ => Vec::new(),
            };
            let write_concern_error = match reply.get("writeConcernError") {
                Some(Bson::Document(wce)) => Some(parse_write_concern_error(wce)),
                _ => None,
            };
            match (write_errors.is_empty(), write_concern_error) {
                (true, None) => return None,
                (true, Some(wce)) => ErrorKind::WriteConcern(wce),
                (false, write_concern_error) => ErrorKind::Write {
                    write_errors,
                    write_concern_error,
                },
            }
        };
        let mut error = Error::new(kind);
        if let Some(Bson::Array(labels)) = reply.get("errorLabels") {
            for label in labels.iter().filter_map(Bson::as_str) {
                error.add_label(Label::parse(label));
            }
        }
        Some(error)
    }
}

fn as_i32(value: &Bson) -> Option<i32> {
    match value {
        Bson::Int32(v) => Some(*v),
        Bson::Int64(v) => i32::try_from(*v).ok(),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i32),
        _ => None,
    }
}

fn parse_write_error(doc: &Document) -> WriteError {
    let mut details = doc.clone();
    for field in ["index", "code", "codeName", "errmsg"] {
        details.remove(field);
    }
    WriteError {
        index: doc
            .get("index")
            .and_then(as_i32)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0),
        code: doc
            .get("code")
            .and_then(as_i32)
            .unwrap_or(ErrorCode::UnknownError.code()),
        code_name: doc.get_str("codeName").ok().map(str::to_owned),
        message: doc.get_str("errmsg").unwrap_or_default().to_owned(),
        details,
    }
}

fn parse_write_concern_error(doc: &Document) -> WriteConcernError {
    WriteConcernError {
        code: doc
            .get("code")
            .and_then(as_i32)
            .unwrap_or(ErrorCode::UnknownError.code()),
        code_name: doc.get_str("codeName").ok().map(str::to_owned),
        message: doc.get_str("errmsg").unwrap_or_default().to_owned(),
        details: doc.get_document("errInfo").cloned().unwrap_or_default(),
    }
}

/// Finds the causeway [`Error`] in an error's source chain (the error itself first), so a
/// caller's own error type that wraps one still exposes its labels.
pub fn find_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<Error>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

impl From<bson::error::Error> for Error {
    fn from(e: bson::error::Error) -> Error {
        Error::serialization(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn reads_command_errors_with_labels() {
        let reply = doc! {"ok": 0.0, "code": 112, "codeName": "WriteConflict", "errmsg": "conflict", "errorLabels": ["TransientTransactionError"]};
        let error = Error::from_reply(&reply).expect("an error");
        assert_eq!(error.code(), Some(112));
        assert!(error.has_code(ErrorCode::WriteConflict));
        assert!(error.is_transient());
        assert_eq!(error.to_string(), "WriteConflict (112): conflict");
    }

    #[test]
    fn reads_write_and_write_concern_errors() {
        let reply = doc! {"ok": 1.0, "n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key", "keyValue": {"_id": 1}}]};
        let error = Error::from_reply(&reply).expect("an error");
        assert_eq!(error.code(), Some(11000));
        assert_eq!(
            error.write_errors()[0].details,
            doc! {"keyValue": {"_id": 1}}
        );
        assert!(error.to_string().contains("E11000"));
        let reply = doc! {"ok": 1.0, "writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": true}}};
        let error = Error::from_reply(&reply).expect("an error");
        assert!(
            error
                .write_concern_error()
                .is_some_and(WriteConcernError::is_timeout)
        );
        assert!(Error::from_reply(&doc! {"ok": 1.0, "n": 1}).is_none());
    }

    #[test]
    fn a_timeout_keeps_the_last_error_and_its_labels() {
        let mut last = Error::new(ErrorKind::Command(CommandError {
            code: 112,
            code_name: "WriteConflict".into(),
            message: "c".into(),
        }));
        last.add_label(Label::TransientTransactionError);
        let timeout = Error::timeout("with_transaction ran out of time", last.clone());
        assert!(timeout.is_transient());
        assert_eq!(timeout.code(), Some(112));
        let source = std::error::Error::source(&timeout).and_then(|s| s.downcast_ref::<Error>());
        assert_eq!(source, Some(&last));
    }

    #[test]
    fn finds_the_error_inside_a_callers_error() {
        #[derive(Debug)]
        struct Mine(Error);
        impl fmt::Display for Mine {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "mine")
            }
        }
        impl std::error::Error for Mine {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = Error::network("closed");
        let mine = Mine(inner.clone());
        assert_eq!(find_error(&mine), Some(&inner));
    }
}
