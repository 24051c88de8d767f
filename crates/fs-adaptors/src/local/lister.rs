//! Attributes of local paths and streamed, depth-first directory walks that
//! do not follow links.

use std::os::unix::fs::MetadataExt;

use futures::stream::{self, BoxStream, StreamExt};
use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};

use super::owners;

fn kind_of(ft: std::fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Directory
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn attributes_from(path: Path, meta: &std::fs::Metadata, link: Option<String>) -> PathAttributes {
    let mut a = PathAttributes::new(path, kind_of(meta.file_type()), meta.len());
    a.modified = meta.modified().ok();
    a.accessed = meta.accessed().ok();
    a.created = meta.created().ok();
    a.owner = Some(owners::user_name(meta.uid()));
    a.group = Some(owners::group_name(meta.gid()));
    a.permissions = Some(meta.mode() & 0o7777);
    a.link_target = link;
    a
}

pub(super) async fn describe(path: Path, os: &std::path::Path) -> Result<PathAttributes> {
    let meta =
        tokio::fs::symlink_metadata(os).await.map_err(|e| Error::from_io_path("stat", &path, e))?;
    let link = if meta.file_type().is_symlink() {
        tokio::fs::read_link(os).await.ok().and_then(|t| t.to_str().map(str::to_owned))
    } else {
        None
    };
    Ok(attributes_from(path, &meta, link))
}

/// State of a depth-first listing: open directory handles, deepest last.
struct Walk {
    stack: Vec<(Path, tokio::fs::ReadDir)>,
    next_dir: Option<Path>,
    recursive: bool,
}

impl Walk {
    async fn next(&mut self) -> Option<Result<PathAttributes>> {
        loop {
            if let Some(dir) = self.next_dir.take() {
                match tokio::fs::read_dir(dir.to_string()).await {
                    Ok(rd) => self.stack.push((dir, rd)),
                    Err(e) => return Some(Err(Error::from_io_path("list", &dir, e))),
                }
            }
            let (dir, rd) = self.stack.last_mut()?;
            match rd.next_entry().await {
                Ok(Some(entry)) => {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else {
                        return Some(Err(Error::InvalidInput(format!(
                            "entry {name:?} in {dir} is not UTF-8; refusing to use it"
                        ))));
                    };
                    let child = match dir.join_entry(name) {
                        Ok(c) => c,
                        Err(e) => return Some(Err(e)),
                    };
                    let attrs = describe(child.clone(), &entry.path()).await;
                    if let Ok(a) = &attrs
                        && self.recursive
                        && a.is_directory()
                    {
                        self.next_dir = Some(child);
                    }
                    // An entry removed between readdir and lstat is simply gone.
                    if matches!(&attrs, Err(e) if e.is_not_found()) {
                        continue;
                    }
                    return Some(attrs);
                }
                Ok(None) => {
                    self.stack.pop();
                }
                Err(e) => {
                    let dir = dir.clone();
                    self.stack.pop();
                    return Some(Err(Error::from_io_path("list", &dir, e)));
                }
            }
        }
    }
}

/// The entries below `dir` (absolute), as a stream: one open directory
/// handle per level, depth first, links described and not followed.
pub(super) fn list(dir: Path, recursive: bool) -> BoxStream<'static, Result<PathAttributes>> {
    let walk = Walk { stack: Vec::new(), next_dir: Some(dir), recursive };
    stream::unfold(walk, |mut w| async move { w.next().await.map(|item| (item, w)) }).boxed()
}
