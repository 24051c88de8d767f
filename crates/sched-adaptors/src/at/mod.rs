//! The `at` scheduler adaptor.
