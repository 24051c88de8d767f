//! `local` (issue #5).
