//! Parsers of what the hpc-workspace tools print.
//!
//! `ws_list` has printed three layouts over the tool's history, all parsed
//! here into the same record:
//! - 1.x (the Python `ws_list` of hpc-workspace 1.0 to 1.6, what ZIH ran):
//!   `id: NAME`, then `key : value` lines indented by five spaces, remaining
//!   time as `N days M hours` or `expired`, `expiration date`;
//! - 2.x (the C++ rewrite): `Id: NAME`, four spaces, `N days, M hours`,
//!   `expiration time`, plus `until deletion`, `expired time`,
//!   `release time`, `permissions`;
//! - 2.x `-T` table: `ID PATH EXPIRATION EXTENSIONS REMAINING` (or, with
//!   `-t`, `ID PATH REMAINING`) under a row of `=`, long cells wrapped.
//!
//! Fields a version or option (`-t`, `-v`) leaves out stay `None`.

use std::time::Duration;

use hpc_core::{Error, Result};
use serde::Serialize;

use super::time::WsTime;

/// One workspace as `ws_list` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkspaceInfo {
    /// The name given to `ws_allocate` (admins see `user-name`).
    pub id: String,
    /// Its directory.
    pub directory: String,
    /// Time left before it expires.
    pub remaining: Remaining,
    /// For expired or released workspaces: time left until the data is deleted.
    #[serde(serialize_with = "ser_opt_secs")]
    pub until_deletion: Option<Duration>,
    /// Free text given at allocation.
    pub comment: Option<String>,
    /// When it was created.
    pub creation: Option<WsTime>,
    /// When it expires.
    pub expiration: Option<WsTime>,
    /// When it expired (2.x, expired listings).
    pub expired: Option<WsTime>,
    /// When it was released (2.x, expired listings).
    pub released: Option<WsTime>,
    /// The workspace file system (`scratch`, `horse`, ...).
    pub filesystem: Option<String>,
    /// Group of a group workspace.
    pub group: Option<String>,
    /// How many more times it can be extended.
    pub extensions: Option<i64>,
    /// Accounting code (1.x `-v`).
    pub acctcode: Option<String>,
    /// When the reminder mail goes out (`-v`).
    pub reminder: Option<WsTime>,
    /// Address of the reminder mail (`-v`).
    pub mail: Option<String>,
    /// Permissions of the directory (2.x `-P`).
    pub permissions: Option<String>,
}

/// Time left before a workspace expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remaining {
    /// Still alive, this long (whole hours, as the tools print it).
    Left(#[serde(serialize_with = "ser_secs")] Duration),
    /// Expired.
    Expired,
    /// Released by its owner.
    Released,
}

impl Remaining {
    /// The time left, zero once expired or released.
    pub fn duration(&self) -> Duration {
        match self {
            Remaining::Left(d) => *d,
            Remaining::Expired | Remaining::Released => Duration::ZERO,
        }
    }
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn ser_opt_secs<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

/// Parses the output of `ws_list` (any layout; `short` for `ws_list -s`,
/// whose lines are bare names). Unparsable text gives [`Error::Parse`]
/// carrying the whole raw output.
pub fn parse_ws_list(text: &str, short: bool) -> Result<Vec<WorkspaceInfo>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(first) = lines.first() else { return Ok(Vec::new()) };
    if short {
        return lines.iter().map(|l| short_entry(l.trim(), text)).collect();
    }
    if first.starts_with("id: ") || first.starts_with("Id: ") {
        return parse_blocks(&lines, text);
    }
    let header: Vec<&str> = first.split_whitespace().collect();
    if header.first() == Some(&"ID") && header.contains(&"PATH") {
        return parse_table(&lines, text);
    }
    Err(Error::parse("ws_list", "neither `id:` blocks nor a table", text))
}

fn short_entry(name: &str, raw: &str) -> Result<WorkspaceInfo> {
    if name.contains(char::is_whitespace) {
        return Err(Error::parse("ws_list -s", "a name with blanks", raw));
    }
    Ok(empty(name.to_owned(), String::new(), Remaining::Left(Duration::ZERO)))
}

fn empty(id: String, directory: String, remaining: Remaining) -> WorkspaceInfo {
    WorkspaceInfo {
        id,
        directory,
        remaining,
        until_deletion: None,
        comment: None,
        creation: None,
        expiration: None,
        expired: None,
        released: None,
        filesystem: None,
        group: None,
        extensions: None,
        acctcode: None,
        reminder: None,
        mail: None,
        permissions: None,
    }
}

/// `id:`/`Id:` blocks of 1.x and 2.x.
fn parse_blocks(lines: &[&str], raw: &str) -> Result<Vec<WorkspaceInfo>> {
    let mut out: Vec<WorkspaceInfo> = Vec::new();
    let mut remaining_seen = Vec::new();
    for line in lines {
        if let Some(id) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("Id: ")) {
            out.push(empty(id.trim().to_owned(), String::new(), Remaining::Expired));
            remaining_seen.push(false);
            continue;
        }
        let ws =
            out.last_mut().ok_or_else(|| Error::parse("ws_list", "a field before `id:`", raw))?;
        if !line.starts_with(' ') {
            return Err(Error::parse("ws_list", format!("unexpected line {line:?}"), raw));
        }
        let (key, value) = line
            .split_once(':')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| Error::parse("ws_list", format!("no `key : value` in {line:?}"), raw))?;
        let time = |v: &str| {
            WsTime::parse_ctime(v)
                .ok_or_else(|| Error::parse("ws_list", format!("bad time in {line:?}"), raw))
        };
        let text = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match key {
            "workspace directory" => ws.directory = value.to_owned(),
            "remaining time" => {
                ws.remaining = remaining(value).ok_or_else(|| {
                    Error::parse("ws_list", format!("bad remaining time in {line:?}"), raw)
                })?;
                if let Some(seen) = remaining_seen.last_mut() {
                    *seen = true;
                }
            }
            "until deletion" => {
                ws.until_deletion = Some(days_hours(value).ok_or_else(|| {
                    Error::parse("ws_list", format!("bad duration in {line:?}"), raw)
                })?);
            }
            "comment" => ws.comment = text(value),
            "creation time" => ws.creation = Some(time(value)?),
            "expiration date" | "expiration time" => ws.expiration = Some(time(value)?),
            "expired time" => ws.expired = Some(time(value)?),
            "release time" => ws.released = Some(time(value)?),
            "filesystem name" => ws.filesystem = text(value),
            "group" => ws.group = text(value),
            "available extensions" => {
                ws.extensions = Some(value.parse().map_err(|_| {
                    Error::parse("ws_list", format!("bad extension count in {line:?}"), raw)
                })?);
            }
            "acctcode" => ws.acctcode = text(value),
            "reminder" => ws.reminder = Some(time(value)?),
            "mailaddress" => ws.mail = text(value),
            "permissions" => ws.permissions = text(value),
            // Fields of future versions are no reason to fail.
            _ => tracing::debug!(key, "unknown ws_list field"),
        }
    }
    for (ws, seen) in out.iter().zip(&remaining_seen) {
        if ws.directory.is_empty() || !seen {
            return Err(Error::parse(
                "ws_list",
                format!("workspace {:?} has no directory or remaining time", ws.id),
                raw,
            ));
        }
    }
    Ok(out)
}

/// `N days M hours`, `N days, M hours`, `expired`, `released`.
fn remaining(v: &str) -> Option<Remaining> {
    match v {
        "expired" => Some(Remaining::Expired),
        "released" => Some(Remaining::Released),
        _ => days_hours(v).map(Remaining::Left),
    }
}

fn days_hours(v: &str) -> Option<Duration> {
    let w: Vec<&str> =
        v.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    let [d, "days", h, "hours"] = w.as_slice() else { return None };
    let (d, h): (u64, u64) = (d.parse().ok()?, h.parse().ok()?);
    // Checked: the numbers are the tool's (overflows found by the fuzz target).
    let secs = d.checked_mul(86_400)?.checked_add(h.checked_mul(3600)?)?;
    Some(Duration::from_secs(secs))
}

/// The 2.x `-T` table: header, `=` rule, then rows whose long cells wrap
/// onto the next line. Cells contain no blanks, except the expiration date
/// (five words), so the rows are read as one stream of words.
fn parse_table(lines: &[&str], raw: &str) -> Result<Vec<WorkspaceInfo>> {
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let terse = match header.as_slice() {
        ["ID", "PATH", "EXPIRATION", "EXTENSIONS", "REMAINING"] => false,
        ["ID", "PATH", "REMAINING"] => true,
        _ => return Err(Error::parse("ws_list -T", "unknown table header", raw)),
    };
    if !lines.get(1).is_some_and(|l| l.trim_start().starts_with('=')) {
        return Err(Error::parse("ws_list -T", "no `=` rule under the header", raw));
    }
    let words: Vec<&str> = lines[2..].iter().flat_map(|l| l.split_whitespace()).collect();
    let width = if terse { 3 } else { 9 };
    if !words.len().is_multiple_of(width) {
        return Err(Error::parse("ws_list -T", "rows with missing cells", raw));
    }
    words
        .chunks(width)
        .map(|row| {
            let secs = row[width - 1]
                .parse::<u64>()
                .ok()
                .and_then(|days| days.checked_mul(86_400))
                .ok_or_else(|| Error::parse("ws_list -T", "bad REMAINING cell", raw))?;
            let mut ws = empty(
                row[0].to_owned(),
                row[1].to_owned(),
                Remaining::Left(Duration::from_secs(secs)),
            );
            if !terse {
                ws.expiration = Some(
                    WsTime::parse_ctime(&row[2..7].join(" "))
                        .ok_or_else(|| Error::parse("ws_list -T", "bad EXPIRATION cell", raw))?,
                );
                ws.extensions = Some(
                    row[7]
                        .parse()
                        .map_err(|_| Error::parse("ws_list -T", "bad EXTENSIONS cell", raw))?,
                );
            }
            Ok(ws)
        })
        .collect()
}

/// What `ws_allocate` (and `ws_extend`) report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Allocation {
    /// The workspace directory (the only line on standard output).
    pub directory: String,
    /// Whether an existing workspace was reused (`Info: reusing workspace.`).
    pub reused: bool,
    /// `remaining extensions  : N`.
    pub extensions: Option<i64>,
    /// `remaining time in days: N`.
    pub remaining_days: Option<i64>,
}

/// Parses `ws_allocate`'s standard output and error.
pub fn parse_allocation(stdout: &str, stderr: &str) -> Result<Allocation> {
    let directory = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('/'))
        .ok_or_else(|| Error::parse("ws_allocate", "no directory on standard output", stdout))?
        .to_owned();
    let mut a = Allocation { directory, reused: false, extensions: None, remaining_days: None };
    for line in stderr.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        match k.trim() {
            "remaining extensions" => a.extensions = v.trim().parse().ok(),
            "remaining time in days" => a.remaining_days = v.trim().parse().ok(),
            "Info" if v.trim() == "reusing workspace." => a.reused = true,
            _ => {}
        }
    }
    Ok(a)
}

/// A released or expired workspace that `ws_restore` can bring back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Restorable {
    /// Its file system.
    pub filesystem: String,
    /// The name `ws_restore` takes (`user-name-timestamp`).
    pub id: String,
    /// When it was released or expired (`unavailable since`).
    pub unavailable_since: Option<WsTime>,
}

/// Parses `ws_restore -l`: `fs:` lines, then ids, each optionally followed
/// by a tab-indented `unavailable since <ctime>`.
pub fn parse_restorable(text: &str) -> Result<Vec<Restorable>> {
    let mut fs = None;
    let mut out: Vec<Restorable> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(since) = line.trim().strip_prefix("unavailable since ") {
            let last = out
                .last_mut()
                .ok_or_else(|| Error::parse("ws_restore -l", "a date before any id", text))?;
            last.unavailable_since = Some(
                WsTime::parse_ctime(since)
                    .ok_or_else(|| Error::parse("ws_restore -l", "bad date", text))?,
            );
        } else if let Some(name) = line.strip_suffix(':').filter(|n| !n.contains(' ')) {
            fs = Some(name.to_owned());
        } else {
            let filesystem = fs
                .clone()
                .ok_or_else(|| Error::parse("ws_restore -l", "an id before any `fs:`", text))?;
            if line.contains(char::is_whitespace) {
                return Err(Error::parse(
                    "ws_restore -l",
                    format!("unexpected line {line:?}"),
                    text,
                ));
            }
            out.push(Restorable { filesystem, id: line.to_owned(), unavailable_since: None });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
