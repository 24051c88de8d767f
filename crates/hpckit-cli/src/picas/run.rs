//! `hpckit picas run`: one worker, with a progress line on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use hpckit::picas::TokenState;
use hpckit::picas::worker::{Event, Task, Worker, WorkerConfig};
use tokio::sync::watch;

use super::DbArgs;
use crate::job::parse_duration;
use crate::output;

/// Options of `hpckit picas run` (also passed on by `submit-workers`).
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Run `SCRIPT <input> <token id>` instead of `bash -c <input>` (like
    /// picas' process_task.sh).
    #[arg(long, value_name = "SCRIPT")]
    script: Option<PathBuf>,
    /// The view to claim from.
    #[arg(long, default_value = "todo")]
    view: String,
    /// Working directory of the commands.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Stop after this many tokens.
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    /// Claim nothing new after this long (e.g. 1h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    max_time: Option<Duration>,
    /// Kill a token's command after this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    token_time: Option<Duration>,
    /// Wall time of the batch job: start no token that would not end within it.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    wall_time: Option<Duration>,
    /// Expected time per token for --wall-time (default: the longest seen).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    token_estimate: Option<Duration>,
    /// Wait for new tokens when the pool is empty (until --max-time/--wall-time).
    #[arg(long)]
    wait: bool,
    /// Give a failed token this many more tries (picas' max_scrub).
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_scrub: i64,
    /// Lease of a claimed token, renewed every third of it while it runs.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DURATION")]
    lease: Duration,
    /// Before stopping on an empty pool, return tokens with expired leases to todo.
    #[arg(long)]
    recover: bool,
    /// Candidates read per view query.
    #[arg(long, default_value_t = 100, value_name = "N")]
    batch: usize,
    /// Most tokens claimed in one request (fewer when fewer are expected to
    /// run within --record-every).
    #[arg(long, default_value_t = 8, value_name = "N")]
    claim_batch: usize,
    /// How long a finished token's result may wait to be written with the
    /// next claims; a killed worker's tokens of this window run again after
    /// recover (0: write each result at once).
    #[arg(long, value_parser = duration_or_zero, default_value = "1s", value_name = "DURATION")]
    record_every: Duration,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// A duration, or 0 (none).
fn duration_or_zero(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" { Ok(Duration::ZERO) } else { parse_duration(text) }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let pool = args.db.pool()?.with_lease(args.lease);
    let config = WorkerConfig {
        task: args.script.clone().map_or(Task::Shell, Task::Script),
        view: args.view.clone(),
        batch: args.batch,
        claim_batch: args.claim_batch.max(1),
        record_every: args.record_every,
        workdir: args.workdir.clone(),
        token_time_limit: args.token_time,
        max_tokens: args.max_tokens,
        max_total_time: args.max_time,
        wall_time: args.wall_time,
        token_estimate: args.token_estimate,
        wait_for_work: args.wait,
        max_scrub: args.max_scrub,
        recover_when_empty: args.recover,
        ..WorkerConfig::default()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let _graceful = crate::signals::graceful();
    tokio::spawn(async move {
        crate::signals::requested().await;
        output::note("stopping: the running token goes back to todo");
        let _ = stop_tx.send(true);
    });
    let bar = output::spinner("picas: starting");
    let progress = Progress::default();
    let shown = bar.clone();
    let worker = Worker::new(pool, config).stop_signal(stop_rx).on_event(move |e| {
        if let Some(line) = progress.update(e) {
            shown.set_message(line);
        }
    });
    let result = worker.run().await;
    bar.finish_and_clear();
    let summary = result?;
    if args.json {
        output::print_json(&summary)?;
    } else {
        output::note(format!(
            "{} tokens recorded ({} ok, {} failed), {} lost, stopped: {}, {:.1} s, {} requests",
            summary.recorded,
            summary.succeeded,
            summary.failed,
            summary.lost,
            summary
                .stop
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            summary.seconds,
            summary.requests,
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress line's counters.
#[derive(Debug, Default)]
struct Progress {
    done: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
}

impl Progress {
    fn update(&self, e: &Event) -> Option<String> {
        let current = match e {
            Event::Started { id } => format!("running {id}"),
            Event::Recorded { id, state, .. } => {
                if *state == TokenState::Done {
                    self.done.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                }
                format!("recorded {id} ({state})")
            }
            Event::LeaseLost { id } => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                format!("lost {id}")
            }
            Event::Waiting => "waiting for tokens".into(),
            _ => return None,
        };
        Some(format!(
            "picas: {} done, {} failed, {} lost; {current}",
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        ))
    }
}
