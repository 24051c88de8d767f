//! `open_filesystem(url)` (issue #5).
