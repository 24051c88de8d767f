//! `dtls -l` into [`PathAttributes`].
//!
//! The typed calls ask `ls` for a listing that reads back without guessing:
//! `--time-style=full-iso` (nanoseconds and the UTC offset, so no year has to
//! be inferred) and `--quoting-style=c` (every name in double quotes with C
//! escapes, so spaces, quotes, newlines and ` -> ` inside names stay
//! unambiguous), with `LC_ALL=C`.

use std::time::{Duration, SystemTime};

use hpc_core::fs::EntryKind;
use hpc_core::time::utc;
use hpc_core::{Error, Path, PathAttributes, Result};

/// The `ls` options the typed listing relies on.
pub(crate) const LS_OPTIONS: [&str; 4] = ["-l", "-A", "--time-style=full-iso", "--quoting-style=c"];

/// Parses a whole `ls -l` listing of `dir` (or of one entry when `dir` is
/// the entry's parent and `single` is set). `command` names the call in errors.
pub(crate) fn parse_listing(text: &str, dir: &Path, command: &str) -> Result<Vec<PathAttributes>> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("total ") {
            continue;
        }
        out.push(parse_line(line, dir, command)?);
    }
    Ok(out)
}

fn bad(command: &str, line: &str, reason: &str) -> Error {
    Error::parse(command, reason, line)
}

/// One line: `-rw-r--r-- 1 alice grp 12 2024-05-01 10:00:00.123456789 +0200 "name"`.
fn parse_line(line: &str, dir: &Path, command: &str) -> Result<PathAttributes> {
    let quote = line.find('"').ok_or_else(|| bad(command, line, "no quoted name"))?;
    let (head, names) = line.split_at(quote);
    let words: Vec<&str> = head.split_whitespace().collect();
    // mode links owner group size date time zone; devices put "major, minor" in size.
    if words.len() < 8 {
        return Err(bad(
            command,
            line,
            "expected mode, links, owner, group, size and a full-iso time",
        ));
    }
    let mode = words[0];
    let kind = match mode.as_bytes()[0] {
        b'-' => EntryKind::File,
        b'd' => EntryKind::Directory,
        b'l' => EntryKind::Symlink,
        b'b' | b'c' | b'p' | b's' => EntryKind::Other,
        _ => return Err(bad(command, line, "unknown file type letter")),
    };
    let permissions = mode_bits(mode).ok_or_else(|| bad(command, line, "bad mode string"))?;
    let n = words.len();
    let modified = full_iso(words[n - 3], words[n - 2], words[n - 1])
        .ok_or_else(|| bad(command, line, "bad full-iso time"))?;
    let size = if kind == EntryKind::Other {
        0
    } else {
        words[n - 4].parse().map_err(|_| bad(command, line, "bad size"))?
    };
    let (name, rest) = c_quoted(names).ok_or_else(|| bad(command, line, "bad quoted name"))?;
    let link_target = match rest.strip_prefix(" -> ") {
        Some(t) => Some(c_quoted(t).ok_or_else(|| bad(command, line, "bad quoted link target"))?.0),
        None if rest.is_empty() => None,
        None => return Err(bad(command, line, "unexpected text after the name")),
    };
    let path = entry_path(dir, &name).map_err(|_| bad(command, line, "hostile entry name"))?;
    let mut a = PathAttributes::new(path, kind, size);
    a.modified = Some(modified);
    a.owner = Some(words[2].to_owned());
    a.group = Some(words[3].to_owned());
    a.permissions = Some(permissions);
    a.link_target = link_target;
    Ok(a)
}

/// `ls -l DIR` prints names relative to DIR; `ls -ld X` prints X itself.
fn entry_path(dir: &Path, name: &str) -> Result<Path> {
    if name.starts_with('/') {
        return Path::new(name);
    }
    dir.join_entry(name)
}

/// `-rwxr-sr-T` into `0o3754`, ACL/SELinux markers after the tenth letter ignored.
fn mode_bits(mode: &str) -> Option<u32> {
    let b = mode.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let mut bits = 0u32;
    for (i, shift) in [(1, 8), (2, 7), (4, 5), (5, 4), (7, 2), (8, 1)] {
        match b[i] {
            b'-' => {}
            b'r' | b'w' => bits |= 1 << shift,
            _ => return None,
        }
    }
    for (i, shift, special) in [(3, 6, 0o4000), (6, 3, 0o2000), (9, 0, 0o1000)] {
        match b[i] {
            b'-' => {}
            b'x' => bits |= 1 << shift,
            b's' | b't' => bits |= (1 << shift) | special,
            b'S' | b'T' => bits |= special,
            _ => return None,
        }
    }
    Some(bits)
}

/// `2024-05-01` `10:00:00.123456789` `+0200` into the instant.
fn full_iso(date: &str, time: &str, zone: &str) -> Option<SystemTime> {
    let mut d = date.split('-');
    let (y, mo, day) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':');
    let (h, mi, s) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let nanos: u32 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1i64, &zone[1..]),
        b'-' => (-1i64, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 {
        return None;
    }
    let offset =
        sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60);
    let local = utc(y, mo, day, h, mi, s)?;
    let t = if offset >= 0 {
        local.checked_sub(Duration::from_secs(offset as u64))?
    } else {
        local.checked_add(Duration::from_secs((-offset) as u64))?
    };
    t.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// A `"..."` word of `--quoting-style=c` at the start of `s`: the decoded
/// name and the rest of `s` after the closing quote.
fn c_quoted(s: &str) -> Option<(String, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), &s[i + 1..])),
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                let byte = match c {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    b'0'..=b'7' => {
                        // Up to three octal digits, the first already read.
                        let mut v = u32::from(c - b'0');
                        let mut k = 0;
                        while k < 2 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                            v = v * 8 + u32::from(b[i] - b'0');
                            i += 1;
                            k += 1;
                        }
                        u8::try_from(v).ok()?
                    }
                    other => other, // \\ \" \? and anything else stand for themselves
                };
                out.push(byte);
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Path {
        Path::new("/projects/p_x").unwrap()
    }

    #[test]
    fn a_real_listing_reads_back() {
        let text = "total 12\n\
drwxr-sr-x 2 alice p_x 4096 2024-05-01 10:00:00.500000000 +0200 \"data dir\"\n\
-rw-r--r--. 1 alice p_x 12 2023-12-31 23:59:59.000000000 -0100 \"a \\\"b\\\" c\\nd\"\n\
lrwxrwxrwx 1 bob p_x 6 2024-05-01 10:00:00.000000000 +0000 \"l -> x\" -> \"target\"\n\
crw-rw-rw- 1 root root 1, 3 2024-05-01 10:00:00.000000000 +0000 \"null\"\n\
-rwsr-xr-T 1 alice p_x 0 2024-05-01 10:00:00.000000000 +0000 \"\\303\\244\\001\"\n";
        let got = parse_listing(text, &dir(), "dtls").unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].path.to_string(), "/projects/p_x/data dir");
        assert!(got[0].is_directory());
        assert_eq!(got[0].permissions, Some(0o2755));
        let t0 = got[0].modified.unwrap();
        assert_eq!(t0, utc(2024, 5, 1, 8, 0, 0).unwrap() + Duration::from_millis(500));
        assert_eq!(got[1].path.file_name(), Some("a \"b\" c\nd"));
        assert_eq!(got[1].size, 12);
        assert_eq!(got[1].modified, utc(2024, 1, 1, 0, 59, 59));
        assert_eq!(got[2].path.file_name(), Some("l -> x"));
        assert_eq!(got[2].link_target.as_deref(), Some("target"));
        assert_eq!(got[2].owner.as_deref(), Some("bob"));
        assert_eq!(got[3].kind, EntryKind::Other);
        assert_eq!(got[4].path.file_name(), Some("ä\u{1}"));
        assert_eq!(got[4].permissions, Some(0o5754));
    }

    #[test]
    fn garbage_is_a_parse_error_with_the_line() {
        for l in [
            "drwx 2 a b 1 2024-05-01 10:00:00.0 +0000 \"x\"",
            "-rw-r--r-- 1 a b 1 May 1 10:00 \"x\"",
            "-rw-r--r-- 1 a b 1 2024-05-01 10:00:00.0 +0000 x",
            "-rw-r--r-- 1 a b 1 2024-05-01 10:00:00.0 +0000 \"unterminated",
            "-rw-r--r-- 1 a b 1 2024-05-01 10:00:00.0 +0000 \"..\"",
        ] {
            let e = parse_listing(l, &dir(), "dtls -l").unwrap_err();
            assert!(matches!(&e, Error::Parse { line, .. } if line == l), "{l}: {e}");
        }
    }

    #[test]
    fn absolute_names_of_ls_d_are_kept() {
        let l = "drwxr-xr-x 2 a b 4096 2024-05-01 10:00:00.0 +0000 \"/projects/p_x\"";
        let got = parse_listing(l, &dir(), "dtls").unwrap();
        assert_eq!(got[0].path.to_string(), "/projects/p_x");
    }
}
