//! Checks of the operations a file system may lack: rename, server-side
//! copy and checksums where the capabilities say so, and `Unsupported`
//! where they do not.

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hpc_core::{ByteRange, ChecksumAlgorithm, ErrorKind, Result};

use super::FsFixture;
use super::support::{bytes, expect_kind, expect_unsupported, get, pattern, put};

/// Rename files and directories; existing target is `AlreadyExists`; missing source is `NotFound`.
pub(super) async fn rename(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("rename").await?;
    let a = d.join_entry("a")?;
    let b = d.join_entry("b")?;
    put(&*fx.fs, &a, b"A").await?;
    fx.fs.rename(&a, &b).await?;
    assert!(!fx.fs.exists(&a).await? && fx.fs.exists(&b).await?);
    assert_eq!(get(&*fx.fs, &b, ByteRange::ALL).await?, b"A");
    put(&*fx.fs, &a, b"A2").await?;
    expect_kind(
        "rename onto an existing file",
        fx.fs.rename(&a, &b).await,
        ErrorKind::AlreadyExists,
    );
    assert_eq!(get(&*fx.fs, &b, ByteRange::ALL).await?, b"A", "failed rename changed the target");
    let dir = d.join_entry("dir")?;
    fx.fs.create_directories(&dir.join("in")?).await?;
    put(&*fx.fs, &dir.join("in/f")?, b"f").await?;
    let moved = d.join_entry("moved dir")?;
    fx.fs.rename(&dir, &moved).await?;
    assert_eq!(get(&*fx.fs, &moved.join("in/f")?, ByteRange::ALL).await?, b"f");
    expect_kind(
        "rename of a missing path",
        fx.fs.rename(&dir, &d.join_entry("x")?).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// `rename_replacing` puts the new file in place of the old one.
pub(super) async fn rename_replacing(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("rename_replacing").await?;
    let new = d.join_entry("new")?;
    let target = d.join_entry("target")?;
    put(&*fx.fs, &new, b"new").await?;
    put(&*fx.fs, &target, b"old").await?;
    fx.fs.rename_replacing(&new, &target).await?;
    assert_eq!(get(&*fx.fs, &target, ByteRange::ALL).await?, b"new");
    assert!(!fx.fs.exists(&new).await?);
    put(&*fx.fs, &new, b"newer").await?;
    let fresh = d.join_entry("fresh")?;
    fx.fs.rename_replacing(&new, &fresh).await?;
    assert_eq!(get(&*fx.fs, &fresh, ByteRange::ALL).await?, b"newer");
    Ok(())
}

/// Copy within the file system.
pub(super) async fn server_side_copy(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("server_copy").await?;
    let a = d.join_entry("a")?;
    let b = d.join_entry("b")?;
    let data = pattern(700_000, 11);
    put(&*fx.fs, &a, &data).await?;
    fx.fs.copy_server_side(&a, &b).await?;
    assert!(get(&*fx.fs, &b, ByteRange::ALL).await? == data);
    assert!(get(&*fx.fs, &a, ByteRange::ALL).await? == data, "source changed");
    expect_kind(
        "copy of a missing file",
        fx.fs.copy_server_side(&d.join_entry("none")?, &b).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// A server-side SHA-256 matches the known digest (or is `None`).
pub(super) async fn checksum(fx: &FsFixture) -> Result<()> {
    let (_, f) = fx.file("checksum", "abc", b"abc").await?;
    let sum = fx.fs.checksum(&f, ChecksumAlgorithm::Sha256).await?;
    if fx.caps.checksum {
        assert_eq!(
            sum.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    } else {
        assert_eq!(sum, None, "checksum without checksum");
    }
    Ok(())
}

/// Every operation the adaptor's capabilities deny answers `Unsupported`
/// and changes nothing.
pub(super) async fn unsupported_operations(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("unsupported").await?;
    let f = d.join_entry("f")?;
    let other = d.join_entry("other")?;
    put(&*fx.fs, &f, &pattern(700_000, 11)).await?;
    let caps = fx.caps;
    if !caps.append {
        expect_unsupported("append", fx.fs.append(&f, bytes(b"y")).await);
    }
    if !caps.set_permissions {
        expect_unsupported("set_permissions", fx.fs.set_permissions(&f, 0o640).await);
    }
    if !caps.rename {
        expect_unsupported("rename", fx.fs.rename(&f, &other).await);
    }
    if !caps.create_symbolic_link {
        expect_unsupported("create_symbolic_link", fx.fs.create_symbolic_link(&other, &f).await);
    }
    if !caps.read_symbolic_link {
        expect_unsupported("read_symbolic_link", fx.fs.read_symbolic_link(&f).await);
    }
    if !caps.copy_server_side {
        expect_unsupported("copy_server_side", fx.fs.copy_server_side(&f, &other).await);
    }
    if !caps.write_parts {
        let parts = stream::iter([Ok((0, Bytes::from_static(b"p")))]).boxed();
        expect_unsupported("write_parts", fx.fs.write_parts(&other, parts, 1).await);
    }
    assert!(get(&*fx.fs, &f, ByteRange::ALL).await? == pattern(700_000, 11), "{f} changed");
    assert!(!fx.fs.exists(&other).await?, "a refused operation made {other}");
    Ok(())
}
