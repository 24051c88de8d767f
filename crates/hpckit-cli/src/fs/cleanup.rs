//! `hpckit fs cleanup`: find and remove what interrupted copies left below
//! a directory (staged files, unfinished S3 multipart uploads).

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use hpckit::core::time::format_utc_minutes;
use hpckit::core::{FileSystem, Path};
use hpckit::fs_adaptors::leftovers::{self, Leftover};
use serde::Serialize;

use crate::output;

/// One leftover as `--json` prints it (field names are stable).
#[derive(Debug, Serialize)]
struct Entry {
    /// The staged file, or the path an upload was for.
    path: String,
    /// `staged` or `upload`.
    kind: &'static str,
    /// The upload's id (uploads only).
    upload_id: Option<String>,
    bytes: u64,
    /// Seconds since the Unix epoch.
    modified: Option<u64>,
    /// `writer gone` or `unchanged`.
    why: &'static str,
    /// Whether it was removed (false with `--dry-run` or on an error).
    removed: bool,
    /// Why it could not be removed.
    error: Option<String>,
}

impl Entry {
    fn new(l: &Leftover) -> Self {
        Entry {
            path: l.path.to_string(),
            kind: l.kind_str(),
            upload_id: match &l.kind {
                leftovers::LeftoverKind::Upload(u) => Some(u.id.clone()),
                leftovers::LeftoverKind::Staged(_) => None,
            },
            bytes: l.bytes,
            modified: l
                .modified
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            why: l.why.as_str(),
            removed: false,
            error: None,
        }
    }
}

/// Search `dir` at any depth; remove each stale leftover unless `dry_run`.
/// Exits 1 when some could not be removed.
pub(super) async fn cleanup(
    fs: &dyn FileSystem,
    dir: &Path,
    older_than: Duration,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let found = leftovers::find(fs, dir, true, older_than).await?;
    let mut entries = Vec::with_capacity(found.len());
    for l in &found {
        let mut e = Entry::new(l);
        if !dry_run {
            match leftovers::remove(fs, l).await {
                Ok(()) => e.removed = true,
                Err(err) => e.error = Some(hpckit::core::error::chain_text(&err)),
            }
        }
        entries.push(e);
    }
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    if json {
        output::print_json(&entries)?;
    } else {
        let mut table = output::Table::new(["ACTION", "KIND", "BYTES", "MODIFIED", "WHY", "PATH"]);
        for e in &entries {
            let action = match (&e.error, e.removed) {
                (Some(_), _) => "failed",
                (None, true) => "removed",
                (None, false) => "would remove",
            };
            let modified = e
                .modified
                .map(|s| format_utc_minutes(UNIX_EPOCH + Duration::from_secs(s)))
                .unwrap_or_default();
            table.row([
                action.to_owned(),
                e.kind.to_owned(),
                e.bytes.to_string(),
                modified,
                e.why.to_owned(),
                e.path.clone(),
            ]);
        }
        if !entries.is_empty() {
            table.print()?;
        }
        for e in &entries {
            if let Some(err) = &e.error {
                output::note(format_args!("cannot remove {}: {err}", e.path));
            }
        }
        let bytes: u64 = entries.iter().map(|e| e.bytes).sum();
        let verb = if dry_run { "found" } else { "removed" };
        output::note(format_args!(
            "{verb} {} leftovers ({bytes} bytes) below {dir}",
            entries.len() - failed
        ));
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
