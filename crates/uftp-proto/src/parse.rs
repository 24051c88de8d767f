//! Parsers of what UFTPD sends on the control connection: the `150` line,
//! passive-mode replies, stream counts, `MLST`/`MLSD` facts, `STAT` lines and
//! `HASH` answers.

use std::time::{SystemTime, UNIX_EPOCH};

use hpc_core::EntryKind;
use hpc_core::time::{civil_from_days, utc};

/// One directory entry as UFTPD describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The name (for `MLST`: the base name the server printed).
    pub name: String,
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification (UFTPD prints its local time; read as UTC).
    pub modified: Option<SystemTime>,
    /// `perm` fact (`r`, `w`, `x` for files; `l`, `e`, `w` for directories).
    pub perm: String,
    /// POSIX permission bits from `UNIX.mode`, where sent.
    pub mode: Option<u32>,
}

/// `size=N;modify=T;type=file|dir;perm=P;UNIX.mode=M; name` → entry.
pub fn mlsx_line(line: &str) -> Option<RemoteEntry> {
    let line = line.strip_prefix(' ').unwrap_or(line);
    let (facts, name) = line.split_once("; ").or_else(|| line.split_once(' '))?;
    let mut e = RemoteEntry {
        name: name.to_owned(),
        kind: EntryKind::File,
        size: 0,
        modified: None,
        perm: String::new(),
        mode: None,
    };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "size" => e.size = v.parse().ok()?,
            "modify" => e.modified = mdtm(v),
            "type" => {
                e.kind = match v.to_ascii_lowercase().as_str() {
                    "dir" | "cdir" | "pdir" => EntryKind::Directory,
                    "file" => EntryKind::File,
                    _ => EntryKind::Other,
                }
            }
            "perm" => e.perm = v.to_owned(),
            "unix.mode" => e.mode = u32::from_str_radix(v, 8).ok().map(|m| m & 0o7777),
            _ => {}
        }
    }
    Some(e)
}

/// `YYYYMMDDHHMMSS[.sss]` (read as UTC) → time; `None` for a date no
/// calendar has (`hpc_core::time::utc` checks the fields).
pub fn mdtm(text: &str) -> Option<SystemTime> {
    let t = text.split('.').next()?;
    if t.len() != 14 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| t[a..b].parse::<u32>().ok();
    utc(i64::from(n(0, 4)?), n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?)
}

/// Time → `YYYYMMDDHHMMSS` (UTC).
pub fn format_mdtm(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `OK <n> bytes available for reading.` → n.
pub fn bytes_available(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if let Ok(n) = w.parse::<u64>() {
            return (words.next() == Some("bytes")).then_some(n);
        }
    }
    None
}

/// `Entering Passive Mode (a,b,c,d,p1,p2)` → port.
pub fn pasv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let nums: Vec<u16> = inner.split(',').map(|x| x.trim().parse().ok()).collect::<Option<_>>()?;
    if nums.len() != 6 || nums.iter().any(|&n| n > 255) {
        return None;
    }
    Some(nums[4] * 256 + nums[5])
}

/// `Entering Extended Passive Mode (|||port|)` → port.
pub fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let parts: Vec<&str> = inner.split('|').collect();
    if parts.len() != 5 {
        return None;
    }
    parts[3].parse().ok()
}

/// `Opening n data connections` → n.
pub fn stream_count(text: &str) -> Option<usize> {
    text.split_whitespace().find_map(|w| w.parse().ok())
}

/// `<ALGO> <first>-<last> <hex> <path>` → (algorithm, hex).
pub fn hash_reply(text: &str) -> Option<(String, String)> {
    let mut w = text.splitn(4, ' ');
    let algo = w.next()?.to_owned();
    let _range = w.next()?;
    let hex = w.next()?.to_ascii_lowercase();
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((algo, hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlst_facts() {
        let e = mlsx_line(
            " size=42;modify=20240131120000;type=file;perm=rw;UNIX.mode=100644; a b ü.txt",
        )
        .unwrap();
        assert_eq!(e.name, "a b ü.txt");
        assert_eq!(e.size, 42);
        assert_eq!(e.kind, EntryKind::File);
        assert_eq!(e.mode, Some(0o644));
        assert_eq!(format_mdtm(e.modified.unwrap()), "20240131120000");
        let d = mlsx_line("size=4096;modify=20240131120000;type=dir;perm=elw; sub").unwrap();
        assert_eq!(d.kind, EntryKind::Directory);
        assert!(mlsx_line("garbage").is_none());
    }

    #[test]
    fn replies() {
        assert_eq!(bytes_available("OK 1234 bytes available for reading."), Some(1234));
        assert_eq!(bytes_available("OK"), None);
        assert_eq!(pasv_port("Entering Passive Mode (127,0,0,1,200,10)"), Some(200 * 256 + 10));
        assert_eq!(pasv_port("Entering Passive Mode (127,0,0,1,300,10)"), None);
        assert_eq!(epsv_port("Entering Extended Passive Mode (|||51234|)"), Some(51234));
        assert_eq!(stream_count("Opening 4 data connections"), Some(4));
        assert_eq!(
            hash_reply("SHA-256 0-41 ABCDEF0123 /x y"),
            Some(("SHA-256".into(), "abcdef0123".into()))
        );
        assert_eq!(hash_reply("MD5 0-1 zz /x"), None);
    }

    #[test]
    fn dates_roundtrip() {
        for s in ["19700101000000", "20000229235959", "20991231120000"] {
            assert_eq!(format_mdtm(mdtm(s).unwrap()), s);
        }
        assert!(mdtm("2024013112000").is_none());
        assert!(mdtm("20241331120000").is_none());
        // Found by the fuzz target: days the month lacks were moved into the next one.
        assert!(mdtm("20240231120000").is_none());
        assert!(mdtm("20230229120000").is_none());
        assert!(mdtm("20240229120000").is_some());
    }
}
