//! The Slurm adaptor against fake `sinfo`/`squeue`/`sbatch` commands
//! (hpc-testkit's ScriptedExecutor::programs) that print numbers too large
//! for their fields: each is a clear error, never a wrapped value.

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{ErrorKind, JobDescription, Scheduler, SchedulerExt};
use hpc_testkit::scripted::ScriptedExecutor;
use sched_adaptors::slurm::{SlurmConfig, SlurmScheduler};

fn slurm(programs: &[(&str, String)]) -> SlurmScheduler {
    let exec = ScriptedExecutor::programs(programs.iter().map(|(p, t)| (*p, t.clone())));
    SlurmScheduler::new(Arc::new(exec), SlurmConfig::default()).unwrap()
}

#[tokio::test]
async fn sinfo_node_counts_past_u32_are_a_parse_error() {
    let line = "big|up|infinite|4294967295|0/0/0/1|0/0/0/2|big*\n";
    let s = slurm(&[("sinfo", line.repeat(2)), ("squeue", String::new())]);
    let e = s.queue_statuses(&[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("node counts add up past 2^32"), "{e}");
}

#[tokio::test]
async fn squeue_time_used_past_100_years_is_a_parse_error() {
    let line = "5|5|N/A|RUNNING|None|N/A|debug|2026-11-27T13:22:18|N/A|\
                213503982334601-00:00:00|UNLIMITED|1|u|big\n";
    let s = slurm(&[("squeue", line.to_owned()), ("sacct", String::new())]);
    let e = s.status(&"5".into()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("TimeUsed"), "{e}");
}

#[tokio::test]
async fn a_time_limit_past_100_years_never_reaches_sbatch() {
    let s = slurm(&[("sbatch", "1\n".to_owned())]);
    let mut job = JobDescription::new("true");
    job.max_runtime = Some(Duration::MAX);
    let e = s.submit_batch(&job).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("longer than 100 years"), "{e}");
}
