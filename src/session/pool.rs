//! Server sessions and their pool.
//!
//! A server session is the identity (`lsid`) the server keys session state by. Ending a
//! client session returns it to the pool, newest on top; the next session reuses the most
//! recently used one (LIFO), so few identities stay warm. A session that saw a network error
//! (dirty) is discarded, and so is one within a minute of the server's idle timeout.

use std::time::Duration;

use bson::{Document, Uuid};
use parking_lot::Mutex;
use tokio::time::Instant;

/// The identity of a logical session on the server, with its transaction numbers.
#[derive(Debug, Clone)]
pub(crate) struct ServerSession {
    /// The bytes of the UUID in `lsid: {id: UUID}`.
    pub uuid: [u8; 16],
    /// The last transaction number used (retryable writes and transactions).
    pub txn_number: i64,
    /// When it was last used.
    pub last_use: Instant,
    /// A network error happened while it was in use: the server's view of it is unknown.
    pub dirty: bool,
}

impl ServerSession {
    fn new() -> ServerSession {
        ServerSession {
            uuid: Uuid::new().bytes(),
            txn_number: 0,
            last_use: Instant::now(),
            dirty: false,
        }
    }

    /// `{id: UUID}`.
    pub fn lsid(&self) -> Document {
        crate::transport::lsid_document(self.uuid)
    }

    /// Whether the server may forget it within a minute.
    fn near_expiry(&self, timeout: Duration) -> bool {
        Instant::now().saturating_duration_since(self.last_use) + Duration::from_secs(60) >= timeout
    }
}

/// The pool of idle server sessions of one client.
#[derive(Debug)]
pub(crate) struct SessionPool {
    idle: Mutex<Vec<ServerSession>>,
    timeout: Duration,
}

impl SessionPool {
    /// A pool for a server that forgets sessions idle for `timeout`.
    pub fn new(timeout: Duration) -> SessionPool {
        SessionPool {
            idle: Mutex::new(Vec::new()),
            timeout,
        }
    }

    /// The most recently used idle session that is not about to expire, or a new one.
    pub fn acquire(&self) -> ServerSession {
        let mut idle = self.idle.lock();
        while let Some(session) = idle.pop() {
            if !session.near_expiry(self.timeout) {
                return session;
            }
        }
        ServerSession::new()
    }

    /// Returns a session to the pool, unless it is dirty or about to expire; expired sessions
    /// at the bottom are dropped too.
    pub fn release(&self, mut session: ServerSession) {
        let mut idle = self.idle.lock();
        idle.retain(|s| !s.near_expiry(self.timeout));
        if session.dirty || session.near_expiry(self.timeout) {
            return;
        }
        session.last_use = Instant::now();
        idle.push(session);
    }

    /// Takes every idle session (for `endSessions` at shutdown).
    pub fn drain(&self) -> Vec<ServerSession> {
        std::mem::take(&mut *self.idle.lock())
    }

    /// How many sessions are idle.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30 * 60);

    #[tokio::test(start_paused = true)]
    async fn reuses_the_most_recently_used_session() {
        let pool = SessionPool::new(TIMEOUT);
        let (a, b) = (pool.acquire(), pool.acquire());
        assert_ne!(a.uuid, b.uuid, "new sessions have fresh ids");
        let (a_id, b_id) = (a.uuid, b.uuid);
        pool.release(a);
        pool.release(b);
        assert_eq!(pool.acquire().uuid, b_id);
        assert_eq!(pool.acquire().uuid, a_id);
    }

    #[tokio::test(start_paused = true)]
    async fn discards_dirty_and_nearly_expired_sessions() {
        let pool = SessionPool::new(TIMEOUT);
        let mut dirty = pool.acquire();
        dirty.dirty = true;
        pool.release(dirty);
        assert_eq!(pool.idle_count(), 0);
        let old = pool.acquire();
        let old_id = old.uuid;
        pool.release(old);
        tokio::time::advance(TIMEOUT - Duration::from_secs(30)).await;
        assert_ne!(
            pool.acquire().uuid,
            old_id,
            "a session within a minute of expiry is not reused"
        );
    }

    #[test]
    fn lsids_are_uuids() {
        let session = ServerSession::new();
        let lsid = session.lsid();
        let id = lsid.get_binary_generic("id");
        assert!(
            matches!(lsid.get("id"), Some(bson::Bson::Binary(b)) if b.subtype == bson::spec::BinarySubtype::Uuid && b.bytes.len() == 16),
            "{id:?}"
        );
    }
}
