//! The UFTP auth server: `GET /rest/auth` describes the configured UFTPD
//! servers, `POST /rest/auth/<name>` announces a session on that server's
//! command port and returns host, port and the one-time secret, `GET
//! /rest/auth/token` issues a token.

use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::auth::Identity;
use super::http::{Handled, bad_request, fail, link, ok_json};
use super::routes::Call;
use super::state::{PeerAddr, Server};

pub(crate) async fn route(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => info(server, who),
        (Method::GET, ["token"]) => super::routes::token(server, who, &call),
        (Method::POST, [name]) => announce(server, who, call, name).await,
        (Method::GET, [name]) if server.config.uftpd.iter().any(|u| u.name == *name) => {
            info(server, who)
        }
        _ => Err(fail(404, "no such resource")),
    }
}

fn info(server: &Server, who: &Identity) -> Handled {
    who.require_user()?;
    let base = format!("{}/rest/auth", server.public);
    let mut out = serde_json::Map::new();
    for u in &server.config.uftpd {
        out.insert(
            u.name.clone(),
            json!({
                "href": format!("{base}/{}", u.name),
                "description": u.description,
                "status": "READY",
                "uid": who.uid,
                "gid": who.group,
                "availableGroups": server.user(who.user.as_deref().unwrap_or("")).map(|c| c.groups.clone()).unwrap_or_default(),
                "dataSharing": {"enabled": false},
                "rateLimit": 0,
                "sessionLimit": 0,
            }),
        );
    }
    out.insert("client".into(), json!({"dn": who.dn(), "xlogin": {"UID": who.uid, "group": who.group}, "role": {"selected": who.role}}));
    out.insert("server".into(), json!({"version": "10.1.0", "_links": {"self": link(&base)}}));
    ok_json(&Value::Object(out))
}

async fn announce(server: &Server, who: &Identity, call: Call, name: &str) -> Handled {
    who.require_user()?;
    let entry = server
        .config
        .uftpd
        .iter()
        .find(|u| u.name == name)
        .cloned()
        .ok_or_else(|| fail(404, format!("no UFTPD server '{name}'")))?;
    let peer = call.request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let body = call.json().await?;
    let text = |k: &str| match &body[k] {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let flag = |k: &str| text(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let client = match text("client") {
        Some(c) => c,
        None => match peer {
            Some(std::net::IpAddr::V6(v6)) => {
                v6.to_ipv4_mapped().map(|v| v.to_string()).unwrap_or(v6.to_string())
            }
            Some(ip) => ip.to_string(),
            None => return Err(fail(500, "the caller's address is unknown")),
        },
    };
    let streams: u32 = match text("streamCount") {
        Some(s) => {
            s.parse().map_err(|_| bad_request(format!("streamCount {s:?} is not a number")))?
        }
        None => 1,
    };
    let secret = lowercase_secret();
    let group = match text("group") {
        Some(g) => g,
        None => who.group.clone(),
    };
    let mut req = vec![
        "request-type=uftp-transfer-request".to_owned(),
        format!("client-ip={client}"),
        format!("user={}", who.uid),
        format!("secret={secret}"),
        format!("persistent={}", flag("persistent")),
        format!("file={}", text("serverPath").unwrap_or_default()),
        format!("append={}", flag("append")),
        format!("streams={streams}"),
        format!("compress={}", flag("compress")),
        format!("group={group}"),
    ];
    if let Some(k) = text("encryptionKey") {
        req.push(format!("key={k}"));
        if let Some(a) = text("encryptionAlgorithm") {
            req.push(format!("algo={a}"));
        }
    }
    if req.iter().any(|l| l.contains('\n')) {
        return Err(bad_request("request fields cannot contain line breaks"));
    }
    let answer = send_request(entry.command, &req)
        .await
        .map_err(|e| fail(503, format!("UFTPD '{name}' is not available: {e}")))?;
    match answer.strip_prefix("OK::") {
        Some(_) => ok_json(&json!({
            "success": true,
            "reason": "",
            "serverHost": entry.host,
            "serverPort": entry.port,
            "secret": secret,
        })),
        None => Err(fail(
            500,
            format!("UFTPD '{name}' refused the request: {}", answer.trim_start_matches("ERROR::")),
        )),
    }
}

/// 20 random lower-case letters, as UNICORE's auth server makes them.
fn lowercase_secret() -> String {
    use ring::rand::SecureRandom as _;
    let mut buf = [0u8; 20];
    let _ = ring::rand::SystemRandom::new().fill(&mut buf);
    buf.iter().map(|b| char::from(b'a' + b % 26)).collect()
}

async fn send_request(addr: std::net::SocketAddr, lines: &[String]) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (r, mut w) = tcp.into_split();
    let mut text = lines.join("\n");
    text.push_str("\nEND\n");
    w.write_all(text.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    Ok(line.trim_end().to_owned())
}
