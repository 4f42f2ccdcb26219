//! `find_one_and_update`, `find_one_and_replace` and `find_one_and_delete`, all sent as
//! `findAndModify`.

use std::borrow::Borrow;
use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::update::{UpdateModifications, checked_replacement};
use super::{Binding, BoxFuture, from_document, session_methods};
use crate::collection::Collection;
use crate::errors::{Error, Result};
use crate::options::WriteConcern;

/// Which version of the document `find_one_and_update` and `find_one_and_replace` return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnDocument {
    /// The document as it was before the change (`None` after an upsert inserted it).
    #[default]
    Before,
    /// The document as the change left it.
    After,
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Atomically updates the first document matching `filter` (in [`FindOneAndUpdate::sort`]
    /// order) with `update`, a document of update operators, and returns it as it was before,
    /// or, with [`ReturnDocument::After`], after the update. `None` if nothing matched.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    /// use causeway::action::ReturnDocument;
    ///
    /// let client = causeway::Client::embedded();
    /// let counters = client.database("app").collection::<Document>("counters");
    /// let next = counters
    ///     .find_one_and_update(doc! {"_id": "orders"}, doc! {"$inc": {"seq": 1}})
    ///     .upsert(true)
    ///     .return_document(ReturnDocument::After)
    ///     .await?;
    /// assert_eq!(next, Some(doc! {"_id": "orders", "seq": 1}));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate {
            coll: self,
            filter,
            update: update.into(),
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    /// Atomically replaces the first document matching `filter` with `replacement` and returns
    /// it as it was before, or, with [`ReturnDocument::After`], the replacement as stored.
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
    ) -> FindOneAndReplace<'_, T> {
        FindOneAndReplace {
            coll: self,
            filter,
            replacement: checked_replacement(replacement.borrow()),
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    /// Atomically deletes the first document matching `filter` and returns it.
    pub fn find_one_and_delete(&self, filter: Document) -> FindOneAndDelete<'_, T> {
        FindOneAndDelete {
            coll: self,
            filter,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }
}

/// The options every `findAndModify` builder has.
macro_rules! find_and_modify_methods {
    () => {
        session_methods!();

        /// Which document to pick when several match: the first in this order (`{qty: -1}`).
        pub fn sort(mut self, sort: Document) -> Self {
            self.options.insert("sort", sort);
            self
        }

        /// Which fields of the document to return (`{sku: 1, _id: 0}`).
        pub fn projection(mut self, projection: Document) -> Self {
            self.options.insert("fields", projection);
            self
        }

        /// The write concern of this operation.
        pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
            self.write_concern = Some(write_concern);
            self
        }
    };
}

/// The options of the builders that change a document rather than delete it.
macro_rules! change_methods {
    () => {
        /// Whether to insert a document if none matches.
        pub fn upsert(mut self, upsert: bool) -> Self {
            self.options.insert("upsert", upsert);
            self
        }

        /// Whether to return the document as it was before the change (the default) or after.
        pub fn return_document(mut self, return_document: ReturnDocument) -> Self {
            self.options
                .insert("new", return_document == ReturnDocument::After);
            self
        }
    };
}

/// Updates one document and returns it. Await it for `Option<T>`.
#[must_use = "the operation runs when awaited"]
pub struct FindOneAndUpdate<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    update: UpdateModifications,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a, T> FindOneAndUpdate<'a, T> {
    find_and_modify_methods!();
    change_methods!();

    /// The conditions that pick the array elements `$[<identifier>]` paths of the update
    /// change: each filter names one identifier (`{"item.qty": {"$lt": 5}}` for
    /// `"items.$[item].qty"`).
    pub fn array_filters(mut self, filters: impl IntoIterator<Item = Document>) -> Self {
        let filters: Vec<Bson> = filters.into_iter().map(Bson::Document).collect();
        self.options.insert("arrayFilters", filters);
        self
    }
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> IntoFuture for FindOneAndUpdate<'a, T> {
    type Output = Result<Option<T>>;
    type IntoFuture = BoxFuture<'a, Result<Option<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let change = doc! {"update": self.update.into_checked()?};
            let request = Request {
                coll: self.coll,
                filter: self.filter,
                change,
                session: self.session,
                options: self.options,
                write_concern: self.write_concern,
            };
            request.run().await
        })
    }
}

/// Replaces one document and returns it. Await it for `Option<T>`.
#[must_use = "the operation runs when awaited"]
pub struct FindOneAndReplace<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    replacement: Result<Document>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a, T> FindOneAndReplace<'a, T> {
    find_and_modify_methods!();
    change_methods!();
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> IntoFuture for FindOneAndReplace<'a, T> {
    type Output = Result<Option<T>>;
    type IntoFuture = BoxFuture<'a, Result<Option<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let change = doc! {"update": self.replacement?};
            let request = Request {
                coll: self.coll,
                filter: self.filter,
                change,
                session: self.session,
                options: self.options,
                write_concern: self.write_concern,
            };
            request.run().await
        })
    }
}

/// Deletes one document and returns it. Await it for `Option<T>`.
#[must_use = "the operation runs when awaited"]
pub struct FindOneAndDelete<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a, T> FindOneAndDelete<'a, T> {
    find_and_modify_methods!();
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> IntoFuture for FindOneAndDelete<'a, T> {
    type Output = Result<Option<T>>;
    type IntoFuture = BoxFuture<'a, Result<Option<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let request = Request {
                coll: self.coll,
                filter: self.filter,
                change: doc! {"remove": true},
                session: self.session,
                options: self.options,
                write_concern: self.write_concern,
            };
            request.run().await
        })
    }
}

/// A `findAndModify` command ready to send.
struct Request<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    /// `{update: ...}` or `{remove: true}`.
    change: Document,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<T: DeserializeOwned> Request<'_, T> {
    async fn run(self) -> Result<Option<T>> {
        let inner = &self.coll.inner;
        let mut command = doc! {"findAndModify": inner.name.clone(), "query": self.filter};
        command.extend(self.change);
        command.extend(self.options);
        let mut op = inner.write_op(command, true);
        op.write_concern = self.write_concern.or(op.write_concern);
        let acknowledged = crate::operation::is_acknowledged(&op, self.session.0);
        let mut reply = inner.client.execute(op, self.session.0).await?;
        if !acknowledged {
            return Ok(None);
        }
        match reply.remove("value") {
            Some(Bson::Document(doc)) => from_document(doc).map(Some),
            Some(Bson::Null) => Ok(None),
            Some(_) => Err(Error::invalid_response(
                "a findAndModify reply with a non-document `value`",
            )),
            None => Err(Error::invalid_response(
                "a findAndModify reply without `value`",
            )),
        }
    }
}
