//! Multi-document transactions on the server side: starting, continuing, committing and
//! aborting them, the rules of transaction numbers, the lifetime limit, and `endSessions`.

use std::time::Duration;

use bson::Bson;
use tokio::time::Instant;

use super::{Engine, Outcome, State};
use crate::clock::Ts;
use crate::commands::{CommandSpec, Exec, TxnContext};
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::reply::Reply;
use crate::request::{ReadConcernLevel, Request};
use crate::session::{SessionKey, Transaction, TxnState};
use crate::storage::TxnId;
use crate::unit::{StatementError, WriteUnit, write_conflict};

impl Engine {
    /// Aborts transactions older than the lifetime limit.
    pub(super) fn sweep_expired(&self, state: &mut State, now: Instant) {
        if state.open_transactions == 0 {
            return;
        }
        if now.duration_since(state.last_sweep) < Duration::from_millis(100) {
            return;
        }
        state.last_sweep = now;
        let limit = self.shared.options.transaction_lifetime;
        let mut expired = Vec::new();
        for (_, session) in state.sessions.iter_mut() {
            if session
                .transaction_mut()
                .is_some_and(|t| now.duration_since(t.started) >= limit)
                && let TxnState::InProgress(txn) =
                    std::mem::replace(&mut session.txn, TxnState::Aborted)
            {
                expired.push(txn);
            }
        }
        for txn in expired {
            tracing::info!(lifetime = ?limit, "aborting a transaction that exceeded its lifetime limit");
            // Aborting never fails.
            let _ = self.end_transaction(state, *txn, false);
        }
    }

    /// When the transaction holding `unit` started, if it is open.
    pub(super) fn transaction_start(&self, state: &mut State, unit: TxnId) -> Option<Instant> {
        state.sessions.iter_mut().find_map(|(_, s)| {
            s.transaction_mut()
                .filter(|t| t.unit.id == unit)
                .map(|t| t.started)
        })
    }

    /// Ends an open transaction: commits or aborts its unit, closes its cursors, forgets its
    /// snapshot and wakes statements waiting for it. Returns the commit time, if it wrote.
    pub(super) fn end_transaction(
        &self,
        state: &mut State,
        txn: Transaction,
        commit: bool,
    ) -> CommandResult<Option<Ts>> {
        let snapshot = txn.unit.snapshot;
        if let Some(count) = state.snapshots.get_mut(&snapshot) {
            *count -= 1;
            if *count == 0 {
                state.snapshots.remove(&snapshot);
            }
        }
        state.open_transactions = state.open_transactions.saturating_sub(1);
        for cursor in &txn.cursors {
            state.cursors.close(*cursor);
        }
        let result = if commit {
            self.commit_unit(state, txn.unit)
        } else {
            txn.unit.abort(&mut state.catalog);
            Ok(None)
        };
        state.ended_seq += 1;
        let seq = state.ended_seq;
        // Waiters subscribe while holding the state lock, as this runs: with none subscribed
        // now, a later one finds the new value at once, and waking nobody (a lock for each of
        // the channel's wake lists) is skipped.
        if self.shared.txn_ended.receiver_count() == 0 {
            self.shared.txn_ended.send_if_modified(|value| {
                *value = seq;
                false
            });
        } else {
            self.shared.txn_ended.send_replace(seq);
        }
        result
    }

    /// Runs a command inside a multi-document transaction.
    pub(super) fn run_in_transaction(
        &self,
        spec: &'static CommandSpec,
        req: &Request<'_>,
    ) -> CommandResult<Outcome> {
        let (Some(key), Some(number)) = (&req.lsid, req.txn_number) else {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "a transaction needs lsid and txnNumber",
            ));
        };
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        // One reading of the clock serves the whole command.
        let now = Instant::now();
        self.sweep_expired(state, now);
        if req.start_transaction {
            self.start_transaction(state, req, key, number, now)?;
        } else {
            self.check_continuation(state, req, key, number, now)?;
        }
        if !spec.in_transaction {
            let err = CommandError::new(
                ErrorCode::OperationNotSupportedInTransaction,
                format!(
                    "Cannot run '{}' in a multi-document transaction.",
                    req.name()
                ),
            );
            self.abort_open(state, key)?;
            return Err(err);
        }
        if req.write_concern.is_some() {
            self.abort_open(state, key)?;
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "Cannot set write concern after starting a transaction.",
            ));
        }
        let session = state.sessions.get_or_create(key, now);
        let TxnState::InProgress(mut txn) = std::mem::replace(&mut session.txn, TxnState::None)
        else {
            return Err(no_such_transaction(number, "is not in progress"));
        };
        let mut exec = Exec {
            catalog: &mut state.catalog,
            cursors: &mut state.cursors,
            unit: &mut txn.unit,
            txn: Some(TxnContext {
                number,
                opened_cursors: Vec::new(),
            }),
            lsid: Some(key.clone()),
            scanned_objects: &self.shared.scanned_objects,
            reply_gets_times: req.reply_gets_times,
        };
        let result = spec.handler.run(&mut exec, req);
        let opened = exec.txn.map(|t| t.opened_cursors).unwrap_or_default();
        txn.cursors.extend(opened);
        let snapshot = txn.unit.snapshot;
        let failed = match &result {
            Ok(reply) => reply
                .as_document()
                .is_some_and(|r| r.contains_key("writeErrors")),
            Err(_) => true,
        };
        if failed {
            // Any error inside a transaction aborts it, as in mongod.
            self.end_transaction(state, *txn, false)?;
            state.sessions.get_or_create(key, now).txn = TxnState::Aborted;
        } else {
            state.sessions.get_or_create(key, now).txn = TxnState::InProgress(txn);
        }
        match result {
            Ok(reply) => Ok(Outcome {
                reply,
                op_time: snapshot,
            }),
            Err(StatementError::Failed(e)) => Err(e),
            Err(StatementError::Blocked(_)) => Err(write_conflict()),
        }
    }

    /// Begins transaction `number` on the session.
    pub(super) fn start_transaction(
        &self,
        state: &mut State,
        req: &Request<'_>,
        key: &SessionKey,
        number: i64,
        now: Instant,
    ) -> CommandResult<()> {
        let session = state.sessions.get_or_create(key, now);
        match session.txn_number {
            Some(current) if number < current => {
                return Err(CommandError::new(
                    ErrorCode::TransactionTooOld,
                    format!(
                        "Cannot start transaction {number} on session because a newer transaction with txnNumber {current} has started."
                    ),
                ));
            }
            Some(current) if number == current => {
                return Err(CommandError::new(
                    ErrorCode::ConflictingOperationInProgress,
                    format!(
                        "Cannot start a transaction at given transaction number {number}: a transaction or retryable write with the same number has already started"
                    ),
                ));
            }
            _ => {}
        }
        if let Some(rc) = &req.read_concern {
            match rc.level {
                None
                | Some(
                    ReadConcernLevel::Local
                    | ReadConcernLevel::Majority
                    | ReadConcernLevel::Snapshot,
                ) => {}
                Some(level) => {
                    return Err(CommandError::new(
                        ErrorCode::InvalidOptions,
                        format!(
                            "The readConcern level {level:?} is not supported in a transaction; use local, majority or snapshot"
                        ),
                    ));
                }
            }
            if rc
                .after_cluster_time
                .is_some_and(|t| t > self.shared.clock.now())
            {
                return Err(CommandError::new(
                    ErrorCode::InvalidOptions,
                    "readConcern afterClusterTime value must not be greater than the current clusterTime",
                ));
            }
        }
        let old = std::mem::replace(&mut session.txn, TxnState::None);
        session.txn_number = Some(number);
        session.retry = None;
        if let TxnState::InProgress(txn) = old {
            self.end_transaction(state, *txn, false)?;
        }
        let snapshot = self.read_point(state, req)?;
        let unit = WriteUnit::new(self.next_unit_id(), snapshot);
        *state.snapshots.entry(snapshot).or_default() += 1;
        state.open_transactions += 1;
        let txn = Transaction {
            unit,
            started: now,
            cursors: Vec::new(),
        };
        state.sessions.get_or_create(key, now).txn = TxnState::InProgress(Box::new(txn));
        Ok(())
    }

    /// Checks that a later statement of transaction `number` may run.
    pub(super) fn check_continuation(
        &self,
        state: &mut State,
        req: &Request<'_>,
        key: &SessionKey,
        number: i64,
        now: Instant,
    ) -> CommandResult<()> {
        let session = state.sessions.get_or_create(key, now);
        current_transaction(session.txn_number, number)?;
        match &session.txn {
            TxnState::InProgress(_) => {}
            TxnState::Committed { .. } => {
                return Err(CommandError::new(
                    ErrorCode::TransactionCommitted,
                    format!("Transaction with {{ txnNumber: {number} }} has been committed."),
                ));
            }
            TxnState::Aborted | TxnState::None => {
                return Err(no_such_transaction(number, "has been aborted"));
            }
        }
        if req.read_concern.is_some() {
            self.abort_open(state, key)?;
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                "Only the first command in a transaction may specify a readConcern",
            ));
        }
        Ok(())
    }

    /// Aborts the session's open transaction, if any.
    pub(super) fn abort_open(&self, state: &mut State, key: &SessionKey) -> CommandResult<()> {
        let Some(session) = state.sessions.get_mut(key) else {
            return Ok(());
        };
        if let TxnState::InProgress(txn) = std::mem::replace(&mut session.txn, TxnState::Aborted) {
            self.end_transaction(state, *txn, false)?;
        }
        Ok(())
    }

    pub(super) fn commit_transaction(&self, req: &Request<'_>) -> CommandResult<Outcome> {
        let (key, number) = transaction_target(req, "commitTransaction")?;
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        let now = Instant::now();
        self.sweep_expired(state, now);
        let session = state.sessions.get_or_create(key, now);
        current_transaction(session.txn_number, number)?;
        match std::mem::replace(&mut session.txn, TxnState::None) {
            TxnState::InProgress(txn) => {
                let snapshot = txn.unit.snapshot;
                let committed = self.end_transaction(state, *txn, true);
                let session = state.sessions.get_or_create(key, now);
                match committed {
                    Ok(ts) => {
                        session.txn = TxnState::Committed { ts };
                        Ok(Outcome {
                            reply: Reply::Ok,
                            op_time: ts.unwrap_or(snapshot),
                        })
                    }
                    Err(e) => {
                        session.txn = TxnState::Aborted;
                        Err(e)
                    }
                }
            }
            TxnState::Committed { ts } => {
                session.txn = TxnState::Committed { ts };
                let op_time = ts.unwrap_or(state.last_committed);
                Ok(Outcome {
                    reply: Reply::Ok,
                    op_time,
                })
            }
            other @ (TxnState::Aborted | TxnState::None) => {
                session.txn = other;
                Err(no_such_transaction(number, "has been aborted"))
            }
        }
    }

    pub(super) fn abort_transaction(&self, req: &Request<'_>) -> CommandResult<Outcome> {
        let (key, number) = transaction_target(req, "abortTransaction")?;
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        let session = state.sessions.get_or_create(key, Instant::now());
        current_transaction(session.txn_number, number)?;
        match std::mem::replace(&mut session.txn, TxnState::Aborted) {
            TxnState::InProgress(txn) => {
                self.end_transaction(state, *txn, false)?;
                Ok(Outcome {
                    reply: Reply::Ok,
                    op_time: state.last_committed,
                })
            }
            TxnState::Committed { ts } => {
                session.txn = TxnState::Committed { ts };
                Err(CommandError::new(
                    ErrorCode::TransactionCommitted,
                    format!("Transaction with {{ txnNumber: {number} }} has been committed."),
                ))
            }
            TxnState::Aborted | TxnState::None => {
                Err(no_such_transaction(number, "has been aborted"))
            }
        }
    }

    pub(super) fn end_sessions(&self, req: &Request<'_>) -> CommandResult<Outcome> {
        let Bson::Array(ids) = req.target() else {
            return Err(CommandError::type_mismatch(
                "endSessions takes an array of session ids",
            ));
        };
        let keys = ids
            .iter()
            .map(SessionKey::from_lsid)
            .collect::<CommandResult<Vec<_>>>()?;
        let mut guard = self.shared.state.lock();
        let state = &mut *guard;
        for key in keys {
            if let Some(session) = state.sessions.remove(&key)
                && let TxnState::InProgress(txn) = session.txn
            {
                self.end_transaction(state, *txn, false)?;
            }
        }
        Ok(Outcome {
            reply: Reply::Ok,
            op_time: state.last_committed,
        })
    }
}

fn transaction_target<'r>(
    req: &'r Request<'r>,
    name: &str,
) -> CommandResult<(&'r SessionKey, i64)> {
    match (&req.lsid, req.txn_number, req.autocommit) {
        (Some(key), Some(number), Some(false)) => Ok((key, number)),
        _ => Err(CommandError::new(
            ErrorCode::InvalidOptions,
            format!(
                "{name} must be run within a transaction: it needs lsid, txnNumber and autocommit: false"
            ),
        )),
    }
}

/// Checks that `number` names the session's current transaction: an older number is
/// `TransactionTooOld`, a newer (never started) one `NoSuchTransaction`.
fn current_transaction(current: Option<i64>, number: i64) -> CommandResult<()> {
    match current {
        Some(current) if number < current => Err(CommandError::new(
            ErrorCode::TransactionTooOld,
            format!(
                "txnNumber {number} is less than last txnNumber {current} seen in this session"
            ),
        )),
        Some(current) if number == current => Ok(()),
        _ => Err(no_such_transaction(
            number,
            "does not match any in-progress transactions",
        )),
    }
}

fn no_such_transaction(number: i64, why: &str) -> CommandError {
    CommandError::new(
        ErrorCode::NoSuchTransaction,
        format!("Transaction with {{ txnNumber: {number} }} {why}"),
    )
}
