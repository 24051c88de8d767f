//! `hpckit fs` into and out of a ZIH workspace (`ws://`) and into the
//! read-only project space (`dm://`, through the datamover), as the test
//! user: on this host (the CLI itself runs as the test user) and over SSH
//! (the CLI logs in as the test user). Needs `cargo xtask services up slurm
//! datamover sshd`.

#[path = "support/hpckit.rs"]
mod cli;
#[path = "datamover_support/mod.rs"]
#[allow(unused)]
mod datamover_support;
#[path = "ssh_support/mod.rs"]
#[allow(unused)]
mod ssh_support;

use std::path::{Path, PathBuf};

use datamover_support::{Fx, NASTY};
use hpc_exec::{Command, Executor, LocalExecutor, Output};
use zih_datamover::AllocateRequest;

/// How the CLI reaches the login node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Here, the CLI running as the test user.
    Local,
    /// Over SSH as the test user, the CLI running as whoever runs the tests.
    Ssh,
}

struct Cli {
    f: Fx,
    mode: Mode,
}

impl Cli {
    async fn new(mode: Mode) -> Cli {
        let f = match mode {
            Mode::Local => Fx::local(),
            Mode::Ssh => Fx::ssh().await,
        };
        Cli { f, mode }
    }

    /// `scheme://[user@host:port]/path?query`, with the SSH options the test sshd needs.
    fn url(&self, scheme: &str, path: &str, query: &str) -> String {
        let mut q = format!("bin={}", self.f.bin);
        if !query.is_empty() {
            q.push('&');
            q.push_str(query);
        }
        let path = enc(path);
        match self.mode {
            Mode::Local => format!("{scheme}://{path}?{q}"),
            Mode::Ssh => {
                let s = ssh_support::ssh_env();
                format!(
                    "{scheme}://{}@{}:{}{path}?{q}&known_hosts={}&ssh_config=none",
                    s.user(),
                    s.host(),
                    s.port(),
                    s.known_hosts().display()
                )
            }
        }
    }

    /// The plain (no datamover) URL of an absolute path on the login node.
    fn plain_url(&self, path: &str) -> String {
        match self.mode {
            Mode::Local => format!("file://{}", enc(path)),
            Mode::Ssh => {
                let s = ssh_support::ssh_env();
                format!(
                    "sftp://{}@{}:{}{}?known_hosts={}&ssh_config=none",
                    s.user(),
                    s.host(),
                    s.port(),
                    enc(path),
                    s.known_hosts().display()
                )
            }
        }
    }

    /// Runs `hpckit ARGS...`: as the test user here, or logging in as the
    /// test user with the key.
    async fn hpckit(&self, args: &[&str]) -> Output {
        let out = match self.mode {
            Mode::Local => self.f.exec.run(&cli::command(args)).await,
            Mode::Ssh => {
                let key = ssh_support::ssh_env().key();
                let cmd = cli::command(["-i".as_ref(), key.as_os_str()]).args(args);
                LocalExecutor::new().run(&cmd).await
            }
        };
        let out = out.expect("running hpckit");
        eprintln!("hpckit {args:?}: {:?}\n{}", out.status, out.stderr_text());
        out
    }
}

/// Percent-encodes what a URL path cannot carry as it is.
fn enc(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Ids of the Slurm jobs named `name` charged to `account`, finished ones
/// included while Slurm remembers them (root's view). Each test charges its
/// own account (accounting is off, so any name is taken): the other tests
/// that run the datamover at the same time, as the same user, are not counted.
async fn jobs_named(name: &str, account: &str) -> std::collections::HashSet<String> {
    let cmd = Command::new("squeue").args([
        "--all",
        "--noheader",
        "--states=all",
        "--format=%i",
        &format!("--name={name}"),
        &format!("--account={account}"),
    ]);
    let out = LocalExecutor::new().run_checked(&cmd).await.expect("squeue");
    out.stdout_text().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A tree of the test user: a file, a nasty name in a subdirectory, 12 small files.
fn source_tree(f: &Fx) -> PathBuf {
    let root = f.scratch_dir("tree");
    f.scratch_dir("tree/sub dir");
    f.scratch_dir("tree/many");
    f.scratch_file("tree/a.txt", b"alpha\n");
    f.scratch_file(&format!("tree/sub dir/{NASTY}"), b"nasty\n");
    for i in 0..12 {
        f.scratch_file(&format!("tree/many/f{i:02}"), format!("file {i}\n").as_bytes());
    }
    root
}

fn assert_same_tree(a: &Path, b: &Path) {
    let names = |p: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b), "{} vs {}", a.display(), b.display());
    for n in names(a) {
        let (x, y) = (a.join(&n), b.join(&n));
        if x.is_dir() {
            assert_same_tree(&x, &y);
        } else {
            assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap(), "{}", y.display());
        }
    }
}

async fn into_workspace_and_project_space(mode: Mode) {
    let cli = Cli::new(mode).await;
    let f = &cli.f;
    let src = source_tree(f);
    let ws_name = format!("cli-{}-{}", f.label, std::process::id());
    let ws = f.ws().allocate(&AllocateRequest::new(&ws_name, 1)).await.unwrap();
    let ws_dir = PathBuf::from(&ws.directory);

    // Into the workspace: the plain file system, no Slurm job.
    let to_ws = cli.url("ws", &format!("/{ws_name}/tree"), "");
    let out = cli.hpckit(&["fs", "cp", "-r", &s(&src), &to_ws]).await;
    assert!(out.status.success(), "cp into the workspace");
    assert_same_tree(&src, &ws_dir.join("tree"));
    let out = cli.hpckit(&["fs", "ls", &to_ws]).await;
    assert!(out.status.success());
    let listing = out.stdout_text();
    assert!(listing.contains("a.txt") && listing.contains("sub dir"), "{listing}");

    // The project space refuses a direct write, by the shell and by hpckit alike.
    let direct = f.project.join("direct");
    assert_ne!(f.sh("printf x > \"$1\"", &[&s(&direct)]).await, 0);
    let out = cli.hpckit(&["fs", "put", &s(&src.join("a.txt")), &cli.plain_url(&s(&direct))]).await;
    assert_eq!(out.status.code, Some(77), "a direct write must be refused as a permission error");
    assert!(!direct.exists());

    // The write probe finds the project space read-only: the datamover writes.
    let account = ws_name.replace('-', "_");
    let jobs_before = jobs_named("dtrsync", &account).await;
    let probed = f.project.join("probed.txt");
    let url = cli.url("dm", &s(&probed), &format!("stage={ws_name}&account={account}"));
    let out = cli.hpckit(&["fs", "put", &s(&src.join("a.txt")), &url]).await;
    assert!(out.status.success(), "put into the project space (probed)");
    assert_eq!(std::fs::read(&probed).unwrap(), b"alpha\n");
    assert_eq!(jobs_named("dtrsync", &account).await.difference(&jobs_before).count(), 1);

    // Out of the workspace into the project space, every change through the
    // datamover as on ZIH, where all of /projects is read-only on the login
    // nodes. (The stand-in's gate only guards the space's top directory:
    // what the datamover made there belongs to the user, so the probe alone
    // would let later writes below it go plain.)
    let project_root =
        hpc_testkit::services::require("datamover").var("HPCKIT_DM_PROJECT").to_owned();
    let dm_query = format!("stage={ws_name}&datamover={project_root}&account={account}");
    let jobs_before = jobs_named("dtrsync", &account).await;
    let target = f.project.join("tree");
    let to_project = cli.url("dm", &s(&target), &dm_query);
    let out = cli.hpckit(&["fs", "cp", "-r", "--verify", &to_ws, &to_project]).await;
    assert!(out.status.success(), "cp into the project space");
    assert_same_tree(&src, &target);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(target.join("many/f00")).unwrap();
    assert_eq!(meta.uid(), f.uid(), "the datamover writes as the user");
    let jobs = jobs_named("dtrsync", &account).await.difference(&jobs_before).count();
    eprintln!("14 files and 3 directories arrived in {jobs} dtrsync jobs");
    // The copy engine makes directories one after the other: one job each at least.
    assert!(jobs >= 3, "the project space was written without the datamover ({jobs} jobs)");
    // Nothing staged is left behind.
    let stage = ws_dir.join(".hpckit-stage");
    let left: Vec<_> = std::fs::read_dir(&stage).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "staging leftovers: {left:?}");

    // Replace one file, then read it back through ws:// and dm://.
    let newer = f.scratch_file("newer", b"newer content\n");
    let a = cli.url("dm", &s(&target.join("a.txt")), &dm_query);
    let out = cli.hpckit(&["fs", "put", "--mode", "replace", &s(&newer), &a]).await;
    assert!(out.status.success(), "replace in the project space");
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"newer content\n");
    let out = cli.hpckit(&["fs", "cat", &a]).await;
    assert_eq!(out.stdout, b"newer content\n");
    // create mode keeps the existing file.
    let out = cli.hpckit(&["fs", "put", &s(&src.join("a.txt")), &a]).await;
    assert!(!out.status.success(), "create mode must not replace");
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"newer content\n");

    // Resume a partial file in the project space (append through the datamover), verified.
    let full = hpc_testkit::fs_conformance::pattern(300_000, 7);
    let big = f.scratch_file("big.bin", &full);
    let part = f.scratch_file("part.bin", &full[..100_000]);
    let dst = cli.url("dm", &s(&target.join("big.bin")), &dm_query);
    let out = cli.hpckit(&["fs", "put", &s(&part), &dst]).await;
    assert!(out.status.success(), "partial file into the project space");
    let out = cli.hpckit(&["fs", "put", "--mode", "resume", "--verify", &s(&big), &dst]).await;
    assert!(out.status.success(), "resume into the project space");
    assert!(std::fs::read(target.join("big.bin")).unwrap() == full, "resumed file differs");

    // Back out of the project space into the workspace, then clean up both.
    let back = cli.url("ws", &format!("/{ws_name}/back"), "");
    let out = cli.hpckit(&["fs", "cp", "-r", &to_project, &back]).await;
    assert!(out.status.success(), "cp out of the project space");
    assert_eq!(std::fs::read(ws_dir.join("back/sub dir").join(NASTY)).unwrap(), b"nasty\n");
    let out = cli.hpckit(&["fs", "rm", "-r", &to_project]).await;
    assert!(out.status.success(), "rm -r in the project space");
    assert!(!target.exists());
    f.ws().release(&ws_name, None).await.unwrap();
}

#[tokio::test]
async fn local_cp_into_workspace_and_project_space() {
    into_workspace_and_project_space(Mode::Local).await
}

#[tokio::test]
async fn ssh_cp_into_workspace_and_project_space() {
    into_workspace_and_project_space(Mode::Ssh).await
}
