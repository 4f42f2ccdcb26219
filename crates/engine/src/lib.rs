//! causeway-engine: an embedded, transactional document store that answers MongoDB command
//! documents the way `mongod` does.

pub mod clock;
pub mod compare;
pub mod cursor;
pub mod error;
pub mod failpoint;
pub mod keystring;
pub mod oplog;
pub mod query;
pub mod request;
pub mod session;
pub mod storage;
pub mod unit;

pub use error::{CommandError, CommandResult, ErrorCode};
