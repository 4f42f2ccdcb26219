//! `insert_one` and `insert_many`.

use std::future::IntoFuture;

use bson::{Bson, Document, doc, oid::ObjectId};
use serde::{Serialize, de::DeserializeOwned};

use super::{Binding, BoxFuture, session_methods, to_document};
use crate::collection::Collection;
use crate::errors::{Error, Result};
use crate::options::WriteConcern;
use crate::results::{InsertManyResult, InsertOneResult};

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Inserts one document; one without `_id` gets an `ObjectId`.
    pub fn insert_one(&self, document: impl std::borrow::Borrow<T>) -> InsertOne<'_, T> {
        InsertOne {
            coll: self,
            document: to_insert(document.borrow()),
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    /// Inserts documents in order (by default stopping at the first error).
    pub fn insert_many<D: std::borrow::Borrow<T>>(
        &self,
        documents: impl IntoIterator<Item = D>,
    ) -> InsertMany<'_, T> {
        let documents = documents
            .into_iter()
            .map(|d| to_insert(d.borrow()))
            .collect();
        InsertMany {
            coll: self,
            documents,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }
}

/// The document to insert for a caller's value. A `Document` without `_id` is copied with a
/// new `ObjectId` put first as it goes, instead of copied and then rebuilt by [`ensure_id`].
fn to_insert<T: Serialize + ?Sized>(value: &T) -> Result<Document> {
    match super::as_document(value) {
        Some(document) if !document.contains_key("_id") => {
            let mut with_id = doc! {"_id": ObjectId::new()};
            for (key, value) in document {
                with_id.insert(key.clone(), value.clone());
            }
            Ok(with_id)
        }
        _ => to_document(value),
    }
}

/// Gives a document an `_id` (first) if it has none; returns the `_id`.
fn ensure_id(document: &mut Document) -> Bson {
    if let Some(id) = document.get("_id") {
        return id.clone();
    }
    let id = Bson::ObjectId(ObjectId::new());
    let mut with_id = doc! {"_id": id.clone()};
    with_id.extend(std::mem::take(document));
    *document = with_id;
    id
}

/// Inserts one document. Await it.
#[must_use = "the operation runs when awaited"]
pub struct InsertOne<'a, T> {
    coll: &'a Collection<T>,
    document: Result<Document>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a, T> InsertOne<'a, T> {
    session_methods!();

    /// The write concern of this insert.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// Skip document validation.
    pub fn bypass_document_validation(mut self, bypass: bool) -> Self {
        self.options.insert("bypassDocumentValidation", bypass);
        self
    }
}

impl<'a, T: Send + Sync + 'a> IntoFuture for InsertOne<'a, T> {
    type Output = Result<InsertOneResult>;
    type IntoFuture = BoxFuture<'a, Result<InsertOneResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut document = self.document?;
            let inserted_id = ensure_id(&mut document);
            let mut command = doc! {"insert": self.coll.inner.name.clone(), "documents": [document], "ordered": true};
            command.extend(self.options);
            let mut op = self.coll.inner.write_op(command, true);
            op.write_concern = self.write_concern.or(op.write_concern);
            self.coll.inner.client.execute(op, self.session.0).await?;
            Ok(InsertOneResult { inserted_id })
        })
    }
}

/// Inserts several documents. Await it.
#[must_use = "the operation runs when awaited"]
pub struct InsertMany<'a, T> {
    coll: &'a Collection<T>,
    documents: Vec<Result<Document>>,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a, T> InsertMany<'a, T> {
    session_methods!();

    /// Whether to stop at the first failed document (the default) or go on.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.options.insert("ordered", ordered);
        self
    }

    /// The write concern of this insert.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a, T: Send + Sync + 'a> IntoFuture for InsertMany<'a, T> {
    type Output = Result<InsertManyResult>;
    type IntoFuture = BoxFuture<'a, Result<InsertManyResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut documents = self.documents.into_iter().collect::<Result<Vec<_>>>()?;
            if documents.is_empty() {
                return Err(Error::invalid_argument(
                    "insert_many needs at least one document",
                ));
            }
            let ids: Vec<Bson> = documents.iter_mut().map(ensure_id).collect();
            let mut command = doc! {"insert": self.coll.inner.name.clone(), "documents": documents, "ordered": true};
            command.extend(self.options);
            let mut op = self.coll.inner.write_op(command, true);
            op.write_concern = self.write_concern.or(op.write_concern);
            self.coll.inner.client.execute(op, self.session.0).await?;
            Ok(InsertManyResult {
                inserted_ids: ids.into_iter().enumerate().collect(),
            })
        })
    }
}
