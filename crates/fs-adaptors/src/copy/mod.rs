//! The copy engine: between any two file systems (issue #5).

mod hash;

pub use hash::Hasher;
