//! Finding the documents a filter matches: by `_id`, through an index whose leading field the
//! filter pins by equality, or by scanning — always re-checking each candidate against the
//! filter, so an index only narrows the search.

use bson::{Bson, Document};
use smallvec::SmallVec;

use super::Exec;
use crate::error::CommandResult;
use crate::keystring::{self, Direction};
use crate::query::{Filter, SortSpec};
use crate::storage::{Key, decode};

/// A matching document and the key string of its `_id`.
#[derive(Debug, Clone)]
pub(crate) struct Matched {
    pub id: Key,
    pub doc: Document,
}

/// Matching documents, kept inline when there is one (a filter on `_id` or a unique field,
/// the most frequent) instead of in an allocation of their own.
pub(crate) type Matches = SmallVec<[Matched; 1]>;

/// The documents of `db.coll` the command's unit sees that match `filter`, in `_id` order, at
/// most `limit` of them.
pub(crate) fn matching(
    exec: &Exec<'_>,
    db: &str,
    coll: &str,
    filter: &Filter,
    limit: Option<usize>,
) -> CommandResult<Matches> {
    let mut out = Matches::new();
    if limit == Some(0) {
        return Ok(out);
    }
    let unit = &*exec.unit;
    let catalog = &*exec.catalog;
    let scanned = exec.scanned_objects;
    let mut consider = |id: &[u8], bytes: &[u8]| -> CommandResult<bool> {
        scanned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let doc = decode(bytes)?;
        if filter.matches(&doc) {
            out.push(Matched {
                id: Key::from_slice(id),
                doc,
            });
        }
        Ok(limit.is_some_and(|l| out.len() >= l))
    };
    match choose_plan(exec, db, coll, filter) {
        Plan::Id(key) => {
            if let Some(bytes) = unit.get(catalog, db, coll, &key) {
                consider(&key, bytes)?;
            }
        }
        Plan::Candidates(ids) => {
            for id in ids {
                if let Some(bytes) = unit.get(catalog, db, coll, &id)
                    && consider(&id, bytes)?
                {
                    break;
                }
            }
        }
        Plan::Scan => {
            for (id, bytes) in unit.scan(catalog, db, coll) {
                if consider(id, bytes)? {
                    break;
                }
            }
        }
    }
    Ok(out)
}

enum Plan {
    /// The filter pins `_id` to one value.
    Id(Vec<u8>),
    /// These `_id` keys (in order, without repeats) are the only possible matches (kept
    /// inline when there are few).
    Candidates(SmallVec<[Key; 2]>),
    /// Every document must be checked.
    Scan,
}

/// Whether an equality on `value` can be answered from index keys: arrays (which match as a
/// whole or by element), regular expressions, `null` (which matches missing fields through
/// arrays) and `undefined` are left to a scan.
fn indexable(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Array(_) | Bson::RegularExpression(_) | Bson::Null | Bson::Undefined
    )
}

fn choose_plan(exec: &Exec<'_>, db: &str, coll: &str, filter: &Filter) -> Plan {
    let equalities = filter.equalities();
    if let Some((_, value)) = equalities
        .iter()
        .find(|(path, value)| *path == "_id" && indexable(value))
    {
        return Plan::Id(keystring::key_of(value));
    }
    let Some(collection) = exec.unit.collection(exec.catalog, db, coll) else {
        return Plan::Candidates(SmallVec::new());
    };
    for (path, value) in &equalities {
        if !indexable(value) {
            continue;
        }
        let Some(index) = collection
            .indexes
            .iter()
            .find(|i| i.leads_with(path) && i.created_by.is_none_or(|t| t == exec.unit.id))
        else {
            continue;
        };
        let direction = index
            .pattern
            .first()
            .map_or(Direction::Ascending, |(_, d)| *d);
        let mut prefix = Vec::with_capacity(16);
        keystring::encode_value(value, direction, &mut prefix);
        let mut ids: SmallVec<[Key; 2]> = index.ids_with_prefix(&prefix).cloned().collect();
        // The unit's own uncommitted writes are not in the index yet.
        ids.extend(exec.unit.own_ids(db, coll).into_iter().map(Key::from_slice));
        // A compound index lists a document once per key it holds, and ids under a prefix
        // come in key order: put them in `_id` order, once each.
        ids.sort_unstable();
        ids.dedup();
        return Plan::Candidates(ids);
    }
    Plan::Scan
}

/// Sorts documents by a sort specification, computing each document's sort key once (which
/// also refuses keys over parallel arrays, as `mongod` does). The sort is stable.
pub(crate) fn sort_documents<T>(
    spec: &SortSpec,
    items: Vec<T>,
    doc_of: impl Fn(&T) -> &Document,
) -> CommandResult<Vec<T>> {
    let mut keyed = items
        .into_iter()
        .map(|item| Ok((spec.key(doc_of(&item))?, item)))
        .collect::<CommandResult<Vec<_>>>()?;
    keyed.sort_by(|(a, _), (b, _)| spec.compare_keys(a, b));
    Ok(keyed.into_iter().map(|(_, item)| item).collect())
}
