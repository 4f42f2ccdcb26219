//! Helpers for the integration tests: a client whose commands are recorded, and fail points.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use bson::{Document, doc};
use causeway::events::{CommandEvent, EventHandler};
use causeway::options::ClientOptions;
use causeway::{Client, Collection};

/// The commands a client sent, in order.
#[derive(Clone, Default)]
pub struct Sent(Arc<Mutex<Vec<Document>>>);

impl Sent {
    /// Every command sent, with its session fields.
    pub fn all(&self) -> Vec<Document> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The commands with this name.
    pub fn named(&self, name: &str) -> Vec<Document> {
        self.all()
            .into_iter()
            .filter(|c| c.keys().next().map(String::as_str) == Some(name))
            .collect()
    }

    /// The names of the commands sent, in order.
    pub fn names(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|c| c.keys().next().cloned())
            .collect()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

/// An embedded client that records every command it sends (fail point set-up excluded).
pub fn recorded_client() -> (Client, Sent) {
    let sent = Sent::default();
    let sink = sent.clone();
    let handler = EventHandler::new(move |event: &CommandEvent| {
        if let CommandEvent::Started(started) = event
            && started.command_name != "configureFailPoint"
            && let Ok(mut v) = sink.0.lock()
        {
            v.push(started.command.clone());
        }
    });
    let client = Client::embedded_with(ClientOptions {
        command_event_handler: Some(handler),
        ..Default::default()
    });
    (client, sent)
}

/// Sets the `failCommand` fail point.
pub async fn fail_point(client: &Client, mode: bson::Bson, data: Document) {
    client
        .database("admin")
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": mode, "data": data})
        .await
        .expect("the fail point is set");
}

/// `{times: n}`.
pub fn times(n: i32) -> bson::Bson {
    bson::Bson::Document(doc! {"times": n})
}

/// Every document of a collection, by `_id`.
pub async fn contents(coll: &Collection<Document>) -> Vec<Document> {
    use futures_util::TryStreamExt;
    coll.find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor")
}
