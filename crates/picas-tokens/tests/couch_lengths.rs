//! Lengths and counts in a CouchDB server's answers are the server's claims:
//! a `Content-Length` far beyond the body is an error once the connection
//! ends, and huge `total_rows`/`offset` values are read as numbers, never
//! used to size anything.

use hpc_http::RetryConfig;
use hpc_testkit::hostile::http::{Answer, HttpServer};
use picas_tokens::couch::{CouchConfig, CouchDb, ViewQuery};
use picas_tokens::{DbUrl, TokenPool};

/// A server that answers every request with `raw`, then closes.
async fn serve_raw(raw: &'static [u8]) -> HttpServer {
    HttpServer::start(move |_| Answer::Raw(raw.to_vec())).await
}

/// The `tokens` database on `server`.
fn db(server: &HttpServer) -> CouchDb {
    let url = format!("http://{}/tokens", server.authority());
    let config = CouchConfig { retry: RetryConfig::none(), ..CouchConfig::default() };
    CouchDb::with_config(DbUrl::parse(&url).unwrap(), config).unwrap()
}

#[tokio::test]
async fn a_content_length_beyond_the_body_is_an_error() {
    let server = serve_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551615\r\n\r\n{\"rows\":[]}",
    )
    .await;
    let e = db(&server).all_docs(&ViewQuery::new()).await.unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::Connection, "{e}");
}

#[tokio::test]
async fn huge_row_counts_are_numbers_not_sizes() {
    let server = serve_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 75\r\n\r\n{\"total_rows\":18446744073709551615,\"offset\":18446744073709551615,\"rows\":[]}",
    )
    .await;
    let couch = db(&server);
    let res = couch.all_docs(&ViewQuery::new()).await.unwrap();
    assert_eq!((res.total_rows, res.offset, res.rows.len()), (Some(u64::MAX), Some(u64::MAX), 0));
    let sizes = TokenPool::new(couch).view_sizes().await.unwrap();
    assert!(sizes.values().all(|n| *n == u64::MAX), "{sizes:?}");
}
