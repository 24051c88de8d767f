//! Output shared by every `hpckit` subcommand: one-line errors with stable
//! exit codes, JSON, plain tables, and progress bars that appear only on a
//! terminal.
//!
//! Subcommands return `anyhow::Result<ExitCode>`; `main` hands an error to
//! [`report`], which prints `hpckit: error: ...` on one line and picks the exit
//! code from the [`hpc_core::Error`] inside it (see [`code_for`]).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use hpckit::core::error::{NotFoundKind, chain_text};
use hpckit::core::{Error, ErrorKind};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Exit code for failures without a more specific code.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code when a wait ran out of time (as `timeout(1)`).
pub(crate) const EXIT_TIMEOUT: u8 = 124;

/// The exit code for an hpckit error. Follows `sysexits.h` where it has a
/// fitting code, and the shell's 127 for a program that does not exist.
///
/// | error | code |
/// |---|---|
/// | malformed location (URL) | 64 |
/// | invalid job description or other bad input | 65 |
/// | job, path, queue, workspace (or another named resource) not found | 66 |
/// | host not found | 68 |
/// | unknown scheme, unsupported operation | 69 |
/// | the target already exists | 73 |
/// | local I/O | 74 |
/// | connection failed or lost; file changed on the server during a read | 75 |
/// | remote command or service failed, unparsable output | 76 |
/// | authentication, host key, permission denied | 77 |
/// | timeout | 124 |
/// | executable not found | 127 |
/// | cancelled | 130 |
pub(crate) fn code_for(e: &Error) -> u8 {
    match e {
        Error::InvalidLocation { .. } => 64,
        Error::UnknownScheme { .. } => 69,
        Error::NotFound { kind: NotFoundKind::Executable, .. } => 127,
        Error::NotFound { kind: NotFoundKind::Host, .. } => 68,
        _ => match e.kind() {
            ErrorKind::InvalidInput => 65,
            ErrorKind::NotFound => 66,
            // sysexits' EX_CANTCREAT: a script tells "missing" from "in the way".
            ErrorKind::AlreadyExists => 73,
            ErrorKind::Unsupported => 69,
            ErrorKind::Io => 74,
            // Both are worth a retry: a new connection, or the object's new version.
            ErrorKind::Connection | ErrorKind::Changed => 75,
            ErrorKind::Remote | ErrorKind::Parse => 76,
            ErrorKind::Authentication | ErrorKind::HostKey | ErrorKind::PermissionDenied => 77,
            ErrorKind::Timeout => EXIT_TIMEOUT,
            ErrorKind::Cancelled => 130,
            _ => EXIT_FAILURE,
        },
    }
}

/// The hpckit error somewhere in `err`'s chain, if any.
pub(crate) fn hpc_error(err: &anyhow::Error) -> Option<&Error> {
    err.chain().find_map(|e| e.downcast_ref::<Error>())
}

/// The exit code for any error: [`code_for`] an hpckit error, else 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    hpc_error(err).map(code_for).unwrap_or(EXIT_FAILURE)
}

/// `hpckit: error: ...` with the whole context chain on one line.
///
/// An `hpc_core::Error` says its cause's text and also keeps the cause as
/// `source()`: [`chain_text`] says each cause once, and joins a server's
/// multi-line message into the line.
pub(crate) fn error_line(err: &anyhow::Error) -> String {
    let root: &(dyn std::error::Error + 'static) = err.as_ref();
    format!("hpckit: error: {}", escape_controls(&chain_text(root)))
}

/// Text from servers, schedulers and users made safe for a terminal: every
/// control character (C0 with TAB, CR and LF, DEL, C1: ESC and CSI
/// sequences, OSC, BEL) is shown escaped (`\x1b`, `\r`, `\u{9b}`), so no
/// name can move the cursor, set a title or hide text. The one escaping of
/// human-readable output; `--json` output stays exact.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Print `err` as one line on stderr and return its exit code.
pub(crate) fn report(err: &anyhow::Error) -> ExitCode {
    if err.is::<StdoutClosed>() {
        return ExitCode::SUCCESS;
    }
    eprintln!("{}", error_line(err));
    ExitCode::from(exit_code(err))
}

/// Print a warning or note on stderr (never on stdout, which carries data).
pub(crate) fn note(text: impl std::fmt::Display) {
    eprintln!("hpckit: {}", escape_controls(&text.to_string()));
}

/// Standard output was closed by its reader (`hpckit ... | head`): the
/// command ends quietly and successfully, as `cat` would.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Write `bytes` to stdout; a closed pipe becomes [`StdoutClosed`].
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(stdout_error)
}

/// A failed write to stdout: a closed pipe is [`StdoutClosed`]; anything
/// else (a full disk behind `> file`) is local I/O, exit 74.
pub(crate) fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        Error::io("writing to standard output", e).into()
    }
}

/// Print `value` as pretty JSON on stdout, followed by a newline.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    write_stdout(&text)
}

/// A plain text table: left-aligned columns separated by two spaces, header
/// in upper case. Cells are single-line, with controls escaped
/// ([`escape_controls`]: a newline is shown as `\n`).
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Append a row (missing cells are blank, extra cells are dropped).
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cells: Vec<String> =
            cells.into_iter().map(|c| escape_controls(&c.into()).into_owned()).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The rendered table, one line per row, each ending in a newline.
    pub(crate) fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([self.headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_uppercase()).collect();
        let mut out = line(&headers);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }

    /// Print the table on stdout.
    pub(crate) fn print(&self) -> anyhow::Result<()> {
        write_stdout(self.render().as_bytes())
    }
}

/// Whether progress output should be drawn: stderr is a terminal.
pub(crate) fn progress_enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner with a message on stderr, or a hidden one when stderr is not a
/// terminal (pipes and logs stay quiet).
pub(crate) fn spinner(message: impl Into<String>) -> ProgressBar {
    if !progress_enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A byte-count progress bar of `total` bytes on stderr (hidden when stderr
/// is not a terminal).
#[allow(dead_code, reason = "for transfers in `hpckit fs`")]
pub(crate) fn bytes_bar(total: u64) -> ProgressBar {
    if !progress_enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod adaptor_errors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_other_text_kept() {
        assert!(matches!(escape_controls("plain näme"), std::borrow::Cow::Borrowed(_)));
        let hostile = "a\x1b[2Jb\x1b]0;title\x07c\rd\x7fe\u{9b}31mf\u{85}g\th\ni";
        assert_eq!(
            escape_controls(hostile),
            "a\\x1b[2Jb\\x1b]0;title\\x07c\\rd\\x7fe\\u{9b}31mf\\u{85}g\\th\\ni"
        );
        let mut t = Table::new(["name"]);
        t.row([hostile]);
        assert!(!t.render().chars().any(|c| c.is_control() && c != '\n'), "{}", t.render());
        let err: anyhow::Error = Error::InvalidInput(hostile.into()).into();
        assert!(!error_line(&err).chars().any(char::is_control), "{}", error_line(&err));
    }

    #[test]
    fn errors_are_one_line_with_distinct_codes() {
        let bad_url: anyhow::Error = "nope".parse::<hpckit::core::Location>().unwrap_err().into();
        let unknown: anyhow::Error =
            Error::UnknownScheme { scheme: "x".into(), supported: "local".into() }.into();
        let exe: anyhow::Error =
            Error::NotFound { kind: NotFoundKind::Executable, name: "frob".into() }.into();
        let codes = [exit_code(&bad_url), exit_code(&unknown), exit_code(&exe)];
        assert_eq!(codes, [64, 69, 127]);
        let multi = Error::CommandFailed {
            command: "sbatch".into(),
            exit_code: Some(1),
            stderr: "one\ntwo\n".into(),
        };
        let e = anyhow::Error::from(multi).context("submitting\njob");
        let line = error_line(&e);
        assert_eq!(line, "hpckit: error: submitting job: `sbatch` failed (exit code 1): two");
        assert_eq!(exit_code(&e), 76, "code found through the context chain");
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), EXIT_FAILURE);
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = Error::io("removing /d", std::io::Error::from_raw_os_error(39));
        let e = anyhow::Error::from(io).context("rm /d");
        let line = error_line(&e);
        assert_eq!(line.matches("os error 39").count(), 1, "{line}");
        assert!(line.starts_with("hpckit: error: rm /d: removing /d: "), "{line}");
    }

    #[test]
    fn a_cause_the_message_does_not_say_is_added_once() {
        let reset = std::io::Error::other("connection reset\nby peer");
        let remote = Error::remote("s3", Some(500), "internal").with_source(reset);
        let e = anyhow::Error::from(remote).context("GET /b/k");
        let line = error_line(&e);
        assert_eq!(
            line,
            "hpckit: error: GET /b/k: s3 error 500: internal: connection reset by peer"
        );
        assert_eq!(exit_code(&e), 76);
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["id", "state", "name"]);
        t.row(["1", "running", "a b"]);
        t.row(["12345", "completed"]);
        assert_eq!(t.render(), "ID     STATE      NAME\n1      running    a b\n12345  completed\n");
    }
}
