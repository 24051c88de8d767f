//! The Slurm test cases, run by `sched_slurm.rs` (local, as the test user) and
//! `sched_slurm_ssh.rs` (over SSH as the test user), each against both clusters.

use std::time::Duration;

use hpc_core::{Error, JobDescription, JobId, JobState, Scheduler, SchedulerExt, WaitUntil};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Fixture;

const NASTY: &str = "we|ird $x `id` 'q' \"d\" a\\b %j";
const LONG: Option<Duration> = Some(Duration::from_secs(120));

async fn done(f: &Fixture, id: &JobId) -> hpc_core::JobStatus {
    let r = f.sched.wait(std::slice::from_ref(id), WaitUntil::Done, LONG, None).await.unwrap();
    let st = r.into_iter().next().unwrap().unwrap();
    assert!(st.is_done(), "job {id} did not finish: {st:?}");
    st
}

pub(crate) async fn exit_code_and_name_survive(f: Fixture) {
    let job = JobDescription::new("sh").args(["-c", "exit 3"]).name(NASTY);
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(3)), "{st:?}");
    assert_eq!(st.name.as_deref(), Some(NASTY));
    let ok = f.sched.submit_batch(&JobDescription::new("/bin/true")).await.unwrap();
    let st = done(&f, &ok).await;
    assert_eq!((st.state, st.exit_code), (JobState::Completed, Some(0)), "{st:?}");
    // A finished job stays finished on the next plain status call.
    assert_eq!(f.sched.status(&ok).await.unwrap().state, JobState::Completed);
}

pub(crate) async fn env_args_and_workdir_are_passed_verbatim(f: Fixture) {
    let dir = f.mkdir(&format!("wd {NASTY}"));
    let job = JobDescription::new("sh")
        .args(["-c", "pwd; printf '%s\\n' \"$V\" \"$1\"", "sh", NASTY])
        .env("V", NASTY)
        .working_directory(dir.to_str().unwrap())
        .stdout("out %x.txt")
        .stderr("err.txt")
        .name(NASTY);
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let out = std::fs::read_to_string(dir.join("out %x.txt")).unwrap();
    assert_eq!(out, format!("{}\n{NASTY}\n{NASTY}\n", dir.display()));
}

pub(crate) async fn cancel_reports_cancelled(f: Fixture) {
    let id = f.sched.submit_batch(&JobDescription::new("/bin/sleep").arg("300")).await.unwrap();
    let r = f.sched.wait(std::slice::from_ref(&id), WaitUntil::Running, LONG, None).await.unwrap();
    let running = r[0].as_ref().unwrap();
    assert_eq!(running.state, JobState::Running);
    assert_eq!(running.name.as_deref(), Some("sleep"));
    let listed = f.sched.list_jobs(&[]).await.unwrap();
    assert!(listed.iter().any(|s| s.id == id && s.state == JobState::Running), "{listed:?}");
    let listed = f.sched.list_jobs(&["batch".into()]).await.unwrap();
    assert!(!listed.iter().any(|s| s.id == id), "{listed:?}");
    let after = f.sched.cancel(&id).await.unwrap();
    assert!(matches!(after.state, JobState::Running | JobState::Cancelled), "{after:?}");
    let st = done(&f, &id).await;
    assert_eq!(st.state, JobState::Cancelled, "{st:?}");
    // SIGTERM, or SIGKILL when the cancel caught the job while starting.
    assert!(matches!(st.signal, Some(15 | 9)), "{st:?}");
    // Cancelling again is not an error.
    assert_eq!(f.sched.cancel(&id).await.unwrap().state, JobState::Cancelled);
}

pub(crate) async fn arrays_report_per_task(f: Fixture) {
    let job = JobDescription::new("sh")
        .args(["-c", "exit $((SLURM_ARRAY_TASK_ID - 1))"])
        .array("1-3".parse().unwrap());
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    assert_eq!(st.info["array_tasks"], "3");
    let mut tasks = f.sched.array_task_statuses(&id).await.unwrap();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let got: Vec<(String, JobState, Option<i32>)> =
        tasks.iter().map(|t| (t.id.to_string(), t.state, t.exit_code)).collect();
    assert_eq!(
        got,
        vec![
            (format!("{id}_1"), JobState::Completed, Some(0)),
            (format!("{id}_2"), JobState::Failed, Some(1)),
            (format!("{id}_3"), JobState::Failed, Some(2)),
        ]
    );
    let t2 = f.sched.status(&JobId::new(format!("{id}_2"))).await.unwrap();
    assert_eq!(t2.exit_code, Some(1));
}

pub(crate) async fn rejected_submissions_carry_slurms_message(f: Fixture) {
    let e = f.sched.submit_batch(&JobDescription::new("true").queue("nosuch")).await.unwrap_err();
    match &e {
        Error::CommandFailed { command, stderr, exit_code } => {
            assert!(command.starts_with("sbatch"), "{command}");
            assert!(command.contains("--partition=nosuch"), "{command}");
            assert!(stderr.contains("Invalid partition name specified"), "{stderr}");
            assert_eq!(*exit_code, Some(1));
        }
        other => panic!("{other:?}"),
    }
    let mut big = JobDescription::new("true");
    big.memory_mb = Some(1 << 40);
    let e = f.sched.submit_batch(&big).await.unwrap_err();
    assert!(
        e.to_string().contains("Requested node configuration is not available")
            || e.to_string().contains("Memory"),
        "{e}"
    );
    // submit_many reports each failure in place.
    let r = f
        .sched
        .submit_many(&[
            JobDescription::new("true"),
            JobDescription::new("true").queue("nosuch"),
            JobDescription::new(""),
        ])
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
    assert!(
        matches!(&r[1], Err(Error::CommandFailed { stderr, .. }) if stderr.contains("Invalid partition")),
        "{:?}",
        r[1]
    );
    assert!(matches!(&r[2], Err(Error::InvalidJobDescription(_))), "{:?}", r[2]);
    done(&f, r[0].as_ref().unwrap()).await;
}

pub(crate) async fn unknown_ids_are_not_found(f: Fixture) {
    for id in ["987654321", "abc", "1;true", "12_x"] {
        let e = f.sched.status(&JobId::from(id)).await.unwrap_err();
        assert!(e.is_not_found(), "{id}: {e}");
        let e = f.sched.cancel(&JobId::from(id)).await.unwrap_err();
        assert!(e.is_not_found(), "{id}: {e}");
    }
    let ok = f.sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    let r = f.sched.statuses(&[ok.clone(), "987654321".into()]).await.unwrap();
    assert!(r[0].is_ok());
    assert!(r[1].as_ref().unwrap_err().is_not_found());
    done(&f, &ok).await;
}

pub(crate) async fn queues_are_listed_with_limits(f: Fixture) {
    // All of them, the hidden `datamover` partition of the plain cluster too.
    let names = f.sched.queue_names().await.unwrap();
    assert_eq!(names, f.partitions);
    assert_eq!(names[..2], ["debug".to_owned(), "batch".to_owned()]);
    assert_eq!(f.sched.default_queue().await.unwrap().as_deref(), Some("debug"));
    let q = f.sched.queue_statuses(&["batch".into()]).await.unwrap();
    assert_eq!(q[0].max_runtime, Some(Duration::from_secs(3600)));
    assert_eq!(q[0].state.as_deref(), Some("up"));
    assert_eq!(q[0].nodes, Some(1));
    assert!(q[0].running_jobs.is_some() && q[0].pending_jobs.is_some());
    let e = f.sched.queue_statuses(&["nosuch".into()]).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

pub(crate) async fn many_jobs_share_one_poll_loop(f: Fixture) {
    let jobs: Vec<JobDescription> = (0..30)
        .map(|i| JobDescription::new("sh").args(["-c", &format!("exit {}", i % 2)]))
        .collect();
    let ids: Vec<JobId> =
        f.sched.submit_many(&jobs).await.unwrap().into_iter().map(Result::unwrap).collect();
    // 30 concurrent waits, one per job: one shared poll loop.
    let before = f.sched.poll_queries();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for id in &ids {
        let s = f.sched.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            s.wait(&[id], WaitUntil::Done, LONG, None).await.unwrap().pop().unwrap().unwrap()
        }));
    }
    // One loop polls at most once per poll interval however slow the
    // machine is; a loop per waiter would already have made 30 queries.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let early = f.sched.poll_queries() - before;
    let one_loop = |elapsed: std::time::Duration| {
        (elapsed.as_secs_f64() / f.poll_interval().as_secs_f64()) as u64 + 2
    };
    assert!(early <= one_loop(started.elapsed()), "{early} status queries in the first second");
    for (i, t) in tasks.into_iter().enumerate() {
        let st = t.await.unwrap();
        assert_eq!(st.exit_code, Some((i % 2) as i32), "{st:?}");
    }
    let queries = f.sched.poll_queries() - before;
    assert!(queries <= one_loop(started.elapsed()), "{queries} status queries for 30 waits");
}

pub(crate) async fn interactive_round_trip(f: Fixture) {
    let job = JobDescription::new("sh").args(["-c", "cat; echo done >&2; exit 4"]);
    let mut ij = f.sched.submit_interactive(&job).await.unwrap();
    ij.stdin.write_all(b"hello\n").await.unwrap();
    ij.stdin.shutdown().await.unwrap();
    drop(ij.stdin);
    let mut out = String::new();
    ij.stdout.read_to_string(&mut out).await.unwrap();
    let mut err = String::new();
    ij.stderr.read_to_string(&mut err).await.unwrap();
    assert_eq!(out, "hello\n");
    assert!(err.contains("done"), "{err}");
    let st = done(&f, &ij.id).await;
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(4)), "{st:?}");
}

pub(crate) async fn accounting_matches_the_cluster(f: Fixture) {
    assert_eq!(f.auto_detected_accounting().await, f.accounting);
    let id = f
        .sched
        .submit_batch(
            &JobDescription::new("python3")
                .args(["-c", "x = bytearray(40 << 20); import time; time.sleep(3)"]),
        )
        .await
        .unwrap();
    done(&f, &id).await;
    let mut st = f.sched.status(&id).await.unwrap();
    // The step records (with the peak memory sampled every second) reach
    // slurmdbd after the job has ended: give them a moment under load.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while f.accounting
        && st.usage.as_ref().is_some_and(|u| u.max_rss_bytes.is_none())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        st = f.sched.status(&id).await.unwrap();
    }
    let usage = st.usage.expect("usage");
    assert!(usage.start.is_some() && usage.end.is_some(), "{usage:?}");
    if f.accounting {
        // sacct's step lines carry the peak memory.
        let rss = usage.max_rss_bytes.expect("max rss from sacct within 20 s");
        assert!(rss > 20 << 20, "{rss}");
    } else {
        assert_eq!(usage.max_rss_bytes, None);
    }
}

/// One test per case for `$service`, with fixtures from `$make(service).await`.
macro_rules! suite {
    ($modname:ident, $service:literal, $make:path) => {
        mod $modname {
            use crate::slurm_fixture::Fixture;
            use crate::slurm_fixture::cases::*;

            async fn f() -> Fixture {
                $make($service).await
            }

            #[tokio::test]
            async fn exit_code_and_name() {
                exit_code_and_name_survive(f().await).await
            }
            #[tokio::test]
            async fn env_args_workdir() {
                env_args_and_workdir_are_passed_verbatim(f().await).await
            }
            #[tokio::test]
            async fn cancel() {
                cancel_reports_cancelled(f().await).await
            }
            #[tokio::test]
            async fn arrays() {
                arrays_report_per_task(f().await).await
            }
            #[tokio::test]
            async fn rejected() {
                rejected_submissions_carry_slurms_message(f().await).await
            }
            #[tokio::test]
            async fn unknown_ids() {
                unknown_ids_are_not_found(f().await).await
            }
            #[tokio::test]
            async fn queues() {
                queues_are_listed_with_limits(f().await).await
            }
            #[tokio::test]
            async fn many_jobs() {
                many_jobs_share_one_poll_loop(f().await).await
            }
            #[tokio::test]
            async fn interactive() {
                interactive_round_trip(f().await).await
            }
            #[tokio::test]
            async fn accounting() {
                accounting_matches_the_cluster(f().await).await
            }
        }
    };
}

pub(crate) use suite;
