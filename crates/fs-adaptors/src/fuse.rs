//! `fuse` (issue #5).
