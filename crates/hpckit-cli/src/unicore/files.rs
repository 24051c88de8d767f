//! `ls`, `cp`, `cat` on `https://.../rest/core/storages/<id>/files/<path>` URLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use hpckit::unicore::{Backoff, FileInfo, Storage, TransferState};
use serde_json::json;

use super::Ctx;
use crate::output;

/// `ls`.
#[derive(Debug, clap::Args)]
pub(crate) struct LsArgs {
    /// Remote directories (or files).
    #[arg(required = true)]
    urls: Vec<String>,
    /// Permissions, size, time and name.
    #[arg(short = 'l', long)]
    long: bool,
}

/// `cp`.
#[derive(Debug, clap::Args)]
pub(crate) struct CpArgs {
    /// Sources, then the target: local paths, `-` (stdout, as target), or
    /// `[PROTOCOL:]https://.../storages/<id>/files/<path>` (a `*` or `?` in a
    /// remote file name picks several).
    #[arg(required = true, num_args = 2..)]
    paths: Vec<String>,
    /// Server-to-server settings (`key=value,key=value`).
    #[arg(short = 'E', long)]
    extra: Option<String>,
    /// Server-to-server: do not wait, print the transfer URL.
    #[arg(short = 'a', long)]
    asynchronous: bool,
}

/// `cat`.
#[derive(Debug, clap::Args)]
pub(crate) struct CatArgs {
    /// Remote files.
    #[arg(required = true)]
    urls: Vec<String>,
}

/// A remote location: the storage URL and the path on it.
#[derive(Debug, Clone)]
struct Remote {
    storage: String,
    path: String,
}

fn remote(location: &str) -> Option<Remote> {
    let url =
        location.find("https://").or_else(|| location.find("http://")).map(|i| &location[i..])?;
    let i = url.find("/rest/core/storages/")? + "/rest/core/storages/".len();
    let (id, path) = match url[i..].split_once("/files") {
        Some((id, p)) => (id, if p.is_empty() { "/" } else { p }),
        None => (&url[i..], "/"),
    };
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    Some(Remote { storage: format!("{}{id}", &url[..i]), path: decoded })
}

fn is_remote(location: &str) -> bool {
    location.contains("://")
}

fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

/// The remote files `r` names (its file name may be a pattern).
async fn expand(storage: &Storage, r: &Remote) -> anyhow::Result<Vec<String>> {
    let (dir, name) = r.path.rsplit_once('/').unwrap_or(("", &r.path));
    if !name.contains(['*', '?']) {
        return Ok(vec![r.path.clone()]);
    }
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut hits: Vec<String> = storage
        .list(dir)
        .await?
        .into_iter()
        .filter(|f| !f.is_dir && glob_match(name, f.name()))
        .map(|f| f.path)
        .collect();
    hits.sort();
    if hits.is_empty() {
        bail!("no remote file matches {}", r.path);
    }
    Ok(hits)
}

fn long_line(f: &FileInfo) -> String {
    format!(
        "{}{} {} {} {}",
        if f.is_dir { 'd' } else { '-' },
        f.permissions.as_deref().unwrap_or("---------"),
        f.size,
        f.last_accessed.as_deref().unwrap_or(""),
        f.path
    )
}

pub(crate) async fn ls(ctx: &Ctx, a: LsArgs) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for url in &a.urls {
        let r = remote(url).with_context(|| format!("{url} is not a UNICORE storage URL"))?;
        let storage = Storage::new(&ctx.transport, &r.storage);
        let info = storage.stat(&r.path).await?;
        let entries = if info.is_dir { storage.list(&r.path).await? } else { vec![info] };
        for f in entries {
            if ctx.json {
                all.push(json!({"path": f.path, "isDirectory": f.is_dir, "size": f.size, "permissions": f.permissions, "lastAccessed": f.last_accessed}));
            } else if a.long {
                say!("{}", long_line(&f));
            } else {
                say!("{}", f.path);
            }
        }
    }
    if ctx.json {
        output::print_json(&all)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn cat(ctx: &Ctx, a: CatArgs) -> anyhow::Result<ExitCode> {
    for url in &a.urls {
        let r = remote(url).with_context(|| format!("{url} is not a UNICORE storage URL"))?;
        let storage = Storage::new(&ctx.transport, &r.storage);
        for path in expand(&storage, &r).await? {
            let mut s = storage.read(&path, 0, None).await?;
            while let Some(chunk) = s.next().await {
                output::write_stdout(&chunk?)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn cp(ctx: &Ctx, a: CpArgs) -> anyhow::Result<ExitCode> {
    let (target, sources) = a.paths.split_last().context("cp needs sources and a target")?;
    let extra: BTreeMap<String, String> = a
        .extra
        .as_deref()
        .map(|e| {
            e.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    for source in sources {
        match (is_remote(source), is_remote(target)) {
            (true, true) => server_to_server(ctx, source, target, &extra, a.asynchronous).await?,
            (true, false) => download(ctx, source, target).await?,
            (false, true) => upload(ctx, Path::new(source), target).await?,
            (false, false) => {
                bail!("{source} -> {target}: at least one side must be a UNICORE URL")
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn download(ctx: &Ctx, source: &str, target: &str) -> anyhow::Result<()> {
    let r = remote(source).with_context(|| format!("{source} is not a UNICORE storage URL"))?;
    let storage = Storage::new(&ctx.transport, &r.storage);
    for path in expand(&storage, &r).await? {
        if target == "-" {
            let mut s = storage.read(&path, 0, None).await?;
            while let Some(chunk) = s.next().await {
                output::write_stdout(&chunk?)?;
            }
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or("download");
        let dest = if Path::new(target).is_dir() {
            PathBuf::from(target).join(name)
        } else {
            PathBuf::from(target)
        };
        let size = storage.stat(&path).await?.size;
        let bar = output::bytes_bar(size);
        bar.set_message(name.to_owned());
        storage.download_with_progress(&path, &dest, &mut |n| bar.inc(n)).await?;
        bar.finish_and_clear();
    }
    Ok(())
}

async fn upload(ctx: &Ctx, source: &Path, target: &str) -> anyhow::Result<()> {
    let r = remote(target).with_context(|| format!("{target} is not a UNICORE storage URL"))?;
    let name =
        source.file_name().context("the source has no file name")?.to_string_lossy().into_owned();
    let path = if r.path.ends_with('/') { format!("{}{name}", r.path) } else { r.path.clone() };
    let size =
        std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?.len();
    let bar = output::bytes_bar(size);
    bar.set_message(name);
    let b = bar.clone();
    Storage::new(&ctx.transport, &r.storage)
        .upload_file_with_progress(source, &path, Arc::new(move |n| b.inc(n)))
        .await?;
    bar.finish_and_clear();
    Ok(())
}

async fn server_to_server(
    ctx: &Ctx,
    source: &str,
    target: &str,
    extra: &BTreeMap<String, String>,
    asynchronous: bool,
) -> anyhow::Result<()> {
    // PyUNICORE's choice: a storage source sends its file to the target URL;
    // otherwise the target storage fetches from the source URL.
    let transfer = match (remote(source), remote(target)) {
        (Some(src), _) => {
            let storage = Storage::new(&ctx.transport, &src.storage);
            let files = expand(&storage, &src).await?;
            let [file] = files.as_slice() else {
                bail!("{source} names {} files; copy them one by one", files.len());
            };
            storage.send_file(file, target, None, extra).await?
        }
        (None, Some(dst)) => {
            Storage::new(&ctx.transport, &dst.storage)
                .receive_file(source, &dst.path, None, extra)
                .await?
        }
        (None, None) => bail!("{source} -> {target}: neither side is a UNICORE storage"),
    };
    if asynchronous {
        say!("{}", transfer.url());
        return Ok(());
    }
    let bar = output::spinner(format!("transfer {}", transfer.id()));
    let p = transfer
        .wait(
            TransferState::Done,
            None,
            Backoff { max: Duration::from_secs(1), ..Backoff::default() },
            |p| {
                bar.set_message(format!(
                    "transfer {}: {} {} bytes",
                    transfer.id(),
                    p.status,
                    p.transferred_bytes
                ));
            },
        )
        .await?;
    bar.finish_and_clear();
    if p.status != TransferState::Done {
        bail!("transfer {} ended {}: {}", transfer.url(), p.status, p.status_message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_and_patterns() {
        let r = remote("https://h:8/S/rest/core/storages/HOME/files/a/b%20c.txt").unwrap();
        assert_eq!(
            (r.storage.as_str(), r.path.as_str()),
            ("https://h:8/S/rest/core/storages/HOME", "/a/b c.txt")
        );
        let r = remote("UFTP:https://h/S/rest/core/storages/WORK").unwrap();
        assert_eq!(
            (r.storage.as_str(), r.path.as_str()),
            ("https://h/S/rest/core/storages/WORK", "/")
        );
        assert!(remote("/local/file").is_none());
        assert!(
            glob_match("*.txt", "a.txt")
                && glob_match("a?c", "abc")
                && !glob_match("*.txt", "a.bin")
        );
    }
}
