//! Secondary indexes: ordered sets of (key string, `_id` key string).

use ahash::HashMap;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use bson::{Bson, Document, RawBsonRef, RawDocument};

use super::{Key, TxnId};
use crate::compare::Number;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::keystring::{self, Direction};

/// A secondary index.
///
/// Its entries are a superset of what any reader sees: every key of every retained version of
/// every document. Readers use it to find candidates and check each candidate's visible version
/// against the query, so entries never need versions of their own.
#[derive(Debug, Clone)]
pub struct Index {
    /// The index name (`sku_1`).
    pub name: String,
    /// The key pattern as fields and directions.
    pub pattern: Vec<(String, Direction)>,
    /// The index document `listIndexes` returns (`{v: 2, key: {...}, name: ..., unique: ...}`).
    pub spec: Document,
    /// Whether two documents may not share a key.
    pub unique: bool,
    /// The transaction that created the index and has not yet committed, if any.
    pub created_by: Option<TxnId>,
    /// Never given to another index: keys computed for it are known to be its keys.
    build: u64,
    entries: BTreeSet<(Key, Key)>,
    pending: HashMap<Key, TxnId>,
}

static NEXT_BUILD: AtomicU64 = AtomicU64::new(0);

/// A document's keys in each index of its collection, computed when the document is written
/// (which checks it can be indexed) and used again when it is installed at commit, instead of
/// being computed twice. Keys are matched to indexes by identity, so an index created or
/// dropped in between gets its keys computed afresh.
#[derive(Debug, Default, Clone)]
pub struct IndexKeys(Vec<(u64, Vec<Vec<u8>>)>);

impl IndexKeys {
    /// The keys of a stored document in each of `indexes`.
    pub fn of_stored(indexes: &[Index], bytes: &[u8]) -> CommandResult<IndexKeys> {
        indexes
            .iter()
            .map(|index| Ok((index.build, index.keys_of_stored(bytes)?)))
            .collect::<CommandResult<_>>()
            .map(IndexKeys)
    }

    /// Whether no keys were computed (the collection has no secondary index).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys computed for the `position`th index, if that is still `index`.
    pub(super) fn take(&mut self, position: usize, index: &Index) -> Option<Vec<Vec<u8>>> {
        self.0
            .get_mut(position)
            .filter(|(build, _)| *build == index.build)
            .map(|(_, keys)| std::mem::take(keys))
    }

    /// The keys in the `position`th index, if computed for `index`.
    pub fn get(&self, position: usize, index: &Index) -> Option<&[Vec<u8>]> {
        self.0
            .get(position)
            .filter(|(build, _)| *build == index.build)
            .map(|(_, keys)| &keys[..])
    }
}

impl Index {
    /// An empty index from an index spec (`{key: {...}, name: ..., unique: ...}`).
    pub fn from_spec(spec: &Document, created_by: Option<TxnId>) -> CommandResult<Index> {
        let key = match spec.get("key") {
            Some(Bson::Document(key)) => key,
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "the index 'key' must be a document",
                ));
            }
            None => {
                return Err(CommandError::failed_to_parse(
                    "an index spec needs a 'key' field",
                ));
            }
        };
        let pattern = parse_key_pattern(key)?;
        let name = match spec.get("name") {
            Some(Bson::String(name)) if !name.is_empty() => name.clone(),
            Some(Bson::String(_)) => {
                return Err(CommandError::new(
                    ErrorCode::CannotCreateIndex,
                    "index name cannot be empty",
                ));
            }
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "the index 'name' must be a string",
                ));
            }
            None => default_name(&pattern),
        };
        let unique = match spec.get("unique") {
            None => false,
            Some(Bson::Boolean(b)) => *b,
            Some(other) => Number::from_bson(other)
                .map(|n| n.as_f64() != 0.0)
                .ok_or_else(|| {
                    CommandError::type_mismatch("the index option 'unique' must be a boolean")
                })?,
        };
        for option in spec.keys() {
            if !matches!(
                option.as_str(),
                "key" | "name" | "unique" | "v" | "background" | "ns"
            ) {
                return Err(CommandError::new(
                    ErrorCode::InvalidIndexSpecificationOption,
                    format!("the index option '{option}' is not supported by this engine"),
                ));
            }
        }
        let mut normalized = bson::doc! { "v": 2, "key": key.clone(), "name": name.clone() };
        if unique {
            normalized.insert("unique", true);
        }
        Ok(Index {
            name,
            pattern,
            spec: normalized,
            unique,
            created_by,
            build: NEXT_BUILD.fetch_add(1, Ordering::Relaxed),
            entries: BTreeSet::new(),
            pending: HashMap::default(),
        })
    }

    /// Whether the key pattern starts with `path`.
    pub fn leads_with(&self, path: &str) -> bool {
        self.pattern.first().is_some_and(|(p, _)| p == path)
    }

    /// The keys of a document for this index.
    pub fn keys_of(&self, doc: &Document) -> CommandResult<Vec<Vec<u8>>> {
        keystring::index_keys(doc, &self.pattern)
    }

    /// The keys of a stored document. Without decoding it when every field of the pattern
    /// resolves to a single value through sub-documents (the common case); otherwise (arrays
    /// on the way: several keys) through the full key generation.
    pub fn keys_of_stored(&self, bytes: &[u8]) -> CommandResult<Vec<Vec<u8>>> {
        let raw = RawDocument::from_bytes(bytes).map_err(|e| {
            CommandError::new(
                ErrorCode::InternalError,
                format!("stored document is not valid BSON: {e}"),
            )
        })?;
        // Room for a short key (as the inline `Key`) in the first allocation.
        let mut key = Vec::with_capacity(16);
        for (path, direction) in &self.pattern {
            match single_value(raw, path) {
                Some(value) => keystring::encode_value(&value, *direction, &mut key),
                None => return self.keys_of(&super::decode(bytes)?),
            }
        }
        Ok(vec![key])
    }

    /// The `_id` keys of documents with an entry starting with `prefix`: a whole key, or the
    /// encodings of the leading fields of a compound key (encodings are self-delimiting, so a
    /// prefix never matches part of a longer value).
    pub fn ids_with_prefix<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a Key> + 'a {
        let start: (Key, Key) = (Key::from_slice(prefix), Key::new());
        self.entries
            .range((Bound::Included(start), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, id)| id)
    }

    /// Adds an entry.
    pub fn insert_entry(&mut self, key: Key, id: Key) {
        self.entries.insert((key, id));
    }

    /// Removes an entry.
    pub fn remove_entry(&mut self, key: Key, id: Key) {
        self.entries.remove(&(key, id));
    }

    /// Whether an entry exists.
    pub fn has_entry(&self, key: &[u8], id: &[u8]) -> bool {
        self.entries
            .contains(&(Key::from_slice(key), Key::from_slice(id)))
    }

    /// The transaction that holds an uncommitted write of `key` (unique indexes).
    pub fn pending_writer(&self, key: &[u8]) -> Option<TxnId> {
        self.pending.get(key).copied()
    }

    /// Records that `txn` is writing `key` (unique indexes).
    pub fn mark_pending(&mut self, key: Key, txn: TxnId) {
        self.pending.insert(key, txn);
    }

    /// Forgets the uncommitted keys of `txn`.
    pub fn release(&mut self, txn: TxnId) {
        self.pending.retain(|_, t| *t != txn);
    }

    /// Number of entries (for tests and statistics).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The one value at a dotted path of a stored document, `Null` if it is missing (or runs into
/// a scalar), or `None` if the path meets an array (which may give several keys).
fn single_value(doc: &RawDocument, path: &str) -> Option<Bson> {
    let mut current = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = match current.get(part) {
            Ok(Some(value)) => value,
            Ok(None) => return Some(Bson::Null),
            Err(_) => return None,
        };
        match (value, parts.peek().is_some()) {
            (RawBsonRef::Array(_), _) => return None,
            (RawBsonRef::Document(sub), true) => current = sub,
            (_, true) => return Some(Bson::Null),
            (value, false) => return Bson::try_from(value).ok(),
        }
    }
    Some(Bson::Null)
}

/// Parses `{a: 1, "b.c": -1}` into fields and directions.
pub fn parse_key_pattern(key: &Document) -> CommandResult<Vec<(String, Direction)>> {
    if key.is_empty() {
        return Err(CommandError::new(
            ErrorCode::CannotCreateIndex,
            "index keys cannot be empty",
        ));
    }
    key.iter()
        .map(|(field, value)| {
            if field.is_empty() || field.starts_with('$') || field.split('.').any(str::is_empty) {
                return Err(CommandError::new(
                    ErrorCode::CannotCreateIndex,
                    format!("bad index key pattern {key}: invalid field name '{field}'"),
                ));
            }
            let direction = match Number::from_bson(value).map(Number::as_f64) {
                Some(n) if n > 0.0 => Direction::Ascending,
                Some(n) if n < 0.0 => Direction::Descending,
                _ => {
                    return Err(CommandError::new(
                        ErrorCode::CannotCreateIndex,
                        format!(
                            "bad index key pattern {key}: only ascending (1) and descending (-1) keys are supported by this engine, not {value}"
                        ),
                    ));
                }
            };
            Ok((field.clone(), direction))
        })
        .collect()
}

/// The default name of an index: `a_1_b_-1`.
pub fn default_name(pattern: &[(String, Direction)]) -> String {
    pattern
        .iter()
        .map(|(field, dir)| match dir {
            Direction::Ascending => format!("{field}_1"),
            Direction::Descending => format!("{field}_-1"),
        })
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use proptest::prelude::*;

    fn index(key: Document) -> Index {
        Index::from_spec(&doc! {"key": key, "name": "i"}, None).expect("valid spec")
    }

    fn value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<f64>().prop_map(Bson::Double),
            "[a-c]{0,3}".prop_map(Bson::String),
            Just(Bson::Null),
            any::<bool>().prop_map(Bson::Boolean),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Bson::Array),
                proptest::collection::vec(("[a-c]", inner), 0..3)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn stored_keys_equal_decoded_keys(
            fields in proptest::collection::vec(("[a-c]", value()), 0..4),
            directions in proptest::collection::vec(any::<bool>(), 1..3),
        ) {
            let doc: Document = fields.into_iter().collect();
            let paths = ["a", "b.c", "c.a.b"];
            let key: Document = directions
                .iter()
                .enumerate()
                .map(|(i, up)| (paths[i].to_owned(), Bson::Int32(if *up { 1 } else { -1 })))
                .collect();
            let index = index(key);
            let bytes = doc.to_vec().expect("encodes");
            prop_assert_eq!(index.keys_of_stored(&bytes).ok(), index.keys_of(&doc).ok());
        }
    }
}
