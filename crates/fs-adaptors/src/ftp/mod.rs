//! `ftp` (issue #5).
