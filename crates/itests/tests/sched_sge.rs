//! Grid Engine adaptor against a real Grid Engine 8.1.9 (`cargo xtask services up sge`).
//!
//! Jobs are submitted as the ordinary test user (Grid Engine refuses root):
//! locally through `LocalExecutor::as_user`. (The conformance suite runs in
//! `sched_conformance.rs`.)

#[path = "sched_support/mod.rs"]
mod sched_support;

use std::time::Duration;

use hpc_core::{Error, JobDescription, JobState, Scheduler, SchedulerExt};
use sched_adaptors::sge::SgeScheduler;

struct Fixture {
    sched: SgeScheduler,
    /// A directory the test user can write, removed at the end.
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let (sched, _exec) = sched_support::sge::local();
    Fixture { sched, dir: sched_support::shared_tempdir("hpckit-sge-") }
}

fn path(f: &Fixture, name: &str) -> String {
    f.dir.path().join(name).to_str().unwrap().to_owned()
}

const WAIT: Option<Duration> = Some(Duration::from_secs(90));

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_output_and_hostile_values() {
    let f = fixture().await;
    let wd = path(&f, "we ird $x `y` 'q' \"d\" ,c:");
    std::fs::create_dir(&wd).unwrap();
    std::fs::set_permissions(&wd, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let hostile = "a 'b' \"c\" $HOME `id` $(id) ,x";
    let mut job = JobDescription::new("sh")
        .args([
            "-c",
            "printf '%s|%s|%s' \"$V\" \"$1\" \"$(pwd)\"; echo oops >&2; exit 3",
            "sh",
            hostile,
        ])
        .env("V", hostile)
        .working_directory(&wd)
        .name("it's a \"job\" $x `y`")
        .stdout("out file.txt")
        .stderr("err,file.txt");
    job.max_runtime = Some(Duration::from_secs(120));
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = f.sched.wait_until_done(&id, WAIT).await.unwrap();
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    assert_eq!(st.exit_code, Some(3), "{st:?}");
    let out = std::fs::read_to_string(format!("{wd}/out file.txt")).unwrap();
    assert_eq!(out, format!("{hostile}|{hostile}|{wd}"));
    assert_eq!(std::fs::read_to_string(format!("{wd}/err,file.txt")).unwrap(), "oops\n");

    let ok = f.sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    let st = f.sched.wait_until_done(&ok, WAIT).await.unwrap();
    assert_eq!((st.state, st.exit_code), (JobState::Completed, Some(0)), "{st:?}");
    assert!(st.usage.as_ref().unwrap().elapsed.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_running_and_pending_jobs() {
    let f = fixture().await;
    let running = f.sched.submit_batch(&JobDescription::new("sleep").arg("300")).await.unwrap();
    let st = f.sched.wait_until_running(&running, WAIT).await.unwrap();
    assert_eq!(st.state, JobState::Running, "{st:?}");
    let mut held = JobDescription::new("sleep").arg("300");
    held.scheduler_arguments = vec!["-h".into()];
    let pending = f.sched.submit_batch(&held).await.unwrap();
    assert_eq!(f.sched.status(&pending).await.unwrap().state, JobState::Pending);
    f.sched.cancel(&running).await.unwrap();
    f.sched.cancel(&pending).await.unwrap();
    let all = f
        .sched
        .wait(&[running.clone(), pending.clone()], hpc_core::WaitUntil::Done, WAIT, None)
        .await
        .unwrap();
    let s0 = all[0].as_ref().unwrap();
    let s1 = all[1].as_ref().unwrap();
    assert_eq!(s0.state, JobState::Cancelled, "{s0:?}");
    assert_eq!(s0.signal, Some(9), "{s0:?}");
    assert_eq!(s1.state, JobState::Cancelled, "{s1:?}");
    // Cancelling a finished job is not an error.
    assert!(f.sched.cancel(&running).await.unwrap().is_done());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input() {
    let f = fixture().await;
    let e = f.sched.submit_batch(&JobDescription::new("true").queue("nosuch.q")).await.unwrap_err();
    match &e {
        Error::CommandFailed { command, stderr, .. } => {
            assert!(command.starts_with("qsub"), "{command}");
            assert!(stderr.contains("unknown queue \"nosuch.q\""), "{stderr}");
        }
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains("nosuch.q"), "{e}");
    for id in ["99999999", "nonsense", "1.2.3"] {
        assert!(f.sched.status(&id.into()).await.unwrap_err().is_not_found(), "{id}");
        assert!(f.sched.cancel(&id.into()).await.unwrap_err().is_not_found(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn arrays_parallel_environment_and_many_jobs() {
    let f = fixture().await;
    let mut arr = JobDescription::new("sh").args(["-c", "exit $((SGE_TASK_ID - 1))"]);
    arr.array = Some("1-3".parse().unwrap());
    let id = f.sched.submit_batch(&arr).await.unwrap();
    let mut pe = JobDescription::new("sh").args(["-c", "test \"$NSLOTS\" = 3"]);
    pe.processes = Some(3);
    let pe_id = f.sched.submit_batch(&pe).await.unwrap();
    let tasks: Vec<hpc_core::JobId> = (1..=3).map(|t| format!("{id}.{t}").into()).collect();
    let mut all = tasks.clone();
    all.push(id.clone());
    all.push(pe_id.clone());
    let st = f.sched.wait(&all, hpc_core::WaitUntil::Done, WAIT, None).await.unwrap();
    let codes: Vec<Option<i32>> = st.iter().map(|s| s.as_ref().unwrap().exit_code).collect();
    assert_eq!(codes[..3], [Some(0), Some(1), Some(2)], "{st:?}");
    assert_eq!(st[3].as_ref().unwrap().state, JobState::Failed, "{st:?}");
    assert_eq!(st[4].as_ref().unwrap().state, JobState::Completed, "{st:?}");

    let jobs: Vec<JobDescription> = (0..20)
        .map(|i| JobDescription::new("sh").args(["-c", &format!("exit {}", i % 2)]))
        .collect();
    let before = f.sched.commands_run();
    let ids: Vec<_> =
        f.sched.submit_many(&jobs).await.unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(f.sched.commands_run() - before, 1, "20 jobs in one round trip");
    let st = f.sched.wait(&ids, hpc_core::WaitUntil::Done, WAIT, None).await.unwrap();
    for (i, s) in st.iter().enumerate() {
        assert_eq!(s.as_ref().unwrap().exit_code, Some((i % 2) as i32), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queues() {
    let f = fixture().await;
    assert_eq!(f.sched.queue_names().await.unwrap(), vec!["all.q".to_string()]);
    let q = f.sched.queue_statuses(&[]).await.unwrap();
    assert_eq!(q[0].name, "all.q");
    assert!(f.sched.queue_statuses(&["nosuch.q".into()]).await.unwrap_err().is_not_found());
    assert_eq!(f.sched.default_queue().await.unwrap(), None);
}
