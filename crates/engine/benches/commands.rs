//! Command-level throughput of the engine on the system allocator (see `common/commands.rs`;
//! `commands_mimalloc.rs` runs the same on mimalloc, the allocator `causeway-server` uses).
//!
//! Run with `cargo bench -p causeway-engine --bench commands`.

mod common;

criterion::criterion_main!(common::commands::benches);
