//! Server cursors: the rest of a result set, handed out in batches by `getMore`.
//!
//! A result set is computed at the query's snapshot when the cursor opens, so every batch
//! belongs to that one point in time, however late it is fetched.

use std::collections::{HashMap, VecDeque};

use bson::Document;

use crate::session::SessionKey;

/// The largest reply batch, in bytes of documents (`mongod` keeps replies under 16 MiB).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024 - 16 * 1024;

/// An open cursor.
#[derive(Debug)]
pub struct Cursor {
    /// `db.collection`.
    pub ns: String,
    /// Documents not yet returned.
    pub remaining: VecDeque<Document>,
    /// The session that opened it.
    pub session: Option<SessionKey>,
    /// The transaction number it was opened in, if in a transaction.
    pub txn_number: Option<i64>,
}

/// The open cursors of a node.
#[derive(Debug, Default)]
pub struct Cursors {
    open: HashMap<i64, Cursor>,
    counter: u64,
}

impl Cursors {
    /// Registers a cursor and returns its id (positive, never 0).
    pub fn open(&mut self, cursor: Cursor) -> i64 {
        loop {
            self.counter = self.counter.wrapping_add(1);
            let id = (scramble(self.counter) & (i64::MAX as u64)) as i64;
            if id != 0 && !self.open.contains_key(&id) {
                self.open.insert(id, cursor);
                return id;
            }
        }
    }

    /// The cursor with this id.
    pub fn get_mut(&mut self, id: i64) -> Option<&mut Cursor> {
        self.open.get_mut(&id)
    }

    /// Closes a cursor; whether it was open.
    pub fn close(&mut self, id: i64) -> bool {
        self.open.remove(&id).is_some()
    }

    /// How many cursors are open.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// Takes the next batch: at most `limit` documents (all if `None`) and at most
/// [`MAX_BATCH_BYTES`] (always at least one document).
pub fn next_batch(remaining: &mut VecDeque<Document>, limit: Option<usize>) -> Vec<Document> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while limit.is_none_or(|l| batch.len() < l) {
        let Some(doc) = remaining.front() else { break };
        let size = doc_size(doc);
        if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
            break;
        }
        bytes += size;
        if let Some(doc) = remaining.pop_front() {
            batch.push(doc);
        }
    }
    batch
}

/// The encoded size of a document (an estimate only if it cannot be encoded).
pub fn doc_size(doc: &Document) -> usize {
    crate::encoding::encoded_len(doc).unwrap_or_else(|| doc.to_vec().map(|v| v.len()).unwrap_or(0))
}

/// A bijective mix of the counter, so ids are not guessable in sequence.
fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn batches_respect_the_limit() {
        let mut docs: VecDeque<Document> = (0..5).map(|i| doc! {"i": i}).collect();
        assert_eq!(next_batch(&mut docs, Some(2)).len(), 2);
        assert_eq!(next_batch(&mut docs, None).len(), 3);
        assert!(next_batch(&mut docs, None).is_empty());
    }

    #[test]
    fn ids_are_positive_and_distinct() {
        let mut cursors = Cursors::default();
        let a = cursors.open(Cursor {
            ns: "a.b".into(),
            remaining: VecDeque::new(),
            session: None,
            txn_number: None,
        });
        let b = cursors.open(Cursor {
            ns: "a.b".into(),
            remaining: VecDeque::new(),
            session: None,
            txn_number: None,
        });
        assert!(a > 0 && b > 0 && a != b);
        assert!(cursors.close(a));
        assert!(!cursors.close(a));
    }
}
