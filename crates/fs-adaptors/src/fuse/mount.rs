//! Mounting and unmounting: [`mount`] hands the kernel a session whose
//! requests are answered by tasks on the caller's tokio runtime.

use std::sync::Arc;
use std::time::Duration;

use fuser::MountOption;
use hpc_core::{Error, FileSystem, Path, Result};
use tokio_util::task::TaskTracker;

use super::ops::Ops;
use super::options::MountOptions;
use super::requests::Requests;

/// A mounted file system; unmounted by [`Mounted::unmount`] or on drop.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    tasks: TaskTracker,
    mountpoint: std::path::PathBuf,
}

impl std::fmt::Debug for Mounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounted").field("mountpoint", &self.mountpoint).finish_non_exhaustive()
    }
}

impl Mounted {
    /// Unmount, then wait until every request already received is answered
    /// (pending uploads included).
    pub async fn unmount(mut self) -> Result<()> {
        let mp = self.mountpoint.display().to_string();
        if let Some(s) = self.session.take() {
            // Unmounted from outside (fusermount3 -u): only the thread is left to join.
            let gone = s.guard.is_finished();
            tokio::task::spawn_blocking(move || if gone { s.join() } else { s.umount_and_join() })
                .await
                .map_err(|e| Error::io(format!("unmounting {mp}"), std::io::Error::other(e)))?
                .map_err(|e| Error::io(format!("unmounting {mp}"), e))?;
        }
        self.tasks.close();
        self.tasks.wait().await;
        Ok(())
    }

    /// Resolves when the mount is gone (for example after `fusermount3 -u`).
    pub async fn unmounted(&self) {
        loop {
            match &self.session {
                Some(s) if !s.guard.is_finished() => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

/// Mount `root` of `fs` on `mountpoint` (an existing directory). Must be
/// called within a tokio runtime, which then serves the requests.
pub async fn mount(
    fs: Arc<dyn FileSystem>,
    root: Path,
    mountpoint: &std::path::Path,
    opts: MountOptions,
) -> Result<Mounted> {
    let root = root.resolve(&fs.info().working_directory);
    if !fs.attributes(&root).await?.is_directory() {
        return Err(Error::InvalidInput(format!("{root} is not a directory; mount a directory")));
    }
    let rt = tokio::runtime::Handle::current();
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("hpckit-{}", fs.info().adaptor)),
        MountOption::Subtype("hpckit".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if opts.read_only {
        config.mount_options.push(MountOption::RO);
    }
    let tasks = TaskTracker::new();
    let ops = Arc::new(Ops::new(fs, root, rt, tasks.clone(), opts));
    let session = fuser::spawn_mount(Requests(ops), mountpoint, &config)
        .map_err(|e| Error::io(format!("mounting on {}", mountpoint.display()), e))?;
    Ok(Mounted { session: Some(session), tasks, mountpoint: mountpoint.to_owned() })
}
