//! Directory listings: `ls -l` style `LIST` lines (vsftpd, most servers) and
//! RFC 3659 `MLSD` facts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};

use hpc_core::time::{civil_from_days, utc};

use crate::remote::month;

/// One listing line, before its name is checked and joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListEntry {
    pub(crate) name: String,
    pub(crate) kind: EntryKind,
    pub(crate) size: u64,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) permissions: Option<u32>,
    pub(crate) link_target: Option<String>,
}

impl ListEntry {
    /// The entry as attributes of a child of `dir`; a name that is not a
    /// plain entry name (`..`, `a/b`, NUL) is refused.
    pub(crate) fn into_attributes(self, dir: &Path) -> Result<PathAttributes> {
        let path = dir.join_entry(&self.name)?;
        let size = if self.kind == EntryKind::Directory { 0 } else { self.size };
        let mut a = PathAttributes::new(path, self.kind, size);
        a.modified = self.modified;
        a.owner = self.owner;
        a.group = self.group;
        a.permissions = self.permissions;
        a.link_target = self.link_target;
        Ok(a)
    }
}

fn bad(line: &str, reason: &str) -> Error {
    Error::parse("LIST", reason, line)
}

/// Parse one `LIST` line. `Ok(None)` for lines that name no entry (`total 12`).
/// The name is everything after the single space that follows the time (or
/// year) column, so leading and trailing spaces survive.
pub(crate) fn parse_list_line(line: &str, now: SystemTime) -> Result<Option<ListEntry>> {
    if line.starts_with("total ") || line.trim().is_empty() {
        return Ok(None);
    }
    // Byte ranges of the whitespace-separated columns before the name.
    let mut cols: Vec<(usize, usize)> = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    // Permissions, links, owner, group, size, month, day, time: 8 columns
    // (7 when the server leaves out the group).
    while cols.len() < 8 {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b' ' {
            i += 1;
        }
        if start == i {
            return Err(bad(line, "too few columns for an `ls -l` line"));
        }
        cols.push((start, i));
        if cols.len() == 7 && month(&line[cols[4].0..cols[4].1]).is_some() {
            // No group column: owner, size, month, day, time.
            break;
        }
    }
    let col = |n: usize| &line[cols[n].0..cols[n].1];
    let (owner, group, size_col, month_col) =
        if cols.len() == 7 { (col(2), None, 3, 4) } else { (col(2), Some(col(3)), 4, 5) };
    let end = cols.last().map(|c| c.1).unwrap_or(0);
    if bytes.get(end) != Some(&b' ') || end + 1 >= line.len() {
        return Err(bad(line, "no file name after the date"));
    }
    let mut name = &line[end + 1..];
    let perms = col(0);
    let kind = match perms.as_bytes().first() {
        Some(b'-') => EntryKind::File,
        Some(b'd') => EntryKind::Directory,
        Some(b'l') => EntryKind::Symlink,
        Some(b'b' | b'c' | b'p' | b's' | b'D') => EntryKind::Other,
        _ => return Err(bad(line, "unknown file type in the permission column")),
    };
    let mut link_target = None;
    if kind == EntryKind::Symlink
        && let Some((n, t)) = name.split_once(" -> ")
    {
        name = n;
        link_target = Some(t.to_owned());
    }
    let size = col(size_col).parse().map_err(|_| bad(line, "size is not a number"))?;
    let modified = list_date(col(month_col), col(month_col + 1), col(month_col + 2), now);
    Ok(Some(ListEntry {
        name: name.to_owned(),
        kind,
        size,
        modified,
        owner: Some(owner.to_owned()),
        group: group.map(str::to_owned),
        permissions: mode_bits(perms),
        link_target,
    }))
}

/// `rwxr-sr-t` after the type character, as bits.
pub(crate) fn mode_bits(perms: &str) -> Option<u32> {
    let p = perms.as_bytes();
    if p.len() < 10 {
        return None;
    }
    let mut mode = 0;
    for (i, (c, bit)) in
        p[1..10].iter().zip([0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 4, 2, 1]).enumerate()
    {
        match c {
            b'r' | b'w' | b'x' => mode |= bit,
            b's' | b't' => {
                mode |= bit;
                mode |= [0o4000, 0o2000, 0o1000][i / 3];
            }
            b'S' | b'T' => mode |= [0o4000, 0o2000, 0o1000][i / 3],
            b'-' => {}
            _ => return None,
        }
    }
    Some(mode)
}

/// `Nov 27 13:21` (within the last half year: this year, or last year if
/// that would lie in the future) or `Nov 27  2025`. Times are UTC (vsftpd's
/// default, `use_localtime=NO`).
fn list_date(mon: &str, day: &str, time_or_year: &str, now: SystemTime) -> Option<SystemTime> {
    let m = month(mon)?;
    let d: u32 = day.parse().ok()?;
    if let Some((h, mi)) = time_or_year.split_once(':') {
        let (h, mi) = (h.parse().ok()?, mi.parse().ok()?);
        let days = now.duration_since(UNIX_EPOCH).ok()?.as_secs() / 86_400;
        let (year, _, _) = civil_from_days(days as i64);
        let t = utc(year, m, d, h, mi, 0)?;
        if t > now + Duration::from_secs(86_400) { utc(year - 1, m, d, h, mi, 0) } else { Some(t) }
    } else {
        utc(time_or_year.parse().ok()?, m, d, 0, 0, 0)
    }
}

/// Parse one `MLSD`/`MLST` line: `fact=value;...; name`. `Ok(None)` for the
/// `cdir`/`pdir` entries.
pub(crate) fn parse_mlsd_line(line: &str) -> Result<Option<ListEntry>> {
    let (facts, name) =
        line.split_once(' ').ok_or_else(|| Error::parse("MLSD", "no name", line))?;
    let mut e = ListEntry {
        name: name.to_owned(),
        kind: EntryKind::File,
        size: 0,
        modified: None,
        owner: None,
        group: None,
        permissions: None,
        link_target: None,
    };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=').unwrap_or((fact, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                e.kind = match v.to_ascii_lowercase().as_str() {
                    "cdir" | "pdir" => return Ok(None),
                    "dir" => EntryKind::Directory,
                    "file" => EntryKind::File,
                    t if t.contains("symlink") || t.contains("slink") => EntryKind::Symlink,
                    _ => EntryKind::Other,
                }
            }
            "size" => e.size = v.parse().unwrap_or(0),
            "modify" => e.modified = mdtm(v),
            "unix.mode" => {
                e.permissions = u32::from_str_radix(v.trim_start_matches('0'), 8).ok().or(Some(0))
            }
            "unix.owner" | "unix.ownername" => e.owner = Some(v.to_owned()),
            "unix.group" | "unix.groupname" => e.group = Some(v.to_owned()),
            _ => {}
        }
    }
    Ok(Some(e))
}

/// `YYYYMMDDhhmmss[.sss]` (MDTM and the MLSD `modify` fact), UTC.
pub(crate) fn mdtm(v: &str) -> Option<SystemTime> {
    let v = v.split('.').next()?;
    if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| v[a..b].parse::<u32>().ok();
    utc(i64::from(n(0, 4)?), n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        utc(2026, 11, 27, 15, 0, 0).unwrap()
    }

    fn p(line: &str) -> ListEntry {
        parse_list_line(line, now()).unwrap().unwrap()
    }

    #[test]
    fn vsftpd_lines() {
        let e = p("-rw-r--r--    1 hpctest  hpctest         2 Nov 27 14:37  lead trail ");
        assert_eq!(e.name, " lead trail ");
        assert_eq!((e.kind, e.size, e.permissions), (EntryKind::File, 2, Some(0o644)));
        assert_eq!(e.owner.as_deref(), Some("hpctest"));
        assert_eq!(e.modified, utc(2026, 11, 27, 14, 37, 0));
        let e = p("lrwxrwxrwx    1 hpctest  hpctest         7 Nov 27 14:37 link to -> sub dir");
        assert_eq!((e.name.as_str(), e.link_target.as_deref()), ("link to", Some("sub dir")));
        assert_eq!(e.kind, EntryKind::Symlink);
        let e = p("drwxr-sr-t    2 hpctest  hpctest      4096 Dec 31  2025 sub dir");
        assert_eq!((e.kind, e.permissions), (EntryKind::Directory, Some(0o3755)));
        assert_eq!(e.modified, utc(2025, 12, 31, 0, 0, 0));
        // A file whose name contains " -> " is not a link.
        assert_eq!(p("-rw-r--r--    1 u g 1 Jan 02 10:00 a -> b").name, "a -> b");
        assert_eq!(p("-rw-r--r--    1 u g 1 Jan 02 10:00 ünï ✓").name, "ünï ✓");
        // December seen in late November is last year's.
        assert_eq!(p("-rw-r--r--    1 u g 1 Dec 30 10:00 x").modified, utc(2025, 12, 30, 10, 0, 0));
        // No group column.
        let e = p("-rw-r--r--   1 owner     123 Jan 02 10:00 nogroup");
        assert_eq!((e.name.as_str(), e.size, e.group.clone()), ("nogroup", 123, None));
        assert!(parse_list_line("total 12", now()).unwrap().is_none());
    }

    #[test]
    fn garbage_is_a_parse_error() {
        for line in [
            "hello",
            "xrw-r--r-- 1 u g 1 Jan 02 10:00 n",
            "-rw-r--r-- 1 u g big Jan 02 10:00 n",
            "-rw-r--r-- 1 u g 1 Jan 02 10:00",
        ] {
            assert!(parse_list_line(line, now()).is_err(), "{line}");
        }
    }

    /// Found by the `ftp_listing` fuzz target: a year column of 14 digits
    /// overflowed the day count (a panic in debug builds); February 31 was
    /// read as March 3.
    #[test]
    fn impossible_dates_are_no_dates() {
        assert_eq!(p("-rw-r--r-- 1 u g 1 Jan 02 99999999999999 n").modified, None);
        assert_eq!(p("-rw-r--r-- 1 u g 1 Feb 31 2025 n").modified, None);
        assert_eq!(p("-rw-r--r-- 1 u g 1 Feb 31 10:00 n").modified, None);
        assert_eq!(mdtm("20250231000000"), None);
        assert_eq!(mdtm("20240229000000"), utc(2024, 2, 29, 0, 0, 0));
    }

    #[test]
    fn mlsd() {
        let e = parse_mlsd_line("type=file;size=12;modify=20261127142100;UNIX.mode=0644; a b")
            .unwrap()
            .unwrap();
        assert_eq!((e.name.as_str(), e.size, e.permissions), ("a b", 12, Some(0o644)));
        assert_eq!(e.modified, utc(2026, 11, 27, 14, 21, 0));
        assert!(parse_mlsd_line("type=cdir;modify=20261127142100; .").unwrap().is_none());
        assert_eq!(
            parse_mlsd_line("type=OS.unix=symlink; l").unwrap().unwrap().kind,
            EntryKind::Symlink
        );
        assert_eq!(mdtm("20261127142100.123"), utc(2026, 11, 27, 14, 21, 0));
        assert!(mdtm("2026").is_none());
    }
}
