//! The Grid Engine adaptor (`sge://`, `sge+ssh://user@host`).
//!
//! Only the parsers are compiled for now: the backend (`backend.rs`,
//! `config.rs`, `script.rs`) builds on the shared batch module that lands
//! next.
#![allow(dead_code, reason = "parsers are used by the backend, registered once crate::batch lands")]

mod parse;
