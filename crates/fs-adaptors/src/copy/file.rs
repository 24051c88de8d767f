//! Copying one file (or link): mode handling, atomic replace, resume, verify.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, CopyMode, EntryKind, Error, FileSystem, Path,
    PathAttributes, Result,
};

use super::progress::{FileOutcome, Tracker};
use super::{CopyOptions, Hasher, ResumeCheck, SymlinkPolicy, same_fs};
use crate::leftovers::{Leftover, LeftoverKind};
use crate::temp_sibling;

pub(super) struct FileJob {
    src: Arc<dyn FileSystem>,
    dst: Arc<dyn FileSystem>,
    entry: PathAttributes,
    target: Path,
    opts: CopyOptions,
    tracker: Arc<Tracker>,
}

impl FileJob {
    pub(super) fn new(
        src: &Arc<dyn FileSystem>,
        dst: &Arc<dyn FileSystem>,
        entry: PathAttributes,
        target: Path,
        opts: &CopyOptions,
        tracker: &Arc<Tracker>,
    ) -> Self {
        FileJob {
            src: src.clone(),
            dst: dst.clone(),
            entry,
            target,
            opts: opts.clone(),
            tracker: tracker.clone(),
        }
    }

    /// Copy and report the outcome and whether a checksum was compared.
    pub(super) async fn run(self) -> Result<(FileOutcome, bool)> {
        let cancel = self.opts.cancel.clone();
        let path = self.entry.path.clone();
        let r = tokio::select! {
            r = self.run_inner() => r?,
            () = cancel.cancelled() => return Err(Error::Cancelled(format!("copy of {path}"))),
        };
        Ok(r)
    }

    async fn run_inner(&self) -> Result<(FileOutcome, bool)> {
        let r = match self.entry.kind {
            EntryKind::Symlink if self.opts.symlinks != SymlinkPolicy::Follow => self.link().await,
            EntryKind::Directory => {
                Err(Error::InvalidInput(format!("{} is a directory", self.entry.path)))
            }
            EntryKind::Other => Ok((FileOutcome::SkippedOther, false)),
            _ => self.file().await,
        }?;
        self.tracker.finished(&self.entry.path, r.0);
        Ok(r)
    }

    async fn existing(&self) -> Result<Option<PathAttributes>> {
        match self.dst.attributes(&self.target).await {
            Ok(a) => Ok(Some(a)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn link(&self) -> Result<(FileOutcome, bool)> {
        let can = self.src.info().capabilities.read_symbolic_link
            && self.dst.info().capabilities.create_symbolic_link;
        if self.opts.symlinks == SymlinkPolicy::Skip || !can {
            return Ok((FileOutcome::SkippedLink, false));
        }
        let target_text = self.src.read_symbolic_link(&self.entry.path).await?;
        if let Some(old) = self.existing().await? {
            match self.opts.mode {
                CopyMode::Create => {
                    return Err(Error::AlreadyExists { path: self.target.to_string() });
                }
                CopyMode::Ignore => return Ok((FileOutcome::SkippedExisting, false)),
                CopyMode::Replace | CopyMode::Resume => {
                    if old.is_directory() {
                        return Err(Error::AlreadyExists { path: self.target.to_string() });
                    }
                    self.dst.delete(&self.target, false).await?;
                }
            }
        }
        self.dst.create_symbolic_link(&self.target, &target_text).await?;
        Ok((FileOutcome::Linked, false))
    }

    async fn file(&self) -> Result<(FileOutcome, bool)> {
        let size = if self.entry.kind == EntryKind::Symlink {
            // Follow: the size of what the link points to, by reading it.
            match self.src.read(&self.entry.path, ByteRange { offset: 0, len: Some(0) }).await {
                Ok(_) => None,
                Err(_) => return Ok((FileOutcome::SkippedLink, false)),
            }
        } else {
            Some(self.entry.size)
        };
        let existing = self.existing().await?;
        if existing.as_ref().is_some_and(PathAttributes::is_directory) {
            return Err(Error::AlreadyExists { path: self.target.to_string() });
        }
        let exists = existing.is_some();
        let mut leftovers = match &self.tracker.sweep {
            Some(sweep) => sweep.of(&*self.dst, &self.target).await,
            None => Vec::new(),
        };
        if self.opts.mode == CopyMode::Resume
            && !exists
            && let Some(size) = size
            && let Some(done) = self.continue_staged(&mut leftovers, size).await?
        {
            self.remove_all(&leftovers).await;
            return Ok(done);
        }
        self.remove_all(&leftovers).await;
        match self.opts.mode {
            CopyMode::Create if exists => {
                Err(Error::AlreadyExists { path: self.target.to_string() })
            }
            CopyMode::Ignore if exists => Ok((FileOutcome::SkippedExisting, false)),
            CopyMode::Resume => match (existing, size) {
                (Some(old), Some(size)) => self.resume(old.size, size).await,
                (None, Some(size)) if self.dst.info().capabilities.append => {
                    self.dst.create_file(&self.target).await?;
                    self.append_from(&self.target, 0, size).await.map(|v| (FileOutcome::Copied, v))
                }
                _ => self.replace(size).await,
            },
            _ => self.replace(size).await,
        }
    }

    /// Remove stale leftovers of earlier copies to this target (best effort:
    /// what cannot be removed now is found by the next copy or `fs cleanup`).
    async fn remove_all(&self, leftovers: &[Leftover]) {
        for l in leftovers {
            match crate::leftovers::remove(&*self.dst, l).await {
                Ok(()) => {
                    tracing::info!(path = %l.path, kind = l.kind_str(), why = l.why.as_str(), "removed a leftover of an interrupted copy")
                }
                Err(e) => {
                    tracing::warn!(path = %l.path, error = %e, "cannot remove a leftover of an interrupted copy")
                }
            }
        }
    }

    /// RESUME of a missing target: continue the largest staged file an
    /// interrupted copy left for it, when it is a prefix of the source and
    /// the target can append and rename. The file is first renamed to a name
    /// of ours, so of several copies doing this at once only one gets it.
    /// `None` when there is nothing to continue.
    async fn continue_staged(
        &self,
        leftovers: &mut Vec<Leftover>,
        size: u64,
    ) -> Result<Option<(FileOutcome, bool)>> {
        let caps = &self.dst.info().capabilities;
        if !caps.append || !caps.rename {
            return Ok(None);
        }
        let Some((i, _)) = leftovers
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.kind, LeftoverKind::Staged(_)) && l.bytes <= size)
            .max_by_key(|(_, l)| l.bytes)
        else {
            return Ok(None);
        };
        let old = leftovers.remove(i);
        let mine = temp_sibling(&self.target, "part")?;
        if let Err(e) = self.dst.rename(&old.path, &mine).await {
            tracing::debug!(path = %old.path, error = %e, "another copy took the staged file");
            return Ok(None);
        }
        if !self.prefix_matches(&mine, old.bytes).await? {
            let _ = self.dst.delete(&mine, false).await;
            return Ok(None);
        }
        tracing::info!(staged = %old.path, bytes = old.bytes, "continuing a staged file of an interrupted copy");
        // Interrupted again, it stays for the next RESUME (its writer, we, will be gone).
        let verified = self.append_from(&mine, old.bytes, size).await?;
        self.dst.rename(&mine, &self.target).await?;
        Ok(Some((FileOutcome::Resumed, verified)))
    }

    /// Continue a partial target of `have` bytes, or start over when it is
    /// not a prefix of the source.
    async fn resume(&self, have: u64, size: u64) -> Result<(FileOutcome, bool)> {
        let appendable = self.dst.info().capabilities.append;
        if have <= size && self.prefix_matches(&self.target, have).await? {
            if have == size {
                let verified = self.opts.verify && self.verify(&self.target, None).await?;
                return Ok((FileOutcome::AlreadyComplete, verified));
            }
            if appendable {
                let verified = self.append_from(&self.target, have, size).await?;
                return Ok((FileOutcome::Resumed, verified));
            }
        }
        tracing::info!(target = %self.target, have, size, "target is not a prefix of the source; copying it again");
        self.replace(Some(size)).await
    }

    /// Whether the first `have` bytes of `partial` (the target or a staged
    /// file of it) match the source's.
    async fn prefix_matches(&self, partial: &Path, have: u64) -> Result<bool> {
        let window = match self.opts.resume_check {
            ResumeCheck::SizeOnly => return Ok(true),
            ResumeCheck::Tail(n) => n.min(have),
            ResumeCheck::Full => have,
        };
        if window == 0 {
            return Ok(true);
        }
        let range = ByteRange { offset: have - window, len: Some(window) };
        let (a, b) = tokio::try_join!(
            digest(self.src.read(&self.entry.path, range).await?, None),
            digest(self.dst.read(partial, range).await?, None),
        )?;
        Ok(a.0 == b.0 && a.1 == window && b.1 == window)
    }

    /// Append the source from `offset` to `partial` (the target or a staged
    /// file of it), which must then have `size` bytes.
    async fn append_from(&self, partial: &Path, offset: u64, size: u64) -> Result<bool> {
        self.tracker.started(&self.entry.path, size);
        let data = self.src.read(&self.entry.path, ByteRange::from(offset)).await?;
        let (stream, _hash) = self.instrument(data, false);
        self.dst.append(partial, stream).await?;
        let now = self.dst.attributes(partial).await?.size;
        if now != size {
            return Err(Error::InvalidInput(format!(
                "{partial} has {now} bytes after resuming, the source {size}; run the copy again",
            )));
        }
        Ok(self.opts.verify && self.verify(partial, None).await?)
    }

    /// Transfer the whole file; where the target exists and can rename, via
    /// a hidden sibling renamed over it only when complete (and verified).
    async fn replace(&self, size: Option<u64>) -> Result<(FileOutcome, bool)> {
        if self.opts.server_side
            && same_fs(&self.src, &self.dst)
            && self.src.info().capabilities.copy_server_side
            && self.entry.kind == EntryKind::File
        {
            self.tracker.started(&self.entry.path, self.entry.size);
            self.src.copy_server_side(&self.entry.path, &self.target).await?;
            // The bytes moved all the same: the report and progress count them.
            self.tracker.add_bytes(self.entry.size);
            let verified = self.opts.verify && self.verify(&self.target, None).await?;
            return Ok((FileOutcome::CopiedServerSide, verified));
        }
        let exists = self.existing().await?.is_some();
        let staged = exists && self.dst.info().capabilities.rename;
        let tmp = if staged { Some(temp_sibling(&self.target, "copy")?) } else { None };
        let sink_path = tmp.as_ref().unwrap_or(&self.target);
        // Removes the staged sibling should this future be dropped half-way.
        let mut guard = tmp.as_ref().map(|tmp| {
            let (dst, tmp) = (self.dst.clone(), tmp.clone());
            hpc_core::cleanup::OnDrop::new(async move {
                let _ = dst.delete(&tmp, false).await;
            })
        });
        let result = async {
            let hash = self.transfer(sink_path, size).await?;
            let verified = self.opts.verify && self.verify(sink_path, hash).await?;
            if let Some(tmp) = &tmp {
                self.dst.rename_replacing(tmp, &self.target).await?;
            }
            Ok(verified)
        }
        .await;
        if let Some(guard) = guard.as_mut() {
            match result {
                Ok(_) => guard.disarm(),
                Err(_) => guard.run_now().await,
            }
        }
        result.map(|v| (FileOutcome::Copied, v))
    }

    /// Move the data; returns the source's SHA-256 computed on the way when verifying.
    async fn transfer(&self, to: &Path, size: Option<u64>) -> Result<Option<String>> {
        self.tracker.started(&self.entry.path, size.unwrap_or(0));
        let (written, hash) = match size {
            Some(size) if self.in_parts() => {
                let data = self.src.read_parts(&self.entry.path, ByteRange::ALL).await?;
                let data = self.watched(data, |(_, chunk)| chunk);
                (self.dst.write_parts(to, data, size).await?, None)
            }
            _ => {
                let data = self.src.read(&self.entry.path, ByteRange::ALL).await?;
                let (stream, hash) = self.instrument(data, self.opts.verify);
                (self.dst.write(to, stream, size).await?, Some(hash))
            }
        };
        if let Some(size) = size
            && written != size
        {
            return Err(Error::InvalidInput(format!(
                "{} changed during the copy: {written} bytes read, {size} expected",
                self.entry.path
            )));
        }
        let hash = hash.and_then(|h| h.lock().map(|mut h| h.take().map(Hasher::finish)).ok()?);
        Ok(hash)
    }

    /// Whether to move the data as parts in any order: the source fetches
    /// ranges in parallel and the target writes at offsets, so no part waits
    /// in memory for an earlier one. Not when verifying, which hashes the
    /// bytes in order on the way.
    fn in_parts(&self) -> bool {
        !self.opts.verify
            && self.src.info().capabilities.read_parts > 1
            && self.dst.info().capabilities.write_parts
    }

    /// Hash when asked, count bytes for progress, and stop on cancel.
    fn instrument(&self, data: ByteStream, hash: bool) -> (ByteStream, Arc<Mutex<Option<Hasher>>>) {
        let hasher = Arc::new(Mutex::new(hash.then(|| Hasher::new(ChecksumAlgorithm::Sha256))));
        let h = hasher.clone();
        let data = data
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk
                    && let Ok(mut g) = h.lock()
                    && let Some(h) = g.as_mut()
                {
                    h.update(chunk);
                }
            })
            .boxed();
        (self.watched(data, |chunk| chunk), hasher)
    }

    /// Count the bytes of each item for progress, and stop on cancel.
    fn watched<T: Send + 'static>(
        &self,
        data: BoxStream<'static, Result<T>>,
        bytes: fn(&T) -> &Bytes,
    ) -> BoxStream<'static, Result<T>> {
        let (tracker, cancel) = (self.tracker.clone(), self.opts.cancel.clone());
        let path = self.entry.path.clone();
        data.map(move |item| {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled(format!("copy of {path}")));
            }
            let item = item?;
            tracker.add_bytes(bytes(&item).len() as u64);
            Ok(item)
        })
        .boxed()
    }

    /// Compare SHA-256 of the source and of `written` (the target or its
    /// staging sibling). `source_hash` is the digest taken during the transfer.
    async fn verify(&self, written: &Path, source_hash: Option<String>) -> Result<bool> {
        let (a, b) = tokio::try_join!(
            async {
                match source_hash {
                    Some(h) => Ok(h),
                    None => sha256_of(&*self.src, &self.entry.path).await,
                }
            },
            sha256_of(&*self.dst, written),
        )?;
        if a != b {
            return Err(Error::remote(
                "copy",
                None,
                format!(
                    "checksum mismatch: {} has SHA-256 {a}, {} has {b}",
                    self.entry.path, self.target
                ),
            ));
        }
        Ok(true)
    }
}

/// SHA-256 where the file lives if the adaptor can, else by reading it.
async fn sha256_of(fs: &dyn FileSystem, path: &Path) -> Result<String> {
    if let Some(h) = fs.checksum(path, ChecksumAlgorithm::Sha256).await? {
        return Ok(h);
    }
    Ok(digest(fs.read(path, ByteRange::ALL).await?, None).await?.0)
}

/// SHA-256 (or `algorithm`) of a stream and its length.
async fn digest(
    mut data: ByteStream,
    algorithm: Option<ChecksumAlgorithm>,
) -> Result<(String, u64)> {
    let mut h = Hasher::new(algorithm.unwrap_or(ChecksumAlgorithm::Sha256));
    let mut n = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        h.update(&chunk);
    }
    Ok((h.finish(), n))
}
