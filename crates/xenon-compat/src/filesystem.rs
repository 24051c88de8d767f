//! `FileSystemService`: Xenon's file RPCs over `hpc_core::FileSystem` and the copy engine.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use hpckit::core::Path;
use hpckit::core::fs::{ByteRange, CopyMode, EntryKind, PathAttributes};
use hpckit::fs_adaptors::copy::{CopyOptions, Progress};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::adaptors::FILESYSTEMS;
use crate::errors::XenonError;
use crate::proto;
use crate::proto::file_system_service_server::FileSystemService;
use crate::state::{CopyEntry, CopyProgress, CopyState, FileSystemEntry, State, fs_cred};

/// Largest data message sent (gRPC clients refuse messages above 4 MiB by default).
const MAX_CHUNK: usize = 1 << 20;

/// The `FileSystemService` half of the server.
#[derive(Debug, Clone)]
pub struct FileSystemServer {
    pub(crate) state: Arc<State>,
}

type Reply<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl FileSystemServer {
    fn entry(&self, f: Option<&proto::FileSystem>) -> Result<Arc<FileSystemEntry>, XenonError> {
        let f = f.ok_or_else(|| XenonError::missing("filesystem"))?;
        self.state.filesystems.get(&f.id)
    }

    /// The entry and absolute path of a `PathRequest`.
    fn at(&self, r: &proto::PathRequest) -> Result<(Arc<FileSystemEntry>, Path), XenonError> {
        let e = self.entry(r.filesystem.as_ref())?;
        let p = e.path(r.path.as_ref())?;
        Ok((e, p))
    }
}

fn fail(e: &FileSystemEntry) -> impl Fn(hpckit::Error) -> XenonError + '_ {
    move |err| XenonError::from_hpckit(e.adaptor, &err)
}

fn wire_path(p: &Path) -> proto::Path {
    proto::Path { path: p.to_string(), separator: "/".into() }
}

fn millis(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// POSIX mode bits in Xenon's enum order (OWNER_READ = 1 ... OTHERS_EXECUTE = 9).
const PERMISSION_BITS: [u32; 9] = [0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001];

fn permissions(mode: u32) -> Vec<i32> {
    (1..=9).filter(|i| mode & PERMISSION_BITS[*i as usize - 1] != 0).collect()
}

fn mode_of(perms: &[i32]) -> u32 {
    perms
        .iter()
        .filter(|p| (1..=9).contains(*p))
        .map(|p| PERMISSION_BITS[*p as usize - 1])
        .fold(0, |a, b| a | b)
}

/// hpckit's attributes as Xenon's; where an adaptor knows no permissions the path
/// counts as readable and writable, as Xenon's connectionless adaptors report it.
pub(crate) fn attributes(a: &PathAttributes) -> proto::PathAttributes {
    let mode = a.permissions;
    let bit = |b: u32, unknown: bool| mode.map_or(unknown, |m| m & b != 0);
    proto::PathAttributes {
        path: Some(wire_path(&a.path)),
        creation_time: millis(a.created.or(a.modified)),
        group: a.group.clone().unwrap_or_default(),
        is_directory: a.kind == EntryKind::Directory,
        is_executable: bit(0o100, false),
        is_hidden: a.is_hidden(),
        is_other: a.kind == EntryKind::Other,
        is_readable: bit(0o400, true),
        is_regular: a.kind == EntryKind::File,
        is_symbolic_link: a.kind == EntryKind::Symlink,
        is_writable: bit(0o200, true),
        last_access_time: millis(a.accessed.or(a.modified)),
        last_modified_time: millis(a.modified),
        owner: a.owner.clone().unwrap_or_default(),
        permissions: mode.map(permissions).unwrap_or_default(),
        size: a.size,
    }
}

/// The bytes of a client's upload stream, the first message's bytes first.
fn upload<M: Send + 'static>(
    first: Vec<u8>,
    rest: Streaming<M>,
    buffer: fn(M) -> Vec<u8>,
) -> hpckit::core::fs::ByteStream {
    let head = futures::stream::iter((!first.is_empty()).then(|| Ok(Bytes::from(first))));
    let tail = rest.map(move |m| match m {
        Ok(m) => Ok(Bytes::from(buffer(m))),
        // A broken upload must fail the write, so the adaptor keeps no partial file.
        Err(status) => {
            Err(hpckit::Error::Cancelled(format!("upload stream broke: {}", status.message())))
        }
    });
    head.chain(tail).filter(|c| futures::future::ready(!matches!(c, Ok(b) if b.is_empty()))).boxed()
}

fn copy_status(c: &CopyEntry, p: &CopyProgress) -> proto::CopyStatus {
    use proto::copy_status::ErrorType;
    let (state, done, running, error_type, error_message) = match &p.state {
        CopyState::Pending => ("PENDING", false, false, ErrorType::None, String::new()),
        CopyState::Running => ("RUNNING", false, true, ErrorType::None, String::new()),
        CopyState::Done => ("DONE", true, false, ErrorType::None, String::new()),
        CopyState::Cancelled => {
            ("FAILED", true, false, ErrorType::Cancelled, "Copy cancelled by user".into())
        }
        CopyState::Failed(e) => {
            let t = match e.class {
                "NoSuchPathException" => ErrorType::NotFound,
                "PathAlreadyExistsException" => ErrorType::AlreadyExists,
                "NotConnectedException" => ErrorType::NotConnected,
                _ => ErrorType::Xenon,
            };
            ("FAILED", true, false, t, format!("{}: {} adaptor: {}", e.class, e.adaptor, e.message))
        }
    };
    proto::CopyStatus {
        copy_operation: Some(proto::CopyOperation { id: c.id.clone() }),
        bytes_copied: p.bytes_copied,
        bytes_to_copy: p.bytes_to_copy,
        done,
        running,
        state: state.into(),
        error_message,
        error_type: error_type as i32,
    }
}

/// Waits until the copy is no longer pending or running, or `timeout` passes.
async fn settle(c: &CopyEntry, timeout: Option<Duration>) -> CopyProgress {
    let mut rx = c.progress.clone();
    let wait = rx.wait_for(|p| !matches!(p.state, CopyState::Pending | CopyState::Running));
    match timeout {
        Some(t) => {
            let _ = tokio::time::timeout(t, wait).await;
        }
        None => {
            let _ = wait.await;
        }
    }
    c.progress.borrow().clone()
}

#[tonic::async_trait]
impl FileSystemService for FileSystemServer {
    async fn get_adaptor_descriptions(
        &self,
        _: Request<proto::Empty>,
    ) -> Reply<proto::FileSystemAdaptorDescriptions> {
        Ok(Response::new(proto::FileSystemAdaptorDescriptions {
            descriptions: FILESYSTEMS.iter().map(|a| a.describe()).collect(),
        }))
    }

    async fn get_adaptor_names(&self, _: Request<proto::Empty>) -> Reply<proto::AdaptorNames> {
        Ok(Response::new(proto::AdaptorNames {
            name: FILESYSTEMS.iter().map(|a| a.name.into()).collect(),
        }))
    }

    async fn get_adaptor_description(
        &self,
        r: Request<proto::AdaptorName>,
    ) -> Reply<proto::FileSystemAdaptorDescription> {
        Ok(Response::new(crate::adaptors::filesystem(&r.get_ref().name)?.describe()))
    }

    async fn create(&self, r: Request<proto::CreateFileSystemRequest>) -> Reply<proto::FileSystem> {
        let r = r.into_inner();
        let e = self
            .state
            .create_filesystem(&r.adaptor, &r.location, r.properties, fs_cred(r.credential))
            .await?;
        Ok(Response::new(proto::FileSystem { id: e.id.clone() }))
    }

    async fn get_adaptor_name(&self, r: Request<proto::FileSystem>) -> Reply<proto::AdaptorName> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::AdaptorName { name: e.adaptor.into() }))
    }

    async fn get_location(&self, r: Request<proto::FileSystem>) -> Reply<proto::Location> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::Location { location: e.location.clone() }))
    }

    async fn get_credential(
        &self,
        r: Request<proto::FileSystem>,
    ) -> Reply<proto::GetCredentialResponse> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::GetCredentialResponse { credential: e.credential.clone() }))
    }

    async fn get_properties(&self, r: Request<proto::FileSystem>) -> Reply<proto::Properties> {
        let e = self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::Properties { properties: e.properties.clone() }))
    }

    async fn create_directories(&self, r: Request<proto::PathRequest>) -> Reply<proto::Empty> {
        let (e, p) = self.at(r.get_ref())?;
        // Xenon: fails if the directory exists already.
        if e.fs.exists(&p).await.map_err(fail(&e))? {
            return Err(XenonError::from_hpckit(
                e.adaptor,
                &hpckit::Error::AlreadyExists { path: p.to_string() },
            )
            .into());
        }
        e.fs.create_directories(&p).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn create_directory(&self, r: Request<proto::PathRequest>) -> Reply<proto::Empty> {
        let (e, p) = self.at(r.get_ref())?;
        e.fs.create_directory(&p).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn create_file(&self, r: Request<proto::PathRequest>) -> Reply<proto::Empty> {
        let (e, p) = self.at(r.get_ref())?;
        e.fs.create_file(&p).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn create_symbolic_link(
        &self,
        r: Request<proto::CreateSymbolicLinkRequest>,
    ) -> Reply<proto::Empty> {
        let r = r.into_inner();
        let e = self.entry(r.filesystem.as_ref())?;
        let link = e.path(r.link.as_ref())?;
        // The target is stored as given: a relative target stays relative to the link.
        let target_text = r.target.as_ref().map(|t| t.path.as_str()).unwrap_or("");
        let target = Path::new(target_text).map_err(fail(&e))?;
        e.fs.create_symbolic_link(&link, &target).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn copy(&self, r: Request<proto::CopyRequest>) -> Reply<proto::CopyOperation> {
        let r = r.into_inner();
        let src = self.entry(r.filesystem.as_ref())?;
        let dst = self.entry(r.destination_filesystem.as_ref())?;
        let src_path = src.path(r.source.as_ref())?;
        let dst_path = dst.path(r.destination.as_ref())?;
        let mode = match proto::copy_request::CopyMode::try_from(r.mode) {
            Ok(proto::copy_request::CopyMode::Create) => CopyMode::Create,
            Ok(proto::copy_request::CopyMode::Replace) => CopyMode::Replace,
            Ok(proto::copy_request::CopyMode::Ignore) => CopyMode::Ignore,
            Err(_) => {
                return Err(XenonError::new(
                    Code::InvalidArgument,
                    "InvalidOptionsException",
                    src.adaptor,
                    format!("unknown copy mode {}", r.mode),
                )
                .into());
            }
        };
        let (tx, rx) = watch::channel(CopyProgress::default());
        let tx = Arc::new(tx);
        let cancel = CancellationToken::new();
        let progress_tx = Arc::clone(&tx);
        let opts = CopyOptions {
            mode,
            recursive: r.recursive,
            scan_first: r.recursive,
            cancel: cancel.clone(),
            progress: Some(Arc::new(move |p: &Progress| {
                progress_tx.send_modify(|c| {
                    c.bytes_copied = p.bytes_done;
                    c.bytes_to_copy = p.bytes_total.unwrap_or(c.bytes_to_copy.max(p.bytes_done));
                    c.state = CopyState::Running;
                });
            })),
            ..CopyOptions::default()
        };
        let entry = self.state.copies.insert_with("copy", |id| CopyEntry {
            id,
            filesystem: src.id.clone(),
            progress: rx,
            cancel: cancel.clone(),
        });
        tokio::spawn(async move {
            tx.send_modify(|c| c.state = CopyState::Running);
            let result =
                hpckit::fs_adaptors::copy(&src.fs, &src_path, &dst.fs, &dst_path, &opts).await;
            tx.send_modify(|c| {
                c.state = match result {
                    Ok(_) => {
                        c.bytes_to_copy = c.bytes_to_copy.max(c.bytes_copied);
                        CopyState::Done
                    }
                    Err(_) if cancel.is_cancelled() => CopyState::Cancelled,
                    Err(e) => CopyState::Failed(XenonError::from_hpckit(src.adaptor, &e)),
                };
            });
        });
        Ok(Response::new(proto::CopyOperation { id: entry.id.clone() }))
    }

    async fn cancel(&self, r: Request<proto::CopyOperationRequest>) -> Reply<proto::CopyStatus> {
        let c = self.copy_entry(r.get_ref())?;
        c.cancel.cancel();
        let p = settle(&c, None).await;
        Ok(Response::new(copy_status(&c, &p)))
    }

    async fn get_status(
        &self,
        r: Request<proto::CopyOperationRequest>,
    ) -> Reply<proto::CopyStatus> {
        let c = self.copy_entry(r.get_ref())?;
        let p = c.progress.borrow().clone();
        Ok(Response::new(copy_status(&c, &p)))
    }

    async fn rename(&self, r: Request<proto::RenameRequest>) -> Reply<proto::Empty> {
        let r = r.into_inner();
        let e = self.entry(r.filesystem.as_ref())?;
        let from = e.path(r.source.as_ref())?;
        let to = e.path(r.target.as_ref())?;
        e.fs.rename(&from, &to).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn delete(&self, r: Request<proto::DeleteRequest>) -> Reply<proto::Empty> {
        let r = r.into_inner();
        let e = self.entry(r.filesystem.as_ref())?;
        let p = e.path(r.path.as_ref())?;
        e.fs.delete(&p, r.recursive).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn exists(&self, r: Request<proto::PathRequest>) -> Reply<proto::Is> {
        let (e, p) = self.at(r.get_ref())?;
        let value = e.fs.exists(&p).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Is { value }))
    }

    type readFromFileStream = BoxStream<proto::ReadFromFileResponse>;

    async fn read_from_file(
        &self,
        r: Request<proto::PathRequest>,
    ) -> Reply<Self::readFromFileStream> {
        let (e, p) = self.at(r.get_ref())?;
        let data = e.fs.read(&p, ByteRange::ALL).await.map_err(fail(&e))?;
        let adaptor = e.adaptor;
        let out = data.flat_map(move |chunk| {
            let msgs: Vec<Result<proto::ReadFromFileResponse, Status>> = match chunk {
                Ok(b) => b
                    .chunks(MAX_CHUNK)
                    .map(|c| Ok(proto::ReadFromFileResponse { buffer: c.to_vec() }))
                    .collect(),
                Err(err) => vec![Err(XenonError::from_hpckit(adaptor, &err).into())],
            };
            futures::stream::iter(msgs)
        });
        Ok(Response::new(Box::pin(out)))
    }

    async fn write_to_file(
        &self,
        r: Request<Streaming<proto::WriteToFileRequest>>,
    ) -> Reply<proto::Empty> {
        let mut input = r.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| XenonError::missing("first message (filesystem and path)"))?;
        let e = self.entry(first.filesystem.as_ref())?;
        let p = e.path(first.path.as_ref())?;
        // Xenon's writeToFile never replaces a file.
        if e.fs.exists(&p).await.map_err(fail(&e))? {
            return Err(XenonError::from_hpckit(
                e.adaptor,
                &hpckit::Error::AlreadyExists { path: p.to_string() },
            )
            .into());
        }
        let size = Some(first.size).filter(|s| *s > 0);
        let data = upload(first.buffer, input, |m: proto::WriteToFileRequest| m.buffer);
        e.fs.write(&p, data, size).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn append_to_file(
        &self,
        r: Request<Streaming<proto::AppendToFileRequest>>,
    ) -> Reply<proto::Empty> {
        let mut input = r.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| XenonError::missing("first message (filesystem and path)"))?;
        let e = self.entry(first.filesystem.as_ref())?;
        let p = e.path(first.path.as_ref())?;
        let data = upload(first.buffer, input, |m: proto::AppendToFileRequest| m.buffer);
        e.fs.append(&p, data).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    type listStream = BoxStream<proto::PathAttributes>;

    async fn list(&self, r: Request<proto::ListRequest>) -> Reply<Self::listStream> {
        let r = r.into_inner();
        let e = self.entry(r.filesystem.as_ref())?;
        let dir = e.path(r.dir.as_ref())?;
        // Xenon checks the directory before streaming, so a missing one is the call's error.
        let a = e.fs.attributes(&dir).await.map_err(fail(&e))?;
        if !a.is_directory() {
            return Err(XenonError::new(
                Code::FailedPrecondition,
                "InvalidPathException",
                e.adaptor,
                format!("Path is not a directory: {dir}"),
            )
            .into());
        }
        let recursive = r.recursive;
        let out = async_stream_list(e, dir, recursive);
        Ok(Response::new(Box::pin(out)))
    }

    async fn get_attributes(&self, r: Request<proto::PathRequest>) -> Reply<proto::PathAttributes> {
        let (e, p) = self.at(r.get_ref())?;
        let a = e.fs.attributes(&p).await.map_err(fail(&e))?;
        Ok(Response::new(attributes(&a)))
    }

    async fn get_working_directory(&self, r: Request<proto::FileSystem>) -> Reply<proto::Path> {
        let e = self.entry(Some(r.get_ref()))?;
        let cwd = e.cwd.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(Response::new(wire_path(&cwd)))
    }

    async fn set_working_directory(&self, r: Request<proto::PathRequest>) -> Reply<proto::Empty> {
        let (e, p) = self.at(r.get_ref())?;
        let a = e.fs.attributes(&p).await.map_err(fail(&e))?;
        if !a.is_directory() {
            return Err(XenonError::new(
                Code::FailedPrecondition,
                "InvalidPathException",
                e.adaptor,
                format!("Path is not a directory: {p}"),
            )
            .into());
        }
        *e.cwd.lock().unwrap_or_else(|e| e.into_inner()) = p;
        Ok(Response::new(proto::Empty {}))
    }

    async fn set_posix_file_permissions(
        &self,
        r: Request<proto::SetPosixFilePermissionsRequest>,
    ) -> Reply<proto::Empty> {
        let r = r.into_inner();
        let e = self.entry(r.filesystem.as_ref())?;
        let p = e.path(r.path.as_ref())?;
        e.fs.set_permissions(&p, mode_of(&r.permissions)).await.map_err(fail(&e))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn read_symbolic_link(&self, r: Request<proto::PathRequest>) -> Reply<proto::Path> {
        let (e, p) = self.at(r.get_ref())?;
        let target = e.fs.read_symbolic_link(&p).await.map_err(fail(&e))?;
        Ok(Response::new(wire_path(&target)))
    }

    async fn get_path_separator(
        &self,
        r: Request<proto::FileSystem>,
    ) -> Reply<proto::GetPathSeparatorResponse> {
        self.entry(Some(r.get_ref()))?;
        Ok(Response::new(proto::GetPathSeparatorResponse { separator: "/".into() }))
    }

    async fn is_open(&self, r: Request<proto::FileSystem>) -> Reply<proto::Is> {
        Ok(Response::new(proto::Is { value: self.state.filesystems.contains(&r.get_ref().id) }))
    }

    async fn close(&self, r: Request<proto::FileSystem>) -> Reply<proto::Empty> {
        let e = self.state.filesystems.remove(&r.get_ref().id)?;
        // Xenon ends the copies of a closed file system.
        for c in self.state.copies.find(|c| c.filesystem == e.id) {
            c.cancel.cancel();
            let _ = self.state.copies.remove(&c.id);
        }
        if let Err(err) = e.fs.close().await {
            tracing::debug!(error = %err, "closing a file system");
        }
        Ok(Response::new(proto::Empty {}))
    }

    async fn wait_until_done(
        &self,
        r: Request<proto::WaitUntilDoneRequest>,
    ) -> Reply<proto::CopyStatus> {
        let r = r.into_inner();
        let c = self.copy_entry(&proto::CopyOperationRequest {
            filesystem: r.filesystem,
            copy_operation: r.copy_operation,
        })?;
        let p = settle(&c, (r.timeout > 0).then(|| Duration::from_millis(r.timeout))).await;
        Ok(Response::new(copy_status(&c, &p)))
    }

    async fn local_file_systems(&self, _: Request<proto::Empty>) -> Reply<proto::FileSystems> {
        let existing = self.state.filesystems.find(|f| f.adaptor == "file" && f.location == "/");
        let id = match existing.first() {
            Some(e) => e.id.clone(),
            None => {
                self.state.create_filesystem("file", "/", HashMap::new(), None).await?.id.clone()
            }
        };
        Ok(Response::new(proto::FileSystems { filesystems: vec![proto::FileSystem { id }] }))
    }

    async fn list_file_systems(&self, _: Request<proto::Empty>) -> Reply<proto::FileSystems> {
        let filesystems =
            self.state.filesystems.ids().into_iter().map(|id| proto::FileSystem { id }).collect();
        Ok(Response::new(proto::FileSystems { filesystems }))
    }
}

impl FileSystemServer {
    fn copy_entry(&self, r: &proto::CopyOperationRequest) -> Result<Arc<CopyEntry>, XenonError> {
        let op = r.copy_operation.as_ref().ok_or_else(|| XenonError::missing("copy_operation"))?;
        self.state.copies.get(&op.id)
    }
}

/// The listing as a stream that owns its file system handle.
fn async_stream_list(
    e: Arc<FileSystemEntry>,
    dir: Path,
    recursive: bool,
) -> impl Stream<Item = Result<proto::PathAttributes, Status>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut entries = e.fs.list(&dir, recursive);
        while let Some(item) = entries.next().await {
            let msg = item
                .map(|a| attributes(&a))
                .map_err(|err| Status::from(XenonError::from_hpckit(e.adaptor, &err)));
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_xenons_enum() {
        for mode in [0o755, 0o640, 0o000, 0o777, 0o401] {
            assert_eq!(mode_of(&permissions(mode)), mode, "{mode:o}");
        }
        assert_eq!(permissions(0o750), vec![1, 2, 3, 4, 6]);
        assert_eq!(mode_of(&[0, 10, -1]), 0, "out-of-range values are ignored");
    }
}
