//! Uploads: one PUT for small files, parallel multipart for large ones, with
//! bounded memory and an abort on failure or drop.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use hpc_core::{ByteStream, Error, Result};
use hpc_http::{HttpClient, Request};

/// Cuts a byte stream into parts of a fixed size (the last may be shorter).
pub(crate) struct PartReader {
    stream: ByteStream,
    carry: Option<Bytes>,
    done: bool,
    /// Bytes handed out so far.
    pub(crate) total: u64,
}

impl PartReader {
    pub(crate) fn new(stream: ByteStream) -> Self {
        PartReader { stream, carry: None, done: false, total: 0 }
    }

    /// The next part of `size` bytes, or fewer at the end; `None` after the end.
    pub(crate) async fn next_part(&mut self, size: usize) -> Result<Option<Bytes>> {
        let mut buf = BytesMut::new();
        loop {
            let chunk = match self.carry.take() {
                Some(c) => c,
                None if self.done => break,
                None => match self.stream.next().await {
                    Some(c) => c?,
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            let room = size - buf.len();
            if chunk.len() > room {
                if buf.is_empty() && room == size {
                    // A chunk larger than a part: split without copying.
                    let mut chunk = chunk;
                    let rest = chunk.split_off(room);
                    self.carry = Some(rest);
                    self.total += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                buf.extend_from_slice(&chunk[..room]);
                self.carry = Some(chunk.slice(room..));
            } else {
                if buf.is_empty() && chunk.len() == size {
                    self.total += size as u64;
                    return Ok(Some(chunk));
                }
                if buf.capacity() == 0 {
                    buf.reserve(size);
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.len() == size {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        self.total += buf.len() as u64;
        Ok(Some(buf.freeze()))
    }

    /// Whether the stream has ended (and nothing is left over).
    pub(crate) fn finished(&self) -> bool {
        self.done && self.carry.is_none()
    }
}

/// Check the byte count against the size the caller announced.
pub(crate) fn check_size(total: u64, expected: Option<u64>, finished: bool) -> Result<()> {
    match expected {
        Some(n) if total > n => {
            Err(Error::InvalidInput(format!("the data is longer than the announced {n} bytes")))
        }
        Some(n) if finished && total < n => Err(Error::InvalidInput(format!(
            "the data ended after {total} of the announced {n} bytes"
        ))),
        _ => Ok(()),
    }
}

/// Aborts a multipart upload unless disarmed, also when the future that owns
/// it is dropped (then in a spawned task, so the parts do not linger).
pub(crate) struct AbortGuard {
    pending: Option<(HttpClient, String)>,
}

impl AbortGuard {
    pub(crate) fn new(client: HttpClient, abort_url: String) -> Self {
        AbortGuard { pending: Some((client, abort_url)) }
    }

    pub(crate) fn disarm(&mut self) {
        self.pending = None;
    }

    pub(crate) async fn abort_now(&mut self) {
        if let Some((client, url)) = self.pending.take() {
            let _ = client.send(Request::delete(&url)).await;
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some((client, url)) = self.pending.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = client.send(Request::delete(&url)).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_have_the_right_sizes_whatever_the_chunking() {
        for chunk in [1usize, 3, 7, 10, 25] {
            let data: Vec<u8> = (0..53u8).collect();
            let chunks: Vec<Result<Bytes>> =
                data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let mut r = PartReader::new(futures::stream::iter(chunks).boxed());
            let mut sizes = Vec::new();
            let mut back = Vec::new();
            while let Some(p) = r.next_part(10).await.unwrap() {
                sizes.push(p.len());
                back.extend_from_slice(&p);
            }
            assert_eq!(sizes, [10, 10, 10, 10, 10, 3], "chunk {chunk}");
            assert_eq!(back, data);
            assert!(r.finished());
            assert_eq!(r.total, 53);
        }
    }

    #[test]
    fn sizes() {
        assert!(check_size(5, Some(5), true).is_ok());
        assert!(check_size(4, Some(5), false).is_ok());
        assert!(check_size(4, Some(5), true).is_err());
        assert!(check_size(6, Some(5), false).is_err());
        assert!(check_size(6, None, true).is_ok());
    }
}
