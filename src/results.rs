//! What write operations report.

use std::collections::HashMap;

use bson::Bson;

/// The result of `insert_one`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InsertOneResult {
    /// The `_id` of the new document (generated if the document had none).
    pub inserted_id: Bson,
}

/// The result of `insert_many`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InsertManyResult {
    /// The `_id` of each inserted document, by its position in the input.
    pub inserted_ids: HashMap<usize, Bson>,
}

/// The result of `update_one`, `update_many` and `replace_one`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UpdateResult {
    /// How many documents matched the filter.
    pub matched_count: u64,
    /// How many of them changed.
    pub modified_count: u64,
    /// The `_id` of the document an upsert inserted.
    pub upserted_id: Option<Bson>,
}

/// The result of `delete_one` and `delete_many`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeleteResult {
    /// How many documents were deleted.
    pub deleted_count: u64,
}

/// The result of `create_index`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreateIndexResult {
    /// The name of the index.
    pub index_name: String,
}
