//! Jobs: submitted as JSON, run through hpckit's `local` scheduler in their
//! own working directory (storage `<id>-uspace`).

use std::path::PathBuf;
use std::time::SystemTime;

use hpc_core::scheduler::SchedulerExt as _;
use hpc_core::{JobId, Scheduler as _};
use http::Method;
use serde_json::{Value, json};

use super::auth::Identity;
use super::files::{StorageRec, storage_url};
use super::http::{
    ApiError, Handled, bad_request, created, fail, link, no_content, not_found, ok_json,
};
use super::routes::{Call, collection};
use super::state::{Server, lock};

/// One job.
#[derive(Debug, Clone)]
pub(crate) struct JobRec {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) owner: String,
    pub(crate) dn: String,
    pub(crate) desc: Value,
    pub(crate) status: &'static str,
    pub(crate) message: String,
    pub(crate) exit_code: Option<i32>,
    pub(crate) sched_id: Option<JobId>,
    pub(crate) submitted: SystemTime,
    pub(crate) tags: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) job_type: &'static str,
    pub(crate) log: Vec<String>,
    pub(crate) workdir: PathBuf,
    /// The allocation this job runs in.
    pub(crate) allocation: Option<String>,
}

impl JobRec {
    pub(crate) fn is_final(&self) -> bool {
        matches!(self.status, "SUCCESSFUL" | "FAILED")
    }
}

pub(crate) fn job_url(server: &Server, id: &str) -> String {
    format!("{}/jobs/{id}", server.base())
}

/// The job `id` if `who` owns it.
pub(crate) fn job_for(server: &Server, who: &Identity, id: &str) -> Result<JobRec, ApiError> {
    let user = who.require_user()?;
    let rec = lock(&server.jobs).get(id).cloned().ok_or_else(|| not_found(format!("job {id}")))?;
    if rec.owner != user {
        return Err(fail(403, format!("Access denied to job {id}")));
    }
    Ok(rec)
}

pub(crate) async fn route(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => {
            let user = who.require_user()?.to_owned();
            let mut recs: Vec<(u64, String, Vec<String>)> = lock(&server.jobs)
                .values()
                .filter(|j| j.owner == user)
                .map(|j| (j.seq, j.id.clone(), j.tags.clone()))
                .collect();
            recs.sort();
            let items =
                recs.into_iter().map(|(_, id, tags)| (job_url(server, &id), tags)).collect();
            collection(&format!("{}/jobs", server.base()), "jobs", items, &call)
        }
        (Method::POST, []) => submit(server, who, call).await,
        (Method::GET, [id]) => {
            job_for(server, who, id)?;
            let rec = refresh(server, id).await?;
            ok_json(&properties(server, &rec))
        }
        (Method::DELETE, [id]) => {
            let rec = job_for(server, who, id)?;
            if let Some(s) = &rec.sched_id
                && !rec.is_final()
            {
                let _ = server.sched.cancel(s).await;
            }
            lock(&server.jobs).remove(*id);
            lock(&server.storages).remove(&format!("{id}-uspace"));
            let _ = tokio::fs::remove_dir_all(&rec.workdir).await;
            no_content()
        }
        (Method::POST, [id]) => submit_into_allocation(server, who, call, id).await,
        (Method::POST, [id, "actions", action]) => {
            job_for(server, who, id)?;
            match *action {
                "start" => start(server, id).await?,
                "abort" => abort(server, id).await?,
                "restart" => {
                    let rec = refresh(server, id).await?;
                    if !rec.is_final() {
                        return Err(bad_request("only a finished job can be restarted"));
                    }
                    if let Some(r) = lock(&server.jobs).get_mut(*id) {
                        r.status = "READY";
                        r.exit_code = None;
                        r.sched_id = None;
                        r.log.push("restarted by the user".into());
                    }
                    start(server, id).await?;
                }
                other => return Err(not_found(format!("action {other}"))),
            }
            no_content()
        }
        (Method::GET, [id, "details"]) => {
            let rec = refresh(server, id).await.and_then(|_| job_for(server, who, id))?;
            ok_json(&json!({
                "batchSystemID": rec.sched_id.as_ref().map(JobId::as_str).unwrap_or("N/A"),
                "status": rec.status,
                "workingDirectory": rec.workdir.display().to_string(),
            }))
        }
        (Method::GET, [id, "submitted"]) => ok_json(&job_for(server, who, id)?.desc),
        (Method::GET, [id, "forward-port"]) => super::routes::forward(server, who, call, id).await,
        _ => Err(fail(404, "no such job resource")),
    }
}

fn text_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => {
            s.split([',', ' ', '+']).filter(|t| !t.is_empty()).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(crate) async fn submit(server: &Server, who: &Identity, call: Call) -> Handled {
    let user = who.require_user()?.to_owned();
    let desc = call.json().await?;
    let id = create(server, &user, &who.dn(), desc, None).await?;
    created(&job_url(server, &id))
}

/// Creates a job and starts it unless it waits for client stage-in.
pub(crate) async fn create(
    server: &Server,
    user: &str,
    dn: &str,
    desc: Value,
    allocation: Option<String>,
) -> Result<String, ApiError> {
    let obj = desc
        .as_object()
        .ok_or_else(|| bad_request("Job description is invalid: not a JSON object"))?;
    let has = |k: &str| obj.get(k).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
    let job_type =
        match obj.get("Job type").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
            None | Some("BATCH" | "NORMAL" | "RAW") => "BATCH",
            Some("ON_LOGIN_NODE" | "INTERACTIVE") => "ON_LOGIN_NODE",
            Some("ALLOCATE") => "ALLOCATE",
            Some(other) => {
                return Err(bad_request(format!(
                    "Job description is invalid: unknown job type {other:?}"
                )));
            }
        };
    if job_type != "ALLOCATE" && !has("Executable") && !has("ApplicationName") {
        return Err(bad_request(
            "Job description is invalid: it names neither an Executable nor an ApplicationName",
        ));
    }
    let job_type = if allocation.is_some() { "ON_LOGIN_NODE" } else { job_type };
    if let Some(q) = obj.get("Resources").and_then(|r| r.get("Queue")).and_then(Value::as_str)
        && q != "batch"
    {
        return Err(bad_request(format!(
            "Job description is invalid: queue {q:?} does not exist (available: batch)"
        )));
    }
    let id = super::http::new_id();
    let workdir = server.config.state_dir.join("jobs").join(&id);
    tokio::fs::create_dir_all(&workdir).await?;
    let held = truthy(obj.get("haveClientStageIn"));
    let rec = JobRec {
        id: id.clone(),
        seq: server.next_seq(),
        owner: user.to_owned(),
        dn: dn.to_owned(),
        tags: text_list(obj.get("Tags")),
        name: obj.get("Name").and_then(Value::as_str).map(str::to_owned),
        desc: desc.clone(),
        status: "READY",
        message: String::new(),
        exit_code: None,
        sched_id: None,
        submitted: SystemTime::now(),
        job_type,
        log: vec![format!("created job {id}")],
        workdir: workdir.clone(),
        allocation,
    };
    lock(&server.storages).insert(
        format!("{id}-uspace"),
        StorageRec {
            id: format!("{id}-uspace"),
            root: workdir,
            owner: Some(user.to_owned()),
            job: Some(id.clone()),
            seq: server.next_seq(),
            description: format!("working directory of job {id}"),
            umask: "77".into(),
        },
    );
    lock(&server.jobs).insert(id.clone(), rec);
    if !held {
        start(server, &id).await?;
    }
    Ok(id)
}

async fn submit_into_allocation(
    server: &Server,
    who: &Identity,
    call: Call,
    alloc: &str,
) -> Handled {
    let rec = job_for(server, who, alloc)?;
    let rec = refresh(server, &rec.id).await?;
    if rec.job_type != "ALLOCATE" || rec.status != "RUNNING" || rec.sched_id.is_none() {
        return Err(fail(500, format!("job {alloc} is not a running allocation")));
    }
    let user = who.require_user()?.to_owned();
    let mut desc = call.json().await?;
    let env = desc.as_object_mut().map(|o| o.entry("Environment").or_insert_with(|| json!({})));
    if let Some(e) = env.and_then(Value::as_object_mut) {
        e.insert("UC_ALLOCATION_ID".into(), json!(rec.sched_id.as_ref().map(JobId::as_str)));
    }
    let id = create(server, &user, &who.dn(), desc, Some(alloc.to_owned())).await?;
    created(&job_url(server, &id))
}

/// Stage-in, then submission to the local scheduler. A no-op unless READY.
pub(crate) async fn start(server: &Server, id: &str) -> Result<(), ApiError> {
    let rec = {
        let mut jobs = lock(&server.jobs);
        let rec = jobs.get_mut(id).ok_or_else(|| not_found(format!("job {id}")))?;
        if rec.status != "READY" || rec.sched_id.is_some() {
            return Ok(());
        }
        rec.status = "STAGINGIN";
        rec.clone()
    };
    if let Err(e) = stage_in(server, &rec).await {
        return finish(server, id, "FAILED", None, format!("stage-in failed: {}", e.message));
    }
    let job = match script(&rec) {
        Ok(j) => j,
        Err(e) => return finish(server, id, "FAILED", None, e.message),
    };
    match server.sched.submit_batch(&job).await {
        Ok(sid) => {
            if let Some(r) = lock(&server.jobs).get_mut(id) {
                r.status = "QUEUED";
                r.log.push(format!("submitted to the local scheduler as {sid}"));
                r.sched_id = Some(sid);
            }
            Ok(())
        }
        Err(e) => finish(server, id, "FAILED", None, format!("submission failed: {e}")),
    }
}

fn finish(
    server: &Server,
    id: &str,
    status: &'static str,
    exit: Option<i32>,
    message: String,
) -> Result<(), ApiError> {
    if let Some(r) = lock(&server.jobs).get_mut(id) {
        r.status = status;
        r.exit_code = exit;
        r.log.push(message.clone());
        r.message = message;
    }
    Ok(())
}

/// Imports: inline `Data`, or files of this server's storages.
async fn stage_in(server: &Server, rec: &JobRec) -> Result<(), ApiError> {
    let imports = rec.desc.get("Imports").and_then(Value::as_array).cloned().unwrap_or_default();
    for imp in imports {
        let to = imp
            .get("To")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_request("import without 'To'"))?;
        let target = rec.workdir.join(to.trim_start_matches('/'));
        if to.split('/').any(|s| s == "..") {
            return Err(bad_request("import target leaves the working directory"));
        }
        if let Some(p) = target.parent() {
            tokio::fs::create_dir_all(p).await?;
        }
        let from = imp.get("From").and_then(Value::as_str).unwrap_or("");
        if let Some(data) = imp.get("Data") {
            let text = match data {
                Value::Array(lines) => {
                    lines.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            tokio::fs::write(&target, text).await?;
            continue;
        }
        let (storage, segs) = super::transfers::local_file(server, from)?;
        let owner_ok = storage.owner.as_ref().is_none_or(|o| *o == rec.owner);
        if !owner_ok {
            return Err(fail(403, format!("import from {from}: access denied")));
        }
        let src = super::files::resolve(&storage, &segs)?;
        super::files::copy_tree(&src, &target)
            .await
            .map_err(|e| fail(500, format!("import from {from}: {e}")))?;
    }
    Ok(())
}

fn env_of(desc: &Value) -> Vec<(String, String)> {
    let mut env = Vec::new();
    match desc.get("Environment") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                env.push((k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)));
            }
        }
        Some(Value::Array(a)) => {
            for kv in a.iter().filter_map(Value::as_str) {
                if let Some((k, v)) = kv.split_once('=') {
                    env.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Object(m)) = desc.get("Parameters") {
        for (k, v) in m {
            env.push((k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)));
        }
    }
    env
}

/// The job as a shell script, as UNICORE writes it: the executable and its
/// arguments joined into one command line (so `Executable: "echo hi"` works).
fn script(rec: &JobRec) -> Result<hpc_core::JobDescription, ApiError> {
    let d = &rec.desc;
    let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
    let line = if rec.job_type == "ALLOCATE" {
        let secs = d
            .get("Resources")
            .and_then(|r| r.get("Runtime"))
            .and_then(Value::as_str)
            .map(runtime_secs)
            .unwrap_or(3600);
        format!("sleep {secs}")
    } else {
        let exe = match (s("Executable"), s("ApplicationName")) {
            (Some(e), _) => e,
            (None, Some(app)) => application_command(&app)?,
            (None, None) => return Err(bad_request("no executable")),
        };
        let args: Vec<String> = d
            .get("Arguments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
            })
            .unwrap_or_default();
        let mut line = String::new();
        if let Some(pre) = s("User precommand") {
            line.push_str(&pre);
            line.push('\n');
        }
        line.push_str(&exe);
        for a in args {
            line.push(' ');
            line.push_str(&a);
        }
        if let Some(post) = s("User postcommand") {
            line = format!("{line}\nrc=$?\n{post}\nexit $rc");
        }
        line
    };
    let mut job = hpc_core::JobDescription::new("/bin/sh")
        .args(["-c".to_owned(), line])
        .working_directory(rec.workdir.display().to_string())
        .stdout(s("Stdout").unwrap_or_else(|| "stdout".into()))
        .stderr(s("Stderr").unwrap_or_else(|| "stderr".into()));
    if let Some(i) = s("Stdin") {
        job = job.stdin(i);
    }
    job = job.env("UC_JOB_ID", rec.id.clone());
    for (k, v) in env_of(d) {
        job = job.env(k, v);
    }
    job.validate().map_err(|e| bad_request(format!("Job description is invalid: {e}")))?;
    Ok(job)
}

fn application_command(app: &str) -> Result<String, ApiError> {
    match app {
        "Date" => Ok("date".into()),
        "Bash shell" | "Bash" => Ok("bash".into()),
        "Python" | "python" => Ok("python3".into()),
        other => Err(bad_request(format!(
            "Job description is invalid: application {other:?} is not installed"
        ))),
    }
}

/// `3600`, `30min`, `2h`, `1d`, `45s` in seconds.
pub(crate) fn runtime_secs(text: &str) -> u64 {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().unwrap_or(3600);
    match t[split..].trim() {
        "min" | "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => n,
    }
}

async fn abort(server: &Server, id: &str) -> Result<(), ApiError> {
    let rec = lock(&server.jobs).get(id).cloned().ok_or_else(|| not_found(format!("job {id}")))?;
    if rec.is_final() {
        return Ok(());
    }
    if let Some(s) = &rec.sched_id {
        let _ = server.sched.cancel(s).await;
    }
    finish(server, id, "FAILED", None, "Job was aborted by the user".into())
}

/// Brings the job's state up to date with the scheduler.
pub(crate) async fn refresh(server: &Server, id: &str) -> Result<JobRec, ApiError> {
    let rec = lock(&server.jobs).get(id).cloned().ok_or_else(|| not_found(format!("job {id}")))?;
    let Some(sid) = rec.sched_id.clone().filter(|_| !rec.is_final()) else {
        return Ok(rec);
    };
    let status = server.sched.status(&sid).await;
    let mut jobs = lock(&server.jobs);
    let r = jobs.get_mut(id).ok_or_else(|| not_found(format!("job {id}")))?;
    if r.is_final() {
        return Ok(r.clone());
    }
    match status {
        Ok(st) => {
            use hpc_core::JobState as S;
            let ignore_exit = truthy(r.desc.get("IgnoreNonZeroExitCode"));
            let (state, msg): (&'static str, Option<String>) = match st.state {
                S::Pending => ("QUEUED", None),
                S::Running | S::Suspended => ("RUNNING", None),
                S::Completed => ("SUCCESSFUL", Some("Job finished".into())),
                S::Failed if ignore_exit && st.exit_code.is_some() => {
                    ("SUCCESSFUL", Some("Job finished (non-zero exit code ignored)".into()))
                }
                S::Failed => (
                    "FAILED",
                    Some(st.error.clone().unwrap_or_else(|| {
                        format!("Job failed with exit code {:?}", st.exit_code)
                    })),
                ),
                S::Cancelled => ("FAILED", Some("Job was aborted".into())),
                S::Unknown => ("RUNNING", None),
            };
            r.status = state;
            if st.state.is_final() {
                r.exit_code = st.exit_code;
                if let Some(m) = msg {
                    r.log.push(m.clone());
                    r.message = m;
                }
            }
        }
        Err(e) => {
            r.status = "FAILED";
            r.message = format!("lost track of the job: {e}");
        }
    }
    Ok(r.clone())
}

/// Waits (without polling) until the job has finished.
pub(crate) async fn wait_final(server: &Server, id: &str) -> Result<JobRec, ApiError> {
    loop {
        let rec = refresh(server, id).await?;
        if rec.is_final() {
            return Ok(rec);
        }
        match rec.sched_id {
            Some(sid) => {
                let _ = server.sched.wait_until_done(&sid, None).await;
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

fn properties(server: &Server, rec: &JobRec) -> Value {
    let url = job_url(server, &rec.id);
    let mut links = serde_json::Map::new();
    links.insert("self".into(), link(&url));
    links.insert("details".into(), link(&format!("{url}/details")));
    links.insert("submitted".into(), link(&format!("{url}/submitted")));
    for a in ["start", "abort", "restart"] {
        links.insert(format!("action:{a}"), link(&format!("{url}/actions/{a}")));
    }
    links.insert("forwarding".into(), link(&format!("{url}/forward-port")));
    links.insert(
        "workingDirectory".into(),
        link(&storage_url(server, &format!("{}-uspace", rec.id))),
    );
    links.insert(
        "parentTSS".into(),
        link(&format!("{}/sites/default_target_system_factory", server.base())),
    );
    let batch_id = match (&rec.sched_id, rec.job_type) {
        (Some(s), _) => s.to_string(),
        (None, "ALLOCATE") => format!("INTERACTIVE_{}", rec.id),
        (None, _) => "N/A".into(),
    };
    let mut v = json!({
        "status": rec.status,
        "statusMessage": rec.message,
        "submissionTime": super::http::date(rec.submitted),
        "queue": rec.desc.get("Resources").and_then(|r| r.get("Queue")).and_then(Value::as_str).unwrap_or("batch"),
        "batchSystemID": batch_id,
        "consumedTime": {},
        "log": rec.log,
        "name": rec.name.clone().unwrap_or_else(|| "N/A".into()),
        "submissionPreferences": {},
        "jobType": rec.job_type,
        "owner": rec.dn,
        "acl": [],
        "tags": rec.tags,
        "terminationTime": "2099-12-31T23:59:59+0000",
        "_links": links,
    });
    if let Some(c) = rec.exit_code {
        // UNICORE sends the exit code as text.
        v["exitCode"] = Value::String(c.to_string());
    }
    if let Some(a) = &rec.allocation {
        v["allocation"] = Value::String(job_url(server, a));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes() {
        assert_eq!(runtime_secs("30min"), 1800);
        assert_eq!(runtime_secs("2h"), 7200);
        assert_eq!(runtime_secs("90"), 90);
        assert_eq!(text_list(Some(&json!("a,b c"))), ["a", "b", "c"]);
        assert!(truthy(Some(&json!("TRUE"))) && !truthy(Some(&json!(null))));
    }
}
