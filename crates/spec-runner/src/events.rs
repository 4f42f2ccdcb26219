//! Command monitoring of client entities (`observeEvents`, `ignoreCommandMonitoringEvents`,
//! sensitive commands) and the `expectEvents` assertion.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use bson::{Bson, Document};
use causeway::events::{CommandEvent, EventHandler};

use crate::matching::{Lookup, match_value, show_doc};

/// The kind of a command monitoring event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Started,
    Succeeded,
    Failed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Started => "commandStartedEvent",
            Kind::Succeeded => "commandSucceededEvent",
            Kind::Failed => "commandFailedEvent",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        match name {
            "commandStartedEvent" => Some(Kind::Started),
            "commandSucceededEvent" => Some(Kind::Succeeded),
            "commandFailedEvent" => Some(Kind::Failed),
            _ => None,
        }
    }
}

/// One observed event.
#[derive(Debug, Clone)]
pub struct Observed {
    pub kind: Kind,
    pub command_name: String,
    pub database: String,
    /// The command (started events).
    pub command: Option<Document>,
    /// The reply (succeeded events).
    pub reply: Option<Document>,
}

/// Which events a client entity records.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kinds: HashSet<&'static str>,
    pub ignored_commands: HashSet<String>,
    pub observe_sensitive: bool,
}

/// The events one client entity observed while the test's operations ran.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    enabled: bool,
    events: Vec<Observed>,
    sensitive_requests: HashSet<i64>,
}

/// The commands whose events are not observed unless `observeSensitiveCommands` is set.
const SENSITIVE: &[&str] = &[
    "authenticate",
    "saslstart",
    "saslcontinue",
    "getnonce",
    "createuser",
    "updateuser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
];

fn is_sensitive(name: &str, command: &Document) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE.contains(&lower.as_str())
        || (matches!(lower.as_str(), "hello" | "ismaster")
            && command.contains_key("speculativeAuthenticate"))
}

impl EventLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts or stops recording.
    pub fn set_enabled(&self, on: bool) {
        self.lock().enabled = on;
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<Observed> {
        self.lock().events.clone()
    }

    fn record(&self, filter: &Filter, event: &CommandEvent) {
        let mut inner = self.lock();
        if !inner.enabled {
            return;
        }
        let observed = match event {
            CommandEvent::Started(e) => {
                if !filter.observe_sensitive && is_sensitive(&e.command_name, &e.command) {
                    inner.sensitive_requests.insert(e.request_id);
                    return;
                }
                Observed {
                    kind: Kind::Started,
                    command_name: e.command_name.clone(),
                    database: e.database.clone(),
                    command: Some(e.command.clone()),
                    reply: None,
                }
            }
            CommandEvent::Succeeded(e) => {
                if inner.sensitive_requests.remove(&e.request_id) {
                    return;
                }
                Observed {
                    kind: Kind::Succeeded,
                    command_name: e.command_name.clone(),
                    database: e.database.clone(),
                    command: None,
                    reply: Some(e.reply.clone()),
                }
            }
            CommandEvent::Failed(e) => {
                if inner.sensitive_requests.remove(&e.request_id) {
                    return;
                }
                Observed {
                    kind: Kind::Failed,
                    command_name: e.command_name.clone(),
                    database: e.database.clone(),
                    command: None,
                    reply: None,
                }
            }
            _ => return,
        };
        if !filter.kinds.contains(observed.kind.name())
            || filter.ignored_commands.contains(&observed.command_name)
        {
            return;
        }
        inner.events.push(observed);
    }
}

/// The handler a client entity's options get: records into `log` what `filter` lets through.
pub fn handler(log: Arc<EventLog>, filter: Filter) -> EventHandler {
    EventHandler::new(move |event: &CommandEvent| log.record(&filter, event))
}

/// The event kinds `observeEvents` may name that causeway can deliver.
pub fn command_event_name(name: &str) -> Option<&'static str> {
    Kind::parse(name).map(Kind::name)
}

/// Checks one `expectedEventsForClient` against what the client observed.
pub fn check_client_events(
    expected: &Document,
    actual: &[Observed],
    lookup: &dyn Lookup,
) -> Result<(), String> {
    let client = expected.get_str("client").unwrap_or("?");
    match expected.get_str("eventType") {
        Ok("command") | Err(_) => {}
        Ok(other) => {
            return Err(format!(
                "client {client}: `{other}` events are not available from causeway"
            ));
        }
    }
    let Ok(events) = expected.get_array("events") else {
        return Err(format!("client {client}: expectEvents without `events`"));
    };
    let ignore_extra = expected.get_bool("ignoreExtraEvents").unwrap_or(false);
    let summary = || {
        actual
            .iter()
            .map(|e| format!("{}:{}", short(e.kind), e.command_name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if actual.len() < events.len() || (!ignore_extra && actual.len() > events.len()) {
        // Report the first event that differs, which is more telling than the counts.
        for (i, (e, a)) in events.iter().zip(actual).enumerate() {
            if let Err(diff) = check_event(e, a, lookup) {
                return Err(format!(
                    "client {client}: expected {} events, got {} [{}]; first difference at event {i}: {diff}",
                    events.len(),
                    actual.len(),
                    summary()
                ));
            }
        }
        return Err(format!(
            "client {client}: expected {} events, got {} [{}]",
            events.len(),
            actual.len(),
            summary()
        ));
    }
    for (i, (e, a)) in events.iter().zip(actual).enumerate() {
        check_event(e, a, lookup).map_err(|diff| format!("client {client}: event {i}: {diff}"))?;
    }
    Ok(())
}

/// A command as sent, without `$clusterTime` (noise in a message).
fn without_gossip(command: &Document) -> String {
    let mut command = command.clone();
    command.remove("$clusterTime");
    show_doc(&command)
}

fn short(kind: Kind) -> &'static str {
    match kind {
        Kind::Started => "started",
        Kind::Succeeded => "succeeded",
        Kind::Failed => "failed",
    }
}

fn check_event(expected: &Bson, actual: &Observed, lookup: &dyn Lookup) -> Result<(), String> {
    let Bson::Document(expected) = expected else {
        return Err("an expected event must be a document".to_owned());
    };
    let Some((name, spec)) = expected.iter().next() else {
        return Err("an expected event must name its type".to_owned());
    };
    let Some(kind) = Kind::parse(name) else {
        return Err(format!("unsupported expected event type `{name}`"));
    };
    if kind != actual.kind {
        return Err(format!(
            "expected {name}, got {} for `{}`",
            actual.kind.name(),
            actual.command_name
        ));
    }
    let Bson::Document(spec) = spec else {
        return Err(format!("{name} must be a document"));
    };
    for (field, value) in spec {
        match field.as_str() {
            "commandName" => {
                let want = value.as_str().unwrap_or_default();
                if want != actual.command_name {
                    return Err(format!(
                        "{name}: expected commandName `{want}`, got `{}`",
                        actual.command_name
                    ));
                }
            }
            "databaseName" => {
                let want = value.as_str().unwrap_or_default();
                if want != actual.database {
                    return Err(format!(
                        "{name} `{}`: expected databaseName `{want}`, got `{}`",
                        actual.command_name, actual.database
                    ));
                }
            }
            "command" => {
                let got = actual.command.clone().map(Bson::Document);
                match_value(value, got.as_ref(), true, lookup, "command").map_err(|diff| {
                    format!(
                        "{name} `{}`: {diff} (command sent: {})",
                        actual.command_name,
                        actual
                            .command
                            .as_ref()
                            .map(without_gossip)
                            .unwrap_or_default()
                    )
                })?;
            }
            "reply" => {
                let got = actual.reply.clone().map(Bson::Document);
                match_value(value, got.as_ref(), true, lookup, "reply")
                    .map_err(|diff| format!("{name} `{}`: {diff}", actual.command_name))?;
            }
            "hasServiceId" => {
                if value.as_bool() == Some(true) {
                    return Err(format!(
                        "{name}: expected a serviceId, which only load-balanced deployments have"
                    ));
                }
            }
            "hasServerConnectionId" => {
                if value.as_bool() == Some(true) {
                    return Err(format!(
                        "{name}: expected a server connection id, which causeway's events do not carry"
                    ));
                }
            }
            other => return Err(format!("{name}: unsupported assertion `{other}`")),
        }
    }
    Ok(())
}
