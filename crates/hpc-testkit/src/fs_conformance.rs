//! FileSystem conformance suite (issue #5).
