//! Server-to-server transfers between this server's storages.

use std::time::SystemTime;

use http::Method;
use serde_json::{Value, json};

use super::SITE;
use super::auth::Identity;
use super::files::{StorageRec, copy_tree, resolve, storage_url};
use super::http::{
    ApiError, Handled, bad_request, created, fail, link, no_content, not_found, ok_json,
};
use super::routes::{Call, collection};
use super::state::{Server, lock};

/// One transfer.
#[derive(Debug, Clone)]
pub(crate) struct TransferRec {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) owner: String,
    pub(crate) storage: String,
    pub(crate) status: &'static str,
    pub(crate) message: String,
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) is_export: bool,
    pub(crate) size: i64,
    pub(crate) transferred: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) created: SystemTime,
}

/// The storage and path segments of a file URL of this server
/// (`[PROTOCOL:]https://host/DEMO-SITE/rest/core/storages/<id>/files/<path>`).
pub(crate) fn local_file(
    server: &Server,
    url: &str,
) -> Result<(StorageRec, Vec<String>), ApiError> {
    let url = match url.find("https://").or_else(|| url.find("http://")) {
        Some(i) => &url[i..],
        None => return Err(bad_request(format!("{url:?} is not a storage file URL"))),
    };
    let marker = format!("/{SITE}/rest/core/storages/");
    let i = url
        .find(&marker)
        .ok_or_else(|| fail(400, format!("{url}: only files of this server can be transferred")))?;
    let rest = &url[i + marker.len()..];
    let (sid, path) =
        rest.split_once("/files").ok_or_else(|| bad_request(format!("{url}: no /files/ part")))?;
    let storage = lock(&server.storages)
        .get(sid)
        .cloned()
        .ok_or_else(|| not_found(format!("storage {sid}")))?;
    let segs = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    Ok((storage, segs))
}

pub(crate) async fn create(
    server: &Server,
    who: &Identity,
    here: &StorageRec,
    call: Call,
) -> Handled {
    let user = who.require_user()?.to_owned();
    let body = call.json().await?;
    let file = body
        .get("file")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("parameter 'file' is required"))?
        .to_owned();
    let (is_export, remote) = match (
        body.get("target").and_then(Value::as_str),
        body.get("source").and_then(Value::as_str),
    ) {
        (Some(t), None) => (true, t.to_owned()),
        (None, Some(s)) => (false, s.to_owned()),
        _ => return Err(bad_request("give exactly one of 'target' and 'source'")),
    };
    let here_url =
        format!("{}/files/{}", storage_url(server, &here.id), file.trim_start_matches('/'));
    let (src, dst) = if is_export {
        (here_url.clone(), remote.clone())
    } else {
        (remote.clone(), here_url.clone())
    };
    // Check both ends now: a bad URL is the caller's error, not a FAILED transfer.
    let (src_store, src_segs) = local_file(server, &src)?;
    let (dst_store, dst_segs) = local_file(server, &dst)?;
    for s in [&src_store, &dst_store] {
        if s.owner.as_ref().is_some_and(|o| *o != user) {
            return Err(fail(403, format!("Access denied to storage {}", s.id)));
        }
    }
    let src_path = resolve(&src_store, &src_segs)?;
    let dst_path = resolve(&dst_store, &dst_segs)?;
    let id = super::http::new_id();
    let rec = TransferRec {
        id: id.clone(),
        seq: server.next_seq(),
        owner: user,
        storage: here.id.clone(),
        status: "CREATED",
        message: String::new(),
        source: src,
        target: dst,
        is_export,
        size: -1,
        transferred: 0,
        tags: body
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        created: SystemTime::now(),
    };
    lock(&server.transfers).insert(id.clone(), rec);
    // Run the copy now, so that its outcome is there on the next GET.
    let size = tokio::fs::metadata(&src_path).await.map(|m| m.len() as i64).unwrap_or(-1);
    set(server, &id, |r| {
        r.status = "RUNNING";
        r.size = size;
    });
    match copy_tree(&src_path, &dst_path).await {
        Ok(n) => set(server, &id, |r| {
            r.status = "DONE";
            r.transferred = n;
            r.size = n as i64;
        }),
        Err(e) => set(server, &id, |r| {
            r.status = "FAILED";
            r.message = format!("copy failed: {e}");
        }),
    }
    created(&format!("{}/transfers/{id}", server.base()))
}

fn set(server: &Server, id: &str, f: impl FnOnce(&mut TransferRec)) {
    if let Some(r) = lock(&server.transfers).get_mut(id) {
        f(r);
    }
}

fn transfer_for(server: &Server, who: &Identity, id: &str) -> Result<TransferRec, ApiError> {
    let user = who.require_user()?;
    let rec = lock(&server.transfers)
        .get(id)
        .cloned()
        .ok_or_else(|| not_found(format!("transfer {id}")))?;
    if rec.owner != user {
        return Err(fail(403, format!("Access denied to transfer {id}")));
    }
    Ok(rec)
}

pub(crate) async fn route(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => {
            let user = who.require_user()?.to_owned();
            let mut recs: Vec<TransferRec> =
                lock(&server.transfers).values().filter(|t| t.owner == user).cloned().collect();
            recs.sort_by_key(|t| t.seq);
            let items = recs
                .iter()
                .map(|t| (format!("{}/transfers/{}", server.base(), t.id), t.tags.clone()))
                .collect();
            collection(&format!("{}/transfers", server.base()), "transfers", items, &call)
        }
        (Method::GET, [id]) => {
            let r = transfer_for(server, who, id)?;
            let url = format!("{}/transfers/{id}", server.base());
            let file = if r.is_export { &r.source } else { &r.target };
            ok_json(&json!({
                "status": r.status,
                "statusMessage": r.message,
                "transferredBytes": r.transferred,
                "size": r.size,
                "protocol": "BFT",
                "isExport": r.is_export,
                "source": r.source,
                "target": r.target,
                "files": {file.as_str(): r.status},
                "submissionTime": super::http::date(r.created),
                "tags": r.tags,
                "_links": {"self": link(&url), "storage": link(&storage_url(server, &r.storage))},
            }))
        }
        (Method::DELETE, [id]) => {
            transfer_for(server, who, id)?;
            lock(&server.transfers).remove(*id);
            no_content()
        }
        _ => Err(fail(404, "no such transfer resource")),
    }
}
