//! The body of the `commands` benches, shared by the one on the system allocator
//! (`commands.rs`) and the one on mimalloc (`commands_mimalloc.rs`).
//!
//! Command-level throughput of the engine: inserts, point reads by `_id` and by an indexed
//! field, and the seed transaction (insert an order; decrement stock with a `$gte` guard;
//! commit).
//!
//! Each sample's iterations run inside one `block_on` of a current-thread runtime (criterion's
//! async bencher), as an application's tasks run inside its runtime, rather than entering the
//! runtime again for every command.

use bson::{Binary, Document, RawDocumentBuf, doc, spec::BinarySubtype};
use causeway_engine::request::SessionArguments;
use causeway_engine::session::SessionKey;
use causeway_engine::{ClientInfo, Engine};
use criterion::{Criterion, Throughput, criterion_group};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

async fn run(engine: &Engine, db: &str, cmd: Document) -> Document {
    let reply = engine.run_command(db, cmd).await.expect("reply");
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
    reply
}

pub fn crud(c: &mut Criterion) {
    let rt = runtime();
    let engine = Engine::new();
    rt.block_on(async {
        for chunk in 0..10 {
            let docs: Vec<Document> = (0..1000).map(|i| doc! {"_id": chunk * 1000 + i, "sku": format!("sku{}", chunk * 1000 + i), "qty": i}).collect();
            run(&engine, "bench", doc! {"insert": "items", "documents": docs}).await;
        }
        run(&engine, "bench", doc! {"createIndexes": "items", "indexes": [{"key": {"sku": 1}, "name": "sku_1"}]}).await;
    });
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let mut next = 1_000_000;
    let engine = &engine;
    group.bench_function("insert", |b| {
        b.to_async(&rt).iter(|| {
            next += 1;
            run(
                engine,
                "bench",
                doc! {"insert": "fresh", "documents": [{"_id": next, "sku": "x", "qty": 1}]},
            )
        })
    });
    let mut i = 0;
    group.bench_function("find_by_id", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7919) % 10_000;
            run(
                engine,
                "bench",
                doc! {"find": "items", "filter": {"_id": i}},
            )
        })
    });
    group.bench_function("find_by_indexed_field", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7919) % 10_000;
            run(
                engine,
                "bench",
                doc! {"find": "items", "filter": {"sku": format!("sku{i}")}},
            )
        })
    });
    group.finish();
}

/// An engine holding the seed's stock, indexed by `sku`.
fn seed_engine(rt: &tokio::runtime::Runtime) -> Engine {
    let engine = Engine::new();
    rt.block_on(async {
        run(
            &engine,
            "shop",
            doc! {"insert": "inventory", "documents": [{"sku": "abc123", "qty": i64::MAX / 2}]},
        )
        .await;
        run(
            &engine,
            "shop",
            doc! {"createIndexes": "inventory", "indexes": [{"key": {"sku": 1}, "name": "sku_1"}]},
        )
        .await;
    });
    engine
}

/// Step `step` (0, 1 or 2) of the seed transaction numbered `txn_number`: its database and
/// command, session fields included (insert an order; decrement the stock with a `$gte`
/// guard; commit).
fn seed_command(step: usize, lsid: &Document, txn_number: i64) -> (&'static str, Document) {
    match step {
        0 => (
            "shop",
            doc! {
                "insert": "orders", "documents": [{"sku": "abc123", "qty": 100}],
                "lsid": lsid.clone(), "txnNumber": txn_number, "startTransaction": true, "autocommit": false,
            },
        ),
        1 => (
            "shop",
            doc! {
                "update": "inventory",
                "updates": [{"q": {"sku": "abc123", "qty": {"$gte": 100}}, "u": {"$inc": {"qty": -100}}}],
                "lsid": lsid.clone(), "txnNumber": txn_number, "autocommit": false,
            },
        ),
        _ => (
            "admin",
            doc! {"commitTransaction": 1, "lsid": lsid.clone(), "txnNumber": txn_number, "autocommit": false},
        ),
    }
}

/// The step of the seed transaction whose reply says how many documents it modified.
const UPDATE_STEP: usize = 1;

/// How a bench of the wire-shaped seed transaction takes its replies.
#[derive(Clone, Copy)]
enum Replies {
    /// As documents with the times inserted (`Engine::run_command`).
    Documents,
    /// Encoded as BSON (`Engine::run_command_encoded`, as `causeway-server` answers over the
    /// wire), read from the bytes as a driver reads them.
    Encoded,
}

/// Checks an encoded reply says `ok: 1`; returns its `nModified`, if it has one.
fn n_modified_of_encoded(reply: &RawDocumentBuf) -> Option<i32> {
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply:?}");
    reply.get_i32("nModified").ok()
}

/// The seed transaction with its session fields inside each command, as a driver sends it,
/// replies taken as `replies` says.
fn wire_seed_transaction(c: &mut Criterion, name: &str, replies: Replies) {
    let rt = runtime();
    let engine = seed_engine(&rt);
    let client = ClientInfo::default();
    let lsid = doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![9; 16] }};
    let mut txn_number = 0_i64;
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let (engine, client, lsid) = (&engine, &client, &lsid);
    group.bench_function(name, |b| {
        b.to_async(&rt).iter(|| {
            txn_number += 1;
            let txn_number = txn_number;
            async move {
                for step in 0..3 {
                    let (db, command) = seed_command(step, lsid, txn_number);
                    // Awaited in place (no layer of its own), as the benches did apart.
                    let modified = match replies {
                        Replies::Documents => {
                            run(engine, db, command).await.get_i32("nModified").ok()
                        }
                        Replies::Encoded => n_modified_of_encoded(
                            &engine
                                .run_command_encoded(client, db, command)
                                .await
                                .expect("reply"),
                        ),
                    };
                    if step == UPDATE_STEP {
                        assert_eq!(modified, Some(1));
                    }
                }
            }
        })
    });
    group.finish();
}

/// The seed transaction, replies as documents.
pub fn seed_transaction(c: &mut Criterion) {
    wire_seed_transaction(c, "seed_transaction", Replies::Documents);
}

/// The seed transaction through `Engine::run_with_session`, the embedded client's path: the
/// same command documents without their session fields, which travel as values, and replies
/// whose times come back as values instead of fields. Not the wire's shape (the reply lacks
/// `operationTime` and `$clusterTime`), so not the figure the command-level target is held to.
pub fn seed_transaction_session_values(c: &mut Criterion) {
    let rt = runtime();
    let engine = seed_engine(&rt);
    let client = ClientInfo::default();
    let mut txn_number = 0_i64;
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let (engine, client) = (&engine, &client);
    group.bench_function("seed_transaction_session_values", |b| {
        b.to_async(&rt).iter(|| {
            txn_number += 1;
            let session = move |start_transaction| SessionArguments {
                lsid: Some(SessionKey::from_uuid([9; 16])),
                txn_number: Some(txn_number),
                autocommit: Some(false),
                start_transaction,
                ..SessionArguments::default()
            };
            async move {
                let ok = |reply: &Document| assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
                let insert = doc! {"insert": "orders", "documents": [{"sku": "abc123", "qty": 100}]};
                let response = engine.run_with_session(client, "shop", insert, session(true)).await.expect("reply");
                ok(&response.reply);
                let update = doc! {
                    "update": "inventory",
                    "updates": [{"q": {"sku": "abc123", "qty": {"$gte": 100}}, "u": {"$inc": {"qty": -100}}}],
                };
                let response = engine.run_with_session(client, "shop", update, session(false)).await.expect("reply");
                assert_eq!(response.reply.get_i32("nModified").ok(), Some(1));
                let commit = doc! {"commitTransaction": 1};
                let response = engine.run_with_session(client, "admin", commit, session(false)).await.expect("reply");
                ok(&response.reply);
            }
        })
    });
    group.finish();
}

/// The seed transaction as `seed_transaction` sends it, with the replies encoded as BSON
/// instead of returned as documents: the reply `mongod` sends, and the figure the
/// command-level target is held to.
pub fn seed_transaction_encoded(c: &mut Criterion) {
    wire_seed_transaction(c, "seed_transaction_encoded", Replies::Encoded);
}

criterion_group!(
    benches,
    crud,
    seed_transaction,
    seed_transaction_encoded,
    seed_transaction_session_values
);
