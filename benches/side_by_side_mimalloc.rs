//! The comparison of `side_by_side.rs`, with mimalloc as the global allocator.
//!
//! Run with `cargo bench --bench side_by_side_mimalloc`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/seed.rs"]
mod seed;
#[path = "common/side_by_side.rs"]
mod side_by_side;

fn main() {
    side_by_side::run("mimalloc");
}
