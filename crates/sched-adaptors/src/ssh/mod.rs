//! The `ssh` scheduler adaptor (issue #3).
