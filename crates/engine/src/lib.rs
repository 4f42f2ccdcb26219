//! causeway-engine: an embedded, transactional document store that answers MongoDB command
//! documents the way `mongod` does.

pub mod compare;
pub mod error;

pub use error::{CommandError, CommandResult, ErrorCode};
