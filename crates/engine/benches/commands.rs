//! Command-level throughput of the engine on the system allocator (see `common/commands.rs`;
//! `commands_mimalloc.rs` runs the same on mimalloc, the allocator the docs recommend to
//! applications that embed the engine).
//!
//! Run with `cargo bench -p causeway-engine --bench commands`.

mod common;

criterion::criterion_main!(common::commands::benches);
