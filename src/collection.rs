//! Collections of typed documents.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};

use crate::client::Client;
use crate::database::{CollectionOptions, Database};

/// A handle to a collection whose documents are `T` (any `Serialize + DeserializeOwned` type,
/// or `bson::Document`); cheap to clone.
///
/// Operations return builders: set options on them, attach a session with `.session(&mut s)`,
/// then `.await` them.
#[derive(Debug)]
pub struct Collection<T> {
    pub(crate) inner: Arc<CollectionInner>,
    _documents: PhantomData<fn() -> T>,
}

#[derive(Debug)]
pub(crate) struct CollectionInner {
    pub client: Client,
    pub db: String,
    pub name: String,
    pub options: CollectionOptions,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            inner: self.inner.clone(),
            _documents: PhantomData,
        }
    }
}

impl<T> Collection<T>
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    pub(crate) fn new(db: &Database, name: &str) -> Collection<T> {
        Collection {
            inner: Arc::new(CollectionInner {
                client: db.client.clone(),
                db: db.name.clone(),
                name: name.to_owned(),
                options: db.options.clone(),
            }),
            _documents: PhantomData,
        }
    }

    /// The collection name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `database.collection`.
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.inner.db, self.inner.name)
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The options in effect (the database's, overridden by [`Collection::with_options`]).
    pub fn options(&self) -> &CollectionOptions {
        &self.inner.options
    }

    /// The same collection with some options replaced (read preference, read concern, write
    /// concern).
    pub fn with_options(&self, options: CollectionOptions) -> Collection<T> {
        Collection {
            inner: Arc::new(CollectionInner {
                client: self.inner.client.clone(),
                db: self.inner.db.clone(),
                name: self.inner.name.clone(),
                options: options.or(&self.inner.options),
            }),
            _documents: PhantomData,
        }
    }

    /// The same collection, with documents read and written as `U`.
    pub fn clone_with_type<U: Serialize + DeserializeOwned + Send + Sync>(&self) -> Collection<U> {
        Collection {
            inner: self.inner.clone(),
            _documents: PhantomData,
        }
    }
}
