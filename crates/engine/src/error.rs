//! Server error codes and the error a command handler returns.
//!
//! Codes and names are those `mongod` uses (`src/mongo/base/error_codes.yml` in the
//! server's repository); a driver matches on them, so they must be exact.

use std::fmt;

use bson::{Bson, Document, doc};

macro_rules! error_codes {
    ($($name:ident = $code:literal,)*) => {
        /// A server error code, as `mongod` reports it in `code` / `codeName`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), ")")]
                $name,
            )*
        }

        impl ErrorCode {
            /// The numeric code.
            pub const fn code(self) -> i32 {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// The name `mongod` gives the code (`codeName`).
            pub const fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// The code with this number, if it is one this engine knows.
            pub fn from_code(code: i32) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    InternalError = 1,
    BadValue = 2,
    NoSuchKey = 4,
    HostUnreachable = 6,
    HostNotFound = 7,
    UnknownError = 8,
    FailedToParse = 9,
    Unauthorized = 13,
    TypeMismatch = 14,
    Overflow = 15,
    InvalidLength = 16,
    IllegalOperation = 20,
    LockTimeout = 24,
    NamespaceNotFound = 26,
    IndexNotFound = 27,
    PathNotViable = 28,
    CannotBackfillArray = 34,
    ConflictingUpdateOperators = 40,
    CursorNotFound = 43,
    NamespaceExists = 48,
    MaxTimeMSExpired = 50,
    DollarPrefixedFieldName = 52,
    InvalidIdField = 53,
    NotSingleValueField = 54,
    InvalidDBRef = 55,
    EmptyFieldName = 56,
    CommandNotFound = 59,
    WriteConcernTimeout = 64,
    ImmutableField = 66,
    CannotCreateIndex = 67,
    IndexAlreadyExists = 68,
    InvalidOptions = 72,
    InvalidNamespace = 73,
    UnknownReplWriteConcern = 79,
    IndexOptionsConflict = 85,
    IndexKeySpecsConflict = 86,
    NetworkTimeout = 89,
    ShutdownInProgress = 91,
    OperationFailed = 96,
    UnsatisfiableWriteConcern = 100,
    WriteConflict = 112,
    CommandNotSupported = 115,
    ConflictingOperationInProgress = 117,
    ReadConcernMajorityNotAvailableYet = 134,
    InvalidPipelineOperator = 168,
    CannotIndexParallelArrays = 171,
    PrimarySteppedDown = 189,
    InvalidIndexSpecificationOption = 197,
    NoSuchSession = 206,
    TransactionTooOld = 225,
    NotImplemented = 238,
    SnapshotTooOld = 239,
    ConversionFailure = 241,
    SnapshotUnavailable = 246,
    StaleChunkHistory = 250,
    NoSuchTransaction = 251,
    TransactionCommitted = 256,
    ExceededTimeLimit = 262,
    OperationNotSupportedInTransaction = 263,
    PreparedTransactionInProgress = 267,
    MigrationConflict = 272,
    SocketException = 9001,
    NotWritablePrimary = 10107,
    BSONObjectTooLarge = 10334,
    DuplicateKey = 11000,
    InterruptedAtShutdown = 11600,
    Interrupted = 11601,
    InterruptedDueToReplStateChange = 11602,
    NotPrimaryNoSecondaryOk = 13435,
    NotPrimaryOrSecondary = 13436,
    StaleConfig = 13388,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl ErrorCode {
    /// Whether `mongod` files the code under `RetriableError`: the operation may be sent
    /// again, to the same or another member.
    pub fn is_retriable(code: i32) -> bool {
        matches!(
            code,
            6 | 7
                | 89
                | 91
                | 134
                | 189
                | 262
                | 317
                | 358
                | 384
                | 402
                | 406
                | 407
                | 412
                | 9001
                | 10107
                | 11600
                | 11602
                | 13435
                | 13436
        )
    }

    /// Whether the code means the transaction failed without lasting effect, so the whole
    /// transaction may be retried (`TransientTransactionError`), following `mongod`'s rule:
    /// conflicts and snapshot errors always; retriable errors and `NoSuchTransaction` on
    /// statements; `NoSuchTransaction` on commit or abort only without a write-concern error.
    pub fn is_transient_transaction_error(
        code: i32,
        has_write_concern_error: bool,
        is_commit_or_abort: bool,
    ) -> bool {
        const ALWAYS: [ErrorCode; 7] = [
            ErrorCode::WriteConflict,
            ErrorCode::LockTimeout,
            ErrorCode::PreparedTransactionInProgress,
            ErrorCode::SnapshotTooOld,
            ErrorCode::SnapshotUnavailable,
            ErrorCode::StaleChunkHistory,
            ErrorCode::MigrationConflict,
        ];
        if ALWAYS.iter().any(|c| c.code() == code) {
            return true;
        }
        let no_such_transaction = code == ErrorCode::NoSuchTransaction.code();
        if is_commit_or_abort {
            no_such_transaction && !has_write_concern_error
        } else {
            no_such_transaction || ErrorCode::is_retriable(code)
        }
    }
}

/// An error label a reply may carry in `errorLabels`.
pub mod labels {
    /// The whole transaction may be retried.
    pub const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
    /// The commit may or may not have happened; retrying the commit is safe.
    pub const UNKNOWN_TRANSACTION_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";
    /// A retryable write may be sent again with the same `txnNumber`.
    pub const RETRYABLE_WRITE_ERROR: &str = "RetryableWriteError";
}

/// A command failure: the server code, a message and the labels of the reply.
///
/// Handlers return it; the dispatcher turns it into `{ok: 0, errmsg, code, codeName,
/// errorLabels}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// The code (`code` and `codeName` in the reply).
    pub code: i32,
    /// The code's name; unknown codes (from a fail point) are named by number.
    pub code_name: String,
    /// What went wrong, for a person.
    pub message: String,
    /// `errorLabels` of the reply.
    pub labels: Vec<String>,
    /// Extra fields copied into the reply (`keyPattern`, `keyValue`, `errInfo`, ...); boxed to
    /// keep results small on the path that succeeds.
    pub extra: Option<Box<Document>>,
}

impl CommandError {
    /// An error with a known code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code: code.code(),
            code_name: code.name().to_owned(),
            message: message.into(),
            labels: Vec::new(),
            extra: None,
        }
    }

    /// An error with any numeric code, named by [`ErrorCode`] when known.
    pub fn with_code(code: i32, message: impl Into<String>) -> CommandError {
        let code_name = ErrorCode::from_code(code)
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| format!("Location{code}"));
        CommandError {
            code,
            code_name,
            message: message.into(),
            labels: Vec::new(),
            extra: None,
        }
    }

    /// `BadValue` (2).
    pub fn bad_value(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorCode::BadValue, message)
    }

    /// `TypeMismatch` (14).
    pub fn type_mismatch(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorCode::TypeMismatch, message)
    }

    /// `FailedToParse` (9).
    pub fn failed_to_parse(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorCode::FailedToParse, message)
    }

    /// Adds a label unless it is already there.
    pub fn with_label(mut self, label: &str) -> CommandError {
        if !self.has_label(label) {
            self.labels.push(label.to_owned());
        }
        self
    }

    /// Adds a field to the reply.
    pub fn with_extra(mut self, key: &str, value: impl Into<Bson>) -> CommandError {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key, value.into());
        self
    }

    /// Whether the error carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }

    /// Whether the error has this code.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.code()
    }

    /// The `{ok: 0, ...}` reply body (without `operationTime` / `$clusterTime`).
    pub fn to_reply(&self) -> Document {
        let mut reply = crate::reply::document(true);
        reply.insert("ok", 0.0);
        reply.insert("errmsg", self.message.clone());
        reply.insert("code", self.code);
        reply.insert("codeName", self.code_name.clone());
        for (k, v) in self.extra.iter().flat_map(|extra| extra.iter()) {
            reply.insert(k.clone(), v.clone());
        }
        if !self.labels.is_empty() {
            let labels: Vec<Bson> = self.labels.iter().cloned().map(Bson::String).collect();
            reply.insert("errorLabels", labels);
        }
        reply
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code_name, self.code, self.message)
    }
}

impl std::error::Error for CommandError {}

/// The result of a command handler.
pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_numbers() {
        for code in [
            ErrorCode::WriteConflict,
            ErrorCode::NoSuchTransaction,
            ErrorCode::DuplicateKey,
        ] {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
        }
        assert_eq!(ErrorCode::WriteConflict.name(), "WriteConflict");
        assert_eq!(ErrorCode::NotWritablePrimary.code(), 10107);
    }

    #[test]
    fn reply_carries_code_name_and_labels() {
        let err = CommandError::new(ErrorCode::WriteConflict, "conflict")
            .with_label(labels::TRANSIENT_TRANSACTION_ERROR)
            .with_label(labels::TRANSIENT_TRANSACTION_ERROR);
        let reply = err.to_reply();
        assert_eq!(reply.get_f64("ok").ok(), Some(0.0));
        assert_eq!(reply.get_i32("code").ok(), Some(112));
        assert_eq!(reply.get_str("codeName").ok(), Some("WriteConflict"));
        assert_eq!(
            reply.get_array("errorLabels").map(|a| a.len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn unknown_codes_are_named_by_number() {
        assert_eq!(
            CommandError::with_code(424242, "x").code_name,
            "Location424242"
        );
    }
}
