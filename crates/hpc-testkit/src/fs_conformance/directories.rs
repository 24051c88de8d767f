//! Checks of the tree: directories, files, delete, exists, listings,
//! attributes and permissions.

use std::time::Duration;

use futures::StreamExt;
use hpc_core::{ErrorKind, Result};

use super::FsFixture;
use super::support::{bytes, expect_kind, listing, pattern, put};

/// Directories: create, exists, is a directory, again is `AlreadyExists`.
pub(super) async fn create_directory(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_directory").await?;
    let sub = d.join_entry("sub")?;
    fx.fs.create_directory(&sub).await?;
    assert!(fx.fs.exists(&sub).await?, "{sub} missing after create_directory");
    assert!(fx.fs.attributes(&sub).await?.is_directory(), "{sub} is not a directory");
    expect_kind(
        "create_directory twice",
        fx.fs.create_directory(&sub).await,
        ErrorKind::AlreadyExists,
    );
    Ok(())
}

/// `create_directories` makes all missing parents and accepts an existing tree.
pub(super) async fn create_directories(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_directories").await?;
    let deep = d.join("a/b/c/d")?;
    fx.fs.create_directories(&deep).await?;
    assert!(fx.fs.attributes(&deep).await?.is_directory());
    assert!(fx.fs.attributes(&d.join("a/b")?).await?.is_directory());
    fx.fs.create_directories(&deep).await?;
    Ok(())
}

/// `create_file` makes an empty file and refuses an existing one.
pub(super) async fn create_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_file").await?;
    let f = d.join_entry("empty")?;
    fx.fs.create_file(&f).await?;
    let a = fx.fs.attributes(&f).await?;
    assert!(a.is_regular() && a.size == 0, "new file: {a:?}");
    expect_kind("create_file twice", fx.fs.create_file(&f).await, ErrorKind::AlreadyExists);
    Ok(())
}

/// Delete a file, an empty directory, a tree (recursive only); missing is `NotFound`.
pub(super) async fn delete(fx: &FsFixture) -> Result<()> {
    let (d, f) = fx.file("delete", "f", b"1").await?;
    fx.fs.delete(&f, false).await?;
    assert!(!fx.fs.exists(&f).await?);
    let empty = d.join_entry("empty")?;
    fx.fs.create_directory(&empty).await?;
    fx.fs.delete(&empty, false).await?;
    assert!(!fx.fs.exists(&empty).await?);
    let tree = d.join_entry("tree")?;
    fx.fs.create_directories(&tree.join("x/y")?).await?;
    put(&*fx.fs, &tree.join("x/y/z")?, b"z").await?;
    put(&*fx.fs, &tree.join("top")?, b"t").await?;
    fx.fs.delete(&tree, true).await?;
    assert!(!fx.fs.exists(&tree).await?, "recursive delete left {tree}");
    expect_kind("delete of a missing path", fx.fs.delete(&f, false).await, ErrorKind::NotFound);
    Ok(())
}

/// `exists` for files, directories and missing paths.
pub(super) async fn exists(fx: &FsFixture) -> Result<()> {
    let (d, f) = fx.file("exists", "here", b"!").await?;
    assert!(fx.fs.exists(&f).await?);
    assert!(fx.fs.exists(&d).await?);
    assert!(!fx.fs.exists(&d.join_entry("nothere")?).await?);
    assert!(!fx.fs.exists(&d.join("no/such/deep")?).await?);
    Ok(())
}

/// A flat listing names exactly the children, with kinds and sizes.
pub(super) async fn list_flat(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("list_flat").await?;
    put(&*fx.fs, &d.join_entry("a.txt")?, b"12345").await?;
    put(&*fx.fs, &d.join_entry(".hidden")?, b"").await?;
    fx.fs.create_directories(&d.join("sub/deeper")?).await?;
    put(&*fx.fs, &d.join("sub/inner")?, b"x").await?;
    let l = listing(&*fx.fs, &d, false).await?;
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(names, [".hidden", "a.txt", "sub"]);
    assert!(l["a.txt"].is_regular() && l["a.txt"].size == 5, "{:?}", l["a.txt"]);
    assert!(l["sub"].is_directory());
    assert!(l[".hidden"].is_hidden() && l[".hidden"].size == 0);
    expect_kind(
        "listing a missing directory",
        listing(&*fx.fs, &d.join_entry("nope")?, false).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// A recursive listing finds everything once; it is a stream (the first
/// entry arrives and the rest can be dropped).
pub(super) async fn list_recursive_streamed(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("list_recursive").await?;
    for p in ["a/1", "a/b/2", "a/b/c/3", "d/4", "5"] {
        let p = d.join(p)?;
        fx.fs.create_directories(&p.parent().expect("has parent")).await?;
        put(&*fx.fs, &p, p.to_string().as_bytes()).await?;
    }
    fx.fs.create_directories(&d.join("empty/dir")?).await?;
    let l = listing(&*fx.fs, &d, true).await?;
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["5", "a", "a/1", "a/b", "a/b/2", "a/b/c", "a/b/c/3", "d", "d/4", "empty", "empty/dir"]
    );
    assert!(l["a/b/c"].is_directory() && l["a/b/c/3"].is_regular());
    let mut s = fx.fs.list(&d, true);
    let first = s.next().await.expect("a first entry")?;
    assert!(first.path.starts_with(&d));
    drop(s);
    Ok(())
}

/// Attributes: kind, size, times, permissions where readable; `NotFound`.
pub(super) async fn attributes(fx: &FsFixture) -> Result<()> {
    let (d, f) = fx.file("attributes", "f", &pattern(4321, 0)).await?;
    let a = fx.fs.attributes(&f).await?;
    assert_eq!(a.path, f, "attributes carry the absolute path");
    assert!(a.is_regular() && !a.is_directory() && !a.is_symbolic_link());
    assert_eq!(a.size, 4321);
    if fx.has_modification_times {
        let m = a.modified.expect("a modification time");
        let age = std::time::SystemTime::now().duration_since(m).unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "modification time is {age:?} old");
    }
    if fx.caps.attributes_permissions {
        let p = a.permissions.expect("permissions");
        assert!(p & 0o600 == 0o600 && p <= 0o7777, "odd permissions {p:o}");
    }
    assert!(fx.fs.attributes(&d).await?.is_directory());
    expect_kind(
        "attributes of a missing path",
        fx.fs.attributes(&d.join_entry("gone")?).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// Permissions set are permissions read.
pub(super) async fn set_permissions(fx: &FsFixture) -> Result<()> {
    let (d, f) = fx.file("set_permissions", "p", b"p").await?;
    for mode in [0o640, 0o755, 0o600] {
        fx.fs.set_permissions(&f, mode).await?;
        if fx.caps.attributes_permissions {
            assert_eq!(fx.fs.attributes(&f).await?.permissions, Some(mode));
        }
    }
    expect_kind(
        "set_permissions of a missing path",
        fx.fs.set_permissions(&d.join_entry("x")?, 0o600).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// Directories are real (not key prefixes): creating something needs its
/// parent, nothing goes below a regular file, and a non-empty directory is
/// deleted only recursively.
pub(super) async fn real_directories(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("real_directories").await?;
    let orphan = d.join("missing/child")?;
    expect_kind(
        "create_directory without parent",
        fx.fs.create_directory(&orphan).await,
        ErrorKind::NotFound,
    );
    expect_kind(
        "create_file in a missing directory",
        fx.fs.create_file(&d.join("no/f")?).await,
        ErrorKind::NotFound,
    );
    let r = fx.fs.write(&d.join("no/f")?, bytes(b"x"), None).await;
    expect_kind("write in a missing directory", r, ErrorKind::NotFound);
    let f = d.join_entry("file")?;
    put(&*fx.fs, &f, b"x").await?;
    let r = fx.fs.write(&f.join_entry("below-a-file")?, bytes(b"x"), None).await;
    assert!(r.is_err(), "write below a regular file succeeded");
    let tree = d.join_entry("tree")?;
    fx.fs.create_directories(&tree.join("x/y")?).await?;
    put(&*fx.fs, &tree.join("x/y/z")?, b"z").await?;
    put(&*fx.fs, &tree.join("top")?, b"t").await?;
    let r = fx.fs.delete(&tree, false).await;
    assert!(r.is_err(), "non-recursive delete of a non-empty directory succeeded");
    assert!(!r.unwrap_err().is_not_found());
    assert!(fx.fs.exists(&tree.join("x/y/z")?).await?, "failed delete removed content");
    Ok(())
}
