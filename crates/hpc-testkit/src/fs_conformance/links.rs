//! Checks of symbolic links: described, not followed; dangling links exist;
//! a tree with links is listed without descending them.

use hpc_core::{ByteRange, EntryKind, ErrorKind, Path, Result};

use super::FsFixture;
use super::support::{expect_kind, get, listing, put};

/// Links are described, not followed; dangling links exist; deleting a link
/// keeps its target.
pub(super) async fn symlinks(fx: &FsFixture) -> Result<()> {
    let (d, target) = fx.file("symlinks", "target", b"linked").await?;
    let link = d.join_entry("link")?;
    fx.fs.create_symbolic_link(&link, &Path::new("target")?).await?;
    let a = fx.fs.attributes(&link).await?;
    assert!(a.is_symbolic_link(), "attributes followed the link: {a:?}");
    if fx.caps.read_symbolic_link {
        assert_eq!(fx.fs.read_symbolic_link(&link).await?.to_string(), "target");
    }
    assert_eq!(get(&*fx.fs, &link, ByteRange::ALL).await?, b"linked", "read goes through the link");
    let dangling = d.join_entry("dangling")?;
    fx.fs.create_symbolic_link(&dangling, &Path::new("/no/such/target")?).await?;
    assert!(fx.fs.exists(&dangling).await?, "a dangling link exists");
    fx.fs.delete(&link, false).await?;
    assert!(!fx.fs.exists(&link).await? && fx.fs.exists(&target).await?);
    expect_kind(
        "create_symbolic_link over an existing path",
        fx.fs.create_symbolic_link(&dangling, &target).await,
        ErrorKind::AlreadyExists,
    );
    Ok(())
}

/// The shared fixture tree with links (file, directory, dangling, escaping):
/// a recursive listing reports links as links and does not descend them.
pub(super) async fn symlink_fixture_tree(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("symlink_tree").await?;
    let tree = build_symlink_tree(fx, &d).await?;
    let l = listing(&*fx.fs, &d, true).await?;
    let got: Vec<(String, EntryKind)> = l.iter().map(|(k, v)| (k.clone(), v.kind)).collect();
    let want: Vec<(String, EntryKind)> = tree.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want, "recursive listing of the symlink tree");
    Ok(())
}

/// Create the symlink fixture tree below `dir`; returns relative paths and kinds, sorted.
pub async fn build_symlink_tree(
    fx: &FsFixture,
    dir: &Path,
) -> Result<Vec<(&'static str, EntryKind)>> {
    use EntryKind::{Directory as D, File as F, Symlink as L};
    fx.fs.create_directories(&dir.join("a/deep")?).await?;
    fx.fs.create_directories(&dir.join("b")?).await?;
    put(&*fx.fs, &dir.join("a/file")?, b"file in a").await?;
    put(&*fx.fs, &dir.join("a/deep/leaf")?, b"leaf").await?;
    put(&*fx.fs, &dir.join("b/g")?, b"g").await?;
    let link = |l: &str, t: &str| {
        let (l, t) = (dir.join(l), Path::new(t));
        async move { fx.fs.create_symbolic_link(&l?, &t?).await }
    };
    link("a/link-to-file", "file").await?;
    link("a/link-to-dir", "../b").await?;
    link("a/dangling", "does-not-exist").await?;
    link("escape", "../../../../etc").await?;
    Ok(vec![
        ("a", D),
        ("a/dangling", L),
        ("a/deep", D),
        ("a/deep/leaf", F),
        ("a/file", F),
        ("a/link-to-dir", L),
        ("a/link-to-file", L),
        ("b", D),
        ("b/g", F),
        ("escape", L),
    ])
}
