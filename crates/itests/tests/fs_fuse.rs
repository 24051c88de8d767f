//! FUSE mounts through the kernel's real FUSE: a local directory and an SFTP
//! location, used with plain std::fs calls, then unmounted.

mod fs_support;
mod uftp_support;

use std::sync::Arc;

use fs_adaptors::fuse::{MountOptions, mount};
use hpc_core::{FileSystem, Path};

fn check_fuse() {
    assert!(
        std::path::Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this machine cannot mount FUSE"
    );
    assert!(
        std::path::Path::new("/usr/bin/fusermount3").exists(),
        "fusermount3 is missing: run `cargo xtask doctor` as root (installs docker/testsuite/packages) or `apt-get install fuse3`"
    );
}

/// Write, read, list, rename, delete through the mount; returns after checks.
fn exercise(mnt: &std::path::Path, backing: &dyn Fn(&str) -> Option<Vec<u8>>) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let data = hpc_testkit::fs_conformance::pattern(3_000_000, 5);
    std::fs::write(mnt.join("big.bin"), &data).unwrap();
    assert!(std::fs::read(mnt.join("big.bin")).unwrap() == data, "read back through the mount");
    assert!(backing("big.bin").unwrap() == data, "the file system has the data after close");
    // Ranged read through the read-ahead window.
    let mut f = std::fs::File::open(mnt.join("big.bin")).unwrap();
    f.seek(SeekFrom::Start(2_999_990)).unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, data[2_999_990..]);
    // Partial overwrite of an existing file keeps the rest.
    let mut f = std::fs::OpenOptions::new().write(true).open(mnt.join("big.bin")).unwrap();
    f.seek(SeekFrom::Start(10)).unwrap();
    f.write_all(b"XYZ").unwrap();
    drop(f);
    let back = backing("big.bin").unwrap();
    assert_eq!(&back[10..13], b"XYZ");
    assert!(back[13..] == data[13..] && back.len() == data.len());

    std::fs::create_dir(mnt.join("dir ü")).unwrap();
    std::fs::write(mnt.join("dir ü/small.txt"), b"hello").unwrap();
    let mut names: Vec<String> = std::fs::read_dir(mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "dir ü"]);
    assert_eq!(std::fs::metadata(mnt.join("big.bin")).unwrap().len(), data.len() as u64);
    std::fs::rename(mnt.join("dir ü/small.txt"), mnt.join("moved.txt")).unwrap();
    assert_eq!(backing("moved.txt").as_deref(), Some(&b"hello"[..]));
    assert_eq!(backing("dir ü/small.txt"), None);
    // Rename over an existing file replaces it.
    std::fs::write(mnt.join("other.txt"), b"other").unwrap();
    std::fs::rename(mnt.join("other.txt"), mnt.join("moved.txt")).unwrap();
    assert_eq!(std::fs::read(mnt.join("moved.txt")).unwrap(), b"other");
    // Truncate and append.
    std::fs::write(mnt.join("moved.txt"), b"").unwrap();
    assert_eq!(backing("moved.txt").as_deref(), Some(&b""[..]));
    let mut f = std::fs::OpenOptions::new().append(true).open(mnt.join("moved.txt")).unwrap();
    f.write_all(b"appended").unwrap();
    drop(f);
    assert_eq!(backing("moved.txt").as_deref(), Some(&b"appended"[..]));
    let e = std::fs::remove_dir(mnt.join("nonexistent")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    std::fs::write(mnt.join("dir ü/keep"), b"k").unwrap();
    let e = std::fs::remove_dir(mnt.join("dir ü")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(39), "ENOTEMPTY: {e}");
    std::fs::remove_file(mnt.join("dir ü/keep")).unwrap();
    std::fs::remove_dir(mnt.join("dir ü")).unwrap();
    std::fs::remove_file(mnt.join("moved.txt")).unwrap();
    std::fs::remove_file(mnt.join("big.bin")).unwrap();
    assert_eq!(std::fs::read_dir(mnt).unwrap().count(), 0);
    assert_eq!(backing("big.bin"), None);
}

async fn mounted_test(fs: Arc<dyn FileSystem>, root: Path, backing_root: String) {
    check_fuse();
    let mnt = tempfile::Builder::new().prefix("hpckit-mnt-").tempdir().unwrap();
    let m = mount(fs, root, mnt.path(), MountOptions::default()).await.expect("mount");
    let mp = mnt.path().to_owned();
    // std::fs calls block; run them off the runtime that serves the mount.
    let r = tokio::task::spawn_blocking(move || {
        let backing = |rel: &str| std::fs::read(format!("{backing_root}/{rel}")).ok();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(&mp, &backing)))
    })
    .await
    .unwrap();
    m.unmount().await.expect("unmount");
    let after = std::fs::read_dir(mnt.path()).unwrap().count();
    assert_eq!(after, 0, "the mount point is an empty directory again");
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mount_a_local_directory() {
    let (_keep, root) = fs_support::scratch();
    let fs: Arc<dyn FileSystem> = Arc::new(fs_adaptors::LocalFileSystem::new().unwrap());
    mounted_test(fs, root.clone(), root.to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mount_an_sftp_location() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let root = sshd.scratch(&*fs, "fuse").await;
    mounted_test(fs.clone(), root.clone(), root.to_string()).await;
    fs.delete(&root, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mount_a_uftp_location() {
    let u = uftp_support::uftp();
    let (base, disk) = u.fresh_dir("fuse");
    let fs = u.filesystem(&base, "&streams=2").await.expect("open uftp");
    mounted_test(fs, Path::root(), disk.to_string_lossy().into_owned()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_mounts_refuse_writes() {
    check_fuse();
    let (_keep, root) = fs_support::scratch();
    std::fs::write(format!("{root}/f"), b"data").unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(fs_adaptors::LocalFileSystem::new().unwrap());
    let mnt = tempfile::tempdir().unwrap();
    let m =
        mount(fs, root.clone(), mnt.path(), MountOptions { read_only: true, ..Default::default() })
            .await
            .unwrap();
    let mp = mnt.path().to_owned();
    let (read, write) = tokio::task::spawn_blocking(move || {
        (std::fs::read(mp.join("f")), std::fs::write(mp.join("g"), b"x"))
    })
    .await
    .unwrap();
    m.unmount().await.unwrap();
    assert_eq!(read.unwrap(), b"data");
    assert_eq!(write.unwrap_err().raw_os_error(), Some(30), "EROFS");
    assert!(!std::path::Path::new(&format!("{root}/g")).exists());
}
