//! Local and remote port forwarding through the real test sshd, to a small
//! TCP echo server run by the test.

mod ssh_support;

use std::net::SocketAddr;

use ssh_support::ssh_env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on 127.0.0.1; returns its port.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

async fn round_trip(addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    back
}

#[tokio::test]
async fn local_forward_tunnels_each_connection() {
    let ssh = ssh_env().connect().await;
    let echo = echo_server().await;
    let fwd = ssh.forward_local("127.0.0.1:0".parse().unwrap(), "127.0.0.1", echo).await.unwrap();
    let addr = fwd.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let (a, b, c) =
        tokio::join!(round_trip(addr, b"one"), round_trip(addr, b"two"), round_trip(addr, &big));
    assert_eq!((a.as_slice(), b.as_slice()), (&b"one"[..], &b"two"[..]));
    assert!(c == big, "2 MB came back altered ({} bytes)", c.len());
    drop(fwd);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "still listening after drop");
}

#[tokio::test]
async fn remote_forward_brings_server_side_connections_here() {
    let ssh = ssh_env().connect().await;
    let echo = echo_server().await;
    let fwd = ssh.forward_remote("127.0.0.1", 0, "127.0.0.1", echo).await.unwrap();
    let port = fwd.remote_port().unwrap();
    assert_ne!(port, 0);
    // The test sshd runs on this machine, so its listener is reachable here.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(round_trip(addr, b"via the server").await, b"via the server");
    // From the server's own shell, too.
    let out = hpc_exec::Executor::run_checked(
        &ssh,
        &hpc_exec::Command::new("bash")
            .arg("-c")
            .arg("exec 3<>/dev/tcp/127.0.0.1/$1; printf ping >&3; head -c 4 <&3")
            .arg("bash")
            .arg(port.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"ping");
    fwd.close().await.unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "server still listening after close");
}
