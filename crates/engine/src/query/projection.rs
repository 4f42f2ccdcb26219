//! Projections (`{sku: 1, _id: 0}`).

use bson::Document;

use crate::error::CommandResult;

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {
    _private: (),
}

impl Projection {
    /// Parses a projection document.
    pub fn parse(spec: &Document) -> CommandResult<Projection> {
        let _ = spec;
        unreachable!("projection is being written")
    }

    /// The projected copy of `doc`.
    pub fn apply(&self, doc: &Document) -> Document {
        let _ = doc;
        unreachable!("projection is being written")
    }
}
