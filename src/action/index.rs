//! `create_index` and `drop`.

use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{Binding, BoxFuture, session_methods};
use crate::collection::{Collection, CollectionInner};
use crate::errors::{Error, ErrorCode, Result};
use crate::options::WriteConcern;
use crate::results::CreateIndexResult;

/// An index to create: its key pattern and its options.
///
/// ```
/// use bson::doc;
/// use causeway::action::IndexModel;
///
/// let model = IndexModel::new(doc! {"sku": 1, "at": -1}).unique(true);
/// assert_eq!(model.index_name(), "sku_1_at_-1");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexModel {
    /// The key pattern: fields and their directions (`{"sku": 1, "at": -1}`).
    pub keys: Document,
    /// The index options.
    pub options: Option<IndexOptions>,
}

/// The options of an index.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct IndexOptions {
    /// The index name; by default built from the key pattern (`sku_1_at_-1`).
    pub name: Option<String>,
    /// Whether two documents may not have the same key.
    pub unique: Option<bool>,
}

impl IndexModel {
    /// An index on `keys`, with no options.
    pub fn new(keys: Document) -> IndexModel {
        IndexModel {
            keys,
            options: None,
        }
    }

    /// Names the index.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.get_or_insert_with(Default::default).name = Some(name.into());
        self
    }

    /// Makes the index unique (or not).
    pub fn unique(mut self, unique: bool) -> Self {
        self.options.get_or_insert_with(Default::default).unique = Some(unique);
        self
    }

    /// The name of the index: the one given, or the one `mongod` builds from the key pattern,
    /// each field followed by its direction (`{"a": 1, "b": -1}` is `a_1_b_-1`).
    pub fn index_name(&self) -> String {
        if let Some(name) = self.options.as_ref().and_then(|o| o.name.clone()) {
            return name;
        }
        self.keys
            .iter()
            .map(|(field, direction)| {
                let direction = match direction {
                    Bson::Int32(n) => n.to_string(),
                    Bson::Int64(n) => n.to_string(),
                    // `mongod` writes a numeric direction as an integer.
                    Bson::Double(n) => (*n as i64).to_string(),
                    Bson::String(kind) => kind.clone(),
                    other => other.to_string(),
                };
                format!("{field}_{direction}")
            })
            .collect::<Vec<_>>()
            .join("_")
    }

    /// The entry of a `createIndexes` command.
    fn spec(&self) -> Document {
        let mut spec = doc! {"key": self.keys.clone(), "name": self.index_name()};
        if let Some(unique) = self.options.as_ref().and_then(|o| o.unique) {
            spec.insert("unique", unique);
        }
        spec
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Creates an index (creating the collection if needed); creating an index that already
    /// exists with the same options does nothing.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    /// use causeway::action::IndexModel;
    ///
    /// let client = causeway::Client::embedded();
    /// let users = client.database("app").collection::<Document>("users");
    /// let created = users
    ///     .create_index(IndexModel::new(doc! {"email": 1}).unique(true))
    ///     .await?;
    /// assert_eq!(created.index_name, "email_1");
    /// users.insert_one(doc! {"email": "a@example.com"}).await?;
    /// let duplicate = users.insert_one(doc! {"email": "a@example.com"}).await;
    /// assert_eq!(duplicate.unwrap_err().code(), Some(11000));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn create_index(&self, model: IndexModel) -> CreateIndex<'_> {
        CreateIndex {
            coll: &self.inner,
            model,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }

    /// Drops the collection with its documents and indexes; dropping a collection that does
    /// not exist succeeds. Not allowed in a transaction.
    pub fn drop(&self) -> DropCollection<'_> {
        DropCollection {
            coll: &self.inner,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
        }
    }
}

/// Creates an index. Await it for a [`CreateIndexResult`].
#[must_use = "the operation runs when awaited"]
pub struct CreateIndex<'a> {
    coll: &'a CollectionInner,
    model: IndexModel,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a> CreateIndex<'a> {
    session_methods!();

    /// The write concern of this operation.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a> IntoFuture for CreateIndex<'a> {
    type Output = Result<CreateIndexResult>;
    type IntoFuture = BoxFuture<'a, Result<CreateIndexResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.model.keys.is_empty() {
                return Err(Error::invalid_argument("an index needs at least one key"));
            }
            let coll = self.coll;
            let index_name = self.model.index_name();
            let mut command =
                doc! {"createIndexes": coll.name.clone(), "indexes": [self.model.spec()]};
            command.extend(self.options);
            let mut op = coll.write_op(command, false);
            op.write_concern = self.write_concern.or(op.write_concern);
            coll.client.execute(op, self.session.0).await?;
            Ok(CreateIndexResult { index_name })
        })
    }
}

/// Drops a collection. Await it.
#[must_use = "the operation runs when awaited"]
pub struct DropCollection<'a> {
    coll: &'a CollectionInner,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
}

impl<'a> DropCollection<'a> {
    session_methods!(outside_transactions);

    /// The write concern of this operation.
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a> IntoFuture for DropCollection<'a> {
    type Output = Result<()>;
    type IntoFuture = BoxFuture<'a, Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let coll = self.coll;
            let mut command = doc! {"drop": coll.name.clone()};
            command.extend(self.options);
            let mut op = coll.write_op(command, false);
            op.write_concern = self.write_concern.or(op.write_concern);
            match coll.client.execute(op, self.session.0).await {
                Ok(_) => Ok(()),
                Err(e) if e.has_code(ErrorCode::NamespaceNotFound) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_indexes_as_mongod_does() {
        assert_eq!(
            IndexModel::new(doc! {"a": 1, "b": -1}).index_name(),
            "a_1_b_-1"
        );
        assert_eq!(IndexModel::new(doc! {"a.b": 1.0}).index_name(), "a.b_1");
        assert_eq!(IndexModel::new(doc! {"t": "text"}).index_name(), "t_text");
        assert_eq!(
            IndexModel::new(doc! {"a": 1}).name("mine").index_name(),
            "mine"
        );
        assert_eq!(
            IndexModel::new(doc! {"a": 1_i64}).unique(true).spec(),
            doc! {"key": {"a": 1_i64}, "name": "a_1", "unique": true}
        );
    }
}
