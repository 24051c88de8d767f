//! Entry points for the PiCaS fuzz targets of `crates/hpc-fuzz`: what a
//! CouchDB server answers and what a user pushes. Not part of the stable
//! interface.

use serde_json::Value;

use crate::couch::{Changes, DbInfo, ViewResult};
use crate::{Counts, DbUrl, InputFormat, Token, parse_tokens};

/// One response body of every kind the client reads; each document in it is
/// read as a token the way the pool and the workers do.
pub fn couch_responses(body: &[u8]) {
    let _ = serde_json::from_slice::<DbInfo>(body);
    crate::couch::private_bodies(body);
    if let Ok(view) = serde_json::from_slice::<ViewResult>(body) {
        let _ = Counts::from_rows(&view.rows).total();
        for doc in view.rows.into_iter().filter_map(|r| r.doc) {
            token(doc);
        }
    }
    if let Ok(changes) = serde_json::from_slice::<Changes>(body) {
        for doc in changes.results.into_iter().filter_map(|c| c.doc) {
            token(doc);
        }
    }
    if let Ok(doc) = serde_json::from_slice::<Value>(body) {
        token(doc);
    }
}

/// Everything the pool and a worker read of a token document.
fn token(doc: Value) {
    let Ok(mut t) = Token::from_value(doc) else {
        return;
    };
    let _ = (t.id(), t.rev(), t.input(), t.command(), t.lock(), t.done(), t.scrub_count());
    let _ = (t.hostname(), t.exit_code(), t.lease(), t.state(), t.errors());
    for name in t.attachment_names() {
        let _ = t.inline_attachment(&name);
    }
    t.scrub("fuzz-host");
    t.reset();
}

/// A token file as `picas push` reads it (both formats) and a database URL.
pub fn user_input(text: &str) {
    for format in [InputFormat::Lines, InputFormat::JsonLines] {
        let _ = parse_tokens(text, format);
    }
    for line in text.lines() {
        if let Ok(url) = DbUrl::parse(line) {
            let _ = (format!("{url} {url:?}"), url.with_db("other"), url.credential());
        }
    }
}
