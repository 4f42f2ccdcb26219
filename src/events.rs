//! Command monitoring: every command a client sends, as it starts and as it succeeds or fails,
//! to a handler of the caller's and to `tracing` (target `causeway::command`, level debug).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bson::Document;

use crate::errors::Error;

/// A command was sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommandStartedEvent {
    /// The command as sent, with every field the session added.
    pub command: Document,
    /// The command's name (its first field).
    pub command_name: String,
    /// The database it ran on.
    pub database: String,
    /// Pairs the events of one command.
    pub request_id: i64,
    /// The member it went to (`host:port`).
    pub server: String,
}

/// A command's reply arrived with `ok: 1` (write errors included).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommandSucceededEvent {
    /// The reply.
    pub reply: Document,
    /// The command's name.
    pub command_name: String,
    /// The database it ran on.
    pub database: String,
    /// Pairs the events of one command.
    pub request_id: i64,
    /// How long it took.
    pub duration: Duration,
    /// The member it went to.
    pub server: String,
}

/// A command failed: `ok: 0`, or the connection closed without a reply.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommandFailedEvent {
    /// What went wrong.
    pub failure: Error,
    /// The command's name.
    pub command_name: String,
    /// The database it ran on.
    pub database: String,
    /// Pairs the events of one command.
    pub request_id: i64,
    /// How long it took.
    pub duration: Duration,
    /// The member it went to.
    pub server: String,
}

/// One command monitoring event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CommandEvent {
    /// A command was sent.
    Started(CommandStartedEvent),
    /// It succeeded.
    Succeeded(CommandSucceededEvent),
    /// It failed.
    Failed(CommandFailedEvent),
}

impl CommandEvent {
    /// The command name of the event.
    pub fn command_name(&self) -> &str {
        match self {
            CommandEvent::Started(e) => &e.command_name,
            CommandEvent::Succeeded(e) => &e.command_name,
            CommandEvent::Failed(e) => &e.command_name,
        }
    }
}

/// A handler of command events, shared by the client's tasks.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use causeway::events::{CommandEvent, EventHandler};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let handler = EventHandler::new(move |event: &CommandEvent| {
///     if let CommandEvent::Started(started) = event {
///         sink.lock().unwrap().push(started.command_name.clone());
///     }
/// });
/// # let _ = handler;
/// ```
#[derive(Clone)]
pub struct EventHandler(Arc<dyn Fn(&CommandEvent) + Send + Sync>);

impl EventHandler {
    /// A handler calling `f` for every event, on the task that runs the command.
    pub fn new(f: impl Fn(&CommandEvent) + Send + Sync + 'static) -> EventHandler {
        EventHandler(Arc::new(f))
    }

    pub(crate) fn emit(&self, event: &CommandEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for EventHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHandler")
    }
}

impl PartialEq for EventHandler {
    fn eq(&self, other: &EventHandler) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
