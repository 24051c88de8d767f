//! Hostile servers: small tokio servers on 127.0.0.1 that misbehave on
//! purpose, so the network adaptors can be tested against what a broken or
//! malicious server does (an FTP `227` naming another host, an endless
//! listing, an HTTP server that never answers or trickles a byte at a time,
//! WebDAV listings that name other hosts or the same entry twice).
//!
//! Each server runs on the caller's tokio runtime, records what it was
//! asked (so a test can check which commands a client used) and stops when
//! dropped.

pub mod ftp;
pub mod http;
pub mod s3;
pub mod webdav;
