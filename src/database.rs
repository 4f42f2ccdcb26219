//! Databases.

use bson::Document;
use serde::{Serialize, de::DeserializeOwned};

use crate::action::{ListCollectionNames, RunCommand};
use crate::client::Client;
use crate::collection::Collection;
use crate::options::{ReadConcern, ReadPreference, WriteConcern};

/// The read preference, read concern and write concern of a database or collection handle;
/// unset fields are inherited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionOptions {
    /// Where reads go.
    pub read_preference: Option<ReadPreference>,
    /// How current reads must be.
    pub read_concern: Option<ReadConcern>,
    /// What acknowledges a write.
    pub write_concern: Option<WriteConcern>,
}

impl CollectionOptions {
    /// Fills unset fields from `parent`.
    pub(crate) fn or(&self, parent: &CollectionOptions) -> CollectionOptions {
        CollectionOptions {
            read_preference: self
                .read_preference
                .clone()
                .or_else(|| parent.read_preference.clone()),
            read_concern: self
                .read_concern
                .clone()
                .or_else(|| parent.read_concern.clone()),
            write_concern: self
                .write_concern
                .clone()
                .or_else(|| parent.write_concern.clone()),
        }
    }
}

/// A handle to a database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) client: Client,
    pub(crate) name: String,
    pub(crate) options: CollectionOptions,
}

impl Database {
    pub(crate) fn new(client: Client, name: &str) -> Database {
        let options = CollectionOptions {
            read_preference: client.options().read_preference.clone(),
            read_concern: client.options().read_concern.clone(),
            write_concern: client.options().write_concern.clone(),
        };
        Database {
            client,
            name: name.to_owned(),
            options,
        }
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The options in effect (the client's, overridden by [`Database::with_options`]).
    pub fn options(&self) -> &CollectionOptions {
        &self.options
    }

    /// The same database with some options replaced.
    pub fn with_options(&self, options: CollectionOptions) -> Database {
        Database {
            client: self.client.clone(),
            name: self.name.clone(),
            options: options.or(&self.options),
        }
    }

    /// A collection of documents of type `T` (`bson::Document` for untyped access).
    pub fn collection<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        name: &str,
    ) -> Collection<T> {
        Collection::new(self, name)
    }

    /// Runs a command as given (the session fields are added, nothing else).
    pub fn run_command(&self, command: Document) -> RunCommand<'_> {
        RunCommand::new(self, command)
    }

    /// The names of the collections.
    pub fn list_collection_names(&self) -> ListCollectionNames<'_> {
        ListCollectionNames::new(self)
    }
}
