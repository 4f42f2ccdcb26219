//! `find` and `find_one`.

use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Binding, BoxFuture, ReadOptions, from_document, read_methods, run_cursor_command,
    session_methods,
};
use crate::collection::Collection;
use crate::cursor::Cursor;
use crate::errors::Result;
use crate::options::{ReadConcern, ReadPreference};

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// The documents matching `filter`, as a [`Cursor`] (a `Stream`) that fetches further
    /// batches as it is read.
    pub fn find(&self, filter: Document) -> Find<'_, T> {
        Find {
            coll: self,
            filter,
            session: Binding::default(),
            options: Document::new(),
            read: ReadOptions::default(),
        }
    }

    /// The first document matching `filter`, if any.
    pub fn find_one(&self, filter: Document) -> FindOne<'_, T> {
        FindOne {
            find: self.find(filter),
        }
    }
}

/// Finds documents. Await it for a [`Cursor`].
#[must_use = "the operation runs when awaited"]
pub struct Find<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    session: Binding<'a>,
    options: Document,
    read: ReadOptions,
}

impl<'a, T> Find<'a, T> {
    session_methods!();

    /// The order of the results (`{qty: -1}`).
    pub fn sort(mut self, sort: Document) -> Self {
        self.options.insert("sort", sort);
        self
    }

    /// Which fields to return (`{sku: 1, _id: 0}`).
    pub fn projection(mut self, projection: Document) -> Self {
        self.options.insert("projection", projection);
        self
    }

    /// How many matches to skip.
    pub fn skip(mut self, skip: u64) -> Self {
        self.options
            .insert("skip", i64::try_from(skip).unwrap_or(i64::MAX));
        self
    }

    /// At most this many results.
    pub fn limit(mut self, limit: u64) -> Self {
        self.options
            .insert("limit", i64::try_from(limit).unwrap_or(i64::MAX));
        self
    }

    /// How many documents each batch brings.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.options.insert("batchSize", i64::from(batch_size));
        self
    }

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.options.insert("hint", hint.into());
        self
    }

    /// A server-side time limit.
    pub fn max_time(mut self, max_time: Duration) -> Self {
        self.options.insert(
            "maxTimeMS",
            i64::try_from(max_time.as_millis()).unwrap_or(i64::MAX),
        );
        self
    }

    read_methods!();
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> IntoFuture for Find<'a, T> {
    type Output = Result<Cursor<'a, T>>;
    type IntoFuture = BoxFuture<'a, Result<Cursor<'a, T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let inner = &self.coll.inner;
            let batch_size = self.options.get_i64("batchSize").ok();
            let mut command = doc! {"find": inner.name.clone(), "filter": self.filter};
            command.extend(self.options);
            let mut op = inner.read_op(command);
            self.read.apply(&mut op);
            run_cursor_command(&inner.client, op, self.session, batch_size).await
        })
    }
}

/// Finds one document. Await it for `Option<T>`.
#[must_use = "the operation runs when awaited"]
pub struct FindOne<'a, T> {
    find: Find<'a, T>,
}

impl<'a, T> FindOne<'a, T> {
    /// Runs the operation in `session` (and in its transaction, if one is open).
    pub fn session(mut self, session: &'a mut crate::session::ClientSession) -> Self {
        self.find = self.find.session(session);
        self
    }

    pub(crate) fn in_transaction(mut self, txn: &'a crate::session::Txn) -> Self {
        self.find = self.find.in_transaction(txn);
        self
    }

    /// Which document comes first (`{qty: -1}`).
    pub fn sort(mut self, sort: Document) -> Self {
        self.find = self.find.sort(sort);
        self
    }

    /// Which fields to return.
    pub fn projection(mut self, projection: Document) -> Self {
        self.find = self.find.projection(projection);
        self
    }

    /// How many matches to skip.
    pub fn skip(mut self, skip: u64) -> Self {
        self.find = self.find.skip(skip);
        self
    }

    /// The read preference of this read (outside transactions).
    pub fn read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.find = self.find.read_preference(read_preference);
        self
    }

    /// The read concern of this read (outside transactions).
    pub fn read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.find = self.find.read_concern(read_concern);
        self
    }
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> IntoFuture for FindOne<'a, T> {
    type Output = Result<Option<T>>;
    type IntoFuture = BoxFuture<'a, Result<Option<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut find = self.find;
            find.options.insert("limit", 1_i64);
            find.options.insert("singleBatch", true);
            let inner = &find.coll.inner;
            let mut command = doc! {"find": inner.name.clone(), "filter": find.filter};
            command.extend(find.options);
            let mut op = inner.read_op(command);
            find.read.apply(&mut op);
            let reply = inner.client.execute(op, find.session.0).await?;
            let first = reply
                .get_document("cursor")
                .and_then(|c| c.get_array("firstBatch"))
                .map_err(|_| {
                    crate::errors::Error::invalid_response("a find reply without cursor.firstBatch")
                })?
                .first()
                .cloned();
            match first {
                Some(Bson::Document(doc)) => from_document(doc).map(Some),
                Some(_) => Err(crate::errors::Error::invalid_response(
                    "a find reply with a non-document result",
                )),
                None => Ok(None),
            }
        })
    }
}
