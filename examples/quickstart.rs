//! The seed's transaction on the embedded engine: insert an order and take the stock from the
//! inventory, all or nothing — once with a scoped transaction (commit, or abort when the
//! handle is dropped) and once with `with_transaction` (commit on `Ok`, abort on `Err`, retry
//! on transient errors).
//!
//! Run with `cargo run --example quickstart`.

use bson::{Document, doc};
use causeway::Client;
use futures_util::TryStreamExt;

#[tokio::main]
async fn main() -> causeway::Result<()> {
    let client = Client::embedded();
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
    client.shutdown().await;
    Ok(())
}
