//! Writes that never leave a complete-looking file that is not one: the data
//! goes to a hidden sibling that is renamed into place only when the stream
//! has ended well (and had the announced size). A failed or dropped write
//! removes the sibling and leaves the old file as it was.

use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt;
use hpc_core::{ByteStream, Error, PartStream, Path, Result};
use tokio::io::AsyncWriteExt;

use crate::temp_sibling;

/// Bytes per read and write buffer (reads, appends and staged writes).
pub(super) const CHUNK: usize = 256 * 1024;

/// Chunks of a [`PartStream`] written in one blocking call at most. While a
/// batch is written the next one queues up in the producer, so this and the
/// producer's queue bound what a slow disk makes wait in memory; 16 chunks
/// of 256 KiB take a few milliseconds to reach the page cache.
const WRITE_BATCH: usize = 16;

/// Write `abs` through a hidden sibling: `fill(sibling)` fills it, and it is
/// renamed into place only if it got `size` bytes (where known). On any
/// failure, or if this future is dropped, the sibling is removed and the old
/// file stays.
pub(super) async fn staged<Fut>(
    abs: &Path,
    size: Option<u64>,
    fill: impl FnOnce(PathBuf) -> Fut,
) -> Result<u64>
where
    Fut: std::future::Future<Output = Result<u64>>,
{
    let tmp = PathBuf::from(temp_sibling(abs, "part")?.to_string());
    let mut guard = TempGuard::new(tmp.clone());
    let written = fill(tmp.clone()).await?;
    if let Some(expected) = size
        && expected != written
    {
        return Err(Error::InvalidInput(format!(
            "stream for {abs} ended after {written} of {expected} bytes; file not written"
        )));
    }
    let dst = PathBuf::from(abs.to_string());
    // Keep the mode of the file being replaced.
    if let Ok(old) = tokio::fs::metadata(&dst).await
        && old.is_file()
    {
        let _ = tokio::fs::set_permissions(&tmp, old.permissions()).await;
    }
    tokio::fs::rename(&tmp, &dst).await.map_err(|e| Error::from_io_path("write", abs, e))?;
    guard.disarm();
    Ok(written)
}

/// Write `data` in order to `tmp` (created new), returning the byte count.
pub(super) async fn fill(tmp: &std::path::Path, mut data: ByteStream, shown: &Path) -> Result<u64> {
    let file = create_new(tmp, shown).await?;
    let mut out = tokio::io::BufWriter::with_capacity(CHUNK, file);
    let mut written = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).await.map_err(|e| Error::from_io_path("write", shown, e))?;
        written += chunk.len() as u64;
    }
    out.flush().await.map_err(|e| Error::from_io_path("write", shown, e))?;
    Ok(written)
}

/// `tmp`, which must not exist yet, created for writing.
async fn create_new(tmp: &std::path::Path, shown: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .map_err(|e| Error::from_io_path("create", shown, e))
}

/// Chunks written at their offsets into the new file `tmp`; a batch of the
/// chunks that are ready goes to the disk in one blocking call. Returns the
/// bytes written, which must all lie within `size`.
pub(super) async fn fill_at(
    tmp: &std::path::Path,
    data: PartStream,
    size: u64,
    shown: &Path,
) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let file = std::sync::Arc::new(create_new(tmp, shown).await?.into_std().await);
    let mut batches = data.ready_chunks(WRITE_BATCH);
    let mut written = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch.into_iter().collect::<Result<Vec<(u64, Bytes)>>>()?;
        for (at, chunk) in &batch {
            let end = at.checked_add(chunk.len() as u64).filter(|&e| e <= size);
            if end.is_none() {
                return Err(Error::InvalidInput(format!(
                    "{shown}: {} bytes at offset {at} lie beyond the {size} bytes announced",
                    chunk.len()
                )));
            }
            written += chunk.len() as u64;
        }
        let f = file.clone();
        tokio::task::spawn_blocking(move || {
            batch.iter().try_for_each(|(at, chunk)| f.write_all_at(chunk, *at))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| Error::from_io_path("write", shown, e))?;
    }
    Ok(written)
}

/// Removes a temporary file on drop unless disarmed, so a cancelled or failed
/// write leaves nothing behind.
pub(super) struct TempGuard(Option<PathBuf>);

impl TempGuard {
    pub(super) fn new(path: PathBuf) -> Self {
        TempGuard(Some(path))
    }

    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
