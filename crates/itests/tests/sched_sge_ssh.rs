//! The Grid Engine adaptor over SSH (`sge+ssh://hpctest@127.0.0.1:<port>`): every
//! Grid Engine command runs through `SshExecutor` as the test user of `cargo xtask
//! services up sshd`, against the cell of `cargo xtask services up sge`. (The
//! conformance suite over SSH runs in `sched_conformance.rs`.)

#[path = "sched_support/mod.rs"]
mod sched_support;
#[path = "ssh_support/mod.rs"]
mod ssh_support;

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{JobDescription, JobState, Scheduler, SchedulerExt};
use hpc_exec::{Command, Executor};
use sched_adaptors::sge::SgeScheduler;
use sched_support::remote_tempdir as scratch;

async fn over_ssh() -> (SgeScheduler, Arc<dyn Executor>) {
    let env = ssh_support::ssh_env();
    let exec: Arc<dyn Executor> = Arc::new(env.connect().await);
    let authority = format!("{}@{}:{}", env.user(), env.host(), env.port());
    (sched_support::sge::over_ssh(exec.clone(), &authority), exec)
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
