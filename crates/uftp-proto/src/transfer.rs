//! Whole-file transfers between a local file and a session, with the
//! guarantees hpckit gives everywhere: a download is written beside the
//! target and renamed over it only when complete, so a failed download never
//! replaces a good file; sizes are checked against what the server announced.

use std::path::{Path, PathBuf};

use crate::error;
use crate::local::{FileReader, FileWriter};
use crate::session::{Session, WriteMode};
use hpc_core::{Error, Result};

/// Progress callback: bytes done so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Downloads `remote` into `local`. With `resume`, an existing shorter
/// `local` is continued from its end (ranged read) instead of replaced.
pub async fn download(
    session: &mut Session,
    remote: &str,
    local: &Path,
    resume: bool,
    progress: Option<Progress<'_>>,
) -> Result<u64> {
    let existing = match tokio::fs::metadata(local).await {
        Ok(m) if m.is_file() => Some(m.len()),
        _ => None,
    };
    let offset = if resume { existing.unwrap_or(0) } else { 0 };
    let (file, tmp) = if offset > 0 {
        let f = tokio::fs::OpenOptions::new()
            .append(true)
            .open(local)
            .await
            .map_err(|e| Error::from_io_path("open", local.display(), e))?;
        (f, None)
    } else {
        let tmp = sibling_temp(local);
        let f = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| Error::from_io_path("create", tmp.display(), e))?;
        (f, Some(tmp))
    };
    let result = receive(session, remote, offset, file.into_std().await, progress).await;
    match (result, tmp) {
        (Ok(n), Some(tmp)) => {
            tokio::fs::rename(&tmp, local)
                .await
                .map_err(|e| Error::from_io_path("rename", local.display(), e))?;
            Ok(n)
        }
        (Ok(n), None) => Ok(n),
        (Err(e), Some(tmp)) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

async fn receive(
    session: &mut Session,
    remote: &str,
    offset: u64,
    file: std::fs::File,
    progress: Option<Progress<'_>>,
) -> Result<u64> {
    let (mut inbound, expected) = session.open_read(remote, offset, None).await?;
    let host = session.host().to_owned();
    let report = |n| {
        if let Some(p) = progress {
            p(offset + n);
        }
    };
    if offset == 0 {
        crate::local::preallocate(&file, expected)
            .map_err(|e| Error::io(format!("making room for {expected} bytes of {remote}"), e))?;
    }
    // A fresh file (splice cannot append) from one plain stream: in the
    // kernel, socket to page cache.
    let spliced = match offset {
        0 => inbound.splice_into(&file, expected, remote, &report).await,
        _ => None,
    };
    let (got, written) = match spliced {
        Some(moved) => (moved?, None),
        None => {
            let mut file = FileWriter::new(file);
            let mut got = 0u64;
            while let Some(chunk) = inbound.next_chunk().await? {
                got += chunk.len() as u64;
                if got > expected {
                    return Err(error::bad_data(
                        &host,
                        format!("{remote}: more than the {expected} bytes announced"),
                    ));
                }
                file.write(chunk).await.map_err(|e| Error::io("writing the download", e))?;
                report(got);
            }
            (got, Some(file))
        }
    };
    session.end_read(inbound, &format!("RETR {remote}")).await?;
    if got != expected {
        return Err(crate::error::short(&host, remote, got, expected));
    }
    // Written, not synced: like hpckit's local file system (the rename is
    // atomic for readers; durability across a crash is the OS's business).
    if let Some(file) = written {
        file.finish().await.map_err(|e| Error::io("writing the download", e))?;
    }
    Ok(got)
}

/// Uploads `local` to `remote`; with `resume`, continues a shorter remote
/// file from its size.
pub async fn upload(
    session: &mut Session,
    local: &Path,
    remote: &str,
    resume: bool,
    progress: Option<Progress<'_>>,
) -> Result<u64> {
    let mut file = tokio::fs::File::open(local)
        .await
        .map_err(|e| Error::from_io_path("open", local.display(), e))?;
    let size =
        file.metadata().await.map_err(|e| Error::from_io_path("stat", local.display(), e))?.len();
    let offset = if resume {
        match session.stat(remote).await {
            Ok(e) if e.size <= size => e.size,
            Ok(_) | Err(_) => 0,
        }
    } else {
        0
    };
    if offset > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| Error::io("seeking", e))?;
    }
    let mode = if offset > 0 {
        WriteMode::At { offset, size: Some(size - offset) }
    } else {
        WriteMode::Replace { size: Some(size) }
    };
    let mut out = session.open_write(remote, mode).await?;
    let file = file.into_std().await;
    let report = |n| {
        if let Some(p) = progress {
            p(offset + n);
        }
    };
    let shown = local.display().to_string();
    // One plain stream: the file's pages go to the socket in the kernel.
    let sent = match out.send_file(&file, offset, size - offset, &shown, report).await {
        Some(sent) => sent?,
        None => {
            let reading = file.try_clone().map_err(|e| Error::from_io_path("open", &shown, e))?;
            let mut reader = FileReader::new(reading, None);
            let mut sent = 0u64;
            while let Some(piece) =
                reader.next().await.map_err(|e| Error::from_io_path("read", &shown, e))?
            {
                sent += piece.len() as u64;
                out.write_bytes(piece).await?;
                report(sent);
            }
            sent
        }
    };
    session.end_write(out, &format!("STOR {remote}")).await?;
    // sendfile sends the size taken above: a file that grew since shows here.
    let now = file.metadata().map_err(|e| Error::from_io_path("stat", &shown, e))?.len();
    if offset + sent != size || now != size {
        return Err(Error::InvalidInput(format!(
            "{} changed size while it was uploaded",
            local.display()
        )));
    }
    Ok(sent)
}

/// `dir/.name.uftp-part-<pid>`: beside the target, so the rename stays on one file system.
fn sibling_temp(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    local.with_file_name(format!(".{name}.uftp-part-{}", std::process::id()))
}
