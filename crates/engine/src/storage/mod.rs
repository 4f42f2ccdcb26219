//! Multi-version storage: a catalog of databases and collections whose documents keep the
//! committed versions that open snapshots still see.

mod collection;
mod index;
mod record;

use std::collections::BTreeMap;

use bson::{Document, RawDocument};

pub use collection::Collection;
pub use index::{Index, IndexKeys, default_name, parse_key_pattern};
pub use record::{Record, Version};

use crate::clock::Ts;
use crate::error::{CommandError, CommandResult, ErrorCode};

/// The key string of a document's `_id` (or of an index key). Keys up to 16 bytes — an
/// `ObjectId`, a number, a short string — are stored inline, without an allocation of their
/// own, which matters when a collection holds millions of small documents.
pub type Key = smallvec::SmallVec<[u8; 16]>;

/// What committed history must be kept when a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// Versions older than the newest one at or before this time may go (the snapshot history
    /// window, open snapshots, the majority point — whichever is oldest).
    pub soft: Ts,
    /// Versions a reader at this time needs are always kept (open snapshots, the majority
    /// point): beyond [`MAX_HISTORY`] versions, older ones go even inside the window.
    pub hard: Ts,
}

/// How many versions of one document are kept for snapshot reads inside the history window.
/// A hot document would otherwise keep every version written in the window; beyond this,
/// reads further back fail with `SnapshotTooOld` instead of costing memory without bound.
pub const MAX_HISTORY: usize = 64;

/// Identifies a transaction (or a single-statement write) while its writes are uncommitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnId(pub u64);

/// Parses stored document bytes.
pub fn decode(bytes: &[u8]) -> CommandResult<Document> {
    if let Some(doc) = crate::encoding::decode(bytes) {
        return Ok(doc);
    }
    RawDocument::from_bytes(bytes)
        .and_then(Document::try_from)
        .map_err(|e| {
            CommandError::new(
                ErrorCode::InternalError,
                format!("stored document is not valid BSON: {e}"),
            )
        })
}

/// Every database and collection of one node.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    databases: BTreeMap<String, BTreeMap<String, Collection>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The collection `db.name`, if it exists.
    pub fn collection(&self, db: &str, name: &str) -> Option<&Collection> {
        self.databases.get(db).and_then(|colls| colls.get(name))
    }

    /// The collection `db.name` for writing, if it exists.
    pub fn collection_mut(&mut self, db: &str, name: &str) -> Option<&mut Collection> {
        self.databases
            .get_mut(db)
            .and_then(|colls| colls.get_mut(name))
    }

    /// The collection `db.name`, created empty (and committed) if it does not exist.
    pub fn collection_or_create(&mut self, db: &str, name: &str) -> &mut Collection {
        self.databases
            .entry(db.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_insert_with(|| Collection::new(Document::new(), None))
    }

    /// Adds a collection; the caller has checked that the name is free and valid.
    pub fn insert_collection(
        &mut self,
        db: &str,
        name: &str,
        collection: Collection,
    ) -> &mut Collection {
        let slot = self
            .databases
            .entry(db.to_owned())
            .or_default()
            .entry(name.to_owned());
        match slot {
            std::collections::btree_map::Entry::Vacant(v) => v.insert(collection),
            std::collections::btree_map::Entry::Occupied(o) => {
                let existing = o.into_mut();
                *existing = collection;
                existing
            }
        }
    }

    /// Removes a collection; a database left without collections disappears.
    pub fn remove_collection(&mut self, db: &str, name: &str) -> Option<Collection> {
        let colls = self.databases.get_mut(db)?;
        let removed = colls.remove(name);
        if colls.is_empty() {
            self.databases.remove(db);
        }
        removed
    }

    /// The collections of a database, by name.
    pub fn collections(&self, db: &str) -> impl Iterator<Item = (&String, &Collection)> {
        self.databases.get(db).into_iter().flatten()
    }

    /// The collections of a database, by name, for writing.
    pub fn collections_mut(
        &mut self,
        db: &str,
    ) -> impl Iterator<Item = (&String, &mut Collection)> {
        self.databases.get_mut(db).into_iter().flatten()
    }

    /// The names of the databases.
    pub fn database_names(&self) -> impl Iterator<Item = &String> {
        self.databases.keys()
    }

    /// Every collection, with its database and name.
    pub fn all_collections_mut(
        &mut self,
    ) -> impl Iterator<Item = (&String, &String, &mut Collection)> {
        self.databases
            .iter_mut()
            .flat_map(|(db, colls)| colls.iter_mut().map(move |(name, c)| (db, name, c)))
    }
}

/// Checks a database name as `mongod` does.
pub fn validate_db_name(db: &str) -> CommandResult<()> {
    if db.is_empty() || db.len() > 63 || db.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(CommandError::new(
            ErrorCode::InvalidNamespace,
            format!("Invalid database name: '{db}'"),
        ));
    }
    Ok(())
}

/// Checks a collection name as `mongod` does.
pub fn validate_collection_name(db: &str, name: &str) -> CommandResult<()> {
    validate_db_name(db)?;
    if name.is_empty()
        || name.contains(['$', '\0'])
        || name.starts_with('.')
        || db.len() + 1 + name.len() > 255
    {
        return Err(CommandError::new(
            ErrorCode::InvalidNamespace,
            format!("Invalid collection name: '{db}.{name}'"),
        ));
    }
    Ok(())
}
