//! Transports: how a command document reaches a server and its reply comes back. The session
//! logic above them is the same for every transport; they differ only in how bytes move.

mod embedded;

use bson::Document;

pub(crate) use embedded::Embedded;

use crate::errors::Result;
use crate::options::ReadPreference;

/// The transport of a client.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// An in-process engine.
    Embedded(Embedded),
}

impl Transport {
    /// Runs a command on the member the read preference selects (the primary if `None`).
    /// A closed connection is a network error.
    pub async fn run(
        &self,
        db: &str,
        command: Document,
        selection: Option<&ReadPreference>,
        unacknowledged: bool,
    ) -> Result<Document> {
        match self {
            Transport::Embedded(e) => e.run(db, command, selection, unacknowledged).await,
        }
    }
}
