//! Server-side logical sessions: the transaction number of each session, the state of its
//! transaction, and the recorded results of its retryable writes.

use ahash::HashMap;
use bson::{Bson, Document, spec::BinarySubtype};
use tokio::time::Instant;

use crate::clock::Ts;
use crate::compare::type_name;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::unit::WriteUnit;

/// The identity of a session (`lsid`): its UUID, and the user id (`uid`) if the document has
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    id: [u8; 16],
    uid: Option<Vec<u8>>,
}

impl SessionKey {
    /// The key of the session `{id: UUID}` with these UUID bytes.
    pub fn from_uuid(id: [u8; 16]) -> SessionKey {
        SessionKey { id, uid: None }
    }

    /// Validates an `lsid` document (`{id: UUID}`) and keys it.
    pub fn from_lsid(lsid: &Bson) -> CommandResult<SessionKey> {
        let Bson::Document(doc) = lsid else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'lsid' is the wrong type '{}', expected type 'object'",
                type_name(lsid)
            )));
        };
        let id = match doc.get("id") {
            Some(Bson::Binary(b)) if b.subtype == BinarySubtype::Uuid && b.bytes.len() == 16 => {
                let mut id = [0; 16];
                id.copy_from_slice(&b.bytes);
                id
            }
            Some(other) => {
                return Err(CommandError::type_mismatch(format!(
                    "BSON field 'lsid.id' is the wrong type '{}', expected a UUID",
                    type_name(other)
                )));
            }
            None => {
                return Err(CommandError::new(
                    ErrorCode::NoSuchKey,
                    "BSON field 'lsid.id' is missing but a required field",
                ));
            }
        };
        let uid = match doc.get("uid") {
            None => None,
            Some(Bson::Binary(b)) => Some(b.bytes.clone()),
            Some(other) => {
                return Err(CommandError::type_mismatch(format!(
                    "BSON field 'lsid.uid' is the wrong type '{}', expected type 'binData'",
                    type_name(other)
                )));
            }
        };
        Ok(SessionKey { id, uid })
    }
}

/// An open multi-document transaction.
#[derive(Debug)]
pub struct Transaction {
    /// Its snapshot and uncommitted writes.
    pub unit: WriteUnit,
    /// When it started, for the lifetime limit.
    pub started: Instant,
    /// Cursors it opened; they die with it.
    pub cursors: Vec<i64>,
}

/// What happened to the transaction with the session's current number.
#[derive(Debug)]
pub enum TxnState {
    /// No transaction: the number belongs to retryable writes, or nothing yet.
    None,
    /// Open.
    InProgress(Box<Transaction>),
    /// Committed at `ts` (a retried commit answers again with it); `ts` is `None` for a
    /// transaction that wrote nothing.
    Committed { ts: Option<Ts> },
    /// Aborted, by the client, an error or the lifetime limit.
    Aborted,
}

/// A retryable write's recorded reply.
#[derive(Debug, Clone)]
pub struct RetryRecord {
    /// The command name, so a different command with the same number is refused.
    pub command: String,
    /// The reply of the first execution.
    pub reply: Document,
}

/// One logical session on the server.
#[derive(Debug)]
pub struct ServerSession {
    /// The highest transaction number seen.
    pub txn_number: Option<i64>,
    /// The state of the transaction with that number.
    pub txn: TxnState,
    /// The recorded result of the retryable write with that number.
    pub retry: Option<RetryRecord>,
    /// When the session was last used.
    pub last_used: Instant,
}

impl ServerSession {
    fn new(now: Instant) -> ServerSession {
        ServerSession {
            txn_number: None,
            txn: TxnState::None,
            retry: None,
            last_used: now,
        }
    }

    /// The open transaction, if any.
    pub fn transaction_mut(&mut self) -> Option<&mut Transaction> {
        match &mut self.txn {
            TxnState::InProgress(txn) => Some(txn),
            _ => None,
        }
    }
}

/// Every session the server knows.
#[derive(Debug, Default)]
pub struct SessionTable {
    sessions: HashMap<SessionKey, ServerSession>,
}

impl SessionTable {
    /// The session with this key, created on first use.
    pub fn get_or_create(&mut self, key: &SessionKey, now: Instant) -> &mut ServerSession {
        let session = self
            .sessions
            .entry(key.clone())
            .or_insert_with(|| ServerSession::new(now));
        session.last_used = now;
        session
    }

    /// The session with this key, if known.
    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut ServerSession> {
        self.sessions.get_mut(key)
    }

    /// Forgets a session, returning it (its open transaction must then be aborted).
    pub fn remove(&mut self, key: &SessionKey) -> Option<ServerSession> {
        self.sessions.remove(key)
    }

    /// Every session, for sweeping expired transactions.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SessionKey, &mut ServerSession)> {
        self.sessions.iter_mut()
    }

    /// How many sessions are known.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is known.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, doc};

    fn uuid_lsid() -> Bson {
        Bson::Document(doc! { "id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] } })
    }

    #[test]
    fn lsid_must_be_a_document_with_a_uuid() {
        assert!(SessionKey::from_lsid(&uuid_lsid()).is_ok());
        assert_eq!(
            SessionKey::from_lsid(&Bson::Int32(1)).map_err(|e| e.code),
            Err(14)
        );
        assert_eq!(
            SessionKey::from_lsid(&Bson::Document(doc! {"id": 1})).map_err(|e| e.code),
            Err(14)
        );
        assert_eq!(
            SessionKey::from_lsid(&Bson::Document(doc! {})).map_err(|e| e.code),
            Err(4)
        );
    }

    #[test]
    fn sessions_are_created_on_first_use() {
        let mut table = SessionTable::default();
        let key = SessionKey::from_lsid(&uuid_lsid()).expect("valid lsid");
        table.get_or_create(&key, Instant::now()).txn_number = Some(3);
        assert_eq!(
            table.get_or_create(&key, Instant::now()).txn_number,
            Some(3)
        );
        assert_eq!(table.len(), 1);
    }
}
