//! What the server sends about a path, as [`PathAttributes`]: the file type
//! in the mode bits, times, and owner names from a listing's long name.

use std::time::{Duration, UNIX_EPOCH};

use hpc_core::{EntryKind, Path, PathAttributes};
use russh_sftp::protocol::FileAttributes;

/// The entry kind in the file-type bits of `mode` (a file when absent).
pub(super) fn kind_of(mode: Option<u32>) -> EntryKind {
    match mode.map(|m| m & 0o170000) {
        Some(0o040000) => EntryKind::Directory,
        Some(0o100000) => EntryKind::File,
        Some(0o120000) => EntryKind::Symlink,
        Some(_) => EntryKind::Other,
        None => EntryKind::File,
    }
}

/// Attributes from SFTP's, with owner names from a listing's long name when there is one.
pub(super) fn attributes_from(
    path: Path,
    a: &FileAttributes,
    longname: Option<&str>,
) -> PathAttributes {
    let mut out = PathAttributes::new(path, kind_of(a.permissions), a.size.unwrap_or(0));
    out.modified = a.mtime.map(|t| UNIX_EPOCH + Duration::from_secs(t.into()));
    out.accessed = a.atime.map(|t| UNIX_EPOCH + Duration::from_secs(t.into()));
    out.permissions = a.permissions.map(|p| p & 0o7777);
    let (user, group) = longname.map(owners_from_longname).unwrap_or((None, None));
    out.owner = a.user.clone().or(user).or_else(|| a.uid.map(|u| u.to_string()));
    out.group = a.group.clone().or(group).or_else(|| a.gid.map(|g| g.to_string()));
    out
}

/// `-rw-r--r--    1 alice    staff    1234 Jan  1 00:00 name`: fields 3 and 4.
fn owners_from_longname(l: &str) -> (Option<String>, Option<String>) {
    let mut f = l.split_whitespace();
    let user = f.nth(2).map(str::to_owned);
    let group = f.next().map(str::to_owned);
    (user, group)
}

/// The hex digest at the start of `sha256sum`-style output (`<hex>  <name>`;
/// GNU prefixes a `\\` when the name needed escaping), in lower case.
pub(super) fn digest_of(output: &str) -> Option<String> {
    let word = output.split_whitespace().next().unwrap_or("").trim_start_matches('\\');
    let hex = !word.is_empty() && word.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| word.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_long_names() {
        assert_eq!(kind_of(Some(0o040755)), EntryKind::Directory);
        assert_eq!(kind_of(Some(0o100644)), EntryKind::File);
        assert_eq!(kind_of(Some(0o120777)), EntryKind::Symlink);
        assert_eq!(kind_of(Some(0o010644)), EntryKind::Other);
        let (u, g) =
            owners_from_longname("-rw-r--r--    1 alice    staff        1234 Jan  1 00:00 x y");
        assert_eq!((u.as_deref(), g.as_deref()), (Some("alice"), Some("staff")));
        let a = FileAttributes {
            size: Some(5),
            permissions: Some(0o100640),
            uid: Some(7),
            mtime: Some(10),
            ..Default::default()
        };
        let p = attributes_from(Path::new("/x").unwrap(), &a, None);
        assert_eq!((p.size, p.permissions, p.owner.as_deref()), (5, Some(0o640), Some("7")));
        assert_eq!(p.modified, Some(UNIX_EPOCH + Duration::from_secs(10)));
    }

    #[test]
    fn digests() {
        assert_eq!(digest_of("BA7816BF  /tmp/abc\n").as_deref(), Some("ba7816bf"));
        assert_eq!(digest_of("\\ba78  /tmp/a\\nb\n").as_deref(), Some("ba78"));
        assert_eq!(digest_of(""), None);
        assert_eq!(digest_of("sha256sum: x: No such file"), None);
    }
}
