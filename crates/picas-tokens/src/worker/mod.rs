//! The worker runner (feature `worker`): prepare → claim → run → record →
//! cleanup, until a stop condition holds.
//!
//! Each token's `input` runs under `bash -c` (or as the argument of a
//! process-task script, `script <input> <id>`, like picas' `process_task.sh`)
//! in its own process group, with an optional time limit. While it runs, a
//! heartbeat renews the token's lease every third of the lease; if the token
//! was taken away meanwhile (a `recover`, a reset), the command is stopped and
//! nothing is recorded. The result goes back in ONE write: exit code, done
//! time, and stdout/stderr as the attachments `logs_<id>.out`/`.err`.

mod config;
mod run_one;
mod runner;

pub use config::{Hooks, NoHooks, StopReason, Task, WorkerConfig};
pub use run_one::Outcome;
pub use runner::{Event, Summary, Worker};
