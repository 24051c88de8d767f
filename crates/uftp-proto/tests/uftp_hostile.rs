//! A UFTP session against hpc-testkit's hostile UFTPD: `MLSD` listings that
//! name `/`, `..`, climbing paths or NUL, `150` lines announcing 2^63 bytes
//! or more than a u64 holds, reply lines without end and multi-line replies
//! that never close. Each is a typed one-line error or a bounded read,
//! never a panic, a hang or a buffer without bound. (Chunk headers with a
//! wrong magic, stream, sequence or length are unit tests of `frame.rs` and
//! `data.rs`.)

use std::time::Duration;

use hpc_auth::Secret;
use hpc_core::{ErrorKind, Result};
use hpc_testkit::hostile::target::one_line;
use hpc_testkit::hostile::uftpd::{Behaviour, Misreply, UftpdServer, dir_line, file_line};
use uftp_proto::{Grant, Session, TransferOptions};

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn login(server: &UftpdServer) -> Result<Session> {
    let grant = Grant {
        host: "127.0.0.1".into(),
        port: server.addr().port(),
        secret: Secret::new("one-time"),
    };
    Session::connect(&grant, TransferOptions::default()).await
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.unwrap_or_else(|_| panic!("{what} hangs"))
}

#[tokio::test]
async fn hostile_listing_names_are_refused() {
    let long = "n".repeat(10_000);
    for bad in [
        dir_line("/"),
        file_line("a/../../x", 3),
        file_line("../x", 3),
        file_line("/etc/x", 3),
        dir_line("sub/"),
        file_line("x\0y", 3),
        file_line("", 3),
    ] {
        let server = UftpdServer::start(Behaviour {
            mlsd: vec![file_line("ok.txt", 3), bad.clone()],
            ..Behaviour::default()
        })
        .await;
        let mut s = login(&server).await.unwrap();
        let e = within("MLSD", s.list("dir")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{bad:?}: {e}");
        assert!(one_line(&e).contains("hostile listing"), "{bad:?}: {e}");
    }
    // `.` and `..` are skipped as UFTPD sends them; long names are names.
    let server = UftpdServer::start(Behaviour {
        mlsd: vec![dir_line("."), dir_line(".."), file_line(&long, u64::MAX), file_line("..a", 1)],
        ..Behaviour::default()
    })
    .await;
    let mut s = login(&server).await.unwrap();
    let entries = within("MLSD", s.list("dir")).await.unwrap();
    let names: Vec<(usize, u64)> = entries.iter().map(|e| (e.name.len(), e.size)).collect();
    assert_eq!(names, [(10_000, u64::MAX), (3, 1)]);
}

#[tokio::test]
async fn a_150_line_announcing_2_pow_63_allocates_nothing() {
    let server = UftpdServer::start(Behaviour {
        retr_announce: format!("OK {} bytes available for reading.", 1u64 << 63),
        ..Behaviour::default()
    })
    .await;
    let mut s = login(&server).await.unwrap();
    let (mut inbound, announced) = within("RETR", s.open_read("a.txt", 0, None)).await.unwrap();
    assert_eq!(announced, 1 << 63);
    let mut got = Vec::new();
    while let Some(c) = within("reading", inbound.next_chunk()).await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert_eq!(got, b"abc");
    within("226", s.end_read(inbound, "RETR a.txt")).await.unwrap();

    // More than a u64 holds: no number, a typed error.
    let server = UftpdServer::start(Behaviour {
        retr_announce: "OK 99999999999999999999999 bytes available for reading.".into(),
        ..Behaviour::default()
    })
    .await;
    let mut s = login(&server).await.unwrap();
    let e = within("RETR", s.open_read("a.txt", 0, None)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(one_line(&e).contains("how many bytes"), "{e}");
}

#[tokio::test]
async fn a_reply_line_without_end_is_cut_at_the_line_limit() {
    let server = UftpdServer::start(Behaviour {
        misreply: Some(("MLST".into(), Misreply::EndlessLine)),
        ..Behaviour::default()
    })
    .await;
    let mut s = login(&server).await.unwrap();
    let e = within("MLST", s.stat("a.txt")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(one_line(&e).contains("longer than 16384 bytes"), "{e}");
}

#[tokio::test]
async fn a_reply_that_never_closes_is_cut_at_the_reply_limit() {
    let server = UftpdServer::start(Behaviour {
        misreply: Some(("FEAT".into(), Misreply::EndlessReply)),
        ..Behaviour::default()
    })
    .await;
    let mut s = login(&server).await.unwrap();
    let e = within("FEAT", s.features()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(one_line(&e).contains("longer than 64 MiB"), "{e}");
}
