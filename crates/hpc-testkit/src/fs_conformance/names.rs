//! Checks of names and errors: unicode and awkward names round-trip,
//! hostile names are refused, errors are typed, large files keep their size.

use hpc_core::{ByteRange, ErrorKind, Path, Result};

use super::FsFixture;
use super::support::{expect_kind, get, listing, put};

/// Unicode, spaces, leading dashes and other legal but awkward names round-trip.
pub(super) async fn unicode_and_spaces(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("names").await?;
    let names = [
        "ünïcödé ✓ файл 名前.txt",
        "with space",
        " leading and trailing ",
        "-dash",
        "quote's \"double\"",
        "percent%20and+plus&amp",
        "back\\slash",
        "..dots",
        "emoji 🚀",
    ];
    let sub = d.join_entry("dir with ü space")?;
    fx.fs.create_directory(&sub).await?;
    for n in names {
        put(&*fx.fs, &sub.join_entry(n)?, n.as_bytes()).await?;
    }
    let l = listing(&*fx.fs, &sub, false).await?;
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    assert_eq!(l.keys().map(String::as_str).collect::<Vec<_>>(), want);
    for n in names {
        let p = sub.join_entry(n)?;
        assert_eq!(get(&*fx.fs, &p, ByteRange::ALL).await?, n.as_bytes(), "{n:?}");
        assert_eq!(fx.fs.attributes(&p).await?.path.file_name(), Some(n));
    }
    Ok(())
}

/// Names that would leave a directory are rejected before use, and listings
/// only ever yield direct children.
pub(super) async fn hostile_names(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("hostile").await?;
    for bad in ["", ".", "..", "../x", "a/b", "/etc", "nul\0byte"] {
        let e = d.join_entry(bad).expect_err("join_entry accepted a hostile name");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    // `..` in a path cannot climb above the root of an absolute path.
    let climbing = Path::new(&format!("{d}{}", "/..".repeat(d.depth() + 2)))?;
    assert!(climbing.is_root());
    put(&*fx.fs, &d.join_entry("..a")?, b"legal").await?;
    let l = listing(&*fx.fs, &d, true).await?;
    assert_eq!(l.keys().collect::<Vec<_>>(), ["..a"]);
    Ok(())
}

/// Errors are typed: `NotFound`, `AlreadyExists`, and never a panic.
pub(super) async fn typed_errors(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("errors").await?;
    let missing = d.join_entry("missing")?;
    expect_kind(
        "read of a missing file",
        fx.fs.read(&missing, ByteRange::ALL).await.map(|_| ()),
        ErrorKind::NotFound,
    );
    let f = d.join_entry("file")?;
    put(&*fx.fs, &f, b"x").await?;
    expect_kind(
        "create_directory over a file",
        fx.fs.create_directory(&f).await,
        ErrorKind::AlreadyExists,
    );
    Ok(())
}

/// A multi-GiB file made out of band reports its size, lists with it, and
/// reads a range near its end without transferring the rest.
pub(super) async fn large_sparse_size(fx: &FsFixture) -> Result<()> {
    let make = fx.sparse.as_ref().expect("a suite that declares sparse files gives a SparseMaker");
    let d = fx.dir("large").await?;
    let f = d.join_entry("sparse.img")?;
    make(&f, fx.sparse_size).await?;
    assert_eq!(fx.fs.attributes(&f).await?.size, fx.sparse_size);
    let l = listing(&*fx.fs, &d, false).await?;
    assert_eq!(l["sparse.img"].size, fx.sparse_size);
    if fx.caps.read_range {
        let tail =
            get(&*fx.fs, &f, ByteRange { offset: fx.sparse_size - 10, len: Some(100) }).await?;
        assert_eq!(tail.len(), 10, "range at the end of a large file");
    }
    fx.fs.delete(&f, false).await?;
    Ok(())
}
