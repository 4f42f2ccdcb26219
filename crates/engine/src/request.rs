//! The generic arguments of a command: session, transaction, read and write concern, time
//! limit — parsed and checked once, before the command runs.

use std::time::Duration;

use bson::{Bson, Document};

use crate::clock::Ts;
use crate::compare::Number;
use crate::compare::type_name;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::session::SessionKey;

/// The read concern level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadConcernLevel {
    /// The member's newest data.
    Local,
    /// Like local, for secondaries of sharded clusters.
    Available,
    /// Data a majority of members has applied.
    Majority,
    /// Like majority, after confirming the member is still primary.
    Linearizable,
    /// One point in time.
    Snapshot,
}

/// A parsed `readConcern`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadConcern {
    /// `level`, if given.
    pub level: Option<ReadConcernLevel>,
    /// `afterClusterTime`: read at or after this time.
    pub after_cluster_time: Option<Ts>,
    /// `atClusterTime`: read at exactly this time (snapshot only).
    pub at_cluster_time: Option<Ts>,
}

impl ReadConcern {
    /// Parses a `readConcern` value, which must be a document.
    pub fn parse(value: &Bson) -> CommandResult<ReadConcern> {
        let Bson::Document(doc) = value else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'readConcern' is the wrong type '{}', expected type 'object'",
                type_name(value)
            )));
        };
        ReadConcern::from_document(doc)
    }

    /// Parses a `readConcern` document.
    pub fn from_document(doc: &Document) -> CommandResult<ReadConcern> {
        let mut rc = ReadConcern::default();
        for (key, v) in doc {
            match (key.as_str(), v) {
                ("level", Bson::String(level)) => {
                    rc.level = Some(match level.as_str() {
                        "local" => ReadConcernLevel::Local,
                        "available" => ReadConcernLevel::Available,
                        "majority" => ReadConcernLevel::Majority,
                        "linearizable" => ReadConcernLevel::Linearizable,
                        "snapshot" => ReadConcernLevel::Snapshot,
                        other => {
                            return Err(CommandError::failed_to_parse(format!(
                                "Enumeration value '{other}' for field 'readConcern.level' is not a valid value."
                            )));
                        }
                    })
                }
                ("afterClusterTime", Bson::Timestamp(ts)) => {
                    rc.after_cluster_time = Some(Ts::from_bson(*ts))
                }
                ("atClusterTime", Bson::Timestamp(ts)) => {
                    rc.at_cluster_time = Some(Ts::from_bson(*ts))
                }
                ("level" | "afterClusterTime" | "atClusterTime", other) => {
                    return Err(CommandError::type_mismatch(format!(
                        "BSON field 'readConcern.{key}' is the wrong type '{}'",
                        type_name(other)
                    )));
                }
                ("afterOpTime" | "provenance", _) => {}
                _ => {
                    return Err(CommandError::with_code(
                        40415,
                        format!("BSON field 'readConcern.{key}' is an unknown field."),
                    ));
                }
            }
        }
        if rc.at_cluster_time.is_some() && rc.level != Some(ReadConcernLevel::Snapshot) {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "readConcern.atClusterTime is only valid with readConcern level 'snapshot'",
            ));
        }
        if rc.at_cluster_time.is_some() && rc.after_cluster_time.is_some() {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "Specifying a timestamp for readConcern snapshot in a causally consistent session is not allowed.",
            ));
        }
        Ok(rc)
    }
}

/// The `w` of a write concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// This many members.
    Nodes(u32),
    /// A majority of the voting members.
    Majority,
    /// A named mode (none are configured; always an error).
    Tag(String),
}

/// A parsed `writeConcern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteConcern {
    /// `w`; absent means 1 (or the default).
    pub w: Option<Acknowledgement>,
    /// `j`: wait for the journal (in memory, always satisfied with `w`).
    pub journal: Option<bool>,
    /// `wtimeout`.
    pub timeout: Option<Duration>,
}

impl WriteConcern {
    /// Parses a `writeConcern` value, which must be a document.
    pub fn parse(value: &Bson) -> CommandResult<WriteConcern> {
        let Bson::Document(doc) = value else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'writeConcern' is the wrong type '{}', expected type 'object'",
                type_name(value)
            )));
        };
        WriteConcern::from_document(doc)
    }

    /// Parses a `writeConcern` document.
    pub fn from_document(doc: &Document) -> CommandResult<WriteConcern> {
        let mut wc = WriteConcern {
            w: None,
            journal: None,
            timeout: None,
        };
        for (key, v) in doc {
            match key.as_str() {
                "w" => {
                    wc.w = Some(match v {
                        Bson::String(s) if s == "majority" => Acknowledgement::Majority,
                        Bson::String(s) => Acknowledgement::Tag(s.clone()),
                        other => match Number::from_bson(other) {
                            Some(Number::Int(n)) if (0..=50).contains(&n) => {
                                Acknowledgement::Nodes(n as u32)
                            }
                            Some(Number::Float(f))
                                if f.fract() == 0.0 && (0.0..=50.0).contains(&f) =>
                            {
                                Acknowledgement::Nodes(f as u32)
                            }
                            Some(_) => {
                                return Err(CommandError::failed_to_parse(
                                    "w has to be a non-negative number and not greater than 50; found: ".to_owned()
                                        + &other.to_string(),
                                ));
                            }
                            None => {
                                return Err(CommandError::failed_to_parse(
                                    "w has to be a number or string",
                                ));
                            }
                        },
                    })
                }
                "j" | "fsync" => match v {
                    Bson::Boolean(b) => wc.journal = Some(*b),
                    other => match Number::from_bson(other) {
                        Some(n) => wc.journal = Some(n.as_f64() != 0.0),
                        None => {
                            return Err(CommandError::failed_to_parse(format!(
                                "'{key}' must be a boolean"
                            )));
                        }
                    },
                },
                "wtimeout" | "wtimeoutMS" => match Number::from_bson(v) {
                    Some(n) => wc.timeout = Some(Duration::from_millis(n.as_f64().max(0.0) as u64)),
                    None => return Err(CommandError::failed_to_parse("wtimeout must be a number")),
                },
                "provenance" | "getLastError" => {}
                other => {
                    return Err(CommandError::with_code(
                        40415,
                        format!("BSON field 'writeConcern.{other}' is an unknown field."),
                    ));
                }
            }
        }
        if wc.w == Some(Acknowledgement::Nodes(0)) && wc.journal == Some(true) {
            return Err(CommandError::failed_to_parse("Cannot use w:0 with j:true"));
        }
        Ok(wc)
    }

    /// Whether the client does not wait for a reply (`w: 0`).
    pub fn is_unacknowledged(&self) -> bool {
        self.w == Some(Acknowledgement::Nodes(0))
    }
}

/// The arguments a driver's session adds to a command, given apart from its body: an
/// in-process client hands them over as they are instead of writing them into the command
/// for [`Request::parse`] to read back (see [`crate::Engine::run_with_session`]).
#[derive(Debug, Clone, Default)]
pub struct SessionArguments {
    /// `lsid`.
    pub lsid: Option<SessionKey>,
    /// `txnNumber`; must not be negative.
    pub txn_number: Option<i64>,
    /// `autocommit` (only `false` is valid).
    pub autocommit: Option<bool>,
    /// `startTransaction: true`.
    pub start_transaction: bool,
    /// `readConcern`, as sent.
    pub read_concern: Option<Document>,
    /// `writeConcern`, as sent.
    pub write_concern: Option<Document>,
    /// The time of `$clusterTime`, which moves the node's clock forward.
    pub cluster_time: Option<Ts>,
}

/// The generic arguments of a command document, as one pass over its fields finds them.
/// Commands are small, and a lookup by name hashes the name: one pass costs less than a
/// lookup for each argument. Type errors are kept, to be reported after the command's name
/// is checked and in a fixed order (`lsid`, `txnNumber`, `autocommit`, `startTransaction`,
/// the concerns), whatever the order of the fields.
pub(crate) struct GenericFields {
    lsid: Option<CommandResult<SessionKey>>,
    txn_number: Option<CommandResult<i64>>,
    autocommit: Option<CommandResult<bool>>,
    start_transaction: CommandResult<bool>,
    /// The time of `$clusterTime`, which moves the node's clock forward.
    pub(crate) cluster_time: Option<Ts>,
    has_db: bool,
    has_read_concern: bool,
    has_write_concern: bool,
}

impl GenericFields {
    pub(crate) fn find(body: &Document) -> GenericFields {
        let mut found = GenericFields {
            lsid: None,
            txn_number: None,
            autocommit: None,
            start_transaction: Ok(false),
            cluster_time: None,
            has_db: false,
            has_read_concern: false,
            has_write_concern: false,
        };
        for (key, value) in body {
            match key.as_str() {
                "lsid" => found.lsid = Some(SessionKey::from_lsid(value)),
                "txnNumber" => found.txn_number = Some(txn_number(value)),
                "autocommit" => found.autocommit = Some(autocommit(value)),
                "startTransaction" => found.start_transaction = start_transaction(value),
                "$clusterTime" => found.cluster_time = cluster_time(value),
                "$db" => found.has_db = true,
                "readConcern" => found.has_read_concern = true,
                "writeConcern" => found.has_write_concern = true,
                _ => {}
            }
        }
        found
    }

    /// Whether the command carries `txnNumber`, of any type.
    pub(crate) fn has_txn_number(&self) -> bool {
        self.txn_number.is_some()
    }

    /// Whether the command carries `autocommit`, of any type.
    pub(crate) fn has_autocommit(&self) -> bool {
        self.autocommit.is_some()
    }

    /// The session's arguments; the read and write concerns are moved out of `body` rather
    /// than copied (no command reads them from its body).
    fn into_arguments(self, body: &mut Document) -> CommandResult<SessionArguments> {
        let concern = |body: &mut Document, present: bool, field: &str| match present
            .then(|| body.remove(field))
            .flatten()
        {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d)),
            Some(other) => Err(CommandError::type_mismatch(format!(
                "BSON field '{field}' is the wrong type '{}', expected type 'object'",
                type_name(&other)
            ))),
        };
        Ok(SessionArguments {
            lsid: self.lsid.transpose()?,
            txn_number: self.txn_number.transpose()?,
            autocommit: self.autocommit.transpose()?,
            start_transaction: self.start_transaction?,
            read_concern: concern(body, self.has_read_concern, "readConcern")?,
            write_concern: concern(body, self.has_write_concern, "writeConcern")?,
            cluster_time: self.cluster_time,
        })
    }
}

fn txn_number(value: &Bson) -> CommandResult<i64> {
    match value {
        Bson::Int64(n) => Ok(*n),
        Bson::Int32(n) => Ok(i64::from(*n)),
        other => Err(CommandError::type_mismatch(format!(
            "BSON field 'txnNumber' is the wrong type '{}', expected type 'long'",
            type_name(other)
        ))),
    }
}

fn autocommit(value: &Bson) -> CommandResult<bool> {
    match value {
        Bson::Boolean(b) => Ok(*b),
        other => Err(CommandError::type_mismatch(format!(
            "BSON field 'autocommit' is the wrong type '{}', expected type 'bool'",
            type_name(other)
        ))),
    }
}

fn start_transaction(value: &Bson) -> CommandResult<bool> {
    match value {
        Bson::Boolean(true) => Ok(true),
        Bson::Boolean(false) => Err(CommandError::new(
            ErrorCode::InvalidOptions,
            "Specifying startTransaction=false is not allowed.",
        )),
        other => Err(CommandError::type_mismatch(format!(
            "BSON field 'startTransaction' is the wrong type '{}', expected type 'bool'",
            type_name(other)
        ))),
    }
}

/// The time of a `$clusterTime` document; anything else is ignored.
fn cluster_time(value: &Bson) -> Option<Ts> {
    match value {
        Bson::Document(ct) => match ct.get("clusterTime") {
            Some(Bson::Timestamp(ts)) => Some(Ts::from_bson(*ts)),
            _ => None,
        },
        _ => None,
    }
}

/// A command with its generic arguments parsed.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The database it runs on.
    pub db: &'a str,
    /// The whole command document.
    pub body: Document,
    /// `lsid`.
    pub lsid: Option<SessionKey>,
    /// `txnNumber`.
    pub txn_number: Option<i64>,
    /// `autocommit` (only `false` is valid).
    pub autocommit: Option<bool>,
    /// `startTransaction: true`.
    pub start_transaction: bool,
    /// `readConcern`.
    pub read_concern: Option<ReadConcern>,
    /// `writeConcern`.
    pub write_concern: Option<WriteConcern>,
    /// `maxTimeMS`, if non-zero.
    pub max_time: Option<Duration>,
    /// Whether the reply will get `operationTime` and `$clusterTime` as fields: a command
    /// that came as a document ([`Request::parse`]) gets its reply as one, while one whose
    /// session arguments came apart ([`Request::with_session`]) gets the times as values.
    /// Replies are made with room for the two fields when they will get them.
    pub(crate) reply_gets_times: bool,
}

impl<'a> Request<'a> {
    /// Parses the generic arguments of `body`.
    pub fn parse(db: &'a str, body: Document) -> CommandResult<Request<'a>> {
        let fields = GenericFields::find(&body);
        Request::parse_found(db, body, fields, true)
    }

    /// [`Request::parse`], with what one pass over `body` found of its generic arguments, for
    /// a reply that will or will not get the times as fields (`reply_gets_times`).
    pub(crate) fn parse_found(
        db: &'a str,
        mut body: Document,
        fields: GenericFields,
        reply_gets_times: bool,
    ) -> CommandResult<Request<'a>> {
        if fields.has_db {
            body.remove("$db");
        }
        check_command_name(db, &body)?;
        let session = fields.into_arguments(&mut body)?;
        Request::build(db, body, session, reply_gets_times)
    }

    /// A command whose session arguments come apart from `body`; any the body carries itself
    /// are ignored. Its other generic arguments (`maxTimeMS`) are read from the body.
    pub fn with_session(
        db: &'a str,
        body: Document,
        session: SessionArguments,
    ) -> CommandResult<Request<'a>> {
        check_command_name(db, &body)?;
        Request::build(db, body, session, false)
    }

    /// Checks the session arguments against each other and parses the rest.
    fn build(
        db: &'a str,
        body: Document,
        session: SessionArguments,
        reply_gets_times: bool,
    ) -> CommandResult<Request<'a>> {
        let SessionArguments {
            lsid,
            txn_number,
            autocommit,
            start_transaction,
            read_concern,
            write_concern,
            cluster_time: _,
        } = session;
        if let Some(n) = txn_number.filter(|n| *n < 0) {
            return Err(CommandError::bad_value(format!(
                "TxnNumber cannot be negative, got {n}"
            )));
        }
        if txn_number.is_some() && lsid.is_none() {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "Transaction number requires a session ID to also be specified",
            ));
        }
        if autocommit == Some(true) {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "Specifying autocommit=true is not allowed.",
            ));
        }
        if autocommit.is_some() && txn_number.is_none() {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "'autocommit' field requires a transaction number to also be specified",
            ));
        }
        if start_transaction && autocommit.is_none() {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "'startTransaction' field requires 'autocommit' field to also be specified",
            ));
        }
        let read_concern = read_concern
            .map(|rc| ReadConcern::from_document(&rc))
            .transpose()?;
        let write_concern = write_concern
            .map(|wc| WriteConcern::from_document(&wc))
            .transpose()?;
        let max_time = match body.get("maxTimeMS") {
            None => None,
            Some(v) => match Number::from_bson(v) {
                Some(Number::Int(n)) if n >= 0 && n <= i64::from(i32::MAX) => {
                    (n > 0).then(|| Duration::from_millis(n as u64))
                }
                Some(Number::Float(f))
                    if f >= 0.0 && f <= f64::from(i32::MAX) && f.fract() == 0.0 =>
                {
                    (f > 0.0).then(|| Duration::from_millis(f as u64))
                }
                _ => {
                    return Err(CommandError::bad_value(format!(
                        "{v} is not a valid value for maxTimeMS"
                    )));
                }
            },
        };
        Ok(Request {
            db,
            body,
            lsid,
            txn_number,
            autocommit,
            start_transaction,
            read_concern,
            write_concern,
            max_time,
            reply_gets_times,
        })
    }

    /// Whether the command belongs to a multi-document transaction (`autocommit: false`).
    pub fn in_transaction(&self) -> bool {
        self.autocommit == Some(false)
    }

    /// Whether it is a retryable write: a `txnNumber` outside a transaction.
    pub fn is_retryable_write(&self) -> bool {
        self.txn_number.is_some() && self.autocommit.is_none()
    }

    /// The command name: the body's first field (a request is never empty).
    pub fn name(&self) -> &str {
        self.body.keys().next().map_or("", String::as_str)
    }

    /// The value of the command's first field (usually the collection name).
    pub fn target(&self) -> &Bson {
        self.body.values().next().unwrap_or(&Bson::Null)
    }

    /// The collection the command names in its first field.
    pub fn collection_name(&self) -> CommandResult<&str> {
        match self.target() {
            Bson::String(s) => {
                crate::storage::validate_collection_name(self.db, s)?;
                Ok(s)
            }
            other => Err(CommandError::new(
                ErrorCode::InvalidNamespace,
                format!("collection name has invalid type {}", type_name(other)),
            )),
        }
    }
}

/// Checks that the command has a name (its first field) and that the database name is valid.
fn check_command_name(db: &str, body: &Document) -> CommandResult<()> {
    if body.is_empty() {
        return Err(CommandError::new(
            ErrorCode::CommandNotFound,
            "no command name given: the command document is empty",
        ));
    }
    crate::storage::validate_db_name(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, Timestamp, doc, spec::BinarySubtype};

    fn lsid() -> Document {
        doc! { "id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![1; 16] } }
    }

    #[test]
    fn parses_transaction_arguments() {
        let req = Request::parse(
            "shop",
            doc! {"insert": "orders", "$db": "shop", "lsid": lsid(), "txnNumber": 3_i64, "autocommit": false, "startTransaction": true},
        )
        .expect("valid");
        assert!(req.in_transaction() && req.start_transaction);
        assert_eq!(req.txn_number, Some(3));
        assert_eq!(req.collection_name().ok(), Some("orders"));
        assert!(!req.body.contains_key("$db"));
    }

    #[test]
    fn refuses_inconsistent_session_arguments() {
        let code = |cmd: Document| Request::parse("db", cmd).map(|_| ()).map_err(|e| e.code);
        assert_eq!(code(doc! {"find": "c", "txnNumber": 1_i64}), Err(72));
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid(), "txnNumber": 1_i64, "autocommit": true}),
            Err(72)
        );
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid(), "autocommit": false}),
            Err(72)
        );
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid(), "txnNumber": "x"}),
            Err(14)
        );
        assert_eq!(code(doc! {}), Err(59));
    }

    #[test]
    fn parses_read_and_write_concerns() {
        let rc = ReadConcern::parse(&Bson::Document(
            doc! {"level": "majority", "afterClusterTime": Timestamp { time: 5, increment: 1 }},
        ))
        .expect("valid");
        assert_eq!(rc.level, Some(ReadConcernLevel::Majority));
        assert!(ReadConcern::parse(&Bson::Document(doc! {"level": "bogus"})).is_err());
        let wc = WriteConcern::parse(&Bson::Document(doc! {"w": "majority", "wtimeout": 100}))
            .expect("valid");
        assert_eq!(wc.w, Some(Acknowledgement::Majority));
        assert_eq!(wc.timeout, Some(Duration::from_millis(100)));
        assert!(WriteConcern::parse(&Bson::Document(doc! {"w": -1})).is_err());
        assert!(
            WriteConcern::parse(&Bson::Document(doc! {"w": 0}))
                .expect("valid")
                .is_unacknowledged()
        );
    }
}
