//! The Grid Engine adaptor over SSH (`sge+ssh://hpctest@127.0.0.1:<port>`): every
//! Grid Engine command runs through `SshExecutor` as the test user of `cargo xtask
//! services up sshd`, against the cell of `cargo xtask services up sge`.

#[path = "ssh_support/mod.rs"]
mod ssh_support;

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{JobDescription, JobState, Location, Scheduler};
use hpc_exec::{Command, Executor};
use sched_adaptors::sge::{SgeScheduler, SgeSettings};

async fn over_ssh() -> (SgeScheduler, Arc<dyn Executor>) {
    let sge = hpc_testkit::services::require("sge");
    let env = ssh_support::ssh_env();
    let exec: Arc<dyn Executor> = Arc::new(env.connect().await);
    let url = format!(
        "sge+ssh://{}@{}:{}?root={}&cell={}&pe={}&poll=0.2&grace=20",
        env.user(),
        env.host(),
        env.port(),
        sge.var("HPCKIT_SGE_ROOT"),
        sge.var("HPCKIT_SGE_CELL"),
        sge.var("HPCKIT_SGE_PE"),
    );
    let loc: Location = url.parse().unwrap();
    (SgeScheduler::open(&loc, exec.clone(), SgeSettings::default()).unwrap(), exec)
}

async fn scratch(exec: &Arc<dyn Executor>, name: &str) -> String {
    let out = exec
        .run_checked(&Command::new("mktemp").args(["-d", &format!("/tmp/{name}-XXXXXX")]))
        .await
        .unwrap();
    out.stdout_text().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_over_ssh() {
    let (sched, exec) = over_ssh().await;
    let dir = scratch(&exec, "hpckit-sge-conf").await;
    let fx = hpc_testkit::sched_conformance::SchedFixture::new(Arc::new(sched), exec, dir);
    hpc_testkit::sched_conformance::run_all(&fx).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_over_ssh() {
    let (sched, exec) = over_ssh().await;
    let dir = scratch(&exec, "hpckit-sge-q").await;
    let wd = format!("{dir}/we ird $x `y` 'q' \"d\" ,c");
    exec.run_checked(&Command::new("mkdir").arg(&wd)).await.unwrap();
    let hostile = "a 'b' \"c\" $HOME `id` $(id) ,x";
    let job = JobDescription::new("sh")
        .args(["-c", "printf '%s|%s' \"$V\" \"$1\"", "sh", hostile])
        .env("V", hostile)
        .working_directory(&wd)
        .name("q'uote \"d\" $x `y`")
        .stdout("out.txt");
    let id = sched.submit_batch(&job).await.unwrap();
    let st = sched.wait_until_done(&id, Some(Duration::from_secs(90))).await.unwrap();
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let out = exec.run_checked(&Command::new("cat").arg(format!("{wd}/out.txt"))).await.unwrap();
    assert_eq!(out.stdout_text(), format!("{hostile}|{hostile}"));
    let e = sched.submit_batch(&JobDescription::new("true").queue("nosuch.q")).await.unwrap_err();
    assert!(e.to_string().contains("unknown queue \"nosuch.q\""), "{e}");
}
