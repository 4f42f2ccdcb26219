//! The body of the `transactions` benches, shared by the one that runs on the system
//! allocator (`transactions.rs`) and the one that runs on mimalloc (`transactions_mimalloc.rs`).
//!
//! The seed's transaction (insert an order; decrement the stock with a `$gte` guard; commit)
//! through `with_transaction` on the embedded replica set, against the same commands sent to
//! the primary's engine directly; with `w: 1` and with `w: "majority"` (zero lag); and the
//! time from `Client::embedded()` to the first answered command.

use bson::{Binary, Document, doc, spec::BinarySubtype};
use causeway::options::{ClientOptions, TransactionOptions, WriteConcern};
use causeway::{Client, ReplicaSet};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The seed transaction as raw commands to an engine.
async fn raw_seed_transaction(
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
async fn seed_transaction(
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

pub fn one_session(c: &mut Criterion) {
    let mut group = c.benchmark_group("seed_transaction");
    group.throughput(Throughput::Elements(1));
    for (label, w, w_doc) in [
        ("w1", WriteConcern::nodes(1), doc! {"w": 1}),
        ("majority", WriteConcern::majority(), doc! {"w": "majority"}),
    ] {
        // A runtime per configuration: with w: 1 nothing waits for the secondaries, so their
        // replication tasks queue work that must not run during the next measurement.
        let rt = runtime();
        let set = ReplicaSet::default();
        let client = Client::on_replica_set(set.clone(), ClientOptions::default());
        let shop = client.database("shop");
        let (orders, inventory) = (
            shop.collection::<Document>("orders"),
            shop.collection::<Document>("inventory"),
        );
        let mut session = rt.block_on(async {
            inventory
                .insert_one(doc! {"sku": "abc123", "qty": i64::MAX / 2})
                .await
                .expect("seed");
            client.start_session().await.expect("session")
        });
        let lsid = doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![3; 16] }};
        let mut txn_number = 0;
        group.bench_function(format!("raw_commands_{label}"), |b| {
            b.iter(|| {
                txn_number += 1;
                rt.block_on(raw_seed_transaction(
                    set.primary(),
                    &lsid,
                    txn_number,
                    &w_doc,
                ))
            })
        });
        group.bench_function(format!("with_transaction_{label}"), |b| {
            b.iter(|| {
                rt.block_on(seed_transaction(
                    &mut session,
                    &orders,
                    &inventory,
                    "abc123",
                    &w,
                ))
            })
        });
    }
    group.finish();
}

pub fn eight_sessions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::embedded();
    let shop = client.database("shop");
    let (orders, inventory) = (
        shop.collection::<Document>("orders"),
        shop.collection::<Document>("inventory"),
    );
    rt.block_on(async {
        for i in 0..8 {
            inventory
                .insert_one(doc! {"sku": format!("sku{i}"), "qty": i64::MAX / 2})
                .await
                .expect("seed");
        }
    });
    let mut group = c.benchmark_group("seed_transaction");
    const PER_TASK: u64 = 100;
    group.throughput(Throughput::Elements(8 * PER_TASK));
    group.bench_function("with_transaction_8_sessions", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..8)
                    .map(|i| {
                        let (client, orders, inventory) =
                            (client.clone(), orders.clone(), inventory.clone());
                        tokio::spawn(async move {
                            let sku = format!("sku{i}");
                            let mut session = client.start_session().await.expect("session");
                            for _ in 0..PER_TASK {
                                seed_transaction(
                                    &mut session,
                                    &orders,
                                    &inventory,
                                    &sku,
                                    &WriteConcern::majority(),
                                )
                                .await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
            })
        })
    });
    group.finish();
}

pub fn startup(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("embedded_client_to_first_reply", |b| {
        b.iter_batched(
            || (),
            |()| {
                rt.block_on(async {
                    let client = Client::embedded();
                    client
                        .database("admin")
                        .run_command(doc! {"ping": 1})
                        .await
                        .expect("pong");
                })
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, one_session, eight_sessions, startup);
