//! causeway: MongoDB logical sessions done right.
//!
//! This crate is at its beginning: today it re-exports the embedded engine,
//! [`causeway_engine`], on which the client API is being built.

pub use causeway_engine as engine;
