#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod copy;
pub mod local;

#[cfg(feature = "ftp")]
pub mod ftp;
#[cfg(feature = "fuse")]
pub mod fuse;
#[cfg(any(feature = "ftp", feature = "webdav", feature = "s3"))]
mod remote;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sftp")]
pub mod sftp;
#[cfg(feature = "webdav")]
pub mod webdav;

pub use copy::{CopyOptions, CopyReport, SymlinkPolicy, copy};
pub use local::LocalFileSystem;
#[cfg(any(feature = "ftp", feature = "webdav", feature = "s3"))]
pub use remote::NetTimeouts;

use std::sync::atomic::{AtomicU64, Ordering};

use hpc_core::{Error, Path, Result};

/// A hidden sibling name for data that is not complete yet:
/// `.<name>.hpckit-<pid>-<n>.<suffix>`.
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
    // Keep the whole name within the common 255-byte limit.
    let mut short = name.to_owned();
    while short.len() > 200 {
        short.pop();
    }
    parent.join_entry(&format!(".{short}.hpckit-{}-{n}.{suffix}", std::process::id()))
}

/// Whether `name` is one of the temporary names made by [`temp_sibling`].
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".hpckit-")
}

/// Capability rows of every adaptor compiled in, in table order (`local`,
/// `sftp`, `ftp`, `webdav`, `s3`), for `docs/filesystems.md`.
pub fn capability_rows() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    #[allow(unused_mut)]
    let mut rows = vec![("local", local::capabilities().rows())];
    #[cfg(feature = "sftp")]
    rows.push(("sftp", sftp::capabilities().rows()));
    #[cfg(feature = "ftp")]
    rows.push(("ftp", ftp::capabilities().rows()));
    #[cfg(feature = "webdav")]
    rows.push(("webdav", webdav::capabilities().rows()));
    #[cfg(feature = "s3")]
    rows.push(("s3", s3::capabilities().rows()));
    rows
}

/// The capability table of `docs/filesystems.md`.
pub fn capability_table() -> String {
    hpc_core::caps::markdown_table(&capability_rows())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_siblings() {
        let p = Path::new("/d/data.bin").unwrap();
        let t = temp_sibling(&p, "part").unwrap();
        assert_eq!(t.parent(), p.parent());
        let name = t.file_name().unwrap();
        assert!(name.starts_with(".data.bin.hpckit-") && name.ends_with(".part"), "{name}");
        assert!(is_temp_name(name));
        assert_ne!(temp_sibling(&p, "part").unwrap(), t);
        assert!(temp_sibling(&Path::root(), "x").is_err());
        let long = Path::new(&format!("/d/{}", "é".repeat(120))).unwrap();
        assert!(temp_sibling(&long, "part").unwrap().file_name().unwrap().len() < 255);
    }

    #[test]
    fn credential_names_are_hpc_auth_kinds() {
        for (name, rows) in capability_rows() {
            let (_, creds) = rows.iter().find(|(field, _)| *field == "credentials").unwrap();
            for k in creds.split(", ").filter(|k| !k.is_empty()) {
                assert!(
                    hpc_auth::Credential::KINDS.contains(&k),
                    "{name} lists unknown credential {k:?}"
                );
            }
        }
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
