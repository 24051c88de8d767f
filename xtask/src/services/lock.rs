//! One machine-wide lock around `services up/down`.
//!
//! Several worktrees start services concurrently; holding this lock while picking ports,
//! provisioning (apt, users) and creating namespaces makes those steps race-free.

use std::fs::{File, OpenOptions};
use std::time::Instant;

use anyhow::{Context, Result};

/// Held until dropped.
pub(crate) struct MachineLock(File);

impl Drop for MachineLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Blocks until this process holds the machine-wide services lock.
pub(crate) fn machine_lock() -> Result<MachineLock> {
    let path = std::env::temp_dir().join("hpckit-services.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .or_else(|_| File::open(&path))
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    if file.try_lock().is_err() {
        println!("waiting for another `cargo xtask services` on this machine ({})", path.display());
        let started = Instant::now();
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        println!("got the services lock after {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(MachineLock(file))
}
