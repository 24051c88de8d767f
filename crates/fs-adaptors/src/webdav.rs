//! `webdav` (issue #5).
