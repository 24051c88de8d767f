//! `s3` (issue #5).
