//! Streamed directory listings and recursive delete.

use std::collections::VecDeque;

use futures::stream::{self, BoxStream, StreamExt};
use hpc_core::{Path, PathAttributes, Result};
use russh_sftp::protocol::{File, StatusCode};

use super::error::{SftpErrorExt, status_code};
use super::parse::attributes_from;
use super::session::Session;

/// One open directory: its path, handle and the names read but not yet yielded.
struct Open {
    dir: Path,
    handle: String,
    names: VecDeque<File>,
}

struct Walk<'a> {
    session: &'a Session,
    stack: Vec<Open>,
    next_dir: Option<Path>,
    recursive: bool,
}

impl Walk<'_> {
    async fn next(&mut self) -> Option<Result<PathAttributes>> {
        let session = self.session;
        loop {
            if let Some(dir) = self.next_dir.take() {
                match session.raw.opendir(dir.to_string()).await {
                    Ok(h) => {
                        self.stack.push(Open { dir, handle: h.handle, names: VecDeque::new() })
                    }
                    Err(e) => return Some(Err(e.at(&session.host, "list", &dir))),
                }
            }
            let top = self.stack.last_mut()?;
            if let Some(file) = top.names.pop_front() {
                if file.filename == "." || file.filename == ".." {
                    continue;
                }
                let child = match top.dir.join_entry(&file.filename) {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                let attrs = attributes_from(child.clone(), &file.attrs, Some(&file.longname));
                if self.recursive && attrs.is_directory() {
                    self.next_dir = Some(child);
                }
                return Some(Ok(attrs));
            }
            match session.raw.readdir(top.handle.clone()).await {
                Ok(name) => top.names.extend(name.files),
                Err(e) => {
                    let open = self.stack.pop()?;
                    let _ = session.raw.close(open.handle).await;
                    if status_code(&e) != Some(StatusCode::Eof) {
                        return Some(Err(e.at(&session.host, "list", &open.dir)));
                    }
                }
            }
        }
    }
}

impl Drop for Walk<'_> {
    fn drop(&mut self) {
        if self.stack.is_empty() {
            return;
        }
        let session = self.session.raw.clone();
        let handles: Vec<String> = self.stack.drain(..).map(|o| o.handle).collect();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for h in handles {
                    let _ = session.close(h).await;
                }
            });
        }
    }
}

/// List `dir` (absolute) as a stream, depth first, without following links.
pub(super) fn list(
    session: &Session,
    dir: Path,
    recursive: bool,
) -> BoxStream<'_, Result<PathAttributes>> {
    let walk = Walk { session, stack: Vec::new(), next_dir: Some(dir), recursive };
    stream::unfold(walk, |mut w| async move { w.next().await.map(|item| (item, w)) }).boxed()
}

/// Delete `dir` and everything below it (links are removed, not followed).
pub(super) async fn delete_tree(session: &Session, dir: &Path) -> Result<()> {
    let mut children = Vec::new();
    let mut s = list(session, dir.clone(), false);
    while let Some(a) = s.next().await {
        children.push(a?);
    }
    drop(s);
    for c in children {
        if c.is_directory() {
            Box::pin(delete_tree(session, &c.path)).await?;
        } else {
            session
                .raw
                .remove(c.path.to_string())
                .await
                .map_err(|e| e.at(&session.host, "delete", &c.path))?;
        }
    }
    session
        .raw
        .rmdir(dir.to_string())
        .await
        .map(drop)
        .map_err(|e| e.at(&session.host, "delete", dir))
}
