//! The CouchDB client and the claimer against hpc-testkit's hostile HTTP
//! server: `_bulk_docs` answers that claim tokens that were not sent, or
//! revisions that cannot follow the sent ones, saved-document answers naming
//! another document, endless or huge answers, and malformed JSON. No token
//! counts as written when it was not, and no answer is buffered without bound.

use std::time::Duration;

use hpc_core::{ErrorKind, Result};
use hpc_http::RetryConfig;
use hpc_testkit::hostile::couchdb::{bulk_written, saved};
use hpc_testkit::hostile::http::{Answer, HttpServer, RequestHead};
use hpc_testkit::hostile::target::one_line;
use picas_tokens::{Claimer, CouchConfig, CouchDb, DbUrl, Token, TokenPool, WriteOutcome};
use serde_json::json;

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn serve(answer: Answer) -> HttpServer {
    HttpServer::start(move |_: &RequestHead| answer.clone()).await
}

fn db(server: &HttpServer) -> CouchDb {
    let url = DbUrl::parse(&format!("http://{}/tokens", server.authority())).unwrap();
    let config =
        CouchConfig { retry: RetryConfig::none(), max_answer: 1 << 20, ..CouchConfig::default() };
    CouchDb::with_config(url, config).unwrap()
}

/// Token `t1` at revision 3, run to its end: the result a worker writes.
fn finished() -> Token {
    let mut t = Token::new("t1", json!({"n": 1}));
    t.set_rev("3-aaa");
    t.finish(0, 1_700_000_000);
    t
}

async fn within<T>(what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(HANG, f).await.unwrap_or_else(|_| panic!("{what} hangs"))
}

#[tokio::test]
async fn a_bulk_answer_for_other_tokens_marks_nothing_done() {
    for (answer, why) in [
        (bulk_written(&[("t9", "4-bbb")]), "names \"t9\""),
        (bulk_written(&[("t1", "1-bbb")]), "revision \"1-bbb\" after \"3-aaa\""),
        (bulk_written(&[("t1", "5-bbb")]), "revision \"5-bbb\" after \"3-aaa\""),
        (bulk_written(&[("t1", "")]), "revision \"\""),
        (bulk_written(&[("t1", "4-bbb"), ("t2", "1-ccc")]), "2 answers for 1 documents"),
        (bulk_written(&[]), "0 answers for 1 documents"),
    ] {
        let server = serve(answer).await;
        let mut claimer = Claimer::new(TokenPool::new(db(&server)));
        let mut results = [finished()];
        let e = within("_bulk_docs", claimer.exchange(&mut results, 0)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{why}: {e}");
        assert!(one_line(&e).contains(why), "{why}: {e}");
        assert_eq!(results[0].rev(), Some("3-aaa"), "{why}: the revision was taken");
    }
    // The honest answer is taken.
    let server = serve(bulk_written(&[("t1", "4-bbb")])).await;
    let mut claimer = Claimer::new(TokenPool::new(db(&server)));
    let mut results = [finished()];
    let (states, claimed) = claimer.exchange(&mut results, 0).await.unwrap();
    assert_eq!((states.len(), claimed.len()), (1, 0));
    assert_eq!(results[0].rev(), Some("4-bbb"));
}

#[tokio::test]
async fn a_saved_answer_for_another_document_is_not_believed() {
    for (answer, why) in [
        (saved("t9", "4-bbb"), "names \"t9\""),
        (saved("t1", "3-bbb"), "after \"3-aaa\""),
        (saved("t1", "not-a-rev"), "revision \"not-a-rev\""),
        (Answer::full(201, "application/json", r#"{"ok": true}"#), "revision \"\""),
    ] {
        let server = serve(answer).await;
        let pool = TokenPool::new(db(&server));
        let mut token = finished();
        let e = within("PUT", pool.save(&mut token)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{why}: {e}");
        assert!(one_line(&e).contains(why), "{why}: {e}");
        assert_eq!(token.rev(), Some("3-aaa"), "{why}");
    }
    let server = serve(saved("t1", "4-bbb")).await;
    let mut token = finished();
    let outcome = TokenPool::new(db(&server)).save(&mut token).await.unwrap();
    assert_eq!(outcome, WriteOutcome::Written { rev: "4-bbb".into() });
}

#[tokio::test]
async fn a_document_with_another_id_is_not_the_token() {
    let body = json!({"_id": "t9", "_rev": "4-bbb", "lock": 1, "done": 0}).to_string();
    let server = serve(Answer::full(200, "application/json", body)).await;
    let e = within("GET", db(&server).get("t1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(one_line(&e).contains("got Some(\"t9\")"), "{e}");
}

#[tokio::test]
async fn endless_and_huge_answers_are_capped() {
    let endless = |status: u16, length: Option<u64>| Answer::Endless {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        length,
        chunk: br#"{"id": "t1", "rev": "4-bbb"}, "#.repeat(100),
    };
    for (answer, case) in [
        (endless(200, None), "an endless document"),
        (endless(200, Some(1 << 40)), "a Content-Length of 1 TiB"),
    ] {
        let server = serve(answer).await;
        let e = within("GET", db(&server).get("t1")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{case}: {e}");
        assert!(one_line(&e).contains("longer than 1 MiB"), "{case}: {e}");
        let e = within("attachment", db(&server).get_attachment("t1", "log")).await.unwrap_err();
        assert!(one_line(&e).contains("longer than 1 MiB"), "{case}: {e}");
        let mut claimer = Claimer::new(TokenPool::new(db(&server)));
        let e = within("_bulk_docs", claimer.exchange(&mut [finished()], 0)).await.unwrap_err();
        assert!(one_line(&e).contains("longer than 1 MiB"), "{case}: {e}");
    }
    // hyper refuses a length it cannot count to: a typed error all the same.
    let server = serve(endless(200, Some(u64::MAX))).await;
    one_line(&within("GET", db(&server).get("t1")).await.unwrap_err());
    // An endless error answer: only its start is read for the message.
    let server = serve(endless(500, None)).await;
    let e = within("GET", db(&server).get("t1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    one_line(&e);
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    for body in ["<html>It works!</html>", r#"[{"id": "t1", "rev": "#, r#"{"id": "t1"}"#, "null"] {
        let server = serve(Answer::full(201, "application/json", body)).await;
        let mut claimer = Claimer::new(TokenPool::new(db(&server)));
        let e = within("_bulk_docs", claimer.exchange(&mut [finished()], 0)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{body}: {e}");
        one_line(&e);
    }
}
