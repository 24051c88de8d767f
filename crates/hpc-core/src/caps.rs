//! What an adaptor can do, as data (Xenon's adaptor property tables).
//!
//! Tests and the docs generator read these structs; the capability tables in
//! `docs/` are produced from them and a test keeps the two in sync.

use serde::Serialize;

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
    pub credentials: &'static [&'static str],
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
            ("credentials", self.credentials.join(", ")),
        ]
    }
}

/// Properties of a file-system adaptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FsCapabilities {
    /// Can copy directly to another file system without passing data through the client.
    pub supports_third_party_copy: bool,
    /// Can copy within itself without passing data through the client.
    pub supports_server_side_copy: bool,
    /// Can create symbolic links.
    pub can_create_symboliclinks: bool,
    /// Can read symbolic links.
    pub can_read_symboliclinks: bool,
    /// No connection is held between calls.
    pub is_connectionless: bool,
    /// Can append to an existing file.
    pub can_append: bool,
    /// Reports POSIX permissions.
    pub supports_reading_posix_permissions: bool,
    /// Can set POSIX permissions.
    pub supports_setting_posix_permissions: bool,
    /// Can rename (atomically, on the server).
    pub supports_rename: bool,
    /// Needs the size of a file before writing it.
    pub needs_size_beforehand: bool,
    /// Can read a byte range without reading from the start.
    pub supports_range_read: bool,
    /// Can compute a checksum on the server.
    pub supports_server_side_checksum: bool,
    /// Credential kinds accepted.
    pub credentials: &'static [&'static str],
}

impl FsCapabilities {
    /// Field names and values in table order (for docs and tests).
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("supports_third_party_copy", self.supports_third_party_copy.to_string()),
            ("supports_server_side_copy", self.supports_server_side_copy.to_string()),
            ("can_create_symboliclinks", self.can_create_symboliclinks.to_string()),
            ("can_read_symboliclinks", self.can_read_symboliclinks.to_string()),
            ("is_connectionless", self.is_connectionless.to_string()),
            ("can_append", self.can_append.to_string()),
            (
                "supports_reading_posix_permissions",
                self.supports_reading_posix_permissions.to_string(),
            ),
            (
                "supports_setting_posix_permissions",
                self.supports_setting_posix_permissions.to_string(),
            ),
            ("supports_rename", self.supports_rename.to_string()),
            ("needs_size_beforehand", self.needs_size_beforehand.to_string()),
            ("supports_range_read", self.supports_range_read.to_string()),
            ("supports_server_side_checksum", self.supports_server_side_checksum.to_string()),
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
            submit_batch: true,
            credentials: &["password"],
            ..Default::default()
        };
        let t = markdown_table(&[("x", a.rows()), ("y", SchedulerCapabilities::default().rows())]);
        assert!(t.starts_with("| property | x | y |\n|---|---|---|\n"));
        assert!(t.contains("| submit_batch | true | false |"));
        assert!(t.contains("| credentials | password |  |"));
        assert_eq!(t.lines().count(), 2 + a.rows().len());
    }
}
