//! `copy` (issue #5).
