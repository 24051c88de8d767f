//! One open file: its read-ahead window and its write-back spool.

use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use hpc_core::{ByteStream, Error, Result};

/// Bytes fetched per read-ahead window.
pub const READ_AHEAD: usize = 4 << 20;

/// Local spool of a file being written: writes land here and go to the file
/// system in one streamed (atomic where the adaptor can) write on flush.
pub(super) struct Spool {
    pub(super) file: Arc<std::fs::File>,
    pub(super) len: u64,
    pub(super) dirty: bool,
}

impl Spool {
    pub(super) fn new() -> Result<Self> {
        let file = tempfile::tempfile().map_err(|e| Error::io("creating a spool file", e))?;
        Ok(Spool { file: Arc::new(file), len: 0, dirty: false })
    }

    pub(super) fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.file.write_all_at(data, offset).map_err(|e| Error::io("writing the spool file", e))?;
        self.len = self.len.max(offset + data.len() as u64);
        self.dirty = true;
        Ok(())
    }

    pub(super) fn read_at(&self, offset: u64, size: usize) -> Result<Vec<u8>> {
        let end = self.len.min(offset.saturating_add(size as u64));
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("reading the spool file", e))?;
        Ok(buf)
    }

    pub(super) fn truncate(&mut self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io("truncating the spool file", e))?;
        self.len = len;
        self.dirty = true;
        Ok(())
    }

    /// Append a stream (the file's current content) to the spool.
    pub(super) async fn fill(&mut self, mut data: ByteStream) -> Result<()> {
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            let at = self.len;
            self.file
                .write_all_at(&chunk, at)
                .map_err(|e| Error::io("writing the spool file", e))?;
            self.len += chunk.len() as u64;
        }
        Ok(())
    }

    /// The spool's content as a stream of 1 MiB chunks.
    pub(super) fn stream(&self) -> ByteStream {
        let (file, len) = (self.file.clone(), self.len);
        futures::stream::try_unfold(0u64, move |pos| {
            let file = file.clone();
            async move {
                if pos >= len {
                    return Ok(None);
                }
                let n = (len - pos).min(1 << 20) as usize;
                let buf = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; n];
                    file.read_exact_at(&mut buf, pos).map(|()| buf)
                })
                .await
                .map_err(|e| Error::io("reading the spool file", std::io::Error::other(e)))?
                .map_err(|e| Error::io("reading the spool file", e))?;
                Ok(Some((Bytes::from(buf), pos + n as u64)))
            }
        })
        .boxed()
    }
}

/// One open file.
pub(super) struct Handle {
    pub(super) ino: u64,
    /// Bytes read ahead: (offset of the first byte, data).
    pub(super) window: Mutex<Option<(u64, Bytes)>>,
    /// Pending writes, if any.
    pub(super) spool: tokio::sync::Mutex<Option<Spool>>,
}

impl Handle {
    pub(super) fn new(ino: u64) -> Self {
        Handle { ino, window: Mutex::new(None), spool: tokio::sync::Mutex::new(None) }
    }

    /// Serve `size` bytes at `offset` from the read-ahead window, if it has them all
    /// (or the window reaches the end of the file).
    pub(super) fn cached(&self, offset: u64, size: usize) -> Option<Vec<u8>> {
        let w = self.window.lock().ok()?;
        let (start, data) = w.as_ref()?;
        let end = start + data.len() as u64;
        if offset < *start || offset > end {
            return None;
        }
        let from = (offset - start) as usize;
        let to = (from + size).min(data.len());
        if to - from < size && data.len() < READ_AHEAD {
            // A short window is the end of the file: serve what there is.
            return Some(data[from..to].to_vec());
        }
        (to - from == size).then(|| data[from..to].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    #[test]
    fn spool_reads_what_was_written() {
        let mut s = Spool::new().unwrap();
        s.write_at(5, b"world").unwrap();
        s.write_at(0, b"hello").unwrap();
        assert_eq!(s.read_at(0, 100).unwrap(), b"helloworld");
        s.truncate(4).unwrap();
        assert_eq!(s.read_at(2, 10).unwrap(), b"ll");
        assert!(s.dirty);
    }

    #[tokio::test]
    async fn spool_fills_from_a_stream_and_streams_back() {
        let mut s = Spool::new().unwrap();
        let chunks = ["abc", "", "defg"].map(|c| Ok(Bytes::from(c)));
        s.fill(futures::stream::iter(chunks).boxed()).await.unwrap();
        assert_eq!((s.len, s.dirty), (7, false), "the file's own content is not a change");
        s.write_at(7, b"h").unwrap();
        let back: Vec<Bytes> = s.stream().try_collect().await.unwrap();
        assert_eq!(back.concat(), b"abcdefgh");
        assert!(s.read_at(100, 5).unwrap().is_empty(), "reads past the end are empty");
        // Truncating up makes a hole of zeros.
        s.truncate(10).unwrap();
        assert_eq!(s.read_at(6, 10).unwrap(), b"gh\0\0");
    }

    #[test]
    fn read_ahead_window_serves_what_it_holds() {
        let h = Handle::new(5);
        assert_eq!(h.cached(0, 1), None, "no window yet");
        let data = Bytes::from((0..=255u8).cycle().take(READ_AHEAD).collect::<Vec<u8>>());
        *h.window.lock().unwrap() = Some((1000, data.clone()));
        assert_eq!(h.cached(1000, 4).unwrap(), data[..4]);
        assert_eq!(h.cached(1010, 6).unwrap(), data[10..16]);
        assert_eq!(h.cached(999, 4), None, "before the window");
        let end = 1000 + READ_AHEAD as u64;
        assert_eq!(h.cached(end - 2, 4), None, "a full window may not be the end of the file");
        assert_eq!(h.cached(end + 1, 1), None, "after the window");
    }

    #[test]
    fn a_short_window_is_the_end_of_the_file() {
        let h = Handle::new(5);
        *h.window.lock().unwrap() = Some((0, Bytes::from_static(b"0123456789")));
        assert_eq!(h.cached(8, 100).unwrap(), b"89");
        assert_eq!(h.cached(10, 100).unwrap(), b"", "at the end: nothing, from the cache");
        assert_eq!(h.cached(11, 1), None);
    }
}
