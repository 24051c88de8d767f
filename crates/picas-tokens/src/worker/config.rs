//! [`WorkerConfig`]: what a worker runs and when it stops.

use std::path::PathBuf;
use std::time::Duration;

use hpc_core::Result;

use crate::token::Token;

/// How a token's `input` is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// `bash -c <input>`.
    Shell,
    /// `<script> <input> <token id>`, like picas' `process_task.sh`.
    Script(PathBuf),
}

/// Settings of a worker. Stop conditions are those of picas' `RunActor.run`
/// and its iterators, plus the remaining wall time of a batch job.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How each token runs.
    pub task: Task,
    /// The view to claim from (default `todo`).
    pub view: String,
    /// Candidates read per view query (or page of `_all_docs`).
    pub batch: usize,
    /// Most tokens claimed in one request. Fewer are claimed when fewer are
    /// expected to run within `record_every` (so one at a time for tokens
    /// that run longer), within a quarter of the lease, or within what the
    /// stop conditions leave.
    pub claim_batch: usize,
    /// How long a finished token's result may wait to be written together
    /// with the next claims (and other results). A worker that dies loses
    /// the results of this window: those tokens run again after `recover`.
    /// Zero writes each result as soon as its token ends.
    pub record_every: Duration,
    /// Working directory of the commands (default: the worker's).
    pub workdir: Option<PathBuf>,
    /// Kill a token's command after this long (picas' `max_token_time`).
    pub token_time_limit: Option<Duration>,
    /// Stop after this many tokens (picas' `max_tasks`).
    pub max_tokens: Option<u64>,
    /// Claim nothing new after this long (picas' `max_total_time`).
    pub max_total_time: Option<Duration>,
    /// The batch job's wall time, counted from the worker's start: no token is
    /// started that is not expected to finish within it.
    pub wall_time: Option<Duration>,
    /// Expected duration of one token, for `wall_time` (default: the longest
    /// seen so far in this worker).
    pub token_estimate: Option<Duration>,
    /// When the pool is empty, wait for new tokens (polling `_changes`) instead
    /// of stopping (picas' `EndlessViewIterator`); `max_total_time` or
    /// `wall_time` end the wait.
    pub wait_for_work: bool,
    /// A failed token goes back to todo while its `scrub_count` is below this
    /// (picas' `max_scrub`); it is recorded and scrubbed in the same write.
    pub max_scrub: i64,
    /// When the pool looks empty, first return tokens with expired leases to
    /// todo (what `hpckit picas recover` does).
    pub recover_when_empty: bool,
    /// Bytes kept of each of stdout and stderr (the rest is cut, with a note).
    pub max_log_bytes: usize,
    /// Time between SIGTERM and SIGKILL when a command is stopped.
    pub kill_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            task: Task::Shell,
            view: "todo".into(),
            batch: 100,
            claim_batch: 8,
            record_every: Duration::from_secs(1),
            workdir: None,
            token_time_limit: None,
            max_tokens: None,
            max_total_time: None,
            wall_time: None,
            token_estimate: None,
            wait_for_work: false,
            max_scrub: 0,
            recover_when_empty: false,
            max_log_bytes: 8 << 20,
            kill_grace: Duration::from_secs(10),
        }
    }
}

/// Why a worker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The view was empty.
    PoolEmpty,
    /// `max_tokens` reached.
    MaxTokens,
    /// `max_total_time` reached.
    MaxTotalTime,
    /// The next token would not fit into the remaining wall time.
    WallTime,
    /// Asked to stop (SIGTERM, Ctrl-C).
    Cancelled,
}

/// Application hooks around the work (picas' `prepare_env`, `prepare_run`,
/// `cleanup_run`, `cleanup_env`). An error from a `prepare` hook stops the worker.
pub trait Hooks: Send + Sync {
    /// Once, before the first claim.
    fn prepare_env(&self) -> Result<()> {
        Ok(())
    }
    /// Before each token's command.
    fn prepare_run(&self, _token: &Token) -> Result<()> {
        Ok(())
    }
    /// After each token was recorded.
    fn cleanup_run(&self, _token: &Token) {}
    /// Once, at the end (also after an error).
    fn cleanup_env(&self) {}
}

/// No hooks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}
