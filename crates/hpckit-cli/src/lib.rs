#![doc = include_str!("../README.md")]
//!
//! Every subcommand returns `anyhow::Result<ExitCode>`; errors are printed by
//! `output::report` as one line (`hpckit: error: ...`) with an exit code
//! that tells the kind of failure (see `output::code_for`). SIGINT, SIGTERM
//! and SIGHUP stop any command with its cleanup done (`signals`).

mod creds;
mod dask;
mod datamover;
mod fs;
mod job;
mod output;
#[cfg(feature = "picas")]
mod picas;
mod reference;
mod signals;
#[cfg(feature = "uftp")]
mod uftp;
#[cfg(feature = "unicore")]
mod unicore;
#[cfg(feature = "xenon-grpc")]
mod xenon;

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
    /// Submit, run and watch jobs on any scheduler (local, nohup, ssh, slurm, sge, torque, at, unicore).
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work with files on any file system (local, sftp, ftp, webdav, s3, unicore, ws, dm).
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
    /// Move files with UFTP like the `pyuftp` command (ls, cp, rcp, checksum, mount, ...).
    #[cfg(feature = "uftp")]
    Uftp(uftp::UftpArgs),
    /// Serve PyXenon's gRPC API (xenon-grpc compatible) over hpckit's adaptors.
    #[cfg(feature = "xenon-grpc")]
    XenonGrpc(xenon::XenonGrpcArgs),
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
    let code = runtime.block_on(signals::run(async {
        let result = match cli.command {
            Command::Job(cmd) => job::run(cmd, &cli.creds).await,
            Command::Fs(cmd) => fs::run(cmd, &cli.creds).await,
            #[cfg(feature = "picas")]
            Command::Picas(cmd) => picas::run(cmd, &cli.creds).await,
            #[cfg(feature = "unicore")]
            Command::Unicore(args) => unicore::run(args).await,
            Command::Dask(cmd) => dask::run(cmd, &cli.creds).await,
            #[cfg(feature = "uftp")]
            Command::Uftp(args) => uftp::run(args, &cli.creds).await,
            #[cfg(feature = "xenon-grpc")]
            Command::XenonGrpc(args) => xenon::run(args).await,
            Command::Zih(cmd) => datamover::run(cmd, &cli.creds).await,
        };
        match result {
            Ok(code) => code,
            Err(e) => output::report(&e),
        }
    }));
    // Interactive jobs may leave a blocking stdin reader behind; do not wait for it.
    runtime.shutdown_background();
    code
}

/// The clap definition of `hpckit`, every command and option: what
/// [`reference()`] renders into `docs/cli.md`.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The user's filter with [`hpckit::core::logging::SECRET_SAFE_DIRECTIVES`] after it.
fn safe_filter(filter: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::new(filter);
    for directive in hpckit::core::logging::SECRET_SAFE_DIRECTIVES {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Diagnostics go to stderr, filtered by `HPCKIT_LOG` (for example `debug`,
/// `hpc_exec=trace`); off unless asked for. `HPCKIT_LOG_FILE` appends them to
/// that file instead (several processes may share one file).
fn init_logging() {
    let Ok(filter) = std::env::var("HPCKIT_LOG") else { return };
    let filter = safe_filter(&filter);
    if let Some(path) = std::env::var_os("HPCKIT_LOG_FILE") {
        match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .try_init();
            }
            Err(err) => eprintln!(
                "warning: cannot write the log to {}: {err}",
                std::path::Path::new(&path).display()
            ),
        }
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::progress_enabled())
        .try_init();
}
