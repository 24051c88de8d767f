//! hpc-http against a tiny in-process hyper server (plain and TLS).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use hpc_auth::{Credential, OidcToken, RefreshFn, Secret};
use hpc_core::{Error, ErrorKind};
use hpc_http::{Body, HttpClient, Request, RetryConfig, Timeouts};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type Handler = Arc<
    dyn Fn(http::Request<Incoming>) -> BoxFuture<'static, http::Response<Full<Bytes>>>
        + Send
        + Sync,
>;

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(http::Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

fn reply(status: u16, body: &str) -> http::Response<Full<Bytes>> {
    http::Response::builder().status(status).body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

/// Serve plain HTTP on a free loopback port; returns `http://127.0.0.1:port`.
async fn serve(h: Handler) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let h = h.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn quick_retry(n: u32) -> RetryConfig {
    RetryConfig {
        max_retries: n,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn get_streams_body_and_sends_basic_auth() {
    let base = serve(handler(|req: http::Request<Incoming>| async move {
        let auth = req.headers().get("authorization").unwrap().to_str().unwrap().to_owned();
        let ua = req.headers().get("user-agent").unwrap().to_str().unwrap().to_owned();
        reply(200, &format!("{auth}|{ua}|{}", "x".repeat(100_000)))
    }))
    .await;
    let client =
        HttpClient::builder().credential(&Credential::password("alice", "pw")).build().unwrap();
    let resp = client.send(Request::get(&format!("{base}/a"))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.into_stream();
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("Basic YWxpY2U6cHc=|hpckit/"), "{}", &text[..40]);
    assert_eq!(text.len(), "Basic YWxpY2U6cHc=|hpckit/0.1.0|".len() + 100_000);
}

#[tokio::test]
async fn bodies_in_memory_are_capped() {
    // Bodies without a length, and endless ones, are in the hostile-server
    // tests of the adaptors (unicore-rest, picas-tokens).
    let base = serve(handler(|_| async { reply(200, &"x".repeat(1000)) })).await;
    let client = HttpClient::builder().build().unwrap();
    let get = || client.send(Request::get(&format!("{base}/a")));
    let e = get().await.unwrap().bytes_at_most(999).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("longer than 999 bytes"), "{e}");
    assert_eq!(get().await.unwrap().bytes_at_most(1000).await.unwrap().len(), 1000);
    let e = get().await.unwrap().json_at_most::<serde_json::Value>(1 << 9).await.unwrap_err();
    assert!(e.to_string().contains("longer than 512 bytes"), "{e}");
}

#[tokio::test]
async fn idempotent_requests_retry_on_503_and_posts_do_not() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let base = serve(handler(move |_req| {
        let n = h2.fetch_add(1, Ordering::SeqCst);
        async move { if n % 3 == 2 { reply(200, "ok") } else { reply(503, "busy") } }
    }))
    .await;
    let client = HttpClient::builder().retry(quick_retry(5)).build().unwrap();
    let resp = client.send(Request::get(&format!("{base}/x"))).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    hits.store(0, Ordering::SeqCst);
    let resp =
        client.send(Request::post(&format!("{base}/x")).body(Body::bytes("a"))).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "POST must not be repeated");
    let e = resp.error_for_status().await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "http error 503: POST /x: busy");

    // A streamed body cannot be replayed, so it is sent once even for PUT.
    hits.store(0, Ordering::SeqCst);
    let stream = futures::stream::iter([Ok(Bytes::from_static(b"abc"))]).boxed();
    let resp = client
        .send(Request::put(&format!("{base}/x")).body(Body::stream(stream, Some(3))))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn streamed_upload_arrives_whole_with_length() {
    let base = serve(handler(|req: http::Request<Incoming>| async move {
        let len = req.headers().get("content-length").map(|v| v.to_str().unwrap().to_owned());
        let body = req.into_body().collect().await.unwrap().to_bytes();
        reply(201, &format!("{len:?} {}", body.len()))
    }))
    .await;
    let client = HttpClient::builder().build().unwrap();
    let chunks: Vec<hpc_core::Result<Bytes>> =
        (0..64).map(|_| Ok(Bytes::from(vec![7u8; 16 * 1024]))).collect();
    let resp = client
        .send(
            Request::put(&format!("{base}/f"))
                .body(Body::stream(futures::stream::iter(chunks).boxed(), Some(1 << 20))),
        )
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "Some(\"1048576\") 1048576");

    let chunks: Vec<hpc_core::Result<Bytes>> = vec![Ok(Bytes::from_static(b"hello"))];
    let resp = client
        .send(
            Request::put(&format!("{base}/f"))
                .body(Body::stream(futures::stream::iter(chunks).boxed(), None)),
        )
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "None 5");
}

#[tokio::test]
async fn failing_upload_stream_aborts_with_its_own_error() {
    let received = Arc::new(AtomicUsize::new(usize::MAX));
    let r2 = received.clone();
    let base = serve(handler(move |req: http::Request<Incoming>| {
        let r2 = r2.clone();
        async move {
            // The body cannot complete: the client aborts it.
            match req.into_body().collect().await {
                Ok(b) => r2.store(b.to_bytes().len(), Ordering::SeqCst),
                Err(_) => r2.store(0, Ordering::SeqCst),
            }
            reply(201, "stored")
        }
    }))
    .await;
    let client = HttpClient::builder().retry(quick_retry(3)).build().unwrap();
    let chunks: Vec<hpc_core::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"first part")),
        Err(Error::ConnectionLost {
            host: "source".into(),
            reason: "peer vanished".into(),
            source: None,
        }),
    ];
    let err = client
        .send(
            Request::put(&format!("{base}/f"))
                .body(Body::stream(futures::stream::iter(chunks).boxed(), Some(100))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connection to source lost: peer vanished");

    // A stream shorter than its announced length is refused too.
    let chunks: Vec<hpc_core::Result<Bytes>> = vec![Ok(Bytes::from_static(b"short"))];
    let err = client
        .send(
            Request::put(&format!("{base}/f"))
                .body(Body::stream(futures::stream::iter(chunks).boxed(), Some(10))),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("5 bytes before its announced length"), "{err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_ne!(received.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn status_codes_map_to_typed_errors_without_query() {
    let base = serve(handler(|req: http::Request<Incoming>| async move {
        let code = req.uri().path().trim_start_matches('/').parse().unwrap();
        reply(code, "server says no")
    }))
    .await;
    let client =
        HttpClient::builder().credential(&Credential::password("bob", "pw")).build().unwrap();
    let get = |code: u16| {
        let client = client.clone();
        let url = format!("{base}/{code}?X-Amz-Signature=deadbeef");
        async move {
            client.send(Request::get(&url)).await.unwrap().error_for_status().await.unwrap_err()
        }
    };
    let e = get(401).await;
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.to_string().contains("bob@127.0.0.1:"), "{e}");
    let e = get(403).await;
    assert_eq!(e.to_string(), "permission denied: GET /403: server says no");
    assert!(get(404).await.is_not_found());
    let e = get(418).await;
    assert_eq!(e.kind(), ErrorKind::Remote);
    for code in [401, 403, 404, 418, 500] {
        let e = get(code).await;
        let text = format!("{e} {e:?}");
        assert!(!text.contains("deadbeef") && !text.contains("pw"), "{text}");
    }
}

#[tokio::test]
async fn oidc_token_is_refreshed_once_after_401() {
    let base = serve(handler(|req: http::Request<Incoming>| async move {
        let never = req.uri().path() == "/never";
        match req.headers().get("authorization").map(|v| v.to_str().unwrap()) {
            Some("Bearer fresh-1") if !never => reply(200, "{\"ok\": true}"),
            _ => reply(401, "expired"),
        }
    }))
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let refresh: RefreshFn = Arc::new(move || {
        let n = c2.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok((Secret::new(format!("fresh-{}", n + 1)), None)) })
    });
    let token = OidcToken::new(Secret::new("stale"), None, refresh);
    let client = HttpClient::builder().credential(&Credential::Oidc(token)).build().unwrap();
    let v: serde_json::Value = client.get_json(&format!("{base}/j")).await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A server that rejects every token: one refresh, then a typed error.
    let e = client.get_json::<serde_json::Value>(&format!("{base}/never")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_refused_is_a_retryable_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = HttpClient::builder().retry(quick_retry(2)).build().unwrap();
    let e = client.send(Request::get(&format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().starts_with(&format!("cannot connect to 127.0.0.1:{port}")), "{e}");
    // hyper's error is kept beneath, down to the OS's refusal.
    let refused = std::iter::successors(std::error::Error::source(&e), |s| s.source())
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    assert_eq!(refused, Some(std::io::ErrorKind::ConnectionRefused), "{e:?}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let base = serve(handler(|_req| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        reply(200, "late")
    }))
    .await;
    let client = HttpClient::builder()
        .retry(RetryConfig::none())
        .timeouts(Timeouts { response: Duration::from_millis(200), ..Timeouts::default() })
        .build()
        .unwrap();
    let e = client.send(Request::get(&format!("{base}/slow"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn a_deadline_ends_a_trickling_answer_and_a_slow_one() {
    // Headers at once, then a byte every 50 ms: the idle limit never trips.
    let base = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = tcp.read(&mut buf).await;
                    let path = String::from_utf8_lossy(&buf);
                    if path.contains("/slow") {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    let _ =
                        tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n").await;
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if tcp.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    };
    let client = HttpClient::builder().retry(quick_retry(2)).build().unwrap();
    let limit = Duration::from_millis(500);
    let resp = client.send(Request::get(&format!("{base}/trickle")).deadline(limit)).await.unwrap();
    let e = resp.bytes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("GET /trickle") && e.to_string().contains("0.500s"), "{e}");
    let e = client.send(Request::get(&format!("{base}/slow")).deadline(limit)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("GET /slow"), "{e}");
}

#[tokio::test]
async fn tls_is_verified_and_private_ca_can_be_added() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_der = cert.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = service_fn(|_req| async { Ok::<_, Infallible>(reply(200, "secure")) });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    let url = format!("https://localhost:{port}/");

    let strict = HttpClient::builder().retry(RetryConfig::none()).build().unwrap();
    let e = strict.send(Request::get(&url)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection);
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    let trusting = HttpClient::builder().add_ca_pem(cert_pem).only_added_cas().build().unwrap();
    let resp = trusting.send(Request::get(&url)).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "secure");

    let e = HttpClient::builder().add_ca_pem("not a certificate").build().unwrap_err();
    assert!(e.to_string().contains("cannot load CA certificates"), "{e}");
}

/// Serves each connection `raw` as the whole answer, then closes it.
async fn serve_raw(raw: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    format!("http://{addr}")
}

/// A length field from a hostile server is a promise to check, never a size
/// to allocate: a `Content-Length` of 10^18 over five bytes is refused before
/// any byte is read (it is past the in-memory cap); 2^64-1 and one that
/// overflows u64 are refused with the head.
#[tokio::test]
async fn huge_content_length_is_an_error_not_an_allocation() {
    let client = HttpClient::builder().retry(RetryConfig::none()).build().unwrap();
    let base =
        serve_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\nhello").await;
    let resp = client.send(Request::get(&format!("{base}/x"))).await.unwrap();
    assert_eq!(resp.content_length(), Some(1_000_000_000_000_000_000));
    let e = resp.bytes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("longer than"), "{e}");

    for raw in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello"[..],
        &b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello"[..],
    ] {
        let base = serve_raw(raw).await;
        let e = match client.send(Request::get(&format!("{base}/x"))).await {
            Err(e) => e,
            Ok(resp) => resp.bytes().await.unwrap_err(),
        };
        assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    }
}
