//! The ssh scheduler adaptor against the real test sshd: status across a
//! client restart, and `open_scheduler` style locations (its conformance
//! suite runs in `sched_conformance.rs`). Needs `cargo xtask services up sshd`.

#[path = "sched_support/mod.rs"]
mod sched_support;
mod ssh_support;

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{JobDescription, JobState, Scheduler, SchedulerExt, WaitUntil};
use hpc_exec::Executor;
use sched_adaptors::ssh::{SshConfig, SshScheduler};
use sched_support::{ssh_config as config, unique};
use ssh_support::ssh_env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_survives_a_new_connection_and_client() {
    let env = ssh_env();
    let jobdir = format!(".hpckit-test/{}/jobs", unique("restart"));
    let ids = {
        let first = SshScheduler::new(Arc::new(env.connect().await), config(&jobdir), "ssh://test");
        let jobs = [
            JobDescription::new("sh").args(["-c", "exit 0"]),
            JobDescription::new("sh").args(["-c", "sleep 1; exit 9"]),
        ];
        let ids: Vec<_> =
            first.submit_many(&jobs).await.unwrap().into_iter().map(Result::unwrap).collect();
        ids
        // The first client and its connection go away here.
    };
    let second = SshScheduler::new(Arc::new(env.connect().await), config(&jobdir), "ssh://test");
    let done =
        second.wait(&ids, WaitUntil::Done, Some(Duration::from_secs(60)), None).await.unwrap();
    let done: Vec<_> = done.into_iter().map(Result::unwrap).collect();
    assert_eq!((done[0].state, done[0].exit_code), (JobState::Completed, Some(0)));
    assert_eq!((done[1].state, done[1].exit_code), (JobState::Failed, Some(9)));
    let listed = second.list_jobs(&[]).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_with_workdir_and_parameters_opens_the_adaptor() {
    let env = ssh_env();
    let run = unique("url");
    let url = format!(
        "ssh://{}@{}:{}/~/.hpckit-test/{run}/work?jobdir=.hpckit-test/{run}/jobs&poll=0.2&known_hosts={}&ssh_config=none",
        env.user(),
        env.host(),
        env.port(),
        env.known_hosts().display()
    );
    let loc: hpc_core::Location = url.parse().unwrap();
    let config = SshConfig::from_location(&loc).unwrap();
    assert_eq!(config.workdir, Some(format!(".hpckit-test/{run}/work")));
    let executor = env.connect().await;
    let home = env.get("HPCKIT_SSH_USER_HOME");
    let work = format!("{home}/.hpckit-test/{run}/work");
    executor
        .run_checked(&hpc_exec::Command::new("mkdir").arg("-p").arg(format!("{work}/sub dir")))
        .await
        .unwrap();
    // The way the CLI opens it: URL plus credentials.
    let sched = hpckit::open_scheduler(&url, &env.key_creds()).await.unwrap();
    assert_eq!(sched.info().adaptor, "ssh");
    assert!(sched.info().capabilities.status_after_restart);
    // Relative working directory and output file: under the URL's directory.
    let job = JobDescription::new("pwd").working_directory("sub dir").stdout("pwd.out");
    let id = sched.submit_batch(&job).await.unwrap();
    let st = sched.wait_until_done(&id, Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let out = executor
        .run_checked(&hpc_exec::Command::new("cat").arg(format!("{work}/sub dir/pwd.out")))
        .await
        .unwrap();
    assert_eq!(out.stdout_text().trim(), format!("{work}/sub dir"));
}
