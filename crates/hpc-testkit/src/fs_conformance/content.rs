//! Checks of file content: streamed writes and reads, ranges, overwrite,
//! empty files, writes that fail, fall short or are dropped, and append.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hpc_core::{ByteRange, ByteStream, Error, ErrorKind, Result};

use super::FsFixture;
use super::support::{bytes, chunks, expect_kind, get, listing, pattern, put};

/// A streamed write of many odd-sized chunks reads back identically.
pub(super) async fn write_and_read(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("write_and_read").await?;
    let f = d.join_entry("data.bin")?;
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    let parts: Vec<Vec<u8>> = data.chunks(65_537).map(<[u8]>::to_vec).collect();
    let n = fx.fs.write(&f, chunks(parts), Some(data.len() as u64)).await?;
    assert_eq!(n, data.len() as u64, "bytes reported by write");
    assert_eq!(fx.fs.attributes(&f).await?.size, data.len() as u64, "size after write");
    let back = get(&*fx.fs, &f, ByteRange::ALL).await?;
    assert!(
        back == data,
        "content differs after write/read ({} vs {} bytes)",
        back.len(),
        data.len()
    );
    Ok(())
}

/// Reads from an offset, of a length, past the end.
pub(super) async fn read_ranges(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("read_ranges").await?;
    let f = d.join_entry("r.bin")?;
    let data = pattern(1_000_000, 7);
    put(&*fx.fs, &f, &data).await?;
    let r = |offset, len| ByteRange { offset, len };
    assert!(get(&*fx.fs, &f, r(0, Some(10))).await? == data[..10]);
    assert!(get(&*fx.fs, &f, r(999_990, None)).await? == data[999_990..]);
    assert!(get(&*fx.fs, &f, r(500_000, Some(300_000))).await? == data[500_000..800_000]);
    assert!(
        get(&*fx.fs, &f, r(999_000, Some(5_000))).await? == data[999_000..],
        "len past the end"
    );
    assert!(get(&*fx.fs, &f, r(2_000_000, None)).await?.is_empty(), "offset past the end");
    assert!(get(&*fx.fs, &f, r(10, Some(0))).await?.is_empty(), "zero length");
    Ok(())
}

/// Writing an existing file replaces it, also with shorter content.
pub(super) async fn overwrite(fx: &FsFixture) -> Result<()> {
    let (_, f) = fx.file("overwrite", "o.txt", b"a much longer first version").await?;
    put(&*fx.fs, &f, b"short").await?;
    assert_eq!(get(&*fx.fs, &f, ByteRange::ALL).await?, b"short");
    assert_eq!(fx.fs.attributes(&f).await?.size, 5);
    Ok(())
}

/// Zero-byte files via `write` of an empty stream and of an empty chunk.
pub(super) async fn empty_files(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("empty_files").await?;
    let a = d.join_entry("none")?;
    assert_eq!(fx.fs.write(&a, chunks(Vec::<Vec<u8>>::new()), Some(0)).await?, 0);
    let b = d.join_entry("one-empty-chunk")?;
    assert_eq!(fx.fs.write(&b, chunks([Vec::new()]), None).await?, 0);
    for p in [&a, &b] {
        let attrs = fx.fs.attributes(p).await?;
        assert!(attrs.is_regular() && attrs.size == 0, "{p}: {attrs:?}");
        assert!(get(&*fx.fs, p, ByteRange::ALL).await?.is_empty());
    }
    Ok(())
}

fn failing_stream(good: Vec<u8>) -> ByteStream {
    stream::iter([
        Ok(Bytes::from(good)),
        Err(Error::ConnectionLost {
            host: "source".into(),
            reason: "test fault".into(),
            source: None,
        }),
    ])
    .boxed()
}

/// A stream that fails mid-way fails the write, leaves no new file, and
/// leaves an existing file either intact or absent (never the partial data).
pub(super) async fn failed_write_leaves_no_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("failed_write").await?;
    let fresh = d.join_entry("fresh")?;
    let r = fx.fs.write(&fresh, failing_stream(pattern(300_000, 2)), None).await;
    assert!(r.is_err(), "write with a failing stream succeeded");
    assert!(!fx.fs.exists(&fresh).await?, "a failed write left {fresh}");

    let old = d.join_entry("old")?;
    put(&*fx.fs, &old, b"the good old content").await?;
    let r = fx.fs.write(&old, failing_stream(pattern(300_000, 3)), None).await;
    assert!(r.is_err(), "write with a failing stream succeeded");
    if fx.fs.exists(&old).await? {
        assert_eq!(
            get(&*fx.fs, &old, ByteRange::ALL).await?,
            b"the good old content",
            "a failed write changed {old}"
        );
    }
    let names = listing(&*fx.fs, &d, false).await?;
    assert!(
        names.keys().all(|n| n == "old"),
        "failed writes left files behind: {:?}",
        names.keys()
    );
    Ok(())
}

/// A stream shorter than the declared size is a truncated transfer: error, no file.
pub(super) async fn short_write_is_rejected(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("short_write").await?;
    let f = d.join_entry("short")?;
    let r = fx.fs.write(&f, bytes(&pattern(1000, 4)), Some(5000)).await;
    assert!(r.is_err(), "a write shorter than its declared size succeeded: {r:?}");
    assert!(!fx.fs.exists(&f).await?, "a truncated write left {f}");
    Ok(())
}

/// Dropping a write future half-way leaves no file at the target name.
pub(super) async fn dropped_write_leaves_no_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("dropped_write").await?;
    let f = d.join_entry("dropped")?;
    let head = stream::iter([Ok(Bytes::from(pattern(200_000, 5)))]);
    let stalled: ByteStream = head.chain(stream::pending()).boxed();
    let r = tokio::time::timeout(Duration::from_millis(500), fx.fs.write(&f, stalled, None)).await;
    assert!(r.is_err(), "write of a stalled stream finished: {r:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!fx.fs.exists(&f).await?, "a dropped write left {f}");
    Ok(())
}

/// Append adds to the end; appending to a missing file is `NotFound`.
pub(super) async fn append(fx: &FsFixture) -> Result<()> {
    let (d, f) = fx.file("append", "log", b"abc").await?;
    assert_eq!(fx.fs.append(&f, chunks([b"de".to_vec(), b"f".to_vec()])).await?, 3);
    fx.fs.append(&f, bytes(&pattern(200_000, 9))).await?;
    let back = get(&*fx.fs, &f, ByteRange::ALL).await?;
    assert_eq!(&back[..6], b"abcdef");
    assert!(back[6..] == pattern(200_000, 9)[..], "appended data differs");
    let missing = d.join_entry("missing")?;
    expect_kind(
        "append to a missing file",
        fx.fs.append(&missing, bytes(b"z")).await,
        ErrorKind::NotFound,
    );
    Ok(())
}
