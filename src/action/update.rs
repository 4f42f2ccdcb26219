//! `update_one`, `update_many` and `replace_one`.

use std::borrow::Borrow;
use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{Binding, BoxFuture, reply_count, session_methods, to_document};
use crate::collection::{Collection, CollectionInner};
use crate::errors::{Error, Result};
use crate::operation::Operation;
use crate::options::WriteConcern;
use crate::results::UpdateResult;

/// The change an update makes to each matched document.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UpdateModifications {
    /// A document of update operators (`{"$set": {"qty": 5}, "$inc": {"n": 1}}`); every
    /// top-level key must be an operator.
    Document(Document),
}

impl From<Document> for UpdateModifications {
    fn from(update: Document) -> UpdateModifications {
        UpdateModifications::Document(update)
    }
}

impl UpdateModifications {
    /// The `u` of an update statement, refusing anything that is not a non-empty document of
    /// update operators.
    pub(crate) fn into_checked(self) -> Result<Bson> {
        match self {
            UpdateModifications::Document(update) => {
                if update.is_empty() {
                    return Err(Error::invalid_argument("update document must not be empty"));
                }
                if !update.keys().all(|k| k.starts_with('$')) {
                    return Err(Error::invalid_argument(
                        "update document must only contain update operators",
                    ));
                }
                Ok(Bson::Document(update))
            }
        }
    }
}

/// Serializes a replacement document, refusing one that looks like update operators.
pub(crate) fn checked_replacement<T: Serialize + ?Sized>(replacement: &T) -> Result<Document> {
    let replacement = to_document(replacement)?;
    if replacement
        .keys()
        .next()
        .is_some_and(|k| k.starts_with('$'))
    {
        return Err(Error::invalid_argument(
            "replacement document must not contain update operators",
        ));
    }
    Ok(replacement)
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Updates the first document matching `filter` with `update`, a document of update
    /// operators. With [`Update::upsert`] a document is inserted if none matches.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.insert_one(doc! {"sku": "abc", "qty": 5}).await?;
    /// let result = items
    ///     .update_one(doc! {"sku": "abc"}, doc! {"$inc": {"qty": 1}})
    ///     .await?;
    /// assert_eq!((result.matched_count, result.modified_count), (1, 1));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(&self.inner, filter, update.into(), false)
    }

    /// Updates every document matching `filter` with `update`, a document of update
    /// operators. Not a retryable write: it is sent once.
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(&self.inner, filter, update.into(), true)
    }

    /// Replaces the first document matching `filter` with `replacement` (keeping its `_id`).
    /// With [`ReplaceOne::upsert`] the replacement is inserted if none matches.
    pub fn replace_one(&self, filter: Document, replacement: impl Borrow<T>) -> ReplaceOne<'_> {
        ReplaceOne {
            coll: &self.inner,
            filter,
            replacement: checked_replacement(replacement.borrow()),
            upsert: false,
            hint: None,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }
}

/// Updates one or all documents matching a filter. Await it for an [`UpdateResult`].
#[must_use = "the operation runs when awaited"]
pub struct Update<'a> {
    coll: &'a CollectionInner,
    filter: Document,
    update: UpdateModifications,
    multi: bool,
    upsert: bool,
    hint: Option<Bson>,
    array_filters: Option<Vec<Bson>>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a> Update<'a> {
    fn new(
        coll: &'a CollectionInner,
        filter: Document,
        update: UpdateModifications,
        multi: bool,
    ) -> Update<'a> {
        Update {
            coll,
            filter,
            update,
            multi,
            upsert: false,
            hint: None,
            array_filters: None,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    session_methods!();

    /// Whether to insert a document if none matches: the filter's equality fields with the
    /// update applied.
    pub fn upsert(mut self, upsert: bool) -> Self {
        self.upsert = upsert;
        self
    }

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The write concern of this update.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// The conditions that pick the array elements `$[<identifier>]` paths of the update
    /// change: each filter names one identifier.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let carts = client.database("shop").collection::<Document>("carts");
    /// carts
    ///     .insert_one(doc! {"_id": 1, "items": [{"sku": "a", "qty": 0}, {"sku": "b", "qty": 3}]})
    ///     .await?;
    /// carts
    ///     .update_one(doc! {"_id": 1}, doc! {"$set": {"items.$[empty].qty": 1}})
    ///     .array_filters([doc! {"empty.qty": 0}])
    ///     .await?;
    /// let cart = carts.find_one(doc! {"_id": 1}).await?.expect("the cart");
    /// assert_eq!(cart.get_array("items").expect("items")[0], doc! {"sku": "a", "qty": 1}.into());
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn array_filters(mut self, filters: impl IntoIterator<Item = Document>) -> Self {
        self.array_filters = Some(filters.into_iter().map(Bson::Document).collect());
        self
    }
}

impl<'a> IntoFuture for Update<'a> {
    type Output = Result<UpdateResult>;
    type IntoFuture = BoxFuture<'a, Result<UpdateResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let update = self.update.into_checked()?;
            let statement = UpdateStatement {
                filter: self.filter,
                update,
                multi: self.multi,
                upsert: self.upsert,
                hint: self.hint,
                array_filters: self.array_filters,
            };
            let write = WriteOptions {
                session: self.session,
                options: self.options,
                write_concern: self.write_concern,
            };
            run_update(self.coll, statement, write).await
        })
    }
}

/// Replaces one document. Await it for an [`UpdateResult`].
#[must_use = "the operation runs when awaited"]
pub struct ReplaceOne<'a> {
    coll: &'a CollectionInner,
    filter: Document,
    replacement: Result<Document>,
    upsert: bool,
    hint: Option<Bson>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a> ReplaceOne<'a> {
    session_methods!();

    /// Whether to insert the replacement if no document matches.
    pub fn upsert(mut self, upsert: bool) -> Self {
        self.upsert = upsert;
        self
    }

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The write concern of this replacement.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a> IntoFuture for ReplaceOne<'a> {
    type Output = Result<UpdateResult>;
    type IntoFuture = BoxFuture<'a, Result<UpdateResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let statement = UpdateStatement {
                filter: self.filter,
                update: Bson::Document(self.replacement?),
                multi: false,
                upsert: self.upsert,
                hint: self.hint,
                array_filters: None,
            };
            let write = WriteOptions {
                session: self.session,
                options: self.options,
                write_concern: self.write_concern,
            };
            run_update(self.coll, statement, write).await
        })
    }
}

/// One statement of an `update` command.
struct UpdateStatement {
    filter: Document,
    update: Bson,
    multi: bool,
    upsert: bool,
    hint: Option<Bson>,
    array_filters: Option<Vec<Bson>>,
}

/// How a write runs: its session, its command-level options and its write concern.
struct WriteOptions<'a> {
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

/// Sends an `update` command of one statement; a single-document update is retryable.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn run_update<'a>(
    coll: &'a CollectionInner,
    statement: UpdateStatement,
    write: WriteOptions<'a>,
) -> impl Future<Output = Result<UpdateResult>> + 'a {
    // An async block, not an `async fn`, so that the statement is held once (see the top of
    // `operation.rs`).
    async move {
        let session = write.session.0;
        let acknowledged;
        // The operation is made inside the awaited expression, so that this future does not
        // keep room for it beside the one it is moved into.
        let reply = {
            let op = update_op(coll, statement, write.options, write.write_concern);
            acknowledged = crate::operation::is_acknowledged(&op, session);
            coll.client.execute(op, session)
        }
        .await?;
        if !acknowledged {
            return Ok(UpdateResult {
                matched_count: 0,
                modified_count: 0,
                upserted_id: None,
            });
        }
        update_result(&reply)
    }
}

/// The `update` command of one statement.
fn update_op(
    coll: &CollectionInner,
    statement: UpdateStatement,
    options: Document,
    write_concern: Option<WriteConcern>,
) -> Operation {
    let retryable = !statement.multi;
    // `multi` and `upsert` default to false on the server, and are sent only when true: most
    // statements stay within the room a new document has (three fields), without regrowing.
    let mut entry = doc! {"q": statement.filter, "u": statement.update};
    if statement.multi {
        entry.insert("multi", true);
    }
    if statement.upsert {
        entry.insert("upsert", true);
    }
    if let Some(hint) = statement.hint {
        entry.insert("hint", hint);
    }
    if let Some(filters) = statement.array_filters {
        entry.insert("arrayFilters", filters);
    }
    let mut command = doc! {"update": coll.name.clone(), "updates": [entry], "ordered": true};
    command.extend(options);
    let mut op = coll.write_op(command, retryable);
    op.write_concern = write_concern.or(op.write_concern);
    op
}

/// Reads `n`, `nModified` and `upserted` from an `update` reply.
fn update_result(reply: &Document) -> Result<UpdateResult> {
    let n = reply_count(reply, "n")?;
    let modified_count = reply_count(reply, "nModified")?;
    let upserted: &[Bson] = match reply.get("upserted") {
        None => &[],
        Some(Bson::Array(upserted)) => upserted,
        Some(_) => {
            return Err(Error::invalid_response(
                "an update reply with a non-array `upserted`",
            ));
        }
    };
    let upserted_id = match upserted.first() {
        None => None,
        Some(Bson::Document(entry)) => Some(entry.get("_id").cloned().ok_or_else(|| {
            Error::invalid_response("an update reply with an `upserted` entry without `_id`")
        })?),
        Some(_) => {
            return Err(Error::invalid_response(
                "an update reply with a non-document `upserted` entry",
            ));
        }
    };
    Ok(UpdateResult {
        matched_count: n.saturating_sub(upserted.len() as u64),
        modified_count,
        upserted_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_update_replies() {
        let reply = doc! {"n": 3, "nModified": 2, "ok": 1.0};
        let result = update_result(&reply).expect("a result");
        assert_eq!((result.matched_count, result.modified_count), (3, 2));
        assert_eq!(result.upserted_id, None);
        let reply = doc! {"n": 1, "nModified": 0, "upserted": [{"index": 0, "_id": 7}], "ok": 1.0};
        let result = update_result(&reply).expect("a result");
        assert_eq!(result.matched_count, 0);
        assert_eq!(result.upserted_id, Some(Bson::Int32(7)));
        assert!(update_result(&doc! {"ok": 1.0}).is_err());
        assert!(update_result(&doc! {"n": 1, "nModified": 0, "upserted": [1], "ok": 1.0}).is_err());
    }

    #[test]
    fn refuses_what_is_not_update_operators() {
        let refused = |update: Document| UpdateModifications::from(update).into_checked().is_err();
        assert!(refused(doc! {}));
        assert!(refused(doc! {"qty": 1}));
        assert!(refused(doc! {"$set": {"a": 1}, "qty": 1}));
        assert!(!refused(doc! {"$set": {"a": 1}, "$inc": {"n": 1}}));
        assert!(checked_replacement(&doc! {"$set": {"a": 1}}).is_err());
        assert!(checked_replacement(&doc! {"a": 1}).is_ok());
    }
}
