#![doc = include_str!("../README.md")]
//!
//! Every subcommand returns `anyhow::Result<ExitCode>`; errors are printed by
//! [`output::report`] as one line (`hpckit: error: ...`) with an exit code
//! that tells the kind of failure (see `output::code_for`).

mod creds;
mod dask;
mod datamover;
mod fs;
mod job;
mod output;
#[cfg(feature = "picas")]
mod picas;
mod reference;
#[cfg(feature = "unicore")]
mod unicore;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use reference::reference;

/// One fast, safe toolkit for HPC middleware.
#[derive(Debug, Parser)]
#[command(name = "hpckit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    creds: creds::CredentialArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit, run and watch jobs on any scheduler (local, ssh, slurm, sge, torque, at).
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work with files on any file system (local, sftp, ftp, webdav, s3).
    #[command(subcommand)]
    Fs(fs::FsCommand),
    /// Token pools on CouchDB, compatible with Python picas (views, push, run, status, ...).
    #[cfg(feature = "picas")]
    #[command(subcommand)]
    Picas(picas::PicasCommand),
    /// Use UNICORE sites like PyUNICORE's `unicore` command (jobs, storages, transfers, tokens, forwarding).
    #[cfg(feature = "unicore")]
    Unicore(unicore::UnicoreArgs),
    /// Dask clusters on any scheduler: scheduler and workers as jobs, tunnels to here.
    #[command(subcommand)]
    Dask(dask::DaskCommand),
    #[command(flatten)]
    Zih(datamover::ZihCommand),
}

/// The `hpckit` command: parses `std::env::args`, runs the subcommand and
/// turns its outcome into the exit code. The binary's `main` is this function;
/// it is a library function too, so that test crates can build the same
/// command as a binary of their own (`crates/itests`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return output::report(&anyhow::Error::new(e).context("starting the runtime")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Job(cmd) => job::run(cmd, &cli.creds).await,
            Command::Fs(cmd) => fs::run(cmd, &cli.creds).await,
            #[cfg(feature = "picas")]
            Command::Picas(cmd) => picas::run(cmd, &cli.creds).await,
            #[cfg(feature = "unicore")]
            Command::Unicore(args) => unicore::run(args).await,
            Command::Dask(cmd) => dask::run(cmd, &cli.creds).await,
            Command::Zih(cmd) => datamover::run(cmd, &cli.creds).await,
        }
    });
    // Interactive jobs may leave a blocking stdin reader behind; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => output::report(&e),
    }
}

/// The clap definition of `hpckit`, every command and option: what
/// [`reference`] renders into `docs/cli.md`.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Diagnostics go to stderr, filtered by `HPCKIT_LOG` (for example `debug`,
/// `hpc_exec=trace`); off unless asked for.
fn init_logging() {
    let Ok(filter) = std::env::var("HPCKIT_LOG") else { return };
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::progress_enabled())
        .try_init();
}
