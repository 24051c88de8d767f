//! `hpckit fs get`, `put` and `cp`: the copy engine with a progress bar
//! (signals stop it through `crate::signals`).

use std::process::ExitCode;
use std::sync::Arc;

use hpckit::core::{Error, FileSystem, Path};
use hpckit::fs_adaptors::copy::{CopyOptions, Progress, ProgressEvent, copy};

use super::{CopyArgs, Opener};
use crate::creds::CredentialArgs;
use crate::output;

/// `cp a dir/` and `cp a existing-dir` copy to `dir/a`.
pub(super) async fn into_directory(
    dfs: &dyn FileSystem,
    dpath: &Path,
    spath: &Path,
    dst_text: &str,
) -> anyhow::Result<Path> {
    let is_dir = match dfs.attributes(dpath).await {
        Ok(a) => a.is_directory(),
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    if is_dir || dst_text.ends_with('/') {
        let name = spath
            .resolve(&Path::root())
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| Error::InvalidInput(format!("{spath} has no name to copy under")))?;
        return Ok(dpath.join_entry(&name)?);
    }
    Ok(dpath.clone())
}

/// Copy `src` to `dst` (into it when it is a directory).
pub(super) async fn cp(
    creds: &CredentialArgs,
    src: &str,
    dst: &str,
    args: &CopyArgs,
) -> anyhow::Result<ExitCode> {
    let mut opener = Opener::new(creds, &args.s3);
    let (sfs, spath) = opener.get(src).await?;
    let (dfs, dpath) = opener.get(dst).await?;
    let spath = spath.resolve(&sfs.info().working_directory);
    let dpath = into_directory(&*dfs, &dpath, &spath, dst).await?;

    let bar = output::bytes_bar(0);
    let progress_bar = bar.clone();
    let mut opts = CopyOptions {
        mode: args.mode,
        recursive: args.recursive,
        parallel: args.parallel.max(1),
        verify: args.verify,
        symlinks: args.links,
        scan_first: output::progress_enabled(),
        stale_after: Some(args.stale_after),
        skip_unusable: true,
        ..Default::default()
    };
    if output::progress_enabled() {
        opts.progress = Some(Arc::new(move |p: &Progress| {
            if let Some(total) = p.bytes_total {
                progress_bar.set_length(total);
            }
            progress_bar.set_position(p.bytes_done);
            if let ProgressEvent::FileStarted { path, .. } = &p.event {
                progress_bar.set_message(path.file_name().unwrap_or("").to_owned());
            }
        }));
    }
    // A signal drops this future; the copy's guards clean up (crate::signals).
    let result = copy(&sfs, &spath, &dfs, &dpath, &opts).await;
    bar.finish_and_clear();
    let report = result?;
    if args.verbose {
        output::note(format_args!(
            "{} copied, {} resumed, {} complete already, {} skipped (existing), {} links, {} skipped, {} verified; {} bytes in {:.2}s",
            report.files,
            report.resumed,
            report.already_complete,
            report.skipped_existing,
            report.links,
            report.skipped,
            report.verified,
            report.bytes,
            report.elapsed.as_secs_f64()
        ));
    }
    skipped_entries(&report.unusable)?;
    Ok(ExitCode::SUCCESS)
}

/// A warning per source entry that was skipped for its name, then an error
/// (exit 65) so that a script sees the copy is not complete.
pub(super) fn skipped_entries(unusable: &[String]) -> anyhow::Result<()> {
    for e in unusable {
        output::note(format_args!("warning: skipped: {e}"));
    }
    if unusable.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "{} entr{} skipped for {} name (warnings above); everything else was done",
        unusable.len(),
        if unusable.len() == 1 { "y was" } else { "ies were" },
        if unusable.len() == 1 { "its" } else { "their" },
    ))
    .into())
}
