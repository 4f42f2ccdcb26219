//! The scoped transaction of the seed's example, and collections seen through a transaction.

use std::ops::Deref;

use bson::Document;
use serde::{Serialize, de::DeserializeOwned};

use crate::action::{
    Aggregate, CatalogCommand, CountDocuments, CreateIndex, Delete, Distinct, Find, FindOne,
    FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, IndexModel, InsertMany, InsertOne,
    ReplaceOne, RunCommand, Update, UpdateModifications,
};
use crate::collection::Collection;
use crate::database::Database;
use crate::errors::Result;
use crate::session::{ClientSession, Txn};

/// An open transaction on a session, from [`ClientSession::start_transaction`].
///
/// [`Transaction::commit`] commits, [`Transaction::abort`] aborts, and dropping the handle
/// without either aborts the transaction (the abort is queued to a background task, so `Drop`
/// never blocks). It borrows the session, so the session cannot start another transaction
/// while this one is open. Operations run in it through [`Txn::collection`] (reached through
/// `Deref`).
///
/// ```
/// # async fn example() -> causeway::Result<()> {
/// use bson::{Document, doc};
///
/// let client = causeway::Client::embedded();
/// let shop = client.database("shop");
/// let (orders, inventory) = (shop.collection::<Document>("orders"), shop.collection::<Document>("inventory"));
/// inventory.insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
///
/// let mut session = client.start_session().await?;
/// let txn = session.start_transaction().await?;
/// txn.collection(&orders).insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
/// txn.collection(&inventory)
///     .update_one(doc! {"sku": "abc123", "qty": {"$gte": 100}}, doc! {"$inc": {"qty": -100}})
///     .await?;
/// txn.commit().await?;
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "dropping the transaction aborts it"]
pub struct Transaction<'s> {
    session: &'s mut ClientSession,
}

impl<'s> Transaction<'s> {
    pub(crate) fn new(session: &'s mut ClientSession) -> Transaction<'s> {
        Transaction { session }
    }

    /// Commits the transaction. On an error with the `UnknownTransactionCommitResult` label
    /// the commit may or may not have happened; committing again through the session's
    /// `with_transaction` is the way to retry safely.
    pub async fn commit(self) -> Result<()> {
        self.session.txn.commit_transaction().await
    }

    /// Aborts the transaction; nothing it wrote becomes visible.
    pub async fn abort(self) -> Result<()> {
        self.session.txn.abort_transaction().await
    }
}

impl Deref for Transaction<'_> {
    type Target = Txn;

    fn deref(&self) -> &Txn {
        &self.session.txn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        self.session.txn.abandon();
    }
}

impl Txn {
    /// The collection, with every operation run in this transaction.
    pub fn collection<'t, T>(&'t self, collection: &'t Collection<T>) -> TxnCollection<'t, T>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
    {
        TxnCollection {
            txn: self,
            collection,
        }
    }

    /// Runs a command as given, in this transaction.
    pub fn run_command<'t>(&'t self, database: &'t Database, command: Document) -> RunCommand<'t> {
        database.run_command(command).in_transaction(self)
    }

    /// Creates a collection in this transaction (visible to others when it commits).
    pub fn create_collection<'t>(
        &'t self,
        database: &'t Database,
        name: &str,
    ) -> CatalogCommand<'t, ()> {
        database.create_collection(name).in_transaction(self)
    }

    /// Marks the transaction aborted if it is open and asks the background worker to abort it
    /// on the server if anything was sent.
    pub(crate) fn abandon(&self) {
        let aborted = self.core.state.lock().abandon();
        if let Some((lsid, txn_number)) = aborted {
            self.core.client.abort_detached(lsid, txn_number);
        }
    }
}

/// A collection seen through a transaction: the same operations as [`Collection`], each run
/// in the transaction. There is no session argument to forget.
///
/// [`Collection::estimated_document_count`] and [`Collection::drop`] are missing: the server
/// refuses `count` and `drop` inside a transaction ([`Collection::count_documents`] counts
/// in one).
#[derive(Debug)]
pub struct TxnCollection<'t, T> {
    txn: &'t Txn,
    collection: &'t Collection<T>,
}

impl<'t, T> TxnCollection<'t, T>
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    /// [`Collection::insert_one`] in the transaction.
    pub fn insert_one(&self, document: impl std::borrow::Borrow<T>) -> InsertOne<'t, T> {
        self.collection
            .insert_one(document)
            .in_transaction(self.txn)
    }

    /// [`Collection::insert_many`] in the transaction.
    pub fn insert_many<D: std::borrow::Borrow<T>>(
        &self,
        documents: impl IntoIterator<Item = D>,
    ) -> InsertMany<'t, T> {
        self.collection
            .insert_many(documents)
            .in_transaction(self.txn)
    }

    /// [`Collection::find`] in the transaction.
    pub fn find(&self, filter: Document) -> Find<'t, T> {
        self.collection.find(filter).in_transaction(self.txn)
    }

    /// [`Collection::find_one`] in the transaction.
    pub fn find_one(&self, filter: Document) -> FindOne<'t, T> {
        self.collection.find_one(filter).in_transaction(self.txn)
    }

    /// [`Collection::update_one`] in the transaction.
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'t> {
        self.collection
            .update_one(filter, update)
            .in_transaction(self.txn)
    }

    /// [`Collection::update_many`] in the transaction.
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'t> {
        self.collection
            .update_many(filter, update)
            .in_transaction(self.txn)
    }

    /// [`Collection::replace_one`] in the transaction.
    pub fn replace_one(
        &self,
        filter: Document,
        replacement: impl std::borrow::Borrow<T>,
    ) -> ReplaceOne<'t> {
        self.collection
            .replace_one(filter, replacement)
            .in_transaction(self.txn)
    }

    /// [`Collection::delete_one`] in the transaction.
    pub fn delete_one(&self, filter: Document) -> Delete<'t> {
        self.collection.delete_one(filter).in_transaction(self.txn)
    }

    /// [`Collection::delete_many`] in the transaction.
    pub fn delete_many(&self, filter: Document) -> Delete<'t> {
        self.collection.delete_many(filter).in_transaction(self.txn)
    }

    /// [`Collection::find_one_and_update`] in the transaction.
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> FindOneAndUpdate<'t, T> {
        self.collection
            .find_one_and_update(filter, update)
            .in_transaction(self.txn)
    }

    /// [`Collection::find_one_and_replace`] in the transaction.
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl std::borrow::Borrow<T>,
    ) -> FindOneAndReplace<'t, T> {
        self.collection
            .find_one_and_replace(filter, replacement)
            .in_transaction(self.txn)
    }

    /// [`Collection::find_one_and_delete`] in the transaction.
    pub fn find_one_and_delete(&self, filter: Document) -> FindOneAndDelete<'t, T> {
        self.collection
            .find_one_and_delete(filter)
            .in_transaction(self.txn)
    }

    /// [`Collection::aggregate`] in the transaction.
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'t> {
        self.collection.aggregate(pipeline).in_transaction(self.txn)
    }

    /// [`Collection::count_documents`] in the transaction.
    pub fn count_documents(&self, filter: Document) -> CountDocuments<'t> {
        self.collection
            .count_documents(filter)
            .in_transaction(self.txn)
    }

    /// [`Collection::distinct`] in the transaction.
    pub fn distinct(&self, field_name: &str, filter: Document) -> Distinct<'t> {
        self.collection
            .distinct(field_name, filter)
            .in_transaction(self.txn)
    }

    /// [`Collection::create_index`] in the transaction (only on a collection the transaction
    /// creates, as the server requires).
    pub fn create_index(&self, model: IndexModel) -> CreateIndex<'t> {
        self.collection.create_index(model).in_transaction(self.txn)
    }
}
