//! What an adaptor can do, as data (Xenon's adaptor property tables).
//!
//! Tests and the docs generator read these structs; the capability tables in
//! `docs/` are produced from them and a test keeps the two in sync.

use serde::Serialize;

/// Properties of a scheduler adaptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SchedulerCapabilities {
    /// Jobs run inside this process (or over its own connection) without an
    /// external batch system.
    pub is_embedded: bool,
    /// Interactive jobs with connected standard streams.
    pub supports_interactive: bool,
    /// Batch jobs.
    pub supports_batch: bool,
    /// Jobs read and write files on a file system the client can reach.
    pub uses_file_system: bool,
    /// Job arrays.
    pub supports_arrays: bool,
    /// Resource accounting (exit code, times, memory) after a job has left the queue.
    pub supports_accounting: bool,
    /// Status and exit codes survive a restart of the client.
    pub survives_client_restart: bool,
    /// Credential kinds accepted.
    pub credentials: &'static [&'static str],
}

impl SchedulerCapabilities {
    /// Field names and values in table order (for docs and tests).
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("is_embedded", self.is_embedded.to_string()),
            ("supports_interactive", self.supports_interactive.to_string()),
            ("supports_batch", self.supports_batch.to_string()),
            ("uses_file_system", self.uses_file_system.to_string()),
            ("supports_arrays", self.supports_arrays.to_string()),
            ("supports_accounting", self.supports_accounting.to_string()),
            ("survives_client_restart", self.survives_client_restart.to_string()),
            ("credentials", self.credentials.join(", ")),
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
    pub credentials: &'static [&'static str],
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
            credentials: &[],
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
            ("credentials", self.credentials.join(", ")),
        ]
    }
}

/// Render capability rows of several adaptors as one Markdown table
/// (adaptors as columns). Used by the docs generator and its sync test.
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
            supports_batch: true,
            credentials: &["password"],
            ..Default::default()
        };
        let t = markdown_table(&[("x", a.rows()), ("y", SchedulerCapabilities::default().rows())]);
        assert!(t.starts_with("| property | x | y |\n|---|---|---|\n"));
        assert!(t.contains("| supports_batch | true | false |"));
        assert!(t.contains("| credentials | password |  |"));
        assert_eq!(t.lines().count(), 2 + a.rows().len());
    }
}
