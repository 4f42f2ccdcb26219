//! The seed transaction, sent both ways the benches compare: as raw commands to the
//! primary's engine, and through `with_transaction`; and the replica sets they run on.

use bson::{Binary, Document, doc, spec::BinarySubtype};
use causeway::options::{ClientOptions, TransactionOptions, WriteConcern};
use causeway::{Client, ClientSession, Collection, ReplicaSet};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
/// The seed transaction as raw commands to an engine.
pub async fn raw_seed_transaction(
    engine: &causeway::engine::Engine,
    lsid: &Document,
    txn_number: i64,
    w: &Document,
) {
    let ok = |reply: Document| assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
    ok(engine
        .run_command("shop", doc! {
            "insert": "orders", "documents": [{"sku": "abc123", "qty": 100}], "ordered": true,
            "lsid": lsid.clone(), "txnNumber": txn_number, "startTransaction": true, "autocommit": false,
        })
        .await
        .expect("reply"));
    ok(engine
        .run_command("shop", doc! {
            "update": "inventory", "ordered": true,
            "updates": [{"q": {"sku": "abc123", "qty": {"$gte": 100}}, "u": {"$inc": {"qty": -100}}, "multi": false, "upsert": false}],
            "lsid": lsid.clone(), "txnNumber": txn_number, "autocommit": false,
        })
        .await
        .expect("reply"));
    ok(engine
        .run_command("admin", doc! {"commitTransaction": 1, "lsid": lsid.clone(), "txnNumber": txn_number, "autocommit": false, "writeConcern": w.clone()})
        .await
        .expect("reply"));
}

/// The seed transaction through `with_transaction`.
pub async fn seed_transaction(
    session: &mut causeway::ClientSession,
    orders: &causeway::Collection<Document>,
    inventory: &causeway::Collection<Document>,
    sku: &str,
    w: &WriteConcern,
) {
    session
        .with_transaction(move |txn| async move {
            txn.collection(orders)
                .insert_one(doc! {"sku": sku, "qty": 100})
                .await?;
            let updated = txn
                .collection(inventory)
                .update_one(
                    doc! {"sku": sku, "qty": {"$gte": 100}},
                    doc! {"$inc": {"qty": -100}},
                )
                .await?;
            assert_eq!(updated.modified_count, 1);
            Ok::<_, causeway::Error>(())
        })
        .options(TransactionOptions {
            write_concern: Some(w.clone()),
            ..Default::default()
        })
        .await
        .expect("committed");
}

/// How the transaction's writes are replicated.
#[derive(Debug, Clone, Copy)]
pub enum Replication {
    /// `w: 1` on a one-member set: nothing is replicated, the primary works alone.
    Alone,
    /// `w: 1`, the secondaries applying as they go.
    W1,
    /// `w: "majority"`, zero lag.
    Majority,
}

impl Replication {
    pub const ALL: [Replication; 3] = [Replication::Alone, Replication::W1, Replication::Majority];

    pub fn label(self) -> &'static str {
        match self {
            Replication::Alone => "w1_one_member",
            Replication::W1 => "w1",
            Replication::Majority => "majority",
        }
    }
}

/// A replica set with the seed's stock, a client and a session on it, in a runtime of its own.
pub struct Fixture {
    rt: tokio::runtime::Runtime,
    set: ReplicaSet,
    session: ClientSession,
    orders: Collection<Document>,
    inventory: Collection<Document>,
    lsid: Document,
    txn_number: i64,
    w: WriteConcern,
    w_doc: Document,
}

impl Fixture {
    pub fn new(replication: Replication) -> Fixture {
        let rt = runtime();
        let set = match replication {
            Replication::Alone => ReplicaSet::builder().members(1).build(),
            Replication::W1 | Replication::Majority => ReplicaSet::default(),
        };
        let client = Client::on_replica_set(set.clone(), ClientOptions::default());
        let shop = client.database("shop");
        let (orders, inventory) = (
            shop.collection::<Document>("orders"),
            shop.collection::<Document>("inventory"),
        );
        let session = rt.block_on(async {
            inventory
                .insert_one(doc! {"sku": "abc123", "qty": i64::MAX / 2})
                .await
                .expect("seed");
            client.start_session().await.expect("session")
        });
        let (w, w_doc) = match replication {
            Replication::Majority => (WriteConcern::majority(), doc! {"w": "majority"}),
            Replication::Alone | Replication::W1 => (WriteConcern::nodes(1), doc! {"w": 1}),
        };
        Fixture {
            rt,
            set,
            session,
            orders,
            inventory,
            lsid: doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![3; 16] }},
            txn_number: 0,
            w,
            w_doc,
        }
    }

    // Each transaction ends by letting the secondaries apply what it wrote, so both ways of
    // sending it pay for its replication (with w: 1 nothing else makes them wait for it, and a
    // backlog would land on whichever measurement runs next).

    /// One seed transaction as raw commands.
    pub fn raw(&mut self) {
        self.txn_number += 1;
        self.rt.block_on(async {
            raw_seed_transaction(self.set.primary(), &self.lsid, self.txn_number, &self.w_doc)
                .await;
            settle(&self.set).await;
        })
    }

    /// One seed transaction through `with_transaction`.
    pub fn with_transaction(&mut self) {
        self.rt.block_on(async {
            seed_transaction(
                &mut self.session,
                &self.orders,
                &self.inventory,
                "abc123",
                &self.w,
            )
            .await;
            settle(&self.set).await;
        })
    }
}

/// Lets the runtime run until every secondary has applied the primary's last commit.
async fn settle(set: &ReplicaSet) {
    let last = set.primary().last_committed();
    tokio::task::yield_now().await;
    while (1..set.len()).any(|m| set.applied(m) < last) {
        tokio::task::yield_now().await;
    }
}
