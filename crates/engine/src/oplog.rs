//! The oplog: one entry per committed write or transaction, in timestamp order.
//!
//! Entries carry whole document images (`Put`) and deletes, so applying one is idempotent and
//! needs no query evaluation; a transaction is one entry, applied atomically.

use std::collections::VecDeque;
use std::sync::Arc;

use bson::Document;
use tokio::sync::mpsc;

use crate::clock::Ts;
use crate::storage::Key;

/// One change inside an oplog entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The document with this `_id` key now has this image.
    Put {
        db: String,
        coll: String,
        id: Key,
        doc: Box<[u8]>,
    },
    /// The document with this `_id` key was deleted.
    Delete { db: String, coll: String, id: Key },
    /// A collection was created.
    CreateCollection {
        db: String,
        coll: String,
        options: Document,
    },
    /// A collection was dropped.
    DropCollection { db: String, coll: String },
    /// An index was created (its normalized spec).
    CreateIndex {
        db: String,
        coll: String,
        spec: Document,
    },
    /// An index was dropped.
    DropIndex {
        db: String,
        coll: String,
        name: String,
    },
}

/// One committed write or transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct OplogEntry {
    /// Its commit time.
    pub ts: Ts,
    /// When it committed, on the engine's clock (secondaries apply it after their lag).
    pub wall: tokio::time::Instant,
    /// Its changes, catalog changes first.
    pub ops: Vec<Op>,
}

/// The recent oplog entries of a node, and the subscribers that receive new ones.
#[derive(Debug)]
pub struct Oplog {
    recent: VecDeque<Arc<OplogEntry>>,
    capacity: usize,
    subscribers: Vec<mpsc::UnboundedSender<Arc<OplogEntry>>>,
}

impl Oplog {
    /// An oplog that keeps the last `capacity` entries for reading.
    pub fn new(capacity: usize) -> Oplog {
        Oplog {
            recent: VecDeque::new(),
            capacity,
            subscribers: Vec::new(),
        }
    }

    /// Appends an entry (its time is later than every earlier entry's) and sends it to every
    /// subscriber.
    pub fn push(&mut self, entry: OplogEntry) {
        let entry = Arc::new(entry);
        self.subscribers.retain(|s| s.send(entry.clone()).is_ok());
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(entry);
    }

    /// Whether anyone reads entries (subscribers, or retention for reading): if not, commits
    /// need not build them.
    pub fn is_read(&self) -> bool {
        self.capacity > 0 || self.subscribers.iter().any(|s| !s.is_closed())
    }

    /// A receiver of every entry appended from now on, in order.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<Arc<OplogEntry>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.push(tx);
        rx
    }

    /// The retained entries later than `after`, oldest first.
    pub fn read_after(&self, after: Ts) -> Vec<Arc<OplogEntry>> {
        let start = self.recent.partition_point(|e| e.ts <= after);
        self.recent.range(start..).cloned().collect()
    }

    /// The time of the newest entry, if any is retained.
    pub fn last_ts(&self) -> Option<Ts> {
        self.recent.back().map(|e| e.ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: u64) -> OplogEntry {
        OplogEntry {
            ts: Ts(ts),
            wall: tokio::time::Instant::now(),
            ops: Vec::new(),
        }
    }

    #[test]
    fn reads_from_a_position_in_order() {
        let mut oplog = Oplog::new(3);
        for ts in 1..=5 {
            oplog.push(entry(ts));
        }
        let after: Vec<u64> = oplog.read_after(Ts(3)).iter().map(|e| e.ts.0).collect();
        assert_eq!(after, vec![4, 5]);
        assert_eq!(
            oplog.read_after(Ts(0)).len(),
            3,
            "only the last three are kept"
        );
        assert_eq!(oplog.last_ts(), Some(Ts(5)));
    }

    #[test]
    fn subscribers_receive_every_new_entry() {
        let mut oplog = Oplog::new(0);
        let mut rx = oplog.subscribe();
        oplog.push(entry(1));
        oplog.push(entry(2));
        assert_eq!(rx.try_recv().map(|e| e.ts), Ok(Ts(1)));
        assert_eq!(rx.try_recv().map(|e| e.ts), Ok(Ts(2)));
        drop(rx);
        oplog.push(entry(3));
        assert!(
            oplog.subscribers.is_empty(),
            "a dropped receiver is forgotten"
        );
    }
}
