//! `aggregate`, and the reads built on aggregation or on their own commands:
//! `count_documents`, `estimated_document_count` and `distinct`.

use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Binding, BoxFuture, ReadOptions, read_methods, reply_count, run_cursor_command, session_methods,
};
use crate::collection::{Collection, CollectionInner};
use crate::cursor::Cursor;
use crate::errors::{Error, Result};
use crate::options::WriteConcern;

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Runs an aggregation pipeline over the collection; its results come as a [`Cursor`] of
    /// documents. A pipeline ending in `$out` or `$merge` writes its results to a collection
    /// (and is sent as a write, to the primary, never retried).
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate {
            coll: &self.inner,
            pipeline: pipeline.into_iter().collect(),
            batch_size: None,
            session: Binding::default(),
            options: Document::new(),
            read: ReadOptions::default(),
            write_concern: None,
        }
    }

    /// How many documents match `filter`, counted exactly (an aggregation of `$match`,
    /// `$skip`, `$limit` and `$group`), so it can run in a transaction.
    pub fn count_documents(&self, filter: Document) -> CountDocuments<'_> {
        CountDocuments {
            coll: &self.inner,
            filter,
            skip: None,
            limit: None,
            session: Binding::default(),
            options: Document::new(),
            read: ReadOptions::default(),
        }
    }

    /// The number of documents in the collection as its metadata tells it (the `count`
    /// command without a filter): fast, but not allowed in a transaction.
    pub fn estimated_document_count(&self) -> EstimatedDocumentCount<'_> {
        EstimatedDocumentCount {
            coll: &self.inner,
            session: Binding::default(),
            options: Document::new(),
            read: ReadOptions::default(),
        }
    }

    /// The distinct values of `field_name` (a dotted path; arrays are unwound) among the
    /// documents matching `filter`, in BSON order.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Bson, Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let items = client.database("shop").collection::<Document>("items");
    /// items
    ///     .insert_many([doc! {"tags": ["a", "b"]}, doc! {"tags": "c"}, doc! {"tags": "a"}])
    ///     .await?;
    /// let tags = items.distinct("tags", doc! {}).await?;
    /// assert_eq!(tags, vec![Bson::from("a"), Bson::from("b"), Bson::from("c")]);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn distinct(&self, field_name: &str, filter: Document) -> Distinct<'_> {
        Distinct {
            coll: &self.inner,
            field_name: field_name.to_owned(),
            filter,
            session: Binding::default(),
            options: Document::new(),
            read: ReadOptions::default(),
        }
    }
}

/// Runs an aggregation pipeline. Await it for a [`Cursor`] of documents.
#[must_use = "the operation runs when awaited"]
pub struct Aggregate<'a> {
    coll: &'a CollectionInner,
    pipeline: Vec<Document>,
    batch_size: Option<u32>,
    session: Binding<'a>,
    options: Document,
    read: ReadOptions,
    write_concern: Option<WriteConcern>,
}

impl<'a> Aggregate<'a> {
    session_methods!();
    read_methods!();

    /// How many documents each batch brings.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.options.insert("hint", hint.into());
        self
    }

    /// The write concern of a pipeline ending in `$out` or `$merge` (ignored otherwise).
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

/// Whether a pipeline writes its results to a collection (ends in `$out` or `$merge`).
fn writes(pipeline: &[Document]) -> bool {
    pipeline
        .last()
        .and_then(|stage| stage.keys().next())
        .is_some_and(|stage| stage == "$out" || stage == "$merge")
}

impl<'a> IntoFuture for Aggregate<'a> {
    type Output = Result<Cursor<'a, Document>>;
    type IntoFuture = BoxFuture<'a, Result<Cursor<'a, Document>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            let writes = writes(&self.pipeline);
            let mut cursor = Document::new();
            if let Some(size) = self.batch_size {
                cursor.insert("batchSize", i64::from(size));
            }
            let mut command =
                doc! {"aggregate": coll.name.clone(), "pipeline": self.pipeline, "cursor": cursor};
            command.extend(self.options);
            let op = if writes {
                let mut op = coll.write_op(command, false);
                op.write_concern = self.write_concern.or(op.write_concern);
                op
            } else {
                let mut op = coll.read_op(command);
                self.read.apply(&mut op);
                op
            };
            let batch_size = self.batch_size.map(i64::from);
            run_cursor_command(&coll.client, op, self.session, batch_size).await
        })
    }
}

/// Counts the documents matching a filter. Await it for a `u64`.
#[must_use = "the operation runs when awaited"]
pub struct CountDocuments<'a> {
    coll: &'a CollectionInner,
    filter: Document,
    skip: Option<u64>,
    limit: Option<u64>,
    session: Binding<'a>,
    options: Document,
    read: ReadOptions,
}

impl<'a> CountDocuments<'a> {
    session_methods!();
    read_methods!();

    /// How many matches to skip before counting.
    pub fn skip(mut self, skip: u64) -> Self {
        self.skip = Some(skip);
        self
    }

    /// Count at most this many matches (`0`: no limit).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.options.insert("hint", hint.into());
        self
    }

    /// The pipeline the count runs: `$match`, `$skip`, `$limit`, then a `$group` that counts.
    fn pipeline(filter: Document, skip: Option<u64>, limit: Option<u64>) -> Vec<Document> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut pipeline = vec![doc! {"$match": filter}];
        if let Some(skip) = skip {
            pipeline.push(doc! {"$skip": as_i64(skip)});
        }
        if let Some(limit) = limit.filter(|l| *l > 0) {
            pipeline.push(doc! {"$limit": as_i64(limit)});
        }
        pipeline.push(doc! {"$group": {"_id": 1, "n": {"$sum": 1}}});
        pipeline
    }
}

impl<'a> IntoFuture for CountDocuments<'a> {
    type Output = Result<u64>;
    type IntoFuture = BoxFuture<'a, Result<u64>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            let pipeline = CountDocuments::pipeline(self.filter, self.skip, self.limit);
            let mut command =
                doc! {"aggregate": coll.name.clone(), "pipeline": pipeline, "cursor": {}};
            command.extend(self.options);
            let mut op = coll.read_op(command);
            self.read.apply(&mut op);
            let reply = coll.client.execute(op, self.session.0).await?;
            let batch = reply
                .get_document("cursor")
                .and_then(|c| c.get_array("firstBatch"))
                .map_err(|_| {
                    Error::invalid_response("an aggregate reply without cursor.firstBatch")
                })?;
            match batch.first() {
                None => Ok(0),
                Some(Bson::Document(result)) => reply_count(result, "n"),
                Some(_) => Err(Error::invalid_response(
                    "an aggregate reply with a non-document result",
                )),
            }
        })
    }
}

/// Counts the documents of a collection from its metadata. Await it for a `u64`.
#[must_use = "the operation runs when awaited"]
pub struct EstimatedDocumentCount<'a> {
    coll: &'a CollectionInner,
    session: Binding<'a>,
    options: Document,
    read: ReadOptions,
}

impl<'a> EstimatedDocumentCount<'a> {
    session_methods!(outside_transactions);
    read_methods!();
}

impl<'a> IntoFuture for EstimatedDocumentCount<'a> {
    type Output = Result<u64>;
    type IntoFuture = BoxFuture<'a, Result<u64>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            let mut command = doc! {"count": coll.name.clone()};
            command.extend(self.options);
            let mut op = coll.read_op(command);
            self.read.apply(&mut op);
            let reply = coll.client.execute(op, self.session.0).await?;
            reply_count(&reply, "n")
        })
    }
}

/// Finds the distinct values of a field. Await it for a `Vec<Bson>`.
#[must_use = "the operation runs when awaited"]
pub struct Distinct<'a> {
    coll: &'a CollectionInner,
    field_name: String,
    filter: Document,
    session: Binding<'a>,
    options: Document,
    read: ReadOptions,
}

impl<'a> Distinct<'a> {
    session_methods!();
    read_methods!();

    /// The index to use, by name or key pattern.
    pub fn hint(mut self, hint: impl Into<Bson>) -> Self {
        self.options.insert("hint", hint.into());
        self
    }
}

impl<'a> IntoFuture for Distinct<'a> {
    type Output = Result<Vec<Bson>>;
    type IntoFuture = BoxFuture<'a, Result<Vec<Bson>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            let mut command =
                doc! {"distinct": coll.name.clone(), "key": self.field_name, "query": self.filter};
            command.extend(self.options);
            let mut op = coll.read_op(command);
            self.read.apply(&mut op);
            let mut reply = coll.client.execute(op, self.session.0).await?;
            match reply.remove("values") {
                Some(Bson::Array(values)) => Ok(values),
                _ => Err(Error::invalid_response(
                    "a distinct reply without a `values` array",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_ending_in_out_or_merge_write() {
        assert!(writes(&[doc! {"$match": {}}, doc! {"$out": "c"}]));
        assert!(writes(&[doc! {"$merge": {"into": "c"}}]));
        assert!(!writes(&[doc! {"$out": "c"}, doc! {"$match": {}}]));
        assert!(!writes(&[]));
    }

    #[test]
    fn count_pipeline_follows_the_crud_specification() {
        let group = doc! {"$group": {"_id": 1, "n": {"$sum": 1}}};
        assert_eq!(
            CountDocuments::pipeline(doc! {"a": 1}, None, None),
            vec![doc! {"$match": {"a": 1}}, group.clone()]
        );
        assert_eq!(
            CountDocuments::pipeline(doc! {}, Some(2), Some(3)),
            vec![
                doc! {"$match": {}},
                doc! {"$skip": 2_i64},
                doc! {"$limit": 3_i64},
                group.clone()
            ]
        );
        assert_eq!(
            CountDocuments::pipeline(doc! {}, None, Some(0)),
            vec![doc! {"$match": {}}, group]
        );
    }
}
