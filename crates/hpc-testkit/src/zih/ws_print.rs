//! `ws_list` output in the layouts of hpc-workspace 1.x and 2.x.

use std::fmt::Write;

use hpc_core::time::civil_from_days;

use super::ws::Entry;

/// How to print.
pub(super) struct Style {
    pub(super) terse: bool,
    pub(super) verbose: bool,
    pub(super) table: bool,
    pub(super) short: bool,
    pub(super) layout: u8,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// C's `ctime` without the newline, in UTC: `Thu Aug  1 13:16:25 2022`.
pub(super) fn ctime(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let s = t % 86_400;
    format!(
        "{} {} {d:>2} {:02}:{:02}:{:02} {y}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

pub(super) fn render(entries: &[Entry], style: &Style, now: u64) -> String {
    let mut out = String::new();
    if style.short {
        for e in entries {
            let _ = writeln!(out, "{}", e.id);
        }
        return out;
    }
    if style.layout >= 2 && style.table {
        return table(entries, style, now);
    }
    for e in entries {
        if style.layout >= 2 {
            v2_entry(&mut out, e, style, now);
        } else {
            v1_entry(&mut out, e, style, now);
        }
    }
    out
}

/// The Python `ws_list` of 1.x: `print(4 * " ", "key :", value)` gives five spaces.
fn v1_entry(out: &mut String, e: &Entry, style: &Style, now: u64) {
    let _ = writeln!(out, "id: {}", e.id);
    v1_body(out, e, style, now);
}

fn v1_body(out: &mut String, e: &Entry, style: &Style, now: u64) {
    let terse = style.terse && !style.verbose;
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "     {k:<21}: {v}");
    };
    line("workspace directory", &e.workspace);
    let remaining = if now > e.expiration {
        "expired".to_owned()
    } else {
        let r = e.expiration - now;
        format!("{} days {} hours", r / 86_400, r % 86_400 / 3600)
    };
    line("remaining time", &remaining);
    if !terse {
        if !e.comment.is_empty() {
            line("comment", &e.comment);
        }
        line("creation time", &ctime(e.creation));
        line("expiration date", &ctime(e.expiration));
        line("filesystem name", &e.filesystem);
    }
    line("available extensions", &e.extensions.to_string());
    if style.verbose {
        line("acctcode", &e.user);
        line("reminder", &ctime(e.expiration.saturating_sub(u64::from(e.reminder) * 86_400)));
        if !e.mailaddress.is_empty() {
            line("mailaddress", &e.mailaddress);
        }
    }
}

/// The C++ `ws_list` of 2.x.
fn v2_entry(out: &mut String, e: &Entry, style: &Style, now: u64) {
    let _ = writeln!(out, "Id: {}", e.id);
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "    {k:<21}: {v}");
    };
    line("workspace directory", &e.workspace);
    let r = e.expiration.saturating_sub(now);
    line("remaining time", &format!("{} days, {} hours", r / 86_400, r % 86_400 / 3600));
    if !style.terse {
        if !e.comment.is_empty() {
            line("comment", &e.comment);
        }
        line("creation time", &ctime(e.creation));
        line("expiration time", &ctime(e.expiration));
        line("filesystem name", &e.filesystem);
    }
    line("available extensions", &e.extensions.to_string());
    if style.verbose {
        line("reminder", &ctime(e.expiration.saturating_sub(u64::from(e.reminder) * 86_400)));
        if !e.mailaddress.is_empty() {
            line("mailaddress", &e.mailaddress);
        }
    }
}

/// 2.x `-T`: fixed columns, a cell too wide for its column wraps the row.
fn table(entries: &[Entry], style: &Style, now: u64) -> String {
    let mut out = String::new();
    if style.terse {
        let _ = writeln!(out, "{:<30} {:<50} {:<9}", "ID", "PATH", "REMAINING");
        let _ = writeln!(out, "{:=<30} {:=<50} {:=<9}", "", "", "");
    } else {
        let _ = writeln!(
            out,
            "{:<30} {:<50} {:<25} {:10} {:<9}",
            "ID", "PATH", "EXPIRATION", "EXTENSIONS", "REMAINING"
        );
        let _ = writeln!(out, "{:=<30} {:=<50} {:=<25} {:=<10} {:=<9}", "", "", "", "", "");
    }
    for e in entries {
        let wrap_id = if e.id.len() > 30 { format!("\n{:30}", "") } else { String::new() };
        let wrap_path = if e.workspace.len() > 50 { format!("\n{:81}", "") } else { String::new() };
        let days = e.expiration.saturating_sub(now) / 86_400;
        if style.terse {
            let _ = writeln!(out, "{:<30}{wrap_id} {:<50}{wrap_path} {days:<9}", e.id, e.workspace);
        } else {
            let _ = writeln!(
                out,
                "{:<30}{wrap_id} {:<50}{wrap_path} {:<25} {:<10} {days:<9}",
                e.id,
                e.workspace,
                ctime(e.expiration),
                e.extensions
            );
        }
    }
    out
}
