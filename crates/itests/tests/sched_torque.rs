//! Torque adaptor against hpc-testkit's Torque stand-in (`cargo xtask services up
//! torque`): Torque itself cannot be installed here. (The conformance suite
//! runs in `sched_conformance.rs`.)

#[path = "sched_support/mod.rs"]
mod sched_support;

use std::time::Duration;

use hpc_core::{Error, JobDescription, JobState, Scheduler, SchedulerExt, WaitUntil};
use hpc_exec::{Executor, LocalExecutor};
use hpc_testkit::torque_standin::{Config, install};
use sched_adaptors::torque::TorqueScheduler;
use sched_support::torque::scheduler;

const WAIT: Option<Duration> = Some(Duration::from_secs(60));

struct Fixture {
    sched: TorqueScheduler,
    dir: tempfile::TempDir,
}

fn tempdir() -> tempfile::TempDir {
    sched_support::shared_tempdir("hpckit-torque-")
}

fn fixture() -> Fixture {
    Fixture { sched: scheduler(&sched_support::torque::bin()), dir: tempdir() }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_output_and_hostile_values() {
    let f = fixture();
    let wd = f.dir.path().join("we ird $x `y` 'q' \"d\" ,c:");
    std::fs::create_dir(&wd).unwrap();
    std::fs::set_permissions(&wd, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let wd = wd.to_str().unwrap().to_owned();
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
    assert!(id.as_str().ends_with(".standin.localdomain"), "{id}");
    let st = f.sched.wait_until_done(&id, WAIT).await.unwrap();
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(3)), "{st:?}");
    assert_eq!(st.name.as_deref(), Some("it's a \"job\" $x `y`"));
    let out = std::fs::read_to_string(format!("{wd}/out file.txt")).unwrap();
    assert_eq!(out, format!("{hostile}|{hostile}|{wd}"));
    assert_eq!(std::fs::read_to_string(format!("{wd}/err,file.txt")).unwrap(), "oops\n");

    let ok = f.sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    let st = f.sched.wait_until_done(&ok, WAIT).await.unwrap();
    assert_eq!((st.state, st.exit_code), (JobState::Completed, Some(0)), "{st:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exiting_is_running_and_walltime_kills() {
    let f = fixture();
    // The stand-in shows E for a moment after the job's end: never an error.
    let id = f.sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..100 {
        let st = f.sched.status(&id).await.unwrap();
        seen.push(st.raw_state.clone().unwrap_or_default());
        if st.is_done() {
            break;
        }
        assert_ne!(st.state, JobState::Failed, "{st:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(seen.last().map(String::as_str), Some("C"), "{seen:?}");
    let job = JobDescription::new("sleep").arg("30").max_runtime(Duration::from_secs(1));
    let id = f.sched.submit_batch(&job).await.unwrap();
    let st = f.sched.wait_until_done(&id, WAIT).await.unwrap();
    assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(-11)), "{st:?}");
    assert!(st.error.as_deref().unwrap_or("").contains("walltime"), "{st:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel() {
    let f = fixture();
    let id = f.sched.submit_batch(&JobDescription::new("sleep").arg("300")).await.unwrap();
    assert_eq!(f.sched.wait_until_running(&id, WAIT).await.unwrap().state, JobState::Running);
    f.sched.cancel(&id).await.unwrap();
    let st = f.sched.wait_until_done(&id, WAIT).await.unwrap();
    assert_eq!((st.state, st.signal), (JobState::Cancelled, Some(15)), "{st:?}");
    // Cancelling a completed job (qdel exit 170) is not an error.
    assert!(f.sched.cancel(&id).await.unwrap().is_done());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input() {
    let f = fixture();
    let e = f.sched.submit_batch(&JobDescription::new("true").queue("nosuch")).await.unwrap_err();
    match &e {
        Error::CommandFailed { command, stderr, exit_code } => {
            assert!(command.contains("qsub"), "{command}");
            assert!(stderr.contains("Unknown queue"), "{stderr}");
            assert_eq!(*exit_code, Some(170));
        }
        e => panic!("{e}"),
    }
    for id in ["999999.standin.localdomain", "999999", "garbage"] {
        assert!(f.sched.status(&id.into()).await.unwrap_err().is_not_found(), "{id}");
        assert!(f.sched.cancel(&id.into()).await.unwrap_err().is_not_found(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queues_and_many_jobs() {
    let f = fixture();
    assert_eq!(f.sched.default_queue().await.unwrap().as_deref(), Some("batch"));
    assert_eq!(f.sched.queue_names().await.unwrap(), ["batch", "short"]);
    let q = f.sched.queue_statuses(&["short".into()]).await.unwrap();
    assert_eq!(q[0].max_runtime, Some(Duration::from_secs(3600)));
    assert!(f.sched.queue_statuses(&["nosuch".into()]).await.unwrap_err().is_not_found());

    let jobs: Vec<JobDescription> = (0..20)
        .map(|i| JobDescription::new("sh").args(["-c", &format!("exit {}", i % 2)]))
        .collect();
    let before = f.sched.commands_run();
    let ids: Vec<_> =
        f.sched.submit_many(&jobs).await.unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(f.sched.commands_run() - before, 1, "20 jobs in one round trip");
    let before = f.sched.commands_run();
    let started = std::time::Instant::now();
    let st = f.sched.wait(&ids, WaitUntil::Done, WAIT, None).await.unwrap();
    for (i, s) in st.iter().enumerate() {
        assert_eq!(s.as_ref().unwrap().exit_code, Some((i % 2) as i32), "{s:?}");
    }
    // One qstat (plus at most one lookup of jobs that left it) per poll cycle
    // for all 20 jobs, and at most one cycle per poll interval (100 ms here),
    // however slow the machine is. Polling per job would make 20 per cycle.
    let queries = f.sched.commands_run() - before;
    let cycles = started.elapsed().as_secs_f64() / 0.1;
    assert!(queries <= 2 * (cycles as u64 + 2), "{queries} status queries for 20 jobs");
}

/// Torque up to 6.0 prints nothing at all without jobs and forgets finished
/// jobs at once (keep_completed 0): a vanished job is final, exit code unknown.
#[tokio::test(flavor = "multi_thread")]
async fn old_torque_without_keep_completed() {
    let torque = hpc_testkit::services::require("torque");
    let home = tempdir();
    let config = Config {
        version: "6.0".into(),
        keep_completed: 0,
        exiting_seconds: 0.0,
        ..Config::default()
    };
    let binary = std::path::Path::new(torque.var("HPCKIT_TORQUE_BIN")).join("torque-standin");
    let bin = install(home.path(), &binary, &config).unwrap();
    let sched = scheduler(bin.to_str().unwrap());
    assert!(sched.list_jobs(&[]).await.unwrap().is_empty());
    let id = sched.submit_batch(&JobDescription::new("true")).await.unwrap();
    let st = sched.wait_until_done(&id, WAIT).await.unwrap();
    assert_eq!((st.state, st.exit_code), (JobState::Failed, None), "{st:?}");
    assert!(st.error.as_deref().unwrap().contains("exit code unknown"), "{st:?}");
    // A job this client never saw is unknown, not "finished".
    let other = scheduler(bin.to_str().unwrap());
    assert!(other.status(&id).await.unwrap_err().is_not_found());
}

/// The stand-in's own outputs, byte for byte where Torque's are documented.
#[tokio::test(flavor = "multi_thread")]
async fn stand_in_prints_torques_formats() {
    use hpc_exec::Command;
    let torque = hpc_testkit::services::require("torque");
    let binary = std::path::Path::new(torque.var("HPCKIT_TORQUE_BIN")).join("torque-standin");
    let exec = LocalExecutor::new();
    for (version, empty) in [("6.1", "<?xml version=\"1.0\"?><Data></Data>\n"), ("6.0", "")] {
        let home = tempdir();
        let config = Config { version: version.into(), ..Config::default() };
        let bin = install(home.path(), &binary, &config).unwrap();
        // qsub writes default output files into its working directory, as Torque does.
        let run = |cmd: &str, args: &[&str]| {
            Command::new(bin.join(cmd)).args(args).current_dir(home.path())
        };
        let out = exec.run(&run("qstat", &["-x"])).await.unwrap();
        assert_eq!((out.status.code, out.stdout_text().as_ref()), (Some(0), empty), "{version}");
        let out = exec.run(&run("qdel", &["42.standin.localdomain"])).await.unwrap();
        assert_eq!(out.status.code, Some(153));
        assert_eq!(out.stderr_text(), "qdel: nonexistent job id: 42.standin.localdomain\n");
        let out = exec.run(&run("qstat", &["-x", "42"])).await.unwrap();
        assert_eq!(out.status.code, Some(153));
        assert_eq!(out.stderr_text(), "qstat: Unknown Job Id Error 42\n");
        let out = exec.run(&run("qsub", &["-q", "nosuch"]).stdin(&b"true\n"[..])).await.unwrap();
        assert_eq!(out.status.code, Some(170));
        assert_eq!(
            out.stderr_text(),
            "qsub: submit error (Unknown queue MSG=cannot locate queue)\n"
        );
        let script = "#!/bin/sh\n#PBS -N from_directive\n#PBS -l walltime=00:10:00\nexit 0\n";
        let out = exec.run(&run("qsub", &[]).stdin(script.as_bytes().to_vec())).await.unwrap();
        assert_eq!(out.stdout_text(), "1.standin.localdomain\n");
        let mut xml = String::new();
        for _ in 0..100 {
            xml = exec.run(&run("qstat", &["-x"])).await.unwrap().stdout_text().into_owned();
            if xml.contains("<job_state>C</job_state>") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            xml.contains(
                "<Job_Id>1.standin.localdomain</Job_Id><Job_Name>from_directive</Job_Name>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<walltime>00:10:00</walltime>"), "{xml}");
        assert!(xml.contains("<exit_status>0</exit_status>"), "{xml}");
        assert_eq!(xml.lines().count(), 1, "one line: {xml}");
        let out = exec.run(&run("qdel", &["1"])).await.unwrap();
        assert_eq!(out.status.code, Some(170));
        assert!(out.stderr_text().contains("invalid state for job - COMPLETE"), "{out:?}");
    }
}
