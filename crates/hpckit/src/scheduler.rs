//! `open_scheduler(url)` (issue #3, extended by #4).
