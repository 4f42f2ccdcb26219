//! Update documents: replacements and update operators (`{$inc: {qty: -100}}`).

use bson::{Bson, DateTime, Document};

use crate::error::CommandResult;

/// How an update is applied.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The document is being inserted by an upsert (`$setOnInsert` applies).
    pub is_insert: bool,
    /// The time `$currentDate` writes.
    pub now: DateTime,
}

/// A parsed update: a replacement document or a set of update operators.
#[derive(Debug, Clone)]
pub struct Update {
    _private: (),
}

impl Update {
    /// Parses the `u` of an update statement (a document; a pipeline is refused).
    pub fn parse(spec: &Bson) -> CommandResult<Update> {
        let _ = spec;
        unreachable!("update is being written")
    }

    /// Whether this is a replacement document rather than update operators.
    pub fn is_replacement(&self) -> bool {
        unreachable!("update is being written")
    }

    /// Applies the update to `doc`; returns whether the document changed.
    pub fn apply(&self, doc: &mut Document, options: &ApplyOptions) -> CommandResult<bool> {
        let _ = (doc, options);
        unreachable!("update is being written")
    }
}

/// The document an upsert starts from: the filter's equality fields, dotted paths expanded.
pub fn upsert_seed(equalities: &[(&str, &Bson)]) -> CommandResult<Document> {
    let _ = equalities;
    unreachable!("update is being written")
}
