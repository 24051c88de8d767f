//! The Scheduler conformance suite: the same checks for every adaptor, each
//! its own trial (see [`crate::trials`]).
//!
//! Each check takes a [`SchedFixture`]: the scheduler under test, an
//! [`Executor`] on the host where its jobs run (to prepare input files and
//! read output files), a scratch directory there, and what to expect. A check
//! returns `Err` when an operation that should work fails and panics when a
//! result is wrong. Checks of optional operations (interactive jobs) need the
//! capability, and adaptors without it are checked to refuse the operation
//! instead; a check that does not apply is listed as skipped with the
//! capability named.
//!
//! A test binary with `harness = false` collects the trials of each adaptor:
//!
//! ```no_run
//! use std::sync::Arc;
//! use hpc_core::{Scheduler, SchedulerCapabilities};
//! use hpc_testkit::sched_conformance::{self, SchedFixture};
//! use hpc_testkit::trials::{make_fixture, run};
//! # fn open_scheduler() -> hpc_core::Result<Arc<dyn Scheduler>> {
//! #     Err(hpc_core::Error::InvalidInput("an example".into()))
//! # }
//! # fn capabilities() -> SchedulerCapabilities { SchedulerCapabilities::default() }
//!
//! fn main() {
//!     let make = make_fixture(|| async {
//!         let exec = Arc::new(hpc_exec::LocalExecutor::new());
//!         Ok(SchedFixture::new(open_scheduler()?, exec, "/tmp/sched-conf-1"))
//!     });
//!     run(sched_conformance::trials("mine", &capabilities(), make));
//! }
//! ```
//!
//! Every job a check submits is recorded; the fixture cancels those still
//! running when the check ends, whatever its outcome.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use hpc_core::error::NotFoundKind;
use hpc_core::{
    Error, ErrorKind, JobDescription, JobId, JobState, JobStatus, Result, Scheduler,
    SchedulerCapabilities, SchedulerExt, WaitUntil,
};
use hpc_exec::{Command, Executor};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::trials::{Capability, Check, Fixture, MakeFixture, Trial};

/// When a job whose program does not exist is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingExecutable {
    /// `submit` fails with `NotFound { kind: Executable }` (local, ssh).
    AtSubmit,
    /// The job is accepted and then fails with a non-zero exit code (batch systems).
    JobFails,
}

/// Everything a check needs.
pub struct SchedFixture {
    /// The scheduler under test.
    pub scheduler: Arc<dyn Scheduler>,
    /// Runs commands on the host where jobs run (prepares and reads files).
    pub executor: Arc<dyn Executor>,
    /// A unique absolute directory on that host; [`Fixture::prepare`] creates it.
    pub scratch: String,
    /// Queue for the checks' jobs (`None`: the default queue).
    pub queue: Option<String>,
    /// How long a short job may take from submission to its end.
    pub timeout: Duration,
    /// Jobs submitted at once by `many_jobs`.
    pub concurrent_jobs: usize,
    /// When a missing program is noticed.
    pub missing_executable: MissingExecutable,
    /// An id this scheduler has never given out.
    pub unknown_id: JobId,
    submitted: Mutex<Vec<JobId>>,
    /// Whatever must live as long as the fixture (a temporary directory).
    keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for SchedFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedFixture")
            .field("scheduler", &self.scheduler.info().location)
            .field("executor", &self.executor.target())
            .field("scratch", &self.scratch)
            .finish_non_exhaustive()
    }
}

impl SchedFixture {
    /// A fixture with the expectations of a batch system (missing programs
    /// fail the job).
    pub fn new(
        scheduler: Arc<dyn Scheduler>,
        executor: Arc<dyn Executor>,
        scratch: impl Into<String>,
    ) -> Self {
        SchedFixture {
            scheduler,
            executor,
            scratch: scratch.into(),
            queue: None,
            timeout: Duration::from_secs(60),
            concurrent_jobs: 50,
            missing_executable: MissingExecutable::JobFails,
            unknown_id: JobId::new("987654321"),
            submitted: Mutex::default(),
            keep: Vec::new(),
        }
    }

    /// Keep `guard` (a temporary directory, a service handle) alive as long
    /// as the fixture.
    pub fn keep(mut self, guard: impl Any + Send + Sync) -> Self {
        self.keep.push(Box::new(guard));
        self
    }

    /// The check's own directory `scratch/<name>` (created).
    pub async fn dir(&self, name: &str) -> Result<String> {
        let dir = format!("{}/{name}", self.scratch);
        self.executor.run_checked(&Command::new("mkdir").arg("-p").arg(&dir)).await?;
        Ok(dir)
    }

    /// A file's bytes on the execution host.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self.executor.run_checked(&Command::new("cat").arg(path)).await?.stdout)
    }

    /// Write a file on the execution host.
    pub async fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let cmd = Command::new("sh").args(["-c", "cat > \"$1\"", "sh", path]).stdin(data.to_vec());
        self.executor.run_checked(&cmd).await.map(drop)
    }

    /// A job running `script` with `sh -c`, in the fixture's queue.
    pub fn job(&self, script: &str) -> JobDescription {
        let mut job = JobDescription::new("/bin/sh").args(["-c", script]);
        job.queue.clone_from(&self.queue);
        job
    }

    /// Submit and remember the id (for the final clean-up).
    pub async fn submit(&self, job: &JobDescription) -> Result<JobId> {
        let id = self.scheduler.submit_batch(job).await?;
        self.remember(&id);
        Ok(id)
    }

    fn remember(&self, id: &JobId) {
        self.submitted.lock().unwrap_or_else(|e| e.into_inner()).push(id.clone());
    }

    /// Wait until `id` has finished; panics if it has not within the timeout.
    pub async fn done(&self, id: &JobId) -> Result<JobStatus> {
        let s = self.scheduler.wait_until_done(id, Some(self.timeout)).await?;
        assert!(s.is_done(), "job {id} not finished after {:?}: {s:?}", self.timeout);
        Ok(s)
    }

    /// Wait until `id` runs; panics if it has not within the timeout.
    pub async fn running(&self, id: &JobId) -> Result<JobStatus> {
        let s = self.scheduler.wait_until_running(id, Some(self.timeout)).await?;
        assert_eq!(s.state, JobState::Running, "job {id} not running: {s:?}");
        Ok(s)
    }

    /// Cancel every recorded job that has not finished.
    pub async fn clean_up(&self) {
        let ids = std::mem::take(&mut *self.submitted.lock().unwrap_or_else(|e| e.into_inner()));
        let Ok(statuses) = self.scheduler.statuses(&ids).await else { return };
        for s in statuses.into_iter().flatten().filter(|s| !s.is_done()) {
            let _ = self.scheduler.cancel(&s.id).await;
        }
    }
}

impl Fixture for SchedFixture {
    fn prepare(&self) -> BoxFuture<'_, Result<()>> {
        let mkdir = Command::new("mkdir").arg("-p").arg(&self.scratch);
        async move { self.executor.run_checked(&mkdir).await.map(drop) }.boxed()
    }

    fn finish(&self, passed: bool) -> BoxFuture<'_, ()> {
        async move {
            self.clean_up().await;
            // A failed check leaves its files for whoever reads the failure.
            if passed {
                let rm = Command::new("rm").arg("-rf").arg(&self.scratch);
                let _ = self.executor.run(&rm).await;
            }
        }
        .boxed()
    }
}

/// `submit_interactive`.
const INTERACTIVE: Capability<SchedulerCapabilities> =
    Capability { name: "submit_interactive", present: |c| c.submit_interactive };

/// No `submit_interactive`: the adaptor must refuse it.
const NO_INTERACTIVE: Capability<SchedulerCapabilities> =
    Capability { name: "no submit_interactive", present: |c| !c.submit_interactive };

macro_rules! checks {
    ($($name:ident $(needs $cap:ident)?),* $(,)?) => {
        /// Every check, in the order the trials list them.
        pub static CHECKS: &[Check<SchedFixture, SchedulerCapabilities>] = &[$(
            Check { name: stringify!($name), needs: &[$($cap)?], run: |fx| $name(fx).boxed() }
        ),*];
    };
}

checks!(
    exit_codes,
    output_files,
    relative_output_files,
    environment_values,
    working_directory_with_spaces,
    missing_executable,
    invalid_description,
    job_names,
    cancel,
    wait_timeout,
    wait_timeout_too_long,
    unknown_job_id,
    interactive_echo needs INTERACTIVE,
    interactive_refused needs NO_INTERACTIVE,
    queues,
    many_jobs,
);

/// The trials of the suite for one scheduler setup: `<suite>::<check>`, each
/// with a fixture from `make`, skipped where `caps` lack what it needs.
pub fn trials(
    suite: &str,
    caps: &SchedulerCapabilities,
    make: MakeFixture<SchedFixture>,
) -> Vec<Trial> {
    crate::trials::trials(suite, caps, CHECKS, make)
}

/// Exit code 0 gives Completed, a non-zero one Failed with that code.
pub async fn exit_codes(fx: &SchedFixture) -> Result<()> {
    let jobs = [fx.job("exit 0"), fx.job("exit 7")];
    let ids: Vec<JobId> =
        fx.scheduler.submit_many(&jobs).await?.into_iter().collect::<Result<_>>()?;
    ids.iter().for_each(|id| fx.remember(id));
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "two jobs got the same id");
    let ok = fx.done(&ids[0]).await?;
    assert_eq!((ok.state, ok.exit_code), (JobState::Completed, Some(0)), "{ok:?}");
    assert!(ok.succeeded());
    let bad = fx.done(&ids[1]).await?;
    assert_eq!((bad.state, bad.exit_code), (JobState::Failed, Some(7)), "{bad:?}");
    Ok(())
}

/// stdin is read from its file, stdout and stderr go to theirs (absolute paths).
pub async fn output_files(fx: &SchedFixture) -> Result<()> {
    let dir = fx.dir("output_files").await?;
    fx.write(&format!("{dir}/in.txt"), b"input line\n").await?;
    let job = fx
        .job("printf 'out\\n'; printf 'err\\n' >&2; cat")
        .stdin(format!("{dir}/in.txt"))
        .stdout(format!("{dir}/out.txt"))
        .stderr(format!("{dir}/err.txt"));
    let id = fx.submit(&job).await?;
    let s = fx.done(&id).await?;
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    assert_eq!(text(fx.read(&format!("{dir}/out.txt")).await?), "out\ninput line\n");
    assert_eq!(text(fx.read(&format!("{dir}/err.txt")).await?), "err\n");

    // One file for both streams keeps both.
    let job = fx.job("echo one; echo two >&2").stdout(format!("{dir}/both.txt"));
    let job = job.stderr(format!("{dir}/both.txt"));
    let id = fx.submit(&job).await?;
    fx.done(&id).await?;
    let both = text(fx.read(&format!("{dir}/both.txt")).await?);
    assert!(both.contains("one\n") && both.contains("two\n"), "{both:?}");
    Ok(())
}

/// Relative stdio paths are relative to the job's working directory.
pub async fn relative_output_files(fx: &SchedFixture) -> Result<()> {
    let dir = fx.dir("relative_output_files").await?;
    fx.write(&format!("{dir}/in.txt"), b"relative\n").await?;
    let job = fx
        .job("cat; echo e >&2")
        .working_directory(&dir)
        .stdin("in.txt")
        .stdout("out.txt")
        .stderr("err.txt");
    let id = fx.submit(&job).await?;
    let s = fx.done(&id).await?;
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    assert_eq!(text(fx.read(&format!("{dir}/out.txt")).await?), "relative\n");
    assert_eq!(text(fx.read(&format!("{dir}/err.txt")).await?), "e\n");
    Ok(())
}

/// Values with quotes, spaces, `$`, backticks, backslashes, commas, `|`,
/// `;`, a leading dash and a newline arrive byte for byte.
pub async fn environment_values(fx: &SchedFixture) -> Result<()> {
    let dir = fx.dir("environment_values").await?;
    let values: BTreeMap<&str, &str> = [
        ("HPCKIT_Q1", "it's \"quoted\""),
        ("HPCKIT_Q2", "  two  spaces  "),
        ("HPCKIT_Q3", "$HOME ${PATH} $(id) `id`"),
        ("HPCKIT_Q4", "back\\slash, comma; semi | pipe & amp * ?"),
        ("HPCKIT_Q5", "-n"),
        ("HPCKIT_Q6", "line one\nline two"),
        ("HPCKIT_Q7", ""),
        ("HPCKIT_Q8", "ünïcödé €"),
    ]
    .into_iter()
    .collect();
    let script: String = values.keys().map(|k| format!("printf '%s\\0' \"${k}\"; ")).collect();
    let mut job = fx.job(&script).stdout(format!("{dir}/env.out"));
    for (k, v) in &values {
        job = job.env(*k, *v);
    }
    let id = fx.submit(&job).await?;
    let s = fx.done(&id).await?;
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    let out = fx.read(&format!("{dir}/env.out")).await?;
    let got: Vec<String> =
        out.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    let want: Vec<String> =
        values.values().map(|v| (*v).to_owned()).chain([String::new()]).collect();
    assert_eq!(got, want);
    Ok(())
}

/// A working directory with spaces, quotes and `$` in its name.
pub async fn working_directory_with_spaces(fx: &SchedFixture) -> Result<()> {
    let base = fx.dir("working_directory_with_spaces").await?;
    let dir = format!("{base}/work dir 'q' $x");
    fx.executor.run_checked(&Command::new("mkdir").arg("-p").arg(&dir)).await?;
    let physical = fx
        .executor
        .run_checked(&Command::new("pwd").arg("-P").current_dir(&dir))
        .await?
        .stdout_text()
        .trim_end()
        .to_owned();
    let job = fx.job("pwd -P").working_directory(&dir).stdout(format!("{base}/pwd.out"));
    let id = fx.submit(&job).await?;
    let s = fx.done(&id).await?;
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    assert_eq!(text(fx.read(&format!("{base}/pwd.out")).await?).trim_end(), physical);
    Ok(())
}

/// A program that does not exist is refused at submit time or fails the job.
pub async fn missing_executable(fx: &SchedFixture) -> Result<()> {
    let mut job = JobDescription::new("/nonexistent/hpckit-no-such-program");
    job.queue.clone_from(&fx.queue);
    match fx.missing_executable {
        MissingExecutable::AtSubmit => {
            let e = fx.submit(&job).await.expect_err("submit of a missing program succeeded");
            assert!(
                matches!(e, Error::NotFound { kind: NotFoundKind::Executable, .. }),
                "expected executable not found, got: {e}"
            );
            assert!(e.to_string().contains("hpckit-no-such-program"), "{e}");
        }
        MissingExecutable::JobFails => {
            let id = fx.submit(&job).await?;
            let s = fx.done(&id).await?;
            assert_eq!(s.state, JobState::Failed, "{s:?}");
            assert_ne!(s.exit_code, Some(0), "{s:?}");
        }
    }
    Ok(())
}

/// Descriptions that cannot run are refused before anything is sent.
pub async fn invalid_description(fx: &SchedFixture) -> Result<()> {
    for job in [JobDescription::new(""), fx.job("true").env("BAD NAME", "x")] {
        let e = fx.submit(&job).await.expect_err("an invalid description was accepted");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    Ok(())
}

/// Names with spaces, quotes, `|` and `$` survive and do not break status parsing.
pub async fn job_names(fx: &SchedFixture) -> Result<()> {
    let name = "it's a \"job\" | with $pecial chars";
    let id = fx.submit(&fx.job("sleep 300").name(name)).await?;
    let s = fx.running(&id).await?;
    assert_eq!(s.name.as_deref(), Some(name), "{s:?}");
    let listed = fx.scheduler.list_jobs(&[]).await?;
    let mine = listed.iter().find(|j| j.id == id);
    let mine = mine.unwrap_or_else(|| panic!("running job {id} missing from list_jobs"));
    assert_eq!(mine.state, JobState::Running, "{mine:?}");
    assert_eq!(mine.name.as_deref(), Some(name), "{mine:?}");
    fx.scheduler.cancel(&id).await?;
    Ok(())
}

/// A cancelled job ends as Cancelled; cancelling it again is not an error.
pub async fn cancel(fx: &SchedFixture) -> Result<()> {
    let id = fx.submit(&fx.job("sleep 300")).await?;
    fx.running(&id).await?;
    fx.scheduler.cancel(&id).await?;
    let s = fx.done(&id).await?;
    assert_eq!(s.state, JobState::Cancelled, "{s:?}");
    let again = fx.scheduler.cancel(&id).await?;
    assert_eq!(again.state, JobState::Cancelled, "{again:?}");
    Ok(())
}

/// Waiting past the timeout returns the job's current, unfinished status.
pub async fn wait_timeout(fx: &SchedFixture) -> Result<()> {
    let id = fx.submit(&fx.job("sleep 300")).await?;
    let s = fx.scheduler.wait_until_done(&id, Some(Duration::from_secs(1))).await?;
    assert!(!s.is_done(), "{s:?}");
    assert_eq!(s.id, id);
    fx.scheduler.cancel(&id).await?;
    Ok(())
}

/// A timeout too long for a deadline (`Duration::MAX`, as a library caller
/// may pass) means no deadline: the wait ends when the job does.
pub async fn wait_timeout_too_long(fx: &SchedFixture) -> Result<()> {
    let id = fx.submit(&fx.job("exit 0")).await?;
    let s = fx.scheduler.wait_until_done(&id, Some(Duration::MAX)).await?;
    assert!(s.is_done(), "{s:?}");
    let s = fx.scheduler.wait_until_running(&id, Some(Duration::MAX)).await?;
    assert_eq!(s.id, id);
    Ok(())
}

/// An id the scheduler never gave out is NotFound everywhere, also inside a batch.
pub async fn unknown_job_id(fx: &SchedFixture) -> Result<()> {
    let unknown = &fx.unknown_id;
    let is_job_not_found = |e: &Error| matches!(e, Error::NotFound { kind: NotFoundKind::Job, .. });
    let e = fx.scheduler.status(unknown).await.expect_err("status of an unknown job");
    assert!(is_job_not_found(&e), "{e}");
    let e = fx.scheduler.cancel(unknown).await.expect_err("cancel of an unknown job");
    assert!(is_job_not_found(&e), "{e}");

    let known = fx.submit(&fx.job("true")).await?;
    let both = fx.scheduler.statuses(&[known.clone(), unknown.clone()]).await?;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].as_ref().map(|s| s.id.clone()).ok(), Some(known.clone()));
    assert!(both[1].as_ref().is_err_and(is_job_not_found), "{:?}", both[1]);
    let waited = fx
        .scheduler
        .wait(&[known, unknown.clone()], WaitUntil::Done, Some(fx.timeout), None)
        .await?;
    assert!(waited[0].as_ref().is_ok_and(|s| s.is_done()), "{:?}", waited[0]);
    assert!(waited[1].as_ref().is_err_and(is_job_not_found), "{:?}", waited[1]);
    Ok(())
}

/// Adaptors without interactive jobs refuse them with Unsupported.
pub async fn interactive_refused(fx: &SchedFixture) -> Result<()> {
    let job = fx.job("while read -r line; do echo \"got $line\"; done; echo bye >&2; exit 4");
    let e = fx.scheduler.submit_interactive(&job).await.expect_err("interactive accepted");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    Ok(())
}

/// Interactive jobs echo their input and report their exit code.
pub async fn interactive_echo(fx: &SchedFixture) -> Result<()> {
    let job = fx.job("while read -r line; do echo \"got $line\"; done; echo bye >&2; exit 4");
    let hpc_core::InteractiveJob { id, mut stdin, mut stdout, mut stderr } =
        fx.scheduler.submit_interactive(&job).await?;
    fx.remember(&id);
    let mut lines = BufReader::new(&mut stdout).lines();
    for word in ["hello", "it's $HOME"] {
        stdin.write_all(format!("{word}\n").as_bytes()).await.map_err(io("stdin"))?;
        stdin.flush().await.map_err(io("stdin"))?;
        let line = tokio::time::timeout(fx.timeout, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no echo for {word:?} within {:?}", fx.timeout))
            .map_err(io("stdout"))?;
        assert_eq!(line.as_deref(), Some(format!("got {word}").as_str()));
    }
    // Dropping stdin is the portable end-of-file (`shutdown` may only flush).
    drop(stdin);
    let rest = tokio::time::timeout(fx.timeout, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("no end of output within {:?} after end of input", fx.timeout))
        .map_err(io("stdout"))?;
    assert_eq!(rest, None, "output after end of input");
    let mut err = String::new();
    stderr.read_to_string(&mut err).await.map_err(io("stderr"))?;
    assert_eq!(err, "bye\n");
    let s = fx.done(&id).await?;
    assert_eq!((s.state, s.exit_code), (JobState::Failed, Some(4)), "{s:?}");
    Ok(())
}

/// Queue names, the default queue and queue statuses agree; unknown queues are errors.
pub async fn queues(fx: &SchedFixture) -> Result<()> {
    let names = fx.scheduler.queue_names().await?;
    assert!(!names.is_empty(), "no queues");
    if let Some(default) = fx.scheduler.default_queue().await? {
        assert!(names.contains(&default), "default {default:?} not in {names:?}");
    }
    let all = fx.scheduler.queue_statuses(&[]).await?;
    for n in &names {
        assert!(all.iter().any(|q| &q.name == n), "no status for queue {n:?}: {all:?}");
    }
    let one = fx.scheduler.queue_statuses(std::slice::from_ref(&names[0])).await?;
    assert_eq!(one.iter().map(|q| &q.name).collect::<Vec<_>>(), vec![&names[0]]);
    let bogus = "hpckit-no-such-queue".to_owned();
    let e =
        fx.scheduler.queue_statuses(std::slice::from_ref(&bogus)).await.expect_err("unknown queue");
    assert!(e.is_not_found(), "{e}");
    let e = fx.submit(&fx.job("true").queue(bogus)).await.expect_err("submit to unknown queue");
    assert!(e.to_string().contains("hpckit-no-such-queue"), "{e}");
    Ok(())
}

/// Many jobs at once: distinct ids, all finish, each wrote its own output.
pub async fn many_jobs(fx: &SchedFixture) -> Result<()> {
    let dir = fx.dir("many_jobs").await?;
    let n = fx.concurrent_jobs;
    let jobs: Vec<JobDescription> = (0..n)
        .map(|i| {
            fx.job(&format!("echo {i}; sleep 1"))
                .name(format!("many {i}"))
                .stdout(format!("{dir}/{i}.out"))
        })
        .collect();
    let ids: Vec<JobId> =
        fx.scheduler.submit_many(&jobs).await?.into_iter().collect::<Result<_>>()?;
    ids.iter().for_each(|id| fx.remember(id));
    let distinct: std::collections::BTreeSet<&JobId> = ids.iter().collect();
    assert_eq!(distinct.len(), n, "duplicate job ids: {ids:?}");
    let limit = fx.timeout * 3;
    let done = fx.scheduler.wait(&ids, WaitUntil::Done, Some(limit), None).await?;
    assert_eq!(done.len(), n);
    for (i, (id, s)) in ids.iter().zip(&done).enumerate() {
        let s = match s {
            Ok(s) => s,
            Err(e) => panic!("job {id}: {e}"),
        };
        assert_eq!(&s.id, id, "statuses out of order");
        assert_eq!(s.state, JobState::Completed, "job {i}: {s:?}");
        assert_eq!(text(fx.read(&format!("{dir}/{i}.out")).await?), format!("{i}\n"));
    }
    Ok(())
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io(format!("interactive job {what}"), e)
}
