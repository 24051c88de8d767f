//! The command port: where an auth server announces a transfer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uftp_proto::{Algorithm, EncryptionKey};

use super::state::{Job, Uftpd};

/// The longest request accepted.
const MAX_REQUEST: u64 = 64 * 1024;

pub(crate) async fn serve(server: Arc<Uftpd>, tcp: TcpStream) {
    let (r, mut w) = tcp.into_split();
    let mut reader = BufReader::new(r.take(MAX_REQUEST));
    let mut fields = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.starts_with("END") {
            break;
        }
        if let Some((k, v)) = l.split_once('=') {
            fields.insert(k.trim().to_owned(), v.to_owned());
        }
    }
    let answer = handle(&server, &fields);
    let _ = w.write_all(answer.as_bytes()).await;
    let _ = w.shutdown().await;
}

fn handle(server: &Uftpd, f: &HashMap<String, String>) -> String {
    match f.get("request-type").map(String::as_str) {
        Some("uftp-transfer-request") => match transfer_request(f) {
            Ok((secret, job)) => {
                tracing::debug!(
                    user = job.user.as_str(),
                    base = job.base.as_str(),
                    "transfer request"
                );
                server.register(secret, job);
                format!("OK::{}\n", server.control_addr.port())
            }
            Err(e) => format!("ERROR::{e}\n"),
        },
        Some("uftp-ping-request") => format!(
            "Version: {}\nListenPort: {}\nListenAddress: {}\nMaxSessionsPerClient: 16\n",
            server.config.version,
            server.control_addr.port(),
            server.control_addr.ip()
        ),
        // Not UFTPD's: what tests count (`file`: a directory in the server's tree).
        Some("hpckit-stats-request") => format!(
            "DataConnections: {}\n",
            server.data_connections_under(f.get("file").map_or("/", |v| v.trim()))
        ),
        Some(other) => format!("ERROR::Unsupported request type '{other}'\n"),
        None => "ERROR::Unsupported request type ''\n".into(),
    }
}

fn transfer_request(f: &HashMap<String, String>) -> Result<(String, Job), String> {
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let flag = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let user = get("user").ok_or("no user given")?.to_owned();
    if user == "root" {
        return Err("user 'root' is not allowed".into());
    }
    let secret = get("secret").ok_or("no secret given")?.to_owned();
    let clients = get("client-ip")
        .ok_or("no client-ip given")?
        .split(',')
        .map(|a| a.trim().parse::<IpAddr>().map_err(|_| format!("invalid client address {a:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let streams = match get("streams") {
        Some(s) => s.parse::<usize>().map_err(|_| format!("invalid streams {s:?}"))?.max(1),
        None => 1,
    };
    let key = match get("key") {
        Some(k) => {
            let algo =
                get("algo").map(str::parse::<Algorithm>).transpose().map_err(|e| e.to_string())?;
            Some(EncryptionKey::from_base64(k, algo).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok((
        secret,
        Job {
            user,
            clients,
            persistent: flag("persistent"),
            base: f.get("file").cloned().unwrap_or_default(),
            streams,
            compress: flag("compress"),
            key,
            append: flag("append"),
            access: get("access-permissions").unwrap_or("FULL").to_ascii_uppercase(),
            created: Instant::now(),
            active: 0,
            used: false,
        },
    ))
}
