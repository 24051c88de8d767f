//! The `local` scheduler adaptor (issue #3).
