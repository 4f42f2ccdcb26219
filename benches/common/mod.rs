//! Code shared by the bench targets.

pub mod seed;
pub mod transactions;
