//! `WsFileSystem` against stand-in scripts for `ws_find` and the `dt*`
//! commands that run the tool at once (no Slurm): batching, typed failures,
//! and that a failed transfer leaves the good file and no staged data. The
//! real datamover (through Slurm, as the test user, locally and over SSH) is
//! in `crates/itests/tests/fs_ws_*.rs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fs_adaptors::LocalFileSystem;
use futures::StreamExt;
use hpc_core::{Error, FileSystem, Path};
use hpc_exec::LocalExecutor;
use zih_datamover::filesystem::{DatamoverTargets, WsConfig, WsFileSystem};

struct Setup {
    _tmp: tempfile::TempDir,
    ws: std::path::PathBuf,
    log: std::path::PathBuf,
    fail: std::path::PathBuf,
    fs: WsFileSystem,
}

/// `bin/` with `ws_find` (prints the workspace) and `dtrsync`, `dtrm`,
/// `dtmv` (log their call, drop the datamover's own options, run the tool;
/// `dtrsync` fails with 23 while the file `fail` exists).
async fn setup(linger: Duration) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    let log = tmp.path().join("calls.log");
    let fail = tmp.path().join("fail");
    let script = |name: &str, body: String| {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("ws_find", format!("echo '{}'", ws.display()));
    let strip = "for a in \"$@\"; do shift; case \"$a\" in --blocking|--time=*|--account=*) ;; *) set -- \"$@\" \"$a\";; esac; done";
    for (name, tool, extra) in [
        (
            "dtrsync",
            "rsync",
            format!(
                "if [ -e '{}' ]; then echo 'rsync: fake failure' >&2; exit 23; fi",
                fail.display()
            ),
        ),
        ("dtrm", "rm", String::new()),
        ("dtmv", "mv", String::new()),
    ] {
        script(
            name,
            format!("echo {name} >> '{}'\n{strip}\n{extra}\nexec {tool} \"$@\"", log.display()),
        );
    }
    let mut cfg = WsConfig::workspace("data").bin_dir(bin.to_string_lossy());
    cfg.targets = DatamoverTargets::All;
    cfg.linger = linger;
    let fs = WsFileSystem::open(
        Arc::new(LocalExecutor::new()),
        Arc::new(LocalFileSystem::new().unwrap()),
        cfg,
    )
    .await
    .unwrap();
    Setup { _tmp: tmp, ws, log, fail, fs }
}

fn calls(s: &Setup, name: &str) -> usize {
    std::fs::read_to_string(&s.log).unwrap_or_default().lines().filter(|l| *l == name).count()
}

fn data(b: &'static [u8]) -> hpc_core::fs::ByteStream {
    futures::stream::iter([Ok(Bytes::from_static(b))]).boxed()
}

fn staged_leftovers(s: &Setup) -> Vec<String> {
    std::fs::read_dir(s.ws.join(".hpckit-stage"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_writes_share_one_transfer_and_land_whole() {
    // A long linger: every write below starts within it.
    let s = setup(Duration::from_secs(5)).await;
    assert_eq!(s.fs.info().working_directory.to_string(), s.ws.to_string_lossy());
    s.fs.create_directories(&Path::new("out/deep").unwrap()).await.unwrap();
    assert_eq!(calls(&s, "dtrsync"), 1, "one job makes a whole chain of directories");
    let names: Vec<String> = (0..8).map(|i| format!("out/deep/f {i}")).collect();
    let writes = names.iter().map(|n| {
        let fs = &s.fs;
        async move { fs.write(&Path::new(n).unwrap(), data(b"content"), Some(7)).await }
    });
    for r in futures::future::join_all(writes).await {
        assert_eq!(r.unwrap(), 7);
    }
    for n in &names {
        assert_eq!(std::fs::read(s.ws.join(n)).unwrap(), b"content");
    }
    let jobs = calls(&s, "dtrsync") - 1;
    assert!(jobs < names.len(), "{jobs} transfers for {} parallel writes", names.len());
    assert!(staged_leftovers(&s).is_empty(), "{:?}", staged_leftovers(&s));
}

#[tokio::test]
async fn a_failed_transfer_keeps_the_good_file_and_says_why() {
    let s = setup(Duration::ZERO).await;
    let f = Path::new("kept.txt").unwrap();
    s.fs.write(&f, data(b"good"), Some(4)).await.unwrap();
    std::fs::write(&s.fail, b"").unwrap();
    let e = s.fs.write(&f, data(b"bad!"), Some(4)).await.unwrap_err();
    assert!(
        matches!(&e, Error::CommandFailed { exit_code: Some(23), stderr, .. } if stderr.contains("fake failure")),
        "{e}"
    );
    assert_eq!(std::fs::read(s.ws.join("kept.txt")).unwrap(), b"good");
    assert!(staged_leftovers(&s).is_empty(), "{:?}", staged_leftovers(&s));
    std::fs::remove_file(&s.fail).unwrap();
    // A stream that fails stages nothing and starts no transfer.
    let before = calls(&s, "dtrsync");
    let broken =
        futures::stream::iter([Ok(Bytes::from_static(b"x")), Err(Error::Cancelled("test".into()))])
            .boxed();
    assert!(s.fs.write(&f, broken, None).await.is_err());
    assert_eq!(calls(&s, "dtrsync"), before);
    assert_eq!(std::fs::read(s.ws.join("kept.txt")).unwrap(), b"good");
}

#[tokio::test]
async fn changes_go_through_the_datamover_commands() {
    let s = setup(Duration::ZERO).await;
    let (a, b) = (Path::new("a").unwrap(), Path::new("b").unwrap());
    s.fs.write(&a, data(b"1"), Some(1)).await.unwrap();
    s.fs.append(&a, data(b"23")).await.unwrap();
    assert_eq!(std::fs::read(s.ws.join("a")).unwrap(), b"123");
    s.fs.rename(&a, &b).await.unwrap();
    assert_eq!(calls(&s, "dtmv"), 1);
    s.fs.write(&a, data(b"x"), Some(1)).await.unwrap();
    let e = s.fs.rename(&a, &b).await.unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    s.fs.delete(&b, false).await.unwrap();
    assert_eq!(calls(&s, "dtrm"), 1);
    assert!(!s.ws.join("b").exists());
    let e = s.fs.delete(&b, false).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = s.fs.set_permissions(&a, 0o600).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(!s.fs.info().capabilities.set_permissions);
    let sum = s.fs.checksum(&a, hpc_core::ChecksumAlgorithm::Sha256).await.unwrap().unwrap();
    assert_eq!(sum, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
}
