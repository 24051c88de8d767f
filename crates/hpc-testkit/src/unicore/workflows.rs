//! A small workflow engine: `JOB` activities run one after the other (in
//! the order of the transitions, else as listed), `HOLD` activities hold the
//! workflow until `continue`. Each job's stdout is registered as
//! `wf:<activity>/stdout`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use http::Method;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::auth::Identity;
use super::http::{
    ApiError, Handled, bad_request, created, fail, link, no_content, not_found, ok_json,
};
use super::jobs::{job_url, wait_final};
use super::routes::{Call, collection};
use super::state::{Server, lock};

/// One workflow.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowRec {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) status: &'static str,
    pub(crate) detail: String,
    pub(crate) jobs: Vec<String>,
    pub(crate) files: BTreeMap<String, String>,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) tags: Vec<String>,
    pub(crate) submitted: SystemTime,
    pub(crate) wake: Arc<Notify>,
}

fn wf_url(server: &Server, id: &str) -> String {
    format!("{}/{id}", server.workflow_base())
}

fn workflow_for(server: &Server, who: &Identity, id: &str) -> Result<WorkflowRec, ApiError> {
    let user = who.require_user()?;
    let rec = lock(&server.workflows)
        .get(id)
        .cloned()
        .ok_or_else(|| not_found(format!("workflow {id}")))?;
    if rec.owner != user {
        return Err(fail(403, format!("Access denied to workflow {id}")));
    }
    Ok(rec)
}

fn set(server: &Server, id: &str, f: impl FnOnce(&mut WorkflowRec)) {
    if let Some(r) = lock(&server.workflows).get_mut(id) {
        f(r);
    }
}

pub(crate) async fn route(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => {
            let user = who.user.clone().unwrap_or_default();
            let mut recs: Vec<WorkflowRec> =
                lock(&server.workflows).values().filter(|w| w.owner == user).cloned().collect();
            recs.sort_by_key(|w| w.seq);
            let items = recs.iter().map(|w| (wf_url(server, &w.id), w.tags.clone())).collect();
            let reply = collection(&server.workflow_base(), "workflows", items, &call)?;
            // Add who the caller is and the server info, like the real service.
            let (parts, body) = reply.into_parts();
            let data = http_body_util::BodyExt::collect(body)
                .await
                .map_err(|e| fail(500, e.to_string()))?
                .to_bytes();
            let mut v: Value = serde_json::from_slice(&data).unwrap_or_default();
            v["client"] = json!({"dn": who.dn(), "role": {"selected": who.role, "availableRoles": [who.role.clone()]}, "authenticationMethod": who.method});
            v["server"] = json!({"version": "10.1.0", "engineMode": "hpckit-testserver"});
            let mut r = super::http::json(200, &v);
            *r.status_mut() = parts.status;
            Ok(r)
        }
        (Method::POST, []) => submit(server, who, call).await,
        (Method::GET, [id]) => {
            let w = workflow_for(server, who, id)?;
            let url = wf_url(server, id);
            ok_json(&json!({
                "name": w.name,
                "status": w.status,
                "detailedStatus": w.detail,
                "parameters": w.params,
                "submissionTime": super::http::date(w.submitted),
                "tags": w.tags,
                "_links": {
                    "self": link(&url),
                    "action:abort": link(&format!("{url}/actions/abort")),
                    "action:continue": link(&format!("{url}/actions/continue")),
                    "action:callback": link(&format!("{url}/actions/callback")),
                    "jobs": link(&format!("{url}/jobs")),
                    "files": link(&format!("{url}/files")),
                },
            }))
        }
        (Method::DELETE, [id]) => {
            let w = workflow_for(server, who, id)?;
            set(server, id, |r| r.status = "ABORTED");
            w.wake.notify_one();
            lock(&server.workflows).remove(*id);
            no_content()
        }
        (Method::POST, [id, "actions", action]) => {
            let w = workflow_for(server, who, id)?;
            match *action {
                "abort" => {
                    if !matches!(w.status, "SUCCESSFUL" | "FAILED" | "ABORTED") {
                        set(server, id, |r| {
                            r.status = "ABORTED";
                            r.detail = "aborted by the user".into();
                        });
                        w.wake.notify_one();
                    }
                }
                "continue" | "resume" => {
                    if w.status != "HELD" {
                        return Err(fail(
                            409,
                            format!("workflow {id} is not held (it is {})", w.status),
                        ));
                    }
                    let body = call.json().await?;
                    set(server, id, |r| {
                        for (k, v) in body.as_object().into_iter().flatten() {
                            r.params.insert(
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            );
                        }
                        r.status = "RUNNING";
                    });
                    w.wake.notify_one();
                }
                "callback" => {}
                other => return Err(not_found(format!("action {other}"))),
            }
            no_content()
        }
        (Method::GET, [id, "jobs"]) => {
            let w = workflow_for(server, who, id)?;
            let items = w.jobs.iter().map(|j| (job_url(server, j), Vec::new())).collect();
            collection(&format!("{}/jobs", wf_url(server, id)), "jobs", items, &call)
        }
        (Method::GET, [id, "files"]) => ok_json(&json!(workflow_for(server, who, id)?.files)),
        (Method::PUT, [id, "files"]) => {
            workflow_for(server, who, id)?;
            let body = call.json().await?;
            set(server, id, |r| {
                for (k, v) in body.as_object().into_iter().flatten() {
                    if let Some(u) = v.as_str() {
                        r.files.insert(k.clone(), u.to_owned());
                    }
                }
            });
            no_content()
        }
        _ => Err(fail(404, "no such workflow resource")),
    }
}

/// An activity: its id and, for `JOB`, the job description.
struct Activity {
    id: String,
    job: Option<Value>,
}

fn parse(desc: &Value) -> Result<Vec<Activity>, ApiError> {
    let mut errors = Vec::new();
    let list = desc.get("activities").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() {
        errors.push("the workflow has no activities".to_owned());
    }
    let mut acts = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let Some(id) = a.get("id").and_then(Value::as_str) else {
            errors.push(format!("activity {} has no id", i + 1));
            continue;
        };
        let kind = a.get("type").and_then(Value::as_str).unwrap_or("JOB").to_ascii_uppercase();
        match kind.as_str() {
            "JOB" => match a.get("job") {
                Some(j) if j.is_object() => {
                    acts.push(Activity { id: id.to_owned(), job: Some(j.clone()) })
                }
                _ => errors.push(format!("activity {id:?} of type JOB has no job description")),
            },
            "HOLD" | "START" => acts.push(Activity { id: id.to_owned(), job: None }),
            other => errors.push(format!("activity {id:?} has unsupported type {other:?}")),
        }
    }
    if !errors.is_empty() {
        let numbered: Vec<String> =
            errors.iter().enumerate().map(|(i, e)| format!("[{}] {e}", i + 1)).collect();
        return Err(bad_request(format!(
            "Workflow description is invalid: {}",
            numbered.join(" ")
        )));
    }
    // Follow the transitions where there are any (Kahn's order, ties as listed).
    let transitions: Vec<(String, String)> = desc
        .get("transitions")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|x| {
                    Some((x.get("from")?.as_str()?.to_owned(), x.get("to")?.as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ordered = Vec::new();
    let mut left = acts;
    while !left.is_empty() {
        let pos = left
            .iter()
            .position(|a| {
                !transitions.iter().any(|(f, t)| *t == a.id && left.iter().any(|o| o.id == *f))
            })
            .ok_or_else(|| {
                bad_request("Workflow description is invalid: [1] the transitions form a cycle")
            })?;
        ordered.push(left.remove(pos));
    }
    Ok(ordered)
}

async fn submit(server: &Server, who: &Identity, call: Call) -> Handled {
    let user = who.require_user()?.to_owned();
    let desc = call.json().await?;
    let acts = parse(&desc)?;
    let id = super::http::new_id();
    let rec = WorkflowRec {
        id: id.clone(),
        seq: server.next_seq(),
        owner: user.clone(),
        name: desc.get("name").and_then(Value::as_str).unwrap_or("N/A").to_owned(),
        status: "RUNNING",
        detail: String::new(),
        jobs: Vec::new(),
        files: BTreeMap::new(),
        params: desc
            .get("variables")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|x| {
                        Some((
                            x.get("name")?.as_str()?.to_owned(),
                            x.get("initial_value")
                                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                                .unwrap_or_default(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        tags: desc
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        submitted: SystemTime::now(),
        wake: Arc::new(Notify::new()),
    };
    let wake = rec.wake.clone();
    lock(&server.workflows).insert(id.clone(), rec);
    let me = server.arc();
    let dn = who.dn();
    let wid = id.clone();
    tokio::spawn(async move { run(&me, &wid, &user, &dn, acts, wake).await });
    created(&wf_url(server, &id))
}

async fn run(
    server: &Server,
    id: &str,
    user: &str,
    dn: &str,
    acts: Vec<Activity>,
    wake: Arc<Notify>,
) {
    let status = |server: &Server| lock(&server.workflows).get(id).map(|w| w.status);
    for act in acts {
        if status(server) == Some("ABORTED") || status(server).is_none() {
            return;
        }
        let Some(job) = act.job else {
            if act.id.to_ascii_uppercase().contains("START") {
                continue;
            }
            set(server, id, |r| {
                r.status = "HELD";
                r.detail = format!("held at activity {}", act.id);
            });
            while status(server) == Some("HELD") {
                wake.notified().await;
            }
            continue;
        };
        let job_id = match super::jobs::create(server, user, dn, job, None).await {
            Ok(j) => j,
            Err(e) => {
                set(server, id, |r| {
                    r.status = "FAILED";
                    r.detail = format!("activity {}: {}", act.id, e.message);
                });
                return;
            }
        };
        set(server, id, |r| r.jobs.push(job_id.clone()));
        let done = wait_final(server, &job_id).await;
        let stdout = format!("{}/storages/{job_id}-uspace/files/stdout", server.base());
        set(server, id, |r| {
            r.files.insert(format!("wf:{}/stdout", act.id), stdout);
        });
        match done {
            Ok(j) if j.status == "SUCCESSFUL" => {}
            Ok(j) => {
                set(server, id, |r| {
                    if r.status != "ABORTED" {
                        r.status = "FAILED";
                        r.detail = format!("activity {} failed: {}", act.id, j.message);
                    }
                });
                return;
            }
            Err(e) => {
                set(server, id, |r| {
                    r.status = "FAILED";
                    r.detail = e.message;
                });
                return;
            }
        }
    }
    set(server, id, |r| {
        if r.status == "RUNNING" {
            r.status = "SUCCESSFUL";
            r.detail = "all activities finished".into();
        }
    });
}
