//! [`WsFileSystem`]: a workspace (or any directory of the login node) as a
//! file system; reads through the plain file system, changes where it may
//! not write through the datamover.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use hpc_core::fs::{ByteRange, ByteStream, ChecksumAlgorithm, PartStream};
use hpc_core::{Error, FileSystem, FileSystemInfo, FsCapabilities, Path, PathAttributes, Result};
use hpc_exec::{Command, Executor};
use tokio::sync::OnceCell;

use super::batch::{Batcher, Staged};
use super::config::{DEFAULT_STAGE, WsConfig, WsRoot};
use super::route::Router;
use crate::commands::DtCommand;
use crate::datamover::Datamover;
use crate::workspace::{AllocateRequest, Workspaces};

/// The adaptor's name.
const ADAPTOR: &str = "ws";

/// Name of the staging directory inside the staging workspace (hidden, and
/// skipped by the copy engine like every `.…hpckit-…` name).
const STAGE_DIR: &str = ".hpckit-stage";

/// What every `WsFileSystem` can do, over SSH (the documented column);
/// the `info()` of a [`WsFileSystem`] adjusts it to the instance.
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.create_symbolic_link = true;
    c.read_symbolic_link = true;
    c.append = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.checksum = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

/// A workspace as a file system root.
///
/// Relative paths start in the workspace (its directory is the working
/// directory); absolute paths reach the rest of the login node. Reads,
/// listings and attributes go through `plain` (this host's file system, or
/// SFTP on the same SSH connection as the executor). Changes in directories
/// the user may not write on the login node (the project space, the
/// archive) go through the datamover: staged in a workspace, then moved
/// into place by one Slurm job per batch.
pub struct WsFileSystem {
    info: FileSystemInfo,
    config: WsConfig,
    exec: Arc<dyn Executor>,
    plain: Arc<dyn FileSystem>,
    dm: Datamover,
    tools: Workspaces,
    root: Path,
    router: Router,
    batcher: OnceCell<Arc<Batcher>>,
    staged: AtomicU64,
}

impl std::fmt::Debug for WsFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsFileSystem")
            .field("location", &self.config.location)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl WsFileSystem {
    /// Opens the root `config` names (`ws_find` for a workspace) with the
    /// tools reached through `exec` and the plain file system `plain` of
    /// the same host.
    pub async fn open(
        exec: Arc<dyn Executor>,
        plain: Arc<dyn FileSystem>,
        config: WsConfig,
    ) -> Result<Self> {
        let mut dm_config = config.datamover.clone();
        // A file system call returns when its change is in place.
        dm_config.blocking = true;
        let dm = Datamover::new(exec.clone(), dm_config)?;
        let tools = Workspaces::new(exec.clone(), config.workspaces.clone());
        let root = match &config.root {
            WsRoot::Workspace(name) => {
                Path::new(&tools.find(name, config.filesystem.as_deref()).await?)?
            }
            WsRoot::Directory(d) => d.clone(),
        };
        if !root.is_absolute() {
            return Err(Error::parse(
                "ws_find",
                "the workspace directory is not absolute",
                root.to_string(),
            ));
        }
        let router = Router::new(exec.clone(), plain.clone(), config.targets.clone());
        let mut caps = capabilities();
        caps.is_connectionless = exec.is_local();
        if exec.is_local() {
            caps.credentials = hpc_auth::LOCAL_CREDENTIAL_KINDS;
        }
        // The datamover has no chmod.
        caps.set_permissions = !config.all_through_datamover();
        let info = FileSystemInfo::new(ADAPTOR, config.location.clone(), caps, root.clone());
        Ok(WsFileSystem {
            info,
            config,
            exec,
            plain,
            dm,
            tools,
            root,
            router,
            batcher: OnceCell::new(),
            staged: AtomicU64::new(0),
        })
    }

    /// The options in use.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// The plain file system reads go through.
    pub fn plain(&self) -> &Arc<dyn FileSystem> {
        &self.plain
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.root)
    }

    fn parent_of(p: &Path) -> Result<Path> {
        p.parent().ok_or_else(|| Error::InvalidInput(format!("{p} has no parent directory")))
    }

    /// Whether changes to the entry `abs` must go through the datamover.
    async fn via_datamover(&self, abs: &Path) -> Result<bool> {
        self.router.datamover_only(&Self::parent_of(abs)?).await
    }

    /// The batcher, with its staging directory made on first use.
    async fn batcher(&self) -> Result<&Arc<Batcher>> {
        self.batcher
            .get_or_try_init(|| async {
                let dir = self.stage_directory().await?;
                Ok(Arc::new(Batcher::new(
                    self.plain.clone(),
                    self.dm.clone(),
                    dir,
                    self.config.linger,
                )))
            })
            .await
    }

    async fn stage_directory(&self) -> Result<Path> {
        let (name, allocate) = match (&self.config.stage, &self.config.root) {
            (Some(s), _) => (s.clone(), false),
            (None, WsRoot::Workspace(w)) => (w.clone(), false),
            (None, WsRoot::Directory(_)) => (DEFAULT_STAGE.to_owned(), true),
        };
        let fs = self.config.filesystem.as_deref();
        let dir = match self.tools.find(&name, fs).await {
            Ok(d) => d,
            Err(Error::NotFound { kind: crate::workspace::WORKSPACE, .. }) if allocate => {
                tracing::info!(workspace = %name, "allocating a staging workspace for the datamover");
                let mut req = AllocateRequest::new(&name, 1).comment("hpckit datamover staging");
                req.filesystem = self.config.filesystem.clone();
                self.tools.allocate(&req).await?.directory
            }
            Err(e) => return Err(e),
        };
        let dir = Path::new(&dir)?.join_entry(STAGE_DIR)?;
        if self.router.datamover_only(&dir).await? && !self.config.all_through_datamover() {
            return Err(Error::InvalidInput(format!(
                "the staging workspace {name:?} is not writable on the login node; name a writable one with ?stage=<workspace>"
            )));
        }
        self.plain.create_directories(&dir).await?;
        Ok(dir)
    }

    /// A fresh staging path for one file.
    async fn stage_path(&self) -> Result<(Arc<Batcher>, Path)> {
        let batcher = self.batcher().await?.clone();
        let n = self.staged.fetch_add(1, Ordering::Relaxed);
        let p = batcher.stage().join_entry(&format!("file-{}-{n}", std::process::id()))?;
        Ok((batcher, p))
    }

    /// Commits a staged file, removing it when the commit fails.
    async fn commit_file(&self, batcher: &Arc<Batcher>, target: &Path, staged: Path) -> Result<()> {
        let r = batcher.commit(target, Staged::File(staged.clone())).await;
        if r.is_err() {
            let _ = self.plain.delete(&staged, false).await;
        }
        r
    }

    /// The parent of `abs` must be an existing directory (as on a POSIX
    /// file system), and `abs` itself must not exist when `fresh`.
    async fn check_target(&self, abs: &Path, fresh: bool) -> Result<()> {
        let parent = Self::parent_of(abs)?;
        match self.plain.attributes(&parent).await {
            Ok(a) if a.is_directory() => {}
            Ok(_) => {
                return Err(Error::InvalidInput(format!("{parent} is not a directory")));
            }
            Err(e) => return Err(e),
        }
        if fresh && self.plain.exists(abs).await? {
            return Err(Error::AlreadyExists { path: abs.to_string() });
        }
        Ok(())
    }

    /// Runs one datamover command to its end.
    async fn dt(&self, cmd: DtCommand, args: Vec<String>) -> Result<()> {
        self.dm.start(cmd, &args).await?.success().await.map(drop)
    }
}

#[async_trait]
impl FileSystem for WsFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        if !self.via_datamover(&abs).await? {
            return self.plain.create_directory(&abs).await;
        }
        self.check_target(&abs, true).await?;
        self.batcher().await?.commit(&abs, Staged::Directory).await
    }

    async fn create_directories(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        // The topmost missing directory decides; one job makes the chain.
        let mut top = None;
        let mut at = Some(abs.clone());
        while let Some(p) = at {
            if p.is_root() || self.plain.exists(&p).await? {
                break;
            }
            at = p.parent();
            top = Some(p);
        }
        let Some(top) = top else {
            return match self.plain.attributes(&abs).await? {
                a if a.is_directory() => Ok(()),
                _ => Err(Error::AlreadyExists { path: abs.to_string() }),
            };
        };
        if !self.via_datamover(&top).await? {
            return self.plain.create_directories(&abs).await;
        }
        self.check_target(&top, true).await?;
        self.batcher().await?.commit(&abs, Staged::Directory).await
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        if !self.via_datamover(&abs).await? {
            return self.plain.create_file(&abs).await;
        }
        self.check_target(&abs, true).await?;
        let (batcher, staged) = self.stage_path().await?;
        self.plain.create_file(&staged).await?;
        self.commit_file(&batcher, &abs, staged).await
    }

    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        let abs = self.abs(link);
        if !self.via_datamover(&abs).await? {
            return self.plain.create_symbolic_link(&abs, target).await;
        }
        self.check_target(&abs, true).await?;
        self.batcher().await?.commit(&abs, Staged::Link(target.clone())).await
    }

    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        self.plain.read_symbolic_link(&self.abs(link)).await
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let abs = self.abs(path);
        if abs.is_root() || abs == self.root {
            return Err(Error::InvalidInput(format!("refusing to delete the root {abs}")));
        }
        if !self.via_datamover(&abs).await? {
            return self.plain.delete(&abs, recursive).await;
        }
        let attrs = self.plain.attributes(&abs).await?;
        let flag = match (attrs.is_directory(), recursive) {
            (true, true) => Some("-r"),
            (true, false) => Some("-d"),
            (false, _) => None,
        };
        let mut args: Vec<String> = flag.into_iter().map(str::to_owned).collect();
        args.extend(["--".to_owned(), abs.to_string()]);
        match self.dt(DtCommand::Rm, args).await {
            Err(Error::CommandFailed { stderr, .. }) if stderr.contains("not empty") => Err(
                Error::InvalidInput(format!("directory {abs} is not empty; delete it recursively")),
            ),
            other => other,
        }
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        if dir.is_absolute() {
            return self.plain.list(dir, recursive);
        }
        Box::pin(forwarded_listing(self.plain.clone(), self.abs(dir), recursive))
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        self.plain.attributes(&self.abs(path)).await
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        if self.config.all_through_datamover() {
            return Err(Error::unsupported(ADAPTOR, "setting permissions through the datamover"));
        }
        self.plain.set_permissions(&self.abs(path), mode).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if !self.via_datamover(&from).await? && !self.via_datamover(&to).await? {
            return self.plain.rename(&from, &to).await;
        }
        self.plain.attributes(&from).await?;
        self.check_target(&to, true).await?;
        self.dt(
            DtCommand::Mv,
            vec!["-T".into(), "-n".into(), "--".into(), from.to_string(), to.to_string()],
        )
        .await?;
        if self.plain.exists(&from).await? {
            // Another writer made `to` between the check and the move.
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        Ok(())
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if !self.via_datamover(&from).await? && !self.via_datamover(&to).await? {
            return self.plain.rename_replacing(&from, &to).await;
        }
        self.plain.attributes(&from).await?;
        self.check_target(&to, false).await?;
        self.dt(
            DtCommand::Mv,
            vec!["-T".into(), "-f".into(), "--".into(), from.to_string(), to.to_string()],
        )
        .await
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        self.plain.read(&self.abs(path), range).await
    }

    async fn read_parts(&self, path: &Path, range: ByteRange) -> Result<PartStream> {
        self.plain.read_parts(&self.abs(path), range).await
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let abs = self.abs(path);
        if !self.via_datamover(&abs).await? {
            return self.plain.write(&abs, data, size).await;
        }
        self.check_target(&abs, false).await?;
        let (batcher, staged) = self.stage_path().await?;
        // The plain write is all-or-nothing itself: a failed stream leaves
        // nothing staged, and nothing reaches the target.
        let n = self.plain.write(&staged, data, size).await?;
        self.commit_file(&batcher, &abs, staged).await?;
        Ok(n)
    }

    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let abs = self.abs(path);
        if !self.via_datamover(&abs).await? {
            return self.plain.append(&abs, data).await;
        }
        let old = self.plain.attributes(&abs).await?;
        if !old.is_regular() {
            return Err(Error::InvalidInput(format!("{abs} is not a regular file")));
        }
        // Old content plus the new in the stage, then replaced as a whole:
        // the target is never seen half appended.
        let (batcher, staged) = self.stage_path().await?;
        let current = self.plain.read(&abs, ByteRange::ALL).await?;
        self.plain.write(&staged, current, Some(old.size)).await?;
        let n = match self.plain.append(&staged, data).await {
            Ok(n) => n,
            Err(e) => {
                let _ = self.plain.delete(&staged, false).await;
                return Err(e);
            }
        };
        self.commit_file(&batcher, &abs, staged).await?;
        Ok(n)
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if !self.plain.attributes(&from).await?.is_regular() {
            return Err(Error::InvalidInput(format!("{from} is not a regular file")));
        }
        if !self.via_datamover(&to).await? {
            match self.plain.copy_server_side(&from, &to).await {
                Err(Error::Unsupported { .. }) => {}
                other => return other,
            }
        }
        self.check_target(&to, false).await?;
        // rsync writes beside the target and renames: all or nothing.
        self.dt(DtCommand::Rsync, vec!["-tI".into(), "--".into(), from.to_string(), to.to_string()])
            .await
    }

    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let abs = self.abs(path);
        let tool = match algorithm {
            ChecksumAlgorithm::Sha256 => "sha256sum",
            ChecksumAlgorithm::Sha1 => "sha1sum",
            ChecksumAlgorithm::Md5 => "md5sum",
        };
        let cmd = Command::new(tool).arg("--").arg(abs.to_string());
        let out = self.exec.run(&cmd).await?;
        if !out.status.success() {
            // Missing file: not-found; anything else: the digest stays with the plain adaptor.
            self.plain.attributes(&abs).await?;
            return self.plain.checksum(&abs, algorithm).await;
        }
        let text = out.stdout_text();
        let digest = text.split_whitespace().next().unwrap_or("").trim_start_matches('\\');
        if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::parse(cmd.display(), "no hexadecimal digest", text.into_owned()));
        }
        Ok(Some(digest.to_ascii_lowercase()))
    }

    async fn close(&self) -> Result<()> {
        self.plain.close().await
    }
}

/// The plain listing of `abs` (a path made here, which the plain
/// listing cannot borrow), forwarded from a task as it streams.
fn forwarded_listing(
    plain: Arc<dyn FileSystem>,
    abs: Path,
    recursive: bool,
) -> impl futures::Stream<Item = Result<PathAttributes>> + Send {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        let mut items = plain.list(&abs, recursive);
        while let Some(item) = items.next().await {
            if tx.send(item).await.is_err() {
                break; // the caller dropped the listing
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}
