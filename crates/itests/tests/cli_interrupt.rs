//! Interrupted and abandoned transfers (issue 11): `hpckit fs put --mode
//! replace` stopped by SIGINT, SIGTERM or SIGHUP mid-transfer cleans up its
//! staged file (SFTP) or aborts its multipart upload (S3) and exits
//! 130/143/129; what a SIGKILLed copy left is removed (or, by RESUME,
//! continued) by the next copy to the same target and by `hpckit fs cleanup`.

#[path = "support/hpckit.rs"]
mod cli;
mod fs_support;

use std::time::{Duration, SystemTime};

use hpc_core::{FileSystem, Path};
use hpc_exec::{Executor, ExitStatus, LocalExecutor, Output};
use tokio::io::AsyncReadExt;

/// How long a transfer may take to show progress before a test gives up.
const STARTUP: Duration = Duration::from_secs(60);

/// Run `hpckit args` until `started` says the transfer has moved data, then
/// send `signal`; the exit status and stderr.
async fn interrupt<F, Fut>(
    args: &[String],
    env: &[(&str, String)],
    signal: i32,
    mut started: F,
) -> (ExitStatus, String)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut cmd = cli::command(args);
    for (k, v) in env {
        cmd = cmd.env(*k, v);
    }
    let p = LocalExecutor::new().spawn(&cmd).await.expect("spawn hpckit");
    let (_stdin, _stdout, stderr, mut control) = p.into_parts();
    // Read stderr all along: a closed pipe would fail the command's last words.
    let mut stderr = stderr.expect("stderr");
    let err = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let deadline = tokio::time::Instant::now() + STARTUP;
    loop {
        if started().await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no transfer progress within {STARTUP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    control.signal(signal).await.expect("send the signal");
    let status = control.wait().await.expect("wait for hpckit");
    (status, err.await.unwrap())
}

async fn run(args: &[String], env: &[(&str, String)]) -> Output {
    let mut cmd = cli::command(args);
    for (k, v) in env {
        cmd = cmd.env(*k, v);
    }
    LocalExecutor::new().run(&cmd).await.expect("run hpckit")
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// Names of staged data (`.*.hpckit-*`) in a local directory (the sshd's disk is ours).
fn staged_in(dir: &str) -> Vec<(String, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            fs_adaptors::is_temp_name(&name).then(|| (name, e.metadata().unwrap().len()))
        })
        .collect()
}

/// An upload to sftp slowed down (4 KiB requests, one at a time), so a
/// signal lands mid-transfer.
fn slow_sftp_put(sshd: &fs_support::Sshd, src: &str, target: &str, mode: &str) -> Vec<String> {
    let url = format!("{}&in_flight=1&chunk=4096", sshd.url(target));
    let mut a = strings(&["fs", "put", "--mode", mode, src, &url, "-i"]);
    a.push(sshd.key.display().to_string());
    a
}

fn sftp_put(sshd: &fs_support::Sshd, src: &str, target: &str, mode: &str) -> Vec<String> {
    let mut a = strings(&["fs", "put", "--mode", mode, "-v", src, &sshd.url(target), "-i"]);
    a.push(sshd.key.display().to_string());
    a
}

/// Whether a staged file in `dir` has data yet.
fn staging_started(dir: &str) -> bool {
    staged_in(dir).iter().any(|(_, len)| *len > 0)
}

/// SIGINT, SIGTERM and SIGHUP during `fs put --mode replace` to sftp: the
/// old target stays, no staged file remains, the exit code is 128 + signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_remove_the_sftp_staged_file_and_exit_with_the_shell_code() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let remote = sshd.scratch(&*fs, "signal").await;
    let (_keep, local) = fs_support::scratch();
    let src = format!("{local}/big.bin");
    fs_support::make_file(&src, 64 << 20, 3);
    for (signal, code, existing) in [(2, 130, true), (15, 143, false), (1, 129, true)] {
        let target = format!("{remote}/target-{signal}.bin");
        if existing {
            std::fs::write(&target, b"the old, good content").unwrap();
        }
        let dir = remote.to_string();
        let (status, err) =
            interrupt(&slow_sftp_put(&sshd, &src, &target, "replace"), &[], signal, || {
                let dir = dir.clone();
                async move { staging_started(&dir) }
            })
            .await;
        assert_eq!(status.code, Some(code), "signal {signal}: {status:?}, stderr: {err}");
        assert!(err.contains("interrupted by SIG"), "signal {signal}: {err}");
        assert_eq!(staged_in(&dir), vec![], "signal {signal} left staged data");
        if existing {
            assert_eq!(std::fs::read(&target).unwrap(), b"the old, good content");
        } else {
            assert!(!std::path::Path::new(&target).exists(), "signal {signal}: a partial target");
        }
    }
    fs.delete(&remote, true).await.unwrap();
}

/// A local file of `mib` MiB to put to moto at `<dir>/<rel>` (a fresh
/// `dir`), in 5 MiB parts one at a time.
struct S3Put {
    _local: tempfile::TempDir,
    src: String,
    server: fs_support::s3::Server,
    s3: fs_adaptors::s3::S3FileSystem,
    /// The fresh directory (prefix) and its name.
    dir: Path,
    dir_name: String,
    target: Path,
    url: String,
}

impl S3Put {
    async fn new(tag: &str, rel: &str, mib: usize, seed: u8) -> Self {
        let (local_dir, local) = fs_support::scratch();
        let src = format!("{local}/big.bin");
        fs_support::make_file(&src, mib << 20, seed);
        let server = fs_support::s3::moto();
        let s3 = fs_support::s3::open(&server, "").await;
        let dir_name = hpc_testkit::fs_conformance::unique_name(tag);
        let url =
            S3Put::url_of(&server, &format!("{dir_name}/{rel}"), "&part_size=5&concurrency=1");
        S3Put {
            _local: local_dir,
            src,
            s3,
            dir: Path::new(&format!("/{dir_name}")).unwrap(),
            target: Path::new(&format!("/{dir_name}/{rel}")).unwrap(),
            url,
            dir_name,
            server,
        }
    }

    /// The URL of `key` in the server's bucket, with `extra` parameters.
    fn url_of(server: &fs_support::s3::Server, key: &str, extra: &str) -> String {
        let (base, query) = server.url.split_once('?').expect("the s3 URL has its endpoint");
        format!("{}/{key}?{query}{extra}", base.trim_end_matches('/'))
    }

    /// The S3 keys, as the CLI reads them.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.server.key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.server.secret.clone()),
        ]
    }

    /// `hpckit fs put --mode replace [extra...] SRC URL`.
    fn put_args(&self, extra: &[&str]) -> Vec<String> {
        let mut a = strings(&["fs", "put", "--mode", "replace"]);
        a.extend(strings(extra));
        a.extend([self.src.clone(), self.url.clone()]);
        a
    }

    /// The unfinished uploads of the target.
    async fn uploads(&self) -> Vec<hpc_core::PendingUpload> {
        let all = self.s3.pending_uploads(&self.dir, true).await.expect("ListMultipartUploads");
        all.into_iter().filter(|u| u.path == self.target).collect()
    }

    /// The put, stopped by `signal` once a part is stored.
    async fn interrupted(&self, signal: i32) -> (ExitStatus, String) {
        interrupt(&self.put_args(&[]), &self.env(), signal, || async {
            self.uploads().await.iter().any(|u| u.bytes > 0)
        })
        .await
    }
}

/// The same on S3: the multipart upload is aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_abort_the_s3_multipart_upload_and_exit_with_the_shell_code() {
    for (signal, code) in [(2, 130), (15, 143), (1, 129)] {
        let put = S3Put::new("signal", "target.bin", 96, 5).await;
        let (status, err) = put.interrupted(signal).await;
        assert_eq!(status.code, Some(code), "signal {signal}: {status:?}, stderr: {err}");
        assert_eq!(put.uploads().await, vec![], "signal {signal}: parts remain");
        assert!(!put.s3.exists(&put.target).await.unwrap(), "signal {signal}: an object appeared");
    }
}

/// SIGKILL cannot clean up. What it left is removed by the next REPLACE to
/// the same target (its writer is gone), and continued by a RESUME.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_copy_removes_or_continues_what_a_killed_copy_left_on_sftp() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let remote = sshd.scratch(&*fs, "stale").await;
    let dir = remote.to_string();
    let (_keep, local) = fs_support::scratch();
    let src = format!("{local}/big.bin");
    fs_support::make_file(&src, 32 << 20, 9);
    let want = fs_support::sha256_file(&src);
    // A foreign file that merely looks alike stays whatever happens.
    let foreign = format!("{dir}/.target.bin.hpckit-tmp");
    std::fs::write(&foreign, b"not ours").unwrap();

    for mode in ["replace", "resume"] {
        let target = format!("{dir}/target.bin");
        let (status, _) =
            interrupt(&slow_sftp_put(&sshd, &src, &target, "replace"), &[], 9, || {
                let dir = dir.clone();
                async move { staging_started(&dir) }
            })
            .await;
        assert_eq!(status.signal, Some(9), "{status:?}");
        let left = staged_in(&dir);
        assert_eq!(left.len(), 1, "SIGKILL leaves the staged file: {left:?}");
        let out = run(&sftp_put(&sshd, &src, &target, mode), &[]).await;
        assert!(out.status.success(), "{mode}: {}", out.stderr_text());
        if mode == "resume" {
            assert!(out.stderr_text().contains("1 resumed"), "{mode}: {}", out.stderr_text());
        }
        assert_eq!(fs_support::sha256_file(&target), want, "{mode}");
        assert_eq!(staged_in(&dir), vec![], "{mode} left staged data");
        std::fs::remove_file(&target).unwrap();
    }
    assert_eq!(std::fs::read(&foreign).unwrap(), b"not ours");
    fs.delete(&remote, true).await.unwrap();
}

/// A killed S3 upload leaves its parts; the next copy to the key aborts the
/// upload once it counts as stale (here at once: `--stale-after 0s`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_copy_aborts_the_upload_a_killed_copy_left_on_s3() {
    let put = S3Put::new("stale", "target.bin", 48, 11).await;
    let (status, _) = put.interrupted(9).await;
    assert_eq!(status.signal, Some(9), "{status:?}");
    assert_eq!(put.uploads().await.len(), 1, "SIGKILL leaves the upload");
    // Fresh, it is kept: it might be another host's live upload.
    let out = run(&put.put_args(&[]), &put.env()).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(put.uploads().await.len(), 1, "a fresh upload is not taken");
    let out = run(&put.put_args(&["--stale-after", "0s"]), &put.env()).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(put.uploads().await, vec![]);
    put.s3.delete(&put.dir, true).await.unwrap();
}

/// `hpckit fs cleanup`: lists (`--dry-run`) and removes our stale staged
/// files at any depth, never a live writer's or a foreign file; on S3 it
/// aborts stale uploads below the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_cleanup_removes_stale_leftovers_only() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let remote = sshd.scratch(&*fs, "cleanup").await;
    let dir = remote.to_string();
    // Made through SFTP, as the server's user, who must be able to delete them.
    fs.create_directory(&remote.join_entry("sub").unwrap()).await.unwrap();
    let tag = fs_adaptors::staging::host_tag();
    let dead = format!("{dir}/sub/.a.bin.hpckit-{tag}-4294967295-0.part");
    let old = format!("{dir}/.b.bin.hpckit-77-1.copy");
    let live = format!("{dir}/.c.bin.hpckit-{tag}-{}-2.part", std::process::id());
    let foreign = format!("{dir}/.d.bin.hpckit-x.part");
    for p in [&dead, &old, &live, &foreign] {
        hpc_testkit::fs_conformance::put(&*fs, &Path::new(p).unwrap(), b"leftover").await.unwrap();
    }
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(two_hours_ago).unwrap();
    let key = sshd.key.display().to_string();
    let cleanup = |extra: &[&str]| {
        let mut a = strings(&["fs", "cleanup", &sshd.url(&dir), "--json", "-i", &key]);
        a.extend(strings(extra));
        a
    };
    let listed = |out: &Output| -> Vec<(String, bool)> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let mut l: Vec<(String, bool)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].as_str().unwrap().to_owned(), e["removed"].as_bool().unwrap()))
            .collect();
        l.sort();
        l
    };
    let out = run(&cleanup(&["--dry-run"]), &[]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(listed(&out), vec![(old.clone(), false), (dead.clone(), false)]);
    assert!(std::path::Path::new(&dead).exists() && std::path::Path::new(&old).exists());
    let out = run(&cleanup(&[]), &[]).await;
    assert!(out.status.success(), "{}{}", out.stderr_text(), String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed(&out), vec![(old.clone(), true), (dead.clone(), true)]);
    assert!(!std::path::Path::new(&dead).exists() && !std::path::Path::new(&old).exists());
    assert!(std::path::Path::new(&live).exists() && std::path::Path::new(&foreign).exists());
    fs.delete(&remote, true).await.unwrap();

    // S3: an upload left by a SIGKILLed put, aborted by cleanup of its prefix.
    let put = S3Put::new("cleanup", "deep/target.bin", 32, 13).await;
    let (status, _) = put.interrupted(9).await;
    assert_eq!(status.signal, Some(9), "{status:?}");
    let prefix_url = S3Put::url_of(&put.server, &put.dir_name, "");
    let out = run(&strings(&["fs", "cleanup", &prefix_url, "--json"]), &put.env()).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(listed(&out), vec![], "a fresh upload is not stale");
    let older = strings(&["fs", "cleanup", &prefix_url, "--older-than", "0s", "--json"]);
    let out = run(&older, &put.env()).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(listed(&out), vec![(put.target.to_string(), true)]);
    assert_eq!(put.uploads().await, vec![]);
}
