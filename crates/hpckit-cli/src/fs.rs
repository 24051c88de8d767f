//! `hpckit fs ...`: files on any file system, by URL.
//!
//! Every path argument is a URL (`sftp://user@host:port/path`, `ftp://`,
//! `webdav://`, `webdavs://`, `s3://bucket/prefix`, `file:///path`) or a plain
//! local path. Two URLs on the same server share one connection, and a copy
//! within one file system happens on the server where it can.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use hpckit::core::time::format_utc_minutes;
use hpckit::core::{ByteRange, CopyMode, EntryKind, Error, FileSystem, Path, PathAttributes};
use hpckit::fs_adaptors::copy::{CopyOptions, Progress, ProgressEvent, SymlinkPolicy, copy};
use hpckit::{FsUrl, open_location};
use serde::Serialize;

use crate::creds::CredentialArgs;
use crate::output;

/// File-system subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FsCommand {
    /// List a directory (or show one file).
    Ls {
        /// Directory URL or path.
        url: String,
        /// Long listing: kind, permissions, owner, group, size, time, name.
        #[arg(short, long)]
        long: bool,
        /// Descend into subdirectories.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Show entries starting with a dot.
        #[arg(short, long)]
        all: bool,
        /// JSON array with stable fields (path, name, kind, size, modified, permissions, owner, group, link_target).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Show the attributes of one path.
    Stat {
        /// URL or path.
        url: String,
        /// JSON object (fields as `ls --json`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Write a file's content to standard output.
    Cat {
        /// File URL or path.
        url: String,
        /// Start at this byte.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// At most this many bytes.
        #[arg(long)]
        length: Option<u64>,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Download to a local path (the current directory by default).
    Get {
        /// Remote file or directory.
        url: String,
        /// Local target (a directory receives the file under its own name).
        local: Option<String>,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Upload a local file or directory.
    Put {
        /// Local file or directory.
        local: String,
        /// Remote target (a directory receives the file under its own name).
        url: String,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Copy between any two URLs.
    Cp {
        /// Source URL or path.
        src: String,
        /// Target URL or path (an existing directory receives the source under its own name).
        dst: String,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Move or rename (a rename on the server when both are on one file system).
    Mv {
        /// Source URL or path.
        src: String,
        /// Target URL or path.
        dst: String,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Delete files or (with -r) directory trees.
    Rm {
        /// URLs or paths.
        #[arg(required = true)]
        urls: Vec<String>,
        /// Delete directories with their content.
        #[arg(short, long)]
        recursive: bool,
        /// No error when a path does not exist.
        #[arg(short, long)]
        force: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Create directories.
    Mkdir {
        /// URLs or paths.
        #[arg(required = true)]
        urls: Vec<String>,
        /// Create missing parents; no error if it exists.
        #[arg(short, long)]
        parents: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Mount a file system with FUSE until Ctrl-C (or `fusermount3 -u`).
    Mount {
        /// Directory URL to mount.
        url: String,
        /// Local mount point (an existing empty directory).
        mountpoint: std::path::PathBuf,
        /// Mount read-only.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        s3: S3Args,
    },
}

/// Options for S3 URLs.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct S3Args {
    /// S3 endpoint (`http://127.0.0.1:9000`); default: AWS for the region.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// S3 region.
    #[arg(long)]
    region: Option<String>,
}

/// Options of the copying commands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CopyArgs {
    /// Copy directories with their content.
    #[arg(short, long)]
    recursive: bool,
    /// When the target exists: create (fail), replace, ignore (skip), resume (continue a partial file).
    #[arg(long, default_value = "create", value_parser = parse_mode)]
    mode: CopyMode,
    /// Compare SHA-256 of source and target after each file.
    #[arg(long)]
    verify: bool,
    /// Files transferred at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Symbolic links: preserve (recreate), follow (copy what they point to), skip.
    #[arg(long, default_value = "preserve", value_parser = parse_links)]
    links: SymlinkPolicy,
    /// Print a summary line on stderr when done.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    s3: S3Args,
}

fn parse_mode(s: &str) -> Result<CopyMode, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_links(s: &str) -> Result<SymlinkPolicy, String> {
    match s {
        "preserve" => Ok(SymlinkPolicy::Preserve),
        "follow" => Ok(SymlinkPolicy::Follow),
        "skip" => Ok(SymlinkPolicy::Skip),
        _ => Err(format!("{s:?} is not one of preserve, follow, skip")),
    }
}

/// Opens each distinct file system once.
struct Opener<'a> {
    creds: &'a CredentialArgs,
    s3: S3Args,
    open: HashMap<String, Arc<dyn FileSystem>>,
}

impl<'a> Opener<'a> {
    fn new(creds: &'a CredentialArgs, s3: &S3Args) -> Self {
        Opener { creds, s3: s3.clone(), open: HashMap::new() }
    }

    async fn get(&mut self, url: &str) -> anyhow::Result<(Arc<dyn FileSystem>, Path)> {
        let mut u = FsUrl::parse(url)?;
        if u.location.scheme == "s3" {
            for (k, v) in [("endpoint", &self.s3.endpoint), ("region", &self.s3.region)] {
                if let Some(v) = v
                    && u.location.param(k).is_none()
                {
                    u.location.query.push((k.to_owned(), v.clone()));
                }
            }
        }
        let key = u.fs_key();
        if let Some(fs) = self.open.get(&key) {
            return Ok((fs.clone(), u.path));
        }
        let creds = match u.location.scheme.as_str() {
            "file" | "local" => hpckit::CredentialMap::new(),
            _ => self.creds.credentials(&u.location)?,
        };
        let fs = open_location(&u.location, &creds).await?;
        self.open.insert(key, fs.clone());
        Ok((fs, u.path))
    }
}

/// Run one `hpckit fs` subcommand.
pub(crate) async fn run(cmd: FsCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        FsCommand::Ls { url, long, recursive, all, json, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            ls(&*fs, &path, long, recursive, all, json).await
        }
        FsCommand::Stat { url, json, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            let a = fs.attributes(&path).await?;
            if json {
                output::print_json(&Entry::from(&a))?;
            } else {
                let e = Entry::from(&a);
                let mut t = output::Table::new(["field", "value"]);
                t.row(["path".into(), e.path.clone()]);
                t.row(["kind".into(), format!("{:?}", a.kind).to_lowercase()]);
                t.row(["size".into(), e.size.to_string()]);
                t.row(["permissions".into(), e.permissions.clone().unwrap_or_default()]);
                t.row(["owner".into(), e.owner.clone().unwrap_or_default()]);
                t.row(["group".into(), e.group.clone().unwrap_or_default()]);
                t.row([
                    "modified (UTC)".into(),
                    a.modified.map(format_utc_minutes).unwrap_or_default(),
                ]);
                t.row(["link_target".into(), e.link_target.clone().unwrap_or_default()]);
                t.print()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Cat { url, offset, length, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            let mut data = fs.read(&path, ByteRange { offset, len: length }).await?;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                match out.write_all(&chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                    r => r.context("writing to standard output")?,
                }
            }
            let _ = out.flush();
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Get { url, local, copy } => {
            let local = local.unwrap_or_else(|| ".".into());
            cp(creds, &url, &local, &copy).await
        }
        FsCommand::Put { local, url, copy } => cp(creds, &local, &url, &copy).await,
        FsCommand::Cp { src, dst, copy } => cp(creds, &src, &dst, &copy).await,
        FsCommand::Mv { src, dst, s3 } => {
            let mut opener = Opener::new(creds, &s3);
            let (sfs, spath) = opener.get(&src).await?;
            let (dfs, dpath) = opener.get(&dst).await?;
            let dpath = into_directory(&*dfs, &dpath, &spath, &dst).await?;
            if Arc::ptr_eq(&sfs, &dfs) && sfs.capabilities().rename {
                sfs.rename(&spath, &dpath).await?;
            } else {
                let opts = CopyOptions { recursive: true, verify: true, ..Default::default() };
                copy(&sfs, &spath, &dfs, &dpath, &opts).await?;
                sfs.delete(&spath, true).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Rm { urls, recursive, force, s3 } => {
            let mut opener = Opener::new(creds, &s3);
            for url in urls {
                let (fs, path) = opener.get(&url).await?;
                match fs.delete(&path, recursive).await {
                    Err(e) if force && e.is_not_found() => {}
                    r => r.with_context(|| format!("deleting {url}"))?,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Mkdir { urls, parents, s3 } => {
            let mut opener = Opener::new(creds, &s3);
            for url in urls {
                let (fs, path) = opener.get(&url).await?;
                if parents {
                    fs.create_directories(&path).await?;
                } else {
                    fs.create_directory(&path).await?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Mount { url, mountpoint, read_only, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            mount(fs, path, mountpoint, read_only).await
        }
    }
}

/// One listing entry as `--json` prints it (field names are stable).
#[derive(Debug, Serialize)]
struct Entry {
    path: String,
    name: String,
    kind: EntryKind,
    size: u64,
    /// Seconds since the Unix epoch.
    modified: Option<u64>,
    /// Octal, e.g. `"0644"`.
    permissions: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    link_target: Option<String>,
}

impl From<&PathAttributes> for Entry {
    fn from(a: &PathAttributes) -> Self {
        Entry {
            path: a.path.to_string(),
            name: a.path.file_name().unwrap_or("/").to_owned(),
            kind: a.kind,
            size: a.size,
            modified: a
                .modified
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            permissions: a.permissions.map(|p| format!("{p:04o}")),
            owner: a.owner.clone(),
            group: a.group.clone(),
            link_target: a.link_target.clone(),
        }
    }
}

fn mode_string(a: &PathAttributes) -> String {
    let kind = match a.kind {
        EntryKind::Directory => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
        EntryKind::Other => '?',
    };
    let Some(p) = a.permissions else { return format!("{kind}?????????") };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (p >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

async fn ls(
    fs: &dyn FileSystem,
    path: &Path,
    long: bool,
    recursive: bool,
    all: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let top = fs.attributes(path).await?;
    let entries: Vec<PathAttributes> = if top.is_directory() {
        let base = path.resolve(fs.working_directory());
        fs.list(path, recursive)
            .try_filter(|a| {
                let hidden = a
                    .path
                    .strip_prefix(&base)
                    .is_some_and(|rel| rel.elements().iter().any(|e| e.starts_with('.')));
                futures::future::ready(all || !hidden)
            })
            .try_collect()
            .await?
    } else {
        vec![top.clone()]
    };
    let mut entries = entries;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    if json {
        let list: Vec<Entry> = entries.iter().map(Entry::from).collect();
        output::print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let base = if top.is_directory() { Some(top.path.clone()) } else { None };
    let shown = |a: &PathAttributes| match &base {
        Some(b) => {
            a.path.strip_prefix(b).map(|r| r.to_string()).unwrap_or_else(|| a.path.to_string())
        }
        None => a.path.to_string(),
    };
    if long {
        let mut t =
            output::Table::new(["mode", "owner", "group", "size", "modified (UTC)", "name"]);
        for a in &entries {
            let mut name = shown(a);
            if let Some(target) = &a.link_target {
                name = format!("{name} -> {target}");
            }
            let modified = a.modified.map(format_utc_minutes).unwrap_or_default();
            t.row([
                mode_string(a),
                a.owner.clone().unwrap_or_default(),
                a.group.clone().unwrap_or_default(),
                a.size.to_string(),
                modified,
                name,
            ]);
        }
        t.print()?;
    } else {
        let mut text = String::new();
        for a in &entries {
            let slash = if a.is_directory() { "/" } else { "" };
            text.push_str(&format!("{}{slash}\n", shown(a)));
        }
        output::write_stdout(text.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cp a dir/` and `cp a existing-dir` copy to `dir/a`.
async fn into_directory(
    dfs: &dyn FileSystem,
    dpath: &Path,
    spath: &Path,
    dst_text: &str,
) -> anyhow::Result<Path> {
    let is_dir = match dfs.attributes(dpath).await {
        Ok(a) => a.is_directory(),
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    if is_dir || dst_text.ends_with('/') {
        let name = spath
            .resolve(&Path::root())
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| Error::InvalidInput(format!("{spath} has no name to copy under")))?;
        return Ok(dpath.join_entry(&name)?);
    }
    Ok(dpath.clone())
}

async fn cp(
    creds: &CredentialArgs,
    src: &str,
    dst: &str,
    args: &CopyArgs,
) -> anyhow::Result<ExitCode> {
    let mut opener = Opener::new(creds, &args.s3);
    let (sfs, spath) = opener.get(src).await?;
    let (dfs, dpath) = opener.get(dst).await?;
    let spath = spath.resolve(sfs.working_directory());
    let dpath = into_directory(&*dfs, &dpath, &spath, dst).await?;

    let bar = output::bytes_bar(0);
    let progress_bar = bar.clone();
    let mut opts = CopyOptions {
        mode: args.mode,
        recursive: args.recursive,
        parallel: args.parallel.max(1),
        verify: args.verify,
        symlinks: args.links,
        scan_first: output::progress_enabled(),
        ..Default::default()
    };
    if output::progress_enabled() {
        opts.progress = Some(Arc::new(move |p: &Progress| {
            if let Some(total) = p.bytes_total {
                progress_bar.set_length(total);
            }
            progress_bar.set_position(p.bytes_done);
            if let ProgressEvent::FileStarted { path, .. } = &p.event {
                progress_bar.set_message(path.file_name().unwrap_or("").to_owned());
            }
        }));
    }
    let cancel = opts.cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let result = copy(&sfs, &spath, &dfs, &dpath, &opts).await;
    interrupt.abort();
    bar.finish_and_clear();
    let report = result?;
    if args.verbose {
        output::note(format_args!(
            "{} copied, {} resumed, {} complete already, {} skipped (existing), {} links, {} skipped, {} verified; {} bytes in {:.2}s",
            report.files,
            report.resumed,
            report.already_complete,
            report.skipped_existing,
            report.links,
            report.skipped,
            report.verified,
            report.bytes,
            report.elapsed.as_secs_f64()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "fuse")]
async fn mount(
    fs: Arc<dyn FileSystem>,
    path: Path,
    mountpoint: std::path::PathBuf,
    read_only: bool,
) -> anyhow::Result<ExitCode> {
    use hpckit::fs_adaptors::fuse::{MountOptions, mount};
    let opts = MountOptions { read_only, ..Default::default() };
    let mounted = mount(fs, path, &mountpoint, opts)
        .await
        .with_context(|| format!("mounting on {}", mountpoint.display()))?;
    output::note(format_args!("mounted on {}; Ctrl-C unmounts", mountpoint.display()));
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = mounted.unmounted() => {}
    }
    mounted.unmount().await.context("unmounting")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "fuse"))]
async fn mount(
    _fs: Arc<dyn FileSystem>,
    _path: Path,
    _mountpoint: std::path::PathBuf,
    _read_only: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(Error::unsupported("hpckit", "mount (built without the `fuse` feature)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_render_like_ls() {
        let mut a = PathAttributes::new(Path::new("/x").unwrap(), EntryKind::File, 1);
        a.permissions = Some(0o754);
        assert_eq!(mode_string(&a), "-rwxr-xr--");
        a.kind = EntryKind::Directory;
        a.permissions = None;
        assert_eq!(mode_string(&a), "d?????????");
        a.permissions = Some(0o644);
        let e = Entry::from(&a);
        assert_eq!(e.permissions.as_deref(), Some("0644"));
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "directory");
    }
}
