//! [`Storage`]: files on a UNICORE storage (a home, a project space or a
//! job's working directory).

use std::collections::BTreeMap;
use std::path::Path as StdPath;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hpc_core::{ByteStream, Error, Result};
use hpc_http::{Body, Request};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::job::storage_usable;
use crate::resource::Properties;
use crate::transfer::Transfer;
use crate::transport::Transport;
use crate::url::{encode_path, last_segment, normalise};

/// One file or directory as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileInfo {
    /// Storage-absolute path (`/dir/file`).
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last access or modification time as the server wrote it.
    pub last_accessed: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Permissions as `rwxr-x---`.
    pub permissions: Option<String>,
    /// Metadata key/values.
    pub metadata: BTreeMap<String, String>,
}

impl FileInfo {
    pub(crate) fn from_json(path: &str, v: &Value) -> Result<Self> {
        let is_dir = v.get("isDirectory").and_then(Value::as_bool).ok_or_else(|| Error::Parse {
            command: format!("stat {path}"),
            reason: "no isDirectory property".into(),
            line: v.to_string().chars().take(200).collect(),
            source: None,
        })?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(FileInfo {
            path: match path.trim_end_matches('/') {
                "" => "/".to_owned(),
                p => p.to_owned(),
            },
            is_dir,
            size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
            last_accessed: text("lastAccessed"),
            owner: text("owner"),
            group: text("group"),
            permissions: text("permissions"),
            metadata: v
                .get("metadata")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// A UNICORE storage.
#[derive(Debug, Clone)]
pub struct Storage {
    transport: Transport,
    url: String,
}

impl Storage {
    /// The storage at `url` (nothing is asked yet).
    pub fn new(transport: &Transport, url: &str) -> Self {
        Storage { transport: transport.clone(), url: url.trim_end_matches('/').to_owned() }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its id (`HOME`, `<job>-uspace`, ...).
    pub fn id(&self) -> &str {
        last_segment(&self.url)
    }

    /// The transport it uses.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Its properties.
    pub async fn properties(&self) -> Result<Properties> {
        Ok(Properties::new(&self.url, self.transport.get_json(&self.url).await?))
    }

    /// Waits until `resourceStatus` is READY (at most `timeout`).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let props = self.properties().await?;
            if storage_usable(props.str("resourceStatus"))? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("waiting for storage {} to become READY", self.id()),
                    after: timeout,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// The URL of `path` on this storage.
    pub fn file_url(&self, path: &str) -> String {
        let p = normalise(path);
        if p == "/" {
            format!("{}/files", self.url)
        } else {
            format!("{}/files{}", self.url, encode_path(&p))
        }
    }

    /// Information about one file or directory.
    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        let v: Value = self.transport.get_json(&self.file_url(path)).await?;
        FileInfo::from_json(&normalise(path), &v)
    }

    /// The entries of directory `path` (one request).
    pub async fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let url = self.file_url(path);
        let v: Value = self.transport.get_json(&url).await?;
        if v.get("isDirectory").and_then(Value::as_bool) == Some(false) {
            return Err(Error::InvalidInput(format!("{} is not a directory", normalise(path))));
        }
        let content = v
            .get("content")
            .and_then(Value::as_object)
            .ok_or_else(|| crate::error::missing(&url, "content"))?;
        let dir = normalise(path);
        content
            .iter()
            .map(|(p, meta)| {
                check_child(&dir, p).map_err(|reason| {
                    Error::parse(format!("GET {}", crate::url::path_only(&url)), reason, "")
                })?;
                FileInfo::from_json(p, meta)
            })
            .collect()
    }

    /// `size` bytes (all with `None`) of `path` from `offset`, streamed.
    pub async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<ByteStream> {
        if size == Some(0) {
            return Ok(futures::stream::empty().boxed());
        }
        let url = self.file_url(path);
        let range = match (offset, size) {
            (0, None) => None,
            (o, None) => Some(format!("bytes={o}-")),
            (o, Some(n)) => Some(format!("bytes={o}-{}", o.saturating_add(n - 1))),
        };
        let resp = self
            .transport
            .send(&|| {
                let r = Request::get(&url).header("accept", "application/octet-stream");
                match &range {
                    Some(v) => r.header("range", v),
                    None => r,
                }
            })
            .await?;
        if range.is_some() && resp.status().as_u16() != 206 {
            // A server that ignores the range sends everything: cut it here.
            let stream = resp.into_stream();
            return Ok(slice_stream(stream, offset, size));
        }
        Ok(resp.into_stream())
    }

    /// The whole of `path` in memory.
    pub async fn read_all(&self, path: &str) -> Result<Bytes> {
        let mut stream = self.read(path, 0, None).await?;
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// Downloads `path` into the local file `target`, through a sibling
    /// temporary file renamed at the end: a broken download never leaves a
    /// half-written `target`. Returns the bytes written.
    pub async fn download(&self, path: &str, target: &StdPath) -> Result<u64> {
        self.download_with_progress(path, target, &mut |_| {}).await
    }

    /// [`download`](Self::download), calling `progress` with each chunk's size.
    pub async fn download_with_progress(
        &self,
        path: &str,
        target: &StdPath,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64> {
        let mut stream = self.read(path, 0, None).await?;
        let tmp = sibling_temp(target);
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| Error::from_io_path("create", tmp.display(), e))?;
        let result: Result<u64> = async {
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Error::from_io_path("write", tmp.display(), e))?;
                n += chunk.len() as u64;
                progress(chunk.len() as u64);
            }
            file.flush().await.map_err(|e| Error::from_io_path("write", tmp.display(), e))?;
            Ok(n)
        }
        .await;
        drop(file);
        match result {
            Ok(n) => {
                tokio::fs::rename(&tmp, target)
                    .await
                    .map_err(|e| Error::from_io_path("rename", target.display(), e))?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Uploads a stream of `len` bytes (`None`: unknown, sent chunked) to
    /// `path`; missing parent directories are created by the server.
    pub async fn upload(&self, path: &str, data: ByteStream, len: Option<u64>) -> Result<()> {
        let req = Request::put(&self.file_url(path))
            .header("content-type", "application/octet-stream")
            .body(Body::stream(data, len));
        self.transport.send_once(req).await?;
        Ok(())
    }

    /// Uploads bytes held in memory (repeatable, so sessions apply).
    pub async fn put_bytes(&self, path: &str, data: impl Into<Bytes>) -> Result<()> {
        let url = self.file_url(path);
        let data: Bytes = data.into();
        self.transport
            .send(&|| {
                Request::put(&url)
                    .header("content-type", "application/octet-stream")
                    .body(Body::bytes(data.clone()))
            })
            .await?;
        Ok(())
    }

    /// Uploads the local file `local` to `path`, streamed.
    pub async fn upload_file(&self, local: &StdPath, path: &str) -> Result<()> {
        self.upload_file_with_progress(local, path, std::sync::Arc::new(|_| {})).await
    }

    /// [`upload_file`](Self::upload_file), calling `progress` with each chunk's size.
    pub async fn upload_file_with_progress(
        &self,
        local: &StdPath,
        path: &str,
        progress: std::sync::Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<()> {
        let file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::from_io_path("open", local.display(), e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| Error::from_io_path("stat", local.display(), e))?
            .len();
        let shown = local.display().to_string();
        let stream = tokio_util_like::file_stream(file, shown)
            .inspect(move |c| {
                if let Ok(c) = c {
                    progress(c.len() as u64);
                }
            })
            .boxed();
        self.upload(path, stream, Some(len)).await
    }

    /// Creates directory `path` (and its parents).
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        self.transport.create_or_ok(&self.file_url(path), &Value::Object(Default::default())).await
    }

    /// Removes `path` (directories recursively).
    pub async fn rm(&self, path: &str) -> Result<()> {
        self.transport.delete(&self.file_url(path)).await
    }

    /// Renames `from` to `to` on this storage.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let url = format!("{}/actions/rename", self.url);
        self.transport.post(&url, &serde_json::json!({"from": from, "to": to})).await?;
        Ok(())
    }

    /// Copies `from` to `to` on this storage.
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        let url = format!("{}/actions/copy", self.url);
        self.transport.post(&url, &serde_json::json!({"from": from, "to": to})).await?;
        Ok(())
    }

    /// Sets permissions (`rwxr-x---`, or octal like `750`).
    pub async fn chmod(&self, path: &str, permissions: &str) -> Result<()> {
        let perms = if permissions.len() <= 4 && permissions.chars().all(|c| c.is_ascii_digit()) {
            let mode = u32::from_str_radix(permissions, 8).map_err(|_| {
                Error::InvalidInput(format!("{permissions:?} is not an octal mode"))
            })?;
            mode_to_text(mode)
        } else {
            permissions.to_owned()
        };
        if perms.len() != 9
            || !perms.chars().enumerate().all(|(i, c)| c == '-' || c == ['r', 'w', 'x'][i % 3])
        {
            return Err(Error::InvalidInput(format!(
                "{permissions:?} is neither rwxrwxrwx nor an octal mode"
            )));
        }
        let reply = self
            .transport
            .put_json(&self.file_url(path), &serde_json::json!({"permissions": perms}))
            .await?;
        if let Some(r) = reply.as_ref().and_then(|r| r.get("permissions")).and_then(Value::as_str)
            && r != "OK"
        {
            return Err(Error::remote(crate::error::SERVICE, None, format!("chmod {path}: {r}")));
        }
        Ok(())
    }

    /// Starts a server-to-server transfer of `file` from here to `target`
    /// (`https://.../files/path`, or `PROTOCOL:https://...`).
    pub async fn send_file(
        &self,
        file: &str,
        target: &str,
        protocol: Option<&str>,
        extra: &BTreeMap<String, String>,
    ) -> Result<Transfer> {
        let target = with_protocol(target, protocol);
        let body = serde_json::json!({"file": file, "target": target, "extraParameters": extra});
        let url = self.transport.create(&format!("{}/transfers", self.url), &body).await?;
        Ok(Transfer::new(&self.transport, &url))
    }

    /// Starts a server-to-server transfer of `source` into `file` here.
    pub async fn receive_file(
        &self,
        source: &str,
        file: &str,
        protocol: Option<&str>,
        extra: &BTreeMap<String, String>,
    ) -> Result<Transfer> {
        let source = with_protocol(source, protocol);
        let body = serde_json::json!({"file": file, "source": source, "extraParameters": extra});
        let url = self.transport.create(&format!("{}/transfers", self.url), &body).await?;
        Ok(Transfer::new(&self.transport, &url))
    }
}

/// Whether `key` of a listing of `dir` (normalised) names a direct child of
/// it with a usable name: a hostile listing could name `..`, `/etc/passwd`,
/// `a/../../x` or the directory itself, and a recursive walk or download
/// would follow it.
fn check_child(dir: &str, key: &str) -> std::result::Result<(), String> {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    let parent = if parent.is_empty() { "/" } else { parent };
    if parent != dir {
        return Err(format!("the listing of {dir} names {key:?}, which is not an entry of it"));
    }
    hpc_core::path::validate_entry_name(name).map_err(|e| e.to_string())
}

fn with_protocol(url: &str, protocol: Option<&str>) -> String {
    match protocol {
        Some(p) if !p.is_empty() => format!("{p}:{url}"),
        _ => url.to_owned(),
    }
}

/// `rwxr-x---` for mode 0o750.
pub fn mode_to_text(mode: u32) -> String {
    (0..9).map(|i| if mode & (1 << (8 - i)) != 0 { ['r', 'w', 'x'][i % 3] } else { '-' }).collect()
}

/// Mode bits of `rwxr-x---`; `None` if malformed.
pub fn text_to_mode(text: &str) -> Option<u32> {
    let text = text.get(text.len().checked_sub(9)?..)?;
    let mut mode = 0;
    for (i, c) in text.chars().enumerate() {
        match c {
            '-' => {}
            c if c == ['r', 'w', 'x'][i % 3] => mode |= 1 << (8 - i),
            _ => return None,
        }
    }
    Some(mode)
}

fn sibling_temp(target: &StdPath) -> std::path::PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.hpckit-part-{}", std::process::id()))
}

/// Cuts `offset..offset+size` out of a stream that starts at 0.
fn slice_stream(stream: ByteStream, offset: u64, size: Option<u64>) -> ByteStream {
    let end = size.map(|s| offset + s);
    let mut pos = 0u64;
    stream
        .filter_map(move |chunk| {
            let out = chunk.map(|c| {
                let start = pos;
                pos += c.len() as u64;
                let from = offset.saturating_sub(start).min(c.len() as u64) as usize;
                let to =
                    end.map_or(c.len(), |e| e.saturating_sub(start).min(c.len() as u64) as usize);
                if from < to { Some(c.slice(from..to)) } else { None }
            });
            async move {
                match out {
                    Ok(Some(c)) => Some(Ok(c)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        })
        .boxed()
}

/// A file as a stream of chunks (a few lines instead of a tokio-util dependency).
mod tokio_util_like {
    use bytes::BytesMut;
    use futures::StreamExt;
    use hpc_core::{ByteStream, Error};
    use tokio::io::AsyncReadExt;

    const CHUNK: usize = 256 * 1024;

    pub(super) fn file_stream(file: tokio::fs::File, shown: String) -> ByteStream {
        futures::stream::unfold(Some(file), move |state| {
            let shown = shown.clone();
            async move {
                let mut file = state?;
                let mut buf = BytesMut::with_capacity(CHUNK);
                match file.read_buf(&mut buf).await {
                    Ok(0) => None,
                    Ok(_) => Some((Ok(buf.freeze()), Some(file))),
                    Err(e) => Some((Err(Error::from_io_path("read", &shown, e)), None)),
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_to_text(0o750), "rwxr-x---");
        assert_eq!(text_to_mode("rwxr-x---"), Some(0o750));
        assert_eq!(text_to_mode("drwxr-xr-x"), Some(0o755));
        assert_eq!(text_to_mode("rwq------"), None);
    }

    #[tokio::test]
    async fn slicing_a_full_answer() {
        let chunks: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"0123")),
            Ok(Bytes::from_static(b"4567")),
            Ok(Bytes::from_static(b"89")),
        ];
        let s = slice_stream(futures::stream::iter(chunks).boxed(), 3, Some(4));
        let parts: Vec<Bytes> = s.map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.concat(), b"3456");
    }

    #[test]
    fn listing_keys_must_be_children() {
        for ok in ["/d/x", "/d/sub/", "/d/..x", "/d/ sp ace"] {
            assert_eq!(check_child("/d", ok), Ok(()), "{ok}");
        }
        assert_eq!(check_child("/", "/top"), Ok(()));
        for bad in
            ["/d/..", "/d/.", "/d/", "/d", "/etc/x", "x", "/d/a/../../x", "/d/x\0y", "/d//x", "/dx"]
        {
            let e = check_child("/d", bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn file_info_needs_is_directory() {
        assert!(FileInfo::from_json("/x", &serde_json::json!({"size": 3})).is_err());
        let f = FileInfo::from_json(
            "/d/x.txt",
            &serde_json::json!({"isDirectory": false, "size": 3, "permissions": "rw-r--r--"}),
        )
        .unwrap();
        assert_eq!((f.name(), f.size), ("x.txt", 3));
    }
}
