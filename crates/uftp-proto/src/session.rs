//! A session on UFTPD's control port: login with the one-time secret, the
//! command set, and the start and end of every data transfer.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use hpc_core::{Error, NetTimeouts, Result};
use tokio::net::TcpStream;

use crate::auth::Grant;
use crate::crypto::EncryptionKey;
use crate::data::{Coding, Inbound, Outbound};
use crate::error;
use crate::parse::{self, RemoteEntry};
use crate::reply::{Control, Reply};

/// The FEAT line a server shows when it ends every encrypted stream of a
/// multi-stream transfer correctly (hpckit's test server; UFTPD 3.5 does not).
pub const FEAT_MULTI_STREAM_CRYPT: &str = "MULTI-STREAM-CRYPT";
/// `2^63 - 1`: "to the end" for ranges, as PyUNICORE sends it.
const TO_THE_END: u64 = i64::MAX as u64;

/// How the data of this session's transfers travels.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Data connections per transfer (1 to 16; UFTPD caps at its MAX_STREAMS).
    pub streams: usize,
    /// Encryption key (the same one that went into the auth request).
    pub key: Option<EncryptionKey>,
    /// gzip (must match the auth request).
    pub compress: bool,
    /// Time limits: `connect` for every TCP connect (control and data),
    /// `idle` for each reply and for any pause of a data connection. `HASH`,
    /// which reads the whole file on the server before it answers, waits
    /// as long as that takes; TCP keepalive probes (after `idle` without
    /// traffic) still end it when the server or the network is gone.
    pub timeouts: NetTimeouts,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions { streams: 1, key: None, compress: false, timeouts: NetTimeouts::default() }
    }
}

impl TransferOptions {
    /// Checks the stream count.
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.streams) {
            return Err(Error::InvalidInput(format!(
                "{} data streams asked for; UFTP takes 1 to 16",
                self.streams
            )));
        }
        Ok(())
    }
}

/// Where an upload puts its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the file (`ALLO size` if known, `STOR`).
    Replace {
        /// Bytes that will be sent, if known.
        size: Option<u64>,
    },
    /// Write at `offset` without truncating (`RANG`, `STOR`).
    At {
        /// First byte written.
        offset: u64,
        /// Bytes that will be sent, if known.
        size: Option<u64>,
    },
    /// Append at the end (`APPE`).
    Append,
}

/// A logged-in control connection.
pub struct Session {
    ctrl: Control,
    peer: IpAddr,
    options: TransferOptions,
    coding: Coding,
    greeting: String,
    features: Option<Vec<String>>,
    /// A transfer whose end was not read: the control connection's state is unknown.
    in_transfer: bool,
    /// `KEEP-ALIVE true` was accepted: data connections outlive a transfer.
    keep_alive: bool,
    /// The data connections kept open after the last transfer.
    kept: Vec<TcpStream>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.ctrl.host)
            .field("streams", &self.options.streams)
            .field("encrypted", &self.options.key.is_some())
            .field("compress", &self.options.compress)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to `grant`'s UFTPD and logs in with its one-time secret.
    pub async fn connect(grant: &Grant, options: TransferOptions) -> Result<Session> {
        options.validate()?;
        let host = format!("{}:{}", grant.host, grant.port);
        tracing::debug!(host = host.as_str(), streams = options.streams, "uftp session");
        let limits = options.timeouts;
        let tcp = connect(&host, (grant.host.as_str(), grant.port), limits.connect).await?;
        let peer =
            tcp.peer_addr().map_err(|e| error::lost(&host, "reading the peer address", e))?.ip();
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let _ = tcp.set_nodelay(true);
        // A server or network that is gone ends a long wait (HASH) too.
        let _ = crate::pump::probe_when_quiet(&tcp, limits.idle);
        let mut ctrl = Control::new(tcp, host.clone(), limits);
        let hello = ctrl.read("connect").await?;
        if hello.code != 220 {
            return Err(error::unexpected(&host, "connect", hello.code, hello.text()));
        }
        ctrl.send("USER anonymous", "USER anonymous").await?;
        let r = ctrl.read("USER anonymous").await?;
        if r.code != 331 {
            return Err(login_error(&host, "USER anonymous", &r));
        }
        ctrl.send(&format!("PASS {}", grant.secret.expose()), "PASS ***").await?;
        let r = ctrl.read("PASS ***").await?;
        if r.code != 230 {
            return Err(login_error(&host, "PASS ***", &r));
        }
        let coding = Coding { key: options.key.clone(), compress: options.compress };
        let mut session = Session {
            ctrl,
            peer,
            options,
            coding,
            greeting: hello.text().to_owned(),
            features: None,
            in_transfer: false,
            keep_alive: false,
            kept: Vec::new(),
        };
        if session.options.streams > 1 && session.options.key.is_some() && !session.options.compress
        {
            let feats = session.features().await?;
            if !feats.iter().any(|f| f.eq_ignore_ascii_case(FEAT_MULTI_STREAM_CRYPT)) {
                return Err(Error::unsupported(
                    error::SERVICE,
                    format!(
                        "encrypted multi-stream transfers without compression on {host} ({}): UFTPD 3.5 cuts the last cipher block of each stream; use one stream, or add compression",
                        session.greeting
                    ),
                ));
            }
        }
        Ok(session)
    }

    /// `host:port` of the control connection.
    pub fn host(&self) -> &str {
        &self.ctrl.host
    }

    /// The server's greeting (`UFTPD <version>, …`).
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// The transfer options.
    pub fn options(&self) -> &TransferOptions {
        &self.options
    }

    /// Whether the session can take another command (no transfer left half
    /// done, no reply that came too late).
    pub fn is_usable(&self) -> bool {
        !self.in_transfer && !self.ctrl.is_stalled()
    }

    /// Sends one command and reads its reply, whatever the code.
    pub async fn command(&mut self, command: &str) -> Result<Reply> {
        if command.len() >= 5 && command[..5].eq_ignore_ascii_case("PASS ") {
            return Err(Error::InvalidInput("PASS is sent only by Session::connect".into()));
        }
        self.ctrl.send(command, command).await?;
        self.ctrl.read(command).await
    }

    /// Sends a command and fails unless the reply code is one of `ok`.
    async fn expect(&mut self, command: &str, ok: &[u16]) -> Result<Reply> {
        let r = self.command(command).await?;
        if ok.contains(&r.code) {
            Ok(r)
        } else {
            Err(error::unexpected(self.host(), command, r.code, reply_words(&r)))
        }
    }

    /// `FEAT`: the feature lines, trimmed (cached).
    pub async fn features(&mut self) -> Result<Vec<String>> {
        if let Some(f) = &self.features {
            return Ok(f.clone());
        }
        let r = self.expect("FEAT", &[211]).await?;
        let f: Vec<String> = r.inner().iter().map(|l| l.trim().to_owned()).collect();
        self.features = Some(f.clone());
        Ok(f)
    }

    /// `PWD`.
    pub async fn pwd(&mut self) -> Result<String> {
        let r = self.expect("PWD", &[257]).await?;
        let t = r.text();
        Ok(t.split('"').nth(1).unwrap_or(t).to_owned())
    }

    /// `CWD dir`.
    pub async fn cwd(&mut self, dir: &str) -> Result<()> {
        self.expect(&format!("CWD {dir}"), &[200, 250]).await.map(drop)
    }

    /// `CDUP`.
    pub async fn cdup(&mut self) -> Result<()> {
        self.expect("CDUP", &[200, 250]).await.map(drop)
    }

    /// `MLST path`: size, type, time and mode of one path.
    pub async fn stat(&mut self, path: &str) -> Result<RemoteEntry> {
        let cmd = if path.is_empty() { "MLST".to_owned() } else { format!("MLST {path}") };
        let r = self.expect(&cmd, &[250]).await?;
        let line = r.inner().first().ok_or_else(|| {
            Error::parse(cmd.clone(), "MLST answered without a facts line", error::clip(r.text()))
        })?;
        parse::mlsx_line(line)
            .ok_or_else(|| Error::parse(cmd.clone(), "not an MLST facts line", error::clip(line)))
    }

    /// `MLSD dir` over a data connection: the entries (without `.`/`..`).
    pub async fn list(&mut self, dir: &str) -> Result<Vec<RemoteEntry>> {
        if self.keep_alive {
            return Err(Error::unsupported(
                error::SERVICE,
                "listing on a keep-alive session (a listing announces no size); use KEEP-ALIVE false or another session",
            ));
        }
        let conns = self.open_data(1).await?;
        let cmd = if dir.is_empty() { "MLSD".to_owned() } else { format!("MLSD {dir}") };
        let r = self.command(&cmd).await?;
        if !r.is_preliminary() {
            return Err(error::unexpected(self.host(), &cmd, r.code, reply_words(&r)));
        }
        self.in_transfer = true;
        // Listings are never encrypted or compressed.
        let mut inb = Inbound::new(conns, &Coding::default(), self.host().to_owned());
        let mut text = Vec::new();
        while let Some(c) = inb.next_chunk().await? {
            text.extend_from_slice(&c);
            if text.len() > 512 * 1024 * 1024 {
                return Err(error::bad_data(self.host(), "a listing larger than 512 MiB"));
            }
        }
        self.end_transfer(&cmd).await?;
        let text = String::from_utf8_lossy(&text);
        let mut out = Vec::new();
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()) {
            let e = parse::mlsx_line(line).ok_or_else(|| {
                Error::parse(cmd.clone(), "not an MLSD facts line", error::clip(line))
            })?;
            if e.name == "." || e.name == ".." {
                continue;
            }
            // A name with `/` or NUL (or `/` itself) would address something
            // other than an entry of `dir`: a recursive walk could loop or climb.
            hpc_core::path::validate_entry_name(&e.name)
                .map_err(|bad| Error::parse(cmd.clone(), format!("hostile listing: {bad}"), ""))?;
            out.push(e);
        }
        Ok(out)
    }

    /// `MKD dir`.
    pub async fn mkdir(&mut self, dir: &str) -> Result<()> {
        self.expect(&format!("MKD {dir}"), &[257, 250, 200]).await.map(drop)
    }

    /// `RMD dir` (must be empty).
    pub async fn rmdir(&mut self, dir: &str) -> Result<()> {
        self.expect(&format!("RMD {dir}"), &[200, 250]).await.map(drop)
    }

    /// `DELE file`.
    pub async fn remove(&mut self, file: &str) -> Result<()> {
        self.expect(&format!("DELE {file}"), &[200, 250]).await.map(drop)
    }

    /// `RNFR from` + `RNTO to`.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.expect(&format!("RNFR {from}"), &[350]).await?;
        self.expect(&format!("RNTO {to}"), &[200, 250]).await.map(drop)
    }

    /// `MFMT time path`.
    pub async fn set_modified(&mut self, path: &str, time: SystemTime) -> Result<()> {
        let t = parse::format_mdtm(time);
        self.expect(&format!("MFMT {t} {path}"), &[213]).await.map(drop)
    }

    /// `MFF UNIX.mode=<octal>; path`.
    pub async fn set_mode(&mut self, path: &str, mode: u32) -> Result<()> {
        self.expect(&format!("MFF UNIX.mode={:o}; {path}", mode & 0o7777), &[213]).await.map(drop)
    }

    /// `OPTS HASH algo` (when given) and `HASH path`: (algorithm, lower-case hex).
    pub async fn hash(&mut self, path: &str, algorithm: Option<&str>) -> Result<(String, String)> {
        if let Some(a) = algorithm {
            self.expect(&format!("OPTS HASH {a}"), &[200]).await?;
        }
        let cmd = format!("HASH {path}");
        // The server reads the whole file before it answers: no reply limit.
        self.ctrl.send(&cmd, &cmd).await?;
        let r = self.ctrl.read_within(&cmd, None).await?;
        if r.code != 213 {
            return Err(error::unexpected(self.host(), &cmd, r.code, reply_words(&r)));
        }
        let line = r.lines.iter().rev().find_map(|l| parse::hash_reply(l.trim()));
        line.ok_or_else(|| {
            Error::parse(
                cmd,
                "expected `<ALGO> <first>-<last> <hex> <path>`",
                error::clip(r.text()),
            )
        })
    }

    /// `KEEP-ALIVE true|false`: with `true` the data connections of a
    /// transfer stay open for the next one (no `PASV` again). The byte count
    /// then ends a transfer, not the connection: downloads read exactly the
    /// announced bytes, uploads need their size ([`WriteMode`] with `size`)
    /// for `ALLO`/`RANG`, and listings, which announce no size, are refused.
    /// Plain data only: a cipher or gzip stream ends where its connection does.
    pub async fn keep_alive(&mut self, on: bool) -> Result<()> {
        if on && (self.coding.key.is_some() || self.coding.compress) {
            return Err(Error::unsupported(
                error::SERVICE,
                "keep-alive data connections with encryption or compression (a cipher or gzip stream ends only where its connection does)",
            ));
        }
        self.expect(&format!("KEEP-ALIVE {on}"), &[200]).await?;
        self.keep_alive = on;
        if !on {
            self.kept.clear();
        }
        Ok(())
    }

    /// Whether `KEEP-ALIVE true` is in force.
    pub fn is_keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// The data connections kept open for the next transfer (keep-alive).
    pub fn kept_connections(&self) -> usize {
        self.kept.len()
    }

    /// Starts a download of `len` bytes (all if `None`) from `offset`:
    /// the data connections and the number of bytes the server announced.
    pub async fn open_read(
        &mut self,
        path: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<(Inbound, u64)> {
        match len {
            Some(l) => {
                let end = offset.saturating_add(l);
                self.expect(&format!("RANG {offset} {end}"), &[350]).await?;
            }
            None if offset > 0 => {
                self.expect(&format!("REST {offset}"), &[350]).await?;
            }
            None => {}
        }
        let conns = self.open_data(self.options.streams).await?;
        let cmd = format!("RETR {path}");
        let r = self.command(&cmd).await?;
        if !r.is_preliminary() {
            return Err(error::unexpected(self.host(), &cmd, r.code, reply_words(&r)));
        }
        self.in_transfer = true;
        let announced = parse::bytes_available(r.text()).ok_or_else(|| {
            Error::parse(
                cmd.clone(),
                "the 150 line does not say how many bytes follow",
                error::clip(r.text()),
            )
        })?;
        // After REST the server announces the whole file's size.
        let expected =
            if len.is_none() && offset > 0 { announced.saturating_sub(offset) } else { announced };
        let host = self.host().to_owned();
        let inbound = if self.keep_alive {
            Inbound::kept(conns, host, expected)
        } else {
            Inbound::new(conns, &self.coding, host)
        };
        Ok((inbound, expected))
    }

    /// Starts an upload: the data connections to write into; then
    /// [`Session::end_write`].
    pub async fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<Outbound> {
        if self.keep_alive
            && matches!(
                mode,
                WriteMode::Append
                    | WriteMode::Replace { size: None }
                    | WriteMode::At { size: None, .. }
            )
        {
            return Err(Error::InvalidInput(format!(
                "{path}: an upload on a keep-alive session needs its size (the byte count ends it, not the connection)"
            )));
        }
        let verb = match mode {
            WriteMode::Replace { size } => {
                if let Some(n) = size {
                    self.expect(&format!("ALLO {n}"), &[200, 202]).await?;
                }
                "STOR"
            }
            WriteMode::At { offset, size } => {
                let end = size
                    .map(|s| offset.saturating_add(s))
                    .unwrap_or(offset.saturating_add(TO_THE_END));
                self.expect(&format!("RANG {offset} {end}"), &[350]).await?;
                "STOR"
            }
            WriteMode::Append => "APPE",
        };
        let conns = self.open_data(self.options.streams).await?;
        let cmd = format!("{verb} {path}");
        let r = self.command(&cmd).await?;
        if !r.is_preliminary() {
            return Err(error::unexpected(self.host(), &cmd, r.code, reply_words(&r)));
        }
        self.in_transfer = true;
        let host = self.host().to_owned();
        Ok(match mode {
            WriteMode::Replace { size: Some(n) } | WriteMode::At { size: Some(n), .. }
                if self.keep_alive =>
            {
                Outbound::kept(conns, host).exactly(n)
            }
            // A keep-alive upload of unknown size was refused above.
            _ => Outbound::new(conns, &self.coding, host),
        })
    }

    /// Ends a download: reads `inbound` to its end (or, on a keep-alive
    /// session, takes its connections back for the next transfer) and the
    /// reply that ends the transfer.
    pub async fn end_read(&mut self, inbound: Inbound, command: &str) -> Result<()> {
        if self.keep_alive {
            self.kept = inbound.into_connections()?;
        } else {
            inbound.drain().await?;
        }
        self.end_transfer(command).await
    }

    /// Ends an upload: sends what `outbound` holds, closes its connections
    /// (or keeps them, on a keep-alive session) and reads the reply that
    /// ends the transfer. The plaintext bytes sent.
    pub async fn end_write(&mut self, outbound: Outbound, command: &str) -> Result<u64> {
        let sent = if self.keep_alive {
            match outbound.finish_kept().await {
                Ok((sent, conns)) => {
                    self.kept = conns;
                    sent
                }
                Err(e) => {
                    // The connections are closed: the server ends the
                    // transfer short, and the session goes on.
                    let _ = self.end_transfer(command).await;
                    return Err(e);
                }
            }
        } else {
            outbound.finish().await?
        };
        self.end_transfer(command).await?;
        Ok(sent)
    }

    /// Reads the reply that ends a transfer (`226`).
    pub async fn end_transfer(&mut self, command: &str) -> Result<()> {
        let r = self.ctrl.read(command).await?;
        if !(200..300).contains(&r.code) {
            // The transfer is over either way; the session can go on.
            self.in_transfer = false;
            return Err(error::unexpected(self.host(), command, r.code, reply_words(&r)));
        }
        self.in_transfer = false;
        Ok(())
    }

    /// `SEND-FILE`/`RECEIVE-FILE`: server-to-server copy; the transfer
    /// process id the server reports.
    pub async fn server_copy(
        &mut self,
        send: bool,
        local: &str,
        remote: &str,
        server: &str,
        secret: &hpc_auth::Secret,
    ) -> Result<String> {
        let verb = if send { "SEND-FILE" } else { "RECEIVE-FILE" };
        for p in [local, remote, server] {
            if p.contains('\'') {
                return Err(Error::InvalidInput(format!(
                    "{verb} cannot quote a path with a ' in it: {p:?}"
                )));
            }
        }
        let shown = format!("{verb} '{local}' '{remote}' '{server}' '***'");
        let cmd = format!("{verb} '{local}' '{remote}' '{server}' '{}'", secret.expose());
        self.ctrl.send(&cmd, &shown).await?;
        let r = self.ctrl.read(&shown).await?;
        if r.code != 299 && r.code != 200 {
            return Err(error::unexpected(self.host(), &shown, r.code, reply_words(&r)));
        }
        Ok(r.text().rsplit('=').next().unwrap_or("").trim().to_owned())
    }

    /// `QUIT` (UFTPD closes without a reply).
    pub async fn quit(mut self) {
        let _ = self.ctrl.send("QUIT", "QUIT").await;
        self.ctrl.shutdown().await;
    }

    /// `NOOP n` when more than one stream is wanted, then one `PASV`/`EPSV`
    /// and connect per stream (to the control connection's peer, whatever
    /// address the reply names, as PyUNICORE does).
    async fn open_data(&mut self, streams: usize) -> Result<Vec<TcpStream>> {
        if !self.kept.is_empty() {
            return Ok(std::mem::take(&mut self.kept));
        }
        let mut n = streams;
        if n > 1 {
            let r = self.expect(&format!("NOOP {n}"), &[222, 223, 200]).await?;
            if r.code == 223 || r.code == 222 {
                n = parse::stream_count(r.text()).unwrap_or(n).clamp(1, streams);
            } else {
                n = 1;
            }
        }
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let (cmd, port) = if self.peer.is_ipv4() {
                let r = self.expect("PASV", &[227]).await?;
                ("PASV", parse::pasv_port(r.text()))
            } else {
                let r = self.expect("EPSV", &[229]).await?;
                ("EPSV", parse::epsv_port(r.text()))
            };
            let port =
                port.ok_or_else(|| Error::parse(cmd, "no port in the passive-mode reply", ""))?;
            let addr = SocketAddr::new(self.peer, port);
            let tcp = connect(self.host(), addr, self.options.timeouts.connect).await?;
            let _ = tcp.set_nodelay(true);
            crate::pump::set_idle_limit(&tcp, self.options.timeouts.idle)
                .map_err(|e| error::lost(self.host(), "setting up a data connection", e))?;
            conns.push(tcp);
        }
        Ok(conns)
    }
}

async fn connect(
    host: &str,
    addr: impl tokio::net::ToSocketAddrs,
    limit: std::time::Duration,
) -> Result<TcpStream> {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(Error::connect(host, e)),
        Err(_) => Err(Error::Timeout { what: format!("connecting to {host}"), after: limit }),
    }
}

fn reply_words(r: &Reply) -> &str {
    if r.lines.len() > 1 { r.last() } else { r.text() }
}

/// A refused login: an unknown or used secret (530), a client address the
/// transfer request did not name, a second session on a one-off secret (500).
fn login_error(host: &str, command: &str, r: &Reply) -> Error {
    let text = reply_words(r);
    if r.code == 530 {
        return error::from_reply(host, command, r.code, text);
    }
    let lower = text.to_ascii_lowercase();
    let reason =
        if lower.contains("rejecting connection") || lower.contains("establishing connection") {
            format!("UFTPD refused this client's address ({} {text})", r.code)
        } else if lower.contains("already running") {
            format!("the one-time secret is already in use and not persistent ({} {text})", r.code)
        } else {
            format!("login failed ({} {text})", r.code)
        };
    Error::Authentication { user: "anonymous".into(), host: host.to_owned(), reason }
}
