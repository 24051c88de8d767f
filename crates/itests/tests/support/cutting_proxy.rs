//! A TCP proxy on 127.0.0.1 that forwards to a real server and cuts any
//! connection (both sides) once the client has sent more than `limit` bytes:
//! a connection dropped in the middle of an upload.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Start the proxy in front of `upstream` (`host:port`); returns its port.
pub(crate) async fn start(upstream: String, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        sent += n;
                        if sent > limit || sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                // Whichever side ends first ends the connection: dropping the
                // halves closes both sockets.
                tokio::select! {
                    () = up => {}
                    () = down => {}
                }
            });
        }
    });
    port
}
