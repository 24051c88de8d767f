//! `sftp` (issue #5).
