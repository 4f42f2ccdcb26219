//! Helpers for command-level tests: an engine, sessions, and reply accessors.
#![allow(dead_code)]

use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use causeway_engine::Engine;

/// Runs a command and returns the reply (panics if the connection closed).
pub async fn run(engine: &Engine, db: &str, cmd: Document) -> Document {
    engine
        .run_command(db, cmd)
        .await
        .expect("the engine replied")
}

/// Runs a command and returns its reply, which must be `ok: 1`.
pub async fn run_ok(engine: &Engine, db: &str, cmd: Document) -> Document {
    let name = cmd.keys().next().cloned().unwrap_or_default();
    let reply = run(engine, db, cmd).await;
    assert!(ok(&reply), "expected ok: 1 from {name}, got {reply}");
    reply
}

/// Whether the reply is `ok: 1`.
pub fn ok(reply: &Document) -> bool {
    matches!(reply.get("ok"), Some(Bson::Double(v)) if *v == 1.0)
}

/// Asserts `ok: 1` and returns the reply.
#[track_caller]
pub fn assert_ok(reply: Document) -> Document {
    assert!(ok(&reply), "expected ok: 1, got {reply}");
    reply
}

/// The `codeName` of an error reply.
pub fn code_name(reply: &Document) -> Option<&str> {
    reply.get_str("codeName").ok()
}

/// The `errorLabels` of a reply.
pub fn labels(reply: &Document) -> Vec<String> {
    reply
        .get_array("errorLabels")
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The documents of a cursor reply's first batch.
pub fn first_batch(reply: &Document) -> Vec<Document> {
    reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map(|a| a.iter().filter_map(|d| d.as_document().cloned()).collect())
        .unwrap_or_else(|_| panic!("not a cursor reply: {reply}"))
}

/// Every document of `db.coll` matching `filter`, sorted by `_id`.
pub async fn find_all(engine: &Engine, db: &str, coll: &str, filter: Document) -> Vec<Document> {
    let reply = assert_ok(
        run(
            engine,
            db,
            doc! {"find": coll, "filter": filter, "sort": {"_id": 1}, "batchSize": 100_000},
        )
        .await,
    );
    first_batch(&reply)
}

/// A logical session: an `lsid` and its transaction numbers.
pub struct Session {
    pub lsid: Document,
    pub txn_number: i64,
    started: bool,
}

impl Session {
    pub fn new(seed: u8) -> Session {
        let mut bytes = vec![seed; 16];
        bytes[0] = 0xca;
        Session {
            lsid: doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes }},
            txn_number: 0,
            started: false,
        }
    }

    /// Starts the next transaction: the next command gets `startTransaction`.
    pub fn start(&mut self) {
        self.txn_number += 1;
        self.started = false;
    }

    /// Adds the transaction fields to a command of the current transaction.
    pub fn in_txn(&mut self, mut cmd: Document) -> Document {
        cmd.insert("lsid", self.lsid.clone());
        cmd.insert("txnNumber", self.txn_number);
        if !self.started {
            cmd.insert("startTransaction", true);
            self.started = true;
        }
        cmd.insert("autocommit", false);
        cmd
    }

    /// Runs a command of the current transaction on `db` and requires it to succeed.
    pub async fn ok_in_txn(&mut self, engine: &Engine, db: &str, cmd: Document) -> Document {
        run_ok(engine, db, self.in_txn(cmd)).await
    }

    pub fn commit(&mut self) -> Document {
        self.in_txn(doc! {"commitTransaction": 1})
    }

    pub fn abort(&mut self) -> Document {
        self.in_txn(doc! {"abortTransaction": 1})
    }

    /// A retryable write: the command with `lsid` and a `txnNumber`.
    pub fn retryable(&self, mut cmd: Document, txn_number: i64) -> Document {
        cmd.insert("lsid", self.lsid.clone());
        cmd.insert("txnNumber", txn_number);
        cmd
    }
}
