//! [`WorkflowService`] and [`Workflow`].

use std::collections::BTreeMap;
use std::time::Duration;

use hpc_core::{Error, Result};
use serde_json::Value;
use tokio::time::Instant;

use crate::job::{Backoff, Job};
use crate::resource::{Page, Properties, list_page};
use crate::state::WorkflowState;
use crate::storage::Storage;
use crate::transport::Transport;
use crate::url::last_segment;

/// A workflow service (`https://GW/WF/rest/workflows`).
#[derive(Debug, Clone)]
pub struct WorkflowService {
    transport: Transport,
    url: String,
    props: Properties,
}

impl WorkflowService {
    /// Connects (reads the service's properties; a credential that the
    /// server maps to `anonymous` is an authentication error).
    pub async fn connect(transport: &Transport, url: &str) -> Result<Self> {
        let url = url.trim_end_matches('/').to_owned();
        let props = Properties::new(&url, transport.get_json(&url).await?);
        let role = props
            .get("client")
            .and_then(|c| c.get("role"))
            .and_then(|r| r.get("selected"))
            .and_then(Value::as_str);
        if !transport.is_anonymous() && role == Some("anonymous") {
            return Err(Error::Authentication {
                user: transport.user().unwrap_or("token").to_owned(),
                host: crate::url::path_only(&url).to_owned(),
                reason: "the workflow service gave the anonymous role".into(),
            });
        }
        Ok(WorkflowService { transport: transport.clone(), url, props })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The properties read when connecting.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Workflows, one page.
    pub async fn workflows(&self, page: &Page) -> Result<Vec<Workflow>> {
        let urls = list_page(&self.transport, &self.url, "workflows", page, false).await?;
        Ok(urls.into_iter().map(|u| Workflow::new(&self.transport, &u)).collect())
    }

    /// Submits a workflow description.
    pub async fn submit(&self, description: &Value) -> Result<Workflow> {
        let url = self.transport.create(&self.url, description).await?;
        Ok(Workflow::new(&self.transport, &url))
    }
}

/// A workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    transport: Transport,
    url: String,
}

impl Workflow {
    /// The workflow at `url`.
    pub fn new(transport: &Transport, url: &str) -> Self {
        Workflow { transport: transport.clone(), url: url.to_owned() }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its id.
    pub fn id(&self) -> &str {
        last_segment(&self.url)
    }

    /// Its properties.
    pub async fn properties(&self) -> Result<Properties> {
        Ok(Properties::new(&self.url, self.transport.get_json(&self.url).await?))
    }

    /// Its state.
    pub async fn status(&self) -> Result<WorkflowState> {
        self.properties().await?.require_str("status")?.parse()
    }

    /// Aborts it.
    pub async fn abort(&self) -> Result<()> {
        let url = self.properties().await?.link("action:abort")?;
        self.transport.post(&url, &Value::Object(Default::default())).await.map(|_| ())
    }

    /// Resumes a HELD workflow, with new values for some variables.
    pub async fn resume(&self, params: &BTreeMap<String, String>) -> Result<()> {
        let url = self.properties().await?.link("action:continue")?;
        self.transport
            .post(&url, &serde_json::to_value(params).unwrap_or_default())
            .await
            .map(|_| ())
    }

    /// The jobs it submitted, one page.
    pub async fn jobs(&self, page: &Page) -> Result<Vec<Job>> {
        let url = self.properties().await?.link("jobs")?;
        let urls = list_page(&self.transport, &url, "jobs", page, false).await?;
        Ok(urls.into_iter().map(|u| Job::new(&self.transport, &u)).collect())
    }

    /// Its registered files: `wf:name` → file URL.
    pub async fn files(&self) -> Result<BTreeMap<String, String>> {
        let url = self.properties().await?.link("files")?;
        let v: Value = self.transport.get_json(&url).await?;
        Ok(v.as_object()
            .map(|m| {
                m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
            })
            .unwrap_or_default())
    }

    /// The storage and path behind registered file `name`.
    pub async fn locate(&self, name: &str) -> Result<(Storage, String)> {
        let files = self.files().await?;
        let url = files
            .get(name)
            .ok_or_else(|| Error::path_not_found(format!("workflow file {name}")))?;
        let (storage, path) = url.split_once("/files/").ok_or_else(|| Error::Parse {
            command: "workflow files".into(),
            reason: "file URL has no /files/ part".into(),
            line: crate::url::path_only(url).to_owned(),
            source: None,
        })?;
        Ok((Storage::new(&self.transport, storage), format!("/{path}")))
    }

    /// Waits until the workflow is `state` or later (a final state always ends the wait).
    pub async fn wait(
        &self,
        state: WorkflowState,
        timeout: Option<Duration>,
        backoff: Backoff,
    ) -> Result<WorkflowState> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut pause = backoff.first;
        loop {
            let s = self.status().await?;
            if s >= state || s.is_final() {
                return Ok(s);
            }
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::Timeout {
                        what: format!("waiting for workflow {} to become {state}", self.id()),
                        after: timeout.unwrap_or_default(),
                    });
                }
                pause = pause.min(d - now);
            }
            tokio::time::sleep(pause).await;
            pause = backoff.next(pause);
        }
    }
}
