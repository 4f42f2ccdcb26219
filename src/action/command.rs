//! `run_command` and `list_collection_names`.

use std::future::IntoFuture;

use bson::{Bson, Document, doc};

use super::{Binding, BoxFuture};
use crate::database::Database;
use crate::errors::{Error, Result};
use crate::operation::{OpKind, Operation};
use crate::options::ReadPreference;

/// Runs a command as given. Await it for the reply.
#[must_use = "the operation runs when awaited"]
pub struct RunCommand<'a> {
    db: &'a Database,
    command: Document,
    session: Binding<'a>,
    read_preference: Option<ReadPreference>,
}

impl<'a> RunCommand<'a> {
    pub(crate) fn new(db: &'a Database, command: Document) -> RunCommand<'a> {
        RunCommand {
            db,
            command,
            session: Binding::default(),
            read_preference: None,
        }
    }

    /// Runs the command in `session` (and in its transaction, if one is open).
    pub fn session(mut self, session: &'a mut crate::session::ClientSession) -> Self {
        self.session = Binding::session(session);
        self
    }

    pub(crate) fn in_transaction(mut self, txn: &'a crate::session::Txn) -> Self {
        self.session = Binding::transaction(txn);
        self
    }

    /// Where the command runs (inside a transaction only the primary is allowed).
    pub fn read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.read_preference = Some(read_preference);
        self
    }
}

impl<'a> IntoFuture for RunCommand<'a> {
    type Output = Result<Document>;
    type IntoFuture = BoxFuture<'a, Result<Document>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.command.is_empty() {
                return Err(Error::invalid_argument(
                    "run_command needs a command document",
                ));
            }
            let mut op = Operation::new(self.db.name.clone(), self.command, OpKind::Raw);
            op.explicit_read_preference = self.read_preference.clone();
            op.read_preference = self.read_preference;
            self.db.client.execute(op, self.session.0).await
        })
    }
}

/// Lists the collection names of a database. Await it.
#[must_use = "the operation runs when awaited"]
pub struct ListCollectionNames<'a> {
    db: &'a Database,
    filter: Document,
    session: Binding<'a>,
}

impl<'a> ListCollectionNames<'a> {
    pub(crate) fn new(db: &'a Database) -> ListCollectionNames<'a> {
        ListCollectionNames {
            db,
            filter: Document::new(),
            session: Binding::default(),
        }
    }

    /// Only collections whose `listCollections` entry matches.
    pub fn filter(mut self, filter: Document) -> Self {
        self.filter = filter;
        self
    }

    /// Runs the operation in `session`.
    pub fn session(mut self, session: &'a mut crate::session::ClientSession) -> Self {
        self.session = Binding::session(session);
        self
    }
}

impl<'a> IntoFuture for ListCollectionNames<'a> {
    type Output = Result<Vec<String>>;
    type IntoFuture = BoxFuture<'a, Result<Vec<String>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let command = doc! {"listCollections": 1, "filter": self.filter, "nameOnly": true, "cursor": {"batchSize": 100_000}};
            let op = Operation::new(self.db.name.clone(), command, OpKind::Read);
            let reply = self.db.client.execute(op, self.session.0).await?;
            let batch = reply
                .get_document("cursor")
                .and_then(|c| c.get_array("firstBatch"))
                .map_err(|_| {
                    Error::invalid_response("a listCollections reply without cursor.firstBatch")
                })?;
            Ok(batch
                .iter()
                .filter_map(|entry| match entry {
                    Bson::Document(d) => d.get_str("name").ok().map(str::to_owned),
                    _ => None,
                })
                .collect())
        })
    }
}
