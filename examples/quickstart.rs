//! The seed's two examples on the embedded replica set (a primary and two secondaries, one of
//! them 300 ms behind):
//!
//! 1. causally consistent reads: a write on the primary, then a read of the same document
//!    from the lagging secondary — stale without causal consistency, and waiting for the write
//!    with it (the default);
//! 2. the transaction: insert an order and take the stock from the inventory, all or nothing —
//!    once as a scoped transaction (commit, or abort when the handle is dropped) and once with
//!    `with_transaction` (commit on `Ok`, abort on `Err`, retry on transient errors).
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use bson::{Document, doc};
use causeway::options::{ClientOptions, ReadPreference, SelectionCriteria};
use causeway::{Client, CollectionOptions, ReplicaSet};
use futures_util::TryStreamExt;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> causeway::Result<()> {
    let set = ReplicaSet::builder()
        .members(3)
        .lag(1, Duration::from_millis(300))
        .tags(1, doc! {"role": "lagging"})
        .build();
    let client = Client::on_replica_set(set, ClientOptions::default());

    causal_reads(&client).await?;
    transactions(&client).await?;

    client.shutdown().await;
    Ok(())
}

/// The seed's first example: `update_one` on the primary, then `find_one` on a secondary.
async fn causal_reads(client: &Client) -> causeway::Result<()> {
    let collection = client.database("db").collection::<Document>("collection");
    let lagging_secondary = collection.with_options(CollectionOptions {
        read_preference: Some(ReadPreference::Secondary(SelectionCriteria {
            tag_sets: vec![doc! {"role": "lagging"}],
            max_staleness: None,
        })),
        ..Default::default()
    });

    for causal in [false, true] {
        let mut session = client.start_session().causal_consistency(causal).await?;
        let x = if causal { 20 } else { 10 };
        collection
            .update_one(doc! {"_id": 1}, doc! {"$set": {"x": x}})
            .upsert(true)
            .session(&mut session)
            .await?;
        let started = Instant::now();
        let seen = lagging_secondary
            .find_one(doc! {"_id": 1})
            .session(&mut session)
            .await?;
        let waited = started.elapsed();
        let outcome = match seen.as_ref().and_then(|d| d.get_i32("x").ok()) {
            Some(value) if value == x => format!("saw the write (x = {value})"),
            Some(value) => format!("saw a stale value (x = {value})"),
            None => "saw nothing yet: the document has not replicated".to_owned(),
        };
        println!(
            "causal_consistency({causal}): the read on the secondary 300 ms behind waited {:.0} ms and {outcome}",
            waited.as_secs_f64() * 1000.0
        );
        session.end().await;
    }
    Ok(())
}

/// The seed's second example: the orders / inventory transaction.
async fn transactions(client: &Client) -> causeway::Result<()> {
    let shop = client.database("shop");
    let orders = shop.collection::<Document>("orders");
    let inventory = shop.collection::<Document>("inventory");
    inventory
        .insert_one(doc! {"sku": "abc123", "qty": 200})
        .await?;

    let mut session = client.start_session().await?;

    // 1. A scoped transaction, as in the seed: commit at the end of the block.
    let txn = session.start_transaction().await?;
    txn.collection(&orders)
        .insert_one(doc! {"sku": "abc123", "qty": 100})
        .await?;
    txn.collection(&inventory)
        .update_one(
            doc! {"sku": "abc123", "qty": {"$gte": 100}},
            doc! {"$inc": {"qty": -100}},
        )
        .await?;
    txn.commit().await?;
    println!("scoped transaction committed");

    // 2. The same with with_transaction: the body may run again on a transient error.
    let (orders_ref, inventory_ref) = (&orders, &inventory);
    let order_id = session
        .with_transaction(move |txn| async move {
            let order = txn
                .collection(orders_ref)
                .insert_one(doc! {"sku": "abc123", "qty": 100})
                .await?;
            txn.collection(inventory_ref)
                .update_one(
                    doc! {"sku": "abc123", "qty": {"$gte": 100}},
                    doc! {"$inc": {"qty": -100}},
                )
                .await?;
            Ok::<_, causeway::Error>(order.inserted_id)
        })
        .await?;
    println!("with_transaction committed order {order_id}");

    let all_orders: Vec<Document> = orders.find(doc! {}).await?.try_collect().await?;
    let stock: Vec<Document> = inventory.find(doc! {}).await?.try_collect().await?;
    println!("orders:");
    for order in &all_orders {
        println!("  {order}");
    }
    println!("inventory:");
    for item in &stock {
        println!("  {item}");
    }
    session.end().await;
    Ok(())
}
