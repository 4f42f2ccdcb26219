//! One collection: multi-version records keyed by `_id`, and its secondary indexes.

use ahash::HashMap;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use bson::{Document, Uuid};

use super::index::{Index, IndexKeys};
use super::record::{Record, Version};
use super::{Horizon, Key, MAX_HISTORY, TxnId};
use crate::clock::Ts;
use crate::error::CommandResult;

/// A collection: documents keyed by the key string of their `_id`, each with its committed
/// versions, plus the marks of uncommitted writes of open transactions.
#[derive(Debug, Clone)]
pub struct Collection {
    records: BTreeMap<Key, Record>,
    /// Secondary indexes (`_id` is the record map itself).
    pub indexes: Vec<Index>,
    pending: HashMap<Key, TxnId>,
    /// The transaction that created the collection and has not yet committed, if any.
    pub created_by: Option<TxnId>,
    /// The collection's identity, as `listCollections` reports it.
    pub uuid: Uuid,
    /// The options it was created with.
    pub options: Document,
}

impl Collection {
    /// An empty collection.
    pub fn new(options: Document, created_by: Option<TxnId>) -> Collection {
        Collection {
            records: BTreeMap::new(),
            indexes: Vec::new(),
            pending: HashMap::default(),
            created_by,
            uuid: Uuid::new(),
            options,
        }
    }

    /// Whether a reader of transaction `txn` (or a non-transactional reader, `None`) sees the
    /// collection: committed, or created by that very transaction.
    pub fn visible_to(&self, txn: Option<TxnId>) -> bool {
        self.created_by.is_none() || self.created_by == txn
    }

    /// The document with this `_id` key as a reader at `at` sees it.
    pub fn get(&self, id: &[u8], at: Ts) -> Option<&[u8]> {
        self.records.get(id).and_then(|r| r.doc_at(at))
    }

    /// The newest committed version of the document with this `_id` key.
    pub fn latest(&self, id: &[u8]) -> Option<&Version> {
        self.records.get(id).and_then(Record::latest)
    }

    /// The documents a reader at `at` sees, in `_id` order.
    pub fn scan(&self, at: Ts) -> impl Iterator<Item = (&Key, &[u8])> + '_ {
        self.records
            .iter()
            .filter_map(move |(id, r)| r.doc_at(at).map(|doc| (id, doc)))
    }

    /// How many documents a reader at `at` sees.
    pub fn count_at(&self, at: Ts) -> usize {
        self.records
            .values()
            .filter(|r| r.doc_at(at).is_some())
            .count()
    }

    /// The index with this name.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// The open transaction holding an uncommitted write of this `_id`, if any.
    pub fn pending_writer(&self, id: &[u8]) -> Option<TxnId> {
        self.pending.get(id).copied()
    }

    /// Some open transaction with an uncommitted write here, if any.
    pub fn any_pending_writer(&self) -> Option<TxnId> {
        self.pending.values().next().copied()
    }

    /// Records that `txn` holds an uncommitted write of this `_id`.
    pub fn mark_pending(&mut self, id: Key, txn: TxnId) {
        self.pending.insert(id, txn);
    }

    /// Forgets every uncommitted mark of `txn` (it committed or aborted).
    pub fn release(&mut self, txn: TxnId) {
        self.pending.retain(|_, t| *t != txn);
        for index in &mut self.indexes {
            index.release(txn);
        }
    }

    /// Installs a committed version of a document (`None`: deleted) at `ts`, and reclaims
    /// versions no reader needs any more. Returns the time before which snapshot reads can no
    /// longer be answered, if history inside the window had to go (see [`MAX_HISTORY`]).
    /// `known_keys` are the document's keys as computed when it was written, if they were.
    pub fn install(
        &mut self,
        id: Key,
        doc: Option<Box<[u8]>>,
        mut known_keys: IndexKeys,
        ts: Ts,
        horizon: Horizon,
    ) -> CommandResult<Option<Ts>> {
        // The new version's keys, per index: they are also the first a pruned version's
        // keys are checked against before its entries go.
        let mut new_keys = Vec::new();
        if let Some(bytes) = &doc {
            new_keys.reserve_exact(self.indexes.len());
            for (position, index) in self.indexes.iter_mut().enumerate() {
                let keys = match known_keys.take(position, index) {
                    Some(keys) => keys,
                    None => index.keys_of_stored(bytes)?,
                };
                for key in &keys {
                    index.insert_entry(Key::from_slice(key), id.clone());
                }
                new_keys.push(keys);
            }
        }
        let version = Version::new(ts, doc);
        // One descent of the map, whether the document is new or not.
        let record = match self.records.entry(id.clone()) {
            Entry::Occupied(entry) => {
                let record = entry.into_mut();
                record.push(version);
                record
            }
            Entry::Vacant(entry) => entry.insert(Record::new(version)),
        };
        let mut dropped = record.prune(horizon.soft);
        let (truncated, floor) = record.truncate_history(MAX_HISTORY, horizon.hard);
        if dropped.is_empty() {
            // The usual case of a hot document: no new allocation to join the two.
            dropped = truncated;
        } else {
            dropped.extend(truncated);
        }
        if record.is_dead(horizon.soft) {
            let last = self.records.remove(&id);
            let gone: Vec<Version> = dropped
                .into_iter()
                .chain(last.iter().flat_map(|r| r.versions().cloned()))
                .collect();
            remove_stale_entries(&mut self.indexes, &id, &gone, None, &[])?;
        } else if !dropped.is_empty() {
            remove_stale_entries(
                &mut self.indexes,
                &id,
                &dropped,
                self.records.get(&id),
                &new_keys,
            )?;
        }
        Ok(floor)
    }

    /// Adds a built index: entries for every retained version of every document.
    pub fn add_index(&mut self, mut index: Index) -> CommandResult<()> {
        for (id, record) in &self.records {
            for version in record.versions() {
                if let Some(bytes) = version.doc() {
                    for key in index.keys_of_stored(bytes)? {
                        index.insert_entry(Key::from_vec(key), id.clone());
                    }
                }
            }
        }
        self.indexes.push(index);
        Ok(())
    }

    /// Number of documents with at least one retained version (for statistics and tests).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Total retained versions (for statistics and tests).
    pub fn version_count(&self) -> usize {
        self.records.values().map(Record::len).sum()
    }
}

/// Removes the index entries of `dropped` versions that no version still kept in `kept`
/// holds. `newest_keys` (per index, the keys of the version just installed, already known)
/// are checked first; kept versions are then searched newest first and only while keys
/// remain unaccounted for, so the usual case (the key did not change) computes only the
/// dropped version's keys.
fn remove_stale_entries(
    indexes: &mut [Index],
    id: &Key,
    dropped: &[Version],
    kept: Option<&Record>,
    newest_keys: &[Vec<Vec<u8>>],
) -> CommandResult<()> {
    for (i, index) in indexes.iter_mut().enumerate() {
        let mut stale: Vec<Vec<u8>> = Vec::new();
        for version in dropped {
            if let Some(bytes) = version.doc() {
                let keys = index.keys_of_stored(bytes)?;
                if stale.is_empty() {
                    stale = keys;
                } else {
                    stale.extend(keys);
                }
            }
        }
        stale.sort_unstable();
        stale.dedup();
        if let Some(newest) = newest_keys.get(i) {
            stale.retain(|key| !holds(newest, key));
        }
        if let Some(record) = kept {
            for version in record.versions().rev() {
                if stale.is_empty() {
                    break;
                }
                if let Some(bytes) = version.doc() {
                    let kept_keys = index.keys_of_stored(bytes)?;
                    stale.retain(|key| !holds(&kept_keys, key));
                }
            }
        }
        for key in stale {
            index.remove_entry(Key::from_vec(key), id.clone());
        }
    }
    Ok(())
}

/// Whether `keys`, one version's keys for an index, holds `key`. Key generation returns them
/// sorted and without repeats, so this is a binary search (a document with a large array
/// has as many keys as elements).
fn holds(keys: &[Vec<u8>], key: &[u8]) -> bool {
    debug_assert!(keys.is_sorted(), "index keys come sorted");
    keys.binary_search_by(|k| k.as_slice().cmp(key)).is_ok()
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    use super::*;
    use crate::keystring;

    fn install(c: &mut Collection, tags: &[&str], ts: u64, horizon: u64) {
        let doc = doc! {"_id": 1, "tags": tags};
        let bytes = doc.to_vec().expect("encodes").into_boxed_slice();
        let horizon = Horizon {
            soft: Ts(horizon),
            hard: Ts(horizon),
        };
        let id = Key::from_vec(keystring::key_of(&Bson::Int32(1)));
        c.install(id, Some(bytes), IndexKeys::default(), Ts(ts), horizon)
            .expect("installs");
    }

    /// The tags the index has an entry for.
    fn indexed(c: &Collection) -> Vec<&'static str> {
        let index = c.index("tags_1").expect("the index");
        let id = keystring::key_of(&Bson::Int32(1));
        ["a", "b", "c", "d"]
            .into_iter()
            .filter(|tag| {
                let doc = doc! {"tags": *tag};
                let keys = index.keys_of(&doc).expect("keys");
                index.has_entry(&keys[0], &id)
            })
            .collect()
    }

    #[test]
    fn entries_go_with_the_last_version_that_holds_them() {
        let mut c = Collection::new(doc! {}, None);
        let spec = doc! {"key": {"tags": 1}, "name": "tags_1"};
        c.add_index(Index::from_spec(&spec, None).expect("an index"))
            .expect("added");
        install(&mut c, &["c", "a", "b"], 1, 0);
        // An older snapshot still reads the first version: its keys stay.
        install(&mut c, &["d", "b"], 2, 1);
        assert_eq!(indexed(&c), ["a", "b", "c", "d"]);
        // Once no reader sees it, only the keys no kept version holds go.
        install(&mut c, &["b", "d"], 3, 3);
        assert_eq!(indexed(&c), ["b", "d"]);
        install(&mut c, &[], 4, 4);
        assert_eq!(indexed(&c), Vec::<&str>::new());
    }
}
