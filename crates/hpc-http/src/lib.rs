//! One pooled HTTP client for hpckit (issue #5).
#![deny(missing_docs)]
