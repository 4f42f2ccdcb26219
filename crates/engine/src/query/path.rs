//! Dotted paths into documents and arrays.
