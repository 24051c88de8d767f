//! `hpckit fs ls` and `stat`: listings and attributes as tables or JSON.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use futures::StreamExt;
use hpckit::core::time::format_utc_minutes;
use hpckit::core::{EntryKind, FileSystem, Path, PathAttributes};
use serde::Serialize;

use crate::output;

/// One listing entry as `--json` prints it (field names are stable).
#[derive(Debug, Serialize)]
struct Entry {
    path: String,
    name: String,
    kind: EntryKind,
    size: u64,
    /// Seconds since the Unix epoch.
    modified: Option<u64>,
    /// Octal, e.g. `"0644"`.
    permissions: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    link_target: Option<String>,
}

impl From<&PathAttributes> for Entry {
    fn from(a: &PathAttributes) -> Self {
        Entry {
            path: a.path.to_string(),
            name: a.path.file_name().unwrap_or("/").to_owned(),
            kind: a.kind,
            size: a.size,
            modified: a
                .modified
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            permissions: a.permissions.map(|p| format!("{p:04o}")),
            owner: a.owner.clone(),
            group: a.group.clone(),
            link_target: a.link_target.clone(),
        }
    }
}

fn mode_string(a: &PathAttributes) -> String {
    let kind = match a.kind {
        EntryKind::Directory => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
        EntryKind::Other => '?',
    };
    let Some(p) = a.permissions else { return format!("{kind}?????????") };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (p >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// `hpckit fs ls`.
pub(super) async fn ls(
    fs: &dyn FileSystem,
    path: &Path,
    long: bool,
    recursive: bool,
    all: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let top = fs.attributes(path).await?;
    let mut unusable = Vec::new();
    let entries: Vec<PathAttributes> = if top.is_directory() {
        let base = path.resolve(&fs.info().working_directory);
        let mut listing = fs.list(path, recursive);
        let mut entries = Vec::new();
        while let Some(item) = listing.next().await {
            match item {
                Ok(a) => {
                    let hidden = a
                        .path
                        .strip_prefix(&base)
                        .is_some_and(|rel| rel.elements().iter().any(|e| e.starts_with('.')));
                    if all || !hidden {
                        entries.push(a);
                    }
                }
                // One entry without a usable name: the others are listed.
                Err(e) if e.kind() == hpckit::core::ErrorKind::InvalidInput => {
                    unusable.push(e.to_string());
                }
                Err(e) => return Err(e.into()),
            }
        }
        entries
    } else {
        vec![top.clone()]
    };
    let mut entries = entries;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    if json {
        let list: Vec<Entry> = entries.iter().map(Entry::from).collect();
        output::print_json(&list)?;
        super::copying::skipped_entries(&unusable)?;
        return Ok(ExitCode::SUCCESS);
    }
    let base = if top.is_directory() { Some(top.path.clone()) } else { None };
    let shown = |a: &PathAttributes| match &base {
        Some(b) => {
            a.path.strip_prefix(b).map(|r| r.to_string()).unwrap_or_else(|| a.path.to_string())
        }
        None => a.path.to_string(),
    };
    if long {
        let mut t =
            output::Table::new(["mode", "owner", "group", "size", "modified (UTC)", "name"]);
        for a in &entries {
            let mut name = shown(a);
            if let Some(target) = &a.link_target {
                name = format!("{name} -> {target}");
            }
            let modified = a.modified.map(format_utc_minutes).unwrap_or_default();
            t.row([
                mode_string(a),
                a.owner.clone().unwrap_or_default(),
                a.group.clone().unwrap_or_default(),
                a.size.to_string(),
                modified,
                name,
            ]);
        }
        t.print()?;
    } else {
        let mut text = String::new();
        for a in &entries {
            let slash = if a.is_directory() { "/" } else { "" };
            text.push_str(&format!("{}{slash}\n", output::escape_controls(&shown(a))));
        }
        output::write_stdout(text.as_bytes())?;
    }
    super::copying::skipped_entries(&unusable)?;
    Ok(ExitCode::SUCCESS)
}

/// `hpckit fs stat`: one path's attributes, as a table or JSON.
pub(super) async fn stat(fs: &dyn FileSystem, path: &Path, json: bool) -> anyhow::Result<()> {
    let a = fs.attributes(path).await?;
    if json {
        output::print_json(&Entry::from(&a))?;
    } else {
        let e = Entry::from(&a);
        let mut t = output::Table::new(["field", "value"]);
        t.row(["path".into(), e.path.clone()]);
        t.row(["kind".into(), format!("{:?}", a.kind).to_lowercase()]);
        t.row(["size".into(), e.size.to_string()]);
        t.row(["permissions".into(), e.permissions.clone().unwrap_or_default()]);
        t.row(["owner".into(), e.owner.clone().unwrap_or_default()]);
        t.row(["group".into(), e.group.clone().unwrap_or_default()]);
        t.row(["modified (UTC)".into(), a.modified.map(format_utc_minutes).unwrap_or_default()]);
        t.row(["link_target".into(), e.link_target.clone().unwrap_or_default()]);
        t.print()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_render_like_ls() {
        let mut a = PathAttributes::new(Path::new("/x").unwrap(), EntryKind::File, 1);
        a.permissions = Some(0o754);
        assert_eq!(mode_string(&a), "-rwxr-xr--");
        a.kind = EntryKind::Directory;
        a.permissions = None;
        assert_eq!(mode_string(&a), "d?????????");
        a.permissions = Some(0o644);
        let e = Entry::from(&a);
        assert_eq!(e.permissions.as_deref(), Some("0644"));
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "directory");
    }
}
