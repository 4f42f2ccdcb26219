//! Transports: how a command document reaches a server and its reply comes back. The session
//! logic above them is the same for every transport; they differ only in how bytes move.

mod embedded;
mod selection;

use std::sync::atomic::{AtomicI64, Ordering};

use bson::{Binary, Document, Timestamp, doc, spec::BinarySubtype};
use tokio::time::Instant;

pub(crate) use embedded::Embedded;

use crate::cluster_time::ClusterTime;
use crate::errors::{Error, ErrorKind, Result};
use crate::events::{
    CommandEvent, CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent, EventHandler,
};
use crate::options::ReadPreference;

/// The arguments a session adds to a command, kept apart from it until it is sent: the
/// embedded transport hands them to the engine as they are (nothing is written into the
/// command to be parsed back); for a monitored command they become its fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Envelope {
    /// The UUID of `lsid`.
    pub lsid: Option<[u8; 16]>,
    /// `txnNumber`.
    pub txn_number: Option<i64>,
    /// `startTransaction: true`.
    pub start_transaction: bool,
    /// `autocommit` (always `false` when given).
    pub autocommit: Option<bool>,
    /// `readConcern`.
    pub read_concern: Option<Document>,
    /// `writeConcern`.
    pub write_concern: Option<Document>,
    /// `$clusterTime`.
    pub cluster_time: Option<ClusterTime>,
}

impl Envelope {
    /// Writes the arguments into the command, as the wire protocol carries them.
    pub fn write_into(self, command: &mut Document) {
        if let Some(id) = self.lsid {
            command.insert("lsid", lsid_document(id));
        }
        if let Some(n) = self.txn_number {
            command.insert("txnNumber", n);
        }
        if self.start_transaction {
            command.insert("startTransaction", true);
        }
        if let Some(rc) = self.read_concern {
            command.insert("readConcern", rc);
        }
        if let Some(autocommit) = self.autocommit {
            command.insert("autocommit", autocommit);
        }
        if let Some(wc) = self.write_concern {
            command.insert("writeConcern", wc);
        }
        if let Some(ct) = self.cluster_time {
            command.insert("$clusterTime", ct.document());
        }
    }
}

/// The `lsid` document of a session whose UUID has these bytes.
pub(crate) fn lsid_document(id: [u8; 16]) -> Document {
    doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: id.to_vec() }}
}

/// A reply, and the times that came with it (as its fields, or apart from it).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The reply document.
    pub document: Document,
    /// `operationTime`.
    pub operation_time: Option<Timestamp>,
    /// The time of `$clusterTime`.
    pub cluster_time: Option<Timestamp>,
}

impl Reply {
    /// A reply whose times are its fields.
    pub fn from_document(document: Document) -> Reply {
        let operation_time = document.get_timestamp("operationTime").ok();
        let cluster_time = document
            .get_document("$clusterTime")
            .and_then(|ct| ct.get_timestamp("clusterTime"))
            .ok();
        Reply {
            document,
            operation_time,
            cluster_time,
        }
    }

    /// The engine's reply, whose times came apart from it.
    pub fn from_response(response: causeway_engine::Response) -> Reply {
        Reply {
            document: response.reply,
            operation_time: Some(response.operation_time),
            cluster_time: Some(response.cluster_time),
        }
    }

    /// The reply's `$clusterTime`: the document it carries, signature and all, or else its
    /// time alone.
    pub fn full_cluster_time(&self) -> Option<ClusterTime> {
        match self.document.get_document("$clusterTime") {
            Ok(ct) => ClusterTime::from_document(ct),
            Err(_) => self.cluster_time.map(ClusterTime::unsigned),
        }
    }
}

/// The transport of a client.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// An in-process engine.
    Embedded(Embedded),
}

impl Transport {
    /// The member a command with this read preference goes to.
    pub fn select(&self, selection: Option<&ReadPreference>) -> Result<usize> {
        match self {
            Transport::Embedded(e) => e.select(selection),
        }
    }

    /// A member's address.
    pub fn address(&self, member: usize) -> String {
        match self {
            Transport::Embedded(e) => e.address(member),
        }
    }

    /// Runs a command on a member, with the session's arguments apart from it (or, when
    /// `envelope` is `None`, in it). A closed connection is a network error.
    ///
    /// The transport's own future, not a layer around it (see the top of `operation.rs` on why
    /// futures are kept small).
    pub fn run<'a>(
        &'a self,
        member: usize,
        db: &'a str,
        command: Document,
        envelope: Option<Envelope>,
        selection: Option<&'a ReadPreference>,
        unacknowledged: bool,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        match self {
            Transport::Embedded(e) => {
                e.run(member, db, command, envelope, selection, unacknowledged)
            }
        }
    }

    /// The same deployment, with another application name and socket timeout.
    pub fn with_options(
        &self,
        app_name: Option<String>,
        socket_timeout: Option<std::time::Duration>,
    ) -> Transport {
        match self {
            Transport::Embedded(e) => Transport::Embedded(e.with_options(app_name, socket_timeout)),
        }
    }
}

/// Sends commands through the transport and reports each to command monitoring.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    transport: Transport,
    events: Option<EventHandler>,
    next_request: AtomicI64,
}

impl Dispatcher {
    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn new(transport: Transport, events: Option<EventHandler>) -> Dispatcher {
        Dispatcher {
            transport,
            events,
            next_request: AtomicI64::new(1),
        }
    }

    /// Runs a command, emitting its started event and its succeeded or failed event. The
    /// session's arguments come in `envelope`, or in the command when it is `None`.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    pub fn run<'a>(
        &'a self,
        db: &'a str,
        command: Document,
        envelope: Option<Envelope>,
        selection: Option<&'a ReadPreference>,
        unacknowledged: bool,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        // An async block, not an `async fn`, for the reason given at the top of `operation.rs`.
        async move {
            let member = self.transport.select(selection)?;
            let monitored = self.events.is_some()
                || tracing::enabled!(target: "causeway::command", tracing::Level::DEBUG);
            if monitored {
                // Boxed: inline, the monitored path's state would widen every command's future.
                Box::pin(self.run_monitored(
                    member,
                    db,
                    command,
                    envelope,
                    selection,
                    unacknowledged,
                ))
                .await
            } else {
                self.transport
                    .run(member, db, command, envelope, selection, unacknowledged)
                    .await
            }
        }
    }

    /// Runs a command on `member` and reports it to command monitoring.
    async fn run_monitored(
        &self,
        member: usize,
        db: &str,
        mut command: Document,
        envelope: Option<Envelope>,
        selection: Option<&ReadPreference>,
        unacknowledged: bool,
    ) -> Result<Reply> {
        // Monitoring shows the command as sent, session arguments included.
        if let Some(envelope) = envelope {
            envelope.write_into(&mut command);
        }
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let command_name = command.keys().next().cloned().unwrap_or_default();
        let server = self.transport.address(member);
        tracing::debug!(target: "causeway::command", command_name, database = db, request_id, server, "command started");
        if let Some(handler) = &self.events {
            let mut sent = command.clone();
            // As the wire protocol carries it (OP_MSG puts the database in the document).
            sent.insert("$db", db);
            handler.emit(&CommandEvent::Started(CommandStartedEvent {
                command: sent,
                command_name: command_name.clone(),
                database: db.to_owned(),
                request_id,
                server: server.clone(),
            }));
        }
        let start = Instant::now();
        let result = self
            .transport
            .run(member, db, command, None, selection, unacknowledged)
            .await;
        let duration = start.elapsed();
        let failure = match &result {
            Ok(reply) => Error::from_reply(&reply.document)
                .filter(|e| matches!(e.kind(), ErrorKind::Command(_))),
            Err(e) => Some(e.clone()),
        };
        match (&failure, &result) {
            (Some(failure), _) => {
                tracing::debug!(target: "causeway::command", command_name, request_id, ?duration, error = %failure, "command failed");
                if let Some(handler) = &self.events {
                    handler.emit(&CommandEvent::Failed(CommandFailedEvent {
                        failure: failure.clone(),
                        command_name,
                        database: db.to_owned(),
                        request_id,
                        duration,
                        server,
                    }));
                }
            }
            (None, Ok(reply)) => {
                tracing::debug!(target: "causeway::command", command_name, request_id, ?duration, "command succeeded");
                if let Some(handler) = &self.events {
                    handler.emit(&CommandEvent::Succeeded(CommandSucceededEvent {
                        reply: reply.document.clone(),
                        command_name,
                        database: db.to_owned(),
                        request_id,
                        duration,
                        server,
                    }));
                }
            }
            (None, Err(_)) => {}
        }
        result
    }
}
