//! The embedded transport: commands go to the members of an in-process replica set, as
//! documents, with no encoding and no network.

use bson::{Document, doc};
use causeway_engine::replset::ReplicaSet;
use causeway_engine::request::SessionArguments;
use causeway_engine::session::SessionKey;
use causeway_engine::{ClientInfo, Ts};

use super::selection::{Candidate, select};
use super::{Envelope, Reply};
use crate::errors::{Error, Result};
use crate::options::ReadPreference;

/// An in-process replica set behind the transport interface.
#[derive(Debug, Clone)]
pub(crate) struct Embedded {
    set: ReplicaSet,
    client_info: ClientInfo,
    socket_timeout: Option<std::time::Duration>,
}

impl Embedded {
    pub fn new(
        set: ReplicaSet,
        app_name: Option<String>,
        socket_timeout: Option<std::time::Duration>,
    ) -> Embedded {
        Embedded {
            set,
            client_info: ClientInfo {
                app_name,
                connection_id: None,
            },
            socket_timeout,
        }
    }

    pub fn with_options(
        &self,
        app_name: Option<String>,
        socket_timeout: Option<std::time::Duration>,
    ) -> Embedded {
        Embedded::new(self.set.clone(), app_name, socket_timeout)
    }

    /// The replica set.
    pub fn replica_set(&self) -> &ReplicaSet {
        &self.set
    }

    /// The member a command with this read preference goes to.
    pub fn select(&self, selection: Option<&ReadPreference>) -> Result<usize> {
        let set = &self.set;
        if matches!(selection, None | Some(ReadPreference::Primary)) {
            return Ok(set.primary_index());
        }
        let tags: Vec<Document> = (0..set.len())
            .map(|i| set.tags(i).cloned().unwrap_or_default())
            .collect();
        let candidates: Vec<Candidate<'_>> = (0..set.len())
            .map(|i| Candidate {
                index: i,
                primary: i == set.primary_index(),
                tags: &tags[i],
                last_write_secs: i64::from(set.applied(i).seconds()),
            })
            .collect();
        select(&candidates, selection, &mut |n| rand::random_range(0..n))
    }

    /// A member's address.
    pub fn address(&self, member: usize) -> String {
        self.set.host(member).unwrap_or_default().to_owned()
    }

    /// Runs a command on a member; reads sent to a secondary carry `$readPreference` (which
    /// is how a member knows a secondary may answer). The session's arguments go to the engine
    /// apart from the command, as values.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    pub fn run<'a>(
        &'a self,
        member: usize,
        db: &'a str,
        mut command: Document,
        envelope: Option<Envelope>,
        selection: Option<&'a ReadPreference>,
        unacknowledged: bool,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        // An async block, not an `async fn`, for the reason given at the top of `operation.rs`.
        async move {
            self.set.ensure_started();
            let engine = self
                .set
                .member(member)
                .ok_or_else(|| Error::invalid_argument(format!("no member {member}")))?;
            if member != self.set.primary_index()
                && let Some(preference) = selection
            {
                command.insert("$readPreference", preference.to_document());
            }
            let client = &self.client_info;
            // Each engine future is made inside its `.await` expression: a future held in a
            // local would take room twice in this one's state.
            // Matched without a tuple of the two: the tuple would keep room for the envelope
            // beside the engine's future.
            let reply = match self.socket_timeout {
                None if envelope.is_some() => engine
                    .run_with_session(client, db, command, session_arguments(envelope))
                    .await
                    .map(Reply::from_response),
                Some(limit) if envelope.is_some() => tokio::time::timeout(
                    limit,
                    engine.run_with_session(client, db, command, session_arguments(envelope)),
                )
                .await
                .map_err(|_| socket_timeout(limit))?
                .map(Reply::from_response),
                None => engine
                    .run_command_as(client, db, command)
                    .await
                    .map(Reply::from_document),
                Some(limit) => {
                    tokio::time::timeout(limit, engine.run_command_as(client, db, command))
                        .await
                        .map_err(|_| socket_timeout(limit))?
                        .map(Reply::from_document)
                }
            }
            .map_err(|_| Error::network("the connection closed without a reply"))?;
            if unacknowledged {
                // The client asked for no acknowledgment: whatever happened is not reported.
                return Ok(Reply::from_document(doc! {"ok": 1.0}));
            }
            Ok(reply)
        }
    }
}

/// The session's arguments as the engine takes them (none if there is no envelope).
fn session_arguments(envelope: Option<Envelope>) -> SessionArguments {
    let Some(envelope) = envelope else {
        return SessionArguments::default();
    };
    SessionArguments {
        lsid: envelope.lsid.map(SessionKey::from_uuid),
        txn_number: envelope.txn_number,
        autocommit: envelope.autocommit,
        start_transaction: envelope.start_transaction,
        read_concern: envelope.read_concern,
        write_concern: envelope.write_concern,
        cluster_time: envelope.cluster_time.map(|ct| Ts::from_bson(ct.time())),
    }
}

fn socket_timeout(limit: std::time::Duration) -> Error {
    Error::network(format!("no reply within the socket timeout of {limit:?}"))
}
