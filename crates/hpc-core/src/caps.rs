//! What an adaptor can do, as data (Xenon's adaptor property tables).
//!
//! Tests and the docs generator read these structs; the capability tables in
//! `docs/` are produced from them by `cargo xtask codegen` (`--check` keeps
//! the two in sync).

use serde::Serialize;

use crate::credentials::CredentialKinds;

/// What a scheduler adaptor can do, named after the operations of
/// [`crate::Scheduler`] (OpenDAL's style: `op`, `op_with_x`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SchedulerCapabilities {
    /// Jobs run as plain processes (in this process, or detached on a host)
    /// without an external batch system.
    pub embedded: bool,
    /// `submit_batch` and `submit_many`.
    pub submit_batch: bool,
    /// `submit_interactive`: jobs with connected standard streams.
    pub submit_interactive: bool,
    /// `submit_batch` of a job with an `array`.
    pub submit_array: bool,
    /// `statuses` of a job that has left the queue still gives its exit code
    /// and resource use (the scheduler keeps accounting records).
    pub status_with_accounting: bool,
    /// `statuses` answers for jobs submitted before this client (or process)
    /// started: status and exit codes survive a client restart.
    pub status_after_restart: bool,
    /// Credential kinds accepted.
    pub credentials: CredentialKinds,
}

impl SchedulerCapabilities {
    /// Field names and values in table order (for docs and tests).
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("embedded", self.embedded.to_string()),
            ("submit_batch", self.submit_batch.to_string()),
            ("submit_interactive", self.submit_interactive.to_string()),
            ("submit_array", self.submit_array.to_string()),
            ("status_with_accounting", self.status_with_accounting.to_string()),
            ("status_after_restart", self.status_after_restart.to_string()),
            ("credentials", self.credentials.to_string()),
        ]
    }
}

/// What a file-system adaptor can do. Each field is named after the
/// [`FileSystem`](crate::FileSystem) operation it stands for (OpenDAL's
/// habit); an operation that is `false` here answers
/// [`Error::Unsupported`](crate::Error::Unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FsCapabilities {
    /// `copy_server_side`: copies within the file system without passing the
    /// data through the client.
    pub copy_server_side: bool,
    /// `create_symbolic_link`.
    pub create_symbolic_link: bool,
    /// `read_symbolic_link` (and link targets in attributes).
    pub read_symbolic_link: bool,
    /// `append` to an existing file.
    pub append: bool,
    /// `attributes` report POSIX permission bits.
    pub attributes_permissions: bool,
    /// `set_permissions` (POSIX bits).
    pub set_permissions: bool,
    /// `rename`, atomically on the server.
    pub rename: bool,
    /// `read` of a byte range without reading from the start.
    pub read_range: bool,
    /// `read_parts`: how many byte ranges it fetches at the same time; 1
    /// where the data only comes in order.
    pub read_parts: usize,
    /// `write_parts`: chunks are written at their offsets in any order.
    pub write_parts: bool,
    /// `checksum` is computed where the data lives.
    pub checksum: bool,
    /// No connection is held between calls (a property of the protocol,
    /// not an operation).
    pub is_connectionless: bool,
    /// Credential kinds accepted.
    pub credentials: CredentialKinds,
}

impl Default for FsCapabilities {
    /// Nothing beyond the required operations; data read in order.
    fn default() -> Self {
        FsCapabilities {
            copy_server_side: false,
            create_symbolic_link: false,
            read_symbolic_link: false,
            append: false,
            attributes_permissions: false,
            set_permissions: false,
            rename: false,
            read_range: false,
            read_parts: 1,
            write_parts: false,
            checksum: false,
            is_connectionless: false,
            credentials: CredentialKinds::NONE,
        }
    }
}

impl FsCapabilities {
    /// Field names and values in table order (for docs and tests).
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("copy_server_side", self.copy_server_side.to_string()),
            ("create_symbolic_link", self.create_symbolic_link.to_string()),
            ("read_symbolic_link", self.read_symbolic_link.to_string()),
            ("append", self.append.to_string()),
            ("attributes_permissions", self.attributes_permissions.to_string()),
            ("set_permissions", self.set_permissions.to_string()),
            ("rename", self.rename.to_string()),
            ("read_range", self.read_range.to_string()),
            ("read_parts", self.read_parts.to_string()),
            ("write_parts", self.write_parts.to_string()),
            ("checksum", self.checksum.to_string()),
            ("is_connectionless", self.is_connectionless.to_string()),
            ("credentials", self.credentials.to_string()),
        ]
    }
}

/// Render capability rows of several adaptors as one Markdown table
/// (adaptors as columns), as `cargo xtask codegen` writes them into the docs.
pub fn markdown_table(adaptors: &[(&str, Vec<(&'static str, String)>)]) -> String {
    let mut out = String::from("| property |");
    for (name, _) in adaptors {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|");
    for _ in adaptors {
        out.push_str("---|");
    }
    out.push('\n');
    let Some((_, first)) = adaptors.first() else { return out };
    for (i, (field, _)) in first.iter().enumerate() {
        out.push_str(&format!("| {field} |"));
        for (_, rows) in adaptors {
            out.push_str(&format!(" {} |", rows.get(i).map(|r| r.1.as_str()).unwrap_or("")));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_field() {
        let a = SchedulerCapabilities {
            submit_batch: true,
            credentials: CredentialKinds::of(&[crate::CredentialKind::Password]),
            ..Default::default()
        };
        let t = markdown_table(&[("x", a.rows()), ("y", SchedulerCapabilities::default().rows())]);
        assert!(t.starts_with("| property | x | y |\n|---|---|---|\n"));
        assert!(t.contains("| submit_batch | true | false |"));
        assert!(t.contains("| credentials | password |  |"));
        assert_eq!(t.lines().count(), 2 + a.rows().len());
    }
}
