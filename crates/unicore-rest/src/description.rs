//! A typed UNICORE job description (PyUNICORE's `helpers.jobs.Description`),
//! serialised with the server's key names. Anything not covered has its way
//! in through [`JobDescription::extra`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// How a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobType {
    /// Through the batch system (`BATCH`).
    #[serde(rename = "BATCH")]
    Batch,
    /// Directly on a login node (`ON_LOGIN_NODE`).
    #[serde(rename = "ON_LOGIN_NODE")]
    OnLoginNode,
    /// A raw batch script (`RAW`, with `BSS file`).
    #[serde(rename = "RAW")]
    Raw,
    /// A batch allocation that other jobs can run in (`ALLOCATE`).
    #[serde(rename = "ALLOCATE")]
    Allocate,
}

/// Resource requests (`Resources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Resources {
    /// Wall time, e.g. `3600`, `30min`, `2h`, `1d`.
    #[serde(rename = "Runtime", skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Queue or partition.
    #[serde(rename = "Queue", skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Nodes.
    #[serde(rename = "Nodes", skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// CPUs in total.
    #[serde(rename = "TotalCPUs", skip_serializing_if = "Option::is_none")]
    pub total_cpus: Option<u32>,
    /// CPUs per node.
    #[serde(rename = "CPUsPerNode", skip_serializing_if = "Option::is_none")]
    pub cpus_per_node: Option<u32>,
    /// GPUs per node.
    #[serde(rename = "GPUsPerNode", skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Memory per node, e.g. `4G`.
    #[serde(rename = "Memory", skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Advance reservation.
    #[serde(rename = "Reservation", skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// Node constraints.
    #[serde(rename = "NodeConstraints", skip_serializing_if = "Option::is_none")]
    pub node_constraints: Option<String>,
    /// Quality of service.
    #[serde(rename = "QoS", skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// Exclusive nodes (`"true"`).
    #[serde(rename = "Exclusive", skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<String>,
    /// Project to charge.
    #[serde(rename = "Project", skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A file the server fetches before the job starts (`Imports`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Import {
    /// Source URL (`https://...`, `UFTP:...`, `inline://dummy`).
    #[serde(rename = "From")]
    pub from: String,
    /// Path in the working directory.
    #[serde(rename = "To")]
    pub to: String,
    /// Inline content (with `From: inline://dummy`).
    #[serde(rename = "Data", skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `"false"` to ignore a failed import.
    #[serde(rename = "FailOnError", skip_serializing_if = "Option::is_none")]
    pub fail_on_error: Option<String>,
}

impl Import {
    /// Fetch `from` into `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Import { from: from.into(), to: to.into(), data: None, fail_on_error: None }
    }

    /// Write `data` into `to` (no transfer).
    pub fn inline(to: impl Into<String>, data: impl Into<String>) -> Self {
        Import {
            from: "inline://dummy".into(),
            to: to.into(),
            data: Some(data.into()),
            fail_on_error: None,
        }
    }
}

/// A file the server sends somewhere after the job (`Exports`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Export {
    /// Path in the working directory.
    #[serde(rename = "From")]
    pub from: String,
    /// Target URL.
    #[serde(rename = "To")]
    pub to: String,
}

/// A job description.
///
/// ```
/// use unicore_rest::{JobDescription, JobType};
///
/// let job = JobDescription::executable("/bin/echo")
///     .args(["hello", "world"])
///     .env("GREETING", "hi")
///     .queue("batch")
///     .runtime("10min")
///     .job_type(JobType::OnLoginNode)
///     .tag("demo");
/// let json = job.to_json();
/// assert_eq!(json["Executable"], "/bin/echo");
/// assert_eq!(json["Arguments"][1], "world");
/// assert_eq!(json["Resources"]["Queue"], "batch");
/// assert_eq!(json["Job type"], "ON_LOGIN_NODE");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct JobDescription {
    /// Application name (instead of an executable).
    #[serde(rename = "ApplicationName", skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// Application version.
    #[serde(rename = "ApplicationVersion", skip_serializing_if = "Option::is_none")]
    pub application_version: Option<String>,
    /// The program.
    #[serde(rename = "Executable", skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// Its arguments.
    #[serde(rename = "Arguments", skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Environment variables.
    #[serde(rename = "Environment", skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Application parameters (become environment variables).
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Standard output file name (default `stdout`).
    #[serde(rename = "Stdout", skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Standard error file name (default `stderr`).
    #[serde(rename = "Stderr", skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Standard input file name.
    #[serde(rename = "Stdin", skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// `"true"`: a non-zero exit code still counts as success.
    #[serde(rename = "IgnoreNonZeroExitCode", skip_serializing_if = "Option::is_none")]
    pub ignore_non_zero_exit_code: Option<String>,
    /// Resource requests.
    #[serde(rename = "Resources", skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Project to charge.
    #[serde(rename = "Project", skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Files fetched before the job.
    #[serde(rename = "Imports", skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
    /// Files sent after the job.
    #[serde(rename = "Exports", skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Export>,
    /// `"true"`: the job waits for `start` (the client uploads inputs first).
    #[serde(rename = "haveClientStageIn", skip_serializing_if = "Option::is_none")]
    pub have_client_stage_in: Option<String>,
    /// How it runs.
    #[serde(rename = "Job type", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// Login node for `ON_LOGIN_NODE` jobs.
    #[serde(rename = "Login node", skip_serializing_if = "Option::is_none")]
    pub login_node: Option<String>,
    /// Tags (for listing with `tags=`).
    #[serde(rename = "Tags", skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Job name.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Command run before the job.
    #[serde(rename = "User precommand", skip_serializing_if = "Option::is_none")]
    pub user_precommand: Option<String>,
    /// Command run after the job.
    #[serde(rename = "User postcommand", skip_serializing_if = "Option::is_none")]
    pub user_postcommand: Option<String>,
    /// Umask of the job's files (octal text).
    #[serde(rename = "Umask", skip_serializing_if = "Option::is_none")]
    pub umask: Option<String>,
    /// Any other key, sent as given.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl JobDescription {
    /// A job that runs `exe`.
    pub fn executable(exe: impl Into<String>) -> Self {
        JobDescription { executable: Some(exe.into()), ..Default::default() }
    }

    /// A job that runs an installed application.
    pub fn application(name: impl Into<String>, version: Option<&str>) -> Self {
        JobDescription {
            application_name: Some(name.into()),
            application_version: version.map(str::to_owned),
            ..Default::default()
        }
    }

    /// Append arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.arguments.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Set the queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.resources.get_or_insert_with(Resources::default).queue = Some(queue.into());
        self
    }

    /// Set the wall time (`3600`, `30min`, `2h`).
    pub fn runtime(mut self, runtime: impl Into<String>) -> Self {
        self.resources.get_or_insert_with(Resources::default).runtime = Some(runtime.into());
        self
    }

    /// Set how the job runs.
    pub fn job_type(mut self, t: JobType) -> Self {
        self.job_type = Some(t);
        self
    }

    /// Add a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Add an import.
    pub fn import(mut self, import: Import) -> Self {
        self.imports.push(import);
        self
    }

    /// Set the job name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The JSON the server takes.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
