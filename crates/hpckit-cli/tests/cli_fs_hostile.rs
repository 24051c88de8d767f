//! `hpckit fs` against hpc-testkit's hostile servers, run as a real binary:
//! a server that never answers ends with exit 124, a hostile listing with
//! a protocol error (76), each with one error line.

mod support;

use hpc_testkit::hostile::ftp::{Behaviour, FtpServer, ListData};
use hpc_testkit::hostile::http::{Answer, HttpServer};
use hpc_testkit::hostile::webdav::{self, Listing};
use support::error_line;

async fn hpckit(args: &[&str]) -> hpc_exec::Output {
    support::hpckit(args, b"").await
}

// The servers run on this runtime's other thread while the binary runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_exit_124() {
    let server = HttpServer::start(|_| Answer::Silent).await;
    let url = format!("webdav://{}/dav/dir?idle_timeout=0.3&timeout=1", server.authority());
    let out = hpckit(&["fs", "ls", &url]).await;
    assert_eq!(out.status.code, Some(124), "{out:?}");
    assert!(error_line(&out).contains("timed out"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_listings_are_protocol_errors() {
    let ftp = FtpServer::start(Behaviour { list: ListData::Endless, ..Behaviour::default() }).await;
    let url = format!("ftp://{}/?max_entries=100", ftp.addr());
    let out = hpckit(&["fs", "ls", &url]).await;
    assert_eq!(out.status.code, Some(76), "{out:?}");
    assert!(error_line(&out).contains("more than 100 entries"), "{out:?}");

    let dav = webdav::server("/dav/dir", Listing::Raw("It works!".into()), b"").await;
    let out = hpckit(&["fs", "ls", &format!("webdav://{}/dav/dir", dav.authority())]).await;
    assert_eq!(out.status.code, Some(76), "{out:?}");
    assert!(error_line(&out).contains("multistatus"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_with_tls_none_is_refused() {
    let out = hpckit(&["fs", "ls", "ftps://127.0.0.1:1/?tls=none"]).await;
    assert_eq!(out.status.code, Some(64), "{out:?}");
    assert!(error_line(&out).contains("contradicts"), "{out:?}");
}
