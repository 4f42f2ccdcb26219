//! The seed transaction through `with_transaction` and as raw commands, on the system
//! allocator (see `common/transactions.rs`; `transactions_mimalloc.rs` runs the same on
//! mimalloc).
//!
//! Run with `cargo bench --bench transactions`.

mod common;

criterion::criterion_main!(common::transactions::benches);
