//! The FTP adaptor against hpc-testkit's hostile FTP server: a server may
//! name any address in `227`, send an endless listing, trickle or fall
//! silent; none of that may send hpckit elsewhere, fill its memory or hang it.
#![cfg(feature = "ftp")]

use std::time::Duration;

use fs_adaptors::ftp::FtpFileSystem;
use futures::StreamExt;
use hpc_auth::Credential;
use hpc_core::{ErrorKind, FileSystem, Path, Result};
use hpc_testkit::hostile::ftp::{Behaviour, FtpServer, ListData};

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn open(server: &FtpServer, options: &str) -> Result<FtpFileSystem> {
    let loc = server.url(options).parse()?;
    FtpFileSystem::open(&loc, Credential::password("user", "pw")).await
}

async fn names(fs: &FtpFileSystem) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let root = Path::root();
    let mut s = fs.list(&root, false);
    while let Some(e) = tokio::time::timeout(HANG, s.next()).await.expect("the listing hangs") {
        out.push(e?.path.file_name().unwrap_or_default().to_owned());
    }
    Ok(out)
}

#[tokio::test]
async fn the_address_in_a_227_reply_is_ignored() {
    // No EPSV: PASV, whose reply names 127.0.0.2; the data port listens on 127.0.0.1 only.
    let server = FtpServer::start(Behaviour {
        epsv: false,
        pasv_claims: [127, 0, 0, 2],
        ..Behaviour::default()
    })
    .await;
    let fs = open(&server, "").await.unwrap();
    assert_eq!(names(&fs).await.unwrap(), ["a.txt", "b.bin"]);
    assert!(server.count("PASV") >= 1 && server.count("EPSV") == 0, "{:?}", server.commands());
}

#[tokio::test]
async fn epsv_is_preferred_where_the_server_has_it() {
    let server =
        FtpServer::start(Behaviour { pasv_claims: [10, 9, 8, 7], ..Behaviour::default() }).await;
    let fs = open(&server, "").await.unwrap();
    assert_eq!(names(&fs).await.unwrap().len(), 2);
    assert!(server.count("EPSV") >= 1 && server.count("PASV") == 0, "{:?}", server.commands());
}

#[tokio::test]
async fn a_refused_epsv_falls_back_to_pasv_to_the_control_peer() {
    // FEAT lists EPSV but the server refuses it; PASV names another host.
    let server = FtpServer::start(Behaviour {
        epsv_refused: true,
        pasv_claims: [127, 0, 0, 2],
        ..Behaviour::default()
    })
    .await;
    let fs = open(&server, "").await.unwrap();
    assert_eq!(names(&fs).await.unwrap(), ["a.txt", "b.bin"]);
    assert_eq!(names(&fs).await.unwrap().len(), 2);
    // EPSV was tried once; the pool keeps to PASV after the refusal.
    assert_eq!(server.count("EPSV"), 1, "{:?}", server.commands());
    assert_eq!(server.count("PASV"), 2, "{:?}", server.commands());
}

#[tokio::test]
async fn a_data_connection_error_names_the_host_really_tried() {
    let server = FtpServer::start(Behaviour {
        epsv: false,
        pasv_claims: [10, 9, 8, 7],
        data_port_closed: true,
        ..Behaviour::default()
    })
    .await;
    let fs = open(&server, "").await.unwrap();
    let e = names(&fs).await.unwrap_err().to_string();
    assert!(e.contains("data connection to 127.0.0.1:"), "{e}");
    assert!(!e.contains("10.9.8.7"), "{e}");
}

#[tokio::test]
async fn an_endless_listing_ends_at_the_entry_limit() {
    let server =
        FtpServer::start(Behaviour { list: ListData::Endless, ..Behaviour::default() }).await;
    let fs = open(&server, "max_entries=1000").await.unwrap();
    let root = Path::root();
    let mut s = fs.list(&root, false);
    let mut entries = 0;
    let error = loop {
        match tokio::time::timeout(HANG, s.next()).await.expect("the listing hangs") {
            Some(Ok(_)) => entries += 1,
            Some(Err(e)) => break e,
            None => panic!("an endless listing ended by itself"),
        }
    };
    assert_eq!(entries, 1000);
    assert_eq!(error.kind(), ErrorKind::Parse, "{error}");
    assert!(error.to_string().contains("more than 1000 entries"), "{error}");
    assert!(s.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn an_endless_line_ends_at_the_line_limit() {
    let server =
        FtpServer::start(Behaviour { list: ListData::EndlessLine, ..Behaviour::default() }).await;
    let fs = open(&server, "max_line=1024").await.unwrap();
    let e = names(&fs).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("longer than 1024 bytes"), "{e}");
}

#[tokio::test]
async fn stat_asks_mlst_and_lists_nothing() {
    let server = FtpServer::start(Behaviour { mlst: true, ..Behaviour::default() }).await;
    let fs = open(&server, "").await.unwrap();
    let a = fs.attributes(&Path::new("/b.bin").unwrap()).await.unwrap();
    assert!(a.is_regular() && a.size == 1024, "{a:?}");
    let e = fs.attributes(&Path::new("/missing").unwrap()).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(server.count("LIST") + server.count("MLSD"), 0, "{:?}", server.commands());
    assert!(server.count("MLST") >= 2);
}

#[tokio::test]
async fn stat_without_mlst_reads_the_parent_listing() {
    let server = FtpServer::start(Behaviour::default()).await;
    let fs = open(&server, "").await.unwrap();
    let a = fs.attributes(&Path::new("/a.txt").unwrap()).await.unwrap();
    assert_eq!(a.size, 3);
    assert!(server.count("LIST") >= 1);
}

#[tokio::test]
async fn a_server_silent_after_the_greeting_times_out() {
    let server =
        FtpServer::start(Behaviour { silent_after_greeting: true, ..Behaviour::default() }).await;
    let e = tokio::time::timeout(HANG, open(&server, "idle_timeout=0.5"))
        .await
        .expect("login hangs")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains(&server.addr().to_string()), "{e}");
}

#[tokio::test]
async fn a_silent_data_connection_times_out() {
    let server =
        FtpServer::start(Behaviour { list: ListData::Silent, ..Behaviour::default() }).await;
    let fs = open(&server, "idle_timeout=0.5").await.unwrap();
    let e = names(&fs).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("no data"), "{e}");
}

#[tokio::test]
async fn a_trickling_listing_ends_at_the_total_limit() {
    // A byte every 50 ms never trips the idle limit; the listing's deadline ends it.
    let server = FtpServer::start(Behaviour {
        list: ListData::Trickle(Duration::from_millis(50)),
        ..Behaviour::default()
    })
    .await;
    let fs = open(&server, "idle_timeout=30&timeout=1").await.unwrap();
    let e = names(&fs).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("timed out after 1s"), "{e}");
}

/// A size the server claims (`SIZE`, the `150` line of `RETR`) is never a
/// buffer size: a 3-byte file announced as 2^64-1 bytes reads as its 3 bytes.
#[tokio::test]
async fn a_claimed_size_is_not_an_allocation() {
    let server = FtpServer::start(Behaviour {
        claimed_size: Some(u64::MAX),
        files: vec![("a.txt".into(), 3)],
        ..Behaviour::default()
    })
    .await;
    let fs = open(&server, "").await.unwrap();
    let path = Path::new("/a.txt").unwrap();
    let mut stream = fs.read(&path, hpc_core::ByteRange::ALL).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = tokio::time::timeout(HANG, stream.next()).await.expect("RETR hangs") {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"xxx");
    assert_eq!(server.count("RETR"), 1, "{:?}", server.commands());
}

/// Explicit FTPS end to end (`AUTH TLS`, `PROT P`): listings, a read and a
/// write over TLS data connections, each ending with the server's reply.
#[tokio::test]
async fn ftps_lists_reads_and_writes_over_tls_data_connections() {
    let server = FtpServer::start(Behaviour { tls: true, ..Behaviour::default() }).await;
    assert!(server.url("").starts_with("ftps://"), "{}", server.url(""));
    let fs = tokio::time::timeout(HANG, open(&server, "")).await.expect("login hangs").unwrap();
    assert_eq!(names(&fs).await.unwrap(), ["a.txt", "b.bin"]);
    let mut stream =
        fs.read(&Path::new("/b.bin").unwrap(), hpc_core::ByteRange::ALL).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = tokio::time::timeout(HANG, stream.next()).await.expect("RETR hangs") {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, vec![b'x'; 1024]);
    drop(stream);
    let data = futures::stream::iter([Ok(bytes::Bytes::from_static(b"hello"))]).boxed();
    let written =
        tokio::time::timeout(HANG, fs.write(&Path::new("/new.txt").unwrap(), data, Some(5)))
            .await
            .expect("STOR hangs")
            .unwrap();
    assert_eq!(written, 5);
    let commands = server.commands();
    assert_eq!(commands.first().map(String::as_str), Some("AUTH TLS"), "{commands:?}");
    for verb in ["PBSZ", "PROT", "RETR", "STOR", "RNFR", "RNTO"] {
        assert!(server.count(verb) >= 1, "no {verb}: {commands:?}");
    }
}
