//! Faults a UFTP client meets: a wrong or used secret, a client address the
//! transfer request did not name (announced elsewhere, a login and a data
//! connection from a second address of this host, and a whole client session
//! from a second host: a network namespace), a malformed reply line, broken chunk
//! headers, a block larger than the buffer, a data connection dropped
//! mid-file, a server that closes early, a server that stops answering or
//! sending (within the idle limit). Each is a typed error with one line
//! and no secret, and a failed download never replaces a good local file.
//! The login faults run against the UFTPD test server (`cargo xtask services
//! up uftp`); the wire faults against a scripted server in this file.

mod uftp_support;

use std::future::Future;
use std::time::Duration;

use hpc_auth::Secret;
use hpc_core::{Error, ErrorKind, NetTimeouts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use uftp_proto::frame::ChunkHeader;
use uftp_proto::transfer::download;
use uftp_proto::{AuthRequest, Grant, Session, TransferOptions};
use uftp_support::uftp;

fn one_line(e: &Error, secret: &str) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "not one line: {text}");
    assert!(!text.contains(secret), "secret in the message: {text}");
    assert!(!format!("{e:?}").contains(secret), "secret in Debug: {e:?}");
}

#[tokio::test]
async fn wrong_secret_is_an_authentication_error() {
    let u = uftp();
    let port: u16 = u.env.var("HPCKIT_UFTP_PORT").parse().unwrap();
    let grant =
        Grant { host: "127.0.0.1".into(), port, secret: Secret::new("notasecretthatexists") };
    let e = Session::connect(&grant, TransferOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(e.to_string().contains("530"), "{e}");
    one_line(&e, "notasecretthatexists");
}

#[tokio::test]
async fn used_one_off_secret_is_refused() {
    let u = uftp();
    let (base, _) = u.fresh_dir("used");
    let grant = u
        .auth()
        .authenticate(&AuthRequest { server_path: base, persistent: false, ..Default::default() })
        .await
        .unwrap();
    Session::connect(&grant, TransferOptions::default()).await.unwrap().quit().await;
    // The server drops the secret when its session ends; wait for that.
    let mut last = None;
    for _ in 0..50 {
        match Session::connect(&grant, TransferOptions::default()).await {
            Err(e) if e.to_string().contains("530") => {
                last = Some(e);
                break;
            }
            Err(e) => last = Some(e),
            Ok(s) => s.quit().await,
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let e = last.expect("a used one-off secret must be refused");
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    one_line(&e, grant.secret.expose());
}

#[tokio::test]
async fn client_address_mismatch_is_refused() {
    let u = uftp();
    let (base, _) = u.fresh_dir("addr");
    let grant = u
        .auth()
        .authenticate(&AuthRequest {
            server_path: base,
            client: Some("192.0.2.7".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = Session::connect(&grant, TransferOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(e.to_string().contains("refused this client's address"), "{e}");
    one_line(&e, grant.secret.expose());
}

#[tokio::test]
async fn multi_stream_encryption_without_compression_is_refused_by_a_real_uftpd() {
    // A scripted UFTPD 3.5 whose FEAT lacks MULTI-STREAM-CRYPT.
    let grant = scripted(|mut c| async move {
        c.login().await;
        c.expect("FEAT").await;
        c.send("211-Features:\n MLSD\n211 END").await;
    })
    .await;
    let key = uftp_proto::EncryptionKey::generate(uftp_proto::Algorithm::Aes).unwrap();
    let opts = TransferOptions { streams: 4, key: Some(key), ..Default::default() };
    let e = Session::connect(&grant, opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("use one stream, or add compression"), "{e}");
}

#[tokio::test]
async fn malformed_reply_line_is_a_parse_error() {
    let grant = scripted(|mut c| async move {
        c.send("hello, I am not an FTP server").await;
    })
    .await;
    let e = Session::connect(&grant, TransferOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    one_line(&e, "scripted-secret");
}

#[tokio::test]
async fn server_closing_early_is_connection_lost() {
    let grant = scripted(|mut c| async move {
        c.send("220 UFTPD 3.5.1, https://www.unicore.eu").await;
        c.expect("USER").await;
        // and closes
    })
    .await;
    let e = Session::connect(&grant, TransferOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
}

/// Options with an idle limit of `idle`.
fn idle_after(idle: Duration, streams: usize) -> TransferOptions {
    let timeouts = NetTimeouts { idle, ..NetTimeouts::default() };
    TransferOptions { streams, timeouts, ..Default::default() }
}

#[tokio::test]
async fn a_server_that_stops_answering_is_a_timeout_and_the_session_is_not_reused() {
    let grant = scripted(|mut c| async move {
        c.login().await;
        c.expect("PWD").await;
        // No reply, the connection stays open.
        c.rest().await;
    })
    .await;
    let idle = Duration::from_millis(500);
    let mut s = Session::connect(&grant, idle_after(idle, 1)).await.unwrap();
    let started = std::time::Instant::now();
    let e = s.pwd().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < idle * 4, "{:?}", started.elapsed());
    assert!(e.to_string().contains("the reply to PWD from 127.0.0.1:"), "{e}");
    one_line(&e, "scripted-secret");
    assert!(!s.is_usable(), "a session whose reply came late must not be used again");
}

#[tokio::test]
async fn a_data_connection_that_stalls_mid_file_is_a_timeout() {
    for streams in [1, 2] {
        let idle = Duration::from_millis(500);
        let e = failed_download_with(idle_after(idle, streams), |mut conns| async move {
            if conns.len() == 1 {
                conns[0].write_all(&[7u8; 40_000]).await.unwrap();
            }
            // Neither more bytes nor an end.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(conns);
        })
        .await;
        assert_eq!(e.kind(), ErrorKind::Timeout, "{streams} streams: {e}");
        assert!(e.to_string().contains("no bytes moved"), "{e}");
    }
}

/// Downloads over a scripted RETR into a local file holding good content;
/// the error, and the file must still hold the good content.
async fn failed_download<F, Fut>(streams: usize, on_retr: F) -> Error
where
    F: FnOnce(Vec<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    failed_download_with(TransferOptions { streams, ..Default::default() }, on_retr).await
}

/// [`failed_download`] with these options.
async fn failed_download_with<F, Fut>(options: TransferOptions, on_retr: F) -> Error
where
    F: FnOnce(Vec<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let streams = options.streams;
    let grant = scripted(move |mut c| async move {
        c.login().await;
        let conns = c.data(streams).await;
        c.expect("RETR").await;
        c.send("150 OK 100000 bytes available for reading.").await;
        on_retr(conns).await;
        c.send("226 File transfer successful").await;
        c.rest().await;
    })
    .await;
    let mut s = Session::connect(&grant, options).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("good.bin");
    std::fs::write(&local, b"good content").unwrap();
    let e = download(&mut s, "f.bin", &local, false, None).await.unwrap_err();
    assert_eq!(
        std::fs::read(&local).unwrap(),
        b"good content",
        "a failed download replaced the file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind");
    one_line(&e, "scripted-secret");
    e
}

#[tokio::test]
async fn data_connection_dropped_mid_file() {
    let e = failed_download(1, |mut conns| async move {
        conns[0].write_all(&[7u8; 40_000]).await.unwrap();
        drop(conns);
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().contains("40000 of 100000"), "{e}");
}

#[tokio::test]
async fn chunk_header_with_wrong_magic() {
    let e = failed_download(2, |mut conns| async move {
        let mut h = ChunkHeader { stream: 0, seq: 0, total: 8, len: 4 }.encode();
        h[0] = 0xAB;
        conns[0].write_all(&h).await.unwrap();
        conns[0].write_all(b"abcd").await.unwrap();
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("magic"), "{e}");
}

#[tokio::test]
async fn chunk_header_with_wrong_index() {
    let e = failed_download(2, |mut conns| async move {
        let h = ChunkHeader { stream: 1, seq: 0, total: 8, len: 4 }.encode();
        conns[0].write_all(&h).await.unwrap();
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("names stream 1"), "{e}");
}

#[tokio::test]
async fn chunk_header_with_wrong_length() {
    let e = failed_download(2, |mut conns| async move {
        let h = ChunkHeader { stream: 0, seq: 0, total: 8, len: 7 }.encode();
        conns[0].write_all(&h).await.unwrap();
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("piece length"), "{e}");
}

#[tokio::test]
async fn block_larger_than_the_buffer() {
    let e = failed_download(2, |mut conns| async move {
        let h = ChunkHeader { stream: 0, seq: 0, total: 64 << 20, len: 32 << 20 }.encode();
        conns[0].write_all(&h).await.unwrap();
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");
}

/// One scripted control connection.
struct Conn {
    lines: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn send(&mut self, text: &str) {
        let _ = self.w.write_all(format!("{text}\n").as_bytes()).await;
    }

    async fn expect(&mut self, verb: &str) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(verb), "expected {verb}, got {line:?}");
        line.trim_end().to_owned()
    }

    async fn login(&mut self) {
        self.send("220 UFTPD 3.5.1, https://www.unicore.eu").await;
        self.expect("USER anonymous").await;
        self.send("331 Please specify the password").await;
        assert_eq!(self.expect("PASS").await, "PASS scripted-secret");
        self.send("230 Login successful").await;
    }

    /// Answers `NOOP n` (if more than one) and one `PASV` per stream.
    async fn data(&mut self, streams: usize) -> Vec<TcpStream> {
        if streams > 1 {
            self.expect("NOOP").await;
            self.send(&format!("222 Opening {streams} data connections")).await;
        }
        let mut conns = Vec::new();
        for _ in 0..streams {
            self.expect("PASV").await;
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let p = l.local_addr().unwrap().port();
            self.send(&format!("227 Entering Passive Mode (127,0,0,1,{},{})", p >> 8, p & 0xff))
                .await;
            conns.push(l.accept().await.unwrap().0);
        }
        conns
    }

    /// Reads until the client goes away.
    async fn rest(&mut self) {
        let mut line = String::new();
        while self.lines.read_line(&mut line).await.is_ok_and(|n| n > 0) {
            line.clear();
        }
    }
}

/// A server on a free port that runs `script` for its first connection.
async fn scripted<F, Fut>(script: F) -> Grant
where
    F: FnOnce(Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (r, w) = tcp.into_split();
        script(Conn { lines: BufReader::new(r), w }).await;
    });
    Grant { host: "127.0.0.1".into(), port, secret: Secret::new("scripted-secret") }
}

/// A TCP connection to `host:port` from 127.0.0.2, a second address of this
/// host (all of 127/8 is loopback on Linux): the test server sees a client
/// other than the one that authenticated from 127.0.0.1.
async fn from_second_address(host: &str, port: u16) -> TcpStream {
    let to = tokio::net::lookup_host((host, port))
        .await
        .unwrap()
        .find(|a| a.is_ipv4())
        .expect("an IPv4 address of the UFTPD host");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(to).await.expect("connect from 127.0.0.2")
}

#[tokio::test]
async fn login_from_a_second_address_is_refused() {
    let u = uftp();
    let (base, _) = u.fresh_dir("addr2");
    let grant = u
        .auth()
        .authenticate(&AuthRequest { server_path: base, ..Default::default() })
        .await
        .unwrap();
    let mut c = BufReader::new(from_second_address(&grant.host, grant.port).await);
    let mut line = String::new();
    c.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    c.get_mut().write_all(b"USER anonymous\r\n").await.unwrap();
    line.clear();
    c.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("331"), "{line}");
    c.get_mut().write_all(format!("PASS {}\r\n", grant.secret.expose()).as_bytes()).await.unwrap();
    line.clear();
    c.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("500 Error establishing connection: Rejecting connection"), "{line}");
    assert!(line.contains("127.0.0.2"), "{line}");
    // The refusal did not use the secret up: the client it was issued to logs in.
    let s = Session::connect(&grant, TransferOptions::default()).await.unwrap();
    s.quit().await;
}

#[tokio::test]
async fn data_connection_from_a_second_address_gets_nothing() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("addr3");
    std::fs::write(disk.join("f.bin"), b"only for the logged-in client").unwrap();
    let grant = u
        .auth()
        .authenticate(&AuthRequest { server_path: base, ..Default::default() })
        .await
        .unwrap();
    let mut s = Session::connect(&grant, TransferOptions::default()).await.unwrap();
    let r = s.command("PASV").await.unwrap();
    assert_eq!(r.code, 227, "{}", r.text());
    let port = uftp_proto::parse::pasv_port(r.text()).unwrap();
    // A stranger reaches the data port first; the server must not take it.
    let mut stranger = from_second_address(&grant.host, port).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut mine = TcpStream::connect((grant.host.as_str(), port)).await.unwrap();
    let r = s.command("RETR f.bin").await.unwrap();
    assert_eq!(r.code, 150, "{}", r.text());
    let mut got = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut mine, &mut got).await.unwrap();
    s.end_transfer("RETR f.bin").await.unwrap();
    assert_eq!(got, b"only for the logged-in client");
    let mut leaked = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stranger, &mut leaked).await;
    assert!(leaked.is_empty(), "the stranger got {} bytes", leaked.len());
    s.quit().await;
}

/// The second client host of the service (`HPCKIT_UFTP_TOPOLOGY=netns`): a
/// network namespace joined to this host by a veth pair.
struct TwoHosts {
    /// This host's end of the link, where the UFTPD's control port listens too;
    /// a client here connecting to it comes from this address.
    here: String,
    /// The namespace, and its address: where its clients come from.
    ns: String,
    there: String,
}

/// The topology, or a panic saying why the service has none (never a skip).
fn two_hosts(u: &uftp_support::Uftp) -> TwoHosts {
    let topology = u.env.var("HPCKIT_UFTP_TOPOLOGY");
    assert_eq!(
        topology,
        "netns",
        "the uftp service has no network namespace for a second client host: {}",
        u.env.get("HPCKIT_UFTP_NETNS_PROBLEM").unwrap_or("(no reason recorded)")
    );
    TwoHosts {
        here: u.env.var("HPCKIT_UFTP_HOST_ADDR").to_owned(),
        ns: u.env.var("HPCKIT_UFTP_NETNS").to_owned(),
        there: u.env.var("HPCKIT_UFTP_NETNS_ADDR").to_owned(),
    }
}

/// Runs `work` on a thread of its own that has entered the network namespace
/// `ns`, on a runtime of that thread: every socket the client opens (control
/// and data) belongs to the namespace's network stack, as on another host.
async fn in_netns<T, F, Fut>(ns: &str, work: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let link = std::path::Path::new("/run/netns").join(ns);
    let thread = std::thread::spawn(move || {
        let file = std::fs::File::open(&link)
            .unwrap_or_else(|e| panic!("network namespace {}: {e}", link.display()));
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap_or_else(|e| {
            panic!("entering network namespace {}: {e} (needs CAP_SYS_ADMIN)", link.display())
        });
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work())
    });
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Logs in at `host` (the grant's port and secret) and downloads `f.bin`.
async fn fetch(grant: Grant, host: String) -> hpc_core::Result<Vec<u8>> {
    let grant = Grant { host, ..grant };
    let mut s = Session::connect(&grant, TransferOptions::default()).await?;
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("f.bin");
    download(&mut s, "f.bin", &local, false, None).await?;
    s.quit().await;
    Ok(std::fs::read(local).unwrap())
}

/// A fresh directory holding `f.bin` (its bytes returned) and a one-off
/// secret for it, for clients at `client` only.
async fn file_for(u: &uftp_support::Uftp, client: &str, seed: u8) -> (Grant, Vec<u8>) {
    let (base, disk) = u.fresh_dir("netns");
    let body = uftp_support::pattern(300_000, seed);
    std::fs::write(disk.join("f.bin"), &body).unwrap();
    let request =
        AuthRequest { server_path: base, client: Some(client.to_owned()), ..Default::default() };
    (u.auth().authenticate(&request).await.unwrap(), body)
}

fn refused_address(e: &Error, from: &str, secret: &str) {
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(e.to_string().contains("refused this client's address"), "{e}");
    assert!(e.to_string().contains(&format!("from {from}:")), "not the second address: {e}");
    one_line(e, secret);
}

#[tokio::test]
async fn a_client_on_a_second_host_is_refused_and_the_announced_one_transfers() {
    let u = uftp();
    let hosts = two_hosts(&u);
    let (grant, body) = file_for(&u, &hosts.here, 11).await;
    let (g, to) = (grant.clone(), hosts.here.clone());
    let e = in_netns(&hosts.ns, move || fetch(g, to)).await.unwrap_err();
    refused_address(&e, &hosts.there, grant.secret.expose());
    // The refusal did not use the one-off secret up: the announced client transfers.
    let got = fetch(grant, hosts.here).await.expect("the announced client");
    assert!(got == body, "the announced client got other bytes");
}

#[tokio::test]
async fn the_announced_client_on_a_second_host_transfers_and_this_host_is_refused() {
    let u = uftp();
    let hosts = two_hosts(&u);
    let (grant, body) = file_for(&u, &hosts.there, 12).await;
    let e = fetch(grant.clone(), hosts.here.clone()).await.unwrap_err();
    refused_address(&e, &hosts.here, grant.secret.expose());
    let (g, to) = (grant, hosts.here);
    let got = in_netns(&hosts.ns, move || fetch(g, to)).await.expect("the announced client");
    assert!(got == body, "the client in the namespace got other bytes");
}
