//! The Slurm adaptor against fake `sinfo`/`squeue`/`sbatch` commands
//! (hpc-testkit's ScriptedExecutor::programs) that print numbers too large
//! for their fields: each is a clear error, never a wrapped value; and
//! `cancel_many` as the one `scancel` it sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hpc_core::{ErrorKind, JobDescription, JobId, Scheduler, SchedulerExt};
use hpc_testkit::scripted::{ScriptedExecutor, output};
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

/// Every command the fake Slurm saw, as argv strings; each answered by `answer`.
fn recording(
    answer: impl Fn(&[String]) -> hpc_exec::Output + Send + Sync + 'static,
) -> (SlurmScheduler, Arc<Mutex<Vec<Vec<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let exec = ScriptedExecutor::new(move |cmd| {
        let argv: Vec<String> =
            cmd.argv().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let out = answer(&argv);
        log.lock().unwrap().push(argv);
        Ok(out)
    });
    (SlurmScheduler::new(Arc::new(exec), SlurmConfig::default()).unwrap(), seen)
}

#[tokio::test]
async fn cancel_many_is_one_scancel_without_a_status_query() {
    let refused = "scancel: error: Kill job error on job id 8: Invalid job id specified\n\
                   scancel: error: Kill job error on job id 10: Access/permission denied\n";
    let (s, seen) = recording(move |_| output(1, "", refused));
    let ids: Vec<JobId> = ["7", "8", "x;rm -rf /", "9", "10"].map(JobId::from).to_vec();
    let results = s.cancel_many(&ids).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![vec!["scancel", "7", "8", "9", "10"]], "one scancel, no squeue");
    assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
    assert!(results[1].as_ref().unwrap_err().is_not_found(), "{results:?}");
    assert!(results[2].as_ref().unwrap_err().is_not_found(), "not sent: {results:?}");
    let e = results[4].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("job 10: Access/permission denied"), "{e}");
}

#[tokio::test]
async fn a_scancel_failure_that_names_no_job_fails_the_whole_cancel() {
    let (s, _) =
        recording(|_| output(1, "", "scancel: error: slurm_receive_msg: Socket timed out\n"));
    let ids: Vec<JobId> = ["7", "8"].map(JobId::from).to_vec();
    let e = s.cancel_many(&ids).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("Socket timed out"), "{e}");
}
