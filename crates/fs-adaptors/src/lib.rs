#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod copy;
pub mod leftovers;
pub mod local;
pub mod staging;

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
pub use staging::{is_temp_name, temp_sibling};

use hpc_core::FsCapabilities;

/// Every adaptor compiled in with its capabilities, by scheme, in the order
/// of the table in `docs/filesystems.md` (`local`, `sftp`, `ftp`, `webdav`,
/// `s3`; `cargo xtask codegen` writes it).
pub fn all_capabilities() -> Vec<(&'static str, FsCapabilities)> {
    #[allow(unused_mut)]
    let mut all = vec![("local", local::capabilities())];
    #[cfg(feature = "sftp")]
    all.push(("sftp", sftp::capabilities()));
    #[cfg(feature = "ftp")]
    all.push(("ftp", ftp::capabilities()));
    #[cfg(feature = "webdav")]
    all.push(("webdav", webdav::capabilities()));
    #[cfg(feature = "s3")]
    all.push(("s3", s3::capabilities()));
    all
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

    /// The `| capability | value |` table of each adaptor's docs.md says
    /// what its `capabilities()` says (the sftp column is the type's table).
    #[test]
    fn docs_checklists_agree_with_the_capabilities() {
        let docs = |scheme| match scheme {
            "local" => include_str!("local/docs.md"),
            #[cfg(feature = "sftp")]
            "sftp" => include_str!("sftp/docs.md"),
            #[cfg(feature = "ftp")]
            "ftp" => include_str!("ftp/docs.md"),
            #[cfg(feature = "webdav")]
            "webdav" => include_str!("webdav/docs.md"),
            #[cfg(feature = "s3")]
            "s3" => include_str!("s3/docs.md"),
            other => panic!("no docs.md for {other}"),
        };
        let mut wrong = Vec::new();
        for (scheme, caps) in all_capabilities() {
            for problem in hpc_testkit::checklist::disagreements(docs(scheme), &caps.rows()) {
                wrong.push(format!("src/{scheme}/docs.md: {problem}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
