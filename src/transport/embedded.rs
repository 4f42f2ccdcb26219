//! The embedded transport: commands go to an in-process engine, as documents, with no
//! encoding and no network.

use bson::{Document, doc};
use causeway_engine::{ClientInfo, Engine};

use crate::errors::{Error, Result};
use crate::options::ReadPreference;

/// An in-process engine behind the transport interface.
#[derive(Debug, Clone)]
pub(crate) struct Embedded {
    engine: Engine,
    client_info: ClientInfo,
    address: String,
}

impl Embedded {
    pub fn new(engine: Engine, app_name: Option<String>) -> Embedded {
        let address = engine.node_info().me;
        Embedded {
            engine,
            client_info: ClientInfo {
                app_name,
                connection_id: None,
            },
            address,
        }
    }

    pub fn with_app_name(&self, app_name: Option<String>) -> Embedded {
        Embedded::new(self.engine.clone(), app_name)
    }

    pub fn server_for(&self, _selection: Option<&ReadPreference>) -> String {
        self.address.clone()
    }

    pub async fn run(
        &self,
        db: &str,
        command: Document,
        _selection: Option<&ReadPreference>,
        unacknowledged: bool,
    ) -> Result<Document> {
        let reply = self
            .engine
            .run_command_as(&self.client_info, db, command)
            .await
            .map_err(|_| Error::network("the connection closed without a reply"))?;
        if unacknowledged {
            // The client asked for no acknowledgment: whatever happened is not reported.
            return Ok(doc! {"ok": 1.0});
        }
        Ok(reply)
    }
}
