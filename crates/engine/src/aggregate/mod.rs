//! Aggregation pipelines, with `mongod`'s semantics.
//!
//! A [`Pipeline`] is parsed once from the `pipeline` array of an `aggregate` command and run
//! over the documents of a collection. Supported stages: `$match`, `$project`, `$addFields` /
//! `$set`, `$unset`, `$group`, `$sort`, `$limit`, `$skip`, `$count`, `$unwind`, `$replaceRoot` /
//! `$replaceWith`, `$sortByCount`, `$lookup` (its equality form), `$facet`, `$unionWith` and
//! `$sample`. Other stages `mongod` knows (`$out`, `$merge`, `$bucket`, ...) are refused with
//! `BadValue`; unknown ones with code 40324.
//!
//! Expressions (in `$project`, `$addFields`, `$group`, ...) cover field paths, `$$ROOT` /
//! `$$CURRENT` / `$$REMOVE`, literals and the arithmetic, string, comparison, logic, array,
//! type-conversion and date operators of `mongod` 8.0 most used in practice; other operators
//! `mongod` knows are refused with `BadValue`, unknown ones with code 168.

mod expr;
mod group;
mod lookup;
mod project;
mod replace;
mod show;
mod stages;
#[cfg(test)]
mod tests;
mod unwind;

use std::collections::HashMap;

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::query::Filter;
use stages::Stage;

/// The documents of the collections a pipeline's `$lookup` stages read, by collection name.
pub type Foreign = HashMap<String, Vec<Document>>;

/// A parsed aggregation pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// Parses the stages of a pipeline.
    ///
    /// Each stage must be a document with exactly one field, the stage's name. Errors carry
    /// `mongod`'s codes: 40323 for a malformed stage document, 40324 for an unknown stage,
    /// `BadValue` for a stage this engine does not run, and each stage's own codes for a bad
    /// specification.
    pub fn parse(stages: &[Bson]) -> CommandResult<Pipeline> {
        let mut parsed = Vec::with_capacity(stages.len());
        for stage in stages {
            let Bson::Document(spec) = stage else {
                return Err(CommandError::new(
                    ErrorCode::TypeMismatch,
                    "Each element of the 'pipeline' array must be an object",
                ));
            };
            let (name, value) = match spec.iter().next() {
                Some(entry) if spec.len() == 1 => entry,
                _ => {
                    return Err(CommandError::with_code(
                        40323,
                        "A pipeline stage specification object must contain exactly one field.",
                    ));
                }
            };
            stages::parse_stage(name, value, &mut parsed)?;
        }
        Ok(Pipeline { stages: parsed })
    }

    /// The filter of a leading `$match`, which the engine may answer with an index.
    pub fn leading_filter(&self) -> Option<&Filter> {
        match self.stages.first() {
            Some(Stage::Match(filter)) => Some(filter),
            _ => None,
        }
    }

    /// The collections the pipeline's `$lookup` stages read (their documents go to
    /// [`Pipeline::run`]).
    pub fn collections_read(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for stage in &self.stages {
            match stage {
                Stage::Lookup(lookup) => names.push(lookup.from()),
                Stage::Facet(facets) => {
                    for (_, pipeline) in facets {
                        names.extend(pipeline.collections_read());
                    }
                }
                Stage::UnionWith(coll, pipeline) => {
                    names.push(coll);
                    names.extend(pipeline.collections_read());
                }
                _ => {}
            }
        }
        names
    }

    /// Runs the whole pipeline over the input documents, in order; `foreign` holds the
    /// documents of the collections in [`Pipeline::collections_read`] (a missing one reads as
    /// empty).
    ///
    /// A leading `$match` is applied again, so the input may be the whole collection or only
    /// the documents an index picked for [`Pipeline::leading_filter`].
    pub fn run(&self, input: Vec<Document>, foreign: &Foreign) -> CommandResult<Vec<Document>> {
        self.stages
            .iter()
            .try_fold(input, |documents, stage| stage.run(documents, foreign))
    }
}
