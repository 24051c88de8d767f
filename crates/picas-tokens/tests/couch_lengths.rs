//! Lengths and counts in a CouchDB server's answers are the server's claims:
//! a `Content-Length` far beyond the body is an error once the connection
//! ends, and huge `total_rows`/`offset` values are read as numbers, never
//! used to size anything.

use hpc_http::RetryConfig;
use picas_tokens::couch::{CouchConfig, CouchDb, ViewQuery};
use picas_tokens::{DbUrl, TokenPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves every connection `raw` as the whole answer, then closes it.
async fn serve_raw(raw: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp.write_all(raw).await;
            });
        }
    });
    format!("http://{addr}/tokens")
}

fn db(url: &str) -> CouchDb {
    let config = CouchConfig { retry: RetryConfig::none(), ..CouchConfig::default() };
    CouchDb::with_config(DbUrl::parse(url).unwrap(), config).unwrap()
}

#[tokio::test]
async fn a_content_length_beyond_the_body_is_an_error() {
    let url = serve_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551615\r\n\r\n{\"rows\":[]}",
    )
    .await;
    let e = db(&url).all_docs(&ViewQuery::new()).await.unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::Connection, "{e}");
}

#[tokio::test]
async fn huge_row_counts_are_numbers_not_sizes() {
    let url = serve_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 75\r\n\r\n{\"total_rows\":18446744073709551615,\"offset\":18446744073709551615,\"rows\":[]}",
    )
    .await;
    let couch = db(&url);
    let res = couch.all_docs(&ViewQuery::new()).await.unwrap();
    assert_eq!((res.total_rows, res.offset, res.rows.len()), (Some(u64::MAX), Some(u64::MAX), 0));
    let sizes = TokenPool::new(couch).view_sizes().await.unwrap();
    assert!(sizes.values().all(|n| *n == u64::MAX), "{sizes:?}");
}
