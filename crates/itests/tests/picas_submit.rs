//! `hpckit picas submit-workers` drains a pool through real schedulers: a job
//! array on the local Slurm (submitted as the test user, as real users do)
//! and background jobs over SSH (`cargo xtask services up couchdb slurm sshd`).

#[path = "picas_support/mod.rs"]
mod picas_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use hpc_exec::{Executor, LocalExecutor};
use picas_support::{Db, eventually, hpckit_bin, ok, side_counts, token_lines};

const PW: [&str; 2] = ["--db-password-env", "HPCKIT_TEST_DB_PW"];

fn user_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("no user {user}: run `cargo xtask services up slurm sshd`"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// A pool of `n` tokens whose commands append to a side file the test user may write.
async fn pool(test: &str, n: usize, owner: (u32, u32)) -> (Db, std::path::PathBuf) {
    let db = Db::new(test).await;
    std::fs::set_permissions(db.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(db.dir.path(), Some(owner.0), Some(owner.1)).unwrap();
    let side = db.path("side.txt");
    let ids: Vec<String> = (0..n).map(|i| format!("{test}-{i:03}")).collect();
    let file = db.path("t.jsonl");
    std::fs::write(&file, token_lines(&ids, &side, "")).unwrap();
    let url = db.url();
    ok(db.hpckit(&["picas", "views", &url, PW[0], PW[1]])).await;
    ok(db.hpckit(&["picas", "push", &url, file.to_str().unwrap(), "--json-lines", PW[0], PW[1]]))
        .await;
    (db, side)
}

async fn drained(db: &Db, side: &std::path::Path, n: u64) {
    eventually("the workers drained the pool", Duration::from_secs(300), || {
        let pool = db.pool();
        async move { pool.counts().await.unwrap().done == n }
    })
    .await;
    let c = db.pool().counts().await.unwrap();
    assert_eq!((c.todo, c.locked, c.error), (0, 0, 0));
    let counts = side_counts(side);
    assert_eq!(counts.len() as u64, n);
    assert!(counts.values().all(|k| *k == 1), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slurm_job_array_drains_the_pool() {
    let slurm = hpc_testkit::services::require("slurm");
    let conf = slurm.var("HPCKIT_SLURM_CONF").to_owned();
    let user = slurm.var("HPCKIT_SLURM_USER").to_owned();
    let ids = user_ids(&user);
    let (db, side) = pool("slurm", 40, ids).await;
    let sched = format!("slurm://{}?conf={conf}&poll=1", db.dir.path().display());
    // Submitted by the test user, like a real user on a login node.
    let cmd = db
        .hpckit(&["picas", "submit-workers", &db.url(), PW[0], PW[1], "--scheduler", &sched])
        .args(["--array", "3", "--time", "10m", "--name", "picas-itest"]);
    let out = LocalExecutor::as_user(ids.0, ids.1).run(&cmd).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let job = out.stdout_text().trim().to_owned();
    assert!(!job.is_empty() && !job.contains('\n'), "one array job id: {job:?}");
    drained(&db, &side, 40).await;
    // Each token names the array task that ran it, as picas does.
    let done = db.pool().tokens_in("done", None).await.unwrap();
    let array = job.split('_').next().unwrap().to_owned();
    for t in &done {
        let slurm_id = t.get("slurm_job_id").and_then(|v| v.as_str()).unwrap_or_default();
        assert!(slurm_id.starts_with(&format!("{array}_")), "{}: {slurm_id:?}", t.id());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_background_jobs_drain_the_pool() {
    let ssh = hpc_testkit::services::require("sshd");
    let user = ssh.var("HPCKIT_SSH_USER").to_owned();
    let (db, side) = pool("ssh", 30, user_ids(&user)).await;
    let sched = format!(
        "ssh://{user}@{}:{}{}?known_hosts={}&ssh_config=none&poll=0.5",
        ssh.var("HPCKIT_SSH_HOST"),
        ssh.var("HPCKIT_SSH_PORT"),
        db.dir.path().display(),
        ssh.var("HPCKIT_SSH_KNOWN_HOSTS"),
    );
    let hpckit = hpckit_bin();
    let out = ok(db
        .hpckit(&["picas", "submit-workers", &db.url(), PW[0], PW[1], "--scheduler", &sched])
        .args(["--array", "2", "--hpckit", hpckit.to_str().unwrap()])
        .args(["--key", ssh.var("HPCKIT_SSH_KEY")]))
    .await;
    assert_eq!(out.stdout_text().lines().count(), 2, "two job ids: {out:?}");
    drained(&db, &side, 30).await;
}
