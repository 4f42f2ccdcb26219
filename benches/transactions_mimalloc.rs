//! The same benches as `transactions.rs`, with mimalloc as the global allocator: the
//! configuration the documentation recommends for applications that embed the replica set
//! (glibc's allocator loses up to half the throughput on replicated writes; see
//! `docs/PERFORMANCE.md`).
//!
//! Run with `cargo bench --bench transactions_mimalloc`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

criterion::criterion_main!(common::transactions::benches);
