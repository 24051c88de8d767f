//! PyUNICORE README, "Mounting remote filesystems via UFTP": authenticate at
//! the auth server and mount the remote directory with FUSE. While mounted,
//! ordinary file calls of any program work on it; this one lists the mount
//! and reads a file through it, then unmounts (PyUNICORE's driver keeps
//! running until unmounted).
//!
//! Settings: as `pyunicore_uftp_fs`; arguments: the base directory (default
//! `/data`) and the local mount directory (default: a new temporary one).

#[path = "support/mod.rs"]
mod support;

use hpckit::FsUrl;
use hpckit::fs_adaptors::fuse::{MountOptions, mount};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> hpckit::Result<()> {
    let mut args = std::env::args().skip(1);
    let base_dir = args.next().unwrap_or_else(|| "/data".into());
    let (fs_url, creds) = support::uftp_url(&base_dir)?;
    let url = FsUrl::parse(&fs_url)?;
    let uftp_fs = hpckit::open_location(&url.location, &creds).await?;
    uftp_fs
        .write(&url.path.join("mounted.txt")?, support::byte_stream("read through FUSE\n"), None)
        .await?;

    let local_mount_dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("hpckit-uftp-mount-{}", std::process::id())),
    };
    std::fs::create_dir_all(&local_mount_dir)
        .map_err(|e| hpckit::Error::io("creating the mount directory", e))?;
    let mounted = mount(uftp_fs, url.path, &local_mount_dir, MountOptions::default()).await?;
    println!("mounted {fs_url} on {}", local_mount_dir.display());

    // Plain blocking file calls, as any program would make them, kept off
    // the runtime that serves the mount.
    let dir = local_mount_dir.clone();
    let (names, content) = tokio::task::spawn_blocking(move || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        let content = std::fs::read_to_string(dir.join("mounted.txt"))?;
        Ok::<_, std::io::Error>((names, content))
    })
    .await
    .expect("the reading task")
    .map_err(|e| hpckit::Error::io("reading through the mount", e))?;
    println!("entries: {}", names.join(" "));
    print!("mounted.txt: {content}");

    mounted.unmount().await?;
    std::fs::remove_dir(&local_mount_dir).ok();
    Ok(())
}
