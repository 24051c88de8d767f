//! The `sge` scheduler adaptor (issue #4).
