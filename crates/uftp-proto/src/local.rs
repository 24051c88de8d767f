//! The local-file ends of a transfer, on threads of their own like the data
//! connections: a [`FileReader`] reads a file in pieces of up to 1 MiB and a
//! [`FileWriter`] writes the pieces it is handed (several at once with one
//! vectored write), both with plain blocking I/O and without copying a
//! piece. Nothing is synced: the rename that publishes a download is atomic
//! for readers, durability across a crash is the OS's business.

use std::io::{IoSlice, Write};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::pump::{AHEAD, IO_SIZE, ReadBuf};

/// Pieces a [`FileWriter`] may have queued; small pieces (a socket read's
/// worth) go out together in one vectored write.
const WRITE_QUEUE: usize = 4;
/// The most pieces in one vectored write.
const MAX_SLICES: usize = 64;

/// Reads a file on a thread of its own.
#[derive(Debug)]
pub struct FileReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl FileReader {
    /// Reads `file` from where it stands, up to `len` bytes (to its end
    /// when `None`). Must be called inside a Tokio runtime.
    pub fn new(mut file: std::fs::File, len: Option<u64>) -> FileReader {
        let (tx, rx) = mpsc::channel(AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut left = len.unwrap_or(u64::MAX);
            let mut buf = ReadBuf::default();
            while left > 0 {
                let max = usize::try_from(left).unwrap_or(usize::MAX).min(IO_SIZE);
                let piece = match buf.read_from(&mut file, max) {
                    Ok(0) => return,
                    Ok(n) => {
                        left -= n as u64;
                        Ok(buf.take(n))
                    }
                    Err(e) => Err(e),
                };
                let failed = piece.is_err();
                if tx.blocking_send(piece).is_err() || failed {
                    return;
                }
            }
        });
        FileReader { rx }
    }

    /// The next piece, `None` at the end.
    pub async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        self.rx.recv().await.transpose()
    }
}

/// Writes a file on a thread of its own.
#[derive(Debug)]
pub struct FileWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    done: Option<JoinHandle<std::io::Result<()>>>,
}

impl FileWriter {
    /// Writes into `file` from where it stands. Must be called inside a
    /// Tokio runtime.
    pub fn new(mut file: std::fs::File) -> FileWriter {
        let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut pieces = Vec::with_capacity(MAX_SLICES);
            while let Some(first) = rx.blocking_recv() {
                pieces.push(first);
                while pieces.len() < MAX_SLICES {
                    match rx.try_recv() {
                        Ok(p) => pieces.push(p),
                        Err(_) => break,
                    }
                }
                write_all(&mut file, &mut pieces)?;
            }
            Ok(())
        });
        FileWriter { tx: Some(tx), done: Some(done) }
    }

    /// Hands `data` to the writing thread.
    pub async fn write(&mut self, data: Bytes) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let sent = match &self.tx {
            Some(tx) => tx.send(data).await.is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { self.join().await }
    }

    /// Waits until everything handed over is written.
    pub async fn finish(mut self) -> std::io::Result<()> {
        self.join().await
    }

    async fn join(&mut self) -> std::io::Result<()> {
        self.tx = None;
        match self.done.take() {
            Some(d) => match d.await {
                Ok(r) => r,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(std::io::Error::other(format!("the file writer was cancelled: {e}"))),
            },
            None => Err(std::io::Error::other("the file writer stopped after an error")),
        }
    }
}

/// Writes all of `pieces` (and empties it), several per system call but
/// at most [`IO_SIZE`] bytes in one. A bigger write makes the kernel cache
/// it in bigger folios, taken from its largest free blocks: on our VMs
/// those are the blocks handed back to the host, and filling them cost a
/// host fault per page (seen: uploads of 1 GiB at random 2-4x their usual
/// time, the server's CPU all in the page-cache copy; none with this cap).
fn write_all(file: &mut std::fs::File, pieces: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut first = 0;
    while first < pieces.len() {
        if pieces[first].is_empty() {
            first += 1;
            continue;
        }
        let mut room = IO_SIZE;
        let slices: Vec<IoSlice<'_>> = pieces[first..]
            .iter()
            .filter(|p| !p.is_empty())
            .map_while(|p| {
                let k = p.len().min(room);
                room -= k;
                (k > 0).then(|| IoSlice::new(&p[..k]))
            })
            .collect();
        let mut n = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let p = &mut pieces[first];
            let k = n.min(p.len());
            p.advance(k);
            n -= k;
            if p.is_empty() {
                first += 1;
            }
        }
    }
    pieces.clear();
    Ok(())
}

/// Reserves `len` bytes for a fresh download in `file` (its size stays as
/// it is): a download that cannot fit fails before a byte moves, and the
/// file system maps the blocks once instead of on every page written (ext4
/// spends a fifth of a download's CPU time on that otherwise). A file
/// system without fallocate(2) is not an error.
pub(crate) fn preallocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    use rustix::io::Errno;
    if len == 0 {
        return Ok(());
    }
    match fallocate(file, FallocateFlags::KEEP_SIZE, 0, len) {
        Ok(()) => Ok(()),
        Err(e @ (Errno::NOSPC | Errno::DQUOT | Errno::FBIG)) => Err(e.into()),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_reserved_and_the_size_kept() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        preallocate(&file, 8 << 20).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.len(), 0);
        assert!(meta.blocks() * 512 >= 8 << 20, "{} blocks", meta.blocks());
        preallocate(&file, 0).unwrap();
        // More than any file system holds: refused at once, as a download would be.
        let e = preallocate(&file, i64::MAX as u64).unwrap_err();
        assert!(
            [
                Some(rustix::io::Errno::NOSPC.raw_os_error()),
                Some(rustix::io::Errno::FBIG.raw_os_error())
            ]
            .contains(&e.raw_os_error()),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_written_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let mut w = FileWriter::new(std::fs::File::create(&path).unwrap());
        for c in data.chunks(70_001) {
            w.write(Bytes::copy_from_slice(c)).await.unwrap();
        }
        w.finish().await.unwrap();
        assert!(std::fs::read(&path).unwrap() == data);

        let mut r = FileReader::new(std::fs::File::open(&path).unwrap(), Some(2_500_000));
        let mut back = Vec::new();
        while let Some(p) = r.next().await.unwrap() {
            assert!(p.len() <= IO_SIZE);
            back.extend_from_slice(&p);
        }
        assert!(back[..] == data[..2_500_000]);
    }

    #[test]
    fn pieces_bigger_than_one_write_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * IO_SIZE as u32 + 7).map(|i| (i % 253) as u8).collect();
        let mut pieces: Vec<Bytes> =
            data.chunks(IO_SIZE + 12_345).map(Bytes::copy_from_slice).collect();
        pieces.insert(1, Bytes::new());
        let mut file = std::fs::File::create(&path).unwrap();
        write_all(&mut file, &mut pieces).unwrap();
        assert!(pieces.is_empty());
        assert!(std::fs::read(&path).unwrap() == data);
    }
}
