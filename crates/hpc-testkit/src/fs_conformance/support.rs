//! What the checks (and the integration tests beside them) build on: test
//! content, streams of it, whole-file reads and writes, listings as maps, and
//! assertions on error kinds.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use hpc_core::{ByteRange, ByteStream, ErrorKind, FileSystem, Path, PathAttributes, Result};

/// A stream of the given chunks.
pub fn chunks<I>(parts: I) -> ByteStream
where
    I: IntoIterator<Item = Vec<u8>>,
    I::IntoIter: Send + 'static,
{
    stream::iter(parts.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

/// A stream of one buffer.
pub fn bytes(data: &[u8]) -> ByteStream {
    chunks([data.to_vec()])
}

/// Deterministic test content of `len` bytes (not all equal, not all zero).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + i / 251) as u8).wrapping_add(seed)).collect()
}

/// Write `data` to `path` in one chunk.
pub async fn put(fs: &dyn FileSystem, path: &Path, data: &[u8]) -> Result<()> {
    let n = fs.write(path, bytes(data), Some(data.len() as u64)).await?;
    assert_eq!(n, data.len() as u64, "write of {path} reported {n} bytes");
    Ok(())
}

/// Read a whole file (or range) into memory.
pub async fn get(fs: &dyn FileSystem, path: &Path, range: ByteRange) -> Result<Vec<u8>> {
    let parts: Vec<Bytes> = fs.read(path, range).await?.try_collect().await?;
    Ok(parts.concat())
}

/// List `dir` into a map from path relative to `dir` to attributes.
pub async fn listing(
    fs: &dyn FileSystem,
    dir: &Path,
    recursive: bool,
) -> Result<BTreeMap<String, PathAttributes>> {
    let mut out = BTreeMap::new();
    let mut s = fs.list(dir, recursive);
    while let Some(a) = s.next().await {
        let a = a?;
        let rel = a
            .path
            .strip_prefix(dir)
            .unwrap_or_else(|| panic!("listing of {dir} yielded {} outside it", a.path));
        assert!(rel.depth() >= 1, "listing of {dir} yielded the directory itself");
        if !recursive {
            assert_eq!(rel.depth(), 1, "flat listing of {dir} yielded nested {}", a.path);
        }
        let dup = out.insert(rel.to_string(), a);
        assert!(dup.is_none(), "listing of {dir} yielded {rel} twice");
    }
    Ok(out)
}

pub(super) fn expect_kind<T: fmt::Debug>(what: &str, r: Result<T>, kind: ErrorKind) {
    match r {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: expected {kind:?}, got {e}"),
        Ok(v) => panic!("{what}: expected a {kind:?} error, got Ok({v:?})"),
    }
}

pub(super) fn expect_unsupported<T: fmt::Debug>(what: &str, r: Result<T>) {
    expect_kind(what, r, ErrorKind::Unsupported)
}
