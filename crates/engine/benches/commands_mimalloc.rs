//! The same benches as `commands.rs`, with mimalloc as the global allocator (the one the docs
//! recommend to applications that embed the engine).
//!
//! Run with `cargo bench -p causeway-engine --bench commands_mimalloc`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

criterion::criterion_main!(common::commands::benches);
