//! Names of staged data (`.<name>.hpckit-<host>-<pid>-<n>.<suffix>`) and
//! whether the writer that made one is gone.
//!
//! The name says which target the data is for, which process wrote it and
//! on which host: `<host>` is a short digest of this kernel's boot, PID
//! namespace and host name, the scope in which `<pid>` means one process.
//! A staged file is stale when its writer is known to be gone (same host tag,
//! no such process) or when it has not changed for a while (any host: a live
//! writer keeps its file growing). Names of older versions (without the host
//! tag) and names from other hosts are judged by age alone; a name that does
//! not parse is never ours.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hpc_core::{Error, Path, Result};

use crate::leftovers::STALE_AFTER;
use sha2::{Digest, Sha256};

/// What staged data is called: `.part` by the adaptors' writes, `.copy` by
/// the copy engine's REPLACE.
const SUFFIXES: [&str; 2] = ["part", "copy"];

/// Names longer than this are cut before the staging name is made, so the
/// whole stays within the common 255-byte limit.
const NAME_MAX: usize = 200;

/// A hidden sibling name for data that is not complete yet:
/// `.<name>.hpckit-<host>-<pid>-<n>.<suffix>`.
///
/// Writers put data there and rename it into place only when the stream has
/// ended well, so a reader never sees a complete-looking file that is not.
pub fn temp_sibling(path: &Path, suffix: &str) -> Result<Path> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().ok_or_else(|| Error::InvalidInput(format!("{path} has no file name")))?;
    let parent =
        path.parent().ok_or_else(|| Error::InvalidInput(format!("{path} has no parent")))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let short = shortened(name);
    parent.join_entry(&format!(
        ".{short}.hpckit-{}-{}-{n}.{suffix}",
        host_tag(),
        std::process::id()
    ))
}

/// `name` cut to at most [`NAME_MAX`] bytes on a character boundary.
fn shortened(name: &str) -> &str {
    let mut end = name.len().min(NAME_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Whether `name` is one of the temporary names made by [`temp_sibling`].
pub fn is_temp_name(name: &str) -> bool {
    Staged::parse(name).is_some()
}

/// A parsed staging name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The name of the file the data is for (possibly cut, see [`Staged::is_for`]).
    pub target: String,
    /// The writer's host tag; `None` in names of versions before the tag.
    pub host: Option<String>,
    /// The writer's process id.
    pub pid: u32,
}

impl Staged {
    /// The parts of a name made by [`temp_sibling`] (also of a staging name
    /// staged again: the target is the innermost name); `None` for any other.
    pub fn parse(name: &str) -> Option<Staged> {
        let rest = name.strip_prefix('.')?;
        let (rest, suffix) = rest.rsplit_once('.')?;
        if !SUFFIXES.contains(&suffix) {
            return None;
        }
        let (inner, id) = rest.rsplit_once(".hpckit-")?;
        let fields: Vec<&str> = id.split('-').collect();
        let (host, pid, n) = match fields[..] {
            [host, pid, n] => (Some(host), pid, n),
            [pid, n] => (None, pid, n),
            _ => return None,
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let hex =
            |s: &str| s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if inner.is_empty() || !digits(pid) || !digits(n) || host.is_some_and(|h| !hex(h)) {
            return None;
        }
        let pid = pid.parse().ok()?;
        let target = match Staged::parse(inner) {
            Some(outer) => outer.target,
            None => inner.to_owned(),
        };
        Some(Staged { target, host: host.map(str::to_owned), pid })
    }

    /// Whether this is staged data for a file called `name`.
    pub fn is_for(&self, name: &str) -> bool {
        self.target == shortened(name)
    }

    /// Whether the writer is known to be gone: it ran on this host (same
    /// tag) and there is no such process any more.
    pub fn writer_gone(&self) -> bool {
        self.host.as_deref() == Some(host_tag()) && !process_alive(self.pid)
    }
}

/// Why leftover data counts as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Its writer ran on this host and has ended.
    WriterGone,
    /// It has not changed for longer than the threshold.
    Unchanged,
}

impl Stale {
    /// A short word for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Stale::WriterGone => "writer gone",
            Stale::Unchanged => "unchanged",
        }
    }
}

/// Whether data last changed at `modified` counts as unchanged for longer than `older_than`.
pub fn unchanged_for(modified: Option<SystemTime>, older_than: Duration) -> bool {
    modified.is_some_and(|m| SystemTime::now().duration_since(m).is_ok_and(|age| age >= older_than))
}

/// Whether staged data is stale (see the module docs), and why. A writer
/// alive on this host keeps its data for [`STALE_AFTER`] at least, whatever
/// `older_than` says (its PID may also have been reused, hence the limit).
pub fn staleness(
    staged: &Staged,
    modified: Option<SystemTime>,
    older_than: Duration,
) -> Option<Stale> {
    let ours = staged.host.as_deref() == Some(host_tag());
    if ours && !process_alive(staged.pid) {
        Some(Stale::WriterGone)
    } else if unchanged_for(modified, if ours { older_than.max(STALE_AFTER) } else { older_than }) {
        Some(Stale::Unchanged)
    } else {
        None
    }
}

/// Whether process `pid` exists here (`kill(pid, 0)`; a process of another
/// user exists too). A PID that cannot be one is no process.
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// This host's tag: 8 hex digits of SHA-256 over the boot id, the PID
/// namespace and the host name, so two hosts (or containers) where the same
/// PID means different processes get different tags.
pub fn host_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut h = Sha256::new();
        for part in [read("/proc/sys/kernel/random/boot_id"), ns, read("/proc/sys/kernel/hostname")]
        {
            h.update(part.trim().as_bytes());
            h.update([0]);
        }
        crate::hex(&h.finalize()[..4])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_siblings_that_parse_back() {
        let p = Path::new("/d/data.bin").unwrap();
        let t = temp_sibling(&p, "part").unwrap();
        assert_eq!(t.parent(), p.parent());
        let name = t.file_name().unwrap();
        assert!(name.starts_with(".data.bin.hpckit-") && name.ends_with(".part"), "{name}");
        let staged = Staged::parse(name).unwrap();
        assert!(staged.is_for("data.bin"));
        assert_eq!(staged.host.as_deref(), Some(host_tag()));
        assert_eq!(staged.pid, std::process::id());
        assert!(!staged.writer_gone(), "this process is alive");
        assert_ne!(temp_sibling(&p, "part").unwrap(), t);
        assert!(temp_sibling(&Path::root(), "x").is_err());
        let long = Path::new(&format!("/d/{}", "é".repeat(120))).unwrap();
        let t = temp_sibling(&long, "part").unwrap();
        let name = t.file_name().unwrap();
        assert!(name.len() < 255);
        assert!(Staged::parse(name).unwrap().is_for(long.file_name().unwrap()));
    }

    #[test]
    fn staged_again_names_the_innermost_target() {
        let p = Path::new("/d/x.txt").unwrap();
        let copy = temp_sibling(&p, "copy").unwrap();
        let part = temp_sibling(&copy, "part").unwrap();
        let staged = Staged::parse(part.file_name().unwrap()).unwrap();
        assert!(staged.is_for("x.txt"), "{staged:?}");
    }

    #[test]
    fn only_our_pattern_parses() {
        assert_eq!(
            Staged::parse(".a.hpckit-12-3.part"),
            Some(Staged { target: "a".into(), host: None, pid: 12 })
        );
        assert_eq!(
            Staged::parse(".a.hpckit-0badcafe-12-3.copy").unwrap().host.unwrap(),
            "0badcafe"
        );
        for foreign in [
            "a.hpckit-12-3.part",
            ".a.hpckit-12-3.tmp",
            ".a.hpckit-12.part",
            ".a.hpckit--3.part",
            ".a.hpckit-x-12-3.part",
            ".a.hpckit-0BADCAFE-12-3.part",
            ".hpckit-12-3.part",
            ".a.hpckit-1-2-3-4.part",
            ".a.part",
            ".bashrc",
        ] {
            assert_eq!(Staged::parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_dead_writer_on_this_host_is_stale_and_others_only_by_age() {
        // PIDs are below 2^22 on Linux; this one cannot exist.
        let dead = Staged { target: "a".into(), host: Some(host_tag().into()), pid: u32::MAX };
        let elsewhere = Staged { host: Some("00000000".into()), ..dead.clone() };
        let hour = Duration::from_secs(3600);
        let now = Some(SystemTime::now());
        let old = Some(SystemTime::now() - 2 * hour);
        assert_eq!(staleness(&dead, now, hour), Some(Stale::WriterGone));
        let also_dead = Staged { pid: i32::MAX as u32, ..dead.clone() };
        assert!(also_dead.writer_gone());
        assert_eq!(staleness(&elsewhere, now, hour), None);
        assert_eq!(staleness(&elsewhere, None, hour), None);
        assert_eq!(staleness(&elsewhere, old, hour), Some(Stale::Unchanged));
        let alive = Staged { pid: std::process::id(), ..dead };
        assert_eq!(staleness(&alive, now, hour), None);
        assert_eq!(staleness(&alive, now, Duration::ZERO), None);
        assert_eq!(staleness(&alive, old, Duration::ZERO), Some(Stale::Unchanged));
    }
}
