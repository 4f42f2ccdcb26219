//! A unit of writes that commits or aborts as a whole: a multi-document transaction, or one
//! statement outside a transaction.
//!
//! A unit reads at its snapshot plus its own uncommitted writes. Each write claims the document
//! (and the keys of unique indexes) with a pending mark, so a second writer finds the conflict
//! at once; at commit the unit installs its versions at one new timestamp and releases its
//! marks.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::clock::Ts;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::oplog::Op;
use crate::storage::{Catalog, Collection, Horizon, IndexKeys, Key, TxnId, decode};

/// Why a statement could not go on.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementError {
    /// It failed; the error goes to the client.
    Failed(CommandError),
    /// Another open transaction holds an uncommitted write it needs: a transaction gets a
    /// `WriteConflict`, a statement outside one waits for that transaction to end and retries.
    Blocked(TxnId),
}

impl From<CommandError> for StatementError {
    fn from(e: CommandError) -> StatementError {
        StatementError::Failed(e)
    }
}

/// The result of one statement.
pub type StatementResult<T> = Result<T, StatementError>;

/// A database and collection name, kept in one allocation: a unit records one for every
/// collection it writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The database name followed by the collection name.
    names: String,
    /// Where the collection name starts.
    split: usize,
}

impl Namespace {
    /// The namespace `db.coll`.
    pub fn new(db: &str, coll: &str) -> Namespace {
        let mut names = String::with_capacity(db.len() + coll.len());
        names.push_str(db);
        names.push_str(coll);
        Namespace {
            names,
            split: db.len(),
        }
    }

    /// The database name.
    pub fn db(&self) -> &str {
        &self.names[..self.split]
    }

    /// The collection name.
    pub fn coll(&self) -> &str {
        &self.names[self.split..]
    }

    /// Whether this is `db.coll`.
    pub fn is(&self, db: &str, coll: &str) -> bool {
        self.db() == db && self.coll() == coll
    }
}

/// The `WriteConflict` every conflicting write gets.
pub fn write_conflict() -> CommandError {
    CommandError::new(
        ErrorCode::WriteConflict,
        "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.",
    )
}

/// The uncommitted writes of one unit to one collection.
#[derive(Debug, Default, Clone)]
struct CollectionWrites {
    /// The newest image of each written document (`None`: deleted), by `_id` key.
    docs: BTreeMap<Key, Option<Box<[u8]>>>,
    /// The index keys of the images that have any (a collection with secondary indexes). Apart
    /// from the images so that writes to other collections keep small map nodes: with
    /// the keys beside every image, a million-document load took 4% more memory.
    keys: BTreeMap<Key, IndexKeys>,
    /// The unique-index keys the images hold: (index name, key) → `_id` key.
    /// (An ordered map: it is usually empty, and making an empty one costs nothing.)
    unique_keys: BTreeMap<(String, Vec<u8>), Key>,
}

/// A transaction's or a statement's snapshot and uncommitted writes.
#[derive(Debug)]
pub struct WriteUnit {
    /// Marks this unit's pending writes.
    pub id: TxnId,
    /// The committed state the unit reads.
    pub snapshot: Ts,
    /// Writes per collection; a unit touches few collections, so a list searched in place
    /// avoids building keys for every lookup.
    writes: Vec<(Namespace, CollectionWrites)>,
    catalog_ops: Vec<Op>,
}

impl WriteUnit {
    /// A unit reading at `snapshot`.
    pub fn new(id: TxnId, snapshot: Ts) -> WriteUnit {
        WriteUnit {
            id,
            snapshot,
            writes: Vec::new(),
            catalog_ops: Vec::new(),
        }
    }

    /// Whether the unit has written nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.iter().all(|(_, w)| w.docs.is_empty()) && self.catalog_ops.is_empty()
    }

    /// The collection as this unit sees it (committed, or created by this unit).
    pub fn collection<'c>(
        &self,
        catalog: &'c Catalog,
        db: &str,
        coll: &str,
    ) -> Option<&'c Collection> {
        catalog
            .collection(db, coll)
            .filter(|c| c.visible_to(Some(self.id)))
    }

    /// The document with this `_id` key as the unit sees it.
    pub fn get<'a>(
        &'a self,
        catalog: &'a Catalog,
        db: &str,
        coll: &str,
        id: &[u8],
    ) -> Option<&'a [u8]> {
        if let Some(image) = self.own_image(db, coll, id) {
            return image;
        }
        self.collection(catalog, db, coll)?.get(id, self.snapshot)
    }

    fn own_image(&self, db: &str, coll: &str, id: &[u8]) -> Option<Option<&[u8]>> {
        self.writes_to(db, coll)?
            .docs
            .get(id)
            .map(|image| image.as_deref())
    }

    /// Every document the unit sees in the collection, in `_id` order.
    pub fn scan<'a>(
        &'a self,
        catalog: &'a Catalog,
        db: &str,
        coll: &str,
    ) -> Vec<(&'a [u8], &'a [u8])> {
        let committed = self
            .collection(catalog, db, coll)
            .into_iter()
            .flat_map(|c| c.scan(self.snapshot));
        let Some(own) = self.writes_to(db, coll) else {
            return committed.map(|(id, doc)| (&id[..], doc)).collect();
        };
        let mut merged: BTreeMap<&'a [u8], &'a [u8]> =
            committed.map(|(id, doc)| (&id[..], doc)).collect();
        for (id, image) in &own.docs {
            match image {
                Some(doc) => merged.insert(id, doc),
                None => merged.remove(&id[..]),
            };
        }
        merged.into_iter().collect()
    }

    fn writes_to(&self, db: &str, coll: &str) -> Option<&CollectionWrites> {
        self.writes
            .iter()
            .find(|(ns, _)| ns.is(db, coll))
            .map(|(_, w)| w)
    }

    fn writes_to_mut(&mut self, db: &str, coll: &str) -> &mut CollectionWrites {
        let at = match self.writes.iter().position(|(ns, _)| ns.is(db, coll)) {
            Some(at) => at,
            None => {
                self.writes
                    .push((Namespace::new(db, coll), CollectionWrites::default()));
                self.writes.len() - 1
            }
        };
        &mut self.writes[at].1
    }

    /// The `_id` keys of the documents this unit itself wrote in the collection.
    pub fn own_ids(&self, db: &str, coll: &str) -> Vec<&[u8]> {
        self.writes_to(db, coll)
            .map(|w| w.docs.keys().map(|k| &k[..]).collect())
            .unwrap_or_default()
    }

    /// Creates the collection if this unit does not see it (an insert or upsert into a new
    /// collection creates it, as in `mongod`).
    pub fn ensure_collection(
        &mut self,
        catalog: &mut Catalog,
        db: &str,
        coll: &str,
    ) -> StatementResult<()> {
        match catalog.collection(db, coll) {
            Some(c) if c.visible_to(Some(self.id)) => Ok(()),
            Some(c) => Err(StatementError::Blocked(c.created_by.unwrap_or(self.id))),
            None => {
                crate::storage::validate_collection_name(db, coll)?;
                self.create_collection(catalog, db, coll, Document::new());
                Ok(())
            }
        }
    }

    /// Creates a collection that does not exist yet; it is visible to others at commit.
    pub fn create_collection(
        &mut self,
        catalog: &mut Catalog,
        db: &str,
        coll: &str,
        options: Document,
    ) {
        catalog.insert_collection(db, coll, Collection::new(options.clone(), Some(self.id)));
        self.catalog_ops.push(Op::CreateCollection {
            db: db.to_owned(),
            coll: coll.to_owned(),
            options,
        });
    }

    /// Records an index this unit built on a collection; it is visible to others at commit.
    pub fn created_index(&mut self, db: &str, coll: &str, spec: Document) {
        self.catalog_ops.push(Op::CreateIndex {
            db: db.to_owned(),
            coll: coll.to_owned(),
            spec,
        });
    }

    /// Refuses to drop a collection an open transaction is writing to or creating.
    pub fn check_droppable(&self, catalog: &Catalog, db: &str, coll: &str) -> StatementResult<()> {
        let Some(c) = catalog.collection(db, coll) else {
            return Ok(());
        };
        match c
            .created_by
            .filter(|t| *t != self.id)
            .or_else(|| c.any_pending_writer())
        {
            Some(other) => Err(StatementError::Blocked(other)),
            None => Ok(()),
        }
    }

    /// Drops a collection now (statements outside transactions only); returns how many
    /// indexes it had, or `None` if it did not exist.
    pub fn drop_collection(
        &mut self,
        catalog: &mut Catalog,
        db: &str,
        coll: &str,
    ) -> StatementResult<Option<usize>> {
        self.check_droppable(catalog, db, coll)?;
        let Some(dropped) = catalog.remove_collection(db, coll) else {
            return Ok(None);
        };
        self.catalog_ops.push(Op::DropCollection {
            db: db.to_owned(),
            coll: coll.to_owned(),
        });
        Ok(Some(dropped.indexes.len() + 1))
    }

    /// Drops an index now (statements outside transactions only).
    pub fn drop_index(
        &mut self,
        catalog: &mut Catalog,
        db: &str,
        coll: &str,
        name: &str,
    ) -> StatementResult<()> {
        self.check_droppable(catalog, db, coll)?;
        if let Some(c) = catalog.collection_mut(db, coll) {
            c.indexes.retain(|i| i.name != name);
        }
        self.catalog_ops.push(Op::DropIndex {
            db: db.to_owned(),
            coll: coll.to_owned(),
            name: name.to_owned(),
        });
        Ok(())
    }

    /// Writes a new image of a document (`None` deletes it), after checking for conflicts and
    /// unique-key violations. Nothing changes if the write is refused.
    pub fn write(
        &mut self,
        catalog: &mut Catalog,
        db: &str,
        coll: &str,
        id: &[u8],
        image: Option<Box<[u8]>>,
    ) -> StatementResult<()> {
        let Some(collection) = catalog
            .collection_mut(db, coll)
            .filter(|c| c.visible_to(Some(self.id)))
        else {
            return Err(CommandError::new(
                ErrorCode::NamespaceNotFound,
                format!("ns does not exist: {db}.{coll}"),
            )
            .into());
        };
        match collection.pending_writer(id) {
            Some(other) if other != self.id => return Err(StatementError::Blocked(other)),
            _ => {}
        }
        if collection.latest(id).is_some_and(|v| v.ts > self.snapshot) {
            return Err(write_conflict().into());
        }
        let unit = self.id;
        let snapshot = self.snapshot;
        let own = self.writes_to_mut(db, coll);
        // Key generation also checks the document can be indexed (parallel arrays).
        let keys = image
            .as_deref()
            .map(|bytes| IndexKeys::of_stored(&collection.indexes, bytes))
            .transpose()?
            .unwrap_or_default();
        let new_unique = unique_keys_of(collection, &keys);
        for (index_name, key) in &new_unique {
            let claim = UniqueClaim {
                unit,
                snapshot,
                id,
                index_name,
                key,
            };
            if let Err(e) = claim.check(collection, own) {
                return Err(match e {
                    UniqueViolation::Duplicate => StatementError::Failed(duplicate_key(
                        db,
                        coll,
                        collection,
                        index_name,
                        image.as_deref(),
                    )),
                    UniqueViolation::Statement(e) => e,
                });
            }
        }

        // Checks passed: claim and record.
        own.unique_keys.retain(|_, owner| &owner[..] != id);
        for (index_name, key) in new_unique {
            if let Some(index) = collection.indexes.iter_mut().find(|i| i.name == index_name) {
                index.mark_pending(Key::from_slice(&key), unit);
            }
            own.unique_keys
                .insert((index_name, key), Key::from_slice(id));
        }
        collection.mark_pending(Key::from_slice(id), unit);
        if keys.is_empty() {
            own.keys.remove(id);
        } else {
            own.keys.insert(Key::from_slice(id), keys);
        }
        own.docs.insert(Key::from_slice(id), image);
        Ok(())
    }

    /// Installs every write at `ts` and returns the oplog operations, catalog changes first
    /// (document operations only if `record_documents`: nothing replicates otherwise), and
    /// the time before which snapshot reads can no longer be answered, if history had to go.
    pub fn commit(
        self,
        catalog: &mut Catalog,
        ts: Ts,
        horizon: Horizon,
        record_documents: bool,
    ) -> CommandResult<(Vec<Op>, Option<Ts>)> {
        let mut floor = None;
        let mut ops = self.catalog_ops;
        for op in &ops {
            match op {
                Op::CreateCollection { db, coll, .. } => {
                    if let Some(c) = catalog.collection_mut(db, coll) {
                        c.created_by = None;
                    }
                }
                Op::CreateIndex { db, coll, .. } => {
                    if let Some(c) = catalog.collection_mut(db, coll) {
                        for index in &mut c.indexes {
                            if index.created_by == Some(self.id) {
                                index.created_by = None;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (ns, writes) in self.writes {
            let (db, coll) = (ns.db(), ns.coll());
            let Some(collection) = catalog.collection_mut(db, coll) else {
                continue;
            };
            let mut known_keys = writes.keys;
            for (id, doc) in writes.docs {
                let keys = known_keys.remove(&id).unwrap_or_default();
                if !record_documents {
                    floor = floor.max(collection.install(id, doc, keys, ts, horizon)?);
                    continue;
                }
                ops.push(match &doc {
                    Some(doc) => Op::Put {
                        db: db.to_owned(),
                        coll: coll.to_owned(),
                        id: id.clone(),
                        doc: doc.clone(),
                    },
                    None => Op::Delete {
                        db: db.to_owned(),
                        coll: coll.to_owned(),
                        id: id.clone(),
                    },
                });
                floor = floor.max(collection.install(id, doc, keys, ts, horizon)?);
            }
            collection.release(self.id);
        }
        Ok((ops, floor))
    }

    /// Drops every write: releases the marks and removes what the unit created.
    pub fn abort(self, catalog: &mut Catalog) {
        for (ns, _) in &self.writes {
            if let Some(collection) = catalog.collection_mut(ns.db(), ns.coll()) {
                collection.release(self.id);
            }
        }
        for op in self.catalog_ops.iter().rev() {
            match op {
                Op::CreateCollection { db, coll, .. }
                    if catalog
                        .collection(db, coll)
                        .is_some_and(|c| c.created_by == Some(self.id)) =>
                {
                    catalog.remove_collection(db, coll);
                }
                Op::CreateIndex { db, coll, .. } => {
                    if let Some(c) = catalog.collection_mut(db, coll) {
                        c.indexes.retain(|i| i.created_by != Some(self.id));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The (index name, key) pairs of `doc` in the collection's unique indexes.
fn unique_keys_of(collection: &Collection, keys: &IndexKeys) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (position, index) in collection.indexes.iter().enumerate() {
        if index.unique
            && let Some(keys) = keys.get(position, index)
        {
            out.extend(keys.iter().map(|k| (index.name.clone(), k.clone())));
        }
    }
    out
}

/// One unique-index key a write wants to hold.
struct UniqueClaim<'a> {
    unit: TxnId,
    snapshot: Ts,
    id: &'a [u8],
    index_name: &'a str,
    key: &'a [u8],
}

/// Why a unique key cannot be claimed.
enum UniqueViolation {
    /// A document the writer sees holds the key.
    Duplicate,
    /// A conflict, a block, or a failure reading the index.
    Statement(StatementError),
}

impl From<CommandError> for UniqueViolation {
    fn from(e: CommandError) -> UniqueViolation {
        UniqueViolation::Statement(e.into())
    }
}

impl UniqueClaim<'_> {
    /// Refuses a key another document holds: a duplicate if the writer sees that document, a
    /// conflict if it was written after the snapshot or is uncommitted.
    fn check(
        &self,
        collection: &Collection,
        own: &CollectionWrites,
    ) -> Result<(), UniqueViolation> {
        let Some(index) = collection.index(self.index_name) else {
            return Ok(());
        };
        if let Some(other) = index.pending_writer(self.key).filter(|t| *t != self.unit) {
            return Err(UniqueViolation::Statement(StatementError::Blocked(other)));
        }
        if own
            .unique_keys
            .get(&(self.index_name.to_owned(), self.key.to_vec()))
            .is_some_and(|holder| &holder[..] != self.id)
        {
            return Err(UniqueViolation::Duplicate);
        }
        for holder in index.ids_with_prefix(self.key) {
            if &holder[..] == self.id || own.docs.contains_key(holder) {
                continue;
            }
            let Some(bytes) = collection.latest(holder).and_then(|v| v.doc()) else {
                continue;
            };
            if !index
                .keys_of(&decode(bytes)?)?
                .iter()
                .any(|k| k == self.key)
            {
                continue;
            }
            if collection
                .latest(holder)
                .is_some_and(|v| v.ts > self.snapshot)
            {
                return Err(UniqueViolation::Statement(write_conflict().into()));
            }
            return Err(UniqueViolation::Duplicate);
        }
        Ok(())
    }
}

/// The `DuplicateKey` error for a unique index, with `keyPattern` and `keyValue` read from the
/// document that was refused.
fn duplicate_key(
    db: &str,
    coll: &str,
    collection: &Collection,
    index_name: &str,
    image: Option<&[u8]>,
) -> CommandError {
    // Decoded only here, on the way to the error.
    let doc = image.and_then(|bytes| decode(bytes).ok());
    let Some(index) = collection.index(index_name) else {
        return duplicate_key_error(db, coll, index_name, Document::new(), Document::new());
    };
    let pattern = match index.spec.get("key") {
        Some(Bson::Document(key)) => key.clone(),
        _ => Document::new(),
    };
    let mut value = Document::new();
    for (field, _) in &index.pattern {
        let v = doc
            .as_ref()
            .and_then(|d| crate::query::path::get_path(d, field))
            .cloned()
            .unwrap_or(Bson::Null);
        value.insert(field.clone(), v);
    }
    duplicate_key_error(db, coll, index_name, pattern, value)
}

/// `E11000 duplicate key error ...` with `keyPattern` / `keyValue`, as `mongod` reports it.
pub fn duplicate_key_error(
    db: &str,
    coll: &str,
    index_name: &str,
    pattern: Document,
    value: Document,
) -> CommandError {
    let shown: Vec<String> = value.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    CommandError::new(
        ErrorCode::DuplicateKey,
        format!(
            "E11000 duplicate key error collection: {db}.{coll} index: {index_name} dup key: {{ {} }}",
            shown.join(", ")
        ),
    )
    .with_extra("keyPattern", pattern)
    .with_extra("keyValue", value)
}

#[cfg(test)]
mod tests {
    use super::Namespace;

    #[test]
    fn a_namespace_gives_back_its_two_names() {
        let ns = Namespace::new("shop", "orders");
        assert_eq!((ns.db(), ns.coll()), ("shop", "orders"));
        assert!(ns.is("shop", "orders"));
        // The split is kept, not guessed: names that run together stay apart.
        assert!(!ns.is("shopo", "rders"));
        assert!(!Namespace::new("a", "bc").is("ab", "c"));
    }
}
