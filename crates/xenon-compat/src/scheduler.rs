//! `SchedulerService`: Xenon's scheduler RPCs over `hpc_core::Scheduler`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use hpckit::core::{JobDescription, JobId, JobPath, JobState, JobStatus, QueueStatus};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::adaptors::SCHEDULERS;
use crate::errors::XenonError;
use crate::proto;
use crate::proto::scheduler_service_server::SchedulerService;
use crate::state::{SchedulerEntry, State};

/// Xenon's default job runtime in minutes (`getDefaultRuntime`).
const DEFAULT_RUNTIME_MINUTES: u32 = 15;

/// The `SchedulerService` half of the server.
#[derive(Debug, Clone)]
pub struct SchedulerServer {
    pub(crate) state: Arc<State>,
}

type Reply<T> = Result<Response<T>, Status>;

impl SchedulerServer {
    fn entry(&self, s: Option<&proto::Scheduler>) -> Result<Arc<SchedulerEntry>, XenonError> {
        let s = s.ok_or_else(|| XenonError::missing("scheduler"))?;
        self.state.schedulers.get(&s.id)
    }
}

fn fail(e: &SchedulerEntry) -> impl Fn(hpckit::Error) -> XenonError + '_ {
    move |err| XenonError::from_hpckit(e.adaptor, &err)
}

fn job_id(job: Option<&proto::Job>) -> Result<JobId, XenonError> {
    let job = job.ok_or_else(|| XenonError::missing("job"))?;
    if job.id.is_empty() {
        return Err(XenonError::missing("job id"));
    }
    Ok(JobId::from(job.id.as_str()))
}

fn unsupported_description(adaptor: &str, what: String) -> XenonError {
    XenonError::new(Code::Unimplemented, "UnsupportedJobDescriptionException", adaptor, what)
}

/// Xenon's job description as hpckit's (zero means "not set", as proto3 cannot tell).
pub(crate) fn description(
    adaptor: &str,
    d: Option<proto::JobDescription>,
) -> Result<JobDescription, XenonError> {
    let d = d.ok_or_else(|| XenonError::missing("description"))?;
    if d.executable.is_empty() {
        return Err(XenonError::new(
            Code::InvalidArgument,
            "IncompleteJobDescriptionException",
            adaptor,
            "Executable missing in JobDescription!",
        ));
    }
    if !(d.start_time.is_empty() || d.start_time == "now") {
        return Err(unsupported_description(
            adaptor,
            format!("start time {:?} (only \"now\")", d.start_time),
        ));
    }
    if d.temp_space > 0 {
        return Err(unsupported_description(adaptor, "temp_space".into()));
    }
    let path = |s: String| Some(s).filter(|s| !s.is_empty()).map(JobPath::new);
    let nonzero = |n: u32| Some(n).filter(|n| *n > 0);
    let mut j = JobDescription::new(d.executable);
    j.arguments = d.arguments;
    j.working_directory = path(d.working_directory);
    j.environment = d.environment.into_iter().collect();
    j.queue = Some(d.queue_name).filter(|q| !q.is_empty());
    j.max_runtime = nonzero(d.max_runtime).map(|m| Duration::from_secs(u64::from(m) * 60));
    j.stdin = path(d.stdin);
    j.stdout = path(d.stdout);
    j.stderr = path(d.stderr);
    j.name = Some(d.name).filter(|n| !n.is_empty());
    j.memory_mb = nonzero(d.max_memory).map(u64::from);
    j.scheduler_arguments = d.scheduler_arguments;
    let tasks = nonzero(d.tasks).unwrap_or(1);
    if tasks > 1 {
        j.processes = Some(tasks);
    }
    j.processes_per_node = nonzero(d.tasks_per_node);
    j.cores_per_task = nonzero(d.cores_per_task).filter(|c| *c > 1);
    // Xenon starts the executable once per job unless asked to start it per task.
    j.start_single_process = !d.start_per_task;
    j.validate().map_err(|e| XenonError::from_hpckit(adaptor, &e))?;
    Ok(j)
}

/// Xenon's name of a state where the scheduler gave none of its own.
fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Pending => "PENDING",
        JobState::Running => "RUNNING",
        JobState::Suspended => "SUSPENDED",
        JobState::Completed => "DONE",
        JobState::Failed => "FAILED",
        JobState::Cancelled => "KILLED",
        _ => "UNKNOWN",
    }
}

/// hpckit's job status as Xenon's.
pub(crate) fn job_status(s: &JobStatus) -> proto::JobStatus {
    use proto::job_status::ErrorType;
    // A non-zero exit code is an answer, not an error (Xenon reports none); a job
    // killed, cancelled or lost without one is.
    let (error_type, error_message) = match s.state {
        JobState::Cancelled => {
            (ErrorType::Cancelled, s.error.clone().unwrap_or_else(|| "Job cancelled".into()))
        }
        JobState::Failed if s.exit_code.is_none() || s.signal.is_some() => (
            ErrorType::Xenon,
            s.error.clone().unwrap_or_else(|| match s.signal {
                Some(sig) => format!("Job killed by signal {sig}"),
                None => "Job failed".into(),
            }),
        ),
        _ => (ErrorType::None, String::new()),
    };
    let mut info: HashMap<String, String> =
        s.info.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(q) = &s.queue {
        info.entry("queue".into()).or_insert_with(|| q.clone());
    }
    proto::JobStatus {
        job: Some(proto::Job { id: s.id.to_string() }),
        state: s.raw_state.clone().unwrap_or_else(|| state_name(s.state).into()),
        running: s.state == JobState::Running,
        done: s.is_done(),
        scheduler_specific_information: info,
        exit_code: s.exit_code.or(s.signal.map(|sig| 128 + sig)).unwrap_or(0),
        error_message,
        error_type: error_type as i32,
        name: s.name.clone().unwrap_or_default(),
    }
}

/// The status Xenon's `getJobStatuses` gives a job it does not know (no RPC error).
fn failed_status(id: &JobId, e: &XenonError) -> proto::JobStatus {
    use proto::job_status::ErrorType;
    let error_type = match e.class {
        "NoSuchJobException" => ErrorType::NotFound,
        "NotConnectedException" => ErrorType::NotConnected,
        _ => ErrorType::Xenon,
    };
    proto::JobStatus {
        job: Some(proto::Job { id: id.to_string() }),
        state: "UNKNOWN".into(),
        done: true,
        error_message: e.message.clone(),
        error_type: error_type as i32,
        ..Default::default()
    }
}

fn queue_status(q: &QueueStatus) -> proto::QueueStatus {
    let mut info: HashMap<String, String> =
        q.info.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            info.entry(k.into()).or_insert(v);
        }
    };
    put("state", q.state.clone());
    put("running_jobs", q.running_jobs.map(|n| n.to_string()));
    put("pending_jobs", q.pending_jobs.map(|n| n.to_string()));
    put("nodes", q.nodes.map(|n| n.to_string()));
    put("max_runtime_minutes", q.max_runtime.map(|d| (d.as_secs() / 60).to_string()));
    put("default", Some(q.is_default.to_string()));
    proto::QueueStatus {
        name: q.name.clone(),
        scheduler_specific_information: info,
        ..Default::default()
    }
}

/// Xenon's wait timeout: milliseconds, 0 waits as long as it takes.
fn timeout(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl SchedulerService for SchedulerServer {
    async fn get_adaptor_descriptions(
        &self,
        _: Request<proto::Empty>,
    ) -> Reply<proto::SchedulerAdaptorDescriptions> {
        Ok(Response::new(proto::SchedulerAdaptorDescriptions {
            descriptions: SCHEDULERS.iter().map(|a| a.describe()).collect(),
        }))
    }

    async fn get_adaptor_names(&self, _: Request<proto::Empty>) -> Reply<proto::AdaptorNames> {
        Ok(Response::new(proto::AdaptorNames {
            name: SCHEDULERS.iter().map(|a| a.name.into()).collect(),
        }))
    }

    async fn get_adaptor_description(
        &self,
        r: Request<proto::AdaptorName>,
    ) -> Reply<proto::SchedulerAdaptorDescription> {
        Ok(Response::new(crate::adaptors::scheduler(&r.get_ref().name)?.describe()))
    }

    async fn create(&self, r: Request<proto::CreateSchedulerRequest>) -> Reply<proto::Scheduler> {
        let r = r.into_inner();
        let e = self
            .state
            .create_scheduler(&r.adaptor, &r.location, r.properties, r.credential)
            .await?;
        Ok(Response::new(proto::Scheduler { id: e.id.clone() }))
    }

    async fn get_adaptor_name(&self, r: Request<proto::Scheduler>) -> Reply<proto::AdaptorName> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::AdaptorName { name: e.adaptor.into() }))
    }

    async fn get_location(&self, r: Request<proto::Scheduler>) -> Reply<proto::Location> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::Location { location: e.location.clone() }))
    }

    async fn get_credential(
        &self,
        r: Request<proto::Scheduler>,
    ) -> Reply<proto::GetCredentialResponse> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::GetCredentialResponse { credential: e.credential.clone() }))
    }

    async fn get_properties(&self, r: Request<proto::Scheduler>) -> Reply<proto::Properties> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::Properties { properties: e.properties.clone() }))
    }

    async fn submit_batch_job(
        &self,
        r: Request<proto::SubmitBatchJobRequest>,
    ) -> Reply<proto::Job> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let desc = description(e.adaptor, r.description)?;
        let id = e.scheduler.submit_batch(&desc).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Job { id: id.to_string() }))
    }

    type submitInteractiveJobStream = BoxStream<proto::SubmitInteractiveJobResponse>;

    async fn submit_interactive_job(
        &self,
        r: Request<Streaming<proto::SubmitInteractiveJobRequest>>,
    ) -> Reply<Self::submitInteractiveJobStream> {
        let mut input = r.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| XenonError::missing("first message (scheduler and description)"))?;
        let e = self.entry(first.scheduler.as_ref())?;
        let desc = description(e.adaptor, first.description)?;
        let job = e.scheduler.submit_interactive(&desc).await.map_err(fail(&e))?;
        Ok(Response::new(Box::pin(crate::interactive::run(
            Arc::clone(&e.scheduler),
            job,
            first.stdin,
            input,
        ))))
    }

    async fn get_queue_names(&self, r: Request<proto::Scheduler>) -> Reply<proto::Queues> {
        let e = self.entry(Some(r.get_ref()))?;
        let name = e.scheduler.queue_names().await.map_err(fail(&e))?;
        Ok(Response::new(proto::Queues { name }))
    }

    async fn get_default_queue_name(&self, r: Request<proto::Scheduler>) -> Reply<proto::Queue> {
        let e = self.entry(Some(r.get_ref()))?;
        let name = e.scheduler.default_queue().await.map_err(fail(&e))?.unwrap_or_default();
        Ok(Response::new(proto::Queue { name }))
    }

    async fn get_jobs(&self, r: Request<proto::SchedulerAndQueues>) -> Reply<proto::Jobs> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let jobs = e.scheduler.list_jobs(&r.queues).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Jobs {
            jobs: jobs.iter().map(|j| proto::Job { id: j.id.to_string() }).collect(),
        }))
    }

    async fn get_job_status(&self, r: Request<proto::JobRequest>) -> Reply<proto::JobStatus> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let id = job_id(r.job.as_ref())?;
        let mut all = e.scheduler.statuses(std::slice::from_ref(&id)).await.map_err(fail(&e))?;
        let status = all
            .pop()
            .unwrap_or_else(|| Err(hpckit::Error::job_not_found(&id)))
            .map_err(fail(&e))?;
        Ok(Response::new(job_status(&status)))
    }

    async fn get_job_statuses(
        &self,
        r: Request<proto::GetJobStatusesRequest>,
    ) -> Reply<proto::GetJobStatusesResponse> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let ids: Vec<JobId> = r.jobs.iter().map(|j| JobId::from(j.id.as_str())).collect();
        // One scheduler query for all of them (hpckit batches status calls).
        let all = e.scheduler.statuses(&ids).await.map_err(fail(&e))?;
        let statuses = hpckit::core::scheduler::answer_each(&ids, all)
            .iter()
            .zip(&ids)
            .map(|(s, id)| match s {
                Ok(s) => job_status(s),
                Err(err) => failed_status(id, &XenonError::from_hpckit(e.adaptor, err)),
            })
            .collect();
        Ok(Response::new(proto::GetJobStatusesResponse { statuses }))
    }

    async fn get_queue_status(
        &self,
        r: Request<proto::GetQueueStatusRequest>,
    ) -> Reply<proto::QueueStatus> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let all =
            e.scheduler.queue_statuses(std::slice::from_ref(&r.queue)).await.map_err(fail(&e))?;
        let q = all.into_iter().find(|q| q.name == r.queue).ok_or_else(|| {
            XenonError::from_hpckit(
                e.adaptor,
                &hpckit::Error::NotFound {
                    kind: hpckit::core::NotFoundKind::Queue,
                    name: r.queue.clone(),
                },
            )
        })?;
        Ok(Response::new(queue_status(&q)))
    }

    async fn get_queue_statuses(
        &self,
        r: Request<proto::SchedulerAndQueues>,
    ) -> Reply<proto::QueueStatuses> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let all = e.scheduler.queue_statuses(&r.queues).await.map_err(fail(&e))?;
        Ok(Response::new(proto::QueueStatuses { statuses: all.iter().map(queue_status).collect() }))
    }

    async fn wait_until_done(&self, r: Request<proto::WaitRequest>) -> Reply<proto::JobStatus> {
        self.wait(r.into_inner(), hpckit::WaitUntil::Done).await
    }

    async fn wait_until_running(&self, r: Request<proto::WaitRequest>) -> Reply<proto::JobStatus> {
        self.wait(r.into_inner(), hpckit::WaitUntil::Running).await
    }

    async fn is_open(&self, r: Request<proto::Scheduler>) -> Reply<proto::Is> {
        Ok(Response::new(proto::Is { value: self.state.schedulers.contains(&r.get_ref().id) }))
    }

    async fn cancel_job(&self, r: Request<proto::JobRequest>) -> Reply<proto::JobStatus> {
        let r = r.into_inner();
        let e = self.entry(r.scheduler.as_ref())?;
        let id = job_id(r.job.as_ref())?;
        let status = e.scheduler.cancel(&id).await.map_err(fail(&e))?;
        Ok(Response::new(job_status(&status)))
    }

    async fn get_default_runtime(
        &self,
        r: Request<proto::Scheduler>,
    ) -> Reply<proto::GetDefaultRuntimeResponse> {
        self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::GetDefaultRuntimeResponse { value: DEFAULT_RUNTIME_MINUTES }))
    }

    async fn get_file_system(&self, r: Request<proto::Scheduler>) -> Reply<proto::FileSystem> {
        let e = self.entry(Some(r.get_ref()))?;
        let id = self.state.filesystem_of(&e).await?;
        Ok(Response::new(proto::FileSystem { id }))
    }

    async fn close(&self, r: Request<proto::Scheduler>) -> Reply<proto::Empty> {
        self.state.schedulers.remove(&r.get_ref().id)?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn local_scheduler(&self, _: Request<proto::Empty>) -> Reply<proto::Scheduler> {
        let existing = self
            .state
            .schedulers
            .find(|s| s.adaptor == "local" && s.location.is_empty() && s.properties.is_empty());
        let id = match existing.first() {
            Some(e) => e.id.clone(),
            None => {
                self.state.create_scheduler("local", "", HashMap::new(), None).await?.id.clone()
            }
        };
        Ok(Response::new(proto::Scheduler { id }))
    }

    async fn list_schedulers(&self, _: Request<proto::Empty>) -> Reply<proto::Schedulers> {
        let schedulers =
            self.state.schedulers.ids().into_iter().map(|id| proto::Scheduler { id }).collect();
        Ok(Response::new(proto::Schedulers { schedulers }))
    }
}

impl SchedulerServer {
    async fn wait(
        &self,
        r: proto::WaitRequest,
        until: hpckit::WaitUntil,
    ) -> Reply<proto::JobStatus> {
        let e = self.entry(r.scheduler.as_ref())?;
        let id = job_id(r.job.as_ref())?;
        let mut all = e
            .scheduler
            .wait(std::slice::from_ref(&id), until, timeout(r.timeout), None)
            .await
            .map_err(fail(&e))?;
        let status = all
            .pop()
            .unwrap_or_else(|| Err(hpckit::Error::job_not_found(&id)))
            .map_err(fail(&e))?;
        Ok(Response::new(job_status(&status)))
    }
}
