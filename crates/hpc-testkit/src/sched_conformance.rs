//! Scheduler conformance suite (issue #3).
