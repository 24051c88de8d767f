//! Storages on local directories and their `files` endpoints.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::auth::Identity;
use super::http::{
    ApiError, Handled, bad_request, created, fail, link, no_content, not_found, ok_json,
};
use super::routes::{Call, collection};
use super::state::{Server, lock};

/// One storage.
#[derive(Debug, Clone)]
pub(crate) struct StorageRec {
    pub(crate) id: String,
    pub(crate) root: PathBuf,
    /// `None`: every authenticated user; else only this one.
    pub(crate) owner: Option<String>,
    /// The job whose working directory this is.
    pub(crate) job: Option<String>,
    pub(crate) seq: u64,
    pub(crate) description: String,
    pub(crate) umask: String,
}

pub(crate) fn add_shared_storages(server: &Server) {
    for (id, description) in [("HOME", "the user's home"), ("WORK", "project space")] {
        let rec = StorageRec {
            id: id.into(),
            root: server.config.state_dir.join("storages").join(id),
            owner: None,
            job: None,
            seq: server.next_seq(),
            description: description.into(),
            umask: "77".into(),
        };
        lock(&server.storages).insert(id.into(), rec);
    }
}

pub(crate) fn storage_url(server: &Server, id: &str) -> String {
    format!("{}/storages/{id}", server.base())
}

/// The storage `id` if `who` may use it.
pub(crate) fn storage_for(
    server: &Server,
    who: &Identity,
    id: &str,
) -> Result<StorageRec, ApiError> {
    let user = who.require_user()?;
    let rec = lock(&server.storages)
        .get(id)
        .cloned()
        .ok_or_else(|| not_found(format!("storage {id}")))?;
    match &rec.owner {
        Some(o) if o != user => Err(fail(403, format!("Access denied to storage {id}"))),
        _ => Ok(rec),
    }
}

pub(crate) async fn route(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => list_storages(server, who, &call),
        (Method::GET, [id]) => storage_props(server, who, id),
        (Method::PUT, [id]) => {
            let rec = storage_for(server, who, id)?;
            let body = call.json().await?;
            let mut reply = serde_json::Map::new();
            for (k, v) in body.as_object().into_iter().flatten() {
                let answer = match (k.as_str(), v.as_str()) {
                    ("umask", Some(u)) if u.chars().all(|c| c.is_digit(8)) => {
                        if let Some(r) = lock(&server.storages).get_mut(&rec.id) {
                            r.umask = u.to_owned();
                        }
                        "OK".to_owned()
                    }
                    ("description", Some(d)) => {
                        if let Some(r) = lock(&server.storages).get_mut(&rec.id) {
                            r.description = d.to_owned();
                        }
                        "OK".to_owned()
                    }
                    _ => format!("FAILED: property {k} cannot be set"),
                };
                reply.insert(k.clone(), Value::String(answer));
            }
            ok_json(&Value::Object(reply))
        }
        (_, [id, "files", path @ ..]) => {
            let rec = storage_for(server, who, id)?;
            file(server, &rec, call, path).await
        }
        (Method::POST, [id, "actions", action]) => {
            let rec = storage_for(server, who, id)?;
            let body = call.json().await?;
            let (from, to) = match (
                body.get("from").and_then(Value::as_str),
                body.get("to").and_then(Value::as_str),
            ) {
                (Some(f), Some(t)) => (f.to_owned(), t.to_owned()),
                _ => return Err(bad_request("parameters 'from' and 'to' are required")),
            };
            let src = resolve(&rec, &split(&from))?;
            let dst = resolve(&rec, &split(&to))?;
            if let Some(p) = dst.parent() {
                tokio::fs::create_dir_all(p).await?;
            }
            match *action {
                "rename" => tokio::fs::rename(&src, &dst).await?,
                "copy" => {
                    copy_tree(&src, &dst).await?;
                }
                other => return Err(not_found(format!("action {other}"))),
            }
            no_content()
        }
        (Method::POST, [id, "transfers"]) => {
            let rec = storage_for(server, who, id)?;
            super::transfers::create(server, who, &rec, call).await
        }
        _ => Err(fail(404, "no such storage resource")),
    }
}

fn list_storages(server: &Server, who: &Identity, call: &Call) -> Handled {
    let user = who.require_user()?.to_owned();
    let all = call.query.get("filter").map(String::as_str) == Some("all");
    let mut recs: Vec<StorageRec> = lock(&server.storages)
        .values()
        .filter(|r| r.owner.as_ref().is_none_or(|o| *o == user))
        .filter(|r| all || r.job.is_none())
        .cloned()
        .collect();
    recs.sort_by_key(|r| r.seq);
    let items = recs.iter().map(|r| (storage_url(server, &r.id), Vec::new())).collect();
    collection(&format!("{}/storages", server.base()), "storages", items, call)
}

fn storage_props(server: &Server, who: &Identity, id: &str) -> Handled {
    let rec = storage_for(server, who, id)?;
    let url = storage_url(server, id);
    let mut links = serde_json::Map::new();
    links.insert("self".into(), link(&url));
    links.insert("files".into(), link(&format!("{url}/files")));
    links.insert("action:copy".into(), link(&format!("{url}/actions/copy")));
    links.insert("action:rename".into(), link(&format!("{url}/actions/rename")));
    if let Some(j) = &rec.job {
        links.insert("job".into(), link(&format!("{}/jobs/{j}", server.base())));
    }
    ok_json(&json!({
        "resourceStatus": "READY",
        "resourceStatusMessage": "N/A",
        "protocols": ["BFT"],
        "umask": rec.umask,
        "description": rec.description,
        "metadataSupported": false,
        "mountPoint": rec.root.display().to_string(),
        "filesystemDescription": "local directory",
        "freeSpace": 1u64 << 40,
        "usableSpace": 1u64 << 40,
        "owner": who.dn(),
        "acl": [],
        "tags": [],
        "terminationTime": "2099-12-31T23:59:59+0000",
        "_links": links,
    }))
}

fn split(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_owned).collect()
}

/// The local path of `segs` under the storage root; `..` and symbolic links
/// that lead out of the root are refused.
pub(crate) fn resolve<S: AsRef<str>>(rec: &StorageRec, segs: &[S]) -> Result<PathBuf, ApiError> {
    let mut p = rec.root.clone();
    for s in segs {
        let s = s.as_ref();
        if s == ".." || s.contains('\0') {
            return Err(bad_request(format!("path component {s:?} is not allowed")));
        }
        if !s.is_empty() && s != "." {
            p.push(s);
        }
    }
    // The deepest existing ancestor must stay inside the root.
    let mut probe = p.clone();
    loop {
        if let Ok(real) = probe.canonicalize() {
            let root = rec.root.canonicalize().unwrap_or_else(|_| rec.root.clone());
            if !real.starts_with(&root) {
                return Err(fail(403, "path leaves the storage"));
            }
            break;
        }
        if !probe.pop() {
            break;
        }
    }
    Ok(p)
}

/// Storage-absolute text of a local path (`/a/b`, directories with a trailing `/`).
fn storage_path(rec: &StorageRec, local: &Path, is_dir: bool) -> String {
    let rel = local.strip_prefix(&rec.root).unwrap_or(local).to_string_lossy().into_owned();
    let mut s = format!("/{rel}");
    if is_dir && !s.ends_with('/') {
        s.push('/');
    }
    s
}

fn perm_text(mode: u32) -> String {
    (0..9).map(|i| if mode & (1 << (8 - i)) != 0 { ['r', 'w', 'x'][i % 3] } else { '-' }).collect()
}

pub(crate) fn entry_json(meta: &std::fs::Metadata) -> Value {
    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    json!({
        "isDirectory": meta.is_dir(),
        "size": if meta.is_dir() { 0 } else { meta.len() },
        "lastAccessed": super::http::date(modified),
        "owner": "demouser",
        "group": "demouser",
        "permissions": perm_text(meta.permissions().mode()),
        "metadata": {},
    })
}

async fn file(server: &Server, rec: &StorageRec, call: Call, segs: &[&str]) -> Handled {
    let local = resolve(rec, segs)?;
    let url = format!("{}/files/{}", storage_url(server, &rec.id), segs.join("/"));
    match call.method {
        Method::GET if call.wants_octets() => read(&local, &call).await,
        Method::GET => {
            let meta = tokio::fs::metadata(&local)
                .await
                .map_err(|_| not_found(format!("file {}", storage_path(rec, &local, false))))?;
            let mut v = entry_json(&meta);
            v["_links"] =
                json!({"parentStorage": link(&storage_url(server, &rec.id)), "self": link(&url)});
            if meta.is_dir() {
                let mut content = serde_json::Map::new();
                let mut rd = tokio::fs::read_dir(&local).await?;
                while let Some(e) = rd.next_entry().await? {
                    let m = match e.metadata().await {
                        Ok(m) => m,
                        Err(_) => continue,
                    };
                    content.insert(storage_path(rec, &e.path(), m.is_dir()), entry_json(&m));
                }
                v["content"] = Value::Object(content);
                return ok_json(&v);
            }
            let mut r = super::http::json(200, &v);
            r.headers_mut().insert("accept-ranges", http::HeaderValue::from_static("bytes"));
            Ok(r)
        }
        Method::PUT if call.is_json() => {
            if tokio::fs::symlink_metadata(&local).await.is_err() {
                return Err(not_found(format!("file {}", storage_path(rec, &local, false))));
            }
            let body = call.json().await?;
            let mut reply = serde_json::Map::new();
            for (k, v) in body.as_object().into_iter().flatten() {
                let answer = match (k.as_str(), v.as_str()) {
                    ("permissions" | "unixPermissions", Some(p)) => match parse_perms(p) {
                        Some(mode) => match std::fs::set_permissions(
                            &local,
                            std::fs::Permissions::from_mode(mode),
                        ) {
                            Ok(()) => "OK".to_owned(),
                            Err(e) => format!("FAILED: {e}"),
                        },
                        None => format!("FAILED: {p:?} is not rwxrwxrwx"),
                    },
                    ("metadata", _) => "OK".to_owned(),
                    _ => format!("FAILED: {k} is not supported"),
                };
                reply.insert(k.clone(), Value::String(answer));
            }
            ok_json(&Value::Object(reply))
        }
        Method::PUT => upload(&local, call).await,
        Method::POST => {
            tokio::fs::create_dir_all(&local).await?;
            created(&url)
        }
        Method::DELETE => {
            let meta = tokio::fs::symlink_metadata(&local)
                .await
                .map_err(|_| not_found(format!("file {}", storage_path(rec, &local, false))))?;
            if meta.is_dir() {
                tokio::fs::remove_dir_all(&local).await?;
            } else {
                tokio::fs::remove_file(&local).await?;
            }
            no_content()
        }
        _ => Err(fail(405, "method not allowed")),
    }
}

fn parse_perms(p: &str) -> Option<u32> {
    let p = p.get(p.len().checked_sub(9)?..)?;
    let mut mode = 0;
    for (i, c) in p.chars().enumerate() {
        match c {
            '-' => {}
            c if c == ['r', 'w', 'x'][i % 3] => mode |= 1 << (8 - i),
            _ => return None,
        }
    }
    Some(mode)
}

/// `Range: bytes=a-b | a- | -n` → (start, length).
fn parse_range(text: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = text.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 { Err(()) } else { Ok((size.saturating_sub(n), n.min(size))) }
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        if start >= size || end < start { Err(()) } else { Ok((start, end - start + 1)) }
    };
    Some(r)
}

async fn read(local: &Path, call: &Call) -> Handled {
    let meta = tokio::fs::metadata(local).await.map_err(|_| not_found("file"))?;
    if meta.is_dir() {
        return Err(fail(406, "a directory cannot be downloaded as data"));
    }
    let size = meta.len();
    let (status, start, len) = match call.header("range").map(|r| parse_range(r, size)) {
        None | Some(None) => (200, 0, size),
        Some(Some(Ok((s, l)))) => (206, s, l),
        Some(Some(Err(()))) => {
            return Err(fail(416, format!("range not satisfiable (file size {size})")));
        }
    };
    let mut f = tokio::fs::File::open(local).await?;
    if start > 0 {
        f.seek(std::io::SeekFrom::Start(start)).await?;
    }
    let stream = futures::stream::unfold((f, len), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let want = left.min(256 * 1024) as usize;
        let mut buf = vec![0u8; want];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    let mut r = super::http::reply(
        status,
        Some("application/octet-stream"),
        BodyExt::boxed_unsync(StreamBody::new(stream)),
    );
    r.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    if status == 206 {
        let v = format!("bytes {start}-{}/{size}", start + len - 1);
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            r.headers_mut().insert(http::header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

/// Writes the body beside the target and renames it when the body is complete,
/// so a broken upload never leaves a file that looks whole.
async fn upload(local: &Path, call: Call) -> Handled {
    if let Some(dir) = local.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    if tokio::fs::metadata(local).await.is_ok_and(|m| m.is_dir()) {
        return Err(fail(409, "a directory exists at this path"));
    }
    let name = local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = local.with_file_name(format!(".{name}.upload-{}", super::http::random_hex(4)));
    let mut out = tokio::fs::File::create(&tmp).await?;
    let mut body = call.request.into_body();
    let result: Result<(), ApiError> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| bad_request(format!("upload broken off: {e}")))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).await?;
            }
        }
        out.flush().await?;
        Ok(())
    }
    .await;
    drop(out);
    match result {
        Ok(()) => {
            tokio::fs::rename(&tmp, local).await?;
            no_content()
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

/// Copies a file or a directory tree.
pub(crate) async fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<u64> {
    let meta = tokio::fs::metadata(src).await?;
    if !meta.is_dir() {
        if let Some(p) = dst.parent() {
            tokio::fs::create_dir_all(p).await?;
        }
        return tokio::fs::copy(src, dst).await;
    }
    let mut total = 0;
    let mut stack = vec![(src.to_owned(), dst.to_owned())];
    while let Some((s, d)) = stack.pop() {
        tokio::fs::create_dir_all(&d).await?;
        let mut rd = tokio::fs::read_dir(&s).await?;
        while let Some(e) = rd.next_entry().await? {
            let target = d.join(e.file_name());
            if e.file_type().await?.is_dir() {
                stack.push((e.path(), target));
            } else {
                total += tokio::fs::copy(e.path(), &target).await?;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=2-5", 10), Some(Ok((2, 4))));
        assert_eq!(parse_range("bytes=7-", 10), Some(Ok((7, 3))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 3))));
        assert_eq!(parse_range("bytes=4-100", 10), Some(Ok((4, 6))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=5-2", 10), Some(Err(())));
        assert_eq!(parse_range("pages=1-2", 10), None);
        assert_eq!(parse_perms("rwxr-x---"), Some(0o750));
        assert_eq!(perm_text(0o640), "rw-r-----");
    }
}
