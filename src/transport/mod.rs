//! Transports: how a command document reaches a server and its reply comes back. The session
//! logic above them is the same for every transport; they differ only in how bytes move.

mod embedded;
mod selection;

use std::sync::atomic::{AtomicI64, Ordering};

use bson::Document;
use tokio::time::Instant;

pub(crate) use embedded::Embedded;

use crate::errors::{Error, ErrorKind, Result};
use crate::events::{
    CommandEvent, CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent, EventHandler,
};
use crate::options::ReadPreference;

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

    /// Runs a command on a member. A closed connection is a network error.
    pub async fn run(
        &self,
        member: usize,
        db: &str,
        command: Document,
        selection: Option<&ReadPreference>,
        unacknowledged: bool,
    ) -> Result<Document> {
        match self {
            Transport::Embedded(e) => e.run(member, db, command, selection, unacknowledged).await,
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

    /// Runs a command, emitting its started event and its succeeded or failed event.
    pub async fn run(
        &self,
        db: &str,
        command: Document,
        selection: Option<&ReadPreference>,
        unacknowledged: bool,
    ) -> Result<Document> {
        let member = self.transport.select(selection)?;
        let monitored = self.events.is_some()
            || tracing::enabled!(target: "causeway::command", tracing::Level::DEBUG);
        if !monitored {
            return self
                .transport
                .run(member, db, command, selection, unacknowledged)
                .await;
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
            .run(member, db, command, selection, unacknowledged)
            .await;
        let duration = start.elapsed();
        let failure = match &result {
            Ok(reply) => {
                Error::from_reply(reply).filter(|e| matches!(e.kind(), ErrorKind::Command(_)))
            }
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
                        reply: reply.clone(),
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
