//! The ssh adaptor over a local executor (`nohup://`): status that survives
//! a client restart, lost wrappers, hostile ids. (Its conformance suite runs
//! in `local_conformance.rs`.)

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{JobDescription, JobState, Scheduler, SchedulerExt, WaitUntil};
use hpc_exec::{Command, Executor, LocalExecutor};
use sched_adaptors::ssh::{SshConfig, SshScheduler};

fn scheduler(jobdir: &std::path::Path) -> SshScheduler {
    let mut config = SshConfig::default();
    config.jobdir = jobdir.to_str().unwrap().to_owned();
    config.poll_interval = Duration::from_millis(100);
    config.cancel_grace = Duration::from_secs(1);
    SshScheduler::new(Arc::new(LocalExecutor::new()), config, "nohup://")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_sees_old_jobs_and_their_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let jobdir = tmp.path().join("jobs");
    let job = |code: i32| JobDescription::new("sh").args(["-c", &format!("sleep 1; exit {code}")]);
    let (ids, running) = {
        let first = scheduler(&jobdir);
        let ids: Vec<_> = first
            .submit_many(&[job(0), job(5)])
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let running = first.submit_batch(&JobDescription::new("sleep").arg("300")).await.unwrap();
        first.wait_until_running(&running, Some(Duration::from_secs(30))).await.unwrap();
        (ids, running)
        // `first` is dropped here: the client is gone, the jobs are not.
    };
    let second = scheduler(&jobdir);
    let done =
        second.wait(&ids, WaitUntil::Done, Some(Duration::from_secs(30)), None).await.unwrap();
    let done: Vec<_> = done.into_iter().map(Result::unwrap).collect();
    assert_eq!((done[0].state, done[0].exit_code), (JobState::Completed, Some(0)));
    assert_eq!((done[1].state, done[1].exit_code), (JobState::Failed, Some(5)));
    assert_eq!(second.status(&running).await.unwrap().state, JobState::Running);
    let listed = second.list_jobs(&[]).await.unwrap();
    assert_eq!(
        listed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        [ids.clone(), vec![running.clone()]].concat()
    );

    // Cancel kills the whole process group, grandchildren included.
    let pid = second.status(&running).await.unwrap().info["pid"].clone();
    let st = second.cancel(&running).await.unwrap();
    assert_eq!(st.state, JobState::Cancelled, "{st:?}");
    // The wrapper itself exits just after recording the end; allow it a moment.
    let mut left = Vec::new();
    for _ in 0..50 {
        left = live_members_of_group(pid.parse().unwrap());
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, Vec::<u32>::new(), "processes left in group {pid}");

    // A third client still agrees, and finds the records on disk.
    let third = scheduler(&jobdir);
    assert_eq!(third.status(&running).await.unwrap().state, JobState::Cancelled);
    let exit = std::fs::read_to_string(jobdir.join(ids[1].as_str()).join("exit")).unwrap();
    assert_eq!(exit.trim(), "5");
}

#[tokio::test]
async fn a_lost_wrapper_is_a_failure_not_a_guess() {
    let tmp = tempfile::tempdir().unwrap();
    let jobdir = tmp.path().join("jobs");
    let sched = scheduler(&jobdir);
    let id = sched.submit_batch(&JobDescription::new("sleep").arg("300")).await.unwrap();
    let st = sched.wait_until_running(&id, Some(Duration::from_secs(30))).await.unwrap();
    // Kill the wrapper and its job behind the scheduler's back (like a reboot).
    let pid = st.info["pid"].clone();
    LocalExecutor::new()
        .run_checked(&Command::new("kill").args(["-s", "KILL", "--", &format!("-{pid}")]))
        .await
        .unwrap();
    let st = sched.wait_until_done(&id, Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    assert_eq!(st.exit_code, None);
    assert!(st.error.unwrap().contains("without recording an exit code"));
}

#[tokio::test]
async fn unknown_and_hostile_ids_never_reach_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let sched = scheduler(&tmp.path().join("jobs"));
    for id in ["../../etc", "1; rm -rf /", "local-1", "0"] {
        let e = sched.status(&id.into()).await.unwrap_err();
        assert!(e.is_not_found(), "{id}: {e}");
        assert!(sched.cancel(&id.into()).await.unwrap_err().is_not_found());
    }
}

#[tokio::test]
async fn a_host_without_jobs_lists_none() {
    let tmp = tempfile::tempdir().unwrap();
    let sched = scheduler(&tmp.path().join("jobs"));
    assert_eq!(sched.list_jobs(&[]).await.unwrap(), Vec::new());
    let queues = sched.queue_statuses(&[]).await.unwrap();
    assert_eq!((queues[0].running_jobs, queues[0].pending_jobs), (Some(0), Some(0)));
}

/// Pids of the processes in process group `pgid` that are not zombies (from /proc).
fn live_members_of_group(pgid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // Fields after the parenthesised command name: state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
            pids.push(pid);
        }
    }
    pids
}
