//! Aggregation pipelines.

use bson::{Bson, Document};

use crate::error::CommandResult;
use crate::query::Filter;

/// A parsed aggregation pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    _private: (),
}

impl Pipeline {
    /// Parses the stages of a pipeline.
    pub fn parse(stages: &[Bson]) -> CommandResult<Pipeline> {
        let _ = stages;
        unreachable!("aggregate is being written")
    }

    /// The filter of a leading `$match`, which the engine may answer with an index.
    pub fn leading_filter(&self) -> Option<&Filter> {
        unreachable!("aggregate is being written")
    }

    /// Runs the pipeline over the input documents (after the leading `$match`, if any, has
    /// been applied by the caller... or not: the pipeline re-applies it).
    pub fn run(&self, input: Vec<Document>) -> CommandResult<Vec<Document>> {
        let _ = input;
        unreachable!("aggregate is being written")
    }
}
