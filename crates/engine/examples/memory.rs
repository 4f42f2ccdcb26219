//! Memory held per document: inserts 1,000,000 documents of about 100 bytes and compares the
//! growth of resident memory with their raw BSON size.
//!
//! Run with `cargo run --release -p causeway-engine --example memory` (Linux: reads
//! `/proc/self/statm`).

use bson::{Document, doc, oid::ObjectId};
use causeway_engine::Engine;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let engine = Engine::new();
    let before = resident_bytes();
    let mut raw = 0u64;
    runtime.block_on(async {
        for chunk in 0..count.div_ceil(1000) {
            let docs: Vec<Document> = (0..1000.min(count - chunk * 1000))
                .map(|i| {
                    let n = chunk * 1000 + i;
                    doc! {
                        "_id": ObjectId::new(),
                        "sku": format!("SKU-{n:09}"),
                        "name": format!("item name {n:07}"),
                        "qty": (n % 1000) as i32,
                        "price": n as f64 / 100.0,
                    }
                })
                .collect();
            raw += docs
                .iter()
                .map(|d| d.to_vec().map(|v| v.len() as u64).unwrap_or(0))
                .sum::<u64>();
            let reply = engine
                .run_command("bench", doc! {"insert": "items", "documents": docs})
                .await
                .expect("reply");
            assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
        }
    });
    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    println!("documents: {count}");
    println!(
        "raw BSON: {raw} bytes ({:.1} bytes per document)",
        raw as f64 / count as f64
    );
    println!(
        "resident growth: {growth} bytes ({:.1} bytes per document)",
        growth as f64 / count as f64
    );
    println!("ratio: {:.2}x raw BSON", growth as f64 / raw as f64);
}
