//! `hpckit fs ...`: files on any file system, by URL.
//!
//! Every path argument is a URL (`sftp://user@host:port/path`, `ftp://`,
//! `webdav://`, `webdavs://`, `s3://bucket/prefix`, `ws://[user@host]/<workspace>/path`,
//! `dm://[user@host]/path`, `file:///path`) or a plain local path. Two URLs on the same server share one connection, and a copy
//! within one file system happens on the server where it can.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use hpckit::core::{ByteRange, CopyMode, Error, FileSystem, Path};
use hpckit::fs_adaptors::copy::{CopyOptions, SymlinkPolicy, copy};
use hpckit::{FsUrl, open_location};

use crate::creds::CredentialArgs;
use crate::output;

mod cleanup;
mod copying;
mod listing;
pub(crate) mod mount;

use cleanup::cleanup;
use copying::{cp, into_directory};
use listing::{ls, stat};
use mount::mount;

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
    /// Remove what interrupted copies left below a directory: staged
    /// `.NAME.hpckit-*.part`/`.copy` files and unfinished S3 multipart uploads.
    ///
    /// Only stale ones: a staged file whose writer ran on this host and has
    /// ended, or anything unchanged for longer than `--older-than`. Names
    /// that are not hpckit's own are never touched.
    Cleanup {
        /// Directory URL or path (searched at any depth; an S3 prefix).
        url: String,
        /// Take what has not changed for this long (90s, 15m, 2h, 1d); a
        /// writer still running on this host keeps its data for at least 1h.
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_age)]
        older_than: Duration,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// JSON array (path, kind, upload_id, bytes, modified, why, removed, error).
        #[arg(long)]
        json: bool,
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
    /// Leftovers of interrupted copies to a target (staged files, S3
    /// multipart uploads) unchanged for this long are removed before it is
    /// written (RESUME continues a staged file instead); those whose writer
    /// ran on this host and has ended go at once.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_age)]
    stale_after: Duration,
    /// Print a summary line on stderr when done.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    s3: S3Args,
}

fn parse_mode(s: &str) -> Result<CopyMode, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// An age as `job` durations take it (90s, 15m, 2h, 1d), or zero (`0`, `0s`):
/// "no matter how recent".
fn parse_age(s: &str) -> Result<Duration, String> {
    let digits = s.trim().trim_end_matches(['s', 'm', 'h', 'd']);
    if !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    crate::job::parse_duration(s)
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
            stat(&*fs, &path, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        FsCommand::Cat { url, offset, length, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            let mut data = fs.read(&path, ByteRange { offset, len: length }).await?;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = data.next().await {
                out.write_all(&chunk?).map_err(output::stdout_error)?;
            }
            out.flush().map_err(output::stdout_error)?;
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
            if Arc::ptr_eq(&sfs, &dfs) && sfs.info().capabilities.rename {
                sfs.rename(&spath, &dpath).await?;
            } else {
                let opts = CopyOptions { recursive: true, verify: true, ..Default::default() };
                let report = copy(&sfs, &spath, &dfs, &dpath, &opts).await?;
                // A source entry that was skipped is not at the target: the
                // source stays whole.
                copying::skipped_entries(&report.unusable).context("the source was not deleted")?;
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
        FsCommand::Cleanup { url, older_than, dry_run, json, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            cleanup(&*fs, &path, older_than, dry_run, json).await
        }
        FsCommand::Mount { url, mountpoint, read_only, s3 } => {
            let (fs, path) = Opener::new(creds, &s3).get(&url).await?;
            mount(fs, path, mountpoint, read_only).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_zero_and_durations() {
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_age("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_age("s").is_err());
        assert!(parse_age("-1s").is_err());
    }
}
