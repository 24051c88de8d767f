//! Writes that never leave a complete-looking file that is not one: the data
//! goes to a hidden sibling that is renamed into place only when the stream
//! has ended well (and had the announced size). A failed or dropped write
//! removes the sibling and leaves the old file as it was.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    fill: impl FnOnce(TempFile) -> Fut,
) -> Result<u64>
where
    Fut: std::future::Future<Output = Result<u64>>,
{
    let tmp = PathBuf::from(temp_sibling(abs, "part")?.to_string());
    let mut guard = TempGuard::new(tmp.clone());
    let written = fill(guard.file()).await?;
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
pub(super) async fn fill(tmp: &TempFile, mut data: ByteStream, shown: &Path) -> Result<u64> {
    let file = tokio::fs::File::from_std(tmp.create_new(shown).await?);
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

/// Chunks written at their offsets into the new file `tmp`; a batch of the
/// chunks that are ready goes to the disk in one blocking call. Returns the
/// bytes written, which must all lie within `size`.
pub(super) async fn fill_at(
    tmp: &TempFile,
    data: PartStream,
    size: u64,
    shown: &Path,
) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let file = Arc::new(tmp.create_new(shown).await?);
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
///
/// Files are created (and filled by whole-file copies) in tokio's blocking
/// pool, where the call goes on after the future that started it is dropped:
/// a guard dropped while its `create` is still in flight would remove
/// nothing, and the file would appear a moment later. So the drop raises a
/// flag, and a blocking call that finds the flag raised after it made the
/// file removes the file itself (see [`TempFile::blocking`]).
pub(super) struct TempGuard {
    file: TempFile,
    armed: bool,
}

/// The staged file of a [`TempGuard`], handed to what fills it.
#[derive(Clone)]
pub(super) struct TempFile(Arc<TempState>);

struct TempState {
    path: PathBuf,
    dropped: AtomicBool,
}

impl TempGuard {
    pub(super) fn new(path: PathBuf) -> Self {
        let state = TempState { path, dropped: AtomicBool::new(false) };
        TempGuard { file: TempFile(Arc::new(state)), armed: true }
    }

    /// The file this guard removes.
    pub(super) fn file(&self) -> TempFile {
        self.file.clone()
    }

    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Raised before the removal: a blocking call that has not yet
            // looked at the flag will see it and remove what it made.
            self.file.0.dropped.store(true, Ordering::SeqCst);
            let _ = std::fs::remove_file(&self.file.0.path);
        }
    }
}

impl TempFile {
    /// Run `make(path)`, which creates the file, in the blocking pool; if the
    /// guard was dropped meanwhile, the file is removed again there.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        make: impl FnOnce(&std::path::Path) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let state = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let made = make(&state.path);
            if state.dropped.load(Ordering::SeqCst) {
                let _ = std::fs::remove_file(&state.path);
            }
            made
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The file, which must not exist yet, created for writing.
    pub(super) async fn create_new(&self, shown: &Path) -> Result<std::fs::File> {
        self.blocking(|p| std::fs::OpenOptions::new().write(true).create_new(true).open(p))
            .await
            .map_err(|e| Error::from_io_path("create", shown, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The guard is dropped while its create waits in the blocking pool: the
    /// file made afterwards is removed by the blocking call itself.
    #[tokio::test]
    async fn a_create_that_ends_after_the_drop_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, made) = (dir.path().join(".f.part"), dir.path().join("made"));
        let guard = TempGuard::new(path.clone());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (file, marker) = (guard.file(), made.clone());
        let task = tokio::spawn(async move {
            file.blocking(move |p| {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let f = std::fs::File::create_new(p)?;
                std::fs::File::create_new(marker)?; // says the file was made
                Ok(f)
            })
            .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
        task.abort();
        drop(guard);
        go_tx.send(()).unwrap();
        // The blocking call cannot be awaited (its task is gone): wait until
        // it has made the file, then until the file is gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !made.exists() || path.exists() {
            assert!(Instant::now() < deadline, "the file made after the drop stayed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
