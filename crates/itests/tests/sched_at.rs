//! The at adaptor against the real atd of `cargo xtask services up at`, as
//! the ordinary test user: locally through `LocalExecutor::as_user` and over
//! SSH (`cargo xtask services up sshd`). (The conformance suites run in
//! `sched_conformance.rs`.)

#[path = "ssh_support/mod.rs"]
mod ssh_support;

#[path = "sched_support/mod.rs"]
mod sched_support;

use std::sync::Arc;
use std::time::Duration;

use hpc_core::{Error, JobDescription, JobId, JobState, Scheduler, SchedulerExt, WaitUntil};
use sched_support::at::{Fixture, POLL, fixture};

const NASTY: &str = "we|ird $x `id` 'q' \"d\" a\\b %j";
const LONG: Option<Duration> = Some(Duration::from_secs(120));

async fn local() -> Fixture {
    sched_support::at::local()
}

async fn over_ssh() -> Fixture {
    fixture(Arc::new(ssh_support::ssh_env().connect().await))
}

async fn done(f: &Fixture, id: &JobId) -> hpc_core::JobStatus {
    let r = f.sched.wait(std::slice::from_ref(id), WaitUntil::Done, LONG, None).await.unwrap();
    let st = r.into_iter().next().unwrap().unwrap();
    assert!(st.is_done(), "{st:?}");
    st
}

async fn exit_codes_env_and_workdir(f: Fixture) {
    let wd = f.dir.join(format!("wd {NASTY}"));
    std::fs::create_dir_all(&wd).unwrap();
    std::os::unix::fs::chown(&wd, Some(f.uid), Some(f.gid)).unwrap();
    let job = JobDescription::new("sh")
        .args(["-c", "pwd; printf '%s\\n' \"$V\" \"$1\"; exit 3", "sh", NASTY])
        .env("V", NASTY)
        .working_directory(wd.to_str().unwrap())
        .stdout("out.txt");
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(3)), "{st:?}");
    let out = std::fs::read_to_string(wd.join("out.txt")).unwrap();
    assert_eq!(out, format!("{}\n{NASTY}\n{NASTY}\n", wd.display()));
    let ok = f.sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    assert_eq!(done(&f, &ok).await.state, JobState::Completed);
    let usage = f.sched.status(&ok).await.unwrap().usage.unwrap();
    assert!(usage.start.is_some() && usage.end.is_some());
}

async fn cancel_and_time_limit(f: Fixture) {
    let id = f.sched.submit_batch(&JobDescription::new("sleep").arg("300")).await.unwrap();
    let r = f.sched.wait(std::slice::from_ref(&id), WaitUntil::Running, LONG, None).await.unwrap();
    assert_eq!(r[0].as_ref().unwrap().state, JobState::Running);
    f.sched.cancel(&id).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!(st.state, JobState::Cancelled, "{st:?}");
    let limited = JobDescription::new("sleep").arg("300").max_runtime(Duration::from_secs(1));
    let id = f.sched.submit_batch(&limited).await.unwrap();
    let st = done(&f, &id).await;
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(124)), "{st:?}");
}

async fn bad_input(f: Fixture) {
    for id in ["987654321", "abc", "1;true"] {
        assert!(f.sched.status(&JobId::from(id)).await.unwrap_err().is_not_found(), "{id}");
        assert!(f.sched.cancel(&JobId::from(id)).await.unwrap_err().is_not_found(), "{id}");
    }
    let mut j = JobDescription::new("true");
    j.memory_mb = Some(10);
    assert!(matches!(f.sched.submit_batch(&j).await, Err(Error::InvalidJobDescription(_))));
    let e = f.sched.submit_batch(&JobDescription::new("true").queue("9")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidJobDescription(_)), "{e}");
    let mut j = JobDescription::new("true");
    j.scheduler_arguments = vec!["-t".into(), "garbage".into()];
    match f.sched.submit_batch(&j).await.unwrap_err() {
        Error::CommandFailed { command, stderr, .. } => {
            assert!(command.starts_with("at -M"), "{command}");
            assert!(!stderr.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

async fn many_jobs(f: Fixture) {
    let jobs: Vec<JobDescription> = (0..12)
        .map(|i| JobDescription::new("sh").args(["-c", &format!("exit {}", i % 3)]))
        .collect();
    let ids: Vec<JobId> =
        f.sched.submit_many(&jobs).await.unwrap().into_iter().map(Result::unwrap).collect();
    let before = f.sched.poll_queries();
    let started = std::time::Instant::now();
    let r = f.sched.wait(&ids, WaitUntil::Done, LONG, None).await.unwrap();
    for (i, st) in r.iter().enumerate() {
        assert_eq!(st.as_ref().unwrap().exit_code, Some((i % 3) as i32));
    }
    // One query per cycle for all 12 jobs: never more than one per poll
    // interval, however slow the machine is.
    let queries = f.sched.poll_queries() - before;
    let cycles = started.elapsed().as_secs_f64() / POLL.as_secs_f64();
    assert!(queries <= cycles as u64 + 2, "{queries} status queries for 12 jobs");
    assert_eq!(f.sched.default_queue().await.unwrap().as_deref(), Some("a"));
    let q = f.sched.queue_statuses(&["a".into()]).await.unwrap();
    assert!(q[0].is_default && q[0].pending_jobs.is_some());
}

macro_rules! suite {
    ($m:ident, $make:path) => {
        mod $m {
            #[tokio::test]
            async fn exit_codes_env_and_workdir() {
                super::exit_codes_env_and_workdir($make().await).await
            }
            #[tokio::test]
            async fn cancel_and_time_limit() {
                super::cancel_and_time_limit($make().await).await
            }
            #[tokio::test]
            async fn bad_input() {
                super::bad_input($make().await).await
            }
            #[tokio::test]
            async fn many_jobs() {
                super::many_jobs($make().await).await
            }
        }
    };
}

suite!(local, crate::local);
suite!(ssh, crate::over_ssh);
