//! [`Client`]: one UNICORE site (`https://GW/SITE/rest/core`).

use std::path::{Path as StdPath, PathBuf};

use hpc_auth::Secret;
use hpc_core::{Error, Result};
use serde_json::Value;

use crate::job::{Allocation, Job};
use crate::resource::{Page, Properties, list_page};
use crate::storage::Storage;
use crate::transfer::Transfer;
use crate::transport::Transport;
use crate::url::with_query;

/// A local file a new job gets in its working directory before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInput {
    /// The local file.
    pub local: PathBuf,
    /// Its path in the working directory.
    pub remote: String,
}

impl JobInput {
    /// PyUNICORE's rule: a relative path keeps its place, an absolute one
    /// lands under its file name.
    pub fn file(local: impl Into<PathBuf>) -> Self {
        let local = local.into();
        let remote = if local.is_absolute() {
            local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        } else {
            local.to_string_lossy().into_owned()
        };
        JobInput { local, remote }
    }

    /// `local` uploaded as `remote`.
    pub fn renamed(local: impl Into<PathBuf>, remote: impl Into<String>) -> Self {
        JobInput { local: local.into(), remote: remote.into() }
    }
}

/// Options of [`Client::issue_token`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// Lifetime in seconds (`None`: the server's default).
    pub lifetime: Option<u64>,
    /// The token can be used to get a new one.
    pub renewable: bool,
    /// The token is valid on this server only.
    pub limited: bool,
}

impl TokenRequest {
    /// A token valid for `secs` seconds.
    pub fn with_lifetime(secs: u64) -> Self {
        TokenRequest { lifetime: Some(secs), ..Default::default() }
    }
}

/// The entry point of a UNICORE site.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Transport,
    url: String,
    props: Properties,
}

impl Client {
    /// Connects: reads the site's properties and, unless the credential is
    /// anonymous, checks that the server did not fall back to the `anonymous`
    /// role (a wrong password often looks like that).
    pub async fn connect(transport: &Transport, url: &str) -> Result<Client> {
        let url = url.trim_end_matches('/').to_owned();
        let props = Properties::new(&url, transport.get_json(&url).await?);
        let client = Client { transport: transport.clone(), url, props };
        if !transport.is_anonymous() && client.role() == Some("anonymous") {
            return Err(Error::Authentication {
                user: transport.user().unwrap_or("token").to_owned(),
                host: crate::url::path_only(&client.url).to_owned(),
                reason: "the server accepted the request but gave the anonymous role (wrong or unknown credential)".into(),
            });
        }
        Ok(client)
    }

    /// The site's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The transport (shared by everything this client hands out).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The properties read when connecting.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Reads the properties again.
    pub async fn refresh(&mut self) -> Result<&Properties> {
        self.props = Properties::new(&self.url, self.transport.get_json(&self.url).await?);
        Ok(&self.props)
    }

    /// `client`: who the server thinks the user is (dn, xlogin, role, queues).
    pub fn access_info(&self) -> Option<&Value> {
        self.props.get("client")
    }

    /// The selected role (`user`, `anonymous`, ...).
    pub fn role(&self) -> Option<&str> {
        self.access_info()?.get("role")?.get("selected")?.as_str()
    }

    /// The server's version as numbers (`10.1.0` → `[10, 1, 0]`).
    pub fn server_version(&self) -> Result<Vec<u32>> {
        let text = self
            .props
            .get("server")
            .and_then(|s| s.get("version"))
            .and_then(Value::as_str)
            .ok_or_else(|| crate::error::missing(&self.url, "server.version"))?;
        text.split('-')
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| {
                p.parse().map_err(|_| Error::Parse {
                    command: "server version".into(),
                    reason: "not numeric".into(),
                    line: text.to_owned(),
                    source: None,
                })
            })
            .collect()
    }

    fn link(&self, relation: &str) -> String {
        self.props.link(relation).unwrap_or_else(|_| format!("{}/{relation}", self.url))
    }

    /// A token (JWT) issued by the server for the current user.
    pub async fn issue_token(&self, req: TokenRequest) -> Result<Secret> {
        let mut params = Vec::new();
        if let Some(l) = req.lifetime {
            params.push(("lifetime", l.to_string()));
        }
        if req.renewable {
            params.push(("renewable", "true".to_owned()));
        }
        if req.limited {
            params.push(("limited", "true".to_owned()));
        }
        let url = with_query(&format!("{}/token", self.url), &params);
        let text = self.transport.get_text(&url, "text/plain").await?;
        Ok(Secret::new(text.trim()))
    }

    /// Storages (job directories too with `all`).
    pub async fn storages(&self, page: &Page, all: bool) -> Result<Vec<Storage>> {
        let urls =
            list_page(&self.transport, &self.link("storages"), "storages", page, all).await?;
        Ok(urls.into_iter().map(|u| Storage::new(&self.transport, &u)).collect())
    }

    /// The storage with this id (`HOME`, `<job>-uspace`, ...), without asking the server.
    pub fn storage(&self, id: &str) -> Storage {
        Storage::new(&self.transport, &format!("{}/storages/{id}", self.url))
    }

    /// Jobs, one page.
    pub async fn jobs(&self, page: &Page) -> Result<Vec<Job>> {
        let urls = list_page(&self.transport, &self.link("jobs"), "jobs", page, false).await?;
        Ok(urls.into_iter().map(|u| Job::new(&self.transport, &u)).collect())
    }

    /// Every job (all pages), optionally only those with all of `tags`.
    pub async fn all_jobs(&self, tags: &[String]) -> Result<Vec<Job>> {
        let urls =
            crate::resource::list_all(&self.transport, &self.link("jobs"), "jobs", tags, false)
                .await?;
        Ok(urls.into_iter().map(|u| Job::new(&self.transport, &u)).collect())
    }

    /// The job with this id, without asking the server.
    pub fn job(&self, id: &str) -> Job {
        Job::new(&self.transport, &format!("{}/jobs/{id}", self.url))
    }

    /// Server-to-server transfers, one page.
    pub async fn transfers(&self, page: &Page) -> Result<Vec<Transfer>> {
        let urls =
            list_page(&self.transport, &self.link("transfers"), "transfers", page, false).await?;
        Ok(urls.into_iter().map(|u| Transfer::new(&self.transport, &u)).collect())
    }

    /// Compute resources (factories): queues, applications, limits.
    pub async fn factories(&self) -> Result<Vec<Properties>> {
        let urls = list_page(
            &self.transport,
            &self.link("factories"),
            "factories",
            &Page::default(),
            false,
        )
        .await?;
        let mut out = Vec::with_capacity(urls.len());
        for u in urls {
            out.push(Properties::new(&u, self.transport.get_json(&u).await?));
        }
        Ok(out)
    }

    /// Installed applications of every factory: (`NAME---vVERSION` URL, properties).
    pub async fn applications(&self) -> Result<Vec<(String, Properties)>> {
        let mut apps = Vec::new();
        for factory in self.factories().await? {
            let base = match factory.link("applications") {
                Ok(l) => l,
                Err(_) => continue,
            };
            let names: Vec<String> = factory
                .get("applications")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            for name in names {
                let url = format!("{base}/{name}");
                let props = Properties::new(&url, self.transport.get_json(&url).await?);
                apps.push((url, props));
            }
        }
        Ok(apps)
    }

    /// Submits `description` (JSON, see [`crate::JobDescription::to_json`]);
    /// uploads `inputs` into the working directory, then starts the job when
    /// `autostart` (PyUNICORE's `new_job`). With inputs the job is held
    /// (`haveClientStageIn`) until they are there.
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
        if !inputs.is_empty() || obj.get("haveClientStageIn") == Some(&Value::Bool(true)) {
            obj.insert("haveClientStageIn".into(), Value::String("true".into()));
        }
        let held = obj.get("haveClientStageIn").and_then(Value::as_str) == Some("true");
        let url = self.transport.create(&self.link("jobs"), &desc).await?;
        let job = Job::new(&self.transport, &url);
        upload_inputs(&job, inputs).await?;
        // Starting a job that is not held is a no-op on the server: skip the round trip.
        if autostart && held {
            job.start().await?;
        }
        Ok(job)
    }

    /// Submits an allocation (`Job type: ALLOCATE`); jobs run inside it with
    /// [`Allocation::new_job`].
    pub async fn new_allocation(&self, description: &Value) -> Result<Allocation> {
        let mut desc = description.clone();
        if let Some(o) = desc.as_object_mut() {
            o.insert("Job type".into(), Value::String("ALLOCATE".into()));
        }
        let url = self.transport.create(&self.link("jobs"), &desc).await?;
        Ok(Allocation::new(Job::new(&self.transport, &url)))
    }

    /// Runs `command` on a login node, not through the batch system
    /// (PyUNICORE's `execute`). The command line is the server's to split.
    pub async fn execute(&self, command: &str, login_node: Option<&str>) -> Result<Job> {
        let mut desc = serde_json::json!({"Executable": command, "Job type": "ON_LOGIN_NODE"});
        if let Some(n) = login_node {
            desc["Login node"] = Value::String(n.to_owned());
        }
        let url = self.transport.create(&self.link("jobs"), &desc).await?;
        Ok(Job::new(&self.transport, &url))
    }
}

/// Uploads each input into the job's working directory.
pub(crate) async fn upload_inputs(job: &Job, inputs: &[JobInput]) -> Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    let dir = job.working_dir().await?;
    for input in inputs {
        dir.upload_file(StdPath::new(&input.local), &input.remote).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_pyunicore_naming() {
        assert_eq!(JobInput::file("/tmp/x/in.txt").remote, "in.txt");
        assert_eq!(JobInput::file("data/in.txt").remote, "data/in.txt");
        assert_eq!(JobInput::renamed("/a", "b/c").remote, "b/c");
    }
}
