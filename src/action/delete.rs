//! `delete_one` and `delete_many`.

use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{Binding, BoxFuture, reply_count, session_methods};
use crate::collection::{Collection, CollectionInner};
use crate::errors::Result;
use crate::options::WriteConcern;
use crate::results::DeleteResult;

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Deletes the first document matching `filter`.
    pub fn delete_one(&self, filter: Document) -> Delete<'_> {
        Delete::new(&self.inner, filter, false)
    }

    /// Deletes every document matching `filter`. Not a retryable write: it is sent once.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.insert_many((0..10).map(|i| doc! {"i": i})).await?;
    /// let result = items.delete_many(doc! {"i": {"$gte": 5}}).await?;
    /// assert_eq!(result.deleted_count, 5);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn delete_many(&self, filter: Document) -> Delete<'_> {
        Delete::new(&self.inner, filter, true)
    }
}

/// Deletes one or all documents matching a filter. Await it for a [`DeleteResult`].
#[must_use = "the operation runs when awaited"]
pub struct Delete<'a> {
    coll: &'a CollectionInner,
    filter: Document,
    many: bool,
    hint: Option<Bson>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a> Delete<'a> {
    fn new(coll: &'a CollectionInner, filter: Document, many: bool) -> Delete<'a> {
        Delete {
            coll,
            filter,
            many,
            hint: None,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    session_methods!();

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The write concern of this delete.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a> IntoFuture for Delete<'a> {
    type Output = Result<DeleteResult>;
    type IntoFuture = BoxFuture<'a, Result<DeleteResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            // `limit: 0` deletes every match, `limit: 1` the first.
            let mut statement = doc! {"q": self.filter, "limit": if self.many { 0 } else { 1 }};
            if let Some(hint) = self.hint {
                statement.insert("hint", hint);
            }
            let mut command =
                doc! {"delete": coll.name.clone(), "deletes": [statement], "ordered": true};
            command.extend(self.options);
            let mut op = coll.write_op(command, !self.many);
            op.write_concern = self.write_concern.or(op.write_concern);
            let acknowledged = crate::operation::is_acknowledged(&op, self.session.0);
            let reply = coll.client.execute(op, self.session.0).await?;
            let deleted_count = if acknowledged {
                reply_count(&reply, "n")?
            } else {
                0
            };
            Ok(DeleteResult { deleted_count })
        })
    }
}
