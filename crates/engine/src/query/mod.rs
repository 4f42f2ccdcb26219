//! The query and update language: filters, updates, projections and sorts over
//! `bson::Document`s, with `mongod`'s semantics.

pub mod array_filters;
pub mod filter;
pub mod path;
pub mod projection;
pub mod sort;
pub mod update;

pub use filter::Filter;
pub use projection::Projection;
pub use sort::SortSpec;
pub use update::{ApplyOptions, Update};
