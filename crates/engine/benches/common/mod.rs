//! Code shared by the bench targets.

pub mod commands;
