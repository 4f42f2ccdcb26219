//! causeway-engine: an embedded, transactional document store that answers MongoDB command
//! documents the way `mongod` does.

pub mod compare;
pub mod error;
pub mod keystring;
pub mod query;

pub use error::{CommandError, CommandResult, ErrorCode};
