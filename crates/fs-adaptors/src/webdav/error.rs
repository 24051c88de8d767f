//! WebDAV status codes to [`Error`]: the same code means different things
//! for different requests (405 to MKCOL is "exists", 409 to PUT is "no
//! parent").

use hpc_core::{Error, NotFoundKind, Path};
use hpc_http::{Response, StatusCode, retry_for_status};

/// Upper bound for one PROPFIND answer held in memory (a Depth 1 listing of
/// a directory with some 100 000 entries).
pub(super) const MAX_PROPFIND_BYTES: usize = 128 << 20;

/// Which request a status code answers: the same code means different things.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Mkcol,
    Put,
    Get,
    Delete,
    Move,
    Copy,
    Propfind,
}

/// Map a failure status of `op` on `path` to the matching error.
pub(super) async fn status_error(op: Op, path: &Path, resp: Response) -> Error {
    let status = resp.status();
    let missing_parent = || Error::NotFound {
        kind: NotFoundKind::Path,
        name: format!("{} (parent directory)", path.parent().unwrap_or_else(Path::root)),
    };
    match (op, status) {
        (_, StatusCode::NOT_FOUND) => Error::path_not_found(path),
        (Op::Mkcol, StatusCode::METHOD_NOT_ALLOWED) => {
            Error::AlreadyExists { path: path.to_string() }
        }
        (Op::Put | Op::Move | Op::Copy, StatusCode::PRECONDITION_FAILED) => {
            Error::AlreadyExists { path: path.to_string() }
        }
        (Op::Mkcol | Op::Put | Op::Move | Op::Copy, StatusCode::CONFLICT) => missing_parent(),
        (_, StatusCode::INSUFFICIENT_STORAGE) => Error::remote(
            "webdav",
            Some(507),
            format!("insufficient storage on the server for {path}"),
        )
        .with_retry(retry_for_status(status)),
        _ => resp.into_error().await,
    }
}

/// A PROPFIND answer too large to hold.
pub(super) fn too_big(path: &Path) -> Error {
    Error::parse(
        format!("PROPFIND {path}"),
        format!("answer larger than {} MiB", MAX_PROPFIND_BYTES >> 20),
        String::new(),
    )
}
