//! [`Router`]: whether a change in a directory goes through the plain file
//! system or through the datamover.
//!
//! A directory is datamover-only when it lies below a configured root, or
//! when the user cannot write it on the login node: `test -w DIR` run as the
//! user through the executor (the one question that respects read-only
//! mounts, ACLs and group rights alike). A directory that does not exist yet
//! takes the answer of its nearest existing ancestor. Answers are kept for
//! the life of the file system.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hpc_core::{FileSystem, Path, Result};
use hpc_exec::{Command, Executor};

use super::config::DatamoverTargets;

/// Decides, per directory, plain file system or datamover.
#[derive(Debug)]
pub(super) struct Router {
    exec: Arc<dyn Executor>,
    plain: Arc<dyn FileSystem>,
    targets: DatamoverTargets,
    probed: Mutex<HashMap<Path, bool>>,
}

impl Router {
    pub(super) fn new(
        exec: Arc<dyn Executor>,
        plain: Arc<dyn FileSystem>,
        targets: DatamoverTargets,
    ) -> Self {
        Router { exec, plain, targets, probed: Mutex::new(HashMap::new()) }
    }

    /// Whether entries of the absolute directory `dir` change only through
    /// the datamover.
    pub(super) async fn datamover_only(&self, dir: &Path) -> Result<bool> {
        let roots = match &self.targets {
            DatamoverTargets::All => return Ok(true),
            DatamoverTargets::Probe(roots) => roots,
        };
        if roots.iter().any(|r| dir.starts_with(r)) {
            return Ok(true);
        }
        let mut at = Some(dir.clone());
        while let Some(d) = at {
            if let Some(known) = self.known(&d) {
                return Ok(known);
            }
            match self.plain.attributes(&d).await {
                Ok(_) => {
                    let read_only = !self.writable(&d).await?;
                    self.probed.lock().unwrap_or_else(|e| e.into_inner()).insert(d, read_only);
                    return Ok(read_only);
                }
                Err(e) if e.is_not_found() => at = d.parent(),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    fn known(&self, dir: &Path) -> Option<bool> {
        self.probed.lock().unwrap_or_else(|e| e.into_inner()).get(dir).copied()
    }

    async fn writable(&self, dir: &Path) -> Result<bool> {
        let cmd = Command::new("test").arg("-w").arg(dir.to_string());
        let out = self.exec.run(&cmd).await?;
        match out.status.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => out.check(&cmd).map(|_| false),
        }
    }
}
