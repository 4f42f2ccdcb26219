//! The seed transaction as raw commands and through `with_transaction`, side by side in one
//! run, on the system allocator (see `common/side_by_side.rs`; `side_by_side_mimalloc.rs` runs
//! the same on mimalloc).
//!
//! Run with `cargo bench --bench side_by_side`.

#[path = "common/seed.rs"]
mod seed;
#[path = "common/side_by_side.rs"]
mod side_by_side;

fn main() {
    side_by_side::run("system allocator");
}
