//! The `at` scheduler adaptor (issue #4).
