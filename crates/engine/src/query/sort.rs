//! Sort specifications (`{qty: -1, _id: 1}`).

use std::cmp::Ordering;

use bson::Document;

use crate::error::CommandResult;

/// A parsed sort specification.
#[derive(Debug, Clone)]
pub struct SortSpec {
    _private: (),
}

impl SortSpec {
    /// Parses a sort document.
    pub fn parse(spec: &Document) -> CommandResult<SortSpec> {
        let _ = spec;
        unreachable!("sort is being written")
    }

    /// Compares two documents in this sort order.
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        let _ = (a, b);
        unreachable!("sort is being written")
    }
}
