//! The session's view of files: paths inside the jail, and the listing and
//! checksum formats UFTPD prints.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Resolves `arg` against `cwd` (both in the server's tree) to a normalised
/// absolute path; `None` if it leaves `jail`.
pub(crate) fn resolve(jail: &str, cwd: &str, arg: &str) -> Option<String> {
    let joined = if arg.starts_with('/') { arg.to_owned() } else { format!("{cwd}/{arg}") };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    let abs = format!("/{}", parts.join("/"));
    let inside = jail == "/" || abs == jail || abs.starts_with(&format!("{jail}/"));
    inside.then_some(abs)
}

/// The path on disk of `abs` (a path in the server's tree).
pub(crate) fn on_disk(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// The last component of `abs` (`/` for the root).
pub(crate) fn base_name(abs: &str) -> &str {
    match abs.rsplit('/').next() {
        Some("") | None => "/",
        Some(n) => n,
    }
}

fn mtime(m: &std::fs::Metadata) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(m.mtime().max(0) as u64)
}

/// `size=N;modify=T;type=file|dir;perm=P;UNIX.mode=M; name`.
pub(crate) fn mlsx(m: &std::fs::Metadata, name: &str) -> String {
    let mode = m.permissions().mode();
    let (r, w, x) = (mode & 0o400 != 0, mode & 0o200 != 0, mode & 0o100 != 0);
    let perm: String = if m.is_dir() {
        [(x, 'e'), (r, 'l'), (w, 'c'), (w, 'p'), (w, 'm')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect()
    } else {
        [(r, 'r'), (w, 'w'), (w, 'a'), (w, 'd'), (w, 'f'), (x, 'x')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect()
    };
    format!(
        "size={};modify={};type={};perm={perm};UNIX.mode={:o}; {name}",
        m.len(),
        uftp_proto::parse::format_mdtm(mtime(m)),
        if m.is_dir() { "dir" } else { "file" },
        mode
    )
}

fn rwx(m: &std::fs::Metadata) -> String {
    let mode = m.permissions().mode();
    let bit = |b: u32, c: char| if mode & b != 0 { c } else { '-' };
    format!(
        "{}{}{}{}",
        if m.is_dir() { 'd' } else { '-' },
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        bit(0o100, 'x')
    )
}

/// `LIST` line: `-rw-------   1 dummy dummy <size> <date> <name>`.
pub(crate) fn list_line(m: &std::fs::Metadata, name: &str) -> String {
    let t = mtime(m);
    let stamp = uftp_proto::parse::format_mdtm(t);
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            [stamp[4..6].parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let recent =
        SystemTime::now().duration_since(t).map(|d| d.as_secs() < 182 * 86_400).unwrap_or(true);
    let when = if recent {
        format!("{month} {} {}:{}", &stamp[6..8], &stamp[8..10], &stamp[10..12])
    } else {
        format!("{month} {} {}", &stamp[6..8], &stamp[0..4])
    };
    format!(
        "{}------   {} dummy dummy {} {when} {name}",
        rwx(m),
        if m.is_dir() { 3 } else { 1 },
        m.len()
    )
}

/// `STAT` line: ` <d|-><rwx> <size> <mtime-ms> <name>`.
pub(crate) fn stat_line(m: &std::fs::Metadata, name: &str) -> String {
    format!(" {} {} {} {name}", rwx(m), m.len(), m.mtime().max(0) * 1000)
}

/// A checksum of `len` bytes from `offset` (to the end when `None`).
pub(crate) async fn hash(
    path: &Path,
    algo: &str,
    offset: u64,
    len: Option<u64>,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut left = len.unwrap_or(u64::MAX);
    let mut buf = vec![0u8; 256 * 1024];
    enum H {
        Md5(md5::Md5),
        Ring(ring::digest::Context),
    }
    let mut h = match algo {
        "MD5" => H::Md5(<md5::Md5 as md5::Digest>::new()),
        "SHA-1" => H::Ring(ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY)),
        "SHA-512" => H::Ring(ring::digest::Context::new(&ring::digest::SHA512)),
        _ => H::Ring(ring::digest::Context::new(&ring::digest::SHA256)),
    };
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want]).await?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        match &mut h {
            H::Md5(m) => md5::Digest::update(m, &buf[..n]),
            H::Ring(c) => c.update(&buf[..n]),
        }
    }
    let bytes: Vec<u8> = match h {
        H::Md5(m) => md5::Digest::finalize(m).to_vec(),
        H::Ring(c) => c.finish().as_ref().to_vec(),
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail() {
        assert_eq!(resolve("/data", "/data", "a b/c").as_deref(), Some("/data/a b/c"));
        assert_eq!(resolve("/data", "/data/x", "../y").as_deref(), Some("/data/y"));
        assert_eq!(resolve("/data", "/data", "..").as_deref(), None);
        assert_eq!(resolve("/data", "/data", "/etc/passwd").as_deref(), None);
        assert_eq!(resolve("/data", "/data", "/data2").as_deref(), None);
        assert_eq!(resolve("/", "/", "../../x").as_deref(), None);
        assert_eq!(resolve("/", "/", "/x/./y/").as_deref(), Some("/x/y"));
        assert_eq!(base_name("/x/y z"), "y z");
        assert_eq!(base_name("/"), "/");
    }
}
