//! How one operation flows: the session decorates the command, the transport runs it, the
//! session absorbs the reply, errors get their labels, and retryable operations are retried
//! once.

// The functions here return async blocks rather than being `async fn`s: an `async fn` keeps
// its arguments twice in its state (as given, and as moved into its body), and each of these
// futures holds the next one down, so every byte counts once per layer and is copied as each
// layer starts.
#![allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]

use bson::Document;

use crate::client::Client;
use crate::cluster_time::ClusterTime;
use crate::errors::{Error, Label, Result};
use crate::options::{ReadConcern, ReadPreference, SessionOptions, WriteConcern};
use crate::session::{Prepared, SessionCore};
use crate::transport::Reply;

/// What kind of command an operation sends, which decides the session fields it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// A read that takes a read concern (and is retried once on a retryable error).
    Read,
    /// A write that takes a write concern; `retryable` if it may carry a `txnNumber` (a
    /// single-document write).
    Write {
        /// Whether the write can be retried.
        retryable: bool,
    },
    /// A later batch of a cursor: session fields only.
    GetMore,
    /// A command run as given (`run_command`): session fields only.
    Raw,
}

/// One command to run.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// The database.
    pub db: String,
    /// The command, without session fields.
    pub command: Document,
    /// Its kind.
    pub kind: OpKind,
    /// A read preference given for this very operation (`run_command`'s option).
    pub explicit_read_preference: Option<ReadPreference>,
    /// The read preference inherited from collection, database and client.
    pub read_preference: Option<ReadPreference>,
    /// The read concern inherited from collection, database and client (not used inside a
    /// transaction).
    pub read_concern: Option<ReadConcern>,
    /// The write concern inherited from collection, database and client (not used inside a
    /// transaction).
    pub write_concern: Option<WriteConcern>,
}

impl Operation {
    /// A command with no options.
    pub fn new(db: impl Into<String>, command: Document, kind: OpKind) -> Operation {
        Operation {
            db: db.into(),
            command,
            kind,
            explicit_read_preference: None,
            read_preference: None,
            read_concern: None,
            write_concern: None,
        }
    }

    /// Whether no reply is wanted (`w: 0`).
    pub(crate) fn is_unacknowledged(&self) -> bool {
        matches!(self.kind, OpKind::Write { .. })
            && self
                .write_concern
                .as_ref()
                .is_some_and(WriteConcern::is_unacknowledged)
    }
}

/// Whether the operation's reply will be a real one: a `w: 0` write gets none, except inside
/// a transaction (where the collection's write concern does not apply).
pub(crate) fn is_acknowledged(op: &Operation, session: Option<&SessionCore>) -> bool {
    !op.is_unacknowledged() || session.is_some_and(|s| s.state.lock().in_transaction())
}

impl Client {
    /// Runs an operation in `session`, or in an implicit session of its own.
    pub(crate) fn execute<'a>(
        &'a self,
        mut op: Operation,
        session: Option<&'a SessionCore>,
    ) -> impl Future<Output = Result<Document>> + 'a {
        async move {
            self.ensure_abort_worker();
            match session {
                Some(session) => self.execute_in(&mut op, session).await,
                None if op.is_unacknowledged() => self.execute_unacknowledged(&mut op).await,
                None => {
                    // Boxed: the session is only needed here, and inline it would widen every
                    // operation's future.
                    let implicit = Box::new(SessionCore::new(
                        self.clone(),
                        SessionOptions::default(),
                        true,
                    ));
                    let result = self.execute_in(&mut op, &implicit).await;
                    implicit.end();
                    result
                }
            }
        }
    }

    /// An unacknowledged write carries no session, as the sessions specification requires.
    fn execute_unacknowledged<'a>(
        &'a self,
        op: &'a mut Operation,
    ) -> impl Future<Output = Result<Document>> + 'a {
        async move {
            let mut command = std::mem::take(&mut op.command);
            if let Some(wc) = op
                .write_concern
                .as_ref()
                .and_then(WriteConcern::to_document)
            {
                command.insert("writeConcern", wc);
            }
            if let Some(ct) = self.cluster_time() {
                command.insert("$clusterTime", ct);
            }
            self.inner
                .transport
                .run(&op.db, command, None, op.read_preference.as_ref(), true)
                .await
                .map(|reply| reply.document)
        }
    }

    /// Runs an operation in `session`, retrying it once if it may be and the error says so.
    /// The operation is borrowed from the caller's future, not held again in this one.
    fn execute_in<'a>(
        &'a self,
        op: &'a mut Operation,
        session: &'a SessionCore,
    ) -> impl Future<Output = Result<Document>> + 'a {
        async move {
            let retry_writes = self.inner.options.retry_writes;
            // Keep a copy of the command only if it may be sent twice.
            let may_retry = !session.state.lock().in_transaction()
                && matches!(op.kind, OpKind::Read | OpKind::Write { retryable: true });
            let command = if may_retry {
                op.command.clone()
            } else {
                std::mem::take(&mut op.command)
            };
            let (error, prepared) =
                match self.attempt(op, command, session, true, retry_writes).await {
                    Ok(reply) => return Ok(reply),
                    Err((error, None)) => return Err(error),
                    Err((error, Some(prepared))) => (error, prepared),
                };
            let retry = if prepared.retryable_write {
                error.contains_label(&Label::RetryableWriteError)
            } else {
                op.kind == OpKind::Read
                    && !prepared.in_transaction
                    && self.inner.options.retry_reads
                    && error.is_retryable_code()
            };
            if !retry {
                return Err(error);
            }
            tracing::debug!(error = %error, command = op.command.keys().next().map(String::as_str), "retrying once");
            let command = std::mem::take(&mut op.command);
            match self
                .attempt(op, command, session, false, retry_writes)
                .await
            {
                Ok(reply) => Ok(reply),
                Err((second, _)) if second.contains_label(&Label::NoWritesPerformed) => Err(error),
                Err((second, _)) => Err(second),
            }
        }
    }

    /// Sends the command once; an error comes with how the command was prepared (`None` if it
    /// was refused before sending).
    fn attempt<'a>(
        &'a self,
        op: &'a Operation,
        mut command: Document,
        session: &'a SessionCore,
        first: bool,
        retry_writes: bool,
    ) -> impl Future<Output = Result<Document, (Error, Option<Prepared>)>> + 'a {
        async move {
            let prepared;
            // The envelope is made inside the awaited expression, so that this future does not
            // keep room for it beside the one it is moved into.
            let result = {
                let (mut envelope, p) = session
                    .state
                    .lock()
                    .prepare(op, &mut command, first, retry_writes)
                    .map_err(|e| (e, None))?;
                prepared = p;
                envelope.cluster_time = self.newest_cluster_time(session);
                let selection = if prepared.in_transaction {
                    None
                } else {
                    op.read_preference.as_ref()
                };
                let unacknowledged = op.is_unacknowledged() && !prepared.in_transaction;
                let envelope = if op.kind == OpKind::Raw {
                    // The user's command may carry session arguments of its own, which the
                    // session's replace: only as fields of the command does that hold.
                    envelope.write_into(&mut command);
                    None
                } else {
                    Some(envelope)
                };
                self.inner
                    .transport
                    .run(&op.db, command, envelope, selection, unacknowledged)
            }
            .await;
            self.finish(session, &prepared, result)
                .map_err(|e| (e, Some(prepared)))
        }
    }

    /// Runs `commitTransaction` or `abortTransaction` for the session.
    pub(crate) fn run_transaction_end<'a>(
        &'a self,
        session: &'a SessionCore,
        end: crate::session::End,
    ) -> impl Future<Output = Result<()>> + 'a {
        async move {
            self.ensure_abort_worker();
            let (command, mut envelope, prepared) = session.state.lock().end_command(end)?;
            envelope.cluster_time = self.newest_cluster_time(session);
            let result = self
                .inner
                .transport
                .run("admin", command, Some(envelope), None, false)
                .await;
            self.finish(session, &prepared, result).map(|_| ())
        }
    }

    /// Absorbs a reply into the session and the client and turns it into a result.
    fn finish(
        &self,
        session: &SessionCore,
        prepared: &Prepared,
        result: Result<Reply>,
    ) -> Result<Document> {
        let mut state = session.state.lock();
        let outcome = match result {
            Ok(reply) => {
                state.absorb(&reply, prepared);
                if let Some(time) = reply.cluster_time {
                    let newer = |known: Option<&ClusterTime>| known.is_none_or(|k| time > k.time());
                    let client_newer = newer(self.inner.cluster_time.lock().as_ref());
                    if (newer(state.cluster_time.as_ref()) || client_newer)
                        && let Some(ct) = reply.full_cluster_time()
                    {
                        state.advance_cluster_time(&ct);
                        self.advance_cluster_time(&ct);
                    }
                }
                match Error::from_reply(&reply.document) {
                    None => return Ok(reply.document),
                    Some(error) => error,
                }
            }
            Err(error) => error,
        };
        let mut error = outcome;
        state.on_error(&mut error, prepared);
        Err(error)
    }

    /// The highest `$clusterTime` known to the client or the session, which the command
    /// carries.
    fn newest_cluster_time(&self, session: &SessionCore) -> Option<ClusterTime> {
        let session_time = session.state.lock().cluster_time.clone();
        let client_time = self.inner.cluster_time.lock().clone();
        match (session_time, client_time) {
            (Some(s), Some(c)) => Some(if s >= c { s } else { c }),
            (s, c) => s.or(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each operation's future holds every layer below it down to the engine's, and is
    /// boxed and copied as it starts; `update_one`'s was 8.7 KB when each layer kept its
    /// arguments twice. The bound catches that kind of growth.
    #[test]
    fn operation_futures_stay_small() {
        let client = Client::embedded();
        let op = Operation::new("db", bson::doc! {"ping": 1}, OpKind::Raw);
        let size = std::mem::size_of_val(&client.execute(op, None));
        assert!(size <= 3072, "an operation's future takes {size} bytes");
    }
}
