//! The body of the `transactions` benches, shared by the one that runs on the system
//! allocator (`transactions.rs`) and the one that runs on mimalloc (`transactions_mimalloc.rs`).
//!
//! The seed's transaction (insert an order; decrement the stock with a `$gte` guard; commit)
//! through `with_transaction` on the embedded replica set, against the same commands sent to
//! the primary's engine directly; with `w: 1` (on a one-member set, so nothing is replicated,
//! and on three members applying as they go) and with `w: "majority"` (zero lag); and the time
//! from `Client::embedded()` to the first answered command.

use bson::{Document, doc};
use causeway::Client;
use causeway::options::WriteConcern;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};

use super::seed::{Fixture, Replication, runtime, seed_transaction};

pub fn one_session(c: &mut Criterion) {
    let mut group = c.benchmark_group("seed_transaction");
    group.throughput(Throughput::Elements(1));
    for replication in Replication::ALL {
        let mut fixture = Fixture::new(replication);
        let label = replication.label();
        group.bench_function(format!("raw_commands_{label}"), |b| {
            b.iter(|| fixture.raw())
        });
        group.bench_function(format!("with_transaction_{label}"), |b| {
            b.iter(|| fixture.with_transaction())
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
