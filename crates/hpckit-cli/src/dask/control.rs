//! How `hpckit dask status|scale|down` reach the `hpckit dask up` that owns
//! a cluster: a Unix socket beside a record file, both in the state
//! directory (`$HPCKIT_DASK_STATE`, else `$XDG_STATE_HOME/hpckit/dask`, else
//! `~/.local/state/hpckit/dask`). One JSON request line, one JSON answer line.
//!
//! The record (`<name>.json`) names the scheduler location and every job, so
//! `down` can cancel the jobs itself when `up` was killed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// What `up` keeps on disk about its cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) name: String,
    /// The scheduler location (never contains a secret: locations refuse passwords).
    pub(crate) scheduler: String,
    /// Where the Dask scheduler's job runs, when not beside the workers.
    #[serde(default)]
    pub(crate) scheduler_on: Option<String>,
    pub(crate) pid: u32,
    pub(crate) address: String,
    pub(crate) dashboard_url: Option<String>,
    pub(crate) run_dir: String,
    /// Every job, the scheduler's first.
    pub(crate) jobs: Vec<String>,
}

/// A request to `up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    Status,
    Scale { workers: u32 },
    Adapt { minimum: u32, maximum: u32 },
    Down,
}

/// `up`'s answer: `ok` with a value, or the error line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) ok: bool,
    #[serde(default)]
    pub(crate) value: serde_json::Value,
    #[serde(default)]
    pub(crate) error: String,
}

/// The state directory, created private to the user.
pub(crate) fn state_dir() -> anyhow::Result<PathBuf> {
    let dir = if let Some(d) = std::env::var_os("HPCKIT_DASK_STATE") {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        PathBuf::from(d).join("hpckit/dask")
    } else {
        let home = std::env::var_os("HOME").context("HOME is not set")?;
        PathBuf::from(home).join(".local/state/hpckit/dask")
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

pub(crate) fn record_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

pub(crate) fn socket_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sock"))
}

/// Write the record atomically (a reader never sees half of it).
pub(crate) fn write_record(dir: &Path, record: &Record) -> anyhow::Result<()> {
    let path = record_path(dir, &record.name);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(record)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn read_record(dir: &Path, name: &str) -> anyhow::Result<Option<Record>> {
    let path = record_path(dir, name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

pub(crate) fn remove_files(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(record_path(dir, name));
    let _ = std::fs::remove_file(socket_path(dir, name));
}

/// Ask the `up` of cluster `name`. `Ok(None)`: no `up` answers.
pub(crate) async fn ask(dir: &Path, name: &str, req: &Request) -> anyhow::Result<Option<Answer>> {
    let Ok(stream) = UnixStream::connect(socket_path(dir, name)).await else {
        return Ok(None);
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    if answer.is_empty() {
        bail!("`hpckit dask up` of cluster {name:?} closed the connection without answering");
    }
    Ok(Some(serde_json::from_str(&answer).context("reading the answer of `hpckit dask up`")?))
}

/// Listen for requests to cluster `name`; refuses when an `up` answers there.
pub(crate) async fn listen(dir: &Path, name: &str) -> anyhow::Result<UnixListener> {
    let path = socket_path(dir, name);
    if ask(dir, name, &Request::Status).await?.is_some() {
        bail!("a cluster named {name:?} is up already (hpckit dask down --name {name})");
    }
    let _ = std::fs::remove_file(&path);
    UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))
}

/// Read one request from a connection.
pub(crate) async fn read_request(stream: &mut UnixStream) -> anyhow::Result<Request> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    Ok(serde_json::from_str(&line)?)
}

/// Write one answer to a connection.
pub(crate) async fn answer(stream: &mut UnixStream, answer: &Answer) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(answer)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    Ok(())
}
