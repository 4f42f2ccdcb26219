//! Query filters (`{qty: {$gte: 100}, sku: "abc123"}`): parsing and matching.

use bson::{Bson, Document};

use crate::error::CommandResult;

/// A parsed query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    _private: (),
}

impl Filter {
    /// Parses a filter document; unknown operators and malformed arguments are errors.
    pub fn parse(spec: &Document) -> CommandResult<Filter> {
        let _ = spec;
        unreachable!("filter is being written")
    }

    /// Whether `doc` matches.
    pub fn matches(&self, doc: &Document) -> bool {
        let _ = doc;
        unreachable!("filter is being written")
    }

    /// The paths the filter pins to one value by equality at its top level (implicit equality,
    /// `$eq`, and those inside a top-level `$and`), in filter order. Upserts seed the new
    /// document from them; the planner looks them up in indexes.
    pub fn equalities(&self) -> Vec<(&str, &Bson)> {
        unreachable!("filter is being written")
    }

    /// Whether the filter matches every document (`{}`).
    pub fn is_match_all(&self) -> bool {
        unreachable!("filter is being written")
    }
}
