//! [`Job`] and [`Allocation`]: one job's properties, actions, working
//! directory and output; waiting with backoff.

use std::time::Duration;

use hpc_core::{ByteStream, Error, Result};
use serde_json::Value;
use tokio::time::Instant;

use crate::client::{JobInput, upload_inputs};
use crate::resource::Properties;
use crate::state::{JobState, ResourceStatus};
use crate::storage::Storage;
use crate::transport::Transport;
use crate::url::last_segment;

/// How waiting polls: the first pause, growth factor and longest pause.
/// PyUNICORE sleeps 6 s between reads; short jobs here are seen finished
/// within tens of milliseconds, long ones cost one request every 2 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First pause.
    pub first: Duration,
    /// Each pause is the previous one times this.
    pub factor: f64,
    /// Longest pause.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(25), factor: 1.5, max: Duration::from_secs(2) }
    }
}

impl Backoff {
    pub(crate) fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor).min(self.max)
    }
}

/// A job's properties, typed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobProperties {
    /// State.
    pub status: JobState,
    /// The server's words about the state.
    pub status_message: String,
    /// Exit code, once known (the server sends it as text).
    pub exit_code: Option<i32>,
    /// Batch system queue (`None` for `N/A`).
    pub queue: Option<String>,
    /// Batch system id (`None` for `N/A`).
    pub batch_system_id: Option<String>,
    /// Job name (`None` for `N/A`).
    pub name: Option<String>,
    /// Submission time as the server wrote it.
    pub submission_time: Option<String>,
    /// Server log lines.
    pub log: Vec<String>,
    /// `BATCH`, `ON_LOGIN_NODE` or `ALLOCATE`.
    pub job_type: Option<String>,
    /// Everything, as sent.
    pub raw: Properties,
}

impl JobProperties {
    /// Reads the typed fields; a missing or unknown `status` is an error.
    pub fn from_properties(props: Properties) -> Result<Self> {
        let status: JobState = props.require_str("status")?.parse()?;
        let text =
            |k: &str| props.str(k).filter(|s| !s.is_empty() && *s != "N/A").map(str::to_owned);
        let exit_code = match props.get("exitCode") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Some(s.trim().parse::<i32>().map_err(|_| Error::Parse {
                    command: "job exitCode".into(),
                    reason: "not a number".into(),
                    line: s.clone(),
                    source: None,
                })?)
            }
            Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        };
        Ok(JobProperties {
            status,
            status_message: props.str("statusMessage").unwrap_or("").to_owned(),
            exit_code,
            queue: text("queue"),
            batch_system_id: text("batchSystemID"),
            name: text("name"),
            submission_time: text("submissionTime"),
            log: props
                .get("log")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            job_type: text("jobType"),
            raw: props,
        })
    }
}

/// A UNICORE job.
#[derive(Debug, Clone)]
pub struct Job {
    transport: Transport,
    url: String,
}

impl Job {
    /// The job at `url` (nothing is asked yet).
    pub fn new(transport: &Transport, url: &str) -> Self {
        Job { transport: transport.clone(), url: url.trim_end_matches('/').to_owned() }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its id (the last part of the URL).
    pub fn id(&self) -> &str {
        last_segment(&self.url)
    }

    /// The transport it uses.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Its properties as sent.
    pub async fn raw_properties(&self) -> Result<Properties> {
        Ok(Properties::new(&self.url, self.transport.get_json(&self.url).await?))
    }

    /// Its properties, typed.
    pub async fn properties(&self) -> Result<JobProperties> {
        JobProperties::from_properties(self.raw_properties().await?)
    }

    /// Its state.
    pub async fn status(&self) -> Result<JobState> {
        Ok(self.properties().await?.status)
    }

    async fn action(&self, name: &str) -> Result<()> {
        // The action URLs follow one pattern on every server version; asking
        // for the links first would cost a round trip per action.
        let url = format!("{}/actions/{name}", self.url);
        self.transport.post(&url, &Value::Object(Default::default())).await?;
        Ok(())
    }

    /// Starts a job held for client stage-in (a no-op once started).
    pub async fn start(&self) -> Result<()> {
        self.action("start").await
    }

    /// Aborts the job.
    pub async fn abort(&self) -> Result<()> {
        self.action("abort").await
    }

    /// Runs a finished job again.
    pub async fn restart(&self) -> Result<()> {
        self.action("restart").await
    }

    /// Deletes the job and its working directory.
    pub async fn delete(&self) -> Result<()> {
        self.transport.delete(&self.url).await
    }

    /// The batch system's details (`details` link).
    pub async fn details(&self) -> Result<Value> {
        let url = self.raw_properties().await?.link("details")?;
        self.transport.get_json(&url).await
    }

    /// The description as the server stored it (`submitted` link).
    pub async fn submitted(&self) -> Result<Value> {
        let url = self.raw_properties().await?.link("submitted")?;
        self.transport.get_json(&url).await
    }

    /// The working directory. While the job runs, waits until the storage is
    /// READY (INITIALIZING is waited for; ERROR and any other state is an error).
    pub async fn working_dir(&self) -> Result<Storage> {
        let props = self.properties().await?;
        let dir = Storage::new(&self.transport, &props.raw.link("workingDirectory")?);
        if !props.status.is_final() {
            dir.wait_ready(Duration::from_secs(120)).await?;
        }
        Ok(dir)
    }

    /// Waits until the job reaches `state` or a later one (SUCCESSFUL and
    /// FAILED count as reached for every target), polling with `backoff`;
    /// `timeout` gives a [`Error::Timeout`]. Returns the last properties.
    pub async fn wait(
        &self,
        state: JobState,
        timeout: Option<Duration>,
        backoff: Backoff,
    ) -> Result<JobProperties> {
        self.wait_with(state, timeout, backoff, |_| {}).await
    }

    /// [`wait`](Self::wait) calling `progress` after every poll.
    pub async fn wait_with(
        &self,
        state: JobState,
        timeout: Option<Duration>,
        backoff: Backoff,
        mut progress: impl FnMut(&JobProperties),
    ) -> Result<JobProperties> {
        if state == JobState::Undefined {
            return Err(Error::InvalidInput("cannot wait for state UNDEFINED".into()));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut pause = backoff.first;
        loop {
            let props = self.properties().await?;
            progress(&props);
            if props.status >= state || props.status.is_final() {
                return Ok(props);
            }
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::Timeout {
                        what: format!(
                            "waiting for job {} to become {state} (it is {})",
                            self.id(),
                            props.status
                        ),
                        after: timeout.unwrap_or_default(),
                    });
                }
                pause = pause.min(d - now);
            }
            tokio::time::sleep(pause).await;
            pause = backoff.next(pause);
        }
    }

    /// Waits until the job has finished.
    pub async fn wait_done(&self, timeout: Option<Duration>) -> Result<JobProperties> {
        self.wait(JobState::Successful, timeout, Backoff::default()).await
    }

    /// The job's standard output (the file `stdout` in its working directory), streamed.
    pub async fn stdout(&self) -> Result<ByteStream> {
        self.output("stdout").await
    }

    /// The job's standard error (the file `stderr` in its working directory), streamed.
    pub async fn stderr(&self) -> Result<ByteStream> {
        self.output("stderr").await
    }

    async fn output(&self, name: &str) -> Result<ByteStream> {
        let props = self.raw_properties().await?;
        let dir = Storage::new(&self.transport, &props.link("workingDirectory")?);
        dir.read(name, 0, None).await
    }

    /// The URL of the job's `forward-port` endpoint.
    pub async fn forwarding_url(&self) -> Result<String> {
        match self.raw_properties().await?.link("forwarding") {
            Ok(l) => Ok(l),
            Err(_) => Ok(format!("{}/forward-port", self.url)),
        }
    }
}

/// A batch allocation: jobs submitted into it run in its resources.
#[derive(Debug, Clone)]
pub struct Allocation {
    job: Job,
}

impl Allocation {
    /// The allocation that job `job` is.
    pub fn new(job: Job) -> Self {
        Allocation { job }
    }

    /// The allocation job itself.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Waits until the allocation runs with a real batch id (not `INTERACTIVE_...`).
    pub async fn wait_until_available(&self, timeout: Option<Duration>) -> Result<JobProperties> {
        let start = Instant::now();
        let backoff = Backoff::default();
        let mut pause = backoff.first;
        loop {
            let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
            let props = self.job.wait(JobState::Running, left, backoff).await?;
            if props.status.is_final() {
                return Err(Error::remote(
                    crate::error::SERVICE,
                    None,
                    format!(
                        "allocation {} ended ({}) before it became available",
                        self.job.id(),
                        props.status
                    ),
                ));
            }
            let pending =
                props.batch_system_id.as_deref().is_none_or(|id| id.starts_with("INTERACTIVE_"));
            if !pending {
                return Ok(props);
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Err(Error::Timeout {
                    what: format!("waiting for allocation {} to become available", self.job.id()),
                    after: timeout.unwrap_or_default(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = backoff.next(pause);
        }
    }

    /// Submits a job into the allocation, uploads `inputs` and starts it when
    /// it was held for them.
    pub async fn new_job(
        &self,
        description: &Value,
        inputs: &[JobInput],
        autostart: bool,
    ) -> Result<Job> {
        let mut desc = description.clone();
        let obj = desc.as_object_mut().ok_or_else(|| {
            Error::InvalidJobDescription("a job description is a JSON object".into())
        })?;
        if !inputs.is_empty() {
            obj.insert("haveClientStageIn".into(), Value::String("true".into()));
        }
        let held = obj.get("haveClientStageIn").and_then(Value::as_str) == Some("true");
        let url = self.job.transport.create(&self.job.url, &desc).await?;
        let job = Job::new(&self.job.transport, &url);
        upload_inputs(&job, inputs).await?;
        if autostart && held {
            job.start().await?;
        }
        Ok(job)
    }
}

/// Whether a storage's status lets it be used now; `Ok(false)`: wait.
pub(crate) fn storage_usable(status: Option<&str>) -> Result<bool> {
    match status.map(str::parse::<ResourceStatus>) {
        None => Ok(true),
        Some(Ok(ResourceStatus::Ready)) => Ok(true),
        Some(Ok(ResourceStatus::Initializing | ResourceStatus::Undefined)) => Ok(false),
        Some(Ok(other)) => Err(Error::remote(
            crate::error::SERVICE,
            None,
            format!("storage is {other}, not READY"),
        )),
        Some(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> Properties {
        Properties::new("https://h/S/rest/core/jobs/j1", v)
    }

    #[test]
    fn typed_job_properties() {
        let p = JobProperties::from_properties(props(serde_json::json!({
            "status": "SUCCESSFUL", "exitCode": "3", "queue": "N/A", "batchSystemID": "1234",
            "log": ["a", "b"], "statusMessage": ""
        })))
        .unwrap();
        assert_eq!((p.status, p.exit_code), (JobState::Successful, Some(3)));
        assert_eq!(p.queue, None);
        assert_eq!(p.batch_system_id.as_deref(), Some("1234"));
        assert_eq!(p.log.len(), 2);
        let e = JobProperties::from_properties(props(serde_json::json!({"status": "WEIRD"})))
            .unwrap_err();
        assert!(e.to_string().contains("unknown job state"), "{e}");
        let e = JobProperties::from_properties(props(serde_json::json!({}))).unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        let e = JobProperties::from_properties(props(
            serde_json::json!({"status": "FAILED", "exitCode": "x"}),
        ))
        .unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Parse);
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let b = Backoff::default();
        let mut d = b.first;
        for _ in 0..50 {
            d = b.next(d);
        }
        assert_eq!(d, b.max);
        assert!(storage_usable(Some("READY")).unwrap());
        assert!(!storage_usable(Some("INITIALIZING")).unwrap());
        assert!(storage_usable(Some("ERROR")).is_err());
        assert!(storage_usable(Some("???")).is_err());
    }
}
