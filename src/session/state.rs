//! The state of one client session, and the rules that decorate its commands and absorb
//! their replies.

use std::time::Duration;

use bson::{Document, Timestamp, doc};

use super::ServerSession;
use crate::cluster_time::ClusterTime;
use crate::errors::{Error, ErrorCode, ErrorKind, Label, Result};
use crate::operation::{OpKind, Operation};
use crate::options::{
    Acknowledgment, ReadConcernLevel, ReadPreference, SessionOptions, TransactionOptions,
    WriteConcern,
};
use crate::transport::{Envelope, Reply};

/// Where a session's transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction.
    None,
    /// Started; no command sent yet.
    Starting,
    /// Its first command was sent.
    InProgress,
    /// Commit was called after commands were sent (calling it again retries the commit).
    Committed,
    /// Commit was called before any command: nothing was ever sent.
    CommittedEmpty,
    /// Aborted.
    Aborted,
}

/// How the session prepared one command: what the reply handling needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// The command belongs to a transaction.
    pub in_transaction: bool,
    /// It is `commitTransaction`.
    pub is_commit: bool,
    /// It carries a `txnNumber` as a retryable write.
    pub retryable_write: bool,
    /// It is the first read of a snapshot session, whose reply fixes the snapshot time.
    pub fixes_snapshot_time: bool,
}

/// The end of a transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// `commitTransaction`; a retry upgrades the write concern to majority.
    Commit { retry: bool },
    /// `abortTransaction`.
    Abort,
}

/// One session's state.
#[derive(Debug)]
pub(crate) struct SessionState {
    server: Option<ServerSession>,
    /// The server session's UUID, kept after the server session is given back.
    uuid: [u8; 16],
    pub options: SessionOptions,
    implicit: bool,
    pub cluster_time: Option<ClusterTime>,
    pub operation_time: Option<Timestamp>,
    pub snapshot_time: Option<Timestamp>,
    pub txn: TransactionState,
    txn_options: TransactionOptions,
    /// A command of the current transaction failed on the server (which aborts it there).
    pub failed_command: Option<Error>,
}

const COMMIT_RETRY_TIMEOUT: Duration = Duration::from_secs(10);

impl SessionState {
    pub fn new(server: ServerSession, options: SessionOptions, implicit: bool) -> SessionState {
        SessionState {
            uuid: server.uuid,
            server: Some(server),
            options,
            implicit,
            cluster_time: None,
            operation_time: None,
            snapshot_time: None,
            txn: TransactionState::None,
            txn_options: TransactionOptions::default(),
            failed_command: None,
        }
        .starting_at_snapshot()
    }

    fn starting_at_snapshot(mut self) -> SessionState {
        self.snapshot_time = self.options.snapshot_time;
        self
    }

    pub fn lsid(&self) -> Document {
        crate::transport::lsid_document(self.uuid)
    }

    /// Whether the server session saw a network error (it will be discarded, not pooled).
    pub fn is_dirty(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.dirty)
    }

    pub fn has_ended(&self) -> bool {
        self.server.is_none()
    }

    pub fn in_transaction(&self) -> bool {
        matches!(
            self.txn,
            TransactionState::Starting | TransactionState::InProgress
        )
    }

    fn causal(&self) -> bool {
        !self.implicit
            && self
                .options
                .causal_consistency
                .unwrap_or(!self.is_snapshot())
    }

    fn is_snapshot(&self) -> bool {
        self.options.snapshot.unwrap_or(false)
    }

    /// Gives back the server session (once).
    pub fn end(&mut self) -> Option<ServerSession> {
        self.server.take()
    }

    /// The session is being dropped: an open transaction is marked aborted; returns what the
    /// server must be told to abort, if a command of it was sent.
    pub fn abandon(&mut self) -> Option<(Document, i64)> {
        let sent = self.txn == TransactionState::InProgress;
        if self.in_transaction() {
            self.txn = TransactionState::Aborted;
        }
        match (&self.server, sent) {
            (Some(server), true) => Some((server.lsid(), server.txn_number)),
            _ => None,
        }
    }

    pub fn advance_cluster_time(&mut self, cluster_time: &ClusterTime) {
        ClusterTime::advance(&mut self.cluster_time, cluster_time);
    }

    pub fn advance_operation_time(&mut self, operation_time: Timestamp) {
        if self
            .operation_time
            .is_none_or(|current| operation_time > current)
        {
            self.operation_time = Some(operation_time);
        }
    }

    /// `startTransaction`: checks the state and resolves the options.
    pub fn start_transaction(
        &mut self,
        options: &TransactionOptions,
        client_defaults: &TransactionOptions,
    ) -> Result<()> {
        if self.has_ended() {
            return Err(Error::new(ErrorKind::SessionEnded));
        }
        if self.is_snapshot() {
            return Err(Error::transaction_state(
                "Transactions are not supported in snapshot sessions",
            ));
        }
        if self.in_transaction() {
            return Err(Error::transaction_state("Transaction already in progress"));
        }
        let session_defaults = self
            .options
            .default_transaction_options
            .clone()
            .unwrap_or_default();
        let resolved = options.or(&session_defaults).or(client_defaults);
        if resolved
            .write_concern
            .as_ref()
            .is_some_and(WriteConcern::is_unacknowledged)
        {
            return Err(Error::transaction_state(
                "transactions do not support unacknowledged write concern",
            ));
        }
        if let Some(server) = &mut self.server {
            server.txn_number += 1;
        }
        self.txn = TransactionState::Starting;
        self.txn_options = resolved;
        self.failed_command = None;
        Ok(())
    }

    /// The arguments this session adds to an operation's command (see the module docs of
    /// `session`); `first_attempt` is false when a retryable write is sent again, which keeps
    /// its transaction number. The command loses the arguments a transaction must not carry.
    pub fn prepare(
        &mut self,
        op: &Operation,
        command: &mut Document,
        first_attempt: bool,
        retry_writes: bool,
    ) -> Result<(Envelope, Prepared)> {
        let Some(txn_number) = self.server.as_ref().map(|s| s.txn_number) else {
            return Err(Error::new(ErrorKind::SessionEnded));
        };
        // An operation after a commit or abort runs outside any transaction (and resets the
        // state machine), as the transactions specification says.
        if matches!(
            self.txn,
            TransactionState::Committed
                | TransactionState::CommittedEmpty
                | TransactionState::Aborted
        ) {
            self.txn = TransactionState::None;
        }
        let mut envelope = Envelope {
            lsid: Some(self.uuid),
            ..Envelope::default()
        };
        let in_transaction = matches!(
            self.txn,
            TransactionState::Starting | TransactionState::InProgress
        );
        let mut prepared = Prepared {
            in_transaction,
            is_commit: false,
            retryable_write: false,
            fixes_snapshot_time: false,
        };
        if in_transaction {
            if matches!(op.kind, OpKind::Read | OpKind::Raw) {
                let preference = op
                    .explicit_read_preference
                    .as_ref()
                    .or(self.txn_options.read_preference.as_ref());
                if preference.is_some_and(|p| *p != ReadPreference::Primary) {
                    return Err(Error::invalid_argument(
                        "read preference in a transaction must be primary",
                    ));
                }
            }
            envelope.txn_number = Some(txn_number);
            if self.txn == TransactionState::Starting {
                envelope.start_transaction = true;
                let mut read_concern = Document::new();
                if let Some(rc) = &self.txn_options.read_concern {
                    read_concern.insert("level", rc.level.as_str());
                }
                if let (true, Some(t)) = (self.causal(), self.operation_time) {
                    read_concern.insert("afterClusterTime", t);
                }
                if !read_concern.is_empty() {
                    envelope.read_concern = Some(read_concern);
                }
                self.txn = TransactionState::InProgress;
            } else {
                command.remove("readConcern");
            }
            command.remove("writeConcern");
            envelope.autocommit = Some(false);
            return Ok((envelope, prepared));
        }
        // Every command of a snapshot session carries the snapshot read concern (the server
        // refuses it where it does not apply); otherwise reads and writes carry theirs.
        if matches!(op.kind, OpKind::Read | OpKind::Write { .. })
            || (self.is_snapshot() && op.kind == OpKind::Raw)
        {
            if let Some(rc) = self.read_concern_for(op) {
                prepared.fixes_snapshot_time = self.is_snapshot() && self.snapshot_time.is_none();
                envelope.read_concern = Some(rc);
            }
        }
        if let OpKind::Write { retryable } = op.kind {
            let unacknowledged = op
                .write_concern
                .as_ref()
                .is_some_and(WriteConcern::is_unacknowledged);
            if unacknowledged && !self.implicit {
                return Err(Error::invalid_argument(
                    "an explicit session cannot be used with an unacknowledged write",
                ));
            }
            envelope.write_concern = op
                .write_concern
                .as_ref()
                .and_then(WriteConcern::to_document);
            if retryable && retry_writes && !unacknowledged {
                let mut number = txn_number;
                if first_attempt && let Some(server) = &mut self.server {
                    server.txn_number += 1;
                    number = server.txn_number;
                }
                envelope.txn_number = Some(number);
                prepared.retryable_write = true;
            }
        }
        Ok((envelope, prepared))
    }

    /// The read concern a command outside a transaction carries: the operation's level, and
    /// `afterClusterTime` in a causally consistent session that has an operation time
    /// (snapshot sessions: level snapshot and, after the first read, `atClusterTime`).
    fn read_concern_for(&self, op: &Operation) -> Option<Document> {
        let mut rc = Document::new();
        if self.is_snapshot() {
            rc.insert("level", "snapshot");
            if let Some(t) = self.snapshot_time {
                rc.insert("atClusterTime", t);
            }
            return Some(rc);
        }
        if let (OpKind::Read, Some(level)) = (op.kind, op.read_concern.as_ref().map(|rc| &rc.level))
        {
            rc.insert("level", level.as_str());
        }
        if let (true, Some(t)) = (self.causal(), self.operation_time) {
            let level = op.read_concern.as_ref().map(|rc| &rc.level);
            if !matches!(
                level,
                Some(ReadConcernLevel::Snapshot | ReadConcernLevel::Linearizable)
            ) || op.kind != OpKind::Read
            {
                rc.insert("afterClusterTime", t);
            }
        }
        (!rc.is_empty()).then_some(rc)
    }

    /// Checks that commit may be called; `Ok(None)`: nothing to send, `Ok(Some(retry))`: send
    /// (a retry if commit was already called).
    pub fn plan_commit(&mut self) -> Result<Option<bool>> {
        match self.txn {
            TransactionState::None => Err(Error::transaction_state("No transaction started")),
            TransactionState::Aborted => Err(Error::transaction_state(
                "Cannot call commitTransaction after calling abortTransaction",
            )),
            TransactionState::Starting | TransactionState::CommittedEmpty => {
                self.txn = TransactionState::CommittedEmpty;
                Ok(None)
            }
            TransactionState::InProgress => {
                self.txn = TransactionState::Committed;
                Ok(Some(false))
            }
            TransactionState::Committed => Ok(Some(true)),
        }
    }

    /// Checks that abort may be called; whether `abortTransaction` must be sent.
    pub fn plan_abort(&mut self) -> Result<bool> {
        match self.txn {
            TransactionState::None => Err(Error::transaction_state("No transaction started")),
            TransactionState::Committed | TransactionState::CommittedEmpty => {
                Err(Error::transaction_state(
                    "Cannot call abortTransaction after calling commitTransaction",
                ))
            }
            TransactionState::Aborted => Err(Error::transaction_state(
                "Cannot call abortTransaction twice",
            )),
            TransactionState::Starting => {
                self.txn = TransactionState::Aborted;
                Ok(false)
            }
            TransactionState::InProgress => {
                self.txn = TransactionState::Aborted;
                Ok(true)
            }
        }
    }

    /// The `commitTransaction` / `abortTransaction` command and its session arguments. A
    /// retried commit uses `w: "majority"` (keeping the other fields, with a 10 s `wtimeout`
    /// if none was set).
    pub fn end_command(&self, end: End) -> Result<(Document, Envelope, Prepared)> {
        let Some(server) = &self.server else {
            return Err(Error::new(ErrorKind::SessionEnded));
        };
        let (mut cmd, is_commit) = match end {
            End::Commit { .. } => (doc! {"commitTransaction": 1}, true),
            End::Abort => (doc! {"abortTransaction": 1}, false),
        };
        let mut wc = self.txn_options.write_concern.clone();
        if let End::Commit { retry: true } = end {
            let mut upgraded = wc.unwrap_or_default();
            upgraded.w = Some(Acknowledgment::Majority);
            upgraded.w_timeout = upgraded.w_timeout.or(Some(COMMIT_RETRY_TIMEOUT));
            wc = Some(upgraded);
        }
        if let (true, Some(max)) = (is_commit, self.txn_options.max_commit_time) {
            cmd.insert(
                "maxTimeMS",
                i64::try_from(max.as_millis()).unwrap_or(i64::MAX),
            );
        }
        let envelope = Envelope {
            lsid: Some(self.uuid),
            txn_number: Some(server.txn_number),
            autocommit: Some(false),
            write_concern: wc.as_ref().and_then(WriteConcern::to_document),
            ..Envelope::default()
        };
        let prepared = Prepared {
            in_transaction: true,
            is_commit,
            retryable_write: true,
            fixes_snapshot_time: false,
        };
        Ok((cmd, envelope, prepared))
    }

    /// Takes in what a reply says about time: `$clusterTime`, `operationTime`, and the
    /// snapshot time of a snapshot session's first read.
    pub fn absorb(&mut self, reply: &Reply, prepared: &Prepared) {
        if let Some(t) = reply.operation_time {
            self.advance_operation_time(t);
        }
        if prepared.fixes_snapshot_time && self.snapshot_time.is_none() {
            let at = reply
                .document
                .get_document("cursor")
                .and_then(|c| c.get_timestamp("atClusterTime"))
                .or_else(|_| reply.document.get_timestamp("atClusterTime"));
            if let Ok(at) = at {
                self.snapshot_time = Some(at);
            }
        }
    }

    /// Adds the labels the client itself gives an error, and notes what it means for the
    /// session: a network error leaves the server session dirty; inside a transaction it is a
    /// `TransientTransactionError`; a commit that may or may not have happened is an
    /// `UnknownTransactionCommitResult`; a server error inside a transaction aborted it there.
    pub fn on_error(&mut self, error: &mut Error, prepared: &Prepared) {
        if error.is_network_error() {
            if let Some(server) = &mut self.server {
                server.dirty = true;
            }
            if prepared.retryable_write {
                error.add_label(Label::RetryableWriteError);
            }
        }
        if prepared.is_commit {
            if commit_outcome_unknown(error) {
                error.remove_label(&Label::TransientTransactionError);
                error.add_label(Label::UnknownTransactionCommitResult);
            }
            return;
        }
        if prepared.in_transaction {
            if error.is_network_error() {
                error.add_label(Label::TransientTransactionError);
            } else if self.failed_command.is_none() && self.txn == TransactionState::InProgress {
                self.failed_command = Some(error.clone());
            }
        }
    }
}

/// Whether a failed commit may have committed: a network error, a retryable error, a time
/// limit, or a write concern that was not reached (but not one that can never be reached).
fn commit_outcome_unknown(error: &Error) -> bool {
    if error.is_network_error()
        || error.contains_label(&Label::RetryableWriteError)
        || error.is_retryable_code()
    {
        return true;
    }
    if error.is_max_time_expired() {
        return true;
    }
    match error.kind() {
        ErrorKind::WriteConcern(wce)
        | ErrorKind::Write {
            write_concern_error: Some(wce),
            ..
        } => {
            wce.code != ErrorCode::UnsatisfiableWriteConcern.code()
                && wce.code != ErrorCode::UnknownReplWriteConcern.code()
        }
        _ => false,
    }
}
