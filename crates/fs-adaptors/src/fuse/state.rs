//! Inode numbers, open handles, read-ahead windows and write-back spools.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use hpc_core::{ByteStream, Error, Path, Result};

/// The kernel's inode numbers for the paths it has looked up. Root is 1.
pub(super) struct Inodes {
    by_ino: HashMap<u64, Path>,
    by_path: HashMap<Path, u64>,
    next: u64,
}

impl Inodes {
    pub(super) fn new(root: Path) -> Self {
        let mut i = Inodes { by_ino: HashMap::new(), by_path: HashMap::new(), next: 2 };
        i.by_ino.insert(1, root.clone());
        i.by_path.insert(root, 1);
        i
    }

    pub(super) fn path(&self, ino: u64) -> Option<Path> {
        self.by_ino.get(&ino).cloned()
    }

    pub(super) fn ino(&mut self, path: &Path) -> u64 {
        if let Some(i) = self.by_path.get(path) {
            return *i;
        }
        let i = self.next;
        self.next += 1;
        self.by_ino.insert(i, path.clone());
        self.by_path.insert(path.clone(), i);
        i
    }

    /// A path and everything below it moved (keeps inode numbers stable).
    pub(super) fn renamed(&mut self, from: &Path, to: &Path) {
        if let Some(i) = self.by_path.remove(to) {
            self.by_ino.remove(&i);
        }
        let moved: Vec<(Path, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, i) in moved {
            let Some(rel) = old.strip_prefix(from) else { continue };
            let mut new = to.clone();
            for e in rel.elements() {
                // Elements came from earlier, checked paths.
                new = new.join_entry(e).unwrap_or_else(|_| new.clone());
            }
            self.by_path.remove(&old);
            self.by_path.insert(new.clone(), i);
            self.by_ino.insert(i, new);
        }
    }

    pub(super) fn removed(&mut self, path: &Path) {
        if let Some(i) = self.by_path.remove(path) {
            self.by_ino.remove(&i);
        }
    }
}

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
        if to - from < size && data.len() < super::READ_AHEAD {
            // A short window is the end of the file: serve what there is.
            return Some(data[from..to].to_vec());
        }
        (to - from == size).then(|| data[from..to].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_move_descendants() {
        let p = |s: &str| Path::new(s).unwrap();
        let mut i = Inodes::new(p("/r"));
        let a = i.ino(&p("/r/a"));
        let b = i.ino(&p("/r/a/b"));
        let c = i.ino(&p("/r/c"));
        i.renamed(&p("/r/a"), &p("/r/c"));
        assert_eq!(i.path(a), Some(p("/r/c")));
        assert_eq!(i.path(b), Some(p("/r/c/b")));
        assert_eq!(i.path(c), None, "the replaced target is gone");
        assert_eq!(i.ino(&p("/r/c/b")), b);
        i.removed(&p("/r/c/b"));
        assert_eq!(i.path(b), None);
    }

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
}
