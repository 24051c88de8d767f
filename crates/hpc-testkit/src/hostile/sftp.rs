//! A hostile SFTP server (russh-sftp's server side) on an in-memory pipe:
//! directory `/dir` whose `READDIR` answers any names and attributes a test
//! wants (`..`, `x/../../y`, `/abs`, NUL, a size of 2^64-1), or names without
//! end. No SSH is needed: the client half of the pipe goes to
//! `SftpFileSystem::from_stream`.

use std::collections::HashMap;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use tokio::io::DuplexStream;

/// The listed directory.
pub const DIR: &str = "/dir";

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// What `READDIR` of any directory answers (name and attributes), once;
    /// the next `READDIR` is the end.
    pub names: Vec<(String, FileAttributes)>,
    /// `READDIR` answers `names` again and again, never the end.
    pub endless: bool,
    /// What reading any file gives.
    pub content: Vec<u8>,
}

/// A regular file's attributes with this size.
pub fn file(size: u64) -> FileAttributes {
    FileAttributes { size: Some(size), permissions: Some(0o100644), ..FileAttributes::default() }
}

/// A directory's attributes.
pub fn dir() -> FileAttributes {
    FileAttributes { size: Some(4096), permissions: Some(0o040755), ..FileAttributes::default() }
}

/// Start the server; the returned stream is the client's end.
pub fn start(behaviour: Behaviour) -> DuplexStream {
    let (client, server) = tokio::io::duplex(1 << 20);
    let handler = Hostile { b: behaviour, next: 0, dirs: HashMap::new() };
    tokio::spawn(russh_sftp::server::run(server, handler));
    client
}

struct Hostile {
    b: Behaviour,
    next: u32,
    /// Open directory handles: whether their names were sent.
    dirs: HashMap<String, bool>,
}

impl Hostile {
    fn attrs_of(&self, path: &str) -> Result<FileAttributes, StatusCode> {
        let name = path.rsplit('/').next().unwrap_or("");
        if path == DIR || path == "/" {
            return Ok(dir());
        }
        match self.b.names.iter().find(|(n, _)| n == name) {
            Some((_, a)) => Ok(a.clone()),
            None => Err(StatusCode::NoSuchFile),
        }
    }

    fn handle(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("{kind}{}", self.next)
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl russh_sftp::server::Handler for Hostile {
    type Error = StatusCode;

    fn unimplemented(&self) -> StatusCode {
        StatusCode::OpUnsupported
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, StatusCode> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, _path: String) -> Result<Name, StatusCode> {
        Ok(Name { id, files: vec![File::dummy("/")] })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, StatusCode> {
        Ok(Attrs { id, attrs: self.attrs_of(&path)? })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, StatusCode> {
        Ok(Attrs { id, attrs: self.attrs_of(&path)? })
    }

    async fn opendir(&mut self, id: u32, _path: String) -> Result<Handle, StatusCode> {
        let handle = self.handle("d");
        self.dirs.insert(handle.clone(), false);
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, StatusCode> {
        let endless = self.b.endless;
        let sent = self.dirs.get_mut(&handle).ok_or(StatusCode::Failure)?;
        if *sent && !endless {
            return Err(StatusCode::Eof);
        }
        *sent = true;
        let files = self
            .b
            .names
            .iter()
            .map(|(n, a)| File { filename: n.clone(), longname: String::new(), attrs: a.clone() })
            .collect();
        Ok(Name { id, files })
    }

    async fn open(
        &mut self,
        id: u32,
        _filename: String,
        _pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, StatusCode> {
        Ok(Handle { id, handle: self.handle("f") })
    }

    async fn fstat(&mut self, id: u32, _handle: String) -> Result<Attrs, StatusCode> {
        Ok(Attrs { id, attrs: file(self.b.content.len() as u64) })
    }

    async fn read(
        &mut self,
        id: u32,
        _handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, StatusCode> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.b.content.len());
        let end = start.saturating_add(len as usize).min(self.b.content.len());
        if start == end {
            return Err(StatusCode::Eof);
        }
        Ok(Data { id, data: self.b.content[start..end].to_vec() })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, StatusCode> {
        self.dirs.remove(&handle);
        Ok(ok(id))
    }
}
