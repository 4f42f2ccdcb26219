//! An order-preserving byte encoding of BSON values ("key strings").
//!
//! For any two values `a` and `b`, `encode(a).cmp(&encode(b)) == compare_values(a, b)`, so plain
//! ordered maps of bytes serve the `_id` index, secondary indexes and range scans.

use bson::{Bson, Document};

use crate::error::CommandResult;

/// The direction of one field of an index key or a sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// Appends the encoding of `value` to `out`.
pub fn encode_value(value: &Bson, direction: Direction, out: &mut Vec<u8>) {
    let _ = (value, direction, out);
    unimplemented_skeleton()
}

/// The ascending encoding of one value.
pub fn key_of(value: &Bson) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, Direction::Ascending, &mut out);
    out
}

/// The index keys of `doc` for the key pattern `pattern` (dotted paths with directions).
pub fn index_keys(doc: &Document, pattern: &[(String, Direction)]) -> CommandResult<Vec<Vec<u8>>> {
    let _ = (doc, pattern);
    unimplemented_skeleton()
}

fn unimplemented_skeleton() -> ! {
    unreachable!("keystring is being written")
}
