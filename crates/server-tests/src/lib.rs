//! Tests of `causeway-server` with clients nobody here wrote: the official `mongodb` Rust
//! driver (`tests/rust_driver.rs`) and PyMongo (`tests/pymongo.rs`, running
//! `python/scenarios.py`), plus the measurements of `docs/PERFORMANCE.md` (section "Server, over the wire")
//! (`examples/measure.rs`).
//!
//! The library is only the [`harness`]: it builds and starts the server binary, waits for its
//! `ready:` line, stops it on drop, and provisions a virtual environment with PyMongo.

pub mod harness;
