//! `hpckit fs mount`: a FUSE mount until Ctrl-C (SIGTERM, SIGHUP) or `fusermount3 -u`.

use std::process::ExitCode;
use std::sync::Arc;

use hpckit::core::{FileSystem, Path};

/// Mount `path` of `fs` on `mountpoint` and serve it until Ctrl-C or an
/// unmount from outside.
#[cfg(feature = "fuse")]
pub(crate) async fn mount(
    fs: Arc<dyn FileSystem>,
    path: Path,
    mountpoint: std::path::PathBuf,
    read_only: bool,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use hpckit::fs_adaptors::fuse::{MountOptions, mount};

    use crate::output;

    let opts = MountOptions { read_only, ..Default::default() };
    let mounted = mount(fs, path, &mountpoint, opts)
        .await
        .with_context(|| format!("mounting on {}", mountpoint.display()))?;
    output::note(format_args!("mounted on {}; Ctrl-C unmounts", mountpoint.display()));
    let _graceful = crate::signals::graceful();
    tokio::select! {
        _ = crate::signals::requested() => {}
        () = mounted.unmounted() => {}
    }
    mounted.unmount().await.context("unmounting")?;
    Ok(ExitCode::SUCCESS)
}

/// Without the `fuse` feature there is nothing to mount with.
#[cfg(not(feature = "fuse"))]
pub(crate) async fn mount(
    _fs: Arc<dyn FileSystem>,
    _path: Path,
    _mountpoint: std::path::PathBuf,
    _read_only: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(hpckit::core::Error::unsupported(
        "hpckit",
        "mount (built without the `fuse` feature)"
    ))
}
