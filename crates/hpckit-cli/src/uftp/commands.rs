//! The `hpckit uftp` subcommands.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use hpckit::core::{CopyMode, EntryKind, Error, FileSystem, Path, PathAttributes};
use hpckit::fs_adaptors::copy::{CopyOptions, Progress, copy};
use hpckit::uftp::{AuthRequest, Session, TransferOptions};
use serde_json::json;

use super::{RemoteUrl, UftpArgs};
use crate::creds::CredentialArgs;
use crate::output;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UftpCommand {
    /// Authenticate only: print the UFTPD address and the one-time secret.
    #[command(alias = "auth")]
    Authenticate(UrlArg),
    /// Show the auth server's servers and the user's identity.
    Info(UrlArg),
    /// List a remote directory.
    Ls(UrlArg),
    /// List all files below a remote directory.
    Find(FindArgs),
    /// Show one remote path.
    Stat(UrlArg),
    /// Copy files between local and remote (either way).
    Cp(CpArgs),
    /// Download: `get REMOTE LOCAL`.
    Get(PairArgs),
    /// Upload: `put LOCAL REMOTE`.
    Put(PairArgs),
    /// Server-to-server copy: the target's UFTPD fetches from the source's.
    Rcp(PairArgs),
    /// Remove a remote file or directory.
    Rm(RmArgs),
    /// Create a remote directory.
    Mkdir(MkdirArgs),
    /// Checksum remote files (computed by the server).
    Checksum(ChecksumArgs),
    /// List the data shares of the auth server (where it offers sharing).
    Share(UrlArg),
    /// Get a JWT from the auth server.
    IssueToken(TokenArgs),
    /// Mount a remote directory with FUSE until Ctrl-C.
    Mount(MountArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct UrlArg {
    /// `https://HOST:PORT/rest/auth/SERVER:/path`
    url: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FindArgs {
    url: String,
    /// Only names matching this pattern (`*`, `?`).
    #[arg(short = 'p', long, default_value = "*")]
    pattern: String,
    /// Only files, no directories.
    #[arg(short = 'F', long)]
    files_only: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CpArgs {
    /// Sources, then the target.
    #[arg(required = true, num_args = 2..)]
    paths: Vec<String>,
    #[command(flatten)]
    copy: CopyFlags,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PairArgs {
    from: String,
    to: String,
    #[command(flatten)]
    copy: CopyFlags,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CopyFlags {
    /// Recurse into directories.
    #[arg(short = 'r', long = "recurse")]
    recurse: bool,
    /// Continue partial targets instead of replacing them.
    #[arg(short = 'R', long)]
    resume: bool,
    /// Compare checksums after copying (computed by UFTPD, not read back).
    #[arg(long)]
    verify: bool,
    /// Files copied at the same time.
    #[arg(short = 't', long = "threads", default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RmArgs {
    url: String,
    /// Remove directories with everything in them.
    #[arg(short = 'r', long)]
    recursive: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MkdirArgs {
    url: String,
    /// Create missing parents too.
    #[arg(short = 'p', long)]
    parents: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChecksumArgs {
    url: String,
    /// MD5, SHA-1, SHA-256 or SHA-512.
    #[arg(short = 'a', long, default_value = "MD5")]
    algorithm: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    url: String,
    /// Lifetime in seconds.
    #[arg(short = 'l', long)]
    lifetime: Option<u64>,
    /// The token can be used to get a fresh one.
    #[arg(short = 'R', long)]
    renewable: bool,
    /// The token is valid only at the issuing server.
    #[arg(short = 'L', long)]
    limited: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MountArgs {
    url: String,
    mountpoint: std::path::PathBuf,
    /// Refuse writes.
    #[arg(long)]
    read_only: bool,
}

fn remote(text: &str) -> anyhow::Result<RemoteUrl> {
    RemoteUrl::parse(text)?.with_context(|| {
        format!("{text:?} is not a UFTP URL (https://HOST:PORT/rest/auth/SERVER:/path)")
    })
}

async fn open(
    args: &UftpArgs,
    creds: &CredentialArgs,
    url: &RemoteUrl,
) -> anyhow::Result<(Arc<dyn FileSystem>, Path)> {
    let (loc, map) = args.location(creds, url)?;
    let fs = hpckit::open_location(&loc, &map).await?;
    Ok((fs, Path::new(&url.path)?))
}

/// A session on `/` of `url`'s server.
async fn session(
    args: &UftpArgs,
    creds: &CredentialArgs,
    url: &RemoteUrl,
) -> anyhow::Result<Session> {
    let auth = args.auth(creds, url)?;
    let key = args.algorithm()?.map(hpckit::uftp::EncryptionKey::generate).transpose()?;
    let req = AuthRequest {
        server_path: "/".into(),
        streams: args.streams,
        compress: args.compress,
        key: key.clone(),
        ..Default::default()
    };
    let grant = auth.authenticate(&req).await?;
    Ok(Session::connect(
        &grant,
        TransferOptions {
            streams: args.streams,
            key,
            compress: args.compress,
            timeouts: args.timeouts(),
        },
    )
    .await?)
}

fn entry_json(a: &PathAttributes) -> serde_json::Value {
    json!({
        "path": a.path.to_string(),
        "type": match a.kind { EntryKind::Directory => "dir", EntryKind::File => "file", EntryKind::Symlink => "link", EntryKind::Other => "other" },
        "size": a.size,
        "modified": a.modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        "mode": a.permissions.map(|m| format!("{m:o}")),
    })
}

fn entry_line(a: &PathAttributes, name: &str) -> String {
    let mode = a.permissions.unwrap_or(0);
    let bit = |b: u32, c: char| if mode & b != 0 { c } else { '-' };
    let kind = if a.is_directory() { 'd' } else { '-' };
    let perms: String = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o40, 'r'),
        (0o20, 'w'),
        (0o10, 'x'),
        (0o4, 'r'),
        (0o2, 'w'),
        (0o1, 'x'),
    ]
    .iter()
    .map(|(b, c)| bit(*b, *c))
    .collect();
    let when = a
        .modified
        .map(hpckit::uftp::parse::format_mdtm)
        .map(|s| format!("{}-{}-{} {}:{}", &s[0..4], &s[4..6], &s[6..8], &s[8..10], &s[10..12]))
        .unwrap_or_default();
    format!("{kind}{perms} {:>12} {when} {name}", a.size)
}

fn glob(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    m(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

pub(super) async fn run(args: &UftpArgs, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    use futures::TryStreamExt;
    match &args.command {
        UftpCommand::Authenticate(a) => {
            let url = remote(&a.url)?;
            let auth = args.auth(creds, &url)?;
            let key = args.algorithm()?.map(hpckit::uftp::EncryptionKey::generate).transpose()?;
            let req = AuthRequest {
                server_path: url.path.clone(),
                streams: args.streams,
                compress: args.compress,
                key,
                ..Default::default()
            };
            let g = auth.authenticate(&req).await?;
            // Printing the secret is what this command is for (pyuftp's `auth`).
            if args.json {
                output::print_json(
                    &json!({"host": g.host, "port": g.port, "secret": g.secret.expose()}),
                )?;
            } else {
                say!("Connect to {}:{} password: {}", g.host, g.port, g.secret.expose());
            }
        }
        UftpCommand::Info(a) => {
            let url = remote(&a.url)?;
            let info = args.auth(creds, &url)?.info().await?;
            if args.json {
                output::print_json(&info)?;
            } else {
                say!("Client identity:    {}", info["client"]["dn"].as_str().unwrap_or("n/a"));
                for (name, s) in info
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| *k != "client" && *k != "server")
                {
                    say!("Server: {name}");
                    say!("  URL base:         {}", s["href"].as_str().unwrap_or("n/a"));
                    say!("  Description:      {}", s["description"].as_str().unwrap_or("n/a"));
                    say!(
                        "  Remote user info: uid={};gid={}",
                        s["uid"].as_str().unwrap_or("n/a"),
                        s["gid"].as_str().unwrap_or("n/a")
                    );
                    say!(
                        "  Sharing support:  {}",
                        if s["dataSharing"]["enabled"] == json!(true) {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    );
                    say!("  Server status:    {}", s["status"].as_str().unwrap_or("n/a"));
                }
            }
        }
        UftpCommand::Ls(a) => {
            let url = remote(&a.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            let attrs = fs.attributes(&path).await?;
            let mut entries = if attrs.is_directory() {
                fs.list(&path, false).try_collect::<Vec<_>>().await?
            } else {
                vec![attrs]
            };
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            if args.json {
                output::print_json(&entries.iter().map(entry_json).collect::<Vec<_>>())?;
            } else {
                for e in &entries {
                    say!("{}", entry_line(e, e.path.file_name().unwrap_or("/")));
                }
            }
        }
        UftpCommand::Find(a) => {
            let url = remote(&a.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            let mut entries: Vec<PathAttributes> = fs.list(&path, true).try_collect().await?;
            entries.retain(|e| {
                (!a.files_only || e.is_regular())
                    && glob(&a.pattern, e.path.file_name().unwrap_or(""))
            });
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            if args.json {
                output::print_json(&entries.iter().map(entry_json).collect::<Vec<_>>())?;
            } else {
                for e in &entries {
                    say!("{}", e.path);
                }
            }
        }
        UftpCommand::Stat(a) => {
            let url = remote(&a.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            let e = fs.attributes(&path).await?;
            if args.json {
                output::print_json(&entry_json(&e))?;
            } else {
                say!("{}", entry_line(&e, &e.path.to_string()));
            }
        }
        UftpCommand::Cp(c) => {
            let (target, sources) =
                c.paths.split_last().context("cp needs sources and a target")?;
            for s in sources {
                copy_one(args, creds, s, target, &c.copy, sources.len() > 1).await?;
            }
        }
        UftpCommand::Get(p) => {
            remote(&p.from)?;
            copy_one(args, creds, &p.from, &p.to, &p.copy, false).await?;
        }
        UftpCommand::Put(p) => {
            remote(&p.to)?;
            copy_one(args, creds, &p.from, &p.to, &p.copy, false).await?;
        }
        UftpCommand::Rcp(p) => {
            let (src, dst) = (remote(&p.from)?, remote(&p.to)?);
            let sgrant = args
                .auth(creds, &src)?
                .authenticate(&AuthRequest { server_path: "/".into(), ..Default::default() })
                .await?;
            let mut t = session(args, creds, &dst).await?;
            let id = t
                .server_copy(
                    false,
                    dst.path.trim_start_matches('/'),
                    &src.path,
                    &format!("{}:{}", sgrant.host, sgrant.port),
                    &sgrant.secret,
                )
                .await?;
            t.quit().await;
            say!("server-to-server copy started (transfer process {id})");
        }
        UftpCommand::Rm(a) => {
            let url = remote(&a.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            fs.delete(&path, a.recursive).await?;
        }
        UftpCommand::Mkdir(a) => {
            let url = remote(&a.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            if a.parents {
                fs.create_directories(&path).await?
            } else {
                fs.create_directory(&path).await?
            }
        }
        UftpCommand::Checksum(a) => {
            let url = remote(&a.url)?;
            let mut s = session(args, creds, &url).await?;
            let algo = a.algorithm.to_ascii_uppercase();
            let (_, hex) = s.hash(url.path.trim_start_matches('/'), Some(&algo)).await?;
            s.quit().await;
            if args.json {
                output::print_json(&json!({"path": url.path, "algorithm": algo, "checksum": hex}))?;
            } else {
                say!("{hex} {}", url.path);
            }
        }
        UftpCommand::Share(a) => {
            let url = remote(&a.url)?;
            let auth = args.auth(creds, &url)?;
            let Some(share) = auth.sharing_url().await? else {
                bail!(Error::unsupported(
                    "uftp",
                    format!("data sharing ({} does not offer it)", url.auth_url)
                ));
            };
            let shares: serde_json::Value = auth.transport().get_json(&share).await?;
            output::print_json(&shares)?;
        }
        UftpCommand::IssueToken(t) => {
            let url = remote(&t.url)?;
            let token =
                args.auth(creds, &url)?.issue_token(t.lifetime, t.renewable, t.limited).await?;
            // The token is the output this command is asked for.
            say!("{}", token.expose());
        }
        UftpCommand::Mount(m) => {
            let url = remote(&m.url)?;
            let (fs, path) = open(args, creds, &url).await?;
            return crate::fs::mount::mount(fs, path, m.mountpoint.clone(), m.read_only).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One copy with the copy engine: local ↔ remote or remote ↔ remote.
async fn copy_one(
    args: &UftpArgs,
    creds: &CredentialArgs,
    src: &str,
    dst: &str,
    flags: &CopyFlags,
    into_dir: bool,
) -> anyhow::Result<()> {
    let side = async |text: &str| -> anyhow::Result<(Arc<dyn FileSystem>, Path)> {
        match RemoteUrl::parse(text)? {
            Some(url) => open(args, creds, &url).await,
            None => {
                let fs = hpckit::open_filesystem("file:///", &Default::default()).await?;
                let cwd = std::env::current_dir().context("the current directory")?;
                let p = Path::new(text)?.resolve(&Path::new(&cwd.to_string_lossy())?);
                Ok((fs, p))
            }
        }
    };
    let (sfs, spath) = side(src).await?;
    let (dfs, mut dpath) = side(dst).await?;
    let is_dir = matches!(dfs.attributes(&dpath).await, Ok(a) if a.is_directory());
    if is_dir || into_dir || dst.ends_with('/') {
        let name = spath.file_name().context("the source has no name to copy under")?.to_owned();
        dpath = dpath.join_entry(&name)?;
    }
    let bar = output::bytes_bar(0);
    let pb = bar.clone();
    let mut opts = CopyOptions {
        mode: if flags.resume { CopyMode::Resume } else { CopyMode::Replace },
        recursive: flags.recurse,
        parallel: flags.threads.max(1),
        verify: flags.verify,
        scan_first: output::progress_enabled(),
        ..Default::default()
    };
    if output::progress_enabled() {
        opts.progress = Some(Arc::new(move |p: &Progress| {
            if let Some(total) = p.bytes_total {
                pb.set_length(total);
            }
            pb.set_position(p.bytes_done);
        }));
    }
    let cancel = opts.cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let r = copy(&sfs, &spath, &dfs, &dpath, &opts).await;
    interrupt.abort();
    bar.finish_and_clear();
    r.with_context(|| format!("copying {src} to {dst}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.txt", "a b.txt"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("*.txt", "a.bin"));
        assert!(glob("*", ""));
    }

    #[test]
    fn urls() {
        let u = RemoteUrl::parse("https://h:9443/rest/auth/TEST:/data/x y").unwrap().unwrap();
        assert_eq!(
            (u.auth_url.as_str(), u.path.as_str(), u.authority.as_str()),
            ("https://h:9443/rest/auth/TEST", "/data/x y", "h:9443")
        );
        assert!(RemoteUrl::parse("local/file").unwrap().is_none());
        assert!(RemoteUrl::parse("https://h:9443/rest/core:/x").is_err());
    }
}
