//! Faults during copies: `hpckit fs cp` killed with SIGKILL at random moments
//! and resumed, interrupted REPLACE, and connections dropped mid-transfer.

#[path = "support/hpckit.rs"]
mod cli;
mod fs_support;

use std::sync::Arc;
use std::time::Duration;

use fs_adaptors::copy::{CopyOptions, copy};
use fs_adaptors::sftp::SftpTuning;
use hpc_core::{CopyMode, ErrorKind, FileSystem};
use hpc_exec::{Executor, LocalExecutor};

/// A small deterministic generator for kill delays (no extra crate).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        Lcg(t.as_nanos() as u64 | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Run `hpckit fs cp` and SIGKILL it after `delay`; true when it had already finished.
async fn run_and_kill(args: &[String], delay: Duration) -> bool {
    let cmd = cli::command(args);
    let p = LocalExecutor::new().spawn(&cmd).await.expect("spawn hpckit");
    let (_stdin, _stdout, _stderr, mut control) = p.into_parts();
    tokio::select! {
        status = control.wait() => {
            let status = status.unwrap();
            assert!(status.success(), "hpckit fs cp failed before the kill: {status:?}");
            true
        }
        () = tokio::time::sleep(delay) => {
            control.signal(9).await.unwrap();
            // A copy that ended just before the signal landed finished.
            control.wait().await.is_ok_and(|s| s.success())
        }
    }
}

fn cp_args(sshd: &fs_support::Sshd, src: &str, dst: &str, mode: &str) -> Vec<String> {
    let mut a: Vec<String> =
        ["fs", "cp", "--mode", mode, src, dst].iter().map(|s| s.to_string()).collect();
    a.extend(["-i".into(), sshd.key.display().to_string()]);
    a
}

/// Kill `hpckit fs cp --mode resume` several times at random moments, in both
/// directions, then let it finish: the result has the source's SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_resumable_copies_end_identical() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let remote = sshd.scratch(&*fs, "kill").await;
    let (_keep, local) = fs_support::scratch();
    let src = format!("{local}/source.bin");
    fs_support::make_file(&src, 40 << 20, 7);
    let want = fs_support::sha256_file(&src);
    let mut rng = Lcg::seeded();

    let up = format!("{remote}/up.bin");
    let down = format!("{local}/down.bin");
    let legs =
        [(src.clone(), sshd.url(&up), up.clone()), (sshd.url(&up), down.clone(), down.clone())];
    for (from, to, on_disk) in legs {
        let mut kills = 0;
        let mut sizes = Vec::new();
        for _ in 0..4 {
            let delay = Duration::from_millis(100 + rng.below(600));
            let args = cp_args(&sshd, &from, &to, "resume");
            if run_and_kill(&args, delay).await {
                break;
            }
            kills += 1;
            sizes.push(std::fs::metadata(&on_disk).map(|m| m.len()).unwrap_or(0));
        }
        let args = cp_args(&sshd, &from, &to, "resume");
        let out = LocalExecutor::new().run(&cli::command(&args)).await.unwrap();
        assert!(out.status.success(), "final resume failed: {}", out.stderr_text());
        assert_eq!(
            fs_support::sha256_file(&on_disk),
            want,
            "{from} -> {to} after {kills} kills at sizes {sizes:?}"
        );
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "resumed copies only grow: {sizes:?}");
    }
    std::fs::remove_dir_all(remote.to_string()).unwrap();
}

/// A REPLACE killed half-way leaves the old target exactly as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replace_keeps_the_old_target() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let remote = sshd.scratch(&*fs, "replace").await;
    let (_keep, local) = fs_support::scratch();
    let src = format!("{local}/new.bin");
    fs_support::make_file(&src, 40 << 20, 1);
    let target = format!("{remote}/target.bin");
    std::fs::write(&target, b"the old, good content").unwrap();
    let mut rng = Lcg::seeded();
    for _ in 0..3 {
        let delay = Duration::from_millis(100 + rng.below(400));
        let finished =
            run_and_kill(&cp_args(&sshd, &src, &sshd.url(&target), "replace"), delay).await;
        if finished {
            assert_eq!(fs_support::sha256_file(&target), fs_support::sha256_file(&src));
            std::fs::write(&target, b"the old, good content").unwrap();
            continue;
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"the old, good content");
    }
    fs.delete(&remote, true).await.unwrap();
}

/// Cutting the connection mid-transfer (the server dies) is an error that
/// leaves a REPLACE target as it was and a RESUME target resumable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_keep_targets_safe_and_resumable() {
    let (_keep, root) = fs_support::scratch();
    let local: Arc<dyn FileSystem> = Arc::new(fs_adaptors::LocalFileSystem::new().unwrap());
    let src = root.join_entry("src.bin").unwrap();
    fs_support::make_file(&src.to_string(), 24 << 20, 3);
    let tuning = SftpTuning { in_flight: 8, chunk: 64 * 1024, ..SftpTuning::default() };

    for mode in [CopyMode::Replace, CopyMode::Resume] {
        let target = root.join_entry(&format!("target-{mode}")).unwrap();
        std::fs::write(target.to_string(), b"old").unwrap();
        let (sftp, pid) = fs_support::sftp_via_local_server_killable(tuning).await;
        // Cut the connection once 8 MiB have gone through.
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress: fs_adaptors::copy::ProgressFn = Arc::new(move |p| {
            if p.bytes_done > 4 << 20 && !cut.swap(true, std::sync::atomic::Ordering::Relaxed) {
                let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
                rustix::process::kill_process(pid, rustix::process::Signal::KILL)
                    .expect("kill sftp-server");
            }
        });
        let opts = CopyOptions {
            mode,
            server_side: false,
            resume_check: fs_adaptors::copy::ResumeCheck::SizeOnly,
            progress: Some(progress),
            ..Default::default()
        };
        // For RESUME the target must be a prefix: start from an empty file.
        if mode == CopyMode::Resume {
            std::fs::write(target.to_string(), b"").unwrap();
        }
        let e = copy(&local, &src, &sftp, &target, &opts).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{mode}: {e}");
        let now = std::fs::read(target.to_string()).unwrap();
        match mode {
            CopyMode::Replace => assert_eq!(now, b"old", "REPLACE target changed"),
            _ => {
                assert!(now.len() < 24 << 20, "the copy was cut short");
                let sftp = fs_support::sftp_via_local_server(SftpTuning::default()).await;
                let r = copy(
                    &local,
                    &src,
                    &sftp,
                    &target,
                    &CopyOptions { mode, verify: true, ..Default::default() },
                )
                .await
                .unwrap();
                assert_eq!(r.resumed + r.files, 1);
                assert_eq!(
                    fs_support::sha256_file(&target.to_string()),
                    fs_support::sha256_file(&src.to_string())
                );
            }
        }
    }
}
