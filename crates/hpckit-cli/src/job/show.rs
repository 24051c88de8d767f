//! Waiting for jobs, and printing job and queue statuses.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use hpckit::core::{JobId, JobStatus, QueueStatus, Scheduler, WaitProgress, WaitUntil};

use super::{Until, lives_in_process};
use crate::output::{self, EXIT_FAILURE, EXIT_TIMEOUT, Table};

pub(super) async fn wait(
    sched: &dyn Scheduler,
    ids: Vec<JobId>,
    until: Until,
    timeout: Option<Duration>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let until = match until {
        Until::Running => WaitUntil::Running,
        Until::Done => WaitUntil::Done,
    };
    let bar = output::spinner(format!("waiting for {} jobs", ids.len()));
    let show = |p: &WaitProgress| bar.set_message(progress_text(p));
    let answers = sched.wait(&ids, until, timeout, Some(&show)).await?;
    bar.finish_and_clear();
    let unmet = answers.iter().any(|a| matches!(a, Ok(s) if !until.is_met(s)));
    let unsuccessful = until == WaitUntil::Done
        && answers.iter().any(|a| matches!(a, Ok(s) if s.is_done() && !s.succeeded()));
    let code = print_statuses(sched, answers, json)?;
    if unmet {
        output::note("timed out: not every job is there yet");
        return Ok(ExitCode::from(EXIT_TIMEOUT));
    }
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    if unsuccessful {
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_text(p: &WaitProgress) -> String {
    format!("{} running, {} pending, {} done of {}", p.running, p.pending, p.done, p.total)
}

/// Print statuses as a table or JSON; errors (unknown ids) go to stderr and
/// make the exit code that of the first error.
pub(super) fn print_statuses(
    sched: &dyn Scheduler,
    answers: Vec<hpckit::core::Result<JobStatus>>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for a in answers {
        match a {
            Ok(s) => found.push(s),
            Err(e) => {
                let hint = if e.is_not_found() && lives_in_process(sched) {
                    " (local:// jobs exist only inside the hpckit process that submitted them)"
                } else {
                    ""
                };
                output::note(format!("error: {e}{hint}"));
                if code == ExitCode::SUCCESS {
                    code = ExitCode::from(output::code_for(&e));
                }
            }
        }
    }
    if json {
        output::print_json(&found)?;
    } else if !found.is_empty() || std::io::stdout().is_terminal() {
        status_table(&found).print()?;
    }
    Ok(code)
}

fn status_table(statuses: &[JobStatus]) -> Table {
    let mut t = Table::new(["id", "state", "exit", "queue", "name", "error"]);
    for s in statuses {
        let exit = match (s.exit_code, s.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => String::new(),
        };
        t.row([
            s.id.to_string(),
            s.state.to_string(),
            exit,
            s.queue.clone().unwrap_or_default(),
            s.name.clone().unwrap_or_default(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub(super) fn queue_table(queues: &[QueueStatus]) -> Table {
    let mut t =
        Table::new(["queue", "default", "state", "running", "pending", "nodes", "max time"]);
    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    for q in queues {
        t.row([
            q.name.clone(),
            if q.is_default { "*".into() } else { String::new() },
            q.state.clone().unwrap_or_default(),
            num(q.running_jobs),
            num(q.pending_jobs),
            num(q.nodes),
            q.max_runtime.map(format_duration).unwrap_or_default(),
        ]);
    }
    t
}

/// `[D-]HH:MM:SS`.
pub(super) fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}
