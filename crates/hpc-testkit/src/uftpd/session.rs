//! One control connection: login, the command set, and the data transfers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use uftp_proto::local::{FileReader, FileWriter};
use uftp_proto::{Coding, Inbound, Outbound};

use super::files::{self, base_name, on_disk, resolve};
use super::state::{Job, Uftpd, lock};

/// How long a passive listener waits for its one connection.
const ACCEPT_WITHIN: Duration = Duration::from_secs(30);
/// The longest command line accepted.
const MAX_LINE: u64 = 8192;

type Reply = (u16, String);

fn err(code: u16, cmd: &str, msg: impl std::fmt::Display) -> Reply {
    (code, format!("Error processing command '{cmd}': {msg}"))
}

struct Session {
    server: Arc<Uftpd>,
    job: Job,
    peer: IpAddr,
    /// The address the control connection came in on: passive listeners go there.
    local: IpAddr,
    jail: String,
    cwd: String,
    streams: usize,
    pending: Vec<tokio::task::JoinHandle<Option<TcpStream>>>,
    range: Option<(u64, u64)>,
    rest: u64,
    allo: Option<u64>,
    rename_from: Option<String>,
    hash_algo: String,
    writer: OwnedWriteHalf,
    /// `KEEP-ALIVE true`: data connections outlive a transfer.
    keep_alive: bool,
    /// The data connections kept open after the last transfer.
    kept: Vec<TcpStream>,
}

fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

async fn send(w: &mut OwnedWriteHalf, code: u16, text: &str) -> std::io::Result<()> {
    w.write_all(format!("{code} {text}\n").as_bytes()).await
}

async fn read_line(r: &mut BufReader<OwnedReadHalf>) -> Option<String> {
    let mut buf = Vec::new();
    let n = (&mut *r).take(MAX_LINE).read_until(b'\n', &mut buf).await.ok()?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return None;
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

pub(crate) async fn serve(server: Arc<Uftpd>, tcp: TcpStream, peer: SocketAddr) {
    let peer = normalize(peer.ip());
    let local = tcp.local_addr().map(|a| normalize(a.ip())).unwrap_or(server.config.host);
    // Replies are small and often two in a row (`150`, then `226`): without
    // this, Nagle holds the second until the client's delayed ACK, 40 ms.
    let _ = tcp.set_nodelay(true);
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let version = server.config.version.clone();
    if send(&mut w, 220, &format!("UFTPD {version}, https://www.unicore.eu")).await.is_err() {
        return;
    }
    let Some((secret, job)) = login(&server, &mut r, &mut w, peer).await else {
        let _ = w.shutdown().await;
        return;
    };
    let (jail, cwd) = if job.base.trim().is_empty() {
        ("/".to_owned(), "/".to_owned())
    } else {
        let b = resolve("/", "/", &job.base).unwrap_or_else(|| "/".into());
        (b.clone(), b)
    };
    let mut s = Session {
        streams: job.streams.clamp(1, server.config.max_streams),
        server: server.clone(),
        job,
        peer,
        local,
        jail,
        cwd,
        pending: Vec::new(),
        range: None,
        rest: 0,
        allo: None,
        rename_from: None,
        hash_algo: "MD5".into(),
        writer: w,
        keep_alive: false,
        kept: Vec::new(),
    };
    while let Some(line) = read_line(&mut r).await {
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.to_owned()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        if verb == "QUIT" || verb == "BYE" {
            break;
        }
        let reply = s.command(&verb, &arg).await;
        if let Some((code, text)) = reply
            && s.reply(code, &text).await.is_err()
        {
            break;
        }
    }
    let _ = s.writer.shutdown().await;
    let mut jobs = lock(&server.jobs);
    if let Some(j) = jobs.get_mut(&secret) {
        j.active = j.active.saturating_sub(1);
        if j.active == 0 {
            jobs.remove(&secret);
        }
    }
}

/// `USER anonymous`, `PASS <secret>` and the checks; `None` after a refusal.
async fn login(
    server: &Uftpd,
    r: &mut BufReader<OwnedReadHalf>,
    w: &mut OwnedWriteHalf,
    peer: IpAddr,
) -> Option<(String, Job)> {
    loop {
        let line = read_line(r).await?;
        let upper = line.to_ascii_uppercase();
        if upper == "SYST" {
            send(w, 215, "Unix Type: L8").await.ok()?;
            continue;
        }
        if upper != "USER ANONYMOUS" || !line.starts_with("USER ") || &line[5..] != "anonymous" {
            send(w, 530, "Not logged in: please log in with USER anonymous").await.ok()?;
            continue;
        }
        send(w, 331, "Please specify the password").await.ok()?;
        let pass = read_line(r).await?;
        let Some(secret) = pass.strip_prefix("PASS ").filter(|p| *p != "anonymous") else {
            let _ = send(w, 500, "Protocol error").await;
            return None;
        };
        let decision = {
            let mut jobs = lock(&server.jobs);
            match jobs.get_mut(secret) {
                None => Err((530, "Not logged in: no matching transfer request found".to_owned())),
                Some(job) if !job.clients.contains(&peer) => Err((
                    500,
                    format!(
                        "Error establishing connection: Rejecting connection from {peer}: not in the client address list of the transfer request"
                    ),
                )),
                Some(job) if !job.persistent && job.used => {
                    Err((500, "Session for these credentials is already running".to_owned()))
                }
                Some(job) => {
                    job.active += 1;
                    job.used = true;
                    Ok(job.clone())
                }
            }
        };
        let job = match decision {
            Ok(job) => job,
            Err((code, text)) => {
                let _ = send(w, code, &text).await;
                return None;
            }
        };
        send(w, 230, "Login successful").await.ok()?;
        return Some((secret.to_owned(), job));
    }
}

/// Access levels of `access-permissions`, in order.
fn level(access: &str) -> u8 {
    match access {
        "NONE" => 0,
        "INFO" => 1,
        "READ" => 2,
        "WRITE" => 3,
        _ => 4,
    }
}

impl Session {
    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        send(&mut self.writer, code, text).await
    }

    fn coding(&self) -> Coding {
        Coding { key: self.job.key.clone(), compress: self.job.compress }
    }

    fn path(&self, verb: &str, arg: &str) -> Result<String, Reply> {
        let arg = if arg.is_empty() { "." } else { arg };
        resolve(&self.jail, &self.cwd, arg).ok_or_else(|| {
            err(534, verb, format!("'{arg}' is outside the session's base directory"))
        })
    }

    fn allow(&self, verb: &str, need: &str) -> Result<(), Reply> {
        if level(&self.job.access) >= level(need) {
            Ok(())
        } else {
            Err(err(534, verb, format!("not allowed with access-permissions {}", self.job.access)))
        }
    }

    fn disk(&self, abs: &str) -> std::path::PathBuf {
        on_disk(&self.server.config.root, abs)
    }

    async fn command(&mut self, verb: &str, arg: &str) -> Option<Reply> {
        match self.dispatch(verb, arg).await {
            Ok(r) => r,
            Err(e) => Some(e),
        }
    }

    async fn dispatch(&mut self, verb: &str, arg: &str) -> Result<Option<Reply>, Reply> {
        let ok = |t: &str| Ok(Some((200, t.to_owned())));
        match verb {
            "SYST" => Ok(Some((215, "Unix Type: L8".into()))),
            "FEAT" => {
                let mut lines = vec![
                    "211-Features:".to_owned(),
                    " PASV".into(),
                    " EPSV".into(),
                    " RANG STREAM".into(),
                    " REST STREAMMFMT".into(),
                    " MLSD".into(),
                    " MLST".into(),
                    " APPE".into(),
                    " MFF Modify;UNIX.mode;KEEP-ALIVE".into(),
                    " ARCHIVE".into(),
                    " UTF-8".into(),
                ];
                if let Some(k) = &self.job.key {
                    lines.push(format!(" CRYPTED-{}", k.algorithm().name()));
                }
                lines.push(" HASH MD5*;SHA-1;SHA-256;SHA-512".into());
                lines.push(format!(" {}", uftp_proto::FEAT_MULTI_STREAM_CRYPT));
                let text = lines.join("\n");
                self.writer
                    .write_all(format!("{text}\n").as_bytes())
                    .await
                    .map_err(|_| (0, String::new()))?;
                Ok(Some((211, "END".into())))
            }
            "NOOP" if arg.is_empty() => ok("OK"),
            "NOOP" => {
                let n: usize = arg
                    .trim()
                    .parse()
                    .map_err(|_| err(501, verb, format!("'{arg}' is not a number")))?;
                let max = self.server.config.max_streams;
                if n <= max {
                    self.streams = n.max(1);
                    Ok(Some((222, format!("Opening {} data connections", self.streams))))
                } else {
                    self.streams = max;
                    Ok(Some((223, format!("Opening {max} data connections"))))
                }
            }
            "TYPE" => ok("OK"),
            "SIZE" => Err(err(500, verb, "SIZE is not supported, use MLST")),
            "KEEP-ALIVE" => {
                let on = match arg.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(err(501, verb, format!("'{arg}' is not true or false"))),
                };
                if on && (self.job.key.is_some() || self.job.compress) {
                    // A cipher or gzip stream ends only where its connection does.
                    return Err(err(
                        500,
                        verb,
                        "keep-alive data connections carry plain data only",
                    ));
                }
                self.keep_alive = on;
                if !on {
                    self.kept.clear();
                }
                ok("OK")
            }
            "OPTS" if arg.is_empty() => Err(err(500, verb, "missing option")),
            "OPTS" => {
                let (k, v) = arg.split_once(' ').unwrap_or((arg, ""));
                if k.eq_ignore_ascii_case("HASH") {
                    let a = v.trim().to_ascii_uppercase();
                    if !["MD5", "SHA-1", "SHA-256", "SHA-512"].contains(&a.as_str()) {
                        return Err(err(501, verb, format!("unknown hash algorithm '{v}'")));
                    }
                    self.hash_algo = a;
                }
                Ok(Some((200, format!("{k}={v}"))))
            }
            "PWD" => Ok(Some((257, format!("\"{}\"", self.cwd)))),
            "CWD" | "CDUP" => {
                let target = if verb == "CDUP" { ".." } else { arg };
                let abs = self.path(verb, target)?;
                let m =
                    tokio::fs::metadata(self.disk(&abs)).await.map_err(|e| err(550, verb, e))?;
                if !m.is_dir() {
                    return Err(err(550, verb, format!("'{abs}' is not a directory")));
                }
                self.cwd = abs;
                ok("OK")
            }
            "PASV" | "EPSV" => {
                if arg.eq_ignore_ascii_case("ALL") {
                    return ok("OK");
                }
                if !self.kept.is_empty() {
                    return Err(err(503, verb, "keep-alive data connections are open; use them"));
                }
                let listener = TcpListener::bind(SocketAddr::new(self.local, 0))
                    .await
                    .map_err(|e| err(425, verb, e))?;
                let port = listener.local_addr().map_err(|e| err(425, verb, e))?.port();
                let peer = self.peer;
                self.pending.push(tokio::spawn(async move {
                    let accept = async {
                        loop {
                            let (tcp, from) = listener.accept().await.ok()?;
                            if normalize(from.ip()) == peer {
                                let _ = tcp.set_nodelay(true);
                                return Some(tcp);
                            }
                        }
                    };
                    tokio::time::timeout(ACCEPT_WITHIN, accept).await.ok().flatten()
                }));
                if verb == "EPSV" {
                    Ok(Some((229, format!("Entering Extended Passive Mode (|||{port}|)"))))
                } else {
                    let ip = match self.local {
                        IpAddr::V4(v4) => v4.octets(),
                        IpAddr::V6(_) => [127, 0, 0, 1],
                    };
                    Ok(Some((
                        227,
                        format!(
                            "Entering Passive Mode ({},{},{},{},{},{})",
                            ip[0],
                            ip[1],
                            ip[2],
                            ip[3],
                            port >> 8,
                            port & 0xff
                        ),
                    )))
                }
            }
            "REST" => {
                self.rest = parse_big(arg)
                    .ok_or_else(|| err(501, verb, format!("'{arg}' is not a number")))?;
                self.range = None;
                Ok(Some((350, format!("Restarting at {}.", self.rest))))
            }
            "RANG" => {
                let (a, b) = arg
                    .split_once(' ')
                    .ok_or_else(|| err(501, verb, "expected RANG <start> <end>"))?;
                let (a, b) = (parse_big(a), parse_big(b));
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(err(501, verb, "expected two numbers"));
                };
                if a == 1 && b == 0 {
                    self.range = None;
                    return Ok(Some((350, "Resetting range".into())));
                }
                if b < a {
                    return Err(err(501, verb, "the end is before the start"));
                }
                self.range = Some((a, b));
                self.rest = 0;
                Ok(Some((350, format!("Restarting at {a}. End byte range at {b}"))))
            }
            "ALLO" => {
                let n = parse_big(arg)
                    .ok_or_else(|| err(501, verb, format!("'{arg}' is not a number")))?;
                self.allo = Some(n);
                Ok(Some((200, format!("OK Will read up to {n} bytes from data connection."))))
            }
            "MKD" => {
                self.allow(verb, "WRITE")?;
                let abs = self.path(verb, arg)?;
                let d = self.disk(&abs);
                if tokio::fs::symlink_metadata(&d).await.is_ok() {
                    return Err(err(550, verb, format!("'{abs}' already exists")));
                }
                tokio::fs::create_dir(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                Ok(Some((257, format!("\"{abs}\" directory created"))))
            }
            "RMD" => {
                self.allow(verb, "WRITE")?;
                let abs = self.path(verb, arg)?;
                if abs == self.jail {
                    return Err(err(534, verb, "cannot remove the base directory"));
                }
                tokio::fs::remove_dir(self.disk(&abs)).await.map_err(|e| io_err(verb, &abs, e))?;
                ok("OK")
            }
            "DELE" => {
                self.allow(verb, "WRITE")?;
                let abs = self.path(verb, arg)?;
                let d = self.disk(&abs);
                let m = tokio::fs::symlink_metadata(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                if m.is_dir() {
                    return Err(err(550, verb, format!("'{abs}' is a directory")));
                }
                tokio::fs::remove_file(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                ok("OK")
            }
            "RNFR" => {
                self.allow(verb, "WRITE")?;
                let abs = self.path(verb, arg)?;
                tokio::fs::symlink_metadata(self.disk(&abs))
                    .await
                    .map_err(|e| io_err(verb, &abs, e))?;
                self.rename_from = Some(abs);
                Ok(Some((350, "File action OK Please send rename-to".into())))
            }
            "RNTO" => {
                let from = self.rename_from.take().ok_or_else(|| err(503, verb, "RNFR first"))?;
                let abs = self.path(verb, arg)?;
                tokio::fs::rename(self.disk(&from), self.disk(&abs))
                    .await
                    .map_err(|e| io_err(verb, &abs, e))?;
                ok("OK")
            }
            "MFMT" => {
                self.allow(verb, "WRITE")?;
                let (t, p) = arg
                    .split_once(' ')
                    .ok_or_else(|| err(501, verb, "expected MFMT <time> <path>"))?;
                let time = uftp_proto::parse::mdtm(t)
                    .ok_or_else(|| err(501, verb, format!("'{t}' is not a time")))?;
                let abs = self.path(verb, p)?;
                let f = std::fs::File::open(self.disk(&abs)).map_err(|e| io_err(verb, &abs, e))?;
                f.set_modified(time).map_err(|e| io_err(verb, &abs, e))?;
                Ok(Some((213, format!("Modify={t}; {p}"))))
            }
            "MFF" => {
                self.allow(verb, "WRITE")?;
                let (facts, p) = arg
                    .split_once("; ")
                    .ok_or_else(|| err(501, verb, "expected MFF <facts>; <path>"))?;
                let abs = self.path(verb, p)?;
                let d = self.disk(&abs);
                for fact in facts.split(';') {
                    let (k, v) = fact
                        .split_once('=')
                        .ok_or_else(|| err(501, verb, format!("bad fact '{fact}'")))?;
                    match k.to_ascii_lowercase().as_str() {
                        "unix.mode" => {
                            use std::os::unix::fs::PermissionsExt;
                            let mode = u32::from_str_radix(v, 8)
                                .map_err(|_| err(501, verb, format!("bad mode '{v}'")))?;
                            tokio::fs::set_permissions(
                                &d,
                                std::fs::Permissions::from_mode(mode & 0o7777),
                            )
                            .await
                            .map_err(|e| io_err(verb, &abs, e))?;
                        }
                        "modify" => {
                            let time = uftp_proto::parse::mdtm(v)
                                .ok_or_else(|| err(501, verb, format!("'{v}' is not a time")))?;
                            let f = std::fs::File::open(&d).map_err(|e| io_err(verb, &abs, e))?;
                            f.set_modified(time).map_err(|e| io_err(verb, &abs, e))?;
                        }
                        other => return Err(err(501, verb, format!("cannot set fact '{other}'"))),
                    }
                }
                Ok(Some((213, format!("{facts}; {p}"))))
            }
            "MLST" => {
                self.allow(verb, "INFO")?;
                let abs = self.path(verb, arg)?;
                let m = tokio::fs::metadata(self.disk(&abs))
                    .await
                    .map_err(|e| io_err(verb, &abs, e))?;
                let text = format!("250- Listing {abs}\n {}\n", files::mlsx(&m, base_name(&abs)));
                self.writer.write_all(text.as_bytes()).await.map_err(|_| (0, String::new()))?;
                Ok(Some((250, "End".into())))
            }
            "STAT" => {
                self.allow(verb, "INFO")?;
                let (mode, p) = match arg.split_once(' ') {
                    Some((m @ ("N" | "F"), p)) => (Some(m), p),
                    _ if arg == "N" || arg == "F" => (Some(arg), ""),
                    _ => (None, arg),
                };
                let abs = self.path(verb, p)?;
                let d = self.disk(&abs);
                let m = tokio::fs::metadata(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                let mut lines = vec!["211- Sending file list".to_owned()];
                if m.is_dir() && mode != Some("F") {
                    for (name, em) in read_dir(&d).await.map_err(|e| io_err(verb, &abs, e))? {
                        lines.push(files::stat_line(&em, &name));
                    }
                } else {
                    lines.push(files::stat_line(&m, base_name(&abs)));
                }
                self.writer
                    .write_all(format!("{}\n", lines.join("\n")).as_bytes())
                    .await
                    .map_err(|_| (0, String::new()))?;
                Ok(Some((211, "End of file list".into())))
            }
            "LIST" | "NLST" | "MLSD" => {
                self.allow(verb, "INFO")?;
                if self.keep_alive {
                    return Err(err(
                        500,
                        verb,
                        "a listing announces no size: not on keep-alive data connections",
                    ));
                }
                let p = if arg.starts_with('-') { "" } else { arg };
                let abs = self.path(verb, p)?;
                let d = self.disk(&abs);
                let m = tokio::fs::metadata(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                let entries = if m.is_dir() {
                    read_dir(&d).await.map_err(|e| io_err(verb, &abs, e))?
                } else {
                    vec![(base_name(&abs).to_owned(), m)]
                };
                let mut text = String::new();
                for (name, em) in &entries {
                    let line = match verb {
                        "MLSD" => files::mlsx(em, name),
                        "NLST" => name.clone(),
                        _ => files::list_line(em, name),
                    };
                    text.push_str(&line);
                    text.push_str("\r\n");
                }
                let conns = self.take_data(verb, &abs, 1).await?;
                self.reply(150, "OK").await.map_err(|_| (0, String::new()))?;
                let mut out = Outbound::new(conns, &Coding::default(), "client".into());
                let sent = async {
                    out.write(text.as_bytes()).await?;
                    out.finish().await
                }
                .await;
                self.after_transfer();
                sent.map_err(|e| err(426, verb, e))?;
                Ok(Some((226, "File transfer successful".into())))
            }
            "RETR" => {
                self.allow(verb, "READ")?;
                let abs = self.path(verb, arg)?;
                self.retrieve(verb, &abs).await.map(Some)
            }
            "STOR" | "APPE" => {
                self.allow(verb, "WRITE")?;
                let abs = self.path(verb, arg)?;
                self.store(verb, &abs).await.map(Some)
            }
            "HASH" => {
                self.allow(verb, "READ")?;
                let abs = self.path(verb, arg)?;
                let d = self.disk(&abs);
                let m = tokio::fs::metadata(&d).await.map_err(|e| io_err(verb, &abs, e))?;
                if m.is_dir() {
                    return Err(err(550, verb, format!("'{abs}' is a directory")));
                }
                let (first, len) = match self.range.take() {
                    Some((a, b)) => (a, Some(b - a)),
                    None => (0, None),
                };
                let end = len.map(|l| (first + l).min(m.len())).unwrap_or(m.len());
                let hex = files::hash(&d, &self.hash_algo, first, len)
                    .await
                    .map_err(|e| io_err(verb, &abs, e))?;
                Ok(Some((
                    213,
                    format!("{} {first}-{} {hex} {arg}", self.hash_algo, end.saturating_sub(1)),
                )))
            }
            "SEND-FILE" | "RECEIVE-FILE" => {
                self.allow(verb, if verb == "SEND-FILE" { "READ" } else { "WRITE" })?;
                self.server_copy(verb, arg).await.map(Some)
            }
            "USER" | "PASS" => Err(err(503, verb, "already logged in")),
            _ => Ok(Some((502, "Command not implemented.".into()))),
        }
    }

    /// The data connections opened with `PASV`/`EPSV` since the last
    /// transfer (counted for `path`), or the kept ones.
    async fn take_data(
        &mut self,
        verb: &str,
        path: &str,
        want: usize,
    ) -> Result<Vec<TcpStream>, Reply> {
        if !self.kept.is_empty() {
            return Ok(std::mem::take(&mut self.kept));
        }
        let pending = std::mem::take(&mut self.pending);
        if pending.len() != want {
            self.after_transfer();
            return Err(err(
                425,
                verb,
                format!(
                    "{want} data connection(s) needed, {} opened with PASV/EPSV",
                    pending.len()
                ),
            ));
        }
        let mut conns = Vec::new();
        for p in pending {
            match p.await {
                Ok(Some(c)) => conns.push(c),
                _ => {
                    self.after_transfer();
                    return Err(err(425, verb, "the client did not open its data connection"));
                }
            }
        }
        self.server.count_data_connections(path, conns.len());
        Ok(conns)
    }

    /// After each transfer: no range, one stream (unless the connections are kept).
    fn after_transfer(&mut self) {
        self.range = None;
        self.rest = 0;
        self.allo = None;
        if self.kept.is_empty() {
            self.streams = 1;
        }
        for p in self.pending.drain(..) {
            p.abort();
        }
    }

    async fn retrieve(&mut self, verb: &str, abs: &str) -> Result<Reply, Reply> {
        let d = self.disk(abs);
        let m = tokio::fs::metadata(&d).await.map_err(|e| io_err(verb, abs, e))?;
        if m.is_dir() {
            return Err(err(550, verb, format!("'{abs}' is a directory")));
        }
        let size = m.len();
        let (start, count, announced) = match (self.range, self.rest) {
            (Some((a, b)), _) => {
                let a = a.min(size);
                let n = b.min(size) - a;
                (a, n, n)
            }
            (None, r) => {
                let r = r.min(size);
                (r, size - r, size)
            }
        };
        let streams = self.streams;
        let conns = self.take_data(verb, abs, streams).await?;
        let mut file = tokio::fs::File::open(&d).await.map_err(|e| io_err(verb, abs, e))?;
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| io_err(verb, abs, e))?;
        self.reply(150, &format!("OK {announced} bytes available for reading."))
            .await
            .map_err(|_| (0, String::new()))?;
        let keep = self.keep_alive;
        let mut out = if keep {
            Outbound::kept(conns, "client".into())
        } else {
            Outbound::new(conns, &self.coding(), "client".into())
        };
        let file = file.into_std().await;
        let sent = async {
            // One plain stream goes out with sendfile, as UFTPD's transferTo does.
            if let Some(sent) = out.send_file(&file, start, count, abs, |_| {}).await {
                sent?;
            } else {
                let reading = file.try_clone().map_err(|e| hpc_core::Error::io("reading", e))?;
                let mut reader = FileReader::new(reading, Some(count));
                while let Some(piece) =
                    reader.next().await.map_err(|e| hpc_core::Error::io("reading", e))?
                {
                    out.write_bytes(piece).await?;
                }
            }
            if keep {
                let (n, conns) = out.finish_kept().await?;
                Ok((n, conns))
            } else {
                out.finish().await.map(|n| (n, Vec::new()))
            }
        }
        .await;
        let sent = sent.map(|(_, conns)| self.kept = conns);
        self.after_transfer();
        sent.map_err(|e| err(426, verb, e))?;
        Ok((226, "File transfer successful".into()))
    }

    async fn store(&mut self, verb: &str, abs: &str) -> Result<Reply, Reply> {
        let d = self.disk(abs);
        if tokio::fs::metadata(&d).await.is_ok_and(|m| m.is_dir()) {
            return Err(err(550, verb, format!("'{abs}' is a directory")));
        }
        let streams = self.streams;
        let range = self.range;
        let limit = match range {
            Some((a, b)) => Some(b - a),
            None => self.allo,
        };
        let append = verb == "APPE" || self.job.append;
        let keep = self.keep_alive;
        if keep && limit.is_none_or(|l| l >= i64::MAX as u64) {
            self.after_transfer();
            return Err(err(
                501,
                verb,
                "on keep-alive data connections the size comes first (ALLO or RANG)",
            ));
        }
        let conns = self.take_data(verb, abs, streams).await?;
        // Whole-file uploads land beside the target and replace it only when complete.
        let tmp = d.with_file_name(format!(".{}.uftpd-part", base_name(abs)));
        let (file, temp) = if let Some((a, _)) = range {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&d)
                .await
                .map_err(|e| io_err(verb, abs, e))?;
            f.seek(std::io::SeekFrom::Start(a)).await.map_err(|e| io_err(verb, abs, e))?;
            (f, None)
        } else if append {
            let f = tokio::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&d)
                .await
                .map_err(|e| io_err(verb, abs, e))?;
            (f, None)
        } else {
            let f = tokio::fs::File::create(&tmp).await.map_err(|e| io_err(verb, abs, e))?;
            (f, Some(tmp))
        };
        self.reply(150, "OK").await.map_err(|_| (0, String::new()))?;
        let mut inbound = if keep {
            Inbound::kept(conns, "client".into(), limit.unwrap_or(0))
        } else {
            Inbound::new(conns, &self.coding(), "client".into())
        };
        let file = file.into_std().await;
        let received = async {
            // One plain stream goes to the file in the kernel (splice), so
            // that the server's own copying does not set a client's pace.
            let spliced = inbound.splice_into(&file, limit.unwrap_or(u64::MAX), abs, |_| {}).await;
            let (got, conns) = match spliced {
                Some(got) => {
                    let got = got?;
                    inbound.drain().await?;
                    (got, Vec::new())
                }
                None => {
                    let mut file = FileWriter::new(file);
                    let mut left = limit.unwrap_or(u64::MAX);
                    let mut got = 0u64;
                    while let Some(mut chunk) = inbound.next_chunk().await? {
                        let take =
                            usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                        chunk.truncate(take);
                        file.write(chunk).await.map_err(|e| hpc_core::Error::io("writing", e))?;
                        left -= take as u64;
                        got += take as u64;
                    }
                    let conns = if keep {
                        inbound.into_connections()?
                    } else {
                        inbound.drain().await?;
                        Vec::new()
                    };
                    file.finish().await.map_err(|e| hpc_core::Error::io("writing", e))?;
                    (got, conns)
                }
            };
            // An announced size (ALLO) that did not arrive is a broken upload.
            if let (None, Some(want)) = (range, limit)
                && got < want
                && want < i64::MAX as u64
            {
                return Err(hpc_core::Error::ConnectionLost {
                    host: "client".into(),
                    reason: format!("the data connection closed after {got} of {want} bytes"),
                    source: None,
                });
            }
            Ok::<_, hpc_core::Error>((got, conns))
        }
        .await;
        let received = received.map(|(got, conns)| {
            self.kept = conns;
            got
        });
        self.after_transfer();
        match (received, temp) {
            (Ok(_), Some(tmp)) => {
                tokio::fs::rename(&tmp, &d).await.map_err(|e| io_err(verb, abs, e))?;
            }
            (Ok(_), None) => {}
            (Err(e), temp) => {
                if let Some(t) = temp {
                    let _ = tokio::fs::remove_file(t).await;
                }
                return Err(err(426, verb, e));
            }
        }
        Ok((226, "File transfer successful".into()))
    }

    /// `SEND-FILE|RECEIVE-FILE 'local' 'remote' 'host:port' 'secret'`: the
    /// copy runs in the background as a UFTP client of the other server.
    async fn server_copy(&mut self, verb: &str, arg: &str) -> Result<Reply, Reply> {
        let parts: Vec<&str> = arg.split('\'').collect();
        // 'a' 'b' 'c' 'd' → ["", a, " ", b, " ", c, " ", d, ""]
        if parts.len() != 9 {
            return Err(err(501, verb, "expected four quoted arguments"));
        }
        let (local, remote, server, secret) = (parts[1], parts[3], parts[5], parts[7]);
        let abs = self.path(verb, local)?;
        let d = self.disk(&abs);
        let (host, port) =
            server.rsplit_once(':').ok_or_else(|| err(501, verb, "server must be host:port"))?;
        let port: u16 = port.parse().map_err(|_| err(501, verb, "bad port"))?;
        let grant = uftp_proto::Grant {
            host: host.to_owned(),
            port,
            secret: hpc_auth::Secret::new(secret),
        };
        let send = verb == "SEND-FILE";
        let remote = remote.trim_start_matches('/').to_owned();
        let id = std::process::id() as u64 * 1000 + (self.server.next_copy() % 1000);
        tokio::spawn(async move {
            let run = async {
                let mut s =
                    uftp_proto::Session::connect(&grant, uftp_proto::TransferOptions::default())
                        .await?;
                if send {
                    uftp_proto::transfer::upload(&mut s, &d, &remote, false, None).await?;
                } else {
                    uftp_proto::transfer::download(&mut s, &remote, &d, false, None).await?;
                }
                s.quit().await;
                Ok::<(), hpc_core::Error>(())
            };
            if let Err(e) = run.await {
                tracing::warn!(error = %e, "server-to-server copy failed");
            }
        });
        Ok((299, format!("OK transfer-process-ID={id}")))
    }
}

/// Directory entries (name, metadata of the target), sorted by name.
async fn read_dir(d: &std::path::Path) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
    let mut rd = tokio::fs::read_dir(d).await?;
    let mut out = Vec::new();
    while let Some(e) = rd.next_entry().await? {
        if let Ok(m) = tokio::fs::metadata(e.path()).await {
            out.push((e.file_name().to_string_lossy().into_owned(), m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn io_err(verb: &str, abs: &str, e: std::io::Error) -> Reply {
    match e.kind() {
        std::io::ErrorKind::NotFound => err(550, verb, format!("File '{abs}' does not exist")),
        std::io::ErrorKind::PermissionDenied => {
            err(550, verb, format!("Permission denied: '{abs}'"))
        }
        std::io::ErrorKind::DirectoryNotEmpty => {
            err(550, verb, format!("Directory '{abs}' is not empty"))
        }
        _ => err(550, verb, format!("'{abs}': {e}")),
    }
}

/// A byte count; numbers past `u64` (clients send offset + 2^63 - 1) saturate.
fn parse_big(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u128>().map(|n| u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(u64::MAX))
}
