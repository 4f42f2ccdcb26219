//! Operation builders: each collection or database method returns a `#[must_use]` builder
//! that takes options, optionally a session, and runs when awaited (`IntoFuture`), in the
//! idiom of the official Rust driver.

mod aggregate;
mod catalog;
mod command;
mod delete;
mod find;
mod find_and_modify;
mod index;
mod insert;
mod update;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

pub use aggregate::{Aggregate, CountDocuments, Distinct, EstimatedDocumentCount};
pub use catalog::CatalogCommand;
pub use command::{ListCollectionNames, RunCommand};
pub use delete::Delete;
pub use find::{Find, FindOne};
pub use find_and_modify::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, ReturnDocument};
pub use index::{CreateIndex, DropCollection, IndexModel, IndexOptions};
pub use insert::{InsertMany, InsertOne};
pub use update::{ReplaceOne, Update, UpdateModifications};

use crate::client::Client;
use crate::collection::CollectionInner;
use crate::cursor::{Cursor, CursorSession};
use crate::errors::{Error, Result};
use crate::operation::{OpKind, Operation};
use crate::options::{ReadConcern, ReadPreference, SessionOptions};
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

/// Serializes a caller's value into a document. A `Document` (a `Collection<Document>`'s
/// value) is copied as it is: a copy of a small document costs a third of the serde round
/// trip.
pub(crate) fn to_document<T: Serialize + ?Sized>(value: &T) -> Result<Document> {
    match as_document(value) {
        Some(document) => Ok(document.clone()),
        None => bson::serialize_to_document(value).map_err(Error::serialization),
    }
}

/// The caller's value, if its type is `Document`.
pub(crate) fn as_document<T: ?Sized>(value: &T) -> Option<&Document> {
    if typeid::of::<T>() != std::any::TypeId::of::<Document>() {
        return None;
    }
    // SAFETY: `typeid::of::<T>()` is the id of `T` with every lifetime in it replaced by
    // `'static`. `Document` has no lifetime parameters, so the only type with its id is
    // `Document` itself: `T` is `Document`, and the cast changes only the pointer's type, not
    // what it points to or for how long it is borrowed.
    Some(unsafe { &*(value as *const T).cast::<Document>() })
}

/// Deserializes a document into the caller's type.
pub(crate) fn from_document<T: DeserializeOwned>(doc: Document) -> Result<T> {
    bson::deserialize_from_document(doc).map_err(Error::serialization)
}

/// A count the server reports in `field` of a reply, as a non-negative integer.
pub(crate) fn reply_count(reply: &Document, field: &str) -> Result<u64> {
    let count = match reply.get(field) {
        Some(Bson::Int32(n)) => u64::try_from(*n).ok(),
        Some(Bson::Int64(n)) => u64::try_from(*n).ok(),
        Some(Bson::Double(n)) if *n >= 0.0 && n.fract() == 0.0 && *n < 1.8e19 => Some(*n as u64),
        _ => None,
    };
    count.ok_or_else(|| Error::invalid_response(format!("a reply without a count in `{field}`")))
}

/// Read options a single operation may override.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadOptions {
    pub read_preference: Option<ReadPreference>,
    pub read_concern: Option<ReadConcern>,
}

impl ReadOptions {
    /// Overrides the inherited options of `op` with those set on the operation.
    pub fn apply(self, op: &mut Operation) {
        if let Some(read_preference) = self.read_preference {
            op.read_preference = Some(read_preference);
        }
        if let Some(read_concern) = self.read_concern {
            op.read_concern = Some(read_concern);
        }
    }
}

/// Runs a command that answers with a cursor, in the caller's session or, without one, in an
/// implicit session the cursor keeps until it is exhausted or dropped.
pub(crate) async fn run_cursor_command<'a, T>(
    client: &Client,
    op: Operation,
    session: Binding<'a>,
    batch_size: Option<i64>,
) -> Result<Cursor<'a, T>> {
    let selection = op.read_preference.clone();
    // An unacknowledged write (`$out` with `w: 0`) gets no reply: its cursor is empty.
    let unacknowledged = !crate::operation::is_acknowledged(&op, session.0);
    let (reply, session) = match session.0 {
        Some(session) => (
            client.execute(op, Some(session)).await?,
            CursorSession::Borrowed(session),
        ),
        None => {
            let session = Arc::new(SessionCore::new(
                client.clone(),
                SessionOptions::default(),
                true,
            ));
            let reply = client.execute(op, Some(&session)).await?;
            (reply, CursorSession::Owned(session))
        }
    };
    let reply = if unacknowledged {
        doc! {"cursor": {"id": 0_i64, "firstBatch": []}}
    } else {
        reply
    };
    Cursor::from_reply(client.clone(), session, &reply, batch_size, selection)
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
/// `session_methods!(outside_transactions)` leaves out the transaction binding, for commands
/// the server refuses inside a transaction.
macro_rules! session_methods {
    () => {
        crate::action::session_methods!(outside_transactions);

        pub(crate) fn in_transaction(mut self, txn: &'a crate::session::Txn) -> Self {
            self.session = crate::action::Binding::transaction(txn);
            self
        }
    };
    (outside_transactions) => {
        /// Runs the operation in `session` (and in its transaction, if one is open).
        pub fn session(mut self, session: &'a mut crate::session::ClientSession) -> Self {
            self.session = crate::action::Binding::session(session);
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

/// Implements the read preference and read concern overrides of a read builder with a field
/// `read: ReadOptions`.
macro_rules! read_methods {
    () => {
        /// The read preference of this read (outside transactions).
        pub fn read_preference(mut self, read_preference: crate::options::ReadPreference) -> Self {
            self.read.read_preference = Some(read_preference);
            self
        }

        /// The read concern of this read (outside transactions).
        pub fn read_concern(mut self, read_concern: crate::options::ReadConcern) -> Self {
            self.read.read_concern = Some(read_concern);
            self
        }
    };
}
pub(crate) use read_methods;

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn a_document_is_copied_and_other_values_are_serialized() {
        let document = doc! {"_id": ObjectId::new(), "a": {"b": [1, 2.5, "c"]}, "d": null};
        assert_eq!(to_document(&document).expect("a document"), document);
        assert!(as_document(&document).is_some());
        // Other types, borrowed ones included, take the serde path.
        #[derive(Serialize)]
        struct Order<'a> {
            sku: &'a str,
            qty: i32,
        }
        let order = Order {
            sku: "abc123",
            qty: 100,
        };
        assert!(as_document(&order).is_none());
        assert_eq!(
            to_document(&order).expect("a struct"),
            doc! {"sku": "abc123", "qty": 100}
        );
        assert!(as_document(&&document).is_none());
        assert_eq!(to_document(&&document).expect("a reference"), document);
        assert!(to_document(&5).is_err(), "a number is no document");
    }
}
