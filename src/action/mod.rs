//! Operation builders: each collection or database method returns a `#[must_use]` builder
//! that takes options, optionally a session, and runs when awaited (`IntoFuture`), in the
//! idiom of the official Rust driver.

mod command;
mod find;
mod insert;

use std::future::Future;
use std::pin::Pin;

use bson::Document;
use serde::{Serialize, de::DeserializeOwned};

pub use command::{ListCollectionNames, RunCommand};
pub use find::{Find, FindOne};
pub use insert::{InsertMany, InsertOne};

use crate::collection::CollectionInner;
use crate::errors::{Error, Result};
use crate::operation::{OpKind, Operation};
use crate::session::{ClientSession, SessionCore, Txn};

/// The future an awaited builder runs.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The session an operation runs in, if any.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Binding<'a>(pub Option<&'a SessionCore>);

impl<'a> Binding<'a> {
    pub fn session(session: &'a mut ClientSession) -> Binding<'a> {
        Binding(Some(&session.txn.core))
    }

    pub fn transaction(txn: &'a Txn) -> Binding<'a> {
        Binding(Some(&txn.core))
    }
}

/// Serializes a caller's value into a document.
pub(crate) fn to_document<T: Serialize + ?Sized>(value: &T) -> Result<Document> {
    bson::serialize_to_document(value).map_err(Error::serialization)
}

/// Deserializes a document into the caller's type.
pub(crate) fn from_document<T: DeserializeOwned>(doc: Document) -> Result<T> {
    bson::deserialize_from_document(doc).map_err(Error::serialization)
}

impl CollectionInner {
    /// A read of this collection, with its inherited read preference and read concern.
    pub(crate) fn read_op(&self, command: Document) -> Operation {
        let mut op = Operation::new(self.db.clone(), command, OpKind::Read);
        op.read_preference = self.options.read_preference.clone();
        op.read_concern = self.options.read_concern.clone();
        op
    }

    /// A write to this collection, with its inherited write concern.
    pub(crate) fn write_op(&self, command: Document, retryable: bool) -> Operation {
        let mut op = Operation::new(self.db.clone(), command, OpKind::Write { retryable });
        op.write_concern = self.options.write_concern.clone();
        op
    }
}

/// Implements the `session` method, the transaction binding and the comment option shared
/// by every builder with fields `session: Binding<'a>` and `options: Document`.
macro_rules! session_methods {
    () => {
        /// Runs the operation in `session` (and in its transaction, if one is open).
        pub fn session(mut self, session: &'a mut crate::session::ClientSession) -> Self {
            self.session = crate::action::Binding::session(session);
            self
        }

        pub(crate) fn in_transaction(mut self, txn: &'a crate::session::Txn) -> Self {
            self.session = crate::action::Binding::transaction(txn);
            self
        }

        /// A comment the server logs with the command.
        pub fn comment(mut self, comment: impl Into<bson::Bson>) -> Self {
            self.options.insert("comment", comment.into());
            self
        }
    };
}
pub(crate) use session_methods;
