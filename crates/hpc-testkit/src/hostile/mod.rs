//! Hostile servers: small tokio servers on 127.0.0.1 that misbehave on
//! purpose, so the network adaptors can be tested against what a broken or
//! malicious server does (an FTP `227` naming another host, an endless
//! listing, an HTTP server that never answers or trickles a byte at a time,
//! WebDAV listings that name other hosts or the same entry twice, UNICORE
//! listings whose keys climb out of the directory, SFTP `READDIR` names
//! that climb, a UFTPD whose listings and replies are hostile, CouchDB answers that claim what did not happen).
//!
//! Each server runs on the caller's tokio runtime, records what it was
//! asked (so a test can check which commands a client used) and stops when
//! dropped.

pub mod couchdb;
pub mod ftp;
pub mod http;
mod listener;
pub mod s3;
pub mod sftp;
pub mod target;
pub mod uftpd;
pub mod unicore;
pub mod webdav;
