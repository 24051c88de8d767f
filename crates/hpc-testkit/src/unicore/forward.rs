//! `forward-port`: a `101` upgrade to `UNICORE-Socket-Forwarding`, then the
//! connection is joined to `host:port` (default `localhost`) on "the job's node".

use http::{HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::auth::Identity;
use super::http::{Handled, bad_request, fail, ok_json};
use super::jobs::{job_for, refresh};
use super::routes::Call;
use super::state::Server;

const UPGRADE: &str = "UNICORE-Socket-Forwarding";

pub(crate) async fn handle(server: &Server, who: &Identity, mut call: Call, id: &str) -> Handled {
    job_for(server, who, id)?;
    let rec = refresh(server, id).await?;
    let upgrade = call.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case(UPGRADE));
    if !upgrade {
        return ok_json(
            &json!({"status": rec.status, "forwarding": "send 'Connection: Upgrade' and 'Upgrade: UNICORE-Socket-Forwarding'"}),
        );
    }
    if matches!(rec.status, "READY" | "STAGINGIN") {
        return Err(fail(500, format!("job {id} has not been started")));
    }
    let target = match (call.query.get("port"), call.query.get("file")) {
        (Some(p), None) => {
            let port: u16 =
                p.parse().map_err(|_| bad_request(format!("port {p:?} is not a port number")))?;
            let host = call.query.get("host").cloned().unwrap_or_else(|| "localhost".into());
            Target::Tcp(format!("{host}:{port}"))
        }
        (None, Some(f)) => {
            if f.split('/').any(|s| s == "..") {
                return Err(bad_request("socket file leaves the working directory"));
            }
            Target::Unix(rec.workdir.join(f.trim_start_matches('/')))
        }
        _ => return Err(bad_request("give one of the parameters 'port' or 'file'")),
    };
    // Connect first, so that a closed port is an error answer, not a dead tunnel.
    let backend = match &target {
        Target::Tcp(addr) => Backend::Tcp(
            tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| fail(500, format!("cannot connect to {addr}: {e}")))?,
        ),
        Target::Unix(p) => Backend::Unix(
            tokio::net::UnixStream::connect(p)
                .await
                .map_err(|e| fail(500, format!("cannot connect to {}: {e}", p.display())))?,
        ),
    };
    let on_upgrade = hyper::upgrade::on(&mut call.request);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "forwarding upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(upgraded);
        let _ = match backend {
            Backend::Tcp(mut s) => tokio::io::copy_bidirectional(&mut client, &mut s).await,
            Backend::Unix(mut s) => tokio::io::copy_bidirectional(&mut client, &mut s).await,
        };
    });
    let mut r = super::http::empty(101);
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(http::header::UPGRADE, HeaderValue::from_static(UPGRADE));
    r.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    Ok(r)
}

enum Target {
    Tcp(String),
    Unix(std::path::PathBuf),
}

enum Backend {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}
