//! [`Batcher`]: many changes into datamover-only directories, one Slurm job.
//!
//! Each change is first made complete in the staging workspace (a written
//! file, an empty directory, a symbolic link), then moved into the open
//! batch: a directory that mirrors the absolute targets
//! (`batch/projects/p_x/run/out.dat` stands for `/projects/p_x/run/out.dat`).
//! One `dtrsync` copies a whole batch below the targets' common ancestor.
//! rsync writes each file to a temporary name beside its target and renames
//! it into place when complete, so a failed or killed job never leaves half
//! a file where a good one was.
//!
//! Group commit: the first change starts a job after a short wait (so
//! that changes made in parallel join it); changes that arrive while a job
//! runs collect in the next batch, which starts as soon as that job ends.
//! Every caller returns when the job holding its change has ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hpc_core::{Error, FileSystem, Path, Result};
use tokio::sync::{Mutex, watch};

use crate::commands::DtCommand;
use crate::datamover::Datamover;

/// One complete change, staged.
#[derive(Debug)]
pub(super) enum Staged {
    /// A complete file at this staging path.
    File(Path),
    /// A directory (and its missing parents).
    Directory,
    /// A symbolic link with this target text.
    Link(Path),
}

/// A failed job, shareable by every caller whose change it held.
#[derive(Debug, Clone)]
enum Failure {
    Command { command: String, exit_code: Option<i32>, stderr: String },
    Timeout { what: String, after: Duration },
    Other(String),
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        match e {
            Error::CommandFailed { command, exit_code, stderr } => Failure::Command {
                command: command.clone(),
                exit_code: *exit_code,
                stderr: stderr.clone(),
            },
            Error::Timeout { what, after } => {
                Failure::Timeout { what: what.clone(), after: *after }
            }
            other => Failure::Other(other.to_string()),
        }
    }
}

impl Failure {
    fn to_error(&self) -> Error {
        match self.clone() {
            Failure::Command { command, exit_code, stderr } => {
                Error::CommandFailed { command, exit_code, stderr }
            }
            Failure::Timeout { what, after } => Error::Timeout { what, after },
            Failure::Other(message) => Error::remote("datamover", None, message),
        }
    }
}

type Outcome = Option<std::result::Result<(), Failure>>;

struct Open {
    dir: Path,
    targets: Vec<Path>,
    done: watch::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    running: bool,
}

/// Collects staged changes and moves them into place, a batch per job.
pub(super) struct Batcher {
    plain: Arc<dyn FileSystem>,
    dm: Datamover,
    stage: Path,
    linger: Duration,
    state: Mutex<State>,
    batches: AtomicU64,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("stage", &self.stage).finish_non_exhaustive()
    }
}

/// `base` followed by the elements of the absolute `target`.
pub(super) fn mirrored(base: &Path, target: &Path) -> Result<Path> {
    let mut p = base.clone();
    for e in target.elements() {
        p = p.join_entry(e)?;
    }
    Ok(p)
}

impl Batcher {
    /// Batches live in `stage` (a directory the plain file system writes).
    pub(super) fn new(
        plain: Arc<dyn FileSystem>,
        dm: Datamover,
        stage: Path,
        linger: Duration,
    ) -> Self {
        Batcher { plain, dm, stage, linger, state: Mutex::default(), batches: AtomicU64::new(0) }
    }

    /// The staging directory.
    pub(super) fn stage(&self) -> &Path {
        &self.stage
    }

    /// Puts `item` at the absolute `target` with the next job; returns when
    /// that job has ended.
    pub(super) async fn commit(self: &Arc<Self>, target: &Path, item: Staged) -> Result<()> {
        let mut done = {
            let mut st = self.state.lock().await;
            if st.open.is_none() {
                let n = self.batches.fetch_add(1, Ordering::Relaxed);
                let dir = self.stage.join_entry(&format!("batch-{}-{n}", std::process::id()))?;
                self.plain.create_directories(&dir).await?;
                st.open = Some(Open { dir, targets: Vec::new(), done: watch::channel(None).0 });
            }
            let open = st.open.as_mut().expect("opened above");
            let at = mirrored(&open.dir, target)?;
            if let Some(parent) = at.parent() {
                self.plain.create_directories(&parent).await?;
            }
            match &item {
                Staged::File(staged) => self.plain.rename_replacing(staged, &at).await?,
                Staged::Directory => self.plain.create_directories(&at).await?,
                Staged::Link(to) => self.plain.create_symbolic_link(&at, to).await?,
            }
            open.targets.push(target.clone());
            let done = open.done.subscribe();
            if !st.running {
                st.running = true;
                tokio::spawn(self.clone().run_batches());
            }
            done
        };
        let outcome = done.wait_for(Option::is_some).await.map(|o| o.clone());
        match outcome {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(f))) => Err(f.to_error()),
            _ => Err(Error::remote(
                "datamover",
                None,
                "the batch runner stopped before the job ended",
            )),
        }
    }

    /// Runs open batches one after the other until none is left.
    async fn run_batches(self: Arc<Self>) {
        tokio::time::sleep(self.linger).await;
        loop {
            let open = {
                let mut st = self.state.lock().await;
                match st.open.take() {
                    Some(o) => o,
                    None => {
                        st.running = false;
                        return;
                    }
                }
            };
            let result = self.transfer(&open).await;
            if let Err(e) = self.plain.delete(&open.dir, true).await {
                tracing::warn!(dir = %open.dir, error = %e, "could not remove a datamover batch");
            }
            let outcome = result.map_err(|e| Failure::from(&e));
            open.done.send_replace(Some(outcome));
        }
    }

    /// One `dtrsync` of the batch below the targets' common ancestor.
    async fn transfer(&self, open: &Open) -> Result<()> {
        let mut common = open
            .targets
            .iter()
            .map(|t| t.parent().unwrap_or_else(Path::root))
            .reduce(|a, b| common_ancestor(&a, &b))
            .unwrap_or_else(Path::root);
        // rsync makes only the last element of its target: start at a
        // directory that exists, and let it make everything below.
        while !common.is_root() && !self.plain.exists(&common).await? {
            common = common.parent().unwrap_or_else(Path::root);
        }
        let from = mirrored(&open.dir, &common)?;
        let slash = |p: &Path| format!("{}/", p.to_string().trim_end_matches('/'));
        tracing::debug!(files = open.targets.len(), into = %common, "datamover batch");
        // -r tree, -l links as links, -t times; -I: always send (the quick
        // check must not skip a new file of the same size and time); -O: the
        // times of existing directories stay.
        let args = ["-rltIO".to_owned(), "--".to_owned(), slash(&from), slash(&common)];
        self.dm.start(DtCommand::Rsync, &args).await?.success().await.map(drop)
    }
}

/// The longest common prefix of two absolute paths.
fn common_ancestor(a: &Path, b: &Path) -> Path {
    let mut p = Path::root();
    for (x, y) in a.elements().iter().zip(b.elements()) {
        if x != y {
            break;
        }
        p = p.join_entry(x).unwrap_or_else(|_| p.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn batches_mirror_absolute_targets() {
        assert_eq!(
            mirrored(&p("/ws/.stage/b1"), &p("/projects/p x/f")).unwrap(),
            p("/ws/.stage/b1/projects/p x/f")
        );
        assert_eq!(common_ancestor(&p("/projects/a/b"), &p("/projects/a/c/d")), p("/projects/a"));
        assert_eq!(common_ancestor(&p("/x"), &p("/y")), Path::root());
    }

    #[test]
    fn failures_are_shared_as_typed_errors() {
        let e = Error::CommandFailed {
            command: "dtrsync".into(),
            exit_code: Some(23),
            stderr: "no".into(),
        };
        let again = Failure::from(&e).to_error();
        assert!(matches!(again, Error::CommandFailed { exit_code: Some(23), .. }), "{again}");
        let t = Error::Timeout { what: "job".into(), after: Duration::from_secs(60) };
        assert!(matches!(Failure::from(&t).to_error(), Error::Timeout { .. }));
    }
}
