//! Catalog operations on databases, collections and the deployment: `create_collection`,
//! `drop` (database), `drop_index`, `drop_indexes`, `list_indexes`, `list_databases`.

use std::future::IntoFuture;

use bson::{Document, doc};
use serde::{Serialize, de::DeserializeOwned};

use super::{Binding, BoxFuture, session_methods};
use crate::client::Client;
use crate::collection::Collection;
use crate::database::{CollectionOptions, Database};
use crate::errors::{Error, Result};
use crate::operation::{OpKind, Operation};
use crate::options::WriteConcern;

/// A catalog command (create, drop, list). Await it.
#[must_use = "the operation runs when awaited"]
pub struct CatalogCommand<'a, R> {
    client: &'a Client,
    db: String,
    command: Document,
    kind: OpKind,
    defaults: CollectionOptions,
    session: Binding<'a>,
    options: Document,
    write_concern: Option<WriteConcern>,
    parse: fn(Document) -> Result<R>,
}

impl<'a, R> CatalogCommand<'a, R> {
    fn new(
        client: &'a Client,
        db: &str,
        command: Document,
        kind: OpKind,
        defaults: CollectionOptions,
        parse: fn(Document) -> Result<R>,
    ) -> Self {
        CatalogCommand {
            client,
            db: db.to_owned(),
            command,
            kind,
            defaults,
            session: Binding::default(),
            options: Document::new(),
            write_concern: None,
            parse,
        }
    }

    session_methods!();

    /// The write concern of this operation (for the commands that write).
    pub fn write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }
}

impl<'a, R: Send + 'a> IntoFuture for CatalogCommand<'a, R> {
    type Output = Result<R>;
    type IntoFuture = BoxFuture<'a, Result<R>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut command = self.command;
            command.extend(self.options);
            let mut op = Operation::new(self.db, command, self.kind);
            match self.kind {
                OpKind::Read => {
                    op.read_preference = self.defaults.read_preference;
                    op.read_concern = self.defaults.read_concern;
                }
                _ => op.write_concern = self.write_concern.or(self.defaults.write_concern),
            }
            let reply = self.client.execute(op, self.session.0).await?;
            (self.parse)(reply)
        })
    }
}

fn nothing(_: Document) -> Result<()> {
    Ok(())
}

fn first_batch(reply: Document) -> Result<Vec<Document>> {
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map_err(|_| Error::invalid_response("a listing without cursor.firstBatch"))?;
    Ok(batch
        .iter()
        .filter_map(|d| d.as_document().cloned())
        .collect())
}

fn names(documents: Vec<Document>) -> Vec<String> {
    documents
        .iter()
        .filter_map(|d| d.get_str("name").ok().map(str::to_owned))
        .collect()
}

fn databases(reply: Document) -> Result<Vec<Document>> {
    let list = reply
        .get_array("databases")
        .map_err(|_| Error::invalid_response("a listDatabases reply without databases"))?;
    Ok(list
        .iter()
        .filter_map(|d| d.as_document().cloned())
        .collect())
}

const WRITE: OpKind = OpKind::Write { retryable: false };

impl Database {
    /// Creates a collection (an insert into a missing collection also creates it).
    pub fn create_collection(&self, name: &str) -> CatalogCommand<'_, ()> {
        CatalogCommand::new(
            &self.client,
            &self.name,
            doc! {"create": name},
            WRITE,
            self.options.clone(),
            nothing,
        )
    }

    /// Drops the database and every collection in it.
    pub fn drop(&self) -> CatalogCommand<'_, ()> {
        CatalogCommand::new(
            &self.client,
            &self.name,
            doc! {"dropDatabase": 1},
            WRITE,
            self.options.clone(),
            nothing,
        )
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Drops the index with this name.
    pub fn drop_index(&self, name: &str) -> CatalogCommand<'_, ()> {
        let command = doc! {"dropIndexes": self.inner.name.clone(), "index": name};
        CatalogCommand::new(
            &self.inner.client,
            &self.inner.db,
            command,
            WRITE,
            self.inner.options.clone(),
            nothing,
        )
    }

    /// Drops every index but `_id`'s.
    pub fn drop_indexes(&self) -> CatalogCommand<'_, ()> {
        let command = doc! {"dropIndexes": self.inner.name.clone(), "index": "*"};
        CatalogCommand::new(
            &self.inner.client,
            &self.inner.db,
            command,
            WRITE,
            self.inner.options.clone(),
            nothing,
        )
    }

    /// The collection's index specifications (`{v, key, name, unique?}`), `_id_` first.
    pub fn list_indexes(&self) -> CatalogCommand<'_, Vec<Document>> {
        let command =
            doc! {"listIndexes": self.inner.name.clone(), "cursor": {"batchSize": 100_000}};
        CatalogCommand::new(
            &self.inner.client,
            &self.inner.db,
            command,
            OpKind::Read,
            self.inner.options.clone(),
            first_batch,
        )
    }

    /// The names of the collection's indexes, `_id_` first.
    pub fn list_index_names(&self) -> CatalogCommand<'_, Vec<String>> {
        let command =
            doc! {"listIndexes": self.inner.name.clone(), "cursor": {"batchSize": 100_000}};
        CatalogCommand::new(
            &self.inner.client,
            &self.inner.db,
            command,
            OpKind::Read,
            self.inner.options.clone(),
            |r| first_batch(r).map(names),
        )
    }
}

impl Client {
    /// The databases (`{name, sizeOnDisk, empty}` each).
    pub fn list_databases(&self) -> CatalogCommand<'_, Vec<Document>> {
        let options = self.database("admin").options().clone();
        CatalogCommand::new(
            self,
            "admin",
            doc! {"listDatabases": 1},
            OpKind::Read,
            options,
            databases,
        )
    }

    /// The names of the databases.
    pub fn list_database_names(&self) -> CatalogCommand<'_, Vec<String>> {
        let options = self.database("admin").options().clone();
        CatalogCommand::new(
            self,
            "admin",
            doc! {"listDatabases": 1, "nameOnly": true},
            OpKind::Read,
            options,
            |r| databases(r).map(names),
        )
    }
}
