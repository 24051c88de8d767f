//! [`Session`]: one SFTP session and the requests the file system is built
//! from (stat without following links, "does it exist", writes opened with a
//! mode, and the OpenSSH extensions `posix-rename` and `copy-data`).

use std::sync::Arc;

use hpc_core::{Error, Path, Result};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::rawsession::Limits;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::SftpConfig;
use super::error::{SftpErrorExt, from_status};
use super::pipe::Pipe;

/// The session and the host it runs to (for messages).
pub(super) struct Session {
    pub(super) raw: Arc<RawSftpSession>,
    pub(super) host: String,
}

/// Extensions the server announced that we use.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Extensions {
    /// `posix-rename@openssh.com`: rename over an existing file, atomically.
    pub(super) posix_rename: bool,
    /// `copy-data`: copies between two handles on the server.
    pub(super) copy_data: bool,
}

/// A session that has been started, and what the server told about itself.
pub(super) struct Started {
    pub(super) session: Session,
    pub(super) ext: Extensions,
    /// Bytes per read request (the tuning's chunk within the server's limits).
    pub(super) read_len: u32,
    /// Bytes per write request.
    pub(super) write_len: u32,
    /// The login directory.
    pub(super) home: String,
}

/// Append an SFTP string (length, then bytes) to a request body.
fn put_str(data: &mut Vec<u8>, s: &str) {
    data.extend_from_slice(&(s.len() as u32).to_be_bytes());
    data.extend_from_slice(s.as_bytes());
}

impl Session {
    /// Start SFTP on `stream`: the version handshake, the extensions and
    /// limits the server announces, and the login directory.
    pub(super) async fn start<S>(stream: S, opts: &SftpConfig) -> Result<Started>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let host = opts.host.clone();
        let cfg = russh_sftp::client::Config {
            max_packet_len: 1 << 20,
            request_timeout_secs: opts.tuning.request_timeout_secs,
            ..Default::default()
        };
        let mut session = RawSftpSession::new_with_config(stream, cfg);
        let version = session.init().await.map_err(|e| e.lost(&host, "starting SFTP"))?;
        let has = |name: &str| version.extensions.contains_key(name);
        let ext = Extensions {
            posix_rename: has("posix-rename@openssh.com"),
            copy_data: has("copy-data"),
        };
        let mut read_len = opts.tuning.chunk;
        let mut write_len = opts.tuning.chunk;
        if has("limits@openssh.com") {
            let limits =
                session.limits().await.map_err(|e| e.lost(&host, "reading SFTP limits"))?;
            let cap =
                |v: u64, cur: u32| if v > 0 { cur.min(v.min(u32::MAX as u64) as u32) } else { cur };
            read_len = cap(limits.max_read_len, read_len);
            // A write packet carries the handle and headers besides the data.
            write_len = cap(limits.max_write_len, write_len);
            if limits.max_packet_len > 1024 {
                write_len = write_len.min((limits.max_packet_len - 1024) as u32);
            }
            session.set_limits(Limits::from(limits));
        }
        let home = session
            .realpath(".")
            .await
            .map_err(|e| e.lost(&host, "resolving the login directory"))?
            .files
            .into_iter()
            .next()
            .map(|f| f.filename)
            .unwrap_or_else(|| "/".into());
        tracing::debug!(host = %host, ?ext, read_len, write_len, "sftp session ready");
        let session = Session { raw: Arc::new(session), host };
        Ok(Started { session, ext, read_len, write_len, home })
    }

    /// Attributes of `abs`, a link described rather than followed.
    pub(super) async fn lstat(&self, abs: &Path) -> Result<FileAttributes> {
        self.attrs(abs, false).await
    }

    /// Attributes of `abs`, links followed.
    pub(super) async fn stat(&self, abs: &Path) -> Result<FileAttributes> {
        self.attrs(abs, true).await
    }

    async fn attrs(&self, abs: &Path, follow: bool) -> Result<FileAttributes> {
        let path = abs.to_string();
        let reply = if follow { self.raw.stat(path).await } else { self.raw.lstat(path).await };
        reply.map(|a| a.attrs).map_err(|e| e.at(&self.host, "stat", abs))
    }

    /// Whether `abs` exists (a dangling link does).
    pub(super) async fn lexists(&self, abs: &Path) -> Result<bool> {
        match self.lstat(abs).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// SFTP v3 answers "failure" for an existing target; tell it apart.
    pub(super) async fn exists_or(&self, abs: &Path, err: Error) -> Error {
        if !matches!(err, Error::Remote { .. }) {
            return err;
        }
        match self.lexists(abs).await {
            Ok(true) => Error::AlreadyExists { path: abs.to_string() },
            _ => err,
        }
    }

    /// Remove a file whose removal is only tidying up (a temporary sibling).
    pub(super) async fn remove_quietly(&self, abs: &Path) {
        let _ = self.raw.remove(abs.to_string()).await;
    }

    /// Open `abs` with `flags` (and `mode` for a file it creates).
    pub(super) async fn open(
        &self,
        abs: &Path,
        flags: OpenFlags,
        mode: Option<u32>,
    ) -> Result<String> {
        let attrs = FileAttributes { permissions: mode, ..FileAttributes::empty() };
        self.raw
            .open(abs.to_string(), flags, attrs)
            .await
            .map(|h| h.handle)
            .map_err(|e| e.at(&self.host, "open", abs))
    }

    /// A pipelined transfer on the open `handle` of `abs`.
    pub(super) fn pipe(&self, abs: Path, handle: String, chunk: u32, in_flight: usize) -> Pipe {
        Pipe {
            session: self.raw.clone(),
            host: self.host.clone(),
            path: abs,
            handle,
            chunk,
            in_flight,
        }
    }

    /// An extended request that answers with a status; `op` on `path` names
    /// it in errors.
    async fn extended(&self, name: &str, data: Vec<u8>, op: &str, path: &Path) -> Result<()> {
        match self.raw.extended(name, data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) => Err(from_status(&self.host, op, path, s)),
            Ok(_) => Err(Error::remote("sftp", None, format!("unexpected reply to {name}"))),
            Err(e) => Err(e.at(&self.host, op, path)),
        }
    }

    /// `posix-rename@openssh.com`: rename replacing the target atomically.
    pub(super) async fn posix_rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut data = Vec::new();
        put_str(&mut data, &from.to_string());
        put_str(&mut data, &to.to_string());
        self.extended("posix-rename@openssh.com", data, "rename", from).await
    }

    /// `copy-data` (OpenSSH 9.0+): the server copies all of the open `src`
    /// (the file `from`) into the open `dst`.
    pub(super) async fn copy_data(&self, src: &str, dst: &str, from: &Path) -> Result<()> {
        let mut data = Vec::new();
        put_str(&mut data, src);
        data.extend_from_slice(&0u64.to_be_bytes());
        data.extend_from_slice(&0u64.to_be_bytes()); // 0: until end of file
        put_str(&mut data, dst);
        data.extend_from_slice(&0u64.to_be_bytes());
        self.extended("copy-data", data, "copy", from).await
    }
}
